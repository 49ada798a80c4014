/**
 * Address literals as libpcap reads them: IPv4 with 1-4 parts (a short one
 * is a prefix: `10.1` is 10.1.0.0 with a /16 mask), IPv6 with a prefix
 * length, and MAC addresses in pcap_ether_aton()'s forms. ipaddr.js does
 * the parsing and validation.
 */
import ipaddr from 'ipaddr.js';
import { FilterError } from './errors';

export interface V4 {
  addr: number;
  /** bits given: 8 per part */
  bits: number;
}

/** `10`, `10.1`, `10.1.2`, `10.1.2.3` (__pcap_atoin): the address, left-aligned, and the number of bits written. */
export function parseV4(text: string): V4 {
  // each part is decimal, leading zeros included (`010` is 10), as __pcap_atoin reads it
  const parts = text.split('.').map((p) => (/^\d+$/.test(p) ? p.replace(/^0+(?=\d)/, '') : p));
  const full = [...parts, '0', '0', '0'].slice(0, 4).join('.');
  if (parts.length > 4 || !ipaddr.IPv4.isValidFourPartDecimal(full)) throw new FilterError(`invalid IPv4 address '${text}'`);
  const b = ipaddr.IPv4.parse(full).toByteArray();
  return { addr: ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0, bits: 8 * parts.length };
}

/** The four big-endian words of an IPv6 address. */
export function parseV6(text: string): number[] {
  if (!ipaddr.IPv6.isValid(text)) throw new FilterError(`invalid ip6 address ${text}`);
  const b = ipaddr.IPv6.parse(text).toByteArray();
  return [0, 1, 2, 3].map((i) => ((b[4 * i] << 24) | (b[4 * i + 1] << 16) | (b[4 * i + 2] << 8) | b[4 * i + 3]) >>> 0);
}

/** The four words of an IPv6 mask of `len` bits. */
export function v6Mask(len: number): number[] {
  return [0, 1, 2, 3].map((i) => {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  });
}

export function v4Mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** pcap_ether_aton: one or two hex digits per byte, `:` `.` `-` between them skipped. */
export function parseMac(text: string): number[] {
  const out: number[] = [];
  const hex = /[0-9A-Fa-f]{1,2}/y;
  let i = 0;
  while (i < text.length) {
    if (':.-'.includes(text[i])) i++;
    hex.lastIndex = i;
    const m = hex.exec(text);
    if (!m) throw new FilterError(`invalid ethernet address '${text}'`);
    out.push(parseInt(m[0], 16));
    i += m[0].length;
  }
  if (out.length !== 6) throw new FilterError(`invalid ethernet address '${text}'`);
  return out;
}

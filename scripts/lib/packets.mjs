// Packet builder library: small composable functions returning Buffers with
// real wire bytes. No dependencies (Node >= 20, ESM).
//
// Conventions
//  - Every builder takes an options object and returns a new Buffer.
//  - `payload` is always a Buffer/Uint8Array (or omitted = empty).
//  - Lengths (IPv4 total length, IPv6 payload length, UDP length, PPPoE length,
//    GTP length, SCTP chunk length) and the IPv4 header checksum are always
//    correct. ICMP and SCTP (CRC32c) checksums are computed by icmp()/sctp().
//    TCP/UDP/ICMPv6 checksums need the pseudo header, so they are filled in by
//    ipv4()/ipv6() when they wrap an unfragmented transport segment
//    (disable with `l4Checksum: false`, e.g. for tunnels' outer UDP).
//  - Ethernet frames carry no FCS. ethernet() pads only if `minLength` is set.

export const EMPTY = Buffer.alloc(0);

/** Common EtherType values. */
export const ETH_P = Object.freeze({
  IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, VLAN_9100: 0x9100,
  IPV6: 0x86dd, MPLS: 0x8847, MPLS_MC: 0x8848, PPPOE_DISC: 0x8863, PPPOE_SESS: 0x8864,
  GOOSE: 0x88b8, PROFINET: 0x8892, LLDP: 0x88cc, TEB: 0x6558,
});

/** Common IP protocol numbers. */
export const IPPROTO = Object.freeze({
  HOPOPTS: 0, ICMP: 1, IGMP: 2, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, ROUTING: 43,
  FRAGMENT: 44, GRE: 47, ESP: 50, AH: 51, ICMPV6: 58, NONE: 59, DSTOPTS: 60, SCTP: 132,
});

/** Linktype values used by the writers / generator. */
export const LINKTYPE = Object.freeze({
  NULL: 0, ETHERNET: 1, RAW: 101, LINUX_SLL: 113, LOOP: 108, IPV4: 228, IPV6: 229, LINUX_SLL2: 276,
});

const toBuf = (b) => (b == null ? EMPTY : Buffer.isBuffer(b) ? b : Buffer.from(b));

// ---------------------------------------------------------------- addresses

/** 'aa:bb:cc:dd:ee:ff' (or '-' separated) | Buffer(6) -> Buffer(6). */
export function macToBytes(mac) {
  if (mac == null) return Buffer.alloc(6);
  if (typeof mac !== 'string') {
    const b = toBuf(mac);
    if (b.length !== 6) throw new Error(`MAC must be 6 bytes, got ${b.length}`);
    return b;
  }
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6) throw new Error(`bad MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => {
    const v = parseInt(p, 16);
    if (!(v >= 0 && v <= 255) || !/^[0-9a-f]{1,2}$/i.test(p)) throw new Error(`bad MAC address: ${mac}`);
    return v;
  }));
}

function ipv4ToBytes(s) {
  const parts = s.split('.');
  if (parts.length !== 4) throw new Error(`bad IPv4 address: ${s}`);
  return Buffer.from(parts.map((p) => {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) throw new Error(`bad IPv4 address: ${s}`);
    return v;
  }));
}

function ipv6ToBytes(s) {
  let str = s;
  const zone = str.indexOf('%');
  if (zone >= 0) str = str.slice(0, zone);
  const lastColon = str.lastIndexOf(':');
  if (str.indexOf('.', lastColon) >= 0) { // embedded IPv4 suffix -> two hex words
    const v4 = ipv4ToBytes(str.slice(lastColon + 1));
    str = `${str.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const parse = (p) => (p === '' ? [] : p.split(':').map((h) => {
    if (!/^[0-9a-f]{1,4}$/i.test(h)) throw new Error(`bad IPv6 address: ${s}`);
    return parseInt(h, 16);
  }));
  const dbl = str.indexOf('::');
  let words;
  if (dbl >= 0) {
    const head = parse(str.slice(0, dbl));
    const rest = parse(str.slice(dbl + 2));
    const zeros = 8 - head.length - rest.length;
    if (zeros < 1 || str.indexOf('::', dbl + 1) >= 0) throw new Error(`bad IPv6 address: ${s}`);
    words = [...head, ...new Array(zeros).fill(0), ...rest];
  } else {
    words = parse(str);
  }
  if (words.length !== 8) throw new Error(`bad IPv6 address: ${s}`);
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

/** '10.0.0.1' -> Buffer(4); '2001:db8::1' -> Buffer(16); Buffer passes through. */
export function ipToBytes(ip) {
  if (typeof ip !== 'string') {
    const b = toBuf(ip);
    if (b.length !== 4 && b.length !== 16) throw new Error(`IP must be 4 or 16 bytes, got ${b.length}`);
    return b;
  }
  return ip.includes(':') ? ipv6ToBytes(ip) : ipv4ToBytes(ip);
}

// ---------------------------------------------------------------- checksums

/** Ones-complement 16-bit word sum (not folded) of buf[start, end). */
export function sum16(buf, start = 0, end = buf.length, acc = 0) {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  return acc;
}

/** Fold a word sum to 16 bits (end-around carry). */
export function fold16(acc) {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 65536);
  return acc;
}

/** Internet checksum (RFC 1071) of buf[start, end) plus an initial sum. */
export function inetChecksum(buf, start = 0, end = buf.length, initial = 0) {
  return ~fold16(sum16(buf, start, end, initial)) & 0xffff;
}

/** Pseudo-header word sum for TCP/UDP/ICMPv6 over IPv4 or IPv6. */
export function pseudoHeaderSum(src, dst, proto, length) {
  const s = ipToBytes(src);
  const d = ipToBytes(dst);
  let acc = sum16(s) + sum16(d) + proto;
  acc += s.length === 16 ? Math.floor(length / 65536) + (length & 0xffff) : length;
  return acc;
}

const L4_CSUM_OFFSET = { 6: 16, 17: 6, 58: 2 };

/** Fill in the TCP/UDP/ICMPv6 checksum of `seg` (in place) given the IP addresses. */
export function fillL4Checksum(seg, src, dst, proto) {
  const off = L4_CSUM_OFFSET[proto];
  if (off === undefined || seg.length < off + 2) return seg;
  seg.writeUInt16BE(0, off);
  let c = inetChecksum(seg, 0, seg.length, pseudoHeaderSum(src, dst, proto, seg.length));
  if (c === 0 && proto === 17) c = 0xffff;
  seg.writeUInt16BE(c, off);
  return seg;
}

let CRC32C_TABLE = null;
/** CRC32c (Castagnoli), as used by SCTP. */
export function crc32c(buf, start = 0, end = buf.length) {
  if (!CRC32C_TABLE) {
    CRC32C_TABLE = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      CRC32C_TABLE[i] = c;
    }
  }
  let crc = -1;
  for (let i = start; i < end; i++) crc = CRC32C_TABLE[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return (~crc) >>> 0;
}

// ---------------------------------------------------------------- layer 2

/**
 * Ethernet II frame (no FCS).
 * vlans: [{ id, tpid = 0x8100, pcp = 0, dei = 0 }] outer first (0x8100, 0x88a8, 0x9100).
 * minLength: pad with zero trailer up to this many bytes (e.g. 60); default 0 = no padding.
 */
export function ethernet({ src, dst, type, vlans = [], payload, minLength = 0 }) {
  const p = toBuf(payload);
  const hdr = 14 + 4 * vlans.length;
  const len = Math.max(hdr + p.length, minLength);
  const b = Buffer.alloc(len);
  macToBytes(dst).copy(b, 0);
  macToBytes(src).copy(b, 6);
  let o = 12;
  for (const v of vlans) {
    const tag = typeof v === 'number' ? { id: v } : v;
    b.writeUInt16BE(tag.tpid ?? 0x8100, o);
    b.writeUInt16BE(((tag.pcp ?? 0) & 7) << 13 | ((tag.dei ?? 0) & 1) << 12 | (tag.id & 0xfff), o + 2);
    o += 4;
  }
  b.writeUInt16BE(type, o);
  p.copy(b, o + 2);
  return b;
}

/** MPLS label stack; labels are numbers or { label, tc, ttl }. S bit set on the last one. */
export function mpls(labels, payload, { ttl = 64, tc = 0 } = {}) {
  const p = toBuf(payload);
  const b = Buffer.alloc(4 * labels.length + p.length);
  labels.forEach((l, i) => {
    const e = typeof l === 'number' ? { label: l } : l;
    const s = i === labels.length - 1 ? 1 : 0;
    b.writeUInt32BE((((e.label & 0xfffff) << 12) | ((e.tc ?? tc) & 7) << 9 | s << 8 | ((e.ttl ?? ttl) & 0xff)) >>> 0, i * 4);
  });
  p.copy(b, 4 * labels.length);
  return b;
}

/** PPPoE session header (ethertype 0x8864) + PPP protocol 0x0021 (IPv4) / 0x0057 (IPv6). */
export function pppoeSession({ sessionId, payload, ipv6 = false, pppProtocol }) {
  const p = toBuf(payload);
  const b = Buffer.alloc(8 + p.length);
  b[0] = 0x11; // version 1, type 1
  b[1] = 0x00; // code: session data
  b.writeUInt16BE(sessionId & 0xffff, 2);
  b.writeUInt16BE(p.length + 2, 4); // PPP protocol field + payload
  b.writeUInt16BE(pppProtocol ?? (ipv6 ? 0x0057 : 0x0021), 6);
  p.copy(b, 8);
  return b;
}

/** ARP body (ethertype 0x0806) for Ethernet/IPv4. op: 1 request, 2 reply. */
export function arp({ op = 1, senderMac, senderIp, targetMac = '00:00:00:00:00:00', targetIp }) {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0); // htype Ethernet
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6; b[5] = 4;
  b.writeUInt16BE(op, 6);
  macToBytes(senderMac).copy(b, 8);
  ipToBytes(senderIp).copy(b, 14);
  macToBytes(targetMac).copy(b, 18);
  ipToBytes(targetIp).copy(b, 24);
  return b;
}

/** LLDP PDU (ethertype 0x88cc, dst 01:80:c2:00:00:0e): chassis (MAC), port (local), TTL, [system name], end. */
export function lldp({ chassisMac, portId = 'port1', ttl = 120, systemName }) {
  const tlv = (type, value) => {
    const h = Buffer.alloc(2);
    h.writeUInt16BE((type << 9) | value.length);
    return Buffer.concat([h, value]);
  };
  const ttlB = Buffer.alloc(2); ttlB.writeUInt16BE(ttl);
  const parts = [
    tlv(1, Buffer.concat([Buffer.from([4]), macToBytes(chassisMac)])),
    tlv(2, Buffer.concat([Buffer.from([7]), Buffer.from(portId, 'latin1')])),
    tlv(3, ttlB),
  ];
  if (systemName) parts.push(tlv(5, Buffer.from(systemName, 'latin1')));
  parts.push(Buffer.alloc(2)); // End of LLDPDU
  return Buffer.concat(parts);
}

function berLen(n) {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
function ber(tag, value) { return Buffer.concat([Buffer.from([tag]), berLen(value.length), value]); }
function berUint(tag, v) {
  const bytes = [];
  let x = v >>> 0;
  do { bytes.unshift(x & 0xff); x = Math.floor(x / 256); } while (x > 0);
  if (bytes[0] & 0x80) bytes.unshift(0);
  return ber(tag, Buffer.from(bytes));
}

/**
 * IEC 61850 GOOSE PDU (ethertype 0x88b8; usual dst 01:0c:cd:01:00:xx): APPID, length,
 * reserved words and a BER-encoded goosePdu with boolean data set entries.
 */
export function goose({
  appId = 1, gocbRef = 'IED1LD0/LLN0$GO$gcb1', datSet = 'IED1LD0/LLN0$DataSet1', goId = 'IED1_GOOSE1',
  timeSec = 0, stNum = 1, sqNum = 0, confRev = 1, ttlMs = 2000, entries = [true, false],
}) {
  const t = Buffer.alloc(8);
  t.writeUInt32BE(timeSec >>> 0, 0);
  t[7] = 0x0a; // time quality: 10 bits accuracy
  const all = Buffer.concat(entries.map((e) => ber(0x83, Buffer.from([e ? 1 : 0]))));
  const pdu = Buffer.concat([
    ber(0x80, Buffer.from(gocbRef, 'latin1')), berUint(0x81, ttlMs), ber(0x82, Buffer.from(datSet, 'latin1')),
    ber(0x83, Buffer.from(goId, 'latin1')), ber(0x84, t), berUint(0x85, stNum), berUint(0x86, sqNum),
    ber(0x87, Buffer.from([0])), berUint(0x88, confRev), ber(0x89, Buffer.from([0])),
    berUint(0x8a, entries.length), ber(0xab, all),
  ]);
  const apdu = ber(0x61, pdu);
  const b = Buffer.alloc(8 + apdu.length);
  b.writeUInt16BE(appId, 0);
  b.writeUInt16BE(b.length, 2);
  apdu.copy(b, 8);
  return b;
}

/** PROFINET RT cyclic frame body (ethertype 0x8892): FrameID, IO data, cycle counter, data/transfer status. */
export function profinetRt({ frameId = 0x8000, data = Buffer.alloc(40), cycleCounter = 0, dataStatus = 0x35, transferStatus = 0 }) {
  const d = toBuf(data);
  const b = Buffer.alloc(2 + d.length + 4);
  b.writeUInt16BE(frameId, 0);
  d.copy(b, 2);
  b.writeUInt16BE(cycleCounter & 0xffff, 2 + d.length);
  b[4 + d.length] = dataStatus;
  b[5 + d.length] = transferStatus;
  return b;
}

// ------------------------------------------------------- other link layers

/** Linux cooked capture v1 header (LINKTYPE_LINUX_SLL 113), 16 bytes. */
export function sll({ pktType = 0, addrType = 1, addr = '00:00:00:00:00:00', protocol, payload }) {
  const p = toBuf(payload);
  const a = typeof addr === 'string' ? macToBytes(addr) : toBuf(addr);
  const b = Buffer.alloc(16 + p.length);
  b.writeUInt16BE(pktType, 0);
  b.writeUInt16BE(addrType, 2);
  b.writeUInt16BE(Math.min(a.length, 8), 4);
  a.copy(b, 6, 0, Math.min(a.length, 8));
  b.writeUInt16BE(protocol, 14);
  p.copy(b, 16);
  return b;
}

/** Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2 276), 20 bytes. */
export function sll2({ protocol, ifindex = 1, addrType = 1, pktType = 0, addr = '00:00:00:00:00:00', payload }) {
  const p = toBuf(payload);
  const a = typeof addr === 'string' ? macToBytes(addr) : toBuf(addr);
  const b = Buffer.alloc(20 + p.length);
  b.writeUInt16BE(protocol, 0);
  b.writeUInt32BE(ifindex >>> 0, 4);
  b.writeUInt16BE(addrType, 8);
  b[10] = pktType;
  b[11] = Math.min(a.length, 8);
  a.copy(b, 12, 0, Math.min(a.length, 8));
  p.copy(b, 20);
  return b;
}

/** BSD loopback (LINKTYPE_NULL 0): 4-byte address family in the capturing host's byte order. */
export function nullLoopback({ family, payload, bigEndian = false }) {
  const p = toBuf(payload);
  const b = Buffer.alloc(4 + p.length);
  if (bigEndian) b.writeUInt32BE(family, 0); else b.writeUInt32LE(family, 0);
  p.copy(b, 4);
  return b;
}

// ---------------------------------------------------------------- layer 3

/**
 * IPv4 packet. fragOffset is in 8-byte units. options is padded to a multiple of 4.
 * The TCP/UDP checksum of the payload is computed unless l4Checksum=false or this is a fragment.
 */
export function ipv4({
  src, dst, proto, id = 0, ttl = 64, tos = 0, df = false, mf = false, fragOffset = 0,
  options, payload, l4Checksum = true,
}) {
  const p = toBuf(payload);
  let opt = toBuf(options);
  if (opt.length % 4) opt = Buffer.concat([opt, Buffer.alloc(4 - (opt.length % 4))]);
  const hl = 20 + opt.length;
  if (hl > 60) throw new Error('IPv4 options too long');
  const total = hl + p.length;
  if (total > 0xffff) throw new Error(`IPv4 packet too long (${total})`);
  const b = Buffer.alloc(total);
  b[0] = 0x40 | (hl >> 2);
  b[1] = tos;
  b.writeUInt16BE(total, 2);
  b.writeUInt16BE(id & 0xffff, 4);
  b.writeUInt16BE((df ? 0x4000 : 0) | (mf ? 0x2000 : 0) | (fragOffset & 0x1fff), 6);
  b[8] = ttl;
  b[9] = proto;
  const s = ipToBytes(src), d = ipToBytes(dst);
  s.copy(b, 12);
  d.copy(b, 16);
  opt.copy(b, 20);
  b.writeUInt16BE(inetChecksum(b, 0, hl), 10);
  p.copy(b, hl);
  if (l4Checksum && !mf && fragOffset === 0) fillL4Checksum(b.subarray(hl), s, d, proto);
  return b;
}

const EXT_TYPES = { hop: 0, routing: 43, fragment: 44, dst: 60, ah: 51 };

/** PadN-pad an options area so that 2 + length is a multiple of 8. */
function padOptions(data) {
  const need = (8 - ((2 + data.length) % 8)) % 8;
  if (need === 0) return data;
  const pad = need === 1 ? Buffer.from([0]) : Buffer.concat([Buffer.from([1, need - 2]), Buffer.alloc(need - 2)]);
  return Buffer.concat([data, pad]);
}

/** Build one IPv6 extension header body (with the given next header). */
export function ipv6Ext(ext, next) {
  const type = typeof ext.type === 'number' ? ext.type : EXT_TYPES[ext.type];
  if (type === undefined) throw new Error(`unknown IPv6 extension header ${ext.type}`);
  let b;
  if (type === 44) {
    b = Buffer.alloc(8);
    b.writeUInt16BE(((ext.offset ?? 0) & 0x1fff) << 3 | (ext.more ? 1 : 0), 2);
    b.writeUInt32BE((ext.id ?? 0) >>> 0, 4);
  } else if (type === 43) {
    const addrs = (ext.addresses ?? []).map(ipToBytes);
    const data = ext.data ? toBuf(ext.data) : Buffer.concat([Buffer.alloc(4), ...addrs]);
    b = Buffer.alloc(4 + data.length + ((8 - ((4 + data.length) % 8)) % 8));
    b[2] = ext.routingType ?? 0;
    b[3] = ext.segmentsLeft ?? 0;
    data.copy(b, 4);
  } else if (type === 51) {
    const icv = ext.icv ? toBuf(ext.icv) : Buffer.alloc(12);
    b = Buffer.alloc(12 + icv.length);
    b.writeUInt32BE((ext.spi ?? 0x100) >>> 0, 4);
    b.writeUInt32BE((ext.seq ?? 1) >>> 0, 8);
    icv.copy(b, 12);
    if (b.length % 8) throw new Error('AH length must be a multiple of 8 bytes in IPv6');
    b[1] = b.length / 4 - 2;
    b[0] = next;
    return b;
  } else { // hop-by-hop / destination options
    const data = padOptions(ext.options ? toBuf(ext.options) : Buffer.alloc(0));
    b = Buffer.alloc(2 + data.length);
    data.copy(b, 2);
  }
  b[0] = next;
  if (type !== 44) b[1] = b.length / 8 - 1;
  return b;
}

/**
 * IPv6 packet. ext = [{ type: 'hop'|'dst'|'routing'|'fragment'|'ah', ... }] in wire order.
 * The TCP/UDP/ICMPv6 checksum of the payload is computed unless l4Checksum=false or the packet
 * carries a non-atomic fragment header.
 */
export function ipv6({ src, dst, next, hopLimit = 64, tc = 0, flowLabel = 0, ext = [], payload, l4Checksum = true }) {
  const p = toBuf(payload);
  const types = ext.map((e) => (typeof e.type === 'number' ? e.type : EXT_TYPES[e.type]));
  const exts = ext.map((e, i) => ipv6Ext(e, i + 1 < ext.length ? types[i + 1] : next));
  const extLen = exts.reduce((a, e) => a + e.length, 0);
  const plen = extLen + p.length;
  if (plen > 0xffff) throw new Error(`IPv6 payload too long (${plen})`);
  const b = Buffer.alloc(40 + plen);
  b.writeUInt32BE(((6 << 28) | ((tc & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0, 0);
  b.writeUInt16BE(plen, 4);
  b[6] = ext.length ? types[0] : next;
  b[7] = hopLimit;
  const s = ipToBytes(src), d = ipToBytes(dst);
  s.copy(b, 8);
  d.copy(b, 24);
  let o = 40;
  for (const e of exts) { e.copy(b, o); o += e.length; }
  p.copy(b, o);
  const frag = ext.find((e, i) => types[i] === 44);
  if (l4Checksum && !(frag && (frag.more || frag.offset))) {
    let finalDst = d;
    const rt = ext.find((e, i) => types[i] === 43);
    if (rt && rt.segmentsLeft && rt.addresses?.length) finalDst = ipToBytes(rt.addresses[rt.addresses.length - 1]);
    fillL4Checksum(b.subarray(o), s, finalDst, next);
  }
  return b;
}

// ---------------------------------------------------------------- layer 4

const TCP_FLAG_BITS = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

/** 'SA' | 'PA' | 0x12 ... -> numeric TCP flags. */
export function tcpFlags(flags) {
  if (typeof flags === 'number') return flags & 0xff;
  let v = 0;
  for (const ch of String(flags ?? '').toUpperCase()) {
    if (!(ch in TCP_FLAG_BITS)) throw new Error(`bad TCP flag '${ch}'`);
    v |= TCP_FLAG_BITS[ch];
  }
  return v;
}

/** TCP segment; checksum is left 0 here and filled by ipv4()/ipv6(). options padded to 4. */
export function tcp({ sport, dport, seq = 0, ack = 0, flags = 0, window = 65535, urgent = 0, options, payload }) {
  const p = toBuf(payload);
  let opt = toBuf(options);
  if (opt.length % 4) opt = Buffer.concat([opt, Buffer.alloc(4 - (opt.length % 4))]);
  const hl = 20 + opt.length;
  const b = Buffer.alloc(hl + p.length);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt32BE(seq >>> 0, 4);
  b.writeUInt32BE(ack >>> 0, 8);
  b[12] = (hl / 4) << 4;
  b[13] = tcpFlags(flags);
  b.writeUInt16BE(window & 0xffff, 14);
  b.writeUInt16BE(urgent, 18);
  opt.copy(b, 20);
  p.copy(b, hl);
  return b;
}

/** UDP datagram; checksum filled by ipv4()/ipv6() (or left 0 with l4Checksum: false). */
export function udp({ sport, dport, payload }) {
  const p = toBuf(payload);
  const b = Buffer.alloc(8 + p.length);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt16BE(b.length, 4);
  p.copy(b, 8);
  return b;
}

/** SCTP packet: common header + one DATA chunk (B/E set), CRC32c checksum computed. */
export function sctp({ sport, dport, vtag = 0, tsn = 1, streamId = 0, streamSeq = 0, ppid = 0, payload }) {
  const p = toBuf(payload);
  const chunkLen = 16 + p.length;
  const b = Buffer.alloc(12 + chunkLen + ((4 - (chunkLen % 4)) % 4));
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt32BE(vtag >>> 0, 4);
  b[12] = 0; // DATA
  b[13] = 0x03; // B + E
  b.writeUInt16BE(chunkLen, 14);
  b.writeUInt32BE(tsn >>> 0, 16);
  b.writeUInt16BE(streamId, 20);
  b.writeUInt16BE(streamSeq, 22);
  b.writeUInt32BE(ppid >>> 0, 24);
  p.copy(b, 28);
  b.writeUInt32LE(crc32c(b), 8); // CRC32c is transmitted least significant byte first
  return b;
}

/** The 8-byte ICMP/ICMPv6 header (type, code, checksum 0, id/seq or `rest`) and payload. */
function icmpMessage({ type, code = 0, id = 0, seq = 0, rest, payload }) {
  const p = toBuf(payload);
  const b = Buffer.alloc(8 + p.length);
  b[0] = type; b[1] = code;
  if (rest !== undefined) {
    if (typeof rest === 'number') b.writeUInt32BE(rest >>> 0, 4); else toBuf(rest).copy(b, 4, 0, 4);
  } else {
    b.writeUInt16BE(id & 0xffff, 4);
    b.writeUInt16BE(seq & 0xffff, 6);
  }
  p.copy(b, 8);
  return b;
}

/** ICMP message; for echo (8/0) pass id/seq, otherwise `rest` (4 bytes). Checksum computed. */
export function icmp(opts) {
  const b = icmpMessage(opts);
  b.writeUInt16BE(inetChecksum(b), 2);
  return b;
}

/** ICMPv6 message (echo 128/129 use id/seq); checksum filled by ipv6() (next = 58): it covers a pseudo header. */
export function icmpv6(opts) {
  return icmpMessage(opts);
}

// ---------------------------------------------------------------- tunnels

/** GRE (RFC 2784/2890): proto 0x0800/0x86dd/0x6558; optional key, seq, checksum. IP proto 47. */
export function gre({ proto = 0x0800, payload, key, seq, checksum = false }) {
  const p = toBuf(payload);
  const hl = 4 + (checksum ? 4 : 0) + (key !== undefined ? 4 : 0) + (seq !== undefined ? 4 : 0);
  const b = Buffer.alloc(hl + p.length);
  b.writeUInt16BE((checksum ? 0x8000 : 0) | (key !== undefined ? 0x2000 : 0) | (seq !== undefined ? 0x1000 : 0), 0);
  b.writeUInt16BE(proto, 2);
  let o = checksum ? 8 : 4;
  if (key !== undefined) { b.writeUInt32BE(key >>> 0, o); o += 4; }
  if (seq !== undefined) { b.writeUInt32BE(seq >>> 0, o); o += 4; }
  p.copy(b, hl);
  if (checksum) b.writeUInt16BE(inetChecksum(b), 4);
  return b;
}

/** VXLAN header (8 bytes, I flag) + inner Ethernet frame; goes in UDP dport 4789. */
export function vxlan({ vni, payload }) {
  const p = toBuf(payload);
  const b = Buffer.alloc(8 + p.length);
  b[0] = 0x08;
  b.writeUInt32BE(((vni & 0xffffff) << 8) >>> 0, 4);
  p.copy(b, 8);
  return b;
}

/** GTPv1-U G-PDU (message type 0xff) + inner IP packet; goes in UDP dport 2152. */
export function gtpu({ teid, payload, seq }) {
  const p = toBuf(payload);
  const opt = seq !== undefined ? 4 : 0;
  const b = Buffer.alloc(8 + opt + p.length);
  b[0] = 0x30 | (opt ? 0x02 : 0); // version 1, PT=1, [S]
  b[1] = 0xff;
  b.writeUInt16BE(opt + p.length, 2);
  b.writeUInt32BE(teid >>> 0, 4);
  if (opt) b.writeUInt16BE(seq & 0xffff, 8);
  p.copy(b, 8 + opt);
  return b;
}

// ---------------------------------------------------------------- fragments

/** Split a byte length into fragment sizes: multiples of 8 except the last. */
function fragSizes(total, mtuPayloadBytes) {
  const step = Math.floor(mtuPayloadBytes / 8) * 8;
  if (step <= 0) throw new Error('fragment payload size must be >= 8');
  const out = [];
  for (let o = 0; o < total; o += step) out.push([o, Math.min(step, total - o)]);
  if (out.length === 0) out.push([0, 0]);
  return out;
}

/**
 * Split an IPv4 datagram into fragments. `opts` are ipv4() options whose payload already
 * contains the transport header (its checksum is computed over the whole datagram first).
 * mtuPayloadBytes = max IP payload bytes per fragment (rounded down to a multiple of 8).
 * Returns an array of IPv4 packets (Buffers) with the same id, MF bits and offsets.
 */
export function ipv4Fragments(opts, mtuPayloadBytes) {
  const full = Buffer.from(toBuf(opts.payload));
  if (opts.l4Checksum !== false) fillL4Checksum(full, opts.src, opts.dst, opts.proto);
  const base = opts.fragOffset ?? 0;
  const sizes = fragSizes(full.length, mtuPayloadBytes);
  return sizes.map(([o, n], i) => ipv4({
    ...opts, df: false, payload: full.subarray(o, o + n), fragOffset: base + o / 8,
    mf: i < sizes.length - 1 || !!opts.mf, l4Checksum: false,
  }));
}

/**
 * Split an IPv6 packet into fragments: `opts.ext` stays in every fragment (unfragmentable part)
 * followed by a fragment header { offset, more, id }; the payload (transport header included,
 * checksummed over the whole datagram) is split. Returns an array of IPv6 packets.
 */
export function ipv6Fragments(opts, mtuPayloadBytes, id = opts.fragId ?? 0) {
  const full = Buffer.from(toBuf(opts.payload));
  if (opts.l4Checksum !== false) fillL4Checksum(full, opts.src, opts.dst, opts.next);
  const sizes = fragSizes(full.length, mtuPayloadBytes);
  return sizes.map(([o, n], i) => ipv6({
    ...opts, payload: full.subarray(o, o + n), l4Checksum: false,
    ext: [...(opts.ext ?? []), { type: 'fragment', offset: o / 8, more: i < sizes.length - 1, id }],
  }));
}

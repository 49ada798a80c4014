// TLS client fingerprints from ClientHello fields: JA4 (FoxIO,
// technical_details/JA4.md) and JA3 (Salesforce). Written from the
// specifications, independently of the engines' dissectors, for the tshark
// oracle (scripts/app-oracle.mjs) and the generated captures' expectations.
//
// fields: { version: ClientHello legacy_version, ciphers: number[], extensions: number[] (wire
//   order), sigAlgs: number[] (extension 13, wire order), supportedVersions: number[] (43),
//   groups: number[] (10), pointFormats: number[] (11), alpn: Buffer | null (first ALPN value's
//   bytes), sni: boolean (extension 0 present) }

import { createHash } from 'node:crypto';

/** GREASE (RFC 8701): both bytes equal, low nibble 0xa. */
export const isGrease = (v) => (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);

const VERSION_CODES = { 0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3', 0x0002: 's2', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3' };
const hex4 = (v) => v.toString(16).padStart(4, '0');
const sha12 = (s) => createHash('sha256').update(s).digest('hex').slice(0, 12);
const two = (n) => String(Math.min(n, 99)).padStart(2, '0');
const alnum = (c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** The two ALPN characters of JA4_a: first and last of the first value, hex digits if either is not alphanumeric. */
export function ja4Alpn(first) {
  if (!first || first.length === 0) return '00';
  const a = first[0], z = first[first.length - 1];
  if (alnum(a) && alnum(z)) return String.fromCharCode(a) + String.fromCharCode(z);
  const h = Buffer.from(first).toString('hex');
  return h[0] + h[h.length - 1];
}

/** JA4 and its raw form (JA4_r) for transport 't' (TLS over TCP), 'q' (QUIC) or 'd' (DTLS). */
export function ja4(fields, transport = 't') {
  const ciphers = fields.ciphers.filter((v) => !isGrease(v));
  const extensions = fields.extensions.filter((v) => !isGrease(v));
  const versions = (fields.supportedVersions ?? []).filter((v) => !isGrease(v));
  const version = extensions.includes(43) && versions.length ? Math.max(...versions) : fields.version;
  const a = `${transport}${VERSION_CODES[version] ?? '00'}${fields.sni ? 'd' : 'i'}${two(ciphers.length)}${two(extensions.length)}${ja4Alpn(fields.alpn)}`;
  const cipherList = ciphers.map(hex4).sort().join(',');
  const extList = extensions.filter((v) => v !== 0 && v !== 16).map(hex4).sort().join(',');
  // signature algorithms as they come, GREASE kept: docs/applications.md and FoxIO's own
  // implementations (python/ja4.py, rust/ja4) do not filter them (JA4.md says GREASE is ignored "anywhere")
  const sigs = (fields.sigAlgs ?? []).map(hex4).join(',');
  const c = extList === '' ? '' : sigs === '' ? extList : `${extList}_${sigs}`;
  return {
    ja4: `${a}_${cipherList ? sha12(cipherList) : '000000000000'}_${extList ? sha12(c) : '000000000000'}`,
    ja4_r: `${a}_${cipherList}_${c}`,
  };
}

/** JA3 string and its MD5: version,ciphers,extensions,groups,point formats (decimal, GREASE out). */
export function ja3(fields) {
  const list = (vs) => (vs ?? []).filter((v) => !isGrease(v)).join('-');
  const text = [fields.version, list(fields.ciphers), list(fields.extensions), list(fields.groups), (fields.pointFormats ?? []).join('-')].join(',');
  return { ja3: createHash('md5').update(text).digest('hex'), ja3_full: text };
}

/**
 * ClientHello fields from a handshake message (type 1, u24 length, body), as the fingerprints
 * read them; null if any length overruns its container.
 */
export function clientHelloFields(msg) {
  const b = Buffer.from(msg);
  if (b.length < 4 || b[0] !== 1) return null;
  const end = 4 + ((b[1] << 16) | (b[2] << 8) | b[3]);
  if (end > b.length) return null;
  let o = 4;
  const need = (n) => { if (o + n > end) throw new RangeError('overrun'); };
  try {
    need(35);
    const version = b.readUInt16BE(o); o += 34;
    const sid = b[o]; o += 1; need(sid); o += sid;
    need(2); const cl = b.readUInt16BE(o); o += 2; need(cl);
    const ciphers = [];
    for (let i = 0; i + 1 < cl; i += 2) ciphers.push(b.readUInt16BE(o + i));
    o += cl;
    need(1); const comp = b[o]; o += 1; need(comp); o += comp;
    const f = { version, ciphers, extensions: [], sigAlgs: [], supportedVersions: [], groups: [], pointFormats: [], alpn: null, alpnList: [], sni: false, serverName: null };
    if (o === end) return f;
    need(2); const el = b.readUInt16BE(o); o += 2; need(el);
    const extEnd = o + el;
    while (o < extEnd) {
      if (o + 4 > extEnd) throw new RangeError('overrun');
      const type = b.readUInt16BE(o), len = b.readUInt16BE(o + 2);
      o += 4;
      if (o + len > extEnd) throw new RangeError('overrun');
      const d = b.subarray(o, o + len);
      f.extensions.push(type);
      const u16s = (from, n) => { const out = []; for (let i = 0; i + 1 < n; i += 2) out.push(d.readUInt16BE(from + i)); return out; };
      if (type === 0) {
        f.sni = true;
        if (d.length >= 5 && d[2] === 0) f.serverName = d.subarray(5, 5 + d.readUInt16BE(3)).toString('latin1');
      } else if (type === 16 && d.length >= 2) {
        for (let p = 2; p < d.length; p += 1 + d[p]) f.alpnList.push(d.subarray(p + 1, p + 1 + d[p]));
        f.alpn = f.alpnList[0] ?? null;
      } else if (type === 13 && d.length >= 2) f.sigAlgs = u16s(2, d.readUInt16BE(0));
      else if (type === 43 && d.length >= 1) f.supportedVersions = u16s(1, d[0]);
      else if (type === 10 && d.length >= 2) f.groups = u16s(2, d.readUInt16BE(0));
      else if (type === 11 && d.length >= 1) f.pointFormats = [...d.subarray(1, 1 + d[0])];
      o += len;
    }
    return f;
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

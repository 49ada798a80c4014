// TLS handshake builders: records, ClientHello, ServerHello, Certificate and
// the common extensions, as real wire bytes. No dependencies (Node >= 20, ESM).
//
//   import * as T from './tls.mjs';
//   const hello = T.clientHello({ ciphers: [0x1301], extensions: [T.ext.sni('example.com'), T.ext.alpn(['h2'])] });
//   const bytes = T.records(T.CONTENT.HANDSHAKE, 0x0301, hello);   // one or more TLS records

const toBuf = (b) => (b == null ? Buffer.alloc(0) : Buffer.isBuffer(b) ? b : Buffer.from(b));

export const CONTENT = Object.freeze({ CHANGE_CIPHER_SPEC: 20, ALERT: 21, HANDSHAKE: 22, APPLICATION_DATA: 23 });
export const HANDSHAKE = Object.freeze({ CLIENT_HELLO: 1, SERVER_HELLO: 2, CERTIFICATE: 11, SERVER_KEY_EXCHANGE: 12, SERVER_HELLO_DONE: 14, FINISHED: 20 });
export const EXT = Object.freeze({
  SERVER_NAME: 0, STATUS_REQUEST: 5, SUPPORTED_GROUPS: 10, EC_POINT_FORMATS: 11, SIGNATURE_ALGORITHMS: 13, ALPN: 16,
  SCT: 18, PADDING: 21, EXTENDED_MASTER_SECRET: 23, COMPRESS_CERTIFICATE: 27, SESSION_TICKET: 35, SUPPORTED_VERSIONS: 43,
  PSK_KEY_EXCHANGE_MODES: 45, KEY_SHARE: 51, QUIC_TRANSPORT_PARAMETERS: 57, RENEGOTIATION_INFO: 0xff01,
});

/** The i-th GREASE value (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa. */
export const grease = (i) => 0x0a0a + 0x1010 * (i & 15);

const u8 = (n) => Buffer.from([n & 0xff]);
function u16(n) { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; }
function u24(n) { return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]); }
const list16 = (values) => Buffer.concat([u16(values.length * 2), ...values.map(u16)]);
const vec8 = (b) => Buffer.concat([u8(b.length), b]);
const vec16 = (b) => Buffer.concat([u16(b.length), b]);

/** A handshake message: type, u24 length, body. */
export function handshake(type, body) {
  const b = toBuf(body);
  return Buffer.concat([u8(type), u24(b.length), b]);
}

/** One TLS record (no length check: callers make malformed ones on purpose). */
export function record(type, version, body, length) {
  const b = toBuf(body);
  return Buffer.concat([u8(type), u16(version), u16(length ?? b.length), b]);
}

/** `body` as records of at most maxFragment bytes each (2^14 by default). */
export function records(type, version, body, maxFragment = 16384) {
  const b = toBuf(body);
  const out = [];
  for (let o = 0; o < b.length || o === 0; o += maxFragment) {
    out.push(record(type, version, b.subarray(o, Math.min(b.length, o + maxFragment))));
    if (b.length === 0) break;
  }
  return Buffer.concat(out);
}

/** One extension: { type, data } -> wire bytes. */
export function extension({ type, data }) {
  return Buffer.concat([u16(type), vec16(toBuf(data))]);
}

/** Extension builders (each returns { type, data }). */
export const ext = {
  raw: (type, data = Buffer.alloc(0)) => ({ type, data: toBuf(data) }),
  /** server_name with one host_name entry (or several: names array). */
  sni: (names) => {
    const list = (Array.isArray(names) ? names : [names]).map((n) => Buffer.concat([u8(0), vec16(Buffer.from(n))]));
    return { type: EXT.SERVER_NAME, data: vec16(Buffer.concat(list)) };
  },
  alpn: (protocols) => ({
    type: EXT.ALPN,
    data: vec16(Buffer.concat(protocols.map((p) => vec8(toBuf(typeof p === 'string' ? Buffer.from(p, 'latin1') : p))))),
  }),
  supportedGroups: (groups) => ({ type: EXT.SUPPORTED_GROUPS, data: list16(groups) }),
  ecPointFormats: (formats = [0]) => ({ type: EXT.EC_POINT_FORMATS, data: vec8(Buffer.from(formats)) }),
  signatureAlgorithms: (algs) => ({ type: EXT.SIGNATURE_ALGORITHMS, data: list16(algs) }),
  /** ClientHello form: u8 length, u16 versions. */
  supportedVersions: (versions) => ({ type: EXT.SUPPORTED_VERSIONS, data: vec8(Buffer.concat(versions.map(u16))) }),
  /** ServerHello form: one u16. */
  selectedVersion: (version) => ({ type: EXT.SUPPORTED_VERSIONS, data: u16(version) }),
  /** ClientHello key_share: [{ group, key }]. */
  keyShare: (shares) => ({
    type: EXT.KEY_SHARE,
    data: vec16(Buffer.concat(shares.map(({ group, key }) => Buffer.concat([u16(group), vec16(toBuf(key))])))),
  }),
  /** ServerHello key_share: one entry. */
  serverKeyShare: (group, key) => ({ type: EXT.KEY_SHARE, data: Buffer.concat([u16(group), vec16(toBuf(key))]) }),
  pskModes: (modes = [1]) => ({ type: EXT.PSK_KEY_EXCHANGE_MODES, data: vec8(Buffer.from(modes)) }),
  extendedMasterSecret: () => ({ type: EXT.EXTENDED_MASTER_SECRET, data: Buffer.alloc(0) }),
  sessionTicket: () => ({ type: EXT.SESSION_TICKET, data: Buffer.alloc(0) }),
  renegotiationInfo: () => ({ type: EXT.RENEGOTIATION_INFO, data: Buffer.from([0]) }),
  statusRequest: () => ({ type: EXT.STATUS_REQUEST, data: Buffer.from([1, 0, 0, 0, 0]) }),
  sct: () => ({ type: EXT.SCT, data: Buffer.alloc(0) }),
  compressCertificate: (algs = [2]) => ({ type: EXT.COMPRESS_CERTIFICATE, data: vec8(Buffer.concat(algs.map(u16))) }),
  padding: (n) => ({ type: EXT.PADDING, data: Buffer.alloc(n) }),
  /** QUIC transport parameters (RFC 9000 §18): [[id, Buffer]] with varint ids and lengths. */
  quicTransportParameters: (params) => ({
    type: EXT.QUIC_TRANSPORT_PARAMETERS,
    data: Buffer.concat(params.map(([id, v]) => Buffer.concat([varint(id), varint(v.length), v]))),
  }),
};

/** QUIC variable-length integer (RFC 9000 §16). */
export function varint(n) {
  const v = BigInt(n);
  if (v < 64n) return Buffer.from([Number(v)]);
  if (v < 16384n) return u16(Number(v) | 0x4000);
  if (v < 1073741824n) { const b = Buffer.alloc(4); b.writeUInt32BE((Number(v) | 0x80000000) >>> 0); return b; }
  const b = Buffer.alloc(8); b.writeBigUInt64BE(v | 0xc000000000000000n); return b;
}

/**
 * ClientHello handshake message. extensions: [{ type, data }] in wire order, or a Buffer
 * with the whole extensions block (its u16 length included), for malformed ones.
 */
export function clientHello({
  version = 0x0303, random = Buffer.alloc(32, 0x11), sessionId = Buffer.alloc(0), ciphers = [0x1301, 0x1302, 0x1303],
  compression = [0], extensions = [],
}) {
  const exts = Buffer.isBuffer(extensions) ? extensions : vec16(Buffer.concat(extensions.map(extension)));
  return handshake(HANDSHAKE.CLIENT_HELLO, Buffer.concat([
    u16(version), toBuf(random), vec8(toBuf(sessionId)), list16(ciphers), vec8(Buffer.from(compression)), exts,
  ]));
}

/** ServerHello handshake message. */
export function serverHello({ version = 0x0303, random = Buffer.alloc(32, 0x22), sessionId = Buffer.alloc(0), cipher = 0x1301, compression = 0, extensions = [] }) {
  return handshake(HANDSHAKE.SERVER_HELLO, Buffer.concat([
    u16(version), toBuf(random), vec8(toBuf(sessionId)), u16(cipher), u8(compression),
    ...(extensions.length ? [vec16(Buffer.concat(extensions.map(extension)))] : []),
  ]));
}

/** TLS 1.2 Certificate message: a u24 list of u24-length DER certificates. */
export function certificateMessage(ders) {
  const list = Buffer.concat(ders.map((d) => Buffer.concat([u24(d.length), d])));
  return handshake(HANDSHAKE.CERTIFICATE, Buffer.concat([u24(list.length), list]));
}

export const serverHelloDone = () => handshake(HANDSHAKE.SERVER_HELLO_DONE, Buffer.alloc(0));

/** Deterministic filler bytes (a key share, a random): `n` bytes derived from `tag`. */
export function filler(n, tag = 0) {
  const b = Buffer.alloc(n);
  let x = (0x9e3779b9 ^ Math.imul(tag + 1, 0x85ebca6b)) >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Common cipher and signature lists (what current browsers send). */
export const BROWSER = Object.freeze({
  ciphers: [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
  groups: [0x001d, 0x0017, 0x0018],
  sigAlgs: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
});

/**
 * A browser-like TLS 1.3 ClientHello (GREASE in ciphers, extensions, groups and versions
 * when `greaseIndex` is set; ALPN list; key_share with x25519).
 */
export function browserClientHello({ sni, alpn = ['h2', 'http/1.1'], greaseIndex = 0, tag = 1, quicParams, legacyVersions = true } = {}) {
  const g = greaseIndex == null ? null : grease(greaseIndex);
  const g2 = greaseIndex == null ? null : grease(greaseIndex + 5);
  const withG = (v, list) => (v === null ? list : [v, ...list]);
  const extensions = [];
  if (g !== null) extensions.push(ext.raw(g));
  if (sni !== undefined) extensions.push(ext.sni(sni));
  extensions.push(ext.extendedMasterSecret(), ext.renegotiationInfo(), ext.supportedGroups(withG(g, BROWSER.groups)), ext.ecPointFormats([0]));
  if (!quicParams) extensions.push(ext.sessionTicket());
  if (alpn && alpn.length) extensions.push(ext.alpn(alpn));
  extensions.push(ext.statusRequest(), ext.signatureAlgorithms(BROWSER.sigAlgs), ext.sct());
  extensions.push(ext.keyShare([...(g === null ? [] : [{ group: g, key: Buffer.from([0]) }]), { group: 0x001d, key: filler(32, tag) }]));
  extensions.push(ext.pskModes([1]));
  extensions.push(ext.supportedVersions(withG(g, legacyVersions ? [0x0304, 0x0303] : [0x0304])));
  extensions.push(ext.compressCertificate([2]));
  if (quicParams) extensions.push(ext.quicTransportParameters(quicParams));
  if (g2 !== null) extensions.push(ext.raw(g2, Buffer.from([0])));
  return clientHello({
    version: 0x0303, random: filler(32, tag + 100), sessionId: quicParams ? Buffer.alloc(0) : filler(32, tag + 200),
    ciphers: withG(g, quicParams ? [0x1301, 0x1302, 0x1303] : BROWSER.ciphers), extensions,
  });
}

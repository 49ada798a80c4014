/**
 * TLS (docs/applications.md): the handshake stream of a direction's
 * records; ClientHello (SNI, ALPN, JA4, JA3), ServerHello (version) and the
 * first certificate's subject CN.
 */
import { createHash } from 'node:crypto';
import { Offsets as O } from '../../../flow/layout';
import { APP_TLS, DONE, MAYBE, MORE, S_ALPN, S_CERT_CN, S_JA3, S_JA4, S_SNI, type AppFlowInfo, type Status } from './apps';

const be16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];
const be24 = (b: Uint8Array, p: number) => (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];

/** The handshake bytes of the records at the buffer's start (a cut record gives what is there). */
export function handshakeStream(b: Uint8Array, n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let p = 0;
  while (p + 5 <= n && b[p] === 22 && b[p + 1] === 3) {
    const len = be16(b, p + 3);
    const take = Math.min(len, n - p - 5);
    parts.push(b.subarray(p + 5, p + 5 + take));
    total += take;
    p += 5 + len;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function classifyTls(b: Uint8Array, n: number): number {
  if (n < 6) return b[0] === 22 && (n < 2 || b[1] === 3) ? MAYBE : 0;
  return b[0] === 22 && b[1] === 3 && (b[5] === 1 || b[5] === 2) ? APP_TLS : 0;
}

export function dissectTls(f: AppFlowInfo, _fwd: boolean, b: Uint8Array, n: number): Status {
  const hs = handshakeStream(b, n);
  if (hs.length < 4) return MORE;
  if (hs[0] === 1) return clientHello(f, hs, 't');
  if (hs[0] === 2) return serverHello(f, hs);
  return DONE;
}

/** Client: the first message, once whole. */
export function clientHello(f: AppFlowInfo, hs: Uint8Array, kind: 't' | 'q'): Status {
  const len = be24(hs, 1);
  if (4 + len > hs.length) return MORE;
  const hello = parseClientHello(hs, 4, 4 + len);
  if (hello) writeHello(f, hello, kind);
  return DONE;
}

export interface ClientHello {
  version: number;
  ciphers: number[];
  /** extension types in order */
  extensions: number[];
  sni: Uint8Array | null;
  alpn: Uint8Array[];
  versions: number[];
  sigalgs: number[];
  groups: number[];
  pointFormats: number[];
}

class Malformed extends Error {}
const fail = (): never => {
  throw new Malformed();
};

/** A ClientHello body at b[p..end), or null if a length runs past its container. */
export function parseClientHello(b: Uint8Array, p: number, end: number): ClientHello | null {
  try {
    return readClientHello(b, p, end);
  } catch (e) {
    if (e instanceof Malformed) return null;
    throw e;
  }
}

function readClientHello(b: Uint8Array, p: number, end: number): ClientHello {
  const need = (q: number) => (q > end ? fail() : q);
  need(p + 35);
  const h: ClientHello = {
    version: be16(b, p), ciphers: [], extensions: [], sni: null, alpn: [], versions: [], sigalgs: [], groups: [], pointFormats: [],
  };
  p += 34;
  p = need(p + 1 + b[p]); // session id
  need(p + 2);
  const csEnd = need(p + 2 + be16(b, p));
  for (let q = p + 2; q + 2 <= csEnd; q += 2) h.ciphers.push(be16(b, q));
  p = csEnd;
  need(p + 1);
  p = need(p + 1 + b[p]); // compression methods
  if (p === end) return h;
  need(p + 2);
  const extEnd = need(p + 2 + be16(b, p));
  for (p += 2; p < extEnd; ) {
    need(p + 4);
    if (p + 4 > extEnd) fail();
    const type = be16(b, p);
    const dEnd = p + 4 + be16(b, p + 2);
    if (dEnd > extEnd) fail();
    const first = !h.extensions.includes(type);
    h.extensions.push(type);
    const x = readExtension(type, b, p + 4, dEnd);
    if (first && x) Object.assign(h, x);
    p = dEnd;
  }
  return h;
}

/** u16 list with a u16 (or u8) length prefix filling [p, end). */
function u16List(b: Uint8Array, p: number, end: number, prefix: 1 | 2): number[] {
  if (p + prefix > end) fail();
  const len = prefix === 2 ? be16(b, p) : b[p];
  const q = p + prefix;
  if (q + len > end) fail();
  const out: number[] = [];
  for (let i = q; i + 2 <= q + len; i += 2) out.push(be16(b, i));
  return out;
}

/** The fields one extension gives (validated; a length past its container throws). */
function readExtension(type: number, b: Uint8Array, p: number, end: number): Partial<ClientHello> | null {
  switch (type) {
    case 0: { // server_name: the first name of type 0
      if (p + 2 > end) fail();
      const listEnd = p + 2 + be16(b, p);
      if (listEnd > end) fail();
      let sni: Uint8Array | null = null;
      for (let q = p + 2; q < listEnd; ) {
        if (q + 3 > listEnd) fail();
        const nEnd = q + 3 + be16(b, q + 1);
        if (nEnd > listEnd) fail();
        if (b[q] === 0 && !sni) sni = b.subarray(q + 3, nEnd);
        q = nEnd;
      }
      return sni ? { sni } : null;
    }
    case 16: { // ALPN
      if (p + 2 > end) fail();
      const listEnd = p + 2 + be16(b, p);
      if (listEnd > end) fail();
      const alpn: Uint8Array[] = [];
      for (let q = p + 2; q < listEnd; ) {
        const nEnd = q + 1 + b[q];
        if (nEnd > listEnd) fail();
        alpn.push(b.subarray(q + 1, nEnd));
        q = nEnd;
      }
      return { alpn };
    }
    case 43:
      return { versions: u16List(b, p, end, 1) };
    case 13:
      return { sigalgs: u16List(b, p, end, 2) };
    case 10:
      return { groups: u16List(b, p, end, 2) };
    case 11: {
      if (p + 1 > end || p + 1 + b[p] > end) fail();
      return { pointFormats: Array.from(b.subarray(p + 1, p + 1 + b[p])) };
    }
  }
  return null;
}

export const isGrease = (v: number) => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);

function writeHello(f: AppFlowInfo, h: ClientHello, kind: 't' | 'q'): void {
  const a = f.area;
  if (h.sni) a.string(S_SNI, h.sni, 0, h.sni.length);
  if (h.alpn.length) {
    const joined = joinAlpn(h.alpn);
    a.string(S_ALPN, joined, 0, joined.length);
  }
  a.text(S_JA4, ja4(h, kind));
  a.text(S_JA3, ja3(h));
}

function joinAlpn(list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, x) => n + x.length + 1, -1));
  let at = 0;
  for (const [i, x] of list.entries()) {
    if (i > 0) out[at++] = 0x2c;
    out.set(x, at);
    at += x.length;
  }
  return out;
}

const JA4_VERSIONS: Record<number, string> = {
  0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3', 0x0002: 's2', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3',
};
const hex4 = (v: number) => v.toString(16).padStart(4, '0');
const count2 = (n: number) => String(Math.min(n, 99)).padStart(2, '0');
const sha12 = (s: string) => (s === '' ? '000000000000' : createHash('sha256').update(s).digest('hex').slice(0, 12));
const alnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

export function ja4(h: ClientHello, kind: 't' | 'q'): string {
  const versions = h.versions.filter((v) => !isGrease(v));
  const version = versions.length ? Math.max(...versions) : h.version;
  const ciphers = h.ciphers.filter((v) => !isGrease(v));
  const exts = h.extensions.filter((v) => !isGrease(v));
  const first = h.alpn[0];
  let alpn = '00';
  if (first && first.length) {
    const c0 = first[0];
    const c1 = first[first.length - 1];
    if (alnum(c0) && alnum(c1)) alpn = String.fromCharCode(c0, c1);
    else {
      const hx = Buffer.from(first).toString('hex');
      alpn = hx[0] + hx[hx.length - 1];
    }
  }
  const a = `${kind}${JA4_VERSIONS[version] ?? '00'}${h.sni || exts.includes(0) ? 'd' : 'i'}${count2(ciphers.length)}${count2(exts.length)}${alpn}`;
  const b = sha12(ciphers.map(hex4).sort().join(','));
  const extList = exts.filter((v) => v !== 0 && v !== 16).map(hex4).sort().join(',');
  const sigalgs = h.sigalgs.map(hex4).join(','); // as FoxIO's code: GREASE kept here
  const c = extList === '' && sigalgs === '' ? '000000000000' : sha12(sigalgs ? `${extList}_${sigalgs}` : extList);
  return `${a}_${b}_${c}`;
}

export function ja3(h: ClientHello): string {
  const list = (xs: number[]) => xs.filter((v) => !isGrease(v)).join('-');
  const text = `${h.version},${list(h.ciphers)},${list(h.extensions)},${list(h.groups)},${h.pointFormats.join('-')}`;
  return createHash('md5').update(text).digest('hex');
}

/** Server: ServerHello's version, then (below 1.3) the first certificate's subject CN. */
function serverHello(f: AppFlowInfo, hs: Uint8Array): Status {
  const len = be24(hs, 1);
  if (4 + len > hs.length) return MORE;
  const version = serverVersion(hs, 4, 4 + len);
  if (version === 0) return DONE;
  const a = f.area;
  if (a.getU16(O.kTlsVersion) === 0) a.setU16(O.kTlsVersion, version);
  if (version >= 0x0304) return DONE;
  const c = 4 + len;
  if (c + 4 > hs.length) return MORE;
  if (hs[c] !== 11) return DONE;
  const cn = certificateCn(hs, c + 4, Math.min(hs.length, c + 4 + be24(hs, c + 1)));
  if (cn === null) return MORE;
  if (cn.length) a.string(S_CERT_CN, cn, 0, cn.length);
  return DONE;
}

/** ServerHello body: supported_versions if present, else the legacy version; 0 if malformed. */
function serverVersion(b: Uint8Array, p: number, end: number): number {
  if (p + 35 > end) return 0;
  const legacy = be16(b, p);
  p += 34;
  p += 1 + b[p]; // session id
  p += 3; // cipher suite, compression
  if (p > end) return 0;
  if (p === end) return legacy;
  if (p + 2 > end) return 0;
  const extEnd = p + 2 + be16(b, p);
  if (extEnd > end) return 0;
  for (p += 2; p + 4 <= extEnd; ) {
    const type = be16(b, p);
    const dEnd = p + 4 + be16(b, p + 2);
    if (dEnd > extEnd) return 0;
    if (type === 43) return dEnd - p - 4 < 2 ? 0 : be16(b, p + 4);
    p = dEnd;
  }
  return legacy;
}

/**
 * The subject CN of the first certificate of a Certificate body at b[p..end)
 * (end: what is buffered of it): the bytes (empty: none), or null when the
 * subject is not all there yet.
 */
export function certificateCn(b: Uint8Array, p: number, end: number): Uint8Array | null {
  // certificate_list u24, first certificate u24, then DER
  if (p + 6 > end) return null;
  const der = new Der(b, p + 6, end);
  const cert = der.enter(0x30); // Certificate
  if (cert === CUT) return null;
  if (cert === BAD) return EMPTY;
  const tbs = der.enter(0x30); // TBSCertificate
  if (tbs === CUT) return null;
  if (tbs === BAD) return EMPTY;
  if (der.peek() === 0xa0) if (der.skip() !== OK) return der.status();
  for (let i = 0; i < 4; i++) if (der.skip() !== OK) return der.status(); // serial, signature, issuer, validity
  const subject = der.enter(0x30);
  if (subject !== OK) return subject === CUT ? null : EMPTY;
  const subjectEnd = der.end;
  while (der.p < subjectEnd) {
    if (der.enter(0x31) !== OK) return der.status(); // RDN set
    const setEnd = der.end;
    while (der.p < setEnd) {
      if (der.enter(0x30) !== OK) return der.status(); // AttributeTypeAndValue
      const attrEnd = der.end;
      const oid = der.value(0x06);
      if (oid === null) return der.status();
      if (oid.length === 3 && oid[0] === 0x55 && oid[1] === 0x04 && oid[2] === 0x03) {
        const v = der.value(-1);
        return v === null ? der.status() : v;
      }
      der.p = attrEnd;
      der.end = setEnd;
    }
    der.p = setEnd;
    der.end = subjectEnd;
  }
  return EMPTY;
}

const EMPTY = new Uint8Array(0);
const OK = 0;
const CUT = 1;
const BAD = 2;

/** A bounded DER walker: `end` is the current container's end (at most what is buffered). */
class Der {
  p: number;
  end: number;
  private last = OK;
  constructor(
    readonly b: Uint8Array,
    p: number,
    readonly limit: number,
  ) {
    this.p = p;
    this.end = limit;
  }
  peek(): number {
    return this.p < this.end ? this.b[this.p] : -1;
  }
  status(): Uint8Array | null {
    return this.last === CUT ? null : EMPTY;
  }
  /** Reads a header: [tag, content start, content end] or a status. */
  private header(tag: number): number[] | number {
    const b = this.b;
    let p = this.p;
    if (p + 2 > this.limit) return CUT;
    if (tag >= 0 ? b[p] !== tag : false) return BAD;
    let len = b[p + 1];
    p += 2;
    if (len & 0x80) {
      const k = len & 0x7f;
      if (k < 1 || k > 4) return BAD;
      if (p + k > this.limit) return CUT;
      len = 0;
      for (let i = 0; i < k; i++) len = len * 256 + b[p + i];
      p += k;
    }
    if (p + len > this.end && this.end !== this.limit) return BAD;
    return [p, p + len];
  }
  enter(tag: number): number {
    const h = this.header(tag);
    if (typeof h === 'number') return (this.last = h);
    this.p = h[0];
    this.end = Math.min(h[1], this.limit);
    return OK;
  }
  skip(): number {
    const h = this.header(-1);
    if (typeof h === 'number') return (this.last = h);
    if (h[1] > this.limit) return (this.last = CUT);
    this.p = h[1];
    return OK;
  }
  value(tag: number): Uint8Array | null {
    const h = this.header(tag);
    if (typeof h === 'number') {
      this.last = h;
      return null;
    }
    if (h[1] > this.limit) {
      this.last = CUT;
      return null;
    }
    this.p = h[1];
    return this.b.subarray(h[0], h[1]);
  }
}

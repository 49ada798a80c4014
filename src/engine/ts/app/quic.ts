/**
 * QUIC v1 / v2 Initial packets (docs/applications.md, RFC 9001 §5, RFC 9369
 * §3.3): the client's Initials are decrypted with keys derived from its
 * first destination connection id, their CRYPTO frames gathered by offset,
 * and the ClientHello read as for TLS.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { Offsets as O } from '../../../flow/layout';
import { APP_QUIC, DONE, MAYBE, MORE, type AppFlowInfo, type Status } from './apps';
import { clientHello } from './tls';

const V1 = 0x00000001;
const V2 = 0x6b3343cf;
const SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');
const SALT_V2 = Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex');

interface Keys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

class QuicState {
  keys: Keys | null = null;
  version = 0;
  crypto: Uint8Array;
  filled: Uint8Array;
  /** plaintext of the packet the classifier decrypted, for the dissector's same call */
  pending: Uint8Array | null = null;
  constructor(bound: number) {
    this.crypto = new Uint8Array(bound);
    this.filled = new Uint8Array(bound);
  }
}

function hkdfExpandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`);
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

function initialKeys(version: number, dcid: Uint8Array): Keys {
  const initial = createHmac('sha256', version === V2 ? SALT_V2 : SALT_V1).update(dcid).digest();
  const client = hkdfExpandLabel(initial, 'client in', 32);
  const p = version === V2 ? 'quicv2 ' : 'quic ';
  return { key: hkdfExpandLabel(client, `${p}key`, 16), iv: hkdfExpandLabel(client, `${p}iv`, 12), hp: hkdfExpandLabel(client, `${p}hp`, 16) };
}

/** A QUIC variable-length integer at p: [value, next offset], or null past end. */
function varint(b: Uint8Array, p: number, end: number): [number, number] | null {
  if (p >= end) return null;
  const len = 1 << (b[p] >> 6);
  if (p + len > end) return null;
  let v = b[p] & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + b[p + i];
  return [v, p + len];
}

interface Initial {
  version: number;
  dcid: Uint8Array;
  pnOffset: number;
  end: number;
}

/** The long-header Initial packet at the datagram's start, or null. */
function initialHeader(b: Uint8Array, n: number): Initial | null {
  if (n < 7 || (b[0] & 0xc0) !== 0xc0) return null;
  const version = ((b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4]) >>> 0;
  if (version !== V1 && version !== V2) return null;
  if (((b[0] >> 4) & 3) !== (version === V2 ? 1 : 0)) return null;
  const dcil = b[5];
  if (dcil > 20 || 6 + dcil >= n) return null;
  const dcid = b.subarray(6, 6 + dcil);
  let p = 6 + dcil;
  p += 1 + b[p]; // source connection id
  const token = varint(b, p, n);
  if (!token || token[1] + token[0] > n) return null;
  const length = varint(b, token[1] + token[0], n);
  if (!length) return null;
  const end = length[1] + length[0];
  if (end > n || length[0] < 20) return null;
  return { version, dcid, pnOffset: length[1], end };
}

/** Removes header protection and decrypts: the plaintext, or null (bad tag, bad sizes). */
function decrypt(b: Uint8Array, h: Initial, k: Keys): Uint8Array | null {
  const sample = b.subarray(h.pnOffset + 4, h.pnOffset + 20);
  const mask = createCipheriv('aes-128-ecb', k.hp, null).update(sample);
  const first = b[0] ^ (mask[0] & 0x0f);
  const pnLen = (first & 3) + 1;
  const header = Buffer.from(b.subarray(0, h.pnOffset + pnLen));
  header[0] = first;
  const nonce = Buffer.from(k.iv);
  for (let i = 0; i < pnLen; i++) {
    header[h.pnOffset + i] ^= mask[1 + i];
    nonce[12 - pnLen + i] ^= header[h.pnOffset + i];
  }
  const body = b.subarray(h.pnOffset + pnLen, h.end - 16);
  const d = createDecipheriv('aes-128-gcm', k.key, nonce);
  d.setAAD(header);
  d.setAuthTag(b.subarray(h.end - 16, h.end));
  try {
    return Buffer.concat([d.update(body), d.final()]);
  } catch {
    return null;
  }
}

function state(f: AppFlowInfo): QuicState {
  if (!f.quic) f.quic = new QuicState(f.bound);
  return f.quic as QuicState;
}

/** The client's first Initial that decrypts. */
export function classifyQuic(f: AppFlowInfo, fwd: boolean, b: Uint8Array, n: number): number {
  if (!fwd || !initialHeader(b, n)) return 0;
  const plain = readInitial(f, b, n);
  if (plain === null) return MAYBE;
  (f.quic as QuicState).pending = plain;
  return APP_QUIC;
}

function readInitial(f: AppFlowInfo, b: Uint8Array, n: number): Uint8Array | null {
  const h = initialHeader(b, n);
  if (!h) return null;
  const s = state(f);
  if (!s.keys) {
    s.keys = initialKeys(h.version, h.dcid);
    s.version = h.version;
  }
  return decrypt(b, h, s.keys);
}

export function dissectQuic(f: AppFlowInfo, fwd: boolean, b: Uint8Array, n: number): Status {
  if (!fwd) return DONE;
  const s = state(f);
  const plain = s.pending ?? readInitial(f, b, n);
  s.pending = null;
  if (plain === null) return MORE;
  if (!gatherCrypto(s, plain)) return MORE;
  return readHello(f, s);
}

/** CRYPTO frames into the crypto buffer; false if a frame runs past the packet. */
function gatherCrypto(s: QuicState, p: Uint8Array): boolean {
  const end = p.length;
  for (let i = 0; i < end; ) {
    const type = p[i];
    if (type === 0x00 || type === 0x01) {
      i++;
    } else if (type === 0x02 || type === 0x03) {
      const next = skipAck(p, i + 1, end, type === 0x03);
      if (next < 0) return false;
      i = next;
    } else if (type === 0x06) {
      const off = varint(p, i + 1, end);
      const len = off && varint(p, off[1], end);
      if (!off || !len || len[1] + len[0] > end) return false;
      place(s, off[0], p.subarray(len[1], len[1] + len[0]));
      i = len[1] + len[0];
    } else {
      break;
    }
  }
  return true;
}

function skipAck(p: Uint8Array, i: number, end: number, ecn: boolean): number {
  let v: [number, number] | null = null;
  const fields: number[] = [];
  for (let k = 0; k < 4; k++) {
    v = varint(p, i, end);
    if (!v) return -1;
    fields.push(v[0]);
    i = v[1];
  }
  for (let r = 0; r < fields[2] * 2 + (ecn ? 3 : 0); r++) {
    v = varint(p, i, end);
    if (!v) return -1;
    i = v[1];
  }
  return i;
}

/** Copies data at its stream offset (the part below the bound). */
function place(s: QuicState, offset: number, data: Uint8Array): void {
  const bound = s.crypto.length;
  if (offset >= bound) return;
  const n = Math.min(data.length, bound - offset);
  s.crypto.set(data.subarray(0, n), offset);
  s.filled.fill(1, offset, offset + n);
}

function readHello(f: AppFlowInfo, s: QuicState): Status {
  const bound = s.crypto.length;
  let have = 0;
  while (have < bound && s.filled[have]) have++;
  if (have < 4) return MORE;
  if (s.crypto[0] !== 1) return DONE;
  const len = (s.crypto[1] << 16) | (s.crypto[2] << 8) | s.crypto[3];
  if (4 + len > bound) return DONE;
  if (4 + len > have) return MORE;
  const status = clientHello(f, s.crypto.subarray(0, 4 + len), 'q');
  if (f.area.getU16(O.kTlsVersion) === 0) f.area.setU16(O.kTlsVersion, 0x0304);
  return status;
}

// ASN.1 DER writer and an X.509 certificate builder (Ed25519, so the
// signature is real and deterministic). No dependencies (Node >= 20, ESM).
//
//   import { certificate } from './asn1.mjs';
//   const der = certificate({ subject: { CN: 'backup.example.com' }, issuer: { CN: 'Example CA', O: 'Example' } });

import { createPrivateKey, createPublicKey, sign } from 'node:crypto';

const toBuf = (b) => (Buffer.isBuffer(b) ? b : Buffer.from(b));

/** DER length octets. */
export function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: tag byte, DER length, the contents (Buffers concatenated). */
export function tlv(tag, ...contents) {
  const body = Buffer.concat(contents.map(toBuf));
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

export const sequence = (...items) => tlv(0x30, ...items);
export const set = (...items) => tlv(0x31, ...items);
export const nul = () => Buffer.from([0x05, 0x00]);
export const utf8String = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printableString = (s) => tlv(0x13, Buffer.from(s, 'latin1'));
export const ia5String = (s) => tlv(0x16, Buffer.from(s, 'latin1'));
export const octetString = (b) => tlv(0x04, b);
export const boolean = (v) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
/** BIT STRING with no unused bits. */
export const bitString = (b) => tlv(0x03, Buffer.from([0]), b);
/** Context-specific tag [n]: constructed (explicit) by default. */
export const context = (n, content, constructed = true) => tlv((constructed ? 0xa0 : 0x80) | n, content);

/** INTEGER from a number, bigint or big-endian bytes (non-negative). */
export function integer(v) {
  let b;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    b = Buffer.from(v);
    let i = 0;
    while (i < b.length - 1 && b[i] === 0 && !(b[i + 1] & 0x80)) i++;
    b = b.subarray(i);
  } else {
    let x = BigInt(v);
    if (x < 0n) throw new Error('negative INTEGER not supported');
    const bytes = [];
    do { bytes.unshift(Number(x & 0xffn)); x >>= 8n; } while (x > 0n);
    b = Buffer.from(bytes);
  }
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

/** OBJECT IDENTIFIER from dotted text. */
export function oid(dotted) {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out = [Number(arcs[0] * 40n + arcs[1])];
  for (const arc of arcs.slice(2)) {
    const groups = [];
    let x = arc;
    do { groups.unshift(Number(x & 0x7fn)); x >>= 7n; } while (x > 0n);
    for (let i = 0; i < groups.length - 1; i++) groups[i] |= 0x80;
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime (years 1950-2049) or GeneralizedTime, from a Date. */
export function time(date) {
  const iso = date.toISOString();
  const y = date.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return y >= 1950 && y < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${digits}Z`));
}

export const OID = Object.freeze({
  commonName: '2.5.4.3', country: '2.5.4.6', locality: '2.5.4.7', state: '2.5.4.8', organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11', ed25519: '1.3.101.112', subjectAltName: '2.5.29.17', basicConstraints: '2.5.29.19',
});

const NAME_KEYS = { C: OID.country, ST: OID.state, L: OID.locality, O: OID.organization, OU: OID.organizationalUnit, CN: OID.commonName };

/**
 * An X.501 Name from { C, ST, L, O, OU, CN } (that order on the wire) or from an
 * array of [oidOrKey, value, stringType?] entries in wire order. Country is a
 * PrintableString, the rest UTF8String unless the entry says 'printable' or 'ia5'.
 */
export function name(spec) {
  const entries = Array.isArray(spec)
    ? spec
    : Object.keys(NAME_KEYS).filter((k) => spec[k] !== undefined).map((k) => [k, spec[k], k === 'C' ? 'printable' : 'utf8']);
  return sequence(...entries.map(([key, value, type = 'utf8']) => {
    const str = type === 'printable' ? printableString(value) : type === 'ia5' ? ia5String(value) : utf8String(value);
    return set(sequence(oid(NAME_KEYS[key] ?? key), str));
  }));
}

/** An Ed25519 key pair from a 32-byte seed (deterministic). */
export function ed25519Key(seed) {
  const s = toBuf(seed);
  if (s.length !== 32) throw new Error('Ed25519 seed must be 32 bytes');
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), s]);
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, spki };
}

/**
 * A DER X.509 v3 certificate signed with Ed25519 (RFC 8410).
 * subject / issuer: name() specs; key: seed of the subject's key; issuerKey: seed of the signer's
 * (defaults to key: self-signed); dnsNames: subjectAltName entries.
 */
export function certificate({
  subject, issuer = subject, serial = 1n, notBefore = new Date(Date.UTC(2026, 0, 1)), notAfter = new Date(Date.UTC(2027, 0, 1)),
  key = Buffer.alloc(32, 1), issuerKey = key, dnsNames = [], ca = false,
}) {
  const subjectKey = ed25519Key(key);
  const signer = ed25519Key(issuerKey);
  const alg = sequence(oid(OID.ed25519));
  const exts = [];
  if (dnsNames.length) exts.push(sequence(oid(OID.subjectAltName), octetString(sequence(...dnsNames.map((d) => tlv(0x82, Buffer.from(d)))))));
  if (ca) exts.push(sequence(oid(OID.basicConstraints), boolean(true), octetString(sequence(boolean(true)))));
  const tbs = sequence(
    context(0, integer(2)),
    integer(serial),
    alg,
    name(issuer),
    sequence(time(notBefore), time(notAfter)),
    name(subject),
    subjectKey.spki,
    ...(exts.length ? [context(3, sequence(...exts))] : []),
  );
  const signature = sign(null, tbs, signer.privateKey);
  return sequence(tbs, alg, bitString(signature));
}

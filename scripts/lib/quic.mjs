// QUIC Initial packets protected as RFC 9001 §5 (v1) and RFC 9369 §3 (v2)
// say: HKDF initial secrets, AES-128-GCM payload, AES-128-ECB header
// protection. node:crypto only.
//
//   import { initialPacket, cryptoFrame } from './quic.mjs';
//   const datagram = initialPacket({ version: 1, dcid, scid, frames: [cryptoFrame(0, clientHello)], pad: 1200 });

import { createCipheriv, createHmac } from 'node:crypto';
import { varint } from './tls.mjs';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;

const VERSIONS = {
  [QUIC_V1]: { salt: Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex'), prefix: 'quic', initialType: 0 },
  [QUIC_V2]: { salt: Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex'), prefix: 'quicv2', initialType: 1 },
};

function versionInfo(version) {
  const v = VERSIONS[version];
  if (!v) throw new Error(`unsupported QUIC version 0x${version.toString(16)}`);
  return v;
}

const hkdfExtract = (salt, ikm) => createHmac('sha256', salt).update(ikm).digest();

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, for lengths up to 32. */
export function hkdfExpandLabel(secret, label, length) {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  return createHmac('sha256', secret).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(0, length);
}

/** The Initial keys of one side ('client' or 'server') for a client destination connection id. */
export function initialKeys(version, dcid, side = 'client') {
  const v = versionInfo(version);
  const initial = hkdfExtract(v.salt, dcid);
  const secret = hkdfExpandLabel(initial, `${side} in`, 32);
  return {
    key: hkdfExpandLabel(secret, `${v.prefix} key`, 16),
    iv: hkdfExpandLabel(secret, `${v.prefix} iv`, 12),
    hp: hkdfExpandLabel(secret, `${v.prefix} hp`, 16),
  };
}

/** CRYPTO frame (type 0x06). */
export const cryptoFrame = (offset, data) => Buffer.concat([Buffer.from([0x06]), varint(offset), varint(data.length), data]);
/** PING frame. */
export const pingFrame = () => Buffer.from([0x01]);
/** ACK frame: largest acknowledged, no ranges. */
export const ackFrame = (largest) => Buffer.concat([Buffer.from([0x02]), varint(largest), varint(0), varint(0), varint(0)]);

/**
 * One protected Initial packet.
 * dcid: the packet's destination connection id; keyDcid: the client's first dcid the keys
 * derive from (defaults to dcid); side: whose keys ('client' | 'server'); pn: packet number
 * (encoded in pnLength bytes); frames: Buffers; pad: pad the packet with PADDING frames to at
 * least this many bytes; badTag: flip a bit of the AEAD tag.
 */
export function initialPacket({
  version = QUIC_V1, dcid, scid = Buffer.alloc(0), keyDcid = dcid, side = 'client', token = Buffer.alloc(0), pn = 0,
  pnLength = 2, frames, pad = 0, badTag = false,
}) {
  const v = versionInfo(version);
  let payload = Buffer.concat(frames);
  const headerWithoutLength = Buffer.concat([
    Buffer.from([0xc0 | (v.initialType << 4) | (pnLength - 1)]),
    Buffer.from([version >>> 24, (version >>> 16) & 0xff, (version >>> 8) & 0xff, version & 0xff]),
    Buffer.from([dcid.length]), dcid, Buffer.from([scid.length]), scid,
    varint(token.length), token,
  ]);
  // the Length field is always written as 2 bytes (lengths < 16384)
  const fixed = headerWithoutLength.length + 2 + pnLength + 16;
  if (payload.length + fixed < pad) payload = Buffer.concat([payload, Buffer.alloc(pad - fixed - payload.length)]);
  if (payload.length + pnLength < 4) payload = Buffer.concat([payload, Buffer.alloc(4 - pnLength - payload.length)]); // room for the sample
  const length = pnLength + payload.length + 16;
  const pnBytes = Buffer.alloc(pnLength);
  for (let i = 0; i < pnLength; i++) pnBytes[pnLength - 1 - i] = (pn >>> (8 * i)) & 0xff;
  const header = Buffer.concat([headerWithoutLength, Buffer.from([0x40 | (length >> 8), length & 0xff]), pnBytes]);
  const keys = initialKeys(version, keyDcid, side);
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < 8; i++) nonce[11 - i] ^= Number((BigInt(pn) >> BigInt(8 * i)) & 0xffn);
  const aead = createCipheriv('aes-128-gcm', keys.key, nonce);
  aead.setAAD(header);
  const ciphertext = Buffer.concat([aead.update(payload), aead.final()]);
  const tag = aead.getAuthTag();
  if (badTag) tag[0] ^= 0x01;
  const packet = Buffer.concat([header, ciphertext, tag]);
  // header protection: sample 16 bytes starting 4 bytes after the packet number's start
  const pnOffset = header.length - pnLength;
  const sample = packet.subarray(pnOffset + 4, pnOffset + 20);
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  const mask = ecb.update(sample);
  packet[0] ^= mask[0] & 0x0f;
  for (let i = 0; i < pnLength; i++) packet[pnOffset + i] ^= mask[1 + i];
  return packet;
}

/** A ClientHello (handshake message bytes) cut into CRYPTO frames at the given offsets. */
export function cryptoFrames(hello, cuts = []) {
  const points = [0, ...cuts, hello.length];
  const out = [];
  for (let i = 0; i + 1 < points.length; i++) out.push(cryptoFrame(points[i], hello.subarray(points[i], points[i + 1])));
  return out;
}

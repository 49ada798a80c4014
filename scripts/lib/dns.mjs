// DNS messages (RFC 1035; also mDNS and LLMNR, which share the format) with
// name compression. No dependencies (Node >= 20, ESM).
//
//   import { dnsMessage, TYPE } from './dns.mjs';
//   const q = dnsMessage({ id: 1, rd: true, questions: [{ name: 'example.com', type: TYPE.A }] });

import { ipToBytes } from './packets.mjs';

export const TYPE = Object.freeze({ A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, HTTPS: 65, ANY: 255 });
export const RCODE = Object.freeze({ NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 });

/** Writes names with compression pointers to names (and suffixes) already written. */
class NameWriter {
  constructor() { this.parts = []; this.length = 0; this.seen = new Map(); }
  push(b) { this.parts.push(b); this.length += b.length; }
  name(name, compress = true) {
    const labels = name === '' || name === '.' ? [] : name.replace(/\.$/, '').split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      if (compress && this.seen.has(suffix)) {
        const p = this.seen.get(suffix);
        this.push(Buffer.from([0xc0 | (p >> 8), p & 0xff]));
        return;
      }
      if (this.length < 0x3fff) this.seen.set(suffix, this.length);
      const l = Buffer.from(labels[i], 'latin1');
      if (l.length > 63) throw new Error(`DNS label too long: ${labels[i]}`);
      this.push(Buffer.concat([Buffer.from([l.length]), l]));
    }
    this.push(Buffer.from([0]));
  }
}

function rdataOf(rr, w) {
  if (rr.rdata !== undefined) return Buffer.from(rr.rdata);
  switch (rr.type) {
    case TYPE.A: case TYPE.AAAA: return ipToBytes(rr.data);
    case TYPE.CNAME: case TYPE.NS: case TYPE.PTR: {
      // compressed against the message so far: write into a sub-writer that shares offsets
      const sub = new NameWriter();
      sub.seen = w.seen; sub.length = w.length + 2;
      sub.name(rr.data);
      return Buffer.concat(sub.parts);
    }
    case TYPE.TXT: return Buffer.concat([Buffer.from([Buffer.byteLength(rr.data)]), Buffer.from(rr.data)]);
    default: return Buffer.from(rr.data ?? []);
  }
}

/**
 * A DNS message. flags: qr, opcode, aa, tc, rd, ra, rcode (or `flags` as a number).
 * questions: [{ name, type, class }]; answers / authority / additional: [{ name, type, class,
 * ttl, data (address, name, text) | rdata (raw bytes) }]. `counts` overrides the header counts.
 */
export function dnsMessage({
  id = 0, qr = false, opcode = 0, aa = false, tc = false, rd = false, ra = false, rcode = 0, flags,
  questions = [], answers = [], authority = [], additional = [], compress = true, counts,
}) {
  const w = new NameWriter();
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  const f = flags ?? ((qr ? 0x8000 : 0) | ((opcode & 15) << 11) | (aa ? 0x400 : 0) | (tc ? 0x200 : 0) | (rd ? 0x100 : 0) | (ra ? 0x80 : 0) | (rcode & 15));
  header.writeUInt16BE(f, 2);
  const c = counts ?? [questions.length, answers.length, authority.length, additional.length];
  c.forEach((n, i) => header.writeUInt16BE(n, 4 + 2 * i));
  w.push(header);
  for (const q of questions) {
    w.name(q.name, compress);
    const t = Buffer.alloc(4);
    t.writeUInt16BE(q.type ?? TYPE.A, 0);
    t.writeUInt16BE(q.class ?? 1, 2);
    w.push(t);
  }
  for (const rr of [...answers, ...authority, ...additional]) {
    w.name(rr.name, compress);
    const fixed = Buffer.alloc(8);
    fixed.writeUInt16BE(rr.type, 0);
    fixed.writeUInt16BE(rr.class ?? 1, 2);
    fixed.writeUInt32BE((rr.ttl ?? 300) >>> 0, 4);
    w.push(fixed);
    const rdata = rdataOf(rr, w); // rdata starts after the 2-byte length: rdataOf counts them
    const len = Buffer.alloc(2);
    len.writeUInt16BE(rdata.length);
    w.push(len);
    w.push(rdata);
  }
  return Buffer.concat(w.parts);
}

/** A DNS message framed for TCP (u16 length first). */
export function dnsTcp(message) {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(message.length);
  return Buffer.concat([len, message]);
}

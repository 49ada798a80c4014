// Capture file writers: classic libpcap and pcapng. No dependencies (Node >= 20, ESM).
//
// Both writers either stream to a file (option `file`: a path, or `fd`: an open descriptor)
// through a large reusable chunk buffer flushed with fs.writeSync, or - without `file`/`fd` -
// collect everything in memory; close() then returns the complete capture as a Buffer.
//
// Timestamps: write(..., tsNs) takes BigInt nanoseconds since the Unix epoch. The fast path
// writeParts(..., sec, nsec, ...) takes whole seconds + nanoseconds as Numbers (no BigInt).

import fs from 'node:fs';
import { ipToBytes as ipBytes } from './packets.mjs';

const DEFAULT_CHUNK = 4 << 20; // 4 MiB
const NS_PER_SEC = 1000000000n;

class ChunkSink {
  constructor({ file, fd, chunkSize = DEFAULT_CHUNK }) {
    this.chunkSize = chunkSize;
    this.buf = Buffer.allocUnsafe(chunkSize);
    this.pos = 0;
    this.bytes = 0; // total bytes emitted (flushed + pending)
    this.parts = null;
    this.ownFd = false;
    if (fd !== undefined) this.fd = fd;
    else if (file !== undefined) { this.fd = fs.openSync(file, 'w'); this.ownFd = true; }
    else { this.fd = -1; this.parts = []; }
    this.closed = false;
  }

  /** Make room for n contiguous bytes; returns the offset in this.buf to write them at. */
  reserve(n) {
    if (this.pos + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(n, this.chunkSize));
    }
    const off = this.pos;
    this.pos += n;
    this.bytes += n;
    return off;
  }

  flush() {
    if (this.pos === 0) return;
    if (this.parts) {
      this.parts.push(Buffer.from(this.buf.subarray(0, this.pos)));
    } else {
      let o = 0;
      while (o < this.pos) o += fs.writeSync(this.fd, this.buf, o, this.pos - o);
    }
    this.pos = 0;
  }

  close() {
    if (this.closed) throw new Error('writer already closed');
    this.flush();
    this.closed = true;
    if (this.parts) {
      const out = Buffer.concat(this.parts);
      this.parts = null;
      return out;
    }
    if (this.ownFd) fs.closeSync(this.fd);
    return undefined;
  }
}

/** Copy data[0, n) to b at off; a plain loop beats TypedArray#set for small packets. */
function copyInto(b, off, data, n) {
  if (n <= 96) { for (let i = 0; i < n; i++) b[off + i] = data[i]; } else if (n === data.length) b.set(data, off); else b.set(data.subarray(0, n), off);
}

function splitTs(tsNs) {
  const t = BigInt(tsNs);
  if (t < 0n) throw new Error('negative timestamp');
  return [Number(t / NS_PER_SEC), Number(t % NS_PER_SEC)];
}

/**
 * Classic libpcap writer.
 * new PcapWriter({ file?, fd?, linktype = 1, nanos = false, bigEndian = false, snaplen = 262144, chunkSize })
 */
export class PcapWriter {
  constructor({ file, fd, linktype = 1, nanos = false, bigEndian = false, snaplen = 262144, chunkSize } = {}) {
    this.sink = new ChunkSink({ file, fd, chunkSize });
    this.linktype = linktype;
    this.nanos = nanos;
    this.bigEndian = bigEndian;
    this.snaplen = snaplen;
    this.packets = 0;
    const o = this.sink.reserve(24);
    const b = this.sink.buf;
    const w32 = bigEndian ? (v, at) => b.writeUInt32BE(v >>> 0, at) : (v, at) => b.writeUInt32LE(v >>> 0, at);
    const w16 = bigEndian ? (v, at) => b.writeUInt16BE(v, at) : (v, at) => b.writeUInt16LE(v, at);
    w32(nanos ? 0xa1b23c4d : 0xa1b2c3d4, o);
    w16(2, o + 4);
    w16(4, o + 6);
    w32(0, o + 8); // thiszone
    w32(0, o + 12); // sigfigs
    w32(snaplen, o + 16);
    w32(linktype, o + 20);
  }

  /** Bytes written so far (including pending buffered bytes). */
  get bytes() { return this.sink.bytes; }

  /** Write one packet; tsNs = BigInt ns since the epoch. */
  write(tsNs, data, origLen = data.length) {
    const [sec, nsec] = splitTs(tsNs);
    this.writeParts(0, sec, nsec, data, origLen);
  }

  /** Fast path: iface is ignored (kept for signature parity with PcapngWriter). */
  writeParts(iface, sec, nsec, data, origLen = data.length) {
    const cap = data.length < this.snaplen ? data.length : this.snaplen;
    const sink = this.sink;
    const o = sink.reserve(16 + cap);
    const b = sink.buf;
    const sub = this.nanos ? nsec : Math.floor(nsec / 1000);
    if (this.bigEndian) {
      b.writeUInt32BE(sec, o); b.writeUInt32BE(sub, o + 4); b.writeUInt32BE(cap, o + 8); b.writeUInt32BE(origLen, o + 12);
    } else {
      b.writeUInt32LE(sec, o); b.writeUInt32LE(sub, o + 4); b.writeUInt32LE(cap, o + 8); b.writeUInt32LE(origLen, o + 12);
    }
    copyInto(b, o + 16, data, cap);
    this.packets++;
  }

  /** Flush and finish. Returns the whole capture (Buffer) in memory mode, else undefined. */
  close() { return this.sink.close(); }
}

// ------------------------------------------------------------------ pcapng

const SHB = 0x0a0d0d0a, IDB = 0x00000001, EPB = 0x00000006, NRB = 0x00000004, ISB = 0x00000005;
const pad4 = (n) => (n + 3) & ~3;

function encodeOptions(opts, be) {
  // opts: [[code, Buffer]] -> Buffer incl. opt_endofopt, or empty when no options
  if (!opts.length) return Buffer.alloc(0);
  const parts = [];
  for (const [code, val] of opts) {
    const h = Buffer.alloc(4);
    if (be) { h.writeUInt16BE(code, 0); h.writeUInt16BE(val.length, 2); } else { h.writeUInt16LE(code, 0); h.writeUInt16LE(val.length, 2); }
    parts.push(h, val, Buffer.alloc(pad4(val.length) - val.length));
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

function u64(v, be) {
  const b = Buffer.alloc(8);
  if (be) b.writeBigUInt64BE(BigInt(v)); else b.writeBigUInt64LE(BigInt(v));
  return b;
}

/**
 * pcapng writer.
 * new PcapngWriter({ file?, fd?, bigEndian = false, interfaces = [], userAppl, chunkSize })
 *   interfaces: [{ linktype = 1, snaplen = 262144, tsresol = 6, name }] (or addInterface later)
 */
export class PcapngWriter {
  constructor({ file, fd, bigEndian = false, interfaces = [], userAppl = 'flowmaster gen-pcap', chunkSize } = {}) {
    this.sink = new ChunkSink({ file, fd, chunkSize });
    this.bigEndian = bigEndian;
    this.ifaces = [];
    this.packets = 0;
    const opts = userAppl ? [[4, Buffer.from(userAppl, 'utf8')]] : [];
    const body = Buffer.alloc(16);
    if (bigEndian) { body.writeUInt32BE(0x1a2b3c4d, 0); body.writeUInt16BE(1, 4); body.writeUInt16BE(0, 6); } else { body.writeUInt32LE(0x1a2b3c4d, 0); body.writeUInt16LE(1, 4); body.writeUInt16LE(0, 6); }
    body.fill(0xff, 8, 16); // section length -1 (unknown)
    this._block(SHB, Buffer.concat([body, encodeOptions(opts, bigEndian)]));
    for (const i of interfaces) this.addInterface(i);
  }

  get bytes() { return this.sink.bytes; }

  _w32(b, v, at) { if (this.bigEndian) b.writeUInt32BE(v >>> 0, at); else b.writeUInt32LE(v >>> 0, at); }

  /** Emit a generic block: type + body (body is padded to 32 bits). */
  _block(type, body) {
    const len = 12 + pad4(body.length);
    const o = this.sink.reserve(len);
    const b = this.sink.buf;
    this._w32(b, type, o);
    this._w32(b, len, o + 4);
    body.copy(b, o + 8);
    b.fill(0, o + 8 + body.length, o + len - 4);
    this._w32(b, len, o + len - 4);
  }

  /**
   * Add an Interface Description Block; returns the interface index.
   * tsresol: pcapng if_tsresol byte (6 = µs, the default; 9 = ns; high bit set = power of 2).
   */
  addInterface({ linktype = 1, snaplen = 262144, tsresol = 6, name } = {}) {
    const be = this.bigEndian;
    const body = Buffer.alloc(8);
    if (be) { body.writeUInt16BE(linktype, 0); body.writeUInt32BE(snaplen, 4); } else { body.writeUInt16LE(linktype, 0); body.writeUInt32LE(snaplen, 4); }
    const opts = [];
    if (name) opts.push([2, Buffer.from(name, 'utf8')]);
    if (tsresol !== 6) opts.push([9, Buffer.from([tsresol])]);
    this._block(IDB, Buffer.concat([body, encodeOptions(opts, be)]));
    const binary = (tsresol & 0x80) !== 0;
    const exp = tsresol & 0x7f;
    const units = binary ? 2n ** BigInt(exp) : 10n ** BigInt(exp);
    this.ifaces.push({
      linktype, snaplen, tsresol, units,
      // fast path for decimal resolutions <= ns: ticks = sec * 10^exp + floor(nsec / 10^(9-exp))
      nsDiv: !binary && exp <= 9 ? 10 ** (9 - exp) : 0,
      lastSec: -1, baseHi: 0, baseLo: 0,
    });
    return this.ifaces.length - 1;
  }

  /** Write an Enhanced Packet Block; tsNs = BigInt ns since the epoch. */
  write(ifaceIndex, tsNs, data, origLen = data.length) {
    const [sec, nsec] = splitTs(tsNs);
    this.writeParts(ifaceIndex, sec, nsec, data, origLen);
  }

  _ticks(ifc, sec, nsec) {
    if (ifc.nsDiv) {
      if (sec !== ifc.lastSec) {
        const base = BigInt(sec) * ifc.units;
        ifc.baseHi = Number(base >> 32n);
        ifc.baseLo = Number(base & 0xffffffffn);
        ifc.lastSec = sec;
      }
      let lo = ifc.baseLo + Math.floor(nsec / ifc.nsDiv);
      let hi = ifc.baseHi;
      if (lo >= 4294967296) { lo -= 4294967296; hi += 1; }
      return [hi, lo];
    }
    const t = (BigInt(sec) * NS_PER_SEC + BigInt(nsec)) * ifc.units / NS_PER_SEC;
    return [Number(t >> 32n), Number(t & 0xffffffffn)];
  }

  /** Fast path: sec/nsec as Numbers. */
  writeParts(ifaceIndex, sec, nsec, data, origLen = data.length) {
    const ifc = this.ifaces[ifaceIndex];
    if (!ifc) throw new Error(`unknown interface ${ifaceIndex}`);
    const cap = data.length < ifc.snaplen ? data.length : ifc.snaplen;
    const [hi, lo] = this._ticks(ifc, sec, nsec);
    const padded = (cap + 3) & ~3;
    const len = 32 + padded;
    const sink = this.sink;
    const o = sink.reserve(len);
    const b = sink.buf;
    if (this.bigEndian) {
      b.writeUInt32BE(EPB, o); b.writeUInt32BE(len, o + 4); b.writeUInt32BE(ifaceIndex, o + 8);
      b.writeUInt32BE(hi, o + 12); b.writeUInt32BE(lo, o + 16); b.writeUInt32BE(cap, o + 20);
      b.writeUInt32BE(origLen, o + 24); b.writeUInt32BE(len, o + len - 4);
    } else {
      b.writeUInt32LE(EPB, o); b.writeUInt32LE(len, o + 4); b.writeUInt32LE(ifaceIndex, o + 8);
      b.writeUInt32LE(hi, o + 12); b.writeUInt32LE(lo, o + 16); b.writeUInt32LE(cap, o + 20);
      b.writeUInt32LE(origLen, o + 24); b.writeUInt32LE(len, o + len - 4);
    }
    copyInto(b, o + 28, data, cap);
    for (let i = o + 28 + cap; i < o + 28 + padded; i++) b[i] = 0;
    this.packets++;
  }

  /** Emit a block of an unknown/custom type that conforming readers must skip. */
  writeCustomUnknownBlock(type = 0x00000bad, body = Buffer.from('flowmaster: readers must skip this block')) {
    this._block(type >>> 0, Buffer.from(body));
  }

  /**
   * Name Resolution Block. records: [{ ip: '10.0.0.1' | '2001:db8::1', names: ['host'] }].
   */
  writeNameResolution(records) {
    const be = this.bigEndian;
    const parts = [];
    for (const r of records) {
      const addr = ipBytes(r.ip);
      const names = Buffer.concat((r.names ?? [r.name]).map((n) => Buffer.from(`${n}\0`, 'utf8')));
      const val = Buffer.concat([addr, names]);
      const h = Buffer.alloc(4);
      const type = addr.length === 4 ? 1 : 2;
      if (be) { h.writeUInt16BE(type, 0); h.writeUInt16BE(val.length, 2); } else { h.writeUInt16LE(type, 0); h.writeUInt16LE(val.length, 2); }
      parts.push(h, val, Buffer.alloc(pad4(val.length) - val.length));
    }
    parts.push(Buffer.alloc(4)); // nrb_record_end
    this._block(NRB, Buffer.concat(parts));
  }

  /** Interface Statistics Block with isb_ifrecv / isb_ifdrop. tsNs = BigInt ns. */
  writeInterfaceStatistics(ifaceIndex, tsNs, { ifRecv, ifDrop } = {}) {
    const ifc = this.ifaces[ifaceIndex];
    if (!ifc) throw new Error(`unknown interface ${ifaceIndex}`);
    const [sec, nsec] = splitTs(tsNs);
    const [hi, lo] = this._ticks(ifc, sec, nsec);
    const body = Buffer.alloc(12);
    this._w32(body, ifaceIndex, 0);
    this._w32(body, hi, 4);
    this._w32(body, lo, 8);
    const opts = [];
    if (ifRecv !== undefined) opts.push([4, u64(ifRecv, this.bigEndian)]);
    if (ifDrop !== undefined) opts.push([5, u64(ifDrop, this.bigEndian)]);
    this._block(ISB, Buffer.concat([body, encodeOptions(opts, this.bigEndian)]));
  }

  close() { return this.sink.close(); }
}

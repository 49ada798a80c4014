/**
 * Capture file reader of the TypeScript engine: the port of native/reader.cc.
 * pcap and pcapng are read in large chunks (2 MiB, async, one await per
 * chunk) into one buffer; packets are handed out where they lie in it (no
 * per-packet copy or object). Checks, error codes, byte offsets and messages
 * are exactly those of the native reader.
 *
 * 64-bit values (timestamps) are kept as two uint32 Numbers, hi and lo: ns
 * since the epoch exceed 2^53.
 */
import * as fs from 'node:fs';

export const READ_CHUNK = 2 << 20;
const MAX_RECORD = 256 * 1024 * 1024; // largest record/block we accept (corrupt beyond)
const MAX_PCAP_CAPLEN = 262144; // libpcap's MAXIMUM_SNAPLEN
const SHB_TYPE = 0x0a0d0d0a;
const TWO32 = 4294967296;
const MASK64 = (1n << 64n) - 1n;

/** An error that ends reading: a stable code for JS and the byte offset (-1: none). */
export interface ReadError {
  code: string;
  message: string;
  offset: number;
}

/** next() results. */
export const NEXT_END = 0; // end of input, or an error (then `error` is set)
export const NEXT_PACKET = 1;
export const NEXT_NEED = -1; // more input is needed: await refill() and call next() again

interface Interface {
  linktype: number;
  snaplen: number;
  /** ts_ns = ts * mul / div + offset (mod 2^64) */
  mul: number;
  div: number;
  bigMul: bigint;
  bigDiv: bigint;
  offHi: number;
  offLo: number;
}

// glibc strerror() texts for the errno codes Node reports by name.
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  EPIPE: 'Broken pipe',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EOVERFLOW: 'Value too large for defined data type',
  ECONNRESET: 'Connection reset by peer',
  ETIMEDOUT: 'Connection timed out',
  ESTALE: 'Stale file handle',
  EOPNOTSUPP: 'Operation not supported',
};

function strerror(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && STRERROR[err.code]) return STRERROR[err.code];
  return err && err.message ? err.message : String(e);
}

function pad4(v: number): number {
  return (v + 3) & ~3;
}

/** (hi, lo) * m mod 2^64 for m < 2^32: the result in mulHi / mulLo. */
let mulHi = 0;
let mulLo = 0;
/** sec * 1e9 as (hi, lo): hi */
export function secToNsHi(sec: number): number {
  mul64(0, sec, 1000000000);
  return mulHi;
}
/** sec * 1e9 as (hi, lo): lo */
export function secToNsLo(sec: number): number {
  mul64(0, sec, 1000000000);
  return mulLo;
}
function mul64(hi: number, lo: number, m: number): void {
  const p0 = (lo & 0xffff) * m; // < 2^48
  const p1 = (lo >>> 16) * m; // < 2^48
  const t = p0 + (p1 & 0xffff) * 65536; // < 2^49 (ToInt32 keeps the low bits of an integer)
  const l = t >>> 0;
  const carry = (t - l) / TWO32 + Math.floor(p1 / 65536);
  mulLo = l;
  mulHi = (Math.imul(hi, m) + carry) >>> 0;
}

function readOnce(fd: number, buf: Uint8Array, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** read(), retried on EINTR (and on EAGAIN: non-blocking stdin waits for data). */
async function readFd(fd: number, buf: Uint8Array, off: number, len: number): Promise<number> {
  for (;;) {
    try {
      return await readOnce(fd, buf, off, len);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EINTR') continue;
      if (code === 'EAGAIN') {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      throw e;
    }
  }
}

/** Room kept in front of each read so a record cut by a chunk end is joined without copying the chunk. */
const DEFAULT_HEADROOM = 512 * 1024;

export interface ReaderTuning {
  /** read() size and initial buffer size (default 2 MiB); small values test chunk boundaries */
  chunkSize?: number;
  /** room in front of each chunk for the tail of the previous one (default 512 KiB); bigger tails take a slower path */
  headroom?: number;
}

export class CaptureReader {
  readonly path: string;
  readonly chunk: number;
  readonly headroom: number;
  buf: Uint8Array;
  dv: DataView;
  /** read position and end of the data in buf */
  pos = 0;
  end = 0;
  /** file offset of buf[0] */
  base = 0;
  fileSize = 0;
  eof = false;
  pcapng = false;
  /** true: the file is little-endian (DataView flag) */
  le = true;
  nanos = false;
  snaplen = 0;
  ifaces: Interface[] = [];
  lastTsHi = 0;
  lastTsLo = 0;
  error: ReadError | undefined;
  /** bytes next() needs at pos before it can go on (with NEXT_NEED) */
  need = 0;

  // The current packet (valid until the next call of next()).
  dataOff = 0;
  caplen = 0;
  wireLen = 0;
  linktype = 0;
  iface = 0;
  tsHi = 0;
  tsLo = 0;
  offset = 0;

  #fd = -1;
  #spare: Uint8Array | null = null;
  #inflight: Promise<number> | null = null;
  #readAt = 0; // file offset of the next read (bytes read so far)
  #secCache = -1;
  /** pcap: the file's link type, timestamp unit (ns per fraction unit) and largest valid caplen */
  linktype0 = 0;
  mul0 = 1000;
  caplenLimit = MAX_PCAP_CAPLEN;

  #secHi = 0;
  #secLo = 0;

  constructor(path: string, tuning: ReaderTuning = {}) {
    this.path = path;
    this.chunk = Math.max(16, Math.floor(tuning.chunkSize ?? READ_CHUNK));
    this.headroom = Math.max(0, Math.floor(tuning.headroom ?? DEFAULT_HEADROOM));
    this.buf = new Uint8Array(0);
    this.dv = new DataView(this.buf.buffer);
  }

  /** File offset of the read position: the bytes consumed (whole records). */
  bytesRead(): number {
    return this.base + this.pos;
  }

  /** Link type of the first interface (pcap: the file's). */
  firstLinktype(): number {
    return this.ifaces.length === 0 ? 1 : this.ifaces[0].linktype;
  }

  fail(code: string, offset: number, msg: string): false {
    let message = msg;
    if (offset >= 0) message += ` (${this.path}, byte offset ${offset})`;
    else message += ` (${this.path})`;
    this.error = { code, message, offset };
    return false;
  }

  /** Opens the file and reads its header. False with `error` set on failure. */
  async open(): Promise<boolean> {
    const path = this.path;
    if (path === '-') {
      this.#fd = 0;
    } else {
      const cpath = path.includes('\0') ? path.slice(0, path.indexOf('\0')) : path; // c_str()
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(cpath);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return this.fail('ERR_FILE_NOT_FOUND', -1, 'no such file');
        return this.fail('ERR_PCAP_OPEN', -1, `cannot open: ${strerror(e)}`);
      }
      if (st.isDirectory()) return this.fail('ERR_IS_DIRECTORY', -1, 'is a directory, not a capture file');
      if (st.isFile()) this.fileSize = st.size;
      try {
        this.#fd = await new Promise<number>((resolve, reject) => fs.open(cpath, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
      } catch (e) {
        return this.fail('ERR_PCAP_OPEN', -1, `cannot open: ${strerror(e)}`);
      }
    }
    this.setBuffer(new Uint8Array(this.headroom + this.chunk));
    this.pos = this.end = this.headroom;
    this.base = -this.headroom;
    if (!(await this.fill(4))) {
      if (this.error) return false;
      if (this.end === this.pos) return this.fail('ERR_EMPTY_FILE', 0, 'empty file: no capture header');
      return this.fail('ERR_TRUNCATED', 0, 'file ends inside the capture header');
    }
    const m = this.buf;
    const q = this.pos;
    const magic = ((m[q] << 24) | (m[q + 1] << 16) | (m[q + 2] << 8) | m[q + 3]) >>> 0;
    switch (magic) {
      case 0xd4c3b2a1:
        this.le = true;
        this.nanos = false;
        break;
      case 0xa1b2c3d4:
        this.le = false;
        this.nanos = false;
        break;
      case 0x4d3cb2a1:
        this.le = true;
        this.nanos = true;
        break;
      case 0xa1b23c4d:
        this.le = false;
        this.nanos = true;
        break;
      case SHB_TYPE:
        this.pcapng = true;
        for (;;) {
          const r = this.readShb(0);
          if (r !== NEXT_NEED) return r === NEXT_PACKET;
          if (!(await this.refill(this.need)) && this.error) return false;
        }
      default:
        return this.fail('ERR_NOT_A_CAPTURE', 0, 'not a pcap or pcapng file (unknown magic number)');
    }
    if (!(await this.fill(24))) return this.error ? false : this.fail('ERR_TRUNCATED', this.base + this.end, 'file ends inside the 24-byte pcap header');
    const h = this.pos;
    const major = this.u16(h + 4);
    const minor = this.u16(h + 6);
    if (major !== 2) return this.fail('ERR_BAD_HEADER', 4, `unsupported pcap version ${major}.${minor}`);
    this.snaplen = this.u32(h + 16);
    const lt = this.u32(h + 20) & 0x03ffffff; // upper bits: FCS length
    const mul = this.nanos ? 1 : 1000;
    this.ifaces.push({ linktype: lt & 0xffff, snaplen: this.snaplen, mul, div: 1, bigMul: BigInt(mul), bigDiv: 1n, offHi: 0, offLo: 0 });
    this.linktype0 = lt & 0xffff;
    this.mul0 = mul;
    this.caplenLimit = Math.min(Math.max(this.snaplen, MAX_PCAP_CAPLEN), MAX_RECORD);
    this.pos += 24;
    return true;
  }

  /** Closes the file (not stdin). */
  async close(): Promise<void> {
    if (this.#inflight) await this.#inflight.catch(() => undefined);
    this.#inflight = null;
    const fd = this.#fd;
    this.#fd = -1;
    if (fd > 0) await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
  }

  private setBuffer(b: Uint8Array): void {
    this.buf = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  u32(p: number): number {
    return this.dv.getUint32(p, this.le);
  }

  u16(p: number): number {
    return this.dv.getUint16(p, this.le);
  }

  /** Ensures `need` bytes at pos (false at EOF or on an error), reading as native fill() does. */
  fill(need: number): Promise<boolean> | boolean {
    return this.end - this.pos >= need || this.refill(need);
  }

  /**
   * native refill(): reads until `need` bytes are there at pos, or EOF (then
   * false). Reads run one chunk ahead into a spare buffer while packets are
   * processed; a read error is reported (ERR_READ at the file offset the read
   * started, as native) when the data it should have brought is needed.
   */
  async refill(need: number): Promise<boolean> {
    if (this.error) return false;
    while (this.end - this.pos < need && !this.eof) {
      this.startRead();
      const spare = this.#spare as Uint8Array;
      const at = this.#readAt;
      let n: number;
      try {
        n = await (this.#inflight as Promise<number>);
      } catch (e) {
        this.#inflight = null;
        return this.fail('ERR_READ', at, `read failed: ${strerror(e)}`);
      }
      this.#inflight = null;
      if (n === 0) {
        this.eof = true;
        break;
      }
      this.#readAt = at + n;
      const rest = this.end - this.pos;
      const cur = this.buf;
      if (rest <= this.headroom) {
        // the common case: the tail moves in front of the new data and the buffers swap
        spare.set(cur.subarray(this.pos, this.end), this.headroom - rest);
        this.base += this.pos - (this.headroom - rest);
        this.pos = this.headroom - rest;
        this.end = this.headroom + n;
        this.#spare = cur.length === spare.length ? cur : new Uint8Array(spare.length);
        this.setBuffer(spare);
      } else {
        // inside a big record: one buffer that grows with the data (doubling up to
        // `need`, never to what a length field claims before it arrives); the spare keeps reading
        if (this.end + n > cur.length) {
          const nb = new Uint8Array(Math.max(rest + n + this.chunk, Math.min(need, 2 * cur.length)));
          nb.set(cur.subarray(this.pos, this.end));
          this.base += this.pos;
          this.pos = 0;
          this.end = rest;
          this.setBuffer(nb);
        }
        this.buf.set(spare.subarray(this.headroom, this.headroom + n), this.end);
        this.end += n;
      }
    }
    if (!this.eof) this.startRead();
    return this.end - this.pos >= need;
  }

  /** Starts the next chunk read into the spare buffer, unless one is running. */
  private startRead(): void {
    if (this.#inflight || this.eof) return;
    if (!this.#spare) this.#spare = new Uint8Array(this.headroom + this.chunk);
    const p = readFd(this.#fd, this.#spare, this.headroom, this.chunk);
    p.catch(() => undefined); // handled where awaited
    this.#inflight = p;
  }

  /**
   * Next packet into dataOff/caplen/wireLen/linktype/iface/tsHi/tsLo/offset.
   * NEXT_PACKET, NEXT_END (end of input or error), or NEXT_NEED: await
   * refill(need), then call again (nothing was consumed).
   */
  next(): number {
    return this.pcapng ? this.nextPcapng() : this.nextPcap();
  }

  private needMore(n: number): number {
    this.need = n;
    return NEXT_NEED;
  }

  nextPcap(): number {
    const pos = this.pos;
    const avail = this.end - pos;
    const off = this.base + pos;
    if (avail < 16) {
      if (!this.eof) return this.needMore(16);
      if (this.error || avail === 0) return NEXT_END;
      this.fail('ERR_TRUNCATED', off, `file ends inside a record header (${avail} of 16 bytes)`);
      return NEXT_END;
    }
    const dv = this.dv;
    const le = this.le;
    const sec = dv.getUint32(pos, le);
    const frac = dv.getUint32(pos + 4, le);
    const caplen = dv.getUint32(pos + 8, le);
    const len = dv.getUint32(pos + 12, le);
    const limit = this.caplenLimit;
    if (caplen > limit) {
      this.fail('ERR_BAD_RECORD', off, `record caplen ${caplen} exceeds the maximum ${limit}`);
      return NEXT_END;
    }
    if (avail < 16 + caplen) {
      if (!this.eof) return this.needMore(16 + caplen);
      this.fail('ERR_TRUNCATED', off, `file ends inside a record: caplen ${caplen}, only ${avail - 16} bytes left`);
      return NEXT_END;
    }
    this.dataOff = pos + 16;
    this.caplen = caplen;
    this.wireLen = len;
    this.linktype = this.linktype0;
    this.iface = 0;
    // ts = sec * 1e9 + frac * mul (never above 2^64)
    if (sec !== this.#secCache) {
      mul64(0, sec, 1000000000);
      this.#secCache = sec;
      this.#secHi = mulHi;
      this.#secLo = mulLo;
    }
    const t = this.#secLo + frac * this.mul0; // < 2^43
    const lo = t >>> 0;
    this.tsLo = lo;
    this.tsHi = this.#secHi + (t - lo) / TWO32;
    this.offset = off;
    this.pos = pos + 16 + caplen;
    return NEXT_PACKET;
  }

  /** tsHi/tsLo = ts * mul / div + offset (mod 2^64), as native ts_to_ns. */
  private tsToNs(i: Interface, hi: number, lo: number): void {
    let rh: number;
    let rl: number;
    if (i.div === 1) {
      if (i.mul === 1) {
        rh = hi;
        rl = lo;
      } else {
        mul64(hi, lo, i.mul);
        rh = mulHi;
        rl = mulLo;
      }
    } else {
      const v = (((BigInt(hi) << 32n) | BigInt(lo)) * i.bigMul / i.bigDiv) & MASK64;
      rh = Number(v >> 32n);
      rl = Number(v & 0xffffffffn);
    }
    rl += i.offLo;
    rh += i.offHi;
    if (rl >= TWO32) {
      rl -= TWO32;
      rh++;
    }
    this.tsHi = rh >= TWO32 ? rh - TWO32 : rh;
    this.tsLo = rl;
  }

  /** Walks a block's options, checking each fits; visit may fail too. */
  private walkOptions(b: number, from: number, len: number, blockOff: number, visit?: (code: number, v: number, olen: number, o: number) => boolean): boolean {
    for (let o = from; o + 4 <= len - 4; ) {
      const code = this.u16(b + o);
      const olen = this.u16(b + o + 2);
      if (code === 0) break;
      if (o + 4 + pad4(olen) > len - 4) return this.fail('ERR_BAD_RECORD', blockOff + o, `pcapng option length ${olen} overruns its block`);
      if (visit && !visit(code, b + o + 4, olen, o)) return false;
      o += 4 + pad4(olen);
    }
    return true;
  }

  /** Section header block at pos: NEXT_PACKET when read, NEXT_END on an error, NEXT_NEED. */
  private readShb(blockOff: number): number {
    const avail = this.end - this.pos;
    if (avail < 12) {
      if (!this.eof) return this.needMore(12);
      if (!this.error) this.fail('ERR_TRUNCATED', blockOff, 'file ends inside a section header block');
      return NEXT_END;
    }
    const b = this.pos;
    const bom = this.dv.getUint32(b + 8, true);
    if (bom === 0x1a2b3c4d) this.le = true;
    else if (bom === 0x4d3c2b1a) this.le = false;
    else {
      this.fail(blockOff === 0 ? 'ERR_NOT_A_CAPTURE' : 'ERR_BAD_RECORD', blockOff + 8, 'pcapng section header with an invalid byte-order magic');
      return NEXT_END;
    }
    const len = this.u32(b + 4);
    if (len < 28 || (len & 3) !== 0 || len > MAX_RECORD) {
      this.fail('ERR_BAD_RECORD', blockOff + 4, `section header block length ${len} is invalid`);
      return NEXT_END;
    }
    if (avail < len) {
      if (!this.eof) return this.needMore(len);
      if (!this.error) this.fail('ERR_TRUNCATED', blockOff, 'file ends inside a section header block');
      return NEXT_END;
    }
    const major = this.u16(b + 12);
    if (major !== 1) {
      this.fail('ERR_BAD_HEADER', blockOff + 12, `unsupported pcapng version ${major}`);
      return NEXT_END;
    }
    if (this.u32(b + len - 4) !== len) {
      this.fail('ERR_BAD_RECORD', blockOff + len - 4, 'section header block trailing length differs');
      return NEXT_END;
    }
    if (!this.walkOptions(b, 24, len, blockOff)) return NEXT_END;
    this.ifaces = [];
    this.pos += len;
    return NEXT_PACKET;
  }

  private parseIdb(b: number, len: number, blockOff: number): boolean {
    if (len < 20) return this.fail('ERR_BAD_RECORD', blockOff, 'interface description block too short');
    const i: Interface = { linktype: this.u16(b + 8), snaplen: this.u32(b + 12), mul: 1000, div: 1, bigMul: 1000n, bigDiv: 1n, offHi: 0, offLo: 0 };
    const ok = this.walkOptions(b, 16, len, blockOff, (code, v, olen, o) => {
      if (code === 9 && olen >= 1) {
        // if_tsresol: 10^-r, or 2^-r with the top bit set
        const r = this.buf[v];
        if (r & 0x80) {
          const k = r & 0x7f;
          if (k > 63) return this.fail('ERR_BAD_RECORD', blockOff + o, 'if_tsresol out of range');
          i.bigMul = 1000000000n;
          i.bigDiv = 1n << BigInt(k);
        } else {
          if (r > 19) return this.fail('ERR_BAD_RECORD', blockOff + o, 'if_tsresol out of range');
          let mul = 1n;
          let div = 1n;
          for (let k = r; k < 9; k++) mul *= 10n;
          for (let k = 9; k < r; k++) div *= 10n;
          i.bigMul = mul;
          i.bigDiv = div;
        }
        i.mul = Number(i.bigMul);
        i.div = i.bigDiv === 1n ? 1 : 0; // 0: the BigInt path
      } else if (code === 14 && olen >= 8) {
        // if_tsoffset, seconds (int64 * 1e9, wrapping)
        const first = BigInt(this.u32(v));
        const second = BigInt(this.u32(v + 4));
        const secs = this.le ? (second << 32n) | first : (first << 32n) | second;
        const ns = (secs * 1000000000n) & MASK64;
        i.offHi = Number(ns >> 32n);
        i.offLo = Number(ns & 0xffffffffn);
      }
      return true;
    });
    if (!ok) return false;
    this.ifaces.push(i);
    return true;
  }

  nextPcapng(): number {
    for (;;) {
      const off = this.base + this.pos;
      const avail = this.end - this.pos;
      if (avail < 8) {
        if (!this.eof) return this.needMore(8);
        if (this.error || avail === 0) return NEXT_END;
        this.fail('ERR_TRUNCATED', off, 'file ends inside a block header');
        return NEXT_END;
      }
      let b = this.pos;
      const type = this.u32(b);
      if (type === SHB_TYPE) {
        const r = this.readShb(off);
        if (r !== NEXT_PACKET) return r;
        continue;
      }
      const len = this.u32(b + 4);
      if (len < 12 || (len & 3) !== 0 || len > MAX_RECORD) {
        this.fail('ERR_BAD_RECORD', off + 4, `block length ${len} is invalid`);
        return NEXT_END;
      }
      if (avail < len) {
        if (!this.eof) return this.needMore(len);
        if (!this.error) this.fail('ERR_TRUNCATED', off, `file ends inside a block of ${len} bytes (${avail} left)`);
        return NEXT_END;
      }
      b = this.pos;
      if (this.u32(b + len - 4) !== len) {
        this.fail('ERR_BAD_RECORD', off + len - 4, 'block trailing length differs from its leading length');
        return NEXT_END;
      }
      this.pos += len;
        switch (type) {
        case 1:
          if (!this.parseIdb(b, len, off)) return NEXT_END;
          continue;
        case 6:
        case 2: {
          // enhanced / obsolete packet block
          if (len < 32) {
            this.fail('ERR_BAD_RECORD', off, 'packet block too short');
            return NEXT_END;
          }
          const id = type === 6 ? this.u32(b + 8) : this.u16(b + 8);
          if (id >= this.ifaces.length) {
            this.fail('ERR_BAD_RECORD', off + 8, `packet block for interface ${id}, but ${this.ifaces.length} defined`);
            return NEXT_END;
          }
          const caplen = this.u32(b + 20);
          if (caplen > len - 32) {
            this.fail('ERR_BAD_RECORD', off + 20, `captured length ${caplen} overruns its block`);
            return NEXT_END;
          }
          const i = this.ifaces[id];
          this.dataOff = b + 28;
          this.caplen = caplen;
          this.wireLen = this.u32(b + 24);
          this.linktype = i.linktype;
          this.iface = id;
          this.tsToNs(i, this.u32(b + 12), this.u32(b + 16));
          this.lastTsHi = this.tsHi;
          this.lastTsLo = this.tsLo;
          this.offset = off;
          return NEXT_PACKET;
        }
        case 3: {
          // simple packet block: interface 0, no timestamp
          if (len < 16) {
            this.fail('ERR_BAD_RECORD', off, 'simple packet block too short');
            return NEXT_END;
          }
          if (this.ifaces.length === 0) {
            this.fail('ERR_BAD_RECORD', off, 'simple packet block before any interface');
            return NEXT_END;
          }
          const i = this.ifaces[0];
          const wire = this.u32(b + 8);
          let caplen = len - 16;
          if (wire < caplen) caplen = wire;
          if (i.snaplen && i.snaplen < caplen) caplen = i.snaplen;
          this.dataOff = b + 12;
          this.caplen = caplen;
          this.wireLen = wire;
          this.linktype = i.linktype;
          this.iface = 0;
          this.tsHi = this.lastTsHi;
          this.tsLo = this.lastTsLo;
          this.offset = off;
          return NEXT_PACKET;
        }
        default:
          continue; // statistics, name resolution, custom and unknown blocks
      }
    }
  }
}

/**
 * Bidirectional flow table of the TypeScript engine: the port of
 * native/flow_table.cc, with the same semantics bit for bit (flow ids, pool
 * indexes, idle/close queues, expiry, eviction, flush order, statistics).
 *
 * Layout: struct-of-arrays over typed arrays indexed by pool index, grown on
 * demand up to maxFlows; an open-addressing hash table (Int32Array, numeric
 * hash of the key words) that grows with the number of flows. No allocation
 * per packet. 64-bit times are pairs of uint32 Numbers (hi, lo); counters are
 * Numbers (exact below 2^53). The details area (docs/fields.md): IP and
 * payload bytes always; statistics and SPLT columns exist only when their
 * options are on; Zeek's history and conn_state come from conn-state.ts.
 */
import { AppFlow } from './app/dissect';
import { Offsets as O, RECORD_SIZE, RecordFlags } from '../../flow/layout';
import { ConnTrack, connPacket, connWrite } from './conn-state';
import { KIND_IP, KIND_L2, type PacketInfo } from './decode';

export { RECORD_SIZE };
/** packets per processGroup() call */
export const GROUP = 32;

export const END_IDLE = 1;
export const END_ACTIVE = 2;
export const END_TCP = 3;
export const END_FLUSH = 4;
export const END_EVICTED = 5;

const FLAG_L2 = RecordFlags.L2;
const FLAG_FRAGMENTS = RecordFlags.FRAGMENTS;
const FLAG_TUNNEL = RecordFlags.TUNNEL;
const FLAG_TRUNCATED = RecordFlags.TRUNCATED;

export const ACCT_LINK = 0;
export const ACCT_IP = 1;
export const ACCT_TRANSPORT = 2;
export const ACCT_PAYLOAD = 3;

const TWO32 = 4294967296;
const MAX32 = 4294967295;

/** Options as native FlowOptions; durations are uint64 ns as (hi, lo), UINT64_MAX = never. */
export interface FlowOptions {
  idleHi: number;
  idleLo: number;
  activeHi: number;
  activeLo: number;
  closeHi: number;
  closeLo: number;
  tcpTermination: boolean;
  keyVlan: boolean;
  statistics: boolean;
  /** application dissection (docs/applications.md), reading at most dissectBytes per direction */
  dissect: boolean;
  dissectBytes: number;
  accounting: number;
  maxFlows: number;
  /** a segment ends (reason active) before a direction's packet count passes this (native: 32-bit counters) */
  maxPackets: number;
  /** the first `splt` packets of each flow (0..32, 0 off): directions, sizes, inter-arrival times */
  splt: number;
}

/** Receives expired records: FileJob::reserve of native/meter.cc. */
export class BatchSink {
  readonly batchSize: number;
  cur: ArrayBuffer | null = null;
  u8: Uint8Array = new Uint8Array(0);
  dv: DataView = new DataView(new ArrayBuffer(0));
  count = 0;
  /** full batches not handed out yet */
  readonly full: ArrayBuffer[] = [];

  constructor(batchSize: number) {
    this.batchSize = batchSize;
  }

  /** Byte offset of a zeroed record in u8/dv. */
  reserve(): number {
    if (this.cur !== null && this.count === this.batchSize) {
      this.full.push(this.cur);
      this.cur = null;
    }
    if (this.cur === null) {
      this.cur = new ArrayBuffer(this.batchSize * RECORD_SIZE); // zero-filled
      this.u8 = new Uint8Array(this.cur);
      this.dv = new DataView(this.cur);
      this.count = 0;
    }
    return this.count++ * RECORD_SIZE;
  }

  /** The last (partial or full) batch, if any. */
  takeLast(): ArrayBuffer | null {
    const cur = this.cur;
    if (cur === null || this.count === 0) return null;
    this.cur = null;
    return this.count === this.batchSize ? cur : cur.slice(0, this.count * RECORD_SIZE);
  }
}

/** c >= a + b (saturating at UINT64_MAX), all uint64 as (hi, lo). */
function geSum(cHi: number, cLo: number, aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  let lo = aLo + bLo;
  let hi = aHi + bHi;
  if (lo >= TWO32) {
    lo -= TWO32;
    hi++;
  }
  if (hi >= TWO32) return cHi === MAX32 && cLo === MAX32;
  return cHi > hi || (cHi === hi && cLo >= lo);
}

let sumHi = 0;
let sumLo = 0;
/** sat_add into sumHi / sumLo */
function satAdd(aHi: number, aLo: number, bHi: number, bLo: number): void {
  let lo = aLo + bLo;
  let hi = aHi + bHi;
  if (lo >= TWO32) {
    lo -= TWO32;
    hi++;
  }
  if (hi >= TWO32) {
    hi = MAX32;
    lo = MAX32;
  }
  sumHi = hi;
  sumLo = lo;
}

/** FIFO of (pool index, due time[, flow id]) on power-of-two typed arrays that double when full. */
class Ring {
  idx: Int32Array;
  hi: Float64Array;
  lo: Float64Array;
  id: Float64Array;
  mask: number;
  head = 0;
  tail = 0;

  constructor(capacity: number) {
    let c = 16;
    while (c < capacity) c *= 2;
    this.idx = new Int32Array(c);
    this.hi = new Float64Array(c);
    this.lo = new Float64Array(c);
    this.id = new Float64Array(c);
    this.mask = c - 1;
  }

  get empty(): boolean {
    return this.head === this.tail;
  }

  push(idx: number, id: number, hi: number, lo: number): void {
    if (this.tail - this.head === this.mask + 1) this.grow();
    const i = this.tail++ & this.mask;
    this.idx[i] = idx;
    this.id[i] = id;
    this.hi[i] = hi;
    this.lo[i] = lo;
  }

  clear(): void {
    this.head = this.tail = 0;
  }

  private grow(): void {
    const n = this.tail - this.head;
    const c = (this.mask + 1) * 2;
    const idx = new Int32Array(c);
    const hi = new Float64Array(c);
    const lo = new Float64Array(c);
    const id = new Float64Array(c);
    for (let k = 0; k < n; k++) {
      const j = (this.head + k) & this.mask;
      idx[k] = this.idx[j];
      hi[k] = this.hi[j];
      lo[k] = this.lo[j];
      id[k] = this.id[j];
    }
    this.idx = idx;
    this.hi = hi;
    this.lo = lo;
    this.id = id;
    this.mask = c - 1;
    this.head = 0;
    this.tail = n;
  }
}

// Pool columns.
// The fields every packet touches are packed into few cache lines: the key
// and per-packet state in K (64 bytes), times and counters in F (the first 64
// bytes serve a packet from the flow's source).
// K: Int32Array, 16 words per flow: key words 0-10, slot hash 11, state 12-15.
//   0-3 address a, 4-7 address b (big-endian words), 8 pa << 16 | pb, 9 vlan << 16 | ethertype, 10 version << 8 | proto
const KS = 16;
const KEY_WORDS = 11;
const K_HASH = 11;
const K_SRC_IS_A = 12;
const K_CLOSING = 13;
const K_FLAGS = 14;
const K_TCP = 15; // fwd TCP flags | rev TCP flags << 8
// F: Float64Array, 16 per flow
const FS = 16;
const F_LAST_HI = 0;
const F_LAST_LO = 1;
const F_FIRST_HI = 2;
const F_FIRST_LO = 3;
const F_FWD_PKTS = 4;
const F_FWD_BYTES = 5;
const F_FWDLAST_HI = 6;
const F_FWDLAST_LO = 7;
const F_REV_PKTS = 8;
const F_REV_BYTES = 9;
const F_REVLAST_HI = 10;
const F_REVLAST_LO = 11;
const F_REVFIRST_HI = 12;
const F_REVFIRST_LO = 13;
const F_CLOSE_HI = 14;
const F_CLOSE_LO = 15;
// U: Uint8Array, 36 per flow
const US = 36;
const U_FINS = 0;
const U_QUEUED = 1;
const U_LIVE = 2;
const U_ICMP_TYPE = 3;
const U_ICMP_CODE = 4;
const U_TTL_MIN = 5; // of this segment's IP packets (255 / 0 before the first)
const U_TTL_MAX = 6;
const U_MACS = 8; // src MAC 8-13, dst MAC 14-19
const U_ARP = 20; // ARP flows: sender IPv4 20-23, target IPv4 24-27
// the first packet's inner VLAN, tunnel type and id as record bytes kInnerVlan..+8 hold them
// (28-29 inner VLAN LE, 30 tunnel type, 31 unused: conn_state, 32-35 tunnel id LE)
const U_DETAILS = 28;
const DETAILS_BYTES = 8;
// D: Float64Array, this segment's IP and payload bytes, 4 per flow
const DS = 4;
const D_FWD_IP = 0;
const D_REV_IP = 1;
const D_FWD_PAY = 2;
const D_REV_PAY = 3;
// FC (statistics): Uint32Array, packets carrying each TCP flag, fwd 0-7, rev 8-15
const FCS = 16;
// S: Float64Array, statistics, 3 blocks (fwd, rev, both directions) x 12 per flow
const SD = 12;
const SS = 3 * SD;
const S_BI = 2 * SD;
const S_SIZE_MIN = 0;
const S_SIZE_MAX = 1;
const S_SIZE_MEAN = 2;
const S_SIZE_M2 = 3;
const S_IAT_MIN_HI = 4;
const S_IAT_MIN_LO = 5;
const S_IAT_MAX_HI = 6;
const S_IAT_MAX_LO = 7;
const S_IAT_N = 8;
const S_IAT_MEAN = 9;
const S_IAT_M2 = 10;
/** One step of Welford's running mean (S[at]) and sum of squared deviations (S[at + 1]) for the n-th value x: native/flow_table.cc's welford(), the same double operations. */
function welford(S: Float64Array, at: number, x: number, n: number): void {
  const d = x - S[at];
  S[at] += d / n;
  S[at + 1] += d * (x - S[at]);
}
// P (splt): Uint8Array, per flow the record's bytes kSpltCount..kDetailsEnd; PT: Float64Array,
// per flow the latest packet time so far (hi, lo), not reset by segments
const P_BASE = O.kSpltCount;
const PS = O.kDetailsEnd - P_BASE;
const P_COUNT = 0;
const P_DIRS = O.kSpltDirections - P_BASE;
const P_SIZES = O.kSpltSizes - P_BASE;
const P_IATS = O.kSpltIats - P_BASE;

export class FlowTable {
  readonly opt: FlowOptions;
  readonly sink: BatchSink;
  readonly flowsByReason = [0, 0, 0, 0, 0, 0];
  flowsCreated = 0;
  active = 0;

  // pool
  private cap = 0;
  private K = new Int32Array(0);
  private F = new Float64Array(0);
  private U = new Uint8Array(0);
  private fid = new Float64Array(0);
  private seg = new Uint16Array(0);
  private S = new Float64Array(0);
  private D = new Float64Array(0);
  private FC = new Uint32Array(0);
  private P = new Uint8Array(0);
  private PT = new Float64Array(0);
  /** Zeek history / conn_state per IP flow (null: layer-2 flow) */
  private readonly conns: (ConnTrack | null)[] = [];
  /** application dissection per flow: undefined not started, null done with nothing found */
  private readonly apps: (AppFlow | null | undefined)[] = [];
  // free list: freed indexes (LIFO) on top of the never-used ones, handed out 0, 1, 2...
  private freeStack = new Int32Array(0);
  private freeTop = 0;
  private nextFresh = 0;

  // hash table: pairs (hash, pool index + 1), 0 = empty
  private slots: Int32Array;
  private mask: number;
  private readonly slotLimit: number;

  private readonly idleQ: Ring;
  private readonly closeQ: Ring;
  private clockHi = 0;
  private clockLo = 0;
  private nextDueHi = MAX32;
  private nextDueLo = MAX32;
  private nextId = 1;

  // the group's keys, hashes and directions
  private readonly qs = new Int32Array(GROUP * KEY_WORDS);
  private readonly hs = new Int32Array(GROUP);
  private readonly fromA = new Uint8Array(GROUP);
  private readonly one: PacketInfo[] = [];
  /** sink of the prefetching loads */
  touched = 0;

  constructor(opt: FlowOptions, sink: BatchSink) {
    this.opt = opt;
    this.sink = sink;
    let limit = 16;
    while (limit < opt.maxFlows * 2) limit *= 2;
    this.slotLimit = limit;
    let c = 16;
    while (c < limit && c < 1 << 14) c *= 2;
    this.slots = new Int32Array(2 * c);
    this.mask = c - 1;
    this.idleQ = new Ring(opt.maxFlows < 4096 ? opt.maxFlows : 4096);
    this.closeQ = new Ring(1024);
    this.growPool();
  }

  private growPool(): void {
    const max = this.opt.maxFlows;
    const old = this.cap;
    let cap = old === 0 ? 1024 : old * 2;
    if (cap > max) cap = max;
    const K = new Int32Array(cap * KS);
    K.set(this.K);
    const F = new Float64Array(cap * FS);
    F.set(this.F);
    const U = new Uint8Array(cap * US);
    U.set(this.U);
    const fid = new Float64Array(cap);
    fid.set(this.fid);
    const seg = new Uint16Array(cap);
    seg.set(this.seg);
    const free = new Int32Array(cap);
    free.set(this.freeStack);
    const D = new Float64Array(cap * DS);
    D.set(this.D);
    this.D = D;
    if (this.opt.statistics) {
      const S = new Float64Array(cap * SS);
      S.set(this.S);
      this.S = S;
      const FC = new Uint32Array(cap * FCS);
      FC.set(this.FC);
      this.FC = FC;
    }
    if (this.opt.splt > 0) {
      const P = new Uint8Array(cap * PS);
      P.set(this.P);
      this.P = P;
      const PT = new Float64Array(cap * 2);
      PT.set(this.PT);
      this.PT = PT;
    }
    this.K = K;
    this.F = F;
    this.U = U;
    this.fid = fid;
    this.seg = seg;
    this.freeStack = free;
    this.cap = cap;
  }

  private growSlots(): void {
    const old = this.slots;
    const c = (this.mask + 1) * 2;
    const slots = new Int32Array(2 * c);
    const mask = c - 1;
    for (let i = 0; i < old.length; i += 2) {
      const v = old[i + 1];
      if (v === 0) continue;
      const h = old[i];
      let j = h & mask;
      while (slots[2 * j + 1] !== 0) j = (j + 1) & mask;
      slots[2 * j] = h;
      slots[2 * j + 1] = v;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** Accounts one decoded packet (kind IP or L2); buf holds its bytes (for the MACs). */
  process(p: PacketInfo, buf: Uint8Array): void {
    this.one[0] = p;
    this.processGroup(this.one, 1, buf);
  }

  /**
   * Accounts a group of decoded packets (at most GROUP) in order, as native
   * FlowTable::process: keys and hashes first, then the slots and flow states
   * of the whole group are loaded (independent loads the CPU overlaps: the
   * prefetch of native), then each packet is accounted.
   */
  processGroup(pkts: readonly PacketInfo[], n: number, buf: Uint8Array): void {
    const qs = this.qs;
    const hs = this.hs;
    const fa = this.fromA;
    const keyVlan = this.opt.keyVlan;
    for (let i = 0; i < n; i++) {
      const p = pkts[i];
      const qb = i * KEY_WORDS;
      // canonical key: (a, pa) <= (b, pb) in memcmp order
      let c = 0;
      if (p.s0 !== p.d0) c = p.s0 < p.d0 ? -1 : 1;
      else if (p.s1 !== p.d1) c = p.s1 < p.d1 ? -1 : 1;
      else if (p.s2 !== p.d2) c = p.s2 < p.d2 ? -1 : 1;
      else if (p.s3 !== p.d3) c = p.s3 < p.d3 ? -1 : 1;
      const fromA = c < 0 || (c === 0 && p.sport <= p.dport);
      let w0, w1, w2, w3, w4, w5, w6, w7, w8;
      if (fromA) {
        w0 = p.s0;
        w1 = p.s1;
        w2 = p.s2;
        w3 = p.s3;
        w4 = p.d0;
        w5 = p.d1;
        w6 = p.d2;
        w7 = p.d3;
        w8 = (p.sport << 16) | p.dport;
      } else {
        w0 = p.d0;
        w1 = p.d1;
        w2 = p.d2;
        w3 = p.d3;
        w4 = p.s0;
        w5 = p.s1;
        w6 = p.s2;
        w7 = p.s3;
        w8 = (p.dport << 16) | p.sport;
      }
      const w9 = ((keyVlan ? p.vlan : 0) << 16) | p.ethertype;
      const w10 = (p.ipVersion << 8) | p.proto;
      qs[qb] = w0;
      qs[qb + 1] = w1;
      qs[qb + 2] = w2;
      qs[qb + 3] = w3;
      qs[qb + 4] = w4;
      qs[qb + 5] = w5;
      qs[qb + 6] = w6;
      qs[qb + 7] = w7;
      qs[qb + 8] = w8;
      qs[qb + 9] = w9;
      qs[qb + 10] = w10;
      // independent products (they overlap in the CPU), then a murmur3 finalizer
      let h =
        Math.imul(w0, 0x9e3779b1) ^
        Math.imul(w1, 0x85ebca77) ^
        Math.imul(w2, 0xc2b2ae3d) ^
        Math.imul(w3, 0x27d4eb2f) ^
        Math.imul(w4, 0x165667b1) ^
        Math.imul(w5, 0xd3a2646d) ^
        Math.imul(w6, 0xfd7046c5) ^
        Math.imul(w7, 0xb55a4f09) ^
        Math.imul(w8, 0x7feb352d) ^
        Math.imul(w9, 0x846ca68b) ^
        Math.imul(w10, 0x6a09e667);
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      hs[i] = h ^ (h >>> 16);
      fa[i] = fromA ? 1 : 0;
    }
    // "prefetch": load the group's slots, then their flows' key and time lines (independent
    // loads the CPU overlaps, as native prefetches), then account each packet in order
    const slots = this.slots;
    const mask = this.mask;
    let acc = 0;
    for (let i = 0; i < n; i++) acc ^= slots[((hs[i] & mask) << 1) + 1];
    const K = this.K;
    const F = this.F;
    for (let i = 0; i < n; i++) {
      const v = slots[((hs[i] & mask) << 1) + 1];
      if (v !== 0) {
        const f = (v - 1) * FS;
        acc ^= K[(v - 1) * KS] ^ (F[f] | 0) ^ (F[f + 8] | 0);
      }
    }
    this.touched = acc;
    for (let i = 0; i < n; i++) this.processOne(pkts[i], i * KEY_WORDS, hs[i], fa[i] === 1, buf);
  }

  private processOne(p: PacketInfo, qb: number, h: number, fromA: boolean, buf: Uint8Array): void {
    const tsHi = p.tsHi;
    const tsLo = p.tsLo;
    if (tsHi > this.clockHi || (tsHi === this.clockHi && tsLo > this.clockLo)) {
      this.clockHi = tsHi;
      this.clockLo = tsLo;
      if (tsHi > this.nextDueHi || (tsHi === this.nextDueHi && tsLo >= this.nextDueLo)) this.advance();
    }
    let idx = this.find(qb, h);
    if (idx >= 0) {
      const F = this.F;
      const o = idx * FS;
      const opt = this.opt;
      const cHi = this.clockHi;
      const cLo = this.clockLo;
      let why = 0;
      if (this.K[idx * KS + K_CLOSING] && geSum(cHi, cLo, F[o + F_CLOSE_HI], F[o + F_CLOSE_LO], opt.closeHi, opt.closeLo)) why = END_TCP;
      else if (geSum(cHi, cLo, F[o + F_LAST_HI], F[o + F_LAST_LO], opt.idleHi, opt.idleLo)) why = END_IDLE;
      if (why) {
        this.expire(idx, why);
        idx = -1;
      } else if (
        geSum(cHi, cLo, F[o + F_FIRST_HI], F[o + F_FIRST_LO], opt.activeHi, opt.activeLo) ||
        F[o + F_FWD_PKTS] === opt.maxPackets ||
        F[o + F_REV_PKTS] === opt.maxPackets
      ) {
        this.emit(idx, END_ACTIVE);
        this.resetSegment(idx);
        this.seg[idx] = (this.seg[idx] + 1) & 0xffff;
        F[o + F_FIRST_HI] = tsHi;
        F[o + F_FIRST_LO] = tsLo;
        F[o + F_LAST_HI] = tsHi;
        F[o + F_LAST_LO] = tsLo;
      }
    }
    if (idx < 0) {
      if (this.freeTop === 0 && this.nextFresh >= this.opt.maxFlows) this.evictOne();
      idx = this.create(p, qb, h, fromA, buf);
    }
    this.account(idx, p, fromA);
    if (this.opt.dissect && p.payCap > 0 && (p.proto === 6 || p.proto === 17) && p.fragment === 0 && p.truncated === 0) {
      this.dissect(idx, p, fromA === (this.K[idx * KS + K_SRC_IS_A] === 1), buf);
    }
  }

  /** Feeds a packet's payload to the flow's application dissection (docs/applications.md). */
  private dissect(idx: number, p: PacketInfo, fwd: boolean, buf: Uint8Array): void {
    let a = this.apps[idx];
    if (a === null || a?.done) return;
    if (a === undefined) {
      a = new AppFlow(p.proto, p.sport, p.dport, this.opt.dissectBytes);
      this.apps[idx] = a;
    }
    if (a.packet(fwd, buf, p.payOff, p.payCap, p.seq, p.payloadLen) && a.app === null) this.apps[idx] = null;
  }

  /** Pool index of the flow with key qs[qb..] and hash h, or -1. */
  private find(qb: number, h: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const K = this.K;
    const q = this.qs;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1];
      if (v === 0) return -1;
      if (slots[2 * i] === h) {
        const idx = v - 1;
        const b = idx * KS;
        if (
          K[b] === q[qb] &&
          K[b + 1] === q[qb + 1] &&
          K[b + 2] === q[qb + 2] &&
          K[b + 3] === q[qb + 3] &&
          K[b + 4] === q[qb + 4] &&
          K[b + 5] === q[qb + 5] &&
          K[b + 6] === q[qb + 6] &&
          K[b + 7] === q[qb + 7] &&
          K[b + 8] === q[qb + 8] &&
          K[b + 9] === q[qb + 9] &&
          K[b + 10] === q[qb + 10]
        )
          return idx;
      }
    }
  }

  private insertSlot(h: number, idx: number): void {
    if ((this.active + 1) * 2 > this.mask + 1 && this.mask + 1 < this.slotLimit) this.growSlots();
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
    slots[2 * i] = h;
    slots[2 * i + 1] = idx + 1;
  }

  /** Backward-shift deletion of the slot of pool index idx. */
  private removeSlot(idx: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = this.K[idx * KS + K_HASH] & mask;
    while (slots[2 * i + 1] !== idx + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const w = slots[2 * j + 1];
      if (w === 0) break;
      const home = slots[2 * j] & mask;
      // move w to i when its home is not in the cyclic range (i, j]
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        slots[2 * i] = slots[2 * j];
        slots[2 * i + 1] = w;
        i = j;
      }
    }
    slots[2 * i] = 0;
    slots[2 * i + 1] = 0;
  }

  private create(p: PacketInfo, qb: number, h: number, srcIsA: boolean, buf: Uint8Array): number {
    let idx: number;
    if (this.freeTop > 0) {
      idx = this.freeStack[--this.freeTop];
    } else {
      idx = this.nextFresh++;
      if (idx >= this.cap) this.growPool();
    }
    const K = this.K;
    const F = this.F;
    const U = this.U;
    const q = this.qs;
    const kb = idx * KS;
    for (let i = 0; i < KEY_WORDS; i++) K[kb + i] = q[qb + i];
    K[kb + K_HASH] = h;
    K[kb + K_SRC_IS_A] = srcIsA ? 1 : 0;
    K[kb + K_CLOSING] = 0;
    K[kb + K_FLAGS] = 0;
    K[kb + K_TCP] = 0;
    const o = idx * FS;
    for (let i = 0; i < FS; i++) F[o + i] = 0;
    F[o + F_FIRST_HI] = p.tsHi;
    F[o + F_FIRST_LO] = p.tsLo;
    F[o + F_LAST_HI] = p.tsHi;
    F[o + F_LAST_LO] = p.tsLo;
    const u = idx * US;
    const queued = U[u + U_QUEUED];
    for (let i = 0; i < US; i++) U[u + i] = 0;
    U[u + U_QUEUED] = queued;
    U[u + U_LIVE] = 1;
    U[u + U_TTL_MIN] = 255;
    U[u + U_ICMP_TYPE] = p.icmpType;
    U[u + U_ICMP_CODE] = p.icmpCode;
    if (p.hasMac) {
      const s = p.srcMacOff;
      if (s >= 0) for (let i = 0; i < 6; i++) U[u + U_MACS + i] = buf[s + i];
      const d = p.dstMacOff;
      if (d >= 0) for (let i = 0; i < 6; i++) U[u + U_MACS + 6 + i] = buf[d + i];
    }
    if (p.kind === KIND_L2 && p.arpOff >= 0) {
      const a = p.arpOff;
      for (let i = 0; i < 4; i++) {
        U[u + U_ARP + i] = buf[a + i]; // sender protocol address
        U[u + U_ARP + 4 + i] = buf[a + 10 + i]; // target protocol address
      }
    }
    const t = u + U_DETAILS;
    U[t] = p.innerVlan & 0xff;
    U[t + 1] = p.innerVlan >>> 8;
    U[t + 2] = p.tunnelType;
    const tid = p.tunnelId;
    U[t + 4] = tid & 0xff;
    U[t + 5] = (tid >>> 8) & 0xff;
    U[t + 6] = (tid >>> 16) & 0xff;
    U[t + 7] = tid >>> 24;
    this.D.fill(0, idx * DS, idx * DS + DS);
    const track = this.conns[idx]; // a slot's track outlives its flows: no garbage per flow
    if (p.kind !== KIND_IP) this.conns[idx] = null;
    else if (track) track.reset();
    else this.conns[idx] = new ConnTrack();
    this.seg[idx] = 0;
    const id = this.nextId++;
    this.fid[idx] = id;
    if (this.opt.statistics) {
      this.S.fill(0, idx * SS, idx * SS + SS);
      this.FC.fill(0, idx * FCS, idx * FCS + FCS);
    }
    if (this.opt.splt > 0) this.P.fill(0, idx * PS, idx * PS + PS);
    if (this.opt.dissect) this.apps[idx] = undefined;
    this.insertSlot(h, idx);
    if (!queued) {
      U[u + U_QUEUED] = 1;
      satAdd(p.tsHi, p.tsLo, this.opt.idleHi, this.opt.idleLo);
      this.pushIdle(idx, id, sumHi, sumLo);
    }
    this.active++;
    this.flowsCreated++;
    return idx;
  }

  private account(idx: number, p: PacketInfo, fromA: boolean): void {
    const opt = this.opt;
    let len: number;
    switch (opt.accounting) {
      case ACCT_IP:
        len = p.ipLen;
        break;
      case ACCT_TRANSPORT:
        len = p.l4Len;
        break;
      case ACCT_PAYLOAD:
        len = p.payloadLen;
        break;
      default:
        len = p.wireLen;
    }
    const F = this.F;
    const K = this.K;
    const o = idx * FS;
    const kb = idx * KS;
    const tsHi = p.tsHi;
    const tsLo = p.tsLo;
    const fwd = fromA === (K[kb + K_SRC_IS_A] === 1);
    // the flow's latest packet time before this one: the previous packet of the both-directions statistics
    const lastHi = F[o + F_LAST_HI];
    const lastLo = F[o + F_LAST_LO];
    if (tsHi > lastHi || (tsHi === lastHi && tsLo > lastLo)) {
      F[o + F_LAST_HI] = tsHi;
      F[o + F_LAST_LO] = tsLo;
    }
    const D = this.D;
    const db = idx * DS + (fwd ? 0 : 1);
    D[db + D_FWD_IP] += p.ipLen;
    if (!p.truncated) D[db + D_FWD_PAY] += p.payloadLen; // no transport header: no payload
    let flags = K[kb + K_FLAGS];
    if (p.fragment) flags |= FLAG_FRAGMENTS;
    if (p.tunnel) flags |= FLAG_TUNNEL;
    if (p.truncated) flags |= FLAG_TRUNCATED;
    if (p.kind === KIND_L2) flags |= FLAG_L2;
    K[kb + K_FLAGS] = flags;
    if (p.kind === KIND_IP) {
      const u = idx * US;
      const U = this.U;
      if (p.ttl < U[u + U_TTL_MIN]) U[u + U_TTL_MIN] = p.ttl;
      if (p.ttl > U[u + U_TTL_MAX]) U[u + U_TTL_MAX] = p.ttl;
    }
    let prevHi = 0;
    let prevLo = 0;
    let n: number;
    if (fwd) {
      n = F[o + F_FWD_PKTS];
      if (n) {
        prevHi = F[o + F_FWDLAST_HI];
        prevLo = F[o + F_FWDLAST_LO];
      }
      F[o + F_FWD_PKTS] = ++n;
      F[o + F_FWD_BYTES] += len;
      if (tsHi > F[o + F_FWDLAST_HI] || (tsHi === F[o + F_FWDLAST_HI] && tsLo > F[o + F_FWDLAST_LO])) {
        F[o + F_FWDLAST_HI] = tsHi;
        F[o + F_FWDLAST_LO] = tsLo;
      }
      K[kb + K_TCP] |= p.tcpFlags;
    } else {
      n = F[o + F_REV_PKTS];
      if (n) {
        prevHi = F[o + F_REVLAST_HI];
        prevLo = F[o + F_REVLAST_LO];
      } else {
        F[o + F_REVFIRST_HI] = tsHi;
        F[o + F_REVFIRST_LO] = tsLo;
      }
      F[o + F_REV_PKTS] = ++n;
      F[o + F_REV_BYTES] += len;
      if (tsHi > F[o + F_REVLAST_HI] || (tsHi === F[o + F_REVLAST_HI] && tsLo > F[o + F_REVLAST_LO])) {
        F[o + F_REVLAST_HI] = tsHi;
        F[o + F_REVLAST_LO] = tsLo;
      }
      K[kb + K_TCP] |= p.tcpFlags << 8;
    }
    if (opt.statistics) {
      this.updateStats(idx * SS + (fwd ? 0 : SD), n, len, tsHi, tsLo, prevHi, prevLo);
      this.updateStats(idx * SS + S_BI, F[o + F_FWD_PKTS] + F[o + F_REV_PKTS], len, tsHi, tsLo, lastHi, lastLo);
      const tf = p.tcpFlags;
      if (tf !== 0) {
        const FC = this.FC;
        const c = idx * FCS + (fwd ? 0 : 8);
        for (let b = 0; b < 8; b++) if (tf & (1 << b)) FC[c + b]++;
      }
    }
    if (opt.splt > 0 && this.P[idx * PS + P_COUNT] < opt.splt) this.splt(idx, fwd, len, tsHi, tsLo);
    const conn = this.conns[idx];
    if (conn) connPacket(conn, fwd, p);
    if (opt.tcpTermination && p.proto === 6 && p.ipVersion !== 0 && !K[kb + K_CLOSING]) {
      if (p.tcpFlags & 0x04) {
        K[kb + K_CLOSING] = 1;
      } else if (p.tcpFlags & 0x01) {
        const u = idx * US;
        const fins = this.U[u + U_FINS] | (fwd ? 1 : 2);
        this.U[u + U_FINS] = fins;
        if (fins === 3) K[kb + K_CLOSING] = 1;
      }
      if (K[kb + K_CLOSING]) {
        F[o + F_CLOSE_HI] = this.clockHi;
        F[o + F_CLOSE_LO] = this.clockLo;
        satAdd(this.clockHi, this.clockLo, opt.closeHi, opt.closeLo);
        if (this.closeQ.empty && (sumHi < this.nextDueHi || (sumHi === this.nextDueHi && sumLo < this.nextDueLo))) {
          this.nextDueHi = sumHi;
          this.nextDueLo = sumLo;
        }
        this.closeQ.push(idx, this.fid[idx], sumHi, sumLo);
      }
    }
  }

  private updateStats(s: number, n: number, len: number, tsHi: number, tsLo: number, prevHi: number, prevLo: number): void {
    const S = this.S;
    if (n === 1 || len < S[s + S_SIZE_MIN]) S[s + S_SIZE_MIN] = len;
    if (len > S[s + S_SIZE_MAX]) S[s + S_SIZE_MAX] = len;
    welford(S, s + S_SIZE_MEAN, len, n);
    if (n > 1) {
      // iat = ts > prev ? ts - prev : 0
      let iHi = 0;
      let iLo = 0;
      if (tsHi > prevHi || (tsHi === prevHi && tsLo > prevLo)) {
        iHi = tsHi - prevHi;
        iLo = tsLo - prevLo;
        if (iLo < 0) {
          iLo += TWO32;
          iHi--;
        }
      }
      const k = ++S[s + S_IAT_N];
      if (k === 1 || iHi < S[s + S_IAT_MIN_HI] || (iHi === S[s + S_IAT_MIN_HI] && iLo < S[s + S_IAT_MIN_LO])) {
        S[s + S_IAT_MIN_HI] = iHi;
        S[s + S_IAT_MIN_LO] = iLo;
      }
      if (iHi > S[s + S_IAT_MAX_HI] || (iHi === S[s + S_IAT_MAX_HI] && iLo > S[s + S_IAT_MAX_LO])) {
        S[s + S_IAT_MAX_HI] = iHi;
        S[s + S_IAT_MAX_LO] = iLo;
      }
      welford(S, s + S_IAT_MEAN, iHi * TWO32 + iLo, k); // one rounding, as double(uint64)
    }
  }

  /** Records packet P_COUNT of the flow in its SPLT (the caller checks that there is room). */
  private splt(idx: number, fwd: boolean, len: number, tsHi: number, tsLo: number): void {
    const P = this.P;
    const PT = this.PT;
    const b = idx * PS;
    const i = P[b + P_COUNT];
    P[b + P_COUNT] = i + 1;
    if (!fwd) P[b + P_DIRS + (i >>> 3)] |= 1 << (i & 7); // the u32's bit i, little-endian
    const size = len > 0xffff ? 0xffff : len;
    P[b + P_SIZES + 2 * i] = size & 0xff;
    P[b + P_SIZES + 2 * i + 1] = size >>> 8;
    const t = idx * 2;
    if (i === 0) {
      PT[t] = tsHi;
      PT[t + 1] = tsLo;
      return;
    }
    const prevHi = PT[t];
    const prevLo = PT[t + 1];
    if (!(tsHi > prevHi || (tsHi === prevHi && tsLo > prevLo))) return; // older than the latest packet: 0
    PT[t] = tsHi;
    PT[t + 1] = tsLo;
    // µs, floor, saturating at 2^32 - 1 (from 1000 * 2^32 ns on; below 2^53 ns the double is exact)
    const ns = (tsHi - prevHi) * TWO32 + (tsLo - prevLo);
    const us = ns >= 1000 * TWO32 ? MAX32 : Math.floor(ns / 1000);
    const q = b + P_IATS + 4 * i;
    P[q] = us & 0xff;
    P[q + 1] = (us >>> 8) & 0xff;
    P[q + 2] = (us >>> 16) & 0xff;
    P[q + 3] = us >>> 24;
  }

  private resetSegment(idx: number): void {
    const F = this.F;
    const o = idx * FS;
    for (let i = F_FWD_PKTS; i <= F_REVFIRST_LO; i++) F[o + i] = 0; // counters, fwd last, rev first/last
    const kb = idx * KS;
    this.K[kb + K_TCP] = 0;
    this.K[kb + K_FLAGS] = 0;
    this.U[idx * US + U_TTL_MIN] = 255;
    this.U[idx * US + U_TTL_MAX] = 0;
    this.D.fill(0, idx * DS, idx * DS + DS);
    if (this.opt.statistics) {
      this.S.fill(0, idx * SS, idx * SS + SS);
      this.FC.fill(0, idx * FCS, idx * FCS + FCS);
    }
  }

  private emit(idx: number, reason: number): void {
    const sink = this.sink;
    const r = sink.reserve();
    const dv = sink.dv;
    const b8 = sink.u8;
    const K = this.K;
    const F = this.F;
    const U = this.U;
    const kb = idx * KS;
    const o = idx * FS;
    const u = idx * US;
    const srcIsA = K[kb + K_SRC_IS_A] === 1;
    const id = this.fid[idx];
    dv.setUint32(r + O.kFlowId, id % TWO32, true);
    dv.setUint32(r + O.kFlowId + 4, Math.floor(id / TWO32), true);
    dv.setUint32(r + O.kFirstNs, F[o + F_FIRST_LO], true);
    dv.setUint32(r + O.kFirstNs + 4, F[o + F_FIRST_HI], true);
    dv.setUint32(r + O.kLastNs, F[o + F_LAST_LO], true);
    dv.setUint32(r + O.kLastNs + 4, F[o + F_LAST_HI], true);
    const sa = srcIsA ? kb : kb + 4;
    const da = srcIsA ? kb + 4 : kb;
    for (let i = 0; i < 4; i++) {
      dv.setInt32(r + O.kSrcAddr + 4 * i, K[sa + i], false);
      dv.setInt32(r + O.kDstAddr + 4 * i, K[da + i], false);
    }
    const ports = K[kb + 8];
    const pa = ports >>> 16;
    const pb = ports & 0xffff;
    dv.setUint16(r + O.kSrcPort, srcIsA ? pa : pb, true);
    dv.setUint16(r + O.kDstPort, srcIsA ? pb : pa, true);
    const ve = K[kb + 9];
    dv.setUint16(r + O.kVlan, ve >>> 16, true);
    dv.setUint16(r + O.kEtherType, ve & 0xffff, true);
    const vp = K[kb + 10];
    b8[r + O.kIpVersion] = vp >>> 8;
    b8[r + O.kProtocol] = vp & 0xff;
    b8[r + O.kEndReason] = reason;
    b8[r + O.kFlags] = K[kb + K_FLAGS];
    dv.setUint16(r + O.kSegment, this.seg[idx], true);
    const tcp = K[kb + K_TCP];
    b8[r + O.kFwdTcpFlags] = tcp & 0xff;
    b8[r + O.kRevTcpFlags] = tcp >>> 8;
    b8[r + O.kIcmpType] = U[u + U_ICMP_TYPE];
    b8[r + O.kIcmpCode] = U[u + U_ICMP_CODE];
    for (let i = 0; i < 12; i++) b8[r + O.kSrcMac + i] = U[u + U_MACS + i];
    if ((vp >>> 8) !== 0) {
      b8[r + O.kMinTtl] = U[u + U_TTL_MIN];
      b8[r + O.kMaxTtl] = U[u + U_TTL_MAX];
    } else {
      // layer 2: ARP protocol addresses after the MACs (zero otherwise)
      for (let i = 0; i < 4; i++) {
        b8[r + O.kSrcAddr + O.kArpIp + i] = U[u + U_ARP + i];
        b8[r + O.kDstAddr + O.kArpIp + i] = U[u + U_ARP + 4 + i];
      }
    }
    const fwdPkts = F[o + F_FWD_PKTS];
    const revPkts = F[o + F_REV_PKTS];
    putU64(dv, r + O.kFwdPackets, fwdPkts);
    putU64(dv, r + O.kFwdBytes, F[o + F_FWD_BYTES]);
    putU64(dv, r + O.kRevPackets, revPkts);
    putU64(dv, r + O.kRevBytes, F[o + F_REV_BYTES]);
    dv.setUint32(r + O.kFwdLastNs, F[o + F_FWDLAST_LO], true);
    dv.setUint32(r + O.kFwdLastNs + 4, F[o + F_FWDLAST_HI], true);
    dv.setUint32(r + O.kRevFirstNs, F[o + F_REVFIRST_LO], true);
    dv.setUint32(r + O.kRevFirstNs + 4, F[o + F_REVFIRST_HI], true);
    dv.setUint32(r + O.kRevLastNs, F[o + F_REVLAST_LO], true);
    dv.setUint32(r + O.kRevLastNs + 4, F[o + F_REVLAST_HI], true);
    const D = this.D;
    const db = idx * DS;
    putU64(dv, r + O.kFwdIpBytes, D[db + D_FWD_IP]);
    putU64(dv, r + O.kRevIpBytes, D[db + D_REV_IP]);
    putU64(dv, r + O.kFwdPayloadBytes, D[db + D_FWD_PAY]);
    putU64(dv, r + O.kRevPayloadBytes, D[db + D_REV_PAY]);
    for (let i = 0; i < DETAILS_BYTES; i++) b8[r + O.kInnerVlan + i] = U[u + U_DETAILS + i];
    const conn = this.conns[idx];
    if (conn) connWrite(conn, vp & 0xff, vp >>> 8, b8, r); // layer-2 flows leave both zero
    if (this.opt.splt > 0) b8.set(this.P.subarray(idx * PS, idx * PS + PS), r + P_BASE);
    if (this.opt.statistics) {
      const FC = this.FC;
      const c = idx * FCS;
      for (let i = 0; i < 16; i++) dv.setUint32(r + O.kFwdFlagCounts + 4 * i, FC[c + i], true);
      const S = this.S;
      for (let d = 0; d < 3; d++) {
        const n = d === 0 ? fwdPkts : d === 1 ? revPkts : fwdPkts + revPkts;
        if (n === 0) continue;
        const s = idx * SS + d * SD;
        const b = r + (d === 0 ? O.kFwdStats : d === 1 ? O.kRevStats : O.kBiStats);
        dv.setUint32(b + O.kStatSizeMin, S[s + S_SIZE_MIN], true);
        dv.setUint32(b + O.kStatSizeMax, S[s + S_SIZE_MAX], true);
        dv.setFloat64(b + O.kStatSizeMean, S[s + S_SIZE_MEAN], true);
        dv.setFloat64(b + O.kStatSizeStddev, Math.sqrt(S[s + S_SIZE_M2] / n), true);
        const k = S[s + S_IAT_N];
        if (k) {
          dv.setUint32(b + O.kStatIatMin, S[s + S_IAT_MIN_LO], true);
          dv.setUint32(b + O.kStatIatMin + 4, S[s + S_IAT_MIN_HI], true);
          dv.setUint32(b + O.kStatIatMax, S[s + S_IAT_MAX_LO], true);
          dv.setUint32(b + O.kStatIatMax + 4, S[s + S_IAT_MAX_HI], true);
          dv.setFloat64(b + O.kStatIatMean, S[s + S_IAT_MEAN], true);
          dv.setFloat64(b + O.kStatIatStddev, Math.sqrt(S[s + S_IAT_M2] / k), true);
        }
      }
    }
    const app = this.opt.dissect ? this.apps[idx] : null;
    if (app?.app) b8.set(app.app.b, r + O.kApp);
    this.flowsByReason[reason]++;
  }

  private expire(idx: number, reason: number): void {
    this.emit(idx, reason);
    this.removeSlot(idx);
    this.U[idx * US + U_LIVE] = 0;
    // conns[idx] stays, reset by the slot's next IP flow
    if (this.opt.dissect) this.apps[idx] = undefined;
    this.freeStack[this.freeTop++] = idx;
    this.active--;
  }

  /** Expires what is due at the packet clock. */
  private advance(): void {
    const nowHi = this.clockHi;
    const nowLo = this.clockLo;
    const U = this.U;
    const cq = this.closeQ;
    while (!cq.empty) {
      const j = cq.head & cq.mask;
      const dHi = cq.hi[j];
      if (dHi > nowHi || (dHi === nowHi && cq.lo[j] > nowLo)) break;
      const idx = cq.idx[j];
      const id = cq.id[j];
      cq.head++;
      const u = idx * US;
      if (U[u + U_LIVE] && this.fid[idx] === id && this.K[idx * KS + K_CLOSING]) this.expire(idx, END_TCP);
    }
    const iq = this.idleQ;
    const F = this.F;
    while (!iq.empty) {
      const j = iq.head & iq.mask;
      const dHi = iq.hi[j];
      if (dHi > nowHi || (dHi === nowHi && iq.lo[j] > nowLo)) break;
      const idx = iq.idx[j];
      iq.head++;
      const u = idx * US;
      if (!U[u + U_LIVE]) {
        U[u + U_QUEUED] = 0;
      } else {
        const o = idx * FS;
        if (geSum(nowHi, nowLo, F[o + F_LAST_HI], F[o + F_LAST_LO], this.opt.idleHi, this.opt.idleLo)) {
          U[u + U_QUEUED] = 0;
          this.expire(idx, END_IDLE);
        } else {
          satAdd(F[o + F_LAST_HI], F[o + F_LAST_LO], this.opt.idleHi, this.opt.idleLo);
          iq.push(idx, this.fid[idx], sumHi, sumLo);
        }
      }
    }
    this.refreshDue();
  }

  private refreshDue(): void {
    let hi = MAX32;
    let lo = MAX32;
    const cq = this.closeQ;
    if (!cq.empty) {
      const j = cq.head & cq.mask;
      hi = cq.hi[j];
      lo = cq.lo[j];
    }
    const iq = this.idleQ;
    if (!iq.empty) {
      const j = iq.head & iq.mask;
      const h = iq.hi[j];
      const l = iq.lo[j];
      if (h < hi || (h === hi && l < lo)) {
        hi = h;
        lo = l;
      }
    }
    this.nextDueHi = hi;
    this.nextDueLo = lo;
  }

  private pushIdle(idx: number, id: number, hi: number, lo: number): void {
    if (this.idleQ.empty && (hi < this.nextDueHi || (hi === this.nextDueHi && lo < this.nextDueLo))) {
      this.nextDueHi = hi;
      this.nextDueLo = lo;
    }
    this.idleQ.push(idx, id, hi, lo);
  }

  /** Table full: the flow at the head of the idle queue goes. */
  private evictOne(): void {
    const iq = this.idleQ;
    const U = this.U;
    while (!iq.empty) {
      const idx = iq.idx[iq.head & iq.mask];
      iq.head++;
      const u = idx * US;
      U[u + U_QUEUED] = 0;
      if (U[u + U_LIVE]) {
        this.expire(idx, END_EVICTED);
        break;
      }
    }
    this.refreshDue();
  }

  /**
   * Ends every flow with the given reason, in idle-queue order. With `pause`
   * it stops as soon as a batch is full (false: call again once the sink's
   * full batches are handed out), so a large table never sits in memory twice.
   */
  flush(reason: number, pause = false): boolean {
    const iq = this.idleQ;
    const U = this.U;
    const full = this.sink.full;
    while (!iq.empty) {
      if (pause && full.length > 0) return false;
      const idx = iq.idx[iq.head & iq.mask];
      iq.head++;
      const u = idx * US;
      U[u + U_QUEUED] = 0;
      if (U[u + U_LIVE]) this.expire(idx, reason);
    }
    this.closeQ.clear();
    this.refreshDue();
    return true;
  }
}

function putU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v % TWO32, true);
  dv.setUint32(at + 4, Math.floor(v / TWO32), true);
}

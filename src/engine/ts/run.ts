/**
 * One offline read in pure TypeScript: the port of native run_offline() and
 * FileJob (native/offline.cc, native/meter.cc). Capture file -> BPF filter ->
 * decode -> flow table -> FlowBatch ArrayBuffers, byte-identical to the native
 * engine's, and a summary of the NativeSummary shape.
 */
import type { NativeSummary } from '../native';
import { nativeOptions } from '../native';
import type { ResolvedOptions } from '../../options';
import { compileBpf, runBpfAt, type BpfInstruction, type BpfProgram } from './bpf';
import { compilePcapFilter } from './pcap-filter';
import { DECODE_ERROR_COUNT, FragmentTable, KIND_SKIP, PacketInfo, decodePacket, type DecodeOptions } from './decode';
import { BatchSink, END_FLUSH, FlowTable, GROUP, type FlowOptions } from './flow-table';
import { CaptureReader, NEXT_NEED, NEXT_PACKET, secToNsHi, secToNsLo, type ReadError, type ReaderTuning } from './reader';

const TWO32 = 4294967296;
const MAX32 = 4294967295;

/** Compiles the filter for a link type: the program, or an Error saying why not. */
export type FilterCompiler = (linktype: number) => BpfInstruction[] | Error;

export interface TsRunOptions {
  flow: FlowOptions;
  decode: DecodeOptions;
  filter: string | undefined;
  batchSize: number;
}

/** seconds_to_ns of native/meter.cc: (hi, lo) of llround(s * 1e9), UINT64_MAX for never. */
function secondsToNs(v: unknown, dfltNs: number): [number, number] {
  let n: number;
  if (typeof v !== 'number') {
    n = dfltNs;
  } else {
    // beyond ~292 years (llround's int64 range) a timeout means never
    if (!(v >= 0) || !Number.isFinite(v) || v * 1e9 >= 9.2e18) return [MAX32, MAX32];
    n = Math.round(v * 1e9) + 0; // std::llround (the same for non-negative values)
  }
  const hi = Math.floor(n / TWO32);
  return [hi, n - hi * TWO32];
}

/** The options exactly as the addon reads nativeOptions(o). */
export function tsRunOptions(o: ResolvedOptions): TsRunOptions {
  const r = nativeOptions(o);
  const flag = (name: string, dflt: boolean): boolean => (typeof r[name] === 'boolean' ? (r[name] as boolean) : dflt);
  const num = (name: string, dflt: number): number => (typeof r[name] === 'number' ? (r[name] as number) : dflt);
  const idle = secondsToNs(r.idleTimeout, 120e9);
  const active = secondsToNs(r.activeTimeout, 1800e9);
  const close = secondsToNs(r.tcpCloseTimeout, 5e9);
  let batchSize = Math.trunc(num('batchSize', 4096));
  if (!(batchSize >= 1)) batchSize = 1;
  return {
    flow: {
      idleHi: idle[0],
      idleLo: idle[1],
      activeHi: active[0],
      activeLo: active[1],
      closeHi: close[0],
      closeLo: close[1],
      tcpTermination: flag('tcpTermination', true),
      keyVlan: flag('keyVlan', true),
      statistics: flag('statistics', false),
      dissect: flag('dissect', true),
      dissectBytes: Math.min(65535, Math.max(64, Math.trunc(num('dissectBytes', 4096)))),
      accounting: num('accounting', 0) & 0xff,
      maxFlows: num('maxFlows', 1000000) >>> 0,
      maxPackets: Math.max(1, num('maxPackets', 4294967295) >>> 0),
      splt: Math.min(32, Math.max(0, Math.trunc(num('splt', 0)))) || 0,
    },
    decode: { decodeTunnels: flag('decodeTunnels', true), l2Flows: flag('l2Flows', true) },
    filter: typeof r.filter === 'string' ? r.filter : undefined,
    batchSize,
  };
}

const PREFETCH = 2048;
const PUMP_END = 0;
const PUMP_NEED = 1;
const PUMP_FULL = 2;

/** run_offline's state and its packet loop (synchronous over the data in the reader's buffer). */
class OfflineRun {
  readonly reader: CaptureReader;
  readonly opt: TsRunOptions;
  readonly sink: BatchSink;
  readonly table: FlowTable;
  readonly frags = new FragmentTable();
  readonly group: PacketInfo[] = [];
  readonly decodeErrors = new Float64Array(DECODE_ERROR_COUNT);
  packets = 0;
  bytes = 0;
  filtered = 0;
  skipped = 0;
  firstHi = MAX32; // the smallest timestamp (UINT64_MAX before any packet)
  firstLo = MAX32;
  lastHi = 0;
  lastLo = 0;
  error: ReadError | undefined;
  readonly filterCompiler: FilterCompiler;
  readonly programs = new Map<number, BpfProgram>();
  lastLinktype = -1;
  lastProgram: BpfProgram | undefined;
  /** sink of the prefetching loads */
  touched = 0;

  constructor(reader: CaptureReader, opt: TsRunOptions, filterCompiler: FilterCompiler | undefined) {
    this.reader = reader;
    this.opt = opt;
    this.sink = new BatchSink(opt.batchSize);
    this.table = new FlowTable(opt.flow, this.sink);
    // without a compiler of the caller's, the TypeScript pcap-filter compiler (no libpcap)
    this.filterCompiler = filterCompiler ?? ((linktype) => compilePcapFilter(opt.filter as string, linktype));
    for (let i = 0; i < GROUP; i++) this.group.push(new PacketInfo());
  }

  /** PacketFilter::prepare: false with this.error set (ERR_BPF) when the filter cannot be compiled for the link type. */
  private prepareFilter(linktype: number): boolean {
    if (this.programs.has(linktype)) return true;
    let r: BpfInstruction[] | Error;
    try {
      r = this.filterCompiler(linktype);
    } catch (e) {
      r = e instanceof Error ? e : new Error(String(e));
    }
    if (!(r instanceof Error)) {
      this.programs.set(linktype, compileBpf(r));
      this.lastLinktype = -1;
      return true;
    }
    this.error = { code: 'ERR_BPF', message: `${r.message} (${this.reader.path})`, offset: -1 };
    return false;
  }

  /**
   * Reads and processes packets until the reader needs more input (PUMP_NEED),
   * a batch is full (PUMP_FULL: hand it out, then pump again) or the input or
   * run ends (PUMP_END).
   */
  pump(): number {
    const r = this.reader;
    const group = this.group;
    const table = this.table;
    const full = this.sink.full;
    const frags = this.frags;
    const dopt = this.opt.decode;
    const errs = this.decodeErrors;
    const filtering = this.opt.filter !== undefined;
    const pcapng = r.pcapng;
    // the pcap fast path: a whole record in the buffer (the reader's nextPcap() inline)
    const buf = r.buf;
    const dv = r.dv;
    const le = r.le;
    const limit = r.caplenLimit;
    const mul0 = r.mul0;
    const linktype0 = r.linktype0;
    let secCache = -1;
    let secHi = 0;
    let secLo = 0;
    // run counters in locals, written back on return
    let packets = this.packets;
    let bytes = this.bytes;
    let filtered = this.filtered;
    let skipped = this.skipped;
    let firstHi = this.firstHi;
    let firstLo = this.firstLo;
    let lastHi = this.lastHi;
    let lastLo = this.lastLo;
    let n = 0;
    let status = PUMP_END;
    // touch the buffer PREFETCH bytes ahead, one load per cache line: the chunk was written by
    // the reading thread on another core, and these loads overlap instead of stalling one by one
    let pf = r.pos;
    let touched = 0;
    for (;;) {
      let tsHi: number;
      let tsLo: number;
      let wire: number;
      let dataOff: number;
      let caplen: number;
      let linktype: number;
      const pos = r.pos;
      const end = r.end;
      const avail = end - pos;
      const pfEnd = pos + PREFETCH < end ? pos + PREFETCH : end;
      while (pf < pfEnd) {
        touched ^= buf[pf];
        pf += 64;
      }
      if (!pcapng && avail >= 16 && (caplen = dv.getUint32(pos + 8, le)) <= limit && avail >= 16 + caplen) {
        const sec = dv.getUint32(pos, le);
        if (sec !== secCache) {
          secCache = sec;
          secHi = secToNsHi(sec);
          secLo = secToNsLo(sec);
        }
        const t = secLo + dv.getUint32(pos + 4, le) * mul0; // < 2^43
        tsLo = t >>> 0;
        tsHi = secHi + (t - tsLo) / TWO32;
        wire = dv.getUint32(pos + 12, le);
        dataOff = pos + 16;
        linktype = linktype0;
        r.pos = pos + 16 + caplen;
      } else {
        const st = pcapng ? r.nextPcapng() : r.nextPcap();
        if (st !== NEXT_PACKET) {
          status = st === NEXT_NEED ? PUMP_NEED : PUMP_END;
          break;
        }
        tsHi = r.tsHi;
        tsLo = r.tsLo;
        wire = r.wireLen;
        dataOff = r.dataOff;
        caplen = r.caplen;
        linktype = r.linktype;
      }
      packets++;
      bytes += wire;
      if (tsHi < firstHi || (tsHi === firstHi && tsLo < firstLo)) {
        firstHi = tsHi;
        firstLo = tsLo;
      }
      if (tsHi > lastHi || (tsHi === lastHi && tsLo > lastLo)) {
        lastHi = tsHi;
        lastLo = tsLo;
      }
      if (filtering) {
        const lt = linktype;
        if (!this.prepareFilter(lt)) {
          status = PUMP_END;
          break;
        }
        if (lt !== this.lastLinktype) {
          this.lastProgram = this.programs.get(lt);
          this.lastLinktype = lt;
        }
        if (runBpfAt(this.lastProgram as BpfProgram, buf, dataOff, caplen, wire) === 0) {
          filtered++;
          continue;
        }
      }
      const p = group[n];
      p.tsHi = tsHi;
      p.tsLo = tsLo;
      p.wireLen = wire;
      const k = decodePacket(buf, dataOff, caplen, linktype, dopt, frags, p);
      if (p.error) errs[p.error]++;
      if (k === KIND_SKIP) {
        skipped++;
        continue;
      }
      if (++n === GROUP) {
        table.processGroup(group, n, buf);
        n = 0;
        if (full.length > 0) {
          status = PUMP_FULL;
          break;
        }
      }
    }
    // the group's MACs point into the reader's buffer: account it before the buffer moves
    if (n > 0) table.processGroup(group, n, buf);
    this.packets = packets;
    this.bytes = bytes;
    this.filtered = filtered;
    this.skipped = skipped;
    this.firstHi = firstHi;
    this.firstLo = firstLo;
    this.lastHi = lastHi;
    this.lastLo = lastLo;
    this.touched = touched;
    return status;
  }
}

function u64(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function emptySummary(cancelled: boolean): NativeSummary {
  return {
    packets: 0,
    bytes: 0,
    filtered: 0,
    skipped: 0,
    firstNs: 0n,
    lastNs: 0n,
    bytesRead: 0,
    fileSize: 0,
    flowsCreated: 0,
    flowsByReason: [0, 0, 0, 0, 0, 0],
    decodeErrors: new Array<number>(DECODE_ERROR_COUNT).fill(0),
    cancelled,
  };
}

/** A run's counters as progress() reads them while it goes on. */
export interface RunCounters {
  readonly packets: number;
  readonly bytes: number;
  readonly filtered: number;
  readonly skipped: number;
  readonly decodeErrors: ArrayLike<number>;
  readonly table: { readonly flowsByReason: readonly number[] };
}

/** Shared with the caller: cancel on its side; how far the read has got on ours. */
export interface ReadControl {
  cancelled: boolean;
  bytesRead?: number;
  packets?: number;
  counters?: RunCounters;
}

/**
 * Reads a pcap or pcapng file ('-' for stdin) with the TypeScript engine.
 * Yields full FlowBatch ArrayBuffers (records x 256 bytes) and then the last
 * partial one; returns the summary. A damaged capture ends the read with the
 * flows before the damage flushed and delivered and summary.error set. When
 * control.cancelled becomes true reading stops without a flush.
 * filterProgram compiles options.filter for a link type (default: the
 * TypeScript pcap-filter compiler, src/engine/ts/pcap-filter).
 */
export async function* readFileTs(
  path: string,
  options: ResolvedOptions,
  control: ReadControl,
  filterProgram?: FilterCompiler,
  tuning: ReaderTuning = {},
): AsyncGenerator<ArrayBuffer, NativeSummary, void> {
  const opt = tsRunOptions(options);
  const reader = new CaptureReader(path, tuning);
  try {
    if (!(await reader.open())) {
      const s = emptySummary(control.cancelled);
      const e = reader.error as ReadError;
      s.error = { code: e.code, message: e.message, offset: e.offset };
      return s;
    }
    const run = new OfflineRun(reader, opt, filterProgram);
    const sink = run.sink;
    let noMemory = false;
    for (;;) {
      let st: number;
      try {
        st = run.pump();
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // typed array allocation failed (native: std::bad_alloc)
        run.error = { code: 'ERR_NO_MEMORY', message: `out of memory (maxFlows too large?) (${path})`, offset: -1 };
        noMemory = true;
        st = PUMP_END;
      }
      control.bytesRead = reader.bytesRead();
      control.packets = run.packets;
      control.counters = run; // read between pumps, when its counters are written back
      while (sink.full.length > 0 && !control.cancelled) yield sink.full.shift() as ArrayBuffer;
      if (control.cancelled || st === PUMP_END) break;
      if (st === PUMP_FULL) continue;
      await reader.refill(reader.need);
      if (reader.error) break;
    }
    const cancelled = control.cancelled;
    if (!run.error && reader.error) run.error = reader.error;
    if (!cancelled && !noMemory) {
      let done = false;
      while (!done && !control.cancelled) {
        done = run.table.flush(END_FLUSH, true);
        while (sink.full.length > 0 && !control.cancelled) yield sink.full.shift() as ArrayBuffer;
      }
      if (!done) {
        // cancelled meanwhile: the rest still counts in the summary, as native
        run.table.flush(END_FLUSH);
        sink.full.length = 0;
      }
    }
    if (!control.cancelled) {
      const last = sink.takeLast();
      if (last) yield last;
    }
    const s: NativeSummary = {
      packets: run.packets,
      bytes: run.bytes,
      filtered: run.filtered,
      skipped: run.skipped,
      firstNs: run.packets ? u64(run.firstHi, run.firstLo) : 0n,
      lastNs: u64(run.lastHi, run.lastLo),
      bytesRead: reader.bytesRead(),
      fileSize: reader.fileSize,
      flowsCreated: noMemory ? 0 : run.table.flowsCreated,
      flowsByReason: noMemory ? [0, 0, 0, 0, 0, 0] : [...run.table.flowsByReason],
      decodeErrors: Array.from(run.decodeErrors),
      cancelled: control.cancelled,
    };
    if (noMemory) {
      s.bytesRead = 0;
      s.fileSize = 0;
    }
    if (run.error) s.error = { code: run.error.code, message: run.error.message, offset: run.error.offset };
    return s;
  } finally {
    await reader.close();
  }
}

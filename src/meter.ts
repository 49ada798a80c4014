/** FlowMeter: options once, then reads of capture files into FlowBatches. */
import { nativeCapture, type CaptureSource } from './engine/native';
import { selectEngine } from './engine/select';
import type { BatchSource, CaptureStats, EngineName, EngineSummary, Progress } from './engine/source';
import { FlowmasterError, type ErrorCode } from './errors';
import { FlowBatch, type Flow } from './flow/flow';
import { DECODE_ERRORS, END_REASONS, type DecodeErrorKind, type EndReason } from './flow/layout';
import { resolveCaptureOptions, resolveOptions, type CaptureOptions, type FlowMeterOptions, type ResolvedOptions } from './options';

export interface Summary {
  /** the file read, or the interfaces captured (comma-separated) */
  path: string;
  engine: EngineName;
  /** packets read from the capture */
  packets: number;
  /** their original (wire) bytes */
  bytes: number;
  /** packets the BPF filter dropped */
  filtered: number;
  /** packets accounted to no flow (undecodable, or non-IP with l2Flows off) */
  skipped: number;
  /** flow records emitted (segments count one each) */
  flows: number;
  flowsByReason: Record<EndReason, number>;
  /** packets with a decode problem, by kind (a packet may still be accounted) */
  decodeErrors: Partial<Record<DecodeErrorKind, number>>;
  /** packet time of the first and last packet, ms since the epoch (null if none) */
  firstSeen: number | null;
  lastSeen: number | null;
  /** wall-clock time of the read */
  wallMs: number;
  packetsPerSecond: number;
  fileSize: number;
  /** true when the reader stopped early (break / return) */
  cancelled: boolean;
  /** live capture: kernel and shedding counters */
  capture?: CaptureStats;
  /** live capture stopped with `flush: false`: flows left in the table, not delivered */
  unflushed?: number;
  /** the error that ended reading early, if any (the flows before it were delivered) */
  error?: { code: ErrorCode; message: string; offset?: number };
}

/**
 * One read of one capture: an async iterable of FlowBatch. Reading starts at
 * the first `next()` and pauses while batches wait unconsumed (at most
 * MAX_INFLIGHT); batches are handed out one per event-loop turn, so timers,
 * I/O and buffer recycling run between them. If the capture
 * is damaged, every flow before the damage is delivered and then the
 * iteration throws a FlowmasterError (`summary` still resolves).
 */
export class FlowRun implements AsyncIterable<FlowBatch> {
  /** the file, or the interfaces (comma-separated) of a capture */
  readonly path: string;
  readonly kind: 'file' | 'interface' = 'file';
  /** The engine reading this capture. */
  readonly engine: EngineName;
  /** Resolves when reading has ended (also after an error or cancel). */
  readonly summary: Promise<Summary>;
  readonly #source: BatchSource;
  #resolveSummary!: (s: Summary) => void;
  #started = false;
  #queue: FlowBatch[] = [];
  #done = false;
  #error: FlowmasterError | undefined;
  #wake: (() => void) | undefined;
  /** Set while a batch has been handed out in this event-loop turn; resolves at the next turn. */
  #turn: Promise<void> | undefined;

  constructor(path: string, engine: EngineName, source: BatchSource) {
    this.path = path;
    this.engine = engine;
    this.#source = source;
    this.summary = new Promise((resolve) => (this.#resolveSummary = resolve));
  }

  protected start(): void {
    this.#started = true;
    const t0 = performance.now();
    this.#source.start(
      (records) => {
        this.#queue.push(new FlowBatch(records));
        this.#wake?.();
      },
      (summary) => {
        const s = summarize(this.path, this.engine, summary, performance.now() - t0);
        if (s.error) this.#error = new FlowmasterError(s.error.code, s.error.message, { offset: s.error.offset, path: this.path });
        this.#done = true;
        this.#resolveSummary(s);
        this.#wake?.();
      },
    );
  }

  /** How far the reader has got: bytes of the file and packets (for progress bars). */
  progress(): Progress {
    return this.#source.progress();
  }

  /** Batches delivered by the reader and not yet consumed (at most a few: the reader waits). */
  get pending(): number {
    return this.#queue.length;
  }

  async next(): Promise<IteratorResult<FlowBatch>> {
    if (!this.#started) this.start();
    for (;;) {
      if (this.#queue.length > 0) {
        // One batch per event-loop turn: Node dispatches up to 1000 queued
        // native calls per turn, and a consumer acking in microtasks would
        // never yield to timers, I/O or the finalizers that recycle buffers.
        if (this.#turn) {
          await this.#turn;
          continue; // return() may have emptied the queue meanwhile
        }
        this.#turn = new Promise((resolve) => setImmediate(() => ((this.#turn = undefined), resolve())));
        this.#source.ack();
        return { value: this.#queue.shift()!, done: false };
      }
      if (this.#done) {
        if (this.#error) {
          const e = this.#error;
          this.#error = undefined;
          throw e;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  /** Stops reading early (a `break` out of for-await calls this). */
  async return(): Promise<IteratorResult<FlowBatch>> {
    if (this.#started && !this.#done) this.#source.cancel();
    this.#queue = [];
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterator<FlowBatch> {
    return this;
  }

  /** The flows one by one (lazy views). */
  async *flows(): AsyncGenerator<Flow> {
    for await (const batch of this) yield* batch;
  }
}

function summarize(path: string, engine: EngineName, n: EngineSummary, wallMs: number): Summary {
  const flowsByReason = {} as Record<EndReason, number>;
  let flows = 0;
  for (let i = 1; i < END_REASONS.length; i++) {
    flowsByReason[END_REASONS[i] as EndReason] = n.flowsByReason[i];
    flows += n.flowsByReason[i];
  }
  const decodeErrors: Partial<Record<DecodeErrorKind, number>> = {};
  for (let i = 1; i < DECODE_ERRORS.length; i++) if (n.decodeErrors[i]) decodeErrors[DECODE_ERRORS[i] as DecodeErrorKind] = n.decodeErrors[i];
  const s: Summary = {
    path,
    engine,
    packets: n.packets,
    bytes: n.bytes,
    filtered: n.filtered,
    skipped: n.skipped,
    flows,
    flowsByReason,
    decodeErrors,
    firstSeen: n.packets ? Number(n.firstNs / 1000n) / 1000 : null,
    lastSeen: n.packets ? Number(n.lastNs / 1000n) / 1000 : null,
    wallMs,
    packetsPerSecond: wallMs > 0 ? Math.round((n.packets / wallMs) * 1000) : 0,
    fileSize: n.fileSize,
    cancelled: n.cancelled,
  };
  if (n.capture) s.capture = n.capture;
  if (n.unflushed) s.unflushed = n.unflushed;
  if (n.error) s.error = { code: n.error.code as ErrorCode, message: n.error.message, ...(n.error.offset >= 0 ? { offset: n.error.offset } : {}) };
  return s;
}

/**
 * A live capture: an async iterable of FlowBatch like a file read, but it
 * runs from capture() until stop() (or a `break`). Capturing starts at once,
 * on native threads; records wait in a bounded queue until iterated, and
 * beyond it are shed and counted (`stats().flowsDropped`), never blocking
 * the kernel ring.
 */
export class CaptureRun extends FlowRun {
  override readonly kind = 'interface' as const;
  readonly interfaces: readonly string[];
  readonly #capture: CaptureSource;
  #ended = false;
  #stopping = false;

  constructor(interfaces: string[], source: CaptureSource) {
    super(interfaces.join(','), 'native', source);
    this.interfaces = Object.freeze([...interfaces]);
    this.#capture = source;
    this.start(); // throws ERR_NO_INTERFACE, ERR_PERMISSION, ERR_BPF, ...
    void this.summary.then(() => (this.#ended = true));
  }

  /**
   * Stops capturing: the threads read what the kernel holds, end every
   * active flow with reason 'flush' (or, with `flush: false`, leave them
   * undelivered, counted in `summary.unflushed`), deliver the last batch and
   * resolve with the summary. Calling it again returns the same summary.
   */
  stop(options: { flush?: boolean } = {}): Promise<Summary> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#capture.stop(options.flush ?? true);
    }
    return this.summary;
  }

  /** True once the capture threads have ended. */
  get stopped(): boolean {
    return this.#ended;
  }

  /** Records of the flows still in the table (end reason 'open'); ERR_STOPPED after the end. */
  async activeFlows(): Promise<FlowBatch> {
    if (this.#ended) throw new FlowmasterError('ERR_STOPPED', `the capture on ${this.path} has stopped`);
    return this.#capture.snapshot();
  }

  /** Packets read, kernel receive/drop counters (polled about once a second), records shed. */
  stats(): CaptureStats {
    return this.#capture.stats();
  }
}

export class FlowMeter {
  readonly options: Readonly<ResolvedOptions>;
  /** The engine that runs: 'native' (the C++ addon) or 'ts' (pure TypeScript). */
  readonly engine: EngineName;
  readonly #open: (path: string) => BatchSource;
  readonly #captures = new Set<CaptureRun>();

  constructor(options: FlowMeterOptions = {}) {
    this.options = Object.freeze(resolveOptions(options));
    const { name, open } = selectEngine(this.options as ResolvedOptions);
    this.engine = name;
    this.#open = open;
  }

  /** Reads a pcap or pcapng file ('-' for stdin) into FlowBatches. */
  readFile(path: string): FlowRun {
    if (typeof path !== 'string' || path === '') throw new FlowmasterError('ERR_INVALID_OPTION', 'readFile(path): path must be a non-empty string');
    return new FlowRun(path, this.engine, this.#open(path));
  }

  /**
   * Captures live from one or more interfaces (native engine, Linux; needs
   * root or CAP_NET_RAW + CAP_NET_ADMIN). Errors: ERR_NO_INTERFACE,
   * ERR_INTERFACE_DOWN, ERR_PERMISSION, ERR_BPF, ERR_CAPTURE.
   */
  capture(options: CaptureOptions): CaptureRun {
    const live = resolveCaptureOptions(options);
    if (this.engine !== 'native')
      throw new FlowmasterError('ERR_UNSUPPORTED', 'live capture needs the native engine (the TypeScript engine reads files only)');
    const run = new CaptureRun(live.interfaces, nativeCapture(this.options as ResolvedOptions, live));
    this.#captures.add(run);
    void run.summary.then(() => this.#captures.delete(run));
    return run;
  }

  /** Records of the flows still open in this meter's running captures (end reason 'open'). */
  async activeFlows(): Promise<FlowBatch> {
    // a capture that ends meanwhile has no open flows left
    const parts = await Promise.all([...this.#captures].map((c) => c.activeFlows().then((b) => b.buffer, () => new ArrayBuffer(0))));
    return FlowBatch.concat(parts);
  }
}

/** FlowMeter: options once, then reads of capture files into FlowBatches. */
import { selectEngine } from './engine/select';
import type { BatchSource, EngineName, EngineSummary } from './engine/source';
import { FlowmasterError, type ErrorCode } from './errors';
import { FlowBatch, type Flow } from './flow/flow';
import { DECODE_ERRORS, END_REASONS, type DecodeErrorKind, type EndReason } from './flow/layout';
import { resolveOptions, type FlowMeterOptions, type ResolvedOptions } from './options';

export interface Summary {
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
  /** the error that ended reading early, if any (the flows before it were delivered) */
  error?: { code: ErrorCode; message: string; offset?: number };
}

/**
 * One read of one capture: an async iterable of FlowBatch. Reading starts at
 * the first `next()` and pauses while batches wait unconsumed. If the capture
 * is damaged, every flow before the damage is delivered and then the
 * iteration throws a FlowmasterError (`summary` still resolves).
 */
export class FlowRun implements AsyncIterable<FlowBatch> {
  readonly path: string;
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

  constructor(path: string, engine: EngineName, source: BatchSource) {
    this.path = path;
    this.engine = engine;
    this.#source = source;
    this.summary = new Promise((resolve) => (this.#resolveSummary = resolve));
  }

  #start(): void {
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

  /** Batches delivered by the reader and not yet consumed (at most a few: the reader waits). */
  get pending(): number {
    return this.#queue.length;
  }

  async next(): Promise<IteratorResult<FlowBatch>> {
    if (!this.#started) this.#start();
    for (;;) {
      const batch = this.#queue.shift();
      if (batch) {
        this.#source.ack();
        return { value: batch, done: false };
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
  if (n.error) s.error = { code: n.error.code as ErrorCode, message: n.error.message, ...(n.error.offset >= 0 ? { offset: n.error.offset } : {}) };
  return s;
}

export class FlowMeter {
  readonly options: Readonly<ResolvedOptions>;
  /** The engine that runs: 'native' (the C++ addon) or 'ts' (pure TypeScript). */
  readonly engine: EngineName;
  readonly #open: (path: string) => BatchSource;

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
}

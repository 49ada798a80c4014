/**
 * Operating a capture or an ingest unattended: the flags, live metrics of
 * the runs, the HTTP server (/metrics, /healthz, /readyz), readiness and
 * structured logs, wired together for the CLI. The commands call in here
 * and keep their own code about flows.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Database } from 'better-sqlite3';
import type { FlowmasterError } from '../errors';
import type { FlowBatch } from '../flow/flow';
import { END_REASONS } from '../flow/layout';
import type { CaptureRun, FlowRun, Summary } from '../meter';
import { Metrics } from '../metrics/registry';
import { createLogger, LOG_FORMATS, type LogFn, type LogFormat, type Logger } from './log';
import { Readiness } from './ready';
import { startOpsServer, type OpsServer } from './server';

export { createLogger, type LogEvent, type LogFn, type LogFormat, type Logger } from './log';
export { Readiness, type ReadyCheck, type ReadyReport } from './ready';
export { startOpsServer, type OpsServer } from './server';

export interface OpsFlags {
  metricsPort?: number;
  metricsHost: string;
  logFormat: LogFormat;
  readyMaxCommitAge: number;
  readyMaxDropRatio: number;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, 0..65535 (0: any free port)');
  return n;
}

function positiveSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected seconds (a positive number)');
  return n;
}

function ratio(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a ratio, 0..1');
  return n;
}

/** --metrics-port, --metrics-host, --log-format and the readiness bounds (capture, ingest). */
export function addOpsFlags(c: Command): Command {
  return c
    .option('--metrics-port <port>', 'serve /metrics (Prometheus), /healthz and /readyz over HTTP on this port (0: any free one)', port)
    .option('--metrics-host <host>', 'address the metrics server listens on', '127.0.0.1')
    .addOption(new Option('--log-format <format>', 'events on stderr: text, or JSON lines {time, level, event, ...}').choices(LOG_FORMATS as LogFormat[]).default('text'))
    .option('--ready-max-commit-age <seconds>', '/readyz: longest a flow may wait for its commit', positiveSeconds, 60)
    .option('--ready-max-drop-ratio <ratio>', '/readyz: most packets dropped / received over the last minute', ratio, 0.01);
}

/** One retention run inside a sensor, as the scheduler reports it. */
export type RetentionEvent = { ok: true; flowsDeleted: number; devicesDeleted: number; ms: number } | { ok: false; error: unknown };

const EVICTED = END_REASONS.indexOf('evicted');

/** A run's totals as event fields. */
export function summaryFields(s: Summary): Record<string, unknown> {
  return {
    path: s.path,
    packets: s.packets,
    bytes: s.bytes,
    flows: s.flows,
    filtered: s.filtered,
    skipped: s.skipped,
    evicted: s.flowsByReason.evicted,
    decodeErrors: s.decodeErrors,
    seconds: Math.round(s.wallMs) / 1000,
    ...(s.capture ? { capture: s.capture } : {}),
    ...(s.error ? { error: s.error } : {}),
  };
}

/** How often drops are checked, and the shortest gap between two drop events in the log. */
const TICK_MS = 1000;
const DROP_LOG_MS = 10_000;

interface DropCounts {
  kernel: number;
  interface: number;
  ring: number;
  table: number;
}

export class Ops {
  readonly command: string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly readiness: Readiness;
  readonly #server: OpsServer | undefined;
  readonly #captures: { run: CaptureRun; last: DropCounts }[] = [];
  readonly #unwatch: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #drops: DropCounts = { kernel: 0, interface: 0, ring: 0, table: 0 };
  #lastDropLog = -Infinity;
  #closed = false;

  private constructor(command: string, metrics: Metrics, logger: Logger, readiness: Readiness, server: OpsServer | undefined) {
    this.command = command;
    this.metrics = metrics;
    this.logger = logger;
    this.readiness = readiness;
    this.#server = server;
  }

  /** Starts the metrics server first (ERR_METRICS_PORT before anything is opened or captured). */
  static async start(command: string, flags: OpsFlags): Promise<Ops> {
    const metrics = new Metrics();
    const logger = createLogger(flags.logFormat);
    const readiness = new Readiness({ maxCommitAgeSec: flags.readyMaxCommitAge, maxDropRatio: flags.readyMaxDropRatio });
    const server =
      flags.metricsPort === undefined
        ? undefined
        : await startOpsServer({ port: flags.metricsPort, host: flags.metricsHost, metrics, ready: () => readiness.report() });
    const ops = new Ops(command, metrics, logger, readiness, server);
    if (server) ops.log({ level: 'info', event: 'metrics_listening', url: `${server.url}/metrics`, msg: `${command}: metrics at ${server.url}/metrics` });
    return ops;
  }

  /** The logger as a function: for the store's `log` option (retries) and anyone else. */
  get log(): LogFn {
    return this.logger.log;
  }

  /** True when stderr carries JSON lines: human-only output (progress, summaries) stays off it. */
  get json(): boolean {
    return this.logger.format === 'json';
  }

  /** Store options: these metrics, commits for readiness, retries into the log. */
  get storeOptions(): { metrics: Metrics; afterCommit: (rows: number) => void; log: LogFn } {
    return { metrics: this.metrics, afterCommit: (rows) => this.readiness.committed(rows), log: this.log };
  }

  /** A store is written: its commits count for readiness, its file size is a metric. */
  watchStore(store: { readonly db: Database }): void {
    this.readiness.watchCommits();
    this.#unwatch.push(
      this.metrics.watchDatabase(() =>
        store.db.open ? (store.db.pragma('page_count', { simple: true }) as number) * (store.db.pragma('page_size', { simple: true }) as number) : undefined,
      ),
    );
  }

  /** A run to count live (metrics), and for a capture to watch (threads, drops). */
  watch(run: FlowRun): void {
    this.metrics.track(run);
    this.readiness.started();
    if (run.kind !== 'interface') return;
    const capture = run as CaptureRun;
    this.readiness.watchCapture(capture);
    this.#captures.push({ run: capture, last: { kernel: 0, interface: 0, ring: 0, table: 0 } });
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS).unref();
  }

  /** Wraps a store's onBatch: flows that reached the store, waiting for their commit (readiness). */
  onBatch(inner?: (batch: FlowBatch) => void | Promise<void>): (batch: FlowBatch) => void | Promise<void> {
    return (batch) => {
      this.readiness.delivered(batch.length);
      return inner?.(batch);
    };
  }

  /** The command began: `msg` is its human line (text format). */
  started(fields: Record<string, unknown>, msg?: string): void {
    this.log({ level: 'info', event: 'start', command: this.command, ...fields, ...(msg === undefined ? {} : { msg }) });
  }

  /** One file of an ingest is done (or failed: level warn, with its error). */
  fileDone(path: string, summary: Summary | undefined, committed: number | undefined, error?: unknown): void {
    const e = error as FlowmasterError | undefined;
    this.log({
      level: e ? 'warn' : 'info',
      event: 'file_done',
      path,
      ...(summary ? { packets: summary.packets, bytes: summary.bytes, flows: summary.flows, evicted: summary.flowsByReason.evicted, decodeErrors: summary.decodeErrors } : {}),
      ...(committed === undefined ? {} : { committed }),
      ...(e ? { error: { code: e.code, message: e.message }, msg: null } : {}), // (text: failed() printed its line)
    });
  }

  /** A retention run inside the sensor (--retain-*): a failed one is a warning, the next run tries again. */
  retention(r: RetentionEvent): void {
    if (r.ok) {
      const msg = `${this.command}: retention deleted ${r.flowsDeleted} flows and ${r.devicesDeleted} devices in ${(r.ms / 1000).toFixed(2)} s`;
      this.log({ level: 'info', event: 'retention', flowsDeleted: r.flowsDeleted, devicesDeleted: r.devicesDeleted, ms: Math.round(r.ms), msg });
      return;
    }
    const e = r.error as FlowmasterError;
    this.log({ level: 'warn', event: 'retention_failed', code: e.code, message: e.message, msg: `flowmaster: retention failed: ${e.message}${e.code ? ` [${e.code}]` : ''}` });
  }

  /** An error, as the one line the CLI prints (text), or an event (json). */
  failed(error: unknown): void {
    const e = error as FlowmasterError;
    this.log({ level: 'error', event: 'error', code: e.code, message: e.message, msg: `flowmaster: ${e.message}${e.code ? ` [${e.code}]` : ''}` });
  }

  /** The command ended (fields: its totals). */
  stopped(fields: Record<string, unknown>): void {
    this.#tick(true);
    this.log({ level: 'info', event: 'stop', command: this.command, ...fields });
  }

  /** Stops the server and the timers (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const u of this.#unwatch) u();
    await this.#server?.close();
  }

  /** Drops since the last tick, logged at most every DROP_LOG_MS (and at the end). */
  #tick(final = false): void {
    this.readiness.sample();
    for (const c of this.#captures) {
      const s = c.run.stats();
      const now: DropCounts = { kernel: s.kernelDropped, interface: s.interfaceDropped, ring: s.flowsDropped, table: s.flowsByReason?.[EVICTED] ?? 0 };
      for (const k of Object.keys(now) as (keyof DropCounts)[]) {
        this.#drops[k] += Math.max(0, now[k] - c.last[k]);
        c.last[k] = Math.max(c.last[k], now[k]);
      }
    }
    const d = this.#drops;
    const t = performance.now();
    if (d.kernel + d.interface + d.ring + d.table === 0 || (!final && t - this.#lastDropLog < DROP_LOG_MS)) return;
    const since = Number.isFinite(this.#lastDropLog) ? ` in the last ${((t - this.#lastDropLog) / 1000).toFixed(0)} s` : '';
    this.log({
      level: 'warn',
      event: 'drops',
      packetsKernel: d.kernel,
      packetsInterface: d.interface,
      flowsRing: d.ring,
      flowsTable: d.table,
      msg:
        `${this.command}: dropped ${d.kernel + d.interface} packets (kernel ${d.kernel}, interface ${d.interface}) ` +
        `and ${d.ring + d.table} flows (shed ${d.ring}, evicted from a full table ${d.table})${since}`,
    });
    this.#drops = { kernel: 0, interface: 0, ring: 0, table: 0 };
    this.#lastDropLog = t;
  }
}

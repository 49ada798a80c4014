/**
 * Prometheus metrics (prom-client) for flowmaster: one `Registry` per
 * `Metrics` instance, never the global default registry, so several
 * instances (and tests) do not collide.
 *
 * Metric names (with the default prefix `flowmaster_`):
 *
 *   engine    flowmaster_packets_total{engine}          packets read
 *             flowmaster_bytes_total{engine}            their wire bytes
 *             flowmaster_flows_total{reason}            flow records by end reason: idle active tcp-end flush evicted
 *             flowmaster_decode_errors_total{kind}      packets with a decode problem, by DecodeErrorKind
 *             flowmaster_dropped_packets_total{where}   live capture: kernel (ring full) | interface (driver)
 *             flowmaster_dropped_flows_total{reason}    ring (records shed, JS behind) | table (evicted from a full table)
 *             flowmaster_filtered_packets_total         packets the BPF filter dropped
 *             flowmaster_capture_received_packets_total live capture: packets the kernel received (pcap_stats)
 *             flowmaster_skipped_packets_total          packets accounted to no flow
 *   capture   flowmaster_active_flows, flowmaster_flow_table_occupancy_ratio (active / maxFlows),
 *             flowmaster_capture_threads, flowmaster_capture_threads_running   (gauges, once a capture is tracked)
 *   pipeline  flowmaster_batch_size                     records in the last batch (gauge)
 *             flowmaster_commit_latency_seconds         batch commit latency (histogram, 1 ms .. 5 s)
 *             flowmaster_queue_depth                    batches waiting (gauge)
 *             flowmaster_batches_committed_total
 *             flowmaster_commit_failures_total{code}    store writes that failed, by error code (ERR_DB_BUSY, ERR_DB_FULL, ...)
 *             flowmaster_commit_retries_total           of those, the ones tried again (transient: the write waits and retries)
 *   cache     flowmaster_device_cache_hits_total, _misses_total, _evictions_total (rate() them for a hit ratio)
 *   store     flowmaster_rows_written_total{table}      rows by table: flows devices sources
 *             flowmaster_database_size_bytes            page_count * page_size, once watchDatabase() is called
 *   build     flowmaster_build_info{version,engine,node,libpcap} 1, once a run is tracked (or setEngine())
 *   process   prom-client's default metrics under their standard names (defaultMetrics: true), which
 *             Node.js dashboards query: process_resident_memory_bytes, nodejs_heap_size_used_bytes,
 *             nodejs_eventloop_lag_seconds, ... (not the three nodejs_active_*_total gauges: promtool
 *             rejects a gauge named _total, and sum(nodejs_active_handles) is the same number)
 *
 * Engine counters are live: track(run) polls a read's progress() or a
 * capture's stats() about once a second and at every metrics()/metricsText(),
 * adding what changed; the end summary adds the rest, so the totals equal
 * the summary. recordSummary() and observeCapture() (what a store calls) add
 * nothing for a tracked run.
 *
 * Label values known in advance (end reasons, decode error kinds, drop
 * places and reasons, store tables) start at 0, so they appear before the
 * first event.
 *
 * `metrics()` returns a plain JSON object keyed by the full metric name:
 *
 *   {
 *     "flowmaster_filtered_packets_total": 3,                        // no labels: the number
 *     "flowmaster_flows_total": { "idle": 0, "flush": 2, ... },      // one label: keyed by its value
 *     "nodejs_version_info": { "version=v20.19.0,major=20,minor=19,patch=0": 1 },
 *                                                                    // several labels: "k=v,k=v"
 *     "flowmaster_commit_latency_seconds": { "count": 2, "sum": 0.012,
 *         "buckets": [ { "le": "0.001", "count": 0 }, ..., { "le": "5", "count": 2 }, { "le": "+Inf", "count": 2 } ] },
 *                                                                    // histogram: cumulative buckets in `le` order;
 *                                                                    // labelled histograms: { "<labels>": {count, sum, buckets} }
 *     "flowmaster_packets_total": {}                                 // a labelled metric with no value yet
 *   }
 *
 * Summaries (none here, but any registered later) become
 * { count, sum, quantiles: [ { "quantile": "0.5", "value": v }, ... ] }.
 * A NaN value (e.g. the event-loop lag before its first sample) is NaN in
 * the object and so null after JSON.stringify.
 *
 * `metricsText()` is the Prometheus text exposition format (content type
 * `contentType`), with prom-client's `Nan` spelled `NaN` as the format
 * specifies.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { FlowmasterError } from '../errors';
import { loadNative, nativeAvailable } from '../engine/native';
import { ownerOf, type CaptureStats } from '../engine/source';
import { DECODE_ERRORS, END_REASONS, type DecodeErrorKind, type EndReason } from '../flow/layout';
import type { CaptureRun, FlowRun, Summary } from '../meter';
import { Baseline, fromCaptureStats, fromProgress, fromSummary, zeroCounters, type RunCounters } from './live';

export interface MetricsOptions {
  /** prepended to every metric name (default 'flowmaster_'); '' for none */
  prefix?: string;
  /** prom-client's process / Node.js metrics (RSS, heap, event-loop lag, GC...), unprefixed; default true */
  defaultMetrics?: boolean;
  /** how often tracked runs are polled, ms (default 1000; a scrape polls them too) */
  pollMs?: number;
}

/** Where packets were dropped (flowmaster_dropped_packets_total{where}). */
export type PacketDropPlace = 'kernel' | 'interface';
export const PACKET_DROP_PLACES: readonly PacketDropPlace[] = ['kernel', 'interface'];
/** Why flows were lost (flowmaster_dropped_flows_total{reason}): shed with JS behind, or evicted from a full table. */
export type FlowDropReason = 'ring' | 'table';
export const FLOW_DROP_REASONS: readonly FlowDropReason[] = ['ring', 'table'];
export type StoreTable = 'flows' | 'devices' | 'sources';
export const STORE_TABLES: readonly StoreTable[] = ['flows', 'devices', 'sources'];

/** Commit latency histogram buckets, seconds: 1 ms to 5 s. */
export const COMMIT_LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A histogram (or summary) in `metrics()` JSON. */
export interface HistogramJson {
  count: number;
  sum: number;
  /** histograms: cumulative counts, in `le` order, the last one '+Inf' */
  buckets?: { le: string; count: number }[];
  /** summaries */
  quantiles?: { quantile: string; value: number }[];
}

const END_REASON_NAMES = END_REASONS.slice(1) as readonly EndReason[];
const DECODE_ERROR_KINDS = DECODE_ERRORS.slice(1) as readonly DecodeErrorKind[];

/** prom-client's default metrics left out: gauges named _total, which promtool rejects (the labelled gauges without _total stay). */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** libpcap's version from pcap_lib_version() ('libpcap version 1.10.3 (with TPACKET_V3)' -> '1.10.3'), or 'none'. */
function libpcapVersion(): string {
  if (!nativeAvailable()) return 'none';
  const v = loadNative().pcapVersion();
  if (v === null) return 'none';
  return /libpcap version (\S+)/.exec(v)?.[1] ?? v;
}

/** One tracked run: what has been counted of it, and its latest capture gauges. */
interface Tracked {
  run: FlowRun;
  capture: CaptureRun | undefined;
  baseline: Baseline;
  /** the source its stats() objects come from (a capture): observeCapture() of them adds nothing */
  owner: object | undefined;
  last: CaptureStats | undefined;
}

/** The capture gauges, made when the first capture is tracked. */
interface CaptureGauges {
  active: Gauge;
  occupancy: Gauge;
  threads: Gauge;
  running: Gauge;
}

export class Metrics {
  readonly registry: Registry;
  readonly prefix: string;

  // engine
  readonly packets: Counter<'engine'>;
  readonly bytes: Counter<'engine'>;
  readonly flows: Counter<'reason'>;
  readonly decodeErrors: Counter<'kind'>;
  readonly droppedPackets: Counter<'where'>;
  readonly droppedFlows: Counter<'reason'>;
  readonly received: Counter;
  readonly filtered: Counter;
  readonly skipped: Counter;
  // pipeline
  readonly batchSize: Gauge;
  readonly commitLatency: Histogram;
  readonly queueDepth: Gauge;
  readonly batchesCommitted: Counter;
  readonly commitFailures: Counter<'code'>;
  readonly commitRetries: Counter;
  // device cache
  readonly cacheHits: Counter;
  readonly cacheMisses: Counter;
  readonly cacheEvictions: Counter;
  // store
  readonly rowsWritten: Counter<'table'>;
  // queries and retention
  readonly queryDuration: Histogram<'shape'>;
  readonly slowQueries: Counter<'shape'>;
  readonly retentionRowsDeleted: Counter<'table'>;
  readonly retentionPagesFreed: Counter;
  readonly retentionRuns: Counter;
  // build
  readonly buildInfo: Gauge<'version' | 'engine' | 'node' | 'libpcap'>;
  /** the ClickHouse sink (src/clickhouse/sink.ts) */
  readonly chRows: Counter<'result'>;
  readonly chBlocks: Counter<'result'>;
  readonly chRetries: Counter;
  readonly chSpoolBytes: Gauge;
  readonly chSpoolBlocks: Gauge;
  readonly chInsertSeconds: Histogram;

  readonly #n: (name: string) => string;
  readonly #pollMs: number;
  readonly #tracked = new Map<FlowRun, Tracked>();
  /** summaries a tracker has counted: recordSummary() of them adds nothing */
  readonly #counted = new WeakSet<Summary>();
  #timer: NodeJS.Timeout | undefined;
  #captureGauges: CaptureGauges | undefined;
  #databaseSize: { gauge: Gauge; sources: Set<() => number | undefined> } | undefined;

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? 'flowmaster_';
    if (typeof prefix !== 'string' || (prefix !== '' && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))) {
      throw new FlowmasterError('ERR_INVALID_OPTION', `metrics prefix must match [a-zA-Z_:][a-zA-Z0-9_:]* (got ${JSON.stringify(prefix)})`);
    }
    this.prefix = prefix;
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    const n = (name: string) => prefix + name;
    this.#n = n;
    this.#pollMs = options.pollMs ?? 1000;

    this.packets = new Counter({ name: n('packets_total'), help: 'Packets read from captures', labelNames: ['engine'] as const, registers });
    this.bytes = new Counter({ name: n('bytes_total'), help: 'Original (wire) bytes of the packets read', labelNames: ['engine'] as const, registers });
    this.flows = new Counter({ name: n('flows_total'), help: 'Flow records emitted, by end reason', labelNames: ['reason'] as const, registers });
    this.decodeErrors = new Counter({ name: n('decode_errors_total'), help: 'Packets with a decode problem, by kind', labelNames: ['kind'] as const, registers });
    // packets and flows are different units: one metric each, so sum() means something
    this.droppedPackets = new Counter({
      name: n('dropped_packets_total'),
      help: 'Live capture: packets lost before flowmaster read them, where: kernel (capture ring full) or interface (NIC/driver), from pcap_stats',
      labelNames: ['where'] as const,
      registers,
    });
    this.droppedFlows = new Counter({
      name: n('dropped_flows_total'),
      help: 'Flows lost or cut short, reason: ring (records shed because JavaScript fell behind) or table (evicted from a full flow table)',
      labelNames: ['reason'] as const,
      registers,
    });
    this.received = new Counter({
      name: n('capture_received_packets_total'),
      help: 'Live capture: packets the kernel received for the capture sockets (pcap_stats ps_recv)',
      registers,
    });
    this.filtered = new Counter({ name: n('filtered_packets_total'), help: 'Packets dropped by the BPF filter', registers });
    this.skipped = new Counter({ name: n('skipped_packets_total'), help: 'Packets accounted to no flow (undecodable, or non-IP with l2Flows off)', registers });

    this.batchSize = new Gauge({ name: n('batch_size'), help: 'Current batch size target of the adaptive batcher (flows per commit)', registers });
    this.commitLatency = new Histogram({ name: n('commit_latency_seconds'), help: 'Time to commit a batch, seconds', buckets: [...COMMIT_LATENCY_BUCKETS], registers });
    this.queueDepth = new Gauge({ name: n('queue_depth'), help: 'Flows read and waiting for a commit', registers });
    this.batchesCommitted = new Counter({ name: n('batches_committed_total'), help: 'Batches committed', registers });
    this.commitFailures = new Counter({ name: n('commit_failures_total'), help: 'Store writes that failed, by error code', labelNames: ['code'] as const, registers });
    this.commitRetries = new Counter({ name: n('commit_retries_total'), help: 'Failed store writes tried again after a backoff', registers });

    this.cacheHits = new Counter({ name: n('device_cache_hits_total'), help: 'Device cache hits', registers });
    this.cacheMisses = new Counter({ name: n('device_cache_misses_total'), help: 'Device cache misses', registers });
    this.cacheEvictions = new Counter({ name: n('device_cache_evictions_total'), help: 'Device cache evictions', registers });

    this.rowsWritten = new Counter({ name: n('rows_written_total'), help: 'Rows written to the store, by table', labelNames: ['table'] as const, registers });
    this.queryDuration = new Histogram({
      name: n('query_duration_seconds'), help: 'Store query time, by query shape', labelNames: ['shape'] as const,
      buckets: [...COMMIT_LATENCY_BUCKETS], registers,
    });
    this.slowQueries = new Counter({ name: n('slow_queries_total'), help: 'Store queries slower than the slow-query threshold, by shape', labelNames: ['shape'] as const, registers });
    this.retentionRowsDeleted = new Counter({ name: n('retention_rows_deleted_total'), help: 'Rows deleted by retention, by table', labelNames: ['table'] as const, registers });
    this.retentionPagesFreed = new Counter({ name: n('retention_pages_freed_total'), help: 'Database pages returned by incremental vacuum after retention', registers });
    this.retentionRuns = new Counter({ name: n('retention_runs_total'), help: 'Retention passes run', registers });
    this.buildInfo = new Gauge({
      name: n('build_info'),
      help: 'Always 1: the flowmaster version, flow engine, Node.js and libpcap versions as labels',
      labelNames: ['version', 'engine', 'node', 'libpcap'] as const,
      registers,
    });

    this.chRows = new Counter({
      name: n('clickhouse_rows_total'),
      help: 'ClickHouse sink: flow rows by result: sent (inserted), present (found already stored: a replay), dropped (oldest spooled blocks past the spool cap)',
      labelNames: ['result'] as const, registers,
    });
    this.chBlocks = new Counter({ name: n('clickhouse_blocks_total'), help: 'ClickHouse sink: delivery blocks by result (sent, present, dropped)', labelNames: ['result'] as const, registers });
    this.chRetries = new Counter({ name: n('clickhouse_retries_total'), help: 'ClickHouse sink: failed deliveries (server down, slow or refusing) tried again after a backoff', registers });
    this.chSpoolBytes = new Gauge({ name: n('clickhouse_spool_bytes'), help: 'ClickHouse sink: bytes of blocks waiting in the local spool', registers });
    this.chSpoolBlocks = new Gauge({ name: n('clickhouse_spool_blocks'), help: 'ClickHouse sink: blocks waiting in the local spool', registers });
    this.chInsertSeconds = new Histogram({ name: n('clickhouse_insert_seconds'), help: 'ClickHouse sink: time to deliver a block (check and insert), seconds', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });

    for (const reason of END_REASON_NAMES) this.flows.inc({ reason }, 0);
    for (const kind of DECODE_ERROR_KINDS) this.decodeErrors.inc({ kind }, 0);
    for (const where of PACKET_DROP_PLACES) this.droppedPackets.inc({ where }, 0);
    for (const reason of FLOW_DROP_REASONS) this.droppedFlows.inc({ reason }, 0);
    for (const table of STORE_TABLES) this.rowsWritten.inc({ table }, 0);
    for (const code of ['ERR_DB_BUSY', 'ERR_DB_FULL', 'ERR_DB_IO']) this.commitFailures.inc({ code }, 0); // the transient ones
    this.commitRetries.inc(0);

    if (options.defaultMetrics ?? true) {
      // standard names: dashboards and alerts for Node.js processes query process_* and nodejs_*
      collectDefaultMetrics({ register: registry });
      for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
    }
  }

  /** The Content-Type of `metricsText()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Counts `run` while it goes on: its progress() (a file) or stats() (a
   * capture) every `pollMs` and at every metrics()/metricsText(), then the
   * rest from its summary, so the totals equal the summary. Tracking a run
   * twice is tracking it once. Also sets build_info's engine.
   */
  track(run: FlowRun): void {
    if (this.#tracked.has(run)) return;
    const capture = run.kind === 'interface' ? (run as CaptureRun) : undefined;
    const first = capture && !capture.stopped ? capture.stats() : undefined;
    const t: Tracked = { run, capture, baseline: new Baseline(), owner: ownerOf(first), last: first };
    this.#tracked.set(run, t);
    this.setEngine(run.engine);
    if (capture) this.#captureGauges ??= this.#makeCaptureGauges();
    this.#timer ??= setInterval(() => this.#poll(), this.#pollMs).unref();
    // registered now, this runs before anyone who awaits the summary later (a store's recordSummary())
    void run.summary.then((s) => {
      this.#count(t, fromSummary(s));
      this.#counted.add(s);
      this.#tracked.delete(run);
      this.#setCaptureGauges();
      if (this.#tracked.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    });
  }

  /** Sets flowmaster_build_info's labels (version, Node.js, libpcap found here; the engine given). */
  setEngine(engine: string): void {
    this.buildInfo.reset();
    this.buildInfo.set({ version: require('../../package.json').version, engine, node: process.version, libpcap: libpcapVersion() }, 1);
  }

  /**
   * flowmaster_database_size_bytes from `size()` at every metrics() /
   * metricsText() (undefined: keep the last value, e.g. once the database
   * has closed). Returns a function that stops watching.
   */
  watchDatabase(size: () => number | undefined): () => void {
    this.#databaseSize ??= {
      gauge: new Gauge({ name: this.#n('database_size_bytes'), help: 'Size of the database file: page_count * page_size', registers: [this.registry] }),
      sources: new Set(),
    };
    const sources = this.#databaseSize.sources;
    sources.add(size);
    return () => sources.delete(size);
  }

  /** Polls the tracked runs and the watched database now (metrics() and metricsText() do). */
  refresh(): void {
    this.#poll();
    if (this.#databaseSize) {
      let total: number | undefined;
      for (const size of this.#databaseSize.sources) {
        const v = size();
        if (v !== undefined) total = (total ?? 0) + v;
      }
      if (total !== undefined) this.#databaseSize.gauge.set(total);
    }
  }

  /**
   * A running capture's counters since the `last` observation (all of
   * them, kernel drops and shed records too). Returns the new baseline.
   * Adds nothing for the stats of a tracked capture: its tracker counts them.
   */
  observeCapture(engine: string, now: CaptureStats, last?: CaptureStats): CaptureStats {
    if (this.#ownedByTracked(now)) return now;
    this.#add(engine, new Baseline(last ? fromCaptureStats(last) : zeroCounters()).advance(fromCaptureStats(now)));
    return now;
  }

  /**
   * Adds a finished read's counters (packets and bytes labelled with
   * `summary.engine`); for a capture, `observed` is what observeCapture()
   * already counted. Nothing for a tracked run: its tracker counted it.
   */
  recordSummary(summary: Summary, observed?: CaptureStats): void {
    if (this.#counted.has(summary) || this.#ownedByTracked(summary.capture)) return;
    this.#add(summary.engine, new Baseline(observed ? fromCaptureStats(observed) : zeroCounters()).advance(fromSummary(summary)));
  }

  /** Every metric as plain JSON (format in the file header). */
  async metrics(): Promise<Record<string, unknown>> {
    this.refresh();
    const out: Record<string, unknown> = {};
    for (const m of await this.registry.getMetricsAsJSON()) out[m.name] = toJson(m);
    return out;
  }

  /** Prometheus text exposition format. */
  async metricsText(): Promise<string> {
    this.refresh();
    // prom-client writes NaN as 'Nan' (Go's ParseFloat accepts it; the format and stricter parsers say 'NaN')
    return (await this.registry.metrics()).replace(/^([^#\n][^\n]*) Nan$/gm, '$1 NaN');
  }

  #ownedByTracked(stats: CaptureStats | undefined): boolean {
    const owner = ownerOf(stats);
    if (!owner) return false;
    for (const t of this.#tracked.values()) if (t.owner === owner) return true;
    return false;
  }

  #poll(): void {
    for (const t of this.#tracked.values()) {
      if (t.capture) {
        if (t.capture.stopped) continue; // the summary follows
        t.last = t.capture.stats();
        this.#count(t, fromCaptureStats(t.last));
      } else {
        this.#count(t, fromProgress(t.run.progress()));
      }
    }
    this.#setCaptureGauges();
  }

  #count(t: Tracked, now: RunCounters): void {
    this.#add(t.run.engine, t.baseline.advance(now));
  }

  /** Adds counter increments (a Baseline's advance()). */
  #add(engine: string, d: RunCounters): void {
    if (d.packets) this.packets.inc({ engine }, d.packets);
    if (d.bytes) this.bytes.inc({ engine }, d.bytes);
    if (d.filtered) this.filtered.inc(d.filtered);
    if (d.skipped) this.skipped.inc(d.skipped);
    for (let i = 1; i < END_REASONS.length; i++) if (d.flowsByReason[i]) this.flows.inc({ reason: END_REASONS[i] }, d.flowsByReason[i]);
    for (let i = 1; i < DECODE_ERRORS.length; i++) if (d.decodeErrors[i]) this.decodeErrors.inc({ kind: DECODE_ERRORS[i] }, d.decodeErrors[i]);
    const evicted = d.flowsByReason[END_REASONS.indexOf('evicted')];
    if (evicted) this.droppedFlows.inc({ reason: 'table' }, evicted);
    if (d.flowsDropped) this.droppedFlows.inc({ reason: 'ring' }, d.flowsDropped);
    if (d.kernelDropped) this.droppedPackets.inc({ where: 'kernel' }, d.kernelDropped);
    if (d.interfaceDropped) this.droppedPackets.inc({ where: 'interface' }, d.interfaceDropped);
    if (d.received) this.received.inc(d.received);
  }

  #makeCaptureGauges(): CaptureGauges {
    const registers = [this.registry];
    const n = this.#n;
    return {
      active: new Gauge({ name: n('active_flows'), help: 'Live capture: flows open in the flow tables', registers }),
      occupancy: new Gauge({
        name: n('flow_table_occupancy_ratio'),
        help: 'Live capture: open flows / flow table capacity (maxFlows); at 1 the oldest flows are evicted',
        registers,
      }),
      threads: new Gauge({ name: n('capture_threads'), help: 'Live capture: capture threads started (interfaces x threads)', registers }),
      running: new Gauge({ name: n('capture_threads_running'), help: 'Live capture: capture threads still reading', registers }),
    };
  }

  /** The capture gauges: the sum over the running tracked captures (0 once they have ended). */
  #setCaptureGauges(): void {
    const g = this.#captureGauges;
    if (!g) return;
    let active = 0;
    let capacity = 0;
    let threads = 0;
    let running = 0;
    for (const t of this.#tracked.values()) {
      if (!t.capture || !t.last) continue;
      active += t.last.activeFlows ?? 0;
      capacity += t.last.maxFlows ?? 0;
      threads += t.last.threads ?? 0;
      running += t.capture.stopped ? 0 : (t.last.threadsRunning ?? 0);
    }
    g.active.set(active);
    g.occupancy.set(capacity > 0 ? active / capacity : 0);
    g.threads.set(threads);
    g.running.set(running);
  }
}

type Labels = Partial<Record<string, string | number>>;

function labelKey(labels: Labels, skip?: string): string {
  const entries = Object.entries(labels).filter(([k, v]) => k !== skip && v !== undefined);
  if (entries.length === 1) return String(entries[0][1]);
  return entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
}

function toJson(m: MetricObjectWithValues<MetricValue<string>>): unknown {
  const values = m.values as { value: number; labels: Labels; metricName?: string }[];
  const type = String(m.type);
  if (type === 'histogram' || type === 'summary') {
    const bucketLabel = type === 'histogram' ? 'le' : 'quantile';
    const groups = new Map<string, HistogramJson>();
    for (const v of values) {
      const key = labelKey(v.labels, bucketLabel);
      let g = groups.get(key);
      if (!g) {
        g = type === 'histogram' ? { count: 0, sum: 0, buckets: [] } : { count: 0, sum: 0, quantiles: [] };
        groups.set(key, g);
      }
      const name = v.metricName ?? m.name;
      if (name.endsWith('_sum')) g.sum = v.value;
      else if (name.endsWith('_count')) g.count = v.value;
      else {
        const at = String(v.labels[bucketLabel]);
        if (type === 'histogram') g.buckets!.push({ le: at, count: v.value });
        else g.quantiles!.push({ quantile: at, value: v.value });
      }
    }
    if (groups.size === 1 && groups.has('')) return groups.get('');
    return Object.fromEntries(groups);
  }
  if (values.length === 1 && labelKey(values[0].labels) === '') return values[0].value;
  const o: Record<string, number> = {};
  for (const v of values) o[labelKey(v.labels)] = v.value;
  return o;
}

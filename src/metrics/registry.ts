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
 *             flowmaster_drops_total{kind}              kernel | interface | ring | table (table = flows evicted from a full table)
 *             flowmaster_filtered_packets_total         packets the BPF filter dropped
 *             flowmaster_capture_received_packets_total live capture: packets the kernel received (pcap_stats)
 *             flowmaster_skipped_packets_total          packets accounted to no flow
 *   pipeline  flowmaster_batch_size                     records in the last batch (gauge)
 *             flowmaster_commit_latency_seconds         batch commit latency (histogram, 1 ms .. 5 s)
 *             flowmaster_queue_depth                    batches waiting (gauge)
 *             flowmaster_batches_committed_total
 *   cache     flowmaster_device_cache_hits_total, _misses_total, _evictions_total
 *             flowmaster_device_cache_hit_ratio         hits / (hits + misses), computed at collection (0 before any lookup)
 *   store     flowmaster_rows_written_total{table}      rows by table: flows devices sources
 *   process   prom-client's default metrics with the same prefix (defaultMetrics: true):
 *             flowmaster_process_resident_memory_bytes, flowmaster_nodejs_heap_size_used_bytes,
 *             flowmaster_nodejs_eventloop_lag_seconds, ...
 *
 * Label values known in advance (end reasons, decode error kinds, drop kinds,
 * store tables) start at 0, so they appear before the first event.
 *
 * `metrics()` returns a plain JSON object keyed by the full metric name:
 *
 *   {
 *     "flowmaster_filtered_packets_total": 3,                        // no labels: the number
 *     "flowmaster_flows_total": { "idle": 0, "flush": 2, ... },      // one label: keyed by its value
 *     "flowmaster_nodejs_version_info": { "version=v20.19.0,major=20,minor=19,patch=0": 1 },
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
import type { CaptureStats } from '../engine/source';
import { DECODE_ERRORS, END_REASONS, type DecodeErrorKind, type EndReason } from '../flow/layout';
import type { Summary } from '../meter';

export interface MetricsOptions {
  /** prepended to every metric name (default 'flowmaster_'); '' for none */
  prefix?: string;
  /** prom-client's process / Node.js metrics (RSS, heap, event-loop lag, GC...), default true */
  defaultMetrics?: boolean;
}

export type DropKind = 'kernel' | 'interface' | 'ring' | 'table';
export const DROP_KINDS: readonly DropKind[] = ['kernel', 'interface', 'ring', 'table'];
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

async function counterValue(c: Counter | Counter<string>): Promise<number> {
  let total = 0;
  for (const v of (await c.get()).values) total += v.value;
  return total;
}

export class Metrics {
  readonly registry: Registry;
  readonly prefix: string;

  // engine
  readonly packets: Counter<'engine'>;
  readonly bytes: Counter<'engine'>;
  readonly flows: Counter<'reason'>;
  readonly decodeErrors: Counter<'kind'>;
  readonly drops: Counter<'kind'>;
  readonly received: Counter;
  readonly filtered: Counter;
  readonly skipped: Counter;
  // pipeline
  readonly batchSize: Gauge;
  readonly commitLatency: Histogram;
  readonly queueDepth: Gauge;
  readonly batchesCommitted: Counter;
  // device cache
  readonly cacheHits: Counter;
  readonly cacheMisses: Counter;
  readonly cacheEvictions: Counter;
  readonly cacheHitRatio: Gauge;
  // store
  readonly rowsWritten: Counter<'table'>;
  // queries and retention
  readonly queryDuration: Histogram<'shape'>;
  readonly slowQueries: Counter<'shape'>;
  readonly retentionRowsDeleted: Counter<'table'>;
  readonly retentionPagesFreed: Counter;
  readonly retentionRuns: Counter;

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

    this.packets = new Counter({ name: n('packets_total'), help: 'Packets read from captures', labelNames: ['engine'] as const, registers });
    this.bytes = new Counter({ name: n('bytes_total'), help: 'Original (wire) bytes of the packets read', labelNames: ['engine'] as const, registers });
    this.flows = new Counter({ name: n('flows_total'), help: 'Flow records emitted, by end reason', labelNames: ['reason'] as const, registers });
    this.decodeErrors = new Counter({ name: n('decode_errors_total'), help: 'Packets with a decode problem, by kind', labelNames: ['kind'] as const, registers });
    this.drops = new Counter({
      name: n('drops_total'),
      help: 'Packets or flows lost: kernel, interface, ring (capture buffers) or table (flows evicted from a full flow table)',
      labelNames: ['kind'] as const,
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

    this.cacheHits = new Counter({ name: n('device_cache_hits_total'), help: 'Device cache hits', registers });
    this.cacheMisses = new Counter({ name: n('device_cache_misses_total'), help: 'Device cache misses', registers });
    this.cacheEvictions = new Counter({ name: n('device_cache_evictions_total'), help: 'Device cache evictions', registers });
    const hits = this.cacheHits;
    const misses = this.cacheMisses;
    this.cacheHitRatio = new Gauge({
      name: n('device_cache_hit_ratio'),
      help: 'Device cache hits / (hits + misses), 0 before any lookup',
      registers,
      async collect() {
        const h = await counterValue(hits);
        const m = await counterValue(misses);
        this.set(h + m > 0 ? h / (h + m) : 0);
      },
    });

    this.rowsWritten = new Counter({ name: n('rows_written_total'), help: 'Rows written to the store, by table', labelNames: ['table'] as const, registers });
    this.queryDuration = new Histogram({
      name: n('query_duration_seconds'), help: 'Store query time, by query shape', labelNames: ['shape'] as const,
      buckets: [...COMMIT_LATENCY_BUCKETS], registers,
    });
    this.slowQueries = new Counter({ name: n('slow_queries_total'), help: 'Store queries slower than the slow-query threshold, by shape', labelNames: ['shape'] as const, registers });
    this.retentionRowsDeleted = new Counter({ name: n('retention_rows_deleted_total'), help: 'Rows deleted by retention, by table', labelNames: ['table'] as const, registers });
    this.retentionPagesFreed = new Counter({ name: n('retention_pages_freed_total'), help: 'Database pages returned by incremental vacuum after retention', registers });
    this.retentionRuns = new Counter({ name: n('retention_runs_total'), help: 'Retention passes run', registers });

    for (const reason of END_REASON_NAMES) this.flows.inc({ reason }, 0);
    for (const kind of DECODE_ERROR_KINDS) this.decodeErrors.inc({ kind }, 0);
    for (const kind of DROP_KINDS) this.drops.inc({ kind }, 0);
    for (const table of STORE_TABLES) this.rowsWritten.inc({ table }, 0);

    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix });
  }

  /** The Content-Type of `metricsText()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * A running capture's counters since the `last` observation: packets,
   * kernel receive and drop counts, records shed. Returns the new baseline.
   */
  observeCapture(engine: string, now: CaptureStats, last?: CaptureStats): CaptureStats {
    const d = (k: keyof CaptureStats) => Math.max(0, now[k] - (last?.[k] ?? 0));
    this.packets.inc({ engine }, d('packets'));
    this.received.inc(d('received'));
    this.drops.inc({ kind: 'kernel' }, d('kernelDropped'));
    this.drops.inc({ kind: 'interface' }, d('interfaceDropped'));
    this.drops.inc({ kind: 'ring' }, d('flowsDropped'));
    return now;
  }

  /**
   * Adds a finished read's counters (packets and bytes labelled with
   * `summary.engine`); for a capture, `observed` is what observeCapture()
   * already counted.
   */
  recordSummary(summary: Summary, observed?: CaptureStats): void {
    const engine = summary.engine;
    if (summary.capture) this.observeCapture(engine, { ...summary.capture, packets: summary.packets }, observed);
    else this.packets.inc({ engine }, summary.packets);
    this.bytes.inc({ engine }, summary.bytes);
    for (const reason of END_REASON_NAMES) {
      const v = summary.flowsByReason[reason] ?? 0;
      if (v > 0) this.flows.inc({ reason }, v);
    }
    for (const [kind, v] of Object.entries(summary.decodeErrors)) if (v) this.decodeErrors.inc({ kind }, v);
    const evicted = summary.flowsByReason.evicted ?? 0;
    if (evicted > 0) this.drops.inc({ kind: 'table' }, evicted);
    if (summary.filtered > 0) this.filtered.inc(summary.filtered);
    if (summary.skipped > 0) this.skipped.inc(summary.skipped);
  }

  /** Every metric as plain JSON (format in the file header). */
  async metrics(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const m of await this.registry.getMetricsAsJSON()) out[m.name] = toJson(m);
    return out;
  }

  /** Prometheus text exposition format. */
  async metricsText(): Promise<string> {
    // prom-client writes NaN as 'Nan' (Go's ParseFloat accepts it; the format and stricter parsers say 'NaN')
    return (await this.registry.metrics()).replace(/^([^#\n][^\n]*) Nan$/gm, '$1 NaN');
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

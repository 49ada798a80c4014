/** Prometheus metrics (src/metrics/registry.ts). */
import { describe, expect, it } from 'vitest';
import { FlowMeter, type FlowMeterOptions, type Summary } from '../src/index';
import { FlowmasterError } from '../src/errors';
import { COMMIT_LATENCY_BUCKETS, Metrics, type HistogramJson } from '../src/metrics/registry';
import { tcp4, udp4, writePcap, type Pkt } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';

const A = '10.0.0.1';
const B = '10.0.0.2';
const C = '10.0.0.3';

/** Reads a capture to the end with a real FlowMeter and returns its summary. */
async function read(file: string, options: FlowMeterOptions = {}): Promise<Summary> {
  const run = new FlowMeter({ engine: TEST_ENGINE, ...options }).readFile(file);
  for await (const batch of run) void batch.length;
  return run.summary;
}

/**
 * 11 packets in the capture:
 *  - a TCP connection A:40000 -> B:80 with handshake and FIN from both sides (7 packets, tcp-end)
 *  - a UDP exchange A:5000 <-> B:53 at t=0 and nothing after: idle (the capture goes on to t=300)
 *  - one UDP packet to port 9999, dropped by the filter
 *  - one UDP packet C:6000 -> B:7000 cut inside its UDP header (decode error, flushed at the end)
 */
function sampleCapture(): { file: string; packets: number; bytes: number } {
  const cut = udp4(C, 6000, B, 7000, 100);
  const pkts: Pkt[] = [
    { t: 0, data: udp4(A, 5000, B, 53, 30) },
    { t: 0.01, data: udp4(B, 53, A, 5000, 60) },
    { t: 200, data: tcp4(A, 40000, B, 80, 'S') },
    { t: 200.1, data: tcp4(B, 80, A, 40000, 'SA') },
    { t: 200.2, data: tcp4(A, 40000, B, 80, 'A') },
    { t: 200.3, data: tcp4(A, 40000, B, 80, 'PA', 100) },
    { t: 200.4, data: tcp4(A, 40000, B, 80, 'FA') },
    { t: 200.5, data: tcp4(B, 80, A, 40000, 'FA') },
    { t: 200.6, data: tcp4(A, 40000, B, 80, 'A') },
    { t: 250, data: udp4(A, 1234, B, 9999, 10) },
    { t: 300, data: cut.subarray(0, 14 + 20 + 4), origLen: cut.length },
  ];
  const bytes = pkts.reduce((s, p) => s + (p.origLen ?? p.data.length), 0);
  return { file: writePcap(pkts), packets: pkts.length, bytes };
}

const LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?\})? (NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)( -?\d+)?$/;

/** Parses Prometheus text exposition into `name{labels}` -> value; throws on a malformed line. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      expect(line, 'comment line').toMatch(/^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$/);
      continue;
    }
    expect(line, 'sample line').toMatch(LINE);
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

describe('Metrics from a real read', () => {
  it('records a summary: same values in JSON and Prometheus text', async () => {
    const cap = sampleCapture();
    const summary = await read(cap.file, { filter: 'not port 9999' });
    expect(summary.error).toBeUndefined();
    // what the capture holds, independent of the metrics
    expect(summary.packets).toBe(cap.packets);
    expect(summary.bytes).toBe(cap.bytes);
    expect(summary.filtered).toBe(1);
    expect(summary.flowsByReason).toMatchObject({ 'tcp-end': 1, idle: 1 });
    expect(Object.values(summary.decodeErrors).reduce((s, v) => s + (v ?? 0), 0)).toBe(1);

    const m = new Metrics({ defaultMetrics: false });
    m.recordSummary(summary);
    const engine = summary.engine;

    const json = await m.metrics();
    expect(json.flowmaster_packets_total).toEqual({ [engine]: cap.packets });
    expect(json.flowmaster_bytes_total).toEqual({ [engine]: cap.bytes });
    expect(json.flowmaster_filtered_packets_total).toBe(1);
    expect(json.flowmaster_skipped_packets_total).toBe(summary.skipped);
    expect(json.flowmaster_flows_total).toEqual({ idle: 1, active: 0, 'tcp-end': 1, flush: summary.flowsByReason.flush, evicted: 0 });
    const errors = json.flowmaster_decode_errors_total as Record<string, number>;
    for (const [kind, v] of Object.entries(summary.decodeErrors)) expect(errors[kind]).toBe(v);
    expect(Object.values(errors).reduce((s, v) => s + v, 0)).toBe(1);
    expect(Object.keys(errors)).toHaveLength(12); // every DecodeErrorKind, from 0
    expect(json.flowmaster_drops_total).toEqual({ kernel: 0, interface: 0, ring: 0, table: 0 });
    expect(json.flowmaster_rows_written_total).toEqual({ flows: 0, devices: 0, sources: 0 });

    const text = parseExposition(await m.metricsText());
    expect(text.get(`flowmaster_packets_total{engine="${engine}"}`)).toBe(cap.packets);
    expect(text.get(`flowmaster_bytes_total{engine="${engine}"}`)).toBe(cap.bytes);
    expect(text.get('flowmaster_filtered_packets_total')).toBe(1);
    expect(text.get('flowmaster_flows_total{reason="idle"}')).toBe(1);
    expect(text.get('flowmaster_flows_total{reason="tcp-end"}')).toBe(1);
    expect(text.get('flowmaster_flows_total{reason="flush"}')).toBe(summary.flowsByReason.flush);
    for (const [kind, v] of Object.entries(summary.decodeErrors)) expect(text.get(`flowmaster_decode_errors_total{kind="${kind}"}`)).toBe(v);
    expect(text.get('flowmaster_drops_total{kind="table"}')).toBe(0);

    // a second read of the same capture adds up
    m.recordSummary(await read(cap.file, { filter: 'not port 9999' }));
    const json2 = await m.metrics();
    expect(json2.flowmaster_packets_total).toEqual({ [engine]: 2 * cap.packets });
    expect((json2.flowmaster_flows_total as Record<string, number>)['tcp-end']).toBe(2);
    expect(json2.flowmaster_filtered_packets_total).toBe(2);
  });

  it('flows evicted from a full table count as table drops', async () => {
    const pkts: Pkt[] = [];
    for (let i = 0; i < 8; i++) pkts.push({ t: i * 0.01, data: udp4(A, 10000 + i, B, 53, 10) });
    const summary = await read(writePcap(pkts), { maxFlows: 2 });
    expect(summary.flowsByReason.evicted).toBeGreaterThan(0);
    const m = new Metrics({ defaultMetrics: false });
    m.recordSummary(summary);
    const json = await m.metrics();
    expect((json.flowmaster_drops_total as Record<string, number>).table).toBe(summary.flowsByReason.evicted);
    expect((json.flowmaster_flows_total as Record<string, number>).evicted).toBe(summary.flowsByReason.evicted);
    expect(parseExposition(await m.metricsText()).get('flowmaster_drops_total{kind="table"}')).toBe(summary.flowsByReason.evicted);
  });
});

describe('Metrics', () => {
  it('computes the device cache hit ratio at collection', async () => {
    const m = new Metrics({ defaultMetrics: false });
    expect((await m.metrics()).flowmaster_device_cache_hit_ratio).toBe(0);
    m.cacheHits.inc(3);
    m.cacheMisses.inc();
    m.cacheEvictions.inc(2);
    const json = await m.metrics();
    expect(json.flowmaster_device_cache_hits_total).toBe(3);
    expect(json.flowmaster_device_cache_misses_total).toBe(1);
    expect(json.flowmaster_device_cache_evictions_total).toBe(2);
    expect(json.flowmaster_device_cache_hit_ratio).toBe(0.75);
    m.cacheMisses.inc(4);
    expect(parseExposition(await m.metricsText()).get('flowmaster_device_cache_hit_ratio')).toBe(3 / 8);
  });

  it('pipeline and store metrics: gauges, histogram, labelled rows', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.batchSize.set(4096);
    m.queueDepth.set(2);
    m.batchesCommitted.inc();
    m.batchesCommitted.inc();
    m.commitLatency.observe(0.0005);
    m.commitLatency.observe(0.2);
    m.commitLatency.observe(10);
    m.rowsWritten.inc({ table: 'flows' }, 4096);
    m.rowsWritten.inc({ table: 'devices' }, 3);
    const json = await m.metrics();
    expect(json.flowmaster_batch_size).toBe(4096);
    expect(json.flowmaster_queue_depth).toBe(2);
    expect(json.flowmaster_batches_committed_total).toBe(2);
    expect(json.flowmaster_rows_written_total).toEqual({ flows: 4096, devices: 3, sources: 0 });
    const h = json.flowmaster_commit_latency_seconds as HistogramJson;
    expect(h.count).toBe(3);
    expect(h.sum).toBeCloseTo(10.2005, 6);
    expect(h.buckets!.map((b) => b.le)).toEqual([...COMMIT_LATENCY_BUCKETS.map(String), '+Inf']);
    const le = new Map(h.buckets!.map((b) => [b.le, b.count]));
    expect(le.get('0.001')).toBe(1);
    expect(le.get('0.25')).toBe(2);
    expect(le.get('5')).toBe(2);
    expect(le.get('+Inf')).toBe(3);
    const text = parseExposition(await m.metricsText());
    expect(text.get('flowmaster_commit_latency_seconds_bucket{le="0.001"}')).toBe(1);
    expect(text.get('flowmaster_commit_latency_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(text.get('flowmaster_commit_latency_seconds_count')).toBe(3);
    expect(text.get('flowmaster_rows_written_total{table="flows"}')).toBe(4096);
  });

  it('two instances are independent and do not use the global registry', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.filtered.inc(5);
    a.packets.inc({ engine: 'ts' }, 7);
    expect((await a.metrics()).flowmaster_filtered_packets_total).toBe(5);
    expect((await b.metrics()).flowmaster_filtered_packets_total).toBe(0);
    expect((await b.metrics()).flowmaster_packets_total).toEqual({});
    expect(a.registry).not.toBe(b.registry);
    const prom = await import('prom-client');
    expect(await prom.register.getSingleMetric('flowmaster_filtered_packets_total')).toBeUndefined();
  });

  it('process metrics with the prefix, and a custom prefix', async () => {
    const m = new Metrics();
    const text = await m.metricsText();
    const samples = parseExposition(text);
    expect(samples.get('flowmaster_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect([...samples.keys()].some((k) => k.startsWith('flowmaster_nodejs_heap_size_used_bytes'))).toBe(true);
    expect([...samples.keys()].some((k) => k.startsWith('flowmaster_nodejs_eventloop_lag_seconds'))).toBe(true);
    const json = await m.metrics();
    expect(json.flowmaster_process_resident_memory_bytes).toBeGreaterThan(0);
    expect(typeof json.flowmaster_nodejs_version_info).toBe('object');

    const c = new Metrics({ prefix: 'fm_', defaultMetrics: false });
    c.skipped.inc(2);
    const ct = await c.metricsText();
    expect(parseExposition(ct).get('fm_skipped_packets_total')).toBe(2);
    expect(ct).not.toMatch(/flowmaster_|process_resident/);
    expect(c.contentType).toMatch(/^text\/plain/);
  });

  it('the whole exposition parses, with and without process metrics', async () => {
    for (const defaultMetrics of [true, false]) {
      const m = new Metrics({ defaultMetrics });
      m.recordSummary(await read(sampleCapture().file));
      m.commitLatency.observe(0.01);
      const text = await m.metricsText();
      const samples = parseExposition(text);
      expect(samples.size).toBeGreaterThan(20);
      // every sample belongs to a metric with HELP and TYPE
      const typed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]));
      for (const k of samples.keys()) {
        const name = k.replace(/\{.*$/, '');
        expect(typed.has(name) || typed.has(name.replace(/_(bucket|sum|count)$/, '')), name).toBe(true);
      }
    }
  });

  it('rejects a bad prefix', () => {
    expect(() => new Metrics({ prefix: 'bad-prefix' })).toThrow(FlowmasterError);
    expect(() => new Metrics({ prefix: '9x' })).toThrow(/prefix/);
  });
});

/** Prometheus metrics (src/metrics/registry.ts), live while a read or a capture runs (src/metrics/live.ts). */
import { execFileSync, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type FlowMeterOptions, type FlowRun, type Summary } from '../src/index';
import { nativeAvailable } from '../src/engine/native';
import { FlowmasterError } from '../src/errors';
import { COMMIT_LATENCY_BUCKETS, Metrics, type HistogramJson } from '../src/metrics/registry';
import { tcp4, udp4, writePcap, type Pkt } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { notRoot, skipping } from './helpers/skip';

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
    expect(json.flowmaster_dropped_packets_total).toEqual({ kernel: 0, interface: 0 });
    expect(json.flowmaster_dropped_flows_total).toEqual({ ring: 0, table: 0 });
    expect(json.flowmaster_drops_total).toBeUndefined(); // packets and flows are not added up in one metric
    expect(json.flowmaster_rows_written_total).toEqual({ flows: 0, devices: 0, sources: 0 });

    const text = parseExposition(await m.metricsText());
    expect(text.get(`flowmaster_packets_total{engine="${engine}"}`)).toBe(cap.packets);
    expect(text.get(`flowmaster_bytes_total{engine="${engine}"}`)).toBe(cap.bytes);
    expect(text.get('flowmaster_filtered_packets_total')).toBe(1);
    expect(text.get('flowmaster_flows_total{reason="idle"}')).toBe(1);
    expect(text.get('flowmaster_flows_total{reason="tcp-end"}')).toBe(1);
    expect(text.get('flowmaster_flows_total{reason="flush"}')).toBe(summary.flowsByReason.flush);
    for (const [kind, v] of Object.entries(summary.decodeErrors)) expect(text.get(`flowmaster_decode_errors_total{kind="${kind}"}`)).toBe(v);
    expect(text.get('flowmaster_dropped_flows_total{reason="table"}')).toBe(0);
    expect(text.get('flowmaster_dropped_packets_total{where="kernel"}')).toBe(0);

    // a second read of the same capture adds up
    m.recordSummary(await read(cap.file, { filter: 'not port 9999' }));
    const json2 = await m.metrics();
    expect(json2.flowmaster_packets_total).toEqual({ [engine]: 2 * cap.packets });
    expect((json2.flowmaster_flows_total as Record<string, number>)['tcp-end']).toBe(2);
    expect(json2.flowmaster_filtered_packets_total).toBe(2);
  });

  it('flows evicted from a full table count as dropped flows (reason table)', async () => {
    const pkts: Pkt[] = [];
    for (let i = 0; i < 8; i++) pkts.push({ t: i * 0.01, data: udp4(A, 10000 + i, B, 53, 10) });
    const summary = await read(writePcap(pkts), { maxFlows: 2 });
    expect(summary.flowsByReason.evicted).toBeGreaterThan(0);
    const m = new Metrics({ defaultMetrics: false });
    m.recordSummary(summary);
    const json = await m.metrics();
    expect((json.flowmaster_dropped_flows_total as Record<string, number>).table).toBe(summary.flowsByReason.evicted);
    expect((json.flowmaster_flows_total as Record<string, number>).evicted).toBe(summary.flowsByReason.evicted);
    expect(parseExposition(await m.metricsText()).get('flowmaster_dropped_flows_total{reason="table"}')).toBe(summary.flowsByReason.evicted);
  });
});

describe('Metrics', () => {
  it('device cache: hits, misses and evictions as counters, no lifetime ratio (rate() them instead)', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.cacheHits.inc(3);
    m.cacheMisses.inc();
    m.cacheEvictions.inc(2);
    const json = await m.metrics();
    expect(json.flowmaster_device_cache_hits_total).toBe(3);
    expect(json.flowmaster_device_cache_misses_total).toBe(1);
    expect(json.flowmaster_device_cache_evictions_total).toBe(2);
    expect(json.flowmaster_device_cache_hit_ratio).toBeUndefined();
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

  it('process metrics under their standard names (not prefixed), and a custom prefix', async () => {
    const m = new Metrics();
    const text = await m.metricsText();
    const samples = parseExposition(text);
    // the names standard Node.js dashboards query
    expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect([...samples.keys()].some((k) => k.startsWith('nodejs_heap_size_used_bytes'))).toBe(true);
    expect([...samples.keys()].some((k) => k.startsWith('nodejs_eventloop_lag_seconds'))).toBe(true);
    expect(text).not.toMatch(/^flowmaster_(process|nodejs)_/m);
    // gauges named *_total (promtool: "non-counter metrics should not have _total suffix"); sum(nodejs_active_handles) is the same
    expect(text).not.toMatch(/^nodejs_active_\w+_total/m);
    const json = await m.metrics();
    expect(json.process_resident_memory_bytes).toBeGreaterThan(0);
    expect(typeof json.nodejs_version_info).toBe('object');

    const c = new Metrics({ prefix: 'fm_', defaultMetrics: false });
    c.skipped.inc(2);
    const ct = await c.metricsText();
    expect(parseExposition(ct).get('fm_skipped_packets_total')).toBe(2);
    expect(ct).not.toMatch(/flowmaster_|process_resident/);
    expect(parseExposition(await new Metrics({ prefix: 'fm_' }).metricsText()).get('process_resident_memory_bytes')).toBeGreaterThan(0);
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Json = Record<string, unknown>;
const sumOf = (v: unknown) => Object.values((v ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0);

/** Every run counter in `json` equals the summary's: nothing was counted twice, nothing left out. */
function expectSummary(json: Json, s: Summary): void {
  expect(json.flowmaster_packets_total).toEqual({ [s.engine]: s.packets });
  expect(json.flowmaster_bytes_total).toEqual({ [s.engine]: s.bytes });
  expect(json.flowmaster_filtered_packets_total).toBe(s.filtered);
  expect(json.flowmaster_skipped_packets_total).toBe(s.skipped);
  const flows = json.flowmaster_flows_total as Record<string, number>;
  for (const [reason, v] of Object.entries(s.flowsByReason)) expect(flows[reason], reason).toBe(v);
  const errors = json.flowmaster_decode_errors_total as Record<string, number>;
  for (const [kind, v] of Object.entries(errors)) expect(v, kind).toBe(s.decodeErrors[kind as keyof Summary['decodeErrors']] ?? 0);
  expect(json.flowmaster_dropped_flows_total).toEqual({ table: s.flowsByReason.evicted, ring: s.capture?.flowsDropped ?? 0 });
  expect(json.flowmaster_dropped_packets_total).toEqual({ kernel: s.capture?.kernelDropped ?? 0, interface: s.capture?.interfaceDropped ?? 0 });
  expect(json.flowmaster_capture_received_packets_total).toBe(s.capture?.received ?? 0);
}

/**
 * 400 one-packet UDP flows 2 s apart (idle timeout 1 s: each packet ends
 * the flow before it), every 10th cut inside its UDP header (a decode
 * error), every 7th to port 9999 (filtered).
 */
function manyFlows(): { file: string; packets: number } {
  const pkts: Pkt[] = [];
  for (let i = 0; i < 400; i++) {
    const data = udp4(A, 10000 + i, B, i % 7 === 3 ? 9999 : 53, 10);
    pkts.push(i % 10 === 5 ? { t: 2 * i, data: data.subarray(0, 14 + 20 + 4), origLen: data.length } : { t: 2 * i, data });
  }
  return { file: writePcap(pkts), packets: pkts.length };
}

const ENGINES = nativeAvailable() ? (['native', 'ts'] as const) : (['ts'] as const);

describe('live metrics: every counter moves while a run goes on, and ends equal to the summary', () => {
  for (const engine of ENGINES) {
    it(`a read paused by a slow consumer already shows packets, bytes, flows, decode errors, filtered (${engine})`, async () => {
      const cap = manyFlows();
      const m = new Metrics({ defaultMetrics: false });
      const run = new FlowMeter({ engine, batchSize: 16, idleTimeout: 1, filter: 'not port 9999' }).readFile(cap.file);
      m.track(run);
      const it = run[Symbol.asyncIterator]();
      expect((await it.next()).done).toBe(false); // the reader runs ahead a few batches, then waits for us
      await sleep(300);
      const mid = await m.metrics();
      const packets = sumOf(mid.flowmaster_packets_total);
      expect(packets).toBeGreaterThan(0);
      expect(packets).toBeLessThan(cap.packets); // paused: not the end-of-run summary
      expect(sumOf(mid.flowmaster_bytes_total)).toBeGreaterThan(0);
      expect(sumOf(mid.flowmaster_flows_total)).toBeGreaterThan(0);
      expect(sumOf(mid.flowmaster_decode_errors_total)).toBeGreaterThan(0);
      expect(mid.flowmaster_filtered_packets_total).toBeGreaterThan(0);
      // and in the Prometheus text
      const text = parseExposition(await m.metricsText());
      expect(text.get('flowmaster_flows_total{reason="idle"}')).toBeGreaterThan(0);

      for (let r = await it.next(); !r.done; r = await it.next()) void r.value.length;
      const s = await run.summary;
      expect(s.packets).toBe(cap.packets);
      expectSummary(await m.metrics(), s);
      m.recordSummary(s); // what a store does at the end: no double count
      expectSummary(await m.metrics(), s);
    });
  }

  it('through a store (slow commits): live while it ingests, equal to the summary at the end', async () => {
    const cap = manyFlows();
    const m = new Metrics({ defaultMetrics: false });
    const store = openStore(':memory:', { metrics: m, batch: { initial: 16, min: 16, max: 16 } });
    const run = new FlowMeter({ engine: TEST_ENGINE, batchSize: 16, idleTimeout: 1 }).readFile(cap.file);
    m.track(run);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let seen = 0;
    const done = store.ingest(run, { onBatch: () => (++seen === 2 ? gate : undefined) });
    for (let i = 0; i < 100 && seen < 2; i++) await sleep(20);
    await sleep(200);
    const mid = await m.metrics();
    expect(sumOf(mid.flowmaster_bytes_total)).toBeGreaterThan(0);
    expect(sumOf(mid.flowmaster_flows_total)).toBeGreaterThan(0);
    expect(sumOf(mid.flowmaster_decode_errors_total)).toBeGreaterThan(0);
    expect(sumOf(mid.flowmaster_packets_total)).toBeLessThan(cap.packets);
    release();
    const r = await done;
    expectSummary(await m.metrics(), r.read);
    store.close();
  });

  it('build_info names the version, engine, Node.js and libpcap', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.track(new FlowMeter({ engine: TEST_ENGINE }).readFile(manyFlows().file));
    const text = await m.metricsText();
    const line = text.split('\n').find((l) => l.startsWith('flowmaster_build_info{'));
    expect(line).toMatch(new RegExp(`version="${require('../package.json').version}"`));
    expect(line).toMatch(new RegExp(`engine="${TEST_ENGINE}"`));
    expect(line).toContain(`node="${process.version}"`);
    expect(line).toMatch(nativeAvailable() ? /libpcap="\d+\.\d+[^"]*"/ : /libpcap="none"/);
    expect(line).toMatch(/ 1$/);
  });

  it('the database size gauge reads page_count * page_size at collection', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const store = openStore(':memory:', { metrics: m });
    expect((await m.metrics()).flowmaster_database_size_bytes).toBeUndefined(); // no database watched: no gauge
    m.watchDatabase(() => (store.db.open ? (store.db.pragma('page_count', { simple: true }) as number) * (store.db.pragma('page_size', { simple: true }) as number) : undefined));
    const size = (await m.metrics()).flowmaster_database_size_bytes as number;
    expect(size).toBeGreaterThan(0);
    expect(size % 512).toBe(0);
    store.close();
    expect((await m.metrics()).flowmaster_database_size_bytes).toBe(size); // closed: the last value stays
  });
});

describe.skipIf(skipping(notRoot ?? (!nativeAvailable() && 'the native addon is not built'), 'live metrics of a capture on lo'))('live metrics of a capture on lo (root)', () => {
  const hasTcpreplay = spawnSync('sh', ['-c', 'command -v tcpreplay']).status === 0;

  /** Datagrams from `n` sockets (n flows) to 127.0.0.1:port. */
  async function send(port: number, n: number, size = 100): Promise<void> {
    for (let i = 0; i < n; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise((r) => s.send(Buffer.alloc(size), port, '127.0.0.1', r));
      s.close();
    }
  }

  /** Frames cut inside their UDP header (a decode error), put on lo by tcpreplay; false without tcpreplay. */
  function sendCut(port: number, n: number): boolean {
    if (skipping(!hasTcpreplay && 'tcpreplay is missing (apt-get install tcpreplay)', 'decode errors of a live capture')) return false;
    const pkts: Pkt[] = [];
    for (let i = 0; i < n; i++) pkts.push({ t: i * 0.001, data: udp4('127.0.0.1', 30000 + i, '127.0.0.1', port, 10).subarray(0, 14 + 20 + 4) });
    execFileSync('tcpreplay', ['-q', '-i', 'lo', writePcap(pkts)], { stdio: 'ignore' });
    return true;
  }

  async function liveCapture(withStore: boolean): Promise<void> {
    const port = (withStore ? 49500 : 49000) + (process.pid % 500);
    const m = new Metrics({ defaultMetrics: false });
    const store = withStore ? openStore(':memory:', { metrics: m, batch: { maxDelayMs: 100 } }) : undefined;
    const run = new FlowMeter({ engine: 'native', idleTimeout: 0.5, maxFlows: 1000 }).capture({ interface: 'lo', filter: `udp port ${port}`, timeoutMs: 20, threads: 2 });
    m.track(run);
    const consumed = store ? store.ingest(run) : (async () => { for await (const b of run) void b.length; })();
    const cut = sendCut(port, 4);
    await send(port, 5);
    await sleep(1500); // idle after 0.5 s: those 5 flows have ended
    await send(port, 3);
    await sleep(400); // these 3 are still open
    const mid = await m.metrics();
    expect(sumOf(mid.flowmaster_packets_total)).toBeGreaterThanOrEqual(8);
    expect(sumOf(mid.flowmaster_bytes_total)).toBeGreaterThanOrEqual(8 * 128);
    expect((mid.flowmaster_flows_total as Record<string, number>).idle).toBeGreaterThanOrEqual(5);
    if (cut) expect(sumOf(mid.flowmaster_decode_errors_total)).toBeGreaterThanOrEqual(4);
    expect(mid.flowmaster_active_flows).toBeGreaterThanOrEqual(1);
    expect(mid.flowmaster_flow_table_occupancy_ratio).toBeCloseTo((mid.flowmaster_active_flows as number) / 1000, 6);
    expect(mid.flowmaster_capture_threads).toBe(2);
    expect(mid.flowmaster_capture_threads_running).toBe(2);
    const s = await run.stop();
    await consumed;
    await sleep(10);
    const end = await m.metrics();
    expectSummary(end, s);
    expect(end.flowmaster_active_flows).toBe(0);
    store?.close();
  }

  it('without a store: packets, bytes, flows, decode errors, active flows while it runs', () => liveCapture(false), 20_000);
  it('into a store: the same, and the store adds nothing twice at the end', () => liveCapture(true), 20_000);
});

/**
 * The ClickHouse sink and the central store, against a real server (Debian's
 * clickhouse-server 18.16, started per file on free ports): totals equal to
 * the engine's, replays and retries stored once, the spool across a server
 * outage and across a killed sensor, the spool cap, three sensors at once, a
 * Distributed table over two shards, and the query commands against the
 * SQLite store's answers for the same file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseSink } from '../src/clickhouse/sink';
import { ClickHouseQueries } from '../src/clickhouse/query';
import { FlowMeter, openStore } from '../src/index';
import { Metrics } from '../src/metrics/registry';
import { tmpFile } from './helpers/capture';
import { noClickHouse, startClickHouse, type ClickHouseServer } from './helpers/clickhouse';
import { TEST_ENGINE } from './helpers/read';
import { notRoot, skipping } from './helpers/skip';
import { nativeAvailable } from '../src/engine/native';
import { FLOW_COLUMNS, FLOW_COLUMNS_V1, schemaStatements } from '../src/clickhouse/schema';
import { dissected, mixedArea, withApps } from './helpers/app-area';
import * as dgram from 'node:dgram';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process; `started` gets it once it runs (to feed its stdin, or kill it). */
function flowmaster(args: string[], started?: (child: ChildProcess, stderr: () => string) => void): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    started?.(child, () => stderr);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

interface Totals {
  flows: number;
  bytes: number;
  packets: number;
}

/** What the engine makes of a file: the totals every store must hold. */
async function engineTotals(file: string, options: { idleTimeout?: number } = {}): Promise<Totals> {
  const t = { flows: 0, bytes: 0, packets: 0 };
  for await (const batch of new FlowMeter({ engine: TEST_ENGINE, ...options }).readFile(file))
    for (const f of batch) {
      t.flows++;
      t.bytes += f.bytes;
      t.packets += f.packets;
    }
  return t;
}

async function stored(ch: ClickHouseServer, db: string, where = '1'): Promise<Totals & { distinct: number }> {
  const [flows, bytes, packets, distinct] = (await ch.query(`SELECT count(), sum(bytes), sum(packets), uniqExact(sensor, batch, seq) FROM ${db}.flows WHERE ${where}`)).trim().split('\t').map(Number);
  return { flows, bytes, packets, distinct };
}

const skip = skipping(noClickHouse, 'ClickHouse sink tests');

/** The schema a flowmaster of before the application columns made (flows without them, none of their tables). */
function schemaV1(o: { database: string; cluster?: string }): string[] {
  const all = FLOW_COLUMNS.map(([n, type]) => `${n} ${type}`).join(', ');
  const v1 = FLOW_COLUMNS_V1.map(([n, type]) => `${n} ${type}`).join(', ');
  return schemaStatements(o, new Map())
    .filter((sql) => !new RegExp(`^CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS ${o.database}\\.(applications|sni|host_names)`).test(sql))
    .map((sql) => sql.replace(all, v1));
}

/** Sends a file's flows with the areas mixedArea() gives them (what an engine that dissects would). */
async function sendWithApps(sink: ClickHouseSink, run: string, file: string): Promise<void> {
  const w = sink.run(run);
  let n = 0;
  for await (const b of new FlowMeter({ engine: TEST_ENGINE }).readFile(file)) {
    w.write(withApps(b, (f, i) => mixedArea(f, n + i)));
    n += b.length;
  }
  w.end();
}
const liveWhyNot = notRoot ?? (!nativeAvailable() ? 'the native addon is not built' : undefined);

describe.skipIf(skip)('ClickHouse sink (a real clickhouse-server)', () => {
  let ch: ClickHouseServer;
  let file: string;
  let expected: Totals;

  beforeAll(async () => {
    ch = await startClickHouse();
    const { generate } = await genPcap();
    file = tmpFile('fleet.pcap');
    // two UTC days (the capture spans midnight): blocks are cut per day
    await generate({ out: file, packets: 60_000, flows: 6000, hosts: 200, mix: 'full,l2=5', seed: 21, quiet: true });
    expected = await engineTotals(file);
  }, 120_000);

  afterAll(async () => {
    await ch?.destroy();
  });

  const sinkOptions = (database: string, spoolDir = tmpFile('spool')) => ({ url: ch.url, database, sensor: 'lib', spoolDir, blockRows: 1000, retry: { minMs: 50, maxMs: 500 } });

  async function sendFile(sink: ClickHouseSink, run: string): Promise<void> {
    const w = sink.run(run);
    for await (const b of new FlowMeter({ engine: TEST_ENGINE }).readFile(file)) w.write(b);
    w.end();
  }

  it('stores every flow once: totals equal the engine, and a replay of the same run adds nothing', async () => {
    const sink = new ClickHouseSink(sinkOptions('lib1'));
    await sendFile(sink, 'run-a');
    const first = await sink.close(60_000);
    expect(first).toMatchObject({ sent: expected.flows, present: 0, dropped: 0, pending: 0 });
    expect(await stored(ch, 'lib1')).toEqual({ ...expected, distinct: expected.flows });
    // the same run again (a sensor restarted on the same file): every block is found, none inserted
    const again = new ClickHouseSink(sinkOptions('lib1'));
    await sendFile(again, 'run-a');
    expect(await again.close(60_000)).toMatchObject({ sent: 0, present: expected.flows });
    expect(await stored(ch, 'lib1')).toEqual({ ...expected, distinct: expected.flows });
    // the roll-up views saw each row once
    const [tFlows, tBytes] = (await ch.query('SELECT sum(flows), sum(bytes) FROM lib1.traffic')).trim().split('\t').map(Number);
    expect([tFlows, tBytes]).toEqual([expected.flows, expected.bytes]);
  });

  it('server down: blocks wait in the spool, a new sink on it delivers them in order once the server is back', async () => {
    const spool = tmpFile('spool-down');
    await new ClickHouseSink(sinkOptions('lib2', spool)).init();
    await ch.kill(); // a crash (SIGKILL): no graceful shutdown to wait for
    const sink = new ClickHouseSink({ ...sinkOptions('lib2', spool), memoryBlocks: 1 });
    await sendFile(sink, 'run-b');
    const left = await sink.close(300); // nothing delivered: all in the spool
    expect(left.sent).toBe(0);
    expect(left.pending).toBeGreaterThan(1);
    expect(fs.readdirSync(spool).filter((f) => f.endsWith('.block'))).toHaveLength(left.pending);
    await ch.start();
    const resumed = new ClickHouseSink(sinkOptions('lib2', spool));
    expect(await resumed.drain(60_000)).toBe(true);
    expect((await resumed.close()).sent).toBe(expected.flows);
    expect(fs.readdirSync(spool).filter((f) => f.endsWith('.block'))).toEqual([]);
    expect(await stored(ch, 'lib2')).toEqual({ ...expected, distinct: expected.flows });
  });

  it('spool cap: past it the oldest blocks are dropped, counted and logged, never silently', async () => {
    const spool = tmpFile('spool-cap');
    const logs: string[] = [];
    await ch.kill(); // a crash (SIGKILL): no graceful shutdown to wait for
    try {
      const metrics = new Metrics({ defaultMetrics: false });
      const sink = new ClickHouseSink({ ...sinkOptions('lib3', spool), memoryBlocks: 1, spoolMaxBytes: 450_000, metrics, log: (e) => logs.push(String(e.event)) });
      await sendFile(sink, 'run-c');
      const s = await sink.close(0);
      expect(s.dropped).toBeGreaterThan(0);
      expect(s.spooledBytes).toBeLessThanOrEqual(450_000); // one block of rows with the details of field list v2 (~384 kB) fits, the others go
      expect(s.dropped + s.sent).toBeLessThan(expected.flows);
      expect(logs).toContain('clickhouse_spool_dropped');
      const m = (await metrics.metrics()) as Record<string, Record<string, number>>;
      expect(m.flowmaster_clickhouse_rows_total.dropped).toBe(s.dropped);
      expect(m.flowmaster_clickhouse_spool_bytes).toBe(s.spooledBytes);
    } finally {
      await ch.start();
    }
  });

  it('ingest --clickhouse with --db: the SQLite store and ClickHouse hold the same flows; the query commands agree', async () => {
    const db = tmpFile('fleet.db');
    const args = ['ingest', '--engine', TEST_ENGINE, '--db', db, '--clickhouse', ch.url, '--clickhouse-database', 'cli1', '--sensor', 'plant-a', '--spool-dir', tmpFile('sp'), '--no-progress', file];
    const r = await flowmaster(args);
    expect(r.stderr).toContain(`clickhouse: ${expected.flows} flows sent as sensor plant-a`);
    expect(r.code).toBe(0);
    expect(await stored(ch, 'cli1')).toEqual({ ...expected, distinct: expected.flows });
    // again: SQLite skips the file and says ClickHouse gets nothing either; with --force both read it, ClickHouse stores nothing twice
    expect((await flowmaster(args)).stderr).toContain('not sent to ClickHouse either');
    const forced = await flowmaster([...args, '--force']);
    expect([forced.code, forced.stderr]).toEqual([0, expect.stringContaining(`clickhouse: 0 flows sent as sensor plant-a, ${expected.flows} already stored`)]);
    expect(await stored(ch, 'cli1')).toEqual({ ...expected, distinct: expected.flows });
    const store = openStore(db, { readonly: true });
    const q = new ClickHouseQueries({ url: ch.url, database: 'cli1' });
    try {
      // every flow, by keyset pages of both stores, sorted by bytes (ties broken differently: compare as multisets)
      // with the details of field list v2 (migration 10 / schema 3): the same community id, conn_state, history, IP bytes, times
      const key = (f: Record<string, unknown>) =>
        [f.firstNs, f.src, f.dst, f.srcPort, f.dstPort, f.bytes, f.packets, f.endReason, f.communityId, f.connState, f.history, f.fwdIpBytes, f.revPayloadBytes, f.fwdLast, f.revLast, f.minTtl].join('|');
      const fleet: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const p = await q.flowsPage({ sort: 'bytes', order: 'desc', limit: 700, cursor, filter: { protocol: 6 } });
        fleet.push(...p.items.map(key));
        for (let i = 1; i < p.items.length; i++) expect(p.items[i - 1].bytes).toBeGreaterThanOrEqual(p.items[i].bytes);
        cursor = p.next ?? undefined;
        pages++;
      } while (cursor);
      const local: string[] = [];
      let c2: string | undefined;
      do {
        const p = store.flows.page({ sort: 'bytes', order: 'desc', limit: 700, cursor: c2, filter: { protocol: 6 } });
        local.push(...p.items.map(key));
        c2 = p.next ?? undefined;
      } while (c2);
      expect(pages).toBeGreaterThan(2);
      expect(fleet.length).toBe(new Set(fleet).size);
      expect(fleet.sort()).toEqual(local.sort());
      // a host (CIDR) and port filter
      const sample = store.flows.page({ limit: 1, filter: { protocol: 6 } }).items[0];
      const net = `${sample.src.split('.').slice(0, 3).join('.')}.0/24`;
      const countLocal = (f: object) => store.flows.offsetPage({ filter: f, pageSize: 1, total: true }).total!;
      const countFleet = async (f: object) => {
        let n = 0;
        let cur: string | undefined;
        do {
          const p = await q.flowsPage({ filter: f, limit: 10_000, cursor: cur });
          n += p.items.length;
          cur = p.next ?? undefined;
        } while (cur);
        return n;
      };
      for (const f of [{ host: net }, { port: sample.dstPort }, { host: sample.dst, protocol: 6 }, { service: 'https' }, { minBytes: 10_000 }])
        expect([f, await countFleet(f)]).toEqual([f, countLocal(f)]);
      // devices, talkers, services and the timeline agree with the SQLite store's
      const dl = store.devices.page({ sort: 'bytes', limit: 10_000 }).items;
      const df = (await q.devicesPage({ sort: 'bytes', limit: 10_000 })).items;
      const dev = (d: { addr: string; vlan: number; bytes: number; flows: number; packets: number; firstSeen: number; lastSeen: number }) => JSON.stringify([d.addr, d.vlan, d.bytes, d.flows, d.packets, d.firstSeen, d.lastSeen]);
      expect(df.length).toBeLessThan(10_000);
      expect(df.map(dev).sort()).toEqual(dl.map(dev).sort());
      for (let i = 1; i < df.length; i++) expect(df[i - 1].bytes).toBeGreaterThanOrEqual(df[i].bytes);
      expect(df.every((d) => d.sensor === 'plant-a')).toBe(true);
      const tl = store.analytics.topTalkers({ limit: 10 });
      const tf = await q.topTalkers({ limit: 10 });
      const ranked = (r: { addr: string; bytes: number }[]) => r.map((t) => [t.addr, t.bytes] as const).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
      expect(ranked(tf)).toEqual(ranked(tl)); // ties may come in either order
      expect(tf.map((t) => t.bytes)).toEqual(tl.map((t) => t.bytes));
      const sl = store.analytics.topServices({ limit: 10, by: 'flows' });
      expect((await q.topServices({ limit: 10, by: 'flows' })).map((s) => [s.service, s.flows])).toEqual(sl.map((s) => [s.service, s.flows]));
      const day = await q.timeline({ bucketMs: 86_400_000 });
      expect(day.reduce((n, b) => n + b.flows, 0)).toBe(expected.flows);
      expect(day.reduce((n, b) => n + b.bytes, 0)).toBe(expected.bytes);
      // a cursor is bound to its filter and signed by the server's secret
      const p1 = await q.flowsPage({ limit: 5, filter: { port: 443 } });
      await expect(q.flowsPage({ limit: 5, filter: { port: 80 }, cursor: p1.next! })).rejects.toMatchObject({ code: 'ERR_BAD_CURSOR' });
      await expect(q.flowsPage({ limit: 5, filter: { port: 443 }, cursor: p1.next!.slice(0, -2) + 'AA' })).rejects.toMatchObject({ code: 'ERR_BAD_CURSOR' });
    } finally {
      store.close();
      await q.close();
    }
    // the CLI pages with the cursor it printed
    const page1 = await flowmaster(['flows', '--clickhouse', ch.url, '--clickhouse-database', 'cli1', '--limit', '3', '--json']);
    const j = JSON.parse(page1.stdout);
    expect(j.items).toHaveLength(3);
    const page2 = await flowmaster(['flows', '--clickhouse', ch.url, '--clickhouse-database', 'cli1', '--limit', '3', '--json', '--cursor', j.next]);
    expect(page2.code).toBe(0);
    expect(BigInt(JSON.parse(page2.stdout).items[0].firstNs) <= BigInt(j.items[2].firstNs)).toBe(true); // the CLI's default order: newest first
    const tl = await flowmaster(['timeline', '--clickhouse', ch.url, '--clickhouse-database', 'cli1', '--sensor', 'plant-a', '--bucket', '1d', '--format', 'csv']);
    expect(tl.stdout.trim().split('\n').slice(1).reduce((n, l) => n + Number(l.split(',')[4]), 0)).toBe(expected.flows);
    const both = await flowmaster(['top', '--clickhouse', ch.url, '--db', db]);
    expect(both.code).toBe(2);
  });

  it('what the payload said: a flows table of before gets the columns (ADD COLUMN: 18.16 has no IF NOT EXISTS), filters, top and host names as the SQLite store', async () => {
    for (const sql of schemaV1({ database: 'app1' })) await ch.query(sql);
    const sink = new ClickHouseSink({ ...sinkOptions('app1'), sensor: 'apps' });
    await sendWithApps(sink, 'apps-a', file);
    expect(await sink.close(60_000)).toMatchObject({ sent: expected.flows, pending: 0 });
    const columns = (await ch.query("SELECT name FROM system.columns WHERE database = 'app1' AND table = 'flows'")).trim().split('\n');
    expect(columns.sort()).toEqual(FLOW_COLUMNS.map(([n]) => n).sort());
    // init again: nothing left to add
    const again = new ClickHouseSink({ ...sinkOptions('app1'), sensor: 'apps' });
    await again.init();
    await again.close();
    const store = openStore(tmpFile('apps.db'));
    await store.ingest(dissected(new FlowMeter({ engine: TEST_ENGINE }).readFile(file), mixedArea));
    const q = new ClickHouseQueries({ url: ch.url, database: 'app1' });
    try {
      const all = async (filter: Record<string, unknown>) => {
        const out = [];
        let cursor: string | undefined;
        do {
          const p = await q.flowsPage({ filter, sort: 'bytes', limit: 1000, cursor });
          out.push(...p.items);
          cursor = p.next ?? undefined;
        } while (cursor);
        return out;
      };
      for (const filter of [{ application: 'tls' }, { sni: '*.EXAMPLE.com' }, { sni: 'svc?.example.*', application: 'tls' }, { httpHost: 'www1*' }, { dnsQuery: 'host-*' }, { sni: 'svc_.example.com' }]) {
        const got = (await all(filter)).map((f) => JSON.stringify([f.flowId, f.app])).sort();
        const want = store.flows.offsetPage({ filter, pageSize: 10_000 }).items.map((f) => JSON.stringify([f.flowId, f.app])).sort();
        expect([filter, got.length, got]).toEqual([filter, want.length, want]);
      }
      expect((await all({ application: 'tls' })).length).toBeGreaterThan(100);
      expect(await q.topApplications({ limit: 20 })).toEqual(store.analytics.topApplications({ limit: 20 }));
      expect((await q.topSni({ limit: 1000, by: 'flows' })).map((t) => [t.sni, t.flows, t.bytes]).sort()).toEqual(
        store.analytics.topSni({ limit: 1000, by: 'flows' }).map((t) => [t.sni, t.flows, t.bytes]).sort(),
      );
      const named = (await q.devicesPage({ limit: 10_000 })).items.filter((d) => d.name).map((d) => [d.addr, d.vlan, d.name]).sort();
      expect(named).toEqual(store.devices.page({ limit: 10_000 }).items.filter((d) => d.name).map((d) => [d.addr, d.vlan, d.name]).sort());
      expect(named.length).toBeGreaterThan(10);
      expect((await q.devicesPage({ filter: { name: 'HOST-*.lan' }, limit: 10_000 })).items).toHaveLength(named.length);
    } finally {
      store.close();
      await q.close();
    }
    // the CLI: --sni and --application, top applications and sni
    const cliFlows = await flowmaster(['flows', '--clickhouse', ch.url, '--clickhouse-database', 'app1', '--application', 'tls', '--sni', '*.example.net', '--limit', '5', '--json']);
    expect(cliFlows.code).toBe(0);
    for (const f of JSON.parse(cliFlows.stdout).items) expect(f.app.sni.toLowerCase()).toMatch(/\.example\.net$/);
    const topApps = await flowmaster(['top', 'applications', '--clickhouse', ch.url, '--clickhouse-database', 'app1', '--json']);
    expect(JSON.parse(topApps.stdout).map((t: { application: string }) => t.application).sort()).toEqual(['dns', 'http', 'modbus', 'quic', 'tls']);
    const topSni = await flowmaster(['top', 'sni', '--clickhouse', ch.url, '--clickhouse-database', 'app1', '--limit', '3']);
    expect(topSni.stdout.split('\n')[0]).toMatch(/^sni\s+bytes\s+packets\s+flows/);
    const devs = await flowmaster(['devices', '--clickhouse', ch.url, '--clickhouse-database', 'app1', '--name', '*.lan', '--limit', '3']);
    expect(devs.stdout.split('\n')[1]).toMatch(/host-\S+\.lan/);
  });

  it('the server killed mid-ingest: the ingest waits, then every flow is stored once', async () => {
    // the capture comes on stdin in two halves: the first half's flows are stored, then the server is killed,
    // then the rest is read (its flows wait and are retried), then the server comes back
    // (a short idle timeout and small batches: flows of the first half end, and reach the sink, before the second is read)
    const bytes = fs.readFileSync(file);
    const cut = Math.floor(bytes.length / 2);
    const want = await engineTotals(file, { idleTimeout: 0.01 });
    let outage: Promise<void> | undefined;
    let before = 0;
    const r = await flowmaster(
      ['ingest', '--engine', TEST_ENGINE, '--idle-timeout', '0.01', '--batch-size', '64', '--clickhouse', ch.url, '--clickhouse-database', 'out1', '--sensor', 'x',
        '--spool-dir', tmpFile('sp-outage'), '--clickhouse-block-rows', '300', '-'],
      (child, stderr) => {
        outage = (async () => {
          child.stdin!.write(bytes.subarray(0, cut));
          for (let i = 0; i < 2000 && (before = (await stored(ch, 'out1').catch(() => ({ flows: 0 }))).flows) === 0; i++) await sleep(10);
          await ch.kill(); // a crash (SIGKILL): no graceful shutdown to wait for
          child.stdin!.end(bytes.subarray(cut));
          for (let i = 0; i < 2000 && !/again in \d+ ms/.test(stderr()); i++) await sleep(10);
          await sleep(2000);
          await ch.start();
        })();
      },
    );
    await outage;
    expect(before).toBeGreaterThan(0); // stored before the outage
    expect(before).toBeLessThan(want.flows);
    expect(r.stderr).toMatch(/clickhouse: .*again in \d+ ms/); // it met the outage
    expect(r.code).toBe(0);
    expect(await stored(ch, 'out1')).toEqual({ ...want, distinct: want.flows });
  });

  it('the sensor killed (kill -9) mid-ingest and run again: every flow stored once', async () => {
    const spool = tmpFile('sp-kill');
    const args = ['ingest', '--engine', TEST_ENGINE, '--clickhouse', ch.url, '--clickhouse-database', 'kill1', '--sensor', 'k', '--spool-dir', spool, '--clickhouse-block-rows', '200', file];
    const first = await flowmaster(args, (child) => {
      void (async () => {
        for (let i = 0; i < 800; i++) {
          const n = (await stored(ch, 'kill1').catch(() => ({ flows: 0 }))).flows;
          if (n > 0) break;
          await sleep(10);
        }
        child.kill('SIGKILL');
      })();
    });
    expect(first.signal).toBe('SIGKILL');
    const partial = (await stored(ch, 'kill1')).flows;
    expect(partial).toBeGreaterThan(0);
    const second = await flowmaster(args);
    expect(second.code).toBe(0);
    expect(await stored(ch, 'kill1')).toEqual({ ...expected, distinct: expected.flows });
    expect(second.stderr).toMatch(/already stored \(not sent again\)/);
  });

  it.skipIf(skipping(liveWhyNot, 'capture --clickhouse'))('capture -i lo --clickhouse (root): flows sent as they end; with the server down they spool and go once it is back', async () => {
    const port = 47000 + (process.pid % 1000);
    const spool = tmpFile('sp-live');
    let exited: Promise<Exit> | undefined;
    let stderr = () => '';
    let capture: ChildProcess | undefined;
    exited = flowmaster(
      ['capture', '-i', 'lo', '-f', `udp dst port ${port}`, '--idle-timeout', '1', '--clickhouse', ch.url, '--clickhouse-database', 'live1', '--sensor', 'lo-sensor',
        '--spool-dir', spool, '--clickhouse-block-rows', '5', '--retry-for', '60s'],
      (child, err) => {
        capture = child;
        stderr = err;
      },
    );
    for (let i = 0; i < 200 && !stderr().includes('stop with Ctrl-C'); i++) await sleep(25);
    const send = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        const s = dgram.createSocket('udp4'); // one flow each: its own source port
        await new Promise<void>((r) => s.bind(port + 1 + i, '127.0.0.1', r));
        await new Promise((r) => s.send(Buffer.alloc(100), port, '127.0.0.1', r));
        s.close();
      }
    };
    await send(0, 10);
    for (let i = 0; i < 200 && (await stored(ch, 'live1').catch(() => ({ flows: 0 }))).flows < 10; i++) await sleep(50);
    expect((await stored(ch, 'live1')).flows).toBe(10);
    await ch.kill(); // a crash (SIGKILL): no graceful shutdown to wait for
    await send(10, 10); // ended (idle 1 s) while the server is down: the first block is tried, the next goes to disk
    for (let i = 0; i < 200 && fs.readdirSync(spool).filter((f) => f.endsWith('.block')).length < 1; i++) await sleep(50);
    expect(fs.readdirSync(spool).filter((f) => f.endsWith('.block')).length).toBeGreaterThanOrEqual(1);
    await ch.start();
    for (let i = 0; i < 400 && (await stored(ch, 'live1').catch(() => ({ flows: 0 }))).flows < 20; i++) await sleep(50);
    capture!.kill('SIGINT');
    const r = await exited;
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining('flows sent as sensor lo-sensor')]);
    const got = await stored(ch, 'live1');
    expect(got).toMatchObject({ flows: 20, packets: 20, distinct: 20 });
    expect(Number((await ch.query("SELECT uniqExact(src_port) FROM live1.flows WHERE sensor = 'lo-sensor'")).trim())).toBe(20);
  }, 90_000);

  it('usage and server errors are one line with a code: no target, an unreachable server, --print without one', async () => {
    const dead = 'http://127.0.0.1:1';
    const cases: [string[], number, string][] = [
      [['clickhouse', 'init'], 2, 'ERR_USAGE'],
      [['clickhouse', 'init', '--clickhouse', dead], 1, 'ERR_CLICKHOUSE'],
      [['flows', '--clickhouse', dead], 1, 'ERR_CLICKHOUSE'],
      [['flows', '--clickhouse', ch.url, '--clickhouse-database', 'no_such_db'], 1, 'ERR_CLICKHOUSE'],
      [['flows', '--clickhouse', ch.url, '--source', '1'], 2, 'ERR_INVALID_OPTION'],
      [['top', '--db', tmpFile('x.db'), '--sensor', 'a'], 2, 'ERR_USAGE'],
      [['ingest', file], 2, 'ERR_USAGE'],
      [['ingest', '--clickhouse', 'not a url', file], 2, 'ERR_INVALID_OPTION'],
    ];
    for (const [argv, code, err] of cases) {
      const r = await flowmaster(argv);
      expect([argv, r.code, r.stderr.trim().split('\n').length, r.stderr]).toEqual([argv, code, 1, expect.stringContaining(`[${err}]`)]);
    }
    const sql = await flowmaster(['clickhouse', 'init', '--print', '--clickhouse-cluster', 'fm_shards']);
    expect(sql.stdout).toContain('ENGINE = Distributed(');
    expect(sql.stdout.match(/;\n/g)!.length).toBeGreaterThan(10);
  });

  it('three sensors at once into one server: every row once, each under its sensor name', async () => {
    const runs = ['a', 'b', 'c'].map((s) =>
      flowmaster(['ingest', '--engine', TEST_ENGINE, '--clickhouse', ch.url, '--clickhouse-database', 'three', '--sensor', `sensor-${s}`, '--spool-dir', tmpFile(`sp-${s}`), '--clickhouse-block-rows', '2000', file]),
    );
    for (const r of await Promise.all(runs)) expect([r.code, r.stderr]).toEqual([0, expect.stringContaining('flows sent')]);
    for (const s of ['a', 'b', 'c']) expect(await stored(ch, 'three', `sensor = 'sensor-${s}'`)).toEqual({ ...expected, distinct: expected.flows });
    expect((await stored(ch, 'three')).flows).toBe(3 * expected.flows);
    const q = new ClickHouseQueries({ url: ch.url, database: 'three' });
    try {
      const t = await q.topTalkers({ limit: 3 });
      expect(new Set(t.map((x) => x.sensor)).size).toBeGreaterThanOrEqual(1);
      expect((await q.timeline({ bucketMs: 86_400_000, sensor: 'sensor-b' })).reduce((n, b) => n + b.flows, 0)).toBe(expected.flows);
    } finally {
      await q.close();
    }
  });
});

describe.skipIf(skip)('ClickHouse cluster: a Distributed table over two shards (two servers)', () => {
  let a: ClickHouseServer;
  let b: ClickHouseServer;

  beforeAll(async () => {
    const { freePort } = await import('./helpers/clickhouse');
    const tcp = [await freePort(), await freePort()];
    a = await startClickHouse({ tcpPort: tcp[0], shards: tcp });
    b = await startClickHouse({ tcpPort: tcp[1], shards: tcp });
  }, 120_000);

  afterAll(async () => {
    await a?.destroy();
    await b?.destroy();
  });

  it('tables of before the application columns on both shards: init adds them to the local and the Distributed tables; application rows through either', async () => {
    for (const s of [a, b]) for (const sql of schemaV1({ database: 'oldc', cluster: 'fm_shards' })) await s.query(sql);
    for (const s of [a, b]) {
      const r = await flowmaster(['clickhouse', 'init', '--clickhouse', s.url, '--clickhouse-database', 'oldc', '--clickhouse-cluster', 'fm_shards']);
      expect([r.code, r.stderr]).toEqual([0, '']);
      for (const table of ['flows', 'flows_local'])
        expect((await s.query(`SELECT count() FROM system.columns WHERE database = 'oldc' AND table = '${table}'`)).trim()).toBe(String(FLOW_COLUMNS.length));
    }
    const { generate } = await genPcap();
    const file = tmpFile('shards-apps.pcap');
    await generate({ out: file, packets: 10_000, flows: 1000, hosts: 50, seed: 6, quiet: true });
    const sink = new ClickHouseSink({ url: a.url, database: 'oldc', cluster: 'fm_shards', sensor: 'c', spoolDir: tmpFile('sp-c'), blockRows: 100 });
    await sendWithApps(sink, 'c1', file);
    expect(await sink.close(60_000)).toMatchObject({ pending: 0 });
    const store = openStore(tmpFile('shards-apps.db'));
    await store.ingest(dissected(new FlowMeter({ engine: TEST_ENGINE }).readFile(file), mixedArea));
    const q = new ClickHouseQueries({ url: b.url, database: 'oldc', cluster: 'fm_shards' });
    try {
      expect(await q.topApplications({ limit: 20 })).toEqual(store.analytics.topApplications({ limit: 20 }));
      expect((await q.flowsPage({ filter: { sni: '*.example.com' }, limit: 10_000 })).items.length).toBe(store.flows.offsetPage({ filter: { sni: '*.example.com' }, total: true }).total);
      expect((await q.devicesPage({ limit: 10_000 })).items.filter((d) => d.name).length).toBeGreaterThan(0);
    } finally {
      store.close();
      await q.close();
    }
  });

  it('init on each shard, ingest through one: rows spread over both shards, queries through either see all, once', async () => {
    for (const s of [a, b]) {
      const r = await flowmaster(['clickhouse', 'init', '--clickhouse', s.url, '--clickhouse-cluster', 'fm_shards']);
      expect([r.code, r.stderr]).toEqual([0, '']);
    }
    const { generate } = await genPcap();
    const file = tmpFile('shards.pcap');
    await generate({ out: file, packets: 30_000, flows: 3000, hosts: 100, seed: 5, quiet: true });
    const expected = await engineTotals(file);
    const args = (sensor: string) => ['ingest', '--engine', TEST_ENGINE, '--clickhouse', a.url, '--clickhouse-cluster', 'fm_shards', '--sensor', sensor, '--spool-dir', tmpFile('sp'), '--clickhouse-block-rows', '200', file];
    expect((await flowmaster(args('s1'))).code).toBe(0);
    expect((await flowmaster(args('s1'))).stderr).toMatch(/0 flows sent as sensor s1, \d+ already stored/); // a replay through the Distributed table
    const local = async (s: ClickHouseServer) => Number((await s.query('SELECT count() FROM flowmaster.flows_local')).trim());
    const [na, nb] = [await local(a), await local(b)];
    expect(na).toBeGreaterThan(0);
    expect(nb).toBeGreaterThan(0);
    expect(na + nb).toBe(expected.flows);
    for (const s of [a, b]) expect(await stored(s, 'flowmaster')).toEqual({ ...expected, distinct: expected.flows });
    const q = new ClickHouseQueries({ url: b.url, cluster: 'fm_shards' });
    try {
      expect((await q.timeline({ bucketMs: 86_400_000 })).reduce((n, x) => n + x.flows, 0)).toBe(expected.flows);
      const devs = await q.devicesPage({ sort: 'flows', limit: 10_000 });
      expect(devs.items.reduce((n, d) => n + d.flows, 0)).toBeGreaterThan(expected.flows); // each flow counts for both ends
      expect(new Set(devs.items.map((d) => d.id)).size).toBe(devs.items.length); // a device's partial states from two shards merge into one row
    } finally {
      await q.close();
    }
  });
});

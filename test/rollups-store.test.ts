// The roll-ups a store maintains as it writes equal the roll-ups recomputed
// from its raw flows (rebuildRollups() on a copy), bucket by bucket, across
// partition seals, source removal, retention and a writer killed mid-ingest.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type Store } from '../src/index';
import { rebuildRollups } from '../src/store/rollups';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';

const genPcap = () => import('../scripts/gen-pcap.mjs');
const TABLES = ['rollup_traffic', 'rollup_talkers', 'rollup_conversations', 'rollup_services'];

/**
 * Every roll-up row whose bucket starts at or after `fromMs` (minute rows) / `fromHourMs` (hour rows), in
 * key order; from the start, the ALL rows (res 0) too.
 */
function rollupRows(db: Database.Database, fromMs = -Infinity, fromHourMs = fromMs): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const t of TABLES)
    out[t] = db
      .prepare(`SELECT * FROM ${t} WHERE (res = 60000 AND t >= ?) OR (res = 3600000 AND t >= ?) OR (res = 0 AND ?) ORDER BY 1, 2, 3, 4, 5`)
      .raw()
      .all(Number.isFinite(fromMs) ? fromMs : -(2 ** 53), Number.isFinite(fromHourMs) ? fromHourMs : -(2 ** 53), Number.isFinite(fromMs) ? 0 : 1);
  return out;
}

/** The same database with its roll-ups recomputed from the raw flows. */
function rebuilt(store: Store): Database.Database {
  const copy = tmpFile(`rebuilt-${Math.random().toString(36).slice(2)}.db`);
  store.db.exec(`VACUUM INTO '${copy}'`);
  const db = new Database(copy);
  rebuildRollups(db);
  return db;
}

function expectEqualToRebuilt(store: Store, fromMs?: number, fromHourMs?: number): void {
  const db = rebuilt(store);
  const want = rollupRows(db, fromMs, fromHourMs);
  db.close();
  const got = rollupRows(store.db, fromMs, fromHourMs);
  for (const t of TABLES) {
    expect(got[t].length, t).toBeGreaterThan(0);
    expect(got[t], t).toEqual(want[t]);
  }
}

let a: string;
let b: string;
beforeAll(async () => {
  const { generate } = await genPcap();
  // 2.5 hours and 30 minutes of traffic whose flows span several minutes: their bytes are apportioned
  a = tmpFile('rollups-a.pcap');
  b = tmpFile('rollups-b.pcap');
  await generate({ out: a, packets: 30_000, flows: 400, duration: 9000, concurrency: 60, hosts: 40, mix: 'default', seed: 3, quiet: true });
  await generate({ out: b, packets: 20_000, flows: 300, duration: 1800, concurrency: 40, hosts: 30, mix: 'default', seed: 4, quiet: true });
});

const meter = () => new FlowMeter({ engine: TEST_ENGINE });

describe('roll-ups maintained at ingest', () => {
  it('equal the roll-ups recomputed from the raw flows, across partition seals and a source removal', async () => {
    const store = openStore(tmpFile('ru.db'), { sealRows: 150, batch: { initial: 64, min: 64, max: 64 } });
    const ra = await store.ingest(meter().readFile(a));
    await store.ingest(meter().readFile(b));
    expect(store.partitions.list().filter((p) => p.state === 'sealed').length).toBeGreaterThan(2);
    // flows over several minutes were spread
    const spread = store.db.prepare('SELECT count(*) FROM flows WHERE last_ns / 60000000000 > first_ns / 60000000000').pluck().get() as number;
    expect(spread).toBeGreaterThan(10);
    expectEqualToRebuilt(store);
    // the analytics read them: the total over all time is the flows'
    const total = store.db.prepare('SELECT sum(bytes) b, count(*) n FROM flows').get() as { b: number; n: number };
    const line = store.analytics.timeline({ bucketMs: 3_600_000 });
    expect(line.reduce((s, x) => s + x.bytes, 0)).toBe(total.b);
    expect(line.reduce((s, x) => s + x.flows, 0)).toBe(total.n);
    await store.removeSource(ra.sourceId, 97);
    expectEqualToRebuilt(store);
    store.close();
  }, 60_000);

  it('commits that fail and are retried (a full disk that frees up), between syncs: the roll-ups equal those of the flows stored', async () => {
    let commits = 0;
    const store: Store = openStore(tmpFile('ru-full.db'), {
      batch: { initial: 64, min: 64, max: 64 },
      deviceSyncMs: 60_000, // one booking, at the end: it covers the failed attempts' flows and their retries
      retry: { initialMs: 20, maxDelayMs: 50 },
      afterCommit: () => {
        if (++commits % 3 !== 0 || commits > 9) return;
        store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true })}`);
        setTimeout(() => store.db.pragma('max_page_count = 4294967294'), 100);
      },
    });
    const r = await store.ingest(meter().readFile(a));
    expect(r.retries).toBeGreaterThan(0);
    expect(store.db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(r.flows);
    expectEqualToRebuilt(store);
    // an append between two ingests: the next booking reads it back
    await store.ingest(meter().readFile(b));
    expectEqualToRebuilt(store);
    store.close();
  }, 60_000);

  it('after retention: the buckets the kept flows alone fill are equal; older minute rows went, hour rows stay longer', async () => {
    const store = openStore(tmpFile('ru-ret.db'), { sealRows: 100, batch: { initial: 64, min: 64, max: 64 } });
    await store.ingest(meter().readFile(a));
    const [lo, hi] = store.db.prepare('SELECT min(last_ns), max(last_ns) FROM flows').raw().safeIntegers().get() as [bigint, bigint];
    const cutoffNs = lo + (hi - lo) / 2n;
    const age = 3_600_000;
    const now = Number(cutoffNs / 1_000_000n) + age;
    const report = await store.retain({ flows: age, now });
    expect(report.partitionsDropped).toBeGreaterThan(0);
    expect(report.rollupRowsDeleted).toBeGreaterThan(0);
    const kept = store.db.prepare('SELECT min(last_ns) FROM flows').pluck().safeIntegers().get() as bigint;
    // a bucket after the last dropped flow's end gets nothing from dropped flows
    const dropped = store.db.prepare('SELECT max(hi_ns) FROM partitions').pluck().safeIntegers().get() as bigint;
    const fromMs = Math.ceil(Number(cutoffNs > kept ? cutoffNs : kept) / 60e9) * 60_000;
    expect(dropped).toBeGreaterThan(0n);
    expectEqualToRebuilt(store, fromMs, Math.ceil(fromMs / 3_600_000) * 3_600_000);
    const cutoffHourMs = Math.floor(Number(cutoffNs / 1_000_000n) / 3_600_000) * 3_600_000;
    expect(store.db.prepare('SELECT count(*) FROM rollup_traffic WHERE res = 60000 AND t < ?').pluck().get(cutoffHourMs)).toBe(0);
    expect(store.db.prepare('SELECT count(*) FROM rollup_traffic WHERE res = 3600000').pluck().get()).toBeGreaterThan(0);
    store.close();
  }, 60_000);

  it('a device id is never given again, also after retention deleted the device with the largest id: roll-up rows name one device', async () => {
    const store = openStore(tmpFile('ru-ids.db'));
    await store.ingest(meter().readFile(b));
    const max = store.db.prepare('SELECT max(id) FROM devices').pluck().get() as number;
    await store.retain({ flows: 0, devices: 0, now: Date.now() + 1e12 });
    expect(store.db.prepare('SELECT count(*) FROM devices').pluck().get()).toBe(0);
    await store.ingest(meter().readFile(a));
    expect(store.db.prepare('SELECT min(id) FROM devices').pluck().get()).toBe(max + 1);
    store.close();
  }, 60_000);

  it('migration 11 sums the ALL rows of a version-10 database from its hour rows; a whole-store ranking by bytes reads the first rows of its index', async () => {
    const file = tmpFile('rollups-v10.db');
    const store = openStore(file, { sealRows: 2000 });
    await store.ingest(meter().readFile(a));
    const want = rollupRows(store.db);
    // back to version 10: no ALL rows, no indexes, no mark
    store.db.exec(`DELETE FROM rollup_retained WHERE res = 0; DROP INDEX rollup_talkers_all_bytes; DROP INDEX rollup_conversations_all_bytes;
      ${TABLES.map((t) => `DELETE FROM ${t} WHERE res = 0;`).join(' ')} PRAGMA user_version = 10;`);
    store.close();
    const migrated = openStore(file);
    try {
      expect(migrated.db.pragma('user_version', { simple: true })).toBe(11);
      const got = rollupRows(migrated.db);
      for (const t of TABLES) {
        expect(got[t].filter((r) => r[0] === 0).length, t).toBeGreaterThan(0);
        expect(got[t], t).toEqual(want[t]);
      }
      const plan = (sql: string) => (migrated.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join('\n');
      const talkers = plan('SELECT device, bytes FROM rollup_talkers INDEXED BY rollup_talkers_all_bytes WHERE res = 0 AND t = 0 AND (bytes <> 0 OR packets <> 0 OR flows <> 0) ORDER BY bytes DESC, device LIMIT 10');
      expect(talkers).toMatch(/USING INDEX rollup_talkers_all_bytes/);
      expect(talkers).not.toMatch(/TEMP B-TREE/);
      expect(plan('SELECT a, b FROM rollup_conversations INDEXED BY rollup_conversations_all_bytes WHERE res = 0 AND t = 0 AND (bytes <> 0 OR packets <> 0 OR flows <> 0) ORDER BY bytes DESC, a, b LIMIT 10')).toMatch(/USING INDEX rollup_conversations_all_bytes/);
      expect(migrated.analytics.topTalkers({ limit: 5 })).toEqual(migrated.analytics.topTalkers({ from: 0, to: 9_223_372_036_854, limit: 5 }));
    } finally {
      migrated.close();
    }
  });

  it('a writer killed (SIGKILL) mid-ingest: the roll-ups equal those of the flows it committed', async () => {
    const file = tmpFile('ru-killed.db');
    openStore(file).close();
    const root = path.resolve(__dirname, '..');
    const child = spawn(
      process.execPath,
      ['-e', `const { openStore, FlowMeter } = require('./dist/index.js');
        const s = openStore(process.argv[1], { sealRows: 200, batch: { initial: 64, min: 64, max: 64 } });
        s.ingest(new FlowMeter({ engine: process.argv[3], batchSize: 64 }).readFile(process.argv[2]), { onBatch: () => new Promise((r) => setTimeout(r, 15)) });`,
        file, a, TEST_ENGINE],
      { cwd: root, stdio: 'ignore' },
    );
    for (let n = 0; n < 150; ) {
      await new Promise((r) => setTimeout(r, 50));
      const ro = new Database(file, { readonly: true });
      n = ro.prepare('SELECT count(*) FROM flows').pluck().get() as number;
      ro.close();
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const store = openStore(file);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expectEqualToRebuilt(store);
    store.close();
  }, 60_000);
});

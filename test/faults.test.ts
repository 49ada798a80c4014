/**
 * Faults an unattended ingest must outlive: another connection holding the
 * write lock for seconds (SQLITE_BUSY), a full disk that frees up
 * (SQLITE_FULL, from PRAGMA max_page_count and from a real full tmpfs), a
 * failure that lasts past the retry limit. Every flow read lands exactly
 * once, the device counters equal the sums over the flows, and every
 * failure and retry is counted and reported.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, FlowmasterError, openStore, type FlowRun, type IngestSummary, type StoreEvent, type StoreOptions } from '../src/index';
import { nativeAvailable } from '../src/engine/native';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { notRoot, skipping } from './helpers/skip';
import { wrongDevices } from './helpers/store-checks';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every device by address: counters, times, MAC, services. */
function devicesOf(db: Database.Database): unknown[] {
  return db
    .prepare(`SELECT hex(addr) a, vlan, hex(mac) m, first_seen_ms, last_seen_ms, packets, bytes, flows,
        (SELECT group_concat(service, ',') FROM (SELECT service FROM device_services WHERE device_id = d.id ORDER BY service)) services
      FROM devices d ORDER BY addr, vlan`)
    .all();
}

let cap: string;
/** the devices of `cap` ingested without a fault */
let reference: unknown[];
beforeAll(async () => {
  const { generate } = await genPcap();
  cap = tmpFile('faults.pcap');
  await generate({ out: cap, packets: 60_000, flows: 12_000, hosts: 400, mix: 'full', seed: 31, quiet: true });
  const store = openStore(':memory:');
  await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
  reference = devicesOf(store.db);
  store.close();
});

/** A store recording its events; `metrics()` reads the failure and retry counters. */
function recordingStore(file: string, options: StoreOptions = {}) {
  const events: StoreEvent[] = [];
  const store = openStore(file, { batch: { initial: 512, min: 512, max: 512 }, ...options, log: (e) => events.push(e) });
  const metrics = async () => {
    const m = (await store.metrics.metrics()) as Record<string, unknown>;
    return { failures: m.flowmaster_commit_failures_total as Record<string, number>, retries: m.flowmaster_commit_retries_total as number };
  };
  return { store, events, metrics };
}

/** Each flow read is stored once, the source row agrees, the devices are those of an ingest without a fault. */
function expectEveryFlowOnce(file: string, r: IngestSummary): void {
  expect(r.flows).toBe(r.read.flows);
  const db = new Database(file, { readonly: true });
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
  expect(db.prepare('SELECT count(*) FROM flows WHERE source_id = ?').pluck().get(r.sourceId)).toBe(r.flows);
  expect(db.prepare("SELECT count(DISTINCT flow_id || '/' || segment) FROM flows WHERE source_id = ?").pluck().get(r.sourceId)).toBe(r.flows);
  expect(db.prepare('SELECT flows, status, error FROM sources WHERE id = ?').get(r.sourceId)).toEqual({ flows: r.flows, status: 'complete', error: null });
  expect(wrongDevices(db)).toEqual([]);
  expect(db.prepare('SELECT count(*) FROM devices').pluck().get()).toBe(r.devices);
  expect(devicesOf(db)).toEqual(reference);
  db.close();
}

/** Another process that holds the write lock (BEGIN IMMEDIATE) for `ms`; resolves once it holds it, with its exit. */
async function lockElsewhere(file: string, ms: number): Promise<{ done: Promise<number | null> }> {
  const child = spawn(process.execPath, [
    '-e',
    `const db = new (require('better-sqlite3'))(process.argv[1]); db.exec('BEGIN IMMEDIATE'); console.log('locked');
     setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));`,
    file,
    String(ms),
  ], { cwd: path.resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { done: new Promise((resolve) => child.on('exit', resolve)) };
}

describe('another connection holds the write lock for 3 s during an ingest (SQLITE_BUSY)', () => {
  it('in another process: the ingest waits, retries and counts, the file read pauses; every flow lands once', async () => {
    const file = tmpFile('busy.db');
    const { store, events, metrics } = recordingStore(file);
    const run = new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(cap);
    let batches = 0;
    let lock: { done: Promise<number | null> } | undefined;
    let maxRunPending = 0;
    const probe = setInterval(() => (maxRunPending = Math.max(maxRunPending, run.pending)), 5);
    const t0 = performance.now();
    const r = await store.ingest(run, {
      onBatch: async () => {
        if (++batches === 10) lock = await lockElsewhere(file, 3000);
      },
    });
    clearInterval(probe);
    expect(lock).toBeDefined();
    expect(await lock!.done).toBe(0);
    expect(performance.now() - t0).toBeGreaterThan(2500); // it waited for the lock
    const m = await metrics();
    expect(m.failures.ERR_DB_BUSY).toBeGreaterThanOrEqual(1);
    expect(m.retries).toBeGreaterThanOrEqual(1);
    expect(r.retries).toBe(m.retries);
    expect(events.filter((e) => e.event === 'write_failed').every((e) => e.code === 'ERR_DB_BUSY' && e.level === 'warn' && e.path === file)).toBe(true);
    expect(events.some((e) => e.event === 'write_recovered')).toBe(true);
    expect(maxRunPending).toBeLessThanOrEqual(4); // the reader waited, holding at most its in-flight batches
    store.close();
    expectEveryFlowOnce(file, r);
  }, 60_000);

  it('from another connection of this process: the event loop runs between attempts, so its timer can commit', async () => {
    const file = tmpFile('busy-here.db');
    const { store, metrics } = recordingStore(file);
    const other = new Database(file);
    let batches = 0;
    let released = false;
    const r = await store.ingest(new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(cap), {
      onBatch: () => {
        if (++batches !== 10) return;
        other.exec('BEGIN IMMEDIATE');
        setTimeout(() => (other.exec('COMMIT'), (released = true)), 3000);
      },
    });
    expect(released).toBe(true);
    other.close();
    expect((await metrics()).retries).toBeGreaterThanOrEqual(1);
    store.close();
    expectEveryFlowOnce(file, r);
  }, 60_000);
});

/** A run that hands out its batches every `ms`: a live capture's pace, so the maxDelayMs timer makes the commits. */
function trickle(real: FlowRun, ms: number): FlowRun {
  return {
    path: real.path, kind: real.kind, engine: real.engine, summary: real.summary,
    async *[Symbol.asyncIterator]() {
      for await (const batch of real) {
        await sleep(ms);
        yield batch;
      }
    },
  } as unknown as FlowRun;
}

describe('a full disk during an ingest (SQLITE_FULL) that frees up', () => {
  for (const live of [false, true]) {
    it(`PRAGMA max_page_count reached, raised 1.5 s later (${live ? 'live-ish: timer commits' : 'file'}): every flow lands once, retries counted`, async () => {
      const file = tmpFile('full-then-free.db');
      let commits = 0;
      const { store, events, metrics } = recordingStore(file, {
        batch: { initial: 512, min: 512, max: 512, maxDelayMs: 50 },
        afterCommit: () => {
          if (++commits !== 3) return;
          store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true })}`);
          setTimeout(() => store.db.pragma('max_page_count = 4294967294'), 1500);
        },
      });
      const run = new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(cap);
      const r = await store.ingest(live ? trickle(run, 5) : run);
      const m = await metrics();
      expect(m.failures.ERR_DB_FULL).toBeGreaterThanOrEqual(1);
      expect(m.retries).toBeGreaterThanOrEqual(1);
      expect(events.filter((e) => e.event === 'write_failed').map((e) => e.code)).toContain('ERR_DB_FULL');
      store.close();
      expectEveryFlowOnce(file, r);
    }, 60_000);
  }

  it('past the retry limit: the coded error, everything before it committed, the summary and the source row true', async () => {
    const file = tmpFile('full-for-good.db');
    let commits = 0;
    const { store, events, metrics } = recordingStore(file, {
      retry: { maxMs: 1200, initialMs: 50, maxDelayMs: 200 },
      afterCommit: () => {
        if (++commits === 3) store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true })}`);
      },
    });
    const t0 = performance.now();
    const e = (await store.ingest(new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(cap)).catch((x: unknown) => x)) as FlowmasterError & {
      ingest: IngestSummary;
    };
    expect(performance.now() - t0).toBeGreaterThan(1000);
    expect(e).toBeInstanceOf(FlowmasterError);
    expect([e.code, e.path]).toEqual(['ERR_DB_FULL', file]);
    expect(e.message).toMatch(/gave up after \d+ attempts in 1\.\d s$/);
    expect(e.ingest).toMatchObject({ flows: 3 * 512, batches: 3, status: 'failed' });
    expect(e.ingest.retries).toBeGreaterThanOrEqual(3);
    expect((await metrics()).failures.ERR_DB_FULL).toBe(e.ingest.retries + 1);
    expect(events.at(-1)).toMatchObject({ level: 'error', event: 'write_gave_up', code: 'ERR_DB_FULL' });
    store.db.pragma('max_page_count = 4294967294'); // the disk has room again: the source row takes its end
    store.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(3 * 512);
    expect(db.prepare('SELECT flows, status FROM sources').get()).toEqual({ flows: 3 * 512, status: 'failed' });
    db.close();
    const reopened = openStore(file); // replays what was committed but not yet counted
    expect(wrongDevices(reopened.db)).toEqual([]);
    reopened.close();
  }, 60_000);
});

describe.skipIf(skipping(notRoot, 'a real full disk (tmpfs)'))('a real full disk: a tmpfs filled by another file, then freed (root)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) {
      spawnSync('umount', [d]);
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('commits fail with SQLITE_FULL while the filler is there; once it is deleted every flow lands once, retries counted', async (ctx) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-full-'));
    dirs.push(dir);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir], { encoding: 'utf8' });
    if (skipping(mounted.status !== 0 && `mount: ${mounted.stderr.trim()}`, 'tmpfs')) return ctx.skip();
    const file = path.join(dir, 'flows.db');
    const filler = path.join(dir, 'filler');
    let commits = 0;
    let filled = 0;
    const { store, events, metrics } = recordingStore(file, {
      batch: { initial: 512, min: 512, max: 512, maxDelayMs: 50 },
      afterCommit: () => {
        if (++commits !== 4) return;
        filled = fill(filler);
        setTimeout(() => fs.rmSync(filler), 2000);
      },
    });
    const r = await store.ingest(trickle(new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(cap), 2));
    expect(filled).toBeGreaterThan(0);
    expect(fs.existsSync(filler)).toBe(false);
    const m = await metrics();
    const codes = events.filter((e) => e.event === 'write_failed').map((e) => e.code);
    expect(codes.length, JSON.stringify(m)).toBeGreaterThan(0);
    expect(codes.every((c) => c === 'ERR_DB_FULL' || c === 'ERR_DB_IO')).toBe(true); // IO: SQLite could not grow its -shm
    expect(m.retries).toBe(codes.length);
    store.close();
    expectEveryFlowOnce(file, r);
  }, 60_000);
});

/** Writes 1 MiB blocks into `file` until the file system is full; returns the bytes written. */
function fill(file: string): number {
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(1 << 20, 1);
  let written = 0;
  try {
    for (;;) written += fs.writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  return written;
}

const captureWhyNot = notRoot ?? (!nativeAvailable() ? 'the native addon is not built' : process.platform !== 'linux' ? 'live capture runs on Linux' : undefined);

describe.skipIf(skipping(captureWhyNot, 'a live capture beside a lock holder'))('a live capture while another process holds the write lock (root)', () => {
  it('capture on lo: flows sent during a 3 s lock are committed after it, once each', async () => {
    const file = tmpFile('capture-busy.db');
    const { store, metrics } = recordingStore(file, { batch: { maxDelayMs: 100 } });
    const port = 47000 + (process.pid % 1000);
    const run = new FlowMeter({ engine: 'native', idleTimeout: 0.3 }).capture({ interface: 'lo', filter: `udp dst port ${port}`, timeoutMs: 20 });
    const ingest = store.ingest(run);
    const server = dgram.createSocket('udp4');
    await new Promise<void>((r) => server.bind(port, '127.0.0.1', r));
    const send = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        const s = dgram.createSocket('udp4'); // one flow each: its own source port
        await new Promise<void>((r) => s.bind(port + 1 + i, '127.0.0.1', r));
        await new Promise((r) => s.send(Buffer.alloc(16), port, '127.0.0.1', r));
        s.close();
      }
    };
    await send(0, 20);
    await sleep(800); // idle flows end and are committed
    const lock = await lockElsewhere(file, 3000);
    await send(20, 30);
    await lock.done;
    await sleep(800);
    await run.stop();
    const r = await ingest;
    server.close();
    expect((await metrics()).retries).toBeGreaterThanOrEqual(1);
    expect(r.read.capture?.flowsDropped ?? 0).toBe(0);
    store.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(r.flows);
    expect(db.prepare('SELECT count(DISTINCT src_port) FROM flows WHERE dst_port = ?').pluck().get(port)).toBe(50);
    db.close();
  }, 30_000);
});

/**
 * Several processes on one database: retention in another process between
 * an ingest's batches, two writers at once, several processes creating a
 * database at once. The other processes run the built package (dist/), as
 * users' cron jobs and shells do.
 */
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type FlowmasterError, type IngestSummary } from '../src/index';
import { nativeAvailable } from '../src/engine/native';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { notRoot, skipping } from './helpers/skip';
import { wrongDevices } from './helpers/store-checks';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const dist = path.join(root, 'dist', 'index.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Exit {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` (a script file or -e), collecting its output. */
function node(args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ pid: child.pid!, code, stdout, stderr }));
  });
}

/** `flowmaster retention` in another process; returns the flows it deleted. */
async function retentionElsewhere(db: string, args: string[]): Promise<number> {
  const r = await node([cli, 'retention', '--db', db, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return Number(/: (\d+) flows \(/.exec(r.stdout)![1]);
}

function checkDb(file: string): Database.Database {
  const db = new Database(file, { readonly: true });
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
  return db;
}

let shared: string;
let other: string;
let big: [string, string];
beforeAll(async () => {
  const { generate } = await genPcap();
  shared = tmpFile('shared-hosts.pcap');
  other = tmpFile('other-hosts.pcap');
  // hosts shared between flows (and between the two files), ARP among them: devices come back batch after batch
  await generate({ out: shared, packets: 40_000, flows: 8000, hosts: 150, mix: 'full,l2=10', seed: 11, quiet: true });
  await generate({ out: other, packets: 40_000, flows: 8000, hosts: 150, mix: 'full,l2=10', seed: 12, quiet: true });
  // two writers: long enough to overlap, and the same client and server addresses in both
  big = [tmpFile('big-a.pcap'), tmpFile('big-b.pcap')];
  for (const [i, out] of big.entries()) await generate({ out, packets: 200_000, flows: 50_000, mix: 'default', seed: 21 + i, quiet: true });
});

describe('retention in another process while an ingest runs', () => {
  const meter = () => new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 });
  const cases: [string, string[], boolean][] = [
    ['flows, devices, row by row (--flows 0s --devices 0s --exact)', ['--flows', '0s', '--devices', '0s', '--exact'], true],
    ['whole partitions (--flows 0s)', ['--flows', '0s'], false],
    ['devices no flow references (--devices 0s)', ['--devices', '0s'], true],
  ];
  for (const [what, args, exact] of cases) {
    it(`between batches: ${what}; the ingest goes on, every later flow lands`, async () => {
      const file = tmpFile('beside.db');
      const store = openStore(file, { batch: { initial: 1024, min: 1024, max: 1024 } });
      let seen = 0;
      let deleted = 0;
      const r = await store.ingest(meter().readFile(shared), {
        onBatch: async () => {
          if (++seen % 8 === 0 && seen <= 24) deleted += await retentionElsewhere(file, args);
        },
      });
      expect(seen).toBeGreaterThan(24);
      expect(r.flows).toBe(r.read.flows);
      store.close();
      const db = checkDb(file);
      expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(r.flows - deleted);
      expect(wrongDevices(db, !exact)).toEqual([]);
      db.close();
    }, 60_000);
  }

  it('between two ingests of one open store: a device deleted by `--devices` that comes back', async () => {
    const file = tmpFile('comeback.db');
    const store = openStore(file);
    await store.ingest(meter().readFile(shared));
    await retentionElsewhere(file, ['--flows', '0s']); // the nightly flows age...
    await retentionElsewhere(file, ['--devices', '0s']); // ...then the devices age: nothing references them any more
    const db = checkDb(file);
    expect(db.prepare('SELECT count(*) FROM devices').pluck().get()).toBe(0);
    const r = await store.ingest(meter().readFile(other)); // the same hosts again
    expect(r.flows).toBe(r.read.flows);
    expect(r.devices).toBe(db.prepare('SELECT count(*) FROM devices').pluck().get());
    store.close();
    expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    expect(wrongDevices(db)).toEqual([]);
    db.close();
  }, 60_000);
});

const captureWhyNot = notRoot ?? (!nativeAvailable() ? 'the native addon is not built' : process.platform !== 'linux' ? 'live capture runs on Linux' : undefined);

describe.skipIf(skipping(captureWhyNot, 'flowmaster capture beside retention'))('flowmaster capture while retention runs in another process (root)', () => {
  it('capture -i lo --db: retention deletes every flow and device, the capture goes on storing the next flows', async () => {
    const file = tmpFile('capture.db');
    const port = 46000 + (process.pid % 1000);
    const capture = spawn(process.execPath, [cli, 'capture', '-i', 'lo', '--db', file, '-f', `udp dst port ${port}`, '--idle-timeout', '1'], { cwd: root });
    let stderr = '';
    capture.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => capture.on('exit', resolve));
    for (let i = 0; i < 200 && !stderr.includes('stop with Ctrl-C'); i++) await sleep(25);
    const server = dgram.createSocket('udp4');
    await new Promise<void>((r) => server.bind(port, '127.0.0.1', r));
    const stored = async (n: number) => {
      for (let i = 0; i < 200; i++, await sleep(50)) {
        if (!fs.existsSync(file)) continue;
        const db = new Database(file, { readonly: true });
        const rows = db.prepare('SELECT count(*) FROM flows').pluck().get();
        db.close();
        if (rows === n) return;
      }
      throw new Error(`never ${n} flows stored; capture stderr: ${stderr}`);
    };
    const send = async (from: number) => {
      for (let i = from; i < from + 10; i++) {
        const s = dgram.createSocket('udp4'); // one flow each: its own source port
        await new Promise<void>((r) => s.bind(port + 1 + i, '127.0.0.1', r));
        await new Promise((r) => s.send(Buffer.alloc(16), port, '127.0.0.1', r));
        s.close();
      }
    };
    await send(0);
    await stored(10);
    expect(await retentionElsewhere(file, ['--flows', '0s', '--devices', '0s', '--exact'])).toBe(10);
    await send(10); // 127.0.0.1 again: its device was deleted
    await stored(10);
    capture.kill('SIGINT');
    expect(await exited, stderr).toBe(0);
    server.close();
    const db = checkDb(file);
    expect(db.prepare('SELECT min(src_port) FROM flows').pluck().get()).toBe(port + 11);
    expect(wrongDevices(db)).toEqual([]);
    db.close();
  }, 60_000);
});

/** A library ingest in another process: prints its summary as JSON, or the error's code and message. */
const INGEST = `
const { openStore, FlowMeter } = require(process.argv[1]);
const [db, file, engine, wait] = process.argv.slice(2);
const store = openStore(db, { waitForWriterMs: Number(wait), batch: { initial: 512, min: 512, max: 512 } });
store.ingest(new FlowMeter({ engine }).readFile(file)).then(
  (s) => { store.close(); console.log(JSON.stringify({ ok: true, flows: s.flows })); },
  (e) => { store.close(); console.log(JSON.stringify({ ok: false, code: e.code, message: e.message })); process.exitCode = 1; });
`;

describe('two writers on one database', () => {
  /** Two ingests into one database, the second started once the first holds the writer lease. */
  async function both(waitMs: number): Promise<{ results: { ok: boolean; flows?: number; code?: string; message?: string }[]; file: string }> {
    const file = tmpFile('two.db');
    openStore(file).close(); // created first: the race here is between writers, not creators
    const first = node(['-e', INGEST, dist, file, big[0], TEST_ENGINE, String(waitMs)]);
    const db = new Database(file, { readonly: true });
    while (!db.prepare('SELECT count(*) FROM writer_lease').pluck().get()) await new Promise((r) => setTimeout(r, 20));
    db.close();
    const runs = await Promise.all([first, node(['-e', INGEST, dist, file, big[1], TEST_ENGINE, String(waitMs)])]);
    const results = runs.map((r) => {
      expect(r.stdout, r.stderr).toMatch(/^\{/);
      return JSON.parse(r.stdout);
    });
    return { results, file };
  }

  it('the second is refused with ERR_DB_LOCKED naming the holder; the first completes, its counters equal the sums over its flows', async () => {
    const { results, file } = await both(0);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    const refused = results[1];
    expect(refused.code).toBe('ERR_DB_LOCKED');
    expect(refused.message).toContain(file);
    expect(refused.message).toMatch(new RegExp(`is being written by pid \\d+ on host ${os.hostname()} \\(.+, since \\d{4}-`));
    const db = checkDb(file);
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(results[0].flows);
    expect(db.prepare('SELECT count(*) FROM writer_lease').pluck().get()).toBe(0); // released
    expect(wrongDevices(db)).toEqual([]);
    db.close();
  }, 60_000);

  it('with waitForWriterMs the second waits its turn: both complete, counters equal the sums over the flows', async () => {
    const { results, file } = await both(60_000);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const db = checkDb(file);
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(results[0].flows! + results[1].flows!);
    expect(db.prepare("SELECT count(*) FROM sources WHERE status = 'complete'").pluck().get()).toBe(2);
    expect(wrongDevices(db)).toEqual([]);
    db.close();
  }, 60_000);

  it('two CLI ingests started together: each exits 0, or 1 with ERR_DB_LOCKED; counters equal the sums over the flows', async () => {
    const file = tmpFile('two-cli.db');
    openStore(file).close();
    const runs = await Promise.all(big.map((cap) => node([cli, 'ingest', '--no-progress', '--engine', TEST_ENGINE, '--db', file, cap])));
    for (const r of runs) {
      if (r.code === 0) continue;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is being written by pid \d+ on host .* \(flowmaster ingest .*\[ERR_DB_LOCKED\]/);
    }
    expect(runs.some((r) => r.code === 0)).toBe(true);
    const db = checkDb(file);
    expect(wrongDevices(db)).toEqual([]);
    db.close();
  }, 60_000);

  it('two ingests of one store at once (the CLI with --workers) share its lease; counters equal the sums over the flows', async () => {
    const file = tmpFile('shared-lease.db');
    const store = openStore(file, { batch: { initial: 512, min: 512, max: 512 } });
    const [x, y] = await Promise.all([shared, other].map((f) => store.ingest(new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(f))));
    expect(store.currentWriter()).toBeUndefined();
    expect(store.db.prepare('SELECT count(*) FROM writer_lease').pluck().get()).toBe(0);
    store.close();
    const db = checkDb(file);
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(x.flows + y.flows);
    expect(db.prepare("SELECT count(*) FROM sources WHERE status = 'complete'").pluck().get()).toBe(2);
    expect(wrongDevices(db)).toEqual([]);
    db.close();
  }, 60_000);

  it('a lease left by a killed writer is taken over; one whose heartbeat is too old is too; a live one is not', async () => {
    const file = tmpFile('lease.db');
    const store = openStore(file);
    const dead = await node(['-e', 'process.exit(0)']); // a pid that has gone
    expect(dead.code).toBe(0);
    const setLease = (pid: number, host: string, heartbeatMs: number) => {
      store.db.prepare('DELETE FROM writer_lease').run();
      store.db
        .prepare("INSERT INTO writer_lease (id, token, pid, host, command, started_ms, heartbeat_ms) VALUES (1, 'x', ?, ?, 'flowmaster capture -i eth0', 0, ?)")
        .run(pid, host, heartbeatMs);
    };
    const ingest = () => store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(shared));
    // the pid of the test runner's parent is alive; the child's has gone
    setLease(dead.pid, os.hostname(), Date.now());
    await expect(ingest()).resolves.toMatchObject({ status: 'complete' });
    setLease(process.ppid, 'elsewhere', Date.now() - 3_600_000);
    await expect(ingest()).resolves.toMatchObject({ status: 'complete' });
    setLease(process.ppid, os.hostname(), Date.now());
    const e = (await ingest().catch((x: unknown) => x)) as FlowmasterError & { ingest?: IngestSummary };
    expect(e.code).toBe('ERR_DB_LOCKED');
    expect(e.message).toContain(`pid ${process.ppid} on host ${os.hostname()} (flowmaster capture -i eth0, since 1970-01-01T00:00:00.000Z`);
    store.db.prepare('DELETE FROM writer_lease').run();
    store.close();
  }, 60_000);
});

describe('a writer whose lease was taken over', () => {
  it('stops at its next commit with ERR_DB_LOCKED, everything it committed intact; the new writer counts its flows', async () => {
    const file = tmpFile('taken.db');
    const a = openStore(file, { batch: { initial: 512, min: 512, max: 512 } });
    const b = openStore(file);
    const other = new Database(file);
    let batches = 0;
    const e = (await a
      .ingest(new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 }).readFile(shared), {
        onBatch: async () => {
          if (++batches !== 12) return;
          // as if its heartbeat had stopped, on another host: stale
          other.prepare("UPDATE writer_lease SET host = 'elsewhere', heartbeat_ms = 0").run();
          await b.acquireWriter();
          expect(b.currentWriter()).toBeUndefined(); // b holds it
        },
      })
      .catch((x: unknown) => x)) as FlowmasterError & { ingest: IngestSummary };
    expect(e.code).toBe('ERR_DB_LOCKED');
    expect(e.message).toMatch(/lease was taken over by pid \d+ on host /);
    expect(e.ingest.flows).toBeGreaterThan(0);
    expect(other.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(e.ingest.flows);
    const r = await b.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(shared));
    b.releaseWriter();
    a.close();
    b.close();
    expect(other.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    expect(other.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(e.ingest.flows + r.flows);
    expect(wrongDevices(other)).toEqual([]);
    other.close();
  }, 60_000);
});

describe('several processes creating one database at once', () => {
  const OPEN = `
const { openStore } = require(process.argv[1]);
const at = Number(process.argv[3]);
while (Date.now() < at); // start together
try { openStore(process.argv[2]).close(); console.log('ok'); } catch (e) { console.log(e.code + ' ' + e.message); process.exitCode = 1; }
`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-create-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('30 rounds of 3 processes opening a fresh path: every open succeeds, one schema', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 30; round++) {
      const file = path.join(dir, `fresh-${round}.db`);
      const at = String(Date.now() + 400);
      const runs = await Promise.all([0, 1, 2].map(() => node(['-e', OPEN, dist, file, at])));
      for (const r of runs) if (r.code !== 0) failures.push(`round ${round}: ${r.stdout.trim()} ${r.stderr.trim()}`);
      const db = new Database(file, { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'sources'").pluck().get()).toBe(1);
      db.close();
    }
    expect(failures).toEqual([]);
  }, 180_000);
});

/**
 * Database failures: every one (open, query, ingest commit, retention) is a
 * FlowmasterError with a stable code and the database path, one line on the
 * CLI with exit code 1; ingest summaries and source rows stay true after a
 * failed commit; read-only places can still be queried; commands that only
 * read or maintain a database never create one.
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, FlowmasterError, openStore, type FlowRun, type IngestSummary, type Store } from '../src/index';
import { dbError } from '../src/store/sqlite';
import { tmpFile } from './helpers/capture';
import { skipping } from './helpers/skip';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const isRoot = process.getuid?.() === 0;

const dirs: string[] = [];
/** A fresh directory anyone may enter (the non-root runs below use it); removed after the file's tests. */
function openDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flowmaster-${name}-`));
  fs.chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

let capture: string;
let bigCapture: string;
beforeAll(async () => {
  const { generate } = await genPcap();
  const dir = openDir('captures');
  capture = path.join(dir, 'small.pcap');
  bigCapture = path.join(dir, 'big.pcap');
  await generate({ out: capture, packets: 4000, flows: 300, hosts: 50, mix: 'default', seed: 1, quiet: true });
  await generate({ out: bigCapture, packets: 60_000, flows: 20_000, mix: 'simple', seed: 2, quiet: true });
  fs.chmodSync(capture, 0o644);
  fs.chmodSync(bigCapture, 0o644);
});

/** A database with flows and devices, closed (so its WAL is checkpointed and removed). */
async function filledDb(dir = openDir('db'), name = 'flows.db'): Promise<string> {
  const file = path.join(dir, name);
  const store = openStore(file);
  await store.ingest(new FlowMeter({ engine: 'ts' }).readFile(capture));
  store.close();
  fs.chmodSync(file, 0o644);
  return file;
}

function expectDbError(fn: () => unknown, code: string, file: string): FlowmasterError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, `${code} expected`).toBeInstanceOf(FlowmasterError);
  const e = error as FlowmasterError;
  expect({ code: e.code, path: e.path }).toEqual({ code, path: file });
  expect(e.message).toContain(file);
  expect(e.message).not.toContain('\n');
  return e;
}

const count = (file: string, sql: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
};

describe('SQLite failures as coded errors', () => {
  it('every SQLite result code class maps to one code, the path and what was being done in the message', () => {
    const cases: [string, string][] = [
      ['SQLITE_NOTADB', 'ERR_DB_OPEN'], ['SQLITE_CANTOPEN', 'ERR_DB_OPEN'], ['SQLITE_CANTOPEN_ISDIR', 'ERR_DB_OPEN'],
      ['SQLITE_READONLY', 'ERR_DB_READONLY'], ['SQLITE_READONLY_DIRECTORY', 'ERR_DB_READONLY'], ['SQLITE_READONLY_DBMOVED', 'ERR_DB_READONLY'],
      ['SQLITE_PERM', 'ERR_DB_READONLY'], ['SQLITE_FULL', 'ERR_DB_FULL'], ['SQLITE_BUSY', 'ERR_DB_BUSY'], ['SQLITE_BUSY_SNAPSHOT', 'ERR_DB_BUSY'],
      ['SQLITE_LOCKED', 'ERR_DB_BUSY'], ['SQLITE_CORRUPT', 'ERR_DB_CORRUPT'], ['SQLITE_CORRUPT_INDEX', 'ERR_DB_CORRUPT'],
      ['SQLITE_IOERR', 'ERR_DB_IO'], ['SQLITE_IOERR_WRITE', 'ERR_DB_IO'], ['SQLITE_IOERR_SHORT_READ', 'ERR_DB_IO'], ['SQLITE_NOMEM', 'ERR_NO_MEMORY'],
      ['SQLITE_ERROR', 'ERR_DB_IO'], ['SQLITE_SCHEMA', 'ERR_DB_IO'],
    ];
    for (const [sqlite, code] of cases) {
      const e = dbError(new Database.SqliteError('what SQLite said', sqlite), '/x/flows.db', 'doing it') as FlowmasterError;
      expect([e.code, e.path, e.message], sqlite).toEqual([code, '/x/flows.db', `/x/flows.db: doing it: what SQLite said (${sqlite})`]);
    }
    const other = new RangeError('not SQLite');
    expect(dbError(other, 'x', 'y')).toBe(other);
  });

  it('opening: not a database, a directory, a missing directory, a foreign or empty database where one must exist', () => {
    const dir = openDir('open');
    const text = path.join(dir, 'notes.db');
    fs.writeFileSync(text, 'these are my notes, not a database\n'.repeat(200));
    for (const options of [{}, { readonly: true }, { create: false }]) expectDbError(() => openStore(text, options), 'ERR_DB_OPEN', text);
    for (const options of [{}, { readonly: true }, { create: false }]) expectDbError(() => openStore(dir, options), 'ERR_DB_OPEN', dir);
    const nowhere = path.join(dir, 'no', 'such', 'dir.db');
    expectDbError(() => openStore(nowhere), 'ERR_DB_OPEN', nowhere);
    const empty = path.join(dir, 'empty.db');
    fs.writeFileSync(empty, '');
    const foreign = path.join(dir, 'foreign.db');
    const recipes = new Database(foreign);
    recipes.exec('CREATE TABLE recipes (name TEXT)');
    recipes.close();
    for (const file of [empty, foreign]) {
      for (const options of [{ readonly: true }, { create: false }]) expect(expectDbError(() => openStore(file, options), 'ERR_DB_OPEN', file).message).toMatch(/not a flowmaster database/);
    }
    expect(count(foreign, "SELECT count(*) FROM sqlite_master WHERE name = 'flows'")).toBe(0); // left as it was
  });

  it('a missing database is ERR_DB_NOT_FOUND where it must exist (readonly, create: false), and nothing is created', () => {
    const dir = openDir('missing');
    const file = path.join(dir, 'typo.db');
    for (const options of [{ readonly: true }, { create: false }, { create: false, readonly: true }]) expectDbError(() => openStore(file, options), 'ERR_DB_NOT_FOUND', file);
    expect(fs.readdirSync(dir)).toEqual([]);
    openStore(file).close(); // the default creates it
    expect(fs.existsSync(file)).toBe(true);
    openStore(file, { create: false }).close(); // and then it exists
  });

  it('a read-only connection: ingest, appendFlows and retain are ERR_DB_READONLY with the path', async () => {
    const file = await filledDb();
    const store = openStore(file);
    store.db.pragma('query_only = 1'); // SQLite refuses every write, as on a read-only file (root ignores file modes)
    await expect(store.ingest(new FlowMeter({ engine: 'ts' }).readFile(capture))).rejects.toThrowError(expect.objectContaining({ code: 'ERR_DB_READONLY', path: file }));
    expectDbError(() => store.appendFlows([{ source_id: 1, last_ns: 1n }]), 'ERR_DB_READONLY', file);
    await expect(store.retain({ flows: 0 })).rejects.toThrowError(expect.objectContaining({ code: 'ERR_DB_READONLY', path: file }));
    store.db.pragma('query_only = 0');
    store.close();
  });

  it('a database another connection is writing: readers go on, writes are ERR_DB_BUSY (without retries)', async () => {
    const file = await filledDb();
    const store = openStore(file, { retry: { maxMs: 0 } });
    store.db.pragma('busy_timeout = 50'); // instead of better-sqlite3's 5 s
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    expect(store.flows.page({ limit: 1 }).items.length).toBe(1); // WAL: readers are not blocked
    await expect(store.ingest(new FlowMeter({ engine: 'ts' }).readFile(capture))).rejects.toThrowError(expect.objectContaining({ code: 'ERR_DB_BUSY', path: file }));
    await expect(store.retain({ flows: 0 })).rejects.toThrowError(expect.objectContaining({ code: 'ERR_DB_BUSY', path: file }));
    expectDbError(() => store.appendFlows([{ source_id: 1, last_ns: 1n }]), 'ERR_DB_BUSY', file);
    other.exec('ROLLBACK');
    other.close();
    store.close();
  });

  it('a corrupt database: every query and retention is ERR_DB_CORRUPT with the path', async () => {
    const file = await filledDb();
    const db = new Database(file);
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db
      .prepare("SELECT pageno FROM dbstat WHERE name LIKE 'flows_p%' OR name LIKE 'rollup_%' OR name LIKE 'devices%' OR name LIKE 'sqlite_autoindex_devices%'")
      .pluck()
      .all() as number[];
    db.close();
    expect(pages.length).toBeGreaterThan(2);
    const fd = fs.openSync(file, 'r+');
    for (const p of pages) fs.writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (p - 1) * pageSize);
    fs.closeSync(fd);
    const store = openStore(file, { readonly: true });
    const queries: [string, () => unknown][] = [
      ['flows.page', () => store.flows.page({ filter: { port: 80 } })],
      ['flows.offsetPage', () => store.flows.offsetPage({ sort: 'bytes', total: true })],
      ['devices.page', () => store.devices.page({ filter: { host: '10.0.0.0/8' } })],
      ['devices.count', () => store.devices.count()],
      ['topTalkers', () => store.analytics.topTalkers()],
      ['topConversations', () => store.analytics.topConversations()],
      ['topServices', () => store.analytics.topServices()],
      ['timeline', () => store.analytics.timeline({ bucketMs: 60_000 })],
    ];
    for (const [what, fn] of queries) expect(expectDbError(fn, 'ERR_DB_CORRUPT', file).message, what).toMatch(/malformed/);
    store.close();
    const writable = openStore(file);
    await expect(writable.retain({ flows: 0, devices: 0 })).rejects.toThrowError(expect.objectContaining({ code: 'ERR_DB_CORRUPT', path: file }));
    writable.db.close();
  });
});

describe('a full disk (PRAGMA max_page_count) during an ingest, without retries', () => {
  /** The store fills up after `okCommits` commits; returns what the ingest threw. */
  async function fillUp(store: Store, run: FlowRun, okCommits: number): Promise<FlowmasterError & { ingest: IngestSummary }> {
    let error: unknown;
    try {
      await store.ingest(run);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlowmasterError);
    const e = error as FlowmasterError & { ingest: IngestSummary };
    expect([e.code, e.path]).toEqual(['ERR_DB_FULL', store.path]);
    expect(e.message).toContain(store.path);
    expect(e.ingest.batches).toBe(okCommits);
    return e;
  }

  function checkTruth(file: string, e: { ingest: IngestSummary }): void {
    const committed = count(file, 'SELECT count(*) FROM flows');
    expect(committed).toBeGreaterThan(0);
    expect(e.ingest.flows).toBe(committed);
    const db = new Database(file, { readonly: true });
    const source = db.prepare('SELECT flows, ended_ms, error FROM sources WHERE id = ?').get(e.ingest.sourceId) as { flows: number; ended_ms: number | null; error: string | null };
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    expect(source.flows).toBe(committed);
    expect(source.ended_ms).not.toBeNull();
    expect(source.error).toMatch(/^ERR_DB_FULL: .*SQLITE_FULL/);
    // the next writable open replays the committed flows into their devices
    const store = openStore(file);
    expect(store.db.prepare('SELECT sum(flows) FROM devices').pluck().get()).toBe(2 * committed);
    store.close();
  }

  it('the error is ERR_DB_FULL with the summary of the flows actually committed; the source row is ended with the error', async () => {
    const file = tmpFile('full.db');
    let commits = 0;
    const store: Store = openStore(file, {
      retry: { maxMs: 0 },
      batch: { initial: 2048, min: 2048, max: 2048 },
      afterCommit: () => {
        if (++commits === 2) store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true })}`); // the disk is full from here
      },
    });
    const e = await fillUp(store, new FlowMeter({ engine: 'ts' }).readFile(bigCapture), 2);
    expect(e.ingest.flows).toBe(4096);
    expect(e.ingest.read.packets).toBeGreaterThan(0);
    store.close();
    checkTruth(file, e);
  });

  it('also when the commit that fails is the one a trickling source gets from the timer (maxDelayMs)', async () => {
    const file = tmpFile('full-timer.db');
    let commits = 0;
    const store: Store = openStore(file, {
      retry: { maxMs: 0 },
      batch: { initial: 65536, min: 65536, max: 65536, maxDelayMs: 100 }, // batches come every 60 ms: only the timer commits
      afterCommit: () => {
        if (++commits === 1) store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true })}`);
      },
    });
    const real = new FlowMeter({ engine: 'ts', batchSize: 512 }).readFile(bigCapture);
    const trickle = {
      path: real.path, kind: real.kind, engine: real.engine, summary: real.summary,
      async *[Symbol.asyncIterator]() {
        for await (const batch of real) {
          await new Promise((r) => setTimeout(r, 60)); // slower than maxDelayMs: the timer commits
          yield batch;
        }
      },
    } as unknown as FlowRun;
    const e = await fillUp(store, trickle, 1);
    store.close();
    checkTruth(file, e);
  });
});

/** Runs the CLI, as another user if given (setpriv). */
async function flowmaster(args: string[], user?: 'nobody'): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, argv] = user && isRoot ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, ...args]] : [process.execPath, [cli, ...args]];
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, argv, { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function expectOneLineError(r: { code: number; stderr: string }, code: string, file: string): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(`[${code}]`);
  expect(lines[0]).toContain(file);
}

const QUERIES = [['flows', '--limit', '5'], ['devices', '--limit', '5'], ['top'], ['top', 'services']];

describe('the CLI', () => {
  it('a text file as --db: every command exits 1 with one ERR_DB_OPEN line naming the file', async () => {
    const dir = openDir('cli-text');
    const text = path.join(dir, 'notes.db');
    fs.writeFileSync(text, 'not a database\n'.repeat(500));
    for (const args of [...QUERIES, ['retention', '--flows', '1d'], ['ingest', '--no-progress', '--engine', 'ts', capture]]) {
      const r = await flowmaster([...args, '--db', text]);
      expectOneLineError(r, 'ERR_DB_OPEN', text);
    }
  });

  it('flows, devices, top and retention refuse a missing database (ERR_DB_NOT_FOUND) and create nothing; ingest creates it', async () => {
    const dir = openDir('cli-missing');
    const file = path.join(dir, 'typo.db');
    for (const args of [...QUERIES, ['retention', '--flows', '1d'], ['retention', '--max-rows', '10']]) {
      const r = await flowmaster([...args, '--db', file]);
      expectOneLineError(r, 'ERR_DB_NOT_FOUND', file);
      expect(fs.readdirSync(dir), args.join(' ')).toEqual([]);
    }
    expect((await flowmaster(['ingest', '--no-progress', '--engine', 'ts', '--db', file, capture])).code).toBe(0);
    expect((await flowmaster(['retention', '--flows', '1d', '--db', file])).code).toBe(0);
  });

  const setprivWorks = isRoot && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', '0']).status === 0;
  const asNonRoot = isRoot ? (setprivWorks ? undefined : 'running as root without a working setpriv to drop to nobody') : undefined;

  it.skipIf(skipping(asNonRoot, 'CLI on read-only files and directories as a non-root user'))(
    'as a non-root user: a read-only directory is still queried; writing commands are ERR_DB_READONLY',
    async () => {
      const original = await filledDb();
      const want = await Promise.all(QUERIES.map((q) => flowmaster([...q, '--db', original, '--json'])));
      const dir = openDir('cli-ro');
      const file = path.join(dir, 'flows.db');
      fs.copyFileSync(original, file);
      fs.chmodSync(file, 0o444);
      // a read-only file in a writable directory (the directory is root's: nobody cannot create the -shm either)
      fs.chmodSync(dir, 0o555);
      try {
        expect(fs.readdirSync(dir)).toEqual(['flows.db']); // no -wal, no -shm: SQLite cannot create them here
        for (const [i, q] of QUERIES.entries()) {
          const r = await flowmaster([...q, '--db', file, '--json'], 'nobody');
          expect(r.code, `${q.join(' ')}: ${r.stderr}`).toBe(0);
          expect(r.stdout).toBe(want[i].stdout);
        }
        expectOneLineError(await flowmaster(['retention', '--flows', '1d', '--db', file], 'nobody'), 'ERR_DB_READONLY', file);
        expectOneLineError(await flowmaster(['ingest', '--no-progress', '--engine', 'ts', '--db', file, capture], 'nobody'), 'ERR_DB_READONLY', file);
        expect(fs.readdirSync(dir)).toEqual(['flows.db']);
      } finally {
        fs.chmodSync(dir, 0o755);
      }
      // a read-only file in a directory the user may write: queries work, writes are refused
      const own = openDir('cli-ro-file');
      if (isRoot) fs.chownSync(own, 65534, 65534);
      const copy = path.join(own, 'flows.db');
      fs.copyFileSync(original, copy);
      fs.chmodSync(copy, 0o444);
      expect((await flowmaster(['flows', '--db', copy], 'nobody')).code).toBe(0);
      expectOneLineError(await flowmaster(['retention', '--flows', '1d', '--db', copy], 'nobody'), 'ERR_DB_READONLY', copy);
      expectOneLineError(await flowmaster(['ingest', '--no-progress', '--engine', 'ts', '--db', copy, capture], 'nobody'), 'ERR_DB_READONLY', copy);
    },
  );

  describe.skipIf(skipping(isRoot ? undefined : 'needs root to mount (CI runs it as root)', 'CLI on a read-only mount and a full tmpfs'))('mounts (root)', () => {
    const mounts: string[] = [];
    const mount = (...args: string[]) => {
      const r = spawnSync('mount', args, { encoding: 'utf8' });
      return r.status === 0 ? undefined : `mount ${args.join(' ')}: ${r.stderr.trim() || r.error?.message}`;
    };
    afterAll(() => {
      for (const m of mounts.reverse()) spawnSync('umount', [m]);
    });

    it('a read-only bind mount: queries work, retention and ingest are ERR_DB_READONLY', async (ctx) => {
      const original = await filledDb();
      const want = await Promise.all(QUERIES.map((q) => flowmaster([...q, '--db', original, '--json'])));
      const dir = openDir('ro-src');
      fs.copyFileSync(original, path.join(dir, 'flows.db')); // alone: no -wal or -shm beside it
      const ro = openDir('ro-mount');
      const failed = mount('--bind', dir, ro) ?? (mounts.push(ro), mount('-o', 'remount,bind,ro', ro));
      if (skipping(failed, 'read-only bind mount')) return ctx.skip();
      const roFile = path.join(ro, 'flows.db');
      for (const [i, q] of QUERIES.entries()) {
        const r = await flowmaster([...q, '--db', roFile, '--json']);
        expect(r.code, `${q.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toBe(want[i].stdout);
      }
      expectOneLineError(await flowmaster(['retention', '--flows', '1d', '--db', roFile]), 'ERR_DB_READONLY', roFile);
      expectOneLineError(await flowmaster(['ingest', '--no-progress', '--engine', 'ts', '--db', roFile, capture]), 'ERR_DB_READONLY', roFile);
    });

    it('a full 2 MiB tmpfs: the ingest waits while it is full (retrying) and completes once it has grown; every flow lands once', async (ctx) => {
      const dir = openDir('tmpfs');
      const failed = mount('-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir);
      if (skipping(failed, 'tmpfs')) return ctx.skip();
      mounts.push(dir);
      const file = path.join(dir, 'flows.db');
      const done = flowmaster(['ingest', '--no-progress', '--engine', 'ts', '--db', file, bigCapture]);
      let exited = false;
      void done.then(() => (exited = true));
      // full: the committed flows stop growing while the process waits
      let last = -1;
      for (let still = 0; still < 10; ) {
        await new Promise((r) => setTimeout(r, 150));
        expect(exited).toBe(false);
        const n = fs.existsSync(file) ? count(file, 'SELECT count(*) FROM flows') : 0;
        still = n === last && n > 0 ? still + 1 : 0;
        last = n;
      }
      expect(mount('-o', 'remount,size=64m', dir)).toBeUndefined();
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
      const committed = count(file, 'SELECT count(*) FROM flows');
      expect(committed).toBeGreaterThan(last);
      expect(r.stdout).toMatch(new RegExp(`^ingested 1 of 1 files into ${file}: \\d+ packets, ${committed} flows, `));
      expect(count(file, "SELECT count(DISTINCT flow_id || '/' || segment) FROM flows")).toBe(committed); // once each
      const db = new Database(file, { readonly: true });
      const source = db.prepare('SELECT flows, ended_ms, error, status FROM sources').get();
      db.close();
      expect(source).toEqual({ flows: committed, ended_ms: expect.any(Number), error: null, status: 'complete' });
    }, 180_000); // the TypeScript engine's ingest fills 2 MiB at its own pace: slower when two test files share the cores
  });
});

/**
 * The ingest lifecycle at the store level: a source's content fingerprint
 * and status, finding it again, stopping an ingest early (everything read
 * committed, devices synced, 'interrupted'), a writer that died ('running'
 * becomes 'interrupted'), and replacing a source so that a re-ingest does
 * not count its traffic twice.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, fingerprintFile, migrate, openStore, type Store } from '../src/index';
import { MIGRATIONS } from '../src/store/schema';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { wrongDevices } from './helpers/store-checks';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const MiB = 1 << 20;
let a: string;
let b: string;
beforeAll(async () => {
  const { generate } = await genPcap();
  a = tmpFile('a.pcap');
  b = tmpFile('b.pcap');
  // the same hosts in both, over more than a day of packet time: several partitions
  await generate({ out: a, packets: 40_000, flows: 6000, hosts: 200, mix: 'full', seed: 41, duration: 40 * 3600, quiet: true });
  await generate({ out: b, packets: 30_000, flows: 4000, hosts: 200, mix: 'full', seed: 42, duration: 40 * 3600, quiet: true });
});

const meter = () => new FlowMeter({ engine: TEST_ENGINE, batchSize: 256 });

/** Every device with its counters and what it answered on, by address: two databases with the same traffic give the same. */
function devices(db: Database.Database): unknown[] {
  return db
    .prepare(`SELECT hex(addr) a, vlan, hex(mac) m, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows,
        (SELECT group_concat(service, ',') FROM (SELECT service FROM device_services WHERE device_id = d.id ORDER BY service)) services
      FROM devices d ORDER BY addr, vlan`)
    .all();
}

function flowsOf(db: Database.Database): unknown[] {
  const key = 'first_ns, last_ns, flow_id, segment, src_port, dst_port, hex(src_addr), hex(dst_addr)';
  return db.prepare(`SELECT ${key}, packets, bytes, service FROM flows ORDER BY ${key}`).safeIntegers(true).all();
}

/** A reference: the files ingested once each into a fresh database. */
async function clean(...files: string[]): Promise<{ devices: unknown[]; flows: unknown[] }> {
  const store = openStore(tmpFile('clean.db'));
  for (const f of files) await store.ingest(meter().readFile(f));
  const out = { devices: devices(store.db), flows: flowsOf(store.db) };
  store.close();
  return out;
}

/** Ingests `file`, stopping it (`how`) once `after` batches have been read; returns the summary and the flows the store received. */
async function stopped(store: Store, file: string, after: number, how: 'signal' | 'return') {
  const run = meter().readFile(file);
  const abort = new AbortController();
  let batches = 0;
  let received = 0;
  const r = await store.ingest(run, {
    fingerprint: await fingerprintFile(file),
    signal: abort.signal,
    onBatch: (batch) => {
      received += batch.length;
      if (++batches === after) {
        if (how === 'signal') abort.abort();
        else void run.return();
      }
    },
  });
  return { r, received };
}

describe('fingerprints', () => {
  it('"v1:<size>:<sha256 of the first and last MiB>": equal for copies, different when either end or the size differs', async () => {
    const big = tmpFile('big.bin');
    const data = Buffer.alloc(5 * MiB);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    fs.writeFileSync(big, data);
    const fp = await fingerprintFile(big);
    expect(fp).toMatch(/^v1:5242880:[0-9a-f]{64}$/);
    const variant = async (edit: (d: Buffer) => Buffer) => {
      const f = tmpFile('variant.bin');
      fs.writeFileSync(f, edit(Buffer.from(data)));
      return fingerprintFile(f);
    };
    expect(await variant((d) => d)).toBe(fp);
    expect(await variant((d) => ((d[10] ^= 1), d))).not.toBe(fp); // first MiB
    expect(await variant((d) => ((d[d.length - 10] ^= 1), d))).not.toBe(fp); // last MiB
    expect(await variant((d) => ((d[2 * MiB] ^= 1), d))).toBe(fp); // the middle is not read: cheap on huge files
    expect(await variant((d) => d.subarray(0, d.length - 1))).not.toBe(fp);
    const small = tmpFile('small.bin');
    fs.writeFileSync(small, 'abc');
    expect(await fingerprintFile(small)).toBe('v1:3:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // sha256('abc')
    await expect(fingerprintFile(tmpFile('missing'))).rejects.toMatchObject({ code: 'ERR_FILE_NOT_FOUND' });
    await expect(fingerprintFile(path.dirname(small))).rejects.toMatchObject({ code: 'ERR_IS_DIRECTORY' });
  });
});

describe('sources', () => {
  it('an ingest records its fingerprint and ends complete; findSource finds the latest with that fingerprint', async () => {
    const store = openStore(tmpFile('find.db'));
    const fp = await fingerprintFile(a);
    expect(store.findSource(fp)).toBeUndefined();
    const r = await store.ingest(meter().readFile(a), { fingerprint: fp });
    expect(r.status).toBe('complete');
    expect(store.findSource(fp)).toMatchObject({ id: r.sourceId, name: a, kind: 'file', fingerprint: fp, status: 'complete', flows: r.flows, error: null });
    const again = await store.ingest(meter().readFile(a), { fingerprint: fp });
    expect(store.findSource(fp)?.id).toBe(again.sourceId);
    store.close();
  });

  for (const how of ['signal', 'return'] as const) {
    it(`stopped early (${how === 'signal' ? 'an AbortSignal' : "the run's return()"}): everything read is committed, devices synced, the source interrupted`, async () => {
      const file = tmpFile('stopped.db');
      const store = openStore(file, { batch: { initial: 1024, min: 1024, max: 1024 }, deviceSyncMs: 60_000 });
      const { r, received } = await stopped(store, a, 6, how);
      expect(r.status).toBe('interrupted');
      expect(r.read.cancelled).toBe(true);
      expect(r.flows).toBe(received);
      expect(r.flows).toBeLessThan((await clean(a)).flows.length);
      // another connection sees it all before this store closes: flows, counters, the status
      const db = new Database(file, { readonly: true });
      expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(received);
      expect(db.prepare("SELECT value FROM meta WHERE key = 'devices_synced_id'").pluck().get()).toBe(
        db.prepare("SELECT value FROM meta WHERE key = 'next_flow_id'").pluck().get(),
      );
      expect(wrongDevices(db)).toEqual([]);
      expect(db.prepare('SELECT status, flows, error FROM sources').get()).toEqual({ status: 'interrupted', flows: received, error: null });
      db.close();
      store.close();
    });
  }

  it('replacing an interrupted ingest: the re-ingest gives the database a single ingest gives', async () => {
    const store = openStore(tmpFile('replace.db'));
    await store.ingest(meter().readFile(b), { fingerprint: await fingerprintFile(b) });
    const { r: first } = await stopped(store, a, 5, 'signal');
    const fp = await fingerprintFile(a);
    const found = store.findSource(fp)!;
    expect(found).toMatchObject({ id: first.sourceId, status: 'interrupted' });
    const r = await store.ingest(meter().readFile(a), { fingerprint: fp, replaces: found.id });
    expect(r.replaced).toEqual({ sourceId: found.id, flows: first.flows });
    expect(store.source(found.id)).toBeUndefined();
    expect(store.findSource(fp)).toMatchObject({ id: r.sourceId, status: 'complete' });
    const want = await clean(b, a);
    expect(flowsOf(store.db)).toEqual(want.flows);
    expect(devices(store.db)).toEqual(want.devices);
    expect(wrongDevices(store.db)).toEqual([]);
    store.close();
  }, 60_000);

  it('removeSource takes a source out chunk by chunk across partitions: the flows and device counters as if it had never been ingested', async () => {
    const store = openStore(tmpFile('remove.db'), { sealRows: 300 });
    const ra = await store.ingest(meter().readFile(a));
    await store.ingest(meter().readFile(b));
    const parts = store.db.prepare('SELECT state FROM partitions').pluck().all();
    expect(parts.filter((s) => s === 'sealed').length).toBeGreaterThan(3);
    expect(await store.removeSource(ra.sourceId, 300)).toEqual({ sourceId: ra.sourceId, flows: ra.flows });
    const want = await clean(b);
    expect(flowsOf(store.db)).toEqual(want.flows);
    // the counters are b's; the devices only a's traffic gave stay with none (times, MACs and services a gave stay too)
    const counters = (rows: unknown[]) =>
      (rows as Record<string, unknown>[]).filter((d) => d.flows).map(({ a: addr, vlan, packets, bytes, flows }) => ({ addr, vlan, packets, bytes, flows }));
    expect(counters(devices(store.db))).toEqual(counters(want.devices));
    expect(wrongDevices(store.db)).toEqual([]);
    expect(store.source(ra.sourceId)).toBeUndefined();
    await expect(store.removeSource(ra.sourceId)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(store.ingest(meter().readFile(a), { replaces: 999 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    store.close();
  }, 60_000);

  it("a writer that died mid-ingest: the next writable open marks its source interrupted, and it can be replaced", async () => {
    const file = tmpFile('died.db');
    const root = path.resolve(__dirname, '..');
    const fp = await fingerprintFile(a);
    const child = spawn(
      process.execPath,
      ['-e', `const { openStore, FlowMeter } = require('./dist/index.js');
        const s = openStore(process.argv[1], { batch: { initial: 200, min: 200, max: 200 } });
        s.ingest(new FlowMeter({ engine: process.argv[3], batchSize: 256 }).readFile(process.argv[2]), { fingerprint: process.argv[4],
          onBatch: () => new Promise((r) => setTimeout(r, 20)) });`, file, a, TEST_ENGINE, fp],
      { cwd: root, stdio: 'ignore' },
    );
    for (let n = 0; n < 1000; ) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        const ro = new Database(file, { readonly: true });
        n = ro.prepare('SELECT count(*) FROM flows').pluck().get() as number;
        ro.close();
      } catch {
        // not created yet
      }
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const store = openStore(file);
    const found = store.findSource(fp)!;
    expect(found.status).toBe('interrupted');
    expect(found.endedMs).toBeNull();
    expect(wrongDevices(store.db)).toEqual([]); // its uncounted flows were replayed
    await store.ingest(meter().readFile(a), { fingerprint: fp, replaces: found.id });
    const want = await clean(a);
    expect(devices(store.db)).toEqual(want.devices);
    expect(flowsOf(store.db)).toEqual(want.flows);
    store.close();
  }, 60_000);

  it('migration 6: sources of a version-5 database get a status from how they ended', () => {
    const file = tmpFile('m6.db');
    const old = new Database(file);
    migrate(old, MIGRATIONS.slice(0, 5));
    old.exec(`INSERT INTO sources (name, kind, sensor, engine, started_ms, ended_ms, error) VALUES
      ('ok.pcap', 'file', 's', 'native', 1, 2, NULL), ('bad.pcap', 'file', 's', 'native', 1, 2, 'ERR_TRUNCATED: x'), ('crashed.pcap', 'file', 's', 'native', 1, NULL, NULL)`);
    old.close();
    const store = openStore(file);
    expect(store.db.prepare('SELECT name, status, fingerprint FROM sources ORDER BY id').all()).toEqual([
      { name: 'ok.pcap', status: 'complete', fingerprint: null },
      { name: 'bad.pcap', status: 'failed', fingerprint: null },
      { name: 'crashed.pcap', status: 'interrupted', fingerprint: null },
    ]);
    store.close();
  });

  it('a damaged capture ends failed, with its error', async () => {
    const file = tmpFile('damaged.pcap');
    fs.writeFileSync(file, fs.readFileSync(a).subarray(0, 300_000));
    const store = openStore(':memory:');
    const e = (await store.ingest(meter().readFile(file), { fingerprint: await fingerprintFile(file) }).catch((x: unknown) => x)) as { code: string; ingest: { status: string } };
    expect(e.code).toBe('ERR_TRUNCATED');
    expect(e.ingest.status).toBe('failed');
    expect(store.db.prepare('SELECT status, error FROM sources').get()).toEqual({ status: 'failed', error: expect.stringMatching(/^ERR_TRUNCATED: /) });
    store.close();
  });
});

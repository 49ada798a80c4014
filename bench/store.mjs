// File -> SQLite file, end to end (native engine, device cache, services,
// roll-ups, partitions sealed and indexed, adaptive batching), beside a raw
// better-sqlite3 loop that writes the same flow rows (read back from the
// ingested database, untimed) into an UNINDEXED table with the same 32
// columns (id + FLOW_INSERT_COLUMNS, the partition schema without its
// foreign keys), same pragmas, in 4096-row transactions: once with a
// single-row prepared INSERT, once with a 32-row multi-row INSERT (the ratio
// uses the faster of the two).
//
// Each ingest runs in a child process of its own, so its peak RSS
// (process.resourceUsage().maxRSS) is its own; so does each raw loop. The VM
// is noisy: each capture runs `--reps` times (default 3), ingest and raw
// loop side by side, and the table gives medians (ratio: median of the
// per-rep ratios). After the timed reps, one more ingest per capture runs
// instrumented (`--no-profile` skips it) to say where its time goes: waiting
// for the engine, device lookups and creations, device syncs, roll-up
// booking, flow rows, sealing and indexing partitions.
//
//   node bench/store.mjs [--quick] [--reps N] [--no-profile]
//
// (internal: node bench/store.mjs --child ingest PCAP DB MAXFLOWS [--profile]
//            node bench/store.mjs --child raw DB DIR FIRST(single|multi))
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const self = fileURLToPath(import.meta.url);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const TX_ROWS = 4096;
const ROWS_PER_INSERT = 32;

if (process.argv[2] === '--child') {
  const [mode, ...rest] = process.argv.slice(3);
  const out = mode === 'ingest' ? await childIngest(...rest) : childRaw(...rest);
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  await main();
}

// ------------------------------------------------------------------ child: one ingest

async function childIngest(pcap, dbFile, maxFlows, profileFlag) {
  const { FlowMeter, openStore } = require('../dist/index.js');
  const profile = profileFlag === '--profile' ? instrument() : undefined;
  const commits = [];
  const store = openStore(dbFile, { afterCommit: (n) => commits.push(n) });
  const run = new FlowMeter({ engine: 'native', maxFlows: Number(maxFlows) }).readFile(pcap);
  if (profile) {
    // time the ingest spends waiting for the engine's next batch
    const next = run.next.bind(run);
    run.next = async () => {
      const t = performance.now();
      try {
        return await next();
      } finally {
        profile.engineWaitMs += performance.now() - t;
      }
    };
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await store.ingest(run);
  const ingestMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0); // every thread: JavaScript, the engine's reader, SQLite
  const partitions = store.partitions.list();
  store.close();
  return {
    flows: r.flows, devices: r.devices, batches: r.batches, commitMs: r.commitMs, ingestMs, cpuMs: (cpu.user + cpu.system) / 1000, commits,
    partitions: partitions.length, sealed: partitions.filter((p) => p.state === 'sealed').length,
    maxRssMiB: process.resourceUsage().maxRSS / 1024, profile,
  };
}

/** Wraps the store's internal steps with timers (an untimed rep: the wrappers cost a little). */
function instrument() {
  const { Writer } = require('../dist/store/writer.js');
  const { DeviceCache } = require('../dist/devices/cache.js');
  const { Partitions, RowSink } = require('../dist/store/partitions.js');
  const p = {
    engineWaitMs: 0, txMs: 0, txs: 0, txBodyMs: 0, rowsMs: 0, rows: 0,
    resolveHitMs: 0, hits: 0, resolveCreateMs: 0, created: 0, resolveReadMs: 0, read: 0,
    syncMs: 0, syncs: 0, devicesSynced: 0, rollupMs: 0, rollupBookings: 0, rollupRows: 0,
    maintainMs: 0, seals: 0, indexesBuilt: 0, gcMs: 0, gcs: 0, macMs: 0, macBinds: 0, macChanges: 0,
  };
  // garbage collection pauses (they land in whatever step allocates)
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) (p.gcMs += e.duration), p.gcs++;
  }).observe({ entryTypes: ['gc'] });
  const wrap = (proto, name, done) => {
    const orig = proto[name];
    proto[name] = function (...a) {
      const t = performance.now();
      const r = orig.apply(this, a);
      done(performance.now() - t, r, this);
      return r;
    };
  };
  // a write transaction: its body (the caller's work) and around it (BEGIN IMMEDIATE, the hot
  // partition's range and the id counter, the rows still buffered, COMMIT)
  const transaction = Writer.prototype.transaction;
  Writer.prototype.transaction = function (fn) {
    const t = performance.now();
    try {
      return transaction.call(this, (...a) => {
        const b = performance.now();
        try {
          return fn(...a);
        } finally {
          p.txBodyMs += performance.now() - b;
        }
      });
    } finally {
      p.txMs += performance.now() - t;
      p.txs++;
    }
  };
  // flow rows into the hot partition: add() runs the 32-row INSERT every 32nd row
  wrap(RowSink.prototype, 'add', (ms) => ((p.rowsMs += ms), p.rows++));
  wrap(Writer.prototype, 'markSynced', (ms, n) => ((p.syncMs += ms), p.syncs++, (p.devicesSynced += n)));
  wrap(Writer.prototype, 'bookRollups', (ms, n) => ((p.rollupMs += ms), p.rollupBookings++, (p.rollupRows += n)));
  wrap(Writer.prototype, 'maintain', (ms, n) => ((p.maintainMs += ms), (p.indexesBuilt += n)));
  wrap(Partitions.prototype, 'seal', () => p.seals++);
  // a flow end's MAC bound to its device (a new MAC: a copy and its vendor looked up)
  const bindMac = DeviceCache.bindMac;
  DeviceCache.bindMac = function (d, ...a) {
    const mac = d.mac;
    const t = performance.now();
    bindMac.call(this, d, ...a);
    p.macMs += performance.now() - t;
    p.macBinds++;
    if (d.mac !== mac) p.macChanges++;
  };
  const resolve = DeviceCache.prototype.resolve;
  DeviceCache.prototype.resolve = function (...a) {
    const c = this.counters;
    const misses = c.misses;
    const t = performance.now();
    const d = resolve.apply(this, a);
    const ms = performance.now() - t;
    // a device created now has no flow counted yet; one read back from the table has (it was synced)
    if (c.misses === misses) (p.resolveHitMs += ms), p.hits++;
    else if (d.flows === 0) (p.resolveCreateMs += ms), p.created++;
    else (p.resolveReadMs += ms), p.read++;
    return d;
  };
  return p;
}

// ------------------------------------------------------------------ child: the raw loop

function childRaw(srcDb, dir, first) {
  const Database = require('better-sqlite3');
  const { FLOW_INSERT_COLUMNS } = require('../dist/store/partitions.js');
  const columns = ['id', ...FLOW_INSERT_COLUMNS];
  const src = new Database(srcDb, { readonly: true });
  // the partition schema (flow_template), unindexed, without its foreign keys
  const create = src
    .prepare("SELECT sql FROM sqlite_master WHERE name = 'flow_template'")
    .pluck()
    .get()
    .replace(/^CREATE TABLE "?flow_template"?/, 'CREATE TABLE flows_raw')
    .replace(/\s+REFERENCES\s+\w+\s*\(\s*\w+\s*\)/gi, '');
  // the rows as the ingest binds them: numbers, ns times as bigints, addresses and MACs as
  // buffers (shared per value, as the device cache shares a device's address)
  const nsColumns = new Set([columns.indexOf('first_ns'), columns.indexOf('last_ns')]);
  const buffers = new Map();
  const rows = [];
  const t0 = performance.now();
  for (const r of src.prepare(`SELECT ${columns.join(', ')} FROM flows ORDER BY id`).raw(true).safeIntegers(true).iterate()) {
    for (let i = 0; i < r.length; i++) {
      const v = r[i];
      if (typeof v === 'bigint') r[i] = nsColumns.has(i) ? v : Number(v);
      else if (Buffer.isBuffer(v)) {
        const k = v.toString('latin1');
        let b = buffers.get(k);
        if (!b) buffers.set(k, (b = v));
        r[i] = b;
      }
    }
    rows.push(r);
  }
  src.close();
  const readMs = performance.now() - t0;
  const row = `(?${', ?'.repeat(columns.length - 1)})`;
  const time = (shape) => {
    const file = path.join(dir, `raw-${shape}.db`);
    for (const x of ['', '-wal', '-shm']) fs.rmSync(file + x, { force: true });
    const db = new Database(file);
    // the store's pragmas (src/store/store.ts)
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 16384');
    db.pragma('cache_size = -65536');
    db.exec(create);
    const one = db.prepare(`INSERT INTO flows_raw (${columns.join(', ')}) VALUES ${row}`);
    const many = db.prepare(`INSERT INTO flows_raw (${columns.join(', ')}) VALUES ${new Array(ROWS_PER_INSERT).fill(row).join(', ')}`);
    const values = new Array(ROWS_PER_INSERT * columns.length);
    const w = columns.length;
    const write =
      shape === 'single'
        ? db.transaction((from, to) => {
            for (let i = from; i < to; i++) one.run(rows[i]);
          })
        : db.transaction((from, to) => {
            let i = from;
            for (; i + ROWS_PER_INSERT <= to; i += ROWS_PER_INSERT) {
              for (let k = 0; k < ROWS_PER_INSERT; k++) {
                const r = rows[i + k];
                for (let c = 0; c < w; c++) values[k * w + c] = r[c];
              }
              many.run(values);
            }
            for (; i < to; i++) one.run(rows[i]);
          });
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    for (let at = 0; at < rows.length; at += TX_ROWS) write(at, Math.min(rows.length, at + TX_ROWS));
    const ms = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    cpuMs[shape] = (cpu.user + cpu.system) / 1000;
    const n = db.prepare('SELECT count(*) FROM flows_raw').pluck().get();
    db.close();
    for (const x of ['', '-wal', '-shm']) fs.rmSync(file + x, { force: true });
    if (n !== rows.length) throw new Error(`raw loop wrote ${n} rows of ${rows.length}`);
    return ms;
  };
  const order = first === 'multi' ? ['multi', 'single'] : ['single', 'multi'];
  const ms = {};
  const cpuMs = {};
  for (const shape of order) ms[shape] = time(shape);
  return { rows: rows.length, readMs, singleMs: ms.single, multiMs: ms.multi, singleCpuMs: cpuMs.single, multiCpuMs: cpuMs.multi, order };
}

// ------------------------------------------------------------------ parent

async function main() {
  const { generate } = await import('../scripts/gen-pcap.mjs');
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const profiling = !argv.includes('--no-profile');
  const repsAt = argv.indexOf('--reps');
  const reps = repsAt >= 0 ? Math.max(1, Number(argv[repsAt + 1])) : 3;
  const scale = quick ? 10 : 1;
  const dataDir = path.join(here, '.data');
  const captures = [
    { prefix: 'store', name: 'IMIX, 5M packets / 1M flows / 20k hosts', packets: 5_000_000, flows: 1_000_000, hosts: 20_000, seed: 1 },
    { prefix: 'store', name: 'IMIX, 10M packets / 100k flows / 2k hosts', packets: 10_000_000, flows: 100_000, hosts: 2000, seed: 1 },
    { prefix: 'many', name: 'many hosts: IMIX, 5M packets / 1M flows / 600k hosts', packets: 5_000_000, flows: 1_000_000, hosts: 600_000, seed: 2 },
  ].map((c) => ({ ...c, packets: c.packets / scale, flows: c.flows / scale, hosts: c.hosts / scale, name: quick ? `${c.name} ÷10` : c.name }));

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-store-bench-'));
  const node = (args) => JSON.parse(execFileSync(process.execPath, [self, '--child', ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] }));
  const rm = (f) => ['', '-wal', '-shm'].forEach((x) => fs.rmSync(f + x, { force: true }));
  const mib = (b) => (b / 1048576).toFixed(0);
  const rows = [];
  const rawRows = [];
  const profRows = [];
  const started = performance.now();
  try {
    for (const c of captures) {
      const file = path.join(dataDir, `${c.prefix}-${c.packets}-${c.flows}-${c.hosts}-imix.pcap`);
      if (!fs.existsSync(file)) {
        fs.mkdirSync(dataDir, { recursive: true });
        await generate({ out: file, packets: c.packets, flows: c.flows, hosts: c.hosts, sizes: 'imix', mix: 'simple', seed: c.seed });
      }
      const maxFlows = String(Math.max(1_000_000, 2 * c.flows));
      const dbFile = path.join(tmp, 'ingest.db');
      const runs = [];
      for (let rep = 0; rep < reps; rep++) {
        execFileSync('sh', ['-c', 'cat "$0" > /dev/null', file]); // page cache warm
        rm(dbFile);
        const ing = node(['ingest', file, dbFile, maxFlows]);
        const raw = node(['raw', dbFile, tmp, rep % 2 ? 'multi' : 'single']);
        rm(dbFile);
        const ingest = ing.flows / (ing.ingestMs / 1000);
        const single = raw.rows / (raw.singleMs / 1000);
        const multi = raw.rows / (raw.multiMs / 1000);
        const s = ing.commits;
        const distinct = new Set(s).size;
        process.stderr.write(
          `${c.name} #${rep + 1}: ingest ${(ing.ingestMs / 1000).toFixed(2)} s, CPU ${(ing.cpuMs / 1000).toFixed(2)} s (${ingest.toFixed(0)} flows/s, ${ing.batches} commits, ` +
            `${ing.partitions} partitions, peak RSS ${ing.maxRssMiB.toFixed(0)} MiB); raw loop single-row ${(raw.singleMs / 1000).toFixed(2)} s, ` +
            `32-row ${(raw.multiMs / 1000).toFixed(2)} s, CPU ${(raw.singleCpuMs / 1000).toFixed(2)} / ${(raw.multiCpuMs / 1000).toFixed(2)} s (${raw.order.join(' then ')}); ` +
            `commits: ${runLengths(s)}\n`,
        );
        runs.push({
          flows: ing.flows, devices: ing.devices, batches: ing.batches, ingest, single, multi, ratio: ingest / Math.max(single, multi), rss: ing.maxRssMiB,
          first: s[0], median: median(s), last: s.at(-1), distinct, partitions: ing.partitions,
          ingestCpu: ing.cpuMs / 1000, wall: ing.ingestMs / 1000, singleCpu: raw.singleCpuMs / 1000, multiCpu: raw.multiCpuMs / 1000,
          cpuPerFlow: (1e6 * ing.cpuMs) / 1000 / ing.flows, rawCpuPerFlow: (1e6 * Math.min(raw.singleCpuMs, raw.multiCpuMs)) / 1000 / raw.rows,
        });
      }
      const med = (k) => median(runs.map((x) => x[k]));
      const best = Math.max(med('single'), med('multi'));
      rows.push([
        c.name, String(runs[0].flows), med('ingest').toFixed(0), `${best.toFixed(0)} (${med('multi') >= med('single') ? '32-row' : 'single-row'})`,
        med('ratio').toFixed(2), med('rss').toFixed(0), String(med('batches')),
        `${med('first')} → ${med('median')} → ${med('last')} (${med('distinct')} sizes)`, String(runs[0].devices),
      ]);
      rawRows.push([
        c.name, med('single').toFixed(0), med('multi').toFixed(0), (med('multi') / med('single')).toFixed(2),
        `${med('wall').toFixed(2)} / ${med('ingestCpu').toFixed(2)}`, `${med('cpuPerFlow').toFixed(1)} / ${med('rawCpuPerFlow').toFixed(1)}`, String(med('partitions')),
      ]);
      if (profiling) {
        execFileSync('sh', ['-c', 'cat "$0" > /dev/null', file]);
        rm(dbFile);
        const ing = node(['ingest', file, dbFile, maxFlows, '--profile']);
        rm(dbFile);
        const p = ing.profile;
        const wall = ing.ingestMs;
        const resolveMs = p.resolveHitMs + p.resolveCreateMs + p.resolveReadMs;
        const flowJs = p.txBodyMs - resolveMs - p.rowsMs - p.syncMs - p.rollupMs - p.macMs; // per-flow work in JS, the source row
        const around = p.txMs - p.txBodyMs; // BEGIN, the last rows of a batch, COMMIT
        const rest = wall - p.engineWaitMs - p.txMs - p.maintainMs;
        const share = (ms) => `${(ms / 1000).toFixed(2)} (${((100 * ms) / wall).toFixed(0)} %)`;
        profRows.push([
          c.name, `${(wall / 1000).toFixed(2)} (CPU ${(ing.cpuMs / 1000).toFixed(2)})`, share(p.engineWaitMs), share(flowJs), share(p.rowsMs), share(around),
          `${share(p.resolveCreateMs)}: ${p.created} created, ${((1000 * p.resolveCreateMs) / Math.max(1, p.created)).toFixed(1)} µs each`,
          `${share(p.resolveHitMs + p.resolveReadMs)}: ${p.hits} hits, ${p.read} read`,
          `${share(p.macMs)}: ${p.macChanges} of ${p.macBinds} changed`,
          `${share(p.syncMs)}: ${p.syncs} syncs, ${p.devicesSynced} rows`,
          `${share(p.rollupMs)}: ${p.rollupBookings} bookings, ${p.rollupRows} rows`,
          `${share(p.maintainMs)}: ${p.seals} seals, ${p.indexesBuilt} steps`, share(rest), `${share(p.gcMs)}: ${p.gcs}`,
        ]);
        process.stderr.write(`${c.name} (instrumented): ${JSON.stringify(p)} wall ${wall.toFixed(0)} ms\n`);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const table = (header, body) => {
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
    const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of body) console.log(line(r));
  };
  console.log(`\nFile -> SQLite (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${os.cpus().length} cores, medians of ${reps}; ${((performance.now() - started) / 60000).toFixed(1)} min):\n`);
  table(
    ['capture', 'flows', 'ingest flows/s', 'raw loop flows/s (unindexed, best shape)', 'ingest/raw', 'peak RSS MiB', 'commits', 'batch sizes (first → median → last)', 'devices created'],
    rows,
  );
  console.log(`\nRaw loop shapes (same rows, unindexed table, ${TX_ROWS}-row transactions), flows/s:\n`);
  table(['capture', 'single-row INSERT', `${ROWS_PER_INSERT}-row INSERT`, '32-row / single', 'ingest wall s / CPU s', 'CPU µs per flow: ingest / raw loop', 'ingest partitions'], rawRows);
  if (profRows.length) {
    console.log('\nWhere the ingest time goes (one instrumented ingest per capture, seconds and % of its wall time):\n');
    table(
      ['capture', 'wall s', 'waiting for the engine', 'flows in JS', 'row INSERTs', 'BEGIN/COMMIT', 'devices created', 'device lookups', 'MAC bindings', 'device syncs', 'roll-ups booked', 'seal + index', 'other', 'GC pauses (within the others)'],
      profRows,
    );
  }
}

/** 4096, 8192×2, 16384×40, 1700: the commit sizes in order, run-length encoded. */
function runLengths(xs) {
  const out = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j < xs.length && xs[j] === xs[i]) j++;
    out.push(j - i > 1 ? `${xs[i]}×${j - i}` : String(xs[i]));
    i = j;
  }
  return out.join(', ');
}

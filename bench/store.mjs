// File -> SQLite file, end to end (native engine, device cache, services,
// adaptive batching), beside a raw better-sqlite3 prepared-insert loop that
// writes the same flow rows (read back from the ingested database, untimed)
// into a fresh database with the same schema, in transactions of the same
// size. Also the device cache hit ratio with the default cache size. The
// VM is noisy: each capture runs `--reps` times (default 3), ingest and raw
// loop alternating, and the table gives medians (ratio: median of the
// per-rep ratios).
//
//   node bench/store.mjs [--quick] [--reps N]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const require = createRequire(import.meta.url);
const { FlowMeter, openStore } = require('../dist/index.js');
const { FLOW_INSERT_COLUMNS } = require('../dist/store/partitions.js');
const FLOW_COLUMNS = ['id', ...FLOW_INSERT_COLUMNS];

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const scale = quick ? 10 : 1;
const repsAt = process.argv.indexOf('--reps');
const reps = repsAt > 0 ? Math.max(1, Number(process.argv[repsAt + 1])) : 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dataDir = path.join(here, '.data');
// Client hosts shared by many flows (--hosts), as on a real network: the
// device cache sees each host again and again.
const captures = [
  { name: 'IMIX, 10M packets / 100k flows / 2k client hosts', packets: 10_000_000, flows: 100_000, hosts: 2000, sizes: 'imix' },
  { name: 'IMIX, 5M packets / 1M flows / 20k client hosts', packets: 5_000_000, flows: 1_000_000, hosts: 20_000, sizes: 'imix' },
].map((c) => ({ ...c, packets: c.packets / scale, flows: c.flows / scale, hosts: c.hosts / scale, name: quick ? `${c.name} ÷10` : c.name }));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-store-bench-'));
const rows = [];
for (const c of captures) {
  const file = path.join(dataDir, `store-${c.packets}-${c.flows}-${c.hosts}-${c.sizes}.pcap`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    await generate({ out: file, packets: c.packets, flows: c.flows, hosts: c.hosts, sizes: c.sizes, mix: 'simple', seed: 1 });
  }
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    execFileSync('sh', ['-c', 'cat "$0" > /dev/null', file]); // page cache warm
    const dbFile = path.join(tmp, 'ingest.db');
    const commits = [];
    const store = openStore(dbFile, { afterCommit: (n) => commits.push(n) });
    const t0 = performance.now();
    const r = await store.ingest(new FlowMeter({ engine: 'native', maxFlows: 2 * c.flows }).readFile(file));
    const ingestS = (performance.now() - t0) / 1000;
    const m = await store.metrics.metrics();
    const hitRatio = m.flowmaster_device_cache_hits_total / (m.flowmaster_device_cache_hits_total + m.flowmaster_device_cache_misses_total);
    // the same rows, read back (untimed)
    const flowRows = store.db.prepare(`SELECT ${FLOW_COLUMNS.join(', ')} FROM flows ORDER BY id`).raw(true).safeIntegers(true).all();
    const deviceRows = store.db.prepare('SELECT * FROM devices ORDER BY id').raw(true).all();
    const sourceRows = store.db.prepare('SELECT * FROM sources').raw(true).all();
    store.close();
    // raw loop into a fresh database of the same schema and pragmas
    const rawFile = path.join(tmp, 'raw.db');
    const raw = openStore(rawFile);
    const db = raw.db;
    const place = (n) => `(${new Array(n).fill('?').join(', ')})`;
    db.transaction(() => {
      const s = db.prepare(`INSERT INTO sources VALUES ${place(sourceRows[0].length)}`);
      for (const row of sourceRows) s.run(row);
      const d = db.prepare(`INSERT INTO devices VALUES ${place(deviceRows[0].length)}`);
      for (const row of deviceRows) d.run(row);
    })();
    // one partition table of the raw database (its schema and indexes), filled directly
    raw.appendFlows([Object.fromEntries(FLOW_INSERT_COLUMNS.map((c, i) => [c, flowRows[0][i + 1]]))]);
    const table = raw.partitions.list().at(-1).name;
    const insert = db.prepare(`INSERT INTO ${table} (${FLOW_COLUMNS.join(', ')}) VALUES ${place(FLOW_COLUMNS.length)}`);
    const write = db.transaction((from, n) => {
      for (let i = from; i < from + n; i++) insert.run(flowRows[i]);
    });
    // the same transaction sizes as the ingest's commits, then fixed 4096-row transactions
    const timeRaw = (sizes) => {
      db.exec(`DELETE FROM ${table}`);
      const t1 = performance.now();
      let at = 0;
      for (const n of sizes) {
        write(at, n);
        at += n;
      }
      return (performance.now() - t1) / 1000;
    };
    const rawS = timeRaw(commits);
    const fixed = [];
    for (let i = 0; i < flowRows.length; i += 4096) fixed.push(Math.min(4096, flowRows.length - i));
    const raw4096S = timeRaw(fixed);
    raw.close();
    for (const f of [dbFile, rawFile]) for (const x of ['', '-wal', '-shm']) fs.rmSync(f + x, { force: true });
    process.stderr.write(`${c.name} #${rep + 1}: ingest ${ingestS.toFixed(2)} s, raw insert ${rawS.toFixed(2)} s (4096-row commits ${raw4096S.toFixed(2)} s)\n`);
    runs.push({ flows: r.flows, batches: r.batches, hitRatio, ingest: r.flows / ingestS, raw: flowRows.length / rawS, raw4096: flowRows.length / raw4096S });
  }
  const med = (k) => median(runs.map((x) => x[k]));
  rows.push([
    c.name,
    String(runs[0].flows),
    med('ingest').toFixed(0),
    med('raw').toFixed(0),
    median(runs.map((x) => x.ingest / x.raw)).toFixed(2),
    med('raw4096').toFixed(0),
    `${(runs[0].hitRatio * 100).toFixed(1)} %`,
    String(med('batches')),
  ]);
}
fs.rmSync(tmp, { recursive: true, force: true });

const header = [
  'capture', 'flows', 'ingest flows/s (end to end)', 'raw loop flows/s (same commits)', 'ingest/raw', 'raw loop flows/s (4096-row commits)',
  'device cache hit ratio', 'commits',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
console.log(`\nFile -> SQLite (${new Date().toISOString().slice(0, 10)}, node ${process.version}, medians of ${reps}):\n`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));

// File -> ClickHouse beside file -> SQLite, the same capture in the same run,
// then the fault runs of the fleet sink. A clickhouse-server of its own
// (scripts/clickhouse-server.mjs: free ports, temporary data) unless --url.
//
//   node bench/clickhouse.mjs [--flows 1000000] [--reps 3] [--faults] [--outage-seconds 30] [--url http://host:8123]
//
// Throughput: each rep runs `flowmaster ingest --clickhouse` (no --db) into a
// fresh database, `flowmaster ingest --db` into a fresh file, and the engine
// alone (flows counted, nothing stored); medians and the median of the
// per-rep ratios. Every ClickHouse run is checked: count() and sum(bytes)
// equal the engine's totals.
//
// --faults: (1) the server killed (SIGKILL) in the middle of an ingest,
// started again --outage-seconds later; (2) the sensor killed (SIGKILL) mid-ingest and
// run again; (3) three sensors at once into one server. Each ends with
// count(), sum(bytes) (per sensor for 3) against the engine's totals.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';
import { startClickHouse } from '../scripts/clickhouse-server.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'dist', 'cli', 'main.js');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? dflt : args[i + 1];
};
const FLOWS = Number(opt('flows', 1_000_000));
const REPS = Number(opt('reps', 3));
const OUTAGE_S = Number(opt('outage-seconds', 30));

/** flowmaster as a child process: { code, signal, stdout, stderr, seconds }; `started` gets the child. */
function flowmaster(argv, started) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli, ...argv]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    started?.(child);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

async function capture() {
  const dir = path.join(here, '.data');
  fs.mkdirSync(dir, { recursive: true });
  const packets = FLOWS * 5;
  const hosts = Math.max(200, FLOWS / 50);
  const file = path.join(dir, `store-${packets}-${FLOWS}-${hosts}-imix.pcap`);
  if (!fs.existsSync(file)) await generate({ out: file, packets, flows: FLOWS, hosts, sizes: 'imix', seed: 1, quiet: true });
  return file;
}

async function engineTotals(file) {
  const { FlowMeter } = require('../dist/index.js');
  const t0 = performance.now();
  let flows = 0;
  let bytes = 0;
  for await (const b of new FlowMeter({ engine: 'native' }).readFile(file))
    for (const f of b) {
      flows++;
      bytes += f.bytes;
    }
  return { flows, bytes, seconds: (performance.now() - t0) / 1000 };
}

async function stored(ch, db, where = '1') {
  const [flows, bytes] = (await ch.query(`SELECT count(), sum(bytes) FROM ${db}.flows WHERE ${where}`)).trim().split('\t').map(Number);
  return { flows, bytes };
}

const verdict = (got, want) => (got.flows === want.flows && got.bytes === want.bytes ? 'exact' : `MISMATCH (${got.flows} flows, ${got.bytes} bytes)`);

async function throughput(ch, file, want) {
  const rows = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-bench-ch-'));
  for (let rep = 0; rep < REPS; rep++) {
    const db = `bench_${process.pid}_${rep}`;
    const c = await flowmaster(['ingest', '--engine', 'native', '--no-progress', '--clickhouse', ch.url, '--clickhouse-database', db, '--sensor', 'bench', '--spool-dir', path.join(tmp, `spool-${rep}`), file]);
    if (c.code !== 0) throw new Error(`ingest --clickhouse failed: ${c.stderr}`);
    const check = verdict(await stored(ch, db), want);
    const dbFile = path.join(tmp, `rep-${rep}.db`);
    const s = await flowmaster(['ingest', '--engine', 'native', '--no-progress', '--db', dbFile, file]);
    if (s.code !== 0) throw new Error(`ingest --db failed: ${s.stderr}`);
    const raw = await engineTotals(file);
    rows.push({ ch: want.flows / c.seconds, sqlite: want.flows / s.seconds, raw: want.flows / raw.seconds, check });
    await ch.query(`DROP DATABASE ${db}`);
    fs.rmSync(dbFile, { force: true });
    process.stderr.write(`rep ${rep + 1}: ClickHouse ${Math.round(rows[rep].ch)} flows/s (${check}), SQLite ${Math.round(rows[rep].sqlite)}, engine alone ${Math.round(rows[rep].raw)}\n`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const m = (k) => Math.round(median(rows.map((r) => r[k])));
  console.log(`\nfile -> store, ${want.flows} flows (${path.basename(file)}), medians of ${REPS}:\n`);
  console.log('| store | flows/s | vs SQLite | vs the engine alone | totals |');
  console.log('|---|---|---|---|---|');
  console.log(`| ClickHouse (ingest --clickhouse) | ${m('ch')} | ${median(rows.map((r) => r.ch / r.sqlite)).toFixed(2)}x | ${median(rows.map((r) => r.ch / r.raw)).toFixed(2)}x | ${rows.map((r) => r.check).join(', ')} |`);
  console.log(`| SQLite (ingest --db) | ${m('sqlite')} | 1.00x | ${median(rows.map((r) => r.sqlite / r.raw)).toFixed(2)}x | |`);
  console.log(`| engine alone (nothing stored) | ${m('raw')} | | 1.00x | |`);
}

async function waitFor(fn, ms = 120_000) {
  const t0 = Date.now();
  while (!(await fn().catch(() => false))) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await sleep(50);
  }
}

async function faults(ch, file, want) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-bench-faults-'));
  const base = ['ingest', '--engine', 'native', '--no-progress', '--clickhouse', ch.url];
  console.log('\nfault runs:\n');
  console.log('| run | what happened | seconds | stored vs the engine |');
  console.log('|---|---|---|---|');

  // (1) the server crashes (SIGKILL: inserts in flight cut off) once a third of the flows are stored, and stays down OUTAGE_S seconds
  let outage;
  const r1 = await flowmaster([...base, '--clickhouse-database', 'fault_outage', '--sensor', 'outage', '--spool-dir', path.join(tmp, 's1'), file], () => {
    outage = (async () => {
      await waitFor(async () => (await stored(ch, 'fault_outage')).flows >= want.flows / 3);
      await ch.kill();
      await sleep(OUTAGE_S * 1000);
      await ch.start();
    })();
  });
  await outage;
  const retries = /(\d+) retries/.exec(r1.stderr)?.[1] ?? '0';
  console.log(`| server killed mid-ingest, down ${OUTAGE_S} s | exit ${r1.code}, ${retries} retries | ${r1.seconds.toFixed(1)} | ${verdict(await stored(ch, 'fault_outage'), want)} |`);

  // (2) the sensor killed once a third of the flows are stored, then run again
  const args2 = [...base, '--clickhouse-database', 'fault_kill', '--sensor', 'kill', '--spool-dir', path.join(tmp, 's2'), file];
  const k1 = await flowmaster(args2, (child) => {
    void waitFor(async () => (await stored(ch, 'fault_kill')).flows >= want.flows / 3).then(() => child.kill('SIGKILL'));
  });
  const before = (await stored(ch, 'fault_kill')).flows;
  const k2 = await flowmaster(args2);
  const present = /(\d+) already stored/.exec(k2.stderr)?.[1] ?? '0';
  console.log(`| sensor killed (${k1.signal}) with ${before} flows stored, run again | second run exit ${k2.code}, ${present} found stored, not sent | ${(k1.seconds + k2.seconds).toFixed(1)} | ${verdict(await stored(ch, 'fault_kill'), want)} |`);

  // (3) three sensors at once
  const t0 = performance.now();
  const three = await Promise.all(['a', 'b', 'c'].map((s) => flowmaster([...base, '--clickhouse-database', 'fault_three', '--sensor', `sensor-${s}`, '--spool-dir', path.join(tmp, `s3${s}`), file])));
  const secs = (performance.now() - t0) / 1000;
  const each = await Promise.all(['a', 'b', 'c'].map(async (s) => verdict(await stored(ch, 'fault_three', `sensor = 'sensor-${s}'`), want)));
  console.log(`| three sensors at once | exits ${three.map((r) => r.code).join(', ')}; ${Math.round((3 * want.flows) / secs)} flows/s together | ${secs.toFixed(1)} | ${each.join(', ')} |`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

const file = await capture();
const url = opt('url', undefined);
const ch = url ? { url, query: async (sql) => (await fetch(url, { method: 'POST', body: sql })).text(), stop() { throw new Error('--faults needs the bench\'s own server (no --url)'); } } : await startClickHouse();
try {
  const want = await engineTotals(file);
  const version = (await ch.query('SELECT version()')).trim();
  console.log(`ClickHouse ${version}, Node ${process.version}, ${os.cpus().length} cores`);
  await throughput(ch, file, want);
  if (args.includes('--faults')) await faults(ch, file, want);
} finally {
  if (!url) await ch.destroy();
}

// Roll-ups: the cost per flow of RollupAccumulator.add() + flush() (what an
// ingest adds per flow), and the latency of the aggregates served from them
// on the roll-ups of 50M flows (the flow shape of bench/query.mjs: 4096
// devices, 4 services, 20 days; built once through the accumulator and
// cached in bench/.data).
// With --pcap, also the flows of a capture (read with the native engine,
// devices and services resolved as an ingest does: untimed), flushed every
// --batch flows or more. flush() times include the commit; a flush writes a
// row per key and bucket touched (minute and hour), so dense captures cost
// more per flow, and larger batches less.
//   npm run build:ts && node bench/rollups.mjs [--flows 1000000] [--rate 1736] [--pcap FILE] [--queries] [--query-flows 50000000]
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const { RollupAccumulator, ROLLUP_SCHEMA, ALL_INDEX_SCHEMA, serviceKey } = require('../dist/store/rollups.js');
const { Analytics } = require('../dist/store/analytics.js');
const { QueryTimer } = require('../dist/store/query.js');
const { Metrics } = require('../dist/metrics/registry.js');

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '4096' },
    queries: { type: 'boolean', default: false },
    'query-flows': { type: 'string', default: '50000000' },
    rate: { type: 'string', default: '1736' }, // flows per minute of capture time in the synthetic flows: 50M over 20 days
    pcap: { type: 'string' },
  },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const T0 = 1_767_225_600_000n * 1_000_000n; // 2026-01-01
const DAYS = 20n;
const PORTS = [80, 443, 502, 53];

/** Flow i of a synthetic capture (bench/query.mjs's shape), one every `step` ns, into `f`. */
function flowAt(i, step, f) {
  const a = i % 4096;
  const b = (i * 7919) % 4096;
  f.firstNs = T0 + BigInt(i) * step;
  // mostly short; one in 50 lasts up to 30 min (the active timeout), so it spans minutes
  f.lastNs = f.firstNs + (i % 50 === 0 ? 1_000_000_000n * BigInt(i % 1800) : 1_000_000n * BigInt(i % 5000));
  f.bytes = 60 * (1 + (i % 97)) + 40 * (i % 89);
  f.packets = 1 + (i % 17) + (i % 5);
  f.srcDevice = a + 1;
  f.dstDevice = b + 1;
  f.service = serviceKey(i % 4 === 2 ? 'modbus' : null, 4, 0x0800, 6, 1, 1024 + (i % 60000), PORTS[i % 4]);
  return f;
}

function openRollups(file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 16384'); // as a store has them
  db.pragma('cache_size = -65536');
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'rollup_traffic'").get()) {
    db.exec(ROLLUP_SCHEMA + ALL_INDEX_SCHEMA);
    db.exec('CREATE TABLE devices (id INTEGER PRIMARY KEY, addr BLOB NOT NULL, vlan INTEGER NOT NULL, vendor TEXT)');
    const dev = db.prepare('INSERT INTO devices VALUES (?, ?, 0, NULL)');
    db.transaction(() => {
      for (let i = 0; i < 4096; i++) dev.run(i + 1, Buffer.from([10, 0, i >> 8, i & 255]));
    })();
  }
  return db;
}

/** add() + flush() per batch, as an ingest commits; returns ns per flow of each. */
function ingestLike(db, total, batch, step, onBatch) {
  const acc = new RollupAccumulator();
  const flows = Array.from({ length: batch }, () => ({}));
  let addNs = 0n;
  let flushNs = 0n;
  let rows = 0;
  for (let at = 0; at < total; at += batch) {
    const n = Math.min(batch, total - at);
    for (let k = 0; k < n; k++) flowAt(at + k, step, flows[k]); // untimed: the engine's work
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < n; k++) acc.add(flows[k]);
    const t1 = process.hrtime.bigint();
    rows += db.transaction(() => acc.flush(db))();
    const t2 = process.hrtime.bigint();
    addNs += t1 - t0;
    flushNs += t2 - t1;
    onBatch?.(at + n);
  }
  return { add: Number(addNs) / total, flush: Number(flushNs) / total, rows };
}

// 1. per flow
const total = Number(args.flows);
const batch = Number(args.batch);
fs.mkdirSync(path.join(here, '.data'), { recursive: true });
const scratch = path.join(here, '.data', 'rollups-micro.db');
for (const x of ['', '-wal', '-shm']) fs.rmSync(scratch + x, { force: true });
{
  // warm-up on :memory:, then the measured run into a file
  const warm = openRollups(':memory:');
  const step = 60_000_000_000n / BigInt(args.rate);
  ingestLike(warm, 200_000, batch, step);
  warm.close();
  const db = openRollups(scratch);
  const r = ingestLike(db, total, batch, step);
  db.close();
  console.log(
    `\nRollupAccumulator, ${total} flows in batches of ${batch}, ${args.rate} flows per minute (1 in 50 spans minutes), node ${process.version}:\n` +
      `  add()   ${r.add.toFixed(0)} ns/flow\n  flush() ${r.flush.toFixed(0)} ns/flow (${r.rows} rows upserted, ${(r.rows / total).toFixed(2)} per flow)\n` +
      `  total   ${(r.add + r.flush).toFixed(0)} ns/flow = ${Math.round(1e9 / (r.add + r.flush))} flows/s`,
  );
  for (const x of ['', '-wal', '-shm']) fs.rmSync(scratch + x, { force: true });
}

// 1b. the flows of a capture
if (args.pcap) {
  const { FlowMeter, defaultServices } = require('../dist/index.js');
  const devices = new Map();
  const device = (addr, vlan) => {
    const k = `${Buffer.from(addr).toString('hex')}/${vlan}`;
    let id = devices.get(k);
    if (id === undefined) devices.set(k, (id = devices.size + 1));
    return id;
  };
  const db = openRollups(scratch);
  const acc = new RollupAccumulator();
  let addNs = 0n;
  let flushNs = 0n;
  let rows = 0;
  let n = 0;
  let flushCpuUs = 0;
  let pending = 0;
  for await (const engineBatch of new FlowMeter({ engine: 'native', maxFlows: 4_000_000 }).readFile(args.pcap)) {
    const flows = [];
    for (const f of engineBatch) {
      const c = defaultServices.classify(f);
      flows.push({
        firstNs: f.firstNs, lastNs: f.lastNs, bytes: f.fwdBytes + f.revBytes, packets: f.fwdPackets + f.revPackets,
        srcDevice: device(f.srcAddrBytes, f.vlan), dstDevice: device(f.dstAddrBytes, f.vlan),
        service: serviceKey(c.service ?? null, f.ipVersion, f.etherType, f.protocol, c.serverIsDst, f.srcPort, f.dstPort),
      });
    }
    const t0 = process.hrtime.bigint();
    for (const f of flows) acc.add(f);
    const t1 = process.hrtime.bigint();
    const c1 = process.cpuUsage();
    pending += flows.length;
    if (pending >= batch) {
      rows += db.transaction(() => acc.flush(db))();
      pending = 0;
    }
    flushNs += process.hrtime.bigint() - t1;
    const c = process.cpuUsage(c1);
    flushCpuUs += c.user + c.system;
    addNs += t1 - t0;
    n += flows.length;
  }
  {
    const t1 = process.hrtime.bigint();
    const c1 = process.cpuUsage();
    rows += db.transaction(() => acc.flush(db))();
    flushNs += process.hrtime.bigint() - t1;
    const c = process.cpuUsage(c1);
    flushCpuUs += c.user + c.system;
  }
  db.close();
  for (const x of ['', '-wal', '-shm']) fs.rmSync(scratch + x, { force: true });
  const add = Number(addNs) / n;
  const flush = Number(flushNs) / n;
  console.log(
    `\nRollupAccumulator, the ${n} flows of ${path.basename(args.pcap)} (${devices.size} devices), a flush every ${batch} flows or more:\n` +
      `  add()   ${add.toFixed(0)} ns/flow\n  flush() ${flush.toFixed(0)} ns/flow, CPU ${((flushCpuUs * 1000) / n).toFixed(0)} ns/flow (${rows} rows upserted, ${(rows / n).toFixed(2)} per flow)\n` +
      `  total   ${(add + flush).toFixed(0)} ns/flow = ${Math.round(1e9 / (add + flush))} flows/s`,
  );
}

// 2. queries on the roll-ups of many flows
if (args.queries) {
  const qTotal = Number(args['query-flows']);
  const file = path.join(here, '.data', `rollups-${qTotal}.db`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`building ${file} (${qTotal} flows through the accumulator) ...\n`);
    const db = openRollups(file + '.tmp');
    const t = performance.now();
    ingestLike(db, qTotal, 65_536, (DAYS * 86_400_000_000_000n) / BigInt(qTotal), (n) => n % 5_000_000 < 65_536 && process.stderr.write(`  ${n} flows, ${((performance.now() - t) / 1000).toFixed(0)} s\n`));
    db.exec('ANALYZE');
    db.close();
    fs.renameSync(file + '.tmp', file);
  }
  const db = new Database(file, { readonly: true });
  db.pragma('cache_size = -65536');
  const a = new Analytics(db, new QueryTimer(new Metrics(), 50, file));
  const counts = Object.fromEntries(
    ['rollup_traffic', 'rollup_talkers', 'rollup_conversations', 'rollup_services'].map((t) => [t, db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()]),
  );
  const day = 86_400_000;
  const start = Number(T0 / 1_000_000n) + 10 * day; // the middle of the 20 days
  const ranges = [
    ['24 h, aligned to hours', start, start + day - 1],
    ['24 h, not aligned (17 min past)', start + 17 * 60_000, start + 17 * 60_000 + day - 1],
    ['24 h, worst edges (59 min each side)', start + 60_000, start + 60_000 + day + 58 * 60_000 - 1],
    ['1 h, not aligned', start + 30 * 60_000, start + 90 * 60_000 - 1],
    ['all 20 days', 0, 9_223_372_036_854],
  ];
  // wall ms (CPU ms of this process): the CPU time is what a busy machine does not inflate much
  const median = (fn) => {
    const wall = [];
    const cpu = [];
    for (let i = 0; i < 7; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      fn();
      wall.push(performance.now() - t);
      const d = process.cpuUsage(c);
      cpu.push((d.user + d.system) / 1000);
    }
    const mid = (xs) => xs.sort((x, y) => x - y)[3];
    return `${mid(wall).toFixed(1)} (${mid(cpu).toFixed(1)})`;
  };
  const rows = [];
  for (const [name, from, to] of ranges) {
    rows.push([
      name,
      median(() => a.topTalkers({ from, to, limit: 10 })),
      median(() => a.topConversations({ from, to, limit: 10 })),
      median(() => a.topServices({ from, to, limit: 10 })),
      median(() => a.timeline({ from, to, bucketMs: 3_600_000 })),
      median(() => a.timeline({ from, to, bucketMs: 300_000 })),
    ]);
  }
  db.close();
  const header = ['range', 'top talkers', 'top conversations', 'top services', 'timeline 1h', 'timeline 5m'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  console.log(
    `\nqueries on the roll-ups of ${qTotal} flows over 20 days (${JSON.stringify(counts)}), medians of 7, wall ms (CPU ms), load ${os.loadavg()[0].toFixed(1)}:\n`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

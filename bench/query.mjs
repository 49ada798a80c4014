// Paging, analytics and retention on a 2M-flow database (synthetic rows over
// 20 days, so 20 daily partitions; cached in bench/.data): keyset page 1 vs
// page 1000 vs offset page 1000, p95 page latency at limit 100; top talkers,
// conversations and services over the whole range, a 24-hour range and an
// hour not aligned to the hour, and a 24-hour timeline by minute and by hour
// (p50/p95 over 20 runs each, store.analytics); and retention's delete rate
// while an ingest runs (the oldest 5 days: 5 partitions dropped).
//
// With --db FILE the page shapes and analytics run against that database
// instead (read-only; e.g. the 50M-flow one bench/flat.mjs leaves), with
// filters picked from its data: a port about 1/4 of flows use, the rarest
// source port, a device with about 1/2048 of the flows, a /24 with about 1/16
// of them (counted over all of it from the partitions' indexes, untimed).
// Retention is not run then (it would delete from that database). A walk
// stops after 60 s (the table says so), the offset pages and each analytics
// query's runs after 60 s too. --pages: the page shapes only (no analytics).
//
//   node bench/query.mjs [--db FILE] [--pages]
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const require = createRequire(import.meta.url);
const { FlowMeter, openStore } = require('../dist/index.js');
const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = path.join(here, '.data');
const dbAt = process.argv.indexOf('--db');
const givenDb = dbAt > 0 ? process.argv[dbAt + 1] : undefined;
const pagesOnly = process.argv.includes('--pages');
const RUNS = 20;
/** a page walk stops after this long (a shape whose pages take seconds would take hours) */
const BUDGET_MS = 60_000;
const FLOWS = 2_000_000;
const T0 = 1_767_225_600_000n * 1_000_000n;
const DAYS = 20n;
const STEP_NS = (DAYS * 86_400_000_000_000n) / BigInt(FLOWS); // 2M flows over 20 days: 20 daily partitions

function build(file) {
  const store = openStore(file);
  const db = store.db;
  db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('synthetic', 'file', 'bench', 'native', 0)").run();
  const dev = db.prepare('INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, 0, 0, 0)');
  db.transaction(() => {
    for (let i = 0; i < 4096; i++) dev.run(Buffer.from([10, 0, i >> 8, i & 255]));
  })();
  for (let at = 0; at < FLOWS; at += 50_000) {
    const rows = [];
    for (let i = at; i < at + 50_000; i++) {
      const a = i % 4096;
      const b = (i * 7919) % 4096;
      const first = T0 + BigInt(i) * STEP_NS;
      rows.push({
        source_id: 1, flow_id: i + 1, segment: 0, first_ns: first, last_ns: first + 1_000_000n * BigInt(i % 5000), end_reason: 4, ip_version: 4,
        protocol: 6, ether_type: 2048, vlan: 0, src_addr: Buffer.from([10, 0, a >> 8, a & 255]), dst_addr: Buffer.from([10, 0, b >> 8, b & 255]),
        src_port: 1024 + (i % 60000), dst_port: [80, 443, 502, 53][i % 4], src_device: a + 1, dst_device: b + 1, fwd_packets: 1 + (i % 17),
        fwd_bytes: 60 * (1 + (i % 97)), rev_packets: i % 5, rev_bytes: 40 * (i % 89), fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0,
        service: i % 4 === 2 ? 'modbus' : null, server_is_dst: 1,
      });
    }
    store.appendFlows(rows);
  }
  db.exec('ANALYZE');
  store.close();
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]; // nearest rank
const time = (fn) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

/** 1/N, for a share of the rows */
const oneIn = (n, of) => (n ? `1/${Math.round(of / n)}` : 'none');

/**
 * Page shapes whose filters fit the data of a database this bench did not
 * build, their shares counted over all of it (untimed): per partition, from
 * the indexes on src_port, dst_port, src_device and dst_device (a flow whose
 * two ends match counts twice: rare).
 */
function shapesFromData(store) {
  const t0 = performance.now();
  const db = store.db;
  const count = (column) => {
    const m = new Map();
    for (const p of store.partitions.list()) {
      for (const [k, n] of db.prepare(`SELECT ${column}, count(*) FROM ${p.name} GROUP BY ${column}`).raw(true).iterate()) m.set(k, (m.get(k) ?? 0) + n);
    }
    return m;
  };
  const either = (a, b) => {
    const m = new Map(a);
    for (const [k, n] of b) m.set(k, (m.get(k) ?? 0) + n);
    return [...m].map(([k, n]) => ({ k, n }));
  };
  const total = store.partitions.list().reduce((a, p) => a + db.prepare(`SELECT count(*) FROM ${p.name}`).pluck().get(), 0);
  const closest = (rows, share) => rows.reduce((best, r) => (Math.abs(Math.log(r.n / total / share)) < Math.abs(Math.log(best.n / total / share)) ? r : best));
  const srcPorts = count('src_port');
  const ports = either(srcPorts, count('dst_port'));
  const port = closest(ports, 1 / 4); // a port (either end) about 1/4 of the flows use
  // the rarest source port (either end)
  const rare = ports.filter((r) => srcPorts.has(r.k)).reduce((best, r) => (r.n < best.n || (r.n === best.n && r.k < best.k) ? r : best));
  const devices = either(count('src_device'), count('dst_device'));
  const device = closest(devices, 1 / 2048); // a device (either end) in about 1/2048 of the flows
  // an IPv4 /24 (either end) with about 1/16 of the flows: its devices' counts
  const addr = db.prepare('SELECT addr FROM devices WHERE id = ?').pluck();
  const nets = new Map();
  for (const { k, n } of devices) {
    const a = addr.get(k);
    if (a?.length === 4) nets.set(a.subarray(0, 3).join('.'), (nets.get(a.subarray(0, 3).join('.')) ?? 0) + n);
  }
  const net = closest([...nets].map(([k, n]) => ({ k, n })), 1 / 16);
  process.stderr.write(`filters picked from ${total} flows, ${ports.length} ports, ${devices.length} devices in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return [
    { name: 'all flows, by start time', req: { sort: 'first' } },
    { name: `port ${port.k} (${oneIn(port.n, total)} of flows), by bytes desc`, req: { sort: 'bytes', order: 'desc', filter: { port: port.k } } },
    { name: `port ${rare.k} (${oneIn(rare.n, total)}: the rarest source port), by start time`, req: { sort: 'first', filter: { port: rare.k } } },
    { name: `device ${device.k} (${oneIn(device.n, total)}), by bytes desc`, req: { sort: 'bytes', order: 'desc', filter: { device: device.k } } },
    { name: `host ${net.k}.0/24 (${oneIn(net.n, total)}), by start time`, req: { sort: 'first', filter: { host: `${net.k}.0/24` } } },
  ];
}

fs.mkdirSync(dataDir, { recursive: true });
const dbFile = givenDb ?? path.join(dataDir, `query-${FLOWS}-partitioned.db`);
if (givenDb && !fs.existsSync(givenDb)) throw new Error(`${givenDb}: no such database`);
if (!fs.existsSync(dbFile)) {
  process.stderr.write(`building ${dbFile} ...\n`);
  build(dbFile);
}
const started = performance.now();
const store = openStore(dbFile, { readonly: true });
const partitions = store.partitions.list();
const stored = partitions.reduce((a, p) => a + p.rows, 0);
const shapes = givenDb
  ? shapesFromData(store)
  : [
      { name: 'all flows, by start time', req: { sort: 'first' } },
      { name: 'port 502 (1/4 of flows), by bytes desc', req: { sort: 'bytes', order: 'desc', filter: { port: 502 } } },
      { name: 'port 1030 (1/60000), by start time', req: { sort: 'first', filter: { port: 1030 } } },
      { name: 'device 7 (1/2048), by bytes desc', req: { sort: 'bytes', order: 'desc', filter: { device: 7 } } },
      { name: 'host 10.0.0.0/24 (1/16), by start time', req: { sort: 'first', filter: { host: '10.0.0.0/24' } } },
    ];
const out = [];
for (const shape of shapes) {
  // walks up to 1000 pages (fewer where the filter matches fewer rows, or once a walk has
  // taken BUDGET_MS), twice: the p95 is over both walks
  const lat = [];
  let walked = 0;
  let stopped = false;
  for (let walk = 0; walk < 2; walk++) {
    let cursor;
    let spent = 0;
    for (let i = 0; i < (walk === 0 ? 1000 : walked); i++) {
      let page;
      const ms = time(() => (page = store.flows.page({ ...shape.req, limit: 100, cursor })));
      lat.push(ms);
      spent += ms;
      cursor = page.next;
      if (walk === 0) walked++;
      if (!cursor) break;
      if (walk === 0 && spent > BUDGET_MS && i < 999) {
        stopped = true;
        break;
      }
    }
  }
  const last = lat.slice(walked - Math.min(10, walked), walked);
  const offsetPage = Math.min(1000, walked);
  const offset = [];
  for (let i = 0, spent = 0; i < 5 && spent <= BUDGET_MS; i++) {
    offset.push(time(() => store.flows.offsetPage({ ...shape.req, page: offsetPage, pageSize: 100 })));
    spent += offset.at(-1);
  }
  out.push([
    shape.name, stopped ? `${walked} (time limit)` : String(walked), lat[0].toFixed(2), pct(last, 50).toFixed(2), pct(lat, 50).toFixed(2), pct(lat, 95).toFixed(2),
    `${pct(offset, 50).toFixed(2)} (page ${offsetPage})`,
  ]);
  process.stderr.write(`${shape.name}: ${walked} pages, p50 ${pct(lat, 50).toFixed(2)} ms, p95 ${pct(lat, 95).toFixed(2)} ms\n`);
}

// analytics (roll-ups): the data's range from the minute rows
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const span = store.db.prepare('SELECT min(t) lo, max(t) hi FROM rollup_traffic WHERE res = ?').get(MIN);
const dataFrom = span.lo;
const dataTo = span.hi + MIN - 1;
const day = { from: dataFrom + 7 * MIN + 13_000, to: dataFrom + 7 * MIN + 13_000 + DAY - 1 }; // 24 hours from 0:07:13 into the data
const midHour = Math.floor((dataFrom + (dataTo - dataFrom) / 2) / HOUR) * HOUR;
const hour = { from: midHour + 17 * MIN + 23_000, to: midHour + 17 * MIN + 23_000 + HOUR - 1 }; // :17:23 to :17:22 an hour later
const iso = (ms) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const ranges = [
  ['whole range', {}],
  [`24 h (${iso(day.from)} +24 h)`, day],
  [`1 h (${iso(hour.from)} +1 h)`, hour],
];
const analytics = [];
const timeRuns = (label, range, fn) => {
  const lat = [];
  let rows = 0;
  for (let i = 0, spent = 0; i < RUNS && spent <= BUDGET_MS; i++) {
    lat.push(time(() => (rows = fn().length)));
    spent += lat.at(-1);
  }
  analytics.push([label, range, String(rows), String(lat.length), lat[0].toFixed(2), pct(lat, 50).toFixed(2), pct(lat, 95).toFixed(2)]);
  process.stderr.write(`${label}, ${range}: p50 ${pct(lat, 50).toFixed(2)} ms, p95 ${pct(lat, 95).toFixed(2)} ms\n`);
};
for (const [rangeName, r] of pagesOnly ? [] : ranges) {
  timeRuns('topTalkers (bytes, 10)', rangeName, () => store.analytics.topTalkers({ ...r, limit: 10 }));
  timeRuns('topConversations (bytes, 10)', rangeName, () => store.analytics.topConversations({ ...r, limit: 10 }));
  timeRuns('topServices (bytes, 10)', rangeName, () => store.analytics.topServices({ ...r, limit: 10 }));
}
for (const bucketMs of pagesOnly ? [] : [MIN, HOUR]) timeRuns(`timeline, bucketMs ${bucketMs}`, ranges[1][0], () => store.analytics.timeline({ ...day, bucketMs }));
store.close();

const table = (header, body) => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of body) console.log(line(r));
};
const queryMin = ((performance.now() - started) / 60000).toFixed(1);
console.log(
  `\n${(stored / 1e6).toFixed(1)}M flows in ${partitions.length} partitions, ${path.relative(process.cwd(), dbFile)} ` +
    `(${new Date().toISOString().slice(0, 10)}, node ${process.version}; data ${iso(dataFrom)} to ${iso(dataTo)}; ${queryMin} min):\n`,
);
table(['page shape (limit 100)', 'pages', 'keyset page 1 ms', 'keyset last pages ms', 'keyset median ms', 'keyset p95 ms', 'offset, same depth ms'], out);
if (!pagesOnly) console.log(`\nAnalytics (store.analytics, read-only store; ${RUNS} runs each, the first included, fewer once they have taken ${BUDGET_MS / 1000} s):\n`);
if (!pagesOnly) table(['query', 'range', 'rows', 'runs', 'first run ms', 'p50 ms', 'p95 ms'], analytics);

if (!givenDb && !pagesOnly) {
  // retention beside an ingest: delete the oldest 500k flows of a copy while a capture is ingested into it
  const work = path.join(dataDir, 'query-retention.db');
  fs.copyFileSync(dbFile, work);
  const cap = path.join(dataDir, 'query-ingest.pcap');
  if (!fs.existsSync(cap)) await generate({ out: cap, packets: 2_000_000, flows: 100_000, hosts: 2000, mix: 'simple', seed: 1, quiet: true });
  const rw = openStore(work);
  const cutoffMs = Number((T0 + 5n * 86_400_000_000_000n) / 1_000_000n); // the first 5 days: the oldest 500k flows
  const ingest = rw.ingest(new FlowMeter().readFile(cap));
  const report = await rw.retain({ flows: 0, now: cutoffMs, vacuum: false });
  const ing = await ingest;
  // for contrast, the row-by-row path: --exact deleting the next half day (50k flows) of a kept partition, also beside an ingest
  await rw.retain({ flows: 0, now: cutoffMs, vacuum: false }); // untimed: the first ingest's flows (2026-01-01) are past the cutoff too
  const ingest2 = rw.ingest(new FlowMeter().readFile(cap));
  const exact = await rw.retain({ flows: 0, now: cutoffMs + 43_200_000, exact: true, vacuum: false });
  await ingest2;
  rw.close();
  for (const x of ['', '-wal', '-shm']) fs.rmSync(work + x, { force: true });

  console.log(
    `\nretention: ${report.flowsDeleted} flows deleted (${report.partitionsDropped} partitions dropped) in ${(report.ms / 1000).toFixed(2)} s wall = ` +
      `${Math.round(report.flowsDeleted / (report.ms / 1000))} rows/s (its own transactions: ${(report.busyMs / 1000).toFixed(2)} s), ` +
      `while an ingest committed ${ing.flows} flows in ${ing.batches} batches`,
  );
  console.log(
    `row by row (exact, the next half day): ${exact.flowsDeleted} flows deleted in ${(exact.ms / 1000).toFixed(2)} s wall = ` +
      `${Math.round(exact.flowsDeleted / (exact.ms / 1000))} rows/s (its own transactions: ${(exact.busyMs / 1000).toFixed(2)} s), beside another ingest`,
  );
}

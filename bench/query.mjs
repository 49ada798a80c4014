// Paging and retention on a 2M-flow database (synthetic rows over 20 days,
// so 20 daily partitions; cached in bench/.data): keyset page 1 vs page 1000
// vs offset page 1000, p95 page latency at limit 100, and retention's delete
// rate while an ingest runs (the oldest 5 days: 5 partitions dropped).
//   node bench/query.mjs
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const require = createRequire(import.meta.url);
const { FlowMeter, openStore } = require('../dist/index.js');
const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = path.join(here, '.data');
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

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const time = (fn) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

fs.mkdirSync(dataDir, { recursive: true });
const dbFile = path.join(dataDir, `query-${FLOWS}-partitioned.db`);
if (!fs.existsSync(dbFile)) {
  process.stderr.write(`building ${dbFile} ...\n`);
  build(dbFile);
}
const store = openStore(dbFile, { readonly: true });
const out = [];
for (const shape of [
  { name: 'all flows, by start time', req: { sort: 'first' } },
  { name: 'port 502 (1/4 of flows), by bytes desc', req: { sort: 'bytes', order: 'desc', filter: { port: 502 } } },
  { name: 'port 1030 (1/60000), by start time', req: { sort: 'first', filter: { port: 1030 } } },
  { name: 'device 7 (1/2048), by bytes desc', req: { sort: 'bytes', order: 'desc', filter: { device: 7 } } },
  { name: 'host 10.0.0.0/24 (1/16), by start time', req: { sort: 'first', filter: { host: '10.0.0.0/24' } } },
]) {
  // walks up to 1000 pages (fewer where the filter matches fewer rows), twice: the p95 is over both walks
  const lat = [];
  let walked = 0;
  for (let walk = 0; walk < 2; walk++) {
    let cursor;
    for (let i = 0; i < 1000; i++) {
      let page;
      lat.push(time(() => (page = store.flows.page({ ...shape.req, limit: 100, cursor }))));
      cursor = page.next;
      if (walk === 0) walked++;
      if (!cursor) break;
    }
  }
  const last = lat.slice(walked - Math.min(10, walked), walked);
  const offsetPage = Math.min(1000, walked);
  const offset = [];
  for (let i = 0; i < 5; i++) offset.push(time(() => store.flows.offsetPage({ ...shape.req, page: offsetPage, pageSize: 100 })));
  out.push([shape.name, String(walked), lat[0].toFixed(2), pct(last, 50).toFixed(2), pct(lat, 50).toFixed(2), pct(lat, 95).toFixed(2), `${pct(offset, 50).toFixed(2)} (page ${offsetPage})`]);
}
store.close();

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

const header = ['page shape (limit 100)', 'pages', 'keyset page 1 ms', 'keyset last pages ms', 'keyset median ms', 'keyset p95 ms', 'offset, same depth ms'];
const widths = header.map((h, i) => Math.max(h.length, ...out.map((r) => r[i].length)));
const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
console.log(`\n${FLOWS / 1e6}M flows (${new Date().toISOString().slice(0, 10)}, node ${process.version}):\n`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of out) console.log(line(r));
console.log(
  `\nretention: ${report.flowsDeleted} flows deleted (${report.partitionsDropped} partitions dropped) in ${(report.ms / 1000).toFixed(2)} s wall = ` +
    `${Math.round(report.flowsDeleted / (report.ms / 1000))} rows/s (its own transactions: ${(report.busyMs / 1000).toFixed(2)} s), ` +
    `while an ingest committed ${ing.flows} flows in ${ing.batches} batches`,
);
console.log(
  `row by row (exact, the next half day): ${exact.flowsDeleted} flows deleted in ${(exact.ms / 1000).toFixed(2)} s wall = ` +
    `${Math.round(exact.flowsDeleted / (exact.ms / 1000))} rows/s (its own transactions: ${(exact.busyMs / 1000).toFixed(2)} s), beside another ingest`,
);

// `flowmaster serve` under load: autocannon against 127.0.0.1 with 50
// connections per route, the server in a child process (dist/cli/main.js
// serve, so the load generator does not share its event loop), printing
// p50/p95/p99 latency and req/s per route. A measurement, never a test.
//
// The store: N synthetic flows (default 200k) over one day between 4096
// devices, sealed every 50k rows (so pages merge indexed partitions and a hot
// one), cached in bench/.data/serve-N.db; or --db FILE (read-only, e.g. the
// 50M-flow database bench/flat.mjs leaves).
//
//   npm run build:ts && node bench/serve.mjs [--flows 200000] [--db FILE] [--duration 5] [--connections 50] [--routes flows,top] [--no-cache] [--threads 0,2]
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startServer } from './serve-process.mjs';

const require = createRequire(import.meta.url);
const { openStore } = require('../dist/index.js');
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

function flag(name, dflt) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : dflt;
}
const FLOWS = Number(flag('flows', 200_000));
const DURATION = Number(flag('duration', 3));
const CONNECTIONS = Number(flag('connections', 50));
const ONLY = flag('routes', '').split(',').filter(Boolean);
// --no-cache: every request queries (the server's reply cache off), the routes' own cost
const NO_CACHE = process.argv.includes('--no-cache');
// --threads 0,2: one server per reader-thread count, each route measured on each, side by side (default: the server's default)
const THREADS = flag('threads', '').split(',').filter(Boolean);
const T0 = 1_767_225_600_000n * 1_000_000n; // 2026-01-01
const DAY_NS = 86_400_000_000_000n;
const DEVICES = 4096;

/** N synthetic flows over one day (appendFlows books their roll-ups), then ANALYZE. */
function build(file, flows) {
  const t0 = performance.now();
  const store = openStore(file, { sealRows: 50_000 });
  const db = store.db;
  db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms, ended_ms, status) VALUES ('synthetic', 'file', 'bench', 'native', 0, 0, 'complete')").run();
  const dev = db.prepare('INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms, packets, bytes, flows) VALUES (?, 0, 0, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < DEVICES; i++) dev.run(Buffer.from([10, 0, i >> 8, i & 255]), 1_767_225_600_000 + i, i * 7, i * 900, i);
  })();
  const step = DAY_NS / BigInt(flows);
  for (let at = 0; at < flows; at += 50_000) {
    const rows = [];
    for (let i = at; i < Math.min(flows, at + 50_000); i++) {
      const a = i % DEVICES;
      const b = (i * 7919) % DEVICES;
      const first = T0 + BigInt(i) * step;
      rows.push({
        source_id: 1, flow_id: i + 1, segment: 0, first_ns: first, last_ns: first + 1_000_000n * BigInt(i % 5000), end_reason: 4, ip_version: 4,
        protocol: i % 5 ? 6 : 17, ether_type: 2048, vlan: 0, src_addr: Buffer.from([10, 0, a >> 8, a & 255]), dst_addr: Buffer.from([10, 0, b >> 8, b & 255]),
        src_port: 1024 + (i % 60000), dst_port: [80, 443, 502, 53][i % 4], src_device: a + 1, dst_device: b + 1, fwd_packets: 1 + (i % 17),
        fwd_bytes: 60 * (1 + (i % 97)), rev_packets: i % 5, rev_bytes: 40 * (i % 89), fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0,
        service: ['http', 'https', 'modbus', 'dns'][i % 4], server_is_dst: 1,
      });
    }
    store.appendFlows(rows);
  }
  db.exec('ANALYZE');
  store.close();
  console.log(`built ${file}: ${flows} flows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

function database() {
  const given = flag('db');
  if (given) return given;
  const dir = path.join(here, '.data');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `serve-${FLOWS}.db`);
  if (!fs.existsSync(file)) build(file, FLOWS);
  return file;
}


const getJson = async (url) => (await fetch(url)).json();

/** The routes measured: what the dashboard asks for, plus a deep keyset page and filtered pages. */
async function routes(base) {
  const first = await getJson(`${base}/api/flows?limit=1&order=asc`);
  const t0 = first.items[0]?.first ?? 0;
  let cursor = null;
  for (let i = 0; i < 20; i++) cursor = (await getJson(`${base}/api/flows?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).next ?? cursor; // page 21
  const hour = (h) => new Date(Math.floor(t0) + h * 3_600_000).toISOString();
  return [
    ['flows', '/api/flows?limit=100'],
    ['flows-deep', `/api/flows?limit=100&cursor=${cursor}`],
    ['flows-bytes', '/api/flows?limit=100&sort=bytes'],
    ['flows-host', `/api/flows?limit=100&host=${first.items[0]?.src ?? '10.0.3.0'}/24`],
    ['flows-port', `/api/flows?limit=100&port=${first.items[0]?.dstPort ?? 502}`],
    ['flows-range', `/api/flows?limit=100&from=${hour(5)}&to=${hour(6)}`],
    ['flows-offset', '/api/flows?page=10&pageSize=100'],
    ['flow-id', `/api/flows/${first.items[0]?.id ?? 1}`],
    ['devices', '/api/devices?limit=100'],
    ['devices-bytes', '/api/devices?limit=100&sort=bytes'],
    ['top-talkers', '/api/top/talkers'],
    ['top-conversations', '/api/top/conversations'],
    ['top-services', '/api/top/services'],
    ['top-applications', '/api/top/applications'],
    ['top-talkers-hour', `/api/top/talkers?from=${hour(3)}&to=${hour(4)}`],
    ['timeline-1m', `/api/timeline?bucket=1m&from=${hour(0)}&to=${hour(24)}`],
    ['timeline-1h', '/api/timeline?bucket=1h'],
    ['sources', '/api/sources'],
    ['healthz', '/healthz'],
  ].filter(([name]) => !ONLY.length || ONLY.some((o) => name.startsWith(o)));
}

const pct = (xs, p) => xs[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]; // nearest rank of sorted xs

/** One route under load: every response's latency (autocannon's own percentiles have no p95). */
function load(url, connections, duration) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const instance = autocannon({ url, connections, duration }, (err, result) => (err ? reject(err) : resolve({ result, latencies: latencies.sort((a, b) => a - b) })));
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

/**
 * Until the server has answered what the last run left queued (closed sockets are still served): a query
 * through the reader threads (a URL never asked before: no cached reply) answers at once.
 */
let drains = 0;
async function drain(base) {
  for (let i = 0; i < 600; i++) {
    const t = performance.now();
    await fetch(`${base}/api/sources?limit=1&after=${++drains}`);
    if (performance.now() - t < 5) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function measure(url, route) {
  // one connection: the route's own cost; then CONNECTIONS: throughput, and latency with the queue in front of it
  const one = await load(url + route, 1, 1);
  await drain(url);
  const { result, latencies } = await load(url + route, CONNECTIONS, DURATION);
  await drain(url);
  return { one: one.latencies, latencies, rps: result.requests.average, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

async function main() {
  const db = database();
  const settings = THREADS.length ? THREADS : [undefined];
  const servers = [];
  try {
    for (const t of settings) servers.push(await startServer(db, [...(NO_CACHE ? ['--cache-mb', '0'] : []), ...(t === undefined ? [] : ['--threads', t])]));
    const list = await routes(servers[0].url);
    console.log(`${db}: ${CONNECTIONS} connections, ${DURATION} s per route, reply cache ${NO_CACHE ? 'off' : 'on'}, reader threads ${THREADS.length ? THREADS.join(' vs ') : 'default'}, node ${process.version}\n`);
    const head = ['route', ...(THREADS.length ? ['threads'] : []), '1 conn p50', 'p95', `${CONNECTIONS} conn req/s`, 'p50 ms', 'p95 ms', 'p99 ms', 'non-2xx', 'errors'];
    if (THREADS.length > 1) head.push(`req/s vs ${THREADS[0]}`);
    const rows = [head];
    const ms = (xs, p) => (xs.length ? pct(xs, p).toFixed(1) : '-');
    for (const [name, route] of list) {
      let base;
      for (const [i, t] of settings.entries()) {
        const m = await measure(servers[i].url, route);
        base ??= m.rps;
        const row = [name, ...(THREADS.length ? [t] : []), ms(m.one, 50), ms(m.one, 95), m.rps.toFixed(0), ms(m.latencies, 50), ms(m.latencies, 95), ms(m.latencies, 99), String(m.non2xx), String(m.errors)];
        if (THREADS.length > 1) row.push(`${(m.rps / base).toFixed(2)}x`);
        rows.push(row);
        console.log(row.join('\t'));
      }
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    console.log('\n' + rows.map((r) => r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')).join('\n'));
  } finally {
    for (const s of servers) s.proc.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

// Flat as it grows: 50M flows (default; --flows N) into ONE database file,
// bench/.data/flat-<N>.db (deleted first), as a sequence of generated
// captures of 1M flows each (2M packets, 64-byte frames, 50k client hosts,
// seed i), capture i starting 30 minutes after capture i-1 (50 captures: 25
// hours of traffic). Each capture is generated into a temp file by
// scripts/gen-pcap.mjs in a child process (so this process's RSS is the
// store's), ingested through the library (one store, opened once for all,
// native engine), then deleted. Per 5M flows (--every N) it prints the ingest
// rate (flows/s over the ingest time only), the file size (database + -wal)
// per flow, the partitions and the peak RSS so far; at the end the ratio of
// the last 5M's rate to the first 5M's. The database stays for
// bench/query.mjs --db (--no-keep deletes it).
//
//   node bench/flat.mjs [--flows N] [--every N] [--no-keep]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_SEC } from '../scripts/gen-pcap.mjs';

const require = createRequire(import.meta.url);
const { FlowMeter, openStore } = require('../dist/index.js');
const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, d) => {
  const at = argv.indexOf(name);
  return at >= 0 ? Number(argv[at + 1]) : d;
};
const TOTAL = opt('--flows', 50_000_000);
const EVERY = opt('--every', 5_000_000);
const keep = !argv.includes('--no-keep');
const PER_CAPTURE = Math.min(1_000_000, TOTAL);
const CAPTURE_SECONDS = 1800;
const dbFile = path.join(here, '.data', `flat-${TOTAL}.db`);
const files = ['', '-wal', '-shm'].map((x) => dbFile + x);
const size = () => files.slice(0, 2).reduce((a, f) => a + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);
const rssMiB = () => process.resourceUsage().maxRSS / 1024;

fs.mkdirSync(path.dirname(dbFile), { recursive: true });
for (const f of files) fs.rmSync(f, { force: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-flat-'));
const store = openStore(dbFile);
const rows = [];
const started = performance.now();
let stored = 0;
let window = { flows: 0, ingestMs: 0, genMs: 0, from: 0 };
try {
  for (let i = 0; stored < TOTAL; i++) {
    const flows = Math.min(PER_CAPTURE, TOTAL - stored);
    const pcap = path.join(tmp, `flat-${i}.pcap`);
    const g0 = performance.now();
    execFileSync(process.execPath, [
      path.join(here, '..', 'scripts', 'gen-pcap.mjs'), '--out', pcap, '--packets', String(2 * flows), '--flows', String(flows), '--hosts', '50000',
      '--sizes', '64', '--mix', 'simple', '--seed', String(i + 1), '--duration', String(CAPTURE_SECONDS), '--start', String(BASE_SEC + CAPTURE_SECONDS * i), '--quiet',
    ]);
    const genMs = performance.now() - g0;
    const t0 = performance.now();
    const r = await store.ingest(new FlowMeter({ engine: 'native' }).readFile(pcap));
    const ingestMs = performance.now() - t0;
    fs.rmSync(pcap, { force: true });
    stored += r.flows;
    window.flows += r.flows;
    window.ingestMs += ingestMs;
    window.genMs += genMs;
    process.stderr.write(
      `capture ${i + 1}: ${r.flows} flows in ${(ingestMs / 1000).toFixed(2)} s (${(r.flows / (ingestMs / 1000)).toFixed(0)} flows/s, ${r.batches} commits, ` +
        `${r.devices} devices created; generated in ${(genMs / 1000).toFixed(1)} s); ${stored} stored, ${(size() / stored).toFixed(1)} bytes/flow\n`,
    );
    if (r.flows < flows) throw new Error(`capture ${i + 1}: ${r.flows} flows stored of ${flows}`);
    if (window.flows >= EVERY || stored >= TOTAL) {
      const parts = store.partitions.list();
      const devices = store.db.prepare('SELECT count(*) FROM devices').pluck().get();
      rows.push({
        range: `${fmt(window.from)}–${fmt(stored)}`, flows: window.flows, ingestS: window.ingestMs / 1000, rate: window.flows / (window.ingestMs / 1000),
        bytesPerFlow: size() / stored, sizeMiB: size() / 1048576, partitions: parts.length, sealed: parts.filter((p) => p.state === 'sealed').length,
        devices, rss: rssMiB(), genS: window.genMs / 1000,
      });
      const x = rows.at(-1);
      process.stderr.write(`== ${x.range}: ${x.rate.toFixed(0)} flows/s, ${x.bytesPerFlow.toFixed(1)} bytes/flow, ${x.partitions} partitions, peak RSS ${x.rss.toFixed(0)} MiB\n`);
      window = { flows: 0, ingestMs: 0, genMs: 0, from: stored };
    }
  }
} finally {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  if (!keep) for (const f of files) fs.rmSync(f, { force: true });
}

function fmt(n) {
  return n % 1e6 === 0 ? `${n / 1e6}M` : `${(n / 1e6).toFixed(1)}M`;
}

const header = ['flows', 'ingest s', 'ingest flows/s', 'file MiB (db + wal)', 'bytes/flow', 'partitions (sealed)', 'devices', 'peak RSS MiB so far'];
const body = rows.map((r) => [
  r.range, r.ingestS.toFixed(1), r.rate.toFixed(0), r.sizeMiB.toFixed(0), r.bytesPerFlow.toFixed(1), `${r.partitions} (${r.sealed})`, String(r.devices), r.rss.toFixed(0),
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
const totalS = (performance.now() - started) / 1000;
const ingestS = rows.reduce((a, r) => a + r.ingestS, 0);
console.log(
  `\n${fmt(TOTAL)} flows into one database (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${os.cpus().length} cores; ` +
    `${(totalS / 60).toFixed(1)} min in all, ${(ingestS / 60).toFixed(1)} min ingesting):\n`,
);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of body) console.log(line(r));
const first = rows[0];
const last = rows.at(-1);
console.log(
  `\nlast ${fmt(last.flows)} / first ${fmt(first.flows)} ingest rate: ${(last.rate / first.rate).toFixed(2)} ` +
    `(${last.rate.toFixed(0)} / ${first.rate.toFixed(0)} flows/s); ${(fs.existsSync(dbFile) ? fs.statSync(dbFile).size / TOTAL : last.bytesPerFlow).toFixed(1)} bytes/flow after close` +
    `${keep ? ` (${path.relative(process.cwd(), dbFile)} kept)` : ''}`,
);

// Multi-file ingest: `flowmaster ingest` of 4 generated 2M-packet captures
// with --workers 2 (two reader threads, piscina) vs --workers 1 (one reader),
// alternating in one run; medians and the speed-up. The single SQLite writer
// on the main thread is the limit to watch. A measurement, not a test.
//
//   node bench/ingest.mjs [--reps N] [--quick]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'dist', 'cli', 'main.js');
const quick = process.argv.includes('--quick');
const repsAt = process.argv.indexOf('--reps');
const reps = repsAt > 0 ? Number(process.argv[repsAt + 1]) : 3;
const packets = quick ? 200_000 : 2_000_000;
const flows = packets / 100;
const dataDir = path.join(here, '.data');
fs.mkdirSync(dataDir, { recursive: true });
const files = [];
for (let i = 0; i < 4; i++) {
  const file = path.join(dataDir, `ingest-${packets}-${i}.pcap`);
  if (!fs.existsSync(file)) await generate({ out: file, packets, flows, hosts: flows / 10, sizes: 'imix', mix: 'simple', seed: 100 + i, quiet: true });
  files.push(file);
}
execFileSync('sh', ['-c', 'cat "$@" > /dev/null', 'sh', ...files]); // page cache warm
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-ingest-bench-'));
const times = { 1: [], 2: [] };
for (let rep = 0; rep < reps; rep++) {
  for (const workers of [1, 2]) {
    const db = path.join(tmp, `w${workers}.db`);
    for (const x of ['', '-wal', '-shm']) fs.rmSync(db + x, { force: true });
    const t0 = performance.now();
    const out = execFileSync(process.execPath, [cli, 'ingest', '--db', db, '--workers', String(workers), '--no-progress', ...files], { encoding: 'utf8' });
    const s = (performance.now() - t0) / 1000;
    times[workers].push(s);
    process.stderr.write(`#${rep + 1} --workers ${workers}: ${s.toFixed(2)} s  ${out.trim()}\n`);
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const total = packets * 4;
console.log(`\nflowmaster ingest, 4 files x ${packets / 1e6}M packets (IMIX, ${flows} flows each), ${os.availableParallelism()} cores, medians of ${reps} (${new Date().toISOString().slice(0, 10)}):\n`);
console.log('| --workers | seconds | packets/s |');
console.log('|---|---|---|');
for (const w of [1, 2]) console.log(`| ${w} | ${median(times[w]).toFixed(2)} | ${Math.round(total / median(times[w])).toLocaleString('en-US')} |`);
console.log(`\nspeed-up with 2 workers: ${(median(times[1]) / median(times[2])).toFixed(2)}x`);

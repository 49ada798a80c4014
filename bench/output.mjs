// Text output at engine speed: `flowmaster read --format jsonl|csv > /dev/null`
// beside the library reading the same capture with no formatting at all
// (`for await (const b of new FlowMeter().readFile(f)) for (const fl of b) {}`),
// on a 5M-packet / 1M-flow IMIX capture (one flow record per 5 packets, the
// worst case for output). Each of the three is a child process (Node start-up
// included in all three), stdout on /dev/null, the page cache warm; they
// alternate `--reps` times (default 3) and the table gives medians (ratio:
// the median of the per-rep ratios to the library). A measurement, not a test.
//
//   node bench/output.mjs [--quick] [--reps N]      (--quick: a 10x smaller capture)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const quick = process.argv.includes('--quick');
const scale = quick ? 10 : 1;
const repsAt = process.argv.indexOf('--reps');
const reps = repsAt > 0 ? Math.max(1, Number(process.argv[repsAt + 1])) : 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// the capture bench/store.mjs makes too (same name, same options: shared in bench/.data/)
const c = { packets: 5_000_000 / scale, flows: 1_000_000 / scale, hosts: 20_000 / scale, sizes: 'imix' };
const dataDir = path.join(here, '.data');
const file = path.join(dataDir, `store-${c.packets}-${c.flows}-${c.hosts}-${c.sizes}.pcap`);
if (!fs.existsSync(file)) {
  fs.mkdirSync(dataDir, { recursive: true });
  await generate({ out: file, packets: c.packets, flows: c.flows, hosts: c.hosts, sizes: c.sizes, mix: 'simple', seed: 1 });
}
if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ missing: npm run build:ts first');

const LIBRARY = `
const { FlowMeter } = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
(async () => {
  let flows = 0;
  for await (const b of new FlowMeter().readFile(process.argv[1])) for (const fl of b) flows++;
  process.stderr.write(flows + ' flows\\n');
})();
`;
const cli = path.join(root, 'dist', 'cli', 'main.js');
const cases = [
  { name: 'library, no formatting', args: ['-e', LIBRARY, file] },
  { name: 'read --format jsonl > /dev/null', args: [cli, 'read', file, '--format', 'jsonl'] },
  { name: 'read --format csv > /dev/null', args: [cli, 'read', file, '--format', 'csv'] },
];

const loadBefore = os.loadavg(); // the machine may be shared: the load says how noisy the figures are
const devNull = fs.openSync('/dev/null', 'w');
const seconds = cases.map(() => []);
const ratios = cases.map(() => []);
for (let rep = 0; rep < reps; rep++) {
  execFileSync('sh', ['-c', 'cat "$0" > /dev/null', file]); // page cache warm
  const times = cases.map((k, i) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, k.args, { cwd: root, stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' });
    const s = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`${k.name}: exit ${r.status}: ${r.stderr}`);
    seconds[i].push(s);
    return s;
  });
  times.forEach((s, i) => ratios[i].push(times[0] / s));
  process.stderr.write(`rep ${rep + 1}/${reps}: ${times.map((s) => s.toFixed(2)).join(' / ')} s\n`);
}
fs.closeSync(devNull);

const capture = `IMIX, ${c.packets / 1e6}M packets / ${c.flows / 1e6}M flows (${path.basename(file)})`;
const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(`${capture}, ${reps} reps, medians; Node ${process.versions.node}, ${os.cpus().length} CPUs, load average ${load(loadBefore)} before, ${load(os.loadavg())} after:\n`);
console.log('| run | seconds | packets/s | ratio to the library |');
console.log('|---|---|---|---|');
cases.forEach((k, i) => {
  const s = median(seconds[i]);
  console.log(`| ${k.name} | ${s.toFixed(3)} | ${Math.round(c.packets / s)} | ${median(ratios[i]).toFixed(2)} |`);
});

// End-to-end benchmark: capture file -> flows in JavaScript, native engine vs
// the plain libpcap counting loop (bench/libpcap-count.c) on the same files in
// the same run. Every trial is a fresh process; medians are reported because
// the machine is shared and noisy. Never fails for being slow.
//
//   npm run bench                # 5M packets: 100k flows IMIX, and 1M flows
//   npm run bench -- --trials 7 --quick
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const trials = Number(flag('--trials', 5));
const quick = args.includes('--quick');
const dataDir = flag('--data', path.join(here, '.data'));
const scale = quick ? 10 : 1;

const captures = [
  { name: `IMIX, ${5 / scale}M packets / ${100 / scale}k flows`, packets: 5_000_000 / scale, flows: 100_000 / scale, sizes: 'imix' },
  { name: `IMIX, ${5 / scale}M packets / ${1000 / scale}k flows`, packets: 5_000_000 / scale, flows: 1_000_000 / scale, sizes: 'imix' },
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function countingLoop() {
  const bin = path.join(here, 'libpcap-count');
  const src = path.join(here, 'libpcap-count.c');
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs)
    execFileSync('cc', ['-O2', '-o', bin, src, '-lpcap'], { stdio: 'inherit' });
  return bin;
}

async function ensureCapture(c) {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, `bench-${c.packets}-${c.flows}-${c.sizes}.pcap`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`generating ${file} ...\n`);
    await generate({ out: file, packets: c.packets, flows: c.flows, sizes: c.sizes, mix: 'simple', seed: 1 });
  }
  return file;
}

const loop = countingLoop();
const rows = [];
for (const c of captures) {
  const file = await ensureCapture(c);
  const libpcap = [];
  const native = [];
  let rss = 0;
  // warm the page cache so both read from memory
  execFileSync(loop, [file]);
  for (let t = 0; t < trials; t++) {
    const [packets, , seconds] = execFileSync(loop, [file], { encoding: 'utf8' }).trim().split(' ').map(Number);
    libpcap.push(packets / seconds);
    const r = JSON.parse(execFileSync(process.execPath, [path.join(here, 'trial-native.mjs'), file, String(2 * c.flows)], { encoding: 'utf8' }));
    if (r.packets !== packets) throw new Error(`native read ${r.packets} packets, libpcap ${packets}`);
    native.push(r.packets / r.seconds);
    rss = Math.max(rss, r.maxRssKiB);
  }
  const lp = median(libpcap);
  const nv = median(native);
  rows.push([c.name, (lp / 1e6).toFixed(2), (nv / 1e6).toFixed(2), (nv / lp).toFixed(2), (rss / 1024).toFixed(0)]);
}

const header = ['capture', 'libpcap loop Mpps', 'native Mpps', 'native/libpcap', 'native peak RSS MiB'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
console.log(`\nEnd to end, median of ${trials} trials each (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${process.arch}):\n`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));

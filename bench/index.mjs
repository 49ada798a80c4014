// The benchmark harness (benchmark.js): native engine vs pure TypeScript vs
// the plain libpcap counting loop, measured side by side in one run on
// generated captures. Suites: end to end (file -> FlowBatches in JS), decode
// only (read + decode), flow table only (packets decoded beforehand).
// Medians of the samples; ratios of medians. Never fails for being slow.
//
//   npm run bench                    # the three captures of the README
//   npm run bench -- --quick         # one tenth of the packets
//   npm run bench -- --samples 7
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';
import * as stages from './stages.mjs';

const require = createRequire(import.meta.url);
const Benchmark = require('benchmark');
const { FlowMeter } = require('../dist/index.js');

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const samples = Number(flag('--samples', 5));
const quick = args.includes('--quick');
const dataDir = flag('--data', path.join(here, '.data'));
const scale = quick ? 10 : 1;
const TABLE_PACKETS = 1_000_000 / scale; // table-only suites: the first packets of each capture

const captures = [
  { name: 'IMIX, 10M packets / 100k flows', packets: 10_000_000, flows: 100_000, sizes: 'imix' },
  { name: 'IMIX, 5M packets / 1M flows', packets: 5_000_000, flows: 1_000_000, sizes: 'imix' },
  { name: '64-byte, 10M packets / 100k flows', packets: 10_000_000, flows: 100_000, sizes: '64' },
].map((c) => ({ ...c, packets: c.packets / scale, flows: c.flows / scale, name: quick ? `${c.name} ÷10` : c.name }));

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

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs async benchmarks one after another; returns packets/s (median) by name. */
function runSuite(title, cases) {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite(title);
    for (const [name, { packets, fn }] of Object.entries(cases)) {
      suite.add(name, {
        defer: true,
        minSamples: samples,
        maxTime: 0.5, // stop as soon as minSamples are in
        initCount: 1,
        fn: (deferred) => Promise.resolve(fn()).then(() => deferred.resolve()),
        packets,
      });
    }
    const out = {};
    suite.on('cycle', (e) => {
      const b = e.target;
      out[b.name] = b.options.packets / median(b.stats.sample);
      process.stderr.write(`  ${title}: ${b.name} ${(out[b.name] / 1e6).toFixed(2)} Mpps (${b.stats.sample.length} samples)\n`);
    });
    suite.on('complete', () => resolve(out));
    suite.run({ async: true });
  });
}

async function drain(run) {
  for await (const _ of run);
  return (await run.summary).packets;
}

const loop = countingLoop();
const rows = [];
for (const c of captures) {
  const file = await ensureCapture(c);
  execFileSync(loop, [file]); // page cache warm for everyone
  const maxFlows = 2 * c.flows;
  process.stderr.write(`${c.name}\n`);
  const e2e = await runSuite('end to end', {
    'libpcap loop': { packets: c.packets, fn: () => execFileSync(loop, [file]) },
    native: { packets: c.packets, fn: () => drain(new FlowMeter({ engine: 'native', maxFlows }).readFile(file)) },
    ts: { packets: c.packets, fn: () => drain(new FlowMeter({ engine: 'ts', maxFlows }).readFile(file)) },
  });
  const decode = await runSuite('decode only', {
    native: { packets: c.packets, fn: () => stages.native.decode(file) },
    ts: { packets: c.packets, fn: () => stages.tsDecode(file) },
  });
  const nativeTable = stages.native.tablePrepare(file, TABLE_PACKETS);
  const tsTable = await stages.tsTablePrepare(file, TABLE_PACKETS);
  const n = tsTable.packets.length;
  const table = await runSuite('flow table only', {
    native: { packets: n, fn: () => stages.native.tableRun(nativeTable, maxFlows) },
    ts: { packets: n, fn: () => stages.tsTableRun(tsTable, maxFlows) },
  });
  // peak RSS of each engine alone: one fresh process each
  const rss = {};
  for (const engine of ['native', 'ts']) {
    const out = execFileSync(process.execPath, [path.join(here, 'trial.mjs'), engine, file, String(maxFlows)], { encoding: 'utf8' });
    rss[engine] = (JSON.parse(out).maxRssKiB / 1024).toFixed(0);
  }
  const m = (x) => (x / 1e6).toFixed(2);
  rows.push([c.name, 'end to end', m(e2e['libpcap loop']), m(e2e.native), m(e2e.ts), (e2e.native / e2e.ts).toFixed(2), (e2e.native / e2e['libpcap loop']).toFixed(2), (e2e.ts / e2e['libpcap loop']).toFixed(2), `${rss.native} / ${rss.ts}`]);
  rows.push(['', 'decode only', '', m(decode.native), m(decode.ts), (decode.native / decode.ts).toFixed(2), '', '', '']);
  rows.push(['', `flow table only (${n / 1e6}M pkts)`, '', m(table.native), m(table.ts), (table.native / table.ts).toFixed(2), '', '', '']);
}

const header = ['capture', 'suite', 'libpcap loop Mpps', 'native Mpps', 'ts Mpps', 'native/ts', 'native/libpcap', 'ts/libpcap', 'peak RSS MiB native / ts'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
console.log(
  `\nMedian of ${samples} samples per cell (benchmark.js), ${new Date().toISOString().slice(0, 10)}, ` +
    `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}:\n`,
);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));

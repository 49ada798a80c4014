// Memory per active flow in the native table: a child process reads a
// capture whose flows all stay active until the end (no timeouts); its RSS
// when the first batch arrives (the end-of-input flush has begun: the table
// is full, at most a few batches exist) is compared with a child that reads
// a one-flow capture with the same maxFlows (the table's address space is
// reserved up front and touched only as flows arrive). A measurement, not a
// test.
//
//   node bench/memory.mjs [flows (default 1000000)] [--no-dissect]
//
// Dissection is on by default, as in FlowMeter: each flow's first payload is
// read, and a flow whose other direction never sends keeps its small
// dissection state until it ends.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../scripts/gen-pcap.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const flows = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 1_000_000);
const dissect = !process.argv.includes('--no-dissect');
const dataDir = path.join(here, '.data');
fs.mkdirSync(dataDir, { recursive: true });
const many = path.join(dataDir, `memory-${flows}.pcap`);
const one = path.join(dataDir, 'memory-1.pcap');
if (!fs.existsSync(many)) await generate({ out: many, packets: flows * 2, flows, sizes: 64, mix: 'simple', seed: 5, quiet: true });
if (!fs.existsSync(one)) await generate({ out: one, packets: 2, flows: 1, sizes: 64, mix: 'simple', seed: 5, quiet: true });

const child = (file) => {
  const script = `
    const fs = require('fs');
    const { FlowMeter } = require('./dist/index.js');
    (async () => {
      const run = new FlowMeter({ engine: 'native', maxFlows: ${flows}, idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false, dissect: ${dissect} }).readFile(process.argv[1]);
      let rss = 0;
      for await (const b of run) {
        rss = Number(/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
        break;
      }
      const s = await run.summary;
      console.log(JSON.stringify({ flows: s.flowsCreated ?? 0, packets: s.packets, rss }));
    })();`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, file], { cwd: path.join(here, '..'), encoding: 'utf8' }));
};
const runs = [];
for (let i = 0; i < 3; i++) {
  const a = child(many);
  const b = child(one);
  runs.push((a.rss - b.rss) / flows);
  process.stderr.write(`#${i + 1}: ${flows} active flows: RSS ${(a.rss / 2 ** 20).toFixed(1)} MiB, one flow: ${(b.rss / 2 ** 20).toFixed(1)} MiB\n`);
}
const median = [...runs].sort((x, y) => x - y)[1];
console.log(`memory per active flow (native table, ${flows} flows, dissection ${dissect ? 'on' : 'off'}, median of 3): ${median.toFixed(0)} bytes`);

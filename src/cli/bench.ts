/**
 * `flowmaster bench`: native vs pure-TypeScript engine on a generated
 * capture, side by side in one run (medians). The full harness, with the
 * libpcap loop and peers, is `npm run bench` in a checkout.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeAvailable } from '../engine/native';
import { formatTable } from '../export/columns';
import { FlowMeter } from '../meter';
import type { FlowMeterOptions } from '../options';
import { dissectOptions } from './flags';

export interface BenchFlags {
  packets: number;
  flows: number;
  runs: number;
  dissect: boolean;
  dissectBytes?: number;
}

// scripts/gen-pcap.mjs is an ES module; a CommonJS build would turn import() into require()
const importEsm = new Function('p', 'return import(p)') as (p: string) => Promise<{ generate(o: Record<string, unknown>): Promise<void> }>;

export async function bench(flags: BenchFlags): Promise<number> {
  const file = path.join(os.tmpdir(), `flowmaster-bench-${flags.packets}-${flags.flows}.pcap`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`bench: generating ${file} (${flags.packets} packets, ${flags.flows} flows, IMIX)\n`);
    const { generate } = await importEsm(path.join(__dirname, '..', '..', 'scripts', 'gen-pcap.mjs'));
    await generate({ out: file, packets: flags.packets, flows: flags.flows, sizes: 'imix', mix: 'simple', seed: 1, quiet: true });
  }
  const engines = nativeAvailable() ? (['native', 'ts'] as const) : (['ts'] as const);
  const rates: Record<string, number[]> = {};
  for (let i = 0; i < flags.runs; i++) {
    for (const engine of engines) {
      const options: FlowMeterOptions = { engine, ...dissectOptions(flags) };
      const run = new FlowMeter(options).readFile(file);
      const t0 = performance.now();
      let flows = 0;
      for await (const b of run) flows += b.length;
      const s = (performance.now() - t0) / 1000;
      (rates[engine] ??= []).push((await run.summary).packets / s);
      process.stderr.write(`bench: run ${i + 1} ${engine}: ${flows} flows in ${s.toFixed(2)} s\n`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = engines.map((e) => [e, Math.round(median(rates[e])).toLocaleString('en-US'), `${(median(rates[e]) / median(rates.ts)).toFixed(2)}×`]);
  process.stdout.write(`${flags.packets} packets, ${flags.flows} flows (IMIX), median of ${flags.runs} runs:\n`);
  process.stdout.write(formatTable(rows, ['engine', 'packets/s', 'vs ts']) + '\n');
  return 0;
}

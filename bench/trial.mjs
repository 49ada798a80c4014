// One trial in a fresh process: an engine reads a capture end to end into
// FlowBatches in JavaScript. Prints one JSON line with the process's peak RSS.
//   node bench/trial.mjs native|ts FILE [maxFlows]
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { FlowMeter } = require('../dist/index.js');

const [engine, file, maxFlows = '2000000'] = process.argv.slice(2);
// constructing the meter loads the addon (a one-time cost, like the C loop's own loading)
const meter = new FlowMeter({ engine, maxFlows: Number(maxFlows) });
const t0 = process.hrtime.bigint();
const run = meter.readFile(file);
let records = 0;
for await (const batch of run) records += batch.length;
const summary = await run.summary;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
// VmHWM, not getrusage: ru_maxrss keeps the parent's RSS from before exec
const hwm = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
const maxRssKiB = hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS;
process.stdout.write(JSON.stringify({ engine, packets: summary.packets, records, seconds, maxRssKiB }) + '\n');

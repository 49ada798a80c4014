// One benchmark trial in a fresh process: the native engine reads a capture
// end to end into FlowBatches in JavaScript. Prints one JSON line.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { FlowMeter } = require('../dist/index.js');

const [file, maxFlows = '2000000'] = process.argv.slice(2);
// constructing the meter loads the addon (a one-time cost, like the C loop's own loading)
const meter = new FlowMeter({ maxFlows: Number(maxFlows) });
const t0 = process.hrtime.bigint();
const run = meter.readFile(file);
let records = 0;
for await (const batch of run) records += batch.length;
const summary = await run.summary;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(
  JSON.stringify({ packets: summary.packets, records, seconds, maxRssKiB: process.resourceUsage().maxRSS }) + '\n',
);

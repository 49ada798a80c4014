// Prints the metrics of a small ingest (the README's example output):
// 20k generated packets read by the native engine into an in-memory store.
//   node scripts/metrics-example.mjs [--json]
import { createRequire } from 'node:module';
import { generate } from './gen-pcap.mjs';

const require = createRequire(import.meta.url);
const { FlowMeter, openStore } = require('../dist/index.js');
const os = require('node:os');
const path = require('node:path');

const file = path.join(os.tmpdir(), `flowmaster-metrics-example-${process.pid}.pcap`);
await generate({ out: file, packets: 20_000, flows: 400, hosts: 40, mix: 'default', seed: 1, quiet: true });
const store = openStore(':memory:');
await store.ingest(new FlowMeter().readFile(file));
require('node:fs').rmSync(file);
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(await store.metrics.metrics(), null, 1));
} else {
  // the flowmaster series without the process_* / nodejs_* ones and the histogram buckets
  const text = await store.metrics.metricsText();
  const keep = (l) => /^(# (HELP|TYPE) )?flowmaster_/.test(l) && !/flowmaster_(process|nodejs)_/.test(l) && !/_bucket\{/.test(l);
  console.log(text.split('\n').filter(keep).join('\n'));
}
store.close();

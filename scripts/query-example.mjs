// The README's paging and retention example, runnable:
//   npm run build:ts && node scripts/query-example.mjs
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { generate } from './gen-pcap.mjs';

const require = createRequire(import.meta.url);
const { FlowMeter, openStore } = require('../dist/index.js');

const capture = path.join(os.tmpdir(), `flowmaster-query-example-${process.pid}.pcap`);
await generate({ out: capture, packets: 50_000, flows: 2000, hosts: 50, mix: 'default', seed: 1, quiet: true });
const store = openStore(':memory:');
await store.ingest(new FlowMeter().readFile(capture));

// keyset pages: follow `next` until it is null
let cursor;
let pages = 0;
let rows = 0;
do {
  const page = store.flows.page({ filter: { host: '10.0.0.0/8', protocol: 6 }, sort: 'bytes', order: 'desc', limit: 500, cursor });
  rows += page.items.length;
  pages++;
  cursor = page.next ?? undefined;
} while (cursor);
console.log(`keyset: ${rows} TCP flows of 10.0.0.0/8 in ${pages} pages`);

// numbered pages, with the total
const third = store.flows.offsetPage({ sort: 'first', page: 3, pageSize: 20, total: true });
console.log(`offset: page ${third.page} holds ${third.items.length} of ${third.total} flows; first id ${third.items[0].id}`);

// devices and aggregates
console.log('busiest device:', store.devices.page({ sort: 'bytes', limit: 1 }).items[0]);
console.log('top services:', store.analytics.topServices({ limit: 3 }));

// retention: keep flows that ended in the 30 days before "now" (here: a month after the capture)
const report = await store.retain({ flows: '30d', devices: '90d', now: Date.UTC(2026, 1, 15) });
console.log('retention:', report);
store.close();
require('node:fs').rmSync(capture);

// Cost of application dissection (docs/applications.md): each engine reads
// the same capture with `dissect` off and on, alternating, and the medians
// and their ratio are printed. A measurement, not a test.
//
//   node bench/apps.mjs [--reps 5] [--packets 4000000] [--flows 100000] [--engines native,ts]
//
// The IMIX capture comes from scripts/gen-pcap.mjs --apps (its flows carry
// real first payloads: TLS and QUIC handshakes, DNS, HTTP, SSH); the
// TLS-heavy case reads the same capture through the BPF filter `tcp port 443
// or tcp port 8443`, so every flow read is a TLS handshake and its records.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlowMeter } from '../dist/index.js';
import { generate } from '../scripts/gen-pcap.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    packets: { type: 'string', default: '4000000' },
    flows: { type: 'string', default: '100000' },
    engines: { type: 'string', default: 'native,ts' },
  },
});
const reps = Number(a.reps);
const dataDir = path.join(here, '.data');
fs.mkdirSync(dataDir, { recursive: true });
const imix = path.join(dataDir, `apps-imix-${a.packets}-${a.flows}-apps.pcap`);
if (!fs.existsSync(imix)) {
  await generate({ out: imix, packets: Number(a.packets), flows: Number(a.flows), hosts: Number(a.flows) / 10, sizes: 'imix', mix: 'full', seed: 3, apps: true, quiet: true });
}

/** One read: [packets per second, flows with an application]. */
async function read(file, engine, dissect, filter) {
  const t0 = process.hrtime.bigint();
  const run = new FlowMeter({ engine, dissect, filter }).readFile(file);
  let apps = 0;
  for await (const batch of run) for (const f of batch) if (f.application) apps++;
  const s = await run.summary;
  return [s.packets / (Number(process.hrtime.bigint() - t0) / 1e9), apps];
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const TLS = 'tcp port 443 or tcp port 8443';
const captures = [['IMIX', undefined], [`IMIX, only \`${TLS}\``, TLS]];
console.log(`dissection off vs on, medians of ${reps} alternating runs (${new Date().toISOString().slice(0, 10)}):\n`);
console.log('| capture | engine | off (packets/s) | on (packets/s) | on / off | ns per packet added | flows with an application |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const [name, filter] of captures) {
  for (const engine of a.engines.split(',')) {
    const off = [];
    const on = [];
    let apps = 0;
    for (let i = 0; i < reps; i++) {
      off.push((await read(imix, engine, false, filter))[0]);
      const [rate, n] = await read(imix, engine, true, filter);
      on.push(rate);
      apps = n;
    }
    const [mOff, mOn] = [median(off), median(on)];
    const added = 1e9 / mOn - 1e9 / mOff;
    console.log(`| ${name} | ${engine} | ${Math.round(mOff).toLocaleString('en')} | ${Math.round(mOn).toLocaleString('en')} | ${((100 * mOn) / mOff).toFixed(1)} % | ${added.toFixed(1)} | ${apps.toLocaleString('en')} |`);
  }
}

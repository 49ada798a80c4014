// IPFIX pacing against real collectors with their default socket buffers:
// `flowmaster read --ipfix` of a generated capture at each --ipfix-rate into
// nfcapd started without -B and into pmacct's nfacctd (net.core.rmem_default
// either way), counting the records each collector reports against the
// records sent. nfacctd drops layer-2 records, so its count is of IP records.
// A measurement, not a test.
//
//   node bench/ipfix-rate.mjs [--flows 2000,20000] [--rates 1000,2000,5000,10000,inf] [--runs 1] [--biflow split|rfc5103]
import { spawn, execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate } from '../scripts/gen-pcap.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'dist', 'cli', 'main.js');
const { values: a } = parseArgs({
  options: { flows: { type: 'string', default: '2000,20000' }, rates: { type: 'string', default: '1000,2000,5000,10000,inf' }, runs: { type: 'string', default: '1' }, biflow: { type: 'string' } },
});
// the CLI's default
const DEFAULT_BIFLOW = 'split';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  s.close();
  return port;
}

/** A collector process: `ready` in its log, then `stop()` returns the records it counted. */
async function collector(kind) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flowmaster-${kind}-`));
  const out = path.join(dir, 'flows.json');
  let args;
  if (kind === 'nfcapd') args = ['-p', String(port), '-b', '127.0.0.1', '-w', dir];
  else {
    fs.writeFileSync(path.join(dir, 'c.conf'), [`nfacctd_ip: 127.0.0.1`, `nfacctd_port: ${port}`, 'nfacctd_time_new: true', 'plugins: print', 'print_output: json', `print_output_file: ${out}`, 'print_output_file_append: true', 'print_refresh_time: 1', 'aggregate: src_host, dst_host, proto, flows'].join('\n'));
    args = ['-f', path.join(dir, 'c.conf')];
  }
  const child = spawn(kind, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.once('exit', r));
  const ready = kind === 'nfcapd' ? 'Startup nfcapd' : 'waiting for NetFlow/IPFIX data';
  for (let i = 0; i < 1000 && !log.includes(ready); i++) await sleep(10);
  return {
    port,
    async stop() {
      if (kind === 'nfacctd') {
        let size = -1;
        for (let quiet = 0; quiet < 2500; ) {
          await sleep(250);
          const now = fs.existsSync(out) ? fs.statSync(out).size : 0;
          quiet = now === size ? quiet + 250 : 0;
          size = now;
        }
      }
      child.kill(kind === 'nfcapd' ? 'SIGTERM' : 'SIGINT');
      await exited;
      const text = kind === 'nfacctd' && fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim() : '';
      fs.rmSync(dir, { recursive: true, force: true });
      if (kind === 'nfcapd') return Number(/Flows: (\d+)/.exec(log)?.[1] ?? 0);
      return text ? text.split('\n').reduce((n, l) => n + JSON.parse(l).flows, 0) : 0;
    },
  };
}

/** `read --ipfix` into a collector: [records sent (all, IP only), records counted, seconds]. */
async function exportTo(kind, file, rate) {
  const c = await collector(kind);
  const t0 = performance.now();
  const stdout = await new Promise((resolve, reject) =>
    execFile(process.execPath, [cli, 'read', '--format', 'jsonl', '--ipfix', `127.0.0.1:${c.port}`, '--ipfix-rate', rate, ...(a.biflow ? ['--ipfix-biflow', a.biflow] : []), file], { maxBuffer: 1 << 30 }, (e, out) => (e ? reject(e) : resolve(out))),
  );
  const secs = (performance.now() - t0) / 1000;
  const flows = stdout.trim().split('\n').map((l) => JSON.parse(l));
  const records = (f) => ((a.biflow ?? DEFAULT_BIFLOW) === 'split' ? (f.fwdPackets > 0) + (f.revPackets > 0) : 1);
  const sent = flows.reduce((n, f) => n + records(f), 0);
  const sentIp = flows.reduce((n, f) => n + (f.l2 ? 0 : records(f)), 0);
  return [sent, sentIp, await c.stop(), secs];
}

console.log(`# ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, net.core.rmem_default ${fs.readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim()}, biflow ${a.biflow ?? DEFAULT_BIFLOW}`);
console.log('flows   rate   run  records  nfcapd  (lost)  read_s | ip_records  nfacctd  (lost)  read_s');
for (const flowCount of a.flows.split(',').map(Number)) {
  const file = path.join(os.tmpdir(), `flowmaster-ipfix-rate-${flowCount}.pcap`);
  if (!fs.existsSync(file)) await generate({ out: file, packets: flowCount * 100, flows: flowCount, hosts: Math.max(1, flowCount / 10), mix: 'full', seed: 1, quiet: true });
  for (const rate of a.rates.split(',')) {
    for (let run = 1; run <= Number(a.runs); run++) {
      const [sent, , nfcapd, t1] = await exportTo('nfcapd', file, rate);
      const [, sentIp, nfacctd, t2] = await exportTo('nfacctd', file, rate);
      console.log(
        `${String(flowCount).padEnd(7)} ${rate.padStart(5)}  ${String(run).padStart(3)}  ${String(sent).padStart(7)}  ${String(nfcapd).padStart(6)}  ${String(sent - nfcapd).padStart(6)}  ${t1.toFixed(1).padStart(6)} | ${String(sentIp).padStart(10)}  ${String(nfacctd).padStart(7)}  ${String(sentIp - nfacctd).padStart(6)}  ${t2.toFixed(1).padStart(6)}`,
      );
    }
  }
}

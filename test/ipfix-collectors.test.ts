/**
 * IPFIX as the CLI sends it, into the two common open collectors, each with
 * its default socket buffer: nfcapd/nfdump (nfdump 1.7) and pmacct's nfacctd.
 * The totals (records, packets, bytes, both directions) must equal what was
 * sent. Also why the default is 'split': nfacctd reads only the forward half
 * of an RFC 5103 biflow.
 */
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, IpfixExporter, type Flow, type FlowObject } from '../src/index';
import { tmpFile } from './helpers/capture';
import { nfdumpPresent, readNfdump, startNfcapd } from './helpers/nfdump';
import { pmacctPresent, startNfacctd, totals } from './helpers/pmacct';
import { notRoot, skipping } from './helpers/skip';
import { flowmaster } from './helpers/cli';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

/** `read --ipfix` with `args`: the flows it printed. */
async function readExporting(port: number, file: string, ...args: string[]): Promise<FlowObject[]> {
  const r = await flowmaster('read', '--format', 'jsonl', '--ipfix', `127.0.0.1:${port}`, ...args, file);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as FlowObject);
}

/** What one uniflow record per direction with packets adds up to. */
function splitTotals(flows: FlowObject[]): { records: number; packets: number; bytes: number } {
  return {
    records: flows.reduce((n, f) => n + (f.fwdPackets > 0 ? 1 : 0) + (f.revPackets > 0 ? 1 : 0), 0),
    packets: flows.reduce((n, f) => n + f.packets, 0),
    bytes: flows.reduce((n, f) => n + f.bytes, 0),
  };
}

const nfdumpMissing = !nfdumpPresent && 'nfcapd/nfdump not installed (apt-get install nfdump)';
const pmacctMissing = !pmacctPresent && 'nfacctd not installed (apt-get install pmacct)';

// The demo capture (README): 200,000 packets, 2,012 flows; as split records ~190 messages, sent at once ~121.
let demo: string;
beforeAll(async () => {
  const { generate } = await import('../scripts/gen-pcap.mjs');
  demo = tmpFile('demo.pcap');
  await generate({ out: demo, packets: 200_000, flows: 2000, hosts: 200, mix: 'full', seed: 1, quiet: true });
}, 120_000);

describe.skipIf(skipping(pmacctMissing, 'IPFIX into nfacctd'))("IPFIX into pmacct's nfacctd", () => {
  it('read --ipfix with the defaults: every IP packet and byte arrives, both directions', async () => {
    const nf = await startNfacctd();
    const flows = await readExporting(nf.port, demo);
    const { rows } = await nf.stop();
    const ip = flows.filter((f) => !f.l2); // nfacctd 1.7 accounts IP flows only: it drops layer-2 records
    expect(flows.length).toBe(2012);
    expect(totals(rows)).toEqual(splitTotals(ip));
  }, 120_000);

  it('split uniflows with an ingress interface: per 5-tuple and direction, the interface, TTLs, records, packets and bytes', async () => {
    const flows: Flow[] = [];
    for await (const b of new FlowMeter().readFile(demo)) for (const f of b) if (!f.l2) flows.push(f);
    const nf = await startNfacctd();
    const ex = new IpfixExporter({ host: '127.0.0.1', port: nf.port, ingressInterface: 3 });
    ex.write(flows);
    await ex.close();
    const { rows } = await nf.stop();
    const want = new Map<string, number[]>();
    const add = (m: Map<string, number[]>, key: string, v: number[]) => m.set(key, (m.get(key) ?? [0, 0, 0]).map((x, i) => x + v[i]));
    for (const f of flows.filter((x) => x.protocol === 6 || x.protocol === 17)) {
      const proto = f.protocol === 6 ? 'tcp' : 'udp';
      const ttl = `3 ${f.minTtl}..${f.maxTtl}`;
      if (f.fwdPackets) add(want, `${proto} ${f.src}:${f.srcPort} > ${f.dst}:${f.dstPort} ${ttl}`, [1, f.fwdPackets, f.fwdBytes]);
      if (f.revPackets) add(want, `${proto} ${f.dst}:${f.dstPort} > ${f.src}:${f.srcPort} ${ttl}`, [1, f.revPackets, f.revBytes]);
    }
    const got = new Map<string, number[]>();
    for (const r of rows.filter((x) => x.ip_proto === 'tcp' || x.ip_proto === 'udp')) {
      add(got, `${r.ip_proto} ${r.ip_src}:${r.port_src} > ${r.ip_dst}:${r.port_dst} ${r.iface_in} ${r.min_ttl}..${r.max_ttl}`, [r.flows, r.packets, r.bytes]);
    }
    expect(want.size).toBeGreaterThan(3000);
    expect(new Set(flows.map((f) => `${f.minTtl}..${f.maxTtl}`)).size).toBeGreaterThan(1);
    expect([...got].sort()).toEqual([...want].sort());
  }, 120_000);

  it('field list v2 (--statistics): inner VLAN (245), VXLAN segment (351) and SYN packets (218) per record, as custom primitives', async () => {
    const flows: Flow[] = [];
    for await (const b of new FlowMeter({ statistics: true }).readFile(demo)) for (const f of b) if (!f.l2) flows.push(f);
    const nf = await startNfacctd();
    const ex = new IpfixExporter({ host: '127.0.0.1', port: nf.port, statistics: true });
    ex.write(flows);
    await ex.close();
    const { rows } = await nf.stop();
    const want = new Map<string, number>();
    const add = (m: Map<string, number>, key: string, n: number) => m.set(key, (m.get(key) ?? 0) + n);
    for (const f of flows.filter((x) => x.protocol === 6 || x.protocol === 17)) {
      const proto = f.protocol === 6 ? 'tcp' : 'udp';
      const details = f.innerVlan !== 0 || f.tunnelType === 'vxlan';
      const segment = f.tunnelType === 'vxlan' ? String((1n << 56n) | BigInt(f.tunnelId!)) : '0';
      const tail = `${details ? f.innerVlan : 0} ${details ? segment : '0'}`;
      if (f.fwdPackets) add(want, `${proto} ${f.src}:${f.srcPort} > ${f.dst}:${f.dstPort} ${tail} ${f.fwdFlagCounts.syn}`, 1);
      if (f.revPackets) add(want, `${proto} ${f.dst}:${f.dstPort} > ${f.src}:${f.srcPort} ${tail} ${f.revFlagCounts.syn}`, 1);
    }
    const got = new Map<string, number>();
    for (const r of rows.filter((x) => x.ip_proto === 'tcp' || x.ip_proto === 'udp')) {
      add(got, `${r.ip_proto} ${r.ip_src}:${r.port_src} > ${r.ip_dst}:${r.port_dst} ${r.inner_vlan} ${r.l2_segment} ${r.syn_packets}`, r.flows);
    }
    expect(flows.some((f) => f.innerVlan !== 0 && (f.protocol === 6 || f.protocol === 17))).toBe(true);
    expect(flows.some((f) => f.tunnelType === 'vxlan' && (f.protocol === 6 || f.protocol === 17))).toBe(true);
    expect(rows.some((r) => r.syn_packets > 0) && rows.some((r) => r.inner_vlan > 0) && rows.some((r) => r.l2_segment !== '0')).toBe(true);
    expect([...got].sort()).toEqual([...want].sort());
  }, 120_000);

  it('an RFC 5103 biflow loses its reverse half there (why the default is split)', async () => {
    const flows: Flow[] = [];
    for await (const b of new FlowMeter().readFile(demo)) for (const f of b) if (!f.l2) flows.push(f);
    const nf = await startNfacctd();
    const ex = new IpfixExporter({ host: '127.0.0.1', port: nf.port, biflow: 'rfc5103' });
    ex.write(flows);
    await ex.close();
    const { rows } = await nf.stop();
    const sum = (get: (f: Flow) => number) => flows.reduce((n, f) => n + get(f), 0);
    expect(totals(rows)).toEqual({ records: flows.length, packets: sum((f) => f.fwdPackets), bytes: sum((f) => f.fwdBytes) });
    const lost = sum((f) => f.revBytes) / sum((f) => f.bytes);
    console.log(`rfc5103 into nfacctd: ${sum((f) => f.fwdBytes)} of ${sum((f) => f.bytes)} bytes arrive (${(100 * lost).toFixed(0)} % lost)`);
  }, 120_000);
});

describe.skipIf(skipping(nfdumpMissing, 'IPFIX into nfcapd'))('IPFIX into nfcapd, read back with nfdump', () => {
  it('read --ipfix with the defaults: every record arrives (nfcapd without -B), both directions', async () => {
    const nf = await startNfcapd();
    const flows = await readExporting(nf.port, demo);
    const log = await nf.stop();
    const got = readNfdump(nf.dir);
    fs.rmSync(nf.dir, { recursive: true, force: true });
    const want = splitTotals(flows);
    expect(log).toMatch(new RegExp(`Flows: ${want.records}, .*Sequence Errors: 0, Bad Packets: 0`));
    expect({ records: got.length, packets: got.reduce((n, r) => n + r.in_packets, 0), bytes: got.reduce((n, r) => n + r.in_bytes, 0) }).toEqual(want);
    expect(got.every((r) => !r.out_packets)).toBe(true);
  }, 120_000);

  it('--ipfix-biflow rfc5103: one record per flow, the reverse counters as out packets/bytes', async () => {
    const nf = await startNfcapd();
    const flows = await readExporting(nf.port, demo, '--ipfix-biflow', 'rfc5103');
    const log = await nf.stop();
    const got = readNfdump(nf.dir);
    fs.rmSync(nf.dir, { recursive: true, force: true });
    expect(log).toMatch(new RegExp(`Flows: ${flows.length}, .*Sequence Errors: 0, Bad Packets: 0`));
    const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
    expect([got.length, sum(got.map((r) => r.in_packets)), sum(got.map((r) => r.out_packets ?? 0)), sum(got.map((r) => r.in_bytes + (r.out_bytes ?? 0)))]).toEqual([
      flows.length,
      sum(flows.map((f) => f.fwdPackets)),
      sum(flows.map((f) => f.revPackets)),
      sum(flows.map((f) => f.bytes)),
    ]);
  }, 120_000);
});

describe.skipIf(skipping(notRoot || nfdumpMissing, 'capture --ipfix'))('capture --ipfix (root)', () => {
  it("the records' ingressInterface is the ifindex of the one interface captured", async () => {
    const nf = await startNfcapd();
    const port = 47000 + (process.pid % 1000);
    const child = spawn(process.execPath, [cli, 'capture', '-i', 'lo', '-f', `udp port ${port}`, '--ipfix', `127.0.0.1:${nf.port}`], { cwd: root });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    for (let i = 0; i < 200 && !err.includes('stop with Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 25));
    const sock = dgram.createSocket('udp4');
    for (let i = 0; i < 5; i++) await new Promise((r) => sock.send(Buffer.alloc(10), port, '127.0.0.1', r));
    sock.close();
    child.kill('SIGINT');
    expect(await exited, err).toBe(0);
    await nf.stop();
    const got = readNfdump(nf.dir).filter((r) => r.dst_port === port);
    fs.rmSync(nf.dir, { recursive: true, force: true });
    const lo = Number(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
    expect(got.map((r) => [r.in_packets, r.input_snmp])).toEqual([[5, lo]]);
  }, 30_000);
});

it('--ipfix-biflow and --ipfix-rate refuse bad values', async () => {
  expect((await flowmaster('read', '--ipfix', '127.0.0.1:4739', '--ipfix-biflow', 'both', demo)).code).toBe(2);
  expect((await flowmaster('read', '--ipfix', '127.0.0.1:4739', '--ipfix-rate', '0', demo)).code).toBe(2);
  expect((await flowmaster('read', '--ipfix', '127.0.0.1:4739', '--ipfix-rate', 'fast', demo)).code).toBe(2);
});

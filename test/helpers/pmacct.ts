/**
 * pmacct's IPFIX collector for tests: nfacctd (Debian package pmacct) on a free
 * loopback port with the print plugin appending JSON to a file every second,
 * aggregated by 5-tuple, input interface (IE 10) and minimum/maximum TTL
 * (IEs 52/53, as custom primitives), inner VLAN, layer-2 segment and SYN
 * packets (IEs 245, 351, 218: field list v2), with a flows (records) counter.
 * nfacctd keeps its default socket buffer (net.core.rmem_default), as nfcapd does without -B.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const pmacctPresent = spawnSync('nfacctd', ['-V'], { stdio: 'ignore' }).status === 0;

/** One print-plugin row: the records of one key purged in one refresh. */
export interface PmRecord {
  ip_src: string;
  ip_dst: string;
  port_src: number;
  port_dst: number;
  ip_proto: string;
  iface_in: number;
  min_ttl: number;
  max_ttl: number;
  /** dot1qCustomerVlanId (0 when the record has none) */
  inner_vlan: number;
  /** layer2SegmentId as a decimal string (64 bits) */
  l2_segment: string;
  /** tcpSynTotalCount (0 when the record has none) */
  syn_packets: number;
  flows: number;
  packets: number;
  bytes: number;
}

export interface Totals {
  records: number;
  packets: number;
  bytes: number;
}

export function totals(rows: PmRecord[]): Totals {
  return rows.reduce((t, r) => ({ records: t.records + r.flows, packets: t.packets + r.packets, bytes: t.bytes + r.bytes }), { records: 0, packets: 0, bytes: 0 });
}

function config(port: number, dir: string, out: string): string {
  fs.writeFileSync(
    path.join(dir, 'primitives.lst'),
    ['name=min_ttl field_type=52 len=1 semantics=u_int', 'name=max_ttl field_type=53 len=1 semantics=u_int', 'name=inner_vlan field_type=245 len=2 semantics=u_int',
      'name=l2_segment field_type=351 len=8 semantics=u_int', 'name=syn_packets field_type=218 len=8 semantics=u_int', ''].join('\n'),
  );
  return [
    'daemonize: false',
    'nfacctd_ip: 127.0.0.1',
    `nfacctd_port: ${port}`,
    'nfacctd_time_new: true', // bins by arrival, not by the flows' (2026) times
    'plugins: print',
    'print_output: json',
    `print_output_file: ${out}`,
    'print_output_file_append: true',
    'print_refresh_time: 1',
    `aggregate_primitives: ${path.join(dir, 'primitives.lst')}`,
    'aggregate: src_host, dst_host, src_port, dst_port, proto, in_iface, min_ttl, max_ttl, inner_vlan, l2_segment, syn_packets, flows',
  ].join('\n');
}

function readRows(file: string): PmRecord[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8').trim();
  const row = (l: string) => {
    const r = JSON.parse(l) as PmRecord; // custom primitives come as strings
    return { ...r, min_ttl: Number(r.min_ttl), max_ttl: Number(r.max_ttl), inner_vlan: Number(r.inner_vlan ?? 0), l2_segment: String(r.l2_segment ?? '0'), syn_packets: Number(r.syn_packets ?? 0) };
  };
  return text ? text.split('\n').map(row) : [];
}

async function freePort(): Promise<number> {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = probe.address().port;
  probe.close();
  return port;
}

/**
 * nfacctd on a free loopback port. stop() waits until the output has not
 * changed for `quietMs` (the print plugin purges every second; what it holds
 * when stopped is lost), then stops it and returns the rows and the log.
 */
export async function startNfacctd(): Promise<{ port: number; stop(quietMs?: number): Promise<{ rows: PmRecord[]; log: string }> }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-nfacctd-'));
    const out = path.join(dir, 'flows.json');
    fs.writeFileSync(path.join(dir, 'nfacctd.conf'), config(port, dir, out));
    const child = spawn('nfacctd', ['-f', path.join(dir, 'nfacctd.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let gone = false;
    void exited.then(() => (gone = true));
    for (let i = 0; i < 1000 && !gone && !log.includes('waiting for NetFlow/IPFIX data'); i++) await sleep(10);
    if (gone || !log.includes('waiting for NetFlow/IPFIX data')) {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      if (attempt < 4) continue;
      throw new Error(`nfacctd did not start: ${log}`);
    }
    return {
      port,
      async stop(quietMs = 2500) {
        let size = -1;
        for (let quiet = 0; quiet < quietMs; ) {
          await sleep(250);
          const now = fs.existsSync(out) ? fs.statSync(out).size : 0;
          quiet = now === size ? quiet + 250 : 0;
          size = now;
        }
        child.kill('SIGINT'); // nfacctd 1.7 ignores SIGTERM
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
        const rows = readRows(out);
        fs.rmSync(dir, { recursive: true, force: true });
        return { rows, log };
      },
    };
  }
}

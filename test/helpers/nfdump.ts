/** A real IPFIX collector for tests: nfcapd on a free loopback port, read back with nfdump (Debian package nfdump). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const nfdumpPresent = ['nfcapd', 'nfdump'].every((c) => spawnSync(c, ['-V'], { stdio: 'ignore' }).status === 0);

export interface NfRecord {
  proto: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
  in_src_mac?: string;
  in_dst_mac?: string;
  src_port?: number;
  dst_port?: number;
  icmp_type?: number;
  icmp_code?: number;
  tcp_flags?: string;
  src_vlan?: number;
  /** ingressInterface (IE 10) */
  input_snmp?: number;
  in_packets: number;
  in_bytes: number;
  out_packets?: number;
  out_bytes?: number;
  first: string;
  last: string;
}

/** nfcapd on a free loopback port, writing into a fresh directory. */
export async function startNfcapd(): Promise<{ port: number; dir: string; stop(): Promise<string> }> {
  for (let attempt = 0; ; attempt++) {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
    const port = probe.address().port;
    probe.close();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-nfcapd-'));
    const child: ChildProcess = spawn('nfcapd', ['-p', String(port), '-b', '127.0.0.1', '-w', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const ready = await Promise.race([
      (async () => {
        while (!log.includes('Startup nfcapd')) await sleep(10);
        return true;
      })(),
      exited.then(() => false),
      sleep(10_000).then(() => false),
    ]);
    if (!ready) {
      child.kill('SIGKILL');
      if (attempt < 4) continue;
      throw new Error(`nfcapd did not start: ${log}`);
    }
    return {
      port,
      dir,
      async stop() {
        child.kill('SIGTERM'); // nfcapd writes its stats and closes the file
        await exited;
        return log;
      },
    };
  }
}

export function readNfdump(dir: string): NfRecord[] {
  const r = spawnSync('nfdump', ['-R', dir, '-o', 'json'], { env: { ...process.env, TZ: 'UTC' }, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`nfdump failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as NfRecord[];
}


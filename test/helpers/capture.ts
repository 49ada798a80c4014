/** Small synthetic captures for rule tests, written with scripts/lib. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @ts-expect-error plain ESM helper without type declarations
import { PcapngWriter, PcapWriter } from '../../scripts/lib/capture-writer.mjs';
// @ts-expect-error plain ESM helper without type declarations
import * as P from '../../scripts/lib/packets.mjs';

export { P };

export const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z, seconds

export interface Pkt {
  /** seconds after T0 */
  t: number;
  data: Buffer;
  origLen?: number;
  iface?: number;
}

let dir: string | undefined;
let seq = 0;
export function tmpFile(name: string): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-test-'));
  return path.join(dir, `${seq++}-${name}`);
}

export function tsNs(t: number): bigint {
  return BigInt(T0) * 1_000_000_000n + BigInt(Math.round(t * 1e9));
}

export function writePcap(pkts: Pkt[], opts: { linktype?: number; nanos?: boolean; bigEndian?: boolean } = {}): string {
  const w = new PcapWriter({ linktype: 1, nanos: true, ...opts });
  for (const p of pkts) w.write(tsNs(p.t), p.data, p.origLen ?? p.data.length);
  const file = tmpFile('capture.pcap');
  fs.writeFileSync(file, w.close());
  return file;
}

export function writePcapng(pkts: Pkt[], interfaces: { linktype: number; tsresol?: number }[], opts: { bigEndian?: boolean } = {}): string {
  const w = new PcapngWriter({ interfaces, ...opts });
  for (const p of pkts) w.write(p.iface ?? 0, tsNs(p.t), p.data, p.origLen ?? p.data.length);
  const file = tmpFile('capture.pcapng');
  fs.writeFileSync(file, w.close());
  return file;
}

export const MAC_A = '02:00:00:00:00:0a';
export const MAC_B = '02:00:00:00:00:0b';

/** Ethernet + IPv4 + TCP from a to b. */
export function tcp4(src: string, sport: number, dst: string, dport: number, flags: string, payload = 0, vlans: { id: number; tpid?: number }[] = []): Buffer {
  return P.ethernet({
    src: MAC_A,
    dst: MAC_B,
    type: 0x0800,
    vlans,
    payload: P.ipv4({ src, dst, proto: 6, payload: P.tcp({ sport, dport, flags, payload: Buffer.alloc(payload) }) }),
  });
}

export function udp4(src: string, sport: number, dst: string, dport: number, payload = 0): Buffer {
  return P.ethernet({
    src: MAC_A,
    dst: MAC_B,
    type: 0x0800,
    payload: P.ipv4({ src, dst, proto: 17, payload: P.udp({ sport, dport, payload: Buffer.alloc(payload) }) }),
  });
}

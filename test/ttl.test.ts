/**
 * Minimum and maximum TTL (IPv4) / hop limit (IPv6) of a record's packets
 * (bytes kMinTtl / kMaxTtl): rules on small captures, in both engines, and
 * tshark's ip.ttl / ipv6.hlim as the oracle over the shared corpus.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FlowMeter, Offsets, type Flow, type FlowMeterOptions } from '../src/index';
import { addonError } from './helpers/addon';
import { MAC_A, MAC_B, P, writePcap } from './helpers/capture';
import { corpusFiles, corpusMissing } from './helpers/corpus';
import { skipping, tsharkMissing } from './helpers/skip';

const engines = addonError ? (['ts'] as const) : (['native', 'ts'] as const);
const eth = (payload: Buffer, type = 0x0800) => P.ethernet({ src: MAC_A, dst: MAC_B, type, payload }) as Buffer;
const udp4 = (src: string, dst: string, ttl: number, sport = 1000, dport = 53) => P.ipv4({ src, dst, proto: 17, ttl, payload: P.udp({ sport, dport, payload: Buffer.alloc(8) }) }) as Buffer;
const tcp4 = (src: string, dst: string, ttl: number, sport: number, dport: number) => P.ipv4({ src, dst, proto: 6, ttl, payload: P.tcp({ sport, dport, flags: 'A' }) }) as Buffer;

async function flowsOf(file: string, engine: 'native' | 'ts', options: FlowMeterOptions = {}): Promise<Flow[]> {
  const out: Flow[] = [];
  for await (const b of new FlowMeter({ engine, ...options }).readFile(file)) out.push(...b);
  return out;
}

/** "proto a|pa b|pb" with the ends sorted, as a flow or a packet of either direction has it. */
const keyOf = (proto: number, a: string, pa: number, b: string, pb: number) => `${proto} ${[`${a}|${pa}`, `${b}|${pb}`].sort().join(' ')}`;

describe('min/max TTL', () => {
  it('over both directions and per segment, from the inner header of a tunnel, IPv6 hop limits, later fragments; none for layer-2 flows', async () => {
    const frags = (P.ipv4Fragments({ src: '10.0.0.7', dst: '10.0.0.8', proto: 17, ttl: 12, id: 9, payload: P.udp({ sport: 7, dport: 7, payload: Buffer.alloc(64) }) }, 32) as Buffer[]).map((f) => eth(f));
    frags[1][14 + 8] = 9; // a later fragment with another TTL: still this flow's
    const file = writePcap([
      { t: 0, data: eth(tcp4('10.0.0.1', '10.0.0.2', 64, 1000, 80)) },
      { t: 0.1, data: eth(tcp4('10.0.0.2', '10.0.0.1', 50, 80, 1000)) },
      { t: 0.2, data: eth(tcp4('10.0.0.1', '10.0.0.2', 60, 1000, 80)) },
      { t: 0, data: eth(udp4('10.0.1.1', '10.0.1.2', 100)) },
      { t: 0.5, data: eth(udp4('10.0.1.2', '10.0.1.1', 90, 53, 1000)) },
      { t: 1.5, data: eth(udp4('10.0.1.1', '10.0.1.2', 20)) }, // past activeTimeout: segment 1
      { t: 0.6, data: eth(P.ipv4({ src: '192.0.2.1', dst: '192.0.2.2', proto: 47, ttl: 200, payload: P.gre({ payload: udp4('10.0.2.1', '10.0.2.2', 7) }) })) },
      { t: 0.7, data: eth(P.ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 17, hopLimit: 33, payload: P.udp({ sport: 5, dport: 6, payload: Buffer.alloc(4) }) }), 0x86dd) },
      { t: 0.8, data: eth(P.ipv6({ src: '2001:db8::2', dst: '2001:db8::1', next: 17, hopLimit: 44, payload: P.udp({ sport: 6, dport: 5, payload: Buffer.alloc(4) }) }), 0x86dd) },
      ...frags.map((data, i) => ({ t: 0.9 + i / 100, data })),
      { t: 1, data: eth(P.arp({ senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }), 0x0806) },
    ].sort((a, b) => a.t - b.t));
    for (const engine of engines) {
      const flows = await flowsOf(file, engine, { activeTimeout: 1 });
      const ttl = (f: Flow) => [f.protocol, f.l2 ? f.src : `${f.src}:${f.srcPort}`, f.segment, f.minTtl, f.maxTtl, f.raw[Offsets.kMinTtl], f.raw[Offsets.kMaxTtl]];
      expect(flows.map(ttl).sort(), engine).toEqual(
        [
          [6, '10.0.0.1:1000', 0, 50, 64, 50, 64],
          [17, '10.0.1.1:1000', 0, 90, 100, 90, 100],
          [17, '10.0.1.1:1000', 1, 20, 20, 20, 20],
          [17, '10.0.2.1:1000', 0, 7, 7, 7, 7],
          [17, '2001:db8::1:5', 0, 33, 44, 33, 44],
          [17, '10.0.0.7:7', 0, 9, 12, 9, 12],
          [0, MAC_A, 0, null, null, 0, 0],
        ].sort(),
      );
    }
  });

  it.skipIf(skipping(corpusMissing ?? tsharkMissing, 'min/max TTL against tshark'))('equal tshark ip.ttl / ipv6.hlim over the corpus (TCP/UDP flows outside tunnels and fragments, 16 captures)', async () => {
    let compared = 0;
    let candidates = 0;
    let ranges = 0; // flows whose TTL varies
    const wrong: string[] = [];
    // the 16 captures with the most conversations: tshark takes ~0.5 s a file, mostly starting
    const conversations = (c: ReturnType<typeof corpusFiles>[number]) => c.oracle.tcp_conversations.length + c.oracle.udp_conversations.length;
    const captures = corpusFiles()
      .filter((x) => x.oracle.readable)
      .sort((x, y) => conversations(y) - conversations(x))
      .slice(0, 16);
    for (const c of captures) {
      const oracle = tsharkTtls(c.path);
      let flows: Flow[];
      try {
        flows = await flowsOf(c.path, engines[0], { idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false, keyVlan: false });
      } catch {
        continue; // damaged: the reader's business
      }
      for (const f of flows) {
        if (f.l2 || f.tunnel || f.fragments || f.truncated || (f.protocol !== 6 && f.protocol !== 17)) continue;
        candidates++;
        const o = oracle.get(keyOf(f.protocol, f.src, f.srcPort, f.dst, f.dstPort));
        if (!o || o.packets !== f.packets) continue; // tshark saw other packets (tunnel carriers, damage): not comparable
        compared++;
        if (o.min !== o.max) ranges++;
        if (o.min !== f.minTtl || o.max !== f.maxTtl) wrong.push(`${c.name} ${f.src}:${f.srcPort} ${f.dst}:${f.dstPort}: ${f.minTtl}..${f.maxTtl}, tshark ${o.min}..${o.max}`);
      }
    }
    console.log(`min/max TTL vs tshark: ${compared} of ${candidates} TCP/UDP flows compared, ${ranges} with a range`);
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(compared).toBeGreaterThan(0.9 * candidates);
    expect(compared).toBeGreaterThan(100);
    expect(ranges).toBeGreaterThan(10);
  }, 120_000);
});

/** Per 5-tuple: tshark's packets with one IP header and one TCP/UDP header, and their least and greatest TTL. */
function tsharkTtls(file: string): Map<string, { packets: number; min: number; max: number }> {
  const fields = ['ip.ttl', 'ipv6.hlim', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport'];
  const r = spawnSync('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const out = new Map<string, { packets: number; min: number; max: number }>();
  for (const line of r.stdout.split('\n')) {
    const [t4, t6, s4, d4, s6, d6, ts, td, us, ud] = line.split('\t');
    if (!line || line.includes(',') || (t4 && t6) || !(t4 || t6)) continue; // one IP header, one transport header
    const tcp = ts !== '';
    if (tcp === (us !== '')) continue;
    const key = keyOf(tcp ? 6 : 17, s4 || s6, Number(tcp ? ts : us), d4 || d6, Number(tcp ? td : ud));
    const ttl = Number(t4 || t6);
    const o = out.get(key) ?? { packets: 0, min: 255, max: 0 };
    out.set(key, { packets: o.packets + 1, min: Math.min(o.min, ttl), max: Math.max(o.max, ttl) });
  }
  return out;
}

/**
 * The TypeScript pcap-filter compiler (src/engine/ts/pcap-filter): its
 * errors, each primitive on hand-built packets, and a differential run
 * against libpcap: generated expressions over the corpus, every packet's
 * accept/reject from our program and from pcap_compile's (through the
 * addon), both run by the same interpreter, must agree.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBpf } from '../src/engine/ts/bpf';
import { loadNative } from '../src/engine/native';
import { compilePcapFilter, parsePcapFilter, pcapFilterCompiler } from '../src/engine/ts/pcap-filter';
import { addonError } from './helpers/addon';
import { MAC_A, MAC_B, P, tcp4, udp4 } from './helpers/capture';
import { corpusFiles, corpusMissing } from './helpers/corpus';
import { collect, emptySeen, FilterGen, readPackets, type Packet } from './helpers/pcap-filter-gen';
import { rng } from './helpers/rng';
// @ts-expect-error plain ESM helper without type declarations
import { generate } from '../scripts/gen-pcap.mjs';

function matches(expr: string, pkt: Buffer | Uint8Array, linktype = 1, wirelen = pkt.length): boolean {
  return runBpf(compilePcapFilter(expr, linktype), pkt, pkt.length, wirelen) !== 0;
}

function bpfError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect((e as { code?: string }).code).toBe('ERR_BPF');
    return (e as Error).message;
  }
  throw new Error('no error');
}

const tcpSyn = tcp4('10.0.0.1', 1234, '192.168.1.20', 80, 'S');
const tcpAck = tcp4('10.0.0.1', 1234, '192.168.1.20', 80, 'A');
const udpDns = udp4('10.1.2.3', 5353, '8.8.8.8', 53, 20);
const udp6 = P.ethernet({
  src: MAC_A,
  dst: MAC_B,
  type: 0x86dd,
  payload: P.ipv6({ src: '2001:db8::1', dst: 'fe80::2', next: 17, payload: P.udp({ sport: 1000, dport: 443, payload: Buffer.alloc(4) }) }),
});
const arp = P.ethernet({ src: MAC_A, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806, payload: P.arp({ senderMac: MAC_A, senderIp: '10.9.9.9', targetIp: '10.9.9.1' }) });
const vlanTcp = tcp4('10.0.0.1', 1234, '192.168.1.20', 443, 'S', 0, [{ id: 42 }]);
const icmpEcho = P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: P.ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 1, payload: P.icmp({ type: 8, code: 0 }) }) });

describe('pcap-filter: parsing and errors', () => {
  it('an unsupported keyword is named, with the supported list', () => {
    for (const kw of ['gateway', 'broadcast', 'mpls', 'pppoes', 'llc', 'decnet', 'inbound']) {
      const m = bpfError(() => parsePcapFilter(`tcp and ${kw} 1`));
      expect(m).toContain(`"${kw}" is not supported by the TypeScript filter compiler (supported: host, net`);
      expect(m).toContain(`bad BPF filter "tcp and ${kw} 1"`);
    }
  });

  it('syntax errors name the token and its offset', () => {
    expect(bpfError(() => parsePcapFilter('tcp port'))).toMatch(/unexpected end of filter/);
    expect(bpfError(() => parsePcapFilter('port 80 and'))).toMatch(/unexpected end of filter/);
    expect(bpfError(() => parsePcapFilter('host 1.2.3.4 )'))).toMatch(/syntax error near "\)" at offset 13/);
    expect(bpfError(() => parsePcapFilter('tcp and 80'))).toMatch(/syntax error near "80" at offset 8/);
    expect(bpfError(() => parsePcapFilter('ip[1 = 2'))).toMatch(/syntax error/);
    expect(bpfError(() => parsePcapFilter('host 1.2.3.4 # x'))).toMatch(/unexpected character '#' at offset 13/);
  });

  it('semantic errors as libpcap words them', () => {
    expect(bpfError(() => compilePcapFilter('port http', 1))).toMatch(/service names are not supported/);
    expect(bpfError(() => compilePcapFilter('host example.com', 1))).toMatch(/host and network names are not supported/);
    expect(bpfError(() => compilePcapFilter('tcp host 1.2.3.4', 1))).toMatch(/'tcp' modifier applied to host/);
    expect(bpfError(() => compilePcapFilter('ip port 80', 1))).toMatch(/illegal qualifier of 'port'/);
    expect(bpfError(() => compilePcapFilter('port 70000', 1))).toMatch(/illegal port number 70000 > 65535/);
    expect(bpfError(() => compilePcapFilter('net 10.1.0.0/8', 1))).toMatch(/non-network bits set/);
    expect(bpfError(() => compilePcapFilter('ip[0:3] = 1', 1))).toMatch(/data size must be 1, 2, or 4/);
    expect(bpfError(() => compilePcapFilter('ip[0] / 0 = 1', 1))).toMatch(/division by zero/);
    expect(bpfError(() => compilePcapFilter('vlan 5000', 1))).toMatch(/VLAN tag 5000 greater than maximum/);
    // a zero divisor found by folding is refused only where the relation can be reached, as libpcap's optimizer does
    expect(bpfError(() => compilePcapFilter('ip6 or tcp[2] % (2 * 0) = 1', 1))).toMatch(/modulus by zero/);
    expect(compilePcapFilter('ip6 or tcp[2] % (2 * 0) = 1', 229).length).toBeGreaterThan(0);
  });

  it('link types: the supported ones compile, others and link-specific primitives fail naming the link type', () => {
    for (const lt of [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]) expect(compilePcapFilter('tcp port 80', lt).length).toBeGreaterThan(2);
    expect(bpfError(() => compilePcapFilter('tcp', 105))).toMatch(/link type 105 is not supported by the TypeScript filter compiler/);
    expect(bpfError(() => compilePcapFilter('ether host 02:00:00:00:00:0a', 101))).toMatch(/link type 101/);
    expect(bpfError(() => compilePcapFilter('vlan', 113))).toMatch(/no VLAN support for link type 113/);
    const perLink = pcapFilterCompiler('ether src 02:00:00:00:00:0a');
    expect(Array.isArray(perLink(1))).toBe(true);
    expect(perLink(101)).toBeInstanceOf(Error);
    expect(() => pcapFilterCompiler('tcp host 1.2.3.4')).toThrow(/modifier applied to host/);
  });

  it('an empty filter accepts everything', () => {
    expect(matches('', udpDns)).toBe(true);
    expect(matches('  ', Buffer.alloc(3))).toBe(true);
  });
});

describe('pcap-filter: primitives on hand-built packets', () => {
  it('host, net (CIDR, mask, partial), src/dst qualifiers', () => {
    expect(matches('host 10.0.0.1', tcpSyn)).toBe(true);
    expect(matches('src host 192.168.1.20', tcpSyn)).toBe(false);
    expect(matches('dst 192.168.1.20', tcpSyn)).toBe(true);
    expect(matches('src and dst host 10.0.0.1', tcpSyn)).toBe(false);
    expect(matches('net 192.168.0.0/16', tcpSyn)).toBe(true);
    expect(matches('net 192.168.1.0 mask 255.255.255.0', tcpSyn)).toBe(true);
    expect(matches('net 192.169', tcpSyn)).toBe(false);
    expect(matches('src net 10', tcpSyn)).toBe(true);
    expect(matches('host 10.9.9.9', arp)).toBe(true); // ARP sender address, as libpcap
    expect(matches('ip host 10.9.9.9', arp)).toBe(false);
    expect(matches('host 10.0.0.2 or 10.0.0.1', tcpSyn)).toBe(true);
    expect(matches('host 10.0.0.2 and not 10.0.0.1', tcpSyn)).toBe(false);
    expect(matches('host 010.0.0.001', tcpSyn)).toBe(true); // decimal parts, leading zeros allowed (__pcap_atoin)
  });

  it('IPv6 hosts and nets', () => {
    expect(matches('host 2001:db8::1', udp6)).toBe(true);
    expect(matches('ip6 dst host fe80::2', udp6)).toBe(true);
    expect(matches('src net 2001:db8::/32', udp6)).toBe(true);
    expect(matches('net fe80::/10', udp6)).toBe(true);
    expect(matches('src net fe80::/10', udp6)).toBe(false);
  });

  it('ports and port ranges over IPv4 and IPv6', () => {
    expect(matches('tcp port 80', tcpSyn)).toBe(true);
    expect(matches('udp port 80', tcpSyn)).toBe(false);
    expect(matches('port 53', udpDns)).toBe(true);
    expect(matches('src port 53', udpDns)).toBe(false);
    expect(matches('udp dst port 443', udp6)).toBe(true);
    expect(matches('portrange 400-500', udp6)).toBe(true);
    expect(matches('tcp portrange 81-100', tcpSyn)).toBe(false);
    expect(matches('port (53 or 80)', tcpSyn)).toBe(true);
  });

  it('protocols, ether, vlan, lengths', () => {
    expect(matches('tcp and ip', tcpSyn)).toBe(true);
    expect(matches('udp or icmp', tcpSyn)).toBe(false);
    expect(matches('ip6 and udp', udp6)).toBe(true);
    expect(matches('arp', arp)).toBe(true);
    expect(matches('ip proto 17', udpDns)).toBe(true);
    expect(matches('ip proto \\tcp', tcpSyn)).toBe(true);
    expect(matches('ether proto \\arp', arp)).toBe(true);
    expect(matches('ether src 02:00:00:00:00:0a', tcpSyn)).toBe(true);
    expect(matches('ether dst 02:00:00:00:00:0a', tcpSyn)).toBe(false);
    expect(matches('ether host ff:ff:ff:ff:ff:ff', arp)).toBe(true);
    expect(matches('vlan 42 and tcp dst port 443', vlanTcp)).toBe(true);
    expect(matches('vlan 43', vlanTcp)).toBe(false);
    expect(matches('tcp', vlanTcp)).toBe(false); // without `vlan` the tag hides the IPv4 type
    expect(matches(`greater ${tcpSyn.length}`, tcpSyn)).toBe(true);
    expect(matches(`less ${tcpSyn.length - 1}`, tcpSyn)).toBe(false);
    expect(matches('not tcp', udpDns)).toBe(true);
    expect(matches('!(tcp || udp)', udpDns)).toBe(false);
  });

  it('byte comparisons and named constants', () => {
    expect(matches('tcp[tcpflags] & tcp-syn != 0', tcpSyn)).toBe(true);
    expect(matches('tcp[tcpflags] & tcp-syn != 0', tcpAck)).toBe(false);
    expect(matches('tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn', tcpSyn)).toBe(true);
    expect(matches('ip[8] < 64', tcpSyn)).toBe(false);
    expect(matches('ip[8] <= 64', tcpSyn)).toBe(true);
    expect(matches('icmp[icmptype] = icmp-echo', icmpEcho)).toBe(true);
    expect(matches('udp[2:2] = 53', udpDns)).toBe(true);
    expect(matches('ip[0] & 0xf = 5 and (ip[2:2] - 20) * 2 >= 40', udpDns)).toBe(true);
    expect(matches('tcp[100] = 0', tcpSyn)).toBe(false); // a load past the packet rejects it
  });

  it('other link types: raw IP, Linux cooked, loopback', () => {
    const ip = tcpSyn.subarray(14);
    expect(matches('tcp port 80 and host 10.0.0.1', ip, 101)).toBe(true);
    expect(matches('not arp', ip, 101)).toBe(true);
    expect(bpfError(() => compilePcapFilter('arp', 101))).toMatch(/expression rejects all packets/); // as pcap_compile
    const sll = P.sll({ protocol: 0x0800, payload: ip });
    expect(matches('tcp dst port 80', sll, 113)).toBe(true);
    const sll2 = P.sll2({ protocol: 0x0800, payload: ip });
    expect(matches('src host 10.0.0.1', sll2, 276)).toBe(true);
    const lo = P.nullLoopback({ family: 2, payload: ip });
    expect(matches('ip and tcp', lo, 0)).toBe(true);
  });
});

const PACKETS_PER_FILE = 250;
// PCAP_FILTER_SEED / PCAP_FILTER_EXPRESSIONS explore beyond the fixed run
const EXPRESSIONS = Number(process.env.PCAP_FILTER_EXPRESSIONS ?? 300);
const SEED = Number(process.env.PCAP_FILTER_SEED ?? 19);

/** Generated captures beside the corpus: VLAN and QinQ tags, fragments, SCTP, and the link types the corpus lacks. */
async function generatedCaptures(): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-pcap-filter-'));
  const specs: Record<string, unknown>[] = [
    { mix: 'full,vlan=30,qinq=10', seed: 7 },
    { mix: 'full', seed: 8, link: 'sll2' },
    { mix: 'full', seed: 9, link: 'null' },
    { mix: 'full', seed: 10, multiInterface: true, iface2: 'sll', format: 'pcapng' },
  ];
  const out: string[] = [];
  for (const [i, o] of specs.entries()) {
    const file = path.join(dir, `gen-${i}.${(o.format as string) ?? 'pcap'}`);
    await generate({ packets: 300, flows: 30, format: 'pcap', ...o, out: file, quiet: true });
    out.push(file);
  }
  return out;
}

/** Up to n packets spread over the capture. */
function sample(pkts: Packet[], n: number): Packet[] {
  if (pkts.length <= n) return pkts;
  return Array.from({ length: n }, (_, i) => pkts[Math.floor((i * pkts.length) / n)]);
}

function tryProgram(f: () => { code: number; jt: number; jf: number; k: number }[]): ReturnType<typeof f> | Error {
  try {
    return f();
  } catch (e) {
    return e as Error;
  }
}

type Program = { code: number; jt: number; jf: number; k: number }[];

/** The counts the differential run reports. */
class Tally {
  judged = 0;
  accepted = 0;
  bothRefused = 0;
  emptyByLibpcap = 0;
  emptyByUs = 0;
  readonly mismatches: string[] = [];
  /**
   * Packets judged differently only because a load runs past the captured
   * bytes in one program and not in the other (both agree on the packet
   * padded with zeros): libpcap's optimizer sometimes reorders tests
   * (and/or pull-up), which changes which loads a truncated packet reaches.
   */
  readonly loadOrder: string[] = [];

  /**
   * One expression on one link type. Both compilers refuse a program their
   * optimizer proves empty ("expression rejects all packets") and the two
   * optimizers do not always prove the same: the other program must then
   * reject every packet. Any other one-sided refusal is a mismatch.
   */
  judge(expr: string, lt: number, mine: Program | Error, theirs: Program | Error, packets: Packet[]): void {
    if (mine instanceof Error && theirs instanceof Error) {
      this.bothRefused++;
      if (process.env.PCAP_FILTER_DEBUG && lt === 1) console.log('refused:', mine.message, '| libpcap:', theirs.message);
      return;
    }
    const empty = (x: unknown) => x instanceof Error && /expression rejects all packets/.test(x.message);
    if (empty(theirs)) this.emptyByLibpcap++;
    if (empty(mine)) this.emptyByUs++;
    if ((mine instanceof Error && !empty(mine)) || (theirs instanceof Error && !empty(theirs))) {
      this.mismatches.push(`${expr} (link type ${lt}): ours ${errText(mine)}, libpcap ${errText(theirs)}`);
      return;
    }
    const run = (p: Program | Error, pkt: Packet) => !(p instanceof Error) && runBpf(p, pkt.data, pkt.data.length, pkt.wirelen) !== 0;
    for (const pkt of packets) {
      if (pkt.linktype !== lt) continue;
      const a = run(mine, pkt);
      const b = run(theirs, pkt);
      this.judged++;
      if (a) this.accepted++;
      if (a === b) continue;
      const what = `${expr} (link type ${lt}, ${pkt.data.length} bytes): ours ${a}, libpcap ${b}`;
      const padded = { ...pkt, data: Uint8Array.from([...pkt.data, ...new Uint8Array(256)]) };
      if (run(mine, padded) === run(theirs, padded)) this.loadOrder.push(what);
      else this.mismatches.push(what);
    }
  }
}

/** Sampled packets of the corpus and the generated captures, on the link types the compiler supports. */
async function packetsToJudge(): Promise<{ packets: Packet[]; files: number; seen: ReturnType<typeof emptySeen> }> {
  const packets: Packet[] = [];
  const seen = emptySeen();
  const files = [...corpusFiles().map((f) => f.path), ...(await generatedCaptures())].filter((f) => fs.existsSync(f));
  for (const f of files) {
    const pkts = sample(await readPackets(f), PACKETS_PER_FILE).filter((p) => compilePcapFilterOk(p.linktype));
    for (const p of pkts) collect(p, seen);
    packets.push(...pkts);
  }
  return { packets: [...packets, ...relabelled(packets)], files: files.length, seen };
}

/** Link types no capture has: raw IP as DLT_RAW 12 and 14, loopback as DLT_LOOP (family in network order). */
function relabelled(packets: Packet[]): Packet[] {
  const out: Packet[] = [];
  for (const p of sample(packets.filter((q) => q.linktype === 101 || q.linktype === 228), 200)) {
    out.push({ ...p, linktype: 12 }, { ...p, linktype: 14 });
  }
  for (const p of sample(packets.filter((q) => q.linktype === 0 && q.data.length >= 4), 200)) {
    const data = Uint8Array.from(p.data);
    data.set(Uint8Array.from(p.data.subarray(0, 4)).reverse(), 0);
    out.push({ ...p, linktype: 108, data });
  }
  return out;
}

describe.skipIf(!!corpusMissing || !!addonError)('pcap-filter: differential against libpcap over the corpus', () => {
  it(`${EXPRESSIONS} generated expressions accept and reject the same packets as pcap_compile`, async () => {
    const addon = loadNative();
    const { packets, files, seen } = await packetsToJudge();
    const linktypes = [...new Set(packets.map((p) => p.linktype))];
    const gen = new FilterGen(rng(SEED), seen);
    const t = new Tally();
    for (let e = 0; e < EXPRESSIONS; e++) {
      const expr = gen.expr();
      for (const lt of linktypes) {
        t.judge(expr, lt, tryProgram(() => compilePcapFilter(expr, lt)), tryProgram(() => addon.bpfProgram(expr, lt)), packets);
      }
    }
    const share = t.judged ? t.accepted / t.judged : 0;
    console.log(
      `pcap-filter differential: ${EXPRESSIONS} expressions, ${packets.length} packets of ${files} captures over link types ${linktypes.join(',')}, ` +
        `${t.judged} judgements, ${(100 * share).toFixed(1)}% accepted, ${t.bothRefused} (expression, link type) pairs refused by both, ` +
        `${t.emptyByLibpcap} + ${t.emptyByUs} that only libpcap + only we refuse as rejecting all packets (the other program rejected every packet), ` +
        `${t.mismatches.length} mismatches, ${t.loadOrder.length} truncated packets judged apart by load order`,
    );
    for (const m of t.loadOrder) console.log(`load order only: ${m}`);
    expect(t.mismatches).toEqual([]);
    expect(t.loadOrder.length).toBeLessThanOrEqual(t.judged / 100_000);
    expect(t.judged).toBeGreaterThan(100_000);
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.95);
  });
});

function compilePcapFilterOk(linktype: number): boolean {
  return !(tryProgram(() => compilePcapFilter('greater 0', linktype)) instanceof Error);
}

function errText(x: unknown): string {
  return x instanceof Error ? `refuses (${x.message})` : 'compiles';
}

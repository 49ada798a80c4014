/**
 * The details area (docs/fields.md, record bytes 512-1023) against tshark:
 * for every flow of a set of corpus captures (plain TCP/UDP, IPv6, VLAN and
 * QinQ, GRE, VXLAN, IP-in-IP, 6in4, nanosecond times, all TCP flags) and of a
 * generated captures with what the corpus lacks (GRE with keys, GTP-U TEIDs,
 * QinQ over tunnels: scripts/gen-pcap.mjs; ERSPAN II, Ethernet over GRE, a
 * frame over 65,535 bytes, a gap over 2^32 µs: scripts/gen-tunnel-pcaps.mjs),
 * both engines, read with `statistics: true` and
 * `splt: 10`, must give what scripts/fields-oracle.mjs computes from tshark's
 * per-packet fields: IP and payload bytes, per-direction first/last times,
 * TCP flag counters, size and inter-arrival statistics per direction and for
 * both, the SPLT, inner VLAN, tunnel type and id. Integers and times exactly,
 * means and standard deviations within 1e-9 relative. The agreement per field
 * and engine is printed (`biStats native 412/412`).
 *
 * Flows are read with no timeouts and no TCP termination, so a flow is one
 * record; the oracle leaves out flows it cannot see packet by packet (IP
 * fragments, malformed or snap-cut frames). The oracle itself is first held
 * to tshark's conversation statistics (the corpus' *.oracle.json): packets and
 * frame bytes per direction of every TCP/UDP flow.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowBatch, FlowMeter, type Flow } from '../src/index';
import { nsToMs } from '../src/flow/flow';
import { addonError } from './helpers/addon';
import { CORPUS_DIR, corpusMissing, type Oracle as ConvOracle } from './helpers/corpus';
import { normalizeAddr } from './helpers/conversations';
import { skipping, tsharkMissing } from './helpers/skip';
// @ts-expect-error plain ESM helper without type declarations
import { fieldsOracle } from '../scripts/fields-oracle.mjs';
// @ts-expect-error plain ESM helper without type declarations
import { generate } from '../scripts/gen-pcap.mjs';
// @ts-expect-error plain ESM helper without type declarations
import { writeTunnelCapture } from '../scripts/gen-tunnel-pcaps.mjs';

const SPLT = 10;
const READ = { idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false, statistics: true, splt: SPLT } as const;
const ENGINES = ['native', 'ts'] as const;
type Engine = (typeof ENGINES)[number];

/** Corpus captures: what each one brings. */
const CORPUS = [
  'nfstream__skype.pcap', // 286 flows, TCP/UDP, IPv4 and IPv6
  'nfstream__webex.pcap', // TLS over TCP, long flows
  'ndpi__alexa-app.pcapng', // pcapng, many short flows
  'suricata-verify__http-range-multiflows.pcap',
  'tcpdump__icmpv6.pcap', // ICMPv6
  'zeek__ipv6-http-atomic-frag.pcap', // IPv6 TCP, timestamps going back (inter-arrival 0), fragments (left out)
  'tcpdump__LINKTYPE_IPV6.pcap', // raw IPv6 link type
  'tcpdump__tcp-handshake-nano.pcap', // ns timestamps
  'tcpdump__tcp_eight_lowest_weight_flags_set.pcap', // every TCP flag
  'suricata-verify__detect-ipopts.pcap', // IPv4 options: IP bytes != 20 + payload
  'tcpdump__802.1ad_QinQ.pcap', // 802.1ad + 802.1Q (ARP)
  'zeek__vlan-qinqinq.pcap', // three 802.1Q tags
  'zeek__vlan-collisions.pcap',
  'zeek__mixed-vlan-mpls.pcap',
  'zeek__gre-sample.pcap', // GRE without key
  'zeek__vxlan-encapsulated-http.pcap', // VXLAN, VNI 1; a frame older than the one before it
  'tcpdump__vxlan.pcap', // VXLAN, VNI 100, ICMP inside
  'nfstream__4in4tunnel.pcap', // IPv4 in IPv4 behind QinQ
  'zeek__ping6-in-ipv4.pcap', // 6in4
];

/** What the corpus lacks: GRE keys, GTP-U TEIDs, tags around tunnels. */
const GENERATED = {
  packets: 4000, flows: 120, seed: 18, quiet: true,
  mix: 'tcp=60,udp=40,ipv6=25,vlan=20,qinq=15,gre=20,vxlan=10,gtpu=20,ipip=5,6in4=5',
};

// ------------------------------------------------------------------ tshark, cached

interface Stats { sizeMin: number; sizeMax: number; sizeMean: number; sizeStddev: number; iatMinNs: string; iatMaxNs: string; iatMeanNs: number; iatStddevNs: number }
interface Direction { packets: number; ipBytes: number; payloadBytes: number; firstNs: string | null; lastNs: string | null; flagCounts: Record<string, number>; stats: Stats }
interface OracleFlow {
  key: string; l2: boolean; proto: number; src: string; srcPort: number; dst: string; dstPort: number; vlan: number; innerVlan: number;
  tunnelType: string | null; tunnelId: number | null; payloadKnown: boolean; fwd: Direction; rev: Direction; biStats: Stats;
  splt: { direction: number[]; size: number[]; iatUs: number[] }; frames: [number, number];
}
interface FieldsOracle { file: string; error: string | null; flows: OracleFlow[]; excluded: { key?: string; pair?: string; why: string }[] }

const SOURCE = fs.readFileSync(path.join(__dirname, '..', 'scripts', 'fields-oracle.mjs'));
const CACHE = path.join(os.tmpdir(), 'flowmaster-fields-oracle');

/** tshark's view of a capture, cached on disk by the capture's bytes and the oracle's source. */
async function oracleOf(file: string): Promise<FieldsOracle> {
  const id = createHash('sha256').update(fs.readFileSync(file)).update(SOURCE).update(String(SPLT)).digest('hex').slice(0, 32);
  const cached = path.join(CACHE, `${id}.json`);
  if (fs.existsSync(cached)) return JSON.parse(fs.readFileSync(cached, 'utf8')) as FieldsOracle;
  const o = (await fieldsOracle(file, { splt: SPLT })) as FieldsOracle;
  fs.mkdirSync(CACHE, { recursive: true });
  fs.writeFileSync(cached, JSON.stringify(o));
  return o;
}

/** Runs `fn` over `items`, `n` at a time (tshark is single-threaded; the machine has few cores). */
async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

// ------------------------------------------------------------------ comparing

/** The engines' flow in the oracle's key terms. */
function keyOf(f: Flow): string {
  if (f.l2) {
    const a = `${f.src}#0`, b = `${f.dst}#0`;
    return f.etherType === 0x0806 ? `arp v${f.vlan} ${a <= b ? a : b} ${a <= b ? b : a}` : `l2 ${f.etherType}`;
  }
  const a = `${normalizeAddr(f.src)}#${f.srcPort}`, b = `${normalizeAddr(f.dst)}#${f.dstPort}`;
  return `${f.protocol} v${f.vlan} ${a <= b ? a : b} ${a <= b ? b : a}`;
}

const close = (a: number, b: number, scale = 0) => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), Math.abs(scale));
const ms = (ns: string | null) => (ns === null ? null : nsToMs(BigInt(ns)));

/** null when the engine's stat block is the oracle's, else what differs. */
function statsDiff(got: Flow['biStats'], want: Stats): string | null {
  const diffs: string[] = [];
  const exact = (name: string, g: number, w: number) => { if (g !== w) diffs.push(`${name} ${g} != ${w}`); };
  const near = (name: string, g: number, w: number, scale: number) => { if (!close(g, w, scale)) diffs.push(`${name} ${g} != ${w}`); };
  exact('sizeMin', got.sizeMin, want.sizeMin);
  exact('sizeMax', got.sizeMax, want.sizeMax);
  near('sizeMean', got.sizeMean, want.sizeMean, 0);
  near('sizeStddev', got.sizeStddev, want.sizeStddev, want.sizeMean);
  exact('iatMinMs', got.iatMinMs, Number(want.iatMinNs) / 1e6);
  exact('iatMaxMs', got.iatMaxMs, Number(want.iatMaxNs) / 1e6);
  near('iatMeanMs', got.iatMeanMs, want.iatMeanNs / 1e6, 0);
  near('iatStddevMs', got.iatStddevMs, want.iatStddevNs / 1e6, want.iatMeanNs / 1e6);
  return diffs.length ? diffs.join(', ') : null;
}

const json = (x: unknown) => JSON.stringify(x);

/** Each compared field: what the engine gave vs what the oracle says; null = agrees. */
const FIELDS: Record<string, (f: Flow, o: OracleFlow) => string | null | undefined> = {
  packets: (f, o) => (f.fwdPackets === o.fwd.packets && f.revPackets === o.rev.packets ? null : `${f.fwdPackets}/${f.revPackets} != ${o.fwd.packets}/${o.rev.packets}`),
  ipBytes: (f, o) => (f.fwdIpBytes === o.fwd.ipBytes && f.revIpBytes === o.rev.ipBytes ? null : `${f.fwdIpBytes}/${f.revIpBytes} != ${o.fwd.ipBytes}/${o.rev.ipBytes}`),
  payloadBytes: (f, o) => {
    if (!o.payloadKnown) return undefined; // not compared
    return f.fwdPayloadBytes === o.fwd.payloadBytes && f.revPayloadBytes === o.rev.payloadBytes ? null : `${f.fwdPayloadBytes}/${f.revPayloadBytes} != ${o.fwd.payloadBytes}/${o.rev.payloadBytes}`;
  },
  times: (f, o) => {
    const got = [f.fwdFirst, f.fwdLast, f.revFirst, f.revLast];
    const want = [ms(o.fwd.firstNs), ms(o.fwd.lastNs), ms(o.rev.firstNs), ms(o.rev.lastNs)];
    return json(got) === json(want) ? null : `${json(got)} != ${json(want)}`;
  },
  flagCounts: (f, o) => {
    const got = [f.fwdFlagCounts, f.revFlagCounts];
    const want = [o.fwd.flagCounts, o.rev.flagCounts];
    return json(got) === json(want) ? null : `${json(got)} != ${json(want)}`;
  },
  fwdStats: (f, o) => statsDiff(f.fwdStats, o.fwd.stats),
  revStats: (f, o) => statsDiff(f.revStats, o.rev.stats),
  biStats: (f, o) => statsDiff(f.biStats, o.biStats),
  splt: (f, o) => {
    const want = { direction: o.splt.direction, size: o.splt.size, iatMs: o.splt.iatUs.map((us) => us / 1000) };
    return json(f.splt) === json(want) ? null : `${json(f.splt)} != ${json(want)}`;
  },
  innerVlan: (f, o) => (f.innerVlan === o.innerVlan ? null : `${f.innerVlan} != ${o.innerVlan}`),
  tunnel: (f, o) => {
    const got = [f.tunnelType, f.tunnelId];
    const want = [o.tunnelType, o.tunnelId];
    return json(got) === json(want) ? null : `${json(got)} != ${json(want)}`;
  },
};

interface Tally { agree: number; total: number; diffs: string[] }
const tally = new Map<string, Tally>(); // `${field} ${engine}` -> counts

function count(field: string, engine: Engine, where: string, diff: string | null | undefined): void {
  if (diff === undefined) return;
  const k = `${field} ${engine}`;
  const t = tally.get(k) ?? { agree: 0, total: 0, diffs: [] };
  t.total++;
  if (diff === null) t.agree++;
  else t.diffs.push(`${where}: ${diff}`);
  tally.set(k, t);
}

async function records(file: string, engine: Engine, options: Record<string, unknown>): Promise<Map<string, Flow[]>> {
  const out = new Map<string, Flow[]>();
  const run = new FlowMeter({ engine, ...options }).readFile(file);
  for await (const batch of run) {
    for (const f of copies(batch)) {
      const k = keyOf(f);
      out.set(k, [...(out.get(k) ?? []), f]);
    }
  }
  return out;
}

async function compare(file: string, label: string, engine: Engine, oracle: FieldsOracle): Promise<string[]> {
  const byKey = await records(file, engine, READ);
  const problems: string[] = [];
  for (const o of oracle.flows) {
    const got = byKey.get(o.key);
    const where = `${label} ${o.key} (frames ${o.frames.join('-')})`;
    if (!got || got.length !== 1) {
      problems.push(`${where}: ${got ? got.length : 0} records`);
      continue;
    }
    for (const [field, diff] of Object.entries(FIELDS)) count(field, engine, where, diff(got[0], o));
  }
  return problems;
}

/** Views over copies of the records: a batch's buffer may be reused once the next one is asked for. */
function copies(batch: Iterable<Flow>): Flow[] {
  return [...batch].map((f) => new FlowBatch(f.raw.slice().buffer).at(0));
}

// ------------------------------------------------------------------ the tests

const skip = skipping(tsharkMissing ?? addonError, 'details area vs tshark (test/fields.test.ts)');
const noCorpus = skipping(corpusMissing, 'details area vs tshark on the corpus (test/fields.test.ts)');

describe.skipIf(skip)('details area (docs/fields.md) vs tshark', () => {
  const captures: { label: string; file: string; oracle?: FieldsOracle; conv?: ConvOracle }[] = [];
  let dir = '';
  afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  beforeAll(async () => {
    if (!noCorpus) {
      for (const name of CORPUS) {
        const conv = JSON.parse(fs.readFileSync(path.join(CORPUS_DIR, `${name}.oracle.json`), 'utf8')) as ConvOracle;
        captures.push({ label: name, file: path.join(CORPUS_DIR, name), conv });
      }
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-fields-'));
    const gen = path.join(dir, 'tunnels.pcap');
    await generate({ out: gen, ...GENERATED });
    captures.push({ label: 'generated tunnels.pcap', file: gen });
    const more = path.join(dir, 'erspan-teb.pcap');
    await writeTunnelCapture(more);
    captures.push({ label: 'generated erspan-teb.pcap', file: more });
    await pool(captures, 2, async (c) => { c.oracle = await oracleOf(c.file); });
  }, 300_000);

  it.skipIf(noCorpus)('the oracle agrees with tshark conversations (packets, frame bytes per direction)', () => {
    let compared = 0;
    for (const c of captures) {
      if (!c.conv) continue;
      const ep = (a: string, p: number) => `${normalizeAddr(a)}#${p}`;
      const conv = new Map<string, number[]>();
      const add = (m: Map<string, number[]>, proto: number, a: string, b: string, v: number[]) => {
        const lo = a <= b;
        const k = `${proto} ${lo ? a : b} ${lo ? b : a}`;
        const x = m.get(k) ?? [0, 0, 0, 0];
        const d = lo ? v : [v[2], v[3], v[0], v[1]];
        m.set(k, x.map((n, i) => n + d[i]));
      };
      for (const [proto, list] of [[6, c.conv.tcp_conversations], [17, c.conv.udp_conversations]] as const)
        for (const x of list) add(conv, proto, ep(x.a_addr, x.a_port), ep(x.b_addr, x.b_port), [x.frames_a_to_b, x.bytes_a_to_b, x.frames_b_to_a, x.bytes_b_to_a]);
      const mine = new Map<string, number[]>();
      for (const f of c.oracle!.flows) {
        if (f.proto !== 6 && f.proto !== 17) continue;
        const bytes = (d: Direction) => Math.round(d.stats.sizeMean * d.packets);
        add(mine, f.proto, ep(f.src, f.srcPort), ep(f.dst, f.dstPort), [f.fwd.packets, bytes(f.fwd), f.rev.packets, bytes(f.rev)]);
      }
      for (const [k, v] of mine) {
        compared++;
        expect(conv.get(k), `${c.label} ${k}`).toEqual(v);
      }
      // conversations the oracle has no flow for: a tunnel's outer transport or an excluded (fragmented) pair only
      const tunnelPorts = new Set([4789, 2152]);
      for (const k of conv.keys()) {
        if (mine.has(k)) continue;
        const ports = k.split(' ').slice(1).map((e) => Number(e.split('#')[1]));
        const excluded = c.oracle!.excluded.some((e) => (e.key ?? e.pair ?? '').includes(k.split(' ')[1].split('#')[0]));
        expect(ports.some((p) => tunnelPorts.has(p)) || excluded, `${c.label}: conversation ${k} has no oracle flow`).toBe(true);
      }
    }
    expect(compared).toBeGreaterThan(400);
  });

  it('the generated captures have keyed GRE, GTP-U TEIDs, VXLAN, IP-in-IP, ERSPAN and QinQ flows, and saturated SPLT values', () => {
    const flows = captures.filter((c) => !c.conv).flatMap((c) => c.oracle!.flows);
    for (const t of ['gre', 'gtp-u', 'vxlan', 'ipip', 'erspan'])
      expect(flows.filter((f) => f.tunnelType === t && (t === 'ipip' || f.tunnelId! > 0)).length, t).toBeGreaterThan(0);
    expect(flows.some((f) => f.innerVlan > 0)).toBe(true);
    expect(flows.some((f) => f.splt.size.includes(65535))).toBe(true);
    expect(flows.some((f) => f.splt.iatUs.includes(0xffffffff))).toBe(true);
  });

  it.each(ENGINES)('%s engine: every field equals the oracle', async (engine) => {
    const problems: string[] = [];
    for (const c of captures) problems.push(...(await compare(c.file, c.label, engine, c.oracle!)));
    const lines: string[] = [];
    for (const field of Object.keys(FIELDS)) {
      const t = tally.get(`${field} ${engine}`) ?? { agree: 0, total: 0, diffs: [] };
      lines.push(`${field} ${engine} ${t.agree}/${t.total}`);
      problems.push(...t.diffs.slice(0, 5).map((d) => `${field}: ${d}`));
    }
    console.log(`fields vs tshark: ${lines.join(', ')}`);
    expect(problems).toEqual([]);
  }, 120_000);

  it.each(ENGINES)('%s engine: without statistics and splt the always-filled fields are the same and the rest zero', async (engine) => {
    const c = captures.find((x) => x.label === 'generated tunnels.pcap')!;
    const got = await records(c.file, engine, { idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false });
    const ALWAYS = ['packets', 'ipBytes', 'payloadBytes', 'times', 'innerVlan', 'tunnel'];
    const problems: string[] = [];
    for (const o of c.oracle!.flows) {
      const f = got.get(o.key)?.[0];
      if (!f) { problems.push(`${o.key}: no record`); continue; }
      for (const name of ALWAYS) {
        const d = FIELDS[name](f, o);
        if (d) problems.push(`${o.key} ${name}: ${d}`);
      }
      // flag counters, stat blocks and the SPLT: bytes 568..887
      if (f.raw.subarray(568, 888).some((b) => b !== 0)) problems.push(`${o.key}: statistics/SPLT bytes not zero`);
    }
    expect(problems.slice(0, 10)).toEqual([]);
  }, 60_000);
});

/**
 * Zeek's `history` and `conn_state` (native/conn_state.cc, src/engine/ts/conn-state.ts):
 * 1. generated packet sequences, each with the history and conn_state Zeek
 *    logs for it, through both engines (which must also agree byte for byte);
 * 2. the corpus captures that come from Zeek's repository against the
 *    conn.log baselines Zeek's own tests hold for them (test/fixtures/zeek-conn,
 *    written by scripts/zeek-baselines.mjs), with every disagreement listed
 *    below with its reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowMeter, type Flow } from '../src/index';
import { RECORD_SIZE, Offsets as O } from '../src/flow/layout';
import { MAC_A, MAC_B, P, writePcap, type Pkt } from './helpers/capture';
import { CORPUS_DIR, corpusMissing } from './helpers/corpus';
import { addonError } from './helpers/addon';
import { skipping } from './helpers/skip';

const ENGINES = ['native', 'ts'] as const;
const noAddon = skipping(addonError && `the native addon is not built: ${addonError}`, 'zeek conn native');

interface Row {
  flow: Flow;
  /** conn_state byte and the 16 history bytes of the record, hex */
  bytes: string;
}

async function readRows(file: string, engine: 'native' | 'ts', options: { decodeTunnels?: boolean; keyVlan?: boolean } = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const b of new FlowMeter({ engine, statistics: false, ...options }).readFile(file)) {
    const bytes = new Uint8Array(b.buffer);
    let i = 0;
    for (const flow of b) {
      const r = i++ * RECORD_SIZE;
      const hex = Buffer.from(bytes.subarray(r + O.kConnState, r + O.kConnState + 1)).toString('hex') +
        Buffer.from(bytes.subarray(r + O.kHistory, r + O.kHistory + O.kHistorySize)).toString('hex');
      rows.push({ flow, bytes: hex });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------
// 1. Generated sequences

const A = '10.0.0.1';
const B = '10.0.0.2';
const CP = 40000; // client port
const SP = 80; // server port
const ISN_A = 1000;
const ISN_B = 0xfffff000; // wraps during the data

type Dir = 'a' | 'b';
interface Seg {
  d: Dir;
  flags: string;
  seq: number;
  ack?: number;
  len?: number;
  win?: number;
}

function frame(s: Seg): Buffer {
  const [src, dst, sport, dport] = s.d === 'a' ? [A, B, CP, SP] : [B, A, SP, CP];
  const tcp = P.tcp({ sport, dport, seq: s.seq >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags, window: s.win ?? 65535, payload: Buffer.alloc(s.len ?? 0) });
  return P.ethernet({ src: s.d === 'a' ? MAC_A : MAC_B, dst: s.d === 'a' ? MAC_B : MAC_A, type: 0x0800, payload: P.ipv4({ src, dst, proto: 6, payload: tcp }) });
}

const a = (flags: string, seq: number, len = 0, ack = 0, win?: number): Seg => ({ d: 'a', flags, seq: ISN_A + seq, ack: ISN_B + ack, len, win });
const b = (flags: string, seq: number, len = 0, ack = 0, win?: number): Seg => ({ d: 'b', flags, seq: ISN_B + seq, ack: ISN_A + ack, len, win });
const handshake = [a('S', 0), b('SA', 0, 0, 1), a('A', 1, 0, 1)];

interface Case {
  name: string;
  segs: Seg[];
  history: string;
  connState: string;
}

// Expected values are what Zeek logs for these sequences (its TCP analyzer,
// TCPSessionAdapter.cc, and conn_state() of base/protocols/conn/main.zeek).
const CASES: Case[] = [
  {
    name: 'handshake, data both ways, FINs',
    segs: [...handshake, a('PA', 1, 100, 1), b('A', 1, 0, 101), b('PA', 1, 5000, 101), a('A', 101, 0, 5001), a('FA', 101, 0, 5001), b('FA', 5001, 0, 102), a('A', 102, 0, 5002)],
    history: 'ShADadFf',
    connState: 'SF',
  },
  { name: 'SYN only (retransmitted)', segs: [a('S', 0), a('S', 0), a('S', 0)], history: 'S', connState: 'S0' },
  { name: 'rejected', segs: [a('S', 0), b('RA', 0, 0, 1)], history: 'Sr', connState: 'REJ' },
  { name: 'SYN then the originator aborts', segs: [a('S', 0), a('R', 1)], history: 'SR', connState: 'RSTOS0' },
  { name: 'SYN then the originator closes', segs: [a('S', 0), a('F', 1)], history: 'SF', connState: 'SH' },
  { name: 'SYN, SYN-ACK, nothing more', segs: [a('S', 0), b('SA', 0, 0, 1)], history: 'Sh', connState: 'S1' },
  {
    name: 'established then the originator resets',
    segs: [...handshake, a('PA', 1, 10, 1), b('A', 1, 0, 11), a('RA', 11, 0, 1)],
    history: 'ShADaR',
    connState: 'RSTO',
  },
  {
    name: 'established then the responder resets',
    segs: [...handshake, a('PA', 1, 10, 1), b('R', 1)],
    history: 'ShADr',
    connState: 'RSTR',
  },
  { name: 'half-open: data from the originator only', segs: [a('PA', 1, 10, 1), a('PA', 11, 10, 1)], history: 'D', connState: 'OTH' },
  { name: 'half-open, the responder resets', segs: [a('PA', 1, 10, 1), b('R', 1)], history: 'Dr', connState: 'RSTRH' },
  { name: 'FIN from the responder of a half-open connection', segs: [a('A', 1, 0, 1), b('FA', 1, 0, 1)], history: 'Af', connState: 'SHR' },
  { name: 'one side closed', segs: [...handshake, a('FA', 1, 0, 1)], history: 'ShAF', connState: 'S2' },
  { name: 'the other side closed', segs: [...handshake, b('FA', 1, 0, 2)], history: 'ShAf', connState: 'S3' },
  {
    name: 'retransmissions (T at the 1st and 10th)',
    segs: [...handshake, a('PA', 1, 100, 1), ...Array.from({ length: 10 }, () => a('PA', 1, 100, 1)), b('A', 1, 0, 101)],
    history: 'ShADTTa',
    connState: 'S1',
  },
  {
    name: 'zero window from the responder, then a FIN exchange',
    segs: [...handshake, a('PA', 1, 100, 1), b('A', 1, 0, 101, 0), b('A', 1, 0, 101, 0), a('FA', 101, 0, 1), b('FA', 1, 0, 102), a('A', 102, 0, 2)],
    history: 'ShADawFf',
    connState: 'SF',
  },
  {
    name: 'repeated FIN at a new sequence number, RST after both FINs',
    segs: [...handshake, a('FA', 1, 0, 1), a('FA', 1, 10, 1), b('FA', 1, 0, 12), a('R', 12)],
    history: 'ShAFFfR',
    connState: 'SF',
  },
  { name: 'SYN, RST, a SYN with a new ISN', segs: [a('S', 0), a('R', 1), a('S', 5000)], history: 'SRS', connState: 'RSTOS0' },
  {
    name: 'FINs at 15 sequence numbers: the record keeps 16 letters',
    segs: [...handshake, ...Array.from({ length: 15 }, (_, i) => a('FA', 1 + i, 1, 1))],
    history: 'ShA' + 'F'.repeat(13),
    connState: 'S2',
  },
  { name: 'SYN with FIN', segs: [a('SF', 0)], history: 'Q', connState: 'SH' },
  { name: 'FIN with RST', segs: [...handshake, a('FRA', 1, 0, 1)], history: 'ShAI', connState: 'RSTO' },
  {
    name: 'sequence numbers wrapping (responder ISN near 2^32)',
    segs: [...handshake, b('PA', 1, 3000, 1), b('PA', 3001, 3000, 1), b('PA', 3001, 3000, 1), a('A', 1, 0, 6001)],
    history: 'ShAdt', // the resent segment past the wrap is 't'; a's second pure ACK adds nothing
    connState: 'S1',
  },
];

describe('history and conn_state of generated packet sequences', () => {
  const pkts = (segs: Seg[]): Pkt[] => segs.map((s, i) => ({ t: i * 0.01, data: frame(s) }));

  it.each(CASES)('$name: $history $connState (ts)', async (c) => {
    const rows = await readRows(writePcap(pkts(c.segs)), 'ts');
    expect(rows).toHaveLength(1);
    expect({ history: rows[0].flow.history, connState: rows[0].flow.connState }).toEqual({ history: c.history, connState: c.connState });
  });

  it.skipIf(noAddon)('the native engine writes the same bytes for every sequence', async () => {
    for (const c of CASES) {
      const file = writePcap(pkts(c.segs));
      const [n, t] = [await readRows(file, 'native'), await readRows(file, 'ts')];
      expect(n.map((r) => r.bytes), c.name).toEqual(t.map((r) => r.bytes));
      expect(n[0].flow.history, c.name).toBe(c.history);
    }
  });

  it('UDP: D/d once each, SF when both ends sent, S0 when only src did; ICMP: OTH', async () => {
    const udp = (src: string, dst: string, sp: number, dp: number): Buffer =>
      P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: P.ipv4({ src, dst, proto: 17, payload: P.udp({ sport: sp, dport: dp, payload: Buffer.alloc(4) }) }) });
    const icmp = P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: P.ipv4({ src: A, dst: B, proto: 1, payload: Buffer.from([8, 0, 0xf7, 0xff, 0, 0, 0, 0]) }) });
    const file = writePcap([
      { t: 0, data: udp(A, B, 5000, 53) },
      { t: 0.1, data: udp(B, A, 53, 5000) },
      { t: 0.2, data: udp(A, B, 5000, 53) },
      { t: 0.3, data: udp(A, B, 5001, 53) },
      { t: 0.4, data: icmp },
    ]);
    for (const engine of noAddon ? (['ts'] as const) : ENGINES) {
      const got = (await readRows(file, engine)).map((r) => `${r.flow.protocol}:${r.flow.srcPort}:${r.flow.history}:${r.flow.connState}`).sort();
      expect(got, engine).toEqual(['17:5000:Dd:SF', '17:5001:D:S0', '1:0::OTH'].sort());
    }
  });
});

// ---------------------------------------------------------------------------
// 2. Zeek's own baselines

interface ZeekConn {
  orig_h: string;
  orig_p?: number;
  resp_h: string;
  resp_p: number;
  vlan?: number | null;
  inner_vlan?: number | null;
  proto?: string;
  conn_state?: string;
  history?: string | null;
  orig_pkts?: number;
  orig_ip_bytes?: number;
  resp_pkts?: number;
  resp_ip_bytes?: number;
}
interface Baseline {
  capture: string;
  trace: string;
  zeek_commit: string;
  btest: string;
  baseline: string;
  fields: string[];
  connections: ZeekConn[];
}

const FIXTURES = path.join(__dirname, 'fixtures', 'zeek-conn');
const baselines: Baseline[] = fs.existsSync(FIXTURES)
  ? fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as Baseline)
  : [];

/**
 * Zeek connections whose values flowmaster does not reproduce, keyed
 * `capture orig_h:orig_p>resp_h:resp_p what`, with the reason.
 */
const ICMP_KEY =
  "Zeek keys ICMP by type and code: the two destination-unreachable messages (type 3) from 172.28.2.3 are a connection of their own there; flowmaster keys an ICMP flow by its address pair, so they are the echo flow's reverse packets";
const KNOWN: Record<string, string> = {
  'zeek__gre-sample.pcap 66.59.111.190:8>172.28.2.3:0 orig_pkts/resp_pkts': ICMP_KEY,
  'zeek__gre-sample.pcap 66.59.111.190:8>172.28.2.3:0 orig_ip_bytes/resp_ip_bytes': ICMP_KEY,
  'zeek__gre-sample.pcap 172.28.2.3:3>66.59.111.190:3 flows': ICMP_KEY,
  'zeek__ldap-gap-data-missing.pcapng 2a00:6020:ad0b:8381:fd70:e2f9:f031:9dc4:*>2a00:6020:ad0b:8380::10:389 history':
    "content gap: Zeek's 'g' (its reassembler saw a hole in the responder's stream); flowmaster does not reassemble. Without it the letters agree.",
};
/** Letters flowmaster never produces (docs/fields.md): listed histories must agree without them. */
const NOT_PRODUCED = /[CcGg]/g;

/** Zeek's '^': it swapped the ends; flowmaster keeps the first packet's sender as src. */
const swapCase = (h: string): string => [...h].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');

/**
 * conn_state seen from the other end, for connections Zeek swapped ('^'):
 * its states are per endpoint, so swapping the ends maps SH to SHR and so on.
 */
const MIRROR: Record<string, Record<string, string>> = {
  tcp: { SF: 'SF', S1: 'S1', REJ: 'REJ', OTH: 'OTH', SH: 'SHR', SHR: 'SH', S2: 'S3', S3: 'S2', RSTO: 'RSTR', RSTR: 'RSTO', S0: 'OTH', RSTOS0: 'RSTRH' },
  udp: { SF: 'SF', S0: 'SHR', SHR: 'S0', OTH: 'OTH' },
};

const protoNumber: Record<string, number> = { tcp: 6, udp: 17 };

/**
 * The flowmaster flows of a Zeek connection, either orientation (flipped: src
 * is Zeek's resp). Zeek logs ICMP with orig_p = type, resp_p = code, and an
 * unknown transport (SCTP) with ports 0.
 */
function matchFlows(rows: Row[], z: ZeekConn): { flow: Flow; flipped: boolean }[] {
  const out: { flow: Flow; flipped: boolean }[] = [];
  for (const { flow: f } of rows) {
    let ports: (src: number, dst: number) => boolean;
    if (z.proto === 'icmp') {
      if (f.protocol !== 1 && f.protocol !== 58) continue;
      ports = () => f.icmpType === z.orig_p;
    } else if (z.proto === 'unknown_transport') {
      if ([1, 6, 17, 58].includes(f.protocol)) continue;
      ports = () => true;
    } else {
      if (z.proto !== undefined ? f.protocol !== protoNumber[z.proto] : f.protocol !== 6 && f.protocol !== 17) continue;
      ports = (src, dst) => (z.orig_p === undefined || src === z.orig_p) && dst === z.resp_p;
    }
    if (z.vlan !== undefined && f.vlan !== (z.vlan ?? 0)) continue;
    if (f.src === z.orig_h && f.dst === z.resp_h && ports(f.srcPort, f.dstPort)) out.push({ flow: f, flipped: false });
    else if (z.proto !== 'icmp' && f.src === z.resp_h && f.dst === z.orig_h && ports(f.dstPort, f.srcPort)) out.push({ flow: f, flipped: true });
  }
  return out;
}

interface Comparison {
  /** what -> [equal, compared] */
  counts: Record<string, [number, number]>;
  /** `key what: zeek ..., flowmaster ...` per disagreement */
  differences: Map<string, string>;
}

/** Each Zeek connection of a baseline against the flowmaster flow it matches. */
async function compare(base: Pick<Baseline, 'capture' | 'connections'>, file: string, engine: 'native' | 'ts', keyVlan: boolean): Promise<Comparison> {
  const rows = await readRows(file, engine, { keyVlan });
  // Zeek logs a tunnel's outer connection and the tunnelled ones; flowmaster
  // keys by the inner header unless decodeTunnels is off.
  const outer = await readRows(file, engine, { keyVlan, decodeTunnels: false });
  const out: Comparison = { counts: {}, differences: new Map() };
  const check = (key: string, what: string, zeek: unknown, ours: unknown): void => {
    if (zeek === undefined || zeek === null) return;
    const c = (out.counts[what] ??= [0, 0]);
    c[1]++;
    if (zeek === ours) c[0]++;
    else out.differences.set(`${key} ${what}`, `${key} ${what}: zeek ${String(zeek)}, flowmaster ${String(ours)}`);
  };
  for (const z of base.connections) {
    const key = `${base.capture} ${z.orig_h}:${z.orig_p ?? '*'}>${z.resp_h}:${z.resp_p}`;
    let found = matchFlows(rows, z);
    if (found.length === 0) found = matchFlows(outer, z);
    check(key, 'flows', 1, found.length);
    if (found.length !== 1) continue;
    const { flow: f, flipped } = found[0];
    check(key, 'history', z.history === null ? '' : z.history, flipped ? '^' + swapCase(f.history) : f.history);
    const mirrored = MIRROR[f.protocol === 6 ? 'tcp' : 'udp'][f.connState ?? ''] ?? `^${f.connState}`;
    check(key, 'conn_state', z.conn_state, flipped ? mirrored : f.connState);
    check(key, 'orig_pkts/resp_pkts', z.orig_pkts === undefined ? undefined : `${z.orig_pkts}/${z.resp_pkts}`, flipped ? `${f.revPackets}/${f.fwdPackets}` : `${f.fwdPackets}/${f.revPackets}`);
    check(key, 'orig_ip_bytes/resp_ip_bytes', z.orig_ip_bytes === undefined ? undefined : `${z.orig_ip_bytes}/${z.resp_ip_bytes}`, flipped ? `${f.revIpBytes}/${f.fwdIpBytes}` : `${f.fwdIpBytes}/${f.revIpBytes}`);
  }
  return out;
}

const summary = (c: Comparison): string => Object.entries(c.counts).map(([w, [eq, n]]) => `${w} ${eq}/${n}`).join(', ');

describe.skipIf(corpusMissing)('history and conn_state against Zeek baselines', () => {
  it('has baselines for the corpus captures that come from Zeek', () => {
    expect(baselines.length).toBeGreaterThan(0);
  });

  for (const base of baselines) {
    it.each(noAddon ? (['ts'] as const) : ENGINES)(`${base.capture} (%s)`, async (engine) => {
      // Zeek keys connections by VLAN only with frameworks/conn_key/vlan_fivetuple
      // (the baselines with a vlan column).
      const c = await compare(base, path.join(CORPUS_DIR, base.capture), engine, base.fields.includes('vlan'));
      const listed = [...c.differences].filter(([k]) => KNOWN[k]);
      for (const [k, line] of listed) {
        const m = /history: zeek (\S*), flowmaster (\S*)$/.exec(line);
        if (m) expect(m[1].replace(NOT_PRODUCED, ''), `${k} without C/G`).toBe(m[2]);
      }
      console.log(`${base.capture} (${engine}, ${base.baseline}): ${summary(c)}${listed.length ? `; listed: ${listed.map(([k]) => k).join('; ')}` : ''}`);
      expect([...c.differences].filter(([k]) => !KNOWN[k]).map(([, line]) => line)).toEqual([]);
      // a listed exception that no longer happens must leave the list
      expect(Object.keys(KNOWN).filter((k) => k.startsWith(`${base.capture} `) && !c.differences.has(k))).toEqual([]);
    });
  }
});

// Opt-in: every Zeek btest trace with a conn.log baseline
// (`node scripts/zeek-baselines.mjs ZEEK_GIT_DIR --wide DIR`). Both engines
// must agree on every flow; agreement with Zeek is reported, not asserted
// (those traces' differences are not listed one by one).
const WIDE = process.env.FLOWMASTER_ZEEK_WIDE;
describe.skipIf(!WIDE || noAddon)('history and conn_state over all of Zeek\'s btest traces (FLOWMASTER_ZEEK_WIDE)', () => {
  it('native and ts agree; agreement with Zeek reported', async () => {
    const dir = WIDE as string;
    const total: Comparison = { counts: {}, differences: new Map() };
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      const base = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Baseline;
      const file = path.join(dir, base.capture);
      const [n, t] = [await readRows(file, 'native'), await readRows(file, 'ts')];
      expect(n.map((r) => r.bytes).sort(), base.capture).toEqual(t.map((r) => r.bytes).sort());
      const c = await compare(base, file, 'native', false);
      for (const [w, [eq, k]] of Object.entries(c.counts)) {
        const tw = (total.counts[w] ??= [0, 0]);
        tw[0] += eq;
        tw[1] += k;
      }
      for (const [k, v] of c.differences) total.differences.set(k, v);
    }
    console.log(`Zeek btest traces: ${summary(total)}\n${[...total.differences.values()].join('\n')}`);
  }, 600_000);
});

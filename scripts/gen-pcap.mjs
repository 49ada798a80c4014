#!/usr/bin/env node
// gen-pcap: deterministic synthetic capture generator (pcap / pcapng). Plain Node >= 20, no deps.
//
//   node scripts/gen-pcap.mjs --out FILE [--packets N] [--flows F] [--seed S] [--format pcap|pcapng]
//        [--nanos] [--big-endian] [--sizes imix|64|<n>] [--mix simple|default|full[,key=pct...]]
//        [--multi-interface] [--iface2 raw|sll] [--link eth|raw|sll|sll2|null] [--gap-us G | --duration S]
//        [--concurrency K] [--snaplen N] [--extra-blocks] [--start S] [--apps] [--quiet]
//
//   import { generate } from './gen-pcap.mjs';
//   const { buffer } = await generate({ packets: 1000, flows: 10 }); // no `out` -> in memory
//
// Guarantees
//  - Deterministic: the same options (incl. seed) give byte-identical output. Only seeded PRNGs
//    (mulberry32) are used; timestamps start at 2026-01-01T00:00:00Z (1767225600 s), or at
//    --start S (seconds since the epoch).
//  - Exactly `packets` packet records are written (any mix, any format).
//  - `flows` logical flows are generated (min(flows, packets) if packets < flows); every flow
//    gets at least one packet. Each flow has a unique client address (10.0.0.0/8, or
//    2001:db8:c1::/64 for IPv6; unique MAC 02:f1:xx:xx:xx:xx for layer-2-only flows), servers live
//    in 172.16.0.0/20 / 2001:db8:5e::/64, so flows never collide in either direction. With
//    `--mix simple` (IPv4 TCP/UDP, untagged) this means exactly `flows` distinct bidirectional
//    5-tuples. (For more than 2^24 flows the source port also encodes the flow index.)
//  - In other mixes, tunnelled flows share the outer tunnel endpoints (the innermost 5-tuple is
//    unique), fragmented flows carry their ports only in first fragments, and layer-2-only flows
//    (ARP, LLDP, GOOSE, PROFINET RT) have no IP 5-tuple at all.
//  - Every packet has valid lengths and a valid IPv4 header checksum (every IPv4 header, inner
//    and outer); TCP/UDP/ICMP/ICMPv6/SCTP checksums are valid too, except the outer UDP checksum
//    of VXLAN/GTP-U tunnels, which is 0 (legal over IPv4).
//  - Timestamps never decrease; inter-packet gaps are exponential (mean --gap-us, default 10 µs).
//    Many flows are active at once (--concurrency, default min(flows, 2048)): each packet is
//    taken from a uniformly chosen active flow; a finished flow is replaced by the next one.
//  - TCP flows: SYN, SYN/ACK, ACK, PSH/ACK data in both directions with consistent seq/ack, then
//    FIN/ACK from both sides + last ACK, or RST, or left open (flows with < 4 packets are cut
//    short inside the handshake). UDP: request/response mix; ICMP: echo request/reply pairs.
//  - Frame sizes (captured Ethernet frame length, no FCS): `--sizes 64`/`<n>` makes every frame of
//    the template-built kinds exactly n bytes (zero trailer padding for control packets) unless the
//    headers alone are longer; `imix` draws data frames as 64/576/1500 bytes with weights 7:4:1
//    and pads control segments (SYN, FIN, ...) to 64. Fragment, SCTP and layer-2 frames have their
//    own sizes (padded to >= 60).
//  - --mix simple (benchmarks): IPv4 TCP 70% / UDP 30%, untagged Ethernet.
//    --mix default: tcp 60, udp 35, icmp 5; ipv6 20% of IP flows; vlan 10%.
//    --mix full: tcp 58, udp 28, icmp 5, sctp 3, frag 4, l2 2 (kind weights); ipv6 20; vlan 10,
//    qinq 4 (% of flows); gre 2, vxlan 2, ipip 1, 6in4 1, gtpu 1, mpls 1, pppoe 1 (% of IP flows).
//    Any key can be overridden: --mix full,vxlan=10,ipv6=50.
//  - --apps: flows carry real application messages where they model one (scripts/lib/handshakes.mjs):
//    TCP 443/8443/993 a TLS ClientHello and the server's flight (TLS 1.3, or 1.2 with a
//    certificate), 80/8080/8000 an HTTP request (Host, User-Agent) and its response, 2222 SSH
//    banners; UDP 443 a QUIC v1 and 4433 a QUIC v2 Initial each way, and 53 (the port 9999 has
//    without --apps) a DNS query and its answer. The messages replace the first data packets
//    (TCP: the client's first, then the server's, in that order; UDP: the first packet each way)
//    at their own sizes; every other property above holds, and the PRNG draws are the same as
//    without --apps, so counts, times, addresses and the other packets do not change.
//  - --multi-interface (pcapng): interface 0 = Ethernet with µs timestamps, interface 1 = raw IP
//    (LINKTYPE_RAW 101, default) or Linux SLL (113) with ns timestamps; packets alternate 0,1,0,1...
//    (layer-2-only frames always go to interface 0 when interface 1 is raw IP). Packets on the µs
//    interface are placed on whole microseconds, so timestamps stay non-decreasing in file order
//    across both interfaces.

import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as P from './lib/packets.mjs';
import { PcapWriter, PcapngWriter } from './lib/capture-writer.mjs';
import { applicationForPort, flowMessages } from './lib/handshakes.mjs';

export const BASE_SEC = 1767225600; // 2026-01-01T00:00:00Z

// ------------------------------------------------------------------ PRNG

/** mulberry32 seeded PRNG. */
export class Rng {
  constructor(seed) { this.s = seed >>> 0; }
  next() {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n) { return Math.floor(this.next() * n); }
  u32() { return Math.floor(this.next() * 4294967296) >>> 0; }
}

function hash32(a, b = 0) {
  let h = Math.imul((a >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

function seedToInt(seed) {
  if (typeof seed === 'number' && Number.isInteger(seed)) return seed >>> 0;
  const s = String(seed);
  if (/^\d+$/.test(s)) return Number(BigInt(s) & 0xffffffffn);
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Bijection on 24 bits (so distinct flow indexes give distinct client addresses). */
function scramble24(i, mask) {
  let x = (i ^ mask) & 0xffffff;
  x = Math.imul(x, 0x9e3779b1) & 0xffffff; x ^= x >>> 12;
  x = Math.imul(x, 0x2c1b3c6d) & 0xffffff; x ^= x >>> 11;
  return x;
}

// ------------------------------------------------------------------ options

const KIND_KEYS = ['tcp', 'udp', 'icmp', 'sctp', 'frag', 'l2'];
const ENCAP_KEYS = ['gre', 'vxlan', 'ipip', '6in4', 'gtpu', 'mpls', 'pppoe'];
const ZERO_MIX = { tcp: 0, udp: 0, icmp: 0, sctp: 0, frag: 0, l2: 0, ipv6: 0, vlan: 0, qinq: 0, gre: 0, vxlan: 0, ipip: 0, '6in4': 0, gtpu: 0, mpls: 0, pppoe: 0 };
export const MIX_PRESETS = {
  simple: { ...ZERO_MIX, tcp: 70, udp: 30 },
  default: { ...ZERO_MIX, tcp: 60, udp: 35, icmp: 5, ipv6: 20, vlan: 10 },
  full: {
    ...ZERO_MIX, tcp: 58, udp: 28, icmp: 5, sctp: 3, frag: 4, l2: 2, ipv6: 20, vlan: 10, qinq: 4,
    gre: 2, vxlan: 2, ipip: 1, '6in4': 1, gtpu: 1, mpls: 1, pppoe: 1,
  },
};

/** 'full,vxlan=10' | 'tcp=50,udp=50' | object -> mix object. */
export function parseMix(spec = 'default') {
  if (typeof spec === 'object') return { ...MIX_PRESETS.default, ...spec };
  const parts = String(spec).split(',').map((s) => s.trim()).filter(Boolean);
  let mix = { ...MIX_PRESETS.default };
  for (const [idx, p] of parts.entries()) {
    if (!p.includes('=')) {
      if (idx !== 0 || !MIX_PRESETS[p]) throw new Error(`unknown mix preset '${p}' (simple|default|full)`);
      mix = { ...MIX_PRESETS[p] };
      continue;
    }
    const [k, v] = p.split('=');
    if (!(k in ZERO_MIX)) throw new Error(`unknown mix key '${k}' (${Object.keys(ZERO_MIX).join(', ')})`);
    const n = Number(v);
    if (!(n >= 0 && n <= 100)) throw new Error(`bad mix value '${p}' (0..100)`);
    mix[k] = n;
  }
  if (KIND_KEYS.every((k) => !mix[k])) throw new Error('mix has no flow kinds (tcp/udp/icmp/sctp/frag/l2)');
  if (ENCAP_KEYS.reduce((a, k) => a + mix[k], 0) > 100) throw new Error('encapsulation shares exceed 100%');
  if (mix.vlan + mix.qinq > 100) throw new Error('vlan + qinq exceed 100%');
  return mix;
}

const LINKS = { eth: 1, ethernet: 1, raw: 101, sll: 113, sll2: 276, null: 0 };

function normalizeOptions(o = {}) {
  const num = (v, d, name, min = 0) => {
    if (v === undefined || v === null || v === '') return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`bad --${name}: ${v}`);
    return n;
  };
  const opts = {
    out: o.out,
    packets: Math.floor(num(o.packets, 100000, 'packets')),
    flows: Math.floor(num(o.flows, 1000, 'flows', 1)),
    seed: seedToInt(o.seed ?? 1),
    format: o.format ?? 'pcap',
    nanos: !!o.nanos,
    bigEndian: !!o.bigEndian,
    sizes: String(o.sizes ?? 'imix'),
    mix: parseMix(o.mix ?? 'default'),
    multiInterface: !!o.multiInterface,
    iface2: o.iface2 ?? 'raw',
    link: o.link ?? 'eth',
    gapUs: num(o.gapUs, 10, 'gap-us'),
    hosts: o.hosts === undefined ? undefined : Math.floor(num(o.hosts, 1, 'hosts', 1)),
    duration: o.duration === undefined ? undefined : num(o.duration, 0, 'duration'),
    concurrency: o.concurrency === undefined ? undefined : Math.floor(num(o.concurrency, 1, 'concurrency', 1)),
    snaplen: Math.floor(num(o.snaplen, 262144, 'snaplen', 1)),
    start: Math.floor(num(o.start, BASE_SEC, 'start')),
    extraBlocks: !!o.extraBlocks,
    apps: !!o.apps,
    quiet: !!o.quiet,
  };
  if (!['pcap', 'pcapng'].includes(opts.format)) throw new Error(`bad --format ${opts.format}`);
  if (opts.multiInterface && opts.format !== 'pcapng') throw new Error('--multi-interface needs --format pcapng');
  if (opts.hosts && opts.flows / opts.hosts > 64511) throw new Error(`--hosts ${opts.hosts} is too few for ${opts.flows} flows (at most 64511 flows per host)`);
  if (opts.extraBlocks && opts.format !== 'pcapng') throw new Error('--extra-blocks needs --format pcapng');
  if (!['raw', 'sll'].includes(opts.iface2)) throw new Error(`bad --iface2 ${opts.iface2} (raw|sll)`);
  if (!(opts.link in LINKS)) throw new Error(`bad --link ${opts.link} (eth|raw|sll|sll2|null)`);
  if (opts.multiInterface && LINKS[opts.link] !== 1) throw new Error('--multi-interface uses Ethernet + --iface2; do not combine with --link');
  if (opts.sizes !== 'imix' && !(/^\d+$/.test(opts.sizes) && +opts.sizes >= 1 && +opts.sizes <= 65000)) {
    throw new Error(`bad --sizes ${opts.sizes} (imix|64|<n> up to 65000)`);
  }
  if (opts.flows > 0xffffff * 64000) throw new Error('too many flows');
  return opts;
}

// ------------------------------------------------------------------ flows

const TCP_PORTS = [80, 443, 443, 443, 2222, 25, 8080, 8000, 5432, 8443, 993, 445];
const UDP_PORTS = [443, 443, 8001, 5004, 8125, 27015, 9999, 3074, 4433, 7777];
const UDP_PORTS_APPS = [443, 443, 8001, 5004, 8125, 27015, 53, 3074, 4433, 7777]; // --apps: DNS in 9999's place
const SCTP_PORTS = [38412, 36412, 2905, 3868];
const IPP = P.IPPROTO;
const ZEROS = Buffer.alloc(65536);
const BCAST = Buffer.from('ffffffffffff', 'hex');

function macFromIndex(prefix, i) {
  const b = Buffer.alloc(6);
  b[0] = prefix[0]; b[1] = prefix[1];
  b.writeUInt32BE(i >>> 0, 2);
  return b;
}

function ipv4FromInt(x) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(x >>> 0);
  return b;
}

function ipv6FromParts(prefixHex, low32) {
  const b = Buffer.from(prefixHex.padEnd(32, '0'), 'hex');
  b.writeUInt32BE(low32 >>> 0, 12);
  return b;
}

function pick(rng, weights) {
  let total = 0;
  for (const [, w] of weights) total += w;
  let r = rng.next() * total;
  for (const [k, w] of weights) { if ((r -= w) < 0) return k; }
  return weights[weights.length - 1][0];
}

/** Per-packet frame size samplers. */
function makeSizes(spec) {
  if (spec === 'imix') {
    return { ctl: 64, data: (rng) => { const r = rng.next() * 12; return r < 7 ? 64 : r < 11 ? 576 : 1500; } };
  }
  const n = Number(spec);
  return { ctl: n, data: () => n };
}

function remember(f, slot, frameLen, t) {
  switch (slot) {
    case 0: f.tk0 = frameLen; f.tv0 = t; break;
    case 1: f.tk1 = frameLen; f.tv1 = t; break;
    case 2: f.tk2 = frameLen; f.tv2 = t; break;
    default: f.tk3 = frameLen; f.tv3 = t; break;
  }
  return t;
}

function nextIpId(f, dir) {
  let id;
  if (dir === 0) { id = f.ipId0; f.ipId0 = (id + 1) & 0xffff; } else { id = f.ipId1; f.ipId1 = (id + 1) & 0xffff; }
  return id;
}

/** A pre-built frame of one flow/direction/size plus where to patch it. */
class Template {
  constructor(frame, l3Off, l3End, ipOff, l4Off, plen, ipBase, l4Base) {
    this.frame = frame; this.l3Off = l3Off; this.l3End = l3End; this.ipOff = ipOff; this.l4Off = l4Off;
    this.plen = plen; this.ipBase = ipBase; this.l4Base = l4Base;
    this.b0 = null; this.s0 = 0; this.b1 = null; this.s1 = 0; // per-interface variants (buffer, offset shift)
  }
}

/** Per-flow state; every field is initialised here so all flows share one hidden class. */
class Flow extends Rng {
  constructor(i, n, seed) {
    super(seed);
    this.i = i; this.n = n; this.k = 0;
    this.cache = new Map();
    this.tk0 = -1; this.tk1 = -1; this.tk2 = -1; this.tk3 = -1; this.tv0 = null; this.tv1 = null; this.tv2 = null; this.tv3 = null;
    this.kind = 'udp'; this.l2kind = ''; this.v6 = false; this.encap = 'none'; this.vlans = [];
    this.ipId0 = 0; this.ipId1 = 0; this.cMac = null; this.sMac = null; this.cIp = null; this.sIp = null;
    this.sport = 0; this.dport = 0; this.hdrLen = 0;
    this.seq0 = 0; this.seq1 = 0; this.win = [0, 0]; this.close = 'open'; this.dataEnd = 0; this.rstFromServer = false;
    this.icmpId = 0; this.icmpSeq = 0; this.lastSize = 64;
    this.tsn = [0, 0]; this.vtag = [0, 0]; this.queue = [];
    this.tunA = null; this.tunB = null; this.key = 0; this.labels = []; this.sessionId = 0; this.teid = [0, 0]; this.tunSport = 0;
    this.app = null; this.appMsgs = null; this.appNext = 0;
  }
}

class Generator {
  constructor(opts, links) {
    this.o = opts;
    this.links = links; // linktype per interface
    this.sizes = makeSizes(opts.sizes);
    this.mask = hash32(opts.seed, 0xabcdef) & 0xffffff;
    const m = opts.mix;
    this.kindWeights = KIND_KEYS.map((k) => [k, m[k]]).filter(([, w]) => w > 0);
    this.encapList = ENCAP_KEYS.map((k) => [k, m[k]]).filter(([, w]) => w > 0);
    this.l2Capable = links.some((l) => l === 1 || l === 113 || l === 276);
    this.ifaceL2 = links.map((l) => l === 1 || l === 113 || l === 276);
    this.pv = { buf: null, shift: 0 }; // reused result of put()
  }

  createFlow(i, n) {
    const o = this.o;
    const m = o.mix;
    const f = new Flow(i, n, hash32(o.seed, i));
    const rng = f; // the flow is its own PRNG
    f.kind = pick(rng, this.kindWeights);
    f.ipId0 = rng.int(65536); f.ipId1 = rng.int(65536);
    if (f.kind === 'l2' && !this.l2Capable) f.kind = 'udp';
    // layer 2
    const vr = rng.next() * 100;
    if (vr < m.qinq) {
      f.vlans = [{ id: 100 + rng.int(50), tpid: rng.next() < 0.25 ? 0x9100 : 0x88a8, pcp: 0 }, { id: 1 + rng.int(4000), pcp: rng.int(8) }];
    } else if (vr < m.qinq + m.vlan) {
      f.vlans = [{ id: 1 + rng.int(4094), pcp: rng.int(8) }];
    }
    // client host: one per flow, or one of --hosts (then its source ports keep the 5-tuples distinct)
    const ci = o.hosts ? i % o.hosts : i;
    f.cMac = macFromIndex([0x02, 0xf1], ci);
    f.sMac = macFromIndex([0x00, 0x00], 0x5e000100 + rng.int(16)); // 00:00:5e:00:01:xx routers
    const hi = Math.floor(ci / 0x1000000);
    const lo = scramble24(ci & 0xffffff, this.mask);
    if (f.kind === 'l2') {
      f.l2kind = pick(rng, [['arp', 35], ['lldp', 20], ['goose', 25], ['pnrt', 20]]);
      f.cIp = ipv4FromInt(0x0a000000 | lo);
      f.sIp = ipv4FromInt(0xac100000 | (1 + rng.int(4094)));
      return f;
    }
    // layer 3/4
    if (m.ipv6 && rng.next() * 100 < m.ipv6) f.v6 = true;
    if (f.kind !== 'frag' && this.encapList.length) {
      let r = rng.next() * 100;
      for (const [k, w] of this.encapList) { if ((r -= w) < 0) { f.encap = k; break; } }
    }
    if (f.encap === 'ipip') f.v6 = false;
    if (f.encap === '6in4') f.v6 = true;
    if (f.v6) {
      f.cIp = ipv6FromParts('20010db800c10000', (hi << 24) | lo);
      f.sIp = ipv6FromParts('20010db8005e0000', 1 + rng.int(4094));
    } else {
      f.cIp = ipv4FromInt(0x0a000000 | lo);
      f.sIp = ipv4FromInt(0xac100000 | (((1 + rng.int(4094)) & 0xfff)));
    }
    f.sport = o.hosts ? 1024 + Math.floor(i / o.hosts) : o.flows > 0x1000000 ? 1024 + hi : 1024 + rng.int(64512);
    if (f.kind === 'tcp') f.dport = TCP_PORTS[rng.int(TCP_PORTS.length)];
    else if (f.kind === 'sctp') { f.dport = SCTP_PORTS[rng.int(SCTP_PORTS.length)]; f.tsn = [rng.u32(), rng.u32()]; f.vtag = [rng.u32() || 1, rng.u32() || 1]; }
    else if (f.kind === 'frag') f.dport = 5001;
    else f.dport = (o.apps ? UDP_PORTS_APPS : UDP_PORTS)[rng.int(UDP_PORTS.length)];
    if (o.apps) f.app = applicationForPort(f.kind, f.dport);
    if (f.kind === 'icmp') { f.icmpId = rng.int(65536); f.icmpSeq = 0; f.lastSize = 64; }
    if (f.encap !== 'none') {
      f.tunA = ipv4FromInt(0x64400001 + rng.int(8)); // 100.64.0.1..8
      f.tunB = ipv4FromInt(0x64410001 + rng.int(8)); // 100.65.0.1..8
      f.key = rng.u32();
      f.labels = [16 + rng.int(1000), 1000 + rng.int(100000)].slice(0, 1 + rng.int(2));
      f.sessionId = 1 + rng.int(65534);
      f.teid = [rng.u32() || 1, rng.u32() || 1];
      f.tunSport = 49152 + rng.int(16384);
    }
    if (f.kind === 'tcp') {
      f.seq0 = rng.u32(); f.seq1 = rng.u32();
      f.win = [29200 + rng.int(36000), 28960 + rng.int(36000)];
      const h = Math.min(n, 3);
      const rem = n - h;
      const r = rng.next();
      f.close = rem >= 3 && r < 0.65 ? 'fin' : rem >= 1 && r < 0.85 ? 'rst' : 'open';
      f.dataEnd = n - (f.close === 'fin' ? 3 : f.close === 'rst' ? 1 : 0);
      f.rstFromServer = rng.next() < 0.5;
    }
    // header length of a template-built frame with empty payload
    const l4 = f.kind === 'tcp' ? 20 : f.kind === 'sctp' ? 28 : 8;
    const encapLen = { none: 0, gre: 32, ipip: 20, '6in4': 20, vxlan: 50, gtpu: 36, mpls: 4 * f.labels.length, pppoe: 8 }[f.encap];
    f.hdrLen = 14 + 4 * f.vlans.length + encapLen + (f.v6 ? 40 : 20) + l4;
    return f;
  }

  /** Wrap a transport segment into IP (+ tunnel) + Ethernet. Returns frame info. */
  buildFrame(f, dir, l4, proto, { id = 0, df = true } = {}) {
    const src = dir ? f.sIp : f.cIp;
    const dst = dir ? f.cIp : f.sIp;
    const inner = f.v6
      ? P.ipv6({ src, dst, next: proto, payload: l4, hopLimit: dir ? 56 : 64 })
      : P.ipv4({ src, dst, proto, id, df, payload: l4, ttl: dir ? 56 : 64 });
    return this.wrapIp(f, dir, inner);
  }

  wrapIp(f, dir, inner) {
    const tsrc = dir ? f.tunB : f.tunA;
    const tdst = dir ? f.tunA : f.tunB;
    const smac = dir ? f.sMac : f.cMac;
    const dmac = dir ? f.cMac : f.sMac;
    const innerType = f.v6 ? P.ETH_P.IPV6 : P.ETH_P.IPV4;
    let l2payload;
    let type = innerType;
    let pre = 0;
    switch (f.encap) {
      case 'none': l2payload = inner; break;
      case 'gre':
        l2payload = P.ipv4({ src: tsrc, dst: tdst, proto: IPP.GRE, df: true, payload: P.gre({ proto: innerType, key: f.key, payload: inner }) });
        type = P.ETH_P.IPV4; break;
      case 'ipip':
      case '6in4':
        l2payload = P.ipv4({ src: tsrc, dst: tdst, proto: f.v6 ? IPP.IPV6 : IPP.IPIP, df: true, payload: inner });
        type = P.ETH_P.IPV4; break;
      case 'vxlan': {
        const innerEth = P.ethernet({ src: macFromIndex([0x02, 0xaa], f.i + dir * 0x80000000), dst: macFromIndex([0x02, 0xaa], f.i + (1 - dir) * 0x80000000), type: innerType, payload: inner });
        l2payload = P.ipv4({
          src: tsrc, dst: tdst, proto: IPP.UDP, df: true, l4Checksum: false,
          payload: P.udp({ sport: f.tunSport, dport: 4789, payload: P.vxlan({ vni: 1000 + (f.key & 0xfff), payload: innerEth }) }),
        });
        type = P.ETH_P.IPV4; break;
      }
      case 'gtpu':
        l2payload = P.ipv4({
          src: tsrc, dst: tdst, proto: IPP.UDP, df: true, l4Checksum: false,
          payload: P.udp({ sport: 2152, dport: 2152, payload: P.gtpu({ teid: f.teid[dir], payload: inner }) }),
        });
        type = P.ETH_P.IPV4; break;
      case 'mpls':
        l2payload = P.mpls(f.labels, inner);
        pre = 4 * f.labels.length;
        type = P.ETH_P.MPLS; break;
      case 'pppoe':
        l2payload = P.pppoeSession({ sessionId: f.sessionId, ipv6: f.v6, payload: inner });
        pre = 8;
        type = P.ETH_P.PPPOE_SESS; break;
      default: throw new Error(`bad encap ${f.encap}`);
    }
    const frame = P.ethernet({ src: smac, dst: dmac, type, vlans: f.vlans, payload: l2payload });
    return { frame, l3Off: 14 + 4 * f.vlans.length + pre, l3End: frame.length, innerOff: frame.length - inner.length, innerV4: !f.v6 };
  }

  /** Build (and cache) a template frame for flow/dir/frame size. */
  template(f, dir, frameLen, ctl) {
    const slot = (ctl ? 2 : 0) + dir;
    // most packets reuse the previous size of their slot: check the one-entry caches first
    switch (slot) {
      case 0: if (f.tk0 === frameLen) return f.tv0; break;
      case 1: if (f.tk1 === frameLen) return f.tv1; break;
      case 2: if (f.tk2 === frameLen) return f.tv2; break;
      default: if (f.tk3 === frameLen) return f.tv3; break;
    }
    const key = frameLen * 4 + slot;
    let t = f.cache.get(key);
    if (t) return remember(f, slot, frameLen, t);
    const plen = ctl ? 0 : Math.max(0, frameLen - f.hdrLen);
    const payload = ZEROS.subarray(0, plen);
    const sport = dir ? f.dport : f.sport;
    const dport = dir ? f.sport : f.dport;
    let l4, proto;
    if (f.kind === 'tcp') {
      l4 = P.tcp({ sport, dport, window: f.win[dir], payload }); proto = IPP.TCP;
    } else if (f.kind === 'icmp') {
      if (f.v6) { l4 = P.icmpv6({ type: dir ? 129 : 128, id: f.icmpId, payload }); proto = IPP.ICMPV6; } else { l4 = P.icmp({ type: dir ? 0 : 8, id: f.icmpId, payload }); proto = IPP.ICMP; }
    } else {
      l4 = P.udp({ sport, dport, payload }); proto = IPP.UDP;
    }
    const fi = this.buildFrame(f, dir, l4, proto);
    let frame = fi.frame;
    if (frame.length < frameLen) { frame = Buffer.concat([frame, Buffer.alloc(frameLen - frame.length)]); }
    const l4Off = fi.l3End - l4.length;
    // copy into a small pooled buffer (fewer ArrayBuffers for the GC to track)
    const buf = Buffer.allocUnsafe(frame.length);
    frame.copy(buf);
    t = new Template(buf, fi.l3Off, fi.l3End, fi.innerV4 ? fi.innerOff : -1, l4Off, plen,
      fi.innerV4 ? (~frame.readUInt16BE(fi.innerOff + 10)) & 0xffff : 0,
      proto === IPP.UDP ? 0 : (~frame.readUInt16BE(l4Off + (proto === IPP.TCP ? 16 : 2))) & 0xffff);
    f.cache.set(key, t);
    return remember(f, slot, frameLen, t);
  }

  /** Convert an Ethernet frame (info) to the link type of interface `iface`. Returns { buf, shift }. */
  variant(fi, iface, dir, smac) {
    const lt = this.links[iface];
    const { frame, l3Off, l3End } = fi;
    if (lt === 1) return { buf: frame, shift: 0 };
    if (lt === 101) return { buf: Buffer.from(frame.subarray(l3Off, l3End)), shift: -l3Off };
    if (lt === 0) {
      const v6 = (frame[l3Off] >> 4) === 6;
      return { buf: P.nullLoopback({ family: v6 ? 30 : 2, payload: frame.subarray(l3Off, l3End) }), shift: 4 - l3Off };
    }
    const protocol = frame.readUInt16BE(12);
    const rest = frame.subarray(14, Math.max(l3End, 14));
    if (lt === 113) return { buf: P.sll({ pktType: dir ? 0 : 4, addr: smac, protocol, payload: rest }), shift: 2 };
    if (lt === 276) return { buf: P.sll2({ pktType: dir ? 0 : 4, ifindex: 2, addr: smac, protocol, payload: rest }), shift: 6 };
    throw new Error(`unsupported linktype ${lt}`);
  }

  /** Write the next packet of flow f on interface iface. */
  emit(f, w, iface, sec, nsec) {
    switch (f.kind) {
      case 'tcp': return this.emitTcp(f, w, iface, sec, nsec);
      case 'udp': {
        const dir = f.k === 0 ? 0 : (f.next() < 0.45 ? 1 : 0);
        const size = this.sizes.data(f);
        if (f.app !== null && this.peekMessage(f)?.dir === dir) return this.emitMessage(f, this.nextMessage(f), w, iface, sec, nsec);
        const t = this.template(f, dir, size, false);
        return this.put(f, t, dir, w, iface, sec, nsec);
      }
      case 'icmp': {
        const dir = f.k & 1;
        let size;
        if (dir === 0) { size = f.lastSize = this.sizes.data(f); f.icmpSeq = (f.icmpSeq + 1) & 0xffff; } else size = f.lastSize;
        const t = this.template(f, dir, size, false);
        const v = this.put(f, t, dir, w, iface, sec, nsec, true);
        const b = v.buf, o = t.l4Off + v.shift, s = f.icmpSeq;
        b[o + 6] = s >> 8; b[o + 7] = s & 0xff;
        let sum = t.l4Base + s;
        sum = (sum & 0xffff) + (sum >>> 16); sum = (sum & 0xffff) + (sum >>> 16);
        sum = ~sum & 0xffff;
        b[o + 2] = sum >> 8; b[o + 3] = sum & 0xff;
        w.writeParts(iface, sec, nsec, b, b.length);
        return undefined;
      }
      default: return this.emitSlow(f, w, iface, sec, nsec);
    }
  }

  /** Patch IPv4 id + checksum into the template variant and write it (unless deferWrite). */
  put(f, t, dir, w, iface, sec, nsec, deferWrite = false) {
    let b, shift;
    if (iface === 0) {
      if (t.b0 === null) { const v = this.variant(t, 0, dir, dir ? f.sMac : f.cMac); t.b0 = v.buf; t.s0 = v.shift; }
      b = t.b0; shift = t.s0;
    } else {
      if (t.b1 === null) { const v = this.variant(t, 1, dir, dir ? f.sMac : f.cMac); t.b1 = v.buf; t.s1 = v.shift; }
      b = t.b1; shift = t.s1;
    }
    const v = this.pv;
    v.buf = b; v.shift = shift;
    if (t.ipOff >= 0) {
      const o = t.ipOff + shift;
      const id = nextIpId(f, dir);
      b[o + 4] = id >> 8; b[o + 5] = id & 0xff;
      let sum = t.ipBase + id;
      sum = (sum & 0xffff) + (sum >>> 16); sum = (sum & 0xffff) + (sum >>> 16);
      sum = ~sum & 0xffff;
      b[o + 10] = sum >> 8; b[o + 11] = sum & 0xff;
    }
    if (!deferWrite) w.writeParts(iface, sec, nsec, b, b.length);
    return v;
  }

  emitTcp(f, w, iface, sec, nsec) {
    const k = f.k;
    let dir, flags, ctl = true, size = this.sizes.ctl;
    let seq, ack;
    if (k < 3) {
      if (k === 0) { dir = 0; flags = 0x02; seq = f.seq0; ack = 0; f.seq0 = (seq + 1) >>> 0; }
      else if (k === 1) { dir = 1; flags = 0x12; seq = f.seq1; ack = f.seq0; f.seq1 = (seq + 1) >>> 0; }
      else { dir = 0; flags = 0x10; seq = f.seq0; ack = f.seq1; }
    } else if (k < f.dataEnd) {
      dir = f.next() < 0.55 ? 1 : 0;
      size = this.sizes.data(f);
      ctl = false;
      if (f.app !== null && this.peekMessage(f)) return this.emitMessage(f, this.nextMessage(f), w, iface, sec, nsec);
      if (dir === 0) { seq = f.seq0; ack = f.seq1; } else { seq = f.seq1; ack = f.seq0; }
    } else if (f.close === 'fin') {
      const j = k - f.dataEnd;
      if (j === 0) { dir = 0; flags = 0x11; seq = f.seq0; ack = f.seq1; f.seq0 = (seq + 1) >>> 0; }
      else if (j === 1) { dir = 1; flags = 0x11; seq = f.seq1; ack = f.seq0; f.seq1 = (seq + 1) >>> 0; }
      else { dir = 0; flags = 0x10; seq = f.seq0; ack = f.seq1; }
    } else { // rst
      if (f.rstFromServer) { dir = 1; flags = 0x14; seq = f.seq1; ack = f.seq0; } else { dir = 0; flags = 0x04; seq = f.seq0; ack = 0; }
    }
    const t = this.template(f, dir, size, ctl);
    if (!ctl) {
      flags = t.plen > 0 ? 0x18 : 0x10;
      if (dir === 0) f.seq0 = (seq + t.plen) >>> 0; else f.seq1 = (seq + t.plen) >>> 0;
    }
    const v = this.put(f, t, dir, w, iface, sec, nsec, true);
    const b = v.buf, o = t.l4Off + v.shift;
    b[o + 4] = seq >>> 24; b[o + 5] = (seq >>> 16) & 0xff; b[o + 6] = (seq >>> 8) & 0xff; b[o + 7] = seq & 0xff;
    b[o + 8] = ack >>> 24; b[o + 9] = (ack >>> 16) & 0xff; b[o + 10] = (ack >>> 8) & 0xff; b[o + 11] = ack & 0xff;
    b[o + 13] = flags;
    let sum = t.l4Base + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) + flags;
    sum = (sum & 0xffff) + (sum >>> 16); sum = (sum & 0xffff) + (sum >>> 16);
    sum = ~sum & 0xffff;
    b[o + 16] = sum >> 8; b[o + 17] = sum & 0xff;
    w.writeParts(iface, sec, nsec, b, b.length);
  }

  /** The flow's next application message (--apps), built on first use, or undefined. */
  peekMessage(f) {
    if (f.appMsgs === null) f.appMsgs = flowMessages(f.app, hash32(this.o.seed ^ 0x5a5a5a5a, f.i));
    return f.appMsgs[f.appNext];
  }

  nextMessage(f) {
    const m = this.peekMessage(f);
    f.appNext++;
    return m;
  }

  /** One packet carrying an application message: a TCP PSH/ACK segment or a UDP datagram, at its own size. */
  emitMessage(f, m, w, iface, sec, nsec) {
    const dir = m.dir;
    let l4, proto;
    if (f.kind === 'tcp') {
      const seq = dir ? f.seq1 : f.seq0, ack = dir ? f.seq0 : f.seq1;
      l4 = P.tcp({ sport: dir ? f.dport : f.sport, dport: dir ? f.sport : f.dport, seq, ack, flags: 0x18, window: f.win[dir], payload: m.payload });
      if (dir) f.seq1 = (seq + m.payload.length) >>> 0; else f.seq0 = (seq + m.payload.length) >>> 0;
      proto = IPP.TCP;
    } else {
      l4 = P.udp({ sport: dir ? f.dport : f.sport, dport: dir ? f.sport : f.dport, payload: m.payload });
      proto = IPP.UDP;
    }
    const fi = this.buildFrame(f, dir, l4, proto, { id: nextIpId(f, dir) });
    if (fi.frame.length < 60) fi.frame = Buffer.concat([fi.frame, Buffer.alloc(60 - fi.frame.length)]);
    const v = this.variant(fi, iface, dir, dir ? f.sMac : f.cMac);
    w.writeParts(iface, sec, nsec, v.buf, v.buf.length);
  }

  /** Rarely used kinds: built packet by packet with the library. */
  emitSlow(f, w, iface, sec, nsec) {
    let fi, dir = 0;
    if (f.kind === 'sctp') {
      dir = f.k & 1;
      const plen = 20 + f.int(200);
      const l4 = P.sctp({
        sport: dir ? f.dport : f.sport, dport: dir ? f.sport : f.dport, vtag: f.vtag[dir], tsn: f.tsn[dir],
        ppid: 60, streamSeq: f.k >> 1, payload: ZEROS.subarray(0, plen),
      });
      f.tsn[dir] = (f.tsn[dir] + 1) >>> 0;
      fi = this.buildFrame(f, dir, l4, IPP.SCTP, { id: nextIpId(f, dir) });
    } else if (f.kind === 'frag') {
      if (!f.queue.length) this.fillFragments(f);
      ({ fi, dir } = f.queue.shift());
    } else {
      ({ fi, dir } = this.l2Frame(f));
    }
    if (fi.frame.length < 60) fi.frame = Buffer.concat([fi.frame, Buffer.alloc(60 - fi.frame.length)]);
    const v = this.variant(fi, iface, dir, dir ? f.sMac : f.cMac);
    w.writeParts(iface, sec, nsec, v.buf, v.buf.length);
  }

  fillFragments(f) {
    const remaining = f.n - f.k;
    const m = Math.min(remaining, 2 + f.int(3));
    const dir = f.next() < 0.8 ? 0 : 1;
    const step = f.v6 ? 1448 : 1480;
    const ulen = m === 1 ? 8 + 32 + f.int(400) : (m - 1) * step + 1 + f.int(step);
    const src = dir ? f.sIp : f.cIp, dst = dir ? f.cIp : f.sIp;
    const u = P.udp({ sport: dir ? f.dport : f.sport, dport: dir ? f.sport : f.dport, payload: ZEROS.subarray(0, ulen - 8) });
    const id = nextIpId(f, dir);
    let pkts;
    if (m === 1) pkts = [f.v6 ? P.ipv6({ src, dst, next: IPP.UDP, payload: u }) : P.ipv4({ src, dst, proto: IPP.UDP, id, payload: u })];
    else if (f.v6) pkts = P.ipv6Fragments({ src, dst, next: IPP.UDP, payload: u }, step, hash32(f.i, id));
    else pkts = P.ipv4Fragments({ src, dst, proto: IPP.UDP, id, payload: u }, step);
    for (const ip of pkts) f.queue.push({ fi: this.wrapIp(f, dir, ip), dir });
  }

  l2Frame(f) {
    const k = f.k;
    let dir = 0, type, payload, dst;
    const vlans = f.vlans;
    switch (f.l2kind) {
      case 'arp': {
        dir = k & 1;
        type = P.ETH_P.ARP;
        if (dir === 0) { dst = BCAST; payload = P.arp({ op: 1, senderMac: f.cMac, senderIp: f.cIp, targetIp: f.sIp }); } else {
          dst = f.cMac; payload = P.arp({ op: 2, senderMac: f.sMac, senderIp: f.sIp, targetMac: f.cMac, targetIp: f.cIp });
        }
        break;
      }
      case 'lldp':
        type = P.ETH_P.LLDP; dst = P.macToBytes('01:80:c2:00:00:0e');
        payload = P.lldp({ chassisMac: f.cMac, portId: `port${1 + (f.i % 48)}`, ttl: 120, systemName: `sw-${f.i}` });
        break;
      case 'goose':
        type = P.ETH_P.GOOSE; dst = macFromIndex([0x01, 0x0c], 0xcd010000 | (f.i & 0xff));
        payload = P.goose({ appId: f.i & 0x3fff, goId: `IED${f.i}_GOOSE1`, timeSec: BASE_SEC, stNum: 1, sqNum: k, entries: [true, (k & 1) === 1] });
        break;
      default: // PROFINET RT cyclic data, controller <-> device
        dir = k & 1;
        type = P.ETH_P.PROFINET; dst = dir ? f.cMac : f.sMac;
        payload = P.profinetRt({ frameId: 0x8000 + (f.i & 0x3ff), data: ZEROS.subarray(0, 40), cycleCounter: (k >> 1) * 32 });
        break;
    }
    const frame = P.ethernet({ src: dir ? f.sMac : f.cMac, dst, type, vlans, payload });
    return { fi: { frame, l3Off: -1, l3End: frame.length }, dir };
  }
}

/** Split `packets` over `flows` (each >= 1), heavy-tailed, exact sum. */
function allocateCounts(packets, flows, seed) {
  const counts = new Float64Array(flows);
  if (flows === 0) return counts;
  const rng = new Rng(hash32(seed, 0xc0ffee));
  const extra = packets - flows;
  const w = new Float64Array(flows);
  let total = 0;
  for (let i = 0; i < flows; i++) {
    const u = 1 - rng.next();
    const x = Math.min(1000, u ** (-1 / 1.3));
    w[i] = x; total += x;
  }
  let sum = 0;
  for (let i = 0; i < flows; i++) { counts[i] = 1 + Math.floor((extra * w[i]) / total); sum += counts[i]; }
  let left = packets - sum;
  for (let i = 0; left > 0; i = (i + 1) % flows, left--) counts[i]++;
  return counts;
}

// ------------------------------------------------------------------ main

/**
 * Generate a capture. options: { out?, packets, flows, seed, format, nanos, bigEndian, sizes, mix,
 *   multiInterface, iface2, link, gapUs, duration, concurrency, snaplen, extraBlocks, start, apps, quiet }.
 * `start`: the first packet's time, seconds since the epoch (default BASE_SEC, 2026-01-01).
 * Without `out` the capture is built in memory and returned as `buffer`.
 * Resolves to { packets, flows, bytes, seconds, buffer? }.
 */
export async function generate(options = {}) {
  return generateSync(options);
}

export function generateSync(options = {}) {
  const t0 = process.hrtime.bigint();
  const o = normalizeOptions(options);
  const P_ = o.packets;
  const F = Math.min(o.flows, P_);
  const links = o.multiInterface ? [1, o.iface2 === 'sll' ? 113 : 101] : [LINKS[o.link]];
  const sink = o.out === undefined || o.out === null ? {} : o.out === '-' ? { fd: 1 } : { file: o.out };
  let w;
  if (o.format === 'pcap') {
    w = new PcapWriter({ ...sink, linktype: links[0], nanos: o.nanos, bigEndian: o.bigEndian, snaplen: o.snaplen });
  } else {
    w = new PcapngWriter({ ...sink, bigEndian: o.bigEndian });
    if (o.multiInterface) {
      w.addInterface({ linktype: links[0], snaplen: o.snaplen, tsresol: 6, name: 'eth0' });
      w.addInterface({ linktype: links[1], snaplen: o.snaplen, tsresol: 9, name: o.iface2 === 'sll' ? 'any' : 'tun0' });
    } else {
      w.addInterface({ linktype: links[0], snaplen: o.snaplen, tsresol: o.nanos ? 9 : 6, name: 'eth0' });
    }
    if (o.extraBlocks) {
      w.writeNameResolution([{ ip: '172.16.0.1', names: ['gw.example'] }, { ip: '2001:db8:5e::1', names: ['gw6.example'] }]);
      w.writeCustomUnknownBlock();
    }
  }

  const gen = new Generator(o, links);
  const counts = allocateCounts(P_, F, o.seed);
  const K = Math.min(F, o.concurrency ?? 2048);
  const active = new Array(K);
  let next = 0;
  for (; next < K; next++) active[next] = gen.createFlow(next, counts[next]);
  let activeN = K;
  const sched = new Rng(hash32(o.seed, 0x5eed));
  const gapNs = o.duration !== undefined && P_ > 0 ? (o.duration * 1e9) / P_ : o.gapUs * 1000;
  let sec = o.start, nsec = 0;
  const multi = links.length > 1;
  const l2Ok = gen.ifaceL2;
  for (let g = 0; g < P_; g++) {
    const slot = activeN > 1 ? Math.floor(sched.next() * activeN) : 0;
    const f = active[slot];
    if (g > 0) {
      nsec += Math.floor(-Math.log(1 - sched.next()) * gapNs);
      while (nsec >= 1e9) { nsec -= 1e9; sec++; }
    }
    let iface = 0;
    if (multi) {
      iface = g & 1;
      if (f.kind === 'l2' && !l2Ok[iface]) iface = 0;
      if (iface === 0) { // µs interface: move the clock up to a whole µs so file order stays time order
        nsec = Math.ceil(nsec / 1000) * 1000;
        if (nsec >= 1e9) { nsec -= 1e9; sec++; }
      }
    }
    gen.emit(f, w, iface, sec, nsec);
    if (++f.k >= f.n) {
      if (next < F) { active[slot] = gen.createFlow(next, counts[next]); next++; } else { active[slot] = active[--activeN]; }
    }
  }
  if (o.format === 'pcapng' && o.extraBlocks) {
    const ts = BigInt(sec) * 1000000000n + BigInt(nsec);
    for (let i = 0; i < links.length; i++) w.writeInterfaceStatistics(i, ts, { ifRecv: P_, ifDrop: 0 });
  }
  const bytes = w.bytes;
  const buffer = w.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const res = { packets: P_, flows: F, bytes, seconds };
  if (buffer) res.buffer = buffer;
  if (!o.quiet) {
    process.stderr.write(`gen-pcap: ${P_} packets, ${F} flows, ${bytes} bytes${o.out ? ` -> ${o.out}` : ''} in ${seconds.toFixed(2)} s (${(P_ / seconds / 1e6).toFixed(2)} Mpps)\n`);
  }
  return res;
}

const HELP = `usage: node scripts/gen-pcap.mjs --out FILE [options]

  --out FILE            output file ('-' = stdout)
  --packets N           number of packets (default 100000)
  --flows F             number of flows (default 1000)
  --seed S              PRNG seed (default 1); same options + seed = identical bytes
  --format pcap|pcapng  output format (default pcap)
  --nanos               nanosecond timestamps (pcap magic a1b23c4d / pcapng if_tsresol 9)
  --big-endian          write headers big-endian
  --sizes imix|64|<n>   frame sizes (default imix = 64/576/1500 in 7:4:1)
  --mix SPEC            simple | default | full, plus overrides like full,vxlan=10,ipv6=50
                        keys: ${Object.keys(ZERO_MIX).join(' ')}
  --multi-interface     pcapng: Ethernet (us) + second interface (ns), packets alternate
  --iface2 raw|sll      link type of the second interface (default raw = LINKTYPE_RAW 101)
  --link eth|raw|sll|sll2|null   link type of a single-interface capture (default eth)
  --gap-us G            mean inter-packet gap in microseconds (default 10)
  --hosts H             client hosts share H addresses (default: one per flow); flows stay distinct by source port
  --duration S          alternative: spread the packets over S seconds
  --concurrency K       number of simultaneously active flows (default min(flows, 2048))
  --snaplen N           snapshot length (default 262144)
  --extra-blocks        pcapng: add a Name Resolution Block, an unknown block (0xBAD)
                        and Interface Statistics Blocks
  --start S             first packet's time, seconds since the epoch (default ${BASE_SEC}: 2026-01-01)
  --apps                real application messages where flows model them: TLS (TCP 443, 8443, 993),
                        HTTP (80, 8080, 8000), SSH (2222), QUIC v1/v2 (UDP 443/4433), DNS (UDP 53)
  --quiet               no summary line on stderr
`;

async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', short: 'o' }, packets: { type: 'string', short: 'n' }, flows: { type: 'string', short: 'f' },
      seed: { type: 'string', short: 's' }, format: { type: 'string' }, nanos: { type: 'boolean' },
      'big-endian': { type: 'boolean' }, sizes: { type: 'string' }, mix: { type: 'string' },
      'multi-interface': { type: 'boolean' }, iface2: { type: 'string' }, link: { type: 'string' },
      'gap-us': { type: 'string' }, duration: { type: 'string' }, concurrency: { type: 'string' }, hosts: { type: 'string' },
      snaplen: { type: 'string' }, 'extra-blocks': { type: 'boolean' }, start: { type: 'string' }, apps: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) { process.stdout.write(HELP); return; }
  if (!values.out) { process.stderr.write(`gen-pcap: --out is required\n\n${HELP}`); process.exitCode = 2; return; }
  await generate({
    out: values.out, packets: values.packets, flows: values.flows, seed: values.seed, format: values.format,
    nanos: values.nanos, bigEndian: values['big-endian'], sizes: values.sizes, mix: values.mix,
    multiInterface: values['multi-interface'], iface2: values.iface2, link: values.link,
    gapUs: values['gap-us'], duration: values.duration, concurrency: values.concurrency, hosts: values.hosts,
    snaplen: values.snaplen, extraBlocks: values['extra-blocks'], start: values.start, apps: values.apps, quiet: values.quiet,
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => { process.stderr.write(`gen-pcap: ${e.message}\n`); process.exitCode = 1; });
}

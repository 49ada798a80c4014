#!/usr/bin/env node
// fields-oracle: the per-flow details of docs/fields.md (record bytes
// 512-1023) computed from tshark's per-packet fields alone, as JSON. The
// reference test/fields.test.ts holds both engines to.
//
//   node scripts/fields-oracle.mjs CAPTURE [--splt N] [--out FILE]
//   import { fieldsOracle } from './scripts/fields-oracle.mjs';  const { flows } = await fieldsOracle(file, { splt: 10 });
//
// One tshark run (`-T fields`, one line a frame). Flows are grouped as the
// engines group them when nothing segments a flow (no timeouts, no TCP
// termination; the caller reads with those options): by protocol, IP
// version, the two endpoints (address, port; ICMP has port 0) and the outer
// VLAN; `src` is the sender of the first packet. Only TCP, UDP, SCTP, ICMP,
// ICMPv6 and ARP (straight over Ethernet, tags allowed; key
// `arp v<vlan> <mac>#0 <mac>#0`) are read; other frames make no flow here.
//
// Which header keys a packet: tshark lists every value of a stacked header
// (`ip.src` = outer,inner); frame.protocols says in which order the layers
// came, so the n-th `ip` layer takes the n-th `ip.*` value. The walk starts at
// the first IP header and goes inwards only through the tunnels the engines
// open (IP-in-IP/6in4, GRE with IP or Ethernet, ERSPAN II, VXLAN on UDP
// 4789, GTP-U); the header it stops at keys the packet, and the layer after it
// is the transport (ICMP is a transport: its quoted headers are not
// followed). An IPv6 atomic fragment (offset 0, no more) is a whole packet. The first packet's tunnel
// gives tunnelType/tunnelId, its outer frame's tags vlan and innerVlan
// (802.1ad and 802.1Q layers consumed in frame order: tshark lists the two
// kinds' ids in separate fields).
//
// Per flow and direction (fwd = from src): packets, IP bytes (IPv4 total
// length, IPv6 40 + payload length of the keying header; ARP: the frame after
// the Ethernet header and its tags), payload bytes (TCP
// tcp.len, UDP length - 8, ICMP IP payload - 4, SCTP IP payload - 12),
// first/last packet time as ns strings (first = the first packet's, last = the
// latest), TCP flag counters (FIN..CWR), and the statistics: sizes =
// frame.len (accounting 'link'), inter-arrival = time since the latest
// earlier packet of the set (0 when a packet is older: docs/fields.md), min /
// max exact (sizes as numbers, IATs as ns strings), means and population
// standard deviations two-pass in doubles; the same over both directions
// (`bi`). SPLT: the first N packets: direction (1 = dst -> src), size
// (frame.len, saturating at 65535), µs (floor) since the flow's previous
// packet.
//
// Flows left out (listed in `excluded` with the reason), since the engines
// account them in ways tshark cannot show packet by packet: those with an IP
// fragment on their address pair (tshark reassembles, the engines account
// each fragment), a malformed frame, or a frame cut short by the snap length.
// `payloadKnown` is false for ICMPv6/SCTP flows behind IPv6 extension headers
// (their length is not among the fields) and for ARP flows (docs/fields.md
// does not say what a layer-2 flow's payload is).

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { normalizeAddr } from './app-oracle.mjs';

const run = promisify(execFile);

export const FIELDS = [
  'frame.number', 'frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.protocols', '_ws.malformed', 'eth.src', 'eth.dst',
  'vlan.id', 'ieee8021ad.id',
  'ip.src', 'ip.dst', 'ip.len', 'ip.hdr_len', 'ip.flags.mf', 'ip.frag_offset',
  'ipv6.src', 'ipv6.dst', 'ipv6.plen', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.more',
  'tcp.srcport', 'tcp.dstport', 'tcp.len', 'tcp.flags',
  'udp.srcport', 'udp.dstport', 'udp.length',
  'sctp.srcport', 'sctp.dstport',
  'gre.key', 'vxlan.vni', 'gtp.teid',
];
const COL = Object.fromEntries(FIELDS.map((f, i) => [f, i]));
const IPV6_EXT = new Set(['ipv6.hopopts', 'ipv6.routing', 'ipv6.dstopts']);
const TRANSPORT = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };
const TAG_LAYERS = new Set(['vlan', 'ieee8021ad']);
const U32 = 0xffffffffn;

/** Walks one frame's layers: the keying IP header, its transport and the tunnel it came through; null when not an IP flow packet. */
export function keyOf(cols) {
  const layers = cols[COL['frame.protocols']].split(':');
  const seen = {};
  const nth = (name) => seen[name] ?? 0;
  const at = (field, i) => (cols[COL[field]] || '').split(',')[i];
  const tags = [];
  let ip = -1;
  for (let i = 0; i < layers.length && ip < 0; i++) {
    const l = layers[i];
    if (TAG_LAYERS.has(l)) tags.push(Number(at(l === 'vlan' ? 'vlan.id' : 'ieee8021ad.id', nth(l))));
    if (l === 'ip' || l === 'ipv6') ip = i;
    else seen[l] = nth(l) + 1;
  }
  if (ip < 0) {
    // ARP straight over Ethernet (tags allowed): a layer-2 flow between the two MACs
    const arp = layers.indexOf('arp');
    if (layers[0] !== 'eth' || arp < 0 || layers.slice(1, arp).some((l) => l !== 'ethertype' && !TAG_LAYERS.has(l))) return null;
    return {
      l2: true, etherType: 0x0806, src: at('eth.src', 0), dst: at('eth.dst', 0), sport: 0, dport: 0, tags, tunnel: null, tunnelId: 0,
      proto: 0, ipVersion: 0, fragment: false, flags: 0, payload: null,
      ipBytes: Number(cols[COL['frame.len']]) - 14 - 4 * tags.length,
    };
  }
  let tunnel = null;
  let tunnelId = 0;
  for (;;) {
    const ipLayer = layers[ip];
    const ipIndex = nth(ipLayer);
    seen[ipLayer] = ipIndex + 1;
    let j = ip + 1;
    let ext = false;
    let fragment = false;
    while (IPV6_EXT.has(layers[j]) || layers[j] === 'ipv6.fraghdr') {
      if (layers[j] === 'ipv6.fraghdr') {
        // an atomic fragment (offset 0, no more) is a whole packet (RFC 6946)
        const h = seen['ipv6.fraghdr'] ?? 0;
        seen['ipv6.fraghdr'] = h + 1;
        if (at('ipv6.fraghdr.offset', h) !== '0' || at('ipv6.fraghdr.more', h) !== '0') fragment = true;
      }
      ext = true;
      j++;
    }
    if (ipLayer === 'ip' && (at('ip.flags.mf', ipIndex) === '1' || (at('ip.frag_offset', ipIndex) ?? '0') !== '0')) fragment = true;
    const next = layers[j];
    const inner = (k, type, id) => {
      if (layers[k] !== 'ip' && layers[k] !== 'ipv6') return false;
      tunnel = type;
      tunnelId = id;
      ip = k;
      return true;
    };
    if (!fragment) {
      if (inner(j, 'ipip', 0)) continue;
      if (next === 'gre') {
        // IP in GRE, Ethernet in GRE (0x6558), or ERSPAN II's mirrored frame; the id is the GRE key in each
        let k = j + 1;
        const type = layers[k] === 'erspan' ? 'erspan' : 'gre';
        if (type === 'erspan') k++;
        if (layers[k] === 'eth') while (layers[k] === 'eth' || layers[k] === 'ethertype' || TAG_LAYERS.has(layers[k])) k++;
        if (inner(k, type, Number(at('gre.key', nth('gre')) ?? 0))) {
          for (const l of layers.slice(j, k)) seen[l] = nth(l) + 1;
          continue;
        }
      }
      if (next === 'udp') {
        const u = nth('udp');
        if (layers[j + 1] === 'vxlan' && at('udp.dstport', u) === '4789') {
          let k = j + 2;
          while (layers[k] === 'eth' || layers[k] === 'ethertype' || TAG_LAYERS.has(layers[k])) k++;
          if (inner(k, 'vxlan', Number(at('vxlan.vni', nth('vxlan'))))) {
            for (const l of layers.slice(j, k)) seen[l] = nth(l) + 1;
            continue;
          }
        }
        if (layers[j + 1] === 'gtp' && inner(j + 2, 'gtp-u', Number(at('gtp.teid', nth('gtp'))))) {
          seen.udp = u + 1;
          seen.gtp = nth('gtp') + 1;
          continue;
        }
      }
    }
    const v6 = ipLayer === 'ipv6';
    const key = {
      ipVersion: v6 ? 6 : 4,
      src: normalizeAddr(at(`${ipLayer}.src`, ipIndex)),
      dst: normalizeAddr(at(`${ipLayer}.dst`, ipIndex)),
      ipBytes: v6 ? 40 + Number(at('ipv6.plen', ipIndex)) : Number(at('ip.len', ipIndex)),
      l4Len: v6 ? (ext ? null : Number(at('ipv6.plen', ipIndex))) : Number(at('ip.len', ipIndex)) - Number(at('ip.hdr_len', ipIndex)),
      fragment, tags, tunnel, tunnelId,
      proto: TRANSPORT[next] ?? null, sport: 0, dport: 0, payload: null, flags: 0,
    };
    if (fragment) return key;
    const t = nth(next);
    if (next === 'tcp') {
      Object.assign(key, { sport: Number(at('tcp.srcport', t)), dport: Number(at('tcp.dstport', t)), payload: Number(at('tcp.len', t)) });
      key.flags = parseInt(at('tcp.flags', t), 16) & 0xff;
    } else if (next === 'udp') {
      Object.assign(key, { sport: Number(at('udp.srcport', t)), dport: Number(at('udp.dstport', t)), payload: Math.max(0, Number(at('udp.length', t)) - 8) });
    } else if (next === 'sctp') {
      Object.assign(key, { sport: Number(at('sctp.srcport', t)), dport: Number(at('sctp.dstport', t)) });
      key.payload = key.l4Len === null ? null : Math.max(0, key.l4Len - 12);
    } else if (next === 'icmp' || next === 'icmpv6') {
      key.payload = key.l4Len === null ? null : Math.max(0, key.l4Len - 4);
    }
    return key;
  }
}

/** "1767225600.000010000" -> ns as bigint. */
export function epochNs(s) {
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
}

/** min/max/mean/population stddev of sizes and inter-arrival times (ns; each packet's time since the latest earlier one, 0 when older). */
export function statsOf(packets) {
  const zero = { sizeMin: 0, sizeMax: 0, sizeMean: 0, sizeStddev: 0, iatMinNs: '0', iatMaxNs: '0', iatMeanNs: 0, iatStddevNs: 0 };
  if (packets.length === 0) return zero;
  const sizes = packets.map((p) => p.size);
  const iats = [];
  let latest = packets[0].ns;
  for (const p of packets.slice(1)) {
    iats.push(p.ns > latest ? p.ns - latest : 0n);
    if (p.ns > latest) latest = p.ns;
  }
  const moments = (xs) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return { mean, stddev: Math.sqrt(xs.reduce((a, x) => a + (x - mean) * (x - mean), 0) / xs.length) };
  };
  const s = moments(sizes);
  const out = { ...zero, sizeMin: Math.min(...sizes), sizeMax: Math.max(...sizes), sizeMean: s.mean, sizeStddev: s.stddev };
  if (iats.length) {
    const sum = iats.reduce((a, b) => a + b, 0n);
    const mean = Number(sum) / iats.length;
    const dev = Math.sqrt(iats.reduce((a, x) => a + (Number(x) - mean) ** 2, 0) / iats.length);
    out.iatMinNs = iats.reduce((a, b) => (b < a ? b : a)).toString();
    out.iatMaxNs = iats.reduce((a, b) => (b > a ? b : a)).toString();
    out.iatMeanNs = mean;
    out.iatStddevNs = dev;
  }
  return out;
}

const FLAG_NAMES = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'];

function direction(packets) {
  const flags = Object.fromEntries(FLAG_NAMES.map((n, i) => [n, packets.filter((p) => p.flags & (1 << i)).length]));
  const latest = packets.reduce((a, p) => (p.ns > a ? p.ns : a), 0n);
  return {
    packets: packets.length,
    ipBytes: packets.reduce((a, p) => a + p.ipBytes, 0),
    payloadBytes: packets.reduce((a, p) => a + (p.payload ?? 0), 0),
    firstNs: packets.length ? packets[0].ns.toString() : null,
    lastNs: packets.length ? latest.toString() : null,
    flagCounts: flags,
    stats: statsOf(packets),
  };
}

function spltOf(packets, n) {
  const out = { direction: [], size: [], iatUs: [] };
  let latest = null;
  for (const p of packets.slice(0, n)) {
    out.direction.push(p.fwd ? 0 : 1);
    out.size.push(Math.min(p.size, 65535));
    const us = latest === null || p.ns <= latest ? 0n : (p.ns - latest) / 1000n;
    out.iatUs.push(Number(us > U32 ? U32 : us));
    if (latest === null || p.ns > latest) latest = p.ns;
  }
  return out;
}

/** Groups tshark's frames into flows and computes the fields; see the header comment. */
export function flowsOf(lines, { splt = 10 } = {}) {
  const flows = new Map();
  const tainted = new Map(); // proto|addr pair -> why
  const pairOf = (k) => `${k.proto}|${k.ipVersion}|${[k.src, k.dst].sort().join('|')}`;
  for (const line of lines) {
    if (!line) continue;
    const cols = line.split('\t');
    const k = keyOf(cols);
    if (!k) continue;
    const frame = Number(cols[COL['frame.number']]);
    if (k.fragment) { tainted.set(pairOf(k), `IP fragment (frame ${frame})`); continue; }
    if (k.proto === null) continue; // a protocol the oracle does not read
    const a = `${k.src}#${k.sport}`;
    const b = `${k.dst}#${k.dport}`;
    const vlan = k.tags[0] ?? 0;
    const key = `${k.l2 ? 'arp' : k.proto} v${vlan} ${a <= b ? a : b} ${a <= b ? b : a}`;
    let f = flows.get(key);
    if (!f) {
      f = {
        key, l2: Boolean(k.l2), proto: k.proto, ipVersion: k.ipVersion, src: k.src, srcPort: k.sport, dst: k.dst, dstPort: k.dport, vlan,
        innerVlan: k.tags[1] ?? 0, tunnelType: k.tunnel, tunnelId: k.tunnel ? k.tunnelId : null,
        pair: pairOf(k), packets: [], payloadKnown: true, why: null,
      };
      flows.set(key, f);
    }
    const size = Number(cols[COL['frame.len']]);
    if (cols[COL['_ws.malformed']]) f.why ??= `malformed frame ${frame}`;
    if (Number(cols[COL['frame.cap_len']]) < size) f.why ??= `frame ${frame} cut by the snap length`;
    if (k.payload === null && !(k.proto === 6 || k.proto === 17)) f.payloadKnown = false;
    f.packets.push({
      frame, ns: epochNs(cols[COL['frame.time_epoch']]), size, ipBytes: k.ipBytes, payload: k.payload, flags: k.flags,
      fwd: k.src === f.src && k.sport === f.srcPort,
    });
  }
  const out = [];
  const excluded = [];
  for (const [pair, why] of tainted) excluded.push({ pair, why });
  for (const f of flows.values()) {
    const why = f.why ?? tainted.get(f.pair);
    if (why) { excluded.push({ key: f.key, why }); continue; }
    const { packets, pair, why: _, ...head } = f;
    out.push({
      ...head,
      fwd: direction(packets.filter((p) => p.fwd)),
      rev: direction(packets.filter((p) => !p.fwd)),
      biStats: statsOf(packets),
      splt: spltOf(packets, splt),
      frames: [packets[0].frame, packets[packets.length - 1].frame],
    });
  }
  return { flows: out, excluded };
}

/** Runs tshark over `file` and returns { file, flows, excluded, error }. */
export async function fieldsOracle(file, { splt = 10 } = {}) {
  const args = ['-r', file, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of FIELDS) args.push('-e', f);
  let stdout;
  let error = null;
  try {
    ({ stdout } = await run('tshark', args, { maxBuffer: 1 << 30 }));
  } catch (e) {
    // tshark stops at a cut or bad record with status 2 but has printed what it read
    if (typeof e.stdout !== 'string') throw e;
    stdout = e.stdout;
    error = String(e.stderr || e.message).trim().split('\n').pop();
  }
  return { file: path.basename(file), error, ...flowsOf(stdout.split('\n'), { splt }) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv.splice(i, 2)[1] : undefined; };
  const out = opt('--out');
  const splt = Number(opt('--splt') ?? 10);
  if (argv.length !== 1) {
    console.error('usage: node scripts/fields-oracle.mjs CAPTURE [--splt N] [--out FILE]');
    process.exit(2);
  }
  const json = JSON.stringify(await fieldsOracle(argv[0], { splt }), null, 1);
  if (out) writeFileSync(out, json);
  else process.stdout.write(json + '\n');
}

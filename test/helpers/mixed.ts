/**
 * One database holding every address family: IPv4, IPv6 and layer-2 (ARP,
 * LLDP, GOOSE) flows and devices, with addresses at the edges of the ranges
 * a filter might confuse (0.0.0.0, 32.0.0.0/3, ff00::/8, IPv4-mapped IPv6,
 * MACs whose bytes start like an IPv4 address), several VLANs, two sources
 * and flows that overlap in time. Built from generated captures on the
 * TypeScript engine, so it does not depend on the addon.
 */
import { FlowMeter, openStore } from '../../src/index';
import { P, T0, tmpFile, writePcap, type Pkt } from './capture';
import { rng } from './rng';

/** A flows row as the brute-force expectations read it. */
export interface MixedFlow {
  id: number;
  firstNs: bigint;
  lastNs: bigint;
  src: Buffer;
  dst: Buffer;
  srcDevice: number;
  dstDevice: number;
  srcPort: number;
  dstPort: number;
  protocol: number;
  ipVersion: number;
  etherType: number;
  service: string | null;
  source: number;
  vlan: number;
  bytes: number;
  packets: number;
  serverIsDst: boolean;
}

export interface MixedDevice {
  id: number;
  addr: Buffer;
  vlan: number;
  vendor: string | null;
  firstSeen: number;
  lastSeen: number;
  bytes: number;
  packets: number;
  flows: number;
}

export const V4_EDGES = [
  '0.0.0.0', '0.0.0.1', '10.0.0.1', '10.0.0.2', '31.255.255.255', '32.0.0.0', '32.0.0.1', '63.255.255.255', '64.0.0.0',
  '127.0.0.1', '127.255.255.255', '128.0.0.0', '192.168.1.10', '224.0.0.1', '255.255.255.254', '255.255.255.255',
];
export const V6_EDGES = [
  '::', '::1', '::a00:1', '::ffff:0:0', '::ffff:10.0.0.1', '::ffff:255.255.255.255', '2000::', '2001:db8::1', '3fff:ffff::1',
  '7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '8000::', 'fe80::1', 'ff00::', 'ff02::1', 'ff02::fb', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
];
/** MACs whose bytes begin like IPv4 addresses in the ranges above, and the group addresses. */
export const MAC_EDGES = [
  '00:00:00:00:00:01', '0a:00:00:01:00:00', '20:00:00:00:00:01', '3e:ff:ff:ff:ff:fe', '7e:00:00:00:00:01', '00:1b:1b:35:84:10',
  '00:00:5e:00:53:01', 'fe:ff:ff:ff:ff:fe',
];
const VLANS = [0, 0, 0, 10, 20];
const SERVER_PORTS = [80, 443, 502, 53, 20000, 47808, 0];

export interface MixedStore {
  file: string;
  flows: MixedFlow[];
  devices: MixedDevice[];
  /** first and last packet time of the traffic, ms */
  spanMs: [number, number];
}

/** Writes the captures and ingests them (two sources) into a new database file. */
export async function buildMixedStore(seed = 7): Promise<MixedStore> {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const byte = () => Math.floor(r() * 256);
  const v4 = () => (r() < 0.4 ? pick(V4_EDGES) : [byte(), byte(), byte(), byte()].join('.'));
  const v6 = () => {
    if (r() < 0.4) return pick(V6_EDGES);
    const words = Array.from({ length: 8 }, () => Math.floor(r() * 65536).toString(16));
    if (r() < 0.3) words[0] = pick(['2001', 'fe80', 'ff02', '20', '3fff', '0']);
    return words.join(':');
  };
  const mac = () => (r() < 0.5 ? pick(MAC_EDGES) : [byte() & 0xfe, byte(), byte(), byte(), byte(), byte()].map((b) => b.toString(16).padStart(2, '0')).join(':'));
  const sources: Pkt[][] = [[], []];
  for (let i = 0; i < 900; i++) {
    const kind = i % 9 < 4 ? 4 : i % 9 < 8 ? 6 : 2;
    const start = r() * 7200;
    const duration = r() < 0.2 ? 0 : r() * 1800;
    const vlans = (v: number) => (v ? [{ id: v }] : []);
    const vlan = pick(VLANS);
    const srcMac = mac();
    const dstMac = mac();
    let frames: Buffer[];
    if (kind === 2) {
      frames = layer2Frames(r, srcMac, v4(), vlans(vlan), pick);
    } else {
      const [src, dst] = kind === 4 ? [v4(), v4()] : [v6(), v6()];
      const proto = pick([6, 6, 17, 17, kind === 4 ? 1 : 58, 132, kind === 4 ? 0 : 17]);
      const sport = 1024 + Math.floor(r() * 60000);
      const dport = pick(SERVER_PORTS);
      frames = [0, 1, 2].map((k) => {
        const fwd = k !== 1;
        const l4 = transport(proto, fwd ? sport : dport, fwd ? dport : sport, Math.floor(r() * 400));
        const ip = kind === 4 ? P.ipv4({ src: fwd ? src : dst, dst: fwd ? dst : src, proto, payload: l4 }) : P.ipv6({ src: fwd ? src : dst, dst: fwd ? dst : src, next: proto, payload: l4 });
        return P.ethernet({ src: fwd ? srcMac : dstMac, dst: fwd ? dstMac : srcMac, type: kind === 4 ? 0x0800 : 0x86dd, vlans: vlans(vlan), payload: ip });
      });
    }
    const times = frames.map((_, k) => start + (frames.length === 1 ? 0 : (duration * k) / (frames.length - 1)));
    frames.forEach((data, k) => sources[i % 2].push({ t: times[k], data }));
  }
  const file = tmpFile('mixed.db');
  const store = openStore(file);
  for (const pkts of sources) {
    pkts.sort((a, b) => a.t - b.t);
    await store.ingest(new FlowMeter({ engine: 'ts', idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false }).readFile(writePcap(pkts)));
  }
  const flows = (store.db.prepare(`SELECT id, first_ns, last_ns, src_addr, dst_addr, src_device, dst_device, src_port, dst_port, protocol, ip_version,
      ether_type, service, source_id, vlan, bytes, packets, server_is_dst FROM flows ORDER BY id`).safeIntegers(true).all() as Record<string, unknown>[]).map(
    (f): MixedFlow => ({
      id: Number(f.id), firstNs: f.first_ns as bigint, lastNs: f.last_ns as bigint, src: f.src_addr as Buffer, dst: f.dst_addr as Buffer,
      srcDevice: Number(f.src_device), dstDevice: Number(f.dst_device), srcPort: Number(f.src_port), dstPort: Number(f.dst_port),
      protocol: Number(f.protocol), ipVersion: Number(f.ip_version), etherType: Number(f.ether_type), service: f.service as string | null,
      source: Number(f.source_id), vlan: Number(f.vlan), bytes: Number(f.bytes), packets: Number(f.packets), serverIsDst: Boolean(Number(f.server_is_dst)),
    }),
  );
  const devices = (store.db.prepare('SELECT id, addr, vlan, vendor, first_seen_ms, last_seen_ms, bytes, packets, flows FROM devices ORDER BY id').all() as Record<string, unknown>[]).map(
    (d): MixedDevice => ({
      id: d.id as number, addr: d.addr as Buffer, vlan: d.vlan as number, vendor: d.vendor as string | null, firstSeen: d.first_seen_ms as number,
      lastSeen: d.last_seen_ms as number, bytes: d.bytes as number, packets: d.packets as number, flows: d.flows as number,
    }),
  );
  store.close();
  return { file, flows, devices, spanMs: [T0 * 1000, T0 * 1000 + 9000 * 1000] };
}

function transport(proto: number, sport: number, dport: number, payload: number): Buffer {
  const data = Buffer.alloc(payload);
  if (proto === 6) return P.tcp({ sport, dport, flags: 'A', payload: data });
  if (proto === 17) return P.udp({ sport, dport, payload: data });
  if (proto === 132) return P.sctp({ sport, dport, payload: data });
  if (proto === 1) return P.icmp({ type: 8, id: sport, seq: 1, payload: data });
  if (proto === 58) return P.icmpv6({ type: 128, id: sport, seq: 1, payload: data });
  return data; // protocol 0 (IPv4): an IP flow without ports
}

/** An ARP exchange, an LLDP announcement or GOOSE messages. */
function layer2Frames(r: () => number, srcMac: string, ip: string, vlans: { id: number }[], pick: <T>(a: readonly T[]) => T): Buffer[] {
  const what = Math.floor(r() * 3);
  if (what === 0) {
    const target = pick(['10.0.0.1', '192.168.1.10', '32.0.0.1', '0.0.0.0']);
    const request = P.ethernet({ src: srcMac, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806, vlans, payload: P.arp({ op: 1, senderMac: srcMac, senderIp: ip, targetIp: target }) });
    return [request, request];
  }
  if (what === 1) {
    const frame = P.ethernet({ src: srcMac, dst: '01:80:c2:00:00:0e', type: 0x88cc, vlans, payload: P.lldp({ chassisMac: srcMac }) });
    return [frame, frame];
  }
  const dst = pick(['01:0c:cd:01:00:01', '01:0c:cd:01:00:02']);
  return [0, 1, 2].map((k) => P.ethernet({ src: srcMac, dst, type: 0x88b8, vlans, payload: P.goose({ sqNum: k }) }));
}

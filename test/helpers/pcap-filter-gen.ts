/**
 * Packets of a capture (via the TypeScript engine's reader) and random
 * pcap-filter expressions built from values those packets carry, for the
 * differential test of src/engine/ts/pcap-filter against libpcap.
 */
import ipaddr from 'ipaddr.js';
import { CaptureReader, NEXT_NEED, NEXT_PACKET } from '../../src/engine/ts/reader';

export interface Packet {
  linktype: number;
  data: Uint8Array;
  wirelen: number;
}

/** Every packet of a capture (copied), or as many as the reader reads before an error. */
export async function readPackets(path: string): Promise<Packet[]> {
  const r = new CaptureReader(path);
  const out: Packet[] = [];
  if (!(await r.open())) return out;
  try {
    for (;;) {
      const st = r.next();
      if (st === NEXT_NEED) {
        if (!(await r.refill(r.need)) && r.error) break;
        continue;
      }
      if (st !== NEXT_PACKET) break;
      out.push({ linktype: r.linktype, data: r.buf.slice(r.dataOff, r.dataOff + r.caplen), wirelen: r.wireLen });
    }
  } finally {
    await r.close();
  }
  return out;
}

/** Values seen in packets: what the generated filters ask about. */
export interface Seen {
  v4: Set<string>;
  v6: Set<string>;
  ports: Set<number>;
  macs: Set<string>;
  vlans: Set<number>;
  protos: Set<number>;
}

export function emptySeen(): Seen {
  return { v4: new Set(), v6: new Set(), ports: new Set(), macs: new Set(), vlans: new Set(), protos: new Set() };
}

const hex = (d: Uint8Array, a: number, n: number) => Array.from(d.subarray(a, a + n), (b) => b.toString(16).padStart(2, '0'));

/** Network-layer offset and ethertype by link type (Ethernet VLAN tags skipped). */
function network(p: Packet, seen: Seen): { off: number; type: number } | undefined {
  const d = p.data;
  const be16 = (o: number) => (d[o] << 8) | d[o + 1];
  switch (p.linktype) {
    case 1: {
      if (d.length < 14) return undefined;
      seen.macs.add(hex(d, 0, 6).join(':'));
      seen.macs.add(hex(d, 6, 6).join(':'));
      let off = 12;
      while ((be16(off) === 0x8100 || be16(off) === 0x88a8) && d.length >= off + 6) {
        seen.vlans.add(be16(off + 2) & 0xfff);
        off += 4;
      }
      return { off: off + 2, type: be16(off) };
    }
    case 113:
      return { off: 16, type: be16(14) };
    case 276:
      return { off: 20, type: be16(0) };
    case 0:
    case 108:
      return { off: 4, type: d[4] >> 4 === 6 ? 0x86dd : 0x800 };
    default:
      return { off: 0, type: d[0] >> 4 === 6 ? 0x86dd : 0x800 };
  }
}

export function collect(p: Packet, seen: Seen): void {
  const net = network(p, seen);
  if (!net) return;
  const d = p.data;
  const o = net.off;
  if (net.type === 0x800 && d.length >= o + 20) {
    seen.v4.add(Array.from(d.subarray(o + 12, o + 16)).join('.'));
    seen.v4.add(Array.from(d.subarray(o + 16, o + 20)).join('.'));
    seen.protos.add(d[o + 9]);
    const t = o + 4 * (d[o] & 0xf);
    if ((d[o + 9] === 6 || d[o + 9] === 17) && d.length >= t + 4) {
      seen.ports.add((d[t] << 8) | d[t + 1]);
      seen.ports.add((d[t + 2] << 8) | d[t + 3]);
    }
  } else if (net.type === 0x86dd && d.length >= o + 40) {
    const words = (a: number) => hex(d, a, 16).reduce((s, b, i) => s + b + (i % 2 === 1 && i < 15 ? ':' : ''), '');
    seen.v6.add(words(o + 8));
    seen.v6.add(words(o + 24));
    seen.protos.add(d[o + 6]);
  }
}

type Rand = () => number;

function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

export class FilterGen {
  readonly r: Rand;
  readonly v4: string[];
  readonly v6: string[];
  readonly ports: number[];
  readonly macs: string[];
  readonly vlans: number[];
  readonly protos: number[];

  constructor(r: Rand, seen: Seen) {
    this.r = r;
    this.v4 = [...seen.v4].sort();
    this.v6 = [...seen.v6].sort();
    this.ports = [...seen.ports].sort((a, b) => a - b);
    this.macs = [...seen.macs].sort();
    this.vlans = [...seen.vlans, 1, 100].sort((a, b) => a - b);
    this.protos = [...seen.protos, 6, 17, 1, 58].sort((a, b) => a - b);
  }

  dir(): string {
    return pick(this.r, ['', '', '', 'src ', 'dst ', 'src or dst ', 'src and dst ']);
  }

  port(): number {
    return this.r() < 0.9 && this.ports.length ? pick(this.r, this.ports) : Math.floor(this.r() * 65536);
  }

  v4net(): string {
    const a = pick(this.r, this.v4).split('.').map(Number);
    const len = pick(this.r, [0, 8, 12, 16, 20, 24, 30, 32]);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const n = ((((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0) & mask) >>> 0;
    const text = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
    const m = [mask >>> 24, (mask >>> 16) & 255, (mask >>> 8) & 255, mask & 255].join('.');
    const short = a.slice(0, Math.max(1, len / 8)).join('.');
    return pick(this.r, [`net ${text}/${len}`, `net ${text} mask ${m}`, len % 8 === 0 && len > 8 ? `net ${short}` : `net ${text}/${len}`]);
  }

  /** an IPv6 address seen, written in full, compressed (`fe80::1`) or with a dotted tail */
  v6addr(): string {
    const a = ipaddr.IPv6.parse(pick(this.r, this.v6));
    const form = this.r();
    if (form < 0.3) return pick(this.r, this.v6);
    if (form < 0.9) return a.toString();
    const b = a.toByteArray();
    const dotted = `${a.toString().replace(/:[^:]*:[^:]*$/, '')}:${b.slice(12).join('.')}`;
    return ipaddr.IPv6.isValid(dotted) && ipaddr.IPv6.parse(dotted).toString() === a.toString() ? dotted : a.toString();
  }

  v6net(): string {
    const a = this.v6addr();
    return pick(this.r, [`net ${a}/128`, `ip6 host ${a}`, `host ${a}`]);
  }

  host(): string {
    if (this.v6.length && this.r() < 0.3) return `${pick(this.r, ['', 'ip6 '])}${this.dir()}host ${this.v6addr()}`;
    const q = pick(this.r, ['', '', 'ip ', 'arp ', 'rarp ']);
    const a = pick(this.r, this.v4);
    const more = this.r() < 0.2 ? ` or ${pick(this.r, this.v4)}` : '';
    return `${q}${this.dir()}host ${a}${more}`;
  }

  ports_(): string {
    const q = pick(this.r, ['', 'tcp ', 'udp ', 'sctp ']);
    const a = this.port();
    const b = this.port();
    return pick(this.r, [
      `${q}${this.dir()}port ${a}`,
      `${q}${this.dir()}portrange ${Math.min(a, b)}-${Math.max(a, b)}`,
      `${q}port ${a} or ${b}`,
      `${q}${this.dir()}port (${a} or ${b})`,
      `${q}${this.dir()}portrange ${b}-${a}`,
    ]);
  }

  proto(): string {
    const n = pick(this.r, this.protos);
    return pick(this.r, ['tcp', 'udp', 'icmp', 'icmp6', 'ip', 'ip6', 'arp', 'rarp', 'sctp', 'igmp', 'pim', 'esp', `ip proto ${n}`, `ip6 proto ${n}`, `proto ${n}`, 'ip proto \\tcp', 'ether proto \\ip6', `ether proto ${pick(this.r, ['0x800', '0x806', '0x86dd', '0x8100', '6', '0x42'])}`]);
  }

  link(): string {
    if (!this.macs.length) return 'ip';
    return `ether ${pick(this.r, ['src ', 'dst ', 'host ', 'src or dst ', 'src and dst '])}${pick(this.r, this.macs)}`;
  }

  vlan(): string {
    return pick(this.r, ['vlan', `vlan ${pick(this.r, this.vlans)}`, `vlan and ${this.host()}`, `vlan ${pick(this.r, this.vlans)} and ${this.ports_()}`]);
  }

  len(): string {
    const n = Math.floor(this.r() * 1600);
    return pick(this.r, [`greater ${n}`, `less ${n}`, `len >= ${n}`, `len < ${n}`, `len - 14 > ${n}`]);
  }

  load(): string {
    const proto = pick(this.r, ['ip', 'ip6', 'tcp', 'udp', 'icmp', 'ether', 'icmp6', 'arp']);
    const size = pick(this.r, ['', ':1', ':2', ':4']);
    const idx = pick(this.r, ['0', '2', '6', '8', '9', '12', '13', 'tcpflags', 'icmptype', String(Math.floor(this.r() * 48))]);
    return `${proto}[${idx}${size}]`;
  }

  arith(depth = 0): string {
    if (depth > 1 || this.r() < 0.4) return this.r() < 0.6 ? this.load() : String(pick(this.r, [0, 1, 2, 4, 6, 17, 0x45, 64, 255, 0x1fff]));
    const op = pick(this.r, ['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>']);
    const right = op === '/' || op === '%' ? String(pick(this.r, [1, 2, 3, 16])) : op === '<<' || op === '>>' ? String(pick(this.r, [0, 1, 4, 8])) : this.arith(depth + 1);
    const e = `${this.arith(depth + 1)} ${op} ${right}`;
    return this.r() < 0.5 ? `(${e})` : e;
  }

  relation(): string {
    return pick(this.r, [
      'tcp[tcpflags] & tcp-syn != 0',
      'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn',
      `ip[8] < ${Math.floor(this.r() * 256)}`,
      'icmp[icmptype] = icmp-echo or icmp[icmptype] == icmp-echoreply',
      `udp[0:2] = ${this.port()}`,
      `ip[2:2] > ${Math.floor(this.r() * 1500)}`,
      `(ip[0] & 0xf) * 4 > 20`,
      `ether[12:2] = 0x800`,
      `${this.arith()} ${pick(this.r, ['=', '==', '!=', '<', '<=', '>', '>='])} ${this.arith()}`,
    ]);
  }

  primitive(): string {
    const kinds = [() => this.host(), () => this.ports_(), () => this.proto(), () => this.v4net(), () => this.len(), () => this.relation(), () => this.link(), () => this.vlan()];
    if (this.v6.length) kinds.push(() => this.v6net());
    return pick(this.r, kinds)();
  }

  expr(depth = 0): string {
    const roll = this.r();
    if (depth >= 3 || roll < 0.35) return this.primitive();
    if (roll < 0.45) return `not ${this.wrap(depth)}`;
    const op = pick(this.r, ['and', 'or', '&&', '||']);
    return `${this.wrap(depth)} ${op} ${this.wrap(depth)}`;
  }

  wrap(depth: number): string {
    const e = this.expr(depth + 1);
    return this.r() < 0.5 ? `(${e})` : e;
  }
}

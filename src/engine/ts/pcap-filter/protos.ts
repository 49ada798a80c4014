/**
 * Protocol and port primitives (libpcap's gen_proto, gen_proto_abbrev,
 * gen_port/gen_port6, gen_portrange/gen_portrange6, gen_ipfrag). IPv4
 * ports are read behind the header length (ldx 4*([nl]&0xf)) and only in
 * the first fragment; IPv6 ports only when the next header is the transport
 * itself (no extension headers), as libpcap 1.10 does. `tcp`, `udp` and
 * `proto N` also accept an IPv6 fragment header followed by the protocol.
 */
import type { Dir } from './ast';
import { BPF_IND, BPF_LD, BPF_LDX, BPF_MSH, BPF_B, BPF_H } from '../bpf';
import { and, cmp, ldAbs, not, or, stmt, testK, type Cond } from './cond';
import { FilterError } from './errors';
import { ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHERTYPE_REVARP, type Layout } from './linktype';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
const IPPROTO_FRAGMENT = 44;

/** `ip[6:2] & 0x1fff = 0`: not a non-first fragment. */
export function ipFirstFragment(L: Layout): Cond {
  return not(testK([ldAbs(2, L.offNl + 6)], 'jset', 0x1fff));
}

/** gen_proto. */
export function genProto(L: Layout, v: number, proto: string | undefined, dir: Dir | undefined): Cond {
  if (dir !== undefined) throw new FilterError("direction applied to 'proto'");
  switch (proto) {
    case undefined:
      return or(genProto(L, v, 'ip', dir), genProto(L, v, 'ip6', dir));
    case 'link':
      return L.linktypeIs(v);
    case 'ip':
      return and(L.linktypeIs(ETHERTYPE_IP), cmp(1, L.offNl + 9, v));
    case 'ip6': {
      const viaFragment = and(cmp(1, L.offNl + 6, IPPROTO_FRAGMENT), cmp(1, L.offNl + 40, v));
      return and(L.linktypeIs(ETHERTYPE_IPV6), or(cmp(1, L.offNl + 6, v), viaFragment));
    }
    case 'arp':
    case 'rarp':
      throw new FilterError(`${proto} does not encapsulate another protocol`);
    default:
      throw new FilterError(`'${proto} proto' is bogus`);
  }
}

/** Protocol names alone: `tcp`, `ip6`, `icmp`… (gen_proto_abbrev). */
export function genAbbrev(L: Layout, proto: string): Cond {
  switch (proto) {
    case 'ip':
      return L.linktypeIs(ETHERTYPE_IP);
    case 'ip6':
      return L.linktypeIs(ETHERTYPE_IPV6);
    case 'arp':
      return L.linktypeIs(ETHERTYPE_ARP);
    case 'rarp':
      return L.linktypeIs(ETHERTYPE_REVARP);
    case 'link':
      throw new FilterError('link layer applied in wrong context');
  }
  const [v, q] = ABBREV[proto];
  return genProto(L, v, q, undefined);
}

/** protocol -> [number, the qualifier libpcap checks it under] */
const ABBREV: Record<string, [number, string | undefined]> = {
  tcp: [IPPROTO_TCP, undefined],
  udp: [IPPROTO_UDP, undefined],
  sctp: [IPPROTO_SCTP, undefined],
  icmp: [1, 'ip'],
  igmp: [2, 'ip'],
  igrp: [9, 'ip'],
  pim: [103, undefined],
  vrrp: [112, 'ip'],
  carp: [112, 'ip'],
  icmp6: [58, 'ip6'],
  ah: [51, undefined],
  esp: [50, undefined],
};

/** A 16-bit field `off` bytes into the IPv4 payload (gen_portatom), compared with op. */
function tran4(L: Layout, off: number, op: 'jeq' | 'jge' | 'jgt', v: number): Cond {
  return testK([stmt(BPF_LDX | BPF_MSH | BPF_B, L.offNl), stmt(BPF_LD | BPF_IND | BPF_H, L.offNl + off)], op, v);
}

function tran6(L: Layout, off: number, op: 'jeq' | 'jge' | 'jgt', v: number): Cond {
  return cmp(2, L.offNl + 40 + off, v, op);
}

type Tran = (L: Layout, off: number, op: 'jeq' | 'jge' | 'jgt', v: number) => Cond;

/** One port, or a range (lo <= p <= hi), at source (0) or destination (2) offset. */
function portAtom(L: Layout, tran: Tran, off: number, lo: number, hi: number | undefined): Cond {
  if (hi === undefined) return tran(L, off, 'jeq', lo);
  return and(tran(L, off, 'jge', lo), not(tran(L, off, 'jgt', hi)));
}

function portDirs(L: Layout, tran: Tran, lo: number, hi: number | undefined, dir: Dir | undefined): Cond {
  if (dir === 'src') return portAtom(L, tran, 0, lo, hi);
  if (dir === 'dst') return portAtom(L, tran, 2, lo, hi);
  const s = portAtom(L, tran, 0, lo, hi);
  const d = portAtom(L, tran, 2, lo, hi);
  return dir === 'and' ? and(s, d) : or(s, d);
}

/** gen_port(6)/gen_portrange(6) for one transport, or tcp, udp and sctp (proto undefined). */
function perProto(proto: number | undefined, one: (p: number) => Cond): Cond {
  if (proto !== undefined) return one(proto);
  const tcpUdp = or(one(IPPROTO_TCP), one(IPPROTO_UDP));
  return or(one(IPPROTO_SCTP), tcpUdp);
}

/** `port N` / `portrange lo-hi`: IPv6 first, then IPv4 (libpcap's order). */
export function genPort(L: Layout, lo: number, hi: number | undefined, proto: number | undefined, dir: Dir | undefined): Cond {
  if (hi !== undefined && lo > hi) [lo, hi] = [hi, lo];
  const v4 = (p: number) => and(and(cmp(1, L.offNl + 9, p), ipFirstFragment(L)), portDirs(L, tran4, lo, hi, dir));
  const v6 = (p: number) => and(cmp(1, L.offNl + 6, p), portDirs(L, tran6, lo, hi, dir));
  const six = and(L.linktypeIs(ETHERTYPE_IPV6), perProto(proto, v6));
  const four = and(L.linktypeIs(ETHERTYPE_IP), perProto(proto, v4));
  return or(six, four);
}

/** The transport number a port qualifier names (undefined: tcp, udp and sctp). */
export function portProto(proto: string | undefined, what: 'port' | 'portrange'): number | undefined {
  if (proto === undefined) return undefined;
  if (proto === 'tcp') return IPPROTO_TCP;
  if (proto === 'udp') return IPPROTO_UDP;
  if (proto === 'sctp') return IPPROTO_SCTP;
  throw new FilterError(`illegal qualifier of '${what}'`);
}

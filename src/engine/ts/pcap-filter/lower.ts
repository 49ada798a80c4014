/**
 * AST -> Cond for one link type, walking the tree in source order (libpcap
 * generates code as it parses, and `vlan` shifts the offsets of everything
 * parsed after it). The qualifier checks and their messages follow
 * gen_ncode, gen_mcode, gen_mcode6, gen_scode and gen_ecode.
 */
import type { FilterNode, IdValue, Qual } from './ast';
import { genRelation } from './arith';
import { BPF_LD, BPF_LEN, BPF_W } from '../bpf';
import { and, cmp, not, or, stmt, testK, TRUE, type Cond } from './cond';
import { parseMac, parseV4, parseV6, v4Mask, v6Mask } from './addr';
import { FilterError } from './errors';
import { genEtherHost, genHost, genHost6 } from './hosts';
import { type Layout } from './linktype';
import { genAbbrev, genPort, genProto, portProto } from './protos';

export function lower(L: Layout, n: FilterNode): Cond {
  switch (n.kind) {
    case 'true':
      return TRUE;
    case 'and':
    case 'or': {
      const a = lower(L, n.left);
      const b = lower(L, n.right);
      return n.kind === 'and' ? and(a, b) : or(a, b);
    }
    case 'not':
      return not(lower(L, n.arg));
    case 'prim':
      return withPos(n.pos, () => lowerPrim(L, n.q, n.id));
    case 'abbrev':
      return withPos(n.pos, () => genAbbrev(L, n.proto));
    case 'rel':
      return genRelation(L, n.op, n.left, n.right);
    case 'len': {
      const len = testK([stmt(BPF_LD | BPF_W | BPF_LEN)], n.op === 'greater' ? 'jge' : 'jgt', n.value);
      return n.op === 'greater' ? len : not(len);
    }
    case 'vlan':
      return withPos(n.pos, () => genVlan(L, n.id));
  }
}

/** Adds the primitive's position to a message that has none. */
function withPos(pos: number, f: () => Cond): Cond {
  try {
    return f();
  } catch (e) {
    if (e instanceof FilterError && e.pos === undefined) throw new FilterError(e.message, pos);
    throw e;
  }
}

function lowerPrim(L: Layout, q: Qual, id: IdValue): Cond {
  switch (id.kind) {
    case 'num':
      return genNcode(L, q, id.value, undefined);
    case 'hid':
      if (id.masklen !== undefined || id.mask !== undefined) return genMcode(L, q, id.text, id.mask, id.masklen);
      if (q.addr === 'port' || q.addr === 'portrange' || q.addr === 'proto') throw new FilterError(`'${q.addr}' modifier applied to ip host`);
      return genNcode(L, q, 0, id.text);
    case 'hid6':
      return genMcode6(L, q, id.text, id.masklen ?? 128);
    case 'eid':
      if ((q.addr === undefined || q.addr === 'host') && q.proto === 'link') return genEtherHost(L, parseMac(id.text), q.dir);
      throw new FilterError('ethernet address used in non-ether expression');
    case 'name':
      return genScode(L, q, id.text);
  }
}

/** A number or dotted IPv4 text under qualifiers q (gen_ncode). */
function genNcode(L: Layout, q: Qual, v: number, text: string | undefined): Cond {
  if (q.addr === undefined || q.addr === 'host' || q.addr === 'net') {
    if (q.proto === 'link') throw new FilterError('illegal link layer address');
    let mask = 0xffffffff;
    if (text === undefined && q.addr === 'net') {
      // a short net number is left-aligned: `net 10` is 10.0.0.0/8
      while (v !== 0 && (v & 0xff000000) === 0) {
        v = (v << 8) >>> 0;
        mask = (mask << 8) >>> 0;
      }
    } else if (text !== undefined) {
      const a = parseV4(text);
      v = a.addr;
      mask = v4Mask(a.bits);
    }
    return genHost(L, v >>> 0, mask, q.proto, q.dir, q.addr === 'net' ? 'net' : 'host');
  }
  if (q.addr === 'port' || q.addr === 'portrange') {
    const proto = portProto(q.proto, q.addr);
    if (v > 65535) throw new FilterError(`illegal port number ${v} > 65535`);
    return genPort(L, v, q.addr === 'portrange' ? v : undefined, proto, q.dir);
  }
  return genProto(L, v, q.proto, q.dir);
}

/** `net a.b.c.d/len` and `net a.b.c.d mask m.m.m.m` (gen_mcode). */
function genMcode(L: Layout, q: Qual, text: string, maskText: string | undefined, masklen: number | undefined): Cond {
  const n = parseV4(text).addr;
  let m: number;
  if (maskText !== undefined) {
    m = parseV4(maskText).addr;
    if ((n & ~m) !== 0) throw new FilterError(`non-network bits set in "${text} mask ${maskText}"`);
  } else {
    if ((masklen as number) > 32) throw new FilterError('mask length must be <= 32');
    m = v4Mask(masklen as number);
    if ((n & ~m) !== 0) throw new FilterError(`non-network bits set in "${text}/${masklen}"`);
  }
  if (q.addr !== 'net') throw new FilterError('Mask syntax for networks only');
  return genHost(L, n, m, q.proto, q.dir, 'net');
}

/** An IPv6 address or prefix (gen_mcode6). */
function genMcode6(L: Layout, q: Qual, text: string, masklen: number): Cond {
  const words = parseV6(text);
  if (masklen > 128) throw new FilterError('mask length must be <= 128');
  const mask = v6Mask(masklen);
  if (words.some((w, i) => (w & ~mask[i]) !== 0)) throw new FilterError(`non-network bits set in "${text}/${masklen}"`);
  if (q.addr === undefined || q.addr === 'host') {
    if (masklen !== 128) throw new FilterError('Mask syntax for networks only');
  } else if (q.addr !== 'net') {
    throw new FilterError('invalid qualifier against IPv6 address');
  }
  return genHost6(L, words, mask, q.proto, q.dir, q.addr === 'net' ? 'net' : 'host');
}

/** Names (gen_scode): numeric port ranges and protocol names; host, network and service names are not looked up. */
function genScode(L: Layout, q: Qual, name: string): Cond {
  if (q.addr === 'portrange') {
    const m = /^(\d+)-(\d+)$/.exec(name);
    if (!m) throw new FilterError(`port range '${name}' must be two numbers (service names are not supported by the TypeScript filter compiler)`);
    const proto = portProto(q.proto, 'portrange');
    const [lo, hi] = [Number(m[1]), Number(m[2])];
    for (const p of [lo, hi]) if (p > 65535) throw new FilterError(`illegal port number ${p} > 65535`);
    return genPort(L, lo, hi, proto, q.dir);
  }
  if (q.addr === 'proto') return genProto(L, protoNumber(name, q.proto), q.proto, q.dir);
  if (q.addr === 'port') throw new FilterError(`port '${name}': service names are not supported by the TypeScript filter compiler (use the number)`);
  throw new FilterError(`'${name}': host and network names are not supported by the TypeScript filter compiler (use an address)`);
}

// the common names of /etc/protocols and libpcap's ethertype names
const IP_PROTOS: Record<string, number> = {
  ip: 0, icmp: 1, igmp: 2, ipencap: 4, tcp: 6, egp: 8, udp: 17, ipv6: 41, 'ipv6-route': 43, 'ipv6-frag': 44, gre: 47, esp: 50, ah: 51,
  'ipv6-icmp': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, pim: 103, vrrp: 112, sctp: 132,
};
const ETHER_PROTOS: Record<string, number> = {
  arp: 0x0806, decnet: 0x6003, ip: 0x0800, ip6: 0x86dd, lat: 0x6004, loopback: 0x9000, mopdl: 0x6001, moprc: 0x6002, rarp: 0x8035, sca: 0x6007,
};

function protoNumber(name: string, proto: string | undefined): number {
  const table = proto === 'link' ? ETHER_PROTOS : proto === undefined || proto === 'ip' || proto === 'ip6' ? IP_PROTOS : undefined;
  const v = table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
  if (v === undefined) throw new FilterError(`unknown protocol '${name}'`);
  return v;
}

/** gen_vlan without BPF extensions: an 802.1Q/802.1ad/QinQ type, then 4 more bytes of link header. */
function genVlan(L: Layout, id: number | undefined): Cond {
  if (L.kind !== 'ether') throw new FilterError(`no VLAN support for link type ${L.linktype}`);
  const tpid = or(or(L.linktypeIs(0x8100), L.linktypeIs(0x88a8)), L.linktypeIs(0x9100));
  let c = tpid;
  if (id !== undefined) {
    if (id > 0x0fff) throw new FilterError(`VLAN tag ${id} greater than maximum 4095`);
    c = and(tpid, cmp(2, L.offNl, id, 'jeq', 0x0fff));
  }
  L.offNl += 4;
  L.offLinktype = (L.offLinktype as number) + 4;
  return c;
}

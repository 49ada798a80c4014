/**
 * Address primitives (libpcap's gen_host, gen_hostop, gen_host6,
 * gen_hostop6, gen_ehostop): which header words are compared, in which
 * order, behind which link-type test. Without a protocol qualifier an IPv4
 * host or net also matches ARP and RARP sender/target addresses.
 */
import type { Dir } from './ast';
import { and, cmp, or, type Cond } from './cond';
import { FilterError } from './errors';
import { ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHERTYPE_REVARP, type Layout } from './linktype';

/** src alone, dst alone, either (default and `src or dst`) or both. */
function byDir(dir: Dir | undefined, one: (which: 'src' | 'dst') => Cond): Cond {
  if (dir === 'src' || dir === 'dst') return one(dir);
  const s = one('src');
  const d = one('dst');
  return dir === 'and' ? and(s, d) : or(s, d);
}

function hostop(L: Layout, addr: number, mask: number, dir: Dir | undefined, ll: number, srcOff: number, dstOff: number): Cond {
  return byDir(dir, (w) => and(L.linktypeIs(ll), cmp(4, L.offNl + (w === 'src' ? srcOff : dstOff), addr, 'jeq', mask)));
}

/** gen_host: an IPv4 host or network under protocol qualifier `proto`. */
export function genHost(L: Layout, addr: number, mask: number, proto: string | undefined, dir: Dir | undefined, type: 'host' | 'net'): Cond {
  switch (proto) {
    case undefined: {
      const ipArp = or(genHost(L, addr, mask, 'ip', dir, type), genHost(L, addr, mask, 'arp', dir, type));
      return or(ipArp, genHost(L, addr, mask, 'rarp', dir, type));
    }
    case 'ip':
      return hostop(L, addr, mask, dir, ETHERTYPE_IP, 12, 16);
    case 'arp':
      return hostop(L, addr, mask, dir, ETHERTYPE_ARP, 14, 24);
    case 'rarp':
      return hostop(L, addr, mask, dir, ETHERTYPE_REVARP, 14, 24);
    case 'link':
      throw new FilterError(`link-layer modifier applied to ${type}`);
    case 'ip6':
      throw new FilterError(`'ip6' modifier applied to ip ${type}`);
    default:
      throw new FilterError(`'${proto}' modifier applied to ${type}`);
  }
}

/** gen_host6: words compared first to last, after the link-type test. */
export function genHost6(L: Layout, words: number[], mask: number[], proto: string | undefined, dir: Dir | undefined, type: 'host' | 'net'): Cond {
  if (proto !== undefined && proto !== 'ip6') {
    throw new FilterError(proto === 'link' ? `link-layer modifier applied to ip6 ${type}` : `'${proto}' modifier applied to ip6 ${type}`);
  }
  return byDir(dir, (w) => {
    const base = L.offNl + (w === 'src' ? 8 : 24);
    const c = (i: number) => cmp(4, base + 4 * i, words[i], 'jeq', mask[i]);
    return and(L.linktypeIs(ETHERTYPE_IPV6), and(c(0), and(c(1), and(c(2), c(3)))));
  });
}

/** gen_bcmp for 6 bytes: the last four, then the first two. */
function macAt(off: number, mac: number[]): Cond {
  const w = ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
  return and(cmp(4, off + 2, w), cmp(2, off, (mac[0] << 8) | mac[1]));
}

/** gen_ehostop: Ethernet source (offset 6) or destination (offset 0). */
export function genEtherHost(L: Layout, mac: number[], dir: Dir | undefined): Cond {
  if (L.kind !== 'ether') {
    throw new FilterError(`ethernet addresses are supported only on Ethernet, not on link type ${L.linktype}`);
  }
  return byDir(dir, (w) => macAt(w === 'src' ? 6 : 0, mac));
}

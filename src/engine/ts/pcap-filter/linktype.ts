/**
 * Link types: where the type field and the network header are (libpcap's
 * init_linktype) and how "is this ethertype" is tested (gen_linktype).
 * The offsets are mutable because `vlan` moves them by 4 for every
 * primitive parsed after it, as libpcap does.
 */
import * as os from 'node:os';
import { FilterError } from './errors';
import { FALSE, TRUE, and, cmp, not, type Cond } from './cond';

export type LinkKind = 'ether' | 'sll' | 'sll2' | 'raw' | 'ipv4' | 'ipv6' | 'null' | 'loop';

const KINDS: Record<number, LinkKind> = { 1: 'ether', 101: 'raw', 12: 'raw', 14: 'raw', 228: 'ipv4', 229: 'ipv6', 113: 'sll', 276: 'sll2', 0: 'null', 108: 'loop' };

export const SUPPORTED_LINKTYPES = 'Ethernet (1), raw IP (101, 12, 14, 228, 229), Linux cooked (113, 276), BSD loopback (0, 108)';

export const ETHERTYPE_IP = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_REVARP = 0x8035;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERMTU = 1500;
const LINUX_SLL_P_802_2 = 0x0004;
// the 802.2 SAPs gen_linktype checks as DSAP and SSAP both
const LLC_SAP_PAIRS = new Set([0xfe, 0x06, 0xf0]);
// types libpcap matches with SNAP/802.3 forms too: not compiled here
const SNAP_TYPES = new Set([0xe0, 0x8137, 0x809b, 0x80f3]);

// AF_INET and AF_INET6 as libpcap on Linux uses them for a pcap_open_dead handle
const AF_INET = 2;
const AF_INET6 = 10;

export class Layout {
  readonly linktype: number;
  readonly kind: LinkKind;
  /** offset of the type field, null when the link header has none */
  offLinktype: number | null;
  /** offset of the network-layer header (libpcap's off_linkpl + off_nl) */
  offNl: number;

  constructor(linktype: number) {
    const kind = KINDS[linktype];
    if (kind === undefined) {
      throw new FilterError(`link type ${linktype} is not supported by the TypeScript filter compiler (supported: ${SUPPORTED_LINKTYPES})`);
    }
    this.linktype = linktype;
    this.kind = kind;
    this.offLinktype = kind === 'ether' ? 12 : kind === 'sll' ? 14 : kind === 'sll2' || kind === 'null' || kind === 'loop' ? 0 : null;
    this.offNl = kind === 'ether' ? 14 : kind === 'sll' ? 16 : kind === 'sll2' ? 20 : kind === 'null' || kind === 'loop' ? 4 : 0;
  }

  /** gen_linktype: the packet's link layer says it carries ethertype `ll`. */
  linktypeIs(ll: number): Cond {
    switch (this.kind) {
      case 'ether':
        return this.etherType(ll);
      case 'sll':
        return this.sllType(ll);
      case 'sll2':
        return cmp(2, this.offLinktype as number, ll);
      case 'raw':
        if (ll === ETHERTYPE_IP) return cmp(1, 0, 0x40, 'jeq', 0xf0);
        if (ll === ETHERTYPE_IPV6) return cmp(1, 0, 0x60, 'jeq', 0xf0);
        return FALSE;
      case 'ipv4':
        return ll === ETHERTYPE_IP ? TRUE : FALSE;
      case 'ipv6':
        return ll === ETHERTYPE_IPV6 ? TRUE : FALSE;
      case 'null':
      case 'loop':
        return this.loopbackType(ll);
    }
  }

  private etherType(ll: number): Cond {
    const lt = this.offLinktype as number;
    refuseSnap(ll);
    const is8023 = not(cmp(2, lt, ETHERMTU, 'jgt'));
    if (LLC_SAP_PAIRS.has(ll)) return and(is8023, cmp(2, this.offNl, (ll << 8) | ll));
    if (ll <= ETHERMTU) return and(is8023, cmp(1, lt + 2, ll));
    return cmp(2, lt, ll);
  }

  private sllType(ll: number): Cond {
    const lt = this.offLinktype as number;
    refuseSnap(ll);
    if (LLC_SAP_PAIRS.has(ll)) return and(cmp(2, lt, LINUX_SLL_P_802_2), cmp(2, this.offNl, (ll << 8) | ll));
    if (ll <= ETHERMTU) return and(cmp(2, lt, LINUX_SLL_P_802_2), cmp(1, this.offNl, ll));
    return cmp(2, lt, ll);
  }

  /** DLT_NULL: the address family in host byte order; DLT_LOOP: in network byte order. */
  private loopbackType(ll: number): Cond {
    const af = ll === ETHERTYPE_IP ? AF_INET : ll === ETHERTYPE_IPV6 ? AF_INET6 : -1;
    if (af < 0) return FALSE;
    const v = this.kind === 'null' && os.endianness() === 'LE' ? swap32(af) : af;
    return cmp(4, 0, v);
  }
}

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function refuseSnap(ll: number): void {
  if (SNAP_TYPES.has(ll)) throw new FilterError(`ether proto 0x${ll.toString(16)} (IPX/AppleTalk) is not supported by the TypeScript filter compiler`);
}

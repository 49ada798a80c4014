/**
 * Packet decoder of the TypeScript engine: the port of native/decode.cc.
 * Reads link, network and transport headers where the packet lies (a
 * Uint8Array and an offset) into a reusable PacketInfo; no allocation per
 * packet. Every read is bounds-checked against caplen, exactly as native.
 */

/** Decode error kinds, in the order of src/flow/layout.ts DECODE_ERRORS. */
export const ERR_NONE = 0;
export const ERR_UNSUPPORTED_LINK_TYPE = 1;
export const ERR_TRUNCATED_LINK = 2;
export const ERR_TRUNCATED_IP = 3;
export const ERR_BAD_IP_VERSION = 4;
export const ERR_BAD_IP_HEADER_LENGTH = 5;
export const ERR_BAD_IP_TOTAL_LENGTH = 6;
export const ERR_TRUNCATED_TRANSPORT = 7;
export const ERR_BAD_TCP_HEADER_LENGTH = 8;
export const ERR_BAD_UDP_LENGTH = 9;
export const ERR_TUNNEL = 10;
export const ERR_UNMATCHED_FRAGMENT = 11;
export const ERR_UNKNOWN_L3 = 12;
export const DECODE_ERROR_COUNT = 13;

/** PacketKind */
export const KIND_SKIP = 0; // counted, not accounted to a flow
export const KIND_IP = 1;
export const KIND_L2 = 2;

/** Tunnel types (record byte kTunnelType, src/flow/layout.ts TUNNEL_TYPES) */
export const TUNNEL_IPIP = 1;
export const TUNNEL_GRE = 2;
export const TUNNEL_VXLAN = 3;
export const TUNNEL_GTPU = 4;
export const TUNNEL_ERSPAN = 5;

const MAX_TUNNEL_DEPTH = 4;
const MAX_VLAN_TAGS = 8;
const MAX_MPLS_LABELS = 16;
const MAX_IPV6_EXT_HEADERS = 256;

export interface DecodeOptions {
  decodeTunnels: boolean;
  l2Flows: boolean;
}

/**
 * One decoded packet. Addresses are four big-endian uint32 words each (IPv4
 * in word 0; a MAC in words 0-1 for layer-2 flows), so comparing words in
 * order is memcmp order. MACs are offsets of 6 bytes in the packet buffer
 * (-1: zero).
 */
export class PacketInfo {
  tsHi = 0;
  tsLo = 0;
  wireLen = 0; // original length from the capture record
  ipLen = 0; // innermost IP datagram length, or L2 payload
  l4Len = 0; // bytes from the transport header on
  payloadLen = 0; // bytes after the transport header
  payOff = 0; // TCP/UDP: offset of the payload in the packet buffer
  payCap = 0; // TCP/UDP: payload bytes captured (0 for other protocols)
  seq = 0; // TCP sequence number of a packet with a full TCP header, else 0
  tcpWindow = 0; // its window field as sent (not scaled), else 0
  kind = 0;
  error = 0; // first decode error met
  ipVersion = 0;
  proto = 0;
  vlan = 0;
  innerVlan = 0; // second 802.1Q/802.1ad tag of the outer frame, 0 if none
  ethertype = 0;
  s0 = 0;
  s1 = 0;
  s2 = 0;
  s3 = 0;
  d0 = 0;
  d1 = 0;
  d2 = 0;
  d3 = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  ttl = 0; // IPv4 TTL / IPv6 hop limit of the keyed (innermost) IP header
  icmpType = 0;
  icmpCode = 0;
  hasMac = 0;
  fragment = 0; // 0 none, 1 first fragment, 2 later fragment
  fragMore = 0;
  tunnel = 0;
  tunnelType = 0; // TUNNEL_* of the innermost tunnel the keyed header came through
  tunnelId = 0; // its GRE key (K bit), VXLAN VNI or GTP-U TEID, else 0
  truncated = 0;
  srcMacOff = -1;
  dstMacOff = -1;
  /** ARP (Ethernet/IPv4) frame: offset of its sender protocol address in the packet buffer, -1 none */
  arpOff = -1;
  fragId = 0;

  copyFrom(o: PacketInfo): void {
    this.tsHi = o.tsHi;
    this.tsLo = o.tsLo;
    this.wireLen = o.wireLen;
    this.ipLen = o.ipLen;
    this.l4Len = o.l4Len;
    this.payloadLen = o.payloadLen;
    this.kind = o.kind;
    this.error = o.error;
    this.ipVersion = o.ipVersion;
    this.proto = o.proto;
    this.vlan = o.vlan;
    this.innerVlan = o.innerVlan;
    this.ethertype = o.ethertype;
    this.s0 = o.s0;
    this.s1 = o.s1;
    this.s2 = o.s2;
    this.s3 = o.s3;
    this.d0 = o.d0;
    this.d1 = o.d1;
    this.d2 = o.d2;
    this.d3 = o.d3;
    this.sport = o.sport;
    this.dport = o.dport;
    this.tcpFlags = o.tcpFlags;
    this.ttl = o.ttl;
    this.icmpType = o.icmpType;
    this.icmpCode = o.icmpCode;
    this.hasMac = o.hasMac;
    this.arpOff = o.arpOff;
    this.fragment = o.fragment;
    this.fragMore = o.fragMore;
    this.tunnel = o.tunnel;
    this.tunnelType = o.tunnelType;
    this.tunnelId = o.tunnelId;
    this.truncated = o.truncated;
    this.srcMacOff = o.srcMacOff;
    this.dstMacOff = o.dstMacOff;
    this.fragId = o.fragId;
    this.payOff = o.payOff;
    this.payCap = o.payCap;
    this.seq = o.seq;
    this.tcpWindow = o.tcpWindow;
  }
}

function bswap32(w: number): number {
  return ((w >>> 24) | ((w >>> 8) & 0xff00) | ((w & 0xff00) << 8) | (w << 24)) >>> 0;
}

const FRAG_BUCKETS = 1024;
const FRAG_WAYS = 4;
const FRAG_ENTRIES = FRAG_BUCKETS * FRAG_WAYS;

/**
 * Bounded table joining later IP fragments to the ports of their first
 * fragment, keyed by (src, dst, proto, id): 4-way buckets, an entry freed by
 * the datagram's last fragment, else the oldest in its bucket replaced. Same
 * bucket hash as native, so collisions behave identically.
 */
export class FragmentTable {
  readonly addr = new Uint32Array(FRAG_ENTRIES * 8); // src words 0-3, dst words 4-7 (big-endian)
  readonly id = new Uint32Array(FRAG_ENTRIES);
  readonly age = new Uint32Array(FRAG_ENTRIES); // 0: free
  readonly sport = new Uint16Array(FRAG_ENTRIES);
  readonly dport = new Uint16Array(FRAG_ENTRIES);
  readonly proto = new Uint8Array(FRAG_ENTRIES);
  readonly version = new Uint8Array(FRAG_ENTRIES);
  clock = 0;

  static bucket(p: PacketInfo): number {
    // native hashes the address bytes as little-endian words
    let h = Math.imul(p.fragId, 0x9e3779b1);
    h = Math.imul(h ^ bswap32(p.s0), 0x85ebca6b);
    h = Math.imul(h ^ bswap32(p.d0), 0xc2b2ae35);
    h = Math.imul(h ^ bswap32(p.s1), 0x85ebca6b);
    h = Math.imul(h ^ bswap32(p.d1), 0xc2b2ae35);
    h = Math.imul(h ^ bswap32(p.s2), 0x85ebca6b);
    h = Math.imul(h ^ bswap32(p.d2), 0xc2b2ae35);
    h = Math.imul(h ^ bswap32(p.s3), 0x85ebca6b);
    h = Math.imul(h ^ bswap32(p.d3), 0xc2b2ae35);
    h ^= p.proto;
    h ^= h >>> 15;
    return h & (FRAG_BUCKETS - 1);
  }

  private same(e: number, p: PacketInfo): boolean {
    const a = this.addr;
    const o = e * 8;
    return (
      this.age[e] !== 0 &&
      this.id[e] === p.fragId &&
      this.proto[e] === p.proto &&
      this.version[e] === p.ipVersion &&
      a[o] === p.s0 &&
      a[o + 1] === p.s1 &&
      a[o + 2] === p.s2 &&
      a[o + 3] === p.s3 &&
      a[o + 4] === p.d0 &&
      a[o + 5] === p.d1 &&
      a[o + 6] === p.d2 &&
      a[o + 7] === p.d3
    );
  }

  remember(p: PacketInfo): void {
    const set = FragmentTable.bucket(p) * FRAG_WAYS;
    let e = set;
    for (let w = 0; w < FRAG_WAYS; w++) {
      if (this.same(set + w, p)) {
        e = set + w;
        break;
      }
      if (this.age[set + w] < this.age[e]) e = set + w; // free (0) or oldest
    }
    const a = this.addr;
    const o = e * 8;
    a[o] = p.s0;
    a[o + 1] = p.s1;
    a[o + 2] = p.s2;
    a[o + 3] = p.s3;
    a[o + 4] = p.d0;
    a[o + 5] = p.d1;
    a[o + 6] = p.d2;
    a[o + 7] = p.d3;
    this.id[e] = p.fragId;
    this.sport[e] = p.sport;
    this.dport[e] = p.dport;
    this.proto[e] = p.proto;
    this.version[e] = p.ipVersion;
    this.age[e] = ++this.clock;
    if (this.clock === 0xffffffff) {
      // keep ages ordered and non-zero
      for (let i = 0; i < FRAG_ENTRIES; i++) this.age[i] = this.age[i] ? 1 : 0;
      this.clock = 1;
    }
  }

  lookup(p: PacketInfo): boolean {
    const set = FragmentTable.bucket(p) * FRAG_WAYS;
    for (let w = 0; w < FRAG_WAYS; w++) {
      const e = set + w;
      if (!this.same(e, p)) continue;
      p.sport = this.sport[e];
      p.dport = this.dport[e];
      if (!p.fragMore) this.age[e] = 0; // the datagram's last fragment
      return true;
    }
    return false;
  }
}

// Decoder state for the packet being decoded (one packet at a time, synchronously).
let B: Uint8Array = new Uint8Array(0);
let FRAME = 0; // offset of the frame in B
let WIRE = 0; // max(wire, caplen): lengths in headers are checked against it
let CAPEND = 0; // offset in B where the captured bytes end
let DEPTH = 0; // tunnel nesting
let TUNNELS = true;
let L2FLOWS = true;
let FRAGS: FragmentTable;
const SCRATCH: PacketInfo[] = [];
for (let i = 0; i < MAX_TUNNEL_DEPTH; i++) SCRATCH.push(new PacketInfo());

function be16(d: number): number {
  return (B[d] << 8) | B[d + 1];
}

function be32(d: number): number {
  return ((B[d] << 24) | (B[d + 1] << 16) | (B[d + 2] << 8) | B[d + 3]) >>> 0;
}

/** bytes of the original frame from d to its end */
function wireRem(d: number): number {
  return WIRE - (d - FRAME);
}

function setError(p: PacketInfo, e: number): void {
  if (p.error === ERR_NONE) p.error = e;
}

function macW0(off: number): number {
  return off < 0 ? 0 : be32(off);
}

function macW1(off: number): number {
  return off < 0 ? 0 : ((B[off + 4] << 24) | (B[off + 5] << 16)) >>> 0;
}

function l2Flow(payload: number, ethertype: number, p: PacketInfo): number {
  if (!L2FLOWS) return KIND_SKIP;
  p.ipVersion = 0;
  p.proto = 0;
  p.ethertype = ethertype;
  p.s0 = macW0(p.srcMacOff);
  p.s1 = macW1(p.srcMacOff);
  p.s2 = 0;
  p.s3 = 0;
  p.d0 = macW0(p.dstMacOff);
  p.d1 = macW1(p.dstMacOff);
  p.d2 = 0;
  p.d3 = 0;
  p.ipLen = p.l4Len = p.payloadLen = wireRem(payload);
  // ARP over Ethernet/IPv4: the sender's and target's IPv4 addresses (MAC/IP bindings)
  if (
    ethertype === 0x0806 && CAPEND - payload >= 28 && be16(payload) === 1 && be16(payload + 2) === 0x0800 &&
    B[payload + 4] === 6 && B[payload + 5] === 4
  )
    p.arpOff = payload + 14;
  return KIND_L2;
}

/**
 * Decodes an inner packet of a tunnel (type, id) into a copy; the outer flow
 * stands unless the inner packet is an IP packet. A deeper tunnel overwrites
 * type and id of the copy, so the innermost one is kept.
 */
function followTunnel(d: number, len: number, what: number, type: number, id: number, p: PacketInfo): number {
  if (DEPTH >= MAX_TUNNEL_DEPTH) {
    setError(p, ERR_TUNNEL);
    return KIND_IP;
  }
  const inner = SCRATCH[DEPTH];
  inner.copyFrom(p);
  inner.error = ERR_NONE;
  inner.sport = 0;
  inner.dport = 0;
  inner.tcpFlags = 0;
  inner.seq = 0;
  inner.tcpWindow = 0;
  inner.tunnelType = type;
  inner.tunnelId = id;
  inner.icmpType = 0;
  inner.icmpCode = 0;
  inner.truncated = 0;
  inner.fragment = 0;
  inner.payCap = 0;
  DEPTH++;
  const k = what === 0 ? decodeEthernet(d, len, inner) : decodeIp(d, len, what, inner);
  DEPTH--;
  if (k === KIND_IP) {
    const outerError = p.error;
    p.copyFrom(inner);
    p.tunnel = 1;
    if (outerError !== ERR_NONE) p.error = outerError;
    return KIND_IP;
  }
  if (inner.error !== ERR_NONE) setError(p, ERR_TUNNEL);
  return KIND_IP;
}

function ipVersionOf(d: number, len: number): number {
  if (len < 1) return 0;
  const v = B[d] >> 4;
  return v === 4 || v === 6 ? v : 0;
}

function decodeGre(d: number, len: number, p: PacketInfo): number {
  if (len < 4) {
    setError(p, ERR_TUNNEL);
    return KIND_IP;
  }
  const flags = be16(d);
  if ((flags & 0x7) !== 0 || flags & 0x4000) return KIND_IP; // PPTP GRE, source routing
  let hl = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
  const type = be16(d + 2);
  if (type === 0x88be && flags & 0x1000) hl += 8; // ERSPAN type II
  if (len < hl) {
    setError(p, ERR_TUNNEL);
    return KIND_IP;
  }
  const key = flags & 0x2000 ? be32(d + (flags & 0x8000 ? 8 : 4)) : 0; // after the checksum word, if any
  switch (type) {
    case 0x0800:
      return followTunnel(d + hl, len - hl, 4, TUNNEL_GRE, key, p);
    case 0x86dd:
      return followTunnel(d + hl, len - hl, 6, TUNNEL_GRE, key, p);
    case 0x6558:
      return followTunnel(d + hl, len - hl, 0, TUNNEL_GRE, key, p);
    case 0x88be:
      return followTunnel(d + hl, len - hl, 0, TUNNEL_ERSPAN, key, p);
    default:
      return KIND_IP;
  }
}

function decodeGtpu(d: number, len: number, p: PacketInfo): number {
  if (len < 8 || B[d] >> 5 !== 1 || !(B[d] & 0x10) || B[d + 1] !== 0xff) return KIND_IP;
  let hl = 8;
  if (B[d] & 0x07) {
    hl = 12;
    if (len < hl) {
      setError(p, ERR_TUNNEL);
      return KIND_IP;
    }
    let next = B[d + 11];
    while (next !== 0) {
      if (len < hl + 1 || B[d + hl] === 0) {
        setError(p, ERR_TUNNEL);
        return KIND_IP;
      }
      hl += B[d + hl] * 4;
      if (len < hl) {
        setError(p, ERR_TUNNEL);
        return KIND_IP;
      }
      next = B[d + hl - 1];
    }
  }
  const v = ipVersionOf(d + hl, len - hl);
  if (v === 0) return KIND_IP;
  return followTunnel(d + hl, len - hl, v, TUNNEL_GTPU, be32(d + 4), p);
}

/** The payload at `at`: what of payloadLen was captured. */
function setPayload(p: PacketInfo, at: number): void {
  p.payOff = at;
  const cap = CAPEND - at;
  p.payCap = cap <= 0 ? 0 : cap < p.payloadLen ? cap : p.payloadLen;
}

/** Transport header at d (len captured bytes, l4Len bytes by the IP header). */
function decodeTransport(d: number, len: number, p: PacketInfo): number {
  switch (p.proto) {
    case 6: {
      if (len < 20) break;
      const doff = (B[d + 12] >> 4) * 4;
      if (doff < 20) {
        setError(p, ERR_BAD_TCP_HEADER_LENGTH);
        p.truncated = 1;
        return KIND_IP;
      }
      p.sport = be16(d);
      p.dport = be16(d + 2);
      p.tcpFlags = B[d + 13];
      p.seq = be32(d + 4);
      p.tcpWindow = be16(d + 14);
      p.payloadLen = p.l4Len > doff ? p.l4Len - doff : 0;
      setPayload(p, d + doff);
      return KIND_IP;
    }
    case 17: {
      if (len < 8) break;
      const ulen = be16(d + 4);
      if (ulen < 8 || (p.fragment === 0 && ulen > p.l4Len)) {
        // a first fragment holds part of the datagram
        setError(p, ERR_BAD_UDP_LENGTH);
        p.truncated = 1;
        return KIND_IP;
      }
      p.sport = be16(d);
      p.dport = be16(d + 2);
      p.payloadLen = ulen - 8;
      setPayload(p, d + 8);
      if (TUNNELS && p.fragment === 0) {
        if (p.dport === 4789) {
          if (len >= 16 && B[d + 8] & 0x08) return followTunnel(d + 16, len - 16, 0, TUNNEL_VXLAN, be32(d + 12) >>> 8, p);
        } else if (p.dport === 2152 || p.sport === 2152) {
          return decodeGtpu(d + 8, len - 8, p);
        }
      }
      return KIND_IP;
    }
    case 132:
      if (len < 12) break;
      p.sport = be16(d);
      p.dport = be16(d + 2);
      p.payloadLen = p.l4Len > 12 ? p.l4Len - 12 : 0;
      return KIND_IP;
    case 1:
    case 58:
      if (len < 4) break;
      p.icmpType = B[d];
      p.icmpCode = B[d + 1];
      p.payloadLen = p.l4Len > 4 ? p.l4Len - 4 : 0;
      return KIND_IP;
    case 4:
    case 41:
      if (TUNNELS) return followTunnel(d, len, p.proto === 4 ? 4 : 6, TUNNEL_IPIP, 0, p);
      return KIND_IP;
    case 47:
      if (TUNNELS) return decodeGre(d, len, p);
      return KIND_IP;
    default:
      return KIND_IP;
  }
  setError(p, ERR_TRUNCATED_TRANSPORT);
  p.truncated = 1;
  return KIND_IP;
}

/** Common tail of IPv4/IPv6: fragments and the transport header. */
function decodeL4(l4: number, l4Cap: number, p: PacketInfo): number {
  p.payloadLen = p.l4Len;
  if (p.fragment === 2) {
    if (!FRAGS.lookup(p)) setError(p, ERR_UNMATCHED_FRAGMENT);
    return KIND_IP;
  }
  const k = decodeTransport(l4, l4Cap, p);
  if (p.fragment === 1 && !p.truncated) FRAGS.remember(p);
  return k;
}

/** With loose/strict source routing the flow's destination is the route's final address. */
function sourceRouteDestination(d: number, ihl: number, p: PacketInfo): void {
  for (let o = 20; o < ihl; ) {
    const type = B[d + o];
    if (type === 0) return;
    if (type === 1) {
      o++;
      continue;
    }
    if (o + 1 >= ihl) return;
    const olen = B[d + o + 1];
    if (olen < 2 || o + olen > ihl) return;
    if ((type === 131 || type === 137) && olen >= 7 && (olen - 3) % 4 === 0) {
      p.d0 = be32(d + o + olen - 4);
      return;
    }
    o += olen;
  }
}

function decodeIpv4(d: number, len: number, p: PacketInfo): number {
  if (len < 20) {
    setError(p, len >= 1 && B[d] >> 4 !== 4 ? ERR_BAD_IP_VERSION : ERR_TRUNCATED_IP);
    return KIND_SKIP;
  }
  const b0 = B[d];
  if (b0 >> 4 !== 4) {
    setError(p, ERR_BAD_IP_VERSION);
    return KIND_SKIP;
  }
  const ihl = (b0 & 0x0f) * 4;
  if (ihl < 20) {
    setError(p, ERR_BAD_IP_HEADER_LENGTH);
    return KIND_SKIP;
  }
  if (len < ihl) {
    setError(p, ERR_TRUNCATED_IP);
    return KIND_SKIP;
  }
  const rem = wireRem(d);
  let tot = be16(d + 2);
  if (tot === 0) {
    tot = rem; // TCP segmentation offload: the length field is left 0
  } else if (tot < ihl) {
    setError(p, ERR_BAD_IP_TOTAL_LENGTH);
    return KIND_SKIP;
  } else if (tot > rem) {
    setError(p, ERR_BAD_IP_TOTAL_LENGTH);
    tot = rem;
  }
  p.ipVersion = 4;
  p.ethertype = 0x0800;
  p.ttl = B[d + 8];
  p.proto = B[d + 9];
  p.s0 = be32(d + 12);
  p.s1 = 0;
  p.s2 = 0;
  p.s3 = 0;
  p.d0 = be32(d + 16);
  p.d1 = 0;
  p.d2 = 0;
  p.d3 = 0;
  if (ihl > 20) sourceRouteDestination(d, ihl, p);
  p.ipLen = tot;
  p.l4Len = tot - ihl;
  const fo = be16(d + 6);
  const fragOff = fo & 0x1fff;
  p.fragment = fo & 0x2000 || fragOff ? (fragOff ? 2 : 1) : 0;
  p.fragId = be16(d + 4);
  p.fragMore = fo & 0x2000 ? 1 : 0;
  const cap = len < tot ? len : tot;
  return decodeL4(d + ihl, cap - ihl, p);
}

function decodeIpv6(d: number, len: number, p: PacketInfo): number {
  if (len < 40) {
    setError(p, len >= 1 && B[d] >> 4 !== 6 ? ERR_BAD_IP_VERSION : ERR_TRUNCATED_IP);
    return KIND_SKIP;
  }
  if (B[d] >> 4 !== 6) {
    setError(p, ERR_BAD_IP_VERSION);
    return KIND_SKIP;
  }
  const rem = wireRem(d);
  let tot = 40 + be16(d + 4);
  if (tot === 40) {
    tot = rem; // jumbogram or offload
  } else if (tot > rem) {
    setError(p, ERR_BAD_IP_TOTAL_LENGTH);
    tot = rem;
  }
  p.ipVersion = 6;
  p.ethertype = 0x86dd;
  p.ttl = B[d + 7];
  p.s0 = be32(d + 8);
  p.s1 = be32(d + 12);
  p.s2 = be32(d + 16);
  p.s3 = be32(d + 20);
  p.d0 = be32(d + 24);
  p.d1 = be32(d + 28);
  p.d2 = be32(d + 32);
  p.d3 = be32(d + 36);
  p.fragment = 0;
  p.ipLen = tot;
  const cap = len < tot ? len : tot;
  let nh = B[d + 6];
  let off = 40;
  let truncated = false;
  for (let i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
    let hl: number;
    if (nh === 0 || nh === 43 || nh === 60 || nh === 135 || nh === 139 || nh === 140) {
      if (cap < off + 2) {
        truncated = true;
        break;
      }
      hl = (B[d + off + 1] + 1) * 8;
    } else if (nh === 51) {
      if (cap < off + 2) {
        truncated = true;
        break;
      }
      hl = (B[d + off + 1] + 2) * 4;
    } else if (nh === 44) {
      hl = 8;
      if (cap < off + 8) {
        truncated = true;
        break;
      }
      const fo = be16(d + off + 2);
      if (fo >> 3 || fo & 1) {
        // an atomic fragment (offset 0, M 0) is a whole packet
        p.fragment = fo >> 3 ? 2 : 1;
        p.fragId = be32(d + off + 4);
        p.fragMore = fo & 1;
      }
    } else {
      break;
    }
    if (cap < off + hl) {
      truncated = true;
      break;
    }
    nh = B[d + off];
    off += hl;
  }
  p.proto = nh;
  p.l4Len = tot > off ? tot - off : 0;
  if (truncated) {
    p.payloadLen = p.l4Len;
    p.truncated = 1;
    setError(p, ERR_TRUNCATED_IP);
    return KIND_IP;
  }
  return decodeL4(d + off, cap - off, p);
}

function decodeIp(d: number, len: number, version: number, p: PacketInfo): number {
  return version === 4 ? decodeIpv4(d, len, p) : decodeIpv6(d, len, p);
}

function decodeMpls(d: number, len: number, p: PacketInfo): number {
  let off = 0;
  for (let i = 0; ; i++) {
    if (i >= MAX_MPLS_LABELS || len < off + 4) {
      setError(p, ERR_TRUNCATED_LINK);
      return KIND_SKIP;
    }
    const bos = B[d + off + 2] & 1;
    off += 4;
    if (bos) break;
  }
  if (len <= off) {
    setError(p, ERR_TRUNCATED_LINK);
    return KIND_SKIP;
  }
  const nib = B[d + off] >> 4;
  if (nib === 4 || nib === 6) return decodeIp(d + off, len - off, nib, p);
  if (nib === 0 && len >= off + 4) return decodeEthernet(d + off + 4, len - off - 4, p); // PW control word
  setError(p, ERR_UNKNOWN_L3);
  return KIND_SKIP;
}

/** Payload of an Ethernet-like header with the given ethertype. */
function decodeEthertype(type: number, d: number, len: number, p: PacketInfo): number {
  switch (type) {
    case 0x0800:
      return decodeIpv4(d, len, p);
    case 0x86dd:
      return decodeIpv6(d, len, p);
    case 0x8847:
    case 0x8848:
      return decodeMpls(d, len, p);
    case 0x8864:
      if (len < 8) {
        setError(p, ERR_TRUNCATED_LINK);
        return KIND_SKIP;
      }
      if (be16(d + 6) === 0x0021) return decodeIpv4(d + 8, len - 8, p);
      if (be16(d + 6) === 0x0057) return decodeIpv6(d + 8, len - 8, p);
      return l2Flow(d, type, p);
    default:
      return l2Flow(d, type, p);
  }
}

function decodeEthernet(d: number, len: number, p: PacketInfo): number {
  if (len < 14) {
    setError(p, ERR_TRUNCATED_LINK);
    return KIND_SKIP;
  }
  if (!p.hasMac) {
    p.dstMacOff = d;
    p.srcMacOff = d + 6;
    p.hasMac = 1;
  }
  let type = be16(d + 12);
  let off = 14;
  for (let tags = 0; type === 0x8100 || type === 0x88a8 || type === 0x9100; tags++) {
    if (tags >= MAX_VLAN_TAGS || len < off + 4) {
      setError(p, ERR_TRUNCATED_LINK);
      return KIND_SKIP;
    }
    if (DEPTH === 0) {
      if (tags === 0) p.vlan = be16(d + off) & 0x0fff;
      else if (tags === 1) p.innerVlan = be16(d + off) & 0x0fff;
    }
    type = be16(d + off + 2);
    off += 4;
  }
  if (type < 0x0600) return l2Flow(d + off, 0, p); // 802.3 length field: LLC frame
  return decodeEthertype(type, d + off, len - off, p);
}

function decodeSllPayload(proto: number, d: number, len: number, p: PacketInfo): number {
  if (proto === 0x0800 || proto === 0x86dd || proto === 0x8100 || proto === 0x88a8 || proto === 0x8847 || proto === 0x8848 || proto === 0x8864) {
    if (proto === 0x8100 || proto === 0x88a8) {
      if (len < 4) {
        setError(p, ERR_TRUNCATED_LINK);
        return KIND_SKIP;
      }
      p.vlan = be16(d) & 0x0fff;
      return decodeEthertype(be16(d + 2), d + 4, len - 4, p);
    }
    return decodeEthertype(proto, d, len, p);
  }
  if (proto < 0x0600) return l2Flow(d, 0, p);
  return l2Flow(d, proto, p);
}

export function linktypeSupported(lt: number): boolean {
  switch (lt) {
    case 0:
    case 1:
    case 12:
    case 14:
    case 101:
    case 108:
    case 113:
    case 228:
    case 229:
    case 276:
      return true;
    default:
      return false;
  }
}

/**
 * Decodes one packet (caplen bytes at buf[data]) of the given link type into
 * p (p.wireLen must be set). Returns the kind; p.error holds the first decode
 * error met (the packet may still be accounted).
 */
export function decodePacket(buf: Uint8Array, data: number, caplen: number, linktype: number, opt: DecodeOptions, frags: FragmentTable, p: PacketInfo): number {
  B = buf;
  FRAME = data;
  WIRE = p.wireLen > caplen ? p.wireLen : caplen;
  CAPEND = data + caplen;
  DEPTH = 0;
  TUNNELS = opt.decodeTunnels;
  L2FLOWS = opt.l2Flows;
  FRAGS = frags;
  p.error = ERR_NONE;
  p.vlan = 0;
  p.innerVlan = 0;
  p.hasMac = 0;
  p.arpOff = -1;
  p.tunnel = 0;
  p.tunnelType = 0;
  p.tunnelId = 0;
  p.seq = 0;
  p.tcpWindow = 0;
  p.fragment = 0;
  p.truncated = 0;
  p.sport = 0;
  p.dport = 0;
  p.tcpFlags = 0;
  p.ttl = 0;
  p.icmpType = 0;
  p.icmpCode = 0;
  p.ipVersion = 0;
  p.proto = 0;
  p.srcMacOff = -1;
  p.dstMacOff = -1;
  p.payCap = 0;
  let k: number;
  switch (linktype) {
    case 1:
      if (caplen >= 14 && B[data + 12] === 0x08 && B[data + 13] === 0x00) {
        // untagged IPv4, the common case: decodeEthernet + decodeEthertype inline
        p.dstMacOff = data;
        p.srcMacOff = data + 6;
        p.hasMac = 1;
        k = decodeIpv4(data + 14, caplen - 14, p);
      } else {
        k = decodeEthernet(data, caplen, p);
      }
      break;
    case 0:
    case 108: {
      if (caplen < 4) {
        setError(p, ERR_TRUNCATED_LINK);
        k = KIND_SKIP;
        break;
      }
      let fam = linktype === 108 ? be32(data) : (B[data] | (B[data + 1] << 8) | (B[data + 2] << 16) | (B[data + 3] << 24)) >>> 0;
      if (fam > 0xffff) fam = be32(data); // written on a big-endian host
      if (fam === 2) k = decodeIpv4(data + 4, caplen - 4, p);
      else if (fam === 24 || fam === 28 || fam === 30) k = decodeIpv6(data + 4, caplen - 4, p);
      else {
        setError(p, ERR_UNKNOWN_L3);
        k = KIND_SKIP;
      }
      break;
    }
    case 12:
    case 14:
    case 101: {
      const v = ipVersionOf(data, caplen);
      if (v === 0) {
        setError(p, caplen ? ERR_BAD_IP_VERSION : ERR_TRUNCATED_IP);
        k = KIND_SKIP;
        break;
      }
      k = decodeIp(data, caplen, v, p);
      break;
    }
    case 228:
      k = decodeIpv4(data, caplen, p);
      break;
    case 229:
      k = decodeIpv6(data, caplen, p);
      break;
    case 113: {
      if (caplen < 16) {
        setError(p, ERR_TRUNCATED_LINK);
        k = KIND_SKIP;
        break;
      }
      if (be16(data + 4) === 6) {
        p.srcMacOff = data + 6;
        p.hasMac = 1;
      }
      k = decodeSllPayload(be16(data + 14), data + 16, caplen - 16, p);
      break;
    }
    case 276: {
      if (caplen < 20) {
        setError(p, ERR_TRUNCATED_LINK);
        k = KIND_SKIP;
        break;
      }
      if (B[data + 11] === 6) {
        p.srcMacOff = data + 12;
        p.hasMac = 1;
      }
      k = decodeSllPayload(be16(data), data + 20, caplen - 20, p);
      break;
    }
    default:
      setError(p, ERR_UNSUPPORTED_LINK_TYPE);
      k = KIND_SKIP;
  }
  p.kind = k;
  return k;
}

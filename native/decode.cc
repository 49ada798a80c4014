#include "decode.h"

#include "flow_record.h"

namespace flowmaster {

const char* const kDecodeErrorNames[kDecodeErrorCount] = {
    "none",
    "unsupported_link_type",
    "truncated_link",
    "truncated_ip",
    "bad_ip_version",
    "bad_ip_header_length",
    "bad_ip_total_length",
    "truncated_transport",
    "bad_tcp_header_length",
    "bad_udp_length",
    "tunnel",
    "unmatched_fragment",
    "unknown_l3",
};

namespace {

constexpr int kMaxTunnelDepth = 4;
constexpr int kMaxVlanTags = 8;
constexpr int kMaxMplsLabels = 16;
constexpr int kMaxIpv6ExtHeaders = 256;  // each is >= 8 bytes, so caplen bounds the walk anyway

inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

struct Ctx {
  const DecodeOptions& opt;
  FragmentTable& frags;
  const uint8_t* frame;
  uint32_t wire_len;  // max(wire, caplen): lengths in headers are checked against it
  uint32_t caplen;
  int depth;          // tunnel nesting
  // bytes of the original frame from d to its end
  uint32_t wire_rem(const uint8_t* d) const { return wire_len - uint32_t(d - frame); }
};

inline void set_error(PacketInfo& p, DecodeError e) {
  if (p.error == kErrNone) p.error = e;
}

PacketKind decode_ip(const uint8_t* d, uint32_t len, int version, Ctx& c, PacketInfo& p);
PacketKind decode_ethernet(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p);

PacketKind l2_flow(const uint8_t* payload, uint16_t ethertype, Ctx& c, PacketInfo& p) {
  if (!c.opt.l2_flows) return kKindSkip;
  p.ip_version = 0;
  p.proto = 0;
  p.ethertype = ethertype;
  std::memset(p.src, 0, sizeof p.src);
  std::memset(p.dst, 0, sizeof p.dst);
  std::memcpy(p.src, p.src_mac, 6);
  std::memcpy(p.dst, p.dst_mac, 6);
  p.ip_len = p.l4_len = p.payload_len = c.wire_rem(payload);
  // ARP over Ethernet/IPv4: the sender's and target's IPv4 addresses (MAC/IP bindings)
  uint32_t cap = uint32_t(c.frame + c.caplen - payload);
  if (ethertype == 0x0806 && cap >= 28 && be16(payload) == 1 && be16(payload + 2) == 0x0800 && payload[4] == 6 && payload[5] == 4) {
    std::memcpy(p.arp_spa, payload + 14, 4);
    std::memcpy(p.arp_tpa, payload + 24, 4);
    p.has_arp = 1;
  }
  return kKindL2;
}

// Decodes an inner packet of a tunnel (TunnelType `type`, id `id`) into a
// copy; the outer flow stands unless the inner packet is an IP packet, which
// then also takes the tunnel's type and id (a deeper tunnel overwrites them).
PacketKind follow_tunnel(const uint8_t* d, uint32_t len, int what, uint8_t type, uint32_t id, Ctx& c,
                         PacketInfo& p) {
  if (c.depth >= kMaxTunnelDepth) {
    set_error(p, kErrTunnel);
    return kKindIp;
  }
  PacketInfo inner = p;
  inner.error = kErrNone;
  inner.sport = inner.dport = 0;
  inner.tcp_flags = inner.icmp_type = inner.icmp_code = 0;
  inner.truncated = inner.fragment = 0;
  inner.payload = nullptr;
  inner.payload_cap = inner.tcp_seq = 0;
  inner.tcp_window = 0;
  inner.tunnel_type = type;
  inner.tunnel_id = id;
  c.depth++;
  PacketKind k = what == 0 ? decode_ethernet(d, len, c, inner) : decode_ip(d, len, what, c, inner);
  c.depth--;
  if (k == kKindIp) {
    uint8_t outer_error = p.error;
    p = inner;
    p.tunnel = 1;
    if (outer_error != kErrNone) p.error = outer_error;
    return kKindIp;
  }
  if (inner.error != kErrNone) set_error(p, kErrTunnel);
  return kKindIp;
}

int ip_version_of(const uint8_t* d, uint32_t len) {
  if (len < 1) return 0;
  int v = d[0] >> 4;
  return v == 4 || v == 6 ? v : 0;
}

PacketKind decode_gre(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  if (len < 4) return set_error(p, kErrTunnel), kKindIp;
  uint16_t flags = be16(d);
  if ((flags & 0x7) != 0 || (flags & 0x4000)) return kKindIp;  // PPTP GRE, source routing
  uint32_t hl = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) + ((flags & 0x1000) ? 4 : 0);
  uint16_t type = be16(d + 2);
  if (type == 0x88be && (flags & 0x1000)) hl += 8;  // ERSPAN type II
  if (len < hl) {
    set_error(p, kErrTunnel);
    return kKindIp;
  }
  uint32_t key = (flags & 0x2000) ? be32(d + 4 + ((flags & 0x8000) ? 4 : 0)) : 0;  // after the checksum word
  switch (type) {
    case 0x0800: return follow_tunnel(d + hl, len - hl, 4, kTunnelGre, key, c, p);
    case 0x86dd: return follow_tunnel(d + hl, len - hl, 6, kTunnelGre, key, c, p);
    case 0x6558: return follow_tunnel(d + hl, len - hl, 0, kTunnelGre, key, c, p);
    case 0x88be: return follow_tunnel(d + hl, len - hl, 0, kTunnelErspan, key, c, p);
    default: return kKindIp;
  }
}

PacketKind decode_gtpu(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  if (len < 8 || (d[0] >> 5) != 1 || !(d[0] & 0x10) || d[1] != 0xff) return kKindIp;
  uint32_t hl = 8;
  if (d[0] & 0x07) {
    hl = 12;
    if (len < hl) return set_error(p, kErrTunnel), kKindIp;
    uint8_t next = d[11];
    while (next != 0) {
      if (len < hl + 1 || d[hl] == 0) return set_error(p, kErrTunnel), kKindIp;
      hl += uint32_t(d[hl]) * 4;
      if (len < hl) return set_error(p, kErrTunnel), kKindIp;
      next = d[hl - 1];
    }
  }
  int v = ip_version_of(d + hl, len - hl);
  if (v == 0) return kKindIp;
  return follow_tunnel(d + hl, len - hl, v, kTunnelGtpu, be32(d + 4), c, p);  // TEID
}

// The payload of an unfragmented TCP/UDP packet: `cap` bytes captured after
// the transport header (within the IP datagram), at most payload_len of them.
inline void set_payload(PacketInfo& p, const uint8_t* d, uint32_t cap) {
  p.payload = d;
  p.payload_cap = cap < p.payload_len ? cap : p.payload_len;
}

// Transport header at d (len captured bytes, l4_len bytes by the IP header).
PacketKind decode_transport(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  switch (p.proto) {
    case 6: {
      if (len < 20) break;
      uint32_t doff = uint32_t(d[12] >> 4) * 4;
      if (doff < 20) {
        set_error(p, kErrBadTcpHeaderLength);
        p.truncated = 1;
        return kKindIp;
      }
      p.sport = be16(d);
      p.dport = be16(d + 2);
      p.tcp_flags = d[13];
      p.tcp_seq = be32(d + 4);
      p.tcp_window = be16(d + 14);
      p.payload_len = p.l4_len > doff ? p.l4_len - doff : 0;
      if (p.fragment == 0 && len > doff) set_payload(p, d + doff, len - doff);
      return kKindIp;
    }
    case 17: {
      if (len < 8) break;
      uint16_t ulen = be16(d + 4);
      if (ulen < 8 || (p.fragment == 0 && ulen > p.l4_len)) {  // a first fragment holds part of the datagram
        set_error(p, kErrBadUdpLength);
        p.truncated = 1;
        return kKindIp;
      }
      p.sport = be16(d);
      p.dport = be16(d + 2);
      p.payload_len = ulen - 8u;
      if (p.fragment == 0 && len > 8) set_payload(p, d + 8, len - 8);
      if (c.opt.decode_tunnels && p.fragment == 0) {
        if (p.dport == 4789) {
          if (len >= 16 && (d[8] & 0x08)) return follow_tunnel(d + 16, len - 16, 0, kTunnelVxlan, be32(d + 12) >> 8, c, p);
        } else if (p.dport == 2152 || p.sport == 2152) {
          return decode_gtpu(d + 8, len - 8, c, p);
        }
      }
      return kKindIp;
    }
    case 132:
      if (len < 12) break;
      p.sport = be16(d);
      p.dport = be16(d + 2);
      p.payload_len = p.l4_len > 12 ? p.l4_len - 12 : 0;
      return kKindIp;
    case 1:
    case 58:
      if (len < 4) break;
      p.icmp_type = d[0];
      p.icmp_code = d[1];
      p.payload_len = p.l4_len > 4 ? p.l4_len - 4 : 0;
      return kKindIp;
    case 4:
    case 41:
      if (c.opt.decode_tunnels) return follow_tunnel(d, len, p.proto == 4 ? 4 : 6, kTunnelIpip, 0, c, p);
      return kKindIp;
    case 47:
      if (c.opt.decode_tunnels) return decode_gre(d, len, c, p);
      return kKindIp;
    default:
      return kKindIp;
  }
  set_error(p, kErrTruncatedTransport);
  p.truncated = 1;
  return kKindIp;
}

// Common tail of IPv4/IPv6: fragments and the transport header.
PacketKind decode_l4(const uint8_t* l4, uint32_t l4_cap, Ctx& c, PacketInfo& p) {
  p.payload_len = p.l4_len;
  if (p.fragment == 2) {
    if (!c.frags.lookup(p)) set_error(p, kErrUnmatchedFragment);
    return kKindIp;
  }
  PacketKind k = decode_transport(l4, l4_cap, c, p);
  if (p.fragment == 1 && !p.truncated) c.frags.remember(p);
  return k;
}

// With loose/strict source routing (options 131/137) the flow's destination
// is the route's final address, as in the TCP/UDP pseudo header (RFC 1122).
void source_route_destination(const uint8_t* d, uint32_t ihl, PacketInfo& p) {
  for (uint32_t o = 20; o < ihl;) {
    uint8_t type = d[o];
    if (type == 0) return;
    if (type == 1) {
      o++;
      continue;
    }
    if (o + 1 >= ihl) return;
    uint32_t olen = d[o + 1];
    if (olen < 2 || o + olen > ihl) return;
    if ((type == 131 || type == 137) && olen >= 7 && (olen - 3) % 4 == 0) {
      std::memcpy(p.dst, d + o + olen - 4, 4);
      return;
    }
    o += olen;
  }
}

PacketKind decode_ipv4(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  if (len < 20) return set_error(p, len >= 1 && (d[0] >> 4) != 4 ? kErrBadIpVersion : kErrTruncatedIp), kKindSkip;
  if ((d[0] >> 4) != 4) return set_error(p, kErrBadIpVersion), kKindSkip;
  uint32_t ihl = uint32_t(d[0] & 0x0f) * 4;
  if (ihl < 20) return set_error(p, kErrBadIpHeaderLength), kKindSkip;
  if (len < ihl) return set_error(p, kErrTruncatedIp), kKindSkip;
  uint32_t rem = c.wire_rem(d);
  uint32_t tot = be16(d + 2);
  if (tot == 0) {
    tot = rem;  // TCP segmentation offload: the length field is left 0
  } else if (tot < ihl) {
    return set_error(p, kErrBadIpTotalLength), kKindSkip;
  } else if (tot > rem) {
    set_error(p, kErrBadIpTotalLength);
    tot = rem;
  }
  p.ip_version = 4;
  p.ethertype = 0x0800;
  p.ttl = d[8];
  p.proto = d[9];
  std::memset(p.src, 0, sizeof p.src);
  std::memset(p.dst, 0, sizeof p.dst);
  std::memcpy(p.src, d + 12, 4);
  std::memcpy(p.dst, d + 16, 4);
  if (ihl > 20) source_route_destination(d, ihl, p);
  p.ip_len = tot;
  p.l4_len = tot - ihl;
  uint16_t fo = be16(d + 6);
  uint16_t frag_off = fo & 0x1fff;
  p.fragment = (fo & 0x2000) || frag_off ? (frag_off ? 2 : 1) : 0;
  p.frag_id = be16(d + 4);
  p.frag_more = (fo & 0x2000) != 0;
  uint32_t cap = len < tot ? len : tot;
  return decode_l4(d + ihl, cap - ihl, c, p);
}

PacketKind decode_ipv6(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  if (len < 40) return set_error(p, len >= 1 && (d[0] >> 4) != 6 ? kErrBadIpVersion : kErrTruncatedIp), kKindSkip;
  if ((d[0] >> 4) != 6) return set_error(p, kErrBadIpVersion), kKindSkip;
  uint32_t rem = c.wire_rem(d);
  uint32_t tot = 40u + be16(d + 4);
  if (tot == 40) {
    tot = rem;  // jumbogram or offload
  } else if (tot > rem) {
    set_error(p, kErrBadIpTotalLength);
    tot = rem;
  }
  p.ip_version = 6;
  p.ethertype = 0x86dd;
  p.ttl = d[7];
  std::memcpy(p.src, d + 8, 16);
  std::memcpy(p.dst, d + 24, 16);
  p.fragment = 0;
  p.ip_len = tot;
  uint32_t cap = len < tot ? len : tot;
  uint8_t nh = d[6];
  uint32_t off = 40;
  for (int i = 0; i < kMaxIpv6ExtHeaders; i++) {
    uint32_t hl;
    if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140) {
      if (cap < off + 2) goto truncated;
      hl = (uint32_t(d[off + 1]) + 1) * 8;
    } else if (nh == 51) {
      if (cap < off + 2) goto truncated;
      hl = (uint32_t(d[off + 1]) + 2) * 4;
    } else if (nh == 44) {
      hl = 8;
      if (cap < off + 8) goto truncated;
      uint16_t fo = be16(d + off + 2);
      if ((fo >> 3) || (fo & 1)) {  // an atomic fragment (offset 0, M 0) is a whole packet
        p.fragment = (fo >> 3) ? 2 : 1;
        p.frag_id = be32(d + off + 4);
        p.frag_more = fo & 1;
      }
    } else {
      break;
    }
    if (cap < off + hl) goto truncated;
    nh = d[off];
    off += hl;
  }
  p.proto = nh;
  p.l4_len = tot > off ? tot - off : 0;
  return decode_l4(d + off, cap - off, c, p);
truncated:
  p.proto = nh;
  p.l4_len = tot > off ? tot - off : 0;
  p.payload_len = p.l4_len;
  p.truncated = 1;
  set_error(p, kErrTruncatedIp);
  return kKindIp;
}

PacketKind decode_ip(const uint8_t* d, uint32_t len, int version, Ctx& c, PacketInfo& p) {
  return version == 4 ? decode_ipv4(d, len, c, p) : decode_ipv6(d, len, c, p);
}

PacketKind decode_mpls(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  uint32_t off = 0;
  for (int i = 0;; i++) {
    if (i >= kMaxMplsLabels || len < off + 4) return set_error(p, kErrTruncatedLink), kKindSkip;
    bool bos = d[off + 2] & 1;
    off += 4;
    if (bos) break;
  }
  if (len <= off) return set_error(p, kErrTruncatedLink), kKindSkip;
  int nib = d[off] >> 4;
  if (nib == 4 || nib == 6) return decode_ip(d + off, len - off, nib, c, p);
  if (nib == 0 && len >= off + 4) return decode_ethernet(d + off + 4, len - off - 4, c, p);  // PW control word
  return set_error(p, kErrUnknownL3), kKindSkip;
}

// Payload of an Ethernet-like header with the given ethertype.
PacketKind decode_ethertype(uint16_t type, const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  switch (type) {
    case 0x0800: return decode_ipv4(d, len, c, p);
    case 0x86dd: return decode_ipv6(d, len, c, p);
    case 0x8847:
    case 0x8848: return decode_mpls(d, len, c, p);
    case 0x8864:
      if (len < 8) return set_error(p, kErrTruncatedLink), kKindSkip;
      if (be16(d + 6) == 0x0021) return decode_ipv4(d + 8, len - 8, c, p);
      if (be16(d + 6) == 0x0057) return decode_ipv6(d + 8, len - 8, c, p);
      return l2_flow(d, type, c, p);
    default: return l2_flow(d, type, c, p);
  }
}

PacketKind decode_ethernet(const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  if (len < 14) return set_error(p, kErrTruncatedLink), kKindSkip;
  if (!p.has_mac) {
    std::memcpy(p.dst_mac, d, 6);
    std::memcpy(p.src_mac, d + 6, 6);
    p.has_mac = 1;
  }
  uint16_t type = be16(d + 12);
  uint32_t off = 14;
  for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; tags++) {
    if (tags >= kMaxVlanTags || len < off + 4) return set_error(p, kErrTruncatedLink), kKindSkip;
    if (tags == 0 && c.depth == 0) p.vlan = be16(d + off) & 0x0fff;
    if (tags == 1 && c.depth == 0) p.inner_vlan = be16(d + off) & 0x0fff;
    type = be16(d + off + 2);
    off += 4;
  }
  if (type < 0x0600) return l2_flow(d + off, 0, c, p);  // 802.3 length field: LLC frame
  return decode_ethertype(type, d + off, len - off, c, p);
}

PacketKind decode_sll_payload(uint16_t proto, const uint8_t* d, uint32_t len, Ctx& c, PacketInfo& p) {
  if (proto == 0x0800 || proto == 0x86dd || proto == 0x8100 || proto == 0x88a8 || proto == 0x8847 ||
      proto == 0x8848 || proto == 0x8864) {
    if (proto == 0x8100 || proto == 0x88a8) {
      if (len < 4) return set_error(p, kErrTruncatedLink), kKindSkip;
      p.vlan = be16(d) & 0x0fff;
      return decode_ethertype(be16(d + 2), d + 4, len - 4, c, p);
    }
    return decode_ethertype(proto, d, len, c, p);
  }
  if (proto < 0x0600) return l2_flow(d, 0, c, p);
  return l2_flow(d, proto, c, p);
}

}  // namespace

bool linktype_supported(uint32_t lt) {
  switch (lt) {
    case 0: case 1: case 12: case 14: case 101: case 108: case 113: case 228: case 229: case 276:
      return true;
    default:
      return false;
  }
}

PacketKind decode_packet(const uint8_t* data, uint32_t caplen, uint32_t linktype,
                         const DecodeOptions& opt, FragmentTable& frags, PacketInfo& p) {
  Ctx c{opt, frags, data, p.wire_len > caplen ? p.wire_len : caplen, caplen, 0};
  p.error = kErrNone;
  p.vlan = p.inner_vlan = 0;
  p.has_mac = 0;
  p.has_arp = 0;
  p.tunnel = p.tunnel_type = 0;
  p.tunnel_id = 0;
  p.fragment = 0;
  p.truncated = 0;
  p.sport = p.dport = 0;
  p.tcp_flags = 0;
  p.ttl = 0;
  p.icmp_type = p.icmp_code = 0;
  p.ip_version = 0;
  p.proto = 0;
  p.payload = nullptr;
  p.payload_cap = p.tcp_seq = 0;
  p.tcp_window = 0;
  PacketKind k;
  switch (linktype) {
    case 1:
      k = decode_ethernet(data, caplen, c, p);
      break;
    case 0:
    case 108: {
      if (caplen < 4) { set_error(p, kErrTruncatedLink); k = kKindSkip; break; }
      uint32_t fam = linktype == 108 ? be32(data)
                                     : uint32_t(data[0] | data[1] << 8 | data[2] << 16 | uint32_t(data[3]) << 24);
      if (fam > 0xffff) fam = be32(data);  // written on a big-endian host
      if (fam == 2) k = decode_ipv4(data + 4, caplen - 4, c, p);
      else if (fam == 24 || fam == 28 || fam == 30) k = decode_ipv6(data + 4, caplen - 4, c, p);
      else { set_error(p, kErrUnknownL3); k = kKindSkip; }
      break;
    }
    case 12: case 14: case 101: {
      int v = ip_version_of(data, caplen);
      if (v == 0) { set_error(p, caplen ? kErrBadIpVersion : kErrTruncatedIp); k = kKindSkip; break; }
      k = decode_ip(data, caplen, v, c, p);
      break;
    }
    case 228: k = decode_ipv4(data, caplen, c, p); break;
    case 229: k = decode_ipv6(data, caplen, c, p); break;
    case 113: {
      if (caplen < 16) { set_error(p, kErrTruncatedLink); k = kKindSkip; break; }
      std::memset(p.src_mac, 0, 12);  // cooked headers carry the sender's address only
      if (be16(data + 4) == 6) { std::memcpy(p.src_mac, data + 6, 6); p.has_mac = 1; }
      k = decode_sll_payload(be16(data + 14), data + 16, caplen - 16, c, p);
      break;
    }
    case 276: {
      if (caplen < 20) { set_error(p, kErrTruncatedLink); k = kKindSkip; break; }
      std::memset(p.src_mac, 0, 12);
      if (data[11] == 6) { std::memcpy(p.src_mac, data + 12, 6); p.has_mac = 1; }
      k = decode_sll_payload(be16(data), data + 20, caplen - 20, c, p);
      break;
    }
    default:
      set_error(p, kErrUnsupportedLinkType);
      k = kKindSkip;
  }
  p.kind = k;
  return k;
}

uint32_t FragmentTable::bucket(const PacketInfo& p) {
  uint32_t h = p.frag_id * 0x9e3779b1u;
  for (int i = 0; i < 16; i += 4) {
    uint32_t a, b;
    std::memcpy(&a, p.src + i, 4);
    std::memcpy(&b, p.dst + i, 4);
    h = (h ^ a) * 0x85ebca6bu;
    h = (h ^ b) * 0xc2b2ae35u;
  }
  h ^= p.proto;
  h ^= h >> 15;
  return h & (kBuckets - 1);
}

bool FragmentTable::same(const Entry& e, const PacketInfo& p) const {
  return e.age && e.id == p.frag_id && e.proto == p.proto && e.version == p.ip_version &&
         std::memcmp(e.src, p.src, 16) == 0 && std::memcmp(e.dst, p.dst, 16) == 0;
}

void FragmentTable::remember(const PacketInfo& p) {
  Entry* set = &entries_[bucket(p) * kWays];
  Entry* e = &set[0];
  for (uint32_t w = 0; w < kWays; w++) {
    if (same(set[w], p)) {
      e = &set[w];
      break;
    }
    if (set[w].age < e->age) e = &set[w];  // free (0) or oldest
  }
  std::memcpy(e->src, p.src, 16);
  std::memcpy(e->dst, p.dst, 16);
  e->id = p.frag_id;
  e->sport = p.sport;
  e->dport = p.dport;
  e->proto = p.proto;
  e->version = p.ip_version;
  e->age = ++clock_;
  if (clock_ == UINT32_MAX) {  // keep ages ordered and non-zero
    for (Entry& x : entries_) x.age = x.age ? 1 : 0;
    clock_ = 1;
  }
}

bool FragmentTable::lookup(PacketInfo& p) {
  Entry* set = &entries_[bucket(p) * kWays];
  for (uint32_t w = 0; w < kWays; w++) {
    if (!same(set[w], p)) continue;
    p.sport = set[w].sport;
    p.dport = set[w].dport;
    if (!p.frag_more) set[w].age = 0;  // the datagram's last fragment
    return true;
  }
  return false;
}

}  // namespace flowmaster

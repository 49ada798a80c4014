// In-place packet decoder: reads link, network and transport headers where
// the packet lies and fills a small PacketInfo (key fields, and where the
// transport payload lies; the payload itself is never read or copied here).
// Every read is bounds-checked against caplen.
#pragma once
#include <cstdint>
#include <cstring>

namespace flowmaster {

// Decode error kinds, counted per packet. The names (kDecodeErrorNames) are
// part of the public summary; src/flow/errors.ts lists the same names.
enum DecodeError : uint8_t {
  kErrNone = 0,
  kErrUnsupportedLinkType,
  kErrTruncatedLink,       // Ethernet/SLL/null header, VLAN tag, MPLS label or PPPoE cut short
  kErrTruncatedIp,         // IPv4/IPv6 header (or extension header) cut short
  kErrBadIpVersion,        // version field does not match the link/ethertype
  kErrBadIpHeaderLength,   // IPv4 IHL < 5
  kErrBadIpTotalLength,    // IPv4 total length < header, or IPv6 payload length past the frame
  kErrTruncatedTransport,  // TCP/UDP/SCTP/ICMP header cut short: accounted without ports
  kErrBadTcpHeaderLength,  // TCP data offset < 5: accounted without ports
  kErrBadUdpLength,        // UDP length field < 8 or past the IP datagram: accounted without ports
  kErrTunnel,              // tunnel header cut short or too deeply nested: outer flow kept
  kErrUnmatchedFragment,   // later fragment with no first fragment seen: ports 0
  kErrUnknownL3,           // MPLS/PPP/SLL payload that is neither IP nor a known L2 protocol
  kDecodeErrorCount
};

extern const char* const kDecodeErrorNames[kDecodeErrorCount];

enum PacketKind : uint8_t {
  kKindSkip = 0,  // counted, not accounted to a flow (undecodable or L2 with l2Flows off)
  kKindIp = 1,
  kKindL2 = 2,
};

struct DecodeOptions {
  bool decode_tunnels = true;
  bool l2_flows = true;
};

struct PacketInfo {
  uint64_t ts_ns;
  uint64_t hash;       // filled by the flow table
  uint32_t wire_len;   // original length from the capture record
  uint32_t ip_len;     // innermost IP datagram length (total length), or L2 payload
  uint32_t l4_len;     // bytes from the transport header on
  uint32_t payload_len;// bytes after the transport header
  uint8_t kind;        // PacketKind
  uint8_t error;       // DecodeError (first one met)
  uint8_t ip_version;  // 4, 6, or 0 for L2
  uint8_t proto;
  uint16_t vlan;       // outermost 802.1Q/QinQ id, 0 if none
  uint16_t inner_vlan; // second 802.1Q/802.1ad tag of the outer frame, 0 if none
  uint16_t ethertype;  // 0x0800/0x86dd for IP, else the L2 ethertype
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport, dport;
  uint8_t tcp_flags;
  uint8_t ttl;         // IPv4 TTL / IPv6 hop limit of the keyed (innermost) IP header
  uint8_t icmp_type, icmp_code;
  uint8_t has_mac;
  uint8_t fragment;    // 0 none, 1 first fragment, 2 later fragment
  uint8_t frag_more;   // more fragments follow (MF / M bit)
  uint8_t tunnel;      // decoded through a tunnel
  uint8_t tunnel_type; // TunnelType of the innermost tunnel the keyed header came through
  uint8_t truncated;   // transport header missing: accounted without ports
  uint8_t src_mac[6];
  uint8_t dst_mac[6];
  uint8_t has_arp;     // an ARP (Ethernet/IPv4) frame: its protocol addresses below
  uint8_t arp_spa[4], arp_tpa[4];
  uint32_t frag_id;
  // TCP/UDP payload of an unfragmented packet (fragment 0), for application
  // dissection: payload_cap = min(payload_len, bytes captured after the
  // transport header); 0 (and payload null) otherwise. `payload` points into
  // the packet's bytes, valid only while they are (see offline.cc, live.cc).
  const uint8_t* payload;
  uint32_t payload_cap;
  uint32_t tunnel_id;  // its GRE key (K bit), VXLAN VNI or GTP-U TEID, else 0
  // TCP header fields of any packet with a full TCP header (fragment or not),
  // else 0: Zeek's history and conn_state (conn_state.h) read them.
  uint32_t tcp_seq;    // sequence number
  uint16_t tcp_window; // window field as sent (not scaled)
};

// Bounded table joining later IP fragments to the ports of their first
// fragment, keyed by (src, dst, proto, id): 4-way buckets, an entry freed by
// the datagram's last fragment, else the oldest in its bucket replaced.
class FragmentTable {
 public:
  static constexpr uint32_t kBuckets = 1024;
  static constexpr uint32_t kWays = 4;
  void remember(const PacketInfo& p);
  bool lookup(PacketInfo& p);
 private:
  struct Entry {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint32_t age;  // 0: free
    uint16_t sport, dport;
    uint8_t proto, version;
  };
  static uint32_t bucket(const PacketInfo& p);
  bool same(const Entry& e, const PacketInfo& p) const;
  Entry entries_[kBuckets * kWays] = {};
  uint32_t clock_ = 0;
};

// Decodes one packet of the given link type. Returns the kind; p.error holds
// the first decode error met (the packet may still be accounted).
PacketKind decode_packet(const uint8_t* data, uint32_t caplen, uint32_t linktype,
                         const DecodeOptions& opt, FragmentTable& frags, PacketInfo& p);

bool linktype_supported(uint32_t linktype);

}  // namespace flowmaster

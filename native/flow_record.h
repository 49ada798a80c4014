// FlowBatch record layout: the one binary contract between the engines and
// everything downstream. A batch is N records of kRecordSize bytes, each
// little-endian, packed, no header. src/flow/layout.ts mirrors these offsets
// and test/layout.test.ts checks them against this file.
#pragma once
#include <cstddef>
#include <cstdint>

namespace flowmaster {

constexpr std::size_t kRecordSize = 1024;

enum EndReason : uint8_t {  // IPFIX flowEndReason values (RFC 5102) where they exist
  kEndIdle = 1,
  kEndActive = 2,
  kEndTcp = 3,      // "end of flow detected": RST, or FIN from both sides
  kEndFlush = 4,    // "forced end": end of input or stop()
  kEndEvicted = 5,  // "lack of resources": table full (maxFlows)
};

enum RecordFlags : uint8_t {
  kFlagL2 = 1,          // layer-2 flow: addresses are MACs, ports 0, key has ethertype
  kFlagDrops = 2,       // the capture lost packets while this flow was open
  kFlagFragments = 4,   // IP fragments were accounted to this flow
  kFlagTunnel = 8,      // the key comes from a tunnelled (inner) IP header
  kFlagTruncated = 16,  // some packet ended before its transport header
};

// Offsets (bytes). Addresses: IPv4 in the first 4 bytes, IPv6 all 16, MAC
// (L2 flows) the first 6; unused bytes are zero. For ARP flows (L2, ethertype
// 0x0806) bytes kArpIp..+4 of each address hold the IPv4 address the first
// ARP packet gave for that end (sender / target protocol address): the
// MAC/IP bindings of the device inventory. Times are ns since the epoch.
// fwd = from src (the sender of the flow's first packet), rev = towards it.
namespace off {
constexpr std::size_t kFlowId = 0;        // u64, equal for all segments of one flow
constexpr std::size_t kFirstNs = 8;       // u64, first packet of this record
constexpr std::size_t kLastNs = 16;       // u64, last packet of this record
constexpr std::size_t kSrcAddr = 24;      // 16 bytes
constexpr std::size_t kDstAddr = 40;      // 16 bytes
constexpr std::size_t kSrcPort = 56;      // u16
constexpr std::size_t kDstPort = 58;      // u16
constexpr std::size_t kVlan = 60;         // u16, outermost 802.1Q id when keyVlan, else 0
constexpr std::size_t kEtherType = 62;    // u16, 0x0800 / 0x86dd, or the L2 ethertype
constexpr std::size_t kIpVersion = 64;    // u8, 4 / 6, 0 for L2 flows
constexpr std::size_t kProtocol = 65;     // u8, IP protocol number
constexpr std::size_t kEndReason = 66;    // u8, EndReason
constexpr std::size_t kFlags = 67;        // u8, RecordFlags
constexpr std::size_t kSegment = 68;      // u16, 0 for the first record of a flow
constexpr std::size_t kFwdTcpFlags = 70;  // u8, OR of TCP flags src->dst
constexpr std::size_t kRevTcpFlags = 71;  // u8
constexpr std::size_t kIcmpType = 72;     // u8, first ICMP/ICMPv6 type seen (fwd)
constexpr std::size_t kIcmpCode = 73;     // u8
constexpr std::size_t kSrcMac = 74;       // 6 bytes, source MAC of the first packet
constexpr std::size_t kDstMac = 80;       // 6 bytes, destination MAC of the first packet
constexpr std::size_t kMinTtl = 86;       // u8, least IPv4 TTL / IPv6 hop limit of the record's packets (0 for L2)
constexpr std::size_t kMaxTtl = 87;       // u8, greatest (of the keyed, i.e. inner, IP header)
constexpr std::size_t kFwdPackets = 88;   // u64
constexpr std::size_t kFwdBytes = 96;     // u64, per `accounting`
constexpr std::size_t kRevPackets = 104;  // u64
constexpr std::size_t kRevBytes = 112;    // u64
constexpr std::size_t kFwdLastNs = 120;   // u64 (fwd first = kFirstNs)
constexpr std::size_t kRevFirstNs = 128;  // u64, 0 when no reverse packet
constexpr std::size_t kRevLastNs = 136;   // u64
// Per-direction statistics (only with `statistics: true`, else zero), fwd at
// kFwdStats, rev at kRevStats, each block laid out as the Stat* offsets.
constexpr std::size_t kFwdStats = 144;
constexpr std::size_t kRevStats = 200;
constexpr std::size_t kStatSizeMin = 0;     // u32, accounted bytes
constexpr std::size_t kStatSizeMax = 4;     // u32
constexpr std::size_t kStatSizeMean = 8;    // f64
constexpr std::size_t kStatSizeStddev = 16; // f64, population
constexpr std::size_t kStatIatMin = 24;     // u64 ns between packets of this direction
constexpr std::size_t kStatIatMax = 32;     // u64 ns
constexpr std::size_t kStatIatMean = 40;    // f64 ns
constexpr std::size_t kStatIatStddev = 48;  // f64 ns, population
constexpr std::size_t kStatBlockSize = 56;
constexpr std::size_t kArpIp = 12;          // within kSrcAddr / kDstAddr of ARP flows
// Application area (docs/applications.md): what the payload said; zero when
// nothing was found or dissection is off.
constexpr std::size_t kApp = 256;
constexpr std::size_t kApplication = 256;      // u8, Application
constexpr std::size_t kAppFlags = 257;         // u8, AppFlags
constexpr std::size_t kTlsVersion = 258;       // u16
constexpr std::size_t kDnsQtype = 260;         // u16
constexpr std::size_t kDnsRcode = 262;         // u8
constexpr std::size_t kDnsAnswers = 264;       // u16
constexpr std::size_t kHttpStatus = 266;       // u16
constexpr std::size_t kAppCode = 268;          // u16
constexpr std::size_t kDnsAnswerVersion = 270; // u8, 4 / 6 / 0
constexpr std::size_t kDnsAnswerAddr = 272;    // 16 bytes
constexpr std::size_t kAppStrings = 288;       // (u8 id, u8 length, bytes)..., id 0 ends
constexpr std::size_t kAppSize = 256;
// Details area (docs/fields.md): always filled unless noted.
constexpr std::size_t kDetails = 512;
constexpr std::size_t kFwdIpBytes = 512;       // u64, sum of the keyed IP header's total length (L2 flows: L2 payload)
constexpr std::size_t kRevIpBytes = 520;       // u64
constexpr std::size_t kFwdPayloadBytes = 528;  // u64, sum of the bytes after the transport header
constexpr std::size_t kRevPayloadBytes = 536;  // u64
constexpr std::size_t kInnerVlan = 544;        // u16, second 802.1Q/802.1ad tag (outer frame) of the first packet, 0 if none
constexpr std::size_t kTunnelType = 546;       // u8, TunnelType of the innermost tunnel of the first packet
constexpr std::size_t kConnState = 547;        // u8, ConnState (Zeek's conn_state), 0 for layer-2 flows
constexpr std::size_t kTunnelId = 548;         // u32, GRE key / VXLAN VNI / GTP-U TEID, 0 if none
constexpr std::size_t kHistory = 552;          // 16 bytes, Zeek's history letters in order, NUL-padded
constexpr std::size_t kHistorySize = 16;
// With `statistics`: packets carrying each TCP flag, per direction, 8 x u32
// in flag bit order (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR).
constexpr std::size_t kFwdFlagCounts = 568;
constexpr std::size_t kRevFlagCounts = 600;
// With `statistics`: a stat block over both directions (sizes of all packets,
// inter-arrival between consecutive packets of the flow).
constexpr std::size_t kBiStats = 632;
// With `splt` > 0: the first packets of the flow (at most 32, not reset by segments).
constexpr std::size_t kSpltCount = 688;        // u8, packets recorded
constexpr std::size_t kSpltDirections = 692;   // u32, bit i set: packet i went dst -> src
constexpr std::size_t kSpltSizes = 696;        // u16 x 32, accounted bytes (saturating at 65535)
constexpr std::size_t kSpltIats = 760;         // u32 x 32, us since the previous packet of the flow (0 for the first), saturating
constexpr std::size_t kSpltMax = 32;
constexpr std::size_t kDetailsEnd = 888;       // 888..1023 reserved, zero
}  // namespace off

enum TunnelType : uint8_t { kTunnelNone = 0, kTunnelIpip = 1, kTunnelGre = 2, kTunnelVxlan = 3, kTunnelGtpu = 4, kTunnelErspan = 5 };

enum ConnState : uint8_t {
  kConnNone = 0, kConnS0, kConnS1, kConnSF, kConnREJ, kConnS2, kConnS3, kConnRSTO, kConnRSTR, kConnRSTOS0, kConnRSTRH,
  kConnSH, kConnSHR, kConnOTH
};

enum Application : uint8_t {
  kAppNone = 0, kAppTls, kAppQuic, kAppDns, kAppMdns, kAppLlmnr, kAppHttp, kAppSsh, kAppModbus, kAppDnp3,
  kAppS7comm, kAppS7commPlus, kAppMms, kAppEnip, kAppBacnet, kAppIec104, kAppOpcua, kAppMqtt, kAppCount
};

enum AppFlags : uint8_t {
  kAppFlagCut = 1,          // a string was cut (or dropped) to fit
  kAppFlagDnsResponse = 2,  // dnsRcode / dnsAnswers are valid
  kAppFlagCode = 4,         // appCode is valid
};

enum AppString : uint8_t {
  kStrEnd = 0, kStrSni, kStrAlpn, kStrJa4, kStrJa3, kStrCertCn, kStrDnsQuery, kStrHttpMethod, kStrHttpHost,
  kStrUserAgent, kStrSshClient, kStrSshServer, kStrCount
};

static_assert(off::kRevStats + off::kStatBlockSize == off::kApp, "flow part");
static_assert(off::kApp + off::kAppSize == off::kDetails, "application area");
static_assert(off::kSpltIats + 4 * off::kSpltMax == off::kDetailsEnd && off::kDetailsEnd <= kRecordSize, "details area");

}  // namespace flowmaster

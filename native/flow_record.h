// FlowBatch record layout: the one binary contract between the engines and
// everything downstream. A batch is N records of kRecordSize bytes, each
// little-endian, packed, no header. src/flow/layout.ts mirrors these offsets
// and test/layout.test.ts checks them against this file.
#pragma once
#include <cstddef>
#include <cstdint>

namespace flowmaster {

constexpr std::size_t kRecordSize = 512;

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
}  // namespace off

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
static_assert(off::kApp + off::kAppSize == kRecordSize, "record size");

}  // namespace flowmaster

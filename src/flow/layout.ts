/**
 * FlowBatch record layout, mirrored from native/flow_record.h (the single
 * definition). test/layout.test.ts checks every offset against the addon.
 */
export const RECORD_SIZE = 1024;

export const Offsets = {
  kFlowId: 0,
  kFirstNs: 8,
  kLastNs: 16,
  kSrcAddr: 24,
  kDstAddr: 40,
  kSrcPort: 56,
  kDstPort: 58,
  kVlan: 60,
  kEtherType: 62,
  kIpVersion: 64,
  kProtocol: 65,
  kEndReason: 66,
  kFlags: 67,
  kSegment: 68,
  kFwdTcpFlags: 70,
  kRevTcpFlags: 71,
  kIcmpType: 72,
  kIcmpCode: 73,
  kSrcMac: 74,
  kDstMac: 80,
  kMinTtl: 86,
  kMaxTtl: 87,
  kFwdPackets: 88,
  kFwdBytes: 96,
  kRevPackets: 104,
  kRevBytes: 112,
  kFwdLastNs: 120,
  kRevFirstNs: 128,
  kRevLastNs: 136,
  kFwdStats: 144,
  kRevStats: 200,
  kStatSizeMin: 0,
  kStatSizeMax: 4,
  kStatSizeMean: 8,
  kStatSizeStddev: 16,
  kStatIatMin: 24,
  kStatIatMax: 32,
  kStatIatMean: 40,
  kStatIatStddev: 48,
  kStatBlockSize: 56,
  /** ARP flows: the IPv4 address of each end, within kSrcAddr / kDstAddr */
  kArpIp: 12,
  /** the application area (docs/applications.md) */
  kApp: 256,
  kApplication: 256,
  kAppFlags: 257,
  kTlsVersion: 258,
  kDnsQtype: 260,
  kDnsRcode: 262,
  kDnsAnswers: 264,
  kHttpStatus: 266,
  kAppCode: 268,
  kDnsAnswerVersion: 270,
  kDnsAnswerAddr: 272,
  kAppStrings: 288,
  kAppSize: 256,
  /** the details area (docs/fields.md) */
  kDetails: 512,
  kFwdIpBytes: 512,
  kRevIpBytes: 520,
  kFwdPayloadBytes: 528,
  kRevPayloadBytes: 536,
  kInnerVlan: 544,
  kTunnelType: 546,
  kConnState: 547,
  kTunnelId: 548,
  kHistory: 552,
  kHistorySize: 16,
  kFwdFlagCounts: 568,
  kRevFlagCounts: 600,
  kBiStats: 632,
  kSpltCount: 688,
  kSpltDirections: 692,
  kSpltSizes: 696,
  kSpltIats: 760,
  kSpltMax: 32,
  kDetailsEnd: 888,
} as const;

/** Tunnel types (record byte kTunnelType), index = id; '' for none. */
export const TUNNEL_TYPES = ['', 'ipip', 'gre', 'vxlan', 'gtp-u', 'erspan'] as const;
export type TunnelType = Exclude<(typeof TUNNEL_TYPES)[number], ''>;

/** Zeek's conn_state values (record byte kConnState), index = id; '' for none (layer-2 flows). */
export const CONN_STATES = ['', 'S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const;
export type ConnState = Exclude<(typeof CONN_STATES)[number], ''>;

/** TCP flags in bit order, as the flag counters hold them. */
export const TCP_FLAG_NAMES = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const;

/** Application ids (record byte kApplication), index = id; '' for none. */
export const APPLICATIONS = [
  '', 'tls', 'quic', 'dns', 'mdns', 'llmnr', 'http', 'ssh', 'modbus', 'dnp3',
  's7comm', 's7comm-plus', 'mms', 'enip', 'bacnet', 'iec104', 'opcua', 'mqtt',
] as const;
export type Application = Exclude<(typeof APPLICATIONS)[number], ''>;

export const AppFlags = {
  CUT: 1,
  DNS_RESPONSE: 2,
  CODE: 4,
} as const;

/** String ids of the application area, index = id. */
export const APP_STRINGS = [
  '', 'sni', 'alpn', 'ja4', 'ja3', 'certCn', 'dnsQuery', 'httpMethod', 'httpHost', 'userAgent', 'sshClient', 'sshServer',
] as const;
export type AppStringName = Exclude<(typeof APP_STRINGS)[number], ''>;

/**
 * End reasons: the IPFIX flowEndReason values (RFC 5102) where they exist.
 * 0 ('open') marks a snapshot of a flow still in the table (activeFlows()).
 */
export const END_REASONS = ['open', 'idle', 'active', 'tcp-end', 'flush', 'evicted'] as const;
export type EndReason = Exclude<(typeof END_REASONS)[number], 'open'>;

export const RecordFlags = {
  L2: 1,
  DROPS: 2,
  FRAGMENTS: 4,
  TUNNEL: 8,
  TRUNCATED: 16,
} as const;

/** Decode error kinds, in the addon's order (native/decode.h). */
export const DECODE_ERRORS = [
  'none',
  'unsupported_link_type',
  'truncated_link',
  'truncated_ip',
  'bad_ip_version',
  'bad_ip_header_length',
  'bad_ip_total_length',
  'truncated_transport',
  'bad_tcp_header_length',
  'bad_udp_length',
  'tunnel',
  'unmatched_fragment',
  'unknown_l3',
] as const;
export type DecodeErrorKind = Exclude<(typeof DECODE_ERRORS)[number], 'none'>;

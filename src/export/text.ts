/**
 * Fast text output of flows: JSON lines and CSV written byte by byte from the
 * FlowBatch records into ~64 KiB Buffers, with no Flow view, no object per
 * flow or field, no BigInt and no hash object per flow.
 *
 * The output is byte-for-byte what the reference formatters in columns.ts
 * print (jsonLine: JSON.stringify(Flow.toObject()), csvRow), which stay the
 * oracle: test/output-format.test.ts compares both on every flow of mixed
 * captures. Everything printed is ASCII but MAC vendor names (escaped once per
 * OUI and kept) and the payload's strings, so bytes and UTF-16 code units are
 * mostly the same.
 *
 * What the reference spends its time on, and what replaces it here:
 * - toObject() + JSON.stringify: an object of 54 properties per flow (more
 *   with statistics), strings per address: here each value is written where
 *   it belongs in the line;
 * - MAC vendors (an OUI registry lookup and a string per MAC): the escaped
 *   bytes are kept per OUI (VENDOR_JSON / VENDOR_CSV);
 * - BigInt timestamps (firstNs / lastNs, ns to ms): the u64 is split into
 *   whole ms and the ns remainder with exact double arithmetic;
 * - Community ID: createHash('sha1') per flow (about 2 µs): a single-block
 *   SHA-1 in JavaScript (the message is at most 40 bytes) and a table base64;
 * - joining lines and encoding the joined string to UTF-8 on write: bytes go
 *   straight into the Buffer that is written.
 *
 * The application area's strings are the payload's bytes: ASCII ones are
 * escaped here as JSON.stringify / csvCell escape them; an area with any other
 * byte (UTF-8, or not: the reference decodes with replacement characters), or
 * with an id twice, is written through the reference's own path (rare).
 * So is a history with bytes above 0x7f (only a damaged record has them).
 */
import { isV4Mapped } from '../flow/address';
import { vendorOf } from '../devices/oui';
import { APP_COLUMNS, appCsvCells, appStringSpans } from './app-columns';
import { csvCell, csvHeader, nsToMsText, PROTOCOL_NAMES } from './columns';
import { Flow, type FlowBatch, tlsVersionName } from '../flow/flow';
import {
  APP_STRINGS, APPLICATIONS, AppFlags, CONN_STATES, END_REASONS, Offsets as O, RECORD_SIZE, RecordFlags, TCP_FLAG_NAMES, TUNNEL_TYPES,
} from '../flow/layout';

export type TextFormat = 'jsonl' | 'csv';

export interface TextFormatterOptions {
  /** JSON: the fwdStats … revFlagCounts objects, as Flow.toObject({ statistics: true }); CSV: the statistics columns (default false) */
  statistics?: boolean;
  /** CSV only: the SPLT columns when > 0 (the meter's `splt`; JSON has `splt` whenever the record holds one) */
  splt?: number;
  /** bytes per chunk (default 64 KiB, at least 16 KiB) */
  chunkSize?: number;
}

/**
 * The longest line: a JSON record with statistics and SPLT is below 3.5 KiB
 * (numbers at most 24 characters each, 16 history bytes escaped to at most 6,
 * two vendor names), its `app` object below 1.6 KiB (224 bytes of strings,
 * each escaped to at most 6).
 */
const MAX_LINE = 8192;

/**
 * The record layout (layout.ts Offsets and RecordFlags) as constants the
 * compiler writes into the code as numbers: read through the imported
 * objects, every field of every record cost three dependent loads. Checked
 * against layout.ts when this module loads.
 */
const enum K {
  Record = 1024,
  AppEnd = 512,
  ArpIp = 12,
  DstAddr = 40,
  DstMac = 80,
  DstPort = 58,
  EndReason = 66,
  EtherType = 62,
  FirstNs = 8,
  Flags = 67,
  FlowId = 0,
  FwdBytes = 96,
  FwdPackets = 88,
  FwdStats = 144,
  FwdTcpFlags = 70,
  IcmpCode = 73,
  IcmpType = 72,
  IpVersion = 64,
  LastNs = 16,
  Protocol = 65,
  RevBytes = 112,
  RevPackets = 104,
  RevStats = 200,
  RevTcpFlags = 71,
  Segment = 68,
  SrcAddr = 24,
  SrcMac = 74,
  SrcPort = 56,
  StatIatMax = 32,
  StatIatMean = 40,
  StatIatMin = 24,
  StatIatStddev = 48,
  StatSizeMax = 4,
  StatSizeMean = 8,
  StatSizeMin = 0,
  StatSizeStddev = 16,
  Vlan = 60,
  Application = 256,
  AppFlags = 257,
  TlsVersion = 258,
  DnsQtype = 260,
  DnsRcode = 262,
  DnsAnswers = 264,
  HttpStatus = 266,
  AppCode = 268,
  DnsAnswerVersion = 270,
  DnsAnswerAddr = 272,
  AppStrings = 288,
  MinTtl = 86,
  MaxTtl = 87,
  FwdLastNs = 120,
  RevFirstNs = 128,
  RevLastNs = 136,
  FwdIpBytes = 512,
  RevIpBytes = 520,
  FwdPayloadBytes = 528,
  RevPayloadBytes = 536,
  InnerVlan = 544,
  TunnelType = 546,
  ConnState = 547,
  TunnelId = 548,
  History = 552,
  HistorySize = 16,
  FwdFlagCounts = 568,
  RevFlagCounts = 600,
  BiStats = 632,
  SpltCount = 688,
  SpltDirections = 692,
  SpltSizes = 696,
  SpltIats = 760,
  SpltMax = 32,
}
const enum AppFlag {
  CUT = 1,
  DNS_RESPONSE = 2,
  CODE = 4,
}
const enum Flag {
  L2 = 1,
  DROPS = 2,
  FRAGMENTS = 4,
  TUNNEL = 8,
  TRUNCATED = 16,
}
{
  if (RECORD_SIZE !== K.Record) throw new Error("text.ts: the record size is not layout.ts's");
  const k: Record<string, number> = { ArpIp: K.ArpIp, DstAddr: K.DstAddr, DstMac: K.DstMac, DstPort: K.DstPort, EndReason: K.EndReason, EtherType: K.EtherType, FirstNs: K.FirstNs, Flags: K.Flags, FlowId: K.FlowId, FwdBytes: K.FwdBytes, FwdPackets: K.FwdPackets, FwdStats: K.FwdStats, FwdTcpFlags: K.FwdTcpFlags, IcmpCode: K.IcmpCode, IcmpType: K.IcmpType, IpVersion: K.IpVersion, LastNs: K.LastNs, Protocol: K.Protocol, RevBytes: K.RevBytes, RevPackets: K.RevPackets, RevStats: K.RevStats, RevTcpFlags: K.RevTcpFlags, Segment: K.Segment, SrcAddr: K.SrcAddr, SrcMac: K.SrcMac, SrcPort: K.SrcPort, StatIatMax: K.StatIatMax, StatIatMean: K.StatIatMean, StatIatMin: K.StatIatMin, StatIatStddev: K.StatIatStddev, StatSizeMax: K.StatSizeMax, StatSizeMean: K.StatSizeMean, StatSizeMin: K.StatSizeMin, StatSizeStddev: K.StatSizeStddev, Vlan: K.Vlan, Application: K.Application, AppFlags: K.AppFlags, TlsVersion: K.TlsVersion, DnsQtype: K.DnsQtype, DnsRcode: K.DnsRcode, DnsAnswers: K.DnsAnswers, HttpStatus: K.HttpStatus, AppCode: K.AppCode, DnsAnswerVersion: K.DnsAnswerVersion, DnsAnswerAddr: K.DnsAnswerAddr, AppStrings: K.AppStrings, MinTtl: K.MinTtl, MaxTtl: K.MaxTtl, FwdLastNs: K.FwdLastNs, RevFirstNs: K.RevFirstNs, RevLastNs: K.RevLastNs, FwdIpBytes: K.FwdIpBytes, RevIpBytes: K.RevIpBytes, FwdPayloadBytes: K.FwdPayloadBytes, RevPayloadBytes: K.RevPayloadBytes, InnerVlan: K.InnerVlan, TunnelType: K.TunnelType, ConnState: K.ConnState, TunnelId: K.TunnelId, History: K.History, HistorySize: K.HistorySize, FwdFlagCounts: K.FwdFlagCounts, RevFlagCounts: K.RevFlagCounts, BiStats: K.BiStats, SpltCount: K.SpltCount, SpltDirections: K.SpltDirections, SpltSizes: K.SpltSizes, SpltIats: K.SpltIats, SpltMax: K.SpltMax };
  const f: Record<string, number> = { L2: Flag.L2, DROPS: Flag.DROPS, FRAGMENTS: Flag.FRAGMENTS, TUNNEL: Flag.TUNNEL, TRUNCATED: Flag.TRUNCATED };
  for (const [name, at] of Object.entries(k)) if ((O as Record<string, number>)[`k${name}`] !== at) throw new Error(`text.ts: offset ${name} is not layout.ts's`);
  for (const [name, bit] of Object.entries(f)) if ((RecordFlags as Record<string, number>)[name] !== bit) throw new Error(`text.ts: flag ${name} is not layout.ts's`);
  const a: Record<string, number> = { CUT: AppFlag.CUT, DNS_RESPONSE: AppFlag.DNS_RESPONSE, CODE: AppFlag.CODE };
  for (const [name, bit] of Object.entries(a)) if ((AppFlags as Record<string, number>)[name] !== bit) throw new Error(`text.ts: app flag ${name} is not layout.ts's`);
  // putCsvApp writes these columns in this order
  const csv = 'application app_flags sni alpn ja4 ja3 cert_cn tls_version dns_query dns_qtype dns_rcode dns_answers dns_answer http_method http_host user_agent http_status ssh_client ssh_server app_code';
  if (APP_COLUMNS.join(' ') !== csv) throw new Error("text.ts: the application columns are not app-columns.ts's");
}

// ------------------------------------------------------------------ the byte pool

/**
 * Every constant the lines are made of (keys with their punctuation, words),
 * as bytes in one pool: literal(s) gives its id. The pool is built on first
 * use (tables()), not when the CLI loads.
 */
const literals: string[] = [];
function literal(s: string): number {
  if (s.length > 255) throw new Error('literal too long');
  literals.push(s);
  return literals.length - 1;
}

const END_REASON_JSON = Array.from({ length: 256 }, (_, i) => literal(`,"endReason":"${END_REASONS[i] ?? 'flush'}","first":`));
const END_REASON_CSV = Array.from({ length: 256 }, (_, i) => literal(`${END_REASONS[i] ?? 'flush'},`));
/** protocolName() of an IP flow, by protocol number, with the comma after it */
const PROTOCOL_CSV = Array.from({ length: 256 }, (_, i) => literal(`${PROTOCOL_NAMES[i] ?? String(i)},`));
const bit = (flags: number, f: number) => ((flags & f) !== 0 ? 'true' : 'false');
/** "l2" and "tunnel", by the record's flags & 31 */
const FLAGS_JSON = Array.from({ length: 32 }, (_, f) => literal(`,"l2":${bit(f, Flag.L2)},"tunnel":${bit(f, Flag.TUNNEL)}`));
/** "fragments" .. "drops" and the icmpType key, by the record's flags & 31 */
const FLAGS2_JSON = Array.from({ length: 32 }, (_, f) =>
  literal(`,"fragments":${bit(f, Flag.FRAGMENTS)},"truncated":${bit(f, Flag.TRUNCATED)},"drops":${bit(f, Flag.DROPS)},"icmpType":`),
);
/** tunnelType and the tunnelId key (its value follows), by the tunnel type byte; none: both null */
const TUNNEL_JSON = Array.from({ length: 256 }, (_, i) =>
  literal(TUNNEL_TYPES[i] ? `,"tunnelType":"${TUNNEL_TYPES[i]}","tunnelId":` : ',"tunnelType":null,"tunnelId":null'),
);
/** the tunnel_type cell with the comma after it, by the tunnel type byte */
const TUNNEL_CSV = Array.from({ length: 256 }, (_, i) => literal(`${TUNNEL_TYPES[i] ?? ''},`));
/** the connState value with the history key after it, by the conn_state byte */
const CONN_JSON = Array.from({ length: 256 }, (_, i) => literal(`${CONN_STATES[i] ? `"${CONN_STATES[i]}"` : 'null'},"history":"`));
/** the conn_state cell with the comma after it */
const CONN_CSV = Array.from({ length: 256 }, (_, i) => literal(`${CONN_STATES[i] ?? ''},`));
/** `,"<flag>":` of the flag counters ('{"fin":' for the first) */
const FLAG_COUNT_JSON = TCP_FLAG_NAMES.map((name, i) => literal(`${i ? ',' : '{'}"${name}":`));
/** tunnel, fragments, truncated as CSV 0/1 with their commas, by flags & 31 */
const FLAGS_CSV = Array.from({ length: 32 }, (_, f) =>
  literal(`,${f & Flag.TUNNEL ? 1 : 0},${f & Flag.FRAGMENTS ? 1 : 0},${f & Flag.TRUNCATED ? 1 : 0},`),
);

const L = {
  flowId: literal('{"flowId":'),
  segment: literal(',"segment":'),
  last: literal(',"last":'),
  firstNs: literal(',"firstNs":"'),
  lastNs: literal('","lastNs":"'),
  durationMs: literal('","durationMs":'),
  ipVersion: literal(',"ipVersion":'),
  protocol: literal(',"protocol":'),
  src: literal(',"src":"'),
  dst: literal('","dst":"'),
  srcPort: literal('","srcPort":'),
  dstPort: literal(',"dstPort":'),
  vlan: literal(',"vlan":'),
  etherType: literal(',"etherType":'),
  srcMac: literal(',"srcMac":"'),
  dstMac: literal('","dstMac":"'),
  nullIcmp: literal('null,"icmpCode":null,"minTtl":'),
  icmpCode: literal(',"icmpCode":'),
  minTtl: literal(',"minTtl":'),
  maxTtl: literal(',"maxTtl":'),
  nullTtl: literal('null,"maxTtl":null'),
  srcMacVendor: literal('","srcMacVendor":'),
  dstMacVendor: literal(',"dstMacVendor":'),
  innerVlan: literal(',"innerVlan":'),
  fwdIpBytes: literal(',"fwdIpBytes":'),
  revIpBytes: literal(',"revIpBytes":'),
  fwdPayloadBytes: literal(',"fwdPayloadBytes":'),
  revPayloadBytes: literal(',"revPayloadBytes":'),
  fwdFirst: literal(',"fwdFirst":'),
  fwdLast: literal(',"fwdLast":'),
  revFirst: literal(',"revFirst":'),
  revLast: literal(',"revLast":'),
  connState: literal(',"connState":'),
  biStats: literal(',"biStats":'),
  fwdFlagCounts: literal(',"fwdFlagCounts":'),
  revFlagCounts: literal(',"revFlagCounts":'),
  splt: literal(',"splt":{"direction":['),
  spltSize: literal('],"size":['),
  spltIat: literal('],"iatMs":['),
  spltEnd: literal(']}'),
  fwdPackets: literal(',"fwdPackets":'),
  fwdBytes: literal(',"fwdBytes":'),
  revPackets: literal(',"revPackets":'),
  revBytes: literal(',"revBytes":'),
  packets: literal(',"packets":'),
  bytes: literal(',"bytes":'),
  fwdTcpFlags: literal(',"fwdTcpFlags":'),
  revTcpFlags: literal(',"revTcpFlags":'),
  communityId: literal(',"communityId":'),
  communityIdNull: literal(',"communityId":null'),
  arpSrcIp: literal(',"arpSrcIp":'),
  arpDstIp: literal(',"arpDstIp":'),
  fwdStats: literal(',"fwdStats":'),
  revStats: literal(',"revStats":'),
  sizeMin: literal('{"sizeMin":'),
  sizeMax: literal(',"sizeMax":'),
  sizeMean: literal(',"sizeMean":'),
  sizeStddev: literal(',"sizeStddev":'),
  iatMin: literal(',"iatMinMs":'),
  iatMax: literal(',"iatMaxMs":'),
  iatMean: literal(',"iatMeanMs":'),
  iatStddev: literal(',"iatStddevMs":'),
  null: literal('null'),
  ethPrefix: literal('eth:0x'),
  ',,': literal(',,'),
  tlsVersion: literal(',"tlsVersion":"'),
  dnsQtype: literal(',"dnsQtype":'),
  dnsRcode: literal(',"dnsRcode":'),
  dnsAnswers: literal(',"dnsAnswers":'),
  dnsAnswer: literal(',"dnsAnswer":"'),
  httpStatus: literal(',"httpStatus":'),
  appCode: literal(',"appCode":'),
  appCut: literal(',"appCut":true'),
  appNoneCsv: literal(','.repeat(APP_COLUMNS.length)),
};
/** `,"app":{"application":"<name>"` by application id (0: none) */
const APP_JSON = APPLICATIONS.map((name) => literal(`,"app":{"application":"${name}"`));
/** `,<name>,` by application id: the application column and the comma before app_flags */
const APP_CSV = APPLICATIONS.map((name) => literal(`,${name},`));
/** `,"<key>":"` by string id */
const APP_KEY_JSON = APP_STRINGS.map((name) => literal(`,"${name}":"`));

/**
 * The pool: literal n is LEN[n] bytes at AT[n] of POOL. lit() and num() copy
 * 8 bytes at a time as float64s, which is exact: every byte is ASCII (below
 * 0x7f) or zero, so no 8 of them are a NaN (the one value a float64 copy
 * may change). A copy may write up to 7 bytes past the literal: the next
 * write covers them, and a chunk always has room to spare (MAX_LINE).
 */
let AT = new Uint32Array(0);
let LEN = new Uint8Array(0);
let POOL = new DataView(new ArrayBuffer(0));

/**
 * The decimal digits of 0..65535 (ports, VLANs, addresses, small counters),
 * number n in the 8 bytes at n * 8 of NUM, NUM_LEN[n] of them; each is
 * filled on first use (0: not yet).
 */
const NUMBERS = 65536;
let NUM = new DataView(new ArrayBuffer(0));
let NUM_LEN = new Uint8Array(0);

function tables(): void {
  if (AT.length) return;
  const at = new Uint32Array(literals.length);
  const len = new Uint8Array(literals.length);
  let n = 0;
  for (let i = 0; i < literals.length; i++) {
    at[i] = n;
    len[i] = literals[i].length;
    n += literals[i].length;
  }
  const pool = Buffer.alloc(n + 8); // + 8: the last word read
  pool.write(literals.join(''), 0, 'latin1');
  AT = at;
  LEN = len;
  POOL = new DataView(pool.buffer, pool.byteOffset, pool.byteLength);
  NUM = new DataView(new ArrayBuffer(NUMBERS * 8));
  NUM_LEN = new Uint8Array(NUMBERS);
}

function fillNumber(n: number): number {
  const len = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 5;
  for (let i = len - 1, x = n; i >= 0; i--, x = (x / 10) | 0) NUM.setUint8(n * 8 + i, 48 + (x % 10));
  NUM_LEN[n] = len;
  return len;
}

/** Two lowercase hex digits of 0..255, as two char codes packed in one number (hi << 8 | lo). */
const HEX2 = Uint16Array.from({ length: 256 }, (_, i) => {
  const s = i.toString(16).padStart(2, '0');
  return (s.charCodeAt(0) << 8) | s.charCodeAt(1);
});
const HEXDIGIT = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const B64 = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) => c.charCodeAt(0));

/** ICMP type to counterpart type (Community ID), -1: one-way; as in community-id.ts */
const ICMP4_PAIRS = new Int16Array(256).fill(-1);
const ICMP6_PAIRS = new Int16Array(256).fill(-1);
for (const [a, b] of [[8, 0], [13, 14], [15, 16], [10, 9], [17, 18]]) {
  ICMP4_PAIRS[a] = b;
  ICMP4_PAIRS[b] = a;
}
for (const [a, b] of [[128, 129], [133, 134], [135, 136], [130, 131], [144, 145]]) {
  ICMP6_PAIRS[a] = b;
  ICMP6_PAIRS[b] = a;
}

// ------------------------------------------------------------------ writers: (out, p, ...) -> new p

/** A DataView of the chunk being written (lit() writes words) */
let outView: DataView = new DataView(new ArrayBuffer(8));

/** Literal `id` of the pool. */
function lit(out: Uint8Array, p: number, id: number): number {
  const end = p + LEN[id];
  const v = outView;
  const pool = POOL;
  for (let s = AT[id]; p < end; p += 8, s += 8) v.setFloat64(p, pool.getFloat64(s, true), true);
  return end;
}

/** 0 <= n < 65536 in decimal (8 bytes written: the next write covers the rest). */
function num(out: Uint8Array, p: number, n: number): number {
  let len = NUM_LEN[n];
  if (len === 0) len = fillNumber(n);
  outView.setFloat64(p, NUM.getFloat64(n * 8, true), true);
  return p + len;
}

function putString(out: Uint8Array, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[p++] = s.charCodeAt(i);
  return p;
}

/** A non-negative integer up to 2^53 - 1, in decimal. */
function putUint(out: Uint8Array, p: number, n: number): number {
  if (n < NUMBERS) return num(out, p, n);
  if (n <= 0x7fffffff) return putInt31(out, p, n);
  // above 2^31: two int32 halves (n % 1e8 and the quotient are exact)
  const lo = n % 1e8;
  p = putInt31(out, p, (n - lo) / 1e8);
  return putPad(out, p, lo, 8);
}

/** 0 <= n < 2^31 */
function putInt31(out: Uint8Array, p: number, n: number): number {
  let len = 1;
  for (let t = 10; n >= t && len < 10; t *= 10) len++;
  return putPad(out, p, n, len);
}

/** n (< 2^31) in exactly `len` digits (leading zeros). */
function putPad(out: Uint8Array, p: number, n: number, len: number): number {
  for (let i = len - 1; i >= 0; i--) {
    const q = (n / 10) | 0;
    out[p + i] = 48 + n - q * 10;
    n = q;
  }
  return p + len;
}

/** A number as JSON.stringify writes it (String(n), or null when not finite). */
function putNumber(out: Uint8Array, p: number, n: number): number {
  if (Number.isSafeInteger(n)) {
    if (n < 0) {
      out[p++] = 45; // -
      n = -n;
    }
    return putUint(out, p, n);
  }
  if (n !== n || n === Infinity || n === -Infinity) return lit(out, p, L.null);
  return putString(out, p, String(n));
}

/** A u64 as Flow reads it: a number (exact below 2^53). */
function u64(v: DataView, o: number): number {
  return v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
}

function putIPv4(out: Uint8Array, p: number, b: Uint8Array, o: number): number {
  p = num(out, p, b[o]);
  out[p++] = 46;
  p = num(out, p, b[o + 1]);
  out[p++] = 46;
  p = num(out, p, b[o + 2]);
  out[p++] = 46;
  return num(out, p, b[o + 3]);
}

function putHexWord(out: Uint8Array, p: number, w: number): number {
  if (w >= 0x1000) out[p++] = HEXDIGIT[w >> 12];
  if (w >= 0x100) out[p++] = HEXDIGIT[(w >> 8) & 15];
  if (w >= 0x10) out[p++] = HEXDIGIT[(w >> 4) & 15];
  out[p++] = HEXDIGIT[w & 15];
  return p;
}

const V4_MAPPED = Buffer.from('::ffff:');

/** RFC 5952 as formatIPv6 (IPv4-mapped addresses end in a dotted quad): the longest run (>= 2) of zero words compressed, the first on ties. */
function putIPv6(out: Uint8Array, p: number, b: Uint8Array, o: number): number {
  if (isV4Mapped(b, o)) {
    for (const c of V4_MAPPED) out[p++] = c;
    return putIPv4(out, p, b, o + 12);
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (b[o + 2 * i] !== 0 || b[o + 2 * i + 1] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && b[o + 2 * j] === 0 && b[o + 2 * j + 1] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const stop = best < 0 ? 8 : best;
  for (let i = 0; i < stop; i++) {
    if (i > 0) out[p++] = 58;
    p = putHexWord(out, p, (b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  }
  if (best < 0) return p;
  out[p++] = 58;
  out[p++] = 58;
  for (let i = best + bestLen; i < 8; i++) {
    if (i > best + bestLen) out[p++] = 58;
    p = putHexWord(out, p, (b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  }
  return p;
}

function putMac(out: Uint8Array, p: number, b: Uint8Array, o: number): number {
  let h = HEX2[b[o]];
  out[p] = h >> 8;
  out[p + 1] = h & 255;
  for (let i = 1; i < 6; i++) {
    h = HEX2[b[o + i]];
    out[p + 3 * i - 1] = 58;
    out[p + 3 * i] = h >> 8;
    out[p + 3 * i + 1] = h & 255;
  }
  return p + 17;
}

/** src / dst as Flow gives them: a MAC for layer-2 flows, else IPv4 for version 4 and IPv6 for any other. */
function putAddr(out: Uint8Array, p: number, b: Uint8Array, o: number, l2: boolean, v4: boolean): number {
  if (l2) return putMac(out, p, b, o);
  return v4 ? putIPv4(out, p, b, o) : putIPv6(out, p, b, o);
}

// ------------------------------------------------------------------ times

/**
 * A u64 of ns split exactly, with no BigInt and no floating remainder, into
 * whole ms tMs = tHi * 10^5 + tLo and the ns below a ms, tRem (tHi, tLo and
 * tRem are int32). The high 32 bits are the same from record to record
 * (they change every 4.3 s), so their share is kept: hi * 2^32 ns =
 * hi * 4294 * 10^6 + hi * 967296 ns; the low 32 bits add their quotient and
 * remainder by 10^6 (less than 4295 ms).
 */
let tMs = 0;
let tHi = 0;
let tLo = 0;
let tRem = 0;
let hiKey = -1;
let hiMs = 0;
let hiMsHi = 0;
let hiMsLo = 0;
let hiRem = 0;
function splitNs(v: DataView, o: number): void {
  const lo = v.getUint32(o, true);
  const hi = v.getUint32(o + 4, true);
  if (hi !== hiKey) {
    const t = hi * 967296; // < 2^53
    const r = t % 1e6;
    hiMs = hi * 4294 + (t - r) / 1e6; // < 1.9 * 10^13
    hiMsHi = Math.floor(hiMs / 1e5) | 0;
    hiMsLo = (hiMs - hiMsHi * 1e5) | 0;
    hiRem = r | 0;
    hiKey = hi;
  }
  const q = (lo / 1e6) | 0; // lo < 2^32: the quotient, below 4295
  let rem = hiRem + ((lo - q * 1e6) | 0);
  let ms = q;
  if (rem >= 1e6) {
    rem -= 1e6;
    ms++;
  }
  tRem = rem;
  tMs = hiMs + ms;
  tLo = hiMsLo + ms;
  tHi = hiMsHi;
  if (tLo >= 1e5) {
    tLo -= 1e5;
    tHi++;
  }
}

/** '000'..'999' as little-endian words (3 digits and a zero byte), '00'..'99' as 16-bit ones */
const PAD3 = new Uint32Array(1000);
const PAD2 = new Uint16Array(100);
for (let i = 0; i < 1000; i++) PAD3[i] = (48 + ((i / 100) | 0)) | ((48 + ((i / 10) % 10 | 0)) << 8) | ((48 + (i % 10)) << 16);
for (let i = 0; i < 100; i++) PAD2[i] = (48 + ((i / 10) | 0)) | ((48 + (i % 10)) << 8);

/** 0 <= n < 10^5 in exactly 5 digits (a word is written: the next write covers the extra byte) */
function putPad5(p: number, n: number): number {
  const a = (n / 1000) | 0;
  outView.setUint16(p, PAD2[a], true);
  outView.setUint32(p + 2, PAD3[n - a * 1000], true);
  return p + 5;
}

/** 0 <= n < 10^6 in exactly 6 digits (one extra byte written) */
function putPad6(p: number, n: number): number {
  const a = (n / 1000) | 0;
  outView.setUint32(p, PAD3[a], true);
  outView.setUint32(p + 3, PAD3[n - a * 1000], true);
  return p + 6;
}

/** The digits of tHi (the same for 100 s of records) are kept, and copied 16 bytes at a time (ASCII: a float64 copy is exact). */
const MS_HI = new Uint8Array(16);
const MS_HI_VIEW = new DataView(MS_HI.buffer);
let msHiKey = -1;
let msHiLen = 0;
function putMsHi(p: number, hi: number): number {
  if (hi !== msHiKey) {
    MS_HI.fill(0);
    msHiLen = putInt31(MS_HI, 0, hi);
    msHiKey = hi;
  }
  outView.setFloat64(p, MS_HI_VIEW.getFloat64(0, true), true);
  outView.setFloat64(p + 8, MS_HI_VIEW.getFloat64(8, true), true);
  return p + msHiLen;
}

/** Whole ms (hi * 10^5 + lo) in decimal. */
function putMs(out: Uint8Array, p: number, hi: number, lo: number): number {
  if (hi === 0) return putInt31(out, p, lo);
  return putPad5(putMsHi(p, hi), lo);
}

/** The ns ((hi * 10^5 + lo) * 10^6 + rem) as BigInt.prototype.toString prints them. */
function putNs(out: Uint8Array, p: number, hi: number, lo: number, rem: number): number {
  if (hi === 0 && lo === 0) return putInt31(out, p, rem);
  return putPad6(putMs(out, p, hi, lo), rem);
}

/** ms.nnnnnn, the ns exactly (columns.ts nsToMsText) */
function putMsExact(out: Uint8Array, p: number, hi: number, lo: number, rem: number): number {
  p = putMs(out, p, hi, lo);
  out[p] = 46;
  return putPad6(p + 1, rem);
}

const F64 = new Float64Array(1);
const F64_HI = new Uint32Array(F64.buffer, new Uint16Array(Uint8Array.of(1, 0).buffer)[0] === 1 ? 4 : 0, 1);
/** 2^(e - 1075): the ulp of a normal double whose biased exponent is e */
const ULP = Float64Array.from({ length: 2048 }, (_, e) => 2 ** (e - 1075));
/** 10^-j: the step of a decimal with j digits after the point */
const STEP = [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6];

function ulp(d: number): number {
  F64[0] = d;
  return ULP[(F64_HI[0] >>> 20) & 0x7ff];
}

/** Digits after the point of frac / 10^6 with the trailing zeros dropped (frac in 1..999999). */
function fracDigits(frac: number): number {
  if (frac % 1000 === 0) return frac % 100000 === 0 ? 1 : frac % 10000 === 0 ? 2 : 3;
  return frac % 10 !== 0 ? 6 : frac % 100 !== 0 ? 5 : 4;
}

/** '.' and the first j of the 6 digits of frac (leading zeros kept; all 6 are written, the next write covers the rest). */
function putFrac(out: Uint8Array, p: number, frac: number, j: number): number {
  out[p] = 46;
  putPad6(p + 1, frac);
  return p + 1 + j;
}

/*
 * Doubles as String() prints them, without String(): ECMAScript prints the
 * shortest decimal that reads back as the same double (the closest one if
 * several). A time in ms is x = int + frac / 10^6 exactly; when its double
 * d is the double nearest to x and the ulp of d is below 10^-j (j: the
 * digits x has after the point), x's own digits are that shortest decimal:
 * any other decimal of at most j digits is >= 10^-j away from x, so it
 * cannot read back as d (whose reading interval is one ulp wide), and no
 * decimal of fewer digits is x. Otherwise (ns timestamps, far dates) String().
 */

/** Flow.first / last: d = ms + rem / 1e6 (two roundings), ms = hi * 10^5 + lo. */
function putMsTime(out: Uint8Array, p: number, ms: number, hi: number, lo: number, rem: number): number {
  if (rem === 0) return putMs(out, p, hi, lo);
  const r = rem / 1e6;
  const d = ms + r;
  const j = fracDigits(rem);
  const u = ulp(d);
  // d - ms is exact (Sterbenz); r is within 2^-54 of rem / 10^6: d is the double nearest x
  // when it is closer than half an ulp by more than that
  if (u < STEP[j] && Math.abs(d - ms - r) + 1.2e-16 < u / 2) return putFrac(out, putMs(out, p, hi, lo), rem, j);
  return putString(out, p, String(d));
}

/** Flow.durationMs: Number(lastNs - firstNs) / 1e6 (one rounding of the exact ns). */
function putDuration(out: Uint8Array, p: number, ns: number): number {
  const d = ns / 1e6;
  if (!(ns >= -Number.MAX_SAFE_INTEGER && ns <= Number.MAX_SAFE_INTEGER)) return putNumber(out, p, d); // ns rounded: no exact digits
  if (ns < 0) {
    out[p++] = 45; // -
    ns = -ns;
  }
  let q = Math.floor(ns / 1e6); // may be one too many (the division rounds up)
  let frac = ns - q * 1e6; // exact: both below 2^53
  if (frac < 0) {
    q--;
    frac += 1e6;
  }
  frac |= 0;
  if (frac === 0) return putUint(out, p, q);
  const j = fracDigits(frac);
  if (ulp(d) < STEP[j]) return putFrac(out, putUint(out, p, q), frac, j);
  return putString(out, p, String(Math.abs(d)));
}

// ------------------------------------------------------------------ Community ID (single-block SHA-1)

/** The message block sha1() hashes (16 big-endian words) */
const W = new Int32Array(16);
/** The digest of the last sha1() */
const H = new Int32Array(5);

/**
 * SHA-1 of one 64-byte block, padding included, in W[0..15] (big-endian
 * words), into H. Unrolled: the message schedule lives in 16 locals and the
 * five working variables are renamed from round to round instead of moved
 * (about 1.7 times as fast as the rounds in loops over an 80-word array).
 * Rounds 40..59 add 0x8f1bbcdc and 60..79 0xca62c1d6, written as int32.
 */
function sha1(): void {
  let w0 = W[0], w1 = W[1], w2 = W[2], w3 = W[3], w4 = W[4], w5 = W[5], w6 = W[6], w7 = W[7];
  let w8 = W[8], w9 = W[9], w10 = W[10], w11 = W[11], w12 = W[12], w13 = W[13], w14 = W[14], w15 = W[15];
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  let e = 0xc3d2e1f0 | 0;
  let t = 0;
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w0) | 0;
  b = (b << 30) | (b >>> 2);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (~a & c)) + d + 0x5a827999 + w1) | 0;
  a = (a << 30) | (a >>> 2);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (~e & b)) + c + 0x5a827999 + w2) | 0;
  e = (e << 30) | (e >>> 2);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (~d & a)) + b + 0x5a827999 + w3) | 0;
  d = (d << 30) | (d >>> 2);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (~c & e)) + a + 0x5a827999 + w4) | 0;
  c = (c << 30) | (c >>> 2);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w5) | 0;
  b = (b << 30) | (b >>> 2);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (~a & c)) + d + 0x5a827999 + w6) | 0;
  a = (a << 30) | (a >>> 2);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (~e & b)) + c + 0x5a827999 + w7) | 0;
  e = (e << 30) | (e >>> 2);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (~d & a)) + b + 0x5a827999 + w8) | 0;
  d = (d << 30) | (d >>> 2);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (~c & e)) + a + 0x5a827999 + w9) | 0;
  c = (c << 30) | (c >>> 2);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w10) | 0;
  b = (b << 30) | (b >>> 2);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (~a & c)) + d + 0x5a827999 + w11) | 0;
  a = (a << 30) | (a >>> 2);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (~e & b)) + c + 0x5a827999 + w12) | 0;
  e = (e << 30) | (e >>> 2);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (~d & a)) + b + 0x5a827999 + w13) | 0;
  d = (d << 30) | (d >>> 2);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (~c & e)) + a + 0x5a827999 + w14) | 0;
  c = (c << 30) | (c >>> 2);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w15) | 0;
  b = (b << 30) | (b >>> 2);
  t = w13 ^ w8 ^ w2 ^ w0;
  w0 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (~a & c)) + d + 0x5a827999 + w0) | 0;
  a = (a << 30) | (a >>> 2);
  t = w14 ^ w9 ^ w3 ^ w1;
  w1 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (~e & b)) + c + 0x5a827999 + w1) | 0;
  e = (e << 30) | (e >>> 2);
  t = w15 ^ w10 ^ w4 ^ w2;
  w2 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (~d & a)) + b + 0x5a827999 + w2) | 0;
  d = (d << 30) | (d >>> 2);
  t = w0 ^ w11 ^ w5 ^ w3;
  w3 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (~c & e)) + a + 0x5a827999 + w3) | 0;
  c = (c << 30) | (c >>> 2);
  t = w1 ^ w12 ^ w6 ^ w4;
  w4 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w4) | 0;
  b = (b << 30) | (b >>> 2);
  t = w2 ^ w13 ^ w7 ^ w5;
  w5 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d + 0x6ed9eba1 + w5) | 0;
  a = (a << 30) | (a >>> 2);
  t = w3 ^ w14 ^ w8 ^ w6;
  w6 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c + 0x6ed9eba1 + w6) | 0;
  e = (e << 30) | (e >>> 2);
  t = w4 ^ w15 ^ w9 ^ w7;
  w7 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b + 0x6ed9eba1 + w7) | 0;
  d = (d << 30) | (d >>> 2);
  t = w5 ^ w0 ^ w10 ^ w8;
  w8 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a + 0x6ed9eba1 + w8) | 0;
  c = (c << 30) | (c >>> 2);
  t = w6 ^ w1 ^ w11 ^ w9;
  w9 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w9) | 0;
  b = (b << 30) | (b >>> 2);
  t = w7 ^ w2 ^ w12 ^ w10;
  w10 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d + 0x6ed9eba1 + w10) | 0;
  a = (a << 30) | (a >>> 2);
  t = w8 ^ w3 ^ w13 ^ w11;
  w11 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c + 0x6ed9eba1 + w11) | 0;
  e = (e << 30) | (e >>> 2);
  t = w9 ^ w4 ^ w14 ^ w12;
  w12 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b + 0x6ed9eba1 + w12) | 0;
  d = (d << 30) | (d >>> 2);
  t = w10 ^ w5 ^ w15 ^ w13;
  w13 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a + 0x6ed9eba1 + w13) | 0;
  c = (c << 30) | (c >>> 2);
  t = w11 ^ w6 ^ w0 ^ w14;
  w14 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w14) | 0;
  b = (b << 30) | (b >>> 2);
  t = w12 ^ w7 ^ w1 ^ w15;
  w15 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d + 0x6ed9eba1 + w15) | 0;
  a = (a << 30) | (a >>> 2);
  t = w13 ^ w8 ^ w2 ^ w0;
  w0 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c + 0x6ed9eba1 + w0) | 0;
  e = (e << 30) | (e >>> 2);
  t = w14 ^ w9 ^ w3 ^ w1;
  w1 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b + 0x6ed9eba1 + w1) | 0;
  d = (d << 30) | (d >>> 2);
  t = w15 ^ w10 ^ w4 ^ w2;
  w2 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a + 0x6ed9eba1 + w2) | 0;
  c = (c << 30) | (c >>> 2);
  t = w0 ^ w11 ^ w5 ^ w3;
  w3 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w3) | 0;
  b = (b << 30) | (b >>> 2);
  t = w1 ^ w12 ^ w6 ^ w4;
  w4 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d + 0x6ed9eba1 + w4) | 0;
  a = (a << 30) | (a >>> 2);
  t = w2 ^ w13 ^ w7 ^ w5;
  w5 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c + 0x6ed9eba1 + w5) | 0;
  e = (e << 30) | (e >>> 2);
  t = w3 ^ w14 ^ w8 ^ w6;
  w6 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b + 0x6ed9eba1 + w6) | 0;
  d = (d << 30) | (d >>> 2);
  t = w4 ^ w15 ^ w9 ^ w7;
  w7 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a + 0x6ed9eba1 + w7) | 0;
  c = (c << 30) | (c >>> 2);
  t = w5 ^ w0 ^ w10 ^ w8;
  w8 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + w8) | 0;
  b = (b << 30) | (b >>> 2);
  t = w6 ^ w1 ^ w11 ^ w9;
  w9 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (a & c) | (b & c)) + d - 0x70e44324 + w9) | 0;
  a = (a << 30) | (a >>> 2);
  t = w7 ^ w2 ^ w12 ^ w10;
  w10 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (e & b) | (a & b)) + c - 0x70e44324 + w10) | 0;
  e = (e << 30) | (e >>> 2);
  t = w8 ^ w3 ^ w13 ^ w11;
  w11 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (d & a) | (e & a)) + b - 0x70e44324 + w11) | 0;
  d = (d << 30) | (d >>> 2);
  t = w9 ^ w4 ^ w14 ^ w12;
  w12 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (c & e) | (d & e)) + a - 0x70e44324 + w12) | 0;
  c = (c << 30) | (c >>> 2);
  t = w10 ^ w5 ^ w15 ^ w13;
  w13 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + w13) | 0;
  b = (b << 30) | (b >>> 2);
  t = w11 ^ w6 ^ w0 ^ w14;
  w14 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (a & c) | (b & c)) + d - 0x70e44324 + w14) | 0;
  a = (a << 30) | (a >>> 2);
  t = w12 ^ w7 ^ w1 ^ w15;
  w15 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (e & b) | (a & b)) + c - 0x70e44324 + w15) | 0;
  e = (e << 30) | (e >>> 2);
  t = w13 ^ w8 ^ w2 ^ w0;
  w0 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (d & a) | (e & a)) + b - 0x70e44324 + w0) | 0;
  d = (d << 30) | (d >>> 2);
  t = w14 ^ w9 ^ w3 ^ w1;
  w1 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (c & e) | (d & e)) + a - 0x70e44324 + w1) | 0;
  c = (c << 30) | (c >>> 2);
  t = w15 ^ w10 ^ w4 ^ w2;
  w2 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + w2) | 0;
  b = (b << 30) | (b >>> 2);
  t = w0 ^ w11 ^ w5 ^ w3;
  w3 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (a & c) | (b & c)) + d - 0x70e44324 + w3) | 0;
  a = (a << 30) | (a >>> 2);
  t = w1 ^ w12 ^ w6 ^ w4;
  w4 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (e & b) | (a & b)) + c - 0x70e44324 + w4) | 0;
  e = (e << 30) | (e >>> 2);
  t = w2 ^ w13 ^ w7 ^ w5;
  w5 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (d & a) | (e & a)) + b - 0x70e44324 + w5) | 0;
  d = (d << 30) | (d >>> 2);
  t = w3 ^ w14 ^ w8 ^ w6;
  w6 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (c & e) | (d & e)) + a - 0x70e44324 + w6) | 0;
  c = (c << 30) | (c >>> 2);
  t = w4 ^ w15 ^ w9 ^ w7;
  w7 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + w7) | 0;
  b = (b << 30) | (b >>> 2);
  t = w5 ^ w0 ^ w10 ^ w8;
  w8 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + ((a & b) | (a & c) | (b & c)) + d - 0x70e44324 + w8) | 0;
  a = (a << 30) | (a >>> 2);
  t = w6 ^ w1 ^ w11 ^ w9;
  w9 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + ((e & a) | (e & b) | (a & b)) + c - 0x70e44324 + w9) | 0;
  e = (e << 30) | (e >>> 2);
  t = w7 ^ w2 ^ w12 ^ w10;
  w10 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + ((d & e) | (d & a) | (e & a)) + b - 0x70e44324 + w10) | 0;
  d = (d << 30) | (d >>> 2);
  t = w8 ^ w3 ^ w13 ^ w11;
  w11 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + ((c & d) | (c & e) | (d & e)) + a - 0x70e44324 + w11) | 0;
  c = (c << 30) | (c >>> 2);
  t = w9 ^ w4 ^ w14 ^ w12;
  w12 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + w12) | 0;
  b = (b << 30) | (b >>> 2);
  t = w10 ^ w5 ^ w15 ^ w13;
  w13 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d - 0x359d3e2a + w13) | 0;
  a = (a << 30) | (a >>> 2);
  t = w11 ^ w6 ^ w0 ^ w14;
  w14 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c - 0x359d3e2a + w14) | 0;
  e = (e << 30) | (e >>> 2);
  t = w12 ^ w7 ^ w1 ^ w15;
  w15 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b - 0x359d3e2a + w15) | 0;
  d = (d << 30) | (d >>> 2);
  t = w13 ^ w8 ^ w2 ^ w0;
  w0 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a - 0x359d3e2a + w0) | 0;
  c = (c << 30) | (c >>> 2);
  t = w14 ^ w9 ^ w3 ^ w1;
  w1 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + w1) | 0;
  b = (b << 30) | (b >>> 2);
  t = w15 ^ w10 ^ w4 ^ w2;
  w2 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d - 0x359d3e2a + w2) | 0;
  a = (a << 30) | (a >>> 2);
  t = w0 ^ w11 ^ w5 ^ w3;
  w3 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c - 0x359d3e2a + w3) | 0;
  e = (e << 30) | (e >>> 2);
  t = w1 ^ w12 ^ w6 ^ w4;
  w4 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b - 0x359d3e2a + w4) | 0;
  d = (d << 30) | (d >>> 2);
  t = w2 ^ w13 ^ w7 ^ w5;
  w5 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a - 0x359d3e2a + w5) | 0;
  c = (c << 30) | (c >>> 2);
  t = w3 ^ w14 ^ w8 ^ w6;
  w6 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + w6) | 0;
  b = (b << 30) | (b >>> 2);
  t = w4 ^ w15 ^ w9 ^ w7;
  w7 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d - 0x359d3e2a + w7) | 0;
  a = (a << 30) | (a >>> 2);
  t = w5 ^ w0 ^ w10 ^ w8;
  w8 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c - 0x359d3e2a + w8) | 0;
  e = (e << 30) | (e >>> 2);
  t = w6 ^ w1 ^ w11 ^ w9;
  w9 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b - 0x359d3e2a + w9) | 0;
  d = (d << 30) | (d >>> 2);
  t = w7 ^ w2 ^ w12 ^ w10;
  w10 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a - 0x359d3e2a + w10) | 0;
  c = (c << 30) | (c >>> 2);
  t = w8 ^ w3 ^ w13 ^ w11;
  w11 = (t << 1) | (t >>> 31);
  e = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e - 0x359d3e2a + w11) | 0;
  b = (b << 30) | (b >>> 2);
  t = w9 ^ w4 ^ w14 ^ w12;
  w12 = (t << 1) | (t >>> 31);
  d = (((e << 5) | (e >>> 27)) + (a ^ b ^ c) + d - 0x359d3e2a + w12) | 0;
  a = (a << 30) | (a >>> 2);
  t = w10 ^ w5 ^ w15 ^ w13;
  w13 = (t << 1) | (t >>> 31);
  c = (((d << 5) | (d >>> 27)) + (e ^ a ^ b) + c - 0x359d3e2a + w13) | 0;
  e = (e << 30) | (e >>> 2);
  t = w11 ^ w6 ^ w0 ^ w14;
  w14 = (t << 1) | (t >>> 31);
  b = (((c << 5) | (c >>> 27)) + (d ^ e ^ a) + b - 0x359d3e2a + w14) | 0;
  d = (d << 30) | (d >>> 2);
  t = w12 ^ w7 ^ w1 ^ w15;
  w15 = (t << 1) | (t >>> 31);
  a = (((b << 5) | (b >>> 27)) + (c ^ d ^ e) + a - 0x359d3e2a + w15) | 0;
  c = (c << 30) | (c >>> 2);
  H[0] = (a + 0x67452301) | 0;
  H[1] = (b + 0xefcdab89) | 0;
  H[2] = (c + 0x98badcfe) | 0;
  H[3] = (d + 0x10325476) | 0;
  H[4] = (e + 0xc3d2e1f0) | 0;
}

/**
 * Community ID v1 (seed 0, base64) of an IP flow record at b[o], as
 * Flow.communityId() and community-id.ts compute it: 1:… (quoted for JSON).
 */
function putCommunityId(out: Uint8Array, p: number, b: Uint8Array, v: DataView, o: number, v4: boolean, quote: boolean): number {
  const proto = b[o + K.Protocol];
  const n = v4 ? 4 : 16;
  const icmp = proto === 1 || proto === 58;
  let sport = icmp ? b[o + K.IcmpType] : v.getUint16(o + K.SrcPort, true);
  let dport = icmp ? b[o + K.IcmpCode] : v.getUint16(o + K.DstPort, true);
  let oneWay = false;
  if (icmp) {
    const counterpart = (proto === 1 ? ICMP4_PAIRS : ICMP6_PAIRS)[sport];
    if (counterpart < 0) oneWay = true;
    else dport = counterpart;
  }
  const hasPorts = proto === 6 || proto === 17 || proto === 132 || icmp;
  let a = o + K.SrcAddr;
  let z = o + K.DstAddr;
  if (!oneWay) {
    // Buffer.compare of the two addresses, then the ports
    let c = 0;
    for (let i = 0; i < n && c === 0; i++) c = b[a + i] - b[z + i];
    if (c > 0 || (c === 0 && sport > dport)) {
      a = o + K.DstAddr;
      z = o + K.SrcAddr;
      const t = sport;
      sport = dport;
      dport = t;
    }
  }
  // The message, straight into big-endian words: seed (0, 2 bytes), the two
  // addresses, protocol, a zero byte, the ports when it has them; then the
  // 0x80 pad byte and the length in bits in the last word.
  const w = W;
  let k: number; // words written
  let tail: number; // the last address word's low half shifted up, for the protocol word
  if (v4) {
    const x = v.getUint32(a, false);
    const y = v.getUint32(z, false);
    w[0] = x >>> 16;
    w[1] = (x << 16) | (y >>> 16);
    tail = y << 16;
    k = 2;
  } else {
    let prev = 0;
    for (let i = 0; i < 8; i++) {
      const x = v.getUint32((i < 4 ? a : z) + 4 * (i & 3), false);
      w[i] = i === 0 ? x >>> 16 : (prev << 16) | (x >>> 16);
      prev = x;
    }
    tail = prev << 16;
    k = 8;
  }
  w[k++] = tail | (proto << 8);
  if (hasPorts) w[k++] = (sport << 16) | dport;
  w[k] = 0x80000000 | 0;
  for (let i = k + 1; i < 15; i++) w[i] = 0;
  w[15] = k * 32; // the message's length in bits: k whole words (the seed fills the first word's top half)
  sha1();
  if (quote) out[p++] = 34; // "
  out[p++] = 49; // 1
  out[p++] = 58; // :
  // base64 of the 20 digest bytes: 6 groups of 3 bytes, then 2 bytes and '='
  const h = H;
  p = putB64(out, p, h[0] >>> 8);
  p = putB64(out, p, ((h[0] & 255) << 16) | (h[1] >>> 16));
  p = putB64(out, p, ((h[1] & 0xffff) << 8) | (h[2] >>> 24));
  p = putB64(out, p, h[2] & 0xffffff);
  p = putB64(out, p, h[3] >>> 8);
  p = putB64(out, p, ((h[3] & 255) << 16) | (h[4] >>> 16));
  const last = h[4] & 0xffff;
  out[p++] = B64[last >> 10];
  out[p++] = B64[(last >> 4) & 63];
  out[p++] = B64[(last << 2) & 63];
  out[p++] = 61; // =
  if (quote) out[p++] = 34;
  return p;
}

/** 24 bits as 4 base64 characters */
function putB64(out: Uint8Array, p: number, x: number): number {
  out[p] = B64[x >>> 18];
  out[p + 1] = B64[(x >> 12) & 63];
  out[p + 2] = B64[(x >> 6) & 63];
  out[p + 3] = B64[x & 63];
  return p + 4;
}

// ------------------------------------------------------------------ records

function putStats(out: Uint8Array, p: number, v: DataView, s: number): number {
  p = lit(out, p, L.sizeMin);
  p = putUint(out, p, v.getUint32(s + K.StatSizeMin, true));
  p = lit(out, p, L.sizeMax);
  p = putUint(out, p, v.getUint32(s + K.StatSizeMax, true));
  p = lit(out, p, L.sizeMean);
  p = putNumber(out, p, v.getFloat64(s + K.StatSizeMean, true));
  p = lit(out, p, L.sizeStddev);
  p = putNumber(out, p, v.getFloat64(s + K.StatSizeStddev, true));
  p = lit(out, p, L.iatMin);
  p = putDuration(out, p, u64(v, s + K.StatIatMin));
  p = lit(out, p, L.iatMax);
  p = putDuration(out, p, u64(v, s + K.StatIatMax));
  p = lit(out, p, L.iatMean);
  p = putNumber(out, p, v.getFloat64(s + K.StatIatMean, true) / 1e6);
  p = lit(out, p, L.iatStddev);
  p = putNumber(out, p, v.getFloat64(s + K.StatIatStddev, true) / 1e6);
  out[p++] = 125; // }
  return p;
}

/** The 8 flag counters at o as a JSON object (Flow's TcpFlagCounts). */
function putFlagCounts(out: Uint8Array, p: number, v: DataView, o: number): number {
  for (let i = 0; i < 8; i++) {
    p = lit(out, p, FLAG_COUNT_JSON[i]);
    p = putUint(out, p, v.getUint32(o + 4 * i, true));
  }
  out[p++] = 125; // }
  return p;
}

/** An SPLT inter-arrival (µs, u32) as ms: the exact decimal, which is what String() prints of u32 / 1000 (its ulp is far below 10^-3). */
function putIatUs(out: Uint8Array, p: number, us: number): number {
  const q = Math.floor(us / 1000);
  let r = us - q * 1000;
  p = putUint(out, p, q);
  if (r === 0) return p;
  out[p++] = 46;
  out[p++] = 48 + ((r / 100) | 0);
  r %= 100;
  if (r === 0) return p;
  out[p++] = 48 + ((r / 10) | 0);
  r %= 10;
  if (r !== 0) out[p++] = 48 + r;
  return p;
}

/** SPLT packets of the record at o (0: none). */
function spltCount(b: Uint8Array, o: number): number {
  const n = b[o + K.SpltCount];
  return n < K.SpltMax ? n : K.SpltMax;
}

/** The three SPLT arrays' contents: 0 directions, 1 sizes, 2 inter-arrival ms, comma-separated (no brackets). */
function putSpltList(out: Uint8Array, p: number, b: Uint8Array, v: DataView, o: number, n: number, which: number): number {
  const dirs = v.getUint32(o + K.SpltDirections, true);
  for (let i = 0; i < n; i++) {
    if (i) out[p++] = 44;
    if (which === 0) out[p++] = 48 + ((dirs >>> i) & 1);
    else if (which === 1) p = num(out, p, v.getUint16(o + K.SpltSizes + 2 * i, true));
    else p = putIatUs(out, p, v.getUint32(o + K.SpltIats + 4 * i, true));
  }
  return p;
}

/** Zeek's history bytes of the record at o, as the Flow getter's string (each byte one char) inside a JSON string or as a CSV cell. */
function putHistory(out: Uint8Array, p: number, b: Uint8Array, o: number, json: boolean): number {
  const at = o + K.History;
  let n = 0;
  let ascii = true;
  while (n < K.HistorySize && b[at + n] !== 0) if (b[at + n++] > 0x7f) ascii = false;
  if (ascii) return json ? putJsonChars(out, p, b, at, at + n) : putCsvChars(out, p, b, at, at + n);
  // bytes above 0x7f are chars U+0080..U+00FF: two bytes of UTF-8 each (rare: only a damaged record has them)
  const s = String.fromCharCode(...b.subarray(at, at + n));
  return putUtf8(out, p, json ? JSON.stringify(s).slice(1, -1) : csvCell(s));
}

/** The vendors of OUIs seen, as JSON values and as CSV cells (UTF-8 bytes): vendorOf() and its escaping once per OUI, not per flow. */
const VENDOR_JSON = new Map<number, Uint8Array>();
const VENDOR_CSV = new Map<number, Uint8Array>();
const NULL_BYTES = Buffer.from('null');
const EMPTY = new Uint8Array(0);

function putVendor(out: Uint8Array, p: number, b: Uint8Array, o: number, json: boolean): number {
  if (b[o] & 0x03) return json ? lit(out, p, L.null) : p; // group or locally administered: vendorOf() says null
  const oui = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
  const cache = json ? VENDOR_JSON : VENDOR_CSV;
  let bytes = cache.get(oui);
  if (bytes === undefined) {
    const vendor = vendorOf(b.subarray(o, o + 3));
    bytes = vendor === null ? (json ? NULL_BYTES : EMPTY) : Buffer.from(json ? JSON.stringify(vendor) : csvCell(vendor), 'utf8');
    if (cache.size >= 65536) cache.clear(); // random MACs: bounded
    cache.set(oui, bytes);
  }
  out.set(bytes, p);
  return p + bytes.length;
}

/** Number(lastNs - firstNs), exact while below 2^53 ns (104 days) */
function durationNs(v: DataView, o: number, fMs: number, fRem: number, lMs: number, lRem: number): number {
  const dMs = (lMs - fMs) * 1e6;
  if (dMs > -9e15 && dMs < 9e15) return dMs + (lRem - fRem);
  return Number(v.getBigUint64(o + K.LastNs, true) - v.getBigUint64(o + K.FirstNs, true));
}

/** One JSON line (with its '\n') of the record at b[o]: JSON.stringify(flow.toObject({ statistics })) + '\n'. */
function putJsonRecord(out: Uint8Array, p: number, b: Uint8Array, v: DataView, o: number, statistics: boolean): number {
  const flags = b[o + K.Flags];
  const l2 = (flags & Flag.L2) !== 0;
  const ipVersion = b[o + K.IpVersion];
  const v4 = ipVersion === 4;
  const proto = b[o + K.Protocol];
  const etherType = v.getUint16(o + K.EtherType, true);

  p = lit(out, p, L.flowId);
  p = putNumber(out, p, u64(v, o + K.FlowId));
  p = lit(out, p, L.segment);
  p = num(out, p, v.getUint16(o + K.Segment, true));
  p = lit(out, p, END_REASON_JSON[b[o + K.EndReason]]);
  splitNs(v, o + K.FirstNs);
  const fMs = tMs;
  const fHi = tHi;
  const fLo = tLo;
  const fRem = tRem;
  splitNs(v, o + K.LastNs);
  const lMs = tMs;
  const lRem = tRem;
  p = putMsTime(out, p, fMs, fHi, fLo, fRem);
  p = lit(out, p, L.last);
  p = putMsTime(out, p, lMs, tHi, tLo, lRem);
  p = lit(out, p, L.firstNs);
  p = putNs(out, p, fHi, fLo, fRem);
  p = lit(out, p, L.lastNs);
  p = putNs(out, p, tHi, tLo, lRem);
  p = lit(out, p, L.durationMs);
  p = putDuration(out, p, durationNs(v, o, fMs, fRem, lMs, lRem));
  p = lit(out, p, L.ipVersion);
  p = num(out, p, ipVersion);
  p = lit(out, p, L.protocol);
  p = num(out, p, proto);
  p = lit(out, p, L.src);
  p = putAddr(out, p, b, o + K.SrcAddr, l2, v4);
  p = lit(out, p, L.dst);
  p = putAddr(out, p, b, o + K.DstAddr, l2, v4);
  p = lit(out, p, L.srcPort);
  p = num(out, p, v.getUint16(o + K.SrcPort, true));
  p = lit(out, p, L.dstPort);
  p = num(out, p, v.getUint16(o + K.DstPort, true));
  p = lit(out, p, L.vlan);
  p = num(out, p, v.getUint16(o + K.Vlan, true));
  p = lit(out, p, L.innerVlan);
  p = num(out, p, v.getUint16(o + K.InnerVlan, true));
  p = lit(out, p, L.etherType);
  p = num(out, p, etherType);
  p = lit(out, p, L.srcMac);
  p = putMac(out, p, b, o + K.SrcMac);
  p = lit(out, p, L.dstMac);
  p = putMac(out, p, b, o + K.DstMac);
  p = lit(out, p, L.srcMacVendor);
  p = putVendor(out, p, b, o + K.SrcMac, true);
  p = lit(out, p, L.dstMacVendor);
  p = putVendor(out, p, b, o + K.DstMac, true);
  p = lit(out, p, FLAGS_JSON[flags & 31]);
  const tunnelType = b[o + K.TunnelType];
  p = lit(out, p, TUNNEL_JSON[tunnelType]);
  if (tunnelType !== 0 && tunnelType < TUNNEL_TYPES.length) p = putUint(out, p, v.getUint32(o + K.TunnelId, true));
  p = lit(out, p, FLAGS2_JSON[flags & 31]);
  if (!l2 && (proto === 1 || proto === 58)) {
    p = num(out, p, b[o + K.IcmpType]);
    p = lit(out, p, L.icmpCode);
    p = num(out, p, b[o + K.IcmpCode]);
    p = lit(out, p, L.minTtl);
  } else p = lit(out, p, L.nullIcmp);
  if (l2) p = lit(out, p, L.nullTtl);
  else {
    p = num(out, p, b[o + K.MinTtl]);
    p = lit(out, p, L.maxTtl);
    p = num(out, p, b[o + K.MaxTtl]);
  }
  p = lit(out, p, L.fwdPackets);
  const fwdPackets = u64(v, o + K.FwdPackets);
  const fwdBytes = u64(v, o + K.FwdBytes);
  const revPackets = u64(v, o + K.RevPackets);
  const revBytes = u64(v, o + K.RevBytes);
  p = putNumber(out, p, fwdPackets);
  p = lit(out, p, L.fwdBytes);
  p = putNumber(out, p, fwdBytes);
  p = lit(out, p, L.revPackets);
  p = putNumber(out, p, revPackets);
  p = lit(out, p, L.revBytes);
  p = putNumber(out, p, revBytes);
  p = lit(out, p, L.packets);
  p = putNumber(out, p, fwdPackets + revPackets);
  p = lit(out, p, L.bytes);
  p = putNumber(out, p, fwdBytes + revBytes);
  p = lit(out, p, L.fwdIpBytes);
  p = putNumber(out, p, u64(v, o + K.FwdIpBytes));
  p = lit(out, p, L.revIpBytes);
  p = putNumber(out, p, u64(v, o + K.RevIpBytes));
  p = lit(out, p, L.fwdPayloadBytes);
  p = putNumber(out, p, u64(v, o + K.FwdPayloadBytes));
  p = lit(out, p, L.revPayloadBytes);
  p = putNumber(out, p, u64(v, o + K.RevPayloadBytes));
  p = lit(out, p, L.fwdFirst);
  p = putMsTime(out, p, fMs, fHi, fLo, fRem);
  p = lit(out, p, L.fwdLast);
  p = putMsTimeAt(out, p, v, o + K.FwdLastNs);
  p = lit(out, p, L.revFirst);
  p = revPackets !== 0 ? putMsTimeAt(out, p, v, o + K.RevFirstNs) : lit(out, p, L.null);
  p = lit(out, p, L.revLast);
  p = revPackets !== 0 ? putMsTimeAt(out, p, v, o + K.RevLastNs) : lit(out, p, L.null);
  p = lit(out, p, L.fwdTcpFlags);
  p = num(out, p, b[o + K.FwdTcpFlags]);
  p = lit(out, p, L.revTcpFlags);
  p = num(out, p, b[o + K.RevTcpFlags]);
  p = lit(out, p, L.connState);
  p = lit(out, p, CONN_JSON[b[o + K.ConnState]]);
  p = putHistory(out, p, b, o, true);
  out[p++] = 34; // "
  if (l2) p = lit(out, p, L.communityIdNull);
  else {
    p = lit(out, p, L.communityId);
    p = putCommunityId(out, p, b, v, o, v4, true);
  }
  if (l2 && etherType === 0x0806) {
    p = lit(out, p, L.arpSrcIp);
    p = putArpIp(out, p, b, o + K.SrcAddr + K.ArpIp);
    p = lit(out, p, L.arpDstIp);
    p = putArpIp(out, p, b, o + K.DstAddr + K.ArpIp);
  }
  if (statistics) {
    p = lit(out, p, L.fwdStats);
    p = putStats(out, p, v, o + K.FwdStats);
    p = lit(out, p, L.revStats);
    p = putStats(out, p, v, o + K.RevStats);
    p = lit(out, p, L.biStats);
    p = putStats(out, p, v, o + K.BiStats);
    p = lit(out, p, L.fwdFlagCounts);
    p = putFlagCounts(out, p, v, o + K.FwdFlagCounts);
    p = lit(out, p, L.revFlagCounts);
    p = putFlagCounts(out, p, v, o + K.RevFlagCounts);
  }
  const n = spltCount(b, o);
  if (n !== 0) {
    p = lit(out, p, L.splt);
    p = putSpltList(out, p, b, v, o, n, 0);
    p = lit(out, p, L.spltSize);
    p = putSpltList(out, p, b, v, o, n, 1);
    p = lit(out, p, L.spltIat);
    p = putSpltList(out, p, b, v, o, n, 2);
    p = lit(out, p, L.spltEnd);
  }
  p = putJsonApp(out, p, b, v, o);
  out[p++] = 125; // }
  out[p++] = 10; // \n
  return p;
}

/** The u64 ns at o as Flow's ms (nsToMs). */
function putMsTimeAt(out: Uint8Array, p: number, v: DataView, o: number): number {
  splitNs(v, o);
  return putMsTime(out, p, tMs, tHi, tLo, tRem);
}

/** The u64 ns at o as CSV's exact ms. */
function putMsExactAt(out: Uint8Array, p: number, v: DataView, o: number): number {
  splitNs(v, o);
  return putMsExact(out, p, tHi, tLo, tRem);
}

function putArpIp(out: Uint8Array, p: number, b: Uint8Array, o: number): number {
  if ((b[o] | b[o + 1] | b[o + 2] | b[o + 3]) === 0) return lit(out, p, L.null);
  out[p++] = 34;
  p = putIPv4(out, p, b, o);
  out[p++] = 34;
  return p;
}

// ------------------------------------------------------------------ the application area

const SPANS = new Int32Array(2 * APP_STRINGS.length);
const NAPP = APPLICATIONS.length;

/** Whether every string of the area (the spans appStringSpans() found) is ASCII. */
function asciiStrings(b: Uint8Array): boolean {
  const spans = SPANS;
  for (let id = 1; id < APP_STRINGS.length; id++) {
    const end = spans[2 * id + 1];
    for (let i = spans[2 * id]; i >= 0 && i < end; i++) if (b[i] > 0x7f) return false;
  }
  return true;
}

/** ASCII bytes b[from, to) as the inside of a JSON string (JSON.stringify's escapes). */
function putJsonChars(out: Uint8Array, p: number, b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
      out[p++] = c;
      continue;
    }
    out[p++] = 92; // \
    if (c === 0x22 || c === 0x5c) out[p++] = c;
    else if (c === 8) out[p++] = 98; // b
    else if (c === 9) out[p++] = 116; // t
    else if (c === 10) out[p++] = 110; // n
    else if (c === 12) out[p++] = 102; // f
    else if (c === 13) out[p++] = 114; // r
    else {
      out[p++] = 117; // u
      out[p++] = 48;
      out[p++] = 48;
      out[p++] = HEXDIGIT[c >> 4];
      out[p++] = HEXDIGIT[c & 15];
    }
  }
  return p;
}

/** A string as UTF-8 bytes (the reference's path, for areas the fast one does not take). */
function putUtf8(out: Uint8Array, p: number, s: string): number {
  const bytes = Buffer.from(s, 'utf8');
  out.set(bytes, p);
  return p + bytes.length;
}

/** The `app` object of the record at b[o], with its key (Flow.toObject()), or nothing when it has no application. */
function putJsonApp(out: Uint8Array, p: number, b: Uint8Array, v: DataView, o: number): number {
  const id = b[o + K.Application];
  if (id === 0 || id >= NAPP) return p;
  if (!appStringSpans(b, o, SPANS) || !asciiStrings(b)) return putUtf8(out, p, `,"app":${JSON.stringify(new Flow(v, b, o).app)}`);
  p = lit(out, p, APP_JSON[id]);
  // the strings in the order of the area (as Flow.app adds them)
  const end = o + K.AppEnd;
  for (let q = o + K.AppStrings; q + 2 <= end && b[q] !== 0; q += 2 + b[q + 1]) {
    const s = b[q];
    p = lit(out, p, APP_KEY_JSON[s]);
    p = putJsonChars(out, p, b, SPANS[2 * s], SPANS[2 * s + 1]);
    out[p++] = 34;
  }
  const tls = v.getUint16(o + K.TlsVersion, true);
  if (tls) {
    p = lit(out, p, L.tlsVersion);
    p = putString(out, p, tlsVersionName(tls));
    out[p++] = 34;
  }
  const qtype = v.getUint16(o + K.DnsQtype, true);
  if (qtype) {
    p = lit(out, p, L.dnsQtype);
    p = num(out, p, qtype);
  }
  const flags = b[o + K.AppFlags];
  if (flags & AppFlag.DNS_RESPONSE) {
    p = lit(out, p, L.dnsRcode);
    p = num(out, p, b[o + K.DnsRcode]);
    p = lit(out, p, L.dnsAnswers);
    p = num(out, p, v.getUint16(o + K.DnsAnswers, true));
  }
  const version = b[o + K.DnsAnswerVersion];
  if (version === 4 || version === 6) {
    p = lit(out, p, L.dnsAnswer);
    p = version === 4 ? putIPv4(out, p, b, o + K.DnsAnswerAddr) : putIPv6(out, p, b, o + K.DnsAnswerAddr);
    out[p++] = 34;
  }
  const status = v.getUint16(o + K.HttpStatus, true);
  if (status) {
    p = lit(out, p, L.httpStatus);
    p = num(out, p, status);
  }
  if (flags & AppFlag.CODE) {
    p = lit(out, p, L.appCode);
    p = num(out, p, v.getUint16(o + K.AppCode, true));
  }
  if (flags & AppFlag.CUT) p = lit(out, p, L.appCut);
  out[p++] = 125; // }
  return p;
}

/** An ASCII string b[from, to) as csvCell writes it: quoted (quotes doubled) when it holds a quote, comma, CR or LF. */
function putCsvChars(out: Uint8Array, p: number, b: Uint8Array, from: number, to: number): number {
  let quote = false;
  for (let i = from; i < to && !quote; i++) {
    const c = b[i];
    quote = c === 0x22 || c === 0x2c || c === 0x0d || c === 0x0a;
  }
  if (!quote) {
    for (let i = from; i < to; i++) out[p++] = b[i];
    return p;
  }
  out[p++] = 34;
  for (let i = from; i < to; i++) {
    if (b[i] === 0x22) out[p++] = 34;
    out[p++] = b[i];
  }
  out[p++] = 34;
  return p;
}

/** A string column: a comma, then the string of id `s` if the area has it. */
function putCsvString(out: Uint8Array, p: number, b: Uint8Array, s: number): number {
  out[p++] = 44;
  return SPANS[2 * s] < 0 ? p : putCsvChars(out, p, b, SPANS[2 * s], SPANS[2 * s + 1]);
}

/** The application columns of the record at b[o], each after its comma (appCsvCells()). */
function putCsvApp(out: Uint8Array, p: number, b: Uint8Array, v: DataView, o: number): number {
  const id = b[o + K.Application];
  if (id === 0 || id >= NAPP) return lit(out, p, L.appNoneCsv);
  appStringSpans(b, o, SPANS);
  if (!asciiStrings(b)) return putUtf8(out, p, ',' + appCsvCells(new Flow(v, b, o)).map(csvCell).join(','));
  const flags = b[o + K.AppFlags];
  const response = (flags & AppFlag.DNS_RESPONSE) !== 0;
  p = lit(out, p, APP_CSV[id]);
  p = num(out, p, flags);
  for (let s = 1; s <= 5; s++) p = putCsvString(out, p, b, s); // sni alpn ja4 ja3 cert_cn
  out[p++] = 44;
  const tls = v.getUint16(o + K.TlsVersion, true);
  if (tls) p = putString(out, p, tlsVersionName(tls));
  p = putCsvString(out, p, b, 6); // dns_query
  out[p++] = 44;
  const qtype = v.getUint16(o + K.DnsQtype, true);
  if (qtype) p = num(out, p, qtype);
  out[p++] = 44;
  if (response) p = num(out, p, b[o + K.DnsRcode]);
  out[p++] = 44;
  if (response) p = num(out, p, v.getUint16(o + K.DnsAnswers, true));
  out[p++] = 44;
  const version = b[o + K.DnsAnswerVersion];
  if (version === 4) p = putIPv4(out, p, b, o + K.DnsAnswerAddr);
  else if (version === 6) p = putIPv6(out, p, b, o + K.DnsAnswerAddr);
  for (let s = 7; s <= 9; s++) p = putCsvString(out, p, b, s); // http_method http_host user_agent
  out[p++] = 44;
  const status = v.getUint16(o + K.HttpStatus, true);
  if (status) p = num(out, p, status);
  p = putCsvString(out, p, b, 10); // ssh_client
  p = putCsvString(out, p, b, 11); // ssh_server
  out[p++] = 44;
  if (flags & AppFlag.CODE) p = num(out, p, v.getUint16(o + K.AppCode, true));
  return p;
}

/** One CSV line (with its '\n') of the record at b[o]: csvRow(flow, { statistics, splt }) + '\n'. Only the application's strings, the vendors, the history and SPLT may need quoting. */
function putCsvRecord(out: Uint8Array, p: number, b: Uint8Array, v: DataView, o: number, statistics: boolean, splt: boolean): number {
  const flags = b[o + K.Flags];
  const l2 = (flags & Flag.L2) !== 0;
  const ipVersion = b[o + K.IpVersion];
  const v4 = ipVersion === 4;
  const proto = b[o + K.Protocol];

  p = putNumber(out, p, u64(v, o + K.FlowId));
  out[p++] = 44;
  p = num(out, p, v.getUint16(o + K.Segment, true));
  out[p++] = 44;
  p = lit(out, p, END_REASON_CSV[b[o + K.EndReason]]);
  splitNs(v, o + K.FirstNs);
  const fMs = tMs;
  const fRem = tRem;
  p = putMsExact(out, p, tHi, tLo, tRem);
  out[p++] = 44;
  splitNs(v, o + K.LastNs);
  const lMs = tMs;
  const lRem = tRem;
  p = putMsExact(out, p, tHi, tLo, tRem);
  out[p++] = 44;
  if (l2) {
    p = lit(out, p, L.ethPrefix);
    const et = v.getUint16(o + K.EtherType, true);
    const h = HEX2[et >> 8];
    const l = HEX2[et & 255];
    out[p++] = h >> 8;
    out[p++] = h & 255;
    out[p++] = l >> 8;
    out[p++] = l & 255;
    out[p++] = 44;
  } else p = lit(out, p, PROTOCOL_CSV[proto]);
  p = num(out, p, ipVersion);
  out[p++] = 44;
  p = putAddr(out, p, b, o + K.SrcAddr, l2, v4);
  out[p++] = 44;
  p = num(out, p, v.getUint16(o + K.SrcPort, true));
  out[p++] = 44;
  p = putAddr(out, p, b, o + K.DstAddr, l2, v4);
  out[p++] = 44;
  p = num(out, p, v.getUint16(o + K.DstPort, true));
  out[p++] = 44;
  p = num(out, p, v.getUint16(o + K.Vlan, true));
  out[p++] = 44;
  p = putNumber(out, p, u64(v, o + K.FwdPackets));
  out[p++] = 44;
  p = putNumber(out, p, u64(v, o + K.FwdBytes));
  out[p++] = 44;
  p = putNumber(out, p, u64(v, o + K.RevPackets));
  out[p++] = 44;
  p = putNumber(out, p, u64(v, o + K.RevBytes));
  out[p++] = 44;
  p = num(out, p, b[o + K.FwdTcpFlags]);
  out[p++] = 44;
  p = num(out, p, b[o + K.RevTcpFlags]);
  out[p++] = 44;
  if (!l2 && (proto === 1 || proto === 58)) {
    p = num(out, p, b[o + K.IcmpType]);
    out[p++] = 44;
    p = num(out, p, b[o + K.IcmpCode]);
    out[p++] = 44;
  } else p = lit(out, p, L[',,']);
  p = putMac(out, p, b, o + K.SrcMac);
  out[p++] = 44;
  p = putMac(out, p, b, o + K.DstMac);
  p = lit(out, p, FLAGS_CSV[flags & 31]);
  if (!l2) p = putCommunityId(out, p, b, v, o, v4, false);
  p = putCsvApp(out, p, b, v, o);
  // field list v2 (columns.ts CSV_V2_COLUMNS)
  out[p++] = 44;
  p = num(out, p, v.getUint16(o + K.InnerVlan, true));
  out[p++] = 44;
  p = putVendor(out, p, b, o + K.SrcMac, false);
  out[p++] = 44;
  p = putVendor(out, p, b, o + K.DstMac, false);
  out[p++] = 44;
  const tunnelType = b[o + K.TunnelType];
  p = lit(out, p, TUNNEL_CSV[tunnelType]);
  if (tunnelType !== 0 && tunnelType < TUNNEL_TYPES.length) p = putUint(out, p, v.getUint32(o + K.TunnelId, true));
  out[p++] = 44;
  if (!l2) p = num(out, p, b[o + K.MinTtl]);
  out[p++] = 44;
  if (!l2) p = num(out, p, b[o + K.MaxTtl]);
  out[p++] = 44;
  out[p++] = flags & Flag.DROPS ? 49 : 48;
  for (let k = K.FwdIpBytes; k <= K.RevPayloadBytes; k += 8) {
    out[p++] = 44;
    p = putNumber(out, p, u64(v, o + k));
  }
  out[p++] = 44;
  p = putMsExactAt(out, p, v, o + K.FirstNs);
  out[p++] = 44;
  p = putMsExactAt(out, p, v, o + K.FwdLastNs);
  out[p++] = 44;
  const rev = u64(v, o + K.RevPackets) !== 0;
  if (rev) p = putMsExactAt(out, p, v, o + K.RevFirstNs);
  out[p++] = 44;
  if (rev) p = putMsExactAt(out, p, v, o + K.RevLastNs);
  out[p++] = 44;
  p = lit(out, p, CONN_CSV[b[o + K.ConnState]]);
  p = putHistory(out, p, b, o, false);
  out[p++] = 44;
  p = putCsvDuration(out, p, v, o, fMs, fRem, lMs, lRem);
  if (statistics) {
    p = putCsvStats(out, p, v, o + K.FwdStats);
    p = putCsvStats(out, p, v, o + K.RevStats);
    p = putCsvStats(out, p, v, o + K.BiStats);
    // fwd then rev counters: 16 u32 in a row
    for (let c = o + K.FwdFlagCounts; c < o + K.RevFlagCounts + 32; c += 4) {
      out[p++] = 44;
      p = putUint(out, p, v.getUint32(c, true));
    }
  }
  if (splt) {
    const n = spltCount(b, o);
    for (let which = 0; which < 3; which++) {
      out[p++] = 44;
      if (n === 0) continue;
      if (n > 1) out[p++] = 34; // the commas between elements: csvCell quotes
      out[p++] = 91; // [
      p = putSpltList(out, p, b, v, o, n, which);
      out[p++] = 93; // ]
      if (n > 1) out[p++] = 34;
    }
  }
  out[p++] = 10;
  return p;
}

/** A statistics block as 8 CSV cells, each after its comma: numbers as String() prints them (NaN, Infinity too). */
function putCsvStats(out: Uint8Array, p: number, v: DataView, s: number): number {
  out[p++] = 44;
  p = putUint(out, p, v.getUint32(s + K.StatSizeMin, true));
  out[p++] = 44;
  p = putUint(out, p, v.getUint32(s + K.StatSizeMax, true));
  out[p++] = 44;
  p = putCsvNumber(out, p, v.getFloat64(s + K.StatSizeMean, true));
  out[p++] = 44;
  p = putCsvNumber(out, p, v.getFloat64(s + K.StatSizeStddev, true));
  out[p++] = 44;
  p = putDuration(out, p, u64(v, s + K.StatIatMin));
  out[p++] = 44;
  p = putDuration(out, p, u64(v, s + K.StatIatMax));
  out[p++] = 44;
  p = putCsvNumber(out, p, v.getFloat64(s + K.StatIatMean, true) / 1e6);
  out[p++] = 44;
  return putCsvNumber(out, p, v.getFloat64(s + K.StatIatStddev, true) / 1e6);
}

/** String(n): putNumber but for NaN and the infinities, which CSV prints as words. */
function putCsvNumber(out: Uint8Array, p: number, n: number): number {
  return n === n && n !== Infinity && n !== -Infinity ? putNumber(out, p, n) : putString(out, p, String(n));
}

/** duration_ms: lastNs - firstNs as exact ms (columns.ts nsToMsText). */
function putCsvDuration(out: Uint8Array, p: number, v: DataView, o: number, fMs: number, fRem: number, lMs: number, lRem: number): number {
  let ms = lMs - fMs; // exact: both below 2^45
  let rem = lRem - fRem;
  if (rem < 0) {
    rem += 1e6;
    ms--;
  }
  if (ms >= 0) return putMsExact(out, p, Math.floor(ms / 1e5), ms % 1e5, rem);
  // negative (last before first: a damaged record)
  return putString(out, p, nsToMsText(v.getBigUint64(o + K.LastNs, true) - v.getBigUint64(o + K.FirstNs, true)));
}

// ------------------------------------------------------------------ the formatter

/**
 * Formats FlowBatches as JSON lines or CSV into Buffers of about
 * `chunkSize` bytes: call chunk(batch, i) until it returns next ===
 * batch.length, writing each chunk (the caller can wait for 'drain'
 * between chunks). The CSV header is header(), not part of the chunks.
 */
export class TextFormatter {
  readonly format: TextFormat;
  readonly #statistics: boolean;
  readonly #splt: boolean;
  readonly #chunkSize: number;

  constructor(format: TextFormat, options: TextFormatterOptions = {}) {
    if (format !== 'jsonl' && format !== 'csv') throw new TypeError(`unknown text format '${String(format)}'`);
    this.format = format;
    this.#statistics = options.statistics === true;
    this.#splt = (options.splt ?? 0) > 0;
    this.#chunkSize = Math.max(MAX_LINE * 2, options.chunkSize ?? 64 * 1024);
    tables();
  }

  /** The CSV header line with its '\n' ('' for JSON lines). */
  header(): string {
    return this.format === 'csv' ? csvHeader({ statistics: this.#statistics, splt: this.#splt ? 1 : 0 }) + '\n' : '';
  }

  /**
   * Lines of the records `start`.. of `batch`, as many as fit in one chunk
   * (at least one): the chunk and the index of the first record not in it.
   * The chunk is a new Buffer of chunkSize, or part of `into` when given (a
   * Buffer the caller reuses once it is written; at least 16 KiB).
   */
  chunk(batch: FlowBatch, start = 0, into?: Buffer): { chunk: Buffer; next: number } {
    const b = new Uint8Array(batch.buffer);
    const v = new DataView(batch.buffer);
    const n = batch.length;
    const out = into ?? Buffer.allocUnsafeSlow(this.#chunkSize);
    if (out.length < MAX_LINE * 2) throw new RangeError(`a chunk needs at least ${MAX_LINE * 2} bytes`);
    outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const limit = out.length - MAX_LINE;
    const json = this.format === 'jsonl';
    const stats = this.#statistics;
    const splt = this.#splt;
    let p = 0;
    let i = start;
    for (; i < n && p <= limit; i++) {
      const o = i * K.Record;
      p = json ? putJsonRecord(out, p, b, v, o, stats) : putCsvRecord(out, p, b, v, o, stats, splt);
    }
    return { chunk: out.subarray(0, p), next: i };
  }

  /** The line of one record (without its '\n'). */
  line(batch: FlowBatch, index: number): string {
    if (!(index >= 0 && index < batch.length)) throw new RangeError(`record ${index} out of range 0..${batch.length - 1}`);
    const b = new Uint8Array(batch.buffer);
    const v = new DataView(batch.buffer);
    const out = scratch();
    outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const o = index * K.Record;
    const p = this.format === 'jsonl' ? putJsonRecord(out, 0, b, v, o, this.#statistics) : putCsvRecord(out, 0, b, v, o, this.#statistics, this.#splt);
    return out.toString('utf8', 0, p - 1); // ASCII but for vendors and the application's strings
  }
}

let scratchBuf: Buffer | undefined;
function scratch(): Buffer {
  return (scratchBuf ??= Buffer.allocUnsafeSlow(MAX_LINE));
}

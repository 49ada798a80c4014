/**
 * Lazy views over FlowBatch records: a Flow reads its fields from the batch
 * buffer only when asked, so a batch of thousands of records creates no
 * objects until they are needed.
 *
 * Counters are `number`s (exact up to 2^53 packets/bytes). Timestamps are
 * given both as bigint nanoseconds (`firstNs`) and as float milliseconds
 * since the epoch (`first`, Date-compatible).
 */
import { formatIPv4, formatIPv6, formatMac } from './address';
import { communityId, type CommunityIdOptions } from './community-id';
import { vendorOf } from '../devices/oui';
import {
  APP_STRINGS, APPLICATIONS, AppFlags, CONN_STATES, END_REASONS, Offsets as O, RECORD_SIZE, RecordFlags, TCP_FLAG_NAMES, TUNNEL_TYPES,
  type AppStringName, type Application, type ConnState, type EndReason, type TunnelType,
} from './layout';

/** Sizes (accounted bytes) and inter-arrival times (ms) of a direction's packets, or of both directions'; standard deviations are population ones. */
export interface DirectionStats {
  sizeMin: number;
  sizeMax: number;
  sizeMean: number;
  sizeStddev: number;
  iatMinMs: number;
  iatMaxMs: number;
  iatMeanMs: number;
  iatStddevMs: number;
}

/** Packets that carried each TCP flag, in one direction. */
export type TcpFlagCounts = Record<(typeof TCP_FLAG_NAMES)[number], number>;

/** The first packets of a flow (nfstream's SPLT), in order: direction 0 src -> dst, 1 dst -> src; size in accounted bytes; ms since the flow's previous packet (0 for the first). */
export interface Splt {
  direction: number[];
  size: number[];
  iatMs: number[];
}

/**
 * A flow as plain data (field list v2, docs/fields.md): times in ms since the
 * epoch (firstNs/lastNs: the exact ns as strings), durations and
 * inter-arrival times in ms.
 */
export interface FlowObject {
  flowId: number;
  segment: number;
  endReason: EndReason | 'open';
  first: number;
  last: number;
  firstNs: string;
  lastNs: string;
  durationMs: number;
  ipVersion: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  vlan: number;
  innerVlan: number;
  etherType: number;
  srcMac: string;
  dstMac: string;
  srcMacVendor: string | null;
  dstMacVendor: string | null;
  l2: boolean;
  tunnel: boolean;
  tunnelType: TunnelType | null;
  tunnelId: number | null;
  fragments: boolean;
  truncated: boolean;
  drops: boolean;
  icmpType: number | null;
  icmpCode: number | null;
  minTtl: number | null;
  maxTtl: number | null;
  fwdPackets: number;
  fwdBytes: number;
  revPackets: number;
  revBytes: number;
  packets: number;
  bytes: number;
  fwdIpBytes: number;
  revIpBytes: number;
  fwdPayloadBytes: number;
  revPayloadBytes: number;
  fwdFirst: number;
  fwdLast: number;
  revFirst: number | null;
  revLast: number | null;
  fwdTcpFlags: number;
  revTcpFlags: number;
  connState: ConnState | null;
  history: string;
  communityId: string | null;
  /** ARP flows only */
  arpSrcIp?: string | null;
  arpDstIp?: string | null;
  /** with `statistics` */
  fwdStats?: DirectionStats;
  revStats?: DirectionStats;
  biStats?: DirectionStats;
  fwdFlagCounts?: TcpFlagCounts;
  revFlagCounts?: TcpFlagCounts;
  /** with `splt` > 0 */
  splt?: Splt;
  /** what the payload said (docs/applications.md); present when an application was found */
  app?: AppInfo;
}

/** The application area of a record; absent fields were not seen. */
export interface AppInfo {
  application: Application;
  sni?: string;
  alpn?: string;
  ja4?: string;
  ja3?: string;
  certCn?: string;
  /** the server's TLS version, e.g. '1.3' */
  tlsVersion?: string;
  dnsQuery?: string;
  dnsQtype?: number;
  dnsRcode?: number;
  dnsAnswers?: number;
  /** the first A / AAAA answer of the first response */
  dnsAnswer?: string;
  httpMethod?: string;
  httpHost?: string;
  userAgent?: string;
  httpStatus?: number;
  sshClient?: string;
  sshServer?: string;
  /** Modbus / DNP3 function code, S7comm ROSCTR, EtherNet/IP command, BVLC function, MQTT protocol level */
  appCode?: number;
  /** a string was cut to fit the record */
  appCut?: boolean;
}

const TLS_VERSIONS: Record<number, string> = {
  0x0300: 'ssl3', 0x0301: '1.0', 0x0302: '1.1', 0x0303: '1.2', 0x0304: '1.3', 0xfeff: 'dtls1.0', 0xfefd: 'dtls1.2', 0xfefc: 'dtls1.3',
};

/** TLS version number as text ('1.3'); unknown numbers as 0x hex. */
export function tlsVersionName(v: number): string {
  return TLS_VERSIONS[v] ?? `0x${v.toString(16).padStart(4, '0')}`;
}

const utf8 = new TextDecoder();

function u64(v: DataView, o: number): number {
  return v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
}

/** ns to ms with the fraction: whole ms stay exact (ns as a double rounds above 2^53, i.e. any date after 1970-04). */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

export class Flow {
  readonly #v: DataView;
  readonly #b: Uint8Array;
  readonly #o: number;

  constructor(view: DataView, bytes: Uint8Array, offset: number) {
    this.#v = view;
    this.#b = bytes;
    this.#o = offset;
  }

  get flowId(): number { return u64(this.#v, this.#o + O.kFlowId); }
  get segment(): number { return this.#v.getUint16(this.#o + O.kSegment, true); }
  get endReason(): EndReason | 'open' { return END_REASONS[this.#b[this.#o + O.kEndReason]] ?? 'flush'; }
  get firstNs(): bigint { return this.#v.getBigUint64(this.#o + O.kFirstNs, true); }
  get lastNs(): bigint { return this.#v.getBigUint64(this.#o + O.kLastNs, true); }
  /** ms since the epoch, with sub-ms fraction */
  get first(): number { return nsToMs(this.firstNs); }
  get last(): number { return nsToMs(this.lastNs); }
  get durationMs(): number { return Number(this.lastNs - this.firstNs) / 1e6; }
  get ipVersion(): number { return this.#b[this.#o + O.kIpVersion]; }
  get protocol(): number { return this.#b[this.#o + O.kProtocol]; }
  get flags(): number { return this.#b[this.#o + O.kFlags]; }
  get l2(): boolean { return (this.flags & RecordFlags.L2) !== 0; }
  get tunnel(): boolean { return (this.flags & RecordFlags.TUNNEL) !== 0; }
  get fragments(): boolean { return (this.flags & RecordFlags.FRAGMENTS) !== 0; }
  get truncated(): boolean { return (this.flags & RecordFlags.TRUNCATED) !== 0; }
  get drops(): boolean { return (this.flags & RecordFlags.DROPS) !== 0; }
  get srcAddrBytes(): Uint8Array { return this.#addrBytes(O.kSrcAddr); }
  get dstAddrBytes(): Uint8Array { return this.#addrBytes(O.kDstAddr); }
  get src(): string { return this.#addr(O.kSrcAddr); }
  get dst(): string { return this.#addr(O.kDstAddr); }
  get srcPort(): number { return this.#v.getUint16(this.#o + O.kSrcPort, true); }
  get dstPort(): number { return this.#v.getUint16(this.#o + O.kDstPort, true); }
  get vlan(): number { return this.#v.getUint16(this.#o + O.kVlan, true); }
  get etherType(): number { return this.#v.getUint16(this.#o + O.kEtherType, true); }
  get srcMac(): string { return formatMac(this.#b, this.#o + O.kSrcMac); }
  /** ARP flows: the IPv4 address the first ARP packet gave for the sender (src) / target (dst) end, else null. */
  get arpSrcIp(): string | null { return this.#arpIp(O.kSrcAddr); }
  get arpDstIp(): string | null { return this.#arpIp(O.kDstAddr); }
  get dstMac(): string { return formatMac(this.#b, this.#o + O.kDstMac); }
  get icmpType(): number | null { return this.#isIcmp() ? this.#b[this.#o + O.kIcmpType] : null; }
  get icmpCode(): number | null { return this.#isIcmp() ? this.#b[this.#o + O.kIcmpCode] : null; }
  /** Least / greatest IPv4 TTL or IPv6 hop limit of the record's packets, both directions (inner header of a tunnel); null for layer-2 flows. */
  get minTtl(): number | null { return this.l2 ? null : this.#b[this.#o + O.kMinTtl]; }
  get maxTtl(): number | null { return this.l2 ? null : this.#b[this.#o + O.kMaxTtl]; }
  get fwdPackets(): number { return u64(this.#v, this.#o + O.kFwdPackets); }
  get fwdBytes(): number { return u64(this.#v, this.#o + O.kFwdBytes); }
  get revPackets(): number { return u64(this.#v, this.#o + O.kRevPackets); }
  get revBytes(): number { return u64(this.#v, this.#o + O.kRevBytes); }
  get packets(): number { return this.fwdPackets + this.revPackets; }
  get bytes(): number { return this.fwdBytes + this.revBytes; }
  get fwdTcpFlags(): number { return this.#b[this.#o + O.kFwdTcpFlags]; }
  get revTcpFlags(): number { return this.#b[this.#o + O.kRevTcpFlags]; }
  get fwdStats(): DirectionStats { return this.#stats(O.kFwdStats); }
  get revStats(): DirectionStats { return this.#stats(O.kRevStats); }
  /** Both directions together (with `statistics`): all packets' sizes, inter-arrival between consecutive packets of the flow. */
  get biStats(): DirectionStats { return this.#stats(O.kBiStats); }
  /** Packets carrying each TCP flag (with `statistics`, else zeros). */
  get fwdFlagCounts(): TcpFlagCounts { return this.#flagCounts(O.kFwdFlagCounts); }
  get revFlagCounts(): TcpFlagCounts { return this.#flagCounts(O.kRevFlagCounts); }
  /** Bytes of the keyed (inner) IP datagrams, whatever `accounting` is (Zeek's orig_ip_bytes / resp_ip_bytes). */
  get fwdIpBytes(): number { return u64(this.#v, this.#o + O.kFwdIpBytes); }
  get revIpBytes(): number { return u64(this.#v, this.#o + O.kRevIpBytes); }
  /** Bytes after the transport header (Zeek's orig_bytes counts TCP sequence space instead). */
  get fwdPayloadBytes(): number { return u64(this.#v, this.#o + O.kFwdPayloadBytes); }
  get revPayloadBytes(): number { return u64(this.#v, this.#o + O.kRevPayloadBytes); }
  /** ms since the epoch of each direction's first and last packet (rev: null without a reverse packet). */
  get fwdFirst(): number { return this.first; }
  get fwdLast(): number { return nsToMs(this.#v.getBigUint64(this.#o + O.kFwdLastNs, true)); }
  get revFirst(): number | null { return this.revPackets ? nsToMs(this.#v.getBigUint64(this.#o + O.kRevFirstNs, true)) : null; }
  get revLast(): number | null { return this.revPackets ? nsToMs(this.#v.getBigUint64(this.#o + O.kRevLastNs, true)) : null; }
  /** Second VLAN tag of the first packet (QinQ inner), 0 if none. */
  get innerVlan(): number { return this.#v.getUint16(this.#o + O.kInnerVlan, true); }
  /** The innermost tunnel the first packet came through, null if none. */
  get tunnelType(): TunnelType | null { return (TUNNEL_TYPES[this.#b[this.#o + O.kTunnelType]] || null) as TunnelType | null; }
  /** GRE key, VXLAN VNI or GTP-U TEID of that tunnel; null without a tunnel. */
  get tunnelId(): number | null { return this.tunnelType ? this.#v.getUint32(this.#o + O.kTunnelId, true) : null; }
  /** Zeek's conn_state of the connection so far, null for layer-2 flows. */
  get connState(): ConnState | null { return (CONN_STATES[this.#b[this.#o + O.kConnState]] || null) as ConnState | null; }
  /** Zeek's history letters of the connection so far ('' when none). */
  get history(): string {
    const at = this.#o + O.kHistory;
    let n = 0;
    while (n < O.kHistorySize && this.#b[at + n] !== 0) n++;
    return n ? String.fromCharCode(...this.#b.subarray(at, at + n)) : '';
  }
  /** The first packets (with `splt` > 0), null when none were recorded. */
  get splt(): Splt | null {
    const n = Math.min(this.#b[this.#o + O.kSpltCount], O.kSpltMax);
    if (n === 0) return null;
    const dirs = this.#v.getUint32(this.#o + O.kSpltDirections, true);
    const out: Splt = { direction: [], size: [], iatMs: [] };
    for (let i = 0; i < n; i++) {
      out.direction.push((dirs >>> i) & 1);
      out.size.push(this.#v.getUint16(this.#o + O.kSpltSizes + 2 * i, true));
      out.iatMs.push(this.#v.getUint32(this.#o + O.kSpltIats + 4 * i, true) / 1000);
    }
    return out;
  }
  /** IEEE registered vendor of the MACs (null for group, locally administered or unknown OUIs). */
  get srcMacVendor(): string | null { return vendorOf(this.#b.subarray(this.#o + O.kSrcMac, this.#o + O.kSrcMac + 3)); }
  get dstMacVendor(): string | null { return vendorOf(this.#b.subarray(this.#o + O.kDstMac, this.#o + O.kDstMac + 3)); }
  /** Protocol the payload showed (docs/applications.md), null if none. */
  get application(): Application | null { return (APPLICATIONS[this.#b[this.#o + O.kApplication]] || null) as Application | null; }
  get appFlags(): number { return this.#b[this.#o + O.kAppFlags]; }
  get sni(): string | null { return this.appString('sni'); }
  get alpn(): string | null { return this.appString('alpn'); }
  get ja4(): string | null { return this.appString('ja4'); }
  get ja3(): string | null { return this.appString('ja3'); }
  get certCn(): string | null { return this.appString('certCn'); }
  get dnsQuery(): string | null { return this.appString('dnsQuery'); }
  get httpMethod(): string | null { return this.appString('httpMethod'); }
  get httpHost(): string | null { return this.appString('httpHost'); }
  get userAgent(): string | null { return this.appString('userAgent'); }
  get sshClient(): string | null { return this.appString('sshClient'); }
  get sshServer(): string | null { return this.appString('sshServer'); }
  /** The server's TLS version number (0x0304 = 1.3), null if not seen. */
  get tlsVersion(): number | null { return this.#v.getUint16(this.#o + O.kTlsVersion, true) || null; }
  get dnsQtype(): number | null { return this.#v.getUint16(this.#o + O.kDnsQtype, true) || null; }
  get dnsRcode(): number | null { return this.#dnsResponse() ? this.#b[this.#o + O.kDnsRcode] : null; }
  get dnsAnswers(): number | null { return this.#dnsResponse() ? this.#v.getUint16(this.#o + O.kDnsAnswers, true) : null; }
  /** The first A / AAAA answer of the first DNS response. */
  get dnsAnswer(): string | null {
    const version = this.#b[this.#o + O.kDnsAnswerVersion];
    const at = this.#o + O.kDnsAnswerAddr;
    return version === 4 ? formatIPv4(this.#b, at) : version === 6 ? formatIPv6(this.#b, at) : null;
  }
  get httpStatus(): number | null { return this.#v.getUint16(this.#o + O.kHttpStatus, true) || null; }
  get appCode(): number | null { return this.appFlags & AppFlags.CODE ? this.#v.getUint16(this.#o + O.kAppCode, true) : null; }

  /** One string of the application area (bytes as UTF-8), null if absent. */
  appString(name: AppStringName): string | null {
    const raw = this.appStringBytes(name);
    return raw ? utf8.decode(raw) : null;
  }

  /** The bytes of one string of the application area (a view), null if absent. */
  appStringBytes(name: AppStringName): Uint8Array | null {
    const id = APP_STRINGS.indexOf(name);
    const b = this.#b;
    const end = this.#o + O.kApp + O.kAppSize;
    for (let p = this.#o + O.kAppStrings; p + 2 <= end && b[p] !== 0; p += 2 + b[p + 1]) {
      if (b[p] === id) return b.subarray(p + 2, Math.min(end, p + 2 + b[p + 1]));
    }
    return null;
  }

  /** The application area as an object (undefined when no application was found). */
  get app(): AppInfo | undefined {
    const application = this.application;
    if (!application) return undefined;
    const a: AppInfo = { application };
    const b = this.#b;
    const end = this.#o + O.kApp + O.kAppSize;
    for (let p = this.#o + O.kAppStrings; p + 2 <= end && b[p] !== 0; p += 2 + b[p + 1]) {
      const name = APP_STRINGS[b[p]];
      if (name) a[name] = utf8.decode(b.subarray(p + 2, Math.min(end, p + 2 + b[p + 1])));
    }
    const tls = this.tlsVersion;
    if (tls !== null) a.tlsVersion = tlsVersionName(tls);
    const qtype = this.dnsQtype;
    if (qtype !== null) a.dnsQtype = qtype;
    if (this.#dnsResponse()) {
      a.dnsRcode = this.dnsRcode!;
      a.dnsAnswers = this.dnsAnswers!;
    }
    const answer = this.dnsAnswer;
    if (answer !== null) a.dnsAnswer = answer;
    const status = this.httpStatus;
    if (status !== null) a.httpStatus = status;
    const code = this.appCode;
    if (code !== null) a.appCode = code;
    if (this.appFlags & AppFlags.CUT) a.appCut = true;
    return a;
  }

  /** The record's raw RECORD_SIZE bytes (a view, not a copy). */
  get raw(): Uint8Array { return this.#b.subarray(this.#o, this.#o + RECORD_SIZE); }

  /** Community ID v1 of the flow (null for layer-2 flows). */
  communityId(options?: CommunityIdOptions): string | null {
    if (this.l2) return null;
    const icmp = this.#isIcmp();
    return communityId(
      this.protocol,
      this.srcAddrBytes,
      this.dstAddrBytes,
      icmp ? this.#b[this.#o + O.kIcmpType] : this.srcPort,
      icmp ? this.#b[this.#o + O.kIcmpCode] : this.dstPort,
      options,
    );
  }

  toObject(options: { statistics?: boolean } = {}): FlowObject {
    const o: FlowObject = {
      flowId: this.flowId,
      segment: this.segment,
      endReason: this.endReason,
      first: this.first,
      last: this.last,
      firstNs: this.firstNs.toString(),
      lastNs: this.lastNs.toString(),
      durationMs: this.durationMs,
      ipVersion: this.ipVersion,
      protocol: this.protocol,
      src: this.src,
      dst: this.dst,
      srcPort: this.srcPort,
      dstPort: this.dstPort,
      vlan: this.vlan,
      innerVlan: this.innerVlan,
      etherType: this.etherType,
      srcMac: this.srcMac,
      dstMac: this.dstMac,
      srcMacVendor: this.srcMacVendor,
      dstMacVendor: this.dstMacVendor,
      l2: this.l2,
      tunnel: this.tunnel,
      tunnelType: this.tunnelType,
      tunnelId: this.tunnelId,
      fragments: this.fragments,
      truncated: this.truncated,
      drops: this.drops,
      icmpType: this.icmpType,
      icmpCode: this.icmpCode,
      minTtl: this.minTtl,
      maxTtl: this.maxTtl,
      fwdPackets: this.fwdPackets,
      fwdBytes: this.fwdBytes,
      revPackets: this.revPackets,
      revBytes: this.revBytes,
      packets: this.packets,
      bytes: this.bytes,
      fwdIpBytes: this.fwdIpBytes,
      revIpBytes: this.revIpBytes,
      fwdPayloadBytes: this.fwdPayloadBytes,
      revPayloadBytes: this.revPayloadBytes,
      fwdFirst: this.fwdFirst,
      fwdLast: this.fwdLast,
      revFirst: this.revFirst,
      revLast: this.revLast,
      fwdTcpFlags: this.fwdTcpFlags,
      revTcpFlags: this.revTcpFlags,
      connState: this.connState,
      history: this.history,
      communityId: this.communityId(),
    };
    if (this.l2 && this.etherType === 0x0806) {
      o.arpSrcIp = this.arpSrcIp;
      o.arpDstIp = this.arpDstIp;
    }
    if (options.statistics) {
      o.fwdStats = this.fwdStats;
      o.revStats = this.revStats;
      o.biStats = this.biStats;
      o.fwdFlagCounts = this.fwdFlagCounts;
      o.revFlagCounts = this.revFlagCounts;
    }
    const splt = this.splt;
    if (splt) o.splt = splt;
    const app = this.app;
    if (app) o.app = app;
    return o;
  }

  toJSON(): FlowObject {
    return this.toObject();
  }

  #arpIp(addr: number): string | null {
    const o = this.#o + addr + O.kArpIp;
    if (!this.l2 || this.etherType !== 0x0806) return null;
    const b = this.#b;
    return b[o] | b[o + 1] | b[o + 2] | b[o + 3] ? formatIPv4(b, o) : null;
  }

  #dnsResponse(): boolean {
    return (this.appFlags & AppFlags.DNS_RESPONSE) !== 0;
  }

  #isIcmp(): boolean {
    const p = this.protocol;
    return !this.l2 && (p === 1 || p === 58);
  }

  #addrBytes(off: number): Uint8Array {
    const n = this.l2 ? 6 : this.ipVersion === 4 ? 4 : 16;
    return this.#b.subarray(this.#o + off, this.#o + off + n);
  }

  #addr(off: number): string {
    if (this.l2) return formatMac(this.#b, this.#o + off);
    return this.ipVersion === 4 ? formatIPv4(this.#b, this.#o + off) : formatIPv6(this.#b, this.#o + off);
  }

  #stats(off: number): DirectionStats {
    const b = this.#o + off;
    const v = this.#v;
    return {
      sizeMin: v.getUint32(b + O.kStatSizeMin, true),
      sizeMax: v.getUint32(b + O.kStatSizeMax, true),
      sizeMean: v.getFloat64(b + O.kStatSizeMean, true),
      sizeStddev: v.getFloat64(b + O.kStatSizeStddev, true),
      iatMinMs: u64(v, b + O.kStatIatMin) / 1e6,
      iatMaxMs: u64(v, b + O.kStatIatMax) / 1e6,
      iatMeanMs: v.getFloat64(b + O.kStatIatMean, true) / 1e6,
      iatStddevMs: v.getFloat64(b + O.kStatIatStddev, true) / 1e6,
    };
  }

  #flagCounts(off: number): TcpFlagCounts {
    const out = {} as TcpFlagCounts;
    TCP_FLAG_NAMES.forEach((name, i) => { out[name] = this.#v.getUint32(this.#o + off + 4 * i, true); });
    return out;
  }
}

/** A batch of flow records: `length` records of RECORD_SIZE bytes in `buffer`. */
export class FlowBatch implements Iterable<Flow> {
  readonly buffer: ArrayBuffer;
  readonly length: number;
  readonly #view: DataView;
  readonly #bytes: Uint8Array;

  constructor(buffer: ArrayBuffer) {
    if (buffer.byteLength % RECORD_SIZE !== 0) throw new RangeError(`FlowBatch size ${buffer.byteLength} is not a multiple of ${RECORD_SIZE}`);
    this.buffer = buffer;
    this.length = buffer.byteLength / RECORD_SIZE;
    this.#view = new DataView(buffer);
    this.#bytes = new Uint8Array(buffer);
  }

  /** One batch of the records of several (copied). */
  static concat(parts: readonly ArrayBuffer[]): FlowBatch {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(new Uint8Array(p), at);
      at += p.byteLength;
    }
    return new FlowBatch(out.buffer);
  }

  /** The i-th record as a lazy view. */
  at(i: number): Flow {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`record ${i} out of range 0..${this.length - 1}`);
    return new Flow(this.#view, this.#bytes, i * RECORD_SIZE);
  }

  *[Symbol.iterator](): Iterator<Flow> {
    for (let i = 0; i < this.length; i++) yield new Flow(this.#view, this.#bytes, i * RECORD_SIZE);
  }

  toArray(): FlowObject[] {
    return Array.from(this, (f) => f.toObject());
  }
}

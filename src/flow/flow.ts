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
import {
  APP_STRINGS, APPLICATIONS, AppFlags, END_REASONS, Offsets as O, RECORD_SIZE, RecordFlags,
  type AppStringName, type Application, type EndReason,
} from './layout';

export interface DirectionStats {
  sizeMin: number;
  sizeMax: number;
  sizeMean: number;
  sizeStddev: number;
  /** inter-arrival times in ns */
  iatMin: number;
  iatMax: number;
  iatMean: number;
  iatStddev: number;
}

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
  etherType: number;
  srcMac: string;
  dstMac: string;
  l2: boolean;
  tunnel: boolean;
  fragments: boolean;
  truncated: boolean;
  drops: boolean;
  icmpType: number | null;
  icmpCode: number | null;
  fwdPackets: number;
  fwdBytes: number;
  revPackets: number;
  revBytes: number;
  packets: number;
  bytes: number;
  fwdTcpFlags: number;
  revTcpFlags: number;
  communityId: string | null;
  /** ARP flows only */
  arpSrcIp?: string | null;
  arpDstIp?: string | null;
  fwdStats?: DirectionStats;
  revStats?: DirectionStats;
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
    const end = this.#o + RECORD_SIZE;
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
    const end = this.#o + RECORD_SIZE;
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
      etherType: this.etherType,
      srcMac: this.srcMac,
      dstMac: this.dstMac,
      l2: this.l2,
      tunnel: this.tunnel,
      fragments: this.fragments,
      truncated: this.truncated,
      drops: this.drops,
      icmpType: this.icmpType,
      icmpCode: this.icmpCode,
      fwdPackets: this.fwdPackets,
      fwdBytes: this.fwdBytes,
      revPackets: this.revPackets,
      revBytes: this.revBytes,
      packets: this.packets,
      bytes: this.bytes,
      fwdTcpFlags: this.fwdTcpFlags,
      revTcpFlags: this.revTcpFlags,
      communityId: this.communityId(),
    };
    if (this.l2 && this.etherType === 0x0806) {
      o.arpSrcIp = this.arpSrcIp;
      o.arpDstIp = this.arpDstIp;
    }
    if (options.statistics) {
      o.fwdStats = this.fwdStats;
      o.revStats = this.revStats;
    }
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
      iatMin: u64(v, b + O.kStatIatMin),
      iatMax: u64(v, b + O.kStatIatMax),
      iatMean: v.getFloat64(b + O.kStatIatMean, true),
      iatStddev: v.getFloat64(b + O.kStatIatStddev, true),
    };
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

/**
 * IPFIX export (RFC 7011) of flow records over UDP.
 *
 * Each message is a header, a template set when templates are due (first
 * message, then every `templateRefreshSeconds`: over UDP templates expire at
 * the collector, RFC 7011 §8.4) and data sets, never longer than `mtu` bytes.
 * There are five templates: IPv4 and IPv6 with ports (TCP, UDP, SCTP, others),
 * IPv4 and IPv6 ICMP (icmpTypeCode instead of ports, the type/code of the
 * flow's first packet) and layer 2 (MAC addresses and ethernetType: ARP, LLDP,
 * ... flows are exported too, not dropped). Counters are 64-bit, times are
 * flowStart/EndMilliseconds (nfdump 1.7 ignores flowStart/EndNanoseconds).
 * The IP templates carry minimumTTL/maximumTTL (the flow's, both directions),
 * every template ingressInterface when the option gives one. TCP and UDP flows
 * whose payload showed an application (docs/applications.md) go out with two
 * more templates, the port ones plus the IANA elements that say it:
 * applicationName (96), httpRequestMethod (459), httpRequestHost (460),
 * httpUserAgent (468) — variable-length strings, empty when not seen — and
 * httpStatusCode (457); records without one are as they always were. Flows
 * with a QinQ inner VLAN or from a VXLAN tunnel go out with the details twin
 * of their template (its id + 7, 263..269): the same fields then
 * dot1qCustomerVlanId (245) and layer2SegmentId (351: segment type 1, VXLAN,
 * in the top 8 bits, the VNI below; 0 for other flows); other flows' records
 * are unchanged. GRE keys and GTP-U TEIDs have no IANA element and are not
 * sent. With `statistics` the port templates carry the direction's packets
 * with SYN, FIN, RST, PSH, ACK and URG (tcpSynTotalCount 218 ..
 * tcpUrgTotalCount 223: the record's own counts, which restart with each
 * segment as the delta counters do; in 'rfc5103' mode the forward ones).
 * minimum/maximumIpTotalLength are not sent: the size statistics count the
 * `accounting` bytes, not IP total lengths. Egress interface,
 * flowDirection, DSCP and sampling are not sent (docs/flows.md says why).
 * Messages leave paced, `rate` a second (src/export/pacer.ts): a collector
 * drops what overflows its socket buffer without a sequence error to show.
 *
 * Bidirectional flows, `biflow`:
 *  - 'split' (default): one uniflow record per direction that has packets,
 *    which every collector reads whole (pmacct's nfacctd reads only the
 *    forward half of an RFC 5103 record). The reverse one has addresses,
 *    ports and MACs swapped and its own TCP flags and times; both carry the
 *    flow's flowId. Only the first packet's ICMP type/code is known, so the
 *    reverse record of an ICMP flow goes out with zero ports (nfdump: 0/0), and
 *    the forward record of a later segment whose first packet was a reverse
 *    one starts at the segment start (the record keeps no forward start).
 *  - 'rfc5103': one record per flow, the forward counters plus
 *    reversePacketDeltaCount / reverseOctetDeltaCount (RFC 5103, enterprise
 *    29305); start/end are the whole flow's. nfdump 1.7 maps exactly these two
 *    reverse elements to its out_packets / out_bytes. It maps any other
 *    reverse element onto its forward twin (reverse tcpControlBits or times
 *    would overwrite the forward ones), so the reverse TCP flags are not
 *    exported in this mode.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { FlowmasterError } from '../errors';
import type { Flow } from '../flow/flow';
import { APP_STRINGS, APPLICATIONS, END_REASONS, Offsets as O, TUNNEL_TYPES } from '../flow/layout';
import { applicationId, appStringSpans } from './app-columns';
import { Pacer } from './pacer';

export interface IpfixExporterOptions {
  /** collector address; a hostname resolves to IPv4, give a literal for IPv6 */
  host: string;
  /** collector UDP port (4739 is IPFIX's) */
  port: number;
  observationDomainId?: number;
  /** seconds between template re-sends (default 60) */
  templateRefreshSeconds?: number;
  /** largest message, i.e. UDP payload, in bytes (default 1400) */
  mtu?: number;
  /** how a bidirectional flow becomes records (default 'split', see the module comment) */
  biflow?: 'rfc5103' | 'split';
  /**
   * messages per second at most (default 1000, `Infinity`: unpaced), in bursts
   * of at most 10 ms worth: a collector's socket buffer holds only ~90 messages
   */
  rate?: number;
  /**
   * ingressInterface (IE 10) of every record: the ifindex of the one interface
   * captured (the CLI sets it for `capture -i IF`); left out when undefined
   */
  ingressInterface?: number;
  /** the meter keeps statistics: the port templates carry the TCP flag counters (IE 218..223; default false) */
  statistics?: boolean;
}

export interface IpfixStats {
  /** flows given to write() */
  flows: number;
  /** data records sent (a flow is two in 'split' mode when both directions have packets) */
  records: number;
  /** IPFIX messages sent */
  messages: number;
  /** template records sent (five per template set) */
  templates: number;
  /** bytes of the messages sent */
  bytes: number;
}

/** Messages per second by default: what nfcapd and nfacctd with the default socket buffer take whole (docs/flows.md). */
export const DEFAULT_RATE = 1000;

/** Enterprise number of the RFC 5103 reverse information elements. */
export const REVERSE_PEN = 29305;

export const TemplateId = {
  IPv4: 256, IPv6: 257, IcmpV4: 258, IcmpV6: 259, L2: 260, IPv4App: 261, IPv6App: 262,
  // the details twins (inner VLAN, VXLAN segment): the template's id + DETAILS
  IPv4Details: 263, IPv6Details: 264, IcmpV4Details: 265, IcmpV6Details: 266, L2Details: 267, IPv4AppDetails: 268, IPv6AppDetails: 269,
} as const;
/** A template's details twin is its id + DETAILS. */
const DETAILS = 7;
type Tid = (typeof TemplateId)[keyof typeof TemplateId];

/** [element id, length, enterprise number or 0] */
type Field = readonly [number, number, number];

/** A field length that says the record gives it (RFC 7011 §7): a length byte before the value (255, then two more, from 255 bytes on). */
const VARIABLE = 65535;
/** applicationName, httpRequestMethod, httpRequestHost, httpUserAgent (strings), httpStatusCode */
const APP_FIELDS: Field[] = [[96, VARIABLE, 0], [459, VARIABLE, 0], [460, VARIABLE, 0], [468, VARIABLE, 0], [457, 2, 0]];
/** The string ids (layout APP_STRINGS) of httpRequestMethod, httpRequestHost, httpUserAgent. */
const HTTP_STRINGS = [APP_STRINGS.indexOf('httpMethod'), APP_STRINGS.indexOf('httpHost'), APP_STRINGS.indexOf('userAgent')];
/**
 * The most the variable fields of a record take: an application name (at most
 * 11 bytes) and the three HTTP strings, which share the area's 224 bytes;
 * each with its length byte (all below 255 bytes).
 */
const APP_VARIABLE_MAX = 1 + 11 + 3 + 224;
const hasDetails = (tid: Tid) => tid >= TemplateId.IPv4Details;
const baseOf = (tid: Tid) => (hasDetails(tid) ? tid - DETAILS : tid) as Tid;
const isApp = (tid: Tid) => baseOf(tid) === TemplateId.IPv4App || baseOf(tid) === TemplateId.IPv6App;
/** dot1qCustomerVlanId, layer2SegmentId */
const DETAIL_FIELDS: Field[] = [[245, 2, 0], [351, 8, 0]];
/** tcpSynTotalCount, tcpFinTotalCount, tcpRstTotalCount, tcpPshTotalCount, tcpAckTotalCount, tcpUrgTotalCount */
const FLAG_COUNT_FIELDS: Field[] = [[218, 8, 0], [219, 8, 0], [220, 8, 0], [221, 8, 0], [222, 8, 0], [223, 8, 0]];
/** Which of the record's flag counters (TCP_FLAG_NAMES order: fin syn rst psh ack urg) FLAG_COUNT_FIELDS carry, in their order. */
const FLAG_COUNT_BITS = [1, 0, 2, 3, 4, 5];
/** layer2SegmentId's segment type for VXLAN (IANA: the top 8 bits), and the record's tunnel type byte for it. */
const VXLAN_SEGMENT = 1n << 56n;
const VXLAN_TUNNEL = TUNNEL_TYPES.indexOf('vxlan');

/** What the templates hold beyond the fixed fields. */
interface Shape {
  biflow: boolean;
  ingress: boolean;
  statistics: boolean;
}

function templateFields(tid: Tid, shape: Shape): Field[] {
  const { biflow, ingress, statistics } = shape;
  if (hasDetails(tid)) return [...templateFields(baseOf(tid), shape), ...DETAIL_FIELDS];
  if (isApp(tid)) return [...templateFields(tid === TemplateId.IPv4App ? TemplateId.IPv4 : TemplateId.IPv6, shape), ...APP_FIELDS];
  const v6 = tid === TemplateId.IPv6 || tid === TemplateId.IcmpV6;
  const key: Field[] =
    tid === TemplateId.L2
      ? [[56, 6, 0], [80, 6, 0], [256, 2, 0]] // sourceMacAddress, destinationMacAddress, ethernetType
      : [v6 ? [27, 16, 0] : [8, 4, 0], v6 ? [28, 16, 0] : [12, 4, 0], [4, 1, 0]]; // addresses, protocolIdentifier
  if (tid === TemplateId.IPv4 || tid === TemplateId.IPv6) key.push([7, 2, 0], [11, 2, 0], [6, 2, 0]); // ports, tcpControlBits
  if (tid === TemplateId.IcmpV4) key.push([32, 2, 0]); // icmpTypeCodeIPv4
  if (tid === TemplateId.IcmpV6) key.push([139, 2, 0]); // icmpTypeCodeIPv6
  key.push([58, 2, 0], [2, 8, 0], [1, 8, 0]); // vlanId, packetDeltaCount, octetDeltaCount
  if (biflow) key.push([2, 8, REVERSE_PEN], [1, 8, REVERSE_PEN]);
  key.push([152, 8, 0], [153, 8, 0], [136, 1, 0], [148, 8, 0]); // flowStart/EndMilliseconds, flowEndReason, flowId
  if (tid !== TemplateId.L2) key.push([52, 1, 0], [53, 1, 0]); // minimumTTL, maximumTTL
  if (ingress) key.push([10, 4, 0]); // ingressInterface
  if (statistics && (tid === TemplateId.IPv4 || tid === TemplateId.IPv6)) key.push(...FLAG_COUNT_FIELDS);
  return key;
}

const TEMPLATE_IDS: readonly Tid[] = Object.values(TemplateId);
const HEADER = 16;
const SET_HEADER = 4;

/**
 * The templates without an application or details, sent first and refreshed;
 * the two with an application (together), and each details twin, sent before
 * the first record that uses them (and refreshed as due).
 */
const BASE_TEMPLATES = TEMPLATE_IDS.filter((t) => !isApp(t) && !hasDetails(t));
const APP_TEMPLATES = TEMPLATE_IDS.filter((t) => isApp(t) && !hasDetails(t));
const DETAIL_TEMPLATES = TEMPLATE_IDS.filter(hasDetails);

/** A group of templates sent on first use: their template set, when it was last sent. */
interface LazyTemplates {
  tids: readonly Tid[];
  set: Buffer;
  at: number;
}

function templateSet(shape: Shape, tids: readonly Tid[]): Buffer {
  const parts: Buffer[] = [];
  for (const tid of tids) {
    const fields = templateFields(tid, shape);
    const b = Buffer.alloc(4 + fields.reduce((n, [, , pen]) => n + (pen ? 8 : 4), 0));
    b.writeUInt16BE(tid, 0);
    b.writeUInt16BE(fields.length, 2);
    let o = 4;
    for (const [id, len, pen] of fields) {
      b.writeUInt16BE(pen ? id | 0x8000 : id, o);
      b.writeUInt16BE(len, o + 2);
      if (pen) b.writeUInt32BE(pen, o + 4);
      o += pen ? 8 : 4;
    }
    parts.push(b);
  }
  const head = Buffer.alloc(SET_HEADER);
  const body = Buffer.concat(parts);
  head.writeUInt16BE(2, 0);
  head.writeUInt16BE(SET_HEADER + body.length, 2);
  return Buffer.concat([head, body]);
}

/** The bytes of a record's fixed-length fields (the variable ones add their own). */
function recordLength(tid: Tid, shape: Shape): number {
  return templateFields(tid, shape).reduce((n, [, len]) => n + (len === VARIABLE ? 0 : len), 0);
}

/** What one data record describes: the whole biflow (rfc5103), or one direction of it (split). */
const enum Dir {
  Bi,
  Fwd,
  Rev,
}

function u64le(raw: Uint8Array, off: number): bigint {
  const v = new DataView(raw.buffer, raw.byteOffset + off, 8);
  return v.getBigUint64(0, true);
}

/** The record's little-endian u64 at `off`, big-endian into `out` (exact over 2^53). */
function copyU64(raw: Uint8Array, off: number, out: Buffer, at: number): void {
  for (let i = 0; i < 8; i++) out[at + i] = raw[off + 7 - i];
}

const badOption = (name: string, why: string) => new FlowmasterError('ERR_INVALID_OPTION', `IpfixExporter option ${name}: ${why}`);
const u32 = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;

/** The options with their defaults, checked (all but mtu, which depends on the templates). */
function withDefaults(options: IpfixExporterOptions) {
  const { host, port, observationDomainId = 1, templateRefreshSeconds = 60, mtu = 1400, biflow = 'split', rate = DEFAULT_RATE, ingressInterface, statistics = false } = options ?? ({} as IpfixExporterOptions);
  if (typeof host !== 'string' || host === '') throw badOption('host', 'must be a non-empty string');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw badOption('port', 'must be an integer 1..65535');
  if (!u32(observationDomainId)) throw badOption('observationDomainId', 'must be an integer 0..2^32-1');
  if (!(typeof templateRefreshSeconds === 'number' && templateRefreshSeconds > 0)) throw badOption('templateRefreshSeconds', 'must be a positive number');
  if (biflow !== 'rfc5103' && biflow !== 'split') throw badOption('biflow', "must be 'rfc5103' or 'split'");
  if (!(typeof rate === 'number' && rate > 0)) throw badOption('rate', 'must be a positive number of messages per second (or Infinity)');
  if (ingressInterface !== undefined && !u32(ingressInterface)) throw badOption('ingressInterface', 'must be an integer 0..2^32-1');
  if (typeof statistics !== 'boolean') throw badOption('statistics', 'must be a boolean');
  return { host, port, observationDomainId, templateRefreshSeconds, mtu, biflow, rate, ingressInterface, statistics };
}

export class IpfixExporter {
  readonly #socket: dgram.Socket;
  readonly #host: string;
  readonly #port: number;
  readonly #domain: number;
  readonly #refreshMs: number;
  readonly #mtu: number;
  readonly #biflow: boolean;
  readonly #ingress: number | undefined;
  readonly #statistics: boolean;
  readonly #templates: Buffer;
  readonly #appTemplates: LazyTemplates;
  /** each details twin on its own: a record needs one, and a message with all seven would raise the least MTU */
  readonly #detailTemplates: Map<Tid, LazyTemplates>;
  readonly #recLen: Record<Tid, number>;
  readonly #spans = new Int32Array(2 * APP_STRINGS.length);
  readonly #buf: Buffer;
  readonly #pacer: Pacer;
  #len = 0; // bytes of the message being built, 0 when none is open
  #setStart = 0;
  #setId = 0;
  #msgRecords = 0;
  #sequence = 0;
  #templatesAt = -Infinity;
  #pending = 0;
  #drained: (() => void)[] = [];
  #error: Error | undefined;
  #closed = false;
  readonly #stats: IpfixStats = { flows: 0, records: 0, messages: 0, templates: 0, bytes: 0 };

  constructor(options: IpfixExporterOptions) {
    const { host, port, observationDomainId, templateRefreshSeconds, mtu, biflow, rate, ingressInterface, statistics } = withDefaults(options);
    this.#biflow = biflow === 'rfc5103';
    this.#ingress = ingressInterface;
    this.#statistics = statistics;
    const shape = { biflow: this.#biflow, ingress: ingressInterface !== undefined, statistics };
    this.#templates = templateSet(shape, BASE_TEMPLATES);
    this.#appTemplates = { tids: APP_TEMPLATES, set: templateSet(shape, APP_TEMPLATES), at: -Infinity };
    this.#detailTemplates = new Map(DETAIL_TEMPLATES.map((t) => [t, { tids: [t], set: templateSet(shape, [t]), at: -Infinity }]));
    this.#recLen = Object.fromEntries(TEMPLATE_IDS.map((t) => [t, recordLength(t, shape)])) as Record<Tid, number>;
    // a message must hold the templates and one record of the longest template; each group sent on
    // first use and one of its records, the longest
    const longest = (tids: readonly Tid[]) => Math.max(...tids.map((t) => this.#recLen[t] + (isApp(t) ? APP_VARIABLE_MAX : 0)));
    const least = Math.max(
      HEADER + this.#templates.length + SET_HEADER + longest(BASE_TEMPLATES),
      ...[this.#appTemplates, ...this.#detailTemplates.values()].map((g) => HEADER + g.set.length + SET_HEADER + longest(g.tids)),
    );
    if (!Number.isInteger(mtu) || mtu < least || mtu > 65535) throw badOption('mtu', `must be an integer ${least}..65535`);
    this.#host = host;
    this.#port = port;
    this.#domain = observationDomainId;
    this.#refreshMs = templateRefreshSeconds * 1000;
    this.#mtu = mtu;
    this.#buf = Buffer.alloc(mtu);
    this.#socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    this.#socket.on('error', (e) => (this.#error ??= e));
    this.#socket.unref();
    this.#pacer = new Pacer(rate, (msg) => this.#transmit(msg));
  }

  /** Counters so far (a copy). */
  get stats(): IpfixStats {
    return { ...this.#stats };
  }

  /**
   * Encodes flows into messages, sending each one as it fills (or queueing it
   * behind the rate: await flush() between writes to keep the queue short).
   * The last, partly filled message waits for more flows or flush(). Send
   * errors surface from flush() / close().
   */
  write(flows: Iterable<Flow>): void {
    if (this.#closed) throw new FlowmasterError('ERR_EXPORT', 'IpfixExporter: write() after close()');
    for (const f of flows) {
      this.#stats.flows++;
      const tid = this.#template(f, false);
      if (this.#biflow) {
        this.#put(f, Dir.Bi, tid);
      } else {
        if (f.fwdPackets > 0) this.#put(f, Dir.Fwd, tid);
        if (f.revPackets > 0) this.#put(f, Dir.Rev, this.#template(f, true));
      }
    }
  }

  /** Sends the open message, then resolves when every message so far has left the socket (paced: after `rate` allows). */
  async flush(): Promise<void> {
    if (this.#msgRecords > 0) this.#send();
    if (this.#pending > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
    if (this.#error) {
      const cause = this.#error;
      this.#error = undefined;
      throw new FlowmasterError('ERR_EXPORT', `IPFIX export to ${this.#host}:${this.#port} failed: ${cause.message}`, { cause });
    }
  }

  /** Flushes, then closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      this.#socket.close();
    }
  }

  #template(f: Flow, reverse: boolean): Tid {
    const tid = this.#baseTemplate(f, reverse);
    // an inner VLAN or a VXLAN segment: the details twin
    return f.innerVlan !== 0 || f.raw[O.kTunnelType] === VXLAN_TUNNEL ? ((tid + DETAILS) as Tid) : tid;
  }

  #baseTemplate(f: Flow, reverse: boolean): Tid {
    if (f.l2) return TemplateId.L2;
    const v6 = f.ipVersion === 6;
    // the reverse of an ICMP flow has no known type/code: the port template with zero ports says so
    if ((f.protocol === 1 || f.protocol === 58) && !reverse) return v6 ? TemplateId.IcmpV6 : TemplateId.IcmpV4;
    if ((f.protocol === 6 || f.protocol === 17) && applicationId(f.raw)) return v6 ? TemplateId.IPv6App : TemplateId.IPv4App;
    return v6 ? TemplateId.IPv6 : TemplateId.IPv4;
  }

  /** The application's variable fields of `f` (spans into its record, in #spans) and their bytes with their length bytes. */
  #appStrings(f: Flow): number {
    const raw = f.raw;
    appStringSpans(raw, 0, this.#spans);
    let n = 1 + APPLICATIONS[applicationId(raw)].length;
    for (const s of HTTP_STRINGS) n += this.#spans[2 * s] < 0 ? 1 : varLength(this.#spans[2 * s + 1] - this.#spans[2 * s]);
    return n;
  }

  /** Appends one data record, opening a message or a data set as needed. */
  #put(f: Flow, dir: Dir, tid: Tid): void {
    const app = isApp(tid);
    const len = this.#recLen[tid] + (app ? this.#appStrings(f) : 0);
    if (this.#len === 0) this.#open();
    // the application's and the details templates go before the first record that uses them (and again once due)
    const lazy = hasDetails(tid) ? this.#detailTemplates.get(tid) : app ? this.#appTemplates : undefined;
    const templates = () => (lazy && Date.now() - lazy.at >= this.#refreshMs ? lazy.set.length : 0);
    // twice at most: the message opened may carry the other templates, which then go out first
    for (let i = 0; i < 2 && this.#len + templates() + len + (this.#setId === tid && !templates() ? 0 : SET_HEADER) > this.#mtu; i++) {
      this.#send();
      this.#open();
    }
    if (lazy && templates()) {
      this.#closeSet();
      this.#setId = 0;
      lazy.set.copy(this.#buf, this.#len);
      this.#len += lazy.set.length;
      lazy.at = Date.now();
      this.#stats.templates += lazy.tids.length;
    }
    if (this.#setId !== tid) {
      this.#closeSet();
      this.#setId = tid;
      this.#setStart = this.#len;
      this.#buf.writeUInt16BE(tid, this.#len);
      this.#len += SET_HEADER;
    }
    this.#encode(f, dir, tid, this.#len);
    this.#len += len;
    this.#msgRecords++;
  }

  #open(): void {
    this.#len = HEADER;
    this.#setId = 0;
    this.#msgRecords = 0;
    const now = Date.now();
    if (now - this.#templatesAt >= this.#refreshMs) {
      this.#templates.copy(this.#buf, this.#len);
      this.#len += this.#templates.length;
      this.#templatesAt = now;
      this.#stats.templates += BASE_TEMPLATES.length;
    }
  }

  #closeSet(): void {
    if (this.#setId !== 0) this.#buf.writeUInt16BE(this.#len - this.#setStart, this.#setStart + 2);
  }

  #send(): void {
    this.#closeSet();
    const b = this.#buf;
    b.writeUInt16BE(10, 0);
    b.writeUInt16BE(this.#len, 2);
    b.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0, 4);
    // the sequence number counts the data records sent before this message (mod 2^32)
    b.writeUInt32BE(this.#sequence, 8);
    b.writeUInt32BE(this.#domain, 12);
    this.#sequence = (this.#sequence + this.#msgRecords) >>> 0;
    const msg = Buffer.from(b.subarray(0, this.#len));
    this.#stats.messages++;
    this.#stats.records += this.#msgRecords;
    this.#stats.bytes += msg.length;
    this.#len = 0;
    this.#setId = 0;
    this.#msgRecords = 0;
    this.#pending++;
    this.#pacer.push(msg);
  }

  #transmit(msg: Buffer): void {
    this.#socket.send(msg, this.#port, this.#host, (err) => {
      if (err) this.#error ??= err;
      if (--this.#pending === 0) for (const resolve of this.#drained.splice(0)) resolve();
    });
  }

  #encode(f: Flow, dir: Dir, tid: Tid, at: number): void {
    const b = this.#buf;
    const base = baseOf(tid); // the details twin: its template's fields first
    const raw = f.raw;
    const rev = dir === Dir.Rev;
    const [a, z] = rev ? [f.dstAddrBytes, f.srcAddrBytes] : [f.srcAddrBytes, f.dstAddrBytes];
    b.set(a, at);
    b.set(z, at + a.length);
    let o = at + 2 * a.length;
    if (base === TemplateId.L2) {
      b.writeUInt16BE(f.etherType, o);
      o += 2;
    } else {
      b[o++] = f.protocol;
      if (base === TemplateId.IcmpV4 || base === TemplateId.IcmpV6) {
        b[o++] = f.icmpType ?? 0;
        b[o++] = f.icmpCode ?? 0;
      } else {
        b.writeUInt16BE(rev ? f.dstPort : f.srcPort, o);
        b.writeUInt16BE(rev ? f.srcPort : f.dstPort, o + 2);
        b.writeUInt16BE(rev ? f.revTcpFlags : f.fwdTcpFlags, o + 4);
        o += 6;
      }
    }
    b.writeUInt16BE(f.vlan, o);
    o += 2;
    copyU64(raw, rev ? O.kRevPackets : O.kFwdPackets, b, o);
    copyU64(raw, rev ? O.kRevBytes : O.kFwdBytes, b, o + 8);
    o += 16;
    if (dir === Dir.Bi) {
      copyU64(raw, O.kRevPackets, b, o);
      copyU64(raw, O.kRevBytes, b, o + 8);
      o += 16;
    }
    const start = dir === Dir.Rev ? u64le(raw, O.kRevFirstNs) : f.firstNs;
    const end = dir === Dir.Bi ? f.lastNs : u64le(raw, dir === Dir.Rev ? O.kRevLastNs : O.kFwdLastNs);
    b.writeBigUInt64BE(start / 1_000_000n, o);
    b.writeBigUInt64BE(end / 1_000_000n, o + 8);
    // END_REASONS is in flowEndReason order (1 idle .. 5 lack of resources); 0 = still open (a snapshot)
    b[o + 16] = Math.max(0, END_REASONS.indexOf(f.endReason));
    copyU64(raw, O.kFlowId, b, o + 17);
    o += 25;
    if (base !== TemplateId.L2) {
      b[o++] = raw[O.kMinTtl];
      b[o++] = raw[O.kMaxTtl];
    }
    if (this.#ingress !== undefined) {
      b.writeUInt32BE(this.#ingress, o);
      o += 4;
    }
    if (this.#statistics && base !== TemplateId.IcmpV4 && base !== TemplateId.IcmpV6 && base !== TemplateId.L2) {
      const counts = rev ? O.kRevFlagCounts : O.kFwdFlagCounts;
      const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (const bit of FLAG_COUNT_BITS) {
        b.writeUInt32BE(0, o); // unsigned64: the u32 counter's high half
        b.writeUInt32BE(v.getUint32(counts + 4 * bit, true), o + 4);
        o += 8;
      }
    }
    if (isApp(tid)) {
      // #put() found the strings (#appStrings): the application's name, then the HTTP request's, each with its length
      const name = APPLICATIONS[applicationId(raw)];
      b[o++] = name.length;
      o += b.write(name, o, 'latin1');
      for (const s of HTTP_STRINGS) {
        const from = this.#spans[2 * s];
        const n = from < 0 ? 0 : this.#spans[2 * s + 1] - from;
        if (n < 255) b[o++] = n;
        else {
          b[o++] = 255;
          b.writeUInt16BE(n, o);
          o += 2;
        }
        if (n) b.set(raw.subarray(from, from + n), o);
        o += n;
      }
      b.writeUInt16BE(raw[O.kHttpStatus] | (raw[O.kHttpStatus + 1] << 8), o);
      o += 2;
    }
    if (hasDetails(tid)) {
      b.writeUInt16BE(f.innerVlan, o);
      const vni = raw[O.kTunnelType] === VXLAN_TUNNEL ? VXLAN_SEGMENT | BigInt(f.raw[O.kTunnelId] | (f.raw[O.kTunnelId + 1] << 8) | (f.raw[O.kTunnelId + 2] << 16)) : 0n;
      b.writeBigUInt64BE(vni, o + 2);
    }
  }
}

/** A variable-length field's bytes with its length prefix. */
function varLength(n: number): number {
  return n + (n < 255 ? 1 : 3);
}

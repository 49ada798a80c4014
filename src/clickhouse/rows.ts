/**
 * Flow records as RowBinary rows of the flows table (schema.ts FLOW_COLUMNS
 * order), cut into delivery blocks: at most `blockRows` flows, all of one
 * UTC day (the table's partition), so that the server stores a block as one
 * part, whole or not at all. A block's id is `<run>:<n>`: a run (one file,
 * one capture) cuts its flows in the engine's order, so the same file read
 * with the same options gives the same blocks with the same ids, which is
 * what lets a replay be found (sink.ts).
 *
 * RowBinary, not text: the record's little-endian counters are copied as
 * they are, and the server parses nothing (about 2x the rows per second of
 * TabSeparated on 18.16).
 */
import { answerText, APP_COLUMNS, APP_STRING_IDS, applicationId, appStringSpans } from '../export/app-columns';
import type { Flow, FlowBatch } from '../flow/flow';
import { APP_STRINGS, APPLICATIONS, AppFlags, Offsets } from '../flow/layout';
import { defaultServices, type ServiceMap } from '../flow/services';
import { deviceService, isGroupMac } from '../devices/cache';
import { statsJson } from '../store/details';
import { APP_CLICKHOUSE_TYPES, ROW_FORMAT } from './schema';

export interface Block {
  /** `<run>:<n>` */
  id: string;
  rows: number;
  /** the columns of its rows (schema.ts flowColumnsOf(): 2 with the application's, 1 before them) */
  format: number;
  /** first_ns bounds of its rows (the delivery check reads only that range) */
  minNs: bigint;
  maxNs: bigint;
  bytes: number;
  packets: number;
  /** RowBinary rows */
  body: Buffer;
}

export const DAY_NS = 86_400_000_000_000n;

/**
 * A device's id: 52 bits of a hash of (sensor, address bytes, vlan), the same
 * in every process and on every server (ClickHouse has no sequence).
 */
export function deviceId(sensor: string, addr: Uint8Array, vlan: number): number {
  let h1 = 0x811c9dc5 ^ vlan;
  let h2 = 0x01000193 ^ (vlan * 31);
  const mix = (c: number) => {
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  };
  for (let i = 0; i < sensor.length; i++) mix(sensor.charCodeAt(i));
  mix(0x100);
  for (let i = 0; i < addr.length; i++) mix(addr[i]);
  mix(addr.length);
  return (h1 >>> 0) * 0x100000 + ((h2 >>> 0) & 0xfffff);
}

/** Bytes of each application column of a flow without an application: '' is one (its length), numbers their width. */
const APP_WIDTH = APP_COLUMNS.map((c) => ({ String: 1, UInt8: 1, UInt16: 2 })[APP_CLICKHOUSE_TYPES[c] as 'String' | 'UInt8' | 'UInt16']);

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const EMPTY = Buffer.alloc(0);

function isZero(b: Uint8Array, o: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[o + i]) return false;
  return true;
}

/** A growing RowBinary buffer. */
class Rows {
  buf: Buffer;
  len = 0;
  n = 0;
  minNs = 0n;
  maxNs = 0n;
  bytes = 0;
  packets = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
  u8(v: number): void {
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.buf[this.len++] = v & 0xff;
    this.buf[this.len++] = v >>> 8;
  }
  u32(v: number): void {
    const buf = this.buf;
    buf[this.len++] = v & 0xff;
    buf[this.len++] = (v >>> 8) & 0xff;
    buf[this.len++] = (v >>> 16) & 0xff;
    buf[this.len++] = v >>> 24;
  }
  /** a safe integer as UInt64 */
  u64(v: number): void {
    this.u32(v >>> 0);
    this.u32(Math.floor(v / 4294967296));
  }
  /** the record's little-endian u64 at `off`, as it is */
  raw64(raw: Uint8Array, off: number): void {
    const buf = this.buf;
    const at = this.len;
    for (let i = 0; i < 8; i++) buf[at + i] = raw[off + i];
    this.len += 8;
  }
  /** a String: LEB128 length, then the bytes (callers keep strings short: < 128 bytes are one length byte) */
  bytesStr(b: Uint8Array): void {
    let n = b.length;
    while (n >= 0x80) {
      this.buf[this.len++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.len++] = n;
    const buf = this.buf;
    const at = this.len;
    for (let i = 0; i < b.length; i++) buf[at + i] = b[i];
    this.len += b.length;
  }
  /** an ASCII String (addresses) */
  ascii(s: string): void {
    const buf = this.buf;
    let at = this.len;
    buf[at++] = s.length;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.len = at;
  }
}

/** Cuts one run's flows into blocks; `push` gets each full block (and the rest with `end()`). */
export class BlockWriter {
  readonly #sensor: string;
  readonly #sensorBytes: Buffer;
  readonly #run: string;
  readonly #blockRows: number;
  readonly #services: ServiceMap;
  readonly #push: (b: Block) => unknown;
  #n = 0;
  /** the size a block's buffer starts with: the last block's, so that it seldom grows (and is handed on, not copied) */
  #size = 1 << 20;
  /** the open block of each UTC day (a capture near midnight has two) */
  readonly #open = new Map<bigint, { rows: Rows; id: Buffer; name: string }>();
  readonly #serviceTexts = new Map<string, Buffer>();
  readonly #serverServices = new Map<number, Buffer>();
  readonly #spans = new Int32Array(2 * APP_STRINGS.length);

  constructor(o: { sensor: string; run: string; blockRows: number; services?: ServiceMap; push: (b: Block) => unknown }) {
    this.#sensor = o.sensor;
    this.#sensorBytes = Buffer.from(o.sensor);
    this.#run = o.run;
    this.#blockRows = o.blockRows;
    this.#services = o.services ?? defaultServices;
    this.#push = o.push;
  }

  write(batch: FlowBatch): void {
    for (const f of batch) this.#add(f);
  }

  /** Cuts the open blocks. */
  end(): void {
    for (const day of [...this.#open.keys()]) this.#cut(day);
  }

  #block(day: bigint): { rows: Rows; id: Buffer; name: string } {
    let b = this.#open.get(day);
    if (!b) {
      if (this.#open.size >= 4) this.#cut(this.#open.keys().next().value!); // damaged timestamps: bounded
      const name = `${this.#run}:${this.#n++}`;
      this.#open.set(day, (b = { rows: new Rows(this.#size), id: Buffer.from(name), name }));
    }
    return b;
  }

  #cut(day: bigint): void {
    const b = this.#open.get(day)!;
    this.#open.delete(day);
    const r = b.rows;
    if (r.n >= this.#blockRows) this.#size = r.len + (r.len >> 4);
    this.#push({ id: b.name, rows: r.n, format: ROW_FORMAT, minNs: r.minNs, maxNs: r.maxNs, bytes: r.bytes, packets: r.packets, body: r.buf.subarray(0, r.len) });
  }

  /** A short string as bytes, kept: service names, device service texts. */
  #text(s: string | undefined): Buffer {
    if (!s) return EMPTY;
    let b = this.#serviceTexts.get(s);
    if (b === undefined) {
      if (this.#serviceTexts.size >= 4096) this.#serviceTexts.clear();
      this.#serviceTexts.set(s, (b = Buffer.from(s)));
    }
    return b;
  }

  #serverService(l2: boolean, protocol: number, etherType: number, serverPort: number, service: string | undefined): Buffer {
    const key = l2 ? -1 - etherType : protocol * 65536 + serverPort;
    let b = this.#serverServices.get(key);
    if (b === undefined) this.#serverServices.set(key, (b = Buffer.from(deviceService(l2, protocol, etherType, serverPort, service ?? null) ?? '')));
    return b;
  }

  /** An end's address as FixedString(16): IPv6 as is, IPv4 mapped (::ffff:a.b.c.d); an ARP flow's bound IPv4 addresses; else zeros. */
  #ip16(r: Rows, raw: Uint8Array, at: number, l2: boolean, arp: boolean, version: number): void {
    const buf = r.buf;
    const o = r.len;
    buf.fill(0, o, o + 16);
    r.len += 16;
    if (version === 6) for (let i = 0; i < 16; i++) buf[o + i] = raw[at + i];
    else if (version === 4 || arp) {
      const from = l2 ? at + Offsets.kArpIp : at;
      if (l2 && this.#arpSide(raw, at) === false) return;
      buf[o + 10] = 0xff;
      buf[o + 11] = 0xff;
      for (let i = 0; i < 4; i++) buf[o + 12 + i] = raw[from + i];
    }
  }

  /** Whether this end of an ARP flow binds an address: one given, and a unicast, non-zero MAC. */
  #arpSide(raw: Uint8Array, macAt: number): boolean {
    const at = macAt + Offsets.kArpIp;
    return !(isZero(raw, at, 4) || raw[macAt] & 1 || isZero(raw, macAt, 6));
  }

  /** ARP: the IPv4 address each end gave for its MAC (the target's only when unicast), and its device; else empty. */
  #arp(r: Rows, raw: Uint8Array, arp: boolean, vlan: number): void {
    const ids = [0, 0];
    for (let side = 0; side < 2; side++) {
      const macAt = side === 0 ? Offsets.kSrcAddr : Offsets.kDstAddr;
      const at = macAt + Offsets.kArpIp;
      if (!arp || !this.#arpSide(raw, macAt)) {
        r.u8(0);
        continue;
      }
      r.ascii(`${raw[at]}.${raw[at + 1]}.${raw[at + 2]}.${raw[at + 3]}`);
      ids[side] = deviceId(this.#sensor, raw.subarray(at, at + 4), vlan);
    }
    r.u64(ids[0]);
    r.u64(ids[1]);
  }

  #mac(r: Rows, raw: Uint8Array, at: number): void {
    if (isZero(raw, at, 6)) return r.bytesStr(EMPTY);
    r.ascii(`${HEX[raw[at]]}:${HEX[raw[at + 1]]}:${HEX[raw[at + 2]]}:${HEX[raw[at + 3]]}:${HEX[raw[at + 4]]}:${HEX[raw[at + 5]]}`);
  }

  #add(f: Flow): void {
    const firstNs = f.firstNs;
    const b = this.#block(firstNs / DAY_NS);
    const r = b.rows;
    const raw = f.raw;
    const l2 = f.l2;
    const c = this.#services.classify(f);
    if (r.n === 0 || firstNs < r.minNs) r.minNs = firstNs;
    if (r.n === 0 || firstNs > r.maxNs) r.maxNs = firstNs;
    const vlan = f.vlan;
    const protocol = f.protocol;
    const icmp = !l2 && (protocol === 1 || protocol === 58);
    const packets = f.packets;
    const bytes = f.bytes;
    r.bytes += bytes;
    r.packets += packets;
    // a layer-2 flow's ends are MACs: its address is its MAC
    const srcMacAt = l2 ? Offsets.kSrcAddr : Offsets.kSrcMac;
    const dstMacAt = l2 ? Offsets.kDstAddr : Offsets.kDstMac;
    r.room(1024 + this.#sensorBytes.length + b.id.length);
    r.bytesStr(this.#sensorBytes);
    r.bytesStr(b.id);
    r.u32(r.n++);
    r.raw64(raw, Offsets.kFirstNs);
    r.raw64(raw, Offsets.kLastNs);
    r.raw64(raw, Offsets.kFlowId);
    r.u16(f.segment);
    r.u8(raw[Offsets.kEndReason]);
    r.u8(f.ipVersion);
    r.u8(protocol);
    r.u16(f.etherType);
    r.u16(vlan);
    r.ascii(f.src);
    r.ascii(f.dst);
    r.u16(f.srcPort);
    r.u16(f.dstPort);
    this.#mac(r, raw, srcMacAt);
    this.#mac(r, raw, dstMacAt);
    // a broadcast or multicast MAC is no device (device 0, as in the SQLite store): the queries skip it
    const srcAddr = f.srcAddrBytes;
    const dstAddr = f.dstAddrBytes;
    r.u64(isGroupMac(srcAddr) ? 0 : deviceId(this.#sensor, srcAddr, vlan));
    r.u64(isGroupMac(dstAddr) ? 0 : deviceId(this.#sensor, dstAddr, vlan));
    r.raw64(raw, Offsets.kFwdPackets);
    r.raw64(raw, Offsets.kFwdBytes);
    r.raw64(raw, Offsets.kRevPackets);
    r.raw64(raw, Offsets.kRevBytes);
    r.u64(packets);
    r.u64(bytes);
    r.u8(raw[Offsets.kFwdTcpFlags]);
    r.u8(raw[Offsets.kRevTcpFlags]);
    r.u8(icmp ? raw[Offsets.kIcmpType] : 0);
    r.u8(icmp ? raw[Offsets.kIcmpCode] : 0);
    r.u8(raw[Offsets.kFlags]);
    r.bytesStr(this.#text(c.service));
    r.u8(c.serverIsDst ? 1 : 0);
    // the service text the server end answered on (the devices view keeps it), as the SQLite store's device_services
    r.bytesStr(this.#serverService(l2, protocol, f.etherType, icmp ? 0 : c.serverPort, c.service));
    const arp = l2 && f.etherType === 0x0806;
    this.#ip16(r, raw, Offsets.kSrcAddr, l2, arp, f.ipVersion);
    this.#ip16(r, raw, Offsets.kDstAddr, l2, arp, f.ipVersion);
    this.#arp(r, raw, arp, vlan);
    this.#app(r, raw);
    this.#details(r, f, raw);
    if (r.n >= this.#blockRows) this.#cut(firstNs / DAY_NS);
  }

  /** The details of field list v2 (DETAIL_COLUMNS order): '' and 0 where the SQLite store has NULL. */
  #details(r: Rows, f: Flow, raw: Uint8Array): void {
    const rev = f.revPackets > 0;
    const tunnel = f.tunnelType;
    const stats = statsJson(f);
    const splt = raw[Offsets.kSpltCount] ? JSON.stringify(f.splt) : '';
    r.room(160 + (stats ? stats.length : 0) + splt.length);
    r.ascii(f.communityId() ?? '');
    r.ascii(f.connState ?? '');
    r.ascii(f.history);
    r.raw64(raw, Offsets.kFwdIpBytes);
    r.raw64(raw, Offsets.kRevIpBytes);
    r.raw64(raw, Offsets.kFwdPayloadBytes);
    r.raw64(raw, Offsets.kRevPayloadBytes);
    r.u16(f.innerVlan);
    r.ascii(tunnel ?? '');
    r.u32(tunnel ? (f.tunnelId ?? 0) : 0);
    r.u8(f.l2 ? 0 : raw[Offsets.kMinTtl]);
    r.u8(f.l2 ? 0 : raw[Offsets.kMaxTtl]);
    r.raw64(raw, Offsets.kFwdLastNs);
    if (rev) {
      r.raw64(raw, Offsets.kRevFirstNs);
      r.raw64(raw, Offsets.kRevLastNs);
    } else {
      r.u64(0);
      r.u64(0);
    }
    r.bytesStr(Buffer.from(stats ?? ''));
    r.bytesStr(Buffer.from(splt));
  }

  /** The application columns (app-columns.ts order): '' and 0 where nothing was seen, the strings' bytes as they came. */
  #app(r: Rows, raw: Uint8Array): void {
    const id = applicationId(raw);
    if (!id) {
      const buf = r.buf;
      for (let i = 0; i < APP_COLUMNS.length; i++) {
        const w = APP_WIDTH[i];
        buf.fill(0, r.len, r.len + w); // '' (length 0) and zeros
        r.len += w;
      }
      return;
    }
    const spans = this.#spans;
    appStringSpans(raw, 0, spans);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const flags = raw[Offsets.kAppFlags];
    const response = (flags & AppFlags.DNS_RESPONSE) !== 0;
    for (let i = 0; i < APP_COLUMNS.length; i++) {
      const s = APP_STRING_IDS[i];
      if (s) {
        r.bytesStr(spans[2 * s] < 0 ? EMPTY : raw.subarray(spans[2 * s], spans[2 * s + 1]));
        continue;
      }
      switch (APP_COLUMNS[i]) {
        case 'application': r.bytesStr(this.#text(APPLICATIONS[id])); break;
        case 'app_flags': r.u8(flags); break;
        case 'tls_version': r.u16(v.getUint16(Offsets.kTlsVersion, true)); break;
        case 'dns_qtype': r.u16(v.getUint16(Offsets.kDnsQtype, true)); break;
        case 'dns_rcode': r.u8(response ? raw[Offsets.kDnsRcode] : 0); break;
        case 'dns_answers': r.u16(response ? v.getUint16(Offsets.kDnsAnswers, true) : 0); break;
        case 'dns_answer': {
          const version = raw[Offsets.kDnsAnswerVersion];
          const at = Offsets.kDnsAnswerAddr;
          if (version === 4 || version === 6) r.ascii(answerText(raw.subarray(at, at + (version === 4 ? 4 : 16))));
          else r.u8(0);
          break;
        }
        case 'http_status': r.u16(v.getUint16(Offsets.kHttpStatus, true)); break;
        case 'app_code': r.u16(flags & AppFlags.CODE ? v.getUint16(Offsets.kAppCode, true) : 0); break;
        default: throw new Error(`rows.ts: no encoding for ${APP_COLUMNS[i]}`);
      }
    }
  }
}

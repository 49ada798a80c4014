/**
 * Stored flows (FlowRow, the store's pages) as export rows: the columns CSV
 * and Parquet write, in snake_case as SQLite names them; a walk over the
 * store by cursor, one page at a time (memory stays bounded whatever the
 * store holds); and a row rebuilt as a flow record, for the IPFIX exporter.
 */
import ipaddr from 'ipaddr.js';
import { FlowBatch, type AppInfo } from '../flow/flow';
import { APP_STRINGS, APPLICATIONS, END_REASONS, Offsets as O, RECORD_SIZE, RecordFlags, TCP_FLAG_NAMES, TUNNEL_TYPES } from '../flow/layout';
import { FLOW_ROW_COLUMNS, type FlowFilter, type FlowRow, type Page } from '../store/query';

/**
 * How a column is typed: int64 (ns times, ids, counters), int32 (small
 * integers), float64 (ms times with their fraction), utf8, dict (a
 * low-cardinality string: Parquet dictionary), bool, json (an object: its
 * JSON text).
 */
export type ColumnKind = 'int64' | 'int32' | 'float64' | 'utf8' | 'dict' | 'bool' | 'json';

export interface ExportColumn {
  /** snake_case: the SQLite column where there is one */
  name: string;
  kind: ColumnKind;
  get: (r: FlowRow) => unknown;
}

/**
 * Every FlowRow field's kind. Typed over every key of FlowRow, so that a
 * field added to FlowRow fails to compile here until it has a column.
 * `app` is flattened into APP_FIELDS' columns.
 */
const ROW_KINDS: { [K in Exclude<keyof FlowRow, 'app'>]-?: ColumnKind } = {
  id: 'int64', sourceId: 'int64', flowId: 'int64', segment: 'int32', endReason: 'dict',
  first: 'float64', last: 'float64', firstNs: 'int64', lastNs: 'int64', durationMs: 'float64',
  ipVersion: 'int32', protocol: 'int32', etherType: 'int32', src: 'utf8', dst: 'utf8', srcPort: 'int32', dstPort: 'int32',
  vlan: 'int32', innerVlan: 'int32', srcMac: 'utf8', dstMac: 'utf8', srcMacVendor: 'dict', dstMacVendor: 'dict',
  srcDevice: 'int64', dstDevice: 'int64', tunnelType: 'dict', tunnelId: 'int64', icmpType: 'int32', icmpCode: 'int32',
  minTtl: 'int32', maxTtl: 'int32', packets: 'int64', bytes: 'int64', fwdPackets: 'int64', fwdBytes: 'int64',
  revPackets: 'int64', revBytes: 'int64', fwdIpBytes: 'int64', revIpBytes: 'int64', fwdPayloadBytes: 'int64', revPayloadBytes: 'int64',
  fwdFirst: 'float64', fwdLast: 'float64', revFirst: 'float64', revLast: 'float64', fwdTcpFlags: 'int32', revTcpFlags: 'int32',
  connState: 'dict', history: 'utf8', communityId: 'utf8', service: 'dict',
  fwdStats: 'json', revStats: 'json', biStats: 'json', fwdFlagCounts: 'json', revFlagCounts: 'json', splt: 'json',
};

/** The application's fields (FlowRow.app), null where the flow has none or did not show it. */
const APP_KINDS: { [K in keyof AppInfo]-?: ColumnKind } = {
  application: 'dict', sni: 'utf8', alpn: 'dict', ja4: 'utf8', ja3: 'utf8', certCn: 'utf8', tlsVersion: 'dict',
  dnsQuery: 'utf8', dnsQtype: 'int32', dnsRcode: 'int32', dnsAnswers: 'int32', dnsAnswer: 'utf8', httpMethod: 'dict',
  httpHost: 'utf8', userAgent: 'utf8', httpStatus: 'int32', sshClient: 'utf8', sshServer: 'utf8', appCode: 'int32', appCut: 'bool',
};

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The export's columns, in order: FlowRow's stored fields with their SQLite
 * names in FLOW_ROW_COLUMNS' order (as `flows --format csv`), then FlowRow's
 * other fields (times in ms, MAC vendors, statistics and SPLT as JSON) in
 * snake_case, then the application's.
 */
export const EXPORT_COLUMNS: readonly ExportColumn[] = (() => {
  const named = new Map<string, string>(FLOW_ROW_COLUMNS.map(([key, column]) => [key, column]));
  const keys = [...named.keys(), ...Object.keys(ROW_KINDS).filter((k) => !named.has(k))] as Exclude<keyof FlowRow, 'app'>[];
  return [
    ...keys.map((key): ExportColumn => ({ name: named.get(key) ?? snake(key), kind: ROW_KINDS[key], get: (r) => r[key] })),
    ...(Object.keys(APP_KINDS) as (keyof AppInfo)[]).map((key): ExportColumn => ({ name: snake(key), kind: APP_KINDS[key], get: (r) => r.app?.[key] })),
  ];
})();

/** One CSV cell: empty for null, quoted when it holds a comma, quote or line break; booleans 1/0 as the flow CSV has them. */
function csvCell(v: unknown, kind: ColumnKind): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'boolean' ? (v ? '1' : '0') : kind === 'json' && typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(): string {
  return EXPORT_COLUMNS.map((c) => c.name).join(',');
}

export function csvLine(r: FlowRow): string {
  let s = '';
  for (let i = 0; i < EXPORT_COLUMNS.length; i++) {
    const c = EXPORT_COLUMNS[i];
    s += (i ? ',' : '') + csvCell(c.get(r), c.kind);
  }
  return s;
}

/** A FlowRow as one JSON line (a BigInt, if FlowRow still has any, as its decimal string). */
export function jsonLine(r: FlowRow): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** What the walk needs of the store: FlowQueries.page. */
export interface FlowPager {
  page(req: { filter?: FlowFilter; sort?: 'first'; order?: 'asc'; limit?: number; cursor?: string }): Page<FlowRow>;
}

/** The store's page size limit: the most rows one page() gives. */
export const PAGE_ROWS = 10_000;

/**
 * The flows that match `filter`, oldest first (first_ns, then id), a page at
 * a time: keyset pages, so each costs the same at any depth, and rows
 * ingested meanwhile behind the cursor do not shift it.
 */
export function* flowPages(pager: FlowPager, filter: FlowFilter, limit = PAGE_ROWS): Generator<FlowRow[]> {
  let cursor: string | undefined;
  do {
    const page = pager.page({ filter, sort: 'first', order: 'asc', limit, cursor });
    if (page.items.length) yield page.items;
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
}

/** ms since the epoch (FlowRow's per-direction times) as ns: whole ms exactly, the fraction to the ns. */
const msToNs = (ms: number) => BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms - Math.floor(ms)) * 1e6));

function writeAddress(b: Uint8Array, off: number, text: string, v4: boolean): void {
  const a = v4 ? ipaddr.IPv4.parse(text) : ipaddr.IPv6.parse(text);
  b.set(a.toByteArray(), off);
}

function writeMac(b: Uint8Array, off: number, text: string | null): void {
  if (text === null || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) return;
  b.set(text.split(':').map((h) => parseInt(h, 16)), off);
}

/** The application strings the IPFIX exporter sends (httpRequestMethod, httpRequestHost, httpUserAgent), as APP_STRINGS ids. */
const IPFIX_APP_STRINGS = (['httpMethod', 'httpHost', 'userAgent'] as const).map((k) => [k, APP_STRINGS.indexOf(k)] as const);

/** The application's id, HTTP status and the HTTP strings IPFIX sends, into the record's application area (as many as fit). */
function writeApp(b: Uint8Array, v: DataView, o: number, app: AppInfo | undefined): void {
  const id = app ? (APPLICATIONS as readonly string[]).indexOf(app.application) : -1;
  if (!app || id <= 0) return;
  b[o + O.kApplication] = id;
  v.setUint16(o + O.kHttpStatus, app.httpStatus ?? 0, true);
  let p = o + O.kAppStrings;
  const end = o + O.kApp + O.kAppSize;
  for (const [key, sid] of IPFIX_APP_STRINGS) {
    const text = app[key];
    if (!text) continue;
    const bytes = Buffer.from(text, 'utf8').subarray(0, Math.min(255, end - p - 2));
    if (bytes.length === 0) break;
    b[p] = sid;
    b[p + 1] = bytes.length;
    b.set(bytes, p + 2);
    p += 2 + bytes.length;
  }
}

/**
 * Stored rows rebuilt as a batch of flow records, the input of the IPFIX
 * exporter (which reads records, not rows). Every field its templates send
 * is one the store keeps: addresses, ports, protocol, ether type, ICMP
 * type/code, VLAN and inner VLAN, tunnel type and id, TCP flags and (with
 * statistics) the flag counters, counters, times (each direction's), end
 * reason, flow id, TTLs, and the application's name, HTTP method, host,
 * user agent and status. The rest of the record (size and inter-arrival
 * statistics, SPLT, the other application strings, history, conn_state,
 * the tunnel and fragment flag bits) is left zero: the exporter does not
 * send it.
 */
export function rowsToBatch(rows: readonly FlowRow[]): FlowBatch {
  const buf = new ArrayBuffer(rows.length * RECORD_SIZE);
  const b = new Uint8Array(buf);
  const v = new DataView(buf);
  rows.forEach((row, i) => {
    const o = i * RECORD_SIZE;
    const u64 = (off: number, val: number | bigint | string) => v.setBigUint64(o + off, BigInt(val), true);
    const l2 = row.ipVersion !== 4 && row.ipVersion !== 6;
    u64(O.kFlowId, row.flowId);
    u64(O.kFirstNs, row.firstNs);
    u64(O.kLastNs, row.lastNs);
    if (l2) {
      writeMac(b, o + O.kSrcAddr, row.src);
      writeMac(b, o + O.kDstAddr, row.dst);
    } else {
      writeAddress(b, o + O.kSrcAddr, row.src, row.ipVersion === 4);
      writeAddress(b, o + O.kDstAddr, row.dst, row.ipVersion === 4);
    }
    v.setUint16(o + O.kSrcPort, row.srcPort, true);
    v.setUint16(o + O.kDstPort, row.dstPort, true);
    v.setUint16(o + O.kVlan, row.vlan, true);
    v.setUint16(o + O.kEtherType, row.etherType, true);
    b[o + O.kIpVersion] = row.ipVersion;
    b[o + O.kProtocol] = row.protocol;
    b[o + O.kEndReason] = Math.max(0, (END_REASONS as readonly string[]).indexOf(row.endReason));
    b[o + O.kFlags] = l2 ? RecordFlags.L2 : 0;
    v.setUint16(o + O.kSegment, row.segment, true);
    b[o + O.kFwdTcpFlags] = row.fwdTcpFlags;
    b[o + O.kRevTcpFlags] = row.revTcpFlags;
    b[o + O.kIcmpType] = row.icmpType ?? 0;
    b[o + O.kIcmpCode] = row.icmpCode ?? 0;
    writeMac(b, o + O.kSrcMac, l2 ? row.src : row.srcMac);
    writeMac(b, o + O.kDstMac, l2 ? row.dst : row.dstMac);
    b[o + O.kMinTtl] = row.minTtl ?? 0;
    b[o + O.kMaxTtl] = row.maxTtl ?? 0;
    u64(O.kFwdPackets, row.fwdPackets);
    u64(O.kFwdBytes, row.fwdBytes);
    u64(O.kRevPackets, row.revPackets);
    u64(O.kRevBytes, row.revBytes);
    // per-direction times: stored since the details columns; a row from before them has the flow's
    u64(O.kFwdLastNs, row.fwdLast === null ? row.lastNs : msToNs(row.fwdLast));
    u64(O.kRevFirstNs, row.revFirst === null ? row.firstNs : msToNs(row.revFirst));
    u64(O.kRevLastNs, row.revLast === null ? row.lastNs : msToNs(row.revLast));
    v.setUint16(o + O.kInnerVlan, row.innerVlan ?? 0, true);
    b[o + O.kTunnelType] = row.tunnelType === null ? 0 : Math.max(0, (TUNNEL_TYPES as readonly string[]).indexOf(row.tunnelType));
    v.setUint32(o + O.kTunnelId, row.tunnelId ?? 0, true);
    TCP_FLAG_NAMES.forEach((name, k) => {
      v.setUint32(o + O.kFwdFlagCounts + 4 * k, row.fwdFlagCounts?.[name] ?? 0, true);
      v.setUint32(o + O.kRevFlagCounts + 4 * k, row.revFlagCounts?.[name] ?? 0, true);
    });
    writeApp(b, v, o, row.app);
  });
  return new FlowBatch(buf);
}

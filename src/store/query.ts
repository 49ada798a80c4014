/**
 * Reading the store back: flows and devices pages with keyset pagination
 * (opaque cursors: base64url, bound to the filter and sort they were made
 * for, HMAC-signed with a secret kept in the database) and offset pagination
 * (page numbers, optional total). Every value is a bound parameter; filter
 * fields are validated.
 */
import type { Database, Statement } from 'better-sqlite3';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { FlowmasterError } from '../errors';
import { APP_COLUMNS, appInfoOf } from '../export/app-columns';
import { vendorOf } from '../devices/oui';
import { formatAddress, formatMac } from '../flow/address';
import { nsToMs, type AppInfo, type DirectionStats, type Splt, type TcpFlagCounts } from '../flow/flow';
import { APPLICATIONS, CONN_STATES, END_REASONS, type ConnState, type EndReason, type TunnelType } from '../flow/layout';
import { DETAIL_COLUMNS } from './details';
import type { Metrics } from '../metrics/registry';
import { guarded } from './sqlite';

/**
 * Times store queries by shape into the metrics and counts the slow ones;
 * a SQLite failure becomes a coded FlowmasterError naming the database.
 */
export class QueryTimer {
  readonly #metrics: Metrics;
  readonly #slowMs: number;
  readonly #path: string;
  constructor(metrics: Metrics, slowMs: number, path = 'database') {
    this.#metrics = metrics;
    this.#slowMs = slowMs;
    this.#path = path;
  }
  run<T>(shape: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return this.guard(shape, fn);
    } finally {
      const ms = performance.now() - t0;
      this.#metrics.queryDuration.observe({ shape }, ms / 1000);
      if (ms > this.#slowMs) this.#metrics.slowQueries.inc({ shape });
    }
  }
  /** An untimed query (a count beside a timed one). */
  guard<T>(shape: string, fn: () => T): T {
    return guarded(this.#path, `query ${shape}`, fn);
  }
}

export interface FlowFilter {
  /** flows that overlap [from, to], ms since the epoch */
  from?: number;
  to?: number;
  /** an IP address or CIDR (either end) */
  host?: string;
  /** a device id (either end) */
  device?: number;
  /** a port (either end) */
  port?: number;
  protocol?: number;
  service?: string;
  source?: number;
  vlan?: number;
  minBytes?: number;
  /** what the payload showed: 'tls', 'http', 'dns', ... (docs/applications.md) */
  application?: string;
  /** TLS / QUIC server name: a name, or a glob ('*.example.com'; '?' one character), ASCII letters in any case */
  sni?: string;
  /** HTTP Host header: a name or a glob, as sni */
  httpHost?: string;
  /** DNS question name: a name or a glob, as sni */
  dnsQuery?: string;
  /** Community ID v1 ('1:…', as Zeek and Suricata log it), exact */
  communityId?: string;
  /** Zeek's conn_state: one ('SF') or several (['S0', 'REJ']) */
  connState?: ConnState | ConnState[];
  /** end reason: one ('idle') or several */
  endReason?: EndReason | EndReason[];
}

/** The filters on the application's names: their columns. */
const NAME_FILTERS = [['sni', 'sni'], ['httpHost', 'http_host'], ['dnsQuery', 'dns_query']] as const;

/**
 * A name or glob as a LIKE pattern (ESCAPE '\'): `*` any characters, `?` one,
 * the rest as it is; LIKE matches it whole, ASCII letters in any case.
 */
export function globPattern(name: string, glob: unknown): string {
  if (typeof glob !== 'string' || glob.length === 0 || glob.length > 255) bad(`${name}: expected a name or a glob pattern such as '*.example.com'`);
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%').replace(/\?/g, '_');
}

/** An application name (APPLICATIONS), else ERR_INVALID_OPTION. */
export function applicationName(name: string, v: unknown): string {
  if (typeof v !== 'string' || !v || !(APPLICATIONS as readonly string[]).includes(v)) bad(`${name}: expected one of ${APPLICATIONS.slice(1).join(', ')}`);
  return v;
}

export type FlowSort = 'first' | 'last' | 'bytes' | 'packets';
export type Order = 'asc' | 'desc';

/**
 * A stored flow as plain JSON data (JSON.stringify works): the names and
 * units of Flow.toObject() (docs/fields.md): times as ms since the epoch
 * (numbers with the ns fraction the double keeps), `firstNs`/`lastNs` the
 * exact ns as decimal strings, or as bigint with the page request's
 * `safeIntegers: true` (better-sqlite3's name). Fields stored from
 * migration 10 on are null for flows stored before it.
 */
export interface FlowRow<Ns extends string | bigint = string> {
  id: number;
  sourceId: number;
  flowId: number;
  segment: number;
  /** 'idle', 'active', 'tcp-end', 'flush', 'evicted' (Flow.endReason) */
  endReason: EndReason | 'open';
  /** ms since the epoch */
  first: number;
  last: number;
  firstNs: Ns;
  lastNs: Ns;
  durationMs: number;
  ipVersion: number;
  protocol: number;
  etherType: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  vlan: number;
  innerVlan: number | null;
  /** the MACs of an IP flow's first packet (a layer-2 flow's ends are src/dst), null when none */
  srcMac: string | null;
  dstMac: string | null;
  srcMacVendor: string | null;
  dstMacVendor: string | null;
  /** device ids; 0 for a broadcast or multicast MAC (no device) */
  srcDevice: number;
  dstDevice: number;
  tunnelType: TunnelType | null;
  tunnelId: number | null;
  icmpType: number | null;
  icmpCode: number | null;
  minTtl: number | null;
  maxTtl: number | null;
  packets: number;
  bytes: number;
  fwdPackets: number;
  fwdBytes: number;
  revPackets: number;
  revBytes: number;
  fwdIpBytes: number | null;
  revIpBytes: number | null;
  fwdPayloadBytes: number | null;
  revPayloadBytes: number | null;
  /** ms since the epoch of each direction's first and last packet (rev: null without a reverse packet) */
  fwdFirst: number;
  fwdLast: number | null;
  revFirst: number | null;
  revLast: number | null;
  fwdTcpFlags: number;
  revTcpFlags: number;
  /** Zeek's conn_state and history ('' when none) */
  connState: ConnState | null;
  history: string | null;
  communityId: string | null;
  service: string | null;
  /** with `statistics` at ingest */
  fwdStats?: DirectionStats;
  revStats?: DirectionStats;
  biStats?: DirectionStats;
  fwdFlagCounts?: TcpFlagCounts;
  revFlagCounts?: TcpFlagCounts;
  /** with `splt` > 0 at ingest */
  splt?: Splt;
  /** what the payload showed, as Flow.toObject() gives it (strings in a fixed order); absent when nothing was found */
  app?: AppInfo;
}

/**
 * FlowRow's fields (without app, stats and splt) and their SQLite columns, in
 * the order the CLI's CSV writes them; stats and splt follow as JSON, then
 * the application's columns.
 */
export const FLOW_ROW_COLUMNS: readonly [keyof FlowRow, string][] = [
  ['id', 'id'], ['sourceId', 'source_id'], ['flowId', 'flow_id'], ['segment', 'segment'], ['endReason', 'end_reason'],
  ['firstNs', 'first_ns'], ['lastNs', 'last_ns'], ['ipVersion', 'ip_version'], ['protocol', 'protocol'], ['etherType', 'ether_type'],
  ['src', 'src_addr'], ['dst', 'dst_addr'], ['srcPort', 'src_port'], ['dstPort', 'dst_port'], ['vlan', 'vlan'], ['innerVlan', 'inner_vlan'],
  ['srcMac', 'src_mac'], ['dstMac', 'dst_mac'], ['srcDevice', 'src_device'], ['dstDevice', 'dst_device'], ['tunnelType', 'tunnel_type'],
  ['tunnelId', 'tunnel_id'], ['icmpType', 'icmp_type'], ['icmpCode', 'icmp_code'], ['minTtl', 'min_ttl'], ['maxTtl', 'max_ttl'],
  ['packets', 'packets'], ['bytes', 'bytes'], ['fwdPackets', 'fwd_packets'], ['fwdBytes', 'fwd_bytes'], ['revPackets', 'rev_packets'],
  ['revBytes', 'rev_bytes'], ['fwdIpBytes', 'fwd_ip_bytes'], ['revIpBytes', 'rev_ip_bytes'], ['fwdPayloadBytes', 'fwd_payload_bytes'],
  ['revPayloadBytes', 'rev_payload_bytes'], ['fwdTcpFlags', 'fwd_tcp_flags'], ['revTcpFlags', 'rev_tcp_flags'], ['connState', 'conn_state'],
  ['history', 'history'], ['communityId', 'community_id'], ['service', 'service'],
];

export interface Page<T> {
  items: T[];
  /** pass as `cursor` for the next page; null at the end */
  next: string | null;
}

const MAX_LIMIT = 10_000;
const SORT_SQL: Record<FlowSort, string> = {
  first: 'first_ns',
  last: 'last_ns',
  bytes: 'bytes',
  packets: 'packets',
};

function bad(what: string): never {
  throw new FlowmasterError('ERR_INVALID_OPTION', what);
}

/** A validated integer option (ERR_INVALID_OPTION otherwise). */
export function int(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${name}: expected an integer in ${min}..${max}`);
  return v;
}

/** The last ms whose ns (first_ns, last_ns) fit SQLite's signed 64-bit integers: 2262-04-11. */
export const MAX_TIME_MS = 9_223_372_036_854;
const INT64_MAX = (1n << 63n) - 1n;

/** A time option (ms since the epoch) as ns: its first ns, or with `end` its last (capped at int64). */
export function timeNs(name: string, ms: unknown, end = false): bigint {
  const ns = BigInt(int(name, ms, 0, MAX_TIME_MS)) * 1_000_000n;
  return end ? (ns + 999_999n > INT64_MAX ? INT64_MAX : ns + 999_999n) : ns;
}

/**
 * An IP address or CIDR (IPv4 as a dotted quad, IPv6 without a zone id) as
 * the inclusive BLOB range [lo, hi] of its family: 4 bytes for IPv4, 16 for
 * IPv6. An IPv4-mapped IPv6 range (::ffff:0:0/96) is IPv6: it matches the
 * addresses stored as IPv6, never the IPv4 ones.
 */
export function addressRange(host: string): [Buffer, Buffer] {
  if (typeof host !== 'string') bad('host: expected an IP address or CIDR');
  const cidr = host.includes('/');
  const v4 = cidr ? ipaddr.IPv4.isValidCIDRFourPartDecimal(host) : ipaddr.IPv4.isValidFourPartDecimal(host);
  const v6 = !v4 && (cidr ? ipaddr.IPv6.isValidCIDR(host) : ipaddr.IPv6.isValid(host));
  const zoned = v6 && ipaddr.IPv6.parse(host.split('/')[0]).zoneId !== undefined; // fe80::1%eth0: no zone is stored
  if ((!v4 && !v6) || zoned) bad(`host: ${JSON.stringify(host)} is not an IP address or CIDR`);
  const family = v4 ? ipaddr.IPv4 : ipaddr.IPv6;
  const [lo, hi] = cidr ? [family.networkAddressFromCIDR(host), family.broadcastAddressFromCIDR(host)] : Array(2).fill(family.parse(host));
  return [Buffer.from(lo.toByteArray()), Buffer.from(hi.toByteArray())];
}

/** A host filter on devices.addr: the range, and only addresses of its family (MACs are 6 bytes). */
function hostMatch(host: string): { sql: string; params: unknown[]; canonical: string } {
  const [lo, hi] = addressRange(host);
  return { sql: 'addr BETWEEN ? AND ? AND length(addr) = ?', params: [lo, hi, lo.length], canonical: `${lo.toString('hex')}-${hi.toString('hex')}` };
}

interface Compiled {
  where: string;
  params: unknown[];
  /** canonical text of the filter, for cursor binding */
  canonical: string;
}

/** Filters an index can serve by equality: when they match many rows, a page is cheaper in sort order (see #strategy). */
const SELECTIVE_FILTERS = ['host', 'device', 'port', 'service', 'source', 'application', 'communityId'] as const;

/**
 * Compiles a filter to SQL. With `sortOrder`, the columns of the selective
 * filters are written `+col`, which keeps SQLite from using their indexes:
 * the page then walks the sort's index and tests each row.
 */
export function compileFlowFilter(f: FlowFilter = {}, sortOrder = false, half?: 'src' | 'dst'): Compiled {
  const c = (col: string) => (sortOrder ? `+${col}` : col);
  const split = half && splitKey(f);
  /** either end, or with `half` (for splitKey's filter) one end: the source, or the destination of the flows whose source does not match */
  const ends = (name: keyof FlowFilter, col: string) =>
    name !== split ? `(${c(`src_${col}`)} = ? OR ${c(`dst_${col}`)} = ?)` : half === 'src' ? `src_${col} = ?` : `dst_${col} = ? AND src_${col} != ?`;
  if (f === null || typeof f !== 'object') bad('filter: expected an object');
  const known = new Set(['from', 'to', 'host', 'device', 'port', 'protocol', 'service', 'source', 'vlan', 'minBytes', 'application', 'sni', 'httpHost', 'dnsQuery', 'communityId', 'connState', 'endReason']);
  for (const k of Object.keys(f)) if (!known.has(k)) bad(`filter.${k}: unknown filter`);
  const where: string[] = [];
  const params: unknown[] = [];
  const canon: Record<string, unknown> = {};
  if (f.from !== undefined) {
    where.push('last_ns >= ?');
    params.push(timeNs('filter.from', f.from));
    canon.from = f.from;
  }
  if (f.to !== undefined) {
    where.push('first_ns <= ?');
    params.push(timeNs('filter.to', f.to, true));
    canon.to = f.to;
  }
  if (f.host !== undefined) {
    const h = hostMatch(f.host);
    // through the devices' unique (addr, vlan) index, then the flows' device indexes
    where.push(`(${c('src_device')} IN (SELECT id FROM devices WHERE ${h.sql}) OR ${c('dst_device')} IN (SELECT id FROM devices WHERE ${h.sql}))`);
    params.push(...h.params, ...h.params);
    canon.host = h.canonical;
  }
  // integer filters: (name, range, SQL with one ? per use of the value)
  const INTEGER_FILTERS: [keyof FlowFilter, number, number, string][] = [
    ['device', 1, 2 ** 53, ends('device', 'device')],
    ['port', 0, 65535, ends('port', 'port')],
    ['protocol', 0, 255, 'protocol = ?'],
    ['source', 1, 2 ** 53, `${c('source_id')} = ?`],
    ['vlan', 0, 4095, 'vlan = ?'],
    ['minBytes', 0, 2 ** 53, 'bytes >= ?'],
  ];
  for (const [name, min, max, sql] of INTEGER_FILTERS) {
    if (f[name] === undefined) continue;
    const v = int(`filter.${name}`, f[name], min, max);
    where.push(sql);
    for (let i = sql.split('?').length - 1; i > 0; i--) params.push(v);
    // a layer-2 flow has no IP protocol and no ports, and stores 0 for them
    if (v === 0 && (name === 'port' || name === 'protocol')) where.push('ip_version != 0');
    canon[name] = v;
  }
  if (f.service !== undefined) {
    if (typeof f.service !== 'string' || f.service.length > 64) bad('filter.service: expected a service name');
    where.push(`${c('service')} = ?`);
    params.push(f.service);
    canon.service = f.service;
  }
  if (f.application !== undefined) {
    // through the partitions' partial index of the flows with an application
    where.push(`${c('application')} = ?`);
    params.push(applicationName('filter.application', f.application));
    canon.application = f.application;
  }
  for (const [name, col] of NAME_FILTERS) {
    if (f[name] === undefined) continue;
    where.push(`${col} LIKE ? ESCAPE '\\'`);
    params.push(globPattern(`filter.${name}`, f[name]));
    canon[name] = f[name];
  }
  if (f.communityId !== undefined) {
    // through the partitions' community_id index
    if (typeof f.communityId !== 'string' || !/^1:[A-Za-z0-9+/]{27}=$/.test(f.communityId)) bad("filter.communityId: expected a Community ID v1 such as '1:LQU9qZlK+B5F3KDmev6m5PMibrg='");
    where.push(`${c('community_id')} = ?`);
    params.push(f.communityId);
    canon.communityId = f.communityId;
  }
  // few values, every flow has one: a test on each row the page reads, no index
  const oneOf = (name: 'connState' | 'endReason', col: string, values: readonly string[], code: (v: string) => unknown) => {
    const given = f[name];
    if (given === undefined) return;
    const list = Array.isArray(given) ? given : [given];
    if (!list.length || list.length > values.length || list.some((v) => typeof v !== 'string' || !values.includes(v))) bad(`filter.${name}: expected one or several of ${values.join(', ')}`);
    const set = [...new Set(list as string[])].sort();
    where.push(`${col} IN (${set.map(() => '?').join(', ')})`);
    params.push(...set.map(code));
    canon[name] = set;
  };
  oneOf('connState', 'conn_state', CONN_STATES.slice(1), (v) => v);
  oneOf('endReason', 'end_reason', END_REASONS.slice(1), (v) => END_REASONS.indexOf(v as EndReason));
  return { where: where.length ? where.join(' AND ') : '1', params, canonical: JSON.stringify(canon) };
}

/**
 * The either-end filter a page sorted by start time reads as two ordered
 * halves (src, then dst without src), each from its (col, first_ns) index:
 * an OR of the two indexes would sort all of a partition's matches, and a
 * walk along first_ns reads every row of a stretch where the filter's rows
 * are absent. Not with a host filter (an IN over devices is not in time order).
 */
function splitKey(f: FlowFilter): 'port' | 'device' | undefined {
  if (f.host !== undefined) return undefined;
  return f.port !== undefined ? 'port' : f.device !== undefined ? 'device' : undefined;
}

/** SQLite's limit on the arms of one compound SELECT */
const MAX_ARMS = 500;

/** Cursor signing: HMAC-SHA256 with a per-database secret (meta.cursor_secret). */
export class Cursors {
  readonly #secret: Buffer;

  /** With a database: its secret (meta.cursor_secret, made on first use); or a secret as it is (the ClickHouse queries keep theirs on the server). */
  constructor(db: Database | Buffer) {
    if (Buffer.isBuffer(db)) {
      this.#secret = db;
      return;
    }
    const read = db.prepare("SELECT value FROM meta WHERE key = 'cursor_secret'").pluck();
    let secret = read.get() as Buffer | undefined;
    if (!secret && !db.readonly) {
      // another process opening a new database may store its secret first: the stored one wins
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('cursor_secret', ?)").run(randomBytes(32));
      secret = read.get() as Buffer;
    }
    this.#secret = secret ?? randomBytes(32);
  }

  encode(binding: string, position: unknown[]): string {
    const body = Buffer.from(JSON.stringify({ b: binding, p: position }));
    const mac = createHmac('sha256', this.#secret).update(body).digest().subarray(0, 16);
    return Buffer.concat([mac, body]).toString('base64url');
  }

  decode(binding: string, cursor: string): unknown[] {
    const fail = (why: string): never => {
      throw new FlowmasterError('ERR_BAD_CURSOR', `invalid cursor: ${why}`);
    };
    if (typeof cursor !== 'string' || cursor.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(cursor)) fail('not a cursor');
    const raw = Buffer.from(cursor, 'base64url');
    if (raw.length < 17) fail('too short');
    const mac = raw.subarray(0, 16);
    const body = raw.subarray(16);
    const want = createHmac('sha256', this.#secret).update(body).digest().subarray(0, 16);
    if (!timingSafeEqual(mac, want)) fail('signature mismatch (altered, or made by another database)');
    let parsed: { b: string; p: unknown[] };
    try {
      parsed = JSON.parse(body.toString());
    } catch {
      return fail('unreadable');
    }
    if (parsed.b !== binding) fail('made for another filter or sort');
    return parsed.p;
  }
}

const FLOW_COLUMNS = `id, source_id, flow_id, segment, first_ns, last_ns, end_reason, ip_version, protocol, ether_type, src_addr, dst_addr,
  src_port, dst_port, vlan, src_device, dst_device, src_mac, dst_mac, fwd_packets, fwd_bytes, rev_packets, rev_bytes, fwd_tcp_flags, rev_tcp_flags,
  icmp_type, icmp_code, service, bytes, packets, ${APP_COLUMNS.join(', ')}, ${DETAIL_COLUMNS.join(', ')}`; // bytes, packets: a compound ORDER BY term must be a result column

/** A row read with safeIntegers(true) as a FlowRow; `big`: firstNs/lastNs as bigint. */
function toFlowRow(r: Record<string, unknown>, big = false): FlowRow<string | bigint> {
  const n = (v: unknown) => Number(v);
  const nn = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const ms = (v: unknown) => (v === null || v === undefined ? null : nsToMs(v as bigint));
  const firstNs = r.first_ns as bigint;
  const lastNs = r.last_ns as bigint;
  const srcMac = r.src_mac ? formatMac(r.src_mac as Buffer, 0) : null;
  const dstMac = r.dst_mac ? formatMac(r.dst_mac as Buffer, 0) : null;
  const row: FlowRow<string | bigint> = {
    id: n(r.id), sourceId: n(r.source_id), flowId: n(r.flow_id), segment: n(r.segment), endReason: endReasonOf(n(r.end_reason)),
    first: nsToMs(firstNs), last: nsToMs(lastNs), firstNs: big ? firstNs : firstNs.toString(), lastNs: big ? lastNs : lastNs.toString(),
    durationMs: Number(lastNs - firstNs) / 1e6, ipVersion: n(r.ip_version), protocol: n(r.protocol), etherType: n(r.ether_type),
    src: formatAddress(r.src_addr as Buffer), dst: formatAddress(r.dst_addr as Buffer), srcPort: n(r.src_port), dstPort: n(r.dst_port),
    vlan: n(r.vlan), innerVlan: nn(r.inner_vlan), srcMac, dstMac,
    srcMacVendor: r.src_mac ? vendorOf(r.src_mac as Buffer) : null, dstMacVendor: r.dst_mac ? vendorOf(r.dst_mac as Buffer) : null,
    srcDevice: n(r.src_device), dstDevice: n(r.dst_device), tunnelType: (r.tunnel_type as TunnelType | null) ?? null, tunnelId: nn(r.tunnel_id),
    icmpType: nn(r.icmp_type), icmpCode: nn(r.icmp_code), minTtl: nn(r.min_ttl), maxTtl: nn(r.max_ttl),
    packets: n(r.packets), bytes: n(r.bytes), fwdPackets: n(r.fwd_packets), fwdBytes: n(r.fwd_bytes), revPackets: n(r.rev_packets), revBytes: n(r.rev_bytes),
    fwdIpBytes: nn(r.fwd_ip_bytes), revIpBytes: nn(r.rev_ip_bytes), fwdPayloadBytes: nn(r.fwd_payload_bytes), revPayloadBytes: nn(r.rev_payload_bytes),
    fwdFirst: nsToMs(firstNs), fwdLast: ms(r.fwd_last_ns), revFirst: ms(r.rev_first_ns), revLast: ms(r.rev_last_ns),
    fwdTcpFlags: n(r.fwd_tcp_flags), revTcpFlags: n(r.rev_tcp_flags), connState: (r.conn_state as ConnState | null) ?? null,
    history: (r.history as string | null) ?? null, communityId: (r.community_id as string | null) ?? null, service: (r.service as string | null) ?? null,
  };
  if (typeof r.stats === 'string') Object.assign(row, JSON.parse(r.stats) as Pick<FlowRow, 'fwdStats' | 'revStats' | 'biStats' | 'fwdFlagCounts' | 'revFlagCounts'>);
  if (typeof r.splt === 'string') row.splt = JSON.parse(r.splt) as Splt;
  const app = appInfoOf(r);
  if (app) row.app = app;
  return row;
}

/** The end reason's name (the store keeps the record's byte). */
function endReasonOf(code: number): EndReason | 'open' {
  return END_REASONS[code] ?? 'flush';
}

export interface FlowPageRequest {
  filter?: FlowFilter;
  sort?: FlowSort;
  order?: Order;
  /** 1..10000 (default 100) */
  limit?: number;
  cursor?: string;
  /** firstNs/lastNs as bigint instead of decimal strings (better-sqlite3's name for it) */
  safeIntegers?: boolean;
}

export interface FlowOffsetRequest {
  filter?: FlowFilter;
  sort?: FlowSort;
  order?: Order;
  /** 1-based page number */
  page?: number;
  /** 1..10000 (default 100) */
  pageSize?: number;
  /** also count the matching rows */
  total?: boolean;
  /** firstNs/lastNs as bigint instead of decimal strings */
  safeIntegers?: boolean;
}

type Strategy = 'f' | 's';

interface Arm {
  name: string;
  sealed: boolean;
  rows: number;
  /** the largest last_ns of its flows (partitions.hi_ns) */
  hiNs: bigint;
}

const builders = new WeakMap<Statement, (values: unknown[]) => Record<string, unknown>>();

/**
 * Rows of a raw (array) statement as objects of its column names. A page
 * reads some 70 columns a row; better-sqlite3 builds such objects a
 * property at a time, which cost more than the query (2x on a 100-row
 * page); one object literal per row, compiled once per statement, costs
 * little. The names are the statement's own columns, quoted.
 */
function rowBuilder(st: Statement): (values: unknown[]) => Record<string, unknown> {
  let build = builders.get(st);
  if (!build) {
    const fields = st.columns().map((c, i) => `${JSON.stringify(c.name)}: v[${i}]`);
    build = new Function('v', `return { ${fields.join(', ')} };`) as (values: unknown[]) => Record<string, unknown>;
    builders.set(st, build);
  }
  return build;
}

/** flows_0 (before migration 4) stores no bytes and packets: computed, as the view does. */
const armSource = (name: string) =>
  name === 'flows_0' ? '(SELECT *, fwd_bytes + rev_bytes AS bytes, fwd_packets + rev_packets AS packets FROM flows_0)' : name;

export class FlowQueries {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #timer: QueryTimer;
  /** statements by SQL text: a page walk prepares its statement (a merge over every partition) once */
  readonly #prepared = new Map<string, Statement>();
  /** per filter and limit: each sealed partition's strategy */
  readonly #choices = new Map<string, Map<string, Strategy>>();
  #armList: Arm[] = [];
  #armsVersion = -1;

  #prepare(sql: string): Statement {
    let s = this.#prepared.get(sql);
    if (!s) {
      if (this.#prepared.size >= 64) this.#prepared.clear();
      this.#prepared.set(sql, (s = this.#db.prepare(sql)));
    }
    return s;
  }

  constructor(db: Database, cursors: Cursors, timer: QueryTimer) {
    this.#db = db;
    this.#cursors = cursors;
    this.#timer = timer;
  }

  #sort(sort: FlowSort = 'first', order: Order = 'asc'): { expr: string; dir: 'ASC' | 'DESC' } {
    if (typeof sort !== 'string' || !Object.hasOwn(SORT_SQL, sort)) bad(`sort: expected one of ${Object.keys(SORT_SQL).join(', ')}`);
    if (order !== 'asc' && order !== 'desc') bad("order: expected 'asc' or 'desc'");
    return { expr: SORT_SQL[sort], dir: order === 'asc' ? 'ASC' : 'DESC' };
  }

  /**
   * The partition tables a request reads, oldest first (the list read again
   * when the schema changed: a partition made, sealed or dropped). With a
   * `from`, not the sealed partitions whose flows all ended before it: a
   * flow in the range ends at or after `from`, and walking such a partition's
   * index would test every row of it (most of a 50M-flow store for an hour's
   * page). A sealed partition's range only narrows (retention), the hot
   * one's grows: it is always read.
   */
  #arms(req?: FlowPageRequest): Arm[] {
    const version = this.#db.pragma('schema_version', { simple: true }) as number;
    if (version !== this.#armsVersion) {
      const rows = this.#db.prepare('SELECT name, state, rows, hi_ns FROM partitions ORDER BY rowid').safeIntegers(true).all() as { name: string; state: string; rows: bigint; hi_ns: bigint }[];
      this.#armList = rows.map((r) => ({ name: r.name, sealed: r.state === 'sealed', rows: Number(r.rows), hiNs: r.hi_ns }));
      this.#armsVersion = version;
    }
    const from = req?.filter?.from;
    if (from === undefined) return this.#armList;
    const fromNs = timeNs('filter.from', from);
    return this.#armList.filter((a) => !a.sealed || a.hiNs >= fromNs);
  }

  /**
   * How each partition serves a page with a selective filter (port, device,
   * host, service, source): through the filter's indexes, sorting the
   * matches ('f'), or along the sort's index testing each row ('s'). Per
   * partition, because a filter's rows cluster in some partitions: walking
   * one that holds none reads all of it. A count of the partition's matches,
   * capped at their break-even √(limit × its rows), decides; sealed
   * partitions only lose rows: their choice is kept.
   */
  #strategy(req: FlowPageRequest, limit: number, arms: Arm[], firstPage = true): Strategy[] {
    const filter = req.filter;
    if (!filter || !SELECTIVE_FILTERS.some((k) => filter[k] !== undefined) || this.#splits(req, arms.length)) return arms.map(() => 'f');
    const f = compileFlowFilter(filter);
    const key = `${limit}|${f.canonical}`;
    let known = this.#choices.get(key);
    if (!known) {
      if (this.#choices.size >= 256) this.#choices.clear();
      this.#choices.set(key, (known = new Map()));
    }
    return this.#timer.guard('flows.strategy', () =>
      arms.map((p) => {
        const kept = known.get(p.name);
        if (kept) return kept;
        if (!p.sealed && !firstPage) return 'f'; // no (or not all) indexes yet: both plans read it whole
        const cap = Math.max(1000, Math.min(20_000, Math.round(Math.sqrt(limit * p.rows))));
        const n = this.#db.prepare(`SELECT count(*) FROM (SELECT 1 FROM ${armSource(p.name)} WHERE ${f.where} LIMIT ${cap})`).pluck().get(...f.params) as number;
        const choice = n >= cap ? 's' : 'f';
        if (p.sealed) known.set(p.name, choice);
        return choice;
      }),
    );
  }

  /**
   * A keyset page's statement and its arguments (exposed for EXPLAIN QUERY
   * PLAN in tests): a merge of one arm per partition, each with its strategy
   * (all `strategy` when one is given). After a cursor (key, id) a page is
   * two statements, the rest of the cursor's key ('tie': key = ? AND id
   * beyond ?) then the keys beyond it ('past': key beyond ?), because SQLite
   * seeks a row-value bound (key, id) > (?, ?) on the key alone: in a run of
   * equal keys (most flows have the same bytes) every arm would step over the
   * rows before the cursor ('row': that one bound, for times).
   */
  pageSql(req: FlowPageRequest = {}, after?: 'tie' | 'past' | 'row', strategy: Strategy | Strategy[] = 'f', position: unknown[] = [0n, 0]): { sql: string; params: unknown[] } {
    const { expr, dir } = this.#sort(req.sort, req.order);
    const limit = req.limit === undefined ? 100 : int('limit', req.limit, 1, MAX_LIMIT);
    const cmp = dir === 'ASC' ? '>' : '<';
    const bound = { tie: ` AND ${expr} = ? AND id ${cmp} ?`, past: ` AND ${expr} ${cmp} ?`, row: ` AND (${expr}, id) ${cmp} (?, ?)`, none: '' }[after ?? 'none'];
    const extra = after === 'tie' || after === 'row' ? position.slice(0, 2) : after === 'past' ? position.slice(0, 1) : [];
    // where a selective filter's indexes read a partition ('f'), the bound must not draw SQLite to the sort's index:
    // a tie (bytes = ? AND id < ?) looks selective, yet most flows share a few byte counts
    const unindexed = after === 'tie' ? ` AND +${expr} = ? AND +id ${cmp} ?` : after === 'past' ? ` AND +${expr} ${cmp} ?` : bound;
    const q = this.#union(req, strategy, [bound, unindexed], extra);
    return { sql: `${q.sql} ORDER BY ${expr} ${dir}, id ${dir} LIMIT ?`, params: [...q.params, limit] };
  }

  /**
   * The arms of a page: the template (so that no partition is still a
   * query), then one per partition, or two (splitKey) when sorted by start
   * time; `extra` follows each arm's arguments.
   */
  #union(req: FlowPageRequest, strategy: Strategy | Strategy[], [bound, unindexed]: [string, string], extra: unknown[]): { sql: string; params: unknown[] } {
    const selective = !!req.filter && SELECTIVE_FILTERS.some((k) => req.filter![k] !== undefined);
    const filters = (half?: 'src' | 'dst') => [compileFlowFilter(req.filter, false, half), compileFlowFilter(req.filter, true, half)];
    const arms = this.#arms(req);
    const halves: ('src' | 'dst' | undefined)[] = this.#splits(req, arms.length) ? ['src', 'dst'] : [undefined];
    const choices = Array.isArray(strategy) ? strategy : arms.map(() => strategy);
    const sql: string[] = [];
    const params: unknown[] = [];
    for (const half of halves) {
      const [byIndex, bySort] = filters(half);
      ['flow_template', ...arms.map((p) => p.name)].forEach((name, i) => {
        if (i === 0 && half === 'dst') return; // the template once
        const walk = i > 0 && choices[i - 1] === 's' && !half;
        sql.push(`SELECT ${FLOW_COLUMNS} FROM ${armSource(name)} WHERE ${(walk ? bySort : byIndex).where}${walk || !selective ? bound : unindexed}`);
        params.push(...byIndex.params, ...extra);
      });
    }
    return { sql: sql.join(' UNION ALL '), params };
  }

  /** Whether a page reads splitKey's filter as two halves (sorted by start time, within SQLite's compound limit). */
  #splits(req: FlowPageRequest, partitions: number): boolean {
    return (req.sort ?? 'first') === 'first' && !!req.filter && splitKey(req.filter) !== undefined && 2 * partitions + 1 <= MAX_ARMS;
  }

  #all(q: { sql: string; params: unknown[] }): Record<string, unknown>[] {
    const st = this.#prepare(q.sql).safeIntegers(true).raw(true);
    return (st.all(...q.params) as unknown[][]).map(rowBuilder(st));
  }

  /**
   * The rows of a keyset page: after a cursor, the rest of its key's run,
   * then the keys beyond; times are nearly unique, so one row-value bound
   * (one merge instead of two) costs no more there.
   */
  #pageRows(req: FlowPageRequest, limit: number, strategy: Strategy[], position: unknown[] | undefined): Record<string, unknown>[] {
    if (!position) return this.#all(this.pageSql({ ...req, limit }, undefined, strategy));
    const at = [BigInt(position[0] as string), position[1]];
    if (req.sort === undefined || req.sort === 'first' || req.sort === 'last') return this.#all(this.pageSql({ ...req, limit }, 'row', strategy, at));
    const rows = this.#all(this.pageSql({ ...req, limit }, 'tie', strategy, at));
    return rows.length < limit ? rows.concat(this.#all(this.pageSql({ ...req, limit: limit - rows.length }, 'past', strategy, at))) : rows;
  }

  /** Runs `fn` again, once, when a partition was dropped under it (another connection's retention). */
  #retrying<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (!/no such table/.test(String((e as Error).message))) throw e;
      this.#armsVersion = -1;
      return fn();
    }
  }

  /** One keyset page: stable under inserts, the same cost at any depth. Plain JSON data; `safeIntegers`: firstNs/lastNs as bigint. */
  page(req: FlowPageRequest & { safeIntegers: true }): Page<FlowRow<bigint>>;
  page(req?: FlowPageRequest): Page<FlowRow>;
  page(req: FlowPageRequest = {}): Page<FlowRow<string | bigint>> {
    const f = compileFlowFilter(req.filter);
    this.#sort(req.sort, req.order); // validated before the cursor, whose binding names them
    const sort = req.sort ?? 'first';
    const order = req.order ?? 'asc';
    const binding = `flows|${sort}|${order}|${f.canonical}`;
    const position = req.cursor === undefined ? undefined : this.#cursors.decode(binding, req.cursor);
    if (position && (position.length !== 3 || typeof position[1] !== 'number' || (position[2] !== 'f' && position[2] !== 's')))
      throw new FlowmasterError('ERR_BAD_CURSOR', 'invalid cursor: bad position');
    const limit = req.limit === undefined ? 100 : int('limit', req.limit, 1, MAX_LIMIT);
    const shape = `flows.page ${sort} ${Object.keys(req.filter ?? {}).sort().join('+') || '-'}`;
    let strategy: Strategy[] = [];
    const rows = this.#retrying(() => {
      strategy = this.#strategy(req, limit, this.#arms(req), !position);
      return this.#timer.run(shape, () => this.#pageRows(req, limit, strategy, position));
    });
    const items = rows.map((r) => toFlowRow(r, req.safeIntegers === true));
    let next: string | null = null;
    if (items.length === limit) {
      const last = rows[rows.length - 1];
      // the strategy letter is informational (whether a partition is walked in sort order): each page chooses again
      next = this.#cursors.encode(binding, [String(last[SORT_SQL[sort]]), Number(last.id), strategy.includes('s') ? 's' : 'f']);
    }
    return { items, next };
  }

  /**
   * One flow by id, or undefined: the flows view's arms each look it up by
   * their primary key (SQLite pushes the id into every UNION ALL arm).
   */
  get(id: number): FlowRow | undefined {
    const flowId = int('id', id, 1, 2 ** 53);
    const row = this.#retrying(() =>
      this.#timer.run('flows.get', () => this.#prepare(`SELECT ${FLOW_COLUMNS} FROM flows WHERE id = ?`).safeIntegers(true).get(flowId) as Record<string, unknown> | undefined),
    );
    return row ? (toFlowRow(row) as FlowRow) : undefined;
  }

  /** A numbered page (offset pagination), with the total count on request. */
  offsetPage(req: FlowOffsetRequest & { safeIntegers: true }): { items: FlowRow<bigint>[]; page: number; pageSize: number; total?: number };
  offsetPage(req?: FlowOffsetRequest): { items: FlowRow[]; page: number; pageSize: number; total?: number };
  offsetPage(req: FlowOffsetRequest = {}): { items: FlowRow<string | bigint>[]; page: number; pageSize: number; total?: number } {
    const { expr, dir } = this.#sort(req.sort, req.order);
    const page = req.page === undefined ? 1 : int('page', req.page, 1, 2 ** 31);
    const pageSize = req.pageSize === undefined ? 100 : int('pageSize', req.pageSize, 1, MAX_LIMIT);
    const indexed = compileFlowFilter(req.filter); // validates before the strategy's count
    const shape = `flows.offset ${req.sort ?? 'first'} ${Object.keys(req.filter ?? {}).sort().join('+') || '-'}`;
    const rows = this.#retrying(() => {
      const q = this.#union(req, this.#strategy(req, page * pageSize, this.#arms(req)), ['', ''], []);
      const sql = `${q.sql} ORDER BY ${expr} ${dir}, id ${dir} LIMIT ? OFFSET ?`;
      return this.#timer.run(shape, () => this.#all({ sql, params: [...q.params, pageSize, (page - 1) * pageSize] }));
    });
    const out: { items: FlowRow<string | bigint>[]; page: number; pageSize: number; total?: number } = { items: rows.map((r) => toFlowRow(r, req.safeIntegers === true)), page, pageSize };
    if (req.total) out.total = this.#timer.guard(`${shape} total`, () => Number(this.#db.prepare(`SELECT count(*) FROM flows WHERE ${indexed.where}`).pluck().get(...indexed.params)));
    return out;
  }
}

export interface DeviceFilter {
  /** seen (last) at or after, ms since the epoch */
  seenSince?: number;
  /** an IP address or CIDR */
  host?: string;
  vlan?: number;
  /** exact vendor name */
  vendor?: string;
  /** the host name a DNS answer gave its address: a name or a glob ('*.example.com'), ASCII letters in any case */
  name?: string;
}

export type DeviceSort = 'last' | 'first' | 'bytes' | 'packets' | 'flows';

export interface DeviceRow {
  id: number;
  addr: string;
  vlan: number;
  mac: string | null;
  vendor: string | null;
  /** the host name the latest DNS answer for its address gave, if one was seen */
  name: string | null;
  firstSeen: number;
  lastSeen: number;
  packets: number;
  bytes: number;
  flows: number;
  services: string[];
}

const DEVICE_SORT: Record<DeviceSort, string> = { last: 'last_seen_ms', first: 'first_seen_ms', bytes: 'bytes', packets: 'packets', flows: 'flows' };

export interface DevicePageRequest {
  filter?: DeviceFilter;
  sort?: DeviceSort;
  order?: Order;
  /** 1..10000 (default 100) */
  limit?: number;
  cursor?: string;
}

export interface DeviceOffsetRequest {
  filter?: DeviceFilter;
  sort?: DeviceSort;
  order?: Order;
  /** 1-based page number */
  page?: number;
  /** 1..10000 (default 100) */
  pageSize?: number;
  /** also count the matching devices */
  total?: boolean;
}

function toDeviceRow(r: Record<string, unknown>): DeviceRow {
  return {
    id: r.id as number, addr: formatAddress(r.addr as Buffer), vlan: r.vlan as number,
    mac: r.mac ? formatAddress(r.mac as Buffer) : null, vendor: (r.vendor as string | null) ?? null, name: (r.name as string | null) ?? null,
    firstSeen: r.first_seen_ms as number, lastSeen: r.last_seen_ms as number, packets: r.packets as number,
    bytes: r.bytes as number, flows: r.flows as number, services: JSON.parse(r.services as string) as string[],
  };
}

/** Compiles a devices filter to SQL conditions (every value a bound parameter). */
function compileDeviceFilter(f: DeviceFilter = {}): { where: string[]; params: unknown[] } {
  if (f === null || typeof f !== 'object') bad('filter: expected an object');
  for (const k of Object.keys(f)) if (!['seenSince', 'host', 'vlan', 'vendor', 'name'].includes(k)) bad(`filter.${k}: unknown filter`);
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.seenSince !== undefined) {
    where.push('last_seen_ms >= ?');
    params.push(int('filter.seenSince', f.seenSince, 0, MAX_TIME_MS));
  }
  if (f.host !== undefined) {
    const h = hostMatch(f.host);
    where.push(h.sql);
    params.push(...h.params);
  }
  if (f.vlan !== undefined) {
    where.push('vlan = ?');
    params.push(int('filter.vlan', f.vlan, 0, 4095));
  }
  if (f.vendor !== undefined) {
    if (typeof f.vendor !== 'string' || f.vendor.length > 200) bad('filter.vendor: expected a vendor name');
    where.push('vendor = ?');
    params.push(f.vendor);
  }
  if (f.name !== undefined) {
    where.push("EXISTS (SELECT 1 FROM host_names h WHERE h.addr = devices.addr AND h.name LIKE ? ESCAPE '\\')");
    params.push(globPattern('filter.name', f.name));
  }
  return { where, params };
}

export class DeviceQueries {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #timer: QueryTimer;

  constructor(db: Database, cursors: Cursors, timer: QueryTimer) {
    this.#db = db;
    this.#cursors = cursors;
    this.#timer = timer;
  }

  /** The SQL of a devices page (for EXPLAIN QUERY PLAN in tests), after a cursor's position if given. */
  pageSql(req: DevicePageRequest = {}, after?: unknown[]): { sql: string; params: unknown[]; col: string; limit: number } {
    const { where, params } = compileDeviceFilter(req.filter);
    const sort = req.sort ?? 'last';
    if (typeof sort !== 'string' || !Object.hasOwn(DEVICE_SORT, sort)) bad(`sort: expected one of ${Object.keys(DEVICE_SORT).join(', ')}`);
    const order = req.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') bad("order: expected 'asc' or 'desc'");
    const limit = req.limit === undefined ? 100 : int('limit', req.limit, 1, MAX_LIMIT);
    const col = DEVICE_SORT[sort];
    const dir = order === 'asc' ? 'ASC' : 'DESC';
    if (after) {
      where.push(`(${col}, id) ${dir === 'ASC' ? '>' : '<'} (?, ?)`);
      params.push(...after);
    }
    const sql = `SELECT id, addr, vlan, mac, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows,
      (SELECT json_group_array(service) FROM device_services WHERE device_id = devices.id) AS services,
      (SELECT name FROM host_names WHERE host_names.addr = devices.addr) AS name FROM devices
      WHERE ${where.length ? where.join(' AND ') : '1'} ORDER BY ${col} ${dir}, id ${dir} LIMIT ${limit}`;
    return { sql, params, col, limit };
  }

  /** How many devices the database holds. */
  count(): number {
    return this.#timer.guard('devices.count', () => this.#db.prepare('SELECT count(*) FROM devices').pluck().get() as number);
  }

  /** A numbered page of devices (offset pagination), with the total count on request. */
  offsetPage(req: DeviceOffsetRequest = {}): { items: DeviceRow[]; page: number; pageSize: number; total?: number } {
    const page = req.page === undefined ? 1 : int('page', req.page, 1, 2 ** 31);
    const pageSize = req.pageSize === undefined ? 100 : int('pageSize', req.pageSize, 1, MAX_LIMIT);
    const { sql, params } = this.pageSql({ filter: req.filter, sort: req.sort, order: req.order, limit: pageSize });
    const sort = req.sort ?? 'last';
    const rows = this.#timer.run(`devices.offset ${sort}`, () => this.#db.prepare(`${sql} OFFSET ?`).all(...params, (page - 1) * pageSize) as Record<string, unknown>[]);
    const out: { items: DeviceRow[]; page: number; pageSize: number; total?: number } = { items: rows.map(toDeviceRow), page, pageSize };
    if (req.total) {
      const { where, params: p } = compileDeviceFilter(req.filter);
      out.total = this.#timer.guard(`devices.offset ${sort} total`, () => this.#db.prepare(`SELECT count(*) FROM devices WHERE ${where.length ? where.join(' AND ') : '1'}`).pluck().get(...p) as number);
    }
    return out;
  }

  /** One keyset page of devices. */
  page(req: DevicePageRequest = {}): Page<DeviceRow> {
    this.pageSql(req); // validates before the cursor, whose binding names the filter and sort
    const f = req.filter ?? {};
    const sort = req.sort ?? 'last';
    const binding = `devices|${sort}|${req.order ?? 'desc'}|${JSON.stringify([f.seenSince, f.host, f.vlan, f.vendor, ...(f.name === undefined ? [] : [f.name])])}`;
    let after: unknown[] | undefined;
    if (req.cursor !== undefined) {
      after = this.#cursors.decode(binding, req.cursor);
      if (after.length !== 2 || typeof after[0] !== 'number' || typeof after[1] !== 'number') throw new FlowmasterError('ERR_BAD_CURSOR', 'invalid cursor: bad position');
    }
    const { sql, params, col, limit } = this.pageSql(req, after);
    const rows = this.#timer.run(`devices.page ${sort}`, () => this.#db.prepare(sql).all(...params) as Record<string, unknown>[]);
    const items = rows.map(toDeviceRow);
    const last = rows[rows.length - 1];
    const next = items.length === limit ? this.#cursors.encode(binding, [last[col] as number, last.id as number]) : null;
    return { items, next };
  }
}

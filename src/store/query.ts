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
import { formatAddress } from '../flow/address';
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
}

export type FlowSort = 'first' | 'last' | 'bytes' | 'packets';
export type Order = 'asc' | 'desc';

export interface FlowRow {
  id: number;
  sourceId: number;
  flowId: number;
  segment: number;
  firstNs: bigint;
  lastNs: bigint;
  endReason: number;
  ipVersion: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  vlan: number;
  srcDevice: number;
  dstDevice: number;
  packets: number;
  bytes: number;
  fwdPackets: number;
  fwdBytes: number;
  revPackets: number;
  revBytes: number;
  service: string | null;
}

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
const SELECTIVE_FILTERS = ['host', 'device', 'port', 'service', 'source'] as const;

/**
 * Compiles a filter to SQL. With `sortOrder`, the columns of the selective
 * filters are written `+col`, which keeps SQLite from using their indexes:
 * the page then walks the sort's index and tests each row.
 */
export function compileFlowFilter(f: FlowFilter = {}, sortOrder = false): Compiled {
  const c = (col: string) => (sortOrder ? `+${col}` : col);
  if (f === null || typeof f !== 'object') bad('filter: expected an object');
  const known = new Set(['from', 'to', 'host', 'device', 'port', 'protocol', 'service', 'source', 'vlan', 'minBytes']);
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
    ['device', 1, 2 ** 53, `(${c('src_device')} = ? OR ${c('dst_device')} = ?)`],
    ['port', 0, 65535, `(${c('src_port')} = ? OR ${c('dst_port')} = ?)`],
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
  return { where: where.length ? where.join(' AND ') : '1', params, canonical: JSON.stringify(canon) };
}

/** Cursor signing: HMAC-SHA256 with a per-database secret (meta.cursor_secret). */
export class Cursors {
  readonly #secret: Buffer;

  constructor(db: Database) {
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

const FLOW_COLUMNS = `id, source_id, flow_id, segment, first_ns, last_ns, end_reason, ip_version, protocol, src_addr, dst_addr,
  src_port, dst_port, vlan, src_device, dst_device, fwd_packets, fwd_bytes, rev_packets, rev_bytes, service, bytes, packets`; // bytes, packets: a compound ORDER BY term must be a result column


function toFlowRow(r: Record<string, unknown>): FlowRow {
  const n = (v: unknown) => Number(v);
  return {
    id: n(r.id), sourceId: n(r.source_id), flowId: n(r.flow_id), segment: n(r.segment),
    firstNs: BigInt(r.first_ns as bigint), lastNs: BigInt(r.last_ns as bigint), endReason: n(r.end_reason),
    ipVersion: n(r.ip_version), protocol: n(r.protocol), src: formatAddress(r.src_addr as Buffer), dst: formatAddress(r.dst_addr as Buffer),
    srcPort: n(r.src_port), dstPort: n(r.dst_port), vlan: n(r.vlan), srcDevice: n(r.src_device), dstDevice: n(r.dst_device),
    fwdPackets: n(r.fwd_packets), fwdBytes: n(r.fwd_bytes), revPackets: n(r.rev_packets), revBytes: n(r.rev_bytes),
    packets: n(r.packets), bytes: n(r.bytes), service: (r.service as string | null) ?? null,
  };
}

export interface FlowPageRequest {
  filter?: FlowFilter;
  sort?: FlowSort;
  order?: Order;
  /** 1..10000 (default 100) */
  limit?: number;
  cursor?: string;
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
}

export class FlowQueries {
  readonly #db: Database;
  readonly #cursors: Cursors;
  readonly #timer: QueryTimer;
  /** statements by SQL text: a page walk prepares its statement (a merge over every partition) once */
  readonly #prepared = new Map<string, Statement>();

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
   * How a page with a selective filter (port, device, host, service, source)
   * is read: through the filter's indexes, then sorting the matches ('f'),
   * or along the sort's index testing each row ('s'). Sorting costs the
   * number of matches, walking costs about limit × rows / matches: a count
   * of the matches, capped at their break-even (√(limit × rows)), decides.
   * A walk keeps the choice of its first page (in the cursor).
   */
  #strategy(filter: FlowFilter | undefined, limit: number): 'f' | 's' {
    if (!filter || !SELECTIVE_FILTERS.some((k) => filter[k] !== undefined)) return 'f';
    const f = compileFlowFilter(filter);
    return this.#timer.guard('flows.strategy', () => {
      const rows = Number(this.#prepare("SELECT value FROM meta WHERE key = 'next_flow_id'").pluck().get() ?? 1) - 1;
      const cap = Math.max(1000, Math.min(20_000, Math.round(Math.sqrt(limit * rows))));
      const n = this.#prepare(`SELECT count(*) FROM (SELECT 1 FROM flows WHERE ${f.where} LIMIT ${cap})`).pluck().get(...f.params) as number;
      return n >= cap ? 's' : 'f';
    });
  }

  /** The SQL of a keyset page (for EXPLAIN QUERY PLAN in tests); `strategy` as #strategy chose. */
  pageSql(req: FlowPageRequest = {}, withCursor = false, strategy: 'f' | 's' = 'f'): { sql: string; params: unknown[] } {
    const f = compileFlowFilter(req.filter, strategy === 's');
    const { expr, dir } = this.#sort(req.sort, req.order);
    const limit = req.limit === undefined ? 100 : int('limit', req.limit, 1, MAX_LIMIT);
    const cmp = dir === 'ASC' ? '>' : '<';
    const after = withCursor ? ` AND (${expr}, id) ${cmp} (?, ?)` : '';
    return {
      sql: `SELECT ${FLOW_COLUMNS} FROM flows WHERE ${f.where}${after} ORDER BY ${expr} ${dir}, id ${dir} LIMIT ${limit}`,
      params: f.params,
    };
  }

  /** One keyset page: stable under inserts, the same cost at any depth. */
  page(req: FlowPageRequest = {}): Page<FlowRow> {
    const f = compileFlowFilter(req.filter);
    this.#sort(req.sort, req.order); // validated before the cursor, whose binding names them
    const sort = req.sort ?? 'first';
    const order = req.order ?? 'asc';
    const binding = `flows|${sort}|${order}|${f.canonical}`;
    const position = req.cursor === undefined ? undefined : this.#cursors.decode(binding, req.cursor);
    if (position && (position.length !== 3 || typeof position[1] !== 'number' || (position[2] !== 'f' && position[2] !== 's')))
      throw new FlowmasterError('ERR_BAD_CURSOR', 'invalid cursor: bad position');
    const limit = req.limit ?? 100;
    const strategy = position ? (position[2] as 'f' | 's') : this.#strategy(req.filter, limit);
    const { sql, params } = this.pageSql(req, position !== undefined, strategy);
    const args = position ? [...params, BigInt(position[0] as string), position[1]] : params;
    const shape = `flows.page ${sort} ${Object.keys(req.filter ?? {}).sort().join('+') || '-'}`;
    const rows = this.#timer.run(shape, () => this.#prepare(sql).safeIntegers(true).all(...args) as Record<string, unknown>[]);
    const items = rows.map(toFlowRow);
    let next: string | null = null;
    if (items.length === limit) {
      const last = rows[rows.length - 1];
      next = this.#cursors.encode(binding, [String(last[SORT_SQL[sort]]), Number(last.id), strategy]);
    }
    return { items, next };
  }

  /** A numbered page (offset pagination), with the total count on request. */
  offsetPage(req: FlowOffsetRequest = {}): { items: FlowRow[]; page: number; pageSize: number; total?: number } {
    const { expr, dir } = this.#sort(req.sort, req.order);
    const page = req.page === undefined ? 1 : int('page', req.page, 1, 2 ** 31);
    const pageSize = req.pageSize === undefined ? 100 : int('pageSize', req.pageSize, 1, MAX_LIMIT);
    const indexed = compileFlowFilter(req.filter); // validates before the strategy's count
    const f = this.#strategy(req.filter, page * pageSize) === 's' ? compileFlowFilter(req.filter, true) : indexed;
    const shape = `flows.offset ${req.sort ?? 'first'} ${Object.keys(req.filter ?? {}).sort().join('+') || '-'}`;
    const rows = this.#timer.run(shape, () =>
      this.#db
        .prepare(`SELECT ${FLOW_COLUMNS} FROM flows WHERE ${f.where} ORDER BY ${expr} ${dir}, id ${dir} LIMIT ? OFFSET ?`)
        .safeIntegers(true)
        .all(...f.params, pageSize, (page - 1) * pageSize) as Record<string, unknown>[],
    );
    const out: { items: FlowRow[]; page: number; pageSize: number; total?: number } = { items: rows.map(toFlowRow), page, pageSize };
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
}

export type DeviceSort = 'last' | 'first' | 'bytes' | 'packets' | 'flows';

export interface DeviceRow {
  id: number;
  addr: string;
  vlan: number;
  mac: string | null;
  vendor: string | null;
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

/** Compiles a devices filter to SQL conditions (every value a bound parameter). */
function compileDeviceFilter(f: DeviceFilter = {}): { where: string[]; params: unknown[] } {
  if (f === null || typeof f !== 'object') bad('filter: expected an object');
  for (const k of Object.keys(f)) if (!['seenSince', 'host', 'vlan', 'vendor'].includes(k)) bad(`filter.${k}: unknown filter`);
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
      (SELECT json_group_array(service) FROM device_services WHERE device_id = devices.id) AS services FROM devices
      WHERE ${where.length ? where.join(' AND ') : '1'} ORDER BY ${col} ${dir}, id ${dir} LIMIT ${limit}`;
    return { sql, params, col, limit };
  }

  /** How many devices the database holds. */
  count(): number {
    return this.#timer.guard('devices.count', () => this.#db.prepare('SELECT count(*) FROM devices').pluck().get() as number);
  }

  /** One keyset page of devices. */
  page(req: DevicePageRequest = {}): Page<DeviceRow> {
    this.pageSql(req); // validates before the cursor, whose binding names the filter and sort
    const f = req.filter ?? {};
    const sort = req.sort ?? 'last';
    const binding = `devices|${sort}|${req.order ?? 'desc'}|${JSON.stringify([f.seenSince, f.host, f.vlan, f.vendor])}`;
    let after: unknown[] | undefined;
    if (req.cursor !== undefined) {
      after = this.#cursors.decode(binding, req.cursor);
      if (after.length !== 2 || typeof after[0] !== 'number' || typeof after[1] !== 'number') throw new FlowmasterError('ERR_BAD_CURSOR', 'invalid cursor: bad position');
    }
    const { sql, params, col, limit } = this.pageSql(req, after);
    const rows = this.#timer.run(`devices.page ${sort}`, () => this.#db.prepare(sql).all(...params) as Record<string, unknown>[]);
    const items: DeviceRow[] = rows.map((r) => ({
      id: r.id as number, addr: formatAddress(r.addr as Buffer), vlan: r.vlan as number,
      mac: r.mac ? formatAddress(r.mac as Buffer) : null, vendor: (r.vendor as string | null) ?? null,
      firstSeen: r.first_seen_ms as number, lastSeen: r.last_seen_ms as number, packets: r.packets as number,
      bytes: r.bytes as number, flows: r.flows as number, services: JSON.parse(r.services as string) as string[],
    }));
    const last = rows[rows.length - 1];
    const next = items.length === limit ? this.#cursors.encode(binding, [last[col] as number, last.id as number]) : null;
    return { items, next };
  }
}

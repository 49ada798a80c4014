/**
 * Reading the central store: flows and devices pages with the same filters,
 * sorts and signed keyset cursors as the SQLite store (src/store/query.ts),
 * and the same aggregates (top talkers, conversations, services, timeline)
 * from the roll-up tables. Rows carry their sensor; `sensor` filters on it.
 *
 * Keyset order is (sort key, sensor, batch, seq): unique per stored row. The
 * cursor secret lives on the server (table meta), so a cursor one CLI run
 * printed works in the next, from any machine.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { FlowmasterError } from '../errors';
import { ouisOf, vendorOf } from '../devices/oui';
import { APP_COLUMNS, appInfoOf } from '../export/app-columns';
import { nsToMs } from '../flow/flow';
import { CONN_STATES, END_REASONS } from '../flow/layout';
import { DETAIL_COLUMNS } from '../store/details';
import { addressRange, applicationName, Cursors, globPattern, int, MAX_TIME_MS, timeNs, type DeviceFilter, type DeviceRow, type DeviceSort, type FlowFilter, type FlowRow, type FlowSort, type Order, type Page } from '../store/query';
import type { Measure, Totals } from '../store/analytics';
import { tables, type SchemaOptions, type Tables } from './schema';
import { str, uint } from './sql';

/** The SQLite store's flow filter, without `source` (the central store keeps none), with `sensor`. */
export type FleetFlowFilter = Omit<FlowFilter, 'source'> & { sensor?: string };
export type FleetFlowSort = FlowSort;

/** The FlowRow fields the central store gives (its columns of before field list v2). */
type FleetFlowField =
  | 'flowId' | 'segment' | 'endReason' | 'first' | 'last' | 'firstNs' | 'lastNs' | 'durationMs' | 'ipVersion' | 'protocol' | 'src' | 'dst' | 'srcPort' | 'dstPort'
  | 'vlan' | 'srcDevice' | 'dstDevice' | 'packets' | 'bytes' | 'fwdPackets' | 'fwdBytes' | 'revPackets' | 'revBytes' | 'service' | 'app'
  | 'communityId' | 'connState' | 'history' | 'fwdIpBytes' | 'revIpBytes' | 'fwdPayloadBytes' | 'revPayloadBytes' | 'innerVlan' | 'tunnelType' | 'tunnelId'
  | 'minTtl' | 'maxTtl' | 'fwdFirst' | 'fwdLast' | 'revFirst' | 'revLast' | 'fwdStats' | 'revStats' | 'biStats' | 'fwdFlagCounts' | 'revFlagCounts' | 'splt';

/** A stored flow as the SQLite store gives it, with its sensor and its place in its delivery block instead of row and source ids. */
export type FleetFlowRow = Pick<FlowRow, FleetFlowField> & {
  sensor: string;
  /** the delivery block and the row's place in it: with the sensor, unique */
  batch: string;
  seq: number;
};

/** A device as the SQLite store gives it, per sensor (the same address seen by two sensors is two devices). */
export type FleetDeviceRow = DeviceRow & { sensor: string };
export type FleetDeviceFilter = DeviceFilter & { sensor?: string };
export type FleetDeviceSort = DeviceSort;
export type FleetPage<T> = Page<T>;

/**
 * The details of a row as FlowRow has them: the server's '' and 0 (rows
 * stored before the columns were added have them too) as null where the
 * SQLite store has NULL; times as ms.
 */
function detailsOf(r: Record<string, unknown>): Pick<FleetFlowRow, Exclude<FleetFlowField, 'flowId' | 'segment' | 'endReason' | 'first' | 'last' | 'firstNs' | 'lastNs' | 'durationMs' | 'ipVersion' | 'protocol' | 'src' | 'dst' | 'srcPort' | 'dstPort' | 'vlan' | 'srcDevice' | 'dstDevice' | 'packets' | 'bytes' | 'fwdPackets' | 'fwdBytes' | 'revPackets' | 'revBytes' | 'service' | 'app' | 'fwdStats' | 'revStats' | 'biStats' | 'fwdFlagCounts' | 'revFlagCounts' | 'splt'>> & Partial<Pick<FleetFlowRow, 'fwdStats' | 'revStats' | 'biStats' | 'fwdFlagCounts' | 'revFlagCounts' | 'splt'>> {
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  const ms = (v: unknown) => (v === undefined || v === null || String(v) === '0' ? null : nsToMs(BigInt(v as string)));
  const l2 = Number(r.ip_version) === 0;
  const tunnel = text(r.tunnel_type);
  const out = {
    communityId: text(r.community_id), connState: text(r.conn_state) as FleetFlowRow['connState'], history: typeof r.history === 'string' ? r.history : null,
    fwdIpBytes: n(r.fwd_ip_bytes), revIpBytes: n(r.rev_ip_bytes), fwdPayloadBytes: n(r.fwd_payload_bytes), revPayloadBytes: n(r.rev_payload_bytes),
    innerVlan: n(r.inner_vlan), tunnelType: tunnel as FleetFlowRow['tunnelType'], tunnelId: tunnel ? n(r.tunnel_id) : null,
    minTtl: l2 ? null : n(r.min_ttl), maxTtl: l2 ? null : n(r.max_ttl), fwdFirst: nsToMs(BigInt(r.first_ns as string)), fwdLast: ms(r.fwd_last_ns),
    revFirst: Number(r.rev_packets) ? ms(r.rev_first_ns) : null, revLast: Number(r.rev_packets) ? ms(r.rev_last_ns) : null,
  };
  const stats = text(r.stats);
  const splt = text(r.splt);
  return { ...out, ...(stats ? JSON.parse(stats) : {}), ...(splt ? { splt: JSON.parse(splt) } : {}) };
}

/** A flow's times as FlowRow has them: ms numbers, exact ns as decimal strings. */
const times = (firstNs: bigint, lastNs: bigint) => ({
  first: nsToMs(firstNs), last: nsToMs(lastNs), firstNs: firstNs.toString(), lastNs: lastNs.toString(), durationMs: Number(lastNs - firstNs) / 1e6,
});

const bad = (what: string): never => {
  throw new FlowmasterError('ERR_INVALID_OPTION', what);
};

const FLOW_SORT: Record<FleetFlowSort, string> = { first: 'first_ns', last: 'last_ns', bytes: 'bytes', packets: 'packets' };
/** merged values have their own names: an alias equal to a column's would stand for it in WHERE (current ClickHouse) */
const DEVICE_SORT: Record<FleetDeviceSort, string> = { last: 'm_last', first: 'm_first', bytes: 'm_bytes', packets: 'm_packets', flows: 'm_flows' };

/**
 * An IP address or CIDR as a condition on 16-byte address columns (IPv4
 * mapped) of the right family: an IPv4-mapped IPv6 range is IPv6, as in the
 * SQLite store. `family` is the column that says 4 or 6.
 */
function hostCondition(family: string, cols: string[], host: string): string {
  const [lo, hi] = addressRange(host);
  const b16 = (b: Buffer) => `toFixedString(unhex('${(b.length === 4 ? Buffer.concat([Buffer.from('00000000000000000000ffff', 'hex'), b]) : b).toString('hex')}'), 16)`;
  return `${family} = ${lo.length === 4 ? 4 : 6} AND (${cols.map((c) => `${c} BETWEEN ${b16(lo)} AND ${b16(hi)}`).join(' OR ')})`;
}

/** A flows filter as a WHERE condition, and its canonical text (what a cursor is bound to). */
export function flowWhere(f: FleetFlowFilter = {}): { where: string; canonical: string } {
  if (f === null || typeof f !== 'object') bad('filter: expected an object');
  const known = ['from', 'to', 'host', 'device', 'port', 'protocol', 'service', 'vlan', 'minBytes', 'sensor', 'application', 'sni', 'httpHost', 'dnsQuery', 'communityId', 'connState', 'endReason'];
  for (const k of Object.keys(f)) if (!known.includes(k)) bad(k === 'source' ? 'filter.source: the central store keeps no sources (filter by sensor)' : `filter.${k}: unknown filter`);
  const w: string[] = [];
  if (f.from !== undefined) w.push(`last_ns >= ${timeNs('filter.from', f.from)}`);
  if (f.to !== undefined) w.push(`first_ns <= ${timeNs('filter.to', f.to, true)}`);
  if (f.host !== undefined) w.push(hostCondition('ip_version', ['src_ip', 'dst_ip'], f.host));
  if (f.device !== undefined) w.push(`(src_device = ${uint(int('filter.device', f.device, 0, 2 ** 53))} OR dst_device = ${f.device})`);
  if (f.port !== undefined) w.push(`ip_version != 0 AND (src_port = ${int('filter.port', f.port, 0, 65535)} OR dst_port = ${f.port})`);
  if (f.protocol !== undefined) w.push(`ip_version != 0 AND protocol = ${int('filter.protocol', f.protocol, 0, 255)}`);
  if (f.vlan !== undefined) w.push(`vlan = ${int('filter.vlan', f.vlan, 0, 4095)}`);
  if (f.minBytes !== undefined) w.push(`bytes >= ${int('filter.minBytes', f.minBytes, 0, 2 ** 53)}`);
  if (f.service !== undefined) {
    if (typeof f.service !== 'string' || f.service.length > 64) bad('filter.service: expected a service name');
    w.push(`service = ${str(f.service)}`);
  }
  if (f.sensor !== undefined) {
    if (typeof f.sensor !== 'string' || f.sensor.length > 200) bad('filter.sensor: expected a sensor name');
    w.push(`sensor = ${str(f.sensor)}`);
  }
  if (f.application !== undefined) w.push(`application = ${str(applicationName('filter.application', f.application))}`);
  // a glob as the SQLite store reads it: LIKE with \ escapes, ASCII letters in any case
  for (const [name, col] of [['sni', 'sni'], ['httpHost', 'http_host'], ['dnsQuery', 'dns_query']] as const)
    if (f[name] !== undefined) w.push(`lower(${col}) LIKE lower(${str(globPattern(`filter.${name}`, f[name]))})`);
  if (f.communityId !== undefined) {
    if (typeof f.communityId !== 'string' || !/^1:[A-Za-z0-9+/]{27}=$/.test(f.communityId)) bad("filter.communityId: expected a Community ID v1 such as '1:LQU9qZlK+B5F3KDmev6m5PMibrg='");
    w.push(`community_id = ${str(f.communityId)}`);
  }
  const oneOf = (name: 'connState' | 'endReason', values: readonly string[]): string[] | undefined => {
    const given = f[name];
    if (given === undefined) return undefined;
    const list = Array.isArray(given) ? given : [given];
    if (!list.length || list.some((v) => typeof v !== 'string' || !values.includes(v))) bad(`filter.${name}: expected one or several of ${values.join(', ')}`);
    return list as string[];
  };
  const states = oneOf('connState', CONN_STATES.slice(1));
  if (states) w.push(`conn_state IN (${states.map(str).join(', ')})`);
  const reasons = oneOf('endReason', END_REASONS.slice(1));
  if (reasons) w.push(`end_reason IN (${reasons.map((r) => END_REASONS.indexOf(r as 'idle')).join(', ')})`);
  const canon = Object.fromEntries(known.filter((k) => (f as Record<string, unknown>)[k] !== undefined).map((k) => [k, (f as Record<string, unknown>)[k]]));
  return { where: w.length ? w.join(' AND ') : '1', canonical: JSON.stringify(canon) };
}

function limitOf(v: number | undefined): number {
  return v === undefined ? 100 : int('limit', v, 1, 10_000);
}

function orderOf(v: unknown, dflt: Order): 'ASC' | 'DESC' {
  const o = v ?? dflt;
  if (o !== 'asc' && o !== 'desc') bad("order: expected 'asc' or 'desc'");
  return o === 'asc' ? 'ASC' : 'DESC';
}

const n = (v: unknown) => Number(v);
const totalsOf = (r: Record<string, unknown>): Totals => ({ bytes: n(r.bytes), packets: n(r.packets), flows: n(r.flows) });

/** `{ app }` when the row has an application ('' and 0: not seen), else nothing. */
function withApp(r: Record<string, unknown>): Pick<FleetFlowRow, 'app'> {
  const app = appInfoOf(r, true);
  return app ? { app } : {};
}

/** Runs SQL: with `rows`, a SELECT's rows (JSONEachRow objects), else a statement. */
export type Execute = (sql: string, rows: boolean) => Promise<Record<string, unknown>[]>;

export class ClickHouseQueries {
  readonly tables: Tables;
  readonly #client: ClickHouseClient | undefined;
  readonly #execute: Execute;
  #cursors: Cursors | undefined;

  /** A server by `url`, or any `execute` (the tests run every query through an in-process current ClickHouse too). */
  constructor(o: SchemaOptions & ({ url: string; requestTimeoutMs?: number } | { execute: Execute })) {
    this.tables = tables(o);
    if ('execute' in o) {
      this.#execute = o.execute;
      return;
    }
    const client = createClient({ url: o.url, request_timeout: o.requestTimeoutMs ?? 60_000, log: { level: 127 as never } });
    this.#client = client;
    this.#execute = async (query, rows) => {
      if (!rows) {
        await client.command({ query });
        return [];
      }
      return (await (await client.query({ query, format: 'JSONEachRow' })).json()) as Record<string, unknown>[];
    };
  }

  async close(): Promise<void> {
    await this.#client?.close();
  }

  /** Rows of a query as objects (JSONEachRow: 64-bit integers arrive as strings). */
  async rows(query: string): Promise<Record<string, unknown>[]> {
    try {
      return await this.#execute(query, true);
    } catch (e) {
      throw new FlowmasterError('ERR_CLICKHOUSE', `ClickHouse query failed: ${(e as Error).message.split('\n')[0]}`, { cause: e });
    }
  }

  /** The cursor secret: the server's (the smallest stored, should two processes store one at once). */
  async #signer(): Promise<Cursors> {
    if (this.#cursors) return this.#cursors;
    const read = async () => (await this.rows(`SELECT min(value) AS v FROM ${this.tables.q('meta')} WHERE key = 'cursor_secret'`))[0]?.v as string | undefined;
    let secret = await read();
    if (!secret) {
      try {
        await this.#execute(`INSERT INTO ${this.tables.q('meta')} (key, value) VALUES ('cursor_secret', '${randomBytes(32).toString('hex')}')`, false);
      } catch (e) {
        throw new FlowmasterError('ERR_CLICKHOUSE', `ClickHouse: cannot store the cursor secret: ${(e as Error).message.split('\n')[0]}`, { cause: e });
      }
      secret = await read();
    }
    return (this.#cursors = new Cursors(Buffer.from(secret!, 'hex')));
  }

  /** One keyset page of flows. */
  async flowsPage(req: { filter?: FleetFlowFilter; sort?: FleetFlowSort; order?: Order; limit?: number; cursor?: string } = {}): Promise<FleetPage<FleetFlowRow>> {
    const f = flowWhere(req.filter);
    const sort = req.sort ?? 'first';
    if (!Object.hasOwn(FLOW_SORT, sort)) bad(`sort: expected one of ${Object.keys(FLOW_SORT).join(', ')}`);
    const dir = orderOf(req.order, 'asc');
    const limit = limitOf(req.limit);
    const key = FLOW_SORT[sort];
    const binding = `fleet-flows|${sort}|${dir}|${f.canonical}`;
    let where = f.where;
    if (req.cursor !== undefined) {
      const p = (await this.#signer()).decode(binding, req.cursor);
      if (p.length !== 4 || typeof p[0] !== 'string' || !/^\d+$/.test(p[0]) || typeof p[1] !== 'string' || typeof p[2] !== 'string' || !Number.isInteger(p[3]))
        throw new FlowmasterError('ERR_BAD_CURSOR', 'invalid cursor: bad position');
      where += ` AND (${key}, sensor, batch, seq) ${dir === 'ASC' ? '>' : '<'} (${p[0]}, ${str(p[1])}, ${str(p[2])}, ${uint(p[3] as number)})`;
    }
    const rows = await this.rows(
      `SELECT sensor, batch, seq, flow_id, segment, first_ns, last_ns, end_reason, ip_version, protocol, src, dst, src_port, dst_port, vlan,
        src_device, dst_device, packets, bytes, fwd_packets, fwd_bytes, rev_packets, rev_bytes, service, ${APP_COLUMNS.join(', ')}, ${DETAIL_COLUMNS.join(', ')}
       FROM ${this.tables.q('flows')} WHERE ${where} ORDER BY ${key} ${dir}, sensor ${dir}, batch ${dir}, seq ${dir} LIMIT ${limit}`,
    );
    const items = rows.map(
      (r): FleetFlowRow => ({
        sensor: String(r.sensor), batch: String(r.batch), seq: n(r.seq), flowId: n(r.flow_id), segment: n(r.segment),
        ...times(BigInt(r.first_ns as string), BigInt(r.last_ns as string)), endReason: END_REASONS[n(r.end_reason)] ?? 'flush', ipVersion: n(r.ip_version),
        protocol: n(r.protocol), src: String(r.src), dst: String(r.dst), srcPort: n(r.src_port), dstPort: n(r.dst_port), vlan: n(r.vlan),
        srcDevice: n(r.src_device), dstDevice: n(r.dst_device), packets: n(r.packets), bytes: n(r.bytes), fwdPackets: n(r.fwd_packets),
        fwdBytes: n(r.fwd_bytes), revPackets: n(r.rev_packets), revBytes: n(r.rev_bytes), service: r.service ? String(r.service) : null,
        ...withApp(r), ...detailsOf(r),
      }),
    );
    const last = rows[rows.length - 1];
    const next = items.length === limit ? (await this.#signer()).encode(binding, [String(last[key]), String(last.sensor), String(last.batch), n(last.seq)]) : null;
    return { items, next };
  }

  /** One keyset page of devices (per sensor: the same address seen by two sensors is two devices). */
  async devicesPage(req: { filter?: FleetDeviceFilter; sort?: FleetDeviceSort; order?: Order; limit?: number; cursor?: string } = {}): Promise<FleetPage<FleetDeviceRow>> {
    const f = req.filter ?? {};
    if (f === null || typeof f !== 'object') bad('filter: expected an object');
    for (const k of Object.keys(f)) if (!['seenSince', 'host', 'vlan', 'vendor', 'sensor', 'name'].includes(k)) bad(`filter.${k}: unknown filter`);
    const sort = req.sort ?? 'last';
    if (!Object.hasOwn(DEVICE_SORT, sort)) bad(`sort: expected one of ${Object.keys(DEVICE_SORT).join(', ')}`);
    const dir = orderOf(req.order, 'desc');
    const limit = limitOf(req.limit);
    const where: string[] = [];
    const having: string[] = [];
    if (f.host !== undefined) where.push(hostCondition('family', ['ip'], f.host));
    if (f.vlan !== undefined) where.push(`vlan = ${int('filter.vlan', f.vlan, 0, 4095)}`);
    if (f.sensor !== undefined) where.push(`sensor = ${str(String(f.sensor))}`);
    if (f.name !== undefined)
      where.push(`(sensor, addr) IN (SELECT sensor, addr FROM ${this.tables.q('host_names')} GROUP BY sensor, addr
        HAVING lower(argMaxMerge(name)) LIKE lower(${str(globPattern('filter.name', f.name))}))`);
    if (f.seenSince !== undefined) having.push(`m_last >= ${int('filter.seenSince', f.seenSince, 0, MAX_TIME_MS)}`);
    if (f.vendor !== undefined) {
      if (typeof f.vendor !== 'string' || f.vendor.length > 200) bad('filter.vendor: expected a vendor name');
      const prefixes = ouisOf(f.vendor).map((o) => str(o.toString(16).padStart(6, '0').replace(/(..)(..)(..)/, '$1:$2:$3')));
      having.push(prefixes.length ? `substring(m_mac, 1, 8) IN (${prefixes.join(', ')})` : '0');
    }
    const col = DEVICE_SORT[sort];
    const binding = `fleet-devices|${sort}|${dir}|${JSON.stringify([f.seenSince, f.host, f.vlan, f.vendor, f.sensor, ...(f.name === undefined ? [] : [f.name])])}`;
    if (req.cursor !== undefined) {
      const p = (await this.#signer()).decode(binding, req.cursor);
      if (p.length !== 3 || typeof p[0] !== 'number' || typeof p[1] !== 'string' || typeof p[2] !== 'number') throw new FlowmasterError('ERR_BAD_CURSOR', 'invalid cursor: bad position');
      having.push(`(${col}, sensor, id) ${dir === 'ASC' ? '>' : '<'} (${uint(p[0])}, ${str(p[1])}, ${uint(p[2])})`);
    }
    const rows = await this.rows(
      `SELECT sensor, id, any(addr) AS m_addr, any(vlan) AS m_vlan, anyLastMerge(mac) AS m_mac, minMerge(first_seen) AS m_first, maxMerge(last_seen) AS m_last,
        sumMerge(packets) AS m_packets, sumMerge(bytes) AS m_bytes, sumMerge(flows) AS m_flows, groupUniqArrayMerge(services) AS m_services
       FROM ${this.tables.q('devices')} WHERE id != 0${where.length ? ` AND ${where.join(' AND ')}` : ''} GROUP BY sensor, id
       ${having.length ? `HAVING ${having.join(' AND ')}` : ''} ORDER BY ${col} ${dir}, sensor ${dir}, id ${dir} LIMIT ${limit}`,
    );
    const names = await this.#names(rows.map((r) => [String(r.sensor), String(r.m_addr)]));
    const items = rows.map((r): FleetDeviceRow => {
      const mac = r.m_mac ? String(r.m_mac) : null;
      return {
        sensor: String(r.sensor), id: n(r.id), addr: String(r.m_addr), vlan: n(r.m_vlan), mac, vendor: mac ? vendorOf(Buffer.from(mac.replace(/:/g, ''), 'hex')) : null,
        name: names.get(`${r.sensor}\n${r.m_addr}`) ?? null,
        firstSeen: n(r.m_first), lastSeen: n(r.m_last), packets: n(r.m_packets), bytes: n(r.m_bytes), flows: n(r.m_flows), services: (r.m_services as string[]).slice().sort(),
      };
    });
    const last = items[items.length - 1];
    const next = items.length === limit ? (await this.#signer()).encode(binding, [n(rows[rows.length - 1][col]), last.sensor, last.id]) : null;
    return { items, next };
  }

  /** The host names the latest DNS answers gave these (sensor, address) pairs. */
  async #names(pairs: [string, string][]): Promise<Map<string, string>> {
    if (!pairs.length) return new Map();
    const sensors = [...new Set(pairs.map(([s]) => s))];
    const addrs = [...new Set(pairs.map(([, a]) => a))];
    const rows = await this.rows(
      `SELECT sensor, addr, argMaxMerge(name) AS m_name FROM ${this.tables.q('host_names')}
       WHERE sensor IN (${sensors.map(str).join(', ')}) AND addr IN (${addrs.map(str).join(', ')}) GROUP BY sensor, addr`,
    );
    return new Map(rows.map((r) => [`${r.sensor}\n${r.addr}`, String(r.m_name)]));
  }

  /** Minute buckets whose start lies in [from floored to the minute, to], of one sensor or all. */
  #range(r: { from?: number; to?: number; sensor?: string }): string {
    const from = r.from === undefined ? 0 : Math.floor(int('from', r.from, 0, MAX_TIME_MS) / 60_000) * 60_000;
    const to = r.to === undefined ? MAX_TIME_MS : int('to', r.to, 0, MAX_TIME_MS);
    return `t BETWEEN ${from} AND ${to}${r.sensor === undefined ? '' : ` AND sensor = ${str(String(r.sensor))}`}`;
  }

  #measure(by: unknown): Measure {
    if (by !== undefined && by !== 'bytes' && by !== 'packets' && by !== 'flows') bad("by: expected 'bytes', 'packets' or 'flows'");
    return (by as Measure | undefined) ?? 'bytes';
  }

  async #addresses(ids: number[]): Promise<Map<number, { addr: string; vlan: number; mac: string | null }>> {
    if (!ids.length) return new Map();
    const rows = await this.rows(`SELECT id, any(addr) AS m_addr, any(vlan) AS m_vlan, anyLastMerge(mac) AS m_mac FROM ${this.tables.q('devices')} WHERE id IN (${ids.map(uint).join(', ')}) GROUP BY id`);
    return new Map(rows.map((r) => [n(r.id), { addr: String(r.m_addr), vlan: n(r.m_vlan), mac: r.m_mac ? String(r.m_mac) : null }]));
  }

  async topTalkers(req: { from?: number; to?: number; sensor?: string; by?: Measure; limit?: number } = {}): (Promise<(Totals & { sensor: string; device: number; addr: string; vlan: number; vendor: string | null })[]>) {
    const by = this.#measure(req.by);
    const rows = await this.rows(
      `SELECT sensor, device, sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows FROM ${this.tables.q('talkers')}
       WHERE ${this.#range(req)} AND device != 0 GROUP BY sensor, device ORDER BY ${by} DESC, sensor, device LIMIT ${int('limit', req.limit ?? 10, 1, 10_000)}`,
    );
    const at = await this.#addresses(rows.map((r) => n(r.device)));
    return rows.map((r) => {
      const d = at.get(n(r.device));
      return {
        sensor: String(r.sensor), device: n(r.device), addr: d?.addr ?? '', vlan: d?.vlan ?? 0,
        vendor: d?.mac ? vendorOf(Buffer.from(d.mac.replace(/:/g, ''), 'hex')) : null, bytes: n(r.bytes), packets: n(r.packets), flows: n(r.flows),
      };
    });
  }

  async topConversations(req: { from?: number; to?: number; sensor?: string; by?: Measure; limit?: number } = {}): Promise<(Totals & { sensor: string; a: string; b: string; aDevice: number; bDevice: number })[]> {
    const by = this.#measure(req.by);
    const rows = await this.rows(
      `SELECT sensor, a, b, sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows FROM ${this.tables.q('conversations')}
       WHERE ${this.#range(req)} AND a != 0 AND b != 0 GROUP BY sensor, a, b ORDER BY ${by} DESC, sensor, a, b LIMIT ${int('limit', req.limit ?? 10, 1, 10_000)}`,
    );
    const at = await this.#addresses([...new Set(rows.flatMap((r) => [n(r.a), n(r.b)]))]);
    return rows.map((r) => ({
      sensor: String(r.sensor), aDevice: n(r.a), bDevice: n(r.b), a: at.get(n(r.a))?.addr ?? '', b: at.get(n(r.b))?.addr ?? '',
      bytes: n(r.bytes), packets: n(r.packets), flows: n(r.flows),
    }));
  }

  async topServices(req: { from?: number; to?: number; sensor?: string; by?: Measure; limit?: number } = {}): Promise<(Totals & { service: string })[]> {
    const by = this.#measure(req.by);
    const rows = await this.rows(
      `SELECT service, sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows FROM ${this.tables.q('services')}
       WHERE ${this.#range(req)} GROUP BY service ORDER BY ${by} DESC, service LIMIT ${int('limit', req.limit ?? 10, 1, 10_000)}`,
    );
    return rows.map((r) => ({ service: String(r.service), bytes: n(r.bytes), packets: n(r.packets), flows: n(r.flows) }));
  }

  /** Applications the payload showed, by the traffic of their flows (each booked into the minute it started). */
  async topApplications(req: { from?: number; to?: number; sensor?: string; by?: Measure; limit?: number } = {}): Promise<(Totals & { application: string })[]> {
    return (await this.#topKey('applications', 'application', req)).map((r) => ({ application: String(r.application), ...totalsOf(r) }));
  }

  /** TLS / QUIC server names, by the traffic of their flows. */
  async topSni(req: { from?: number; to?: number; sensor?: string; by?: Measure; limit?: number } = {}): Promise<(Totals & { sni: string })[]> {
    return (await this.#topKey('sni', 'sni', req)).map((r) => ({ sni: String(r.sni), ...totalsOf(r) }));
  }

  async #topKey(table: 'applications' | 'sni', key: string, req: { from?: number; to?: number; sensor?: string; by?: Measure; limit?: number }): Promise<Record<string, unknown>[]> {
    const by = this.#measure(req.by);
    return this.rows(
      `SELECT ${key}, sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows FROM ${this.tables.q(table)}
       WHERE ${this.#range(req)} GROUP BY ${key} ORDER BY ${by} DESC, ${key} LIMIT ${int('limit', req.limit ?? 10, 1, 10_000)}`,
    );
  }

  /** Traffic per bucket (a multiple of a minute), only buckets with traffic, in time order. */
  async timeline(req: { from?: number; to?: number; sensor?: string; bucketMs: number }): Promise<(Totals & { t: number })[]> {
    const bucket = int('bucketMs', req.bucketMs, 60_000, 2 ** 40);
    if (bucket % 60_000 !== 0) bad(`bucketMs: expected a multiple of a minute (60000 ms), got ${bucket}`);
    const rows = await this.rows(
      `SELECT intDiv(t, ${bucket}) * ${bucket} AS b, sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows FROM ${this.tables.q('traffic')}
       WHERE ${this.#range(req)} GROUP BY b ORDER BY b`,
    );
    return rows.map((r) => ({ t: n(r.b), bytes: n(r.bytes), packets: n(r.packets), flows: n(r.flows) }));
  }
}

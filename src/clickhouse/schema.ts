/**
 * The ClickHouse schema: SQL that ClickHouse 18.16 (Debian 12's) and current
 * releases both accept. No LowCardinality, no DateTime64, no query
 * parameters (18.16 has none): values are quoted literals (sql.ts).
 *
 *   flows          MergeTree, a partition per UTC day, ordered
 *                  (sensor, first_ns): a time range of one sensor, and the
 *                  delivery check of one block (sink.ts), read a few granules
 *   devices        AggregatingMergeTree fed by devices_mv: both ends of every flow
 *   traffic        SummingMergeTree fed by traffic_mv: (sensor, minute) bytes packets flows
 *   talkers        (sensor, minute, device) — a flow counts once for each distinct end
 *   conversations  (sensor, minute, a, b) — a < b, the two devices
 *   services       (sensor, minute, service)
 *   applications   (sensor, minute, application) — flows whose payload showed one (docs/applications.md)
 *   sni            (sensor, minute, sni) — flows whose TLS / QUIC ClientHello named a server
 *   host_names     AggregatingMergeTree: (sensor, address) the name of its latest DNS answer
 *   meta           key/value: the cursor-signing secret
 *
 * Tables made by an older flowmaster lack the application columns of flows:
 * init() adds the ones system.columns does not list (ALTER TABLE ... ADD
 * COLUMN: 18.16 has no IF NOT EXISTS there) before it creates the views
 * that read them.
 *
 * Roll-ups book a flow wholly into the minute it started (as nfdump and
 * Akvorado do); the SQLite store spreads it over the minutes it spans.
 *
 * A cluster (`cluster` option) has each of these as `<name>_local` on every
 * shard (run init on each) and `<name>` a Distributed table over them,
 * sharded by the delivery block (cityHash64(sensor, batch)) so that a block
 * lands whole on one shard. The views sit on the local tables.
 */
import { APP_COLUMNS, type AppColumn } from '../export/app-columns';
import { DETAIL_COLUMNS, type DetailColumn } from '../store/details';
import { ident, str } from './sql';

/** The ClickHouse types of the application columns. */
export const APP_CLICKHOUSE_TYPES: Record<AppColumn, string> = Object.fromEntries(
  APP_COLUMNS.map((c) => [c, ['app_flags', 'dns_rcode'].includes(c) ? 'UInt8' : ['tls_version', 'dns_qtype', 'dns_answers', 'http_status', 'app_code'].includes(c) ? 'UInt16' : 'String']),
) as Record<AppColumn, string>;

/** The ClickHouse types of the details of field list v2 (docs/fields.md): '' and 0 where the SQLite store has NULL. */
export const DETAIL_CLICKHOUSE_TYPES: Record<DetailColumn, string> = {
  community_id: 'String', conn_state: 'String', history: 'String', fwd_ip_bytes: 'UInt64', rev_ip_bytes: 'UInt64', fwd_payload_bytes: 'UInt64',
  rev_payload_bytes: 'UInt64', inner_vlan: 'UInt16', tunnel_type: 'String', tunnel_id: 'UInt32', min_ttl: 'UInt8', max_ttl: 'UInt8', fwd_last_ns: 'UInt64',
  rev_first_ns: 'UInt64', rev_last_ns: 'UInt64', stats: 'String', splt: 'String',
};

/** The columns a flows table of an older flowmaster lacks, with their types. */
const ADDED_COLUMNS: readonly [string, string][] = [
  ...APP_COLUMNS.map((c): [string, string] => [c, APP_CLICKHOUSE_TYPES[c]]),
  ...DETAIL_COLUMNS.map((c): [string, string] => [c, DETAIL_CLICKHOUSE_TYPES[c]]),
];

/** a partition per UTC day of first_ns (an integer: no time zone between sensor and server) */
const DAY_NS = '86400000000000';

export interface SchemaOptions {
  /** database (created if missing); default 'flowmaster' */
  database?: string;
  /** a cluster name from the servers' remote_servers: local tables plus Distributed ones */
  cluster?: string;
}

/** Flows columns in insert order (rows.ts writes them in this order). */
export const FLOW_COLUMNS = [
  ['sensor', 'String'],
  ['batch', 'String'],
  ['seq', 'UInt32'],
  ['first_ns', 'UInt64'],
  ['last_ns', 'UInt64'],
  ['flow_id', 'UInt64'],
  ['segment', 'UInt16'],
  ['end_reason', 'UInt8'],
  ['ip_version', 'UInt8'],
  ['protocol', 'UInt8'],
  ['ether_type', 'UInt16'],
  ['vlan', 'UInt16'],
  ['src', 'String'],
  ['dst', 'String'],
  ['src_port', 'UInt16'],
  ['dst_port', 'UInt16'],
  ['src_mac', 'String'],
  ['dst_mac', 'String'],
  ['src_device', 'UInt64'],
  ['dst_device', 'UInt64'],
  ['fwd_packets', 'UInt64'],
  ['fwd_bytes', 'UInt64'],
  ['rev_packets', 'UInt64'],
  ['rev_bytes', 'UInt64'],
  ['packets', 'UInt64'],
  ['bytes', 'UInt64'],
  ['fwd_tcp_flags', 'UInt8'],
  ['rev_tcp_flags', 'UInt8'],
  ['icmp_type', 'UInt8'],
  ['icmp_code', 'UInt8'],
  ['flags', 'UInt8'],
  ['service', 'String'],
  ['server_is_dst', 'UInt8'],
  ['server_service', 'String'],
  ['src_ip', 'FixedString(16)'],
  ['dst_ip', 'FixedString(16)'],
  ['arp_src', 'String'],
  ['arp_dst', 'String'],
  ['arp_src_device', 'UInt64'],
  ['arp_dst_device', 'UInt64'],
  // the application (app-columns.ts): '' and 0 when not seen; dns_rcode, dns_answers and app_code hold as app_flags says
  ...APP_COLUMNS.map((c) => [c, APP_CLICKHOUSE_TYPES[c]] as const),
  // the details of field list v2 (store/details.ts): '' and 0 where the SQLite store has NULL; stats and splt JSON or ''
  ...DETAIL_COLUMNS.map((c) => [c, DETAIL_CLICKHOUSE_TYPES[c]] as const),
] as const;

/** The flows columns of the second schema (blocks spooled by a flowmaster of before the details). */
export const FLOW_COLUMNS_V2 = FLOW_COLUMNS.slice(0, FLOW_COLUMNS.length - DETAIL_COLUMNS.length);
/** The flows columns of the first schema (blocks spooled by a flowmaster of before the application columns). */
export const FLOW_COLUMNS_V1 = FLOW_COLUMNS_V2.slice(0, FLOW_COLUMNS_V2.length - APP_COLUMNS.length);

/** The columns of a block's RowBinary rows by its format: 1 before the application columns, 2 with them, 3 with the details. */
export function flowColumnsOf(format: number): readonly (readonly [string, string])[] {
  return format >= 3 ? FLOW_COLUMNS : format === 2 ? FLOW_COLUMNS_V2 : FLOW_COLUMNS_V1;
}

/** The RowBinary format rows.ts writes (a block's, spooled with it). */
export const ROW_FORMAT = 3;

export const SCHEMA_VERSION = 3;

const MINUTE = 'intDiv(first_ns, 60000000000) * 60000';
const SUMS = 'sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows';
const TOTALS = 'bytes UInt64, packets UInt64, flows UInt64';
/** an end's 16-byte address; zeros for a layer-2 flow (whose src_ip/dst_ip hold ARP's addresses) */
const END_IP = (end: 'src' | 'dst') => `if(ip_version = 0, toFixedString('', 16), ${end}_ip)`;
const PROTO = "multiIf(protocol = 6, 'tcp', protocol = 17, 'udp', protocol = 132, 'sctp', toString(protocol))";

export interface Tables {
  database: string;
  cluster?: string;
  /** the table a query or insert names: `db.flows` (Distributed in a cluster) */
  q(name: TableName): string;
  /** the table that stores: `db.flows_local` in a cluster, else `db.flows` */
  local(name: TableName): string;
}

export type TableName = 'flows' | 'devices' | 'traffic' | 'talkers' | 'conversations' | 'services' | 'applications' | 'sni' | 'host_names' | 'meta';

export function tables(o: SchemaOptions = {}): Tables {
  const database = ident(o.database ?? 'flowmaster', 'database');
  const cluster = o.cluster === undefined ? undefined : ident(o.cluster, 'cluster');
  return {
    database,
    cluster,
    q: (n) => `${database}.${n}`,
    local: (n) => `${database}.${cluster && n !== 'meta' ? `${n}_local` : n}`,
  };
}

/**
 * The statements that create the schema, each idempotent (IF NOT EXISTS), in
 * order. Flows tables of an older flowmaster get the application columns
 * before the views that read them: with `have` (the columns system.columns
 * lists, by table: flowsColumnsSql()) an ADD COLUMN for each one missing, as
 * 18.16 needs; without it (--print) ADD COLUMN IF NOT EXISTS (ClickHouse 19.1 and later).
 */
export function schemaStatements(o: SchemaOptions = {}, have?: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const t = tables(o);
  /** ALTERs that give an existing flows table (local, or the Distributed one) the application columns */
  const upgrade = (table: string): string[] => {
    if (!have) return ADDED_COLUMNS.map(([c, type]) => `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${c} ${type}`);
    const cols = have.get(table.slice(t.database.length + 1));
    return cols ? ADDED_COLUMNS.filter(([c]) => !cols.has(c)).map(([c, type]) => `ALTER TABLE ${table} ADD COLUMN ${c} ${type}`) : [];
  };
  const L = t.local;
  const cols = FLOW_COLUMNS.map(([n, type]) => `${n} ${type}`).join(', ');
  const out = [
    `CREATE DATABASE IF NOT EXISTS ${t.database}`,
    `CREATE TABLE IF NOT EXISTS ${L('flows')} (${cols}) ENGINE = MergeTree PARTITION BY intDiv(first_ns, ${DAY_NS}) ORDER BY (sensor, first_ns, batch, seq)`,
    ...upgrade(L('flows')),
    // the id is a hash of (sensor, address, vlan): the columns after it in the key add no rows
    `CREATE TABLE IF NOT EXISTS ${L('devices')} (sensor String, id UInt64, addr String, vlan UInt16, family UInt8, ip FixedString(16),
      mac AggregateFunction(anyLast, String),
      first_seen AggregateFunction(min, UInt64), last_seen AggregateFunction(max, UInt64),
      packets AggregateFunction(sum, UInt64), bytes AggregateFunction(sum, UInt64), flows AggregateFunction(sum, UInt64),
      services AggregateFunction(groupUniqArray, String))
      ENGINE = AggregatingMergeTree ORDER BY (sensor, id, addr, vlan, family, ip)`,
    // each end of a flow (once when both are one device) with its MAC and the service it answered on, one view per
    // end (an ARRAY JOIN of the two copies every column of the block: twice the cost);
    // src_ip/dst_ip: the ends' addresses as 16 bytes (IPv4-mapped)
    ...(['src', 'dst'] as const).map(
      (end) => `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('devices')}_${end}_mv TO ${L('devices')} AS
      SELECT sensor, ${end}_device AS id, any(${end}) AS addr, any(vlan) AS vlan, any(ip_version) AS family, any(${END_IP(end)}) AS ip,
        anyLastStateIf(${end}_mac, ${end}_mac != '') AS mac, minState(intDiv(first_ns, 1000000)) AS first_seen, maxState(intDiv(last_ns, 1000000)) AS last_seen,
        sumState(packets) AS packets, sumState(bytes) AS bytes, sumState(toUInt64(1)) AS flows,
        groupUniqArrayStateIf(server_service, server_service != '' AND ${end === 'src' ? 'NOT server_is_dst OR src_device = dst_device' : 'server_is_dst'}) AS services
      FROM ${L('flows')} ${end === 'dst' ? 'WHERE src_device != dst_device ' : ''}GROUP BY sensor, id`,
    ),
    // the IPv4 addresses an ARP flow binds to its MACs (times and MAC only, no traffic), as the SQLite store's devices;
    // an ARP flow's src_ip/dst_ip are those addresses
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('devices')}_arp_mv TO ${L('devices')} AS
      SELECT sensor, e.1 AS id, any(e.2) AS addr, any(vlan) AS vlan, toUInt8(4) AS family, any(e.4) AS ip, anyLastState(e.3) AS mac,
        minState(intDiv(first_ns, 1000000)) AS first_seen, maxState(intDiv(last_ns, 1000000)) AS last_seen,
        sumState(toUInt64(0)) AS packets, sumState(toUInt64(0)) AS bytes, sumState(toUInt64(0)) AS flows, groupUniqArrayStateIf('', 0) AS services
      FROM ${L('flows')} ARRAY JOIN [(arp_src_device, arp_src, src_mac, src_ip), (arp_dst_device, arp_dst, dst_mac, dst_ip)] AS e
      WHERE ether_type = 2054 AND e.2 != '' GROUP BY sensor, id`,
    `CREATE TABLE IF NOT EXISTS ${L('traffic')} (sensor String, t UInt64, ${TOTALS}) ENGINE = SummingMergeTree ORDER BY (sensor, t)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('traffic')}_mv TO ${L('traffic')} AS
      SELECT sensor, ${MINUTE} AS t, ${SUMS} FROM ${L('flows')} GROUP BY sensor, t`,
    `CREATE TABLE IF NOT EXISTS ${L('talkers')} (sensor String, t UInt64, device UInt64, ${TOTALS}) ENGINE = SummingMergeTree ORDER BY (sensor, t, device)`,
    ...(['src', 'dst'] as const).map(
      (end) => `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('talkers')}_${end}_mv TO ${L('talkers')} AS
      SELECT sensor, ${MINUTE} AS t, ${end}_device AS device, ${SUMS} FROM ${L('flows')} ${end === 'dst' ? 'WHERE src_device != dst_device ' : ''}GROUP BY sensor, t, device`,
    ),
    `CREATE TABLE IF NOT EXISTS ${L('conversations')} (sensor String, t UInt64, a UInt64, b UInt64, ${TOTALS}) ENGINE = SummingMergeTree ORDER BY (sensor, t, a, b)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('conversations')}_mv TO ${L('conversations')} AS
      SELECT sensor, ${MINUTE} AS t, least(src_device, dst_device) AS a, greatest(src_device, dst_device) AS b, ${SUMS} FROM ${L('flows')} GROUP BY sensor, t, a, b`,
    `CREATE TABLE IF NOT EXISTS ${L('services')} (sensor String, t UInt64, service String, ${TOTALS}) ENGINE = SummingMergeTree ORDER BY (sensor, t, service)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('services')}_mv TO ${L('services')} AS
      SELECT sensor, ${MINUTE} AS t, ${SERVICE_KEY} AS service, ${SUMS} FROM ${L('flows')} GROUP BY sensor, t, service`,
    // what the payload said: roll-ups by application and by TLS server name, and the latest DNS answer per address
    ...(['applications', 'sni'] as const).map((n) => {
      const key = n === 'applications' ? 'application' : 'sni';
      return [
        `CREATE TABLE IF NOT EXISTS ${L(n)} (sensor String, t UInt64, ${key} String, ${TOTALS}) ENGINE = SummingMergeTree ORDER BY (sensor, t, ${key})`,
        `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L(n)}_mv TO ${L(n)} AS
      SELECT sensor, ${MINUTE} AS t, ${key}, ${SUMS} FROM ${L('flows')} WHERE ${key} != '' GROUP BY sensor, t, ${key}`,
      ];
    }).flat(),
    `CREATE TABLE IF NOT EXISTS ${L('host_names')} (sensor String, addr String, name AggregateFunction(argMax, String, UInt64), seen AggregateFunction(max, UInt64))
      ENGINE = AggregatingMergeTree ORDER BY (sensor, addr)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${L('host_names')}_mv TO ${L('host_names')} AS
      SELECT sensor, dns_answer AS addr, argMaxState(dns_query, last_ns) AS name, maxState(intDiv(last_ns, 1000000)) AS seen
      FROM ${L('flows')} WHERE dns_answer != '' AND dns_query != '' GROUP BY sensor, addr`,
    `CREATE TABLE IF NOT EXISTS ${t.q('meta')} (key String, value String) ENGINE = MergeTree ORDER BY key`,
  ];
  if (t.cluster) {
    const c = str(t.cluster);
    for (const n of ['flows', 'devices', 'traffic', 'talkers', 'conversations', 'services', 'applications', 'sni', 'host_names'] as const) {
      const shard = n === 'flows' ? 'cityHash64(sensor, batch)' : 'rand()';
      out.push(`CREATE TABLE IF NOT EXISTS ${t.q(n)} AS ${L(n)} ENGINE = Distributed(${c}, ${str(t.database)}, ${str(`${n}_local`)}, ${shard})`);
      if (n === 'flows') out.push(...upgrade(t.q('flows')));
    }
  }
  return out;
}

/** The columns of the database's flows tables (local and Distributed), for schemaStatements()'s `have`: rows of `SELECT table, name`. */
export function flowsColumnsSql(o: SchemaOptions = {}): string {
  const t = tables(o);
  return `SELECT table, name FROM system.columns WHERE database = ${str(t.database)} AND table IN ('flows', 'flows_local')`;
}

/** The columns by table of flowsColumnsSql()'s rows. */
export function columnsByTable(rows: readonly { table: unknown; name: unknown }[]): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const r of rows) {
    const table = String(r.table);
    if (!m.has(table)) m.set(table, new Set());
    m.get(table)!.add(String(r.name));
  }
  return m;
}

/** The service text as the SQLite roll-ups key it: the name, else 'eth/<ether type>', else '<proto>/<server port>'. */
export const SERVICE_KEY = `if(service != '', service, if(ip_version = 0, concat('eth/', toString(ether_type)),
  concat(${PROTO}, '/', toString(if(server_is_dst, dst_port, src_port)))))`;

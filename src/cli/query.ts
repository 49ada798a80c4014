/** `flowmaster flows|devices|top|timeline|retention`: the store's queries and retention from the shell. */
import { InvalidArgumentError } from 'commander';
import { appSummary } from '../export/app-columns';
import { formatTable } from '../export/columns';
import { APP_COLUMNS } from '../export/app-columns';
import { FLOW_ROW_COLUMNS, type DeviceFilter, type DeviceRow, type DeviceSort, type FlowFilter, type FlowRow, type FlowSort, type Order, type Page } from '../store/query';
import type { Measure, Totals } from '../store/analytics';
import { openStore } from '../store/store';
import { ClickHouseQueries, type FleetDeviceRow, type FleetFlowRow } from '../clickhouse/query';
import { FlowmasterError } from '../errors';
import { stdout } from './output';

const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 58: 'icmp6', 132: 'sctp' };
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2);

/** Where a query reads: --db, or --clickhouse (with its database, cluster and an optional sensor). */
interface StoreFlags {
  db?: string;
  clickhouse?: string;
  clickhouseDatabase?: string;
  clickhouseCluster?: string;
  sensor?: string;
}

/** Output of flows, devices and top: a table, a JSON object per row, CSV (header: the SQLite column names), or the page as one JSON object (--json). */
export type QueryFormat = 'table' | 'jsonl' | 'csv' | 'json';

interface PageFlags extends StoreFlags {
  sort?: string;
  order: Order;
  limit: number;
  cursor?: string;
  page?: number;
  format?: QueryFormat;
  /** alias of --format json */
  json: boolean;
}

const formatOf = (flags: { format?: QueryFormat; json: boolean }): QueryFormat => (flags.json ? 'json' : (flags.format ?? 'table'));

/** One CSV cell: empty for null, JSON for objects and lists, quoted when it holds a comma, quote or line break. */
function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A CSV table: [header, value of a row] per column. */
type CsvColumns<T> = readonly [string, (row: T) => unknown][];

function csvText<T>(columns: CsvColumns<T>, rows: readonly T[]): string {
  return [columns.map(([h]) => h).join(','), ...rows.map((r) => columns.map(([, get]) => csvCell(get(r))).join(','))].join('\n') + '\n';
}

/** rows as a table, JSON lines, CSV or one JSON document (`whole`). */
function formatRows<T>(format: QueryFormat, rows: readonly T[], whole: unknown, table: (items: readonly T[]) => string, csv: CsvColumns<T>): string {
  if (format === 'json') return json(whole) + '\n';
  if (format === 'jsonl') return rows.map((r) => JSON.stringify(r) + '\n').join('');
  if (format === 'csv') return csvText(csv, rows);
  return table(rows) + '\n';
}

const STATS_KEYS = ['fwdStats', 'revStats', 'biStats', 'fwdFlagCounts', 'revFlagCounts'] as const;
const camel = (c: string) => c.replace(/_(\w)/g, (_, x: string) => x.toUpperCase());

/** The flows CSV: FlowRow as the SQLite columns (end_reason its name, addresses as text), stats and splt as JSON, the application's columns. */
const FLOW_CSV: CsvColumns<Partial<FlowRow> & Pick<FlowRow, 'firstNs'>> = [
  ...FLOW_ROW_COLUMNS.map(([key, col]): [string, (r: Partial<FlowRow>) => unknown] => [col, (r) => r[key]]),
  ['stats', (r) => (r.fwdStats ? Object.fromEntries(STATS_KEYS.map((k) => [k, r[k]])) : null)],
  ['splt', (r) => r.splt ?? null],
  ...APP_COLUMNS.filter((c) => c !== 'app_flags').map((c): [string, (r: Partial<FlowRow>) => unknown] => [c, (r) => (r.app as Record<string, unknown> | undefined)?.[camel(c)]]),
];

const DEVICE_CSV: CsvColumns<DeviceRow> = [
  ['id', (d) => d.id], ['addr', (d) => d.addr], ['vlan', (d) => d.vlan], ['mac', (d) => d.mac], ['vendor', (d) => d.vendor], ['name', (d) => d.name],
  ['first_seen_ms', (d) => d.firstSeen], ['last_seen_ms', (d) => d.lastSeen], ['packets', (d) => d.packets], ['bytes', (d) => d.bytes],
  ['flows', (d) => d.flows], ['services', (d) => d.services],
];

/** CSV columns of plain rows: their keys in snake_case. */
function keyColumns<T extends object>(rows: readonly T[]): CsvColumns<T> {
  const keys = rows.length ? Object.keys(rows[0]) : [];
  return keys.map((k) => [k.replace(/[A-Z]/g, (x) => `_${x.toLowerCase()}`), (r: T) => (r as Record<string, unknown>)[k]]);
}

export interface FlowsFlags extends PageFlags, FlowFilter {}

/** The filter flags of `flows`, as FlowFilter names them. */
const FLOW_FILTERS = [
  'from', 'to', 'host', 'device', 'port', 'protocol', 'service', 'source', 'vlan', 'minBytes', 'application', 'sni', 'httpHost', 'dnsQuery', 'communityId', 'connState', 'endReason',
] as const;
/** The filter flags of `devices`. */
const DEVICE_FILTERS = ['host', 'vlan', 'vendor', 'seenSince', 'name'] as const;

function readOnly(flags: StoreFlags) {
  if (flags.db && flags.clickhouse) throw new FlowmasterError('ERR_USAGE', 'give --db or --clickhouse, not both');
  if (!flags.db) throw new FlowmasterError('ERR_USAGE', 'which store: give --db FILE or --clickhouse URL');
  if (flags.sensor !== undefined) throw new FlowmasterError('ERR_USAGE', '--sensor reads the central store: it needs --clickhouse');
  return openStore(flags.db, { readonly: true });
}

/** The central store's queries, closed after `fn`. */
async function fleet<T>(flags: StoreFlags, fn: (q: ClickHouseQueries) => Promise<T>): Promise<T> {
  const q = new ClickHouseQueries({ url: flags.clickhouse!, database: flags.clickhouseDatabase, cluster: flags.clickhouseCluster });
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

const sensorFilter = (flags: StoreFlags) => (flags.sensor === undefined ? {} : { sensor: flags.sensor });

/** Prints a page and how to get the next one (on stderr, so stdout stays data). */
function printPage<T>(page: Page<T> & { total?: number }, flags: PageFlags, rows: (items: readonly T[]) => string, csv: CsvColumns<T>): void {
  const format = formatOf(flags);
  stdout.write(formatRows(format, page.items, page, rows, csv));
  if (flags.page !== undefined) {
    if (page.total !== undefined) process.stderr.write(`page ${flags.page} of ${Math.max(1, Math.ceil(page.total / flags.limit))} (${page.total} rows)\n`);
  } else if (page.next && format !== 'json') process.stderr.write(`more: --cursor ${page.next}\n`);
}

export async function flows(flags: FlowsFlags): Promise<number> {
  if (flags.clickhouse && !flags.db) return fleetFlows(flags);
  const store = readOnly(flags);
  try {
    const filter: FlowFilter = {};
    for (const k of FLOW_FILTERS) if (flags[k] !== undefined) (filter as Record<string, unknown>)[k] = flags[k];
    const sort = flags.sort as FlowSort | undefined;
    const page =
      flags.page !== undefined
        ? { ...store.flows.offsetPage({ filter, sort, order: flags.order, page: flags.page, pageSize: flags.limit, total: true }), next: null }
        : store.flows.page({ filter, sort, order: flags.order, limit: flags.limit, cursor: flags.cursor });
    printPage(page, flags, (items: readonly FlowRow[]) =>
      formatTable(
        items.map((f) => [String(f.id), ...flowCells(f)]),
        ['id', 'first (UTC)', 'seconds', 'proto', 'src', 'dst', 'packets', 'bytes', 'service', 'app'],
      ),
      FLOW_CSV,
    );
  } finally {
    store.close();
  }
  return 0;
}

export interface DevicesFlags extends PageFlags, DeviceFilter {}

export async function devices(flags: DevicesFlags): Promise<number> {
  if (flags.clickhouse && !flags.db) return fleetDevices(flags);
  const store = readOnly(flags);
  try {
    const filter: DeviceFilter = {};
    for (const k of DEVICE_FILTERS) if (flags[k] !== undefined) (filter as Record<string, unknown>)[k] = flags[k];
    const sort = flags.sort as DeviceSort | undefined;
    if (flags.page !== undefined && flags.cursor !== undefined) throw new FlowmasterError('ERR_USAGE', 'give --page or --cursor, not both');
    const page =
      flags.page !== undefined
        ? { ...store.devices.offsetPage({ filter, sort, order: flags.order, page: flags.page, pageSize: flags.limit, total: true }), next: null }
        : store.devices.page({ filter, sort, order: flags.order, limit: flags.limit, cursor: flags.cursor });
    printPage(page, flags, (items: readonly DeviceRow[]) =>
      formatTable(
        items.map((d) => [
          String(d.id), d.addr, d.name ?? '', d.vlan ? String(d.vlan) : '', d.mac ?? '', d.vendor ?? '', iso(d.lastSeen), String(d.flows),
          String(d.packets), String(d.bytes), d.services.join(', '),
        ]),
        ['id', 'address', 'name', 'vlan', 'mac', 'vendor', 'last seen (UTC)', 'flows', 'packets', 'bytes', 'services'],
      ),
      DEVICE_CSV,
    );
  } finally {
    store.close();
  }
  return 0;
}

export interface TopFlags extends StoreFlags {
  by: Measure;
  from?: number;
  to?: number;
  limit: number;
  format?: QueryFormat;
  /** alias of --format json */
  json: boolean;
}

/** What `top` ranks. */
export const TOP_KINDS = ['talkers', 'conversations', 'services', 'applications', 'sni'] as const;
export type TopKind = (typeof TOP_KINDS)[number];

export async function top(what: TopKind, flags: TopFlags): Promise<number> {
  if (flags.clickhouse && !flags.db) return fleetTop(what, flags);
  const store = readOnly(flags);
  try {
    const req = { by: flags.by, limit: flags.limit, ...(flags.from !== undefined ? { from: flags.from } : {}), ...(flags.to !== undefined ? { to: flags.to } : {}) };
    const a = store.analytics;
    const totals = (t: Totals) => [String(t.bytes), String(t.packets), String(t.flows)];
    let rows: Totals[];
    let header: string[];
    let cells: string[][];
    if (what === 'talkers') {
      const r = a.topTalkers(req);
      [rows, header] = [r, ['device', 'address', 'vlan', 'vendor', 'bytes', 'packets', 'flows']];
      cells = r.map((t) => [String(t.device), t.addr, t.vlan ? String(t.vlan) : '', t.vendor ?? '', ...totals(t)]);
    } else if (what === 'conversations') {
      const r = a.topConversations(req);
      [rows, header] = [r, ['a', 'b', 'bytes', 'packets', 'flows']];
      cells = r.map((t) => [t.a, t.b, ...totals(t)]);
    } else if (what === 'services') {
      const r = a.topServices(req);
      [rows, header] = [r, ['service', 'bytes', 'packets', 'flows']];
      cells = r.map((t) => [t.service, ...totals(t)]);
    } else if (what === 'applications') {
      const r = a.topApplications(req);
      [rows, header] = [r, ['application', 'bytes', 'packets', 'flows']];
      cells = r.map((t) => [t.application, ...totals(t)]);
    } else {
      const r = a.topSni(req);
      [rows, header] = [r, ['sni', 'bytes', 'packets', 'flows']];
      cells = r.map((t) => [t.sni, ...totals(t)]);
    }
    stdout.write(formatRows(formatOf(flags), rows, rows, () => formatTable(cells, header), keyColumns(rows)));
  } finally {
    store.close();
  }
  return 0;
}

const BUCKET_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A timeline bucket: a whole number of minutes, hours or days ('1m', '5m', '1h', '1d'), as ms. */
export function bucketDuration(v: string): number {
  const m = /^(\d+)\s*([mhd])$/.exec(v.trim());
  const ms = m ? Number(m[1]) * BUCKET_UNITS[m[2]] : NaN;
  if (!(ms >= 60_000 && Number.isSafeInteger(ms) && ms <= 2 ** 40)) throw new InvalidArgumentError("expected a whole number of minutes, hours or days: '1m', '5m', '1h', '1d'");
  return ms;
}

export interface TimelineFlags extends StoreFlags {
  /** ms */
  bucket: number;
  from?: number;
  to?: number;
  format?: 'table' | 'jsonl' | 'csv';
}

/** Traffic per time bucket from the roll-ups: a table (UTC times), JSON lines or CSV, each with t (ms) and its ISO time. */
export async function timeline(flags: TimelineFlags): Promise<number> {
  const range = { bucketMs: flags.bucket, ...(flags.from !== undefined ? { from: flags.from } : {}), ...(flags.to !== undefined ? { to: flags.to } : {}) };
  if (flags.clickhouse && !flags.db) {
    const rows = await fleet(flags, (q) => q.timeline({ ...range, ...sensorFilter(flags) }));
    printTimeline(rows, flags.format);
    return 0;
  }
  const store = readOnly(flags);
  try {
    printTimeline(store.analytics.timeline(range), flags.format);
  } finally {
    store.close();
  }
  return 0;
}


function printTimeline(rows: (Totals & { t: number })[], format0: TimelineFlags['format']): void {
  const format = format0 ?? (process.stdout.isTTY ? 'table' : 'jsonl');
  const isoZ = (ms: number) => new Date(ms).toISOString();
  let text: string;
  if (format === 'table') {
    text = formatTable(rows.map((r) => [iso(r.t), String(r.bytes), String(r.packets), String(r.flows)]), ['time (UTC)', 'bytes', 'packets', 'flows']) + '\n';
  } else if (format === 'csv') {
    text = ['t,time,bytes,packets,flows', ...rows.map((r) => `${r.t},${isoZ(r.t)},${r.bytes},${r.packets},${r.flows}`)].join('\n') + '\n';
  } else {
    text = rows.map((r) => JSON.stringify({ t: r.t, time: isoZ(r.t), bytes: r.bytes, packets: r.packets, flows: r.flows }) + '\n').join('');
  }
  stdout.write(text);
}

export interface RetentionFlags {
  db: string;
  flows?: string;
  devices?: string;
  rollupMinutes?: string;
  rollupHours?: string;
  vacuum: boolean;
  maxRows?: number;
  maxSize?: number;
  exact: boolean;
  chunk: number;
}

export async function retention(flags: RetentionFlags): Promise<number> {
  const store = openStore(flags.db, { create: false }); // a mistyped path is an error, not a new database
  try {
    const r = await store.retain({
      flows: flags.flows, devices: flags.devices, maxRows: flags.maxRows, maxBytes: flags.maxSize, vacuum: flags.vacuum, exact: flags.exact, chunk: flags.chunk,
      rollups: { minutes: flags.rollupMinutes, hours: flags.rollupHours },
    });
    process.stdout.write(
      `retention on ${flags.db}: ${r.flowsDeleted} flows (${r.partitionsDropped} partitions), ${r.rollupRowsDeleted} roll-up rows and ${r.devicesDeleted} devices deleted, ` +
        `${r.pagesFreed} pages freed, ${(r.ms / 1000).toFixed(2)} s` +
        (r.flowsPastAge ? `; ${r.flowsPastAge} flows past their age stay until their partition has aged out (--exact deletes them)` : '') +
        '\n',
    );
  } finally {
    store.close();
  }
  return 0;
}

/** addr:port, an IPv6 address in brackets (RFC 3986); the address alone for flows without ports. */
const endpoint = (addr: string, port: number, ports: boolean) => (!ports ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

function flowCells(f: Pick<FlowRow, 'first' | 'durationMs' | 'protocol' | 'src' | 'dst' | 'srcPort' | 'dstPort' | 'fwdPackets' | 'revPackets' | 'fwdBytes' | 'revBytes' | 'service' | 'app'>): string[] {
  const ports = f.srcPort !== 0 || f.dstPort !== 0;
  return [
    iso(Math.floor(f.first)), (f.durationMs / 1000).toFixed(3),
    PROTOCOL_NAMES[f.protocol] ?? String(f.protocol), endpoint(f.src, f.srcPort, ports), endpoint(f.dst, f.dstPort, ports),
    `${f.fwdPackets}/${f.revPackets}`, `${f.fwdBytes}/${f.revBytes}`, f.service ?? '', appSummary(f.app),
  ];
}
const FLOW_HEADER = ['first (UTC)', 'seconds', 'proto', 'src', 'dst', 'packets', 'bytes', 'service', 'app'];

async function fleetFlows(flags: FlowsFlags): Promise<number> {
  if (flags.page !== undefined) throw new FlowmasterError('ERR_USAGE', '--page (offset paging) reads a --db; the central store pages with --cursor');
  const filter: Record<string, unknown> = { ...sensorFilter(flags) };
  for (const k of FLOW_FILTERS) if (flags[k] !== undefined) filter[k] = flags[k];
  const page = await fleet(flags, (q) => q.flowsPage({ filter, sort: flags.sort as FlowSort | undefined, order: flags.order, limit: flags.limit, cursor: flags.cursor }));
  printPage(page, flags, (items: readonly FleetFlowRow[]) => formatTable(items.map((f) => [f.sensor, ...flowCells(f)]), ['sensor', ...FLOW_HEADER]), [
    ['sensor', (f) => f.sensor], ['batch', (f) => f.batch], ['seq', (f) => f.seq], ...FLOW_CSV.filter(([c]) => c !== 'id' && c !== 'source_id'),
  ]);
  return 0;
}

async function fleetDevices(flags: DevicesFlags): Promise<number> {
  const filter: Record<string, unknown> = { ...sensorFilter(flags) };
  for (const k of DEVICE_FILTERS) if (flags[k] !== undefined) filter[k] = flags[k];
  if (flags.page !== undefined) throw new FlowmasterError('ERR_USAGE', '--page (offset paging) reads a --db; the central store pages with --cursor');
  const page = await fleet(flags, (q) => q.devicesPage({ filter, sort: flags.sort as DeviceSort | undefined, order: flags.order, limit: flags.limit, cursor: flags.cursor }));
  printPage(page, flags, (items: readonly FleetDeviceRow[]) =>
    formatTable(
      items.map((d) => [d.sensor, String(d.id), d.addr, d.name ?? '', d.vlan ? String(d.vlan) : '', d.mac ?? '', d.vendor ?? '', iso(d.lastSeen), String(d.flows), String(d.packets), String(d.bytes), d.services.join(', ')]),
      ['sensor', 'id', 'address', 'name', 'vlan', 'mac', 'vendor', 'last seen (UTC)', 'flows', 'packets', 'bytes', 'services'],
    ),
    [['sensor', (d) => d.sensor], ...DEVICE_CSV],
  );
  return 0;
}

async function fleetTop(what: TopKind, flags: TopFlags): Promise<number> {
  const req = { by: flags.by, limit: flags.limit, ...sensorFilter(flags), ...(flags.from !== undefined ? { from: flags.from } : {}), ...(flags.to !== undefined ? { to: flags.to } : {}) };
  const totals = (t: Totals) => [String(t.bytes), String(t.packets), String(t.flows)];
  const [rows, header, cells] = await fleet(flags, async (q): Promise<[unknown[], string[], string[][]]> => {
    if (what === 'talkers') {
      const r = await q.topTalkers(req);
      return [r, ['sensor', 'device', 'address', 'vlan', 'vendor', 'bytes', 'packets', 'flows'], r.map((t) => [t.sensor, String(t.device), t.addr, t.vlan ? String(t.vlan) : '', t.vendor ?? '', ...totals(t)])];
    }
    if (what === 'conversations') {
      const r = await q.topConversations(req);
      return [r, ['sensor', 'a', 'b', 'bytes', 'packets', 'flows'], r.map((t) => [t.sensor, t.a, t.b, ...totals(t)])];
    }
    if (what === 'services') {
      const r = await q.topServices(req);
      return [r, ['service', 'bytes', 'packets', 'flows'], r.map((t) => [t.service, ...totals(t)])];
    }
    if (what === 'applications') {
      const r = await q.topApplications(req);
      return [r, ['application', 'bytes', 'packets', 'flows'], r.map((t) => [t.application, ...totals(t)])];
    }
    const r = await q.topSni(req);
    return [r, ['sni', 'bytes', 'packets', 'flows'], r.map((t) => [t.sni, ...totals(t)])];
  });
  const list = rows as object[];
  stdout.write(formatRows(formatOf(flags), list, list, () => formatTable(cells, header), keyColumns(list)));
  return 0;
}

/**
 * Text exports of flows: JSON lines (Flow.toObject) and CSV with the stable
 * column names below (docs/fields.md: the JSON keys in snake_case). Times in
 * CSV are ms since the epoch with all six digits of the ns below a ms, so
 * they hold the record's ns exactly ("1700000000123.456789"); durations
 * likewise in ms.
 *
 * Column order: the columns of field list v1 first, where they always were
 * (then the application's), then the v2 columns (CSV_V2_COLUMNS), then the
 * optional ones: with `statistics` STATS_COLUMNS, with `splt` > 0
 * SPLT_COLUMNS (JSON arrays, quoted). A reader by position keeps working.
 *
 * jsonLine and csvRow, one Flow at a time, define these formats: they are
 * the reference that `flowmaster read` must print byte for byte. read
 * prints whole batches with the fast formatter of text.ts instead, and
 * test/output-format.test.ts holds it to these on every flow.
 */
import type { DirectionStats, Flow, TcpFlagCounts } from '../flow/flow';
import { Offsets as O, TCP_FLAG_NAMES } from '../flow/layout';
import { APP_COLUMNS, appCsvCells, appSummary } from './app-columns';

/** protocolName() of an IP flow by protocol number (others: the number) */
export const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 58: 'icmp6', 132: 'sctp' };

export function protocolName(flow: Flow): string {
  if (flow.l2) return `eth:0x${flow.etherType.toString(16).padStart(4, '0')}`;
  return PROTOCOL_NAMES[flow.protocol] ?? String(flow.protocol);
}

/** ns as ms with the six digits below a ms ("-" before a negative duration). */
export function nsToMsText(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const a = ns < 0n ? -ns : ns;
  return `${sign}${a / 1_000_000n}.${(a % 1_000_000n).toString().padStart(6, '0')}`;
}

/** Options of the CSV columns: the statistics columns, the SPLT columns. */
export interface CsvOptions {
  statistics?: boolean;
  /** the SPLT columns when > 0 (FlowMeter option `splt`) */
  splt?: number;
}

export const CSV_COLUMNS = [
  'flow_id', 'segment', 'end_reason', 'first', 'last', 'protocol', 'ip_version', 'src', 'src_port', 'dst', 'dst_port',
  'vlan', 'fwd_packets', 'fwd_bytes', 'rev_packets', 'rev_bytes', 'fwd_tcp_flags', 'rev_tcp_flags', 'icmp_type',
  'icmp_code', 'src_mac', 'dst_mac', 'tunnel', 'fragments', 'truncated', 'community_id',
  // the application area (app-columns.ts): empty for a flow without one
  ...APP_COLUMNS,
] as const;

/** Field list v2 (docs/fields.md), after the application's columns. */
export const CSV_V2_COLUMNS = [
  'inner_vlan', 'src_mac_vendor', 'dst_mac_vendor', 'tunnel_type', 'tunnel_id', 'min_ttl', 'max_ttl', 'drops',
  'fwd_ip_bytes', 'rev_ip_bytes', 'fwd_payload_bytes', 'rev_payload_bytes', 'fwd_first', 'fwd_last', 'rev_first', 'rev_last',
  'conn_state', 'history', 'duration_ms',
] as const;

const STAT_KEYS = ['size_min', 'size_max', 'size_mean', 'size_stddev', 'iat_min_ms', 'iat_max_ms', 'iat_mean_ms', 'iat_stddev_ms'] as const;

/** With `statistics`: fwd_ / rev_ / bi_ sizes and inter-arrival times, then packets per TCP flag (nfstream's names) per direction. */
export const STATS_COLUMNS: readonly string[] = [
  ...['fwd', 'rev', 'bi'].flatMap((d) => STAT_KEYS.map((k) => `${d}_${k}`)),
  ...['fwd', 'rev'].flatMap((d) => TCP_FLAG_NAMES.map((f) => `${d}_${f}_packets`)),
];

/** With `splt` > 0: the first packets' directions, sizes and inter-arrival ms, each a JSON array (empty cells without). */
export const SPLT_COLUMNS = ['splt_direction', 'splt_size', 'splt_iat_ms'] as const;

/** The columns of a CSV with these options, in order. */
export function csvColumns(options: CsvOptions = {}): string[] {
  return [...CSV_COLUMNS, ...CSV_V2_COLUMNS, ...(options.statistics ? STATS_COLUMNS : []), ...((options.splt ?? 0) > 0 ? SPLT_COLUMNS : [])];
}

export function csvCell(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(options: CsvOptions = {}): string {
  return csvColumns(options).join(',');
}

const statCells = (s: DirectionStats) => [s.sizeMin, s.sizeMax, s.sizeMean, s.sizeStddev, s.iatMinMs, s.iatMaxMs, s.iatMeanMs, s.iatStddevMs];
const flagCells = (c: TcpFlagCounts) => TCP_FLAG_NAMES.map((n) => c[n]);
/** The record's ns of a direction's times (the getters give ms as doubles, which cannot hold them). */
const nsAt = (f: Flow, off: number) => new DataView(f.raw.buffer, f.raw.byteOffset, f.raw.byteLength).getBigUint64(off, true);

export function csvRow(f: Flow, options: CsvOptions = {}): string {
  const rev = f.revPackets > 0;
  const cells: (string | number | boolean | null)[] = [
    f.flowId, f.segment, f.endReason, nsToMsText(f.firstNs), nsToMsText(f.lastNs), protocolName(f), f.ipVersion,
    f.src, f.srcPort, f.dst, f.dstPort, f.vlan, f.fwdPackets, f.fwdBytes, f.revPackets, f.revBytes, f.fwdTcpFlags,
    f.revTcpFlags, f.icmpType, f.icmpCode, f.srcMac, f.dstMac, f.tunnel ? 1 : 0, f.fragments ? 1 : 0,
    f.truncated ? 1 : 0, f.communityId(), ...appCsvCells(f),
    f.innerVlan, f.srcMacVendor, f.dstMacVendor, f.tunnelType, f.tunnelId, f.minTtl, f.maxTtl, f.drops ? 1 : 0,
    f.fwdIpBytes, f.revIpBytes, f.fwdPayloadBytes, f.revPayloadBytes,
    nsToMsText(f.firstNs), nsToMsText(nsAt(f, O.kFwdLastNs)), rev ? nsToMsText(nsAt(f, O.kRevFirstNs)) : null, rev ? nsToMsText(nsAt(f, O.kRevLastNs)) : null,
    f.connState, f.history, nsToMsText(f.lastNs - f.firstNs),
  ];
  if (options.statistics) {
    cells.push(...statCells(f.fwdStats), ...statCells(f.revStats), ...statCells(f.biStats), ...flagCells(f.fwdFlagCounts), ...flagCells(f.revFlagCounts));
  }
  if ((options.splt ?? 0) > 0) {
    const s = f.splt;
    cells.push(...(s ? [JSON.stringify(s.direction), JSON.stringify(s.size), JSON.stringify(s.iatMs)] : [null, null, null]));
  }
  return cells.map(csvCell).join(',');
}

export function jsonLine(f: Flow, options: { statistics?: boolean } = {}): string {
  return JSON.stringify(f.toObject(options));
}

export const TABLE_COLUMNS = ['proto', 'src', 'dst', 'packets', 'bytes', 'duration', 'end', 'app'] as const;

export function tableCells(f: Flow): string[] {
  const ep = (a: string, p: number) => (f.l2 || (p === 0 && f.protocol !== 6 && f.protocol !== 17) ? a : a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  return [
    protocolName(f) + (f.vlan ? ` v${f.vlan}` : ''),
    ep(f.src, f.srcPort),
    ep(f.dst, f.dstPort),
    `${f.fwdPackets}/${f.revPackets}`,
    `${f.fwdBytes}/${f.revBytes}`,
    `${(f.durationMs / 1000).toFixed(3)}s`,
    f.endReason,
    appSummary(f.app),
  ];
}

export function formatTable(rows: string[][], header: readonly string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

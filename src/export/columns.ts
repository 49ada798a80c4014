/**
 * Text exports of flows: JSON lines (Flow.toObject) and CSV with the stable
 * column names below (documented in README). Times in CSV are epoch seconds
 * with nanosecond digits.
 *
 * jsonLine and csvRow, one Flow at a time, define these formats: they are
 * the reference that `flowmaster read` must print byte for byte. read
 * prints whole batches with the fast formatter of text.ts instead, and
 * test/output-format.test.ts holds it to these on every flow.
 */
import type { Flow } from '../flow/flow';
import { APP_COLUMNS, appCsvCells, appSummary } from './app-columns';

/** protocolName() of an IP flow by protocol number (others: the number) */
export const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 58: 'icmp6', 132: 'sctp' };

export function protocolName(flow: Flow): string {
  if (flow.l2) return `eth:0x${flow.etherType.toString(16).padStart(4, '0')}`;
  return PROTOCOL_NAMES[flow.protocol] ?? String(flow.protocol);
}

function nsToSeconds(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${s}.${frac}`;
}

export const CSV_COLUMNS = [
  'flow_id', 'segment', 'end_reason', 'first', 'last', 'protocol', 'ip_version', 'src', 'src_port', 'dst', 'dst_port',
  'vlan', 'fwd_packets', 'fwd_bytes', 'rev_packets', 'rev_bytes', 'fwd_tcp_flags', 'rev_tcp_flags', 'icmp_type',
  'icmp_code', 'src_mac', 'dst_mac', 'tunnel', 'fragments', 'truncated', 'community_id',
  // the application area (app-columns.ts): empty for a flow without one
  ...APP_COLUMNS,
] as const;

export function csvCell(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',');
}

export function csvRow(f: Flow): string {
  return [
    f.flowId, f.segment, f.endReason, nsToSeconds(f.firstNs), nsToSeconds(f.lastNs), protocolName(f), f.ipVersion,
    f.src, f.srcPort, f.dst, f.dstPort, f.vlan, f.fwdPackets, f.fwdBytes, f.revPackets, f.revBytes, f.fwdTcpFlags,
    f.revTcpFlags, f.icmpType, f.icmpCode, f.srcMac, f.dstMac, f.tunnel ? 1 : 0, f.fragments ? 1 : 0,
    f.truncated ? 1 : 0, f.communityId(), ...appCsvCells(f),
  ]
    .map(csvCell)
    .join(',');
}

export function jsonLine(f: Flow): string {
  return JSON.stringify(f.toObject());
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

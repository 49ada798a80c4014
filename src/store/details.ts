/**
 * The details area of a record (docs/fields.md, bytes 512–1023) and the
 * Community ID as the store's flow columns (migration 10), in
 * DETAIL_COLUMNS order, and back to FlowRow fields. Names are the JSON
 * names (Flow.toObject()) in snake_case; the statistics and SPLT are JSON
 * text of the objects toObject() gives, NULL when the record has none.
 */
import type { Flow } from '../flow/flow';
import { Offsets as O } from '../flow/layout';

export const DETAIL_COLUMNS = [
  'community_id', 'conn_state', 'history', 'fwd_ip_bytes', 'rev_ip_bytes', 'fwd_payload_bytes', 'rev_payload_bytes', 'inner_vlan',
  'tunnel_type', 'tunnel_id', 'min_ttl', 'max_ttl', 'fwd_last_ns', 'rev_first_ns', 'rev_last_ns', 'stats', 'splt',
] as const;
export type DetailColumn = (typeof DETAIL_COLUMNS)[number];

/** SQLite types; NULL: not applicable (layer 2, no reverse packet, no tunnel), or a flow stored before migration 10. */
export const DETAIL_SQLITE_TYPES: Record<DetailColumn, string> = Object.fromEntries(
  DETAIL_COLUMNS.map((c) => [c, ['community_id', 'conn_state', 'history', 'tunnel_type', 'stats', 'splt'].includes(c) ? 'TEXT' : 'INTEGER']),
) as Record<DetailColumn, string>;

/** The statistics area: per-direction stat blocks (fwd, rev) and the flag counters with the bidirectional block. */
const STAT_SPANS: readonly [number, number][] = [
  [O.kFwdStats, O.kRevStats + O.kStatBlockSize],
  [O.kFwdFlagCounts, O.kBiStats + O.kStatBlockSize],
];

/**
 * Whether the record carries statistics (the `statistics` option): the
 * record has no flag for it, and without the option the engines leave the
 * area zero, so a record whose statistics area is all zero has none.
 */
export function hasStatistics(raw: Uint8Array): boolean {
  for (const [from, to] of STAT_SPANS) for (let i = from; i < to; i++) if (raw[i] !== 0) return true;
  return false;
}

/** The statistics JSON (fwdStats, revStats, biStats, fwdFlagCounts, revFlagCounts as toObject() gives them), or null. */
export function statsJson(f: Flow): string | null {
  if (!hasStatistics(f.raw)) return null;
  return JSON.stringify({ fwdStats: f.fwdStats, revStats: f.revStats, biStats: f.biStats, fwdFlagCounts: f.fwdFlagCounts, revFlagCounts: f.revFlagCounts });
}

const nsAt = (v: DataView, at: number) => v.getBigUint64(at, true);
const INT64_MAX = (1n << 63n) - 1n;
const int64 = (ns: bigint) => (ns > INT64_MAX ? INT64_MAX : ns);

/** Writes the detail columns of `f` into `row` from index `at` on (DETAIL_COLUMNS order). */
export function writeDetails(f: Flow, row: unknown[], at: number): void {
  const raw = f.raw;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const l2 = f.l2;
  const rev = f.revPackets > 0;
  const tunnel = f.tunnelType;
  const history = f.history;
  row[at] = f.communityId();
  row[at + 1] = f.connState;
  row[at + 2] = history; // '' when none; NULL: stored before migration 10
  row[at + 3] = f.fwdIpBytes;
  row[at + 4] = f.revIpBytes;
  row[at + 5] = f.fwdPayloadBytes;
  row[at + 6] = f.revPayloadBytes;
  row[at + 7] = f.innerVlan;
  row[at + 8] = tunnel;
  row[at + 9] = tunnel ? f.tunnelId : null;
  row[at + 10] = l2 ? null : raw[O.kMinTtl];
  row[at + 11] = l2 ? null : raw[O.kMaxTtl];
  row[at + 12] = int64(nsAt(v, O.kFwdLastNs));
  row[at + 13] = rev ? int64(nsAt(v, O.kRevFirstNs)) : null;
  row[at + 14] = rev ? int64(nsAt(v, O.kRevLastNs)) : null;
  row[at + 15] = statsJson(f);
  const splt = raw[O.kSpltCount] ? f.splt : null;
  row[at + 16] = splt ? JSON.stringify(splt) : null;
}

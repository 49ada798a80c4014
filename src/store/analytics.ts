/**
 * Aggregates over the flows that overlap a time range [from, to] (as flows
 * pages select them: last_ns >= from AND first_ns <= to): top talkers, top
 * conversations, top services, and traffic over time in buckets.
 */
import type { Database } from 'better-sqlite3';
import { FlowmasterError } from '../errors';
import { formatAddress } from '../flow/address';
import { int, timeNs, type QueryTimer } from './query';

export interface RangeRequest {
  /** flows that overlap [from, to], ms since the epoch (default: all) */
  from?: number;
  to?: number;
}

export type Measure = 'bytes' | 'packets' | 'flows';

export interface Totals {
  bytes: number;
  packets: number;
  flows: number;
}

/** The overlap test, with [from, to] in ns as its parameters. */
const OVERLAPS = 'last_ns >= ? AND first_ns <= ?';

function range(r: RangeRequest): [bigint, bigint] {
  const from = r.from === undefined ? 0n : timeNs('from', r.from);
  const to = r.to === undefined ? (1n << 63n) - 1n : timeNs('to', r.to, true);
  return [from, to];
}

function measure(by: unknown): Measure {
  if (by !== undefined && by !== 'bytes' && by !== 'packets' && by !== 'flows')
    throw new FlowmasterError('ERR_INVALID_OPTION', "by: expected 'bytes', 'packets' or 'flows'");
  return (by as Measure | undefined) ?? 'bytes';
}


export class Analytics {
  readonly #db: Database;
  readonly #timer: QueryTimer;

  constructor(db: Database, timer: QueryTimer) {
    this.#db = db;
    this.#timer = timer;
  }

  #all(shape: string, sql: string, params: unknown[]): Record<string, unknown>[] {
    return this.#timer.run(shape, () => this.#db.prepare(sql).all(...params) as Record<string, unknown>[]);
  }

  /** Devices by traffic they took part in (either end). */
  topTalkers(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { device: number; addr: string; vlan: number; vendor: string | null })[] {
    const [from, to] = range(req);
    const by = measure(req.by);
    const limit = int('limit', req.limit ?? 10, 1, 10_000);
    const rows = this.#all(
      'analytics.topTalkers',
      `WITH f AS (
         SELECT src_device d, fwd_bytes + rev_bytes b, fwd_packets + rev_packets p FROM flows WHERE ${OVERLAPS}
         UNION ALL
         SELECT dst_device, fwd_bytes + rev_bytes, fwd_packets + rev_packets FROM flows WHERE ${OVERLAPS})
       SELECT t.d device, t.bytes, t.packets, t.flows, dv.addr, dv.vlan, dv.vendor
       FROM (SELECT d, sum(b) bytes, sum(p) packets, count(*) flows FROM f GROUP BY d ORDER BY ${by} DESC, d LIMIT ?) t
       JOIN devices dv ON dv.id = t.d ORDER BY t.${by} DESC, t.d`,
      [from, to, from, to, limit],
    );
    return rows.map((r) => ({
      device: r.device as number, addr: formatAddress(r.addr as Buffer), vlan: r.vlan as number, vendor: (r.vendor as string | null) ?? null,
      bytes: r.bytes as number, packets: r.packets as number, flows: r.flows as number,
    }));
  }

  /** Device pairs (either direction) by traffic between them. */
  topConversations(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { a: string; b: string; aDevice: number; bDevice: number })[] {
    const [from, to] = range(req);
    const by = measure(req.by);
    const limit = int('limit', req.limit ?? 10, 1, 10_000);
    const rows = this.#all(
      'analytics.topConversations',
      `SELECT t.a, t.b, t.bytes, t.packets, t.flows, da.addr aa, db.addr ba FROM (
         SELECT min(src_device, dst_device) a, max(src_device, dst_device) b, sum(fwd_bytes + rev_bytes) bytes,
                sum(fwd_packets + rev_packets) packets, count(*) flows
         FROM flows WHERE ${OVERLAPS} GROUP BY 1, 2 ORDER BY ${by} DESC, 1, 2 LIMIT ?) t
       JOIN devices da ON da.id = t.a JOIN devices db ON db.id = t.b ORDER BY t.${by} DESC, t.a, t.b`,
      [from, to, limit],
    );
    return rows.map((r) => ({
      aDevice: r.a as number, bDevice: r.b as number, a: formatAddress(r.aa as Buffer), b: formatAddress(r.ba as Buffer),
      bytes: r.bytes as number, packets: r.packets as number, flows: r.flows as number,
    }));
  }

  /** Services (named, or protocol/port of the server end) by traffic. */
  topServices(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { service: string })[] {
    const [from, to] = range(req);
    const by = measure(req.by);
    const limit = int('limit', req.limit ?? 10, 1, 10_000);
    const rows = this.#all(
      'analytics.topServices',
      `SELECT coalesce(service, CASE WHEN ip_version = 0 THEN 'eth/' || ether_type
                 ELSE CASE protocol WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 132 THEN 'sctp' ELSE protocol END
                      || '/' || CASE WHEN server_is_dst THEN dst_port ELSE src_port END END) service,
              sum(fwd_bytes + rev_bytes) bytes, sum(fwd_packets + rev_packets) packets, count(*) flows
       FROM flows WHERE ${OVERLAPS} GROUP BY 1 ORDER BY ${by} DESC, 1 LIMIT ?`,
      [from, to, limit],
    );
    return rows.map((r) => ({ service: String(r.service), bytes: r.bytes as number, packets: r.packets as number, flows: r.flows as number }));
  }

  /** Traffic per time bucket of flow start (a flow that started before `from` is in an earlier bucket), for a plot. */
  timeline(req: RangeRequest & { bucketMs: number }): (Totals & { t: number })[] {
    const [from, to] = range(req);
    const bucket = BigInt(int('bucketMs', req.bucketMs, 1, 2 ** 40)) * 1_000_000n;
    const rows = this.#all(
      'analytics.timeline',
      `SELECT (first_ns / ?) * ? t, sum(fwd_bytes + rev_bytes) bytes, sum(fwd_packets + rev_packets) packets, count(*) flows
       FROM flows WHERE ${OVERLAPS} GROUP BY 1 ORDER BY 1`,
      [bucket, bucket, from, to],
    );
    return rows.map((r) => ({ t: Number(BigInt(r.t as number) / 1_000_000n), bytes: r.bytes as number, packets: r.packets as number, flows: r.flows as number }));
  }
}

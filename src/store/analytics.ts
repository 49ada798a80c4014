/**
 * Aggregates over a time range, served from the roll-ups (src/store/rollups.ts):
 * top talkers, top conversations, top services, top applications and TLS
 * server names, and traffic over time in
 * buckets. They read pre-summed minute and hour rows, never the flows.
 */
import type { Database } from 'better-sqlite3';
import { FlowmasterError } from '../errors';
import { formatAddress } from '../flow/address';
import { int, MAX_TIME_MS, type QueryTimer } from './query';
import * as rollups from './rollups';

export interface RangeRequest {
  /**
   * the roll-up buckets whose start lies in [from floored to the minute, to],
   * ms since the epoch (default: all). A flow's bytes and packets are spread
   * over the minutes it spans, so a range counts the share of each flow that
   * falls in it; a flow counts in `flows` in the bucket where it started.
   */
  from?: number;
  to?: number;
}

export type Measure = 'bytes' | 'packets' | 'flows';

export interface Totals {
  bytes: number;
  packets: number;
  flows: number;
}

function range(r: RangeRequest): [number, number] {
  const from = r.from === undefined ? 0 : int('from', r.from, 0, MAX_TIME_MS);
  const to = r.to === undefined ? MAX_TIME_MS : int('to', r.to, 0, MAX_TIME_MS);
  return [from, to];
}

/** A ranking's buckets: without from and to, everything stored (the roll-ups' ALL rows: one per key). */
function rankRange(r: RangeRequest): rollups.RollupRange {
  const [fromMs, toMs] = range(r);
  return r.from === undefined && r.to === undefined ? rollups.ALL : { fromMs, toMs };
}

function measure(by: unknown): Measure {
  if (by !== undefined && by !== 'bytes' && by !== 'packets' && by !== 'flows')
    throw new FlowmasterError('ERR_INVALID_OPTION', "by: expected 'bytes', 'packets' or 'flows'");
  return (by as Measure | undefined) ?? 'bytes';
}

const totals = (r: Totals): Totals => ({ bytes: r.bytes, packets: r.packets, flows: r.flows });

/**
 * Top talkers, conversations, services and a timeline from the roll-ups.
 *
 * Semantics of a range [from, to] (ms): the minute buckets whose start lies
 * in [floor(from to the minute), to]. Whole hours inside the range are read
 * from hour rows and the partial hours at its edges from minute rows; where
 * retention has deleted the minute rows (whole hours of them), the hour rows
 * whose start lies in the range stand in for them, so such an edge counts a
 * whole hour or nothing. A flow's bytes and packets are apportioned, as
 * exact integers, over the minutes its [first, last] spans (a flow spanning
 * more than a week is booked wholly into its start minute: damaged
 * timestamps); its `flows` count is in the minute where it started. A
 * device retention has deleted since is still ranked, with addr '' and vlan 0.
 */
export class Analytics {
  readonly #db: Database;
  readonly #timer: QueryTimer;

  constructor(db: Database, timer: QueryTimer) {
    this.#db = db;
    this.#timer = timer;
  }

  /** Devices by traffic they took part in (either end; once when both ends are the device). */
  topTalkers(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { device: number; addr: string; vlan: number; vendor: string | null })[] {
    const r = rankRange(req);
    const by = measure(req.by);
    const limit = int('limit', req.limit ?? 10, 1, 10_000);
    const rows = this.#timer.run('analytics.topTalkers', () => rollups.topTalkers(this.#db, r, by, limit));
    return rows.map((r) => ({
      device: r.device, addr: r.addr ? formatAddress(r.addr) : '', vlan: r.vlan ?? 0, vendor: r.vendor ?? null, ...totals(r),
    }));
  }

  /** Device pairs (either direction) by traffic between them. */
  topConversations(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { a: string; b: string; aDevice: number; bDevice: number })[] {
    const r = rankRange(req);
    const by = measure(req.by);
    const limit = int('limit', req.limit ?? 10, 1, 10_000);
    const rows = this.#timer.run('analytics.topConversations', () => rollups.topConversations(this.#db, r, by, limit));
    return rows.map((r) => ({
      aDevice: r.a, bDevice: r.b, a: r.aAddr ? formatAddress(r.aAddr) : '', b: r.bAddr ? formatAddress(r.bAddr) : '', ...totals(r),
    }));
  }

  /** Services (named, else protocol/port of the server end, 'eth/<ether type>' at layer 2) by traffic. */
  topServices(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { service: string })[] {
    return this.#topBy('service', 'analytics.topServices', req, rollups.topServices);
  }

  /** Applications the payload showed (docs/applications.md) by the traffic of their flows; flows without one are not counted. */
  topApplications(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { application: string })[] {
    return this.#topBy('application', 'analytics.topApplications', req, rollups.topApplications);
  }

  /** TLS / QUIC server names (SNI, as the clients sent them) by the traffic of their flows. */
  topSni(req: RangeRequest & { by?: Measure; limit?: number } = {}): (Totals & { sni: string })[] {
    return this.#topBy('sni', 'analytics.topSni', req, rollups.topSni);
  }

  /** A roll-up keyed by one text column, ranked: the rows as { [key]: text, ...totals }. */
  #topBy<K extends string>(
    key: K,
    timer: string,
    req: RangeRequest & { by?: Measure; limit?: number },
    query: (db: Database, range: rollups.RollupRange, by: Measure, limit: number) => (rollups.RollupTotals & Record<K, string>)[],
  ): (Totals & Record<K, string>)[] {
    const r = rankRange(req);
    const by = measure(req.by);
    const limit = int('limit', req.limit ?? 10, 1, 10_000);
    const rows = this.#timer.run(timer, () => query(this.#db, r, by, limit));
    return rows.map((r) => ({ [key]: String(r[key]), ...totals(r) }) as Totals & Record<K, string>);
  }

  /**
   * Traffic per bucket of `bucketMs` (a multiple of a minute, else
   * ERR_INVALID_OPTION; buckets start at multiples of it since the epoch),
   * only buckets with traffic, in time order. With a multiple of an hour,
   * whole hours are read from hour rows.
   */
  timeline(req: RangeRequest & { bucketMs: number }): (Totals & { t: number })[] {
    const [from, to] = range(req);
    const bucketMs = int('bucketMs', req.bucketMs, rollups.MINUTE_MS, 2 ** 40);
    if (bucketMs % rollups.MINUTE_MS !== 0) throw new FlowmasterError('ERR_INVALID_OPTION', `bucketMs: expected a multiple of a minute (60000 ms), got ${bucketMs}`);
    const rows = this.#timer.run('analytics.timeline', () => rollups.timeline(this.#db, from, to, bucketMs));
    return rows.map((r) => ({ t: r.t, ...totals(r) }));
  }
}

/**
 * What the routes ask of a store, as named queries with plain arguments and
 * results: so the same query runs on the server's own connection or in a
 * reader thread (read-worker.ts), and ClickHouse (clickhouse.ts) answers the
 * same names.
 */
import type { Measure, RangeRequest } from '../store/analytics';
import type { DeviceFilter, DeviceSort, FlowFilter, FlowSort, Order } from '../store/query';
import { listSources } from '../store/sources';
import { guarded } from '../store/sqlite';
import type { Store } from '../store/store';

export interface KeysetArg<F, S> {
  filter: F;
  sort: S;
  order: Order;
  limit: number;
  cursor?: string;
}
export interface OffsetArg<F, S> {
  filter: F;
  sort: S;
  order: Order;
  page: number;
  pageSize: number;
  total: boolean;
}
export type TopArg = RangeRequest & { by: Measure; limit: number };

export const QUERIES = {
  flowsPage: (s: Store, a: KeysetArg<FlowFilter, FlowSort>) => s.flows.page(a),
  flowsOffsetPage: (s: Store, a: OffsetArg<FlowFilter, FlowSort>) => ({ ...s.flows.offsetPage(a), next: null }),
  flow: (s: Store, id: number) => s.flows.get(id) ?? null,
  devicesPage: (s: Store, a: KeysetArg<DeviceFilter, DeviceSort>) => s.devices.page(a),
  devicesOffsetPage: (s: Store, a: OffsetArg<DeviceFilter, DeviceSort>) => ({ ...s.devices.offsetPage(a), next: null }),
  topTalkers: (s: Store, a: TopArg) => s.analytics.topTalkers(a),
  topConversations: (s: Store, a: TopArg) => s.analytics.topConversations(a),
  topServices: (s: Store, a: TopArg) => s.analytics.topServices(a),
  topApplications: (s: Store, a: TopArg) => s.analytics.topApplications(a),
  topSni: (s: Store, a: TopArg) => s.analytics.topSni(a),
  timeline: (s: Store, a: RangeRequest & { bucketMs: number }) => s.analytics.timeline(a),
  sources: (s: Store, a: { after: number; limit: number }) => guarded(s.path, 'listing the sources', () => listSources(s.db, a.after, a.limit)),
  /** nothing to return: opens the connection and reads the schema (every partition's tables and indexes) before a client waits for it */
  warm: (s: Store, _: null) => {
    s.flows.page({ limit: 1 });
    return null;
  },
};

export type Queries = typeof QUERIES;
export type QueryName = keyof Queries;
export type QueryArg<N extends QueryName> = Parameters<Queries[N]>[1];
export type QueryResult<N extends QueryName> = ReturnType<Queries[N]>;

/** What a query's failure looks like between threads: the coded error's parts and the SQLite code behind it. */
export interface QueryFailure {
  code: string;
  message: string;
  path?: string;
  sqliteCode?: string;
}

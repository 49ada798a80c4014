/**
 * `serve --clickhouse URL`: the same routes over the central store that
 * sensors feed (src/clickhouse/query.ts): keyset pages of flows and devices
 * with the same filters and signed cursors, and the rankings and timeline
 * from its roll-up tables. Rows carry their sensor; `sensor` narrows every
 * query to one. What the central store does not keep is a 400
 * ERR_UNSUPPORTED naming what to use instead: flow ids (a row is its sensor,
 * batch and seq), the sources list, and numbered pages.
 *
 * The reply cache's version is the server's active parts (their rows and
 * latest change), read at most once a second: an insert or a merge moves it.
 */
import { ClickHouseQueries } from '../clickhouse/query';
import type { SchemaOptions } from '../clickhouse/schema';
import { str } from '../clickhouse/sql';
import { FlowmasterError } from '../errors';
import { Metrics } from '../metrics/registry';
import type { QueryArg, QueryName, QueryResult } from './queries';
import type { Backend } from './reader';

export interface ClickHouseBackendOptions extends SchemaOptions {
  /** the server's HTTP interface (user:password@ in the URL if needed) */
  url: string;
  /** only this sensor's rows */
  sensor?: string;
  requestTimeoutMs?: number;
}

const unsupported = (what: string) => async () => {
  throw new FlowmasterError('ERR_UNSUPPORTED', what);
};
const NO_PAGE_NUMBERS = unsupported('page: the central store (--clickhouse) pages by cursor only: leave out page, pageSize and total');

/** How often the parts are read for the cache's version, ms. */
const VERSION_MS = 1000;

type Run = (q: ClickHouseQueries, arg: never, sensor: Record<string, string>) => Promise<unknown>;

const RUNS: Record<QueryName, Run> = {
  flowsPage: (q, a: QueryArg<'flowsPage'>, s) => q.flowsPage({ ...a, filter: { ...a.filter, ...s } }),
  devicesPage: (q, a: QueryArg<'devicesPage'>, s) => q.devicesPage({ ...a, filter: { ...a.filter, ...s } }),
  topTalkers: (q, a: QueryArg<'topTalkers'>, s) => q.topTalkers({ ...a, ...s }),
  topConversations: (q, a: QueryArg<'topConversations'>, s) => q.topConversations({ ...a, ...s }),
  topServices: (q, a: QueryArg<'topServices'>, s) => q.topServices({ ...a, ...s }),
  topApplications: (q, a: QueryArg<'topApplications'>, s) => q.topApplications({ ...a, ...s }),
  topSni: (q, a: QueryArg<'topSni'>, s) => q.topSni({ ...a, ...s }),
  timeline: (q, a: QueryArg<'timeline'>, s) => q.timeline({ ...a, ...s }),
  flowsOffsetPage: NO_PAGE_NUMBERS,
  devicesOffsetPage: NO_PAGE_NUMBERS,
  flow: unsupported('flows/:id: the central store (--clickhouse) has no flow ids; a row is named by its sensor, batch and seq'),
  warm: async () => null,
  sources: unsupported('sources: the central store (--clickhouse) keeps no sources; its rows carry their sensor'),
};

export class ClickHouseBackend implements Backend {
  readonly metrics = new Metrics();
  readonly describe: string;
  readonly queries: ClickHouseQueries;
  readonly #sensor: Record<string, string>;
  readonly #database: string;
  #version: { at: number; value: Promise<string> } | undefined;
  #closed = false;

  constructor(o: ClickHouseBackendOptions) {
    const url = new URL(o.url);
    url.username = '';
    url.password = '';
    this.describe = `${url.origin}/${o.database ?? 'flowmaster'}`;
    this.queries = new ClickHouseQueries(o);
    this.#database = this.queries.tables.database;
    this.#sensor = o.sensor === undefined ? {} : { sensor: o.sensor };
  }

  run<N extends QueryName>(name: N, arg: QueryArg<N>): Promise<QueryResult<N>> {
    return RUNS[name](this.queries, arg as never, this.#sensor) as Promise<QueryResult<N>>;
  }

  /** The active parts of the database: their rows and latest change (an insert adds a part, a merge replaces some). */
  version(): Promise<string> {
    const now = Date.now();
    if (this.#version && now - this.#version.at < VERSION_MS) return this.#version.value;
    const value = this.queries
      .rows(`SELECT toString(count()) AS parts, toString(sum(rows)) AS rows, toString(max(modification_time)) AS changed FROM system.parts WHERE database = ${str(this.#database)} AND active`)
      .then((r) => JSON.stringify(r[0] ?? null))
      .catch(() => `unknown ${now}`); // no access to system.parts: nothing is kept past this second
    this.#version = { at: now, value };
    return value;
  }

  isOpen(): boolean {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.queries.close();
  }
}

/**
 * How the server reads a flowmaster database: read-only connections, so the
 * server cannot write whatever a route does, and every read retried while
 * another process's lock refuses it (the Retrier's asynchronous backoff, not
 * SQLite's busy handler sleeping on the event loop); a client sees a 503
 * with Retry-After only once the retries are spent, never SQLite's text.
 *
 * Queries (queries.ts) run in reader threads, each with its own connection
 * (`threads`, default: one per core): SQLite calls are synchronous, so on
 * the event loop one long aggregate would hold every other request, and one
 * thread would leave the second core idle. A query running longer than
 * `queryTimeoutMs` is abandoned, its thread stopped (ERR_TIMEOUT, 503). The
 * server's own connection answers only the cheap questions: whether the
 * database changed (the reply cache) and its size (/metrics).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { Piscina } from 'piscina';
import { Counter } from 'prom-client';
import { FlowmasterError, type ErrorCode } from '../errors';
import { Metrics } from '../metrics/registry';
import { Retrier, type StoreLog } from '../store/retry';
import { openStore, type Store } from '../store/store';
import { QUERIES, type QueryArg, type QueryFailure, type QueryName, type QueryResult } from './queries';
import type { ReadReply, ReadTask, ReadWorkerData } from './read-worker';

export interface ReaderOptions {
  /** how long a read is tried again while the database is busy, ms (default 5000) */
  retryMs?: number;
  /** SQLite's own wait for a lock per statement, ms, blocking its thread (default 50) */
  busyTimeoutMs?: number;
  /** hears each retry (a `write_failed` event of the Retrier: here a read) */
  log?: StoreLog;
  /** reader threads (default: the number of cores); 0 runs queries on the event loop */
  threads?: number;
  /** a query still running after this long is stopped: ERR_TIMEOUT, ms (default 30000) */
  queryTimeoutMs?: number;
}

/** What the routes read: a SQLite database (Reader) or a ClickHouse server (clickhouse.ts). */
export interface Backend {
  readonly metrics: Metrics;
  /** what the server reads, for messages: a path or a URL without credentials */
  readonly describe: string;
  run<N extends QueryName>(name: N, arg: QueryArg<N>): Promise<QueryResult<N>>;
  /** moves whenever a reply may have changed: the reply cache's key */
  version(): Promise<string | number>;
  isOpen(): boolean;
  close(): Promise<void>;
}

/** The compiled thread module: beside this file, or in dist/ when this file runs from the TypeScript sources (the tests). */
function workerFile(): string {
  const beside = path.join(__dirname, 'read-worker.js');
  return fs.existsSync(beside) ? beside : path.join(__dirname, '..', '..', 'dist', 'serve', 'read-worker.js');
}

/** A failure from a reader thread as the coded error it was, its SQLite error as the cause (so the Retrier sees a busy database). */
function errorOf(f: QueryFailure): FlowmasterError {
  const cause = f.sqliteCode ? new Database.SqliteError(f.message, f.sqliteCode) : undefined;
  return new FlowmasterError(f.code as ErrorCode, f.message, { path: f.path, cause });
}

export class Reader implements Backend {
  readonly store: Store;
  readonly metrics: Metrics;
  readonly describe: string;
  readonly threads: number;
  readonly #retrier: Retrier;
  readonly #retries: Counter;
  readonly #timeouts: Counter;
  readonly #pool: Piscina<ReadTask, ReadReply> | undefined;
  readonly #timeoutMs: number;

  constructor(file: string, options: ReaderOptions = {}) {
    this.describe = file;
    this.metrics = new Metrics();
    const busyTimeoutMs = options.busyTimeoutMs ?? 50;
    this.store = openStore(file, { readonly: true, metrics: this.metrics, busyTimeoutMs });
    this.metrics.watchDatabase(() => (this.store.db.open ? (this.store.db.pragma('page_count', { simple: true }) as number) * (this.store.db.pragma('page_size', { simple: true }) as number) : undefined));
    const registers = [this.metrics.registry];
    this.#retries = new Counter({ name: `${this.metrics.prefix}http_db_retries_total`, help: 'Reads tried again because another connection held a lock', registers });
    this.#timeouts = new Counter({ name: `${this.metrics.prefix}http_query_timeouts_total`, help: 'Queries stopped for running longer than the query timeout', registers });
    this.#retries.inc(0);
    this.#timeouts.inc(0);
    const log = options.log ?? (() => {});
    // the Retrier counts into its own registry: its counters are the store's write failures, these are reads
    this.#retrier = new Retrier(file, { maxMs: options.retryMs ?? 5000, initialMs: 10, maxDelayMs: 250 }, new Metrics({ defaultMetrics: false }), (e) => {
      if (e.event === 'write_failed') this.#retries.inc();
      log(e);
    });
    this.threads = options.threads ?? os.availableParallelism();
    this.#timeoutMs = options.queryTimeoutMs ?? 30_000;
    if (this.threads > 0) {
      this.#pool = new Piscina({
        filename: workerFile(),
        workerData: { path: path.resolve(file), busyTimeoutMs } satisfies ReadWorkerData,
        minThreads: this.threads,
        maxThreads: this.threads,
        idleTimeout: Infinity, // a thread keeps its connection and page cache
      });
      // one task per thread at once (a thread runs one at a time): each opens its connection now, not on a client's first request
      for (let i = 0; i < this.threads; i++) void this.#pool.run({ name: 'warm', arg: null }).catch(() => undefined);
    }
  }

  /** A named query, in a reader thread (or here with threads: 0), tried again while the database is busy. */
  run<N extends QueryName>(name: N, arg: QueryArg<N>): Promise<QueryResult<N>> {
    return this.#retrier.run(`query ${name}`, () => (this.#pool ? this.#inThread(name, arg) : (QUERIES[name] as (s: Store, a: unknown) => QueryResult<N>)(this.store, arg)));
  }

  async #inThread<N extends QueryName>(name: N, arg: QueryArg<N>): Promise<QueryResult<N>> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let reply: ReadReply;
    try {
      reply = await this.#pool!.run({ name, arg }, { signal });
    } catch (e) {
      if (this.#closed) throw new FlowmasterError('ERR_CANCELLED', `${this.describe}: the server is closing`);
      if (!signal.aborted) throw e;
      this.#timeouts.inc();
      throw new FlowmasterError('ERR_TIMEOUT', `${this.describe}: query ${name} ran longer than ${this.#timeoutMs} ms (--query-timeout): narrow the range or the filters`);
    }
    for (const [shape, s, slow] of reply.timings) {
      this.metrics.queryDuration.observe({ shape }, s);
      if (slow) this.metrics.slowQueries.inc({ shape });
    }
    if (!reply.ok) throw errorOf(reply.failure);
    return reply.value as QueryResult<N>;
  }

  /** SQLite's data_version on the server's connection: it moves when another connection commits. */
  version(): Promise<number> {
    return this.#retrier.run('checking for changes', () => this.store.db.pragma('data_version', { simple: true }) as number);
  }

  isOpen(): boolean {
    return this.store.db.open;
  }

  #closed: Promise<void> | undefined;

  close(): Promise<void> {
    return (this.#closed ??= (async () => {
      await this.#pool?.destroy();
      this.store.close();
    })());
  }
}

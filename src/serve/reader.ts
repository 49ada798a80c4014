/**
 * The server's one database connection: read-only, so the server cannot
 * write whatever a route does, and every read retried while another
 * process's lock refuses it. A reader in WAL mode rarely waits (a writer's
 * checkpoint, a WAL being recovered, a migration), but when it does the
 * wait is asynchronous (the Retrier's backoff) instead of SQLite's busy
 * handler sleeping on the event loop, and a client sees a 503 with
 * Retry-After only once the retries are spent, never SQLite's text.
 */
import { Counter } from 'prom-client';
import { Metrics } from '../metrics/registry';
import { Retrier, type StoreLog } from '../store/retry';
import { openStore, type Store } from '../store/store';

export interface ReaderOptions {
  /** how long a read is tried again while the database is busy, ms (default 5000) */
  retryMs?: number;
  /** SQLite's own wait for a lock per statement, ms, blocking the event loop (default 50) */
  busyTimeoutMs?: number;
  /** hears each retry (a `write_failed` event of the Retrier: here a read) */
  log?: StoreLog;
}

export class Reader {
  readonly store: Store;
  readonly metrics: Metrics;
  readonly #retrier: Retrier;
  readonly #retries: Counter;

  constructor(path: string, options: ReaderOptions = {}) {
    this.metrics = new Metrics();
    this.store = openStore(path, { readonly: true, metrics: this.metrics, busyTimeoutMs: options.busyTimeoutMs ?? 50 });
    this.metrics.watchDatabase(() => (this.store.db.open ? (this.store.db.pragma('page_count', { simple: true }) as number) * (this.store.db.pragma('page_size', { simple: true }) as number) : undefined));
    this.#retries = new Counter({ name: `${this.metrics.prefix}http_db_retries_total`, help: 'Reads tried again because another connection held a lock', registers: [this.metrics.registry] });
    this.#retries.inc(0);
    const log = options.log ?? (() => {});
    // the Retrier counts into its own registry: its counters are the store's write failures, these are reads
    this.#retrier = new Retrier(path, { maxMs: options.retryMs ?? 5000, initialMs: 10, maxDelayMs: 250 }, new Metrics({ defaultMetrics: false }), (e) => {
      if (e.event === 'write_failed') this.#retries.inc();
      log(e);
    });
  }

  /** fn() against the store, tried again while the database is busy; its failure as a coded error. */
  read<T>(doing: string, fn: (store: Store) => T): Promise<T> {
    return this.#retrier.run(doing, () => fn(this.store));
  }

  close(): void {
    this.store.close();
  }
}

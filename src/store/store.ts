/**
 * The SQLite store (better-sqlite3): flows, devices and sources, written one
 * transaction per batch by ingest() (src/store/ingest.ts). WAL,
 * synchronous=NORMAL, incremental auto-vacuum; schema versioned with
 * user_version and forward migrations. Several processes may use one
 * database: one writer at a time (the writer lease), retention and queries
 * beside it (src/store/writer.ts).
 */
import type { Database as DB } from 'better-sqlite3';
import * as os from 'node:os';
import { DeviceCache, type DeviceCacheOptions } from '../devices/cache';
import { FlowmasterError } from '../errors';
import { defaultServices, ServiceMap } from '../flow/services';
import type { FlowRun } from '../meter';
import { Metrics } from '../metrics/registry';
import type { BatcherOptions } from '../pipeline/batcher';
import { Analytics } from './analytics';
import { IngestJob, type IngestOptions, type IngestSummary } from './ingest';
import { processCommand, type WriterInfo } from './lease';
import { Cursors, DeviceQueries, FlowQueries, QueryTimer } from './query';
import { FLOW_INSERT_COLUMNS, Partitions } from './partitions';
import { applyRetention, parseAge, type RetentionPolicy, type RetentionReport } from './retention';
import type { RetryOptions, StoreLog } from './retry';
import { MIGRATIONS, type Migration } from './schema';
import { findSource, getSource, type SourceInfo, type SourceRemoval } from './sources';
import { dbError, guarded, OPEN_BUSY_MS, openDatabase, whileBusy } from './sqlite';
import { Writer } from './writer';

export type { IngestOptions, IngestSummary } from './ingest';

export interface StoreOptions {
  /** open an existing database read-only (never creates one) */
  readonly?: boolean;
  /**
   * create the database when the file is missing (default true); false
   * refuses a missing file, or one without the flowmaster schema, with
   * ERR_DB_NOT_FOUND / ERR_DB_OPEN, as commands that only maintain a database do
   */
  create?: boolean;
  /**
   * how long a statement waits for another connection's write lock before
   * it fails with SQLITE_BUSY, ms (default 1000). Opening waits up to 30 s in
   * all for another process creating or migrating the database.
   */
  busyTimeoutMs?: number;
  /** device cache: entries (default 65536, 0 = off) and TTL */
  deviceCache?: DeviceCacheOptions;
  /**
   * how often an ingest writes the device counters (packets, bytes, flows,
   * first/last seen) it keeps in memory and books the flows committed since
   * into the roll-ups, ms (default 2000; 0: every batch), or less often when
   * a sync would take more than ~5 % of the time. New devices, MACs and
   * services are written with each batch; counters and roll-ups are exact
   * after ingest() returns, and rebuilt from the flows after a crash.
   */
  deviceSyncMs?: number;
  /** commit batching */
  batch?: BatcherOptions;
  /** service names: overrides of the defaults ('tcp/8080': 'http-alt', null removes) */
  services?: Record<string, string | null>;
  /** metrics registry to report into (default: a new one) */
  metrics?: Metrics;
  /** what this sensor is called in sources rows (default: the host name) */
  sensor?: string;
  /** queries slower than this are counted as slow, by shape (default 50 ms) */
  slowQueryMs?: number;
  /**
   * wall time the hot partition takes flows before it is sealed, whatever
   * its size: '1d' (default), '6h', ... (stored in the database). Retention
   * drops a partition once all its flows have aged out, so on a live sensor
   * a flow outlives its age by at most about one span.
   */
  partitionSpan?: string | number;
  /**
   * flows the hot partition takes before it is sealed and indexed (default
   * 262144; stored in the database): a page that reads the hot partition
   * scans it, so this bounds that scan (src/store/partitions.ts)
   */
  sealRows?: number;
  /** called after each commit; tests use it to simulate a slow disk */
  afterCommit?: (rows: number) => void;
  /**
   * writes that fail for a reason that can pass (another process's lock, a
   * full disk, an I/O error) are tried again, with a backoff, for up to
   * `retry.maxMs` (default 10 min; 0: never) before the coded error
   */
  retry?: RetryOptions;
  /**
   * one writer at a time: wait up to this long for another process's
   * ingest or capture to end, ms (default 0: refuse at once with ERR_DB_LOCKED)
   */
  waitForWriterMs?: number;
  /**
   * a writer whose heartbeat (written every 5 s) is older than this counts as
   * gone, and its lease is taken over, ms (default 15 min: longer than the
   * retries a full disk may take, during which no heartbeat can be written).
   * On this host a writer whose process has gone is taken over at once.
   */
  writerStaleMs?: number;
  /** what the writer lease says this process runs (default: its arguments) */
  command?: string;
  /** structured events: writes retried, recovered or given up, writers waiting or taken over, other processes' changes */
  log?: StoreLog;
}

/**
 * Applies the migrations the database lacks, each in an IMMEDIATE
 * transaction that reads the version again: of several processes opening a
 * new database at once, one migrates and the others find it done. Refuses a
 * database from a newer schema.
 */
export function migrate(db: DB, migrations: readonly Migration[] = MIGRATIONS, name = db.name): number {
  const version = () => {
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > migrations.length)
      throw new FlowmasterError(
        'ERR_DB_VERSION',
        `${name}: database schema version ${v} is newer than this flowmaster supports (${migrations.length}); upgrade flowmaster to open it`,
      );
    return v;
  };
  const step = db.transaction(() => {
    const v = version();
    if (v === migrations.length) return false;
    const m = migrations[v];
    if (typeof m === 'string') db.exec(m);
    else m(db);
    db.pragma(`user_version = ${v + 1}`);
    return true;
  });
  if (version() < migrations.length) while (step.immediate());
  return migrations.length;
}

export function openStore(path: string, options: StoreOptions = {}): Store {
  return new Store(path, options);
}

const notFlowmaster = (path: string) => new FlowmasterError('ERR_DB_OPEN', `${path}: not a flowmaster database (it has no flowmaster schema)`, { path });

/** A writable open: WAL, sync and checkpoint settings, then the migrations the database lacks. */
function configure(db: DB, path: string, mustHaveSchema: boolean): void {
  if (mustHaveSchema && db.pragma('user_version', { simple: true }) === 0) throw notFlowmaster(path);
  const fresh = (db.pragma('page_count', { simple: true }) as number) === 0;
  if (fresh) db.pragma('auto_vacuum = INCREMENTAL'); // only takes effect before the first table
  if (path !== ':memory:') db.pragma('journal_mode = WAL'); // needs every other connection out of the file: whileBusy()
  db.pragma('synchronous = NORMAL');
  // a batch dirties a few thousand index pages: with the default 1000-page checkpoint every
  // commit also copied them into the database and fsynced it
  db.pragma('wal_autocheckpoint = 16384');
  db.pragma('foreign_keys = ON');
  migrate(db, MIGRATIONS, path);
}

/** A read-only open: the schema must be this flowmaster's (a read-only database cannot be migrated). */
function checkVersion(db: DB, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === 0) throw notFlowmaster(path);
  if (version > MIGRATIONS.length) migrate(db, MIGRATIONS, path); // throws ERR_DB_VERSION
  if (version < MIGRATIONS.length)
    throw new FlowmasterError(
      'ERR_DB_VERSION',
      `${path}: database schema version ${version} is older than this flowmaster's (${MIGRATIONS.length}); open it once without readonly to migrate it`,
    );
}

export class Store {
  readonly db: DB;
  readonly path: string;
  readonly metrics: Metrics;
  /** the LRU in front of the devices table */
  readonly deviceCache: DeviceCache;
  /** flows pages: keyset (`page`) and offset (`offsetPage`) */
  readonly flows: FlowQueries;
  /** devices pages */
  readonly devices: DeviceQueries;
  /** top talkers, conversations, services, traffic over time */
  readonly analytics: Analytics;
  /** the time partitions behind the flows view */
  readonly partitions: Partitions;
  readonly #options: StoreOptions;
  readonly #services: ServiceMap;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #writer: Writer;

  constructor(path: string, options: StoreOptions = {}) {
    this.path = path;
    this.#options = options;
    const spanNs = options.partitionSpan === undefined ? undefined : BigInt(Math.round(parseAge('partitionSpan', options.partitionSpan))) * 1_000_000n;
    if (spanNs !== undefined && spanNs < 60_000_000_000n) throw new FlowmasterError('ERR_INVALID_OPTION', 'partitionSpan: at least one minute');
    const sealRows = options.sealRows;
    if (sealRows !== undefined && !(Number.isSafeInteger(sealRows) && sealRows >= 1)) throw new FlowmasterError('ERR_INVALID_OPTION', 'sealRows: expected a positive integer');
    for (const name of ['busyTimeoutMs', 'waitForWriterMs', 'writerStaleMs'] as const) {
      const v = options[name];
      if (v !== undefined && !(typeof v === 'number' && v >= 0)) throw new FlowmasterError('ERR_INVALID_OPTION', `${name}: expected a number of ms >= 0`);
    }
    const readonly = options.readonly ?? false;
    const db = openDatabase(path, { readonly, create: !readonly && (options.create ?? true), busyTimeoutMs: options.busyTimeoutMs ?? 1000 });
    this.db = db;
    // other processes may be creating, migrating or writing it: every write here waits its turn
    const waiting = <T>(fn: () => T) => whileBusy(OPEN_BUSY_MS, fn);
    try {
      db.pragma('cache_size = -65536'); // 64 MiB of pages (SQLite's default is 2 MiB): partitions' indexes and devices stay hot
      if (readonly) checkVersion(db, path);
      else waiting(() => configure(db, path, options.create === false));
      this.partitions = new Partitions(db);
      if (!readonly) waiting(() => this.partitions.dropEmpty());
      if (spanNs !== undefined && !readonly) waiting(() => this.partitions.setSpan(spanNs));
      if (sealRows !== undefined && !readonly) waiting(() => this.partitions.setSealRows(sealRows));
      this.metrics = options.metrics ?? new Metrics();
      this.deviceCache = new DeviceCache(db, options.deviceCache);
      this.#writer = this.#newWriter();
      if (!readonly) this.metrics.rowsWritten.inc({ table: 'devices' }, waiting(() => this.#writer.recoverIfIdle()));
      const timed = new QueryTimer(this.metrics, options.slowQueryMs ?? 50, path);
      const cursors = waiting(() => new Cursors(db));
      this.flows = new FlowQueries(db, cursors, timed);
      this.devices = new DeviceQueries(db, cursors, timed);
      this.analytics = new Analytics(db, timed);
    } catch (e) {
      db.close();
      throw dbError(e, path, 'opening the database', 'ERR_DB_OPEN');
    }
    this.#services = options.services ? new ServiceMap(options.services) : defaultServices;
  }

  #newWriter(): Writer {
    const o = this.#options;
    const staleMs = o.writerStaleMs ?? 900_000;
    const log = o.log ?? (() => {});
    return new Writer(this.db, this.path, this.partitions, this.deviceCache, this.metrics, log, {
      retry: o.retry ?? {},
      waitForWriterMs: o.waitForWriterMs ?? 0,
      lease: { staleMs, heartbeatMs: Math.max(10, Math.min(5000, staleMs / 3)), command: o.command ?? processCommand() },
    });
  }

  /**
   * Reads `run` to the end into the database: a source row, then flows and
   * their new devices, one transaction per batch; device counters every
   * `deviceSyncMs` and at the end. Takes the writer lease first (waiting up
   * to `waitForWriterMs`, else ERR_DB_LOCKED), and with `replaces` removes
   * that source (removeSource()). Pulls the next FlowBatch only after
   * committing, so the engine pauses while the database is busy; a commit
   * that fails for a reason that can pass (`retry`) is tried again, whole.
   * If the capture is damaged, everything before the damage is committed,
   * the source row keeps the error, and the FlowmasterError is thrown; so is
   * a commit's coded error once it cannot pass, reading stopped. Either error
   * carries `ingest`: the summary, whose `flows` are the ones committed. A
   * live capture (meter.capture()) runs until its stop() (or `signal`);
   * pending flows are committed at least every `batch.maxDelayMs`, and its
   * kernel counters reach the metrics as it runs.
   */
  async ingest(run: FlowRun, options: IngestOptions = {}): Promise<IngestSummary> {
    let acquired = false;
    try {
      await this.#writer.acquire();
      acquired = true;
      const replaced = options.replaces === undefined ? undefined : await this.#writer.removeSource(this.#sourceId(options.replaces));
      const o = this.#options;
      const context = {
        path: this.path, writer: this.#writer, cache: this.deviceCache, metrics: this.metrics, services: this.#services, batch: o.batch,
        deviceSyncMs: o.deviceSyncMs ?? 2000, sensor: o.sensor ?? os.hostname(), afterCommit: o.afterCommit,
      };
      return await new IngestJob(context, run, options).run(replaced);
    } catch (e) {
      void (run as Partial<FlowRun>).return?.(); // ended before reading it: a capture stops (a run read to its end is not affected)
      throw e;
    } finally {
      if (acquired) this.#writer.release();
    }
  }

  /**
   * Appends flow rows that did not come from an engine (another store, a
   * test): objects keyed by flows column name (nullable ones, and bytes and
   * packets, may be left out), in one transaction, into the hot partition
   * (sealed and indexed before this returns if that made it due). They are
   * not counted into devices. Returns the ids given to them.
   */
  appendFlows(rows: Iterable<Record<string, unknown>>): number[] {
    const ids: number[] = [];
    guarded(this.path, 'appending flows', () =>
      this.#writer.transaction((sink, nextId) => {
        let id = 0;
        for (const r of rows) {
          id = nextId();
          const row: Record<string, unknown> = { bytes: sum(r.fwd_bytes, r.rev_bytes), packets: sum(r.fwd_packets, r.rev_packets), ...r };
          sink.add([id, ...FLOW_INSERT_COLUMNS.map((c) => (c === 'last_ns' ? BigInt(row[c] as number | bigint) : row[c] ?? null))]);
          ids.push(id);
        }
        if (id) {
          this.#writer.skipAppended(ids[0], id + 1);
          sink.finish(); // the last rows are in the table: the roll-ups read them
          this.#writer.bookRollups(id + 1);
        }
      }),
    );
    guarded(this.path, 'sealing a partition', () => this.#writer.maintain(Infinity));
    return ids;
  }

  /**
   * Writes the device counters an ingest holds in memory (it does so every
   * `deviceSyncMs` and when it ends); a no-op when there are none.
   */
  syncDevices(): number {
    if (this.#options.readonly || !this.deviceCache.unsynced) return 0;
    const n = guarded(this.path, 'writing the device counters', () => this.#writer.syncDevices());
    this.metrics.rowsWritten.inc({ table: 'devices' }, n);
    return n;
  }

  /** The latest source whose input had this fingerprint (fingerprintFile()), to skip or replace a re-ingest. */
  findSource(fingerprint: string): SourceInfo | undefined {
    return guarded(this.path, 'finding a source', () => findSource(this.db, fingerprint));
  }

  /** A source by id. */
  source(id: number): SourceInfo | undefined {
    return guarded(this.path, 'reading a source', () => getSource(this.db, id));
  }

  /**
   * Deletes a source (an interrupted ingest, or one to be read again): its
   * flows and their contributions to the device counters (packets, bytes,
   * flows), then its row. The devices stay, with their first/last seen,
   * MACs and services, which a re-ingest of the same input gives again (and
   * which ARP in other sources may have given them too). In transactions of
   * `chunk` flows; takes the writer lease as an ingest does; retention
   * (devices: '90d') deletes the devices no flow references any more.
   */
  async removeSource(id: number, chunk = 5000): Promise<SourceRemoval> {
    if (!Number.isInteger(chunk) || chunk < 1) throw new FlowmasterError('ERR_INVALID_OPTION', 'chunk: expected a positive integer');
    await this.#writer.acquire();
    try {
      return await this.#writer.removeSource(this.#sourceId(id), chunk);
    } finally {
      this.#writer.release();
    }
  }

  #sourceId(id: number): number {
    const source = Number.isInteger(id) ? this.source(id) : undefined;
    if (!source) throw new FlowmasterError('ERR_INVALID_OPTION', `${this.path}: no source ${id}`, { path: this.path });
    return source.id;
  }

  /**
   * Takes the writer lease for this store until releaseWriter() or close()
   * (an ingest takes and releases it itself): a command ingesting several
   * files keeps it between them, and learns at once whether another writer
   * holds it (ERR_DB_LOCKED, after `waitForWriterMs`).
   */
  async acquireWriter(): Promise<void> {
    await this.#writer.acquire();
  }

  releaseWriter(): void {
    this.#writer.release();
  }

  /** The writer that holds the lease, if another store or process does. */
  currentWriter(): WriterInfo | undefined {
    return guarded(this.path, 'reading the writer lease', () => this.#writer.lease.holder());
  }

  /**
   * Deletes what the policy no longer keeps, in chunks that let an ingest
   * keep committing (each a short IMMEDIATE transaction, retried like a
   * commit), then returns freed pages to the file system. Needs no writer
   * lease: it runs beside another process's ingest or capture.
   */
  async retain(policy: RetentionPolicy): Promise<RetentionReport> {
    let report: RetentionReport;
    const step = <T>(doing: string, fn: () => T) => this.#writer.retrier.run(doing, fn);
    try {
      // the stored last-seen times decide which devices go
      if (!this.#options.readonly) this.metrics.rowsWritten.inc({ table: 'devices' }, await step('writing the device counters', () => this.#writer.syncDevices()));
      // before the next batch: an ingest of this store must not resolve a device deleted here (another store's sees data_version)
      report = await applyRetention(this.db, this.partitions, policy, step, () => this.deviceCache.reconcile());
    } catch (e) {
      throw dbError(e, this.path, 'retention');
    }
    const m = this.metrics;
    m.retentionRowsDeleted.inc({ table: 'flows' }, report.flowsDeleted);
    m.retentionRowsDeleted.inc({ table: 'devices' }, report.devicesDeleted);
    m.retentionRowsDeleted.inc({ table: 'rollups' }, report.rollupRowsDeleted);
    m.retentionPagesFreed.inc(report.pagesFreed);
    m.retentionRuns.inc();
    return report;
  }

  /**
   * Runs retain(policy) every `intervalMs` (and at once with `immediately`)
   * until the returned stop() is called or the store closes; stop() resolves
   * once a run in progress has ended. `onRun` hears each run's report or
   * error (default: a failed run is a process warning); the next run tries again.
   */
  retainEvery(
    policy: RetentionPolicy,
    intervalMs: number,
    options: { immediately?: boolean; onRun?: (result: { report: RetentionReport } | { error: unknown }) => void } = {},
  ): () => Promise<void> {
    const onRun =
      options.onRun ??
      ((r) => 'error' in r && process.emitWarning(`flowmaster retention failed: ${(r.error as Error).message}`, { code: 'FLOWMASTER_RETENTION' }));
    let running: Promise<void> | undefined;
    const once = () => {
      if (running || !this.db.open) return;
      running = this.retain(policy)
        .then((report) => onRun({ report }), (error: unknown) => onRun({ error }))
        .finally(() => (running = undefined));
    };
    const timer = setInterval(once, intervalMs);
    timer.unref();
    this.#timers.add(timer);
    if (options.immediately) once();
    return async () => {
      clearInterval(timer);
      this.#timers.delete(timer);
      await running;
    };
  }

  /** Metrics as JSON (see src/metrics/registry.ts). */
  metricsJson(): Promise<Record<string, unknown>> {
    return this.metrics.metrics();
  }

  /** Syncs the device counters, releases the writer lease, closes the connection. */
  close(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    if (!this.db.open) return;
    try {
      whileBusy(OPEN_BUSY_MS, () => this.syncDevices()); // if it fails, the next writer replays the flows into the devices
    } finally {
      this.#writer.close();
      this.db.close();
    }
  }
}

/** a + b for flow counters given as numbers or bigints */
function sum(a: unknown, b: unknown): number | bigint {
  return typeof a === 'bigint' || typeof b === 'bigint' ? BigInt(a as number) + BigInt(b as number) : Number(a) + Number(b);
}

/**
 * The SQLite store (better-sqlite3): flows, devices and sources, written one
 * transaction per batch by ingest(). WAL, synchronous=NORMAL, incremental
 * auto-vacuum; schema versioned with user_version and forward migrations.
 */
import type { Database as DB } from 'better-sqlite3';
import * as os from 'node:os';
import { addService, DeviceCache, touchDevice, type DeviceCacheOptions } from '../devices/cache';
import { FlowmasterError } from '../errors';
import type { Flow, FlowBatch } from '../flow/flow';
import { Offsets, RecordFlags } from '../flow/layout';
import { defaultServices, ServiceMap } from '../flow/services';
import type { CaptureStats } from '../engine/source';
import type { CaptureRun, FlowRun, Summary } from '../meter';
import { Metrics } from '../metrics/registry';
import { AdaptiveBatcher, type BatcherOptions } from '../pipeline/batcher';
import { Analytics } from './analytics';
import { Cursors, DeviceQueries, FlowQueries, QueryTimer } from './query';
import { FLOW_INSERT_COLUMNS, Partitions } from './partitions';
import { applyRetention, parseAge, type RetentionPolicy, type RetentionReport } from './retention';
import { MIGRATIONS } from './schema';
import { dbError, guarded, OPEN_BUSY_MS, openDatabase, whileBusy } from './sqlite';

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
   * first/last seen) it keeps in memory, ms (default 2000; 0: every batch).
   * New devices, MACs and services are written with each batch; the counters
   * are exact after ingest() returns and are rebuilt from the flows after a crash.
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
   * span of end time per flow partition, for partitions created from now on:
   * '1d' (default), '6h', ... Retention drops a partition once all its flows
   * have aged out, so a flow outlives its age by at most one span.
   */
  partitionSpan?: string | number;
  /** called after each commit; tests use it to simulate a slow disk */
  afterCommit?: (rows: number) => void;
}

export interface IngestSummary {
  sourceId: number;
  flows: number;
  devices: number;
  batches: number;
  /** the engine's summary of the read */
  read: Summary;
  commitMs: number;
  /** largest number of flows waiting for a commit */
  maxPending: number;
}

/**
 * Applies the migrations the database lacks, each in an IMMEDIATE
 * transaction that reads the version again: of several processes opening a
 * new database at once, one migrates and the others find it done. Refuses a
 * database from a newer schema.
 */
export function migrate(db: DB, migrations: readonly string[] = MIGRATIONS, name = db.name): number {
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
    db.exec(migrations[v]);
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

  constructor(path: string, options: StoreOptions = {}) {
    this.path = path;
    this.#options = options;
    const spanNs = options.partitionSpan === undefined ? undefined : BigInt(Math.round(parseAge('partitionSpan', options.partitionSpan))) * 1_000_000n;
    if (spanNs !== undefined && spanNs < 60_000_000_000n) throw new FlowmasterError('ERR_INVALID_OPTION', 'partitionSpan: at least one minute');
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
      this.metrics = options.metrics ?? new Metrics();
      this.deviceCache = new DeviceCache(db, options.deviceCache);
      if (!readonly) waiting(() => this.#recoverDevices());
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

  /**
   * Reads `run` to the end into the database: a source row, then flows and
   * their new devices, one transaction per batch; device counters every
   * `deviceSyncMs` and at the end. Pulls the next FlowBatch only
   * after committing, so the engine pauses while the database is busy. If
   * the capture is damaged, everything before the damage is committed, the
   * source row keeps the error, and the FlowmasterError is thrown. If the
   * database refuses a commit, reading stops the same way with its ERR_DB_*
   * error. Either error carries `ingest`: the summary, whose `flows` are the
   * ones committed (once the source row is written). A live
   * capture (meter.capture()) runs until its stop(); pending flows are
   * committed at least every `batch.maxDelayMs`, and its kernel counters
   * reach the metrics as it runs.
   */
  async ingest(
    run: FlowRun,
    options: { name?: string; kind?: 'file' | 'interface'; onBatch?: (batch: FlowBatch) => void | Promise<void> } = {},
  ): Promise<IngestSummary> {
    const db = this.db;
    const batcher = new AdaptiveBatcher(this.#options.batch);
    const [sourceId, updateSource, devicesBefore] = guarded(this.path, 'recording the source', () => [
      Number(
        db
          .prepare('INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES (?, ?, ?, ?, ?)')
          .run(options.name ?? run.path, options.kind ?? run.kind, this.#options.sensor ?? os.hostname(), run.engine, Date.now()).lastInsertRowid,
      ),
      db.prepare('UPDATE sources SET flows = flows + ? WHERE id = ?'),
      this.devices.count(),
    ] as const);
    this.metrics.rowsWritten.inc({ table: 'sources' });
    const cache = this.deviceCache;
    const services = this.#services;
    let flows = 0;
    let batches = 0;
    let commitMs = 0;
    let maxPending = 0;
    /** what stopped the commits (the database refused one); the flows counted so far are committed */
    let failure: unknown;

    const serviceTexts = new Map<number, string | undefined>(); // built once per (protocol, port): the service map is fixed
    const syncMs = this.#options.deviceSyncMs ?? 2000;
    let lastSync = performance.now();
    const writeBatch = (batch: Flow[], sync: boolean) => this.partitions.write((insertFor, nextId) => {
      let id = 0;
      for (const f of batch) {
        const raw = f.raw;
        const l2 = f.l2;
        const c = services.classify(f);
        const firstNs = int64(f.firstNs);
        const lastNs = int64(f.lastNs);
        // the times as stored, so that a replay of the stored flows gives the same devices
        const firstMs = Number(firstNs / 1_000_000n);
        const lastMs = Number(lastNs / 1_000_000n);
        const vlan = f.vlan;
        const src = cache.resolve(f.srcAddrBytes, vlan, firstMs);
        const dst = cache.resolve(f.dstAddrBytes, vlan, firstMs);
        const srcMac = l2 ? null : macOrNull(raw, Offsets.kSrcMac);
        const dstMac = l2 ? null : macOrNull(raw, Offsets.kDstMac);
        const fwdPackets = f.fwdPackets;
        const fwdBytes = f.fwdBytes;
        const revPackets = f.revPackets;
        const revBytes = f.revBytes;
        const packets = fwdPackets + revPackets;
        const bytes = fwdBytes + revBytes;
        // layer-2 devices are their MAC
        touchDevice(src, firstMs, lastMs, packets, bytes, l2 ? src.addr : srcMac);
        touchDevice(dst, firstMs, lastMs, packets, bytes, l2 ? dst.addr : dstMac);
        const etherType = f.etherType;
        if (l2 && etherType === 0x0806) {
          // ARP: bind each end's IPv4 address to its MAC (the target's only when unicast)
          for (let side = 0; side < 2; side++) {
            const at = (side === 0 ? Offsets.kSrcAddr : Offsets.kDstAddr) + Offsets.kArpIp;
            const mac = side === 0 ? src.addr : dst.addr;
            const ip = raw.subarray(at, at + 4);
            if (!(ip[0] | ip[1] | ip[2] | ip[3]) || mac[0] & 1 || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) continue;
            cache.bindArp(cache.resolve(ip, vlan, firstMs), mac, firstMs, lastMs);
          }
        }
        const protocol = f.protocol;
        const icmp = !l2 && (protocol === 1 || protocol === 58);
        const key = l2 ? -1 - etherType : protocol * 65536 + c.serverPort;
        let svc = serviceTexts.get(key);
        if (svc === undefined && !serviceTexts.has(key)) serviceTexts.set(key, (svc = deviceService(l2, protocol, etherType, c.serverPort, c.service ?? null)));
        if (svc) addService(c.serverIsDst ? dst : src, svc);
        id = nextId();
        insertFor(lastNs).run(
          id, sourceId, f.flowId, f.segment, firstNs, lastNs, raw[Offsets.kEndReason], f.ipVersion, protocol, etherType, vlan,
          src.addr, dst.addr, f.srcPort, f.dstPort, src.id, dst.id, srcMac, dstMac, fwdPackets, fwdBytes, revPackets, revBytes,
          raw[Offsets.kFwdTcpFlags], raw[Offsets.kRevTcpFlags], icmp ? raw[Offsets.kIcmpType] : null, icmp ? raw[Offsets.kIcmpCode] : null,
          raw[Offsets.kFlags], c.service ?? null, c.serverIsDst ? 1 : 0, bytes, packets,
        );
      }
      let devicesWritten = cache.flush();
      if (sync) devicesWritten += this.#syncDevices(id + 1);
      updateSource.run(batch.length, sourceId);
      return devicesWritten;
    });

    const pending: Flow[] = [];
    let observed: CaptureStats | undefined;
    const capture = run.kind === 'interface' ? (run as CaptureRun) : undefined;
    let lastCommit = performance.now();
    const counters = { ...cache.counters };
    const commit = (n: number, last = false) => {
      if (failure !== undefined) return;
      const batch = pending.splice(0, n);
      const t0 = performance.now();
      const sync = last || t0 - lastSync >= syncMs;
      let devicesWritten: number;
      try {
        devicesWritten = writeBatch(batch, sync);
      } catch (e) {
        failure = dbError(e, this.path, `committing a batch of ${batch.length} flows (${flows} committed before it)`);
        pending.length = 0;
        // the rolled-back batch moved cached devices: rebuild them from the stored flows
        // (if the database refuses that too, the next open does it)
        cache.invalidate();
        try {
          this.#recoverDevices();
        } catch {
          cache.invalidate();
        }
        if (capture && !capture.stopped) void capture.stop({ flush: false }); // nothing more can be stored
        return;
      }
      if (sync) lastSync = performance.now();
      const ms = performance.now() - t0;
      this.#options.afterCommit?.(batch.length);
      const total = performance.now() - t0;
      commitMs += total;
      batcher.observe(batch.length, total);
      flows += batch.length;
      batches++;
      lastCommit = performance.now();
      const m = this.metrics;
      m.commitLatency.observe(ms / 1000);
      m.batchSize.set(batcher.size);
      m.queueDepth.set(pending.length);
      m.batchesCommitted.inc();
      m.rowsWritten.inc({ table: 'flows' }, batch.length);
      m.rowsWritten.inc({ table: 'devices' }, devicesWritten);
      m.cacheHits.inc(cache.counters.hits - counters.hits);
      m.cacheMisses.inc(cache.counters.misses - counters.misses);
      m.cacheEvictions.inc(cache.counters.evictions - counters.evictions);
      Object.assign(counters, cache.counters);
    };

    // Trickling traffic: a flow waits at most maxDelayMs for its commit.
    const timer = setInterval(() => {
      if (pending.length && performance.now() - lastCommit >= batcher.maxDelayMs) commit(pending.length);
      if (capture && !capture.stopped) observed = this.metrics.observeCapture(run.engine, capture.stats(), observed);
    }, Math.max(10, Math.min(250, batcher.maxDelayMs / 4)));
    let readError: unknown;
    try {
      for await (const fb of run) {
        if (failure !== undefined) break; // a commit failed (maybe in the timer): stop reading
        await options.onBatch?.(fb); // e.g. an exporter: before the commit, so it sees every batch also when a commit fails
        for (const f of fb) pending.push(f);
        if (pending.length > maxPending) maxPending = pending.length;
        const before = batches;
        while (failure === undefined && pending.length >= batcher.size) commit(batcher.size);
        if (pending.length && performance.now() - lastCommit >= batcher.maxDelayMs) commit(pending.length);
        if (failure !== undefined) break;
        // buffered batches resolve as microtasks: after a commit, let timers and a running retention have a turn
        if (batches !== before) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      readError = e;
    } finally {
      clearInterval(timer);
    }
    while (failure === undefined && pending.length) commit(Math.min(pending.length, batcher.size), pending.length <= batcher.size);
    if (failure === undefined && cache.unsynced) {
      try {
        this.syncDevices();
      } catch (e) {
        failure = e;
      }
    }
    const read = await run.summary;
    this.metrics.recordSummary(read, observed);
    // after a failure the database may refuse these too: the summary stays true either way
    let devices = 0;
    try {
      this.#endSource(sourceId, read, failure);
      devices = this.devices.count() - devicesBefore;
    } catch (e) {
      failure ??= dbError(e, this.path, 'ending the source row');
    }
    const summary: IngestSummary = { sourceId, flows, devices, batches, read, commitMs, maxPending };
    const error = failure ?? readError;
    if (error !== undefined) {
      (error as { ingest?: IngestSummary }).ingest = summary;
      throw error;
    }
    return summary;
  }

  /** Ends a source row: its end time, the read's counters, and the error that ended it early (a commit's, or the read's). */
  #endSource(sourceId: number, read: Summary, failure: unknown): void {
    const decodeErrors = Object.values(read.decodeErrors).reduce((a, b) => a + (b ?? 0), 0);
    const c = read.capture;
    const drops = read.flowsByReason.evicted + (c ? c.kernelDropped + c.interfaceDropped + c.flowsDropped : 0);
    const e = (failure ?? read.error) as { code?: string; message?: string } | undefined;
    this.db.prepare('UPDATE sources SET ended_ms = ?, packets = ?, bytes = ?, drops = ?, decode_errors = ?, error = ? WHERE id = ?').run(
      Date.now(), read.packets, read.bytes, drops, decodeErrors, e ? `${e.code ?? 'ERR_INTERNAL'}: ${e.message}` : null, sourceId,
    );
  }

  /**
   * Appends flow rows that did not come from an engine (another store, a
   * test): objects keyed by flows column name (nullable ones, and bytes and
   * packets, may be left out), in one transaction, each into the partition
   * of its last_ns.
   * Returns the ids given to them.
   */
  appendFlows(rows: Iterable<Record<string, unknown>>): number[] {
    const ids: number[] = [];
    guarded(this.path, 'appending flows', () => this.partitions.write((insertFor, nextId) => {
      let id = 0;
      for (const r of rows) {
        id = nextId();
        const row: Record<string, unknown> = { bytes: sum(r.fwd_bytes, r.rev_bytes), packets: sum(r.fwd_packets, r.rev_packets), ...r };
        insertFor(BigInt(r.last_ns as bigint | number)).run(id, ...FLOW_INSERT_COLUMNS.map((c) => row[c] ?? null));
        ids.push(id);
      }
      // these rows do not count in devices: a replay after a crash must not count them either
      if (id) this.#syncDevices(id + 1);
    }));
    return ids;
  }

  /**
   * Writes the device counters an ingest holds in memory (it does so every
   * `deviceSyncMs` and when it ends); a no-op when there are none.
   */
  syncDevices(): number {
    if (this.#options.readonly || !this.deviceCache.unsynced) return 0;
    const n = guarded(this.path, 'writing the device counters', () =>
      this.db.transaction(() => this.deviceCache.flush() + this.#syncDevices(Number(this.#meta('next_flow_id'))))(),
    );
    this.metrics.rowsWritten.inc({ table: 'devices' }, n);
    return n;
  }

  /** Inside a transaction: writes the unsynced devices; flows from `nextId` on are not in them. */
  #syncDevices(nextId: number): number {
    const n = this.deviceCache.sync();
    this.db.prepare("UPDATE meta SET value = ? WHERE key = 'devices_synced_id'").run(nextId);
    return n;
  }

  #meta(key: string): unknown {
    return this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key);
  }

  /**
   * Counts the flows stored since the last device sync into their devices, as
   * the ingest that wrote them would have (after a crash, or a failed batch).
   */
  #recoverDevices(): void {
    if (Number(this.#meta('devices_synced_id')) >= Number(this.#meta('next_flow_id'))) return;
    // one IMMEDIATE transaction: no flow is committed between the replay and the new mark
    const n = this.db.transaction(() => this.#replayDevices()).immediate();
    this.metrics.rowsWritten.inc({ table: 'devices' }, n);
  }

  #replayDevices(): number {
    const from = Number(this.#meta('devices_synced_id'));
    const to = Number(this.#meta('next_flow_id'));
    const cache = this.deviceCache;
    const rows = this.db
      .prepare(`SELECT src_device, dst_device, first_ns, last_ns, fwd_packets + rev_packets, fwd_bytes + rev_bytes, src_mac, dst_mac, flags,
          protocol, ether_type, src_port, dst_port, service, server_is_dst
        FROM flows WHERE id >= ? AND id < ? ORDER BY id`)
      .raw(true)
      .safeIntegers(true)
      .iterate(from, to) as IterableIterator<
      [bigint, bigint, bigint, bigint, bigint, bigint, Buffer | null, Buffer | null, bigint, bigint, bigint, bigint, bigint, string | null, bigint]
    >;
    for (const [srcId, dstId, firstNs, lastNs, packets, bytes, srcMac, dstMac, flags, protocol, etherType, srcPort, dstPort, service, serverIsDst] of rows) {
      const l2 = (Number(flags) & RecordFlags.L2) !== 0;
      const firstMs = Number(firstNs / 1_000_000n);
      const lastMs = Number(lastNs / 1_000_000n);
      const src = cache.resolveId(Number(srcId));
      const dst = cache.resolveId(Number(dstId));
      if (src) touchDevice(src, firstMs, lastMs, Number(packets), Number(bytes), l2 ? src.addr : srcMac);
      if (dst) touchDevice(dst, firstMs, lastMs, Number(packets), Number(bytes), l2 ? dst.addr : dstMac);
      const server = serverIsDst ? dst : src;
      const icmp = !l2 && (protocol === 1n || protocol === 58n);
      const svc = deviceService(l2, Number(protocol), Number(etherType), l2 || icmp ? 0 : Number(serverIsDst ? dstPort : srcPort), service);
      if (server && svc) addService(server, svc);
    }
    return this.#syncDevices(to);
  }

  /**
   * Deletes what the policy no longer keeps, in chunks that let an ingest
   * keep committing, then returns freed pages to the file system.
   */
  async retain(policy: RetentionPolicy): Promise<RetentionReport> {
    this.syncDevices(); // the stored last-seen times decide which devices go
    let report: RetentionReport;
    try {
      report = await applyRetention(this.db, this.partitions, policy, () => {
        this.syncDevices();
        this.deviceCache.invalidate();
      });
    } catch (e) {
      throw dbError(e, this.path, 'retention');
    }
    const m = this.metrics;
    m.retentionRowsDeleted.inc({ table: 'flows' }, report.flowsDeleted);
    m.retentionRowsDeleted.inc({ table: 'devices' }, report.devicesDeleted);
    m.retentionPagesFreed.inc(report.pagesFreed);
    m.retentionRuns.inc();
    return report;
  }

  /** Runs retain(policy) every `intervalMs` until the returned stop() is called (or the store closes). */
  retainEvery(policy: RetentionPolicy, intervalMs: number): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running || !this.db.open) return;
      running = true;
      this.retain(policy)
        .catch((e: Error) => process.emitWarning(`flowmaster retention failed: ${e.message}`, { code: 'FLOWMASTER_RETENTION' }))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    this.#timers.add(timer);
    return () => {
      clearInterval(timer);
      this.#timers.delete(timer);
    };
  }

  /** Metrics as JSON (see src/metrics/registry.ts). */
  metricsJson(): Promise<Record<string, unknown>> {
    return this.metrics.metrics();
  }

  close(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    if (!this.db.open) return;
    try {
      this.syncDevices(); // if it fails, the next writable open replays the flows into the devices
    } finally {
      this.db.close();
    }
  }
}

const INT64_MAX = (1n << 63n) - 1n;
/** SQLite integers are signed 64-bit: timestamps past 2262 (damaged captures) are stored as the largest. */
function int64(ns: bigint): bigint {
  return ns > INT64_MAX ? INT64_MAX : ns;
}

/** a + b for flow counters given as numbers or bigints */
function sum(a: unknown, b: unknown): number | bigint {
  return typeof a === 'bigint' || typeof b === 'bigint' ? BigInt(a as number) + BigInt(b as number) : Number(a) + Number(b);
}

function macOrNull(raw: Uint8Array, off: number): Uint8Array | null {
  for (let i = 0; i < 6; i++) if (raw[off + i]) return raw.subarray(off, off + 6);
  return null;
}

/** The service a flow's server answered on, as device_services has it ("tcp/502 modbus", "eth/0x88b8 goose"), or undefined. */
function deviceService(l2: boolean, protocol: number, etherType: number, serverPort: number, name: string | null): string | undefined {
  if (l2) return name ? `eth/0x${etherType.toString(16).padStart(4, '0')} ${name}` : undefined;
  return serverPort ? `${protoName(protocol)}/${serverPort}${name ? ` ${name}` : ''}` : undefined;
}

function protoName(p: number): string {
  return p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 132 ? 'sctp' : String(p);
}

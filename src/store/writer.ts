/**
 * The store's write side. Write transactions (IMMEDIATE, through the
 * partitions) first notice what other processes committed since this
 * connection's last one (PRAGMA data_version, read where no other writer
 * can interleave): the devices they deleted leave the device cache, and the
 * partitions list and the writer lease are read again. The device counters
 * held in memory are synced with the id of the first flow they do not count
 * yet; the flows from there on are their journal, replayed by the next
 * writer after a crash. One writer at a time holds the lease (lease.ts);
 * retries of what fails for a reason that can pass are the Retrier's.
 */
import type { Database as DB, Statement } from 'better-sqlite3';
import { addService, deviceService, touchDevice, type DeviceCache } from '../devices/cache';
import { RecordFlags } from '../flow/layout';
import type { Metrics } from '../metrics/registry';
import { describe, WriterLease, type LeaseOptions, type WriterInfo } from './lease';
import type { Partitions, RowSink } from './partitions';
import { Retrier, type RetryOptions, type StoreLog } from './retry';
import { readRollupFlow, ROLLUP_FLOW_SQL, RollupAccumulator, rollupFlow, type RollupFlow } from './rollups';
import { deleteSourceRow, interruptRunning, removeSourceChunk, type SourceRemoval } from './sources';

export interface WriterOptions {
  retry: RetryOptions;
  lease: LeaseOptions;
  /** wait this long for another process's lease before ERR_DB_LOCKED, ms */
  waitForWriterMs: number;
}


const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Writer {
  readonly db: DB;
  readonly lease: WriterLease;
  readonly retrier: Retrier;
  readonly #rollups = new RollupAccumulator();
  /** the flows written through book() since the roll-ups' last booking: ids [#bookedFrom, #bookedTo) */
  readonly #booked = new RollupAccumulator();
  #bookedFrom = -1;
  #bookedTo = -1;
  readonly #path: string;
  readonly #partitions: Partitions;
  readonly #cache: DeviceCache;
  readonly #log: StoreLog;
  readonly #waitMs: number;
  readonly #dataVersion: Statement;
  readonly #meta: Statement;
  readonly #setMark: Statement;
  /** data_version when this connection last looked: another connection's commit changes it */
  #seen: number;
  /** a transaction failed: the device cache forgot the counters it held */
  #forgot = false;

  constructor(db: DB, path: string, partitions: Partitions, cache: DeviceCache, metrics: Metrics, log: StoreLog, options: WriterOptions) {
    this.db = db;
    this.#path = path;
    this.#partitions = partitions;
    this.#cache = cache;
    this.#log = log;
    this.#waitMs = options.waitForWriterMs;
    this.lease = new WriterLease(db, path, options.lease);
    this.retrier = new Retrier(path, options.retry, metrics, log);
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.#meta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    this.#setMark = db.prepare("UPDATE meta SET value = ? WHERE key = 'devices_synced_id'");
    this.#seen = this.#dataVersion.get() as number;
  }

  /**
   * fn in one IMMEDIATE transaction (flow rows and ids through the
   * partitions), after noticing other processes' writes; the device cache
   * keeps what it did only if it commits.
   */
  transaction<T>(fn: (sink: RowSink, nextId: () => number) => T): T {
    const cache = this.#cache;
    cache.begin();
    let out: T;
    try {
      out = this.#partitions.write((sink, nextId) => {
        this.#noticeOthers();
        this.lease.beat();
        // a failed transaction left the cache empty: the counters not synced come back from the flows
        if (this.#forgot && this.#behind()) this.#replayJournal(this.#nextId());
        this.#forgot = false;
        return fn(sink, nextId);
      });
    } catch (e) {
      cache.rollback();
      this.#forgetBooked(); // it holds the failed transaction's flows: the next booking reads the flows instead
      this.#forgot = true;
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK'); // better-sqlite3 rolled back, unless that failed too
      } catch {
        // the connection will say so at the next statement
      }
      throw e;
    }
    cache.commit();
    return out;
  }

  #noticeOthers(): void {
    const version = this.#dataVersion.get() as number;
    if (version === this.#seen) return;
    this.#seen = version;
    this.lease.verify();
    const forgotten = this.#cache.reconcile();
    this.#partitions.reload();
    this.#log({ level: 'debug', event: 'external_change', path: this.#path, devicesForgotten: forgotten });
  }

  /**
   * Seals the hot partition if it is due (`atRest`: an ingest ended, see
   * Partitions.sealDue), then builds up to `steps` of the missing indexes of
   * sealed partitions, each in a transaction of its own (Infinity: all).
   * Returns the indexes built.
   */
  maintain(steps: number, atRest = false): number {
    const partitions = this.#partitions;
    if (partitions.sealDue(atRest)) this.db.transaction(() => partitions.seal()).immediate();
    let done = 0;
    while (done < steps && this.db.transaction(() => partitions.sealStep()).immediate()) done++;
    return done;
  }

  /** Inside a write transaction: writes the device counters held in memory; the flows from `nextId` on are not in them. */
  markSynced(nextId: number): number {
    const n = this.#cache.sync();
    this.#setMark.run(nextId);
    return n;
  }

  /**
   * Inside a write transaction: accounts flow `id`, just written, for the
   * roll-ups (held in memory until bookRollups()). Flows written without it
   * (appended, or after a failed transaction) are read back at the booking.
   */
  book(id: number, f: RollupFlow): void {
    if (id !== this.#bookedTo) {
      this.#booked.clear();
      this.#bookedFrom = id;
    }
    this.#booked.add(f);
    this.#bookedTo = id + 1;
  }

  /** Flows accounted by book() and not booked yet. */
  get bookedFlows(): number {
    return this.#booked.flows;
  }

  #forgetBooked(): void {
    this.#booked.clear();
    this.#bookedFrom = this.#bookedTo = -1;
  }

  /**
   * Inside a write transaction: books the flows stored since the roll-ups'
   * mark (meta rollups_synced_id), up to id `to` (default: all), into the
   * roll-ups, and moves the mark. The flows are the roll-ups' journal: a
   * writer books them every few seconds, many commits at once (a bucket's
   * rows are written once, not per commit), from what book() accounted when
   * that covers them exactly, else (a crash, a failed transaction, appended
   * rows) by reading them back. Returns the roll-up rows written.
   */
  bookRollups(to = this.#nextId()): number {
    const from = Number(this.#meta.get('rollups_synced_id'));
    if (from >= to) return 0;
    const exact = this.#bookedFrom === from && this.#bookedTo === to;
    const acc = exact ? this.#booked : this.#readBack(from, to);
    const written = acc.flush(this.db);
    this.#forgetBooked();
    this.db.prepare("UPDATE meta SET value = ? WHERE key = 'rollups_synced_id'").run(to);
    return written;
  }

  /** The flows [from, to) as stored, in the removal accumulator (cleared first). */
  #readBack(from: number, to: number): RollupAccumulator {
    const rows = this.db
      .prepare(`SELECT ${ROLLUP_FLOW_SQL} FROM flows WHERE id >= ? AND id < ?`)
      .raw(true)
      .safeIntegers(true)
      .iterate(from, to) as IterableIterator<unknown[]>;
    const acc = this.#rollups;
    acc.clear();
    const f = rollupFlow();
    for (const r of rows) acc.add(readRollupFlow(f, r));
    return acc;
  }

  /** Books the flows not in the roll-ups yet, in a transaction of its own; returns the roll-up rows written. */
  syncRollups(): number {
    return this.transaction(() => this.bookRollups());
  }

  /** Writes the device counters held in memory, in a transaction of their own; returns the device rows written. */
  syncDevices(): number {
    if (!this.#cache.unsynced) return 0;
    return this.transaction(() => this.#cache.flush() + this.markSynced(this.#nextId()));
  }

  /**
   * Inside a write transaction, after rows were appended without devices:
   * they are not to be counted, so the journal mark moves past them, unless
   * flows before them wait to be counted (by this store, or a writer's replay).
   */
  skipAppended(firstId: number, nextId: number): void {
    if (this.#cache.unsynced) this.markSynced(nextId);
    else this.db.prepare("UPDATE meta SET value = ? WHERE key = 'devices_synced_id' AND value = ?").run(nextId, firstId);
  }

  #nextId(): number {
    return Number(this.#meta.get('next_flow_id'));
  }

  #behind(): boolean {
    return Number(this.#meta.get('devices_synced_id')) < this.#nextId();
  }

  #rollupsBehind(): boolean {
    return Number(this.#meta.get('rollups_synced_id')) < this.#nextId();
  }

  /**
   * Inside a write transaction: counts the flows stored since the last sync
   * into their devices, as the writer that stored them would have (it
   * died, or gave up), and syncs them. Returns the device rows written.
   */
  #replay(): number {
    const to = this.#nextId();
    this.#replayJournal(to);
    return this.markSynced(to);
  }

  /** Counts the flows from the devices' mark up to `to` into their devices (held in the cache, not synced). */
  #replayJournal(to: number): void {
    const from = Number(this.#meta.get('devices_synced_id'));
    const cache = this.#cache;
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
      // device 0: a group MAC (no device), whose protocol its sender speaks (as IngestJob#writeFlow)
      const server = serverIsDst ? (dstId === 0n ? src : dst) : srcId === 0n ? dst : src;
      const icmp = !l2 && (protocol === 1n || protocol === 58n);
      const svc = deviceService(l2, Number(protocol), Number(etherType), l2 || icmp ? 0 : Number(serverIsDst ? dstPort : srcPort), service);
      if (server && svc) addService(server, svc);
    }
  }

  /**
   * Opening writable with no writer at work: replays the flows a dead
   * writer did not count into its devices, and marks the ingests it was
   * running interrupted. Returns the device rows written.
   */
  recoverIfIdle(): number {
    const running = this.db.prepare("SELECT 1 FROM sources WHERE status = 'running' LIMIT 1").get();
    if (!this.#behind() && !this.#rollupsBehind() && !running) return 0;
    return this.transaction(() => {
      if (this.lease.holder()) return 0; // it counts its own flows
      interruptRunning(this.db);
      this.bookRollups();
      return this.#behind() ? this.#replay() : 0;
    });
  }

  /**
   * Takes the writer lease (once per store: ingests running at once in one
   * store share it), waiting up to waitForWriterMs for another process to
   * release it; ERR_DB_LOCKED naming the holder after that.
   */
  async acquire(): Promise<void> {
    const t0 = Date.now();
    for (let said = false; ; said = true) {
      // held at once when taken: another ingest of this store acquiring meanwhile shares it
      const holder = await this.retrier.run('taking the writer lease', () => {
        const h = this.lease.held ? undefined : this.#take();
        if (!h) this.lease.hold();
        return h;
      });
      if (!holder) return;
      const waited = Date.now() - t0;
      if (waited >= this.#waitMs) throw this.lease.lockedError(holder, waited);
      if (!said) this.#log({ level: 'info', event: 'writer_waiting', path: this.#path, holder: describe(holder), waitForWriterMs: this.#waitMs });
      await sleep(Math.min(500, this.#waitMs - waited));
    }
  }

  /** One attempt: the live holder if it is not free; else this store's now, with the journal replayed. */
  #take(): WriterInfo | undefined {
    return this.transaction(() => {
      const { holder, from } = this.lease.take();
      if (holder) return holder;
      // what other writers did meanwhile is in the database, not in this cache
      this.#cache.invalidate();
      const interrupted = interruptRunning(this.db);
      this.bookRollups();
      const replayed = this.#behind() ? this.#replay() : 0;
      if (from) this.#log({ level: 'warn', event: 'writer_taken_over', path: this.#path, from: describe(from), interrupted, devicesReplayed: replayed });
      return undefined;
    });
  }

  /**
   * One ingest (or removal) less; the last one releases the lease. Counters
   * still held then (their sync failed) are dropped: the flows since the last
   * sync are their journal, replayed by the next writer.
   */
  release(): void {
    if (!this.lease.held) return;
    this.lease.release();
    if (!this.lease.held) this.#cache.invalidate();
  }

  /**
   * With the lease: deletes a source's flows (chunk by chunk, each chunk one
   * transaction that also takes them out of their devices' counters), then
   * its row.
   */
  async removeSource(sourceId: number, chunk = 5000): Promise<SourceRemoval> {
    const removal: SourceRemoval = { sourceId, flows: 0 };
    for (;;) {
      const n = await this.retrier.run(`removing source ${sourceId}`, () =>
        this.transaction(() => {
          // the stored counters and roll-ups are the ones to subtract from
          this.markSynced(this.#nextId());
          this.bookRollups();
          return removeSourceChunk(this.db, this.#partitions, sourceId, chunk, this.#rollups);
        }),
      );
      this.#cache.invalidate(); // its cached counters are the ones before the subtraction (synced: nothing lost)
      removal.flows += n;
      if (n === 0) break;
      await tick();
    }
    await this.retrier.run(`removing source ${sourceId}`, () => this.transaction(() => deleteSourceRow(this.db, sourceId)));
    this.#log({ level: 'info', event: 'source_removed', path: this.#path, ...removal });
    return removal;
  }

  /** Closing: the heartbeat stops and the lease row goes, whoever was still using it. */
  close(): void {
    while (this.lease.held) this.lease.release();
  }
}

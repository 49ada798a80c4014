/**
 * One ingest: a FlowRun into the store, one transaction per batch of flows
 * with their new devices, device counters every `deviceSyncMs` and at the
 * end. The next FlowBatch is pulled only after the commits it made due, so
 * the engine pauses while the database is slow, busy or failing: a commit
 * that fails for a reason that can pass is retried whole (Retrier) while a
 * file read waits and a live capture sheds beyond its bounded queue
 * (counted). Flows read are committed once each, or the ingest ends with
 * the coded error and everything before it committed.
 */
import type { Statement } from 'better-sqlite3';
import { addService, deviceService, isGroupMac, NO_DEVICE, touchDevice, type DeviceCache } from '../devices/cache';
import type { CaptureStats } from '../engine/source';
import type { Flow, FlowBatch } from '../flow/flow';
import { Offsets } from '../flow/layout';
import type { ServiceMap } from '../flow/services';
import type { CaptureRun, FlowRun, Summary } from '../meter';
import type { Metrics } from '../metrics/registry';
import { AdaptiveBatcher, type BatcherOptions } from '../pipeline/batcher';
import { APP_COLUMNS, appRow } from '../export/app-columns';
import { DETAIL_COLUMNS, writeDetails } from './details';
import { FLOW_INSERT_COLUMNS, ROW_WIDTH, type RowSink } from './partitions';
import { rollupFlow, serviceKey, type RollupFlow } from './rollups';
import { endSource, insertSource, type SourceRemoval, type SourceStatus } from './sources';
import { dbError } from './sqlite';
import type { Writer } from './writer';

/** flows held for the roll-ups before a sync books them (memory: a few entries per flow) */
const BOOKED_MAX = 131_072;

export interface IngestOptions {
  /** what the source row calls it (default: the run's path) */
  name?: string;
  kind?: 'file' | 'interface';
  /** sees every batch before it is committed (an exporter) */
  onBatch?: (batch: FlowBatch) => void | Promise<void>;
  /** the input's content fingerprint (fingerprintFile()), stored on the source row for findSource() */
  fingerprint?: string;
  /** remove this source first (removeSource()): the earlier, or interrupted, ingest of the same input */
  replaces?: number;
  /**
   * aborting stops the read (a file: the run's return(); a capture: stop()):
   * every flow read is committed, the device counters synced, and a file's
   * source ends 'interrupted'
   */
  signal?: AbortSignal;
}

export interface IngestSummary {
  sourceId: number;
  /** flows committed */
  flows: number;
  /** devices this ingest created */
  devices: number;
  batches: number;
  /** the engine's summary of the read */
  read: Summary;
  commitMs: number;
  /** largest number of flows waiting for a commit */
  maxPending: number;
  /** how it ended: read to the end (a capture: stopped), stopped early, or ended by an error */
  status: Exclude<SourceStatus, 'running'>;
  /** commits tried again after a failure that could pass */
  retries: number;
  /** what removing the source it replaced deleted */
  replaced?: SourceRemoval;
}

/** What an ingest needs of its store. */
export interface IngestContext {
  path: string;
  writer: Writer;
  cache: DeviceCache;
  metrics: Metrics;
  services: ServiceMap;
  batch?: BatcherOptions;
  deviceSyncMs: number;
  sensor: string;
  afterCommit?: (rows: number) => void;
}

const INT64_MAX = (1n << 63n) - 1n;
/** where the application columns start in a row (id first) */
const APP_AT = 1 + FLOW_INSERT_COLUMNS.indexOf(APP_COLUMNS[0]);
/** where the detail columns start in a row */
const DETAILS_AT = 1 + FLOW_INSERT_COLUMNS.indexOf(DETAIL_COLUMNS[0]);
const DNS_ANSWER = APP_COLUMNS.indexOf('dns_answer');
const DNS_QUERY = APP_COLUMNS.indexOf('dns_query');
const SNI = APP_COLUMNS.indexOf('sni');
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class IngestJob {
  readonly #ctx: IngestContext;
  readonly #run: FlowRun;
  readonly #options: IngestOptions;
  readonly #batcher: AdaptiveBatcher;
  readonly #capture: CaptureRun | undefined;
  readonly #pending: Flow[] = [];
  /** one flow row's values (FLOW_INSERT_COLUMNS after the id), reused: the sink copies them */
  readonly #row: unknown[] = new Array(ROW_WIDTH);
  readonly #rollupFlow: RollupFlow = rollupFlow();
  /** the row's application columns are all NULL (the last flow had none): most flows have none */
  #appNull = false;
  /** built once per (protocol, port): the service map is fixed */
  readonly #serviceTexts = new Map<number, string | undefined>();
  readonly #cacheSeen: { hits: number; misses: number; evictions: number };
  readonly #createdBefore: number;
  #sourceId = 0;
  #updateSource: Statement | undefined;
  #flows = 0;
  #batches = 0;
  #commitMs = 0;
  #maxPending = 0;
  #retries = 0;
  #lastCommit = performance.now();
  #lastSync = performance.now();
  /** how long the last device sync took, ms (spaces the next one) */
  #syncMs = 0;
  #lastSyncCost = 0;
  /** commits run one after the other: the loop's and the timer's */
  #queue: Promise<void> = Promise.resolve();
  #committing = false;
  /** what stopped the commits; the flows counted so far are committed */
  #failure: unknown;
  #observed: CaptureStats | undefined;

  constructor(ctx: IngestContext, run: FlowRun, options: IngestOptions) {
    this.#ctx = ctx;
    this.#run = run;
    this.#options = options;
    this.#batcher = new AdaptiveBatcher(ctx.batch);
    this.#capture = run.kind === 'interface' ? (run as CaptureRun) : undefined;
    this.#cacheSeen = { ...ctx.cache.counters };
    this.#createdBefore = ctx.cache.counters.created;
  }

  /** Writes the source row, reads the run to its end, commits, ends the source row. */
  async run(replaced?: SourceRemoval): Promise<IngestSummary> {
    await this.#start();
    const maxDelay = this.#batcher.maxDelayMs;
    const timer = setInterval(() => this.#tick(), Math.max(10, Math.min(250, maxDelay / 4)));
    const signal = this.#options.signal;
    const stop = () => this.#stopRun(true);
    signal?.addEventListener('abort', stop, { once: true });
    let readError: unknown;
    try {
      if (signal?.aborted) stop();
      await this.#read();
    } catch (e) {
      readError = e;
    } finally {
      clearInterval(timer);
      signal?.removeEventListener('abort', stop);
    }
    await this.#drain();
    const read = await this.#run.summary;
    this.#ctx.metrics.recordSummary(read, this.#observed);
    return this.#finish(read, readError, replaced);
  }

  async #start(): Promise<void> {
    const { writer, sensor, metrics } = this.#ctx;
    const run = this.#run;
    const o = this.#options;
    this.#sourceId = await writer.retrier.run('recording the source', () =>
      insertSource(writer.db, { name: o.name ?? run.path, kind: o.kind ?? run.kind, sensor, engine: run.engine, fingerprint: o.fingerprint ?? null }),
    );
    this.#updateSource = writer.db.prepare('UPDATE sources SET flows = flows + ? WHERE id = ?');
    metrics.rowsWritten.inc({ table: 'sources' });
  }

  async #read(): Promise<void> {
    const pending = this.#pending;
    const batcher = this.#batcher;
    for await (const fb of this.#run) {
      if (this.#failure !== undefined) break;
      await this.#options.onBatch?.(fb); // before the commit: an exporter sees every batch also when a commit fails
      for (const f of fb) pending.push(f);
      if (pending.length > this.#maxPending) this.#maxPending = pending.length;
      const before = this.#batches;
      while (this.#failure === undefined && pending.length >= batcher.size) await this.#commit(batcher.size);
      if (pending.length && performance.now() - this.#lastCommit >= batcher.maxDelayMs) await this.#commit(pending.length);
      if (this.#failure !== undefined) break;
      // buffered batches resolve as microtasks: after a commit, let timers and a running retention have a turn
      if (this.#batches !== before) await turn();
    }
  }

  /** Trickling traffic: a flow waits at most maxDelayMs for its commit; a capture's counters reach the metrics. */
  #tick(): void {
    const pending = this.#pending;
    if (!this.#committing && pending.length && performance.now() - this.#lastCommit >= this.#batcher.maxDelayMs) void this.#commit(pending.length);
    const capture = this.#capture;
    if (capture && !capture.stopped) this.#observed = this.#ctx.metrics.observeCapture(capture.engine, capture.stats(), this.#observed);
  }

  /** Commits what is still pending, then the device counters. */
  async #drain(): Promise<void> {
    await this.#queue;
    const size = this.#batcher.size;
    while (this.#failure === undefined && this.#pending.length) await this.#commit(Math.min(this.#pending.length, size), this.#pending.length <= size);
    if (this.#failure === undefined) await this.#maintain(Infinity, true); // a store at rest: every sealed partition indexed, a small hot one
    const { writer, cache } = this.#ctx;
    if (this.#failure !== undefined) return;
    try {
      if (cache.unsynced) this.#ctx.metrics.rowsWritten.inc({ table: 'devices' }, await writer.retrier.run('writing the device counters', () => writer.syncDevices()));
      await writer.retrier.run('writing the roll-ups', () => writer.syncRollups());
    } catch (e) {
      this.#failure = e;
    }
  }

  /** Queues a commit of the first `n` pending flows (fewer if fewer are pending when its turn comes). */
  #commit(n: number, last = false): Promise<void> {
    this.#queue = this.#queue.then(() => this.#commitNow(n, last));
    return this.#queue;
  }

  async #commitNow(n: number, last: boolean): Promise<void> {
    const pending = this.#pending;
    if (this.#failure !== undefined || !pending.length) return;
    this.#committing = true;
    const batch = pending.slice(0, n); // stays pending until committed: a retry writes the same flows
    // a sync rewrites every device touched since the last one and books the flows since into the
    // roll-ups: at most ~5 % of the time goes to it
    const { writer, metrics, cache, deviceSyncMs: every } = this.#ctx;
    const sync =
      last ||
      every === 0 ||
      performance.now() - this.#lastSync >= Math.max(every, 20 * this.#syncMs) ||
      cache.unsynced >= cache.holdMax || // memory
      writer.bookedFlows >= BOOKED_MAX;
    let attemptMs = 0;
    let attempts = 0;
    let devicesWritten: number;
    try {
      devicesWritten = await writer.retrier.run(`committing a batch of ${batch.length} flows (${this.#flows} committed before it)`, () => {
        attempts++;
        const t0 = performance.now();
        try {
          return this.#write(batch, sync);
        } finally {
          attemptMs = performance.now() - t0;
        }
      });
      if (sync) this.#syncMs = this.#lastSyncCost;
    } catch (e) {
      this.#failure = e;
      this.#stopRun(false); // nothing more can be stored
      return;
    } finally {
      this.#retries += Math.max(0, attempts - 1);
      this.#committing = false;
    }
    pending.splice(0, batch.length);
    if (sync) this.#lastSync = performance.now();
    await this.#maintain(1);
    const t = performance.now();
    this.#ctx.afterCommit?.(batch.length);
    metrics.commitLatency.observe(attemptMs / 1000);
    // the batcher sizes the flows' part: a sync's cost depends on the devices and buckets touched, not on the batch
    this.#committed(batch.length, attemptMs + performance.now() - t, sync ? this.#lastSyncCost : 0, devicesWritten);
  }

  /** Seals the hot partition when due and builds up to `steps` of the indexes it waits for, between commits. */
  async #maintain(steps: number, atRest = false): Promise<void> {
    const writer = this.#ctx.writer;
    try {
      await writer.retrier.run('sealing a partition', () => writer.maintain(steps, atRest));
    } catch (e) {
      this.#failure = e;
      this.#stopRun(false);
    }
  }

  /** The counters and metrics of a commit of `rows` flows that took `total` ms (with afterCommit, a simulated slow disk). */
  #committed(rows: number, total: number, syncMs: number, devicesWritten: number): void {
    this.#commitMs += total;
    this.#batcher.observe(rows, total - syncMs);
    this.#flows += rows;
    this.#batches++;
    this.#lastCommit = performance.now();
    const { metrics: m, cache } = this.#ctx;
    m.batchSize.set(this.#batcher.size);
    m.queueDepth.set(this.#pending.length);
    m.batchesCommitted.inc();
    m.rowsWritten.inc({ table: 'flows' }, rows);
    m.rowsWritten.inc({ table: 'devices' }, devicesWritten);
    const seen = this.#cacheSeen;
    m.cacheHits.inc(cache.counters.hits - seen.hits);
    m.cacheMisses.inc(cache.counters.misses - seen.misses);
    m.cacheEvictions.inc(cache.counters.evictions - seen.evictions);
    Object.assign(seen, { hits: cache.counters.hits, misses: cache.counters.misses, evictions: cache.counters.evictions });
  }

  /** One attempt at committing `batch`: its flows and their devices in one transaction; returns the device rows written. */
  #write(batch: Flow[], sync: boolean): number {
    const { writer, cache } = this.#ctx;
    return writer.transaction((sink, nextId) => {
      let id = 0;
      for (const f of batch) id = this.#writeFlow(f, sink, nextId);
      let devicesWritten = cache.flush();
      if (sync) {
        const t = performance.now();
        devicesWritten += writer.markSynced(id + 1);
        sink.finish(); // the batch's last rows are in the table, should the roll-ups read them back
        writer.bookRollups(id + 1);
        this.#lastSyncCost = performance.now() - t;
      }
      this.#updateSource!.run(batch.length, this.#sourceId);
      return devicesWritten;
    });
  }

  /** One flow row, its two devices (and ARP's bindings, the service its server answered on); returns its id. */
  #writeFlow(f: Flow, sink: RowSink, nextId: () => number): number {
    const { cache, services } = this.#ctx;
    const raw = f.raw;
    const l2 = f.l2;
    const c = services.classify(f);
    const firstNs = int64(f.firstNs);
    const lastNs = int64(f.lastNs);
    // the times as stored, so that a replay of the stored flows gives the same devices
    const firstMs = Number(firstNs / 1_000_000n);
    const lastMs = Number(lastNs / 1_000_000n);
    const vlan = f.vlan;
    // a broadcast or multicast MAC (a layer-2 flow's end) is no device: the flow names device 0
    const srcAddr = f.srcAddrBytes;
    const dstAddr = f.dstAddrBytes;
    const src = isGroupMac(srcAddr) ? NO_DEVICE : cache.resolve(srcAddr, vlan, firstMs);
    const dst = isGroupMac(dstAddr) ? NO_DEVICE : cache.resolve(dstAddr, vlan, firstMs);
    const srcMac = l2 ? null : macOrNull(raw, Offsets.kSrcMac);
    const dstMac = l2 ? null : macOrNull(raw, Offsets.kDstMac);
    const fwdPackets = f.fwdPackets;
    const fwdBytes = f.fwdBytes;
    const revPackets = f.revPackets;
    const revBytes = f.revBytes;
    const packets = fwdPackets + revPackets;
    const bytes = fwdBytes + revBytes;
    // layer-2 devices are their MAC
    if (src !== NO_DEVICE) touchDevice(src, firstMs, lastMs, packets, bytes, l2 ? src.addr : srcMac);
    if (dst !== NO_DEVICE) touchDevice(dst, firstMs, lastMs, packets, bytes, l2 ? dst.addr : dstMac);
    const etherType = f.etherType;
    if (l2 && etherType === 0x0806) this.#bindArp(raw, srcAddr, dstAddr, vlan, firstMs, lastMs);
    const protocol = f.protocol;
    const icmp = !l2 && (protocol === 1 || protocol === 58);
    const key = l2 ? -1 - etherType : protocol * 65536 + c.serverPort;
    let svc = this.#serviceTexts.get(key);
    if (svc === undefined && !this.#serviceTexts.has(key)) this.#serviceTexts.set(key, (svc = deviceService(l2, protocol, etherType, c.serverPort, c.service ?? null)));
    // a protocol sent to a group (GOOSE, LLDP, DCP): its sender speaks it
    const server = c.serverIsDst ? (dst !== NO_DEVICE ? dst : src) : src !== NO_DEVICE ? src : dst;
    if (svc && server !== NO_DEVICE) addService(server, svc);
    const id = nextId();
    const r = this.#row;
    r[0] = id;
    r[1] = this.#sourceId;
    r[2] = f.flowId;
    r[3] = f.segment;
    r[4] = firstNs;
    r[5] = lastNs;
    r[6] = raw[Offsets.kEndReason];
    r[7] = f.ipVersion;
    r[8] = protocol;
    r[9] = etherType;
    r[10] = vlan;
    r[11] = src !== NO_DEVICE ? src.addr : Buffer.from(srcAddr);
    r[12] = dst !== NO_DEVICE ? dst.addr : Buffer.from(dstAddr);
    r[13] = f.srcPort;
    r[14] = f.dstPort;
    r[15] = src.id;
    r[16] = dst.id;
    r[17] = srcMac;
    r[18] = dstMac;
    r[19] = fwdPackets;
    r[20] = fwdBytes;
    r[21] = revPackets;
    r[22] = revBytes;
    r[23] = raw[Offsets.kFwdTcpFlags];
    r[24] = raw[Offsets.kRevTcpFlags];
    r[25] = icmp ? raw[Offsets.kIcmpType] : null;
    r[26] = icmp ? raw[Offsets.kIcmpCode] : null;
    r[27] = raw[Offsets.kFlags];
    r[28] = c.service ?? null;
    r[29] = c.serverIsDst ? 1 : 0;
    r[30] = bytes;
    r[31] = packets;
    const app = appRow(raw);
    if (app) {
      for (let i = 0; i < APP_COLUMNS.length; i++) r[APP_AT + i] = app[i];
      this.#appNull = false;
      // a DNS answer names its address (latest answer wins: devices show it)
      const answer = app[DNS_ANSWER];
      const query = app[DNS_QUERY];
      if (answer && query) cache.learnName(answer as Buffer, query as string, lastMs);
    } else if (!this.#appNull) {
      r.fill(null, APP_AT, APP_AT + APP_COLUMNS.length);
      this.#appNull = true;
    }
    writeDetails(f, r, DETAILS_AT);
    sink.add(r);
    const rf = this.#rollupFlow;
    rf.firstNs = firstNs;
    rf.lastNs = lastNs;
    rf.bytes = bytes;
    rf.packets = packets;
    rf.srcDevice = src.id;
    rf.dstDevice = dst.id;
    rf.service = serviceKey(r[28] as string | null, r[7] as number, etherType, protocol, c.serverIsDst, r[13] as number, r[14] as number);
    rf.application = app ? (app[0] as string) : null;
    rf.sni = app ? (app[SNI] as string | null) : null;
    this.#ctx.writer.book(id, rf);
    return id;
  }

  /** ARP: binds each end's IPv4 address to its MAC (the target's only when unicast). */
  #bindArp(raw: Uint8Array, srcMac: Uint8Array, dstMac: Uint8Array, vlan: number, firstMs: number, lastMs: number): void {
    const cache = this.#ctx.cache;
    for (let side = 0; side < 2; side++) {
      const at = (side === 0 ? Offsets.kSrcAddr : Offsets.kDstAddr) + Offsets.kArpIp;
      const mac = side === 0 ? srcMac : dstMac;
      const ip = raw.subarray(at, at + 4);
      if (!(ip[0] | ip[1] | ip[2] | ip[3]) || mac[0] & 1 || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) continue;
      cache.bindArp(cache.resolve(ip, vlan, firstMs), mac, firstMs, lastMs);
    }
  }

  /** Stops reading: a file at once (return()), a capture with its flows flushed (stop), or without when nothing more can be stored. */
  #stopRun(flush: boolean): void {
    const capture = this.#capture;
    if (capture) {
      if (!capture.stopped) void capture.stop({ flush });
    } else {
      void (this.#run as Partial<FlowRun>).return?.(); // a stand-in run may have none: its loop breaks instead
    }
  }

  /** Ends the source row (its status, counters and error); the summary, or the error that ended the ingest with it. */
  async #finish(read: Summary, readError: unknown, replaced?: SourceRemoval): Promise<IngestSummary> {
    const { writer, cache } = this.#ctx;
    const failed = this.#failure !== undefined || readError !== undefined || read.error !== undefined;
    const status = failed ? 'failed' : read.cancelled && !this.#capture ? 'interrupted' : 'complete';
    const end = () => endSource(writer.db, this.#sourceId, read, status, this.#failure ?? read.error);
    try {
      // after a failure the database may refuse this too (once is enough): the summary stays true either way
      if (this.#failure === undefined) await writer.retrier.run('ending the source row', end);
      else end();
    } catch (e) {
      this.#failure ??= dbError(e, this.#ctx.path, 'ending the source row');
    }
    const summary: IngestSummary = {
      sourceId: this.#sourceId, flows: this.#flows, devices: cache.counters.created - this.#createdBefore, batches: this.#batches, read,
      commitMs: this.#commitMs, maxPending: this.#maxPending, status: this.#failure !== undefined ? 'failed' : status, retries: this.#retries,
      ...(replaced ? { replaced } : {}),
    };
    const error = this.#failure ?? readError;
    if (error === undefined) return summary;
    (error as { ingest?: IngestSummary }).ingest = summary;
    throw error;
  }
}

/** SQLite integers are signed 64-bit: timestamps past 2262 (damaged captures) are stored as the largest. */
function int64(ns: bigint): bigint {
  return ns > INT64_MAX ? INT64_MAX : ns;
}

function macOrNull(raw: Uint8Array, off: number): Uint8Array | null {
  for (let i = 0; i < 6; i++) if (raw[off + i]) return raw.subarray(off, off + 6);
  return null;
}

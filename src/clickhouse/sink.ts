/**
 * The ClickHouse sink: flow records into a central ClickHouse, no flow lost,
 * none stored twice.
 *
 * Each run (a file, a capture) is cut into blocks of `blockRows` flows
 * (rows.ts) with deterministic ids. One sender delivers them in order, one at
 * a time, each as one INSERT whose query_id is derived from the block id.
 * Delivering a block is: wait until no query with that id still runs on the
 * server (an earlier attempt, perhaps by a process since killed), count the
 * block's rows already stored (a primary-key range: the sensor and the
 * block's first_ns bounds), and insert only what is missing. So a retried,
 * timed-out or replayed block (the same file read again after a crash) is
 * never stored twice, on any server version, without ZooKeeper.
 *
 * When the server is down, slow or refusing, the sender backs off
 * (`retry.minMs` doubling to `retry.maxMs`) and every block waiting goes to
 * the spool on disk (spool.ts), which a restarted process sends first; so do blocks beyond `memoryBlocks` while the server
 * is slower than they come (unless `backpressure` makes the writer wait). Past `spoolMaxBytes` the oldest spooled blocks are dropped,
 * counted (flowmaster_clickhouse_rows_total{result="dropped"}) and logged.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { FlowmasterError } from '../errors';
import type { FlowBatch } from '../flow/flow';
import type { ServiceMap } from '../flow/services';
import { Metrics } from '../metrics/registry';
import type { LogFn } from '../ops/log';
import { BlockWriter, type Block } from './rows';
import { columnsByTable, flowColumnsOf, flowsColumnsSql, ROW_FORMAT, schemaStatements, tables, type SchemaOptions, type Tables } from './schema';
import { Spool, type SpooledBlock } from './spool';
import { str, uint } from './sql';

export interface ClickHouseSinkOptions extends SchemaOptions {
  /** the server's HTTP interface, e.g. http://127.0.0.1:8123 (user and password in the URL if needed) */
  url: string;
  /** stored with every row, so that many sensors share one table (default: the host name) */
  sensor?: string;
  /** where undelivered blocks wait (default: ~/.local/state/flowmaster/clickhouse-spool/<server, database, sensor>) */
  spoolDir?: string;
  /** the spool's cap in bytes; past it the oldest blocks are dropped and counted (default 1 GiB) */
  spoolMaxBytes?: number;
  /** flows per block (one INSERT; default 100,000) */
  blockRows?: number;
  /** undelivered blocks kept in memory (default 2); past them, new ones go to the spool, or with `backpressure` wait */
  memoryBlocks?: number;
  /**
   * while the server takes blocks, slower than they come, make write() wait
   * instead of spooling (a file read waits; default true). A live capture
   * sets false: it cannot wait without dropping packets. Either way, while
   * the server fails, blocks go to the spool.
   */
  backpressure?: boolean;
  /** backoff between failed deliveries (default 200 ms doubling to 10 s) */
  retry?: { minMs?: number; maxMs?: number };
  /** create the schema (idempotent) before the first block (default true) */
  init?: boolean;
  /** blocks sent at once (default 2: the server inserts each on one core); taken in order */
  concurrency?: number;
  /** per request (default 120 s) */
  requestTimeoutMs?: number;
  services?: ServiceMap;
  metrics?: Metrics;
  log?: LogFn;
}

export interface ClickHouseSinkStats {
  /** rows inserted */
  sent: number;
  /** rows found already stored (replays) */
  present: number;
  /** rows dropped from a full spool */
  dropped: number;
  /** rows and bytes of the flows inserted or found present */
  delivered: { rows: number; bytes: number; packets: number };
  blocks: number;
  retries: number;
  /** blocks waiting (in memory and on disk) */
  pending: number;
  spooledBytes: number;
}

interface Entry {
  meta: Omit<Block, 'body'>;
  body?: Buffer;
  spooled?: SpooledBlock;
  /** a sender has it */
  sending?: boolean;
}

/** Waits `ms`, or less when `signal` aborts. */
const sleep = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

/** How many of a block's rows the server holds: a primary-key range (sensor, first_ns), then the block id. */
export function storedSql(t: Tables, sensor: string, b: Pick<Block, 'id' | 'minNs' | 'maxNs'>): string {
  return `SELECT count() FROM ${t.q('flows')} WHERE sensor = ${str(sensor)} AND first_ns BETWEEN ${uint(b.minNs)} AND ${uint(b.maxNs)} AND batch = ${str(b.id)}`;
}

/** Whether a query with this id still runs. */
export function runningSql(queryId: string): string {
  return `SELECT count() FROM system.processes WHERE query_id = ${str(queryId)}`;
}

/** The INSERT of a block of rows of `format` (rows.ts; a spooled block may be of an older one), its RowBinary rows following as the request body. */
export function insertSql(t: Tables, format = ROW_FORMAT): string {
  return `INSERT INTO ${t.q('flows')} (${flowColumnsOf(format).map(([n]) => n).join(', ')}) FORMAT RowBinary`;
}

/** The default spool directory of a (server, database, sensor). */
export function defaultSpoolDir(url: string, database: string, sensor: string): string {
  const u = new URL(url);
  const key = `${u.host}_${database}_${sensor}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const state = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'flowmaster', 'clickhouse-spool', key);
}

export class ClickHouseSink {
  readonly sensor: string;
  readonly tables: Tables;
  readonly spool: Spool;
  readonly #client: ClickHouseClient;
  readonly #o: Required<Pick<ClickHouseSinkOptions, 'blockRows' | 'memoryBlocks' | 'spoolMaxBytes' | 'init' | 'backpressure' | 'concurrency'>> & { minMs: number; maxMs: number };
  readonly #schemaOptions: SchemaOptions;
  readonly #services?: ServiceMap;
  readonly #metrics: Metrics;
  readonly #log: LogFn;
  readonly #queue: Entry[] = [];
  readonly #stop = new AbortController();
  readonly #idle: (() => void)[] = [];
  /** writers waiting for room in memory (backpressure) */
  readonly #room: (() => void)[] = [];
  readonly #stats: ClickHouseSinkStats = { sent: 0, present: 0, dropped: 0, delivered: { rows: 0, bytes: 0, packets: 0 }, blocks: 0, retries: 0, pending: 0, spooledBytes: 0 };
  readonly #senders = new Set<Promise<void>>();
  #schema?: Promise<void>;
  #failing = 0;

  constructor(o: ClickHouseSinkOptions) {
    if (!o || typeof o.url !== 'string') throw new FlowmasterError('ERR_INVALID_OPTION', 'ClickHouseSink: url is required');
    try {
      new URL(o.url);
    } catch {
      throw new FlowmasterError('ERR_INVALID_OPTION', `ClickHouseSink url: ${JSON.stringify(o.url)} is not a URL (http://host:8123)`);
    }
    this.tables = tables(o);
    this.#schemaOptions = { database: o.database, cluster: o.cluster };
    this.sensor = o.sensor ?? os.hostname();
    if (!this.sensor || this.sensor.length > 200) throw new FlowmasterError('ERR_INVALID_OPTION', 'ClickHouseSink sensor: expected a name of 1..200 characters');
    const positive = (name: string, v: number | undefined, d: number) => {
      if (v === undefined) return d;
      if (!Number.isInteger(v) || v < 1) throw new FlowmasterError('ERR_INVALID_OPTION', `ClickHouseSink ${name}: expected a positive integer`);
      return v;
    };
    this.#o = {
      blockRows: positive('blockRows', o.blockRows, 100_000),
      memoryBlocks: positive('memoryBlocks', o.memoryBlocks, 2),
      concurrency: positive('concurrency', o.concurrency, 2),
      spoolMaxBytes: positive('spoolMaxBytes', o.spoolMaxBytes, 1 << 30),
      init: o.init ?? true,
      backpressure: o.backpressure ?? true,
      minMs: positive('retry.minMs', o.retry?.minMs, 200),
      maxMs: positive('retry.maxMs', o.retry?.maxMs, 10_000),
    };
    this.#services = o.services;
    this.#metrics = o.metrics ?? new Metrics({ defaultMetrics: false });
    this.#log = o.log ?? (() => undefined);
    this.spool = new Spool(o.spoolDir ?? defaultSpoolDir(o.url, this.tables.database, this.sensor));
    this.#client = createClient({ url: o.url, request_timeout: o.requestTimeoutMs ?? 120_000, log: { level: 127 as never } });
    for (const s of this.spool.list()) this.#queue.push({ meta: s.meta, spooled: s });
    this.#gauges();
    if (this.#queue.length) {
      this.#log({ level: 'info', event: 'clickhouse_spool_resumed', blocks: this.#queue.length, dir: this.spool.dir, msg: `clickhouse: ${this.#queue.length} blocks left in ${this.spool.dir} are sent first` });
      this.#kick();
    }
  }

  /** A run's writer: write(batch) for each batch, end() after the last. `run` names it for good (the same input, the same name). */
  run(run: string): { write(batch: FlowBatch): void | Promise<void>; end(): void } {
    if (!/^[A-Za-z0-9._:-]{1,200}$/.test(run)) throw new FlowmasterError('ERR_INVALID_OPTION', `ClickHouseSink run: ${JSON.stringify(run)}: letters, digits and ._:- only`);
    let wait: Promise<void> | undefined;
    const w = new BlockWriter({ sensor: this.sensor, run, blockRows: this.#o.blockRows, services: this.#services, push: (b) => (wait = this.#enqueue(b) ?? wait) });
    return {
      write: (batch) => {
        wait = undefined;
        w.write(batch);
        return wait; // a full block waits for room (backpressure)
      },
      end: () => w.end(),
    };
  }

  get stats(): ClickHouseSinkStats {
    return { ...this.#stats, delivered: { ...this.#stats.delivered }, pending: this.#queue.length, spooledBytes: this.#spooledBytes() };
  }

  /** Resolves when every block so far is delivered (true), or after `timeoutMs` with blocks still waiting (false). */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    if (!this.#queue.length) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
    const late = Number.isFinite(timeoutMs) ? new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))) : idle;
    try {
      return await Promise.race([idle, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits up to `waitMs` for delivery, then stops: what is still undelivered
   * is written to the spool (the next sink on it sends it). Returns the stats.
   */
  async close(waitMs = 0): Promise<ClickHouseSinkStats> {
    await this.drain(waitMs);
    this.#stop.abort();
    for (const resolve of this.#room.splice(0)) resolve();
    await Promise.all(this.#senders);
    for (const e of this.#queue) if (!e.spooled) this.#toDisk(e);
    const stats = this.stats;
    if (stats.pending) this.#log({ level: 'warn', event: 'clickhouse_spooled', blocks: stats.pending, dir: this.spool.dir, msg: `clickhouse: ${stats.pending} blocks undelivered, kept in ${this.spool.dir} (the next run sends them)` });
    await this.#client.close();
    return stats;
  }

  /**
   * Creates the schema (idempotent), giving flows tables of an older
   * flowmaster the columns they lack (another process adding one meanwhile
   * is fine).
   */
  async init(): Promise<void> {
    const rows = (await (await this.#client.query({ query: flowsColumnsSql(this.#schemaOptions), format: 'JSONEachRow' })).json()) as { table: string; name: string }[];
    for (const sql of schemaStatements(this.#schemaOptions, columnsByTable(rows))) {
      try {
        await this.#client.command({ query: sql });
      } catch (e) {
        if (!(sql.startsWith('ALTER TABLE') && /already exists/i.test((e as Error).message))) throw e;
      }
    }
  }

  #inMemory(): number {
    return this.#queue.reduce((n, q) => n + (q.spooled ? 0 : 1), 0);
  }

  /** Queues a block: in memory, or on disk past `memoryBlocks`; with backpressure (and the server taking blocks) a promise of room instead. */
  #enqueue(b: Block): Promise<void> | undefined {
    const e: Entry = { meta: { id: b.id, rows: b.rows, format: b.format, minNs: b.minNs, maxNs: b.maxNs, bytes: b.bytes, packets: b.packets }, body: b.body };
    const full = this.#inMemory() >= this.#o.memoryBlocks;
    const wait = full && this.#o.backpressure && !this.#failing && !this.#stop.signal.aborted;
    if ((full && !wait) || this.#failing) this.#toDisk(e); // while the server fails, to disk at once: a kill then loses nothing queued
    this.#queue.push(e);
    this.#kick();
    return wait ? new Promise<void>((resolve) => this.#room.push(resolve)) : undefined;
  }

  /** Writers waiting for room go on; with the server failing, every block in memory goes to disk first (a kill then loses none). */
  #freeRoom(): void {
    if (this.#failing) for (const q of this.#queue) if (!q.spooled) this.#toDisk(q);
    if (this.#failing || this.#inMemory() < this.#o.memoryBlocks) for (const resolve of this.#room.splice(0)) resolve();
  }

  /** Moves a block to the spool, then drops the oldest spooled blocks (not the one being sent) past the cap. */
  #toDisk(e: Entry): void {
    e.spooled = this.spool.write({ ...e.meta, body: e.body! });
    e.body = undefined;
    while (this.#spooledBytes() > this.#o.spoolMaxBytes) {
      const i = this.#queue.findIndex((q) => q.spooled && q !== e && !q.sending);
      if (i < 0) break;
      const [old] = this.#queue.splice(i, 1);
      this.spool.remove(old.spooled!);
      this.#stats.dropped += old.meta.rows;
      this.#metrics.chRows.inc({ result: 'dropped' }, old.meta.rows);
      this.#metrics.chBlocks.inc({ result: 'dropped' });
      this.#log({
        level: 'warn', event: 'clickhouse_spool_dropped', block: old.meta.id, rows: old.meta.rows,
        msg: `clickhouse: spool over ${this.#o.spoolMaxBytes} bytes: dropped the oldest block ${old.meta.id} (${old.meta.rows} flows)`,
      });
    }
    this.#gauges();
  }

  #spooledBytes(): number {
    return this.#queue.reduce((n, q) => n + (q.spooled?.size ?? 0), 0);
  }

  #gauges(): void {
    const spooled = this.#queue.filter((q) => q.spooled);
    this.#metrics.chSpoolBlocks.set(spooled.length);
    this.#metrics.chSpoolBytes.set(spooled.reduce((n, q) => n + q.spooled!.size, 0));
  }

  /** Starts senders up to `concurrency` (one while the server fails: it probes, the others wait). */
  #kick(): void {
    const most = this.#failing ? 1 : this.#o.concurrency;
    while (this.#senders.size < most && !this.#stop.signal.aborted && this.#queue.some((q) => !q.sending)) {
      const sender: Promise<void> = this.#send().finally(() => {
        this.#senders.delete(sender);
        if (!this.#queue.length) for (const resolve of this.#idle.splice(0)) resolve();
        else this.#kick();
      });
      this.#senders.add(sender);
    }
  }

  /** One sender: takes the oldest block no sender has, until none is left or a delivery fails. */
  async #send(): Promise<void> {
    for (let e = this.#queue.find((q) => !q.sending); e && !this.#stop.signal.aborted; e = this.#queue.find((q) => !q.sending)) {
      e.sending = true;
      try {
        if (this.#o.init) await (this.#schema ??= this.init().catch((err) => ((this.#schema = undefined), Promise.reject(err))));
        const t0 = performance.now();
        await this.#deliver(e);
        this.#metrics.chInsertSeconds.observe((performance.now() - t0) / 1000);
        this.#queue.splice(this.#queue.indexOf(e), 1);
        if (e.spooled) this.spool.remove(e.spooled);
        this.#gauges();
        if (this.#failing) this.#log({ level: 'info', event: 'clickhouse_recovered', failures: this.#failing, msg: `clickhouse: delivering again after ${this.#failing} failed attempts` });
        this.#failing = 0;
        this.#freeRoom();
        this.#kick(); // the others, now that it goes through
      } catch (err) {
        e.sending = false;
        if (this.#stop.signal.aborted) return;
        this.#failing++;
        this.#stats.retries++;
        this.#metrics.chRetries.inc();
        this.#freeRoom();
        const wait = Math.min(this.#o.maxMs, this.#o.minMs * 2 ** Math.min(this.#failing - 1, 20));
        if (this.#failing === 1 || this.#failing % 10 === 0)
          this.#log({ level: 'warn', event: 'clickhouse_retry', block: e.meta.id, attempt: this.#failing, error: (err as Error).message, msg: `clickhouse: ${(err as Error).message.split('\n')[0]}; block ${e.meta.id} again in ${wait} ms (attempt ${this.#failing})` });
        await sleep(wait, this.#stop.signal);
        return; // #kick starts again, as many as may run
      }
    }
  }

  /** The block's query id: the same for every attempt, by any process. */
  #queryId(e: Entry): string {
    return `fm_${createHash('sha1').update(`${this.sensor}\n${e.meta.id}`).digest('hex')}`;
  }

  /**
   * Check, then insert. A block is one UTC day (one partition): the server
   * stores it as one part, so its rows are all there or none are.
   */
  async #deliver(e: Entry): Promise<void> {
    const qid = this.#queryId(e);
    await this.#settle(qid);
    const stored = Number(await this.#value(storedSql(this.tables, this.sensor, e.meta)));
    if (stored !== 0 && stored !== e.meta.rows)
      this.#log({ level: 'error', event: 'clickhouse_partial_block', block: e.meta.id, stored, rows: e.meta.rows, msg: `clickhouse: block ${e.meta.id} is stored with ${stored} of its ${e.meta.rows} rows; not sent again` });
    if (stored === 0) {
      const body = e.body ?? this.spool.body(e.spooled!);
      const r = await this.#client.exec({
        query: insertSql(this.tables, e.meta.format),
        values: Readable.from([body], { objectMode: false }),
        query_id: qid,
        clickhouse_settings: this.tables.cluster ? { insert_distributed_sync: 1 } : {},
      });
      r.stream.resume();
    }
    const sent = stored === 0 ? e.meta.rows : 0;
    const present = e.meta.rows - sent;
    this.#stats.sent += sent;
    this.#stats.present += present;
    this.#stats.blocks++;
    this.#stats.delivered.rows += e.meta.rows;
    this.#stats.delivered.bytes += e.meta.bytes;
    this.#stats.delivered.packets += e.meta.packets;
    this.#metrics.chRows.inc({ result: 'sent' }, sent);
    if (present) this.#metrics.chRows.inc({ result: 'present' }, present);
    this.#metrics.chBlocks.inc({ result: sent ? 'sent' : 'present' });
  }

  /** Waits while a query with this id runs on the server (its rows are not all visible before it ends). */
  async #settle(qid: string): Promise<void> {
    for (let i = 0; ; i++) {
      const running = Number(await this.#value(runningSql(qid)));
      if (!running) return;
      if (i === 0) this.#log({ level: 'info', event: 'clickhouse_settle', query: qid, msg: `clickhouse: an earlier insert of this block still runs on the server; waiting for it` });
      await sleep(250, this.#stop.signal);
      if (this.#stop.signal.aborted) throw new FlowmasterError('ERR_CLICKHOUSE', 'stopped');
    }
  }

  async #value(query: string): Promise<string> {
    const r = await this.#client.query({ query, format: 'TabSeparated' });
    return (await r.text()).trim();
  }
}

/**
 * The writer lease: the one row of `writer_lease` names the process that
 * writes flows and device counters (an ingest or capture, removing a
 * source). A writer keeps device counters in memory between syncs and writes
 * them whole, so a second writer would overwrite the first one's; it waits
 * for the lease or is refused with ERR_DB_LOCKED naming the holder. The
 * lease is taken and checked inside IMMEDIATE transactions, its holder
 * writes a heartbeat every `heartbeatMs` and deletes the row when done. A
 * lease is stale, and taken over, when its holder's pid has gone (on this
 * host) or its heartbeat is older than `staleMs` (a hung holder, or one on
 * another host sharing the file). Retention, queries and appendFlows() do
 * not take it.
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import type { Database as DB, Statement } from 'better-sqlite3';
import { FlowmasterError } from '../errors';

/** Who holds a lease. */
export interface WriterInfo {
  pid: number;
  host: string;
  /** what it runs */
  command: string;
  startedMs: number;
  heartbeatMs: number;
}

export interface LeaseOptions {
  /** a heartbeat older than this makes the lease stale, ms */
  staleMs: number;
  /** how often the holder writes its heartbeat, ms */
  heartbeatMs: number;
  /** what this process runs, as the lease shows it */
  command: string;
}

interface Row {
  token: string;
  pid: number;
  host: string;
  command: string;
  started_ms: number;
  heartbeat_ms: number;
}

/** This process's leases, by token: whether the store still holds it (a row with our pid is judged here, not by its pid). */
const ours = new Map<string, () => boolean>();

export class WriterLease {
  readonly token = randomUUID();
  readonly #db: DB;
  readonly #path: string;
  readonly #options: LeaseOptions;
  readonly #read: Statement;
  readonly #beat: Statement;
  #held = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastBeat = 0;
  /** the heartbeat found the row taken by another writer */
  #lost = false;

  constructor(db: DB, path: string, options: LeaseOptions) {
    this.#db = db;
    this.#path = path;
    this.#options = options;
    this.#read = db.prepare('SELECT token, pid, host, command, started_ms, heartbeat_ms FROM writer_lease WHERE id = 1');
    this.#beat = db.prepare('UPDATE writer_lease SET heartbeat_ms = ? WHERE id = 1 AND token = ?');
  }

  /** Whether this store holds the lease. */
  get held(): boolean {
    return this.#held > 0;
  }

  /** The live holder other than this store, if any. */
  holder(): WriterInfo | undefined {
    const row = this.#read.get() as Row | undefined;
    return row && row.token !== this.token && this.#live(row) ? info(row) : undefined;
  }

  /**
   * Inside an IMMEDIATE transaction: takes the lease unless another live
   * writer holds it. Returns that holder (not taken), or `from`, the stale
   * holder taken over.
   */
  take(): { holder?: WriterInfo; from?: WriterInfo } {
    const row = this.#read.get() as Row | undefined;
    const now = Date.now();
    if (row?.token === this.token) {
      this.#beat.run(now, this.token);
      return {};
    }
    if (row && this.#live(row)) return { holder: info(row) };
    this.#db
      .prepare('INSERT OR REPLACE INTO writer_lease (id, token, pid, host, command, started_ms, heartbeat_ms) VALUES (1, ?, ?, ?, ?, ?, ?)')
      .run(this.token, process.pid, os.hostname(), this.#options.command, now, now);
    return { from: row && info(row) };
  }

  /** After take(): one more user of the lease (an ingest); the heartbeat runs while there is any. */
  hold(): void {
    if (this.#held++ > 0) return;
    this.#lost = false;
    this.#lastBeat = Date.now();
    ours.set(this.token, () => this.#held > 0 && this.#db.open);
    this.#timer = setInterval(() => this.#heartbeat(), this.#options.heartbeatMs);
    this.#timer.unref();
  }

  /** One user less; the last one deletes the row (if that fails, the row goes stale once this process has gone). */
  release(): void {
    if (this.#held === 0 || --this.#held > 0) return;
    clearInterval(this.#timer);
    ours.delete(this.token);
    try {
      if (this.#db.open) this.#db.prepare('DELETE FROM writer_lease WHERE id = 1 AND token = ?').run(this.token);
    } catch {
      // a full disk or a lock: another writer takes it over, as stale
    }
  }

  /** Inside a write transaction, after another connection wrote: ERR_DB_LOCKED if a writer took the lease over. */
  verify(): void {
    if (!this.held) return;
    const row = this.#read.get() as Row | undefined;
    if (!this.#lost && row?.token === this.token) return;
    this.#lost = true;
    const by = row && row.token !== this.token ? ` by ${describe(info(row))}` : '';
    throw new FlowmasterError('ERR_DB_LOCKED', `${this.#path}: this writer's lease was taken over${by} (its heartbeat had stopped); it stops writing`, { path: this.#path });
  }

  /** Inside a write transaction: the heartbeat, when one is due. */
  beat(): void {
    if (this.held && Date.now() - this.#lastBeat >= this.#options.heartbeatMs) this.#write();
  }

  #write(): void {
    this.#lastBeat = Date.now();
    if (this.#beat.run(this.#lastBeat, this.token).changes === 0) this.#lost = true;
  }

  /** The timer's heartbeat, between transactions: skipped (not waited for) while another connection writes. */
  #heartbeat(): void {
    const db = this.#db;
    if (!db.open || db.inTransaction) return;
    const busy = db.pragma('busy_timeout', { simple: true }) as number;
    try {
      db.pragma('busy_timeout = 0');
      this.#write();
    } catch {
      // busy or full: the next beat, or the next batch's, writes it
    } finally {
      db.pragma(`busy_timeout = ${busy}`);
    }
  }

  #live(row: Row): boolean {
    if (row.host === os.hostname()) {
      if (row.pid === process.pid) return ours.get(row.token)?.() ?? false;
      if (!pidAlive(row.pid)) return false;
    }
    return Date.now() - row.heartbeat_ms <= this.#options.staleMs;
  }

  /** ERR_DB_LOCKED for a live holder. */
  lockedError(holder: WriterInfo, waitedMs: number): FlowmasterError {
    const waited = waitedMs > 0 ? `; waited ${(waitedMs / 1000).toFixed(1)} s` : '';
    return new FlowmasterError(
      'ERR_DB_LOCKED',
      `${this.#path} is being written by ${describe(holder)}${waited}: one writer at a time (let it finish, stop it, or wait for it with waitForWriterMs)`,
      { path: this.#path },
    );
  }
}

function info(row: Row): WriterInfo {
  return { pid: row.pid, host: row.host, command: row.command, startedMs: row.started_ms, heartbeatMs: row.heartbeat_ms };
}

/** "pid 123 on host h (flowmaster ingest a.pcap, since 2026-…Z, heartbeat 2 s ago)" */
export function describe(w: WriterInfo): string {
  const ago = Math.max(0, Math.round((Date.now() - w.heartbeatMs) / 1000));
  return `pid ${w.pid} on host ${w.host} (${w.command}, since ${new Date(w.startedMs).toISOString()}, heartbeat ${ago} s ago)`;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false; // kill(0) would signal our own process group
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** What this process runs, for the lease: "flowmaster ingest --db x.db a.pcap", "server.js --port 80". */
export function processCommand(): string {
  const [, script, ...args] = process.argv;
  const name = !script ? 'node' : /[\\/]cli[\\/]main\.js$/.test(script) ? 'flowmaster' : script.split(/[\\/]/).pop()!;
  return [name, ...args].join(' ').slice(0, 200);
}

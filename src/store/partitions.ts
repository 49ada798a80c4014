/**
 * Flow partitions, in arrival order, behind the `flows` view (UNION ALL of
 * every partition table, listed in `partitions`).
 *
 * Rows land in the one *hot* partition, a table with no secondary index:
 * appending to it costs what a bare insert costs, however large the store.
 * When it holds `seal_rows` flows (or has been hot for a partition span of
 * wall time) the writer seals it: it leaves the hot state in one
 * transaction, the next rows go to a new hot table, and its indexes are
 * built one CREATE INDEX at a time (each a short transaction of its own,
 * between commits: sealStep()), which sorts once instead of inserting at
 * random into ten B-trees per row. The view does not change while a
 * partition is indexed, so queries see the same rows before, during and
 * after; a crash mid-seal leaves a 'sealing' partition that the next writer
 * finishes. A scan of the hot partition is bounded by seal_rows.
 *
 * Each partition records the range of its flows' last_ns, so retention
 * drops a partition whose flows have all aged out as one statement. Ids
 * come from meta next_flow_id: unique across partitions, never reused.
 */
import type { Database, Statement } from 'better-sqlite3';
import { APP_COLUMNS } from '../export/app-columns';
import { DETAIL_COLUMNS } from './details';
import { createFlowsView, PARTITION_INDEXES, partitionIndexSql } from './schema';

export type PartitionState = 'hot' | 'sealing' | 'sealed';

export interface Partition {
  name: string;
  /** flows whose last_ns lies in [loNs, hiNs] (empty: loNs > hiNs) */
  loNs: bigint;
  hiNs: bigint;
  state: PartitionState;
  /** flows written to it (a hot partition's count: retention's deletes are not subtracted) */
  rows: number;
  /** when it was created, ms (null: before migration 7) */
  createdMs: number | null;
}

/** The flow columns a writer binds, in order (id comes first, from the id counter). */
export const FLOW_INSERT_COLUMNS = [
  'source_id', 'flow_id', 'segment', 'first_ns', 'last_ns', 'end_reason', 'ip_version', 'protocol', 'ether_type', 'vlan',
  'src_addr', 'dst_addr', 'src_port', 'dst_port', 'src_device', 'dst_device', 'src_mac', 'dst_mac', 'fwd_packets', 'fwd_bytes',
  'rev_packets', 'rev_bytes', 'fwd_tcp_flags', 'rev_tcp_flags', 'icmp_type', 'icmp_code', 'flags', 'service', 'server_is_dst',
  'bytes', 'packets', ...APP_COLUMNS, ...DETAIL_COLUMNS,
] as const;

/** values per row: id, then FLOW_INSERT_COLUMNS */
export const ROW_WIDTH = FLOW_INSERT_COLUMNS.length + 1;
/** rows per multi-row INSERT: binding them in one statement halves the per-row cost */
const ROWS_PER_INSERT = 32;
const LAST_NS = FLOW_INSERT_COLUMNS.indexOf('last_ns') + 1;

const INT64_MAX = (1n << 63n) - 1n;
const DAY_NS = 86_400_000_000_000n;
/** SQLite's limit on the arms of one compound SELECT is 500: the seal size grows so that partitions stay fewer */
const MAX_PARTITIONS = 400;

/**
 * The rows of one write transaction: add() takes a row's values (id first,
 * as ROW_WIDTH values in a reused array) and writes them in groups of 32.
 */
export class RowSink {
  readonly #values: unknown[] = new Array(ROWS_PER_INSERT * ROW_WIDTH);
  readonly #open: () => { many: Statement; one: Statement };
  #many: Statement | undefined;
  #one: Statement | undefined;
  #n = 0;
  #lo = INT64_MAX;
  #hi = -1n;
  rows = 0;

  /** open() gives the statements of the partition the rows go to, when the first row comes */
  constructor(open: () => { many: Statement; one: Statement }) {
    this.#open = open;
  }

  /** Copies the row out of `row` (which the caller may reuse). */
  add(row: readonly unknown[]): void {
    if (!this.#many) ({ many: this.#many, one: this.#one } = this.#open());
    const v = this.#values;
    const at = this.#n * ROW_WIDTH;
    for (let i = 0; i < ROW_WIDTH; i++) v[at + i] = row[i];
    const t = row[LAST_NS] as bigint;
    if (t < this.#lo) this.#lo = t;
    if (t > this.#hi) this.#hi = t;
    this.rows++;
    if (++this.#n === ROWS_PER_INSERT) {
      this.#many.run(v);
      this.#n = 0;
    }
  }

  /** Writes the rows still buffered (again: nothing more); returns the last_ns range of every row added. */
  finish(): { lo: bigint; hi: bigint } {
    const v = this.#values;
    for (let r = 0; r < this.#n; r++) this.#one!.run(v.slice(r * ROW_WIDTH, (r + 1) * ROW_WIDTH));
    this.#n = 0;
    return { lo: this.#lo, hi: this.#hi };
  }
}

export class Partitions {
  readonly #db: Database;
  #list: Partition[] = [];
  #schemaVersion = -1;
  #spanNs = DAY_NS;
  #sealRows = 262_144;
  #statements: { table: string; many: Statement; one: Statement } | undefined;
  #getId: Statement | undefined;
  #setId: Statement | undefined;

  constructor(db: Database) {
    this.#db = db;
    this.#load();
  }

  /** Wall time a partition stays hot at most (ns); retention keeps a flow at most this much past its age. */
  get spanNs(): bigint {
    return this.#spanNs;
  }

  /** Sets the span (stored in the database). */
  setSpan(ns: bigint): void {
    this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'partition_span_ns'").run(ns);
    this.#spanNs = ns;
  }

  /** Flows a hot partition takes before it is sealed (at least; more once partitions are many). */
  get sealRows(): number {
    return this.#sealRows;
  }

  setSealRows(n: number): void {
    this.#db.prepare("INSERT INTO meta (key, value) VALUES ('seal_rows', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(n);
    this.#sealRows = n;
  }

  /** Every partition, oldest first. */
  list(): readonly Partition[] {
    this.#refresh();
    return this.#list;
  }

  /** The partition rows go to, if there is one. */
  hot(): Partition | undefined {
    return this.list().find((p) => p.state === 'hot');
  }

  /**
   * Runs fn(sink, nextId) in one IMMEDIATE transaction (so the id counter and
   * the partition list cannot change under it): the sink's rows go to the
   * hot partition (created on first use), whose last_ns range follows them.
   */
  write<T>(fn: (sink: RowSink, nextId: () => number) => T): T {
    this.#getId ??= this.#db.prepare("SELECT value FROM meta WHERE key = 'next_flow_id'").pluck();
    this.#setId ??= this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'next_flow_id'");
    const getId = this.#getId;
    const setId = this.#setId;
    return this.#db
      .transaction(() => {
        this.#refresh();
        let id = Number(getId.get());
        const first = id;
        let hot: Partition | undefined;
        const sink = new RowSink(() => {
          hot = this.hot() ?? this.#create(id);
          return this.#insertsFor(hot.name);
        });
        const out = fn(sink, () => id++);
        if (hot) {
          const { lo, hi } = sink.finish();
          this.#grow(hot, sink.rows, lo, hi);
        }
        if (id !== first) setId.run(id);
        return out;
      })
      .immediate();
  }

  #insertsFor(table: string): { many: Statement; one: Statement } {
    if (this.#statements?.table !== table) {
      const columns = `(id, ${FLOW_INSERT_COLUMNS.join(', ')})`;
      const row = `(?${', ?'.repeat(FLOW_INSERT_COLUMNS.length)})`;
      this.#statements = {
        table,
        many: this.#db.prepare(`INSERT INTO ${table} ${columns} VALUES ${new Array(ROWS_PER_INSERT).fill(row).join(', ')}`),
        one: this.#db.prepare(`INSERT INTO ${table} ${columns} VALUES ${row}`),
      };
    }
    return this.#statements;
  }

  /** The hot partition took `rows` more flows, whose last_ns lie in [lo, hi]. */
  #grow(p: Partition, rows: number, lo: bigint, hi: bigint): void {
    if (!rows) return;
    lo = clamp(lo);
    hi = clamp(hi);
    if (lo < p.loNs) p.loNs = lo;
    if (hi > p.hiNs) p.hiNs = hi;
    p.rows += rows;
    this.#db.prepare('UPDATE partitions SET lo_ns = ?, hi_ns = ?, rows = ? WHERE name = ?').run(p.loNs, p.hiNs, p.rows, p.name);
  }

  /** A new hot partition (named by the id counter at its creation): a table with no secondary index. */
  #create(firstId: number): Partition {
    const name = `flows_p${firstId}`;
    // no REFERENCES clauses: deleting a device would scan the unindexed hot table for children;
    // retention checks the references itself (retention.ts)
    const template = (this.#db.prepare("SELECT sql FROM sqlite_master WHERE name = 'flow_template'").pluck().get() as string)
      .replace(/^CREATE TABLE "?flow_template"?/, `CREATE TABLE ${name}`)
      .replace(/\s+REFERENCES\s+\w+\s*\(\s*\w+\s*\)/g, '');
    this.#db.exec(template);
    const createdMs = Date.now();
    this.#db.prepare("INSERT INTO partitions (name, lo_ns, hi_ns, state, rows, created_ms) VALUES (?, ?, -1, 'hot', 0, ?)").run(name, INT64_MAX, createdMs);
    const p: Partition = { name, loNs: INT64_MAX, hiNs: -1n, state: 'hot', rows: 0, createdMs };
    this.#list.push(p);
    this.#rebuildView();
    return p;
  }

  /**
   * Whether the hot partition is due to be sealed: it holds the seal size
   * (more once partitions are many), or has been hot for a span of wall time.
   * An ingest that ends (`atRest`) seals it from an eighth of the seal size
   * on, so that pages of a store at rest scan few rows.
   */
  sealDue(atRest = false): boolean {
    const hot = this.hot();
    if (!hot?.rows) return false;
    let stored = 0;
    for (const p of this.#list) if (p !== hot) stored += p.rows;
    const size = Math.max(this.#sealRows, Math.ceil(stored / MAX_PARTITIONS));
    return hot.rows >= (atRest ? size / 8 : size) || (hot.createdMs !== null && BigInt(Date.now() - hot.createdMs) * 1_000_000n >= this.#spanNs);
  }

  /** Takes the hot partition out of the hot state (its rows counted): the next rows go to a new one. */
  seal(): void {
    const hot = this.hot();
    if (!hot) return;
    this.#db.prepare("UPDATE partitions SET state = 'sealing' WHERE name = ? AND state = 'hot'").run(hot.name);
    hot.state = 'sealing';
  }

  /**
   * One step of sealing: the next missing index of the oldest partition
   * being sealed, or its state 'sealed' once it has them all. Call inside
   * an IMMEDIATE transaction. Returns false when there was nothing to do.
   */
  sealStep(): boolean {
    const p = this.list().find((q) => q.state === 'sealing');
    if (!p) return false;
    const have = new Set(this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?").pluck().all(p.name) as string[]);
    const next = PARTITION_INDEXES.find(([suffix]) => !have.has(`${p.name}_${suffix}`));
    if (next) this.#db.exec(partitionIndexSql(p.name, next));
    else {
      this.#db.prepare("UPDATE partitions SET state = 'sealed' WHERE name = ?").run(p.name);
      p.state = 'sealed';
    }
    return true;
  }

  /** Partitions still waiting for indexes. */
  sealing(): number {
    return this.list().filter((p) => p.state === 'sealing').length;
  }

  /** Drops the partitions registered with an empty range (a hot one emptied by retention, flows_0 of a database created empty). */
  dropEmpty(): void {
    // the tables are looked at only inside the write transaction: another process opening the same new database
    // may drop them between two statements outside it ("no such table: flows_0")
    if (!this.list().some((p) => p.loNs > p.hiNs)) return;
    this.#db
      .transaction(() => {
        for (const p of this.list()) if (p.loNs > p.hiNs && !this.#db.prepare(`SELECT 1 FROM ${p.name} LIMIT 1`).get()) this.drop(p);
      })
      .immediate();
  }

  /**
   * Drops a partition (its rows, its indexes) and rebuilds the view; returns
   * the flows it held, or -1 when another connection dropped it already.
   * Call inside a transaction (the count then covers rows written meanwhile).
   */
  drop(p: Partition): number {
    if (!this.list().some((q) => q.name === p.name)) return -1;
    const rows = this.#db.prepare(`SELECT count(*) FROM ${p.name}`).pluck().get() as number;
    this.#db.exec(`DROP TABLE ${p.name}`);
    this.#db.prepare('DELETE FROM partitions WHERE name = ?').run(p.name);
    this.#list = this.#list.filter((q) => q.name !== p.name);
    if (this.#statements?.table === p.name) this.#statements = undefined;
    this.#rebuildView();
    return rows;
  }

  #rebuildView(): void {
    createFlowsView(this.#db, this.#list.map((p) => p.name));
    this.#schemaVersion = this.#db.pragma('schema_version', { simple: true }) as number;
  }

  /** Reads the list and the settings again (another connection wrote: it may have changed them). */
  reload(): void {
    this.#load();
  }

  /** Reloads the list when another connection changed the schema (created or dropped a partition, built an index). */
  #refresh(): void {
    if ((this.#db.pragma('schema_version', { simple: true }) as number) !== this.#schemaVersion) this.#load();
  }

  #load(): void {
    this.#schemaVersion = this.#db.pragma('schema_version', { simple: true }) as number;
    const rows = this.#db
      .prepare('SELECT name, lo_ns, hi_ns, state, rows, created_ms FROM partitions ORDER BY rowid')
      .safeIntegers(true)
      .all() as { name: string; lo_ns: bigint; hi_ns: bigint; state: PartitionState; rows: bigint | null; created_ms: bigint | null }[];
    this.#list = rows.map((r) => ({
      name: r.name, loNs: r.lo_ns, hiNs: r.hi_ns, state: r.state, rows: Number(r.rows ?? 0), createdMs: r.created_ms === null ? null : Number(r.created_ms),
    }));
    if (this.#statements && !this.#list.some((p) => p.name === this.#statements!.table)) this.#statements = undefined;
    const setting = (key: string) => this.#db.prepare('SELECT value FROM meta WHERE key = ?').safeIntegers(true).pluck().get(key) as bigint | undefined;
    const span = setting('partition_span_ns');
    if (span) this.#spanNs = span;
    const seal = setting('seal_rows');
    if (seal) this.#sealRows = Number(seal);
  }
}

function clamp(t: bigint): bigint {
  return t > INT64_MAX ? INT64_MAX : t < 0n ? 0n : t;
}

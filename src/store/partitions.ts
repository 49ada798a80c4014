/**
 * Time partitions of the flows: one table per span of end time (last_ns,
 * default one day), listed in `partitions`, read through the `flows` view
 * (UNION ALL of every partition). SQLite flattens the view, so a filtered,
 * sorted page is a merge of one index range per partition; bytes and packets
 * are stored columns so that a (bytes, id) cursor seeks in their indexes.
 * Retention drops a partition whose flows have all aged out as one
 * statement, whatever its size, instead of deleting rows through ten
 * indexes. Writers: Store.ingest() and Store.appendFlows(), inside one
 * IMMEDIATE transaction per batch (write()).
 */
import type { Database, Statement } from 'better-sqlite3';
import { PARTITION_INDEXES } from './schema';

export interface Partition {
  name: string;
  /** flows whose last_ns lies in [loNs, hiNs] */
  loNs: bigint;
  hiNs: bigint;
}

/** The flow columns a writer binds, in order (id comes first, from the id counter). */
export const FLOW_INSERT_COLUMNS = [
  'source_id', 'flow_id', 'segment', 'first_ns', 'last_ns', 'end_reason', 'ip_version', 'protocol', 'ether_type', 'vlan',
  'src_addr', 'dst_addr', 'src_port', 'dst_port', 'src_device', 'dst_device', 'src_mac', 'dst_mac', 'fwd_packets', 'fwd_bytes',
  'rev_packets', 'rev_bytes', 'fwd_tcp_flags', 'rev_tcp_flags', 'icmp_type', 'icmp_code', 'flags', 'service', 'server_is_dst',
  'bytes', 'packets',
] as const;

/** flows_0 holds the flows of before migration 4, without stored bytes and packets: the view computes them. */
const LEGACY = 'flows_0';

const INT64_MAX = (1n << 63n) - 1n;
const DAY_NS = 86_400_000_000_000n;

export class Partitions {
  readonly #db: Database;
  #list: Partition[] = [];
  #schemaVersion = -1;
  #last: Partition | undefined;
  readonly #inserts = new Map<string, Statement>();
  #spanNs = DAY_NS;
  #getId: Statement | undefined;
  #setId: Statement | undefined;

  constructor(db: Database) {
    this.#db = db;
    this.#load();
  }

  /** Partition span (ns) for new partitions. */
  get spanNs(): bigint {
    return this.#spanNs;
  }

  /** Sets the span of partitions created from now on (stored in the database). */
  setSpan(ns: bigint): void {
    this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'partition_span_ns'").run(ns);
    this.#spanNs = ns;
  }

  /** Every partition, oldest first. */
  list(): readonly Partition[] {
    this.#refresh();
    return this.#list;
  }

  /**
   * Runs fn(writer) in one IMMEDIATE transaction (so the id counter and the
   * partition list cannot change under it): writer(lastNs) gives the insert
   * statement of the partition for that end time (created on first use) and
   * nextId() the flow ids.
   */
  write<T>(fn: (insertFor: (lastNs: bigint) => Statement, nextId: () => number) => T): T {
    this.#getId ??= this.#db.prepare("SELECT value FROM meta WHERE key = 'next_flow_id'").pluck();
    this.#setId ??= this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'next_flow_id'");
    const getId = this.#getId;
    const setId = this.#setId;
    return this.#db
      .transaction(() => {
        this.#refresh();
        let id = Number(getId.get());
        const first = id;
        const out = fn((t) => this.#insertFor(t), () => id++);
        if (id !== first) setId.run(id);
        return out;
      })
      .immediate();
  }

  /** Drops the partitions registered with an empty range (flows_0 of a database created empty). */
  dropEmpty(): void {
    const empty = () => this.list().filter((p) => p.loNs > p.hiNs);
    if (empty().length) this.#db.transaction(() => empty().forEach((p) => this.drop(p))).immediate();
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
    if (this.#last?.name === p.name) this.#last = undefined;
    this.#rebuildView();
    this.#inserts.delete(p.name);
    return rows;
  }

  #insertFor(lastNs: bigint): Statement {
    const t = lastNs > INT64_MAX ? INT64_MAX : lastNs < 0n ? 0n : lastNs;
    let p = this.#last;
    if (!p || t < p.loNs || t > p.hiNs) {
      p = this.#find(t) ?? this.#create(t);
      this.#last = p;
    }
    let s = this.#inserts.get(p.name);
    if (!s) {
      s = this.#db.prepare(
        `INSERT INTO ${p.name} (id, ${FLOW_INSERT_COLUMNS.join(', ')}) VALUES (?${', ?'.repeat(FLOW_INSERT_COLUMNS.length)})`,
      );
      this.#inserts.set(p.name, s);
    }
    return s;
  }

  #find(t: bigint): Partition | undefined {
    const l = this.#list;
    let lo = 0;
    let hi = l.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (t < l[mid].loNs) hi = mid - 1;
      else if (t > l[mid].hiNs) lo = mid + 1;
      else return l[mid];
    }
    return undefined;
  }

  /** A new partition for end time t: its span-aligned range, cut where a neighbour already covers. */
  #create(t: bigint): Partition {
    const span = this.#spanNs;
    let loNs = (t / span) * span;
    let hiNs = loNs + span - 1n > INT64_MAX ? INT64_MAX : loNs + span - 1n;
    for (const q of this.#list) {
      if (q.hiNs < t && q.hiNs >= loNs) loNs = q.hiNs + 1n;
      if (q.loNs > t && q.loNs <= hiNs) hiNs = q.loNs - 1n;
    }
    const name = `flows_t${loNs}`;
    const template = (this.#db.prepare("SELECT sql FROM sqlite_master WHERE name = 'flow_template'").pluck().get() as string).replace(
      /^CREATE TABLE "?flow_template"?/,
      `CREATE TABLE ${name}`,
    );
    this.#db.exec(template);
    for (const [suffix, columns] of PARTITION_INDEXES) this.#db.exec(`CREATE INDEX ${name}_${suffix} ON ${name} (${columns})`);
    this.#db.prepare('INSERT INTO partitions (name, lo_ns, hi_ns) VALUES (?, ?, ?)').run(name, loNs, hiNs);
    const p = { name, loNs, hiNs };
    this.#list.push(p);
    this.#list.sort((a, b) => (a.loNs < b.loNs ? -1 : a.loNs > b.loNs ? 1 : 0));
    this.#rebuildView();
    return p;
  }

  #rebuildView(): void {
    const arms = ['flow_template', ...this.#list.map((p) => p.name)].map(
      (n) => `SELECT *${n === LEGACY ? ', fwd_bytes + rev_bytes, fwd_packets + rev_packets' : ''} FROM ${n}`,
    );
    this.#db.exec(`DROP VIEW flows; CREATE VIEW flows AS ${arms.join(' UNION ALL ')}`);
    this.#schemaVersion = this.#db.pragma('schema_version', { simple: true }) as number;
  }

  /** Reads the list and the span again (another connection wrote: it may have set the span). */
  reload(): void {
    this.#load();
  }

  /** Reloads the list when another connection changed the schema (created or dropped a partition). */
  #refresh(): void {
    if ((this.#db.pragma('schema_version', { simple: true }) as number) !== this.#schemaVersion) this.#load();
  }

  #load(): void {
    this.#schemaVersion = this.#db.pragma('schema_version', { simple: true }) as number;
    const rows = this.#db.prepare('SELECT name, lo_ns, hi_ns FROM partitions ORDER BY lo_ns').safeIntegers(true).all() as {
      name: string;
      lo_ns: bigint;
      hi_ns: bigint;
    }[];
    this.#list = rows.map((r) => ({ name: r.name, loNs: r.lo_ns, hiNs: r.hi_ns }));
    this.#last = undefined;
    for (const name of this.#inserts.keys()) if (!this.#list.some((p) => p.name === name)) this.#inserts.delete(name);
    const span = this.#db.prepare("SELECT value FROM meta WHERE key = 'partition_span_ns'").safeIntegers(true).pluck().get() as bigint | undefined;
    if (span) this.#spanNs = span;
  }
}

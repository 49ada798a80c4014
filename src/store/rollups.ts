/**
 * Roll-ups: traffic over time, talkers, conversations and services per
 * minute and per hour, maintained at ingest so that the aggregates users ask
 * for all the time read a few thousand pre-summed rows instead of the flows.
 *
 * Tables (ROLLUP_SCHEMA), all WITHOUT ROWID and keyed bucket first so that an
 * ingest writes near the right edge of each b-tree:
 *   rollup_traffic       (res, t)             bytes, packets, flows
 *   rollup_talkers       (res, t, device)     a flow counts for each distinct device of its two ends
 *   rollup_conversations (res, t, a, b)       a = min(src_device, dst_device), b = max
 *   rollup_services      (res, t, service)    serviceKey(): the service name, or proto/server port
 *   rollup_applications  (res, t, application) flows whose payload named one (docs/applications.md)
 *   rollup_sni           (res, t, sni)        flows whose TLS / QUIC ClientHello named a server
 *   rollup_retained      (res) before_ms      buckets before before_ms have been deleted (retainRollups())
 * res is 60000 (minute rows) or 3600000 (hour rows); t is the bucket start,
 * ms since the epoch. res 0 (ALL, t 0) rows are the sums of a key's hour
 * rows: everything stored, so a ranking over the whole store reads one row
 * per key, and by bytes only its first rows through a partial index
 * (migration 11), instead of summing millions of hour rows per request.
 * Precisely, they sum the hours from rollup_retained's res 0 mark on (the
 * hour cutoff of the last retention pass that completed): a flow older than
 * that, ingested late, is in its hour rows (until retention deletes them
 * again) but not in the ALL rows, so that a removal never lowers an ALL row
 * by a share whose hour row retention had deleted.
 *
 * Apportioning. A flow's bytes and packets are spread over the minutes its
 * [first_ns, last_ns] spans in proportion to the overlap, as exact integers
 * (apportion()): bucket i gets floor(V*c_i/D) - floor(V*c_(i-1)/D), c_i the
 * ns of [first, last] up to the end of bucket i and D = last - first. The
 * parts telescope: they sum to V, and an hour's value is exactly the sum of
 * its minutes' (hour rows are the sums of minute rows). A flow of zero
 * duration (or last < first) is booked wholly into its start bucket; so is a
 * flow spanning more than MAX_SPREAD_MINUTES (10,080: a week) minute buckets,
 * at both resolutions: the engine cuts long flows into segments (active
 * timeout), so such a span means damaged timestamps, and spreading it would
 * write a row per minute of it. The `flows` measure counts a flow once, in
 * its start bucket.
 *
 * Ranges. A range [from, to] (ms) selects the buckets whose start lies in
 * [floor(from to the minute), to]. The whole hours inside it are read from
 * hour rows, the partial hours at its edges from minute rows; where minute
 * rows have been deleted by retention (rollup_retained), the hour rows whose
 * start lies in the range stand in for them. So a range is exact to the
 * minute as long as its minute rows are kept. An edge hour of which the
 * range holds more than 30 minutes is read as its hour row minus its minutes
 * outside the range (the same sums), so a 24-hour range reads at most 24
 * hour rows and 60 minute rows per key. timeline() buckets are
 * aligned to multiples of bucketMs since the epoch (a multiple of a minute);
 * when bucketMs is a multiple of an hour, whole hours come from hour rows.
 *
 * Writers: RollupAccumulator.add() per flow, flush() inside a write
 * transaction (sign -1 for removed flows: their rows' counters go down, and
 * rows that reach 0 are deleted; rows already deleted by retention are left
 * alone). A flush costs a row per key and bucket it touched (minute and
 * hour), so flushing less often than every commit is cheaper on dense
 * traffic; a writer that does so keeps the first flow id not yet flushed
 * beside the flows and, after a crash, replayRollups() from it.
 * rebuildRollups() recomputes everything from the flows; retainRollups() ages
 * buckets out (minute rows by whole hours; the hour rows it deletes leave the
 * ALL rows too).
 */
import type { Database, Statement } from 'better-sqlite3';
import { FlowmasterError } from '../errors';

export const MINUTE_MS = 60_000;
/** The res of the rows that sum a key over everything stored (t 0). */
export const ALL = 0;
export const HOUR_MS = 3_600_000;
export const MINUTE_NS = 60_000_000_000n;
export const HOUR_NS = 3_600_000_000_000n;
/** A flow spanning more minute buckets than this is booked wholly into its start bucket (damaged timestamps). */
export const MAX_SPREAD_MINUTES = 10_080;

export const ROLLUP_SCHEMA = `
  CREATE TABLE rollup_traffic (
    res           INTEGER NOT NULL,         -- 60000 (minute) or 3600000 (hour)
    t             INTEGER NOT NULL,         -- bucket start, ms since the epoch
    bytes         INTEGER NOT NULL,         -- apportioned over the buckets a flow spans
    packets       INTEGER NOT NULL,
    flows         INTEGER NOT NULL,         -- flows that started in the bucket
    PRIMARY KEY (res, t)
  ) WITHOUT ROWID;
  CREATE TABLE rollup_talkers (
    res           INTEGER NOT NULL,
    t             INTEGER NOT NULL,
    device        INTEGER NOT NULL,         -- devices.id of either end (once when both ends are one device)
    bytes         INTEGER NOT NULL,
    packets       INTEGER NOT NULL,
    flows         INTEGER NOT NULL,
    PRIMARY KEY (res, t, device)
  ) WITHOUT ROWID;
  CREATE TABLE rollup_conversations (
    res           INTEGER NOT NULL,
    t             INTEGER NOT NULL,
    a             INTEGER NOT NULL,         -- min(src_device, dst_device)
    b             INTEGER NOT NULL,         -- max(src_device, dst_device)
    bytes         INTEGER NOT NULL,
    packets       INTEGER NOT NULL,
    flows         INTEGER NOT NULL,
    PRIMARY KEY (res, t, a, b)
  ) WITHOUT ROWID;
  CREATE TABLE rollup_services (
    res           INTEGER NOT NULL,
    t             INTEGER NOT NULL,
    service       TEXT NOT NULL,            -- SERVICE_KEY_SQL: the service name, 'tcp/443', 'eth/2054'
    bytes         INTEGER NOT NULL,
    packets       INTEGER NOT NULL,
    flows         INTEGER NOT NULL,
    PRIMARY KEY (res, t, service)
  ) WITHOUT ROWID;
  -- retainRollups(): the buckets of this resolution that start before before_ms have been deleted
  CREATE TABLE rollup_retained (
    res           INTEGER PRIMARY KEY,
    before_ms     INTEGER NOT NULL
  );
`;

/** The roll-ups of what the payload said (migration 9): flows without an application, or a server name, are in neither. */
export const APP_ROLLUP_SCHEMA = `
  CREATE TABLE rollup_applications (
    res           INTEGER NOT NULL,
    t             INTEGER NOT NULL,
    application   TEXT NOT NULL,            -- flows.application
    bytes         INTEGER NOT NULL,
    packets       INTEGER NOT NULL,
    flows         INTEGER NOT NULL,
    PRIMARY KEY (res, t, application)
  ) WITHOUT ROWID;
  CREATE TABLE rollup_sni (
    res           INTEGER NOT NULL,
    t             INTEGER NOT NULL,
    sni           TEXT NOT NULL,            -- flows.sni, as the client sent it
    bytes         INTEGER NOT NULL,
    packets       INTEGER NOT NULL,
    flows         INTEGER NOT NULL,
    PRIMARY KEY (res, t, sni)
  ) WITHOUT ROWID;
`;

/** The ALL rows of the tables with many keys in rank order by bytes (migration 11): a whole-store ranking reads its first rows. */
export const ALL_INDEX_SCHEMA = `
  CREATE INDEX rollup_talkers_all_bytes ON rollup_talkers (bytes DESC, device) WHERE res = 0;
  CREATE INDEX rollup_conversations_all_bytes ON rollup_conversations (bytes DESC, a, b) WHERE res = 0;
`;

/** The tables with their key columns after (res, t). */
const TABLES = [
  { name: 'rollup_traffic', keys: [] as string[] },
  { name: 'rollup_talkers', keys: ['device'] },
  { name: 'rollup_conversations', keys: ['a', 'b'] },
  { name: 'rollup_services', keys: ['service'] },
  { name: 'rollup_applications', keys: ['application'] },
  { name: 'rollup_sni', keys: ['sni'] },
] as const;
type TableIndex = 0 | 1 | 2 | 3 | 4 | 5;
/** The tables of migration 8; the rest came with migration 9. */
const V8_TABLES = 4;

// ---------------------------------------------------------------------------------------------
// Services

/**
 * The service text of a flow in SQL over the flows columns: its service name,
 * else 'eth/<ether type>' for a layer-2 flow (ip_version 0), else
 * '<tcp|udp|sctp|protocol number>/<server port>'. serviceKey() is the same in JS.
 */
export const SERVICE_KEY_SQL = `coalesce(service, CASE WHEN ip_version = 0 THEN 'eth/' || ether_type
  ELSE CASE protocol WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 132 THEN 'sctp' ELSE protocol END
       || '/' || CASE WHEN server_is_dst THEN dst_port ELSE src_port END END)`;

const serviceTexts = new Map<number, string>();

/**
 * SERVICE_KEY_SQL in JS, from a flow's fields (as stored: `service` null
 * when it has no name). The texts without a name are cached per (protocol,
 * port) or ether type, so that a flow costs no string concatenation.
 */
export function serviceKey(
  service: string | null | undefined, ipVersion: number, etherType: number, protocol: number, serverIsDst: boolean | number, srcPort: number, dstPort: number,
): string {
  if (service !== null && service !== undefined) return service;
  const key = ipVersion === 0 ? -1 - etherType : protocol * 65536 + (serverIsDst ? dstPort : srcPort);
  let text = serviceTexts.get(key);
  if (text === undefined) {
    if (serviceTexts.size >= 65536) serviceTexts.clear(); // a port scan: bounded
    text = ipVersion === 0 ? `eth/${etherType}` : `${protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : protocol === 132 ? 'sctp' : protocol}/${serverIsDst ? dstPort : srcPort}`;
    serviceTexts.set(key, text);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Apportioning

/** floor(a / b) for b > 0 (BigInt division truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a < 0n && q * b !== a ? q - 1n : q;
}

/** Whether [first, last] is booked wholly into its start bucket: zero duration, or too many minute buckets. */
function whole(firstNs: bigint, lastNs: bigint): boolean {
  return lastNs <= firstNs || floorDiv(lastNs, MINUTE_NS) - floorDiv(firstNs, MINUTE_NS) >= BigInt(MAX_SPREAD_MINUTES);
}

/**
 * The parts of `value` for the buckets of `resNs` that [firstNs, lastNs]
 * spans, from the bucket of firstNs on: part i = floor(V*c_i/D) -
 * floor(V*c_(i-1)/D), c_i the overlap (ns) of [first, last] with the buckets
 * up to i, D = last - first; exact (BigInt), summing to `value`. One part
 * (all of it) when the flow has no duration or spans more than
 * MAX_SPREAD_MINUTES minute buckets (whatever `resNs`). A last bucket that
 * [first, last] only touches at its start gets 0.
 */
export function apportion(firstNs: bigint, lastNs: bigint, value: number | bigint, resNs: bigint): { startNs: bigint; values: bigint[] } {
  if (resNs <= 0n) throw new FlowmasterError('ERR_INVALID_OPTION', 'resNs: expected a positive bucket size');
  const v = BigInt(value);
  const i0 = floorDiv(firstNs, resNs);
  if (whole(firstNs, lastNs)) return { startNs: i0 * resNs, values: [v] };
  return { startNs: i0 * resNs, values: spread(firstNs, lastNs, v, resNs, i0) };
}

function spread(firstNs: bigint, lastNs: bigint, v: bigint, resNs: bigint, i0: bigint): bigint[] {
  const d = lastNs - firstNs;
  const i1 = floorDiv(lastNs, resNs);
  const out: bigint[] = [];
  let prev = 0n;
  for (let end = (i0 + 1n) * resNs, i = i0; i <= i1; i++, end += resNs) {
    const acc = (v * ((end < lastNs ? end : lastNs) - firstNs)) / d;
    out.push(acc - prev);
    prev = acc;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accumulating

/** What the accumulator needs of a flow (as stored: times clamped to int64, devices resolved). */
export interface RollupFlow {
  firstNs: bigint;
  lastNs: bigint;
  /** fwd + rev */
  bytes: number;
  packets: number;
  srcDevice: number;
  dstDevice: number;
  /** serviceKey() of the flow */
  service: string;
  /** flows.application and flows.sni (null or '': in neither roll-up) */
  application?: string | null;
  sni?: string | null;
}

/**
 * A flow's RollupFlow columns in SQL over a flows table (in RollupFlow's
 * order: times, bytes, packets, devices, service key, application, sni).
 */
export const ROLLUP_FLOW_SQL = `first_ns, last_ns, fwd_bytes + rev_bytes, fwd_packets + rev_packets, src_device, dst_device, ${SERVICE_KEY_SQL}, application, sni`;

/** A RollupFlow to fill. */
export function rollupFlow(): RollupFlow {
  return { firstNs: 0n, lastNs: 0n, bytes: 0, packets: 0, srcDevice: 0, dstDevice: 0, service: '', application: null, sni: null };
}

/** Fills `f` from a row of ROLLUP_FLOW_SQL (raw, safe integers) whose columns start at `at`. */
export function readRollupFlow(f: RollupFlow, r: unknown[], at = 0): RollupFlow {
  f.firstNs = r[at] as bigint;
  f.lastNs = r[at + 1] as bigint;
  f.bytes = Number(r[at + 2]);
  f.packets = Number(r[at + 3]);
  f.srcDevice = Number(r[at + 4]);
  f.dstDevice = Number(r[at + 5]);
  f.service = String(r[at + 6]);
  f.application = (r[at + 7] as string | null) ?? null;
  f.sni = (r[at + 8] as string | null) ?? null;
  return f;
}

/** One row's counters and its keys: a device (a), a conversation (a, b), or nothing. */
class Entry {
  bytes = 0;
  packets = 0;
  flows = 0;
  constructor(readonly a: number, readonly b: number) {}
}

/**
 * A conversation's key as one small integer (a V8 Smi: no allocation, cheap
 * hashing) while both ids are below PAIR; larger ids go to a map by a, then b.
 */
const PAIR = 32768;

class Bucket {
  readonly traffic = new Entry(0, 0);
  readonly talkers = new Map<number, Entry>();
  readonly pairs = new Map<number, Entry>();
  readonly widePairs = new Map<number, Map<number, Entry>>();
  readonly services = new Map<string, Entry>();
  readonly applications = new Map<string, Entry>();
  readonly snis = new Map<string, Entry>();
  constructor(readonly t: number) {}

  conversation(a: number, b: number): Entry {
    if (b < PAIR && a >= 0) return entry(this.pairs, a * PAIR + b, a, b);
    let m = this.widePairs.get(a);
    if (m === undefined) this.widePairs.set(a, (m = new Map()));
    return entry(m, b, a, b);
  }

  /** Its conversations in key order (a, b). */
  conversations(): Entry[] {
    const xs = [...this.pairs.values()];
    for (const m of this.widePairs.values()) for (const e of m.values()) xs.push(e);
    return xs.sort((x, y) => x.a - y.a || x.b - y.b);
  }
}

function entry<K>(m: Map<K, Entry>, k: K, a: number, b: number): Entry {
  let e = m.get(k);
  if (e === undefined) m.set(k, (e = new Entry(a, b)));
  return e;
}

function addTo(e: Entry, bytes: number, packets: number, flows: number): void {
  e.bytes += bytes;
  e.packets += packets;
  e.flows += flows;
}

/** Statement shapes: rows per multi-row statement, largest first (the largest fills; the rest is the remainder). */
const SHAPES = [128, 32, 8, 2, 1];
const FULL = SHAPES[0];

type Kind = 'upsert' | 'update' | 'deleteZero';
const statementCache = new WeakMap<Database, Map<string, Statement>>();

function tuple(n: number): string {
  return `(${Array(n).fill('?').join(', ')})`;
}

/** The multi-row statement of `rows` rows of a kind, prepared once per database. */
function prepared(db: Database, table: TableIndex, kind: Kind, rows: number): Statement {
  let cache = statementCache.get(db);
  if (!cache) statementCache.set(db, (cache = new Map()));
  const id = `${table} ${kind} ${rows}`;
  let st = cache.get(id);
  if (st) return st;
  const { name, keys } = TABLES[table];
  const pk = ['res', 't', ...keys];
  const values = Array(rows).fill(tuple(pk.length + 3)).join(', ');
  let sql: string;
  if (kind === 'upsert') {
    sql = `INSERT INTO ${name} (${pk.join(', ')}, bytes, packets, flows) VALUES ${values}
      ON CONFLICT (${pk.join(', ')}) DO UPDATE SET bytes = bytes + excluded.bytes, packets = packets + excluded.packets, flows = flows + excluded.flows`;
  } else if (kind === 'update') {
    // only rows that exist: a removal must not recreate rows retention has deleted
    const n = pk.length;
    sql = `UPDATE ${name} AS r SET bytes = r.bytes + CAST(v.column${n + 1} AS INTEGER), packets = r.packets + CAST(v.column${n + 2} AS INTEGER),
      flows = r.flows + CAST(v.column${n + 3} AS INTEGER) FROM (VALUES ${values}) AS v WHERE ${pk.map((k, i) => `r.${k} = v.column${i + 1}`).join(' AND ')}`;
  } else {
    sql = `DELETE FROM ${name} WHERE (${pk.join(', ')}) IN (VALUES ${Array(rows).fill(tuple(pk.length)).join(', ')})
      AND bytes = 0 AND packets = 0 AND flows = 0`;
  }
  st = db.prepare(sql);
  cache.set(id, st);
  return st;
}

/**
 * Rows of one statement kind for one table, bound FULL at a time through the
 * largest shape as they come (or, `deferred`, all at finish()); finish() runs
 * the remainder through the smaller shapes.
 */
class RowBuffer {
  params: unknown[];
  at = 0;
  #rows = 0;
  #changed = 0;
  constructor(readonly db: Database, readonly table: TableIndex, readonly kind: Kind, readonly width: number, readonly deferred = false) {
    this.params = new Array(deferred ? 0 : FULL * width);
  }

  /** Ends the row whose values were just written at params[at...]. */
  end(): void {
    if (++this.#rows === FULL && !this.deferred) {
      this.#changed += prepared(this.db, this.table, this.kind, FULL).run(this.params).changes;
      this.at = 0;
      this.#rows = 0;
    }
  }

  /** Writes what is left; returns the rows changed in all. */
  finish(): number {
    let from = 0;
    for (const shape of SHAPES) {
      while (this.#rows >= shape) {
        const st = prepared(this.db, this.table, this.kind, shape);
        this.#changed += st.run(this.params.slice(from, from + shape * this.width)).changes;
        from += shape * this.width;
        this.#rows -= shape;
      }
    }
    this.at = 0;
    if (this.deferred) this.params = [];
    return this.#changed;
  }
}

/** The rows of one table in a flush: additions upserted; removals updated (existing rows only), then deleted at 0. */
class TableRows {
  readonly upsert: RowBuffer;
  readonly update: RowBuffer;
  readonly zero: RowBuffer;
  constructor(db: Database, table: TableIndex) {
    const keys = TABLES[table].keys.length + 2;
    this.upsert = new RowBuffer(db, table, 'upsert', keys + 3);
    this.update = new RowBuffer(db, table, 'update', keys + 3);
    this.zero = new RowBuffer(db, table, 'deleteZero', keys, true); // after every update of the flush
  }

  /** One row: res, t, up to two keys (k1, k2: written when the table has them), counters. */
  row(res: number, t: number, nk: number, k1: unknown, k2: unknown, e: Entry): void {
    const { bytes, packets, flows } = e;
    let buf: RowBuffer;
    let check = false;
    if (bytes >= 0 && packets >= 0 && flows >= 0) {
      if (bytes === 0 && packets === 0 && flows === 0) return;
      buf = this.upsert;
    } else {
      buf = bytes <= 0 && packets <= 0 && flows <= 0 ? this.update : this.upsert; // mixed: additions and removals in one flush
      check = true;
    }
    const p = buf.params;
    let i = buf.at;
    p[i++] = res;
    p[i++] = t;
    if (nk > 0) p[i++] = k1;
    if (nk > 1) p[i++] = k2;
    p[i++] = bytes;
    p[i++] = packets;
    p[i++] = flows;
    buf.at = i;
    if (check) {
      const z = this.zero;
      const q = z.params;
      let j = z.at;
      q[j++] = res;
      q[j++] = t;
      if (nk > 0) q[j++] = k1;
      if (nk > 1) q[j++] = k2;
      z.at = j;
    }
    buf.end();
    if (check) this.zero.end();
  }

  finish(): number {
    const n = this.upsert.finish() + this.update.finish();
    this.zero.finish(); // after the updates
    return n;
  }
}

/**
 * Roll-up rows accumulated in memory, per minute bucket, for flush() to add
 * into the tables (minute rows, the hour rows as their sums, and the ALL rows
 * as theirs) in one go.
 * add() books a flow's share into its minute buckets; with sign -1 it takes
 * a flow out again (a removed source): flush() then lowers the rows the flow
 * went into and deletes those whose counters all reach 0. Keep additions and
 * removals in separate flushes.
 */
export class RollupAccumulator {
  readonly #minutes = new Map<number, Bucket>();
  // the minute of the last flow, as [lo, hi) ns: flows of a batch mostly share it (no division)
  #lo = 0n;
  #hi = 0n;
  #minute = NaN;
  #bucket: Bucket | undefined;
  #flows = 0;

  /** flows added since the last flush() or clear() */
  get flows(): number {
    return this.#flows;
  }

  #bucketOf(minute: number): Bucket {
    let b = this.#minutes.get(minute);
    if (b === undefined) this.#minutes.set(minute, (b = new Bucket(minute * MINUTE_MS)));
    return b;
  }

  /** Books a flow (sign 1) or takes it out again (sign -1). */
  add(f: RollupFlow, sign: 1 | -1 = 1): void {
    const first = f.firstNs;
    const last = f.lastNs;
    this.#flows++;
    let bk: Bucket;
    if (first >= this.#lo && first < this.#hi) {
      bk = this.#bucket!;
    } else {
      const m0 = floorDiv(first, MINUTE_NS);
      this.#lo = m0 * MINUTE_NS;
      this.#hi = this.#lo + MINUTE_NS;
      this.#minute = Number(m0);
      bk = this.#bucket = this.#bucketOf(this.#minute);
    }
    if (last < this.#hi || whole(first, last)) {
      this.#book(bk, f.bytes * sign, f.packets * sign, sign, f);
      return;
    }
    const bytes = spread(first, last, BigInt(f.bytes), MINUTE_NS, BigInt(this.#minute));
    const packets = spread(first, last, BigInt(f.packets), MINUTE_NS, BigInt(this.#minute));
    const start = this.#minute;
    for (let i = 0; i < bytes.length; i++) {
      const b = Number(bytes[i]);
      const p = Number(packets[i]);
      if (i === 0) this.#book(bk, b * sign, p * sign, sign, f);
      else if (b || p) this.#book(this.#bucketOf(start + i), b * sign, p * sign, 0, f);
    }
  }

  #book(bk: Bucket, bytes: number, packets: number, flows: number, f: RollupFlow): void {
    addTo(bk.traffic, bytes, packets, flows);
    const src = f.srcDevice;
    const dst = f.dstDevice;
    // device 0: a broadcast or multicast MAC, no device (isGroupMac): no talker, no conversation
    if (src) addTo(entry(bk.talkers, src, src, 0), bytes, packets, flows);
    if (dst !== src && dst) addTo(entry(bk.talkers, dst, dst, 0), bytes, packets, flows);
    if (src && dst) addTo(src < dst ? bk.conversation(src, dst) : bk.conversation(dst, src), bytes, packets, flows);
    addTo(entry(bk.services, f.service, 0, 0), bytes, packets, flows);
    if (f.application) addTo(entry(bk.applications, f.application, 0, 0), bytes, packets, flows);
    if (f.sni) addTo(entry(bk.snis, f.sni, 0, 0), bytes, packets, flows);
  }

  /** Forgets what was accumulated. */
  clear(): void {
    this.#minutes.clear();
    this.#lo = this.#hi = 0n;
    this.#minute = NaN;
    this.#bucket = undefined;
    this.#flows = 0;
  }

  /**
   * Adds what was accumulated into the roll-up tables, minute rows and hour
   * rows, with multi-row upserts (in the caller's transaction, else in one of
   * its own), then clears. Taken-out flows (sign -1) lower existing rows only
   * and delete those that reach 0. Returns the rows written.
   */
  flush(db: Database): number {
    if (this.#minutes.size === 0) {
      this.clear();
      return 0;
    }
    const write = () => this.#write(db);
    const n = db.inTransaction ? write() : db.transaction(write)();
    this.clear();
    return n;
  }

  #write(db: Database): number {
    const out = TABLES.map((_, i) => new TableRows(db, i as TableIndex));
    const hours = new Map<number, Bucket>();
    // in the order of the primary keys: rows written in order append to the b-trees instead of splitting pages
    for (const bk of [...this.#minutes.values()].sort((x, y) => x.t - y.t)) {
      const ht = Math.floor(bk.t / HOUR_MS) * HOUR_MS;
      let hb = hours.get(ht);
      if (hb === undefined) hours.set(ht, (hb = new Bucket(ht)));
      writeBucket(out, MINUTE_MS, bk, hb);
    }
    const all = new Bucket(0);
    const allFrom = allSince(db);
    for (const hb of [...hours.values()].sort((x, y) => x.t - y.t)) writeBucket(out, HOUR_MS, hb, hb.t >= allFrom ? all : undefined);
    writeBucket(out, ALL, all);
    return out.reduce((n, t) => n + t.finish(), 0);
  }
}

/** The rows of one bucket, in key order; with `into`, also sums them into that (hour, or ALL) bucket. */
function writeBucket(out: TableRows[], res: number, bk: Bucket, into?: Bucket): void {
  const t = bk.t;
  const tr = bk.traffic;
  out[0].row(res, t, 0, 0, 0, tr);
  if (into) addTo(into.traffic, tr.bytes, tr.packets, tr.flows);
  for (const e of [...bk.talkers.values()].sort((x, y) => x.a - y.a)) {
    out[1].row(res, t, 1, e.a, 0, e);
    if (into) addTo(entry(into.talkers, e.a, e.a, 0), e.bytes, e.packets, e.flows);
  }
  for (const e of bk.conversations()) {
    out[2].row(res, t, 2, e.a, e.b, e);
    if (into) addTo(into.conversation(e.a, e.b), e.bytes, e.packets, e.flows);
  }
  const byKey = (x: [string, Entry], y: [string, Entry]) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
  for (const [k, e] of [...bk.services].sort(byKey)) {
    out[3].row(res, t, 1, k, 0, e);
    if (into) addTo(entry(into.services, k, 0, 0), e.bytes, e.packets, e.flows);
  }
  for (const [k, e] of [...bk.applications].sort(byKey)) {
    out[4].row(res, t, 1, k, 0, e);
    if (into) addTo(entry(into.applications, k, 0, 0), e.bytes, e.packets, e.flows);
  }
  for (const [k, e] of [...bk.snis].sort(byKey)) {
    out[5].row(res, t, 1, k, 0, e);
    if (into) addTo(entry(into.snis, k, 0, 0), e.bytes, e.packets, e.flows);
  }
}

/** Whether the flows have migration 9's columns (migration 8 rebuilds the roll-ups before they exist). */
function hasAppColumns(db: Database): boolean {
  return (db.pragma('table_info(flows)') as { name: string }[]).some((c) => c.name === 'application');
}

/** The roll-up tables the database has: migration 8's, and migration 9's once it has run. */
function tablesOf(db: Database): readonly (typeof TABLES)[number][] {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'rollup_applications'").get() ? TABLES : TABLES.slice(0, V8_TABLES);
}

// ---------------------------------------------------------------------------------------------
// Rebuilding and retention

export interface RebuildOptions {
  /** flows read per chunk (default 50,000) */
  chunk?: number;
  /** called after each chunk with the flows read so far */
  onProgress?: (flows: number) => void;
}

/**
 * Adds (sign 1) or takes out (sign -1) the flows with ids in [fromId, toId]
 * (the `flows` view, in chunks by id, services by SERVICE_KEY_SQL) into the
 * roll-ups, flushing each chunk. For a writer that flushes its accumulator
 * less often than it commits flows: after a crash, the flows committed since
 * its last flush go in again. In the caller's transaction, else in one
 * IMMEDIATE transaction of its own. Returns the flows read and rows written.
 */
export function replayRollups(db: Database, fromId = 0, toId = Number.MAX_SAFE_INTEGER, opts: RebuildOptions & { sign?: 1 | -1 } = {}): { flows: number; rowsWritten: number } {
  const chunk = opts.chunk ?? 50_000;
  if (!Number.isInteger(chunk) || chunk < 1) throw new FlowmasterError('ERR_INVALID_OPTION', 'chunk: expected a positive integer');
  for (const [k, v] of [['fromId', fromId], ['toId', toId]] as const)
    if (!Number.isSafeInteger(v)) throw new FlowmasterError('ERR_INVALID_OPTION', `${k}: expected an integer flow id`);
  const run = () => {
    const columns = hasAppColumns(db) ? ROLLUP_FLOW_SQL : ROLLUP_FLOW_SQL.replace(/application, sni$/, 'NULL, NULL');
    const read = db.prepare(`SELECT id, ${columns} FROM flows WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?`).raw().safeIntegers();
    const acc = new RollupAccumulator();
    const sign = opts.sign ?? 1;
    const f = rollupFlow();
    let from = BigInt(fromId);
    let flows = 0;
    let rowsWritten = 0;
    for (;;) {
      const rows = read.all(from, BigInt(toId), chunk) as [bigint, ...unknown[]][];
      for (const r of rows) acc.add(readRollupFlow(f, r, 1), sign);
      flows += rows.length;
      rowsWritten += acc.flush(db);
      opts.onProgress?.(flows);
      if (rows.length < chunk) break;
      from = rows[rows.length - 1][0] + 1n;
    }
    return { flows, rowsWritten };
  };
  return db.inTransaction ? run() : db.transaction(run).immediate();
}

/**
 * Recomputes every roll-up from the flows: deletes all roll-up rows and the
 * retention marks, then replayRollups() of every flow, so afterwards the
 * roll-ups cover exactly the flows kept (apply retainRollups() again to age
 * them out). In the caller's transaction, else in one IMMEDIATE transaction
 * of its own. For migrating databases of before the roll-ups, and for tests.
 */
export function rebuildRollups(db: Database, opts: RebuildOptions = {}): { flows: number; rowsWritten: number } {
  if (opts.chunk !== undefined && !(Number.isInteger(opts.chunk) && opts.chunk >= 1)) throw new FlowmasterError('ERR_INVALID_OPTION', 'chunk: expected a positive integer');
  const run = () => {
    for (const { name } of tablesOf(db)) db.prepare(`DELETE FROM ${name}`).run();
    db.prepare('DELETE FROM rollup_retained').run();
    return replayRollups(db, 0, Number.MAX_SAFE_INTEGER, opts);
  };
  return db.inTransaction ? run() : db.transaction(run).immediate();
}

export interface RollupCutoffs {
  /** delete minute buckets before this time, ms (floored to the hour: minute rows go by whole hours) */
  minuteBeforeMs: number;
  /** delete hour buckets before this time, ms (floored to the hour); minute rows before it go too */
  hourBeforeMs: number;
}

function cutoffsOf(c: RollupCutoffs): { minute: number; hour: number } {
  for (const k of ['minuteBeforeMs', 'hourBeforeMs'] as const) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new FlowmasterError('ERR_INVALID_OPTION', `${k}: expected ms since the epoch`);
  }
  const hour = Math.floor(c.hourBeforeMs / HOUR_MS) * HOUR_MS;
  return { minute: Math.max(hour, Math.floor(c.minuteBeforeMs / HOUR_MS) * HOUR_MS), hour };
}

/**
 * One chunk of retainRollups(): records the cutoffs (they only move
 * forward), then deletes up to `chunk` rows of buckets before them; returns
 * the rows deleted (less than `chunk`: done). For a caller that runs each
 * chunk in its own (retried) transaction.
 */
export function retainRollupsChunk(db: Database, cutoffs: RollupCutoffs, chunk = 5000): number {
  if (!Number.isInteger(chunk) || chunk < 1) throw new FlowmasterError('ERR_INVALID_OPTION', 'chunk: expected a positive integer');
  const { minute, hour } = cutoffsOf(cutoffs);
  const mark = db.prepare('INSERT INTO rollup_retained VALUES (?, ?) ON CONFLICT (res) DO UPDATE SET before_ms = max(before_ms, excluded.before_ms)');
  mark.run(MINUTE_MS, minute);
  mark.run(HOUR_MS, hour);
  const before = new Map(
    (db.prepare('SELECT res, before_ms FROM rollup_retained').raw().all() as [number, number][]).map(([res, ms]) => [res, ms]),
  );
  let left = chunk;
  let deleted = 0;
  const allFrom = allSince(db);
  for (const { name, keys } of tablesOf(db)) {
    const pk = ['res', 't', ...keys].join(', ');
    for (const res of [MINUTE_MS, HOUR_MS]) {
      if (left === 0) return deleted;
      // the oldest rows first: the chunk the ALL rows give up is the chunk deleted
      const doomed = `SELECT * FROM ${name} WHERE res = ? AND t < ? ORDER BY ${pk} LIMIT ?`;
      const params = [res, before.get(res) ?? 0, left];
      if (res === HOUR_MS) leaveAll(db, name, keys, `SELECT * FROM (${doomed}) WHERE t >= ${allFrom}`, params);
      const n = db.prepare(`DELETE FROM ${name} WHERE (${pk}) IN (SELECT ${pk} FROM (${doomed}))`).run(...params).changes;
      deleted += n;
      left -= n;
    }
  }
  // every row before the cutoffs is gone (the last delete was not cut short): the ALL rows now sum the hours from the hour cutoff on
  if (left > 0) mark.run(ALL, hour);
  return deleted;
}

/**
 * The ALL rows recomputed from the hour rows from the hour cutoff of the last
 * retention pass on (marked as where they start): migration 11 sums them once.
 */
export function sumAllRows(db: Database): void {
  const since = (db.prepare('SELECT before_ms FROM rollup_retained WHERE res = 3600000').pluck().get() as number | undefined) ?? 0;
  db.prepare('INSERT OR REPLACE INTO rollup_retained VALUES (0, ?)').run(since);
  for (const { name, keys } of tablesOf(db)) {
    db.prepare(`DELETE FROM ${name} WHERE res = 0`).run();
    const k = keys.length ? `${keys.join(', ')}, ` : '';
    db.prepare(`INSERT INTO ${name} SELECT 0, 0, ${k}sum(bytes), sum(packets), sum(flows) FROM ${name} WHERE res = 3600000 AND t >= ? ${keys.length ? `GROUP BY ${keys.join(', ')}` : 'HAVING count(*) > 0'}`).run(since);
  }
}

/** Takes hour rows (the rows of `doomed`) out of the ALL rows of their keys, and deletes those that reach 0. */
function leaveAll(db: Database, name: string, keys: readonly string[], doomed: string, params: unknown[]): void {
  const v = (k: string) => `v.${k}`;
  const sums = `SELECT ${[...keys, 'sum(bytes) bytes', 'sum(packets) packets', 'sum(flows) flows'].join(', ')} FROM (${doomed})
    ${keys.length ? `GROUP BY ${keys.join(', ')}` : 'HAVING count(*) > 0'}`;
  const same = ['r.res = 0', 'r.t = 0', ...keys.map((k) => `r.${k} = ${v(k)}`)].join(' AND ');
  db.prepare(`UPDATE ${name} AS r SET bytes = r.bytes - v.bytes, packets = r.packets - v.packets, flows = r.flows - v.flows FROM (${sums}) AS v WHERE ${same}`).run(...params);
  const pk = ['res', 't', ...keys].join(', ');
  db.prepare(`DELETE FROM ${name} WHERE (${pk}) IN (SELECT 0, 0${keys.map((k) => `, ${k}`).join('')} FROM (${doomed})) AND bytes = 0 AND packets = 0 AND flows = 0`).run(...params);
}

/**
 * Deletes the roll-up buckets before the cutoffs (minute rows before the
 * hour of `minuteBeforeMs`, or of `hourBeforeMs` if later; hour rows before
 * the hour of `hourBeforeMs`), `chunk` rows per transaction (or all in the
 * caller's); returns the rows deleted. Queries then read the hour rows where
 * minute rows are gone (see the file header).
 */
export function retainRollups(db: Database, cutoffs: RollupCutoffs, chunk = 5000): number {
  cutoffsOf(cutoffs);
  let total = 0;
  const step = () => retainRollupsChunk(db, cutoffs, chunk);
  for (;;) {
    const n = db.inTransaction ? step() : db.transaction(step).immediate();
    total += n;
    if (n < chunk) return total;
  }
}

// ---------------------------------------------------------------------------------------------
// Queries

/**
 * The rows a range reads (inclusive bounds of t; lo > hi: none): minute rows
 * in two intervals around one interval of hour rows, added, and minute rows
 * in two intervals, subtracted (the minutes outside the range of an edge hour
 * read whole).
 */
export interface RangePlan {
  minutes: [lo: number, hi: number][];
  hours: [lo: number, hi: number];
  minus: [lo: number, hi: number][];
}

const NONE: [number, number] = [1, 0];

/** Minute buckets whose start lies in [lo, hi] (lo on a minute). */
const minutesIn = ([lo, hi]: [number, number]) => (lo > hi ? 0 : Math.floor(hi / MINUTE_MS) - lo / MINUTE_MS + 1);

/**
 * Which rows serve the buckets whose start lies in [floor(from to the
 * minute), to], given that minute rows before `minuteBeforeMs` (hour-aligned)
 * are gone: hours that lie wholly inside the range (when `wholeHours`), and
 * hours whose minute rows are gone and whose start lies in the range, from
 * hour rows; the rest from minute rows. With `complement`, an edge hour of
 * which the range holds more than 30 minutes is its hour row minus its
 * minutes outside the range (the same sums: an hour row is the sum of its
 * minute rows): a range reads at most 30 minute rows per key at each edge.
 */
export function rangePlan(fromMs: number, toMs: number, minuteBeforeMs: number, wholeHours = true, complement = wholeHours): RangePlan {
  const from = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS;
  const c = minuteBeforeMs;
  const hLo = Math.ceil(from / HOUR_MS) * HOUR_MS; // the first hour that starts in the range
  const lastHour = Math.floor(toMs / HOUR_MS) * HOUR_MS; // the hour of `to`
  const wholeEnd = wholeHours ? Math.floor((toMs + MINUTE_MS) / HOUR_MS) * HOUR_MS : hLo; // hours h < wholeEnd end inside the range
  const agedEnd = Math.min(c, lastHour + HOUR_MS); // hours h < agedEnd have no minute rows
  const hEnd = Math.max(hLo, wholeEnd, agedEnd);
  // minutes1 lies in the hour before hLo, minutes2 (from hEnd) in the hour of `to`: both hours have minute rows when these are not empty
  let minutes1: [number, number] = [Math.max(from, c), Math.min(toMs, hLo - 1)];
  let minutes2: [number, number] = [Math.max(hEnd, c), toMs];
  let hours: [number, number] = [hLo, Math.min(hEnd - 1, toMs)];
  const minus: [number, number][] = [NONE, NONE];
  const after = Math.floor(toMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS; // the first minute after the range
  if (complement && minutesIn(minutes1) > 30) {
    const h = hLo - HOUR_MS;
    minus[0] = [h, minutes1[0] - 1];
    minus[1] = [after, h + HOUR_MS - 1]; // not empty only when the range ends in this hour too (then minutes2 is empty)
    hours = [h, Math.max(hours[1], h)];
    minutes1 = NONE;
  }
  if (complement && minutesIn(minutes2) > 30 && minutes2[0] === lastHour) {
    minus[1] = [after, lastHour + HOUR_MS - 1];
    hours = [Math.min(hours[0], lastHour), Math.max(hours[1], lastHour)];
    minutes2 = NONE;
  }
  return { minutes: [minutes1, minutes2], hours, minus };
}

/** The first hour the ALL rows sum (rollup_retained res 0: where the last completed retention pass left the hour rows). */
const allSince = (db: Database): number =>
  (cached(db, 'SELECT before_ms FROM rollup_retained WHERE res = 0').pluck().get() as number | undefined) ?? 0;

const minuteBefore = (db: Database): number =>
  (cached(db, 'SELECT before_ms FROM rollup_retained WHERE res = 60000').pluck().get() as number | undefined) ?? 0;

const queryCache = new WeakMap<Database, Map<string, Statement>>();

function cached(db: Database, sql: string): Statement {
  let m = queryCache.get(db);
  if (!m) queryCache.set(db, (m = new Map()));
  let st = m.get(sql);
  if (!st) m.set(sql, (st = db.prepare(sql)));
  return st;
}

/** The plan's rows of a table, as one UNION ALL over its intervals (those subtracted negated); `columns` are the keys. */
function unionOf(name: string, keys: string): string {
  const arm = (res: number, sign: string) =>
    `SELECT ${keys}, ${sign}bytes bytes, ${sign}packets packets, ${sign}flows flows FROM ${name} WHERE res = ${res} AND t BETWEEN ? AND ?`;
  return [arm(MINUTE_MS, ''), arm(HOUR_MS, ''), arm(MINUTE_MS, ''), arm(MINUTE_MS, '-'), arm(MINUTE_MS, '-')].join('\n    UNION ALL ');
}

const planParams = (p: RangePlan) => [...p.minutes[0], ...p.hours, ...p.minutes[1], ...p.minus[0], ...p.minus[1]];

/** Keys whose rows in the range sum to nothing (all their traffic in subtracted minutes) are not in it. */
const NONZERO = 'HAVING sum(bytes) <> 0 OR sum(packets) <> 0 OR sum(flows) <> 0';

export type RollupMeasure = 'bytes' | 'packets' | 'flows';
const MEASURES: Record<RollupMeasure, true> = { bytes: true, packets: true, flows: true };

function measureSql(by: RollupMeasure): RollupMeasure {
  if (MEASURES[by] !== true || !Object.prototype.hasOwnProperty.call(MEASURES, by))
    throw new FlowmasterError('ERR_INVALID_OPTION', "by: expected 'bytes', 'packets' or 'flows'");
  return by;
}

export interface RollupTotals {
  bytes: number;
  packets: number;
  flows: number;
}

/** The tables whose ALL rows have a partial index by bytes (ALL_INDEX_SCHEMA): those with many keys. */
const ALL_BYTES_INDEXED = new Set(['rollup_talkers', 'rollup_conversations']);

/** The buckets a ranking sums: those whose start lies in [fromMs, toMs] (rangePlan()), or everything stored (the ALL rows). */
export type RollupRange = { fromMs: number; toMs: number } | typeof ALL;

/**
 * The `limit` keys of a table with the most of measure `m` in the range, and
 * the parameters: over a range, the sums of its rows (every row of every
 * key); over everything, the ALL rows, whose bytes a partial index keeps in
 * order (migration 11: the first `limit` entries, whatever the keys).
 */
function ranked(db: Database, table: string, keys: string, range: RollupRange, m: RollupMeasure, limit: number): { sql: string; params: unknown[] } {
  if (range === ALL) {
    // by bytes, the index in rank order (named: the planner would rather search the primary key and sort)
    const from = m === 'bytes' && ALL_BYTES_INDEXED.has(table) ? `${table} INDEXED BY ${table}_all_bytes` : table;
    return { sql: `SELECT ${keys}, bytes, packets, flows FROM ${from} WHERE res = 0 AND t = 0 AND (bytes <> 0 OR packets <> 0 OR flows <> 0) ORDER BY ${m} DESC, ${keys} LIMIT ?`, params: [limit] };
  }
  return {
    sql: `SELECT ${keys}, sum(bytes) bytes, sum(packets) packets, sum(flows) flows FROM (${unionOf(table, keys)}) GROUP BY ${keys} ${NONZERO} ORDER BY ${m} DESC, ${keys} LIMIT ?`,
    params: [...planParams(rangePlan(range.fromMs, range.toMs, minuteBefore(db))), limit],
  };
}

/** Devices by the traffic they took part in, with their devices row (addr null: retention has deleted the device since). */
export function topTalkers(
  db: Database, range: RollupRange, by: RollupMeasure, limit: number,
): (RollupTotals & { device: number; addr: Buffer | null; vlan: number | null; vendor: string | null })[] {
  const m = measureSql(by);
  const r = ranked(db, 'rollup_talkers', 'device', range, m, limit);
  const sql = `SELECT r.device, r.bytes, r.packets, r.flows, d.addr, d.vlan, d.vendor FROM (${r.sql}) r
    LEFT JOIN devices d ON d.id = r.device ORDER BY r.${m} DESC, r.device`;
  return cached(db, sql).all(...r.params) as never;
}

/** Device pairs (either direction) by the traffic between them. */
export function topConversations(
  db: Database, range: RollupRange, by: RollupMeasure, limit: number,
): (RollupTotals & { a: number; b: number; aAddr: Buffer | null; bAddr: Buffer | null })[] {
  const m = measureSql(by);
  const r = ranked(db, 'rollup_conversations', 'a, b', range, m, limit);
  const sql = `SELECT r.a, r.b, r.bytes, r.packets, r.flows, da.addr aAddr, db.addr bAddr FROM (${r.sql}) r
    LEFT JOIN devices da ON da.id = r.a LEFT JOIN devices db ON db.id = r.b ORDER BY r.${m} DESC, r.a, r.b`;
  return cached(db, sql).all(...r.params) as never;
}

/** Services (serviceKey()) by traffic. */
export function topServices(db: Database, range: RollupRange, by: RollupMeasure, limit: number): (RollupTotals & { service: string })[] {
  return topKey(db, 'rollup_services', 'service', range, by, limit) as never;
}

/** Applications (the payload's, docs/applications.md) by the traffic of the flows that showed them. */
export function topApplications(db: Database, range: RollupRange, by: RollupMeasure, limit: number): (RollupTotals & { application: string })[] {
  return topKey(db, 'rollup_applications', 'application', range, by, limit) as never;
}

/** TLS / QUIC server names (SNI) by the traffic of the flows that asked for them. */
export function topSni(db: Database, range: RollupRange, by: RollupMeasure, limit: number): (RollupTotals & { sni: string })[] {
  return topKey(db, 'rollup_sni', 'sni', range, by, limit) as never;
}

function topKey(db: Database, table: string, key: string, range: RollupRange, by: RollupMeasure, limit: number): unknown[] {
  const r = ranked(db, table, key, range, measureSql(by), limit);
  return cached(db, r.sql).all(...r.params);
}

/**
 * Traffic per bucket of `bucketMs` (a multiple of a minute; buckets start at
 * multiples of it since the epoch), over the roll-up buckets of the range;
 * only buckets with traffic, in time order.
 */
export function timeline(db: Database, fromMs: number, toMs: number, bucketMs: number): (RollupTotals & { t: number })[] {
  if (!Number.isSafeInteger(bucketMs) || bucketMs < MINUTE_MS || bucketMs % MINUTE_MS !== 0)
    throw new FlowmasterError('ERR_INVALID_OPTION', `bucketMs: expected a positive multiple of a minute (60000 ms), got ${bucketMs}`);
  const plan = rangePlan(fromMs, toMs, minuteBefore(db), bucketMs % HOUR_MS === 0, false); // a minute's traffic is one row: nothing to save
  const sql = `SELECT (t / CAST(? AS INTEGER)) * CAST(? AS INTEGER) t, sum(bytes) bytes, sum(packets) packets, sum(flows) flows FROM (${unionOf('rollup_traffic', 't')})
    GROUP BY 1 ORDER BY 1`;
  return cached(db, sql).all(bucketMs, bucketMs, ...planParams(plan)) as never;
}

/**
 * Retention: drops the flow partitions whose flows all ended before the
 * cutoff (one statement each, however many rows: src/store/partitions.ts),
 * optionally deletes row by row the aged-out flows of the partition the
 * cutoff falls in (`exact`), then the roll-up buckets past their ages
 * (kept longer than the flows by default), then deletes devices not seen for an age that
 * no kept flow references, then PRAGMA incremental_vacuum. Each drop or
 * chunk is one short IMMEDIATE transaction (run through `step`: the store
 * retries it like a commit), and the event loop gets a turn between them,
 * so an ingest keeps committing, in this process or another.
 */
import type { Database } from 'better-sqlite3';
import { FlowmasterError } from '../errors';
import type { Partitions } from './partitions';
import { retainRollupsChunk } from './rollups';

export interface RetentionPolicy {
  /** keep flows that ended within this age: '30d', '12h', '90m', '3600s' or ms */
  flows?: string | number;
  /**
   * keep roll-up buckets within these ages: minute rows (default: the flows'
   * age) and hour rows (default: 400 days, or the flows' age if longer);
   * without `flows` or these, roll-ups stay
   */
  rollups?: { minutes?: string | number; hours?: string | number };
  /** keep devices seen within this age (devices referenced by kept flows always stay), and the host names DNS answered within it */
  devices?: string | number;
  /** keep at most this many flows: the oldest partitions go, whole (never the newest) */
  maxRows?: number;
  /** keep the pages in use under this many bytes: the oldest partitions go, whole (never the newest) */
  maxBytes?: number;
  /**
   * also delete, in chunks of rows, the aged-out flows that share a
   * partition with younger ones (default false: they go with their partition,
   * at most one partition span later)
   */
  exact?: boolean;
  /** rows deleted per transaction (devices, and flows with `exact`; default 5000) */
  chunk?: number;
  /** PRAGMA incremental_vacuum afterwards (default true) */
  vacuum?: boolean;
  /** "now" for the ages, ms since the epoch (default Date.now()) */
  now?: number;
}

export interface RetentionReport {
  flowsDeleted: number;
  /** roll-up rows (minute and hour buckets) deleted */
  rollupRowsDeleted: number;
  /** flow partitions dropped whole */
  partitionsDropped: number;
  /** flows past their age that stay because younger flows share their partition (0 with `exact`) */
  flowsPastAge: number;
  devicesDeleted: number;
  /** host names (from DNS answers) not answered again within the devices' age */
  hostNamesDeleted: number;
  pagesFreed: number;
  /** wall time, including what other work (an ingest) ran between its transactions */
  ms: number;
  /** time spent in its own transactions */
  busyMs: number;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseAge(name: string, v: string | number): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(v.trim()) : null;
  if (!m) throw new FlowmasterError('ERR_INVALID_OPTION', `${name}: expected an age like '30d', '12h', '90m', '45s' or milliseconds, got ${String(v)}`);
  return Number(m[1]) * UNITS[m[2]];
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs one write (a transaction) of the retention: at once, or with the store's retries. */
export type RetentionStep = <T>(doing: string, fn: () => T) => Promise<T>;

export async function applyRetention(
  db: Database,
  partitions: Partitions,
  policy: RetentionPolicy,
  step: RetentionStep = async (_doing, fn) => fn(),
  onDevicesDeleted: () => void = () => {},
): Promise<RetentionReport> {
  const t0 = performance.now();
  let busyMs = 0;
  const busy = <T>(fn: () => T): T => {
    const t = performance.now();
    try {
      return fn();
    } finally {
      busyMs += performance.now() - t;
    }
  };
  // IMMEDIATE: a transaction that read first could not write once another connection had
  const tx = <T>(doing: string, fn: () => T) => step(doing, () => busy(() => db.transaction(fn).immediate()));
  const now = policy.now ?? Date.now();
  const chunk = policy.chunk ?? 5000;
  if (!Number.isInteger(chunk) || chunk < 1) throw new FlowmasterError('ERR_INVALID_OPTION', 'chunk: expected a positive integer');
  const pagesBefore = db.pragma('page_count', { simple: true }) as number;
  let flowsDeleted = 0;
  let partitionsDropped = 0;
  let flowsPastAge = 0;
  let devicesDeleted = 0;
  let hostNamesDeleted = 0;
  if (policy.flows !== undefined) {
    const cutoffNs = BigInt(Math.floor(now - parseAge('flows', policy.flows))) * 1_000_000n;
    for (const p of [...partitions.list()]) {
      if (p.hiNs < cutoffNs) {
        const n = await tx(`retention: dropping ${p.name}`, () => partitions.drop(p));
        if (n < 0) continue;
        flowsDeleted += n;
        partitionsDropped++;
        await tick();
      } else if (p.loNs < cutoffNs) {
        if (policy.exact) {
          // the oldest-ending flows first, by the partition's last_ns index (unless another process dropped it meanwhile)
          const del = () =>
            partitions.list().some((q) => q.name === p.name)
              ? db.prepare(`DELETE FROM ${p.name} WHERE id IN (SELECT id FROM ${p.name} WHERE last_ns < ? ORDER BY last_ns LIMIT ?)`).run(cutoffNs, chunk).changes
              : 0;
          for (;;) {
            const n = await tx(`retention: deleting flows of ${p.name}`, del);
            flowsDeleted += n;
            if (n < chunk) break;
            await tick();
          }
        } else {
          const there = partitions.list().some((q) => q.name === p.name);
          if (there) flowsPastAge += busy(() => db.prepare(`SELECT count(*) FROM ${p.name} WHERE last_ns < ?`).pluck().get(cutoffNs) as number);
        }
      }
    }
  }
  if (policy.maxRows !== undefined || policy.maxBytes !== undefined) {
    const maxRows = policy.maxRows ?? Infinity;
    const maxBytes = policy.maxBytes ?? Infinity;
    for (const [name, v] of [['maxRows', maxRows], ['maxBytes', maxBytes]] as const)
      if (!(v >= 0)) throw new FlowmasterError('ERR_INVALID_OPTION', `${name}: expected a number >= 0`);
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const usedBytes = () => ((db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number)) * pageSize;
    let flows = busy(() => db.prepare('SELECT count(*) FROM flows').pluck().get() as number);
    for (;;) {
      const list = partitions.list();
      if (list.length <= 1 || (flows <= maxRows && busy(usedBytes) <= maxBytes)) break;
      const n = Math.max(0, await tx('retention: dropping the oldest partition', () => partitions.drop(partitions.list()[0])));
      flows -= n;
      flowsDeleted += n;
      partitionsDropped++;
      await tick();
    }
  }
  const rollupRowsDeleted = await retainRollupsOf(db, policy, now, chunk, tx);
  if (policy.devices !== undefined) {
    const cutoff = Math.floor(now - parseAge('devices', policy.devices));
    for (;;) {
      const n = await tx('retention: deleting devices', () => deleteDevices(db, partitions, cutoff, chunk));
      if (n) onDevicesDeleted(); // before yielding: an ingest must not resolve a deleted device from a cache
      devicesDeleted += n;
      if (n < chunk) break;
      await tick();
    }
    for (;;) {
      const n = await tx('retention: deleting host names', () =>
        db.prepare('DELETE FROM host_names WHERE addr IN (SELECT addr FROM host_names WHERE seen_ms < ? ORDER BY seen_ms LIMIT ?)').run(cutoff, chunk).changes,
      );
      if (n) onDevicesDeleted();
      hostNamesDeleted += n;
      if (n < chunk) break;
      await tick();
    }
  }
  if (policy.vacuum ?? true) await step('retention: incremental vacuum', () => busy(() => db.pragma('incremental_vacuum')));
  const pagesAfter = db.pragma('page_count', { simple: true }) as number;
  return {
    flowsDeleted, rollupRowsDeleted, partitionsDropped, flowsPastAge, devicesDeleted, hostNamesDeleted, pagesFreed: Math.max(0, pagesBefore - pagesAfter),
    ms: performance.now() - t0, busyMs,
  };
}

const HOURS_DEFAULT_MS = 400 * 86_400_000;

/**
 * Inside a transaction: deletes up to `chunk` devices not seen since
 * `cutoff` that no flow references. Sealed partitions are looked up in their
 * device indexes; the devices of the hot one (and one still being indexed)
 * are gathered in one scan each. Ids are not given again (device_id_floor),
 * so roll-up rows never name another device.
 */
function deleteDevices(db: Database, partitions: Partitions, cutoff: number, chunk: number): number {
  const list = partitions.list();
  // new devices get ids above every id given so far (DeviceCache: device_id_floor), also when the largest goes
  db.exec(`INSERT INTO meta (key, value) SELECT 'device_id_floor', max(id) + 1 FROM devices WHERE true
    ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`);
  db.exec('CREATE TEMP TABLE IF NOT EXISTS referenced_devices (id INTEGER PRIMARY KEY); DELETE FROM temp.referenced_devices');
  const unindexed = list.filter((p) => p.state !== 'sealed');
  for (const p of unindexed) db.exec(`INSERT OR IGNORE INTO temp.referenced_devices SELECT src_device FROM ${p.name} UNION SELECT dst_device FROM ${p.name}`);
  const indexed = list.filter((p) => !unindexed.includes(p));
  const referenced = indexed.map((p) => `EXISTS (SELECT 1 FROM ${p.name} WHERE src_device = d.id) OR EXISTS (SELECT 1 FROM ${p.name} WHERE dst_device = d.id)`);
  return db
    .prepare(
      `DELETE FROM devices WHERE id IN (
        SELECT d.id FROM devices d WHERE d.last_seen_ms < ?
          AND d.id NOT IN (SELECT id FROM temp.referenced_devices)${referenced.length ? ` AND NOT (${referenced.join(' OR ')})` : ''}
        ORDER BY d.last_seen_ms LIMIT ?)`,
    )
    .run(cutoff, chunk).changes;
}

/** The roll-up buckets past their ages go, `chunk` rows per transaction; returns the rows deleted. */
async function retainRollupsOf(
  db: Database,
  policy: RetentionPolicy,
  now: number,
  chunk: number,
  tx: <T>(doing: string, fn: () => T) => Promise<T>,
): Promise<number> {
  const flowsMs = policy.flows === undefined ? undefined : parseAge('flows', policy.flows);
  const r = policy.rollups ?? {};
  const minutesMs = r.minutes !== undefined ? parseAge('rollups.minutes', r.minutes) : flowsMs;
  const hoursMs = r.hours !== undefined ? parseAge('rollups.hours', r.hours) : flowsMs !== undefined ? Math.max(flowsMs, HOURS_DEFAULT_MS) : undefined;
  if (minutesMs === undefined && hoursMs === undefined) return 0;
  const cutoffs = {
    minuteBeforeMs: Math.floor(now - (minutesMs ?? hoursMs!)),
    hourBeforeMs: hoursMs === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(now - hoursMs),
  };
  let deleted = 0;
  for (;;) {
    const n = await tx('retention: deleting roll-up buckets', () => retainRollupsChunk(db, cutoffs, chunk));
    deleted += n;
    if (n < chunk) return deleted;
    await tick();
  }
}

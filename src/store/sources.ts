/**
 * Sources: one row per ingest (a file or an interface), with its input's
 * content fingerprint and how the ingest ended, so that a re-ingest can find
 * an earlier one and replace it (removeSource: its flows, through the
 * partitions, and their contributions to the device counters) instead of
 * counting the same traffic twice.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Database as DB } from 'better-sqlite3';
import { FlowmasterError } from '../errors';
import type { Summary } from '../meter';
import type { Partitions } from './partitions';
import { readRollupFlow, ROLLUP_FLOW_SQL, rollupFlow, type RollupAccumulator } from './rollups';

/** running: an ingest is writing it (or died: the next writer marks it interrupted) */
export type SourceStatus = 'running' | 'complete' | 'interrupted' | 'failed';

export interface SourceInfo {
  id: number;
  name: string;
  kind: 'file' | 'interface';
  sensor: string;
  engine: string;
  fingerprint: string | null;
  status: SourceStatus;
  startedMs: number;
  endedMs: number | null;
  packets: number;
  bytes: number;
  flows: number;
  /** code and message, when the ingest ended early */
  error: string | null;
}

/** What removeSource() deleted. */
export interface SourceRemoval {
  sourceId: number;
  flows: number;
}

/** Bytes hashed at each end of a file. */
export const FINGERPRINT_EDGE = 1 << 20;

/**
 * A file's content fingerprint: "v1:<size>:<sha256 of its first and last
 * MiB>" (the whole file when it is 2 MiB or less). Two reads of a huge
 * capture cost two MiB each; a file that grew, or was rewritten at either
 * end, gets another fingerprint.
 */
export async function fingerprintFile(path: string): Promise<string> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(path, 'r');
    const { size } = await fh.stat();
    const hash = createHash('sha256');
    const head = Math.min(size, FINGERPRINT_EDGE);
    const tail = Math.max(head, size - FINGERPRINT_EDGE);
    hash.update(await readAt(fh, 0, head));
    hash.update(await readAt(fh, tail, size - tail));
    return `v1:${size}:${hash.digest('hex')}`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const ours = code === 'ENOENT' ? 'ERR_FILE_NOT_FOUND' : code === 'EISDIR' ? 'ERR_IS_DIRECTORY' : 'ERR_READ';
    throw new FlowmasterError(ours, `${path}: fingerprinting the file: ${(e as Error).message}`, { path, cause: e });
  } finally {
    await fh?.close();
  }
}

async function readAt(fh: fs.promises.FileHandle, at: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, at + done);
    if (bytesRead === 0) break; // shrank meanwhile: hash what is there
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

const COLUMNS = `id, name, kind, sensor, engine, fingerprint, status, started_ms AS startedMs, ended_ms AS endedMs,
  packets, bytes, flows, error`;

/** The latest source with this fingerprint. */
export function findSource(db: DB, fingerprint: string): SourceInfo | undefined {
  return db.prepare(`SELECT ${COLUMNS} FROM sources WHERE fingerprint = ? ORDER BY id DESC LIMIT 1`).get(fingerprint) as SourceInfo | undefined;
}

export function getSource(db: DB, id: number): SourceInfo | undefined {
  return db.prepare(`SELECT ${COLUMNS} FROM sources WHERE id = ?`).get(id) as SourceInfo | undefined;
}

/** Sources in id order after `afterId` (keyset), at most `limit`: the sources table's primary key, never a scan. */
export function listSources(db: DB, afterId: number, limit: number): SourceInfo[] {
  return db.prepare(`SELECT ${COLUMNS} FROM sources WHERE id > ? ORDER BY id LIMIT ?`).all(afterId, limit) as SourceInfo[];
}

/** A new source row, 'running', with an id no removed source had; returns it. */
export function insertSource(db: DB, s: { name: string; kind: string; sensor: string; engine: string; fingerprint: string | null }): number {
  return Number(
    db
      .prepare(
        `INSERT INTO sources (id, name, kind, sensor, engine, started_ms, fingerprint, status) VALUES (
          max(coalesce((SELECT max(id) FROM sources), 0), coalesce((SELECT value FROM meta WHERE key = 'removed_source_id'), 0)) + 1,
          ?, ?, ?, ?, ?, ?, 'running')`,
      )
      .run(s.name, s.kind, s.sensor, s.engine, Date.now(), s.fingerprint).lastInsertRowid,
  );
}

/** Ends a source row: its status, end time, the read's counters, and the error that ended it early (a commit's, or the read's). */
export function endSource(db: DB, id: number, read: Summary, status: SourceStatus, failure: unknown): void {
  const decodeErrors = Object.values(read.decodeErrors).reduce((a, b) => a + (b ?? 0), 0);
  const c = read.capture;
  const drops = read.flowsByReason.evicted + (c ? c.kernelDropped + c.interfaceDropped + c.flowsDropped : 0);
  const e = failure as { code?: string; message?: string } | undefined;
  db.prepare('UPDATE sources SET status = ?, ended_ms = ?, packets = ?, bytes = ?, drops = ?, decode_errors = ?, error = ? WHERE id = ?').run(
    status, Date.now(), read.packets, read.bytes, drops, decodeErrors, e ? `${e.code ?? 'ERR_INTERNAL'}: ${e.message}` : null, id,
  );
}

/** Inside the transaction that takes the writer lease: the ingests that were running when their writer died. */
export function interruptRunning(db: DB): number {
  return db.prepare("UPDATE sources SET status = 'interrupted' WHERE status = 'running'").run().changes;
}

/**
 * Inside a write transaction, with the device counters and roll-ups synced:
 * deletes up to `chunk` flows of the source, from the first partition that
 * has any, and takes them out of their devices' packets, bytes and flows and
 * out of the roll-ups. The devices
 * stay, however little is left of them: ARP may have seen them in another
 * source, which no flow row records. Returns the flows deleted (0: none left).
 */
export function removeSourceChunk(db: DB, partitions: Partitions, sourceId: number, chunk: number, rollups: RollupAccumulator): number {
  for (const p of partitions.list()) {
    const rows = db
      .prepare(`SELECT id, ${ROLLUP_FLOW_SQL} FROM ${p.name} WHERE source_id = ? ORDER BY id LIMIT ?`)
      .raw(true)
      .safeIntegers(true)
      .all(sourceId, chunk) as [bigint, ...unknown[]][];
    if (!rows.length) continue;
    const per = new Map<number, [packets: number, bytes: number, flows: number]>();
    const f = rollupFlow();
    for (const r of rows) {
      readRollupFlow(f, r, 1);
      rollups.add(f, -1);
      for (const dev of [f.srcDevice, f.dstDevice]) {
        const t = per.get(dev) ?? per.set(dev, [0, 0, 0]).get(dev)!;
        t[0] += f.packets;
        t[1] += f.bytes;
        t[2]++;
      }
    }
    rollups.flush(db);
    db.prepare(`DELETE FROM ${p.name} WHERE source_id = ? AND id <= ?`).run(sourceId, rows[rows.length - 1][0]);
    const subtract = db.prepare('UPDATE devices SET packets = max(0, packets - ?), bytes = max(0, bytes - ?), flows = max(0, flows - ?) WHERE id = ?');
    for (const [dev, [packets, bytes, flows]] of per) subtract.run(packets, bytes, flows, dev);
    db.prepare('UPDATE sources SET flows = max(0, flows - ?) WHERE id = ?').run(rows.length, sourceId);
    return rows.length;
  }
  return 0;
}

/** Deletes the source row once none of its flows is left; its id is not given again. */
export function deleteSourceRow(db: DB, sourceId: number): void {
  if (!db.prepare('DELETE FROM sources WHERE id = @id AND NOT EXISTS (SELECT 1 FROM flows WHERE source_id = @id)').run({ id: sourceId }).changes) return;
  db.prepare(
    `INSERT INTO meta (key, value) VALUES ('removed_source_id', @id)
     ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`,
  ).run({ id: sourceId });
}

/**
 * The store's SQLite connection (better-sqlite3): opening it, and SQLite's
 * failures as FlowmasterErrors with one stable code per kind of failure and
 * the database path in the message.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { pathToFileURL } from 'node:url';
import Database, { type Database as DB } from 'better-sqlite3';
import { FlowmasterError, type ErrorCode } from '../errors';

/** SQLite's primary result codes (an extended code starts with its primary's name) as ours. */
const CODES: Record<string, ErrorCode> = {
  SQLITE_NOTADB: 'ERR_DB_OPEN',
  SQLITE_CANTOPEN: 'ERR_DB_OPEN',
  SQLITE_READONLY: 'ERR_DB_READONLY',
  SQLITE_PERM: 'ERR_DB_READONLY',
  SQLITE_FULL: 'ERR_DB_FULL',
  SQLITE_BUSY: 'ERR_DB_BUSY',
  SQLITE_LOCKED: 'ERR_DB_BUSY',
  SQLITE_CORRUPT: 'ERR_DB_CORRUPT',
  SQLITE_IOERR: 'ERR_DB_IO',
  SQLITE_NOMEM: 'ERR_NO_MEMORY',
};

/**
 * A SQLite failure as a FlowmasterError naming the database and what was
 * being done; a code SQLite has no class for above becomes `fallback`. Other
 * errors (a FlowmasterError already) are returned as they are.
 */
export function dbError(e: unknown, path: string, doing: string, fallback: ErrorCode = 'ERR_DB_IO'): unknown {
  if (!(e instanceof Database.SqliteError)) return e;
  const code = CODES[e.code.split('_', 2).join('_')] ?? fallback;
  return new FlowmasterError(code, `${path}: ${doing}: ${e.message} (${e.code})`, { path, cause: e });
}

/** The SQLite error behind `e` (itself, or the cause of a dbError()), if any. */
function sqliteCode(e: unknown): string | undefined {
  const cause = e instanceof FlowmasterError ? e.cause : e;
  return cause instanceof Database.SqliteError ? cause.code : undefined;
}

/**
 * Failures that can pass, so a write is worth trying again: another
 * connection's lock (BUSY, LOCKED), a full disk (FULL), an I/O error (IOERR),
 * memory (NOMEM), a WAL lock race (PROTOCOL). Corruption, read-only files,
 * constraints and our own coded errors are not.
 */
export function isTransient(e: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED|FULL|IOERR|NOMEM|PROTOCOL)/.test(sqliteCode(e) ?? '');
}

function isBusy(e: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED)/.test(sqliteCode(e) ?? '');
}

/** Blocks the thread for `ms` (synchronous paths only: opening a database). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * fn(), tried again while another connection's lock refuses it (SQLITE_BUSY
 * beyond the busy timeout, e.g. another process creating or migrating the
 * database), for up to `ms`. fn must be safe to repeat.
 */
export function whileBusy<T>(ms: number, fn: () => T): T {
  const deadline = Date.now() + ms;
  for (let wait = 5; ; wait = Math.min(2 * wait, 250)) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() + wait > deadline) throw e;
      sleepSync(wait * (0.5 + Math.random()));
    }
  }
}

/** fn(), with a SQLite failure thrown as dbError(). */
export function guarded<T>(path: string, doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw dbError(e, path, doing);
  }
}

export interface OpenOptions {
  readonly: boolean;
  /** create the file when it is missing (else ERR_DB_NOT_FOUND) */
  create: boolean;
  /** how long a statement waits for another connection's lock before SQLITE_BUSY, ms */
  busyTimeoutMs: number;
}

/** How long opening waits, in all, for other connections creating or migrating the database. */
export const OPEN_BUSY_MS = 30_000;

/** Opens a database and reads its header, so that an unusable file fails here with its code. */
export function openDatabase(path: string, options: OpenOptions): DB {
  const stat = path === ':memory:' || path === '' ? undefined : fs.statSync(path, { throwIfNoEntry: false });
  if (!stat && !options.create && path !== ':memory:' && path !== '')
    throw new FlowmasterError('ERR_DB_NOT_FOUND', `${path}: no such database (ingest or capture creates one)`, { path });
  if (stat?.isDirectory()) throw new FlowmasterError('ERR_DB_OPEN', `${path}: opening the database: it is a directory`, { path });
  enableUris();
  try {
    return readHeader(new Database(path, { readonly: options.readonly, fileMustExist: !options.create, timeout: options.busyTimeoutMs }));
  } catch (e) {
    const cannot = e instanceof Database.SqliteError && /^SQLITE_(READONLY|CANTOPEN)/.test(e.code);
    if (cannot && options.readonly) return openImmutable(path, e);
    // SQLite says CANTOPEN when it cannot create the -shm of a writable connection
    if (cannot && readOnlyPlace(path))
      throw new FlowmasterError('ERR_DB_READONLY', `${path}: opening the database for writing: the file or its directory is read-only (${(e as { code: string }).code})`, { path, cause: e });
    throw openError(e, path);
  }
}

/** Whether the file (if it exists) or its directory cannot be written (modes, a read-only mount). */
function readOnlyPlace(path: string): boolean {
  for (const p of [path, nodePath.dirname(path)]) {
    try {
      fs.accessSync(p, fs.constants.W_OK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return true;
    }
  }
  return false;
}

/** Reads the header (waiting out another process that is creating the database); closes the connection if that fails. */
function readHeader(db: DB): DB {
  try {
    whileBusy(OPEN_BUSY_MS, () => db.pragma('schema_version'));
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

function openError(e: unknown, path: string): unknown {
  // better-sqlite3 throws a TypeError itself when the directory does not exist
  if (e instanceof TypeError) return new FlowmasterError('ERR_DB_OPEN', `${path}: opening the database: ${e.message}`, { path, cause: e });
  return dbError(e, path, 'opening the database', 'ERR_DB_OPEN');
}

/**
 * A read-only open of a WAL database that SQLite refused because it cannot
 * create the -shm and -wal files beside it (a read-only directory or mount).
 * When no -wal content is pending, the file alone is the whole database and
 * nothing is writing it (a writer would have made the -wal): it is opened
 * immutable, without locks or -shm.
 */
function openImmutable(path: string, cause: unknown): DB {
  if ((fs.statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0)
    throw new FlowmasterError(
      'ERR_DB_READONLY',
      `${path}: cannot read the database in a read-only directory while its -wal file holds changes: open it once where it is writable`,
      { path, cause },
    );
  try {
    return readHeader(new Database(`${pathToFileURL(nodePath.resolve(path)).href}?immutable=1`, { readonly: true, fileMustExist: true }));
  } catch {
    throw openError(cause, path);
  }
}

let urisEnabled = false;
/**
 * SQLite takes URI file names (`?immutable=1`) only when SQLITE_USE_URI=1 at
 * the moment better-sqlite3 loads its addon, which it does at its first
 * connection: make that one now, with the variable set for it alone. (If the
 * process opened a better-sqlite3 database before, it keeps its setting.)
 */
function enableUris(): void {
  if (urisEnabled) return;
  urisEnabled = true;
  if (process.env.SQLITE_USE_URI !== undefined) return;
  process.env.SQLITE_USE_URI = '1';
  try {
    new Database(':memory:').close();
  } finally {
    delete process.env.SQLITE_USE_URI;
  }
}

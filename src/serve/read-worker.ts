/**
 * A reader thread of `flowmaster serve` (piscina): its own read-only
 * connection, opened on the first task, runs the named queries of
 * queries.ts. Results go back by structured clone; a failure goes back as
 * its code, message and SQLite code (an Error's own fields do not cross
 * threads), and the store's query timings go back with each reply so that
 * /metrics counts them where the HTTP metrics are.
 */
import { workerData } from 'node:worker_threads';
import { FlowmasterError } from '../errors';
import { Metrics } from '../metrics/registry';
import { openStore, type Store } from '../store/store';
import { QUERIES, type QueryFailure, type QueryName } from './queries';

export interface ReadTask {
  name: QueryName;
  arg: unknown;
}

/** A reply: the result or the failure, and the store queries' timings (shape, seconds, slow). */
export type ReadReply = ({ ok: true; value: unknown } | { ok: false; failure: QueryFailure }) & { timings: [string, number, boolean][] };

export interface ReadWorkerData {
  path: string;
  busyTimeoutMs: number;
}

let store: Store | undefined;
let timings: [string, number, boolean][] = [];

/** A Metrics whose store-query timings are kept for the reply instead of counted here. */
function recordingMetrics(): Metrics {
  const m = new Metrics({ defaultMetrics: false });
  // QueryTimer observes the duration, then counts the query slow if it was
  Object.assign(m, {
    queryDuration: { observe: (l: { shape: string }, s: number) => timings.push([l.shape, s, false]) },
    slowQueries: { inc: (l: { shape: string }) => {
      const last = timings[timings.length - 1];
      if (last?.[0] === l.shape) last[2] = true;
    } },
  });
  return m;
}

function open(): Store {
  const d = workerData as ReadWorkerData;
  return (store ??= openStore(d.path, { readonly: true, busyTimeoutMs: d.busyTimeoutMs, metrics: recordingMetrics() }));
}

function failureOf(e: unknown): QueryFailure {
  const code = e instanceof FlowmasterError ? (e.cause as { code?: unknown } | undefined)?.code : undefined;
  const sqliteCode = typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
  if (e instanceof FlowmasterError) return { code: e.code, message: e.message, path: e.path, sqliteCode };
  return { code: 'ERR_INTERNAL', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

export default function run(task: ReadTask): ReadReply {
  timings = [];
  try {
    const fn = QUERIES[task.name] as (s: Store, a: unknown) => unknown;
    return { ok: true, value: fn(open(), task.arg), timings };
  } catch (e) {
    return { ok: false, failure: failureOf(e), timings };
  }
}

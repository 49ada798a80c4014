/**
 * Retrying store writes that fail for a reason that can pass (another
 * process's write lock, a full disk that frees up, an I/O error): exponential
 * backoff with jitter from `initialMs` to `maxDelayMs`, for up to `maxMs`
 * after the first failure; then, or at once for a failure that cannot pass,
 * the coded error. Every failure is counted by code and reported through the
 * store's log callback. The caller waits (asynchronously) meanwhile, so an
 * ingest stops pulling batches from its engine.
 */
import { FlowmasterError } from '../errors';
import type { Metrics } from '../metrics/registry';
import { dbError, isTransient } from './sqlite';

export interface RetryOptions {
  /** give up this long after the first failure, ms (default 600000: 10 min; 0: never retry) */
  maxMs?: number;
  /** first wait, ms (default 100); each next one doubles */
  initialMs?: number;
  /** longest wait between two attempts, ms (default 5000) */
  maxDelayMs?: number;
}

/** What the store reports: retries, recoveries, writers waiting or taken over, other processes' changes. */
export interface StoreEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** write_failed, write_recovered, write_gave_up, writer_waiting, writer_taken_over, external_change, source_removed, ... */
  event: string;
  /** the database */
  path: string;
  [field: string]: unknown;
}

export type StoreLog = (event: StoreEvent) => void;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Retrier {
  readonly maxMs: number;
  readonly initialMs: number;
  readonly maxDelayMs: number;
  readonly #path: string;
  readonly #metrics: Metrics;
  readonly #log: StoreLog;

  constructor(path: string, options: RetryOptions, metrics: Metrics, log: StoreLog) {
    this.maxMs = nonNegative('retry.maxMs', options.maxMs ?? 600_000);
    this.initialMs = nonNegative('retry.initialMs', options.initialMs ?? 100);
    this.maxDelayMs = Math.max(this.initialMs, nonNegative('retry.maxDelayMs', options.maxDelayMs ?? 5000));
    this.#path = path;
    this.#metrics = metrics;
    this.#log = log;
  }

  /**
   * attempt() until it succeeds, waiting between tries while its failure can
   * pass; it must leave nothing behind when it fails (one transaction).
   * Throws the failure as a coded error (dbError) when it cannot pass or the
   * time is up.
   */
  async run<T>(doing: string, attempt: () => T | Promise<T>): Promise<T> {
    const t0 = performance.now();
    let delay = this.initialMs;
    for (let attempts = 1; ; attempts++) {
      try {
        const out = await attempt();
        if (attempts > 1) this.#log({ level: 'info', event: 'write_recovered', path: this.#path, doing, attempts, ms: Math.round(performance.now() - t0) });
        return out;
      } catch (e) {
        const error = dbError(e, this.#path, doing);
        const code = (error as FlowmasterError).code ?? 'ERR_INTERNAL';
        this.#metrics.commitFailures.inc({ code });
        const ms = performance.now() - t0;
        if (!isTransient(e) || ms + delay > this.maxMs) throw this.#gaveUp(error, code, doing, attempts, ms);
        const wait = Math.round(delay * (0.75 + Math.random() / 2)); // jitter: two retrying processes drift apart
        this.#metrics.commitRetries.inc();
        this.#log({ level: 'warn', event: 'write_failed', path: this.#path, doing, code, attempt: attempts, retryInMs: wait, message: (error as Error).message });
        await sleep(wait);
        delay = Math.min(2 * delay, this.maxDelayMs);
      }
    }
  }

  #gaveUp(error: unknown, code: string, doing: string, attempts: number, ms: number): unknown {
    if (attempts === 1 || !(error instanceof FlowmasterError)) return error;
    this.#log({ level: 'error', event: 'write_gave_up', path: this.#path, doing, code, attempts, ms: Math.round(ms) });
    return new FlowmasterError(error.code, `${error.message}; gave up after ${attempts} attempts in ${(ms / 1000).toFixed(1)} s`, {
      path: this.#path,
      cause: error.cause,
    });
  }
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || !(v >= 0)) throw new FlowmasterError('ERR_INVALID_OPTION', `${name}: expected a number of ms >= 0`);
  return v;
}

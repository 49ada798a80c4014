/**
 * Readiness of a running capture or ingest (/readyz): each check says
 * whether it is fine and why, and the sensor is ready when all are.
 *
 *   started  a run is being read (not before: nothing would be counted)
 *   commit   with a database: no flow has waited for its commit longer than
 *            maxCommitAgeSec (a quiet link with nothing to commit is fine;
 *            a database that refuses commits is not)
 *   capture  every capture thread is still reading
 *   drops    packets dropped (kernel + interface) / received over the last
 *            dropWindowSec at most maxDropRatio: a window, not the lifetime,
 *            so a burst of drops an hour ago does not keep it unready
 */
import type { CaptureStats } from '../engine/source';

export interface ReadyCheck {
  ok: boolean;
  [detail: string]: unknown;
}

export interface ReadyReport {
  ready: boolean;
  checks: Record<string, ReadyCheck>;
}

export interface ReadinessOptions {
  /** seconds a flow may wait for its commit (default 60) */
  maxCommitAgeSec?: number;
  /** dropped / received packets over the window (default 0.01) */
  maxDropRatio?: number;
  /** seconds (default 60) */
  dropWindowSec?: number;
  /** ms clock (tests) */
  now?: () => number;
}

interface CaptureSource {
  stats(): CaptureStats;
  readonly stopped: boolean;
}

export class Readiness {
  readonly maxCommitAgeSec: number;
  readonly maxDropRatio: number;
  readonly dropWindowSec: number;
  readonly #now: () => number;
  #started = false;
  // commit
  #commits = false;
  #delivered = 0;
  #committed = 0;
  #waitingSince: number | undefined;
  #lastCommit: number | undefined;
  // capture
  readonly #captures: CaptureSource[] = [];
  /** (time, received, dropped) about once a second, the last dropWindowSec of them */
  #samples: { t: number; received: number; dropped: number }[] = [];

  constructor(o: ReadinessOptions = {}) {
    this.maxCommitAgeSec = o.maxCommitAgeSec ?? 60;
    this.maxDropRatio = o.maxDropRatio ?? 0.01;
    this.dropWindowSec = o.dropWindowSec ?? 60;
    this.#now = o.now ?? Date.now;
  }

  /** A run is being read. */
  started(): void {
    this.#started = true;
  }

  /** Flows go into a database: check their commits. */
  watchCommits(): void {
    this.#commits = true;
  }

  /** `records` flows reached the store (before their commit). */
  delivered(records: number): void {
    if (records <= 0) return;
    if (this.#delivered === this.#committed) this.#waitingSince = this.#now();
    this.#delivered += records;
  }

  /** The store committed `rows` flows. */
  committed(rows: number): void {
    const now = this.#now();
    this.#committed += rows;
    this.#lastCommit = now;
    // what is still waiting has waited since this commit at most
    this.#waitingSince = this.#delivered > this.#committed ? now : undefined;
  }

  watchCapture(capture: CaptureSource): void {
    this.#captures.push(capture);
  }

  /** Records the capture counters for the drop window (call about once a second). */
  sample(): void {
    if (!this.#captures.length) return;
    const now = this.#counts();
    this.#samples.push(now);
    // keep one sample at or before the window's start, to measure from
    while (this.#samples.length > 1 && this.#samples[1].t <= now.t - this.dropWindowSec * 1000) this.#samples.shift();
  }

  #counts(): { t: number; received: number; dropped: number } {
    let received = 0;
    let dropped = 0;
    for (const c of this.#captures) {
      const s = c.stats();
      received += s.received;
      dropped += s.kernelDropped + s.interfaceDropped;
    }
    return { t: this.#now(), received, dropped };
  }

  report(): ReadyReport {
    const now = this.#now();
    const checks: Record<string, ReadyCheck> = { started: { ok: this.#started } };
    if (this.#commits) {
      const waiting = this.#waitingSince === undefined ? 0 : (now - this.#waitingSince) / 1000;
      checks.commit = {
        ok: waiting <= this.maxCommitAgeSec,
        waitingSeconds: round(waiting),
        maxSeconds: this.maxCommitAgeSec,
        lastCommitSecondsAgo: this.#lastCommit === undefined ? null : round((now - this.#lastCommit) / 1000),
      };
    }
    if (this.#captures.length) {
      let threads = 0;
      let running = 0;
      for (const c of this.#captures) {
        const s = c.stats();
        threads += s.threads ?? 1;
        running += c.stopped ? 0 : (s.threadsRunning ?? 1);
      }
      checks.capture = { ok: running === threads && threads > 0, threads, running };
      const last = this.#counts();
      const first = this.#samples[0] ?? last;
      const received = last.received - first.received;
      const dropped = last.dropped - first.dropped;
      // on Linux ps_recv includes the drops; elsewhere it may not: never above 1
      const ratio = dropped > 0 ? dropped / Math.max(received, dropped) : 0;
      checks.drops = {
        ok: ratio <= this.maxDropRatio,
        ratio: round(ratio, 6),
        maxRatio: this.maxDropRatio,
        windowSeconds: round((last.t - first.t) / 1000),
        dropped,
        received,
      };
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}

function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

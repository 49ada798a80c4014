/**
 * Adaptive commit batching: the batch size follows the measured commit
 * latency — it doubles while commits take less than half the target and
 * halves when one takes more than the target — between min and max. A max
 * delay bounds how long a flow waits when traffic trickles.
 */
export interface BatcherOptions {
  /** target commit latency in ms (default 100: a commit blocks the event loop that long at most, about as long as one index step of a seal) */
  targetMs?: number;
  /** batch size bounds (default 1024 and 65536) and start (default 4096) */
  min?: number;
  max?: number;
  initial?: number;
  /** longest a pending flow waits before a commit, ms (default 1000) */
  maxDelayMs?: number;
}

export class AdaptiveBatcher {
  readonly targetMs: number;
  readonly min: number;
  readonly max: number;
  readonly maxDelayMs: number;
  size: number;

  constructor(o: BatcherOptions = {}) {
    this.targetMs = o.targetMs ?? 100;
    this.min = Math.max(1, o.min ?? 1024);
    this.max = Math.max(this.min, o.max ?? 65536);
    this.maxDelayMs = o.maxDelayMs ?? 1000;
    this.size = Math.min(this.max, Math.max(this.min, o.initial ?? 4096));
  }

  /** Feeds back one commit: `rows` committed in `ms`. */
  observe(rows: number, ms: number): void {
    if (ms > this.targetMs) this.size = Math.max(this.min, Math.floor(this.size / 2));
    else if (ms < this.targetMs / 2 && rows >= this.size) this.size = Math.min(this.max, this.size * 2);
  }
}

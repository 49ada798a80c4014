/**
 * A run's counters as one shape, whichever way they arrive: a file read's
 * progress(), a capture's stats(), or the summary at the end. Metrics adds
 * the difference to the last observation (Baseline), so live polling and
 * the end-of-run summary add up to the summary exactly, never twice.
 */
import type { CaptureStats, Progress } from '../engine/source';
import { DECODE_ERRORS, END_REASONS } from '../flow/layout';
import type { Summary } from '../meter';

export interface RunCounters {
  packets: number;
  bytes: number;
  filtered: number;
  skipped: number;
  /** indexed like DECODE_ERRORS */
  decodeErrors: number[];
  /** indexed like END_REASONS (0, 'open', stays 0) */
  flowsByReason: number[];
  /** live capture: pcap_stats and records shed */
  received: number;
  kernelDropped: number;
  interfaceDropped: number;
  flowsDropped: number;
}

const SCALARS = ['packets', 'bytes', 'filtered', 'skipped', 'received', 'kernelDropped', 'interfaceDropped', 'flowsDropped'] as const;

export function zeroCounters(): RunCounters {
  return {
    packets: 0, bytes: 0, filtered: 0, skipped: 0,
    decodeErrors: new Array<number>(DECODE_ERRORS.length).fill(0),
    flowsByReason: new Array<number>(END_REASONS.length).fill(0),
    received: 0, kernelDropped: 0, interfaceDropped: 0, flowsDropped: 0,
  };
}

/** Copies an engine's array (maybe shorter, maybe absent) into a full-length one. */
function indexed(from: ArrayLike<number> | undefined, length: number): number[] {
  const out = new Array<number>(length).fill(0);
  if (from) for (let i = 0; i < Math.min(length, from.length); i++) out[i] = Number(from[i]) || 0;
  return out;
}

/** A file read's progress(); what an engine does not report counts 0 until the summary. */
export function fromProgress(p: Progress): RunCounters {
  return {
    ...zeroCounters(),
    packets: p.packets,
    bytes: p.bytes ?? 0,
    filtered: p.filtered ?? 0,
    skipped: p.skipped ?? 0,
    decodeErrors: indexed(p.decodeErrors, DECODE_ERRORS.length),
    flowsByReason: indexed(p.flowsByReason, END_REASONS.length),
  };
}

/** A capture's stats() (or a summary's `capture`, which has the kernel counters only). */
export function fromCaptureStats(s: CaptureStats): RunCounters {
  return {
    ...zeroCounters(),
    packets: s.packets,
    bytes: s.bytes ?? 0,
    skipped: s.skipped ?? 0,
    decodeErrors: indexed(s.decodeErrors, DECODE_ERRORS.length),
    flowsByReason: indexed(s.flowsByReason, END_REASONS.length),
    received: s.received,
    kernelDropped: s.kernelDropped,
    interfaceDropped: s.interfaceDropped,
    flowsDropped: s.flowsDropped,
  };
}

export function fromSummary(s: Summary): RunCounters {
  const c = zeroCounters();
  c.packets = s.packets;
  c.bytes = s.bytes;
  c.filtered = s.filtered;
  c.skipped = s.skipped;
  DECODE_ERRORS.forEach((kind, i) => (c.decodeErrors[i] = (s.decodeErrors as Record<string, number | undefined>)[kind] ?? 0));
  END_REASONS.forEach((reason, i) => (c.flowsByReason[i] = (s.flowsByReason as Record<string, number | undefined>)[reason] ?? 0));
  if (s.capture) {
    c.received = s.capture.received;
    c.kernelDropped = s.capture.kernelDropped;
    c.interfaceDropped = s.capture.interfaceDropped;
    c.flowsDropped = s.capture.flowsDropped;
  }
  return c;
}

/**
 * What has been counted of one run. advance(now) returns what `now` adds
 * and remembers the larger of each counter, so an observation that lags
 * another (a worker's progress message, a stats object passed along late)
 * never subtracts or counts anything twice.
 */
export class Baseline {
  #last: RunCounters;

  constructor(start: RunCounters = zeroCounters()) {
    this.#last = start;
  }

  advance(now: RunCounters): RunCounters {
    const last = this.#last;
    const d = zeroCounters();
    for (const k of SCALARS) {
      d[k] = Math.max(0, now[k] - last[k]);
      last[k] += d[k];
    }
    for (const k of ['decodeErrors', 'flowsByReason'] as const) {
      for (let i = 0; i < d[k].length; i++) {
        d[k][i] = Math.max(0, now[k][i] - last[k][i]);
        last[k][i] += d[k][i];
      }
    }
    return d;
  }
}

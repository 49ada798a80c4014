/**
 * What an engine gives FlowRun: batches of FlowBatch bytes, then a summary.
 * The native addon and the TypeScript engine both implement it.
 */
export interface EngineSummary {
  packets: number;
  bytes: number;
  filtered: number;
  skipped: number;
  firstNs: bigint;
  lastNs: bigint;
  bytesRead: number;
  fileSize: number;
  flowsCreated: number;
  /** indexed by end reason (1..5) */
  flowsByReason: number[];
  /** indexed like DECODE_ERRORS */
  decodeErrors: number[];
  cancelled: boolean;
  error?: { code: string; message: string; offset: number };
}

export type EngineName = 'native' | 'ts';

export interface BatchSource {
  /** Starts reading: `onBatch` for every full (and the last partial) batch, then `onEnd` once. */
  start(onBatch: (records: ArrayBuffer) => void, onEnd: (summary: EngineSummary) => void): void;
  /** One delivered batch was consumed: the reader may run ahead again. */
  ack(): void;
  /** Stop early; `onEnd` still follows. */
  cancel(): void;
}

/** Batches a reader may deliver ahead of the consumer before it pauses. */
export const MAX_INFLIGHT = 4;

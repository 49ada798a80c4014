/**
 * What an engine gives FlowRun: batches of FlowBatch bytes, then a summary.
 * The native addon and the TypeScript engine both implement it.
 */
/** What a capture has counted so far (kernel figures are polled about once a second). */
export interface CaptureStats {
  /** packets read by the capture threads */
  packets: number;
  /** pcap_stats: packets the kernel received for the capture sockets (on loopback each is seen twice) */
  received: number;
  /** pcap_stats: dropped because the kernel ring was full */
  kernelDropped: number;
  /** pcap_stats: dropped by the interface or its driver */
  interfaceDropped: number;
  /** flow records shed because JavaScript fell behind (a capture never blocks the kernel ring) */
  flowsDropped: number;
  // Live from stats() (not in summary.capture, whose summary has them):
  /** wire bytes of the packets read */
  bytes?: number;
  /** packets accounted to no flow */
  skipped?: number;
  /** indexed like DECODE_ERRORS */
  decodeErrors?: number[];
  /** flows ended so far, indexed by end reason (1..5) */
  flowsByReason?: number[];
  /** flows open in the capture threads' tables, and the tables' capacity (maxFlows) */
  activeFlows?: number;
  maxFlows?: number;
  /** capture threads started, and still reading */
  threads?: number;
  threadsRunning?: number;
}

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
  /** live capture: kernel and shedding counters at the end */
  capture?: CaptureStats;
  /** live capture stopped with flush: false: flows left in the table */
  unflushed?: number;
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
  /** How far reading has got (bytes of the file, packets), updated as it goes. */
  progress(): Progress;
}

/**
 * A read's running counters. bytesRead and packets always; engines that
 * count as they go (both engines, also in a worker) add the rest, which live
 * metrics read. Each is at most its final value in the summary.
 */
export interface Progress {
  bytesRead: number;
  packets: number;
  /** wire bytes of the packets read */
  bytes?: number;
  filtered?: number;
  skipped?: number;
  /** indexed like DECODE_ERRORS */
  decodeErrors?: number[];
  /** flows ended so far, indexed by end reason (1..5) */
  flowsByReason?: number[];
}

const owners = new WeakMap<object, object>();

/**
 * Marks `o` (a stats object an engine hands out) as coming from `owner` (its
 * source), so that code given only the object can tell which run it is of:
 * live metrics count a run once, whoever else passes its stats along.
 */
export function tagOwner<T extends object>(o: T, owner: object): T {
  owners.set(o, owner);
  return o;
}

/** The source that handed out `o`, if it was tagged. */
export function ownerOf(o: object | undefined): object | undefined {
  return o === undefined ? undefined : owners.get(o);
}

/** Batches a reader may deliver ahead of the consumer before it pauses. */
export const MAX_INFLIGHT = 4;

/** The summary of a read that failed before it produced anything. */
export function failedSummary(code: string, message: string): EngineSummary {
  return {
    packets: 0, bytes: 0, filtered: 0, skipped: 0, firstNs: 0n, lastNs: 0n, bytesRead: 0, fileSize: 0, flowsCreated: 0,
    flowsByReason: [0, 0, 0, 0, 0, 0], decodeErrors: [], cancelled: false,
    error: { code, message, offset: -1 },
  };
}

/**
 * Loads the C++ addon (build/Release/flowmaster.node) and runs offline reads
 * on it. All policy (options, errors, iteration) stays in TypeScript.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlowmasterError, type ErrorCode } from '../errors';
import { FlowBatch } from '../flow/flow';
import { ACCOUNTING_MODES, type ResolvedCaptureOptions, type ResolvedOptions } from '../options';
import { MAX_INFLIGHT, tagOwner, type BatchSource, type CaptureStats, type EngineSummary, type Progress } from './source';

/** The summary both engines return (see source.ts). */
export type NativeSummary = EngineSummary;

export interface NativeFileJob {
  start(): void;
  ack(): void;
  cancel(): void;
  progress(): Progress;
}

export interface NativeCaptureJob {
  start(): void;
  ack(): void;
  stop(flush: boolean): void;
  snapshot(): number;
  stats(): CaptureStats;
}

export interface NativeAddon {
  CaptureJob: new (
    interfaces: string[],
    options: Record<string, unknown>,
    onEvent: (kind: 'batch' | 'snapshot' | 'end', payload: ArrayBuffer | EngineSummary, range?: { from: number; to: number }) => void,
  ) => NativeCaptureJob;
  FileJob: new (
    path: string,
    options: Record<string, unknown>,
    onEvent: (kind: 'batch' | 'end', payload: ArrayBuffer | EngineSummary) => void,
  ) => NativeFileJob;
  compileFilter(filter: string, linktype?: number): void;
  bpfProgram(filter: string, linktype?: number): { code: number; jt: number; jf: number; k: number }[];
  layout: Record<string, number>;
  decodeErrorNames: string[];
  /** libpcap's version string, or null when libpcap is not installed (it is loaded on first use). */
  pcapVersion(): string | null;
}

function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return __dirname;
    dir = up;
  }
  return dir;
}

let cached: NativeAddon | undefined;
let loadError: Error | undefined;

/**
 * The addon, or a FlowmasterError ERR_ADDON_MISSING saying how to build it.
 * FLOWMASTER_NO_NATIVE=1 hides it (to run or test the TypeScript engine alone).
 */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (loadError) throw loadError;
  if (process.env.FLOWMASTER_NO_NATIVE === '1') {
    loadError = new FlowmasterError('ERR_ADDON_MISSING', 'the flowmaster native addon is disabled by FLOWMASTER_NO_NATIVE=1');
    throw loadError;
  }
  // FLOWMASTER_ADDON=/path/to/flowmaster.node loads that build only (e.g. the
  // sanitizer build in build-cmake-asan/, see docs/robustness.md).
  const override = process.env.FLOWMASTER_ADDON;
  let file: string | undefined;
  try {
    // node-gyp-build: build/Release (built from source) if present, else the
    // prebuilt binary for this platform, arch and libc in prebuilds/.
    file = override ? path.resolve(override) : (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot());
    cached = require(file) as NativeAddon;
    return cached;
  } catch (e) {
    loadError = new FlowmasterError('ERR_ADDON_MISSING', addonMissingMessage(file, e as Error), { cause: e });
    throw loadError;
  }
}

/** Why the addon is missing and what to do, for someone who installed the package (not a developer of it). */
function addonMissingMessage(file: string | undefined, e: Error): string {
  const where = `${process.platform}-${process.arch}`;
  const why = file ? `${file} does not load: ${e.message.split('\n')[0]}` : `no prebuilt binary for ${where} and none built from source`;
  return (
    `the flowmaster native addon is not available (${why}). ` +
    'Prebuilt binaries cover linux-x64 and linux-arm64 (glibc); elsewhere build it: ' +
    'install a C++ compiler (Debian/Ubuntu: apt-get install g++ make python3), then `npm rebuild flowmaster --build-from-source`.'
  );
}

/** True when the addon loads (never throws). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

/** A read of `path` on the addon's thread. */
export function nativeSource(path: string, options: ResolvedOptions): BatchSource {
  const addon = loadNative();
  let job: NativeFileJob | undefined;
  return {
    start(onBatch, onEnd) {
      job = new addon.FileJob(path, { ...nativeOptions(options), maxInflight: MAX_INFLIGHT }, (kind, payload) => {
        if (kind === 'batch') onBatch(payload as ArrayBuffer);
        else onEnd(payload as EngineSummary);
      });
      job.start();
    },
    ack: () => job?.ack(),
    cancel: () => job?.cancel(),
    progress: () => job?.progress() ?? { bytesRead: 0, packets: 0 },
  };
}

/** Options as the addon reads them. */
export function nativeOptions(o: ResolvedOptions): Record<string, unknown> {
  return {
    idleTimeout: o.idleTimeout,
    activeTimeout: o.activeTimeout,
    tcpCloseTimeout: o.tcpCloseTimeout,
    tcpTermination: o.tcpTermination,
    keyVlan: o.keyVlan,
    decodeTunnels: o.decodeTunnels,
    l2Flows: o.l2Flows,
    accounting: ACCOUNTING_MODES.indexOf(o.accounting),
    statistics: o.statistics,
    splt: o.splt,
    dissect: o.dissect,
    dissectBytes: o.dissectBytes,
    maxFlows: o.maxFlows,
    maxPackets: o.maxPackets,
    batchSize: o.batchSize,
    filter: o.filter,
  };
}

/** A BatchSource over live interfaces, with stop, snapshots and running statistics. */
export interface CaptureSource extends BatchSource {
  stop(flush: boolean): void;
  /** the active flows' records of every capture thread */
  snapshot(): Promise<FlowBatch>;
  stats(): CaptureStats;
}

/** Batches JavaScript may hold before a capture sheds records (about 1 GiB of 4096-record batches). */
const CAPTURE_MAX_INFLIGHT = 64;

export function nativeCapture(options: ResolvedOptions, live: ResolvedCaptureOptions): CaptureSource {
  const addon = loadNative();
  let job: NativeCaptureJob | undefined;
  let ended = false;
  const threads = live.interfaces.length * live.threads;
  const snapshots = new Map<number, { parts: ArrayBuffer[]; resolve: (b: FlowBatch) => void; reject: (e: Error) => void }>();
  const stopped = () => new FlowmasterError('ERR_STOPPED', `the capture on ${live.interfaces.join(', ')} has stopped`);
  const source: CaptureSource = {
    start(onBatch, onEnd) {
      job = new addon.CaptureJob(
        live.interfaces,
        { ...nativeOptions(options), ...live, filter: live.filter ?? options.filter, maxInflight: CAPTURE_MAX_INFLIGHT },
        (kind, payload, range) => {
          if (kind === 'batch') onBatch(payload as ArrayBuffer);
          else if (kind === 'snapshot') {
            // one thread's flows answer every request it had not answered yet
            for (const [seq, s] of snapshots) {
              if (seq <= range!.from || seq > range!.to) continue;
              s.parts.push(payload as ArrayBuffer);
              if (s.parts.length === threads) {
                snapshots.delete(seq);
                s.resolve(FlowBatch.concat(s.parts));
              }
            }
          } else {
            ended = true;
            for (const s of snapshots.values()) s.reject(stopped());
            snapshots.clear();
            const summary = payload as EngineSummary;
            if (summary.capture) tagOwner(summary.capture, source); // summary.capture is this capture's, also to live metrics
            onEnd(summary);
          }
        },
      );
      try {
        job.start();
      } catch (e) {
        const err = e as Error & { code?: string };
        throw new FlowmasterError((err.code ?? 'ERR_CAPTURE') as ErrorCode, err.message);
      }
    },
    ack: () => job?.ack(),
    cancel: () => job?.stop(true),
    stop: (flush) => job?.stop(flush),
    progress: () => {
      const s = job?.stats();
      return { bytesRead: 0, packets: s?.packets ?? 0 };
    },
    snapshot() {
      if (!job || ended) return Promise.reject(stopped());
      const seq = job.snapshot();
      return new Promise((resolve, reject) => snapshots.set(seq, { parts: [], resolve, reject }));
    },
    stats: () => tagOwner(job!.stats(), source),
  };
  return source;
}

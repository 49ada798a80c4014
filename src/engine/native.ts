/**
 * Loads the C++ addon (build/Release/flowmaster.node) and runs offline reads
 * on it. All policy (options, errors, iteration) stays in TypeScript.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlowmasterError } from '../errors';
import { ACCOUNTING_MODES, type ResolvedOptions } from '../options';

export interface NativeSummary {
  packets: number;
  bytes: number;
  filtered: number;
  skipped: number;
  firstNs: bigint;
  lastNs: bigint;
  bytesRead: number;
  fileSize: number;
  flowsCreated: number;
  flowsByReason: number[];
  decodeErrors: number[];
  cancelled: boolean;
  error?: { code: string; message: string; offset: number };
}

export interface NativeFileJob {
  start(): void;
  ack(): void;
  cancel(): void;
}

export interface NativeAddon {
  FileJob: new (
    path: string,
    options: Record<string, unknown>,
    onEvent: (kind: 'batch' | 'end', payload: ArrayBuffer | NativeSummary) => void,
  ) => NativeFileJob;
  compileFilter(filter: string, linktype?: number): void;
  layout: Record<string, number>;
  decodeErrorNames: string[];
  pcapVersion: string;
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

/** The addon, or a FlowmasterError ERR_ADDON_MISSING saying how to build it. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (loadError) throw loadError;
  const root = packageRoot();
  const candidates = [path.join(root, 'build', 'Release', 'flowmaster.node'), path.join(root, 'build', 'Debug', 'flowmaster.node')];
  const failures: string[] = [];
  for (const file of candidates) {
    try {
      cached = require(file) as NativeAddon;
      return cached;
    } catch (e) {
      failures.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  loadError = new FlowmasterError(
    'ERR_ADDON_MISSING',
    `the flowmaster native addon is not built (${failures.join('; ')}). ` +
      'Install libpcap-dev (apt-get install libpcap-dev) and a C++ compiler, then run `npm run build:native`.',
  );
  throw loadError;
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
    maxFlows: o.maxFlows,
    batchSize: o.batchSize,
    filter: o.filter,
  };
}

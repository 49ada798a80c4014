/** FlowMeter options: defaults and validation (invalid options throw at construction). */
import { FlowmasterError } from './errors';

export type Accounting = 'link' | 'ip' | 'transport' | 'payload';
export const ACCOUNTING_MODES: readonly Accounting[] = ['link', 'ip', 'transport', 'payload'];

export interface FlowMeterOptions {
  /** Which engine runs: 'native' (C++ addon), 'ts' (pure TypeScript) or 'auto' (native when the addon loads, else ts with one warning). */
  engine?: 'native' | 'ts' | 'auto';
  /** BPF filter (tcpdump syntax), applied before decoding. */
  filter?: string;
  /** Seconds without packets before a flow ends (default 120; Infinity: never). */
  idleTimeout?: number;
  /** Seconds after which a long flow is cut into a new segment (default 1800; Infinity: never). */
  activeTimeout?: number;
  /** End TCP flows on RST or FIN from both sides (default true). */
  tcpTermination?: boolean;
  /** Seconds a terminated TCP flow stays open for trailing packets (default 5). */
  tcpCloseTimeout?: number;
  /** Key flows by the outermost VLAN id too (default true). */
  keyVlan?: boolean;
  /** Key tunnelled packets (GRE, IP-in-IP, 6in4, VXLAN, GTP-U) by the inner header (default true). */
  decodeTunnels?: boolean;
  /** Make layer-2 flows of non-IP frames (default true). */
  l2Flows?: boolean;
  /** Which length counts as bytes (default 'link': the original frame length). */
  accounting?: Accounting;
  /** Size and inter-arrival statistics per direction and both together, and TCP flag counters (default false). */
  statistics?: boolean;
  /** Record the direction, size and inter-arrival time of each flow's first N packets (nfstream's SPLT; default 0: off, at most 32). */
  splt?: number;
  /** Read the first payload bytes of TCP/UDP flows for the application and its fields: SNI, JA4, DNS, HTTP… (default true; docs/applications.md). */
  dissect?: boolean;
  /** Most payload bytes read per flow direction (default 4096, 64..65535). */
  dissectBytes?: number;
  /** Flow table capacity; the table evicts (counted) when full (default 1,000,000). */
  maxFlows?: number;
  /** Records per FlowBatch (default 4096). */
  batchSize?: number;
}

export type ResolvedOptions = Required<Omit<FlowMeterOptions, 'filter'>> & {
  filter: string | undefined;
  /** @internal tests only: lowers the packet count (2^32 - 1) at which a segment ends */
  maxPackets?: number;
};

export const DEFAULT_OPTIONS: ResolvedOptions = {
  engine: 'auto',
  filter: undefined,
  idleTimeout: 120,
  activeTimeout: 1800,
  tcpTermination: true,
  tcpCloseTimeout: 5,
  keyVlan: true,
  decodeTunnels: true,
  l2Flows: true,
  accounting: 'link',
  statistics: false,
  splt: 0,
  dissect: true,
  dissectBytes: 4096,
  maxFlows: 1_000_000,
  batchSize: 4096,
};

const MAX_FLOWS_LIMIT = 2 ** 31;
const MAX_BATCH = 1 << 20;

function bad(name: string, why: string): never {
  throw new FlowmasterError('ERR_INVALID_OPTION', `option ${name}: ${why}`);
}

function seconds(name: string, v: unknown, allowZero: boolean): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0 || (!allowZero && v === 0))
    bad(name, `expected ${allowZero ? 'a non-negative' : 'a positive'} number of seconds or Infinity, got ${String(v)}`);
  return v;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') bad(name, `expected true or false, got ${String(v)}`);
  return v;
}

function integer(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(name, `expected an integer in ${min}..${max}, got ${String(v)}`);
  return v;
}

export function resolveOptions(options: FlowMeterOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') bad('options', 'expected an object');
  for (const key of Object.keys(options)) if (!(key in DEFAULT_OPTIONS)) bad(key, 'unknown option');
  const o = { ...DEFAULT_OPTIONS };
  const given = options as Record<string, unknown>;
  const has = (k: string) => given[k] !== undefined;
  if (has('engine')) {
    if (given.engine !== 'native' && given.engine !== 'ts' && given.engine !== 'auto') bad('engine', `expected 'native', 'ts' or 'auto', got ${String(given.engine)}`);
    o.engine = given.engine;
  }
  if (has('filter')) {
    if (typeof given.filter !== 'string') bad('filter', 'expected a BPF expression string');
    o.filter = given.filter.trim() === '' ? undefined : given.filter;
  }
  if (has('idleTimeout')) o.idleTimeout = seconds('idleTimeout', given.idleTimeout, false);
  if (has('activeTimeout')) o.activeTimeout = seconds('activeTimeout', given.activeTimeout, false);
  if (has('tcpCloseTimeout')) o.tcpCloseTimeout = seconds('tcpCloseTimeout', given.tcpCloseTimeout, true);
  if (has('tcpTermination')) o.tcpTermination = bool('tcpTermination', given.tcpTermination);
  if (has('keyVlan')) o.keyVlan = bool('keyVlan', given.keyVlan);
  if (has('decodeTunnels')) o.decodeTunnels = bool('decodeTunnels', given.decodeTunnels);
  if (has('l2Flows')) o.l2Flows = bool('l2Flows', given.l2Flows);
  if (has('statistics')) o.statistics = bool('statistics', given.statistics);
  if (has('dissect')) o.dissect = bool('dissect', given.dissect);
  if (has('splt')) o.splt = integer('splt', given.splt, 0, 32);
  if (has('dissectBytes')) o.dissectBytes = integer('dissectBytes', given.dissectBytes, 64, 65535);
  if (has('accounting')) {
    if (!ACCOUNTING_MODES.includes(given.accounting as Accounting)) bad('accounting', `expected one of ${ACCOUNTING_MODES.join(', ')}, got ${String(given.accounting)}`);
    o.accounting = given.accounting as Accounting;
  }
  if (has('maxFlows')) o.maxFlows = integer('maxFlows', given.maxFlows, 1, MAX_FLOWS_LIMIT);
  if (has('batchSize')) o.batchSize = integer('batchSize', given.batchSize, 1, MAX_BATCH);
  return o;
}

/** meter.capture() settings (the flow options come from the FlowMeter). */
export interface CaptureOptions {
  /** interface name, or several captured at once */
  interface: string | string[];
  /** BPF filter for this capture (default: the meter's `filter`) */
  filter?: string;
  /** bytes kept of each packet (default 262144; headers need ~128) */
  snaplen?: number;
  /** promiscuous mode (default true) */
  promisc?: boolean;
  /** kernel ring size in bytes (default: libpcap's, 2 MiB) */
  bufferSize?: number;
  /** deliver packets as they arrive instead of in ring blocks (default false) */
  immediate?: boolean;
  /** libpcap read timeout and expiry tick, ms (default 100) */
  timeoutMs?: number;
  /** capture threads per interface, joined by PACKET_FANOUT (hash) when > 1 (default 1) */
  threads?: number;
}

export interface ResolvedCaptureOptions {
  interfaces: string[];
  filter?: string;
  snaplen: number;
  promisc: boolean;
  bufferSize: number;
  immediate: boolean;
  timeoutMs: number;
  threads: number;
}

const CAPTURE_KEYS = ['interface', 'filter', 'snaplen', 'promisc', 'bufferSize', 'immediate', 'timeoutMs', 'threads'];

export function resolveCaptureOptions(options: CaptureOptions): ResolvedCaptureOptions {
  if (options === null || typeof options !== 'object') bad('capture options', 'expected an object with `interface`');
  for (const key of Object.keys(options)) if (!CAPTURE_KEYS.includes(key)) bad(key, 'unknown capture option');
  const list = Array.isArray(options.interface) ? options.interface : [options.interface];
  if (list.length === 0 || list.some((i) => typeof i !== 'string' || i === '' || i.length > 64))
    bad('interface', `expected an interface name or a non-empty array of them, got ${String(options.interface)}`);
  if (new Set(list).size !== list.length) bad('interface', `listed twice: ${list.join(', ')}`);
  const has = (k: keyof CaptureOptions) => options[k] !== undefined;
  if (has('filter') && typeof options.filter !== 'string') bad('filter', 'expected a BPF expression string');
  return {
    interfaces: list,
    ...(has('filter') && options.filter!.trim() !== '' ? { filter: options.filter } : {}),
    snaplen: has('snaplen') ? integer('snaplen', options.snaplen, 64, 262144) : 262144,
    promisc: has('promisc') ? bool('promisc', options.promisc) : true,
    bufferSize: has('bufferSize') ? integer('bufferSize', options.bufferSize, 65536, 2 ** 31 - 1) : 0,
    immediate: has('immediate') ? bool('immediate', options.immediate) : false,
    timeoutMs: has('timeoutMs') ? integer('timeoutMs', options.timeoutMs, 1, 60000) : 100,
    threads: has('threads') ? integer('threads', options.threads, 1, 64) : 1,
  };
}

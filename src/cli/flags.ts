/** Option parsers and the flow-engine flags the read, ingest and capture commands share. */
import * as fs from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_RATE, IpfixExporter } from '../export/ipfix';
import type { FlowBatch } from '../flow/flow';
import { ACCOUNTING_MODES, type FlowMeterOptions } from '../options';

export function seconds(v: string): number {
  if (v === 'inf' || v === 'Infinity') return Infinity;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds (a number, or "inf")');
  return n;
}

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

/** A duration flag ('10m', '30s', '0') as ms. */
function durationMs(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError("expected a duration: '30s', '10m', '1h' or ms");
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!);
}

/** How a writing command (ingest, capture) shares its database with other writers and rides out failures. */
export function addWriterFlags(c: Command): Command {
  return c
    .option('--wait-for-writer <duration>', "wait this long for another process writing the database, instead of ERR_DB_LOCKED at once ('5m')", durationMs, 0)
    .option('--retry-for <duration>', "retry a failed write (busy, disk full, I/O) with backoff for this long before giving up ('0': never)", durationMs, 600_000);
}

export interface WriterFlags {
  waitForWriter: number;
  retryFor: number;
}

export function writerOptions(f: WriterFlags): { waitForWriterMs: number; retry: { maxMs: number } } {
  return { waitForWriterMs: f.waitForWriter, retry: { maxMs: f.retryFor } };
}

/** --partition-span, for the commands that write a store (ingest, capture). */
export function partitionSpanOption(): Option {
  return new Option('--partition-span <age>', "wall time a partition takes flows at most before it is sealed ('1d', '6h')");
}

/** A size in bytes: 1048576, 500K, 500M, 20G, 1T (powers of 1024). */
export function byteSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a size: bytes, or a number with K, M, G or T');
  return Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2].toUpperCase() || ' '));
}

/** The latest time a store can hold: int64 nanoseconds end in 2262-04-11T23:47:16.854Z. */
export const MAX_TIME_MS = 9_223_372_036_854;

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A time: ms since the epoch, or an ISO 8601 date/time ('2026-11-27',
 * '2026-11-27T10:00', '2026-11-27T10:00:00.5+01:00'), UTC unless it gives a
 * zone. Strict: an impossible date (2026-02-30) is an error, not March 2.
 */
export function time(v: string): number {
  const ms = /^\d+$/.test(v) ? Number(v) : isoTime(v);
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < 0 || ms > MAX_TIME_MS)
    throw new InvalidArgumentError('expected an ISO 8601 date/time (UTC unless a zone is given) or ms since the epoch, between 1970 and 2262');
  return ms;
}

function isoTime(v: string): number | undefined {
  const m = ISO_TIME.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined; // day 0 of the next month: this month's last
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(3).replace(':', '') || '0');
    if (zh > 23 || zm > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day); // Date.UTC would map years 0..99 to 1900..1999
  utc.setUTCHours(hour, minute, second, Number(frac.padEnd(3, '0').slice(0, 3))); // below a ms: cut, as ms integers are
  return utc.getTime() - offsetMin * 60_000;
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, icmp6: 58, sctp: 132 };

/** A protocol by name (tcp, udp, icmp, icmp6, sctp, gre) or number. */
export function protocol(v: string): number {
  const n = PROTOCOLS[v.toLowerCase()] ?? Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new InvalidArgumentError('expected tcp, udp, icmp, icmp6, sctp, gre or 0..255');
  return n;
}

/** HOST:PORT (IPv6 as [addr]:port). */
export function hostPort(v: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new InvalidArgumentError('expected HOST:PORT');
  return { host: m[1], port };
}

export interface EngineFlags {
  engine: 'native' | 'ts' | 'auto';
  filter?: string;
  idleTimeout: number;
  activeTimeout: number;
  tcpTermination: boolean;
  tcpCloseTimeout: number;
  keyVlan: boolean;
  decodeTunnels: boolean;
  l2Flows: boolean;
  accounting: FlowMeterOptions['accounting'];
  statistics: boolean;
  /** --splt: the first N packets of each flow (0: off) */
  splt: number;
  maxFlows: number;
  batchSize: number;
  /** --no-dissect */
  dissect: boolean;
  dissectBytes?: number;
}

/** --splt: packets recorded per flow, 0..32. */
export function spltCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 32) throw new InvalidArgumentError('expected an integer 0..32');
  return n;
}

/** --dissect-bytes: payload bytes kept per flow direction, 64..65535. */
export function dissectBytes(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 64 || n > 65535) throw new InvalidArgumentError('expected an integer 64..65535');
  return n;
}

/**
 * The dissection options the flags ask for, only where they differ from the
 * defaults (dissect: true, dissectBytes: 4096): the options of a plain run
 * (and with them the ClickHouse run names that derive from them) stay as
 * they were.
 */
export function dissectOptions(f: { dissect?: boolean; dissectBytes?: number }): { dissect?: false; dissectBytes?: number } {
  return { ...(f.dissect === false ? { dissect: false as const } : {}), ...(f.dissectBytes !== undefined ? { dissectBytes: f.dissectBytes } : {}) };
}

/** The FlowMeter options as flags, the same on every command that meters packets. */
export function addEngineFlags(c: Command, engines: readonly string[] = ['native', 'ts', 'auto']): Command {
  return c
    .addOption(new Option('--engine <engine>', 'flow engine: the C++ addon, pure TypeScript, or native when it loads').choices(engines).default('auto'))
    .option('-f, --filter <bpf>', 'BPF filter (tcpdump syntax)')
    .option('--idle-timeout <seconds>', 'end a flow after this many idle seconds ("inf": never)', seconds, 120)
    .option('--active-timeout <seconds>', 'cut long flows into segments after this many seconds', seconds, 1800)
    .option('--no-tcp-termination', 'do not end TCP flows on RST or FIN from both sides')
    .option('--tcp-close-timeout <seconds>', 'seconds a terminated TCP flow waits for trailing packets', seconds, 5)
    .option('--no-key-vlan', 'leave the VLAN id out of the flow key')
    .option('--no-decode-tunnels', 'key tunnelled packets by the outer header')
    .option('--no-l2-flows', 'ignore non-IP frames instead of making layer-2 flows')
    .addOption(new Option('--accounting <mode>', 'which length counts as bytes').choices(ACCOUNTING_MODES as string[]).default('link'))
    .option('--statistics', 'size and inter-arrival statistics per direction and both, packets per TCP flag', false)
    .option('--splt <n>', 'direction, size and inter-arrival time of the first n packets of each flow, 0..32 (0: off)', spltCount, 0)
    .option('--max-flows <n>', 'flow table capacity (evicts when full)', positiveInt, 1_000_000)
    .option('--batch-size <n>', 'records per batch', positiveInt, 4096)
    .option('--no-dissect', 'do not read the payload for applications (TLS SNI, HTTP host, DNS names, ...: docs/applications.md)')
    .option('--dissect-bytes <n>', 'payload bytes kept per flow direction to read them, 64..65535 (default 4096)', dissectBytes);
}

export function meterOptions(f: EngineFlags): FlowMeterOptions {
  return {
    engine: f.engine,
    filter: f.filter,
    idleTimeout: f.idleTimeout,
    activeTimeout: f.activeTimeout,
    tcpTermination: f.tcpTermination,
    tcpCloseTimeout: f.tcpCloseTimeout,
    keyVlan: f.keyVlan,
    decodeTunnels: f.decodeTunnels,
    l2Flows: f.l2Flows,
    accounting: f.accounting,
    statistics: f.statistics,
    // only when asked: a plain run's options (and the ClickHouse run names derived from them) stay as they were
    ...(f.splt ? { splt: f.splt } : {}),
    maxFlows: f.maxFlows,
    batchSize: f.batchSize,
    ...dissectOptions(f),
  };
}

/** Messages per second: a positive number, or "inf" for unpaced. */
function messageRate(v: string): number {
  const n = v === 'inf' || v === 'Infinity' ? Infinity : Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('expected messages per second (a positive number, or "inf")');
  return n;
}

/** --ipfix HOST:PORT and how it sends: an exporter that also receives every flow (read, ingest, capture). */
export function addExportFlag(c: Command): Command {
  return c
    .option('--ipfix <host:port>', 'also export the flows over IPFIX (UDP, RFC 7011) to a collector', hostPort)
    .addOption(
      new Option('--ipfix-biflow <mode>', 'IPFIX records of a flow: one per direction (split, which every collector reads whole) or one RFC 5103 biflow (nfdump reads it; nfacctd only its forward half)')
        .choices(['split', 'rfc5103'])
        .default('split'),
    )
    .option('--ipfix-rate <msgs/s>', `IPFIX messages per second at most, "inf": unpaced (default ${DEFAULT_RATE}: a collector's default socket buffer takes it whole)`, messageRate);
}

export interface ExportFlags {
  ipfix?: { host: string; port: number };
  ipfixBiflow?: 'split' | 'rfc5103';
  ipfixRate?: number;
  /** capture's -i: the records' ingressInterface when it names one interface */
  interface?: string[];
}

/** The kernel's ifindex of a network interface, undefined when it has none (not Linux, `any`, a file). */
export function ifindexOf(name: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The exporter --ipfix asks for, or undefined; `send(batch)` writes and flushes it. With --statistics the records carry the TCP flag counters. */
export function exporterFor(flags: ExportFlags & { statistics?: boolean }): { send(batch: FlowBatch): Promise<void>; close(): Promise<void> } | undefined {
  if (!flags.ipfix) return undefined;
  const one = flags.interface?.length === 1 && !flags.interface[0].includes('/') ? flags.interface[0] : undefined;
  const ingressInterface = one === undefined ? undefined : ifindexOf(one);
  const exporter = new IpfixExporter({ ...flags.ipfix, biflow: flags.ipfixBiflow, rate: flags.ipfixRate, ingressInterface, statistics: flags.statistics === true });
  return {
    send: async (batch) => {
      exporter.write(batch);
      await exporter.flush(); // a capture's batches trickle: do not hold a partial message
    },
    close: () => exporter.close(),
  };
}

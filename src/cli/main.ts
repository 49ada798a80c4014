#!/usr/bin/env node
/**
 * flowmaster command line. Exit codes: 0 ok, 1 runtime error (bad capture,
 * I/O), 2 usage error (bad flag or option value).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { FlowmasterError } from '../errors';
import { csvHeader, csvRow, formatTable, jsonLine, TABLE_COLUMNS, tableCells } from '../export/columns';
import type { Flow } from '../flow/flow';
import { FlowMeter, type Summary } from '../meter';
import { ACCOUNTING_MODES, type FlowMeterOptions } from '../options';

const USAGE_CODES = new Set(['ERR_INVALID_OPTION', 'ERR_BPF']);

function seconds(v: string): number {
  if (v === 'inf' || v === 'Infinity') return Infinity;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds (a number, or "inf")');
  return n;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface ReadFlags {
  format?: 'jsonl' | 'csv' | 'table';
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
  maxFlows: number;
  batchSize: number;
  top?: number;
  summary: boolean;
}

function meterOptions(f: ReadFlags): FlowMeterOptions {
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
    maxFlows: f.maxFlows,
    batchSize: f.batchSize,
  };
}

function printSummary(s: Summary): void {
  const errs = Object.entries(s.decodeErrors).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  const reasons = Object.entries(s.flowsByReason).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(' ');
  process.stderr.write(
    `${s.path}: ${s.packets} packets, ${s.bytes} bytes, ${s.flows} flows (${reasons || 'none'}), ` +
      `${s.filtered} filtered, ${s.skipped} not in a flow, decode errors: ${errs}; ` +
      `${(s.wallMs / 1000).toFixed(3)} s, ${s.packetsPerSecond} packets/s\n`,
  );
}

async function read(files: string[], flags: ReadFlags): Promise<number> {
  const meter = new FlowMeter(meterOptions(flags));
  const format = flags.format ?? (process.stdout.isTTY ? 'table' : 'jsonl');
  const out: string[] = [];
  const flushOut = () => {
    if (out.length) process.stdout.write(out.join('\n') + '\n');
    out.length = 0;
  };
  const tableRows: { bytes: number; cells: string[] }[] = [];
  let status = 0;
  if (format === 'csv') out.push(csvHeader());
  for (const file of files) {
    const run = meter.readFile(file);
    try {
      for await (const batch of run) {
        for (const flow of batch) {
          if (format === 'table' || flags.top) tableRows.push({ bytes: flow.bytes, cells: rowFor(flow, format) });
          else out.push(format === 'csv' ? csvRow(flow) : jsonLine(flow));
        }
        flushOut();
      }
    } catch (e) {
      flushOut();
      const err = e as FlowmasterError;
      process.stderr.write(`flowmaster: ${err.message} [${err.code ?? 'ERROR'}]\n`);
      status = 1;
    }
    if (flags.summary) printSummary(await run.summary);
  }
  if (format === 'table' || flags.top) {
    let rows = tableRows;
    if (flags.top) rows = [...rows].sort((a, b) => b.bytes - a.bytes).slice(0, flags.top);
    if (format === 'table') process.stdout.write(formatTable(rows.map((r) => r.cells), TABLE_COLUMNS) + '\n');
    else process.stdout.write(rows.map((r) => r.cells[0]).join('\n') + (rows.length ? '\n' : ''));
  }
  return status;
}

function rowFor(flow: Flow, format: string): string[] {
  if (format === 'table') return tableCells(flow);
  return [format === 'csv' ? csvRow(flow) : jsonLine(flow)];
}

export function program(): Command {
  const p = new Command('flowmaster')
    .description('Packets to bidirectional flow records (pcap/pcapng files)')
    .version(require('../../package.json').version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  p.command('read')
    .description('read capture files and print their flows')
    .argument('<files...>', 'pcap or pcapng files ("-" for stdin)')
    .addOption(new Option('--format <format>', 'output format (default: table on a terminal, else jsonl)').choices(['jsonl', 'csv', 'table']))
    .addOption(new Option('--engine <engine>', 'flow engine: the C++ addon, pure TypeScript, or native when it loads').choices(['native', 'ts', 'auto']).default('auto'))
    .option('-f, --filter <bpf>', 'BPF filter (tcpdump syntax)')
    .option('--idle-timeout <seconds>', 'end a flow after this many idle seconds ("inf": never)', seconds, 120)
    .option('--active-timeout <seconds>', 'cut long flows into segments after this many seconds', seconds, 1800)
    .option('--no-tcp-termination', 'do not end TCP flows on RST or FIN from both sides')
    .option('--tcp-close-timeout <seconds>', 'seconds a terminated TCP flow waits for trailing packets', seconds, 5)
    .option('--no-key-vlan', 'leave the VLAN id out of the flow key')
    .option('--no-decode-tunnels', 'key tunnelled packets by the outer header')
    .option('--no-l2-flows', 'ignore non-IP frames instead of making layer-2 flows')
    .addOption(new Option('--accounting <mode>', 'which length counts as bytes').choices(ACCOUNTING_MODES as string[]).default('link'))
    .option('--statistics', 'per-direction size and inter-arrival statistics (jsonl)', false)
    .option('--max-flows <n>', 'flow table capacity (evicts when full)', positiveInt, 1_000_000)
    .option('--batch-size <n>', 'records per batch', positiveInt, 4096)
    .option('--top <n>', 'only the n largest flows by bytes', positiveInt)
    .option('--summary', 'print a summary per file to stderr', false)
    .addHelpText(
      'after',
      `
Examples:
  $ flowmaster read capture.pcap
  $ flowmaster read --format csv --idle-timeout 60 capture.pcapng > flows.csv
  $ flowmaster read -f "tcp port 502" --no-key-vlan --summary plant.pcap
  $ tcpdump -w - -c 1000 | flowmaster read --format jsonl -`,
    )
    .action(async (files: string[], flags: ReadFlags) => {
      process.exitCode = await read(files, flags);
    });
  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const err = e as FlowmasterError;
    process.stderr.write(`flowmaster: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    return err.code && USAGE_CODES.has(err.code) ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

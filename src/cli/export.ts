/**
 * `flowmaster export`: stored flows, filtered as `flows` filters them, out as
 * CSV, JSON lines, Parquet or IPFIX. Pages are read by cursor one at a time
 * and written before the next is read, so memory stays bounded whatever the
 * store holds (Parquet: one row group).
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { FlowmasterError } from '../errors';
import { IpfixExporter } from '../export/ipfix';
import { csvHeader, csvLine, flowPages, jsonLine, rowsToBatch } from '../export/rows';
import { APPLICATIONS } from '../flow/layout';
import type { FlowFilter, FlowRow } from '../store/query';
import { openStore } from '../store/store';
import { addExportFlag, nonNegativeInt, positiveInt, protocol, time, type ExportFlags } from './flags';
import { stdout } from './output';

export const EXPORT_FORMATS = ['csv', 'jsonl', 'parquet', 'ipfix'] as const;

export interface ExportCommandFlags extends FlowFilter, ExportFlags {
  db?: string;
  format: (typeof EXPORT_FORMATS)[number];
  out?: string;
  rowGroup: number;
}

/** The filter flags, as `flows` has them (FlowFilter's names). */
const FILTERS = ['from', 'to', 'host', 'device', 'port', 'protocol', 'service', 'source', 'vlan', 'minBytes', 'application', 'sni', 'httpHost', 'dnsQuery', 'communityId', 'connState', 'endReason'] as const;

const commaList = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

/** The flow filter flags of `flows`, with the same parsers. */
export function addFlowFilterFlags(c: Command): Command {
  return c
    .option('--from <time>', 'flows overlapping from this time (ISO 8601 or ms)', time)
    .option('--to <time>', 'flows overlapping until this time', time)
    .option('--host <ip|cidr>', 'either end in this address or network')
    .option('--device <id>', 'either end is this device', nonNegativeInt)
    .option('--port <port>', 'either end on this port', nonNegativeInt)
    .option('--protocol <proto>', 'tcp, udp, icmp, icmp6, sctp, gre or a number', protocol)
    .option('--service <name>', 'service name (modbus, https, ...)')
    .option('--source <id>', 'ingested source (file or interface) id', positiveInt)
    .option('--vlan <id>', 'VLAN id', nonNegativeInt)
    .option('--min-bytes <n>', 'at least this many bytes (both directions)', nonNegativeInt)
    .addOption(new Option('--application <name>', 'what the payload showed').choices(APPLICATIONS.slice(1)))
    .option('--sni <glob>', "TLS/QUIC server name, '*' and '?' as wildcards ('*.example.com'), letters in any case")
    .option('--http-host <glob>', 'HTTP Host header, as --sni')
    .option('--dns-query <glob>', 'DNS question name, as --sni')
    .option('--community-id <id>', "Community ID v1, as Zeek and Suricata log it ('1:LQU9qZlK+B5F3KDmev6m5PMibrg=')")
    .option('--conn-state <states>', "Zeek's conn_state, one or a comma list (SF,S0,REJ)", commaList)
    .option('--end-reason <reasons>', 'idle, active, tcp-end, flush, evicted: one or a comma list', commaList);
}

/** The command, its flags and its action (main.ts registers it). */
export function addExportCommand(p: Command): Command {
  return addExportFlag(addFlowFilterFlags(
    p.command('export')
      .description('write stored flows out: CSV, JSON lines, Parquet (columnar, for pandas/DuckDB/Spark) or IPFIX to a collector')
      .option('--db <file>', 'the flowmaster database')
      .addOption(new Option('--format <format>', 'csv, jsonl, parquet (needs --out) or ipfix (needs --ipfix)').choices(EXPORT_FORMATS).makeOptionMandatory())
      .option('--out <file>', 'write to this file (default: stdout; parquet needs a file)')
      .option('--row-group <rows>', 'parquet: rows per row group', positiveInt, 65_536),
  ))
    .addHelpText('after', [
      '\nExamples:',
      '  $ flowmaster export --db flows.db --format csv --from 2026-11-27 --to 2026-11-28 > day.csv',
      '  $ flowmaster export --db flows.db --format parquet --out flows.parquet --protocol tcp',
      '  $ flowmaster export --db flows.db --format jsonl --host 10.0.0.0/8 | jq .bytes',
      '  $ flowmaster export --db flows.db --format ipfix --ipfix 127.0.0.1:4739 --ipfix-rate 2000',
    ].join('\n'))
    .action(async (flags: ExportCommandFlags) => {
      process.exitCode = await exportFlows(flags);
    });
}

const usage = (what: string) => new FlowmasterError('ERR_USAGE', `${what} (see flowmaster export --help)`);

function checkFlags(flags: ExportCommandFlags): void {
  if (!flags.db) throw usage('which store: give --db FILE');
  if (flags.format === 'parquet' && !flags.out) throw usage('--format parquet writes a file: give --out FILE.parquet');
  if (flags.format === 'ipfix' && !flags.ipfix) throw usage('--format ipfix sends to a collector: give --ipfix HOST:PORT');
  if (flags.format === 'ipfix' && flags.out) throw usage('--format ipfix sends over UDP: --out does not apply');
  if (flags.format !== 'ipfix' && flags.ipfix) throw usage('--ipfix needs --format ipfix');
}

/** Where text goes: a file or stdout, written with backpressure; stops early when stdout's reader has gone (`| head`). */
class TextSink {
  readonly #stream: NodeJS.WritableStream;
  readonly #file: fs.WriteStream | undefined;
  #error: Error | undefined;

  constructor(path: string | undefined) {
    this.#file = path === undefined ? undefined : fs.createWriteStream(path);
    this.#file?.on('error', (e) => (this.#error ??= e));
    this.#stream = this.#file ?? process.stdout;
  }

  get closed(): boolean {
    return this.#file ? false : stdout.closed;
  }

  async write(text: string): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.closed) return;
    if (!this.#stream.write(text)) await this.#drained();
    if (this.#error) throw this.#error;
  }

  /** Until the stream drains, closes or fails, its listeners removed after. */
  #drained(): Promise<void> {
    const s = this.#stream;
    return new Promise<void>((resolve) => {
      const done = () => {
        for (const e of ['drain', 'close', 'error']) s.removeListener(e, done);
        resolve();
      };
      for (const e of ['drain', 'close', 'error']) s.on(e, done);
    });
  }

  async end(): Promise<void> {
    if (!this.#file) return;
    this.#file.end();
    // a stream that failed to open is already closed: nothing more will come
    if (!this.#file.closed) await once(this.#file, 'close').catch(() => undefined);
    if (this.#error) throw this.#error;
  }
}

/** Writes each page as text lines, one string per page. */
export async function exportText(pages: Iterable<FlowRow[]>, flags: ExportCommandFlags): Promise<number> {
  const sink = new TextSink(flags.out);
  const line = flags.format === 'csv' ? csvLine : jsonLine;
  let rows = 0;
  try {
    if (flags.format === 'csv') await sink.write(csvHeader() + '\n');
    for (const page of pages) {
      if (sink.closed) break;
      let text = '';
      for (const r of page) text += line(r) + '\n';
      rows += page.length;
      await sink.write(text);
    }
    await sink.end();
  } catch (e) {
    if (e instanceof FlowmasterError) throw e;
    throw new FlowmasterError('ERR_EXPORT', `export to ${flags.out ?? 'stdout'} failed: ${(e as Error).message}`, { cause: e, path: flags.out });
  }
  return rows;
}

/** Sends each page as IPFIX records (rows.ts rowsToBatch says what a stored row keeps), paced, waiting for each page to leave. */
export async function exportIpfix(pages: Iterable<FlowRow[]>, flags: ExportCommandFlags): Promise<{ rows: number; records: number; messages: number }> {
  let exporter: IpfixExporter | undefined;
  let rows = 0;
  try {
    for (const page of pages) {
      // the flag counter elements when the flows were ingested with statistics (their rows carry the counters)
      exporter ??= new IpfixExporter({ ...flags.ipfix!, biflow: flags.ipfixBiflow, rate: flags.ipfixRate, statistics: page[0].fwdFlagCounts !== undefined });
      exporter.write(rowsToBatch(page));
      await exporter.flush();
      rows += page.length;
    }
  } finally {
    await exporter?.close();
  }
  const s = exporter?.stats ?? { records: 0, messages: 0 };
  return { rows, records: s.records, messages: s.messages };
}

export async function exportFlows(flags: ExportCommandFlags): Promise<number> {
  checkFlags(flags);
  const filter: FlowFilter = {};
  for (const k of FILTERS) if (flags[k] !== undefined) (filter as Record<string, unknown>)[k] = flags[k];
  const store = openStore(flags.db!, { readonly: true });
  const t0 = performance.now();
  try {
    const pages = flowPages(store.flows, filter);
    let summary: string;
    if (flags.format === 'parquet') {
      const { writeParquet } = await import('../export/parquet');
      const r = await writeParquet(pages, flags.out!, flags.rowGroup);
      summary = `${r.rows} flows, ${r.rowGroups} row groups, ${r.bytes} bytes to ${flags.out}`;
    } else if (flags.format === 'ipfix') {
      const r = await exportIpfix(pages, flags);
      summary = `${r.rows} flows as ${r.records} IPFIX records in ${r.messages} messages to ${flags.ipfix!.host}:${flags.ipfix!.port}`;
    } else {
      const rows = await exportText(pages, flags);
      summary = `${rows} flows as ${flags.format} to ${flags.out ?? 'stdout'}`;
    }
    process.stderr.write(`export: ${summary}, ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
  } finally {
    store.close();
  }
  return 0;
}

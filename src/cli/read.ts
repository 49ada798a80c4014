/** `flowmaster read`: capture files to flows on stdout (table, jsonl or csv). */
import type { FlowmasterError } from '../errors';
import { csvHeader, csvRow, formatTable, jsonLine, TABLE_COLUMNS, tableCells } from '../export/columns';
import type { Flow } from '../flow/flow';
import { FlowMeter, type Summary } from '../meter';
import { exporterFor, meterOptions, type EngineFlags, type ExportFlags } from './flags';
import { stdout } from './output';

export interface ReadFlags extends EngineFlags, ExportFlags {
  format?: 'jsonl' | 'csv' | 'table';
  top?: number;
  summary: boolean;
}

export function printSummary(s: Summary): void {
  const errs = Object.entries(s.decodeErrors).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  const reasons = Object.entries(s.flowsByReason).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(' ');
  process.stderr.write(
    `${s.path}: ${s.packets} packets, ${s.bytes} bytes, ${s.flows} flows (${reasons || 'none'}), ` +
      `${s.filtered} filtered, ${s.skipped} not in a flow, decode errors: ${errs}; ` +
      `${(s.wallMs / 1000).toFixed(3)} s, ${s.packetsPerSecond} packets/s\n`,
  );
}

/** One error line on stderr, as every command reports a failed file. */
export function printError(e: unknown): void {
  const err = e as FlowmasterError;
  process.stderr.write(`flowmaster: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
}

export async function read(files: string[], flags: ReadFlags): Promise<number> {
  const meter = new FlowMeter(meterOptions(flags));
  const exporter = exporterFor(flags);
  const format = flags.format ?? (process.stdout.isTTY ? 'table' : 'jsonl');
  const out: string[] = [];
  const flushOut = () => {
    if (out.length) stdout.write(out.join('\n') + '\n');
    out.length = 0;
  };
  const tableRows: { bytes: number; cells: string[] }[] = [];
  let status = 0;
  if (format === 'csv') out.push(csvHeader());
  for (const file of files) {
    if (stdout.closed) break;
    const run = meter.readFile(file);
    try {
      for await (const batch of run) {
        if (stdout.closed) break; // `| head` has read enough: stop reading
        await exporter?.send(batch);
        for (const flow of batch) {
          if (format === 'table' || flags.top) tableRows.push({ bytes: flow.bytes, cells: rowFor(flow, format) });
          else out.push(format === 'csv' ? csvRow(flow) : jsonLine(flow));
        }
        flushOut();
      }
    } catch (e) {
      flushOut();
      printError(e);
      status = 1;
    }
    if (flags.summary) printSummary(await run.summary);
  }
  await exporter?.close();
  if (format === 'table' || flags.top) {
    let rows = tableRows;
    if (flags.top) rows = [...rows].sort((a, b) => b.bytes - a.bytes).slice(0, flags.top);
    if (format === 'table') stdout.write(formatTable(rows.map((r) => r.cells), TABLE_COLUMNS) + '\n');
    else stdout.write(rows.map((r) => r.cells[0]).join('\n') + (rows.length ? '\n' : ''));
  }
  return status;
}

function rowFor(flow: Flow, format: string): string[] {
  if (format === 'table') return tableCells(flow);
  return [format === 'csv' ? csvRow(flow) : jsonLine(flow)];
}

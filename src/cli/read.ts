/** `flowmaster read`: capture files to flows on stdout (table, jsonl or csv). */
import type { FlowmasterError } from '../errors';
import { formatTable, TABLE_COLUMNS, tableCells } from '../export/columns';
import { TextFormatter } from '../export/text';
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
  // JSON lines and CSV: straight from the batch buffers into ~64 KiB chunks (export/text.ts)
  // --statistics: JSON's stats objects, CSV's columns; --splt: CSV's SPLT columns (JSON has `splt` whenever a record holds one)
  const text = format === 'table' ? undefined : new TextFormatter(format, { statistics: flags.statistics, splt: flags.splt });
  // the CSV header goes out with the first batch (or before an error), as the lines always did
  let header = text?.header() ?? '';
  const flushHeader = () => {
    if (header) write(header);
    header = '';
  };
  const chunks: Buffer[] = []; // written chunks' buffers, to reuse (fresh 64 KiB Buffers cost page faults and GC)
  const tableRows: { bytes: number; cells: string[] }[] = [];
  let status = 0;
  for (const file of files) {
    if (stdout.closed) break;
    const run = meter.readFile(file);
    try {
      for await (const batch of run) {
        if (stdout.closed) break; // `| head` has read enough: stop reading
        await exporter?.send(batch);
        flushHeader();
        if (format === 'table') {
          for (const flow of batch) tableRows.push({ bytes: flow.bytes, cells: tableCells(flow) });
        } else if (flags.top) {
          for (let i = 0; i < batch.length; i++) tableRows.push({ bytes: batch.at(i).bytes, cells: [text!.line(batch, i)] });
        } else {
          for (let i = 0; i < batch.length && !stdout.closed; ) {
            const buffer = chunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK_SIZE);
            const { chunk, next } = text!.chunk(batch, i, buffer);
            i = next;
            // the buffer is formatted into again once the stream has written it
            const more = write(chunk, () => chunks.push(buffer));
            if (!more) await drained(); // format no further ahead of the reader than the stream's buffer
          }
        }
      }
    } catch (e) {
      flushHeader();
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

const CHUNK_SIZE = 64 * 1024;

/** Writes to stdout unless its reader has gone; false when the stream wants us to wait for 'drain'. `written` runs once the stream is done with `data`. */
function write(data: string | Uint8Array, written?: () => void): boolean {
  if (stdout.closed) return true;
  return process.stdout.write(data, written && ((e?: Error | null) => e || written()));
}

/** Resolves on stdout's 'drain', or when stdout closes (EPIPE, an error: no 'drain' will come). */
function drained(): Promise<void> {
  return new Promise((resolve) => {
    if (stdout.closed || !process.stdout.writableNeedDrain) return resolve();
    let cancel = (): unknown => undefined;
    const done = () => {
      process.stdout.off('drain', done);
      cancel();
      resolve();
    };
    process.stdout.on('drain', done);
    cancel = stdout.onClose(done);
  });
}

/**
 * `flowmaster ingest`: capture files into a SQLite store. With several files
 * and --workers > 1 each file is read in a pool thread (piscina) while this
 * thread stays the single SQLite writer. Progress: a bar with packets/s and
 * an ETA from the file sizes on a terminal, plain lines otherwise.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { SingleBar } from 'cli-progress';
import type { FlowBatch } from '../flow/flow';
import { FlowMeter, type FlowRun } from '../meter';
import { Ops, type OpsFlags } from '../ops';
import { openStore, type IngestSummary } from '../store/store';
import { ReadPool } from '../workers/pool';
import { scheduleRetention, type RetainFlags } from './retain';
import { exporterFor, meterOptions, type EngineFlags, type ExportFlags } from './flags';

export interface IngestFlags extends EngineFlags, ExportFlags, OpsFlags, RetainFlags {
  db: string;
  partitionSpan?: string;
  workers?: number;
  progress: boolean;
}

const MiB = 1 << 20;

export async function ingest(files: string[], flags: IngestFlags): Promise<number> {
  const ops = await Ops.start('ingest', flags); // a port in use fails before the database is touched
  const meter = new FlowMeter(meterOptions(flags));
  const store = openStore(flags.db, { partitionSpan: flags.partitionSpan, ...ops.storeOptions });
  let devicesBefore: number;
  try {
    devicesBefore = store.devices.count();
  } catch (e) {
    store.db.close();
    throw e;
  }
  ops.watchStore(store);
  const stopRetention = scheduleRetention(store, flags, (r) => ops.retention(r));
  const workers = Math.min(flags.workers ?? os.availableParallelism(), files.length);
  const pool = workers > 1 ? new ReadPool(workers) : undefined;
  const exporter = exporterFor(flags);
  const onBatch = ops.onBatch(exporter && ((b: FlowBatch) => exporter.send(b)));
  const runs = files.map((f) => (pool ? pool.readFile(meter, f) : meter.readFile(f)));
  for (const run of runs) ops.watch(run);
  ops.started({ files: files.length, db: flags.db, engine: meter.engine, workers: pool ? workers : 1 });
  const progress = flags.progress && !ops.json ? new Progress(files, runs) : undefined; // JSON logs: stderr is JSON lines only
  const t0 = performance.now();
  let status = 0;
  const fail = (e: unknown) => {
    progress?.breakLine();
    ops.failed(e);
    status = 1;
  };
  const results: IngestSummary[] = [];
  let ok = 0;
  const one = async (run: FlowRun) => {
    try {
      const r = await store.ingest(run, { onBatch });
      results.push(r);
      ok++;
      ops.fileDone(run.path, r.read, r.flows);
    } catch (e) {
      const partial = (e as { ingest?: IngestSummary }).ingest; // what was committed before the error
      if (partial) results.push(partial);
      fail(e);
      ops.fileDone(run.path, partial?.read, partial?.flows, e);
    }
    progress?.fileDone(run);
  };
  try {
    // one writer either way: with a pool the reads overlap, the commits interleave
    if (pool) await Promise.all(runs.map(one));
    else for (const run of runs) await one(run);
  } finally {
    await stopRetention();
    progress?.stop();
    await pool?.destroy();
    await exporter?.close();
    await ops.close();
  }
  // (each concurrent ingest's own device count would include the others')
  let devices: number | string = '?';
  try {
    devices = store.devices.count() - devicesBefore;
    store.close();
  } catch (e) {
    if (!status) fail(e); // after a failed ingest, the same failure again says nothing new
    status = 1;
    if (store.db.open) store.db.close();
  }
  const s = (performance.now() - t0) / 1000;
  const packets = results.reduce((n, r) => n + r.read.packets, 0);
  const flows = results.reduce((n, r) => n + r.flows, 0);
  process.stdout.write(
    `ingested ${ok} of ${files.length} files into ${flags.db}: ${packets} packets, ${flows} flows, ${devices} new devices ` +
      `in ${s.toFixed(2)} s (${Math.round(packets / s)} packets/s, ${pool ? `${workers} reader threads` : 'one reader'})\n`,
  );
  ops.stopped({ files: files.length, ok, packets, flows, devices, seconds: Math.round(s * 1000) / 1000 });
  return status;
}

/** The bar (terminal) or a line every 5 s and per file (pipes, logs). */
class Progress {
  readonly #runs: FlowRun[];
  readonly #total: number;
  readonly #bar: SingleBar | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #t0 = performance.now();
  #lastLine = 0;

  constructor(files: string[], runs: FlowRun[]) {
    this.#runs = runs;
    this.#total = files.reduce((n, f) => n + (f === '-' ? 0 : fs.statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
    if (process.stderr.isTTY) {
      this.#bar = new SingleBar({
        format: 'ingest [{bar}] {percentage}% | {done}/{all} MiB | {pps} packets/s | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
      });
      this.#bar.start(Math.max(1, this.#total), 0, { done: 0, all: (this.#total / MiB).toFixed(0), pps: 0 });
    }
    this.#timer = setInterval(() => this.#update(), 250);
  }

  #update(final = false): void {
    let bytes = 0;
    let packets = 0;
    for (const r of this.#runs) {
      const p = r.progress();
      bytes += p.bytesRead;
      packets += p.packets;
    }
    const s = (performance.now() - this.#t0) / 1000;
    const pps = s > 0 ? Math.round(packets / s) : 0;
    if (this.#bar) {
      this.#bar.update(Math.min(bytes, this.#total), { done: (bytes / MiB).toFixed(0), pps });
    } else if (final || s - this.#lastLine >= 5) {
      this.#lastLine = s;
      // stdin has no size: no total, no percentage
      const of = this.#total ? ` of ${(this.#total / MiB).toFixed(0)} MiB (${((100 * bytes) / this.#total).toFixed(1)} %)` : ' MiB';
      process.stderr.write(`ingest: ${(bytes / MiB).toFixed(0)}${of}, ${packets} packets, ${pps} packets/s\n`);
    }
  }

  /** Before another line on stderr: leave the bar's line. */
  breakLine(): void {
    if (this.#bar) process.stderr.write('\n');
  }

  fileDone(run: FlowRun): void {
    if (!this.#bar) void run.summary.then((s) => process.stderr.write(`ingest: ${run.path}: ${s.packets} packets, ${s.flows} flows\n`));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#update(true);
    this.#bar?.stop();
  }
}

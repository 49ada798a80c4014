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
import { FlowmasterError } from '../errors';
import { Ops, type OpsFlags } from '../ops';
import { fingerprintFile, type SourceInfo } from '../store/sources';
import { openStore, type IngestSummary, type Store } from '../store/store';
import { ReadPool } from '../workers/pool';
import { scheduleRetention, type RetainFlags } from './retain';
import { closeSink, ingestToClickHouse, runName, sinkFor, teeBatch, type ClickHouseFlags } from './clickhouse';
import { exporterFor, meterOptions, writerOptions, type EngineFlags, type ExportFlags, type WriterFlags } from './flags';

export interface IngestFlags extends EngineFlags, ExportFlags, OpsFlags, RetainFlags, WriterFlags, ClickHouseFlags {
  /** the SQLite store; without it, --clickhouse only */
  db?: string;
  force: boolean;
  partitionSpan?: string;
  workers?: number;
  progress: boolean;
}

const MiB = 1 << 20;

export async function ingest(files: string[], flags: IngestFlags): Promise<number> {
  if (!flags.db && !flags.clickhouse) throw new FlowmasterError('ERR_USAGE', 'ingest: give --db FILE, --clickhouse URL, or both (see flowmaster ingest --help)');
  const ops = await Ops.start('ingest', flags); // a port in use fails before the database is touched
  if (!flags.db) return ingestFleet(files, flags, ops);
  const meter = new FlowMeter(meterOptions(flags));
  const store = openStore(flags.db, { partitionSpan: flags.partitionSpan, ...writerOptions(flags), ...ops.storeOptions });
  let devicesBefore: number;
  try {
    await store.acquireWriter(); // held for every file; another writer: ERR_DB_LOCKED before anything is read
    devicesBefore = store.devices.count();
  } catch (e) {
    store.close();
    await ops.close();
    throw e;
  }
  ops.watchStore(store);
  const stopRetention = scheduleRetention(store, flags, (r) => ops.retention(r));
  const workers = Math.min(flags.workers ?? os.availableParallelism(), files.length);
  const pool = workers > 1 ? new ReadPool(workers) : undefined;
  const exporter = exporterFor(flags);
  const sink = sinkFor(flags, ops);
  const exportBatch = exporter && ((b: FlowBatch) => exporter.send(b));
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
  let skipped = 0;
  const interrupt = new Interrupt(ops);
  const one = async (run: FlowRun) => {
    const plan = await planFile(store, run.path, flags.force);
    if (plan.skip || interrupt.signal.aborted) {
      if (plan.skip) ops.log({ level: 'info', event: 'file_skipped', path: run.path, source: plan.skip.id, msg: `ingest: ${run.path}: already in ${flags.db} as source ${plan.skip.id} (${plan.skip.flows} flows); --force reads it again` +
          (sink ? ' (not sent to ClickHouse either: with --force, ClickHouse stores only the blocks it lacks)' : '') });
      skipped++;
      progress?.fileDone(run);
      return;
    }
    if (plan.replaces) ops.log({ level: 'info', event: 'file_replaces', path: run.path, source: plan.replaces.id, status: plan.replaces.status, msg: `ingest: ${run.path}: replacing source ${plan.replaces.id} (${plan.replaces.status})` });
    const fleet = sink?.run(await runName(run.path, meterOptions(flags), plan.fingerprint));
    const onBatch = ops.onBatch(teeBatch(exportBatch, fleet));
    try {
      const r = await store.ingest(run, { onBatch, fingerprint: plan.fingerprint, replaces: plan.replaces?.id, signal: interrupt.signal });
      results.push(r);
      ok++;
      ops.fileDone(run.path, r.read, r.flows);
    } catch (e) {
      const partial = (e as { ingest?: IngestSummary }).ingest; // what was committed before the error
      if (partial) results.push(partial);
      fail(e);
      ops.fileDone(run.path, partial?.read, partial?.flows, e);
    }
    fleet?.end();
    progress?.fileDone(run);
  };
  try {
    // one writer either way: with a pool the reads overlap, the commits interleave
    if (pool) await Promise.all(runs.map(one));
    else for (const run of runs) await one(run);
  } finally {
    interrupt.dispose();
    await stopRetention();
    progress?.stop();
    await pool?.destroy();
    await exporter?.close();
    if (sink && (await closeSink(sink, flags.retryFor, ops)).pending) status = 1;
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
  const notes = [skipped && !interrupt.by ? `${skipped} already ingested (--force reads again)` : '', interrupt.by ? `interrupted by ${interrupt.by}` : ''].filter(Boolean);
  process.stdout.write(
    `ingested ${ok} of ${files.length} files into ${flags.db}: ${packets} packets, ${flows} flows, ${devices} new devices ` +
      `in ${s.toFixed(2)} s (${Math.round(packets / s)} packets/s, ${pool ? `${workers} reader threads` : 'one reader'})` +
      `${notes.length ? `; ${notes.join('; ')}` : ''}\n`,
  );
  ops.stopped({ files: files.length, ok, skipped, packets, flows, devices, seconds: Math.round(s * 1000) / 1000, interrupted: interrupt.by ?? null });
  return interrupt.by ? 128 + os.constants.signals[interrupt.by] : status;
}

/** ingest --clickhouse without --db. */
async function ingestFleet(files: string[], flags: IngestFlags, ops: Ops): Promise<number> {
  const exporter = exporterFor(flags);
  ops.started({ files: files.length, clickhouse: flags.clickhouse, sensor: flags.sensor ?? os.hostname() });
  const t0 = performance.now();
  let r: Awaited<ReturnType<typeof ingestToClickHouse>>;
  try {
    r = await ingestToClickHouse(files, flags, ops, ops.onBatch(exporter && ((b: FlowBatch) => exporter.send(b))));
  } finally {
    await exporter?.close();
    await ops.close();
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(
    `ingested ${r.ok} of ${files.length} files into ClickHouse ${flags.clickhouse}: ${r.packets} packets, ${r.flows} flows in ${s.toFixed(2)} s (${Math.round(r.flows / s)} flows/s)\n`,
  );
  ops.stopped({ files: files.length, ok: r.ok, packets: r.packets, flows: r.flows, seconds: Math.round(s * 1000) / 1000 });
  return r.status;
}

/**
 * What to do with one input: a file whose content an earlier ingest already
 * read whole is skipped (unless --force); one whose earlier ingest was
 * interrupted or failed, or is forced, replaces that source, so nothing is
 * counted twice. Only regular files are fingerprinted (stdin, FIFOs would lose
 * the bytes read).
 */
async function planFile(store: Store, file: string, force: boolean): Promise<{ fingerprint?: string; skip?: SourceInfo; replaces?: SourceInfo }> {
  if (file === '-' || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return {};
  let fingerprint: string;
  try {
    fingerprint = await fingerprintFile(file);
  } catch {
    return {}; // unreadable: the ingest itself says why, with its code
  }
  const prior = store.findSource(fingerprint);
  if (!prior) return { fingerprint };
  if (prior.status === 'complete' && !force) return { fingerprint, skip: prior };
  return { fingerprint, replaces: prior };
}

/**
 * SIGINT/SIGTERM during an ingest: stop reading, commit what was read, mark
 * the source interrupted, exit 128 + the signal. A second signal exits at
 * once (what is committed stays; the next writer marks the source interrupted).
 */
class Interrupt {
  readonly #abort = new AbortController();
  by: NodeJS.Signals | undefined;
  readonly #on: (sig: NodeJS.Signals) => void;

  constructor(ops: Ops) {
    this.#on = (sig) => {
      if (this.by) process.exit(128 + os.constants.signals[sig]);
      this.by = sig;
      ops.log({ level: 'warn', event: 'interrupted', signal: sig, msg: `ingest: ${sig}: committing what was read (${sig} again quits at once)` });
      this.#abort.abort();
    };
    process.on('SIGINT', this.#on);
    process.on('SIGTERM', this.#on);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  dispose(): void {
    process.off('SIGINT', this.#on);
    process.off('SIGTERM', this.#on);
  }
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

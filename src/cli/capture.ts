/**
 * `flowmaster capture`: live interfaces until SIGINT/SIGTERM, then stop()
 * (every flow flushed), the last commit and the summary. Into a store with
 * --db, else flows as JSON lines on stdout; either way with live metrics,
 * /healthz and /readyz over HTTP (--metrics-port) and events on stderr (src/ops).
 */
import { jsonLine } from '../export/columns';
import { FlowMeter } from '../meter';
import { Ops, summaryFields, type OpsFlags } from '../ops';
import { openStore } from '../store/store';
import { scheduleRetention, type RetainFlags } from './retain';
import { closeSink, runName, sinkFor, teeBatch, type ClickHouseFlags } from './clickhouse';
import { exporterFor, meterOptions, writerOptions, type EngineFlags, type ExportFlags, type WriterFlags } from './flags';
import { stdout } from './output';
import { printSummary } from './read';

export interface CaptureFlags extends EngineFlags, ExportFlags, OpsFlags, RetainFlags, WriterFlags, ClickHouseFlags {
  interface: string[];
  db?: string;
  partitionSpan?: string;
  threads: number;
  bufferSize?: number;
  snaplen: number;
  promisc: boolean;
}

export async function capture(flags: CaptureFlags): Promise<number> {
  const ops = await Ops.start('capture', flags); // a port in use fails before anything is captured
  const meter = new FlowMeter(meterOptions(flags));
  const store = flags.db ? openStore(flags.db, { partitionSpan: flags.partitionSpan, ...writerOptions(flags), ...ops.storeOptions }) : undefined;
  try {
    await store?.acquireWriter(); // another writer: ERR_DB_LOCKED before anything is captured
  } catch (e) {
    store?.close();
    await ops.close();
    throw e;
  }
  if (store) ops.watchStore(store);
  const stopRetention = store ? scheduleRetention(store, flags, (r) => ops.retention(r)) : async () => undefined;
  const run = meter.capture({
    interface: flags.interface,
    threads: flags.threads,
    snaplen: flags.snaplen,
    promisc: flags.promisc,
    ...(flags.bufferSize ? { bufferSize: flags.bufferSize } : {}),
  });
  ops.watch(run);
  const exporter = exporterFor(flags);
  const sink = sinkFor(flags, ops, true);
  const fleet = sink?.run(await runName(undefined, meterOptions(flags)));
  const onBatch = teeBatch(exporter && ((b) => exporter.send(b)), fleet);
  const stop = () => void run.stop();
  let undelivered = false;
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const unwatch = stdout.onClose(stop); // `capture | head`: its reader has gone
  ops.started(
    { interfaces: flags.interface, filter: flags.filter, db: flags.db, engine: run.engine },
    `capture: ${flags.interface.join(', ')}${flags.filter ? ` (${flags.filter})` : ''}; stop with Ctrl-C`,
  );
  try {
    if (store) {
      const r = await store.ingest(run, { onBatch: ops.onBatch(onBatch) });
      if (!ops.json) printSummary(r.read);
      ops.stopped({ ...summaryFields(r.read), committed: r.flows, commits: r.batches });
      const c = r.read.capture;
      stdout.write(
        `captured into ${flags.db}: ${r.flows} flows, ${r.devices} new devices, ${r.batches} commits; ` +
          `kernel received ${c?.received ?? 0}, dropped ${c?.kernelDropped ?? 0} (interface ${c?.interfaceDropped ?? 0}), flows shed ${c?.flowsDropped ?? 0}\n`,
      );
    } else {
      for await (const batch of run) {
        await onBatch?.(batch);
        if (sink) continue; // into ClickHouse: stdout stays quiet
        const lines: string[] = [];
        for (const f of batch) lines.push(jsonLine(f, { statistics: flags.statistics }));
        if (lines.length) stdout.write(lines.join('\n') + '\n');
      }
      const s = await run.summary;
      if (!ops.json) printSummary(s);
      ops.stopped(summaryFields(s));
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    unwatch();
    await stopRetention();
    store?.close();
    await exporter?.close();
    fleet?.end();
    // a stopping sensor does not wait long (systemd's stop timeout): what is left is on disk, for the next run
    if (sink && (await closeSink(sink, Math.min(flags.retryFor, 10_000), ops)).pending) undelivered = true;
    await ops.close();
  }
  return undelivered ? 1 : 0; // blocks left in the spool: the next run sends them
}

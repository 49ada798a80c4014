/**
 * `flowmaster capture`: live interfaces until SIGINT/SIGTERM, then stop()
 * (every flow flushed), the last commit and the summary. Into a store with
 * --db (optionally serving its Prometheus metrics over HTTP), else flows as
 * JSON lines on stdout.
 */
import * as http from 'node:http';
import { jsonLine } from '../export/columns';
import { FlowMeter } from '../meter';
import { openStore } from '../store/store';
import { exporterFor, meterOptions, type EngineFlags, type ExportFlags } from './flags';
import { stdout } from './output';
import { printSummary } from './read';

export interface CaptureFlags extends EngineFlags, ExportFlags {
  interface: string[];
  db?: string;
  partitionSpan?: string;
  metricsPort?: number;
  threads: number;
  bufferSize?: number;
  snaplen: number;
  promisc: boolean;
}

export async function capture(flags: CaptureFlags): Promise<number> {
  const meter = new FlowMeter(meterOptions(flags));
  const store = flags.db ? openStore(flags.db, { partitionSpan: flags.partitionSpan }) : undefined;
  const run = meter.capture({
    interface: flags.interface,
    threads: flags.threads,
    snaplen: flags.snaplen,
    promisc: flags.promisc,
    ...(flags.bufferSize ? { bufferSize: flags.bufferSize } : {}),
  });
  const exporter = exporterFor(flags);
  const stop = () => void run.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const unwatch = stdout.onClose(stop); // `capture | head`: its reader has gone
  let server: http.Server | undefined;
  if (flags.metricsPort !== undefined && store) {
    const metrics = store.metrics;
    server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('metrics are at /metrics\n');
        return;
      }
      metrics.metricsText().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
    await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(flags.metricsPort, resolve));
    process.stderr.write(`capture: metrics at http://localhost:${flags.metricsPort}/metrics\n`);
  }
  process.stderr.write(`capture: ${flags.interface.join(', ')}${flags.filter ? ` (${flags.filter})` : ''}; stop with Ctrl-C\n`);
  try {
    if (store) {
      const r = await store.ingest(run, { onBatch: exporter && ((b) => exporter.send(b)) });
      printSummary(r.read);
      const c = r.read.capture;
      stdout.write(
        `captured into ${flags.db}: ${r.flows} flows, ${r.devices} new devices, ${r.batches} commits; ` +
          `kernel received ${c?.received ?? 0}, dropped ${c?.kernelDropped ?? 0} (interface ${c?.interfaceDropped ?? 0}), flows shed ${c?.flowsDropped ?? 0}\n`,
      );
    } else {
      for await (const batch of run) {
        await exporter?.send(batch);
        const lines: string[] = [];
        for (const f of batch) lines.push(jsonLine(f));
        if (lines.length) stdout.write(lines.join('\n') + '\n');
      }
      printSummary(await run.summary);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    unwatch();
    server?.close();
    store?.close();
    await exporter?.close();
  }
  return 0;
}

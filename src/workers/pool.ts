/**
 * A pool of reader threads (piscina) for multi-file ingest: each file is
 * read by its own engine in a pool thread, and its FlowBatches come back to
 * the calling thread, which stays the single SQLite writer.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { failedSummary, type BatchSource, type EngineSummary, type Progress } from '../engine/source';
import { FlowRun, type FlowMeter } from '../meter';
import type { ResolvedOptions } from '../options';
import type { ReadControl, ReadMessage } from './read-task';

export class ReadPool {
  readonly threads: number;
  readonly #pool: Piscina;

  /** `threads`: reader threads (default: the number of cores). */
  constructor(threads = os.availableParallelism()) {
    this.threads = threads;
    // the compiled task beside this file (dist/workers/read-task.js)
    this.#pool = new Piscina({ filename: path.join(__dirname, 'read-task.js'), minThreads: 0, maxThreads: threads, idleTimeout: 1000 });
  }

  /** Like meter.readFile(path), but read in a pool thread with the meter's options. */
  readFile(meter: FlowMeter, file: string): FlowRun {
    return new FlowRun(file, meter.engine, this.#source(file, meter.options as ResolvedOptions));
  }

  #source(file: string, options: ResolvedOptions): BatchSource {
    const channel = new MessageChannel();
    const port = channel.port1;
    let progress: Progress = { bytesRead: 0, packets: 0 };
    let ended = false;
    const control = (m: ReadControl) => !ended && port.postMessage(m);
    return {
      start: (onBatch, onEnd) => {
        const end = (summary: EngineSummary) => {
          if (ended) return;
          ended = true;
          port.close();
          onEnd(summary);
        };
        port.on('message', (m: ReadMessage) => {
          if ('end' in m) return end(m.end);
          progress = m.progress;
          if ('batch' in m) onBatch(m.batch);
        });
        this.#pool.run({ path: file, options, port: channel.port2 }, { transferList: [channel.port2] }).catch((e: Error) => end(failedSummary('ERR_INTERNAL', `reader thread failed: ${e.message}`)));
      },
      ack: () => control('ack'),
      cancel: () => control('cancel'),
      progress: () => progress,
    };
  }

  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}

/**
 * Piscina task (runs in a pool thread): one capture file read by an engine.
 * Batches reach the main thread over `port` as transferred ArrayBuffers,
 * with the engine's own credit scheme: the main thread acks each batch it
 * consumes, so a busy SQLite writer pauses the reader here too.
 */
import type { MessagePort } from 'node:worker_threads';
import { selectEngine } from '../engine/select';
import type { EngineSummary, Progress } from '../engine/source';
import type { ResolvedOptions } from '../options';

export interface ReadTask {
  path: string;
  options: ResolvedOptions;
  port: MessagePort;
}

/** Worker -> main, in order: batches, progress, then the summary last. */
export type ReadMessage = { batch: ArrayBuffer; progress: Progress } | { progress: Progress } | { end: EngineSummary };
/** Main -> worker. */
export type ReadControl = 'ack' | 'cancel';

export default function readTask({ path, options, port }: ReadTask): Promise<void> {
  return new Promise((resolve) => {
    const source = selectEngine(options).open(path);
    port.on('message', (m: ReadControl) => (m === 'ack' ? source.ack() : source.cancel()));
    const timer = setInterval(() => port.postMessage({ progress: source.progress() } satisfies ReadMessage), 250);
    source.start(
      (records) => {
        // the addon's buffers are external memory and cannot be transferred: one copy, then zero-copy across
        const batch = records.slice(0);
        port.postMessage({ batch, progress: source.progress() } satisfies ReadMessage, [batch]);
      },
      (summary) => {
        clearInterval(timer);
        port.postMessage({ end: summary } satisfies ReadMessage);
        port.close();
        resolve();
      },
    );
  });
}

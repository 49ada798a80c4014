/** The addon inside worker threads: loads, reads, and tears down cleanly when the worker is terminated mid-read. */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { udp4, writePcap } from './helpers/capture';

const entry = path.resolve(__dirname, '..', 'dist', 'index.js');

function worker(code: string, file: string): Worker {
  return new Worker(`const { parentPort, workerData } = require('node:worker_threads'); const { FlowMeter } = require(workerData.entry); ${code}`, {
    eval: true,
    workerData: { entry, file },
  });
}

describe('worker threads', () => {
  const pkts = [];
  for (let i = 0; i < 20000; i++) pkts.push({ t: i * 0.0001, data: udp4('10.1.0.1', 1 + (i % 5000), '10.2.0.1', 53) });
  const file = writePcap(pkts);

  it('reads a capture in a worker', async () => {
    const w = worker(
      `(async () => { const run = new FlowMeter().readFile(workerData.file); let n = 0; for await (const b of run) n += b.length; parentPort.postMessage(n); })();`,
      file,
    );
    const n = await new Promise((resolve, reject) => w.on('message', resolve).on('error', reject));
    expect(n).toBe(5000);
    await w.terminate();
  });

  it('terminating a worker mid-read stops the native thread', async () => {
    for (let i = 0; i < 3; i++) {
      const w = worker(
        `(async () => { const run = new FlowMeter({ batchSize: 1 }).readFile(workerData.file); const it = run[Symbol.asyncIterator](); await it.next(); parentPort.postMessage('reading'); await new Promise(() => {}); })();`,
        file,
      );
      await new Promise((resolve, reject) => w.on('message', resolve).on('error', reject));
      expect(await w.terminate()).toBe(1);
    }
  });
});

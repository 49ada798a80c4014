/** The pure-TypeScript engine as a BatchSource: same records, on the JS thread in chunks. */
import type { ResolvedOptions } from '../options';
import { MAX_INFLIGHT, type BatchSource, type EngineSummary } from './source';
import type { BpfInstruction } from './ts/bpf';
import { readFileTs } from './ts/run';

export function tsSource(path: string, options: ResolvedOptions, filterProgram?: (linktype: number) => BpfInstruction[] | Error): BatchSource {
  const control = { cancelled: false };
  let inflight = 0;
  let credit: (() => void) | undefined;
  const release = () => {
    const c = credit;
    credit = undefined;
    c?.();
  };
  return {
    start(onBatch, onEnd) {
      (async () => {
        const reader = readFileTs(path, options, control, filterProgram);
        for (let r = await reader.next(); ; r = await reader.next()) {
          if (r.done) return onEnd(r.value);
          onBatch(r.value);
          inflight++;
          while (inflight >= MAX_INFLIGHT && !control.cancelled) await new Promise<void>((resolve) => (credit = resolve));
        }
      })().catch((e: Error) => onEnd(internalError(e)));
    },
    ack() {
      if (inflight > 0) inflight--;
      release();
    },
    cancel() {
      control.cancelled = true;
      release();
    },
  };
}

function internalError(e: Error): EngineSummary {
  return {
    packets: 0, bytes: 0, filtered: 0, skipped: 0, firstNs: 0n, lastNs: 0n, bytesRead: 0, fileSize: 0, flowsCreated: 0,
    flowsByReason: [0, 0, 0, 0, 0, 0], decodeErrors: [], cancelled: false,
    error: { code: 'ERR_INTERNAL', message: `internal error in the TypeScript engine: ${e.stack ?? e.message}`, offset: -1 },
  };
}

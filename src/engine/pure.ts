/** The pure-TypeScript engine as a BatchSource: same records, on the JS thread in chunks. */
import type { ResolvedOptions } from '../options';
import { failedSummary, MAX_INFLIGHT, type BatchSource, type Progress } from './source';
import type { BpfInstruction } from './ts/bpf';
import { readFileTs, type ReadControl } from './ts/run';

export function tsSource(path: string, options: ResolvedOptions, filterProgram?: (linktype: number) => BpfInstruction[] | Error): BatchSource {
  const control: ReadControl = { cancelled: false };
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
      })().catch((e: Error) => onEnd(failedSummary('ERR_INTERNAL', `internal error in the TypeScript engine: ${e.stack ?? e.message}`)));
    },
    ack() {
      if (inflight > 0) inflight--;
      release();
    },
    cancel() {
      control.cancelled = true;
      release();
    },
    progress: () => progress(control),
  };
}

function progress(control: ReadControl): Progress {
  const c = control.counters;
  const p: Progress = { bytesRead: control.bytesRead ?? 0, packets: control.packets ?? 0 };
  if (!c) return p;
  return {
    ...p,
    bytes: c.bytes,
    filtered: c.filtered,
    skipped: c.skipped,
    decodeErrors: Array.from(c.decodeErrors),
    flowsByReason: [...c.table.flowsByReason],
  };
}

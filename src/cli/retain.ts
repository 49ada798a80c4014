/**
 * Retention inside a sensor: `capture` and `ingest` take the policy of the
 * `retention` command as flags and apply it on a schedule in the same
 * process, so a sensor needs no cron job beside it.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { RetentionEvent } from '../ops';
import { parseAge, type RetentionPolicy } from '../store/retention';
import type { Store } from '../store/store';
import { byteSize, positiveInt } from './flags';

export interface RetainFlags {
  retainFlows?: string;
  retainDevices?: string;
  maxRows?: number;
  maxSize?: number;
  retainEvery: string;
}

/** An age flag ('30d', '12h'), checked when parsed. */
function age(name: string): (v: string) => string {
  return (v) => {
    try {
      parseAge(name, v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
    return v;
  };
}

export function addRetainFlags(c: Command): Command {
  return c
    .option('--retain-flows <age>', "while running, delete flows that ended longer ago than this ('30d')", age('retain-flows'))
    .option('--retain-devices <age>', "while running, delete devices not seen for this long ('90d')", age('retain-devices'))
    .option('--max-rows <n>', 'while running, keep at most this many flows (the oldest partitions go)', positiveInt)
    .option('--max-size <bytes>', "while running, keep the database's pages in use under this size: 500M, 20G", byteSize)
    .option('--retain-every <age>', 'how often the retention flags are applied (first: at start)', age('retain-every'), '10m');
}

/** The policy the flags ask for, or undefined when they ask for none. */
export function retainPolicy(f: RetainFlags): RetentionPolicy | undefined {
  if (f.retainFlows === undefined && f.retainDevices === undefined && f.maxRows === undefined && f.maxSize === undefined) return undefined;
  return { flows: f.retainFlows, devices: f.retainDevices, maxRows: f.maxRows, maxBytes: f.maxSize };
}

/**
 * Applies the policy now and then every --retain-every (Store.retainEvery);
 * `report` hears each run. The returned stop() resolves once a run in
 * progress has ended, so the store can close after it.
 */
export function scheduleRetention(store: Store, f: RetainFlags, report: (event: RetentionEvent) => void): () => Promise<void> {
  const policy = retainPolicy(f);
  if (!policy) return async () => undefined;
  return store.retainEvery(policy, parseAge('retain-every', f.retainEvery), {
    immediately: true,
    onRun: (r) =>
      report('report' in r ? { ok: true, flowsDeleted: r.report.flowsDeleted, devicesDeleted: r.report.devicesDeleted, ms: r.report.ms } : { ok: false, error: r.error }),
  });
}

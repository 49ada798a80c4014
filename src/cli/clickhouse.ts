/**
 * The fleet side of the CLI: `--clickhouse URL` on ingest and capture (the
 * ClickHouse sink, with or without --db), `flowmaster clickhouse init`, and
 * ingest straight into ClickHouse without a SQLite file.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ClickHouseSink, type ClickHouseSinkStats } from '../clickhouse/sink';
import { ClickHouseQueries } from '../clickhouse/query';
import { FlowmasterError } from '../errors';
import { schemaStatements } from '../clickhouse/schema';
import type { FlowBatch } from '../flow/flow';
import { FlowMeter, type FlowRun } from '../meter';
import type { FlowMeterOptions } from '../options';
import type { Ops } from '../ops';
import { fingerprintFile } from '../store/sources';
import { byteSize, meterOptions, positiveInt, type EngineFlags } from './flags';

export interface ClickHouseFlags {
  clickhouse?: string;
  sensor?: string;
  clickhouseDatabase: string;
  clickhouseCluster?: string;
  spoolDir?: string;
  spoolMax: number;
  clickhouseBlockRows: number;
}

function url(v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new InvalidArgumentError("expected the server's HTTP URL: http://host:8123");
  }
  return v;
}

/** Where the central store is: for the commands that read it (flows, devices, top, timeline) and init. */
export function addClickHouseTarget(c: Command, required = false): Command {
  const o = new Option('--clickhouse <url>', "a ClickHouse server's HTTP interface (http://host:8123; user:password@ in the URL if needed)").argParser(url);
  if (required) o.makeOptionMandatory();
  return c
    .addOption(o)
    .option('--clickhouse-database <name>', 'ClickHouse database', 'flowmaster')
    .option('--clickhouse-cluster <name>', "a cluster of the servers' remote_servers: Distributed tables over <table>_local on each shard");
}

/** --clickhouse and the sink's flags (ingest, capture). */
export function addClickHouseFlags(c: Command): Command {
  return addClickHouseTarget(c)
    .option('--sensor <name>', 'the name every row carries, so that many sensors share one table (default: the host name)')
    .option('--spool-dir <dir>', 'where blocks wait while ClickHouse is down (default: ~/.local/state/flowmaster/clickhouse-spool/...)')
    .option('--spool-max <size>', 'spool cap; past it the oldest blocks are dropped, counted and logged (500M, 20G)', byteSize, 1 << 30)
    .addOption(new Option('--clickhouse-block-rows <n>', 'flows per INSERT').argParser(positiveInt).default(100_000));
}

/** The sink --clickhouse asks for, or undefined. */
export function sinkFor(flags: ClickHouseFlags, ops: Ops, live = false): ClickHouseSink | undefined {
  if (!flags.clickhouse) return undefined;
  return new ClickHouseSink({
    backpressure: !live, // a file read waits for the server; a capture spools rather than drop packets
    url: flags.clickhouse,
    database: flags.clickhouseDatabase,
    cluster: flags.clickhouseCluster,
    sensor: flags.sensor,
    spoolDir: flags.spoolDir,
    spoolMaxBytes: flags.spoolMax,
    blockRows: flags.clickhouseBlockRows,
    metrics: ops.storeOptions.metrics,
    log: ops.log,
  });
}

/**
 * A run's name: for a regular file its content fingerprint and the options
 * that shape its flows (a file read again with them gives the same blocks,
 * found already stored); else unique.
 */
export async function runName(file: string | undefined, options: FlowMeterOptions, fingerprint?: string): Promise<string> {
  if (file !== undefined && file !== '-' && fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
    fingerprint ??= await fingerprintFile(file).catch(() => undefined);
    if (fingerprint) {
      const { batchSize: _, engine: __, ...shape } = options; // neither changes the flows
      return `f-${createHash('sha256').update(`${fingerprint}\n${JSON.stringify(shape)}`).digest('hex').slice(0, 24)}`;
    }
  }
  return `${file === undefined ? 'c' : 's'}-${Date.now()}-${randomUUID().slice(0, 8)}`;
}

/** Waits for the sink's delivery (up to `waitMs`), closes it and says what happened. */
export async function closeSink(sink: ClickHouseSink, waitMs: number, ops: Ops): Promise<ClickHouseSinkStats> {
  const s = await sink.close(waitMs);
  ops.log({
    level: s.pending ? 'warn' : 'info', event: 'clickhouse_done', sent: s.sent, present: s.present, dropped: s.dropped, pending: s.pending, retries: s.retries,
    msg: `clickhouse: ${s.sent} flows sent as sensor ${sink.sensor}${s.present ? `, ${s.present} already stored (not sent again)` : ''}` +
      `${s.dropped ? `, ${s.dropped} DROPPED (spool full)` : ''}${s.pending ? `, ${s.pending} blocks still in ${sink.spool.dir}` : ''}${s.retries ? `, ${s.retries} retries` : ''}`,
  });
  return s;
}

/** Both the SQLite store and the sink see a batch: `inner` first (the exporter), then the sink's run. */
export function teeBatch(inner: ((b: FlowBatch) => void | Promise<void>) | undefined, run: { write(b: FlowBatch): void | Promise<void> } | undefined) {
  if (!run) return inner;
  return async (b: FlowBatch) => {
    await inner?.(b);
    await run.write(b);
  };
}

/** `ingest --clickhouse` without --db: each file's flows into the sink only. */
export async function ingestToClickHouse(
  files: string[], flags: EngineFlags & ClickHouseFlags & { retryFor: number }, ops: Ops, onBatch: ((b: FlowBatch) => void | Promise<void>) | undefined,
): Promise<{ ok: number; packets: number; flows: number; status: number }> {
  const sink = sinkFor(flags, ops)!;
  const meter = new FlowMeter(meterOptions(flags));
  let ok = 0;
  let packets = 0;
  let flows = 0;
  let status = 0;
  try {
    for (const file of files) {
      const run: FlowRun = meter.readFile(file);
      ops.watch(run);
      const w = sink.run(await runName(file, meterOptions(flags)));
      try {
        for await (const batch of run) {
          await onBatch?.(batch);
          await w.write(batch);
        }
        w.end();
        const s = await run.summary;
        packets += s.packets;
        flows += s.flows;
        ok++;
        ops.fileDone(file, s, s.flows);
      } catch (e) {
        w.end(); // what was read is delivered; a rerun finds those blocks stored
        ops.failed(e);
        ops.fileDone(file, undefined, undefined, e);
        status = 1;
      }
    }
  } finally {
    const s = await closeSink(sink, flags.retryFor, ops);
    if (s.pending || s.dropped) status = 1;
  }
  return { ok, packets, flows, status };
}

/** `flowmaster clickhouse init`: the schema, idempotent; prints the statements' tables. */
export async function clickhouseInit(flags: { clickhouse?: string; clickhouseDatabase: string; clickhouseCluster?: string; print: boolean }): Promise<number> {
  const o = { database: flags.clickhouseDatabase, cluster: flags.clickhouseCluster };
  if (flags.print) {
    const note = '-- a flows table made by an older flowmaster gets the application columns (ClickHouse 19.1 and later;\n' +
      '-- on 18.16, which has no IF NOT EXISTS here, add without it the ones system.columns does not list)\n';
    process.stdout.write(schemaStatements(o).map((s, i, all) => `${s.startsWith('ALTER') && !all[i - 1]?.startsWith('ALTER') ? note : ''}${s};\n`).join('\n'));
    return 0;
  }
  if (!flags.clickhouse) throw new FlowmasterError('ERR_USAGE', 'clickhouse init: give --clickhouse URL (or --print for the SQL)');
  const url = flags.clickhouse;
  const sink = new ClickHouseSink({ url, ...o, sensor: os.hostname(), init: false, spoolDir: fs.mkdtempSync(`${os.tmpdir()}/flowmaster-init-`) });
  try {
    await sink.init();
  } catch (e) {
    throw new FlowmasterError('ERR_CLICKHOUSE', `ClickHouse init at ${flags.clickhouse}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  } finally {
    fs.rmSync(sink.spool.dir, { recursive: true, force: true });
    await sink.close();
  }
  const q = new ClickHouseQueries({ url: flags.clickhouse, ...o });
  try {
    const n = await q.rows(`SELECT count() AS n FROM system.tables WHERE database = '${sink.tables.database}'`);
    process.stdout.write(`clickhouse: schema ready in ${flags.clickhouse} database ${sink.tables.database}${flags.clickhouseCluster ? ` (cluster ${flags.clickhouseCluster}: run init on every shard)` : ''}; ${n[0]?.n} tables\n`);
  } finally {
    await q.close();
  }
  return 0;
}

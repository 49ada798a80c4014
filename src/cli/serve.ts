/**
 * `flowmaster serve`: the HTTP API (src/serve) over a database, read-only,
 * until SIGINT or SIGTERM; then it stops taking connections, ends the ones
 * open and closes the database. 127.0.0.1 unless told otherwise: flows say
 * who talks to whom, which is not for every host on the network.
 */
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import type { Command } from 'commander';
import ipaddr from 'ipaddr.js';
import { FlowmasterError } from '../errors';
import { readTokenFile } from '../serve/auth';
import { addClickHouseTarget } from './clickhouse';
import { nonNegativeInt, positiveInt } from './flags';

export interface ServeFlags {
  db?: string;
  clickhouse?: string;
  clickhouseDatabase: string;
  clickhouseCluster?: string;
  sensor?: string;
  host: string;
  port: number;
  tokenFile?: string;
  cacheMb: number;
  threads: number;
  queryTimeout: number;
}

export function addServeCommand(p: Command): Command {
  const c = p.command('serve')
    .description('serve the database read-only over HTTP: flows, devices, top, timeline, sources (JSON), /metrics, /openapi.json')
    .option('--db <file>', 'the flowmaster database (opened read-only)');
  return addClickHouseTarget(c)
    .option('--sensor <name>', "with --clickhouse: only this sensor's rows")
    .option('--host <address>', 'listen on this address (a non-loopback one wants --token-file)', '127.0.0.1')
    .option('--port <port>', 'TCP port (0: any free one)', nonNegativeInt, 8080)
    .option('--token-file <file>', 'require Authorization: Bearer <the token in this file> on every route but /healthz')
    .option('--cache-mb <n>', 'MiB of API replies kept until the database changes (0: off)', nonNegativeInt, 32)
    .option('--threads <n>', 'reader threads, each with its own connection (0: queries on the event loop)', nonNegativeInt, os.availableParallelism())
    .option('--query-timeout <ms>', 'stop a query running longer than this (503 ERR_TIMEOUT)', positiveInt, 30_000)
    .addHelpText('after', [
      '\nExamples:',
      '  $ flowmaster serve --db flows.db',
      '  $ curl -s "http://127.0.0.1:8080/api/flows?host=10.0.0.0/8&sort=bytes&limit=5"',
      '  $ flowmaster serve --db flows.db --host 0.0.0.0 --port 8443 --token-file /etc/flowmaster/token',
      '  $ flowmaster serve --clickhouse http://ch.example:8123 --sensor plant-a',
      '\nRoutes and parameters: docs/api.md, or GET /openapi.json.',
    ].join('\n'))
    .action(async (flags: ServeFlags) => {
      process.exitCode = await serve(flags);
    });
}

/** Whether a listen address only reaches this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): FlowmasterError {
  const why = e.code === 'EADDRINUSE' ? 'is in use' : e.code === 'EACCES' ? 'is not permitted' : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? 'is not an address of this host' : e.message;
  return new FlowmasterError('ERR_USAGE', `serve: ${host.includes(':') ? `[${host}]` : host}:${port} ${why}`, { cause: e });
}

export async function serve(flags: ServeFlags): Promise<number> {
  if (flags.db && flags.clickhouse) throw new FlowmasterError('ERR_USAGE', 'give --db or --clickhouse, not both');
  if (!flags.db && !flags.clickhouse) throw new FlowmasterError('ERR_USAGE', 'which store: give --db FILE or --clickhouse URL (see flowmaster serve --help)');
  if (flags.sensor !== undefined && !flags.clickhouse) throw new FlowmasterError('ERR_USAGE', '--sensor reads the central store: it needs --clickhouse');
  if (flags.port > 65535) throw new FlowmasterError('ERR_INVALID_OPTION', '--port: expected 0..65535');
  const token = flags.tokenFile === undefined ? undefined : readTokenFile(flags.tokenFile);
  if (token === undefined && !isLoopback(flags.host))
    process.stderr.write(`warning: serving ${flags.host} without --token-file: anyone who reaches this address reads every flow\n`);
  const { buildServer } = await import('../serve/server'); // fastify loads for this command only: the others start as fast as before
  const { dashboardPlugin, DASHBOARD_PUBLIC_PATHS } = await import('../serve/dashboard'); // the page at /, public: it holds no data
  // warnings and failed requests (500s: the client gets no details) as JSON lines on stderr; stdout says where it listens
  const store = flags.clickhouse
    ? { backend: new (await import('../serve/clickhouse')).ClickHouseBackend({ url: flags.clickhouse, database: flags.clickhouseDatabase, cluster: flags.clickhouseCluster, sensor: flags.sensor, requestTimeoutMs: flags.queryTimeout }) }
    : { db: flags.db, reader: { threads: flags.threads, queryTimeoutMs: flags.queryTimeout } };
  const app = await buildServer({ ...store, token, cache: { maxBytes: flags.cacheMb * 1024 * 1024 }, plugins: [dashboardPlugin], publicPaths: DASHBOARD_PUBLIC_PATHS, logger: { level: 'warn', stream: process.stderr } });
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= app.close().then(() => undefined));
  try {
    await app.listen({ host: flags.host, port: flags.port }).catch((e: NodeJS.ErrnoException) => {
      throw listenError(e, flags.host, flags.port);
    });
    const { address, port } = app.server.address() as AddressInfo;
    process.stdout.write(`flowmaster serve: http://${address.includes(':') ? `[${address}]` : address}:${port}/ (${app.reader.describe}, read-only${token ? ', bearer token' : ''})\n`);
    await new Promise<void>((resolve) => {
      const done = () => {
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        resolve();
      };
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
  } finally {
    await stop();
  }
  return 0;
}

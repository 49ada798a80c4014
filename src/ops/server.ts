/**
 * The ops HTTP server of capture and ingest (node:http, GET and HEAD only):
 *
 *   /metrics  Prometheus text exposition of the run's Metrics
 *   /healthz  liveness: 200 {"status":"ok"} while the process serves
 *   /readyz   readiness: 200 when every check is ok, else 503; the JSON body
 *             names each check (see ready.ts)
 *
 * It listens on 127.0.0.1 unless told otherwise: metrics name interfaces
 * and traffic volumes, which are not for every host on the network.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlowmasterError } from '../errors';
import type { Metrics } from '../metrics/registry';
import type { ReadyReport } from './ready';

export interface OpsServerOptions {
  port: number;
  host: string;
  metrics: Metrics;
  ready: () => ReadyReport;
}

export interface OpsServer {
  /** http://host:port (the port the system chose for port 0) */
  readonly url: string;
  close(): Promise<void>;
}

const ENDPOINTS = 'endpoints: /metrics (Prometheus), /healthz (liveness), /readyz (readiness)\n';

/** Listens; a port in use or a host that is not this machine's is ERR_METRICS_PORT. */
export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const server = http.createServer((req, res) => handle(o, req, res));
  server.headersTimeout = 10_000; // a scraper that stalls does not hold a socket for long
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(listenError(e, o.host, o.port)));
    server.listen(o.port, o.host, resolve);
  });
  // the run keeps the process alive, not the server: a command that fails before close() still exits
  server.unref();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive scrapers would hold close() open
      }),
  };
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): FlowmasterError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const why =
    e.code === 'EADDRINUSE' ? 'is in use (another process listens there)'
      : e.code === 'EACCES' ? 'is not permitted (ports below 1024 need privileges)'
        : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? `is not an address of this host (--metrics-host)`
          : `cannot be listened on (${e.message})`;
  return new FlowmasterError('ERR_METRICS_PORT', `metrics server: ${where} ${why}`, { cause: e });
}

function handle(o: OpsServerOptions, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end(ENDPOINTS);
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  const send = (status: number, type: string, body: string) =>
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
  const json = (status: number, body: unknown) => send(status, 'application/json', JSON.stringify(body) + '\n');
  switch (path) {
    case '/metrics':
      o.metrics.metricsText().then(
        (text) => send(200, o.metrics.contentType, text),
        (e: Error) => send(500, 'text/plain', `metrics failed: ${e.message}\n`),
      );
      return;
    case '/healthz':
      json(200, { status: 'ok' });
      return;
    case '/readyz': {
      let report: ReadyReport;
      try {
        report = o.ready();
      } catch (e) {
        json(503, { status: 'not ready', error: (e as Error).message });
        return;
      }
      json(report.ready ? 200 : 503, { status: report.ready ? 'ready' : 'not ready', checks: report.checks });
      return;
    }
    default:
      send(404, 'text/plain', ENDPOINTS);
  }
}

/**
 * buildServer(): the HTTP API over one flowmaster database (or a ClickHouse
 * server's central store), read-only, as a fastify instance that is not yet
 * listening. The dashboard and anything
 * else add themselves through `plugins` (after the API, inside the same
 * auth, error handling and metrics) and `publicPaths` (what the token does
 * not guard).
 */
import fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { FlowmasterError } from '../errors';
import { installAuth } from './auth';
import { installReplyCache, type ReplyCacheOptions } from './cache';
import { installErrorHandlers } from './errors';
import { installHttpMetrics } from './metrics';
import { openApiRoute, registerOpenApi } from './openapi';
import { Reader, type Backend, type ReaderOptions } from './reader';
import { deviceRoutes } from './routes/devices';
import { flowRoutes } from './routes/flows';
import { opsRoutes } from './routes/ops';
import { sourceRoutes } from './routes/sources';
import { timelineRoutes } from './routes/timeline';
import { topRoutes } from './routes/top';
import { SHARED_SCHEMAS } from './schemas';

export interface ServerOptions {
  /** the flowmaster database: opened read-only (it must exist) */
  db?: string;
  /** or another store to read (a ClickHouse server: clickhouse.ts); the server closes it */
  backend?: Backend;
  /** when set, every request outside `publicPaths` needs `Authorization: Bearer <token>` */
  token?: string;
  /** paths the token does not guard: exact, or a prefix ending in '/' ('/' is the root page alone); /healthz always is */
  publicPaths?: string[];
  /** fastify's logger option (default: off) */
  logger?: FastifyServerOptions['logger'];
  /** read retries, SQLite's busy wait, reader threads and the query timeout (with `db`) */
  reader?: ReaderOptions;
  /** replies kept until the database changes (cache.ts) */
  cache?: ReplyCacheOptions;
  /**
   * registered after the API routes, in order (fastify plugins: static
   * files, the dashboard's routes); they share the instance's hooks, so the
   * token, the error replies and the HTTP metrics apply to them too
   */
  plugins?: ((app: FastifyInstance, reader: Backend) => void | Promise<void>)[];
}

/** The server and the store it reads; close() closes both. */
export type FlowmasterServer = FastifyInstance & { reader: Backend };

const VERSION: string = require('../../package.json').version;

export async function buildServer(options: ServerOptions): Promise<FlowmasterServer> {
  if ((options.db === undefined) === (options.backend === undefined)) throw new FlowmasterError('ERR_USAGE', 'buildServer: give db or backend, one of them');
  const reader = options.backend ?? new Reader(options.db!, options.reader);
  const app = fastify({
    logger: options.logger ?? false,
    // unknown parameters are errors, not silently dropped; defaults fill what is left out
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: true, // keep-alive clients do not hold close() open
    routerOptions: { maxParamLength: 200 },
  });
  try {
    app.decorate('reader', reader);
    app.addHook('onClose', () => reader.close());
    for (const s of SHARED_SCHEMAS) app.addSchema(s);
    installErrorHandlers(app);
    installHttpMetrics(app, reader.metrics);
    if (options.token !== undefined) installAuth(app, options.token, ['/healthz', ...(options.publicPaths ?? [])]);
    installReplyCache(app, reader, options.cache);
    await registerOpenApi(app, VERSION);
    app.addHook('onSend', async (_req, reply, payload) => {
      reply.header('Cache-Control', 'no-store'); // live data: a proxy or browser must not answer from a copy
      return payload;
    });
    opsRoutes(app, reader);
    flowRoutes(app, reader);
    deviceRoutes(app, reader);
    topRoutes(app, reader);
    timelineRoutes(app, reader);
    sourceRoutes(app, reader);
    openApiRoute(app);
    for (const plugin of options.plugins ?? []) await app.register(async (scope) => plugin(scope, reader));
    await app.ready();
  } catch (e) {
    await app.close().catch(() => undefined);
    await reader.close();
    throw e;
  }
  return app as unknown as FlowmasterServer;
}

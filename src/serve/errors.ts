/**
 * Errors as HTTP replies: `{ code, message }` with the CLI's codes
 * (src/errors.ts). Bad input is 400, a busy database 503 with Retry-After,
 * anything unexpected 500 with a fixed message: no stack trace, SQL or
 * SQLite text ever reaches a client (the log keeps the whole error).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FlowmasterError, type ErrorCode } from '../errors';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** The status of each code a route can throw; codes not listed are 500. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  ERR_INVALID_OPTION: 400,
  ERR_USAGE: 400,
  ERR_BAD_CURSOR: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  // what the central store (--clickhouse) does not keep: flow ids, sources, numbered pages
  ERR_UNSUPPORTED: 400,
  // the ClickHouse server failed or did not answer
  ERR_CLICKHOUSE: 502,
  // another process holds the write lock longer than the retries waited, or is migrating
  ERR_DB_BUSY: 503,
  ERR_DB_LOCKED: 503,
  // a query ran past --query-timeout; its thread was stopped
  ERR_TIMEOUT: 503,
  // the server closes with the request in a reader thread
  ERR_CANCELLED: 503,
};

/** What the client reads for a database failure: its kind, not SQLite's words (they name files and statements). */
const DB_MESSAGES: Partial<Record<ErrorCode, string>> = {
  ERR_DB_BUSY: 'the database is busy (another process is writing it): retry shortly',
  ERR_DB_LOCKED: 'the database is busy (another process is writing it): retry shortly',
  ERR_DB_IO: 'the database could not be read (I/O error)',
  ERR_DB_CORRUPT: 'the database is damaged',
  ERR_DB_VERSION: 'the database schema does not match this flowmaster',
  ERR_NO_MEMORY: 'out of memory',
  ERR_CANCELLED: 'the server is closing',
  ERR_CLICKHOUSE: 'the ClickHouse server failed the query or did not answer',
  ERR_TIMEOUT: 'the query ran longer than the server allows (--query-timeout): narrow the range or the filters',
};

/** Seconds a client waits before trying a 503 again. */
export const RETRY_AFTER_S = 1;

export const httpError = (code: ErrorCode, message: string) => new FlowmasterError(code, message);

/** A FlowmasterError as status and body; `undefined` when it is not one of ours. */
export function replyOf(e: unknown): { status: number; body: ErrorBody } | undefined {
  if (!(e instanceof FlowmasterError)) return undefined;
  const status = STATUS[e.code] ?? 500;
  const message = DB_MESSAGES[e.code] ?? (status < 500 ? e.message : 'internal error');
  return { status, body: { code: e.code, message } };
}

/** An ajv failure as one line naming the parameter: 'limit: must be <= 10000', 'port: unknown parameter'. */
function validationMessage(e: FastifyError): string {
  const v = e.validation?.[0];
  if (!v) return e.message;
  const params = v.params as Record<string, unknown>;
  const name = typeof params.additionalProperty === 'string' ? params.additionalProperty : v.instancePath.replace(/^\//, '') || e.validationContext || 'request';
  if (v.keyword === 'additionalProperties') return `${name}: unknown parameter`;
  if (v.keyword === 'enum') return `${name}: expected one of ${(params.allowedValues as unknown[]).join(', ')}`;
  return `${name}: ${v.message ?? 'invalid'}`;
}

/** The handlers every route shares: errors and unknown paths. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((e: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (e.validation) return reply.code(400).send({ code: 'ERR_INVALID_OPTION', message: validationMessage(e) } satisfies ErrorBody);
    const ours = replyOf(e);
    if (ours) {
      if (ours.status === 503) reply.header('Retry-After', String(RETRY_AFTER_S));
      if (ours.status >= 500 && ours.body.code !== 'ERR_CANCELLED') req.log.error({ err: e }, 'request failed');
      return reply.code(ours.status).send(ours.body);
    }
    // fastify's own 4xx (a malformed URL, a body on a GET, ...): its message names no internals
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
      return reply.code(e.statusCode).send({ code: 'ERR_USAGE', message: e.message } satisfies ErrorBody);
    req.log.error({ err: e }, 'request failed');
    return reply.code(500).send({ code: 'ERR_INTERNAL', message: 'internal error' } satisfies ErrorBody);
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send({ code: 'ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } satisfies ErrorBody),
  );
}

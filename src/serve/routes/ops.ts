/** GET /healthz (liveness, never behind the token) and GET /metrics (Prometheus text: the store's metrics and the HTTP ones). */
import type { FastifyInstance } from 'fastify';
import type { Backend } from '../reader';

export function opsRoutes(app: FastifyInstance, reader: Backend): void {
  app.get('/healthz', {
    schema: {
      summary: 'Liveness: 200 while the process serves and its database is open',
      tags: ['ops'],
      response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } }, 503: { $ref: 'Error#' } },
    },
  }, async (_req, reply) => {
    if (!reader.isOpen()) return reply.code(503).send({ code: 'ERR_DB_OPEN', message: 'the database is closed' });
    return { status: 'ok' };
  });

  app.get('/metrics', {
    schema: {
      summary: 'Prometheus text exposition: store queries, database size, HTTP requests and latency, process',
      tags: ['ops'],
      produces: ['text/plain'],
      response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' }, 401: { $ref: 'Error#' } },
    },
  }, async (_req, reply) => {
    const text = await reader.metrics.metricsText();
    return reply.type(reader.metrics.contentType).send(text);
  });
}

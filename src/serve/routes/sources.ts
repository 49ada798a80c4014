/** GET /api/sources: the ingests (files and interfaces) the database holds, in id order, paged by id. */
import type { FastifyInstance } from 'fastify';
import type { Backend } from '../reader';
import { errorReplies } from '../schemas';

export function sourceRoutes(app: FastifyInstance, reader: Backend): void {
  app.get('/api/sources', {
    schema: {
      summary: 'Ingested sources (files, interfaces): status, counters, error; paged by id',
      tags: ['sources'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          after: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: "sources after this id: the previous page's `next`" },
          limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
        },
      },
      response: {
        200: { type: 'object', properties: { items: { type: 'array', items: { $ref: 'Source#' } }, next: { type: ['integer', 'null'] } } },
        ...errorReplies(400),
      },
    },
  }, async (req) => {
    const { after, limit } = req.query as { after: number; limit: number };
    const items = await reader.run('sources', { after, limit });
    return { items, next: items.length === limit ? items[items.length - 1].id : null };
  });
}

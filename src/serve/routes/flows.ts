/** GET /api/flows (keyset or offset pages, every filter of `flowmaster flows`) and GET /api/flows/:id. */
import type { FastifyInstance } from 'fastify';
import type { FlowSort } from '../../store/query';
import { httpError } from '../errors';
import { FLOW_FILTER_PARAMS, flowFilterOf, schemasOf } from '../params';
import type { Backend } from '../reader';
import { errorReplies, pageOf, pagingParams } from '../schemas';
import { paging, type PagingQuery } from './paging';

export const FLOW_SORTS = ['first', 'last', 'bytes', 'packets'] as const;

export function flowRoutes(app: FastifyInstance, reader: Backend): void {
  app.get('/api/flows', {
    schema: {
      summary: 'Stored flows: filtered, sorted, in keyset pages (cursor) or numbered pages (page)',
      tags: ['flows'],
      querystring: { type: 'object', additionalProperties: false, properties: { ...schemasOf(FLOW_FILTER_PARAMS), ...pagingParams(FLOW_SORTS, 'first') } },
      response: { 200: pageOf('Flow'), ...errorReplies(400) },
    },
  }, async (req) => {
    const q = req.query as PagingQuery<FlowSort> & Record<string, unknown>;
    const p = paging(q, flowFilterOf(q));
    return 'offset' in p ? reader.run('flowsOffsetPage', p.offset) : reader.run('flowsPage', p.keyset);
  });

  app.get('/api/flows/:id', {
    schema: {
      summary: 'One stored flow by id',
      tags: ['flows'],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } } },
      response: { 200: { $ref: 'Flow#' }, ...errorReplies(400, 404) },
    },
  }, async (req) => {
    const { id } = req.params as { id: number };
    const flow = await reader.run('flow', id);
    if (!flow) throw httpError('ERR_NOT_FOUND', `no flow ${id}`);
    return flow;
  });
}

/**
 * GET /api/top/{talkers,conversations,services,applications,sni}: rankings
 * over a time range from the roll-ups (src/store/analytics.ts), never the flows.
 */
import type { FastifyInstance } from 'fastify';
import type { Measure, RangeRequest } from '../../store/analytics';
import { parseParams, TIME_PARAM } from '../params';
import type { TopArg } from '../queries';
import type { Backend } from '../reader';
import { CONVERSATIONS_SCHEMA, errorReplies, rankedOf, TALKERS_SCHEMA } from '../schemas';

/** The rankings: what each ranks, its query and its reply's row. */
const KINDS = [
  ['talkers', 'Devices by the traffic they took part in (either end)', 'topTalkers', TALKERS_SCHEMA],
  ['conversations', 'Device pairs (either direction) by the traffic between them', 'topConversations', CONVERSATIONS_SCHEMA],
  ['services', 'Services (named, else protocol/port of the server end) by traffic', 'topServices', rankedOf({ service: { type: 'string' } })],
  ['applications', 'Applications the payload showed, by the traffic of their flows', 'topApplications', rankedOf({ application: { type: 'string' } })],
  ['sni', 'TLS / QUIC server names, by the traffic of their flows', 'topSni', rankedOf({ sni: { type: 'string' } })],
] as const;

const RANGE_PARAMS = { from: TIME_PARAM, to: TIME_PARAM };

export const rangeSchema = { from: TIME_PARAM.schema, to: TIME_PARAM.schema };

export function topRoutes(app: FastifyInstance, reader: Backend): void {
  for (const [kind, summary, query, schema] of KINDS) {
    app.get(`/api/top/${kind}`, {
      schema: {
        summary: `${summary} over [from, to] (roll-up minutes; default: everything)`,
        tags: ['top'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...rangeSchema,
            by: { type: 'string', enum: ['bytes', 'packets', 'flows'], default: 'bytes', description: 'rank by' },
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 10, description: 'rows (as the CLI: 1..10000)' },
          },
        },
        response: { 200: schema, ...errorReplies(400) },
      },
    }, async (req) => {
      const q = req.query as { by: Measure; limit: number } & Record<string, unknown>;
      const r: TopArg = { by: q.by, limit: q.limit, ...parseParams<RangeRequest>(RANGE_PARAMS, q) };
      return reader.run(query, r);
    });
  }
}

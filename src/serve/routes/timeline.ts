/** GET /api/timeline: bytes, packets and flows per time bucket, from the roll-ups (as `flowmaster timeline`). */
import { InvalidArgumentError } from 'commander';
import type { FastifyInstance } from 'fastify';
import { bucketDuration } from '../../cli/query';
import type { RangeRequest } from '../../store/analytics';
import { httpError } from '../errors';
import { parseParams, TIME_PARAM, type Param } from '../params';
import type { Backend } from '../reader';
import { errorReplies, TIMELINE_SCHEMA } from '../schemas';
import { rangeSchema } from './top';

const BUCKET: Param = {
  schema: { type: 'string', maxLength: 32, default: '1h', description: "bucket size: whole minutes, hours or days ('1m', '5m', '1h', '1d')" },
  parse: (v) => {
    try {
      return bucketDuration(v);
    } catch (e) {
      throw e instanceof InvalidArgumentError ? e : new InvalidArgumentError(String(e));
    }
  },
};

const PARAMS = { bucket: BUCKET, from: TIME_PARAM, to: TIME_PARAM };

/** Buckets in one reply at most: a year in minutes would be 525,600 of them, 30 MB of JSON. */
export const MAX_BUCKETS = 10_000;

const tooMany = (n: string) => httpError('ERR_INVALID_OPTION', `bucket: ${n} buckets over this range, more than ${MAX_BUCKETS}: take a larger bucket or a narrower range`);

export function timelineRoutes(app: FastifyInstance, reader: Backend): void {
  app.get('/api/timeline', {
    schema: {
      summary: 'Traffic per time bucket (buckets with traffic only, in time order), from the roll-ups',
      tags: ['timeline'],
      querystring: { type: 'object', additionalProperties: false, properties: { bucket: BUCKET.schema, ...rangeSchema } },
      response: { 200: TIMELINE_SCHEMA, ...errorReplies(400) },
    },
  }, async (req) => {
    const p = parseParams<RangeRequest & { bucket: number }>(PARAMS, req.query as Record<string, unknown>);
    const range = { bucketMs: p.bucket, ...(p.from !== undefined ? { from: p.from } : {}), ...(p.to !== undefined ? { to: p.to } : {}) };
    // a given range is checked before the query; an open one (the data's own span) on the reply
    if (p.from !== undefined && p.to !== undefined && (p.to - p.from) / p.bucket >= MAX_BUCKETS) throw tooMany(`${Math.floor((p.to - p.from) / p.bucket) + 1}`);
    const items = await reader.run('timeline', range);
    if (items.length > MAX_BUCKETS) throw tooMany(`${items.length}`);
    return { bucketMs: p.bucket, items };
  });
}

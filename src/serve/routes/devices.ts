/** GET /api/devices: the device inventory in keyset or numbered pages, filtered as `flowmaster devices`. */
import type { FastifyInstance } from 'fastify';
import type { DeviceSort } from '../../store/query';
import { DEVICE_FILTER_PARAMS, deviceFilterOf, schemasOf } from '../params';
import type { Backend } from '../reader';
import { errorReplies, pageOf, pagingParams } from '../schemas';
import { paging, type PagingQuery } from './paging';

export const DEVICE_SORTS = ['last', 'first', 'bytes', 'packets', 'flows'] as const;

export function deviceRoutes(app: FastifyInstance, reader: Backend): void {
  app.get('/api/devices', {
    schema: {
      summary: 'The device inventory (address, MAC, vendor, DNS name, services, traffic): keyset or numbered pages',
      tags: ['devices'],
      querystring: { type: 'object', additionalProperties: false, properties: { ...schemasOf(DEVICE_FILTER_PARAMS), ...pagingParams(DEVICE_SORTS, 'last') } },
      response: { 200: pageOf('Device'), ...errorReplies(400) },
    },
  }, async (req) => {
    const q = req.query as PagingQuery<DeviceSort> & Record<string, unknown>;
    const p = paging(q, deviceFilterOf(q));
    return 'offset' in p ? reader.run('devicesOffsetPage', p.offset) : reader.run('devicesPage', p.keyset);
  });
}

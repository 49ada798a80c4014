/**
 * JSON schemas of the routes' replies (and the paging parameters they
 * share): fastify validates requests with them, serializes replies with them
 * and @fastify/swagger turns them into the OpenAPI document. Rows are the
 * store's own objects (FlowRow, DeviceRow, ...), so objects allow the fields
 * the store adds later (additionalProperties) instead of dropping them.
 */
import { APPLICATIONS, CONN_STATES, END_REASONS } from '../flow/layout';

const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const str = { type: 'string' } as const;
const nullable = (type: 'integer' | 'number' | 'string') => ({ type: [type, 'null'] });

export const ERROR_SCHEMA = {
  $id: 'Error',
  type: 'object',
  description: "{ code, message }: the CLI's error codes (docs/errors.md)",
  required: ['code', 'message'],
  properties: { code: { type: 'string', examples: ['ERR_INVALID_OPTION', 'ERR_BAD_CURSOR', 'ERR_NOT_FOUND', 'ERR_DB_BUSY'] }, message: str },
} as const;

/** The error replies a route can give, by status. */
export function errorReplies(...statuses: number[]): Record<number, unknown> {
  const r: Record<number, unknown> = { 401: { $ref: 'Error#' }, 503: { $ref: 'Error#' } };
  for (const s of statuses) r[s] = { $ref: 'Error#' };
  return r;
}

export const FLOW_SCHEMA = {
  $id: 'Flow',
  type: 'object',
  description: 'A stored flow (FlowRow, docs/fields.md): times in ms since the epoch, firstNs/lastNs exact as decimal strings',
  additionalProperties: true,
  properties: {
    id: int, sourceId: int, flowId: int, segment: int, endReason: { type: 'string', enum: [...END_REASONS.slice(1), 'open'] },
    first: num, last: num, firstNs: str, lastNs: str, durationMs: num, ipVersion: int, protocol: int, etherType: int,
    src: str, dst: str, srcPort: int, dstPort: int, vlan: int, innerVlan: nullable('integer'),
    srcMac: nullable('string'), dstMac: nullable('string'), srcMacVendor: nullable('string'), dstMacVendor: nullable('string'),
    srcDevice: int, dstDevice: int, tunnelType: nullable('string'), tunnelId: nullable('integer'),
    icmpType: nullable('integer'), icmpCode: nullable('integer'), minTtl: nullable('integer'), maxTtl: nullable('integer'),
    packets: int, bytes: int, fwdPackets: int, fwdBytes: int, revPackets: int, revBytes: int,
    fwdIpBytes: nullable('integer'), revIpBytes: nullable('integer'), fwdPayloadBytes: nullable('integer'), revPayloadBytes: nullable('integer'),
    fwdFirst: num, fwdLast: nullable('number'), revFirst: nullable('number'), revLast: nullable('number'),
    fwdTcpFlags: int, revTcpFlags: int, connState: { type: ['string', 'null'], enum: [...CONN_STATES.slice(1), null] },
    history: nullable('string'), communityId: nullable('string'), service: nullable('string'),
    app: { type: 'object', additionalProperties: true, description: 'what the payload showed (docs/applications.md)', properties: { application: { type: 'string', enum: APPLICATIONS.slice(1) } } },
  },
} as const;

export const DEVICE_SCHEMA = {
  $id: 'Device',
  type: 'object',
  additionalProperties: true,
  properties: {
    id: int, addr: str, vlan: int, mac: nullable('string'), vendor: nullable('string'), name: nullable('string'),
    firstSeen: int, lastSeen: int, packets: int, bytes: int, flows: int, services: { type: 'array', items: str },
  },
} as const;

export const SOURCE_SCHEMA = {
  $id: 'Source',
  type: 'object',
  additionalProperties: true,
  properties: {
    id: int, name: str, kind: { type: 'string', enum: ['file', 'interface'] }, sensor: str, engine: str, fingerprint: nullable('string'),
    status: { type: 'string', enum: ['running', 'complete', 'interrupted', 'failed'] }, startedMs: int, endedMs: nullable('integer'),
    packets: int, bytes: int, flows: int, error: nullable('string'),
  },
} as const;

const totals = { bytes: int, packets: int, flows: int };

/** A ranked list of `key` (a string per row) with totals. */
export const rankedOf = (key: Record<string, unknown>) => ({
  type: 'array',
  items: { type: 'object', additionalProperties: true, properties: { ...key, ...totals } },
});

export const TALKERS_SCHEMA = rankedOf({ device: int, addr: str, vlan: int, vendor: nullable('string') });
export const CONVERSATIONS_SCHEMA = rankedOf({ a: str, b: str, aDevice: int, bDevice: int });
export const TIMELINE_SCHEMA = {
  type: 'object',
  properties: {
    bucketMs: int,
    items: { type: 'array', items: { type: 'object', properties: { t: int, ...totals } } },
  },
} as const;

/** A keyset page (`next` is the cursor of the following one, null at the end) or an offset page (page, pageSize, total on request). */
export const pageOf = (ref: string) => ({
  type: 'object',
  required: ['items'],
  properties: {
    items: { type: 'array', items: { $ref: `${ref}#` } },
    next: nullable('string'),
    page: int,
    pageSize: int,
    total: int,
  },
});

/** Paging parameters of flows and devices: keyset (limit, cursor) or offset (page, pageSize, total). */
export function pagingParams(sorts: readonly string[], defaultSort: string): Record<string, unknown> {
  return {
    sort: { type: 'string', enum: sorts, default: defaultSort, description: 'sort key' },
    order: { type: 'string', enum: ['asc', 'desc'], default: 'desc' },
    limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 50, description: 'rows per keyset page (as the CLI: 1..10000)' },
    cursor: { type: 'string', description: "the previous page's `next`: bound to its filter and sort, signed by the database" },
    page: { type: 'integer', minimum: 1, maximum: 2 ** 31, description: 'offset paging: page number (1-based); not with cursor' },
    pageSize: { type: 'integer', minimum: 1, maximum: 10_000, description: 'offset paging: rows per page (default: limit, as the CLI takes --limit)' },
    total: { type: 'boolean', default: false, description: 'offset paging: also count the matching rows (a count of every match: slow on large stores)' },
  };
}

export const SHARED_SCHEMAS = [ERROR_SCHEMA, FLOW_SCHEMA, DEVICE_SCHEMA, SOURCE_SCHEMA];

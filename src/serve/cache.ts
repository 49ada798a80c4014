/**
 * GET /api/ replies kept until the database changes. SQLite's
 * `PRAGMA data_version` moves on this connection whenever another one
 * commits, so a reply cached under the current version is exactly what the
 * query would return now. Dashboards open in several browsers, and live
 * refresh polling a store that has not moved, then cost one query per change
 * instead of one per request. Bounded in bytes (LRU).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Backend } from './reader';

interface Entry {
  version: string | number;
  body: string;
  type: string;
}

export interface ReplyCacheOptions {
  /** bytes of reply bodies kept (default 32 MiB); 0 turns the cache off */
  maxBytes?: number;
}

export function installReplyCache(app: FastifyInstance, reader: Backend, options: ReplyCacheOptions = {}): void {
  const maxBytes = options.maxBytes ?? 32 << 20;
  if (maxBytes <= 0) return;
  const cache = new LRUCache<string, Entry>({ maxSize: maxBytes, sizeCalculation: (e) => e.body.length + 64 });
  const versionSeen = new WeakMap<FastifyRequest, string | number>();
  const cacheable = (req: FastifyRequest) => req.method === 'GET' && req.url.startsWith('/api/');

  // onRequest hooks run in order: the token check (auth.ts) comes first
  app.addHook('onRequest', async (req, reply) => {
    if (!cacheable(req)) return;
    const version = await reader.version();
    const hit = cache.get(req.url);
    if (hit && hit.version === version) {
      void reply.header('X-Flowmaster-Cache', 'hit').type(hit.type).send(hit.body);
      return reply;
    }
    versionSeen.set(req, version);
  });

  // a commit between the version check and the query only stores a newer reply under an older
  // version: the next request sees a newer version and queries again, it never gets stale data
  app.addHook('onSend', async (req, reply, payload) => {
    const version = versionSeen.get(req);
    if (version !== undefined && reply.statusCode === 200 && typeof payload === 'string') {
      cache.set(req.url, { version, body: payload, type: String(reply.getHeader('content-type') ?? 'application/json') });
      void reply.header('X-Flowmaster-Cache', 'miss');
    }
    return payload;
  });
}

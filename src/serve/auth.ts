/**
 * The optional bearer token: when set, every request but the public paths
 * (/healthz, and what buildServer's caller adds) must carry
 * `Authorization: Bearer <token>`. Both sides are hashed first, so the
 * constant-time comparison always sees equal lengths and a wrong guess
 * learns nothing from timing, not even the token's length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { FlowmasterError } from '../errors';
import type { ErrorBody } from './errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether `header` carries the token. */
export function tokenMatches(header: string | undefined, tokenHash: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  // a missing or malformed header is still compared, against nothing that can match
  return timingSafeEqual(digest(m ? m[1] : '\0'), tokenHash) && m !== null;
}

/** The token in a file (trimmed): empty or unreadable is ERR_INVALID_OPTION. */
export function readTokenFile(path: string): string {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new FlowmasterError('ERR_INVALID_OPTION', `--token-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path, cause: e });
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) throw new FlowmasterError('ERR_INVALID_OPTION', `--token-file ${path}: expected one token (no spaces) in the file`, { path });
  return token;
}

/** Requires the token on every path not under one of `publicPaths` (exact paths, or prefixes ending in '/'; '/' is the root path alone). */
export function installAuth(app: FastifyInstance, token: string, publicPaths: readonly string[]): void {
  const want = digest(token);
  // '/' alone is the root page, not a prefix of everything
  const isPublic = (path: string) => publicPaths.some((p) => path === p || (p.length > 1 && p.endsWith('/') && path.startsWith(p)));
  app.addHook('onRequest', async (req, reply) => {
    if (isPublic(req.url.split('?')[0])) return;
    if (tokenMatches(req.headers.authorization, want)) return;
    reply.header('WWW-Authenticate', 'Bearer realm="flowmaster"');
    await reply.code(401).send({ code: 'ERR_UNAUTHORIZED', message: 'a bearer token is required: Authorization: Bearer <token>' } satisfies ErrorBody);
  });
}

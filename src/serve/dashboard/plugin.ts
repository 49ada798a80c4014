/**
 * The dashboard as a buildServer() plugin: GET / is the page, GET
 * /dashboard/<file> its scripts, styles and uPlot. The page holds no data
 * (it reads /api/* from the browser, with the token when there is one), so
 * these paths can be public while the API stays behind the token.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { httpError } from '../errors';
import { loadAssets, type Asset } from './assets';

/** The paths buildServer's `publicPaths` may leave unguarded: the page and its files. */
export const DASHBOARD_PUBLIC_PATHS = ['/', '/dashboard/'];

/** Scripts, styles and data only from this server: an injected string in a flow (a host name, an SNI) cannot run or load anything. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function send(reply: FastifyReply, a: Asset): FastifyReply {
  return reply.type(a.type).header('X-Content-Type-Options', 'nosniff').send(a.body);
}

export async function dashboardPlugin(app: FastifyInstance): Promise<void> {
  const assets = loadAssets();
  const page = assets.get('index.html') as Asset;
  app.get('/', { schema: { hide: true } }, async (_req, reply) =>
    send(reply.header('Content-Security-Policy', CSP).header('Referrer-Policy', 'no-referrer'), page));
  app.get('/dashboard/*', { schema: { hide: true } }, async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    const a = assets.get(name);
    if (!a) throw httpError('ERR_NOT_FOUND', `no dashboard file ${name}`);
    return send(reply, a);
  });
}

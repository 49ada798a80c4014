/**
 * The dashboard's files, read once at startup into memory: a handful of
 * small files, so every request is a map lookup (no path from the URL ever
 * reaches the file system) and the page keeps loading while the disk is busy
 * with a capture. uPlot comes from its own npm package, resolved here, so
 * the page works offline and no copy of it lives in the repository.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlowmasterError } from '../../errors';

export interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** uPlot's browser build and stylesheet, under the names the page asks for. */
const VENDOR: Record<string, string> = {
  'vendor/uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'vendor/uPlot.min.css': 'uplot/dist/uPlot.min.css',
};

/**
 * Where the page's own files are: beside this module once built
 * (scripts/build-dashboard.mjs copies them into dist/), else in the source
 * tree (a checkout compiled by tsc alone, or tests running src/).
 */
export function publicDir(): string {
  const candidates = [path.join(__dirname, 'public'), path.resolve(__dirname, '..', '..', '..', 'src', 'serve', 'dashboard', 'public')];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'index.html')));
  if (!found) throw new FlowmasterError('ERR_INTERNAL', `the dashboard's files are missing (looked in ${candidates.join(', ')}): run npm run build:ts`);
  return found;
}

function asset(file: string): Asset {
  return { body: fs.readFileSync(file), type: TYPES[path.extname(file)] ?? 'application/octet-stream' };
}

function walk(dir: string, prefix = ''): [string, string][] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name), `${prefix}${e.name}/`) : [[`${prefix}${e.name}`, path.join(dir, e.name)] as [string, string]],
  );
}

/** Every file of the page by its path under /dashboard/ ('index.html', 'js/main.js', 'vendor/uPlot.min.css'). */
export function loadAssets(dir = publicDir()): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [name, file] of walk(dir)) out.set(name, asset(file));
  for (const [name, spec] of Object.entries(VENDOR)) out.set(name, asset(require.resolve(spec)));
  return out;
}

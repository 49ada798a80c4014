#!/usr/bin/env node
// Copies the dashboard's page, scripts and styles (src/serve/dashboard/public)
// next to its compiled plugin in dist/, which tsc does not do: `npm run
// build:ts` and `prepare` run it after tsc, so the package ships the page.
// uPlot is not copied: the plugin serves it from its npm package (a dependency).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'src', 'serve', 'dashboard', 'public');
const to = path.join(root, 'dist', 'serve', 'dashboard', 'public');

fs.rmSync(to, { recursive: true, force: true });
fs.cpSync(from, to, { recursive: true });

// The dashboard's first view in headless Chromium: the time from navigation
// to every part shown (body[data-view="1"]), median of --runs loads, and what
// each API request took. The first load meets an empty reply cache (every
// request queries: the view after the store changed); the later ones are
// answered from it while the store is unchanged (--no-cache: all cold).
// `flowmaster serve` runs in a child
// process (dist/), so the browser driver does not share its event loop. A
// measurement, never a test; the goal is a first view <= 1 s at 50M flows.
//
//   npm run build:ts && node bench/dashboard.mjs --db FILE [--runs 5] [--query '?host=10.0.0.0/8'] [--no-cache]
//
// Needs Chromium (apt-get install chromium; FLOWMASTER_CHROMIUM=<path> for another).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { startServer } from './serve-process.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function flag(name, dflt) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : dflt;
}
const DB = flag('db');
const RUNS = Number(flag('runs', 5));
const QUERY = flag('query', '');
const NO_CACHE = process.argv.includes('--no-cache');
const CHROMIUM = [process.env.FLOWMASTER_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && fs.existsSync(p));


/** One load: ms to the first complete view, and each API request's ms. */
async function firstView(page, url) {
  const started = new Map();
  const requests = [];
  const onRequest = (r) => started.set(r, performance.now());
  const onFinished = (r) => r.url().includes('/api/') && requests.push([Math.round(performance.now() - started.get(r)), r.url().replace(/^https?:\/\/[^/]+/, '')]);
  page.on('request', onRequest);
  page.on('requestfinished', onFinished);
  const t = performance.now();
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.view === '1', { polling: 10, timeout: 60_000 });
  const ms = performance.now() - t;
  page.off('request', onRequest);
  page.off('requestfinished', onFinished);
  const errors = await page.$eval('#errors', (e) => (e.hidden ? '' : e.textContent));
  if (errors) throw new Error(`the page shows an error: ${errors}`);
  return { ms, requests };
}

async function main() {
  if (!DB) throw new Error('give --db FILE (a flowmaster database)');
  if (!CHROMIUM) throw new Error('no Chromium: apt-get install chromium, or FLOWMASTER_CHROMIUM=<path>');
  const { proc, url } = await startServer(DB, NO_CACHE ? ['--cache-mb', '0'] : []);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], defaultViewport: { width: 1440, height: 1000 } });
  try {
    const page = await browser.newPage();
    const loads = [];
    for (let i = 0; i < RUNS; i++) loads.push(await firstView(page, `${url}/${QUERY}`));
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const [cold, ...rest] = loads.map((l) => l.ms);
    console.log(`${DB}${QUERY}: first view, first load ${cold.toFixed(0)} ms${rest.length ? `; the ${rest.length} loads after it: median ${median(rest).toFixed(0)} ms, max ${Math.max(...rest).toFixed(0)}` : ''} (reply cache ${NO_CACHE ? 'off' : 'on'})`);
    for (const [name, load] of [['first load', loads[0]], ['last load', loads[loads.length - 1]]]) {
      console.log(`${name}, per request (ms):`);
      for (const [ms, u] of load.requests) console.log(`  ${String(ms).padStart(6)}  ${u}`);
    }
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

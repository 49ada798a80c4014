/**
 * The dashboard (src/serve/dashboard) in a real browser: Debian's headless
 * Chromium driven by puppeteer-core against `buildServer()` over a generated
 * database. The charts are checked by their pixels, the range drag with
 * mouse events, the flow table by scrolling it to the end, and every table
 * against what the store (or the API) returns for the same view.
 * FLOWMASTER_SCREENSHOT=1 also rewrites docs/img/dashboard.png (the README's).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type Store } from '../src/index';
import { buildServer, type FlowmasterServer } from '../src/serve';
import { DASHBOARD_PUBLIC_PATHS, dashboardPlugin } from '../src/serve/dashboard';
import { addonError } from './helpers/addon';
import { artifact, chromiumMissing, colorPixels, launchBrowser, newPage } from './helpers/browser';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { skipping } from './helpers/skip';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const noEngine = TEST_ENGINE === 'native' ? addonError : undefined;
const why = noEngine ?? chromiumMissing;
skipping(why, 'the dashboard in a browser');

const BYTES_COLOR = '#2563eb';
const FLOWS_COLOR = '#db2777';
const START_S = 1767225600; // gen-pcap's 2026-01-01T00:00:00Z

/** A capture of `duration` seconds from `start` ingested into `db`. */
async function ingest(db: string, seed: number, start: number, duration: number, flows: number): Promise<void> {
  const { generate } = await genPcap();
  const pcap = tmpFile(`dashboard-${seed}.pcap`);
  await generate({ out: pcap, packets: flows * 10, flows, hosts: 60, duration, start, concurrency: 60, mix: 'full', apps: true, seed, quiet: true });
  const store = openStore(db, { sealRows: 1000 });
  try {
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(pcap));
  } finally {
    store.close();
  }
}

/** Waits for the page to finish its next view (body[data-view] past `after`) and returns its number. */
async function viewAfter(page: Page, after: number): Promise<number> {
  await page.waitForFunction((n) => Number(document.body.dataset.view ?? 0) > n && !document.body.dataset.busy, { timeout: 15_000, polling: 50 }, after);
  return page.evaluate(() => Number(document.body.dataset.view));
}

const view = (page: Page) => page.evaluate(() => Number(document.body.dataset.view ?? 0));
// page.evaluate, not $$eval: $$eval makes a handle per row first, slow on thousands of rows
const rowIds = (page: Page, table: string) =>
  page.evaluate((t) => [...document.querySelectorAll<HTMLElement>(`#${t} tbody tr[data-id]`)].map((r) => Number(r.dataset.id)), table);
const topRows = (page: Page, kind: string) =>
  page.evaluate((k) => [...document.querySelectorAll<HTMLElement>(`#top-${k} tbody tr[data-key]`)].map((r) => ({ key: r.dataset.key, bytes: Number(r.dataset.bytes) })), kind);

describe.skipIf(why)('the dashboard in a browser', () => {
  let db = '';
  let store: Store;
  let app: FlowmasterServer;
  let base = '';
  let browser: Browser;
  let page: Page;
  let problems: string[] = [];

  const api = async (url: string) => {
    const r = await fetch(base + url);
    return { status: r.status, body: (await r.json()) as any };
  };

  /** Opens `query` on a fresh load and waits for its first view. */
  async function open(query = ''): Promise<void> {
    await page.goto(`${base}/${query}`);
    await viewAfter(page, 0);
  }

  beforeAll(async () => {
    db = tmpFile('dashboard.db');
    // half an hour of traffic: 30 one-minute buckets on the chart, a few thousand flows
    await ingest(db, 11, START_S, 1800, 3000);
    store = openStore(db, { readonly: true });
    app = await buildServer({ db, plugins: [dashboardPlugin], publicPaths: DASHBOARD_PUBLIC_PATHS });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
    ({ page, problems } = await newPage(browser));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    store?.close();
  });

  it('draws the traffic (pixels of both series) and fills the tops, devices and flows', async () => {
    await open();
    expect(await colorPixels(page, '#chart-bytes canvas', BYTES_COLOR)).toBeGreaterThan(800);
    expect(await colorPixels(page, '#chart-flows canvas', FLOWS_COLOR)).toBeGreaterThan(800);
    // the chart shows the timeline in one-minute buckets
    expect(await page.$eval('#range', (e) => e.textContent)).toMatch(/2026-01-01 00:00:00 – 2026-01-01 00:3\d:00 UTC, 1m buckets/);
    for (const kind of ['talkers', 'services', 'applications']) {
      const want = (await api(`/api/top/${kind}?limit=10`)).body.map((r: any) => r.bytes);
      expect((await topRows(page, kind)).map((r) => r.bytes), kind).toEqual(want);
      expect(want.length, kind).toBeGreaterThan(1);
    }
    expect(await rowIds(page, 'flows')).toEqual(store.flows.page({ sort: 'first', order: 'desc', limit: 100 }).items.map((r) => r.id));
    expect(await rowIds(page, 'devices')).toEqual(store.devices.page({ sort: 'last', order: 'desc', limit: 100 }).items.map((r) => r.id));
    // a click on a flow shows the whole stored flow
    const [first] = await rowIds(page, 'flows');
    await page.click(`#flows tbody tr[data-id="${first}"]`);
    await page.waitForSelector('#flow-detail[open]');
    expect(JSON.parse(await page.$eval('#flow-detail pre', (e) => e.textContent ?? ''))).toEqual((await api(`/api/flows/${first}`)).body);
    await page.click('#flow-detail button');
    await page.screenshot({ path: artifact('dashboard.png'), fullPage: true });
    if (process.env.FLOWMASTER_SCREENSHOT === '1') {
      const out = path.resolve(__dirname, '..', 'docs', 'img', 'dashboard.png');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      await page.$eval('#updated', (e) => (e.textContent = '')); // the wall-clock time: the image is the same from run to run
      await page.screenshot({ path: out, clip: { x: 0, y: 0, width: 1440, height: 1200 } });
    }
    expect(problems).toEqual([]);
  });

  it('dragging across the chart narrows the range: the URL, the tops and the flows follow', async () => {
    await open();
    const before = await topRows(page, 'talkers');
    const over = (await page.$('#chart-bytes .u-over'))!;
    const box = (await over.boundingBox())!;
    const y = box.y + box.height / 2;
    const v = await view(page);
    await page.mouse.move(box.x + box.width * 0.2, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.35, y, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.45, y, { steps: 5 });
    await page.mouse.up();
    await viewAfter(page, v);
    const url = new URL(page.url());
    const from = url.searchParams.get('from')!;
    const to = url.searchParams.get('to')!;
    const [fromMs, toMs] = [Date.parse(from), Date.parse(to)];
    // about a quarter of the half hour, well inside it
    expect(toMs - fromMs).toBeGreaterThan(4 * 60_000);
    expect(toMs - fromMs).toBeLessThan(12 * 60_000);
    expect(fromMs).toBeGreaterThan(START_S * 1000);
    const after = await topRows(page, 'talkers');
    expect(after).not.toEqual(before);
    const want = (await api(`/api/top/talkers?limit=10&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`)).body;
    expect(after).toEqual(want.map((r: any) => ({ key: r.addr, bytes: r.bytes })));
    expect(await rowIds(page, 'flows')).toEqual(store.flows.page({ filter: { from: fromMs, to: toMs }, sort: 'first', order: 'desc', limit: 100 }).items.map((r) => r.id));
    // the zoomed chart is drawn too, and "whole time" goes back
    expect(await colorPixels(page, '#chart-bytes canvas', BYTES_COLOR)).toBeGreaterThan(800);
    await page.screenshot({ path: artifact('dashboard-zoomed.png'), fullPage: true });
    const z = await view(page);
    await page.click('#whole');
    await viewAfter(page, z);
    expect(new URL(page.url()).search).toBe('');
    expect(await topRows(page, 'talkers')).toEqual(before);
    expect(problems).toEqual([]);
  });

  it('scrolling the flow table pages through every matching row exactly once', async () => {
    // sorted by bytes (many ties: the cursor's tie-break is exercised), 50 a page
    await open('?protocol=udp&sort=bytes&order=asc&limit=50');
    let pages = 1;
    for (;;) {
      const state = await page.$eval('#flows', (e) => (e as HTMLElement).dataset.state);
      if (state === 'end') break;
      expect(state).toBe('more');
      expect(pages, 'pages past the end: the cursor does not advance').toBeLessThan(100);
      const n = await page.evaluate(() => document.querySelectorAll('#flows tbody tr').length);
      await page.$eval('#flows .scroll', (s) => s.scrollTo(0, s.scrollHeight));
      await page.waitForFunction(
        (k) => document.querySelectorAll('#flows tbody tr').length > k && (document.querySelector('#flows') as HTMLElement).dataset.state !== 'loading',
        { timeout: 10_000, polling: 50 },
        n,
      );
      pages++;
    }
    const ids = await rowIds(page, 'flows');
    const want = store.db.prepare('SELECT id FROM flows WHERE protocol = 17 ORDER BY id').pluck().all() as number[];
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => a - b)).toEqual(want);
    expect(store.flows.offsetPage({ filter: { protocol: 17 }, pageSize: 1, total: true }).total).toBe(ids.length);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(want.length / 50));
    expect(await page.$eval('#flows .status', (e) => e.textContent)).toBe(`all ${want.length.toLocaleString('en')} rows`);
    expect(problems).toEqual([]);
  });

  it("a malformed filter in the URL shows the API's message, and the rest of the page still works", async () => {
    for (const [query, route] of [
      ['?host=10.0.0.0/99', '/api/flows?host=10.0.0.0/99'],
      ['?from=yesterday', '/api/timeline?from=yesterday'],
      ['?bogus=1', '/api/flows?bogus=1'],
    ]) {
      await open(query);
      const { status, body } = await api(route);
      expect(status, route).toBe(400);
      await page.waitForSelector('#errors:not([hidden])');
      const shown = await page.$$eval('#errors .message', (es) => es.map((e) => e.textContent));
      expect(shown, query).toContain(body.message);
      expect(await page.$eval('#errors', (e) => e.textContent), query).toContain(body.code);
      if (query === '?host=10.0.0.0/99') {
        await page.screenshot({ path: artifact('dashboard-error.png'), fullPage: true });
        // the roll-ups take no host filter: the chart and the tops still show
        expect(await colorPixels(page, '#chart-bytes canvas', BYTES_COLOR)).toBeGreaterThan(800);
        expect((await topRows(page, 'talkers')).length).toBeGreaterThan(0);
        expect(await page.$eval('#filters [name=host]', (e) => (e as HTMLInputElement).value)).toBe('10.0.0.0/99');
      }
    }
    // a good URL after a bad one clears the error
    await open('?protocol=tcp');
    expect(await page.$eval('#errors', (e) => (e as HTMLElement).hidden)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('filters round-trip through the URL: the form shows them, editing it keeps the others, reload and back restore the view', async () => {
    const q = '?host=172.16.0.0%2F20&protocol=tcp&sort=bytes&order=desc&vlan=0';
    await open(q);
    const field = (name: string) => page.$eval(`#filters [name=${name}]`, (e) => (e as HTMLInputElement).value);
    expect([await field('host'), await field('protocol')]).toEqual(['172.16.0.0/20', 'tcp']);
    // a parameter without a field is a chip, the sort marks its column
    expect(await page.$$eval('#chips .chip', (cs) => cs.map((c) => (c as HTMLElement).dataset.param))).toEqual(['vlan']);
    expect(await page.$eval('#flows th[data-sort=bytes]', (e) => (e as HTMLElement).dataset.order)).toBe('desc');
    const filter = { host: '172.16.0.0/20', protocol: 6, vlan: 0 };
    expect(await rowIds(page, 'flows')).toEqual(store.flows.page({ filter, sort: 'bytes', order: 'desc', limit: 100 }).items.map((r) => r.id));

    const v = await view(page);
    await page.type('#filters [name=minBytes]', '2000');
    await page.click('#filters [type=submit]');
    await viewAfter(page, v);
    const params = new URL(page.url()).searchParams;
    expect(Object.fromEntries(params)).toEqual({ host: '172.16.0.0/20', protocol: 'tcp', sort: 'bytes', order: 'desc', vlan: '0', minBytes: '2000' });
    const narrowed = store.flows.page({ filter: { ...filter, minBytes: 2000 }, sort: 'bytes', order: 'desc', limit: 100 }).items.map((r) => r.id);
    expect(narrowed.length).toBeGreaterThan(0);
    expect(await rowIds(page, 'flows')).toEqual(narrowed);

    await page.reload();
    await viewAfter(page, 0);
    expect(await field('minBytes')).toBe('2000');
    expect(await rowIds(page, 'flows')).toEqual(narrowed);

    await page.goBack();
    await page.waitForFunction(() => !new URL(location.href).searchParams.has('minBytes'), { polling: 50 });
    await page.waitForFunction(() => !document.body.dataset.busy && (document.querySelector('#filters [name=minBytes]') as HTMLInputElement).value === '', { polling: 50 });
    expect(await rowIds(page, 'flows')).toEqual(store.flows.page({ filter, sort: 'bytes', order: 'desc', limit: 100 }).items.map((r) => r.id));

    // a click on a top service filters the flows by it
    const w = await view(page);
    await page.click('#top-applications tbody tr a');
    await viewAfter(page, w);
    expect(new URL(page.url()).searchParams.get('application')).toMatch(/^[a-z0-9-]+$/);
    expect(problems).toEqual([]);
  });

  it('with a token: the page is public, the API is not; #token= opens the view and leaves the address bar', async () => {
    const guarded = await buildServer({ db, token: 's3cret-token', plugins: [dashboardPlugin], publicPaths: DASHBOARD_PUBLIC_PATHS });
    try {
      await guarded.listen({ host: '127.0.0.1', port: 0 });
      const at = `http://127.0.0.1:${(guarded.server.address() as AddressInfo).port}`;
      expect((await fetch(`${at}/`)).status).toBe(200);
      expect((await fetch(`${at}/dashboard/js/main.js`)).status).toBe(200);
      expect((await fetch(`${at}/api/flows`)).status).toBe(401);
      const tab = await newPage(browser);
      await tab.page.goto(`${at}/?protocol=udp#token=s3cret-token`);
      await viewAfter(tab.page, 0);
      expect(tab.page.url()).toBe(`${at}/?protocol=udp`);
      expect(await tab.page.$eval('#errors', (e) => (e as HTMLElement).hidden)).toBe(true);
      expect((await rowIds(tab.page, 'flows')).length).toBe(100);
      await tab.page.close();
      const other = await newPage(browser); // a new tab: no token
      await other.page.goto(`${at}/`);
      await viewAfter(other.page, 0);
      expect(await other.page.$eval('#errors', (e) => e.textContent)).toContain('ERR_UNAUTHORIZED');
      await other.page.close();
      expect([...tab.problems, ...other.problems]).toEqual([]);
    } finally {
      await guarded.close();
    }
  });

  it('flowmaster serve (dist/) serves the page and its files', async () => {
    const child = spawn(process.execPath, [path.resolve(__dirname, '..', 'dist', 'cli', 'main.js'), 'serve', '--db', db, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /(http:\/\/\S+\/)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
      });
      const page = await fetch(url);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      const html = await page.text();
      const refs = [...html.matchAll(/(?:src|href)="(dashboard\/[^"]+)"/g)].map((m) => m[1]);
      expect(refs).toEqual(expect.arrayContaining(['dashboard/vendor/uPlot.iife.min.js', 'dashboard/vendor/uPlot.min.css', 'dashboard/js/main.js', 'dashboard/dashboard.css']));
      for (const ref of refs) {
        const r = await fetch(url + ref);
        expect(r.status, ref).toBe(200);
        expect(r.headers.get('content-type'), ref).toMatch(ref.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      }
      // every module the page imports is there
      const main = await (await fetch(`${url}dashboard/js/main.js`)).text();
      for (const m of main.matchAll(/from '\.\/([a-z-]+\.js)'/g)) expect((await fetch(`${url}dashboard/js/${m[1]}`)).status, m[1]).toBe(200);
      expect((await fetch(`${url}dashboard/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
      expect((await fetch(`${url}dashboard/js/nothing.js`)).status).toBe(404);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('follows a capture writing the same database (live refresh), without moving a table being read', async () => {
    await open();
    const v = await view(page);
    const rows = () => page.evaluate(() => document.querySelectorAll('#flows tbody tr').length);
    const scrollDown = async (past: number) => {
      await page.$eval('#flows .scroll', (s) => s.scrollTo(0, s.scrollHeight));
      await page.waitForFunction((k) => document.querySelectorAll('#flows tbody tr').length > k, { polling: 50 }, past);
    };
    await scrollDown(100);
    const read = await rowIds(page, 'flows');
    expect(read.length).toBe(200);
    // what another process would do: a writer on the file the server reads; ten minutes more traffic, right after the first half hour
    await ingest(db, 12, START_S + 1800, 600, 600);
    await viewAfter(page, v);
    expect(await page.$eval('#range', (e) => e.textContent)).toMatch(/ – 2026-01-01 00:(39|40):00 UTC/);
    // the table scrolled down keeps its rows and offers the new ones; scrolling on continues the same walk
    expect(await rowIds(page, 'flows')).toEqual(read);
    expect(await page.$eval('#flows-new', (e) => (e as HTMLElement).hidden)).toBe(false);
    await scrollDown(200);
    const more = await rowIds(page, 'flows');
    expect(more.slice(0, 200)).toEqual(read);
    expect(new Set(more).size).toBe(more.length);
    expect(more).toEqual(store.flows.page({ filter: { source: 1 }, sort: 'first', order: 'desc', limit: more.length }).items.map((r) => r.id));
    // asked for, the new flows come first
    await page.click('#flows-new');
    await page.waitForFunction(() => document.querySelectorAll('#flows tbody tr').length === 100 && (document.querySelector('#flows') as HTMLElement).dataset.state === 'more', { polling: 50 });
    const newest = store.flows.page({ sort: 'first', order: 'desc', limit: 100 }).items.map((r) => r.id);
    expect(await rowIds(page, 'flows')).toEqual(newest);
    expect(newest).not.toEqual(read.slice(0, 100));
    expect(problems).toEqual([]);
  });
});

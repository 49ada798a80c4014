/**
 * `serve --clickhouse`: the HTTP API over the central store, against a real
 * server (Debian's clickhouse-server, started for this file): every row once
 * through keyset pages, filters and rankings equal to the same file's SQLite
 * store, one sensor's view, the reply cache moving with inserts, what the
 * central store does not keep as 400 ERR_UNSUPPORTED, and a server that is
 * down as 502 without its words.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type FlowmasterServer } from '../src/serve';
import { ClickHouseBackend } from '../src/serve/clickhouse';
import { openStore, type Store } from '../src/index';
import { tmpFile } from './helpers/capture';
import { freePort, noClickHouse, startClickHouse, type ClickHouseServer } from './helpers/clickhouse';
import { TEST_ENGINE } from './helpers/read';
import { skipping } from './helpers/skip';
import { chromiumMissing, launchBrowser, newPage } from './helpers/browser';
import { DASHBOARD_PUBLIC_PATHS, dashboardPlugin } from '../src/serve/dashboard';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const skip = skipping(noClickHouse, 'serve --clickhouse tests');

function flowmaster(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Row = Record<string, unknown>;

/** Every row of a keyset walk of `url` (limit 97: pages end mid-run of equal keys). */
async function walk(app: FlowmasterServer, url: string): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const r = await app.inject({ url: `${url}${url.includes('?') ? '&' : '?'}limit=97${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
    expect(r.statusCode, r.body).toBe(200);
    const page = r.json() as { items: Row[]; next: string | null };
    rows.push(...page.items);
    cursor = page.next;
    if (!cursor) return rows;
  }
  throw new Error('walk did not end');
}

describe.skipIf(skip)('serve --clickhouse (a real clickhouse-server)', () => {
  let ch: ClickHouseServer;
  let pcap: string;
  let store: Store;
  let app: FlowmasterServer;
  const database = 'served';

  beforeAll(async () => {
    ch = await startClickHouse();
    const { generate } = await genPcap();
    pcap = tmpFile('serve-ch.pcap');
    await generate({ out: pcap, packets: 20_000, flows: 2000, hosts: 80, mix: 'full', seed: 31, quiet: true });
    const db = tmpFile('serve-ch.db');
    const r = flowmaster('ingest', '--engine', TEST_ENGINE, '--db', db, '--clickhouse', ch.url, '--clickhouse-database', database, '--sensor', 'plant-a', '--no-progress', pcap);
    expect(r.status, r.stderr).toBe(0);
    store = openStore(db, { readonly: true });
    app = await buildServer({ backend: new ClickHouseBackend({ url: ch.url, database }) });
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    store?.close();
    await ch?.destroy();
  });

  it('flows: a keyset walk gives every stored row once, with its sensor; filters give what the SQLite store gives', async () => {
    const rows = await walk(app, '/api/flows?sort=bytes&order=desc');
    const total = store.flows.offsetPage({ page: 1, pageSize: 1, total: true }).total!;
    expect(rows.length).toBe(total);
    expect(new Set(rows.map((r) => `${r.sensor}/${r.batch}/${r.seq}`)).size).toBe(total);
    expect(new Set(rows.map((r) => r.sensor))).toEqual(new Set(['plant-a']));
    const bytes = rows.map((r) => r.bytes as number);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    const sqlite = (filter: Record<string, unknown>) => store.flows.offsetPage({ filter, page: 1, pageSize: 1, total: true }).total;
    for (const [query, filter] of [['port=443', { port: 443 }], ['protocol=udp', { protocol: 17 }], ['host=10.0.0.0/8', { host: '10.0.0.0/8' }], ['minBytes=1000', { minBytes: 1000 }]] as const) {
      const got = await walk(app, `/api/flows?${query}`);
      expect(got.length, query).toBe(sqlite(filter));
      expect(got.length, query).toBeGreaterThan(0);
    }
  });

  it('rankings and the timeline are the SQLite store\'s for the same file', async () => {
    // device ids differ between the stores, so rows tied on the measure may come in another order: the
    // ranked values, and every row's totals as a set
    const totals = (xs: Row[]) => xs.map((x) => `${x.bytes}/${x.packets}/${x.flows}`).sort();
    for (const kind of ['talkers', 'services', 'conversations'] as const) {
      const method = ({ talkers: 'topTalkers', services: 'topServices', conversations: 'topConversations' } as const)[kind];
      const r = await app.inject({ url: `/api/top/${kind}?limit=5&by=bytes` });
      expect(r.statusCode, r.body).toBe(200);
      expect((r.json() as Row[]).map((x) => x.bytes), kind).toEqual(store.analytics[method]({ by: 'bytes', limit: 5 }).map((x) => x.bytes));
      const all = await app.inject({ url: `/api/top/${kind}?limit=10000` });
      expect(totals(all.json()), kind).toEqual(totals(store.analytics[method]({ limit: 10_000 }) as unknown as Row[]));
    }
    const tl = await app.inject({ url: '/api/timeline?bucket=1h' });
    expect(tl.json().items.map((x: Row) => [x.t, x.bytes, x.flows])).toEqual(store.analytics.timeline({ bucketMs: 3_600_000 }).map((x) => [x.t, x.bytes, x.flows]));
    const devices = await walk(app, '/api/devices?sort=bytes');
    expect(devices.length).toBe(store.devices.count());
  });

  it('what the central store does not keep is 400 ERR_UNSUPPORTED; bad input is 400 with the CLI codes', async () => {
    for (const url of ['/api/flows?page=2', '/api/devices?page=1', '/api/flows/1', '/api/sources']) {
      const r = await app.inject({ url });
      expect([r.statusCode, r.json().code], url).toEqual([400, 'ERR_UNSUPPORTED']);
    }
    for (const [url, code] of [['/api/flows?cursor=abc', 'ERR_BAD_CURSOR'], ['/api/flows?host=10.0.0.0/99', 'ERR_INVALID_OPTION'], ['/api/flows?port=1%27%20OR%201=1', 'ERR_INVALID_OPTION'], ['/api/flows?source=1', 'ERR_INVALID_OPTION']]) {
      const r = await app.inject({ url });
      expect([r.statusCode, r.json().code], url).toEqual([400, code]);
      expect(r.body).not.toMatch(/ClickHouse|SELECT|DB::/);
    }
    // a service name that looks like SQL is a value, matched as such
    const sqlish = await app.inject({ url: `/api/flows?service=${encodeURIComponent("x' OR '1'='1")}` });
    expect([sqlish.statusCode, sqlish.json().items]).toEqual([200, []]);
  });

  it('one sensor\'s view; replies kept until the server\'s parts change', async () => {
    const before = await app.inject({ url: '/api/top/talkers?limit=3' });
    const again = await app.inject({ url: '/api/top/talkers?limit=3' });
    expect([before.headers['x-flowmaster-cache'], again.headers['x-flowmaster-cache']]).toEqual(['miss', 'hit']);
    const r = flowmaster('ingest', '--engine', TEST_ENGINE, '--clickhouse', ch.url, '--clickhouse-database', database, '--sensor', 'plant-b', '--no-progress', pcap);
    expect(r.status, r.stderr).toBe(0);
    await new Promise((res) => setTimeout(res, 1100)); // the version is read at most once a second
    const after = await app.inject({ url: '/api/top/talkers?limit=3' });
    expect(after.headers['x-flowmaster-cache']).toBe('miss');
    expect(after.json().map((x: Row) => x.sensor).sort()).toContain('plant-b');
    const b = await buildServer({ backend: new ClickHouseBackend({ url: ch.url, database, sensor: 'plant-b' }) });
    try {
      const rows = await walk(b, '/api/flows');
      expect(new Set(rows.map((x) => x.sensor))).toEqual(new Set(['plant-b']));
      expect(rows.length).toBe(store.flows.offsetPage({ page: 1, pageSize: 1, total: true }).total);
    } finally {
      await b.close();
    }
  }, 120_000);

  it.skipIf(chromiumMissing)('the dashboard over the central store: charts, tops, the flow table and a row\'s record', async () => {
    const served = await buildServer({ backend: new ClickHouseBackend({ url: ch.url, database, sensor: 'plant-a' }), plugins: [dashboardPlugin], publicPaths: DASHBOARD_PUBLIC_PATHS });
    const browser = await launchBrowser();
    try {
      await served.listen({ host: '127.0.0.1', port: 0 });
      const { page, problems } = await newPage(browser);
      await page.goto(`http://127.0.0.1:${(served.server.address() as { port: number }).port}/`);
      await page.waitForFunction(() => Number(document.body.dataset.view ?? 0) > 0 && !document.body.dataset.busy, { timeout: 15_000, polling: 50 });
      const ids = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#flows tbody tr[data-id]')].map((r) => r.dataset.id!));
      expect(ids.length).toBeGreaterThan(50);
      expect(ids.every((id) => /^plant-a\/\S+\/\d+$/.test(id))).toBe(true);
      expect(await page.evaluate(() => document.querySelectorAll('#top-talkers tbody tr[data-key]').length)).toBeGreaterThan(1);
      await page.click(`#flows tbody tr[data-id="${ids[0]}"]`);
      await page.waitForSelector('#flow-detail[open]');
      expect(JSON.parse(await page.$eval('#flow-detail pre', (e) => e.textContent ?? '')).sensor).toBe('plant-a');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await served.close();
    }
  }, 60_000);

  it('a server that does not answer: 502 ERR_CLICKHOUSE without its words, and /healthz still answers', async () => {
    const port = await freePort();
    const down = await buildServer({ backend: new ClickHouseBackend({ url: `http://user:pw@127.0.0.1:${port}`, database, requestTimeoutMs: 2000 }) });
    try {
      expect(down.reader.describe).toBe(`http://127.0.0.1:${port}/${database}`); // no credentials in messages
      const r = await down.inject({ url: '/api/flows' });
      expect(r.statusCode).toBe(502);
      expect(r.json()).toEqual({ code: 'ERR_CLICKHOUSE', message: 'the ClickHouse server failed the query or did not answer' });
      expect((await down.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await down.close();
    }
  });

  it('the CLI: serve --clickhouse prints where it listens (no credentials); --sensor without --clickhouse and --db with it are usage errors', async () => {
    const u = new URL(ch.url);
    u.username = 'default';
    const proc = spawn(process.execPath, [cli, 'serve', '--clickhouse', u.toString(), '--clickhouse-database', database, '--port', '0'], { cwd: root });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        proc.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out);
        });
        proc.on('exit', (c) => reject(new Error(`exited ${c}`)));
      });
      expect(line).toMatch(new RegExp(`^flowmaster serve: http://127\\.0\\.0\\.1:\\d+/ \\(http://127\\.0\\.0\\.1:${u.port}/${database}, read-only\\)`));
      const base = /http:\/\/\S+?\/ /.exec(line)![0].trim();
      const r = await fetch(`${base}api/top/services?limit=2`);
      expect(r.status).toBe(200);
      expect((await r.json()).length).toBe(2);
    } finally {
      proc.kill('SIGTERM');
    }
    for (const args of [['--db', 'x.db', '--sensor', 'a'], ['--db', 'x.db', '--clickhouse', ch.url], []]) {
      const r = flowmaster('serve', ...args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/ERR_USAGE|--db|--clickhouse/);
    }
  }, 60_000);
});

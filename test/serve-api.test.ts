/**
 * The HTTP API (src/serve, `flowmaster serve`) over a generated database:
 * every route against what the store returns for the same request, bad input
 * (cursors, CIDRs, limits, SQL-looking strings, unknown parameters), keyset
 * and offset walks, the bearer token, /openapi.json, /metrics under
 * promtool, a server that never writes, and requests while another process
 * ingests into the same file. CLI tests run dist/ in a child process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type Store } from '../src/index';
import { buildServer, tokenMatches, type FlowmasterServer, type Reader } from '../src/serve';
import { isLoopback } from '../src/cli/serve';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { addonError } from './helpers/addon';
import { skipping } from './helpers/skip';
import { createHash } from 'node:crypto';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const noEngine = TEST_ENGINE === 'native' ? addonError : undefined;
const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;
const json = <T>(v: T): T => JSON.parse(JSON.stringify(v));

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

async function get(base: string, url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const r = await fetch(base + url, { headers });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.status, headers: r.headers, text, body };
}

/** A capture ingested into a new database (small partitions: pages merge several), the store closed. */
async function makeDb(name: string, seed: number, packets = 30_000, flows = 3_000): Promise<{ db: string; pcap: string }> {
  const { generate } = await genPcap();
  const pcap = tmpFile(`${name}.pcap`);
  await generate({ out: pcap, packets, flows, hosts: 80, duration: 3600, concurrency: 300, mix: 'full', apps: true, seed, quiet: true });
  const db = tmpFile(`${name}.db`);
  const store = openStore(db, { sealRows: 700 });
  await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(pcap));
  store.close();
  return { db, pcap };
}

/** An error reply: the status, and a body of exactly { code, message } that names no internals. */
function expectError(r: Reply, status: number, code: string): void {
  expect({ status: r.status, code: r.body?.code }, r.text).toEqual({ status, code });
  expect(Object.keys(r.body).sort()).toEqual(['code', 'message']);
  expect(r.text).not.toMatch(/SQLITE|sqlite|SELECT|\n\s+at /);
}

describe.skipIf(noEngine)('the HTTP API', () => {
  let db = '';
  let store: Store;
  let app: FlowmasterServer;
  let base = '';
  let allIds: number[] = [];

  beforeAll(async () => {
    db = (await makeDb('serve', 41)).db;
    store = openStore(db, { readonly: true });
    allIds = (store.db.prepare('SELECT id FROM flows ORDER BY id').pluck().all() as number[]);
    app = await buildServer({ db });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    store?.close();
  });

  it('the store lookups the API added read an index, never a whole table: a flow by id, sources after an id', () => {
    const plan = (sql: string, ...params: unknown[]) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
    const byId = plan('SELECT * FROM flows WHERE id = ?', 1);
    expect(byId.filter((d) => /^(SEARCH|SCAN)/.test(d)).length).toBe(1 + (store.db.prepare('SELECT count(*) FROM partitions').pluck().get() as number));
    expect(byId.filter((d) => /^SCAN/.test(d))).toEqual([]);
    expect(plan('SELECT * FROM sources WHERE id > ? ORDER BY id LIMIT ?', 0, 10)).toEqual(['SEARCH sources USING INTEGER PRIMARY KEY (rowid>?)']);
    expect(store.flows.get(allIds[3])!.id).toBe(allIds[3]);
    expect(store.flows.get(allIds[allIds.length - 1] + 1)).toBeUndefined();
  });

  it('opens the database read-only: a write through its connection fails', () => {
    const { store: served } = app.reader as Reader;
    expect(served.db.readonly).toBe(true);
    expect(() => served.db.exec('CREATE TABLE x (a)')).toThrow(/readonly/i);
  });

  describe('/api/flows', () => {
    const sample = () => store.flows.page({ limit: 10_000 }).items;
    // [query string, the store's request]
    const cases = (): [string, Parameters<Store['flows']['page']>[0]][] => {
      const rows = sample();
      const withSni = rows.find((r) => r.app?.sni)!;
      const withCid = rows.find((r) => r.communityId)!;
      const t0 = Math.floor(rows[0].first);
      return [
        ['', { sort: 'first', order: 'desc', limit: 50 }],
        ['?sort=bytes&order=desc&limit=20', { sort: 'bytes', order: 'desc', limit: 20 }],
        ['?sort=packets&order=asc&limit=33&protocol=tcp', { sort: 'packets', order: 'asc', limit: 33, filter: { protocol: 6 } }],
        ['?host=10.0.0.0/8&sort=last', { sort: 'last', order: 'desc', limit: 50, filter: { host: '10.0.0.0/8' } }],
        ['?host=2001:db8::/32&limit=40', { order: 'desc', limit: 40, filter: { host: '2001:db8::/32' } }],
        ['?port=443&limit=25', { order: 'desc', limit: 25, filter: { port: 443 } }],
        ['?service=https&minBytes=1000', { order: 'desc', limit: 50, filter: { service: 'https', minBytes: 1000 } }],
        ['?application=tls', { order: 'desc', limit: 50, filter: { application: 'tls' } }],
        [`?sni=${encodeURIComponent(`*${withSni.app!.sni!.slice(-6)}`)}`, { order: 'desc', limit: 50, filter: { sni: `*${withSni.app!.sni!.slice(-6)}` } }],
        [`?communityId=${encodeURIComponent(withCid.communityId!)}`, { order: 'desc', limit: 50, filter: { communityId: withCid.communityId! } }],
        ['?connState=SF,S0&endReason=flush,idle', { order: 'desc', limit: 50, filter: { connState: ['SF', 'S0'], endReason: ['flush', 'idle'] } }],
        [`?from=${t0 + 60_000}&to=${new Date(t0 + 600_000).toISOString()}`, { order: 'desc', limit: 50, filter: { from: t0 + 60_000, to: t0 + 600_000 } }],
        [`?device=${rows[5].srcDevice}&vlan=0`, { order: 'desc', limit: 50, filter: { device: rows[5].srcDevice, vlan: 0 } }],
        ['?source=1&protocol=17&sort=bytes&order=asc', { sort: 'bytes', order: 'asc', limit: 50, filter: { source: 1, protocol: 17 } }],
      ];
    };

    it('every filter and sort gives what the store gives for the same request', async () => {
      for (const [qs, req] of cases()) {
        const r = await get(base, `/api/flows${qs}`);
        expect(r.status, qs).toBe(200);
        const want = json(store.flows.page(req));
        expect(r.body.items.length, qs).toBe(want.items.length);
        expect(r.body, qs).toEqual(want);
      }
      // the filters matched something: a test of empty pages would prove little
      const empties = (await Promise.all(cases().map(([qs]) => get(base, `/api/flows${qs}`)))).filter((r) => r.body.items.length === 0);
      expect(empties.length).toBe(0);
    });

    it('a cursor walk returns every row exactly once, in order, and its cursors say where it ends', async () => {
      for (const qs of ['sort=bytes&order=desc&limit=97', 'sort=first&order=asc&limit=500', 'protocol=udp&sort=last&limit=101']) {
        const ids: number[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const r: Reply = await get(base, `/api/flows?${qs}${cursor ? `&cursor=${cursor}` : ''}`);
          expect(r.status, qs).toBe(200);
          ids.push(...r.body.items.map((f: { id: number }) => f.id));
          cursor = r.body.next;
          pages++;
        } while (cursor);
        expect(new Set(ids).size, qs).toBe(ids.length);
        const want = qs.startsWith('protocol') ? (store.db.prepare('SELECT id FROM flows WHERE protocol = 17 ORDER BY id').pluck().all() as number[]) : allIds;
        expect([...ids].sort((a, b) => a - b), qs).toEqual(want);
        expect(pages).toBeGreaterThan(2);
      }
    });

    it("cursors are the CLI's: one from `flowmaster flows` continues here, and HEAD answers as GET without a body", async () => {
      const r = spawnSync(process.execPath, [cli, 'flows', '--db', db, '--sort', 'bytes', '--protocol', 'udp', '--limit', '7', '--json'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const cliPage = JSON.parse(r.stdout);
      const api = await get(base, '/api/flows?sort=bytes&protocol=udp&limit=7');
      expect(api.body).toEqual(cliPage);
      const next = await get(base, `/api/flows?sort=bytes&protocol=udp&limit=7&cursor=${cliPage.next}`);
      expect(next.body).toEqual(json(store.flows.page({ sort: 'bytes', order: 'desc', limit: 7, filter: { protocol: 17 }, cursor: cliPage.next })));
      const head = await fetch(`${base}/api/flows?limit=3`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
    });

    it('offset pages: page/pageSize (default: limit) cover every row once, with the total on request', async () => {
      const ids: number[] = [];
      for (let page = 1; ; page++) {
        const r = await get(base, `/api/flows?sort=bytes&page=${page}&limit=700&total=true`);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ page, pageSize: 700, total: allIds.length, next: null });
        if (r.body.items.length === 0) break;
        ids.push(...r.body.items.map((f: { id: number }) => f.id));
      }
      expect([...ids].sort((a, b) => a - b)).toEqual(allIds);
      const r = await get(base, '/api/flows?page=2&pageSize=10&sort=packets&order=asc');
      expect(r.body).toEqual({ ...json(store.flows.offsetPage({ page: 2, pageSize: 10, sort: 'packets', order: 'asc' })), next: null });
      expect(r.body).not.toHaveProperty('total');
    });

    it('/api/flows/:id is the stored flow; 404 for an id no flow has, 400 for one that is no id', async () => {
      for (const id of [allIds[0], allIds[allIds.length >> 1], allIds[allIds.length - 1]]) {
        const r = await get(base, `/api/flows/${id}`);
        expect(r.status).toBe(200);
        expect(r.body).toEqual(json(store.flows.get(id)));
        expect(r.body.id).toBe(id);
      }
      expectError(await get(base, `/api/flows/${allIds[allIds.length - 1] + 1000}`), 404, 'ERR_NOT_FOUND');
      for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999']) expectError(await get(base, `/api/flows/${bad}`), 400, 'ERR_INVALID_OPTION');
    });

    it('bad input is a 400 with the CLI error codes; SQL-looking strings are plain values', async () => {
      const first = (await get(base, '/api/flows?limit=5')).body.next as string;
      const other = (await get(base, '/api/flows?limit=5&protocol=tcp')).body.next as string;
      const flipped = first.slice(0, 30) + (first[30] === 'A' ? 'B' : 'A') + first.slice(31);
      for (const cursor of ['abc', 'not a cursor!', flipped, 'A'.repeat(5000), first.slice(0, -4)])
        expectError(await get(base, `/api/flows?limit=5&cursor=${encodeURIComponent(cursor)}`), 400, 'ERR_BAD_CURSOR');
      expectError(await get(base, `/api/flows?limit=5&cursor=${other}`), 400, 'ERR_BAD_CURSOR'); // made for another filter
      expectError(await get(base, `/api/flows?limit=5&sort=bytes&cursor=${first}`), 400, 'ERR_BAD_CURSOR'); // and another sort
      expect((await get(base, `/api/flows?limit=6&cursor=${first}`)).status).toBe(200); // the limit is not bound
      const invalid = [
        'host=10.0.0.0/33', 'host=1.2.3.4/99', 'host=300.1.1.1', 'host=fe80::1%25eth0', "host=1.1.1.1'%20OR%201=1", 'host=',
        'limit=10001', 'limit=0', 'limit=-5', 'limit=1e400', 'limit=abc', 'pageSize=100000&page=1', 'page=0',
        'port=70000', 'port=abc', 'protocol=bogus', 'protocol=256', 'vlan=4096', 'device=-1', 'source=0', 'minBytes=1.5',
        'from=yesterday', 'from=2026-02-30', 'to=99999999999999999', 'application=gopher', 'connState=XX', 'endReason=late',
        'communityId=1:abc', 'sort=bogus', 'order=up', 'total=maybe', 'bogus=1', 'Host=10.0.0.1', 'port=1&port=2',
        `sni=${'a'.repeat(300)}`, 'service=' + 'x'.repeat(2000),
      ];
      for (const qs of invalid) expectError(await get(base, `/api/flows?${qs}`), 400, 'ERR_INVALID_OPTION');
      expectError(await get(base, `/api/flows?page=1&cursor=${first}`), 400, 'ERR_USAGE');
      for (const qs of ['pageSize=10', 'total=true', 'limit=5&total=true']) expectError(await get(base, `/api/flows?${qs}`), 400, 'ERR_USAGE'); // offset paging's, without page
      expectError(await get(base, '/api/devices?pageSize=10'), 400, 'ERR_USAGE');
      // SQL and LIKE syntax in text filters: values, matching nothing (or what they say literally), never SQL
      for (const qs of ["service=x'%20OR%20'1'='1", 'service=%25', "sni=*'%20OR%201=1%20--", 'httpHost=%25%25', 'dnsQuery=_%25;DROP%20TABLE%20flows', "sni=')%20UNION%20SELECT%201--"]) {
        const r = await get(base, `/api/flows?${qs}`);
        expect(r.status, qs).toBe(200);
        expect(r.body.items, qs).toEqual([]);
      }
      expect(store.db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(allIds.length);
    });
  });

  describe('/api/devices', () => {
    it('pages as the store pages, with its filters', async () => {
      const cases: [string, Parameters<Store['devices']['page']>[0]][] = [
        ['', { sort: 'last', order: 'desc', limit: 50 }],
        ['?sort=bytes&limit=20', { sort: 'bytes', order: 'desc', limit: 20 }],
        ['?host=10.0.0.0/8&sort=flows&order=asc', { sort: 'flows', order: 'asc', limit: 50, filter: { host: '10.0.0.0/8' } }],
        ['?vlan=0&seenSince=0', { order: 'desc', limit: 50, filter: { vlan: 0, seenSince: 0 } }],
        ['?vendor=ICANN,%20IANA%20Department', { order: 'desc', limit: 50, filter: { vendor: 'ICANN, IANA Department' } }],
      ];
      for (const [qs, req] of cases) {
        const r = await get(base, `/api/devices${qs}`);
        expect(r.status, qs).toBe(200);
        expect(r.body.items.length, qs).toBeGreaterThan(0);
        expect(r.body, qs).toEqual(json(store.devices.page(req)));
      }
    });

    it('a cursor walk and offset pages give every device once; bad input is a 400', async () => {
      const all = store.devices.count();
      const ids: number[] = [];
      let cursor: string | null = null;
      do {
        const r: Reply = await get(base, `/api/devices?sort=bytes&limit=333${cursor ? `&cursor=${cursor}` : ''}`);
        ids.push(...r.body.items.map((d: { id: number }) => d.id));
        cursor = r.body.next;
      } while (cursor);
      expect(new Set(ids).size).toBe(all);
      expect(ids.length).toBe(all);
      const r = await get(base, '/api/devices?page=3&pageSize=7&total=true');
      expect(r.body).toEqual({ ...json(store.devices.offsetPage({ page: 3, pageSize: 7, total: true, order: 'desc' })), next: null });
      for (const qs of ['host=10.0.0.300', 'vlan=x', 'limit=20000', 'seenSince=tomorrow', 'sort=name', 'color=red']) expectError(await get(base, `/api/devices?${qs}`), 400, 'ERR_INVALID_OPTION');
      expectError(await get(base, '/api/devices?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), 400, 'ERR_BAD_CURSOR');
      const inj = await get(base, "/api/devices?vendor=x'%20OR%201=1--&name=*'%20OR%20''='");
      expect(inj.status).toBe(200);
      expect(inj.body.items).toEqual([]);
    });
  });

  describe('/api/top, /api/timeline, /api/sources', () => {
    it('top talkers, conversations, services, applications and sni are the store analytics', async () => {
      const rows = store.flows.page({ limit: 10_000 }).items;
      const t0 = Math.floor(rows[0].first);
      const kinds = { talkers: 'topTalkers', conversations: 'topConversations', services: 'topServices', applications: 'topApplications', sni: 'topSni' } as const;
      for (const [kind, fn] of Object.entries(kinds)) {
        for (const [qs, req] of [
          ['', { by: 'bytes', limit: 10 }],
          [`?by=flows&limit=3&from=${t0 + 120_000}&to=${t0 + 1_800_000}`, { by: 'flows', limit: 3, from: t0 + 120_000, to: t0 + 1_800_000 }],
          ['?by=packets&limit=10000&from=2026-01-01T00:10Z', { by: 'packets', limit: 10_000, from: Date.parse('2026-01-01T00:10Z') }],
        ] as const) {
          const r = await get(base, `/api/top/${kind}${qs}`);
          expect(r.status, kind + qs).toBe(200);
          const want = json((store.analytics[fn] as (r: object) => unknown[])(req));
          expect(want.length, kind + qs).toBeGreaterThan(0);
          expect(r.body, kind + qs).toEqual(want);
        }
        for (const qs of ['by=octets', 'limit=10001', 'limit=0', 'from=noon', 'where=1']) expectError(await get(base, `/api/top/${kind}?${qs}`), 400, 'ERR_INVALID_OPTION');
      }
      expectError(await get(base, '/api/top/everything'), 404, 'ERR_NOT_FOUND');
    });

    it('the timeline is the store timeline per bucket', async () => {
      for (const [qs, bucketMs, range] of [
        ['', 3_600_000, {}],
        ['?bucket=1m', 60_000, {}],
        ['?bucket=5m&from=2026-01-01T00:20Z&to=2026-01-01T00:40Z', 300_000, { from: Date.parse('2026-01-01T00:20Z'), to: Date.parse('2026-01-01T00:40Z') }],
      ] as const) {
        const r = await get(base, `/api/timeline${qs}`);
        expect(r.status, qs).toBe(200);
        const items = json(store.analytics.timeline({ bucketMs, ...range }));
        expect(items.length, qs).toBeGreaterThan(0);
        expect(r.body, qs).toEqual({ bucketMs, items });
      }
      const total = (await get(base, '/api/timeline?bucket=1d')).body.items.reduce((a: number, b: { flows: number }) => a + b.flows, 0);
      expect(total).toBe(allIds.length);
      for (const qs of ['bucket=7s', 'bucket=0m', 'bucket=1w', 'bucket=', 'from=x', 'step=1m']) expectError(await get(base, `/api/timeline?${qs}`), 400, 'ERR_INVALID_OPTION');
      // at most 10,000 buckets a reply: a range of 10,000 minutes has 10,001 bucket starts in [from, to]
      const from = Date.parse('2026-01-01T00:00Z');
      expect((await get(base, `/api/timeline?bucket=1m&from=${from}&to=${from + 9_999 * 60_000}`)).status).toBe(200);
      const tooMany = await get(base, `/api/timeline?bucket=1m&from=${from}&to=${from + 10_000 * 60_000}`);
      expectError(tooMany, 400, 'ERR_INVALID_OPTION');
      expect(tooMany.body.message).toMatch(/^bucket: 10001 buckets over this range, more than 10000/);
    });

    it('sources: the ingests, paged by id', async () => {
      const r = await get(base, '/api/sources');
      expect(r.status).toBe(200);
      const want = store.db.prepare('SELECT id, name, status, flows FROM sources ORDER BY id').all();
      expect(r.body.items.map((s: Record<string, unknown>) => ({ id: s.id, name: s.name, status: s.status, flows: s.flows }))).toEqual(want);
      expect(r.body.items[0]).toMatchObject({ kind: 'file', status: 'complete', flows: allIds.length });
      expect(r.body.next).toBeNull();
      const one = await get(base, '/api/sources?limit=1');
      expect(one.body.next).toBe(r.body.items[0].id);
      expect((await get(base, `/api/sources?after=${one.body.next}`)).body.items).toEqual(r.body.items.slice(1));
      for (const qs of ['limit=0', 'after=-1', 'after=x', 'sort=id']) expectError(await get(base, `/api/sources?${qs}`), 400, 'ERR_INVALID_OPTION');
    });
  });

  describe('/healthz, /metrics, /openapi.json', () => {
    it('/healthz is ok; unknown paths are a JSON 404', async () => {
      const r = await get(base, '/healthz');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok' });
      expectError(await get(base, '/api/nothing'), 404, 'ERR_NOT_FOUND');
    });

    it('/metrics: the store queries and HTTP counters and latency, which promtool accepts', async () => {
      await get(base, '/api/flows?limit=3');
      const r = await get(base, '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(r.text).toMatch(/^flowmaster_http_requests_total\{method="GET",route="\/api\/flows",status="200"\} \d+$/m);
      expect(r.text).toMatch(/^flowmaster_http_requests_total\{method="GET",route="\/api\/flows",status="400"\} \d+$/m);
      expect(r.text).toMatch(/^flowmaster_http_request_duration_seconds_bucket\{le="0.02",method="GET",route="\/api\/flows"\} \d+$/m);
      expect(r.text).toMatch(/^flowmaster_query_duration_seconds_count\{shape="flows\.page [^"]+"\} \d+$/m);
      expect(r.text).toMatch(/^flowmaster_database_size_bytes [1-9]\d*$/m);
      expect(r.text).not.toMatch(/route="\/api\/nothing"/); // unmatched paths do not become labels
      if (skipping(!hasPromtool && 'promtool is missing (apt-get install prometheus)', 'promtool check metrics (serve)')) return;
      const p = spawnSync('promtool', ['check', 'metrics'], { input: r.text });
      expect(`${p.stdout}${p.stderr}`.trim()).toBe('');
      expect(p.status).toBe(0);
    });

    it('/openapi.json is an OpenAPI 3 document with every route, its parameters and replies', async () => {
      const r = await get(base, '/openapi.json');
      expect(r.status).toBe(200);
      const doc = r.body;
      expect(doc.openapi).toMatch(/^3\./);
      const routes = ['/api/flows', '/api/flows/{id}', '/api/devices', '/api/top/talkers', '/api/top/conversations', '/api/top/services', '/api/top/applications', '/api/top/sni', '/api/timeline', '/api/sources', '/metrics', '/healthz'];
      expect(Object.keys(doc.paths).sort()).toEqual([...routes].sort());
      for (const p of routes) expect(doc.paths[p].get.responses['200'], p).toBeDefined();
      const flowParams = doc.paths['/api/flows'].get.parameters.map((x: { name: string; in: string }) => `${x.in}:${x.name}`);
      for (const name of ['from', 'to', 'host', 'device', 'port', 'protocol', 'service', 'source', 'vlan', 'minBytes', 'application', 'sni', 'httpHost', 'dnsQuery', 'communityId', 'connState', 'endReason', 'sort', 'order', 'limit', 'cursor', 'page', 'pageSize', 'total'])
        expect(flowParams).toContain(`query:${name}`);
      expect(doc.paths['/api/flows/{id}'].get.parameters).toEqual([expect.objectContaining({ in: 'path', name: 'id', required: true })]);
      expect(doc.paths['/api/flows'].get.responses['400']).toBeDefined();
      expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Error', 'Flow', 'Device', 'Source']));
      expect(JSON.stringify(doc)).not.toMatch(/"\$ref":"(?!#\/components\/schemas\/)/); // every reference resolves inside the document
    });
  });

  it('the server never writes: the file, its WAL and PRAGMA data_version stay as they were', async () => {
    const stat = () => [db, `${db}-wal`].map((f) => fs.statSync(f, { throwIfNoEntry: false })).map((s) => s && [s.size, s.mtimeMs]);
    const other = new Database(db, { readonly: true });
    const version = () => other.pragma('data_version', { simple: true });
    const before = [stat(), version()];
    const urls = ['/api/flows?limit=500&sort=bytes', '/api/flows?page=3&total=true', '/api/devices', '/api/top/talkers', '/api/timeline?bucket=1m', '/api/sources', '/metrics', '/api/flows?cursor=bad', `/api/flows/${allIds[0]}`];
    for (let i = 0; i < 5; i++) await Promise.all(urls.map((u) => get(base, u)));
    expect([stat(), version()]).toEqual(before);
    other.close();
  });
});

describe.skipIf(noEngine)('the bearer token', () => {
  let app: FlowmasterServer;
  let base = '';
  const token = 'h7Yk2-secret-token';
  beforeAll(async () => {
    const { db } = await makeDb('serve-token', 5, 2000, 200);
    app = await buildServer({
      db, token, publicPaths: ['/', '/static/'],
      plugins: [(scope, reader) => void scope.get('/extra/devices', async () => ({ devices: (await reader.run('devicesOffsetPage', { filter: {}, sort: 'last', order: 'desc', page: 1, pageSize: 1, total: true })).total }))],
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  }, 60_000);
  afterAll(() => app?.close());

  it('is required on every route but /healthz (and the public paths), compared whole', async () => {
    for (const url of ['/api/flows', '/api/devices', '/api/top/talkers', '/api/timeline', '/api/sources', '/metrics', '/openapi.json', '/api/flows/1', '/nothing']) {
      for (const auth of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, `Basic ${token}`, `Bearer`, `Bearer ${token} extra`]) {
        const r = await get(base, url, auth === undefined ? {} : { authorization: auth });
        expectError(r, 401, 'ERR_UNAUTHORIZED');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
      const ok = await get(base, url, { authorization: `Bearer ${token}` });
      expect(ok.status, url).toBe(url === '/nothing' ? 404 : 200);
      expect((await get(base, url, { authorization: `bearer   ${token}` })).status).toBe(ok.status);
    }
    expect((await get(base, '/healthz')).status).toBe(200);
    // a plugin's route (the dashboard's way in) is behind the same token, error replies and metrics
    expectError(await get(base, '/extra/devices'), 401, 'ERR_UNAUTHORIZED');
    const extra = await get(base, '/extra/devices', { authorization: `Bearer ${token}` });
    expect(extra.body).toEqual({ devices: (app.reader as Reader).store.devices.count() });
    expect((await get(base, '/metrics', { authorization: `Bearer ${token}` })).text).toMatch(/route="\/extra\/devices",status="200"/);
    expect((await get(base, '/static/x')).status).toBe(404); // public: no token asked, and nothing there
    expect((await get(base, '/')).status).toBe(404); // '/' is public as a path, not as a prefix of every path
  });

  it('tokenMatches compares digests: any length, no early exit', () => {
    const h = createHash('sha256').update('abc').digest();
    expect(tokenMatches('Bearer abc', h)).toBe(true);
    for (const v of [undefined, '', 'Bearer ', 'Bearer ab', 'Bearer abcd', 'Bearer ' + 'a'.repeat(10_000), 'abc']) expect(tokenMatches(v, h)).toBe(false);
  });
});

describe.skipIf(noEngine)('requests while another process ingests into the same file', () => {
  it('no 5xx but a documented 503 retry, no SQLite text reaches a client, and the new rows show up', async () => {
    const { db } = await makeDb('serve-live', 7, 5000, 500);
    const { generate } = await genPcap();
    const more = [0, 1, 2].map((i) => tmpFile(`serve-live-${i}.pcap`));
    for (const [i, f] of more.entries()) await generate({ out: f, packets: 120_000, flows: 12_000, hosts: 300, mix: 'full', seed: 70 + i, quiet: true });
    const app = await buildServer({ db });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [cli, 'ingest', '--db', db, '--workers', '1', '--no-progress', ...more], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
      let done = false;
      void exited.then(() => (done = true));
      const urls = ['/api/flows?limit=200', '/api/flows?sort=bytes&limit=100&protocol=tcp', '/api/flows?page=2&pageSize=100', '/api/devices?sort=bytes', '/api/top/talkers', '/api/top/conversations', '/api/top/services', '/api/timeline?bucket=1m', '/api/sources', '/metrics'];
      const statuses = new Map<number, number>();
      const problems: string[] = [];
      const sourceCounts = new Set<number>();
      const worker = async (w: number) => {
        for (let i = 0; !done; i++) {
          const url = urls[(w + i) % urls.length];
          const r = await get(base, url);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status !== 200 && !(r.status === 503 && r.headers.get('retry-after') === '1' && r.body?.code === 'ERR_DB_BUSY')) problems.push(`${url}: ${r.status} ${r.text.slice(0, 200)}`);
          if (/SQLITE|busy/i.test(r.status === 200 ? '' : r.text)) problems.push(`${url}: ${r.text.slice(0, 200)}`);
          if (url === '/api/sources') sourceCounts.add(r.body.items.length);
        }
      };
      await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
      expect(await exited, err).toBe(0);
      expect(problems.slice(0, 5)).toEqual([]);
      const served = [...statuses.values()].reduce((a, b) => a + b, 0);
      expect(served).toBeGreaterThan(50);
      expect(sourceCounts.size).toBeGreaterThan(1); // the requests saw the ingest's sources arrive
      const final = await get(base, '/api/sources');
      expect(final.body.items.map((s: { status: string }) => s.status)).toEqual(['complete', 'complete', 'complete', 'complete']);
      console.log(`serve during ingest: ${served} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await app.close();
    }
  }, 180_000);
});

describe.skipIf(noEngine)('replies kept until the database changes', () => {
  it('a repeated request is answered from the cache; a commit by another connection makes the next one query again', async () => {
    const { db, pcap } = await makeDb('serve-cache', 9, 4000, 400);
    const app = await buildServer({ db });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const urls = ['/api/sources', '/api/flows?limit=50&sort=bytes', '/api/top/talkers', '/api/timeline?bucket=1m'];
      for (const url of urls) {
        const first = await get(base, url);
        const second = await get(base, url);
        expect([first.status, first.headers.get('x-flowmaster-cache'), second.headers.get('x-flowmaster-cache')], url).toEqual([200, 'miss', 'hit']);
        expect(second.text, url).toBe(first.text);
        expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
      }
      expect((await get(base, '/api/flows?limit=oops')).headers.get('x-flowmaster-cache')).toBeNull(); // errors are not kept
      const writer = openStore(db);
      await writer.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(pcap));
      writer.close();
      const after = await get(base, '/api/sources');
      expect(after.headers.get('x-flowmaster-cache')).toBe('miss');
      expect(after.body.items.length).toBe(2);
      const flows = await get(base, '/api/flows?limit=50&sort=bytes');
      expect(flows.headers.get('x-flowmaster-cache')).toBe('miss');
    } finally {
      await app.close();
    }
    const uncached = await buildServer({ db, cache: { maxBytes: 0 } });
    try {
      const r = await uncached.inject({ method: 'GET', url: '/api/sources' });
      const again = await uncached.inject({ method: 'GET', url: '/api/sources' });
      expect([r.headers['x-flowmaster-cache'], again.headers['x-flowmaster-cache']]).toEqual([undefined, undefined]);
    } finally {
      await uncached.close();
    }
  }, 120_000);
});

describe.skipIf(noEngine)('store failures as replies', () => {
  // A WAL reader holds a shared lock on the file for as long as it is open, so no other connection can lock it
  // out; its SQLITE_BUSY comes from rarer moments (WAL recovery, a migration). SQLite's own errors are thrown here instead.
  // (on the event loop, threads: 0: a reader thread's store is out of reach)
  const failing = (app: FlowmasterServer, code: string, times: number) => {
    const flows = (app.reader as Reader).store.flows;
    const real = flows.page.bind(flows);
    let left = times;
    flows.page = ((req: never) => {
      if (left-- > 0) throw new (Database as unknown as { SqliteError: new (m: string, c: string) => Error }).SqliteError(`fake ${code} in SELECT x FROM flows_p3`, code);
      return real(req);
    }) as typeof flows.page;
  };

  it('a busy database is read again (asynchronously) until it answers; past the retries: 503, Retry-After, ERR_DB_BUSY, no SQLite text', async () => {
    const { db } = await makeDb('serve-busy', 11, 2000, 200);
    const patient = await buildServer({ db, reader: { threads: 0 } });
    const hasty = await buildServer({ db, reader: { retryMs: 200, threads: 0 } });
    try {
      failing(patient, 'SQLITE_BUSY', 4);
      const ok = await patient.inject({ url: '/api/flows?limit=5' });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json().items).toHaveLength(5);
      expect((await patient.inject({ url: '/metrics' })).body).toMatch(/^flowmaster_http_db_retries_total 4$/m);
      failing(hasty, 'SQLITE_BUSY_RECOVERY', 1000);
      const busy = await hasty.inject({ url: '/api/flows?limit=5' });
      expect(busy.statusCode).toBe(503);
      expect(busy.headers['retry-after']).toBe('1');
      expect(busy.json()).toEqual({ code: 'ERR_DB_BUSY', message: expect.stringMatching(/busy.*retry/) });
      expect(busy.body).not.toMatch(/SQLITE|flows_p3|\.db/);
      failing(hasty, 'SQLITE_CORRUPT', 1);
      const corrupt = await hasty.inject({ url: '/api/flows?limit=5' });
      expect(corrupt.statusCode).toBe(500);
      expect(corrupt.json()).toEqual({ code: 'ERR_DB_CORRUPT', message: 'the database is damaged' });
      (hasty.reader as Reader).store.flows.page = () => {
        throw new TypeError('secret internals at /home/x.ts:1');
      };
      const internal = await hasty.inject({ url: '/api/flows' });
      expect(internal.statusCode).toBe(500);
      expect(internal.json()).toEqual({ code: 'ERR_INTERNAL', message: 'internal error' });
    } finally {
      await patient.close();
      await hasty.close();
    }
  }, 60_000);
});

describe.skipIf(noEngine)('reader threads', () => {
  it('queries run in reader threads: their store timings reach /metrics, and a failure there keeps its code', async () => {
    const { db } = await makeDb('serve-threads', 12, 2000, 200);
    const app = await buildServer({ db, reader: { threads: 2 }, cache: { maxBytes: 0 } });
    try {
      expect((app.reader as Reader).threads).toBe(2);
      const before = (app.reader as Reader).store.db.prepare('SELECT 1').get(); // the server's own connection still works
      expect(before).toBeDefined();
      const tops = await Promise.all(['talkers', 'conversations', 'services'].map((k) => app.inject({ url: `/api/top/${k}?limit=3` })));
      expect(tops.map((r) => r.statusCode)).toEqual([200, 200, 200]);
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metrics).toMatch(/^flowmaster_query_duration_seconds_count\{shape="analytics.topTalkers"\} 1$/m);
      expect(metrics).toMatch(/^flowmaster_query_duration_seconds_count\{shape="analytics.topConversations"\} 1$/m);
      expect(metrics).toMatch(/^flowmaster_http_query_timeouts_total 0$/m);
    } finally {
      await app.close();
    }
    // a damaged file: SQLite's error in the thread comes back as the coded error, then the reply's fixed text
    const broken = tmpFile('serve-threads-broken.db');
    fs.copyFileSync(db, broken);
    const app2 = await buildServer({ db: broken, reader: { threads: 1 }, cache: { maxBytes: 0 } });
    try {
      const size = fs.statSync(broken).size;
      const fd = fs.openSync(broken, 'r+');
      for (let at = 8192; at < size; at += 4096) fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, at);
      fs.closeSync(fd);
      const r = await app2.inject({ url: '/api/top/conversations' });
      expect(r.statusCode, r.body).toBe(500);
      expect(r.json()).toEqual({ code: 'ERR_DB_CORRUPT', message: 'the database is damaged' });
    } finally {
      await app2.close();
    }
  }, 60_000);

  it('a query past the query timeout is stopped: 503 ERR_TIMEOUT with Retry-After, counted, and the server goes on', async () => {
    const { db } = await makeDb('serve-timeout', 13, 2000, 200);
    // 1 ms: shorter than a thread takes to open its connection, so every query is stopped
    const app = await buildServer({ db, reader: { threads: 1, queryTimeoutMs: 1 } });
    try {
      for (const url of ['/api/top/conversations', '/api/flows?limit=5']) {
        const r = await app.inject({ url });
        expect(r.statusCode, r.body).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(r.json()).toEqual({ code: 'ERR_TIMEOUT', message: expect.stringMatching(/longer than the server allows.*narrow/) });
      }
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
      expect((await app.inject({ url: '/metrics' })).body).toMatch(/^flowmaster_http_query_timeouts_total 2$/m);
    } finally {
      await app.close();
    }
  }, 60_000);
});

describe('flowmaster serve (CLI)', () => {
  const run = (args: string[], until: RegExp) =>
    new Promise<{ proc: ChildProcess; out: string; err: string }>((resolve, reject) => {
      const proc = spawn(process.execPath, [cli, 'serve', ...args], { cwd: root });
      let out = '';
      let err = '';
      const check = () => until.test(out + err) && resolve({ proc, out, err });
      proc.stdout!.on('data', (d) => ((out += d), check()));
      proc.stderr!.on('data', (d) => ((err += d), check()));
      proc.on('exit', () => resolve({ proc, out, err }));
      proc.on('error', reject);
    });
  const exit = (p: ChildProcess) => new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.on('exit', (c) => r(c))));

  it.skipIf(noEngine)('prints its URL, serves, warns on a non-loopback host without a token, and exits 0 on SIGTERM and SIGINT', async () => {
    const { db } = await makeDb('serve-cli', 9, 2000, 200);
    for (const [signal, host] of [['SIGTERM', '127.0.0.1'], ['SIGINT', '0.0.0.0']] as const) {
      const s = await run(['--db', db, '--port', '0', '--host', host], /http:\/\/\S+/);
      const url = /http:\/\/\S+/.exec(s.out)![0].replace(/\/$/, '');
      expect(s.out).toMatch(/^flowmaster serve: http:\/\/.*read-only/);
      if (host === '0.0.0.0') expect(s.err).toMatch(/warning: serving 0\.0\.0\.0 without --token-file/);
      else expect(s.err).toBe('');
      const port = new URL(url).port;
      expect((await get(`http://127.0.0.1:${port}`, '/api/flows?limit=1')).status).toBe(200);
      s.proc.kill(signal);
      expect(await exit(s.proc)).toBe(0);
    }
    const tokenFile = tmpFile('token');
    fs.writeFileSync(tokenFile, '  s3cret\n');
    const s = await run(['--db', db, '--port', '0', '--host', '0.0.0.0', '--token-file', tokenFile], /http:\/\/\S+/);
    expect(s.err).toBe('');
    const port = new URL(/http:\/\/\S+/.exec(s.out)![0]).port;
    expect((await get(`http://127.0.0.1:${port}`, '/api/sources')).status).toBe(401);
    expect((await get(`http://127.0.0.1:${port}`, '/api/sources', { authorization: 'Bearer s3cret' })).status).toBe(200);
    s.proc.kill('SIGTERM');
    expect(await exit(s.proc)).toBe(0);
  }, 60_000);

  it('refuses a missing database, an empty token file and a bad port with coded errors', async () => {
    const missing = await run(['--db', tmpFile('none.db'), '--port', '0'], /$^/);
    expect(await exit(missing.proc)).toBe(1);
    expect(missing.err).toMatch(/ERR_DB_NOT_FOUND/);
    const empty = tmpFile('empty-token');
    fs.writeFileSync(empty, '\n');
    const e = await run(['--db', tmpFile('none2.db'), '--token-file', empty], /$^/);
    expect(await exit(e.proc)).toBe(2);
    expect(e.err).toMatch(/token-file.*ERR_INVALID_OPTION/);
    const p = await run(['--db', 'x.db', '--port', 'http'], /$^/);
    expect(await exit(p.proc)).toBe(2);
    expect(p.err).toMatch(/ERR_INVALID_OPTION/);
  });

  it('isLoopback: which hosts need no token warning', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '192.168.1.1']) expect(isLoopback(h), h).toBe(false);
  });
});

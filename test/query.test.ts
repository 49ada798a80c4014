/** Pages (keyset and offset), cursors, filters, query plans, retention. */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { addressRange, FlowMeter, openStore, type Store } from '../src/index';
import { compileFlowFilter, MAX_TIME_MS } from '../src/store/query';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

/** A store with `flows` synthetic flow rows (inserted directly: fast), times spread over a day. */
/** A store of `flows` synthetic flows, appended `chunk` at a time (with a small sealRows: one partition each). */
function syntheticStore(flows: number, file = ':memory:', options: Parameters<typeof openStore>[1] = {}, chunk = flows): Store {
  const store = openStore(file, options);
  const db = store.db;
  db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('synthetic', 'file', 'test', 'native', 0)").run();
  const dev = db.prepare('INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, 0, 0, 0)');
  for (let i = 0; i < 256; i++) dev.run(Buffer.from([10, 0, 0, i]));
  for (let at = 0; at < flows; at += chunk) insertFlows(store, at, Math.min(chunk, flows - at));
  return store;
}

const T0 = 1_767_225_600_000n * 1_000_000n; // 2026-01-01 in ns
function insertFlows(store: Store, from: number, n: number): void {
  const rows = [];
  for (let i = from; i < from + n; i++) {
    const a = i % 256;
    const b = (i * 7) % 256;
    const first = T0 + BigInt(i % 86_400) * 1_000_000_000n + BigInt(i);
    rows.push({
      source_id: 1, flow_id: i + 1, segment: 0, first_ns: first, last_ns: first + 1_000_000n * BigInt(i % 1000), end_reason: 4, ip_version: 4,
      protocol: i % 3 ? 6 : 17, ether_type: 2048, vlan: 0, src_addr: Buffer.from([10, 0, 0, a]), dst_addr: Buffer.from([10, 0, 0, b]),
      src_port: 1024 + (i % 50000), dst_port: [80, 443, 502, 53][i % 4], src_device: a + 1, dst_device: b + 1, fwd_packets: 1 + (i % 17),
      fwd_bytes: 60 * (1 + (i % 97)), rev_packets: i % 5, rev_bytes: 40 * (i % 89), fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0,
      service: i % 4 === 2 ? 'modbus' : null, server_is_dst: 1,
    });
  }
  store.appendFlows(rows);
}

describe('keyset pages', () => {
  it('walk 100k+ filtered, sorted flows: every row exactly once, in order, also while rows are inserted', () => {
    const store = syntheticStore(120_000);
    for (const [sort, order] of [['first', 'asc'], ['bytes', 'desc']] as const) {
      const filter = { protocol: 6 };
      const seen = new Set<number>();
      let prev: [bigint | number, number] | undefined;
      let cursor: string | undefined;
      let pages = 0;
      let inserted = 0;
      const problems: string[] = [];
      do {
        const page = store.flows.page({ filter, sort, order, limit: 1000, cursor });
        for (const r of page.items) {
          if (seen.has(r.id)) problems.push(`row ${r.id} twice`);
          seen.add(r.id);
          if (r.protocol !== 6) problems.push(`row ${r.id} outside the filter`);
          const key = sort === 'first' ? BigInt(r.firstNs) : r.bytes;
          if (prev) {
            const [pk, pid] = prev;
            const ok = order === 'asc' ? key > pk || (key === pk && r.id > pid) : key < pk || (key === pk && r.id < pid);
            if (!ok) problems.push(`row ${r.id} out of ${sort} ${order} order`);
          }
          prev = [key, r.id];
        }
        cursor = page.next ?? undefined;
        if (++pages % 10 === 0) {
          insertFlows(store, 120_000 + inserted, 500); // concurrent writes: pages stay consistent
          inserted += 500;
        }
      } while (cursor);
      expect(problems.slice(0, 5)).toEqual([]);
      const before = store.db.prepare('SELECT count(*) n FROM flows WHERE protocol = 6 AND id <= 120000').get() as { n: number };
      const initial = [...seen].filter((id) => id <= 120_000).length;
      expect(initial).toBe(before.n); // every row present from the start is seen exactly once
    }
    store.close();
  });

  it('a selective filter matching many rows walks the sort index, one matching few sorts its matches: both give every row once, in order', () => {
    const store = syntheticStore(40_000);
    // port 502: a quarter of the flows (dst_port); port 1030: a handful (src_port); device 7: both ends, 1/128
    for (const [filter, strategy] of [[{ port: 502 }, 's'], [{ port: 1030 }, 'f'], [{ device: 7 }, 'f'], [{ service: 'modbus' }, 's']] as const) {
      for (const [sort, order] of [['bytes', 'desc'], ['first', 'asc']] as const) {
        const want = (
          store.db.prepare(`SELECT id FROM flows WHERE ${compileFlowFilter(filter).where} ORDER BY ${sort === 'bytes' ? 'bytes' : 'first_ns'} ${order}, id ${order}`)
            .pluck().all(...compileFlowFilter(filter).params) as number[]
        );
        const got: number[] = [];
        let cursor: string | undefined;
        let first = true;
        do {
          const page = store.flows.page({ filter, sort, order, limit: 100, cursor });
          // sorted by start time, a port or device filter is read as two halves in time order: no choice to make
          const split = sort === 'first' && ('port' in filter || 'device' in filter);
          if (first && page.next && !split) expect(JSON.parse(Buffer.from(page.next, 'base64url').subarray(16).toString()).p[2], JSON.stringify(filter)).toBe(strategy);
          first = false;
          got.push(...page.items.map((r) => r.id));
          cursor = page.next ?? undefined;
        } while (cursor);
        expect(got, `${JSON.stringify(filter)} ${sort}`).toEqual(want);
        expect(want.length).toBeGreaterThan(0);
      }
    }
    store.close();
  });

  it('offset pages agree with keyset pages on a static set, with the total', () => {
    const store = syntheticStore(5000);
    const keyset: number[] = [];
    let cursor: string | undefined;
    do {
      const p = store.flows.page({ filter: { port: 502 }, sort: 'bytes', order: 'desc', limit: 70, cursor });
      keyset.push(...p.items.map((r) => r.id));
      cursor = p.next ?? undefined;
    } while (cursor);
    const offset: number[] = [];
    let total = 0;
    for (let page = 1; ; page++) {
      const p = store.flows.offsetPage({ filter: { port: 502 }, sort: 'bytes', order: 'desc', page, pageSize: 70, total: true });
      total = p.total!;
      if (!p.items.length) break;
      offset.push(...p.items.map((r) => r.id));
    }
    expect(offset).toEqual(keyset);
    expect(total).toBe(keyset.length);
    store.close();
  });

  it('tampered, foreign and mismatched cursors are ERR_BAD_CURSOR', () => {
    const a = syntheticStore(500);
    const b = syntheticStore(500);
    const first = a.flows.page({ filter: { protocol: 6 }, limit: 10 });
    const cursor = first.next!;
    const raw = Buffer.from(cursor, 'base64url');
    raw[20] ^= 1;
    const flipped = raw.toString('base64url');
    const bad = { code: 'ERR_BAD_CURSOR' };
    expect(() => a.flows.page({ filter: { protocol: 6 }, limit: 10, cursor: flipped })).toThrowError(expect.objectContaining(bad));
    expect(() => a.flows.page({ filter: { protocol: 17 }, limit: 10, cursor })).toThrowError(expect.objectContaining(bad));
    expect(() => a.flows.page({ filter: { protocol: 6 }, sort: 'bytes', limit: 10, cursor })).toThrowError(expect.objectContaining(bad));
    expect(() => b.flows.page({ filter: { protocol: 6 }, limit: 10, cursor })).toThrowError(expect.objectContaining(bad));
    expect(() => a.flows.page({ cursor: 'not a cursor!' })).toThrowError(expect.objectContaining(bad));
    expect(a.flows.page({ filter: { protocol: 6 }, limit: 10, cursor }).items[0].id).toBeGreaterThan(first.items[9].id - 1);
    a.close();
    b.close();
  });

  it('injection attempts in filter fields are rejected or treated as values', () => {
    const store = syntheticStore(200);
    const evil = "'; DROP TABLE flows; --";
    expect(store.flows.page({ filter: { service: evil } }).items).toEqual([]);
    for (const filter of [{ host: evil }, { port: evil }, { protocol: '6 OR 1=1' }, { vlan: -1 }, { from: 'yesterday' }, { evil: 1 }] as never[])
      expect(() => store.flows.page({ filter })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => store.flows.page({ sort: 'id; DROP TABLE flows' as never })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => store.flows.page({ limit: 10_001 })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect((store.db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n).toBe(200);
    store.close();
  });

  it('host filters take addresses and CIDRs', () => {
    expect(addressRange('10.1.2.0/24').map((b) => b.toString('hex'))).toEqual(['0a010200', '0a0102ff']);
    expect(addressRange('2001:db8::/32').map((b) => b.toString('hex'))).toEqual(['20010db8000000000000000000000000', '20010db8ffffffffffffffffffffffff']);
    const store = syntheticStore(1000);
    const rows = store.flows.page({ filter: { host: '10.0.0.0/30' }, limit: 10_000 }).items;
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect([r.src, r.dst].some((a) => ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3'].includes(a))).toBe(true);
    store.close();
  });

  it('every page shape is served by an index in every sealed partition (EXPLAIN QUERY PLAN); only the hot one is scanned', () => {
    const store = syntheticStore(2100, ':memory:', { sealRows: 500 }, 500);
    const hot = store.partitions.hot()!.name;
    expect(store.partitions.list().filter((p) => p.state === 'sealed').length).toBe(4);
    store.db.exec('ANALYZE');
    const shapes = [
      { sort: 'first' }, { sort: 'last', order: 'desc' }, { sort: 'bytes', order: 'desc' }, { sort: 'packets' },
      { filter: { device: 3 } }, { filter: { port: 502 }, sort: 'first' }, { filter: { service: 'modbus' } }, { filter: { host: '10.0.0.0/30' } },
      { filter: { from: 1_767_225_600_000, to: 1_767_229_200_000 } }, { filter: { source: 1 } },
    ] as const;
    for (const shape of shapes) {
      for (const after of [undefined, 'tie', 'past', 'row'] as const) {
        for (const strategy of ['f', 's'] as const) {
          const { sql, params } = store.flows.pageSql(shape, after, strategy);
          const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join(' | ');
          // in every sealed partition an index serves the filter or the order; a full scan only of the hot one (at most sealRows)
          const what = `${JSON.stringify(shape)} ${strategy}`;
          expect(plan, what).toMatch(/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/);
          const scanned = [...plan.matchAll(/(?:^|\| )SCAN (\w+)(?= \||$)/g)].map((m) => m[1]);
          expect(scanned.filter((t) => t !== hot), `${what}: ${plan}`).toEqual([]);
        }
      }
    }
    store.close();
  });
});

describe('option validation classes', () => {
  const invalid = expect.objectContaining({ code: 'ERR_INVALID_OPTION' });
  const flowsFailing = (store: Store): [string, (v: never) => unknown][] => [
    ['flows.page sort', (v) => store.flows.page({ sort: v })],
    ['flows.page order', (v) => store.flows.page({ order: v })],
    ['flows.offsetPage sort', (v) => store.flows.offsetPage({ sort: v })],
    ['flows.offsetPage order', (v) => store.flows.offsetPage({ order: v })],
    ['devices.page sort', (v) => store.devices.page({ sort: v })],
    ['devices.page order', (v) => store.devices.page({ order: v })],
    ['topTalkers by', (v) => store.analytics.topTalkers({ by: v })],
    ['topConversations by', (v) => store.analytics.topConversations({ by: v })],
    ['topServices by', (v) => store.analytics.topServices({ by: v })],
  ];

  it('every Object.prototype key as a sort, order, measure or filter key is ERR_INVALID_OPTION, never a raw SQLite error', () => {
    const store = syntheticStore(50);
    const keys = Object.getOwnPropertyNames(Object.prototype); // constructor, toString, __proto__, hasOwnProperty, valueOf, ...
    expect(keys).toEqual(expect.arrayContaining(['constructor', 'toString', '__proto__', 'hasOwnProperty']));
    const wrong: string[] = [];
    const check = (what: string, fn: () => unknown) => {
      try {
        fn();
        wrong.push(`${what}: accepted`);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_INVALID_OPTION') wrong.push(`${what}: ${(e as Error).message}`);
      }
    };
    for (const k of keys) {
      for (const [what, fn] of flowsFailing(store)) check(`${what} ${k}`, () => fn(k as never));
      const filter = JSON.parse(`{${JSON.stringify(k)}: 1}`); // an own property, also for __proto__
      check(`flows filter ${k}`, () => store.flows.page({ filter }));
      check(`flows offset filter ${k}`, () => store.flows.offsetPage({ filter }));
      check(`devices filter ${k}`, () => store.devices.page({ filter }));
    }
    expect(wrong).toEqual([]);
    store.close();
  });

  it('times past what int64 ns hold (after 2262) are ERR_INVALID_OPTION; the last ms that fits is accepted', () => {
    const store = syntheticStore(50);
    for (const t of [MAX_TIME_MS + 1, 9_300_000_000_000, 2 ** 53, -1, 1.5]) {
      expect(() => store.flows.page({ filter: { from: t } }), `from ${t}`).toThrowError(invalid);
      expect(() => store.flows.page({ filter: { to: t } }), `to ${t}`).toThrowError(invalid);
      expect(() => store.flows.offsetPage({ filter: { from: t }, total: true }), `offset from ${t}`).toThrowError(invalid);
      expect(() => store.devices.page({ filter: { seenSince: t } }), `seenSince ${t}`).toThrowError(invalid);
      for (const range of [{ from: t }, { to: t }]) {
        expect(() => store.analytics.topTalkers(range), `talkers ${t}`).toThrowError(invalid);
        expect(() => store.analytics.topConversations(range), `conversations ${t}`).toThrowError(invalid);
        expect(() => store.analytics.topServices(range), `services ${t}`).toThrowError(invalid);
        expect(() => store.analytics.timeline({ ...range, bucketMs: 60_000 }), `timeline ${t}`).toThrowError(invalid);
      }
    }
    expect(MAX_TIME_MS).toBe(Number(((1n << 63n) - 1n) / 1_000_000n));
    expect(store.flows.page({ filter: { from: MAX_TIME_MS } }).items).toEqual([]);
    expect(store.flows.page({ filter: { to: MAX_TIME_MS }, limit: 100 }).items.length).toBe(50);
    expect(store.flows.offsetPage({ filter: { from: 0, to: MAX_TIME_MS }, total: true }).total).toBe(50);
    expect(store.devices.page({ filter: { seenSince: MAX_TIME_MS } }).items).toEqual([]);
    expect(store.analytics.topServices({ from: 0, to: MAX_TIME_MS, by: 'flows' }).reduce((n, s) => n + s.flows, 0)).toBe(50);
    expect(store.analytics.timeline({ to: MAX_TIME_MS, bucketMs: 60_000 }).reduce((n, s) => n + s.flows, 0)).toBe(50);
    store.close();
  });
});

describe('devices pages, analytics, slow queries', () => {
  it('device pages walk every device once, by last seen or bytes, with cursors bound to the filter', () => {
    const store = syntheticStore(3000);
    store.db.prepare('UPDATE devices SET last_seen_ms = id % 17, bytes = id * 3').run();
    for (const sort of ['last', 'bytes'] as const) {
      const seen: number[] = [];
      let cursor: string | undefined;
      do {
        const p = store.devices.page({ sort, limit: 25, cursor, filter: { host: '10.0.0.0/24' } });
        seen.push(...p.items.map((d) => d.id));
        cursor = p.next ?? undefined;
      } while (cursor);
      expect(new Set(seen).size).toBe(256);
      expect(seen.length).toBe(256);
    }
    const c = store.devices.page({ limit: 5 }).next!;
    expect(() => store.devices.page({ limit: 5, cursor: c, filter: { vlan: 1 } })).toThrowError(expect.objectContaining({ code: 'ERR_BAD_CURSOR' }));
    expect(store.devices.page({ filter: { host: '10.0.0.7' } }).items.map((d) => d.addr)).toEqual(['10.0.0.7']);
    store.close();
  });

  it('top talkers, conversations, services and a timeline agree with plain sums', () => {
    const store = syntheticStore(5000);
    const db = store.db;
    const talkers = store.analytics.topTalkers({ limit: 5 });
    const want = db
      .prepare(`SELECT d, sum(b) bytes FROM (SELECT src_device d, fwd_bytes + rev_bytes b FROM flows UNION ALL SELECT dst_device, fwd_bytes + rev_bytes FROM flows)
        GROUP BY d ORDER BY bytes DESC, d LIMIT 5`)
      .all() as { d: number; bytes: number }[];
    expect(talkers.map((t) => [t.device, t.bytes])).toEqual(want.map((w) => [w.d, w.bytes]));
    expect(talkers[0].addr).toMatch(/^10\.0\.0\.\d+$/);
    const conv = store.analytics.topConversations({ by: 'flows', limit: 3 });
    expect(conv[0].flows).toBeGreaterThanOrEqual(conv[1].flows);
    const services = store.analytics.topServices({ by: 'flows' });
    expect(services.find((s) => s.service === 'modbus')?.flows).toBe(1250);
    const from = 1_767_225_600_000;
    const line = store.analytics.timeline({ from, to: from + 86_400_000, bucketMs: 3_600_000 });
    expect(line.reduce((n, b) => n + b.flows, 0)).toBe(5000);
    expect(line[0].t).toBe(from);
    expect(() => store.analytics.topTalkers({ by: 'time' as never })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    store.close();
  });

  it('queries are timed by shape; slow ones are counted', async () => {
    const store = openStore(':memory:', { slowQueryMs: 0 }); // every query counts as slow
    store.flows.page({ filter: { port: 80 } });
    store.analytics.topServices();
    const m = (await store.metrics.metrics()) as Record<string, Record<string, number>>;
    expect(m.flowmaster_slow_queries_total['flows.page first port']).toBe(1);
    expect(m.flowmaster_slow_queries_total['analytics.topServices']).toBe(1);
    store.close();
  });
});

describe('retention', () => {
  it('drops the partitions whose flows all aged out, and devices no kept flow references; vacuum frees pages', async () => {
    // 30k flows over 8.3 hours, sealed every 3334 rows: 9 partitions of about 56 minutes each
    const store = syntheticStore(30_000, tmpFile('ret.db'), { sealRows: 3334 }, 3334);
    const db = store.db;
    const parts = store.partitions.list();
    expect(parts.map((p) => p.state)).toEqual([...new Array(8).fill('sealed'), 'hot']);
    db.prepare('UPDATE devices SET last_seen_ms = 0').run();
    const count = (sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { n: number }).n;
    const now = Number((T0 + 86_400n * 1_000_000_000n) / 1_000_000n);
    const hourNs = 3_600_000_000_000n;
    // cutoff 4.5 h into the day (age 19.5 h): the partitions that ended before go whole; the one it falls in stays
    const cutoffNs = T0 + 9n * (hourNs / 2n);
    const gone = parts.filter((p) => p.hiNs < cutoffNs);
    expect(gone.length).toBe(4);
    const older = count('SELECT count(*) n FROM flows WHERE last_ns < ?', cutoffNs);
    const inGone = gone.reduce((n, p) => n + count(`SELECT count(*) n FROM ${p.name}`), 0);
    const pastAge = older - inGone;
    const report = await store.retain({ flows: '1170m', devices: '1h', now });
    expect(report.partitionsDropped).toBe(4);
    expect(report.flowsDeleted).toBe(inGone);
    expect(report.flowsPastAge).toBe(pastAge);
    expect(pastAge).toBeGreaterThan(0);
    expect(store.partitions.list().map((p) => p.name)).toEqual(parts.slice(4).map((p) => p.name));
    expect(count('SELECT count(*) n FROM flows')).toBe(30_000 - report.flowsDeleted);
    // exact: the rest, row by row in chunks; nothing younger than the age goes
    const exact = await store.retain({ flows: '1170m', devices: '1h', now, exact: true, chunk: 1000 });
    expect(exact).toMatchObject({ flowsDeleted: pastAge, partitionsDropped: 0, flowsPastAge: 0 });
    expect(count('SELECT count(*) n FROM flows')).toBe(30_000 - older);
    expect(count('SELECT count(*) n FROM flows WHERE last_ns < ?', cutoffNs)).toBe(0);
    expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]); // referenced devices survived
    const orphans = count('SELECT count(*) n FROM devices d WHERE NOT EXISTS (SELECT 1 FROM flows WHERE src_device = d.id OR dst_device = d.id)');
    expect(orphans).toBe(0);
    expect(report.pagesFreed).toBeGreaterThan(0);
    await expect(store.retain({ flows: 'a month' })).rejects.toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    const m = (await store.metrics.metrics()) as Record<string, Record<string, number> | number>;
    expect((m.flowmaster_retention_rows_deleted_total as Record<string, number>).flows).toBe(older);
    expect(m.flowmaster_retention_pages_freed_total).toBe(report.pagesFreed + exact.pagesFreed);
    store.close();
  });

  it('maxRows and maxBytes drop the oldest partitions, never the newest', async () => {
    const store = syntheticStore(30_000, tmpFile('max.db'), { sealRows: 3334 }, 3334);
    const db = store.db;
    const count = () => (db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n;
    const oldest = () => db.prepare('SELECT min(last_ns) FROM flows').pluck().safeIntegers(true).get() as bigint;
    const names = store.partitions.list().map((p) => p.name);
    const sizes = names.map((n) => (db.prepare(`SELECT count(*) n FROM ${n}`).get() as { n: number }).n);
    const r = await store.retain({ maxRows: 20_000 });
    expect(count()).toBeLessThanOrEqual(20_000);
    expect(count() + sizes[r.partitionsDropped - 1]).toBeGreaterThan(20_000); // no more than needed
    expect(r.flowsDeleted).toBe(30_000 - count());
    expect(store.partitions.list().map((p) => p.name)).toEqual(names.slice(r.partitionsDropped)); // the oldest went
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const used = () => ((db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number)) * pageSize;
    const before = oldest();
    const target = Math.floor(used() * 0.6);
    const r2 = await store.retain({ maxBytes: target, vacuum: false });
    expect(used()).toBeLessThanOrEqual(target);
    expect(r2.partitionsDropped).toBeGreaterThan(0);
    expect(oldest()).toBeGreaterThan(before);
    const r3 = await store.retain({ maxRows: 0 }); // everything but the newest partition
    expect(store.partitions.list().length).toBe(1);
    expect(r3.flowsDeleted).toBeGreaterThan(0);
    await expect(store.retain({ maxRows: -1 })).rejects.toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    store.close();
  });

  it('partitions: ids unique and never reused after a drop; another connection sees new partitions', () => {
    const file = tmpFile('parts.db');
    const store = syntheticStore(5000, file, { sealRows: 1000 }, 1000);
    const other = openStore(file);
    const ids = (db: typeof store.db) => (db.prepare('SELECT id FROM flows ORDER BY id').pluck().all() as number[]);
    expect(new Set(ids(store.db)).size).toBe(5000);
    const maxBefore = Math.max(...ids(store.db));
    insertFlows(other, 5000, 100); // through the other connection: its ids follow
    expect(ids(store.db).length).toBe(5100);
    expect(Math.min(...ids(store.db).slice(5000))).toBe(maxBefore + 1);
    for (const p of store.partitions.list()) store.db.transaction(() => store.partitions.drop(p))();
    expect(ids(other.db)).toEqual([]);
    insertFlows(other, 0, 10);
    expect(Math.min(...ids(store.db))).toBe(maxBefore + 101); // not reused
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    other.close();
    store.close();
  });

  it('runs on a schedule until stopped', async () => {
    const store = syntheticStore(2000);
    const stop = store.retainEvery({ flows: 0, now: Date.now() + 1e12 }, 20);
    await new Promise((r) => setTimeout(r, 120));
    stop();
    expect((store.db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n).toBe(0);
    expect(((await store.metrics.metrics()) as Record<string, number>).flowmaster_retention_runs_total).toBeGreaterThan(0);
    store.close();
  });

  it('runs beside an ingest without losing newly ingested flows; the file stops growing under ingest + retention', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('ret.pcap');
    await generate({ out: cap, packets: 40_000, flows: 4000, hosts: 200, mix: 'simple', seed: 3, quiet: true });
    const captureDay = 1_767_225_600_000; // gen-pcap's traffic starts 2026-01-01
    const dbFile = tmpFile('loop.db');
    const store = openStore(dbFile, { batch: { initial: 1024, min: 1024, max: 1024 } });
    const db = store.db;
    const sizes: number[] = [];
    for (let round = 0; round < 6; round++) {
      // 20k flows that ended in 2020, then an ingest of 2026 traffic while retention removes what is older than 100 days
      const src = Number(db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('old', 'file', 't', 'native', 0)").run().lastInsertRowid);
      const dev = Number(db.prepare('INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, 0, 0, 0)').run(Buffer.from([192, 0, 2, round])).lastInsertRowid);
      const old = [];
      for (let i = 0; i < 20_000; i++) {
        const t = 1_577_836_800_000_000_000n + BigInt(i);
        old.push({
          source_id: src, flow_id: i, segment: 0, first_ns: t, last_ns: t, end_reason: 1, ip_version: 4, protocol: 6, ether_type: 2048, vlan: 0,
          src_addr: Buffer.from([10, 0, 0, 1]), dst_addr: Buffer.from([10, 0, 0, 2]), src_port: 1, dst_port: 2, src_device: dev, dst_device: dev,
          fwd_packets: 1, fwd_bytes: 60, rev_packets: 0, rev_bytes: 0, fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0, server_is_dst: 1,
        });
      }
      store.appendFlows(old);
      const ingest = store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
      const retention = store.retain({ flows: '100d', devices: '100d', chunk: 500, now: captureDay + 30 * 86_400_000 });
      const [r, report] = await Promise.all([ingest, retention]);
      expect(report.flowsDeleted).toBe(20_000);
      expect((db.prepare('SELECT count(*) n FROM flows WHERE source_id = ?').get(r.sourceId) as { n: number }).n).toBe(r.flows); // nothing new lost
      expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
      // then this round's flows go too (steady state: as much deleted as ingested), and the file is measured
      await store.retain({ flows: 0, now: captureDay + 3650 * 86_400_000 });
      db.pragma('wal_checkpoint(TRUNCATE)');
      sizes.push(db.pragma('page_count', { simple: true }) as number);
    }
    expect(Math.max(...sizes.slice(2))).toBeLessThanOrEqual(Math.ceil(sizes[1] * 1.1)); // stops growing
    store.close();
    const check = new Database(dbFile);
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  }, 120_000);
});

/**
 * The ClickHouse SQL against a current ClickHouse: chdb (ClickHouse in
 * process, npm `chdb`) runs the schema, the sink's delivery check and insert
 * (RowBinary rows the sink made), and every query of the central store. The
 * same SQL runs against Debian's 18.16 server in test/clickhouse.test.ts, so
 * both ends of the supported range are checked.
 */
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseQueries, type Execute } from '../src/clickhouse/query';
import { BlockWriter, type Block } from '../src/clickhouse/rows';
import { columnsByTable, FLOW_COLUMNS, FLOW_COLUMNS_V1, flowsColumnsSql, ROW_FORMAT, schemaStatements, tables } from '../src/clickhouse/schema';
import { insertSql } from '../src/clickhouse/sink';
import { dissected, mixedArea, withApps } from './helpers/app-area';
import { runningSql, storedSql } from '../src/clickhouse/sink';
import { FlowMeter, openStore } from '../src/index';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';
import { skipping } from './helpers/skip';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

interface ChdbSession {
  query(sql: string, format?: string): string;
  cleanup(): void;
}

const chdb = (() => {
  try {
    return require('chdb') as { Session: new (path?: string) => ChdbSession };
  } catch (e) {
    return (e as Error).message;
  }
})();
const skip = skipping(
  typeof chdb === 'string' && `npm package chdb is not installed (npm install --no-save chdb@3.4.0; .ci/run does): ${chdb.split('\n')[0]}`,
  'ClickHouse SQL on a current ClickHouse (chdb)',
);

describe.skipIf(skip)('ClickHouse SQL on a current ClickHouse (chdb)', () => {
  let session: ChdbSession;
  let execute: Execute;
  let file: string;
  let blocks: Block[];
  const dir = tmpFile('chdb');

  beforeAll(async () => {
    session = new (chdb as { Session: new (path?: string) => ChdbSession }).Session(dir);
    execute = async (sql, rows) => {
      const out = session.query(sql, rows ? 'JSONEachRow' : 'CSV');
      return rows ? out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
    };
    const { generate } = await genPcap();
    file = tmpFile('chdb.pcap');
    await generate({ out: file, packets: 20_000, flows: 2000, hosts: 80, mix: 'full,l2=5', seed: 9, quiet: true });
    blocks = [];
    const w = new BlockWriter({ sensor: 'chdb', run: 'r1', blockRows: 700, push: (b) => blocks.push(b) });
    // with the application areas an engine that dissects gives (helpers/app-area.ts)
    let n = 0;
    for await (const b of new FlowMeter({ engine: TEST_ENGINE }).readFile(file)) {
      w.write(withApps(b, (f, i) => mixedArea(f, n + i)));
      n += b.length;
    }
    w.end();
  }, 120_000);

  afterAll(() => {
    session?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the schema, the delivery check and a RowBinary insert of the sink\'s blocks', async () => {
    for (const sql of schemaStatements({ database: 'fm' })) await execute(sql, false);
    for (const sql of schemaStatements({ database: 'fm' })) await execute(sql, false); // idempotent
    const t = tables({ database: 'fm' });
    const structure = FLOW_COLUMNS.map(([n, type]) => `${n} ${type}`).join(', ');
    for (const b of blocks) {
      expect(Number(Object.values((await execute(storedSql(t, 'chdb', b), true))[0])[0])).toBe(0);
      const path = tmpFile('block.rb');
      fs.writeFileSync(path, b.body);
      await execute(`INSERT INTO fm.flows (${FLOW_COLUMNS.map(([n]) => n).join(', ')}) SELECT * FROM file('${path}', RowBinary, '${structure}')`, false);
      expect(Number(Object.values((await execute(storedSql(t, 'chdb', b), true))[0])[0])).toBe(b.rows);
    }
    expect(Number(Object.values((await execute(runningSql('fm_none'), true))[0])[0])).toBe(0);
    const [row] = await execute('SELECT count() AS n, sum(bytes) AS b FROM fm.flows', true);
    expect([Number(row.n), Number(row.b)]).toEqual([blocks.reduce((n, b) => n + b.rows, 0), blocks.reduce((n, b) => n + b.bytes, 0)]);
  });

  it('a flows table of before the application columns gets them (ADD COLUMN for the ones system.columns lacks), and takes blocks of both formats', async () => {
    const t = tables({ database: 'old' });
    // the schema of before: flows with the first columns, no application views
    const v1 = schemaStatements({ database: 'old' }, new Map()).filter((sql) => !/^CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS old\.(applications|sni|host_names)/.test(sql))
      .map((sql) => sql.replace(FLOW_COLUMNS.map(([n, type]) => `${n} ${type}`).join(', '), FLOW_COLUMNS_V1.map(([n, type]) => `${n} ${type}`).join(', ')));
    for (const sql of v1) await execute(sql, false);
    const have = columnsByTable((await execute(flowsColumnsSql({ database: 'old' }), true)) as { table: string; name: string }[]);
    expect(have.get('flows')?.size).toBe(FLOW_COLUMNS_V1.length);
    const upgrade = schemaStatements({ database: 'old' }, have);
    expect(upgrade.filter((sql) => sql.startsWith('ALTER'))).toHaveLength(FLOW_COLUMNS.length - FLOW_COLUMNS_V1.length);
    for (const sql of upgrade) await execute(sql, false);
    expect(schemaStatements({ database: 'old' }, columnsByTable((await execute(flowsColumnsSql({ database: 'old' }), true)) as { table: string; name: string }[])).filter((sql) => sql.startsWith('ALTER'))).toEqual([]);
    expect(schemaStatements({ database: 'old' }).filter((sql) => sql.startsWith('ALTER'))[0]).toMatch(/^ALTER TABLE old\.flows ADD COLUMN IF NOT EXISTS application String$/);
    // a block of now into the upgraded table; a block spooled before the upgrade names the columns of then
    const [b] = blocks;
    expect(b.format).toBe(ROW_FORMAT);
    const path = tmpFile('block.rb');
    fs.writeFileSync(path, b.body);
    await execute(`${insertSql(t, b.format).replace(' FORMAT RowBinary', '')} SELECT * FROM file('${path}', RowBinary, '${FLOW_COLUMNS.map(([n, type]) => `${n} ${type}`).join(', ')}')`, false);
    expect(insertSql(t, 1)).toBe(`INSERT INTO old.flows (${FLOW_COLUMNS_V1.map(([n]) => n).join(', ')}) FORMAT RowBinary`);
    const rows = await execute(`SELECT count() AS n, countIf(application != '') AS apps FROM old.flows`, true);
    expect(Number(rows[0].n)).toBe(b.rows);
    expect(Number(rows[0].apps)).toBeGreaterThan(0);
    const apps = await execute(`SELECT sum(flows) AS n FROM old.applications`, true);
    expect(Number(apps[0].n)).toBe(Number(rows[0].apps));
  });

  it('every query of the central store, against the SQLite store\'s answers for the same file', async () => {
    const q = new ClickHouseQueries({ database: 'fm', execute });
    const db = tmpFile('chdb.db');
    const store = openStore(db);
    await store.ingest(dissected(new FlowMeter({ engine: TEST_ENGINE }).readFile(file), mixedArea));
    try {
      for (const sort of ['first', 'last', 'bytes', 'packets'] as const)
        for (const filter of [{}, { protocol: 6 }, { host: '10.0.0.0/8' }, { port: 443 }, { service: 'https', minBytes: 100 }, { vlan: 0, sensor: 'chdb' }, { from: 0, to: 9_000_000_000_000 },
          { application: 'tls' }, { sni: '*.EXAMPLE.com' }, { sni: 'svc?.example.*', application: 'tls' }, { httpHost: 'www1*' }, { dnsQuery: 'host-*' }, { sni: 'svc_.example.com' }]) {
          let n = 0;
          let cursor: string | undefined;
          do {
            const p = await q.flowsPage({ filter, sort, order: 'desc', limit: 400, cursor });
            n += p.items.length;
            cursor = p.next ?? undefined;
          } while (cursor);
          const { sensor: _, ...local } = filter as Record<string, unknown>;
          expect([sort, filter, n]).toEqual([sort, filter, store.flows.offsetPage({ filter: local, pageSize: 1, total: true }).total]);
        }
      for (const host of ['2001:db8::/32', 'fe80::1']) await q.flowsPage({ filter: { host } });
      const devices = await q.devicesPage({ sort: 'flows', limit: 10_000 });
      expect(devices.items.length).toBe(store.devices.count());
      const pageOne = await q.devicesPage({ sort: 'bytes', limit: 5, filter: { seenSince: 0, vlan: 0, host: '10.0.0.0/8', sensor: 'chdb' } });
      await q.devicesPage({ sort: 'bytes', limit: 5, filter: { seenSince: 0, vlan: 0, host: '10.0.0.0/8', sensor: 'chdb' }, cursor: pageOne.next! });
      await q.devicesPage({ filter: { vendor: 'ICANN, IANA Department' } });
      expect((await q.topTalkers({ limit: 5 })).map((t) => t.bytes)).toEqual(store.analytics.topTalkers({ limit: 5 }).map((t) => t.bytes));
      expect((await q.topConversations({ limit: 5, by: 'packets' })).map((t) => t.packets)).toEqual(store.analytics.topConversations({ limit: 5, by: 'packets' }).map((t) => t.packets));
      expect((await q.topServices({ limit: 5, by: 'flows', from: 0, to: 9_000_000_000_000 })).map((t) => [t.service, t.flows])).toEqual(
        store.analytics.topServices({ limit: 5, by: 'flows' }).map((t) => [t.service, t.flows]),
      );
      // what the payload said: the same flows, the same totals, the same names
      const tls = await q.flowsPage({ filter: { application: 'tls', sni: '*.example.com' }, sort: 'bytes', limit: 10_000 });
      const local = store.flows.page({ filter: { application: 'tls', sni: '*.example.com' }, sort: 'bytes', limit: 10_000 });
      expect(tls.items.map((f) => [f.flowId, f.app])).toEqual(local.items.map((f) => [f.flowId, f.app]));
      expect(tls.items.length).toBeGreaterThan(50);
      const dns = await q.flowsPage({ filter: { application: 'dns' }, limit: 10_000 });
      expect(dns.items.map((f) => f.app).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
        store.flows.page({ filter: { application: 'dns' }, limit: 10_000 }).items.map((f) => f.app).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      );
      expect(await q.topApplications({ limit: 20 })).toEqual(store.analytics.topApplications({ limit: 20 }));
      expect((await q.topSni({ limit: 500, by: 'flows' })).map((t) => [t.sni, t.flows, t.bytes]).sort()).toEqual(
        store.analytics.topSni({ limit: 500, by: 'flows' }).map((t) => [t.sni, t.flows, t.bytes]).sort(),
      );
      const named = (await q.devicesPage({ limit: 10_000 })).items.filter((d) => d.name).map((d) => [d.addr, d.name]).sort();
      expect(named).toEqual(store.devices.page({ limit: 10_000 }).items.filter((d) => d.name).map((d) => [d.addr, d.name]).sort());
      expect(named.length).toBeGreaterThan(10);
      expect((await q.devicesPage({ filter: { name: 'host-*.LAN' }, limit: 10_000 })).items.length).toBe(named.length);
      const tl = await q.timeline({ bucketMs: 86_400_000 });
      expect(tl.reduce((n, b) => n + b.flows, 0)).toBe(store.analytics.timeline({ bucketMs: 86_400_000 }).reduce((n, b) => n + b.flows, 0));
    } finally {
      store.close();
      await q.close();
    }
  });
});

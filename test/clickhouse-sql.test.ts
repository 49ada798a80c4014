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
import { FLOW_COLUMNS, schemaStatements, tables } from '../src/clickhouse/schema';
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
    for await (const b of new FlowMeter({ engine: TEST_ENGINE }).readFile(file)) w.write(b);
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

  it('every query of the central store, against the SQLite store\'s answers for the same file', async () => {
    const q = new ClickHouseQueries({ database: 'fm', execute });
    const db = tmpFile('chdb.db');
    const store = openStore(db);
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(file));
    try {
      for (const sort of ['first', 'last', 'bytes', 'packets'] as const)
        for (const filter of [{}, { protocol: 6 }, { host: '10.0.0.0/8' }, { port: 443 }, { service: 'https', minBytes: 100 }, { vlan: 0, sensor: 'chdb' }, { from: 0, to: 9_000_000_000_000 }]) {
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
      const tl = await q.timeline({ bucketMs: 86_400_000 });
      expect(tl.reduce((n, b) => n + b.flows, 0)).toBe(store.analytics.timeline({ bucketMs: 86_400_000 }).reduce((n, b) => n + b.flows, 0));
    } finally {
      store.close();
      await q.close();
    }
  });
});

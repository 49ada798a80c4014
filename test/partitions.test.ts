// The write path's partitions: rows land in a hot partition without
// secondary indexes, which is sealed and then indexed in bulk. Queries must
// return the same rows before, while and after a partition is indexed, and a
// writer killed mid-seal must leave a database the next writer finishes.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type Store } from '../src/index';
import { PARTITION_INDEXES } from '../src/store/schema';
import { tmpFile } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';

const genPcap = () => import('../scripts/gen-pcap.mjs');

const T0 = 1_767_225_600_000n * 1_000_000n;

function rows(from: number, n: number): Record<string, unknown>[] {
  const out = [];
  for (let i = from; i < from + n; i++) {
    const first = T0 + BigInt(i) * 1_000_000_000n;
    out.push({
      source_id: 1, flow_id: i + 1, segment: 0, first_ns: first, last_ns: first + BigInt(i % 7919) * 1_000_000n, end_reason: 1, ip_version: 4,
      protocol: i % 5 ? 6 : 17, ether_type: 2048, vlan: 0, src_addr: Buffer.from([10, 0, 0, i % 200]), dst_addr: Buffer.from([10, 0, 1, (i * 7) % 200]),
      src_port: 1024 + (i % 3000), dst_port: [80, 443, 502, 53][i % 4], src_device: (i % 200) + 1, dst_device: ((i * 7) % 200) + 201,
      fwd_packets: 1 + (i % 13), fwd_bytes: 60 * (1 + (i % 101)), rev_packets: i % 3, rev_bytes: 50 * (i % 89), fwd_tcp_flags: 0x12, rev_tcp_flags: 0,
      flags: 0, service: i % 4 === 2 ? 'modbus' : null, server_is_dst: 1,
    });
  }
  return out;
}

function seeded(file: string, options: Parameters<typeof openStore>[1] = {}): Store {
  const store = openStore(file, options);
  store.db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('synthetic', 'file', 'test', 'native', 0)").run();
  const dev = store.db.prepare('INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, 0, 0, 0)');
  for (let i = 0; i < 200; i++) dev.run(Buffer.from([10, 0, 0, i]));
  for (let i = 0; i < 200; i++) dev.run(Buffer.from([10, 0, 1, i]));
  return store;
}

const SHAPES = [
  { sort: 'first' }, { sort: 'bytes', order: 'desc' }, { sort: 'last', order: 'desc' }, { sort: 'packets' },
  { sort: 'first', filter: { port: 502 } }, { sort: 'bytes', order: 'desc', filter: { device: 7 } }, { filter: { host: '10.0.1.0/28' } },
  { filter: { service: 'modbus' }, sort: 'last' }, { filter: { from: 1_767_226_000_000, to: 1_767_227_000_000 } }, { filter: { source: 1 } },
] as const;

/** Every shape walked to its end in pages of 149: the ids in page order. */
function walk(store: Store): number[][] {
  return SHAPES.map((shape) => {
    const ids: number[] = [];
    let cursor: string | undefined;
    do {
      const page = store.flows.page({ ...shape, limit: 149, cursor });
      ids.push(...page.items.map((f) => f.id));
      cursor = page.next;
    } while (cursor);
    return ids;
  });
}

const indexesOf = (store: Store, table: string) =>
  (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name").pluck().all(table) as string[]).map((n) =>
    n.slice(table.length + 1),
  );

describe('hot and sealed partitions', () => {
  it('rows land in a hot partition with no secondary index; sealing builds every index, one step at a time', () => {
    const store = seeded(tmpFile('hot.db'), { sealRows: 1000 });
    store.appendFlows(rows(0, 999));
    const hot = store.partitions.hot()!;
    expect(hot.rows).toBe(999);
    expect(indexesOf(store, hot.name)).toEqual([]);
    store.appendFlows(rows(999, 1)); // now due: sealed and indexed before appendFlows returns
    expect(store.partitions.list().map((p) => [p.name, p.state, p.rows])).toEqual([[hot.name, 'sealed', 1000]]);
    expect(indexesOf(store, hot.name)).toEqual(PARTITION_INDEXES.map(([suffix]) => suffix).sort());
    store.appendFlows(rows(1000, 10));
    expect(store.partitions.list().map((p) => p.state)).toEqual(['sealed', 'hot']);
    expect(store.db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(1010);
    store.close();
  });

  it('queries give the same rows before a partition is sealed, after each index is built, and after; to another connection too', () => {
    const file = tmpFile('same.db');
    const store = seeded(file, { sealRows: 1_000_000 });
    store.appendFlows(rows(0, 1200));
    store.appendFlows(rows(1200, 800));
    const reader = openStore(file, { readonly: true });
    const before = walk(store);
    expect(before[0].length).toBe(2000);
    expect(before.every((ids) => ids.length > 0)).toBe(true);
    store.db.transaction(() => store.partitions.seal()).immediate();
    let steps = 0;
    while (store.db.transaction(() => store.partitions.sealStep()).immediate()) {
      steps++;
      expect(walk(store), `after step ${steps}`).toEqual(before);
      expect(walk(reader), `reader, after step ${steps}`).toEqual(before);
    }
    expect(steps).toBe(PARTITION_INDEXES.length + 1);
    expect(store.partitions.list().map((p) => p.state)).toEqual(['sealed']);
    // and with a new hot partition beside the sealed one
    store.appendFlows(rows(2000, 300));
    const after = walk(store);
    expect(after[0].length).toBe(2300);
    expect(walk(reader)).toEqual(after);
    expect(after[0].filter((id) => before[0].includes(id))).toEqual(before[0].filter((id) => after[0].includes(id)));
    reader.close();
    store.close();
  });

  it('a partition is sealed after a span of wall time, whatever its size', () => {
    const store = seeded(tmpFile('span.db'), { sealRows: 1_000_000, partitionSpan: '1m' });
    store.appendFlows(rows(0, 10));
    const hot = store.partitions.hot()!;
    expect(store.partitions.sealDue()).toBe(false);
    store.db.prepare('UPDATE partitions SET created_ms = created_ms - 61000 WHERE name = ?').run(hot.name);
    store.partitions.reload();
    expect(store.partitions.sealDue()).toBe(true);
    store.appendFlows(rows(10, 1));
    expect(store.partitions.list().map((p) => [p.name, p.state])).toEqual([[hot.name, 'sealed']]);
    store.close();
  });

  it('a writer killed (SIGKILL) while it seals and indexes: the database is intact, and the next writer finishes the seal', async () => {
    const file = tmpFile('killed.db');
    seeded(file).close();
    const root = path.resolve(__dirname, '..');
    // appends in a loop with a tiny seal size: the kill lands in an append, a seal or an index build
    const child = spawn(
      process.execPath,
      ['-e', `const { openStore } = require('./dist/index.js');
        const s = openStore(process.argv[1], { sealRows: 3000 });
        const T0 = 1767225600000000000n;
        for (let i = 0; ; i += 500) {
          const rows = [];
          for (let k = i; k < i + 500; k++) rows.push({ source_id: 1, flow_id: k, segment: 0, first_ns: T0 + BigInt(k), last_ns: T0 + BigInt(k), end_reason: 1,
            ip_version: 4, protocol: 6, ether_type: 2048, vlan: 0, src_addr: Buffer.from([10, 0, 0, k % 200]), dst_addr: Buffer.from([10, 0, 1, k % 200]),
            src_port: k % 60000, dst_port: 80, src_device: (k % 200) + 1, dst_device: (k % 200) + 201, fwd_packets: 1, fwd_bytes: 100, rev_packets: 0,
            rev_bytes: 0, fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0, server_is_dst: 1 });
          s.appendFlows(rows);
          if (i === 0) process.stdout.write('started\\n');
        }`, file],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 1500 + Math.random() * 500));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const store = openStore(file, { sealRows: 3000 });
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    const n = store.db.prepare('SELECT count(*) FROM flows').pluck().get() as number;
    expect(n % 500).toBe(0); // whole transactions only
    expect(n).toBeGreaterThan(3000);
    const ids = store.db.prepare('SELECT id FROM flows ORDER BY id').pluck().all() as number[];
    expect(new Set(ids).size).toBe(n);
    // the next writer finishes whatever seal the kill interrupted, then every sealed partition has every index
    const { generate } = await genPcap();
    const cap = tmpFile('killed.pcap');
    await generate({ out: cap, packets: 2000, flows: 50, mix: 'simple', seed: 5, quiet: true });
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    const all = PARTITION_INDEXES.map(([suffix]) => suffix).sort();
    for (const p of store.partitions.list()) {
      if (p.state === 'hot') expect(indexesOf(store, p.name)).toEqual([]);
      else expect([p.name, p.state, indexesOf(store, p.name)]).toEqual([p.name, 'sealed', all]);
    }
    expect(store.db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(n + 50);
    store.close();
  }, 60_000);
});

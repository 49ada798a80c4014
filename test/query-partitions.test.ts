/**
 * Keyset pages over many sealed partitions: each partition's arm must be
 * read through an index that bounds its work. A filter's rows cluster in some
 * partitions (walking one that holds none reads all of it), and most flows
 * share a few byte counts (a cursor inside such a run must seek to its id).
 * The plans of the statements a page runs are checked, and every walk
 * against a plain ORDER BY over the view.
 */
import type { Statement } from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/index';
import { compileFlowFilter, type FlowPageRequest } from '../src/store/query';

const T0 = 1_767_225_600_000n * 1_000_000n;
const PARTS = 20;
const SEAL = 1000;
/** port 7000: every flow of the first two partitions, none elsewhere */
const CLUSTERED = 7000;

function store(): Store {
  const s = openStore(':memory:', { sealRows: SEAL });
  s.db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('synthetic', 'file', 'test', 'native', 0)").run();
  const dev = s.db.prepare('INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, 0, 0, 0)');
  for (let i = 0; i < 64; i++) dev.run(Buffer.from([10, 0, 0, i]));
  for (let part = 0; part < PARTS; part++) {
    const rows = [];
    for (let i = part * SEAL; i < (part + 1) * SEAL; i++) {
      const first = T0 + BigInt(i) * 1_000_000_000n;
      const small = i % 10 !== 0; // 9 flows in 10 are 2 packets of 64 bytes: one long run of equal bytes
      rows.push({
        source_id: 1, flow_id: i + 1, segment: 0, first_ns: first, last_ns: first + BigInt(i % 5000) * 1_000_000n, end_reason: 1, ip_version: 4,
        protocol: 6, ether_type: 2048, vlan: 0, src_addr: Buffer.from([10, 0, 0, i % 64]), dst_addr: Buffer.from([10, 0, 0, (i * 7) % 64]),
        src_port: part < 2 ? CLUSTERED : 1024 + (i % 500), dst_port: [80, 443][i % 2], src_device: (i % 64) + 1, dst_device: ((i * 7) % 64) + 1,
        fwd_packets: small ? 1 : 1 + (i % 13), fwd_bytes: small ? 64 : 60 * (1 + (i % 101)), rev_packets: small ? 1 : i % 3, rev_bytes: small ? 64 : 50 * (i % 89),
        fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0, service: null, server_is_dst: 1,
      });
    }
    s.appendFlows(rows);
  }
  expect(s.partitions.list().filter((p) => p.state === 'sealed').length).toBe(PARTS);
  return s;
}

/** Walks a shape to its end, recording the SQL of every statement a page prepares. */
function walk(s: Store, req: FlowPageRequest, limit = 100): { ids: number[]; sql: string[] } {
  const sql: string[] = [];
  const prepare = s.db.prepare.bind(s.db);
  const spy = vi.spyOn(s.db, 'prepare').mockImplementation(((text: string) => {
    sql.push(text);
    return prepare(text);
  }) as (text: string) => Statement);
  const ids: number[] = [];
  let cursor: string | undefined;
  try {
    do {
      const page = s.flows.page({ ...req, limit, cursor });
      ids.push(...page.items.map((r) => r.id));
      cursor = page.next ?? undefined;
    } while (cursor);
  } finally {
    spy.mockRestore();
  }
  return { ids, sql };
}

function want(s: Store, req: FlowPageRequest): number[] {
  const f = compileFlowFilter(req.filter);
  const col = { first: 'first_ns', last: 'last_ns', bytes: 'bytes', packets: 'packets' }[req.sort ?? 'first'];
  const dir = req.order === 'desc' ? 'DESC' : 'ASC';
  return s.db.prepare(`SELECT id FROM flows WHERE ${f.where} ORDER BY ${col} ${dir}, id ${dir}`).pluck().all(...f.params) as number[];
}

/** The plan of each page statement (SELECTs over the partitions), one line per partition arm. */
function arms(s: Store, sql: string[]): string[][] {
  return sql
    .filter((q) => /^SELECT id, source_id/.test(q))
    .map((q) => {
      const zeros = new Array(q.split('?').length - 1).fill(0);
      const plan = s.db.prepare(`EXPLAIN QUERY PLAN ${q}`).all(...zeros) as { detail: string }[];
      return plan.map((r) => r.detail).filter((d) => /flows_p\d+/.test(d));
    });
}

describe('keyset pages over many partitions', () => {
  it('a filter whose rows fill two partitions of twenty reads the others through its indexes, not along the sort', () => {
    const s = store();
    const clustered = new Set(s.partitions.list().slice(0, 2).map((p) => p.name));
    for (const req of [{ filter: { port: CLUSTERED }, sort: 'first' }, { filter: { port: CLUSTERED }, sort: 'bytes', order: 'desc' }] as const) {
      const { ids, sql } = walk(s, req);
      expect(ids).toEqual(want(s, req));
      expect(ids.length).toBe(2 * SEAL);
      const col = req.sort === 'first' ? 'first_ns' : req.sort;
      for (const plan of arms(s, sql)) {
        // a partition without a match: a seek in each port index, never a walk of the sort's index (a seek to the cursor's key is one)
        const walked = plan.filter((d) => new RegExp(`USING INDEX flows_p\\d+_${req.sort}(?! \\(${col}=)`).test(d)).map((d) => d.match(/flows_p\d+/)![0]);
        expect(walked.filter((name) => !clustered.has(name)), JSON.stringify(req)).toEqual([]);
      }
    }
    s.close();
  });

  it('a cursor inside a run of equal bytes seeks to its id in every partition', () => {
    const s = store();
    for (const req of [{ sort: 'bytes', order: 'desc' }, { sort: 'packets' }, { sort: 'packets', order: 'desc', filter: { protocol: 6 } }] as const) {
      const { ids, sql } = walk(s, req, 250);
      expect(ids, JSON.stringify(req)).toEqual(want(s, req));
      const col = req.sort;
      // every arm that walks the sort index after a cursor seeks on (key, id), not on the key alone
      const seeks = arms(s, sql).flat().filter((d) => new RegExp(`USING INDEX flows_p\\d+_${col} \\(${col}[<>=]`).test(d));
      expect(seeks.length, JSON.stringify(req)).toBeGreaterThan(0);
      expect(seeks.filter((d) => !new RegExp(`\\(${col}=\\? AND id[<>]\\?\\)|\\(${col}[<>]\\?\\)`).test(d)), JSON.stringify(req)).toEqual([]);
      const tie = seeks.filter((d) => new RegExp(`\\(${col}=\\? AND id[<>]\\?\\)`).test(d));
      expect(tie.length, JSON.stringify(req)).toBeGreaterThan(0);
    }
    s.close();
  });

  it('every shape walks to the same rows, in the same order, as a plain ORDER BY over the view', () => {
    const s = store();
    const shapes: FlowPageRequest[] = [
      { sort: 'first' }, { sort: 'last', order: 'desc' }, { sort: 'bytes', order: 'desc' }, { sort: 'packets' },
      { filter: { port: CLUSTERED }, sort: 'bytes', order: 'desc' }, { filter: { port: 443 }, sort: 'first', order: 'desc' },
      { filter: { device: 3 }, sort: 'bytes' }, { filter: { host: '10.0.0.0/29' }, sort: 'packets', order: 'desc' },
      { filter: { from: 1_767_225_605_000, to: 1_767_225_612_000 }, sort: 'last' }, { filter: { source: 1, minBytes: 200 }, sort: 'bytes' },
    ];
    for (const req of shapes) expect(walk(s, req, 333).ids, JSON.stringify(req)).toEqual(want(s, req));
    s.close();
  });
  it('a page from a time reads no sealed partition whose flows all ended before it; the walk is the plain ORDER BY\'s', () => {
    const s = store();
    // flow i starts at T0 + i s and lasts under 5 s: partition k holds flows k*1000 .. k*1000+999
    const from = Number((T0 + 12_500n * 1_000_000_000n) / 1_000_000n);
    for (const req of [{ filter: { from } }, { filter: { from, to: from + 3_000_000 }, order: 'desc' as const }, { filter: { from, port: 443 }, sort: 'bytes' as const, order: 'desc' as const }]) {
      const { ids, sql } = walk(s, req, 250);
      expect(ids, JSON.stringify(req)).toEqual(want(s, req));
      const read = new Set(sql.filter((q) => /^SELECT id, source_id/.test(q)).flatMap((q) => [...q.matchAll(/FROM (flows_p\d+)/g)].map((m) => m[1])));
      const ended = s.partitions.list().filter((p) => p.state === 'sealed' && p.hiNs < BigInt(from) * 1_000_000n).map((p) => p.name);
      expect(ended.length).toBe(12);
      for (const name of ended) expect(read.has(name), `${name} read`).toBe(false);
      expect(read.size).toBeGreaterThan(0);
    }
    s.close();
  });
});

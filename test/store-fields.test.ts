/**
 * The store and field list v2 (docs/fields.md): the details columns
 * (migration 10) filled from records whose details area is written here as
 * the engines fill it, FlowRow as plain JSON data with the names and units of
 * Flow.toObject(), end reason as its name, the community id / conn_state /
 * end reason filters, group MACs that are no devices, devices by page number.
 */
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FlowBatch, type Flow, type FlowObject } from '../src/flow/flow';
import { CONN_STATES, Offsets as O, RECORD_SIZE, TUNNEL_TYPES } from '../src/flow/layout';
import { FlowMeter, migrate, openStore, type FlowRow, type Store } from '../src/index';
import type { FlowRun } from '../src/meter';
import { DETAIL_COLUMNS } from '../src/store/details';
import { MIGRATIONS } from '../src/store/schema';
import { tcp4, tmpFile, udp4, writePcap } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';

/** Writes a details area into record `i` of `buffer` (bytes 512–887), as the engines fill it with `statistics` and `splt`. */
function writeDetails(buffer: ArrayBuffer, i: number, f: Flow, n: number): void {
  const o = i * RECORD_SIZE;
  const b = new Uint8Array(buffer, o, RECORD_SIZE);
  const v = new DataView(buffer, o, RECORD_SIZE);
  b.fill(0, O.kDetails, O.kDetailsEnd);
  v.setBigUint64(O.kFwdIpBytes, BigInt(1000 + n), true);
  v.setBigUint64(O.kRevIpBytes, BigInt(f.revPackets ? 2000 + n : 0), true);
  v.setBigUint64(O.kFwdPayloadBytes, BigInt(100 + n), true);
  v.setBigUint64(O.kRevPayloadBytes, BigInt(f.revPackets ? 200 + n : 0), true);
  v.setUint16(O.kInnerVlan, n % 3 ? 0 : 300 + n, true);
  b[O.kTunnelType] = n % TUNNEL_TYPES.length;
  v.setUint32(O.kTunnelId, b[O.kTunnelType] ? 4242 + n : 0, true);
  b[O.kConnState] = f.l2 ? 0 : 1 + (n % (CONN_STATES.length - 1));
  b.set(Buffer.from(f.protocol === 6 ? 'ShADadFf' : f.protocol === 17 ? 'Dd' : ''), O.kHistory);
  if (n % 2) {
    // statistics: the stat blocks and flag counters
    for (const at of [O.kFwdStats, O.kRevStats, O.kBiStats]) {
      v.setUint32(at + O.kStatSizeMin, 60, true);
      v.setUint32(at + O.kStatSizeMax, 1500 + n, true);
      v.setFloat64(at + O.kStatSizeMean, 777.25, true);
      v.setFloat64(at + O.kStatSizeStddev, 12.5, true);
      v.setBigUint64(at + O.kStatIatMin, 1000n, true);
      v.setBigUint64(at + O.kStatIatMax, 123_456_789n, true);
      v.setFloat64(at + O.kStatIatMean, 5_000_000.5, true);
      v.setFloat64(at + O.kStatIatStddev, 250.75, true);
    }
    for (let k = 0; k < 8; k++) v.setUint32(O.kFwdFlagCounts + 4 * k, k + n, true);
    v.setUint32(O.kRevFlagCounts + 4, 1, true);
  }
  if (n % 3 === 0) {
    b[O.kSpltCount] = 3;
    v.setUint32(O.kSpltDirections, 0b010, true);
    [74, 66, 1514].forEach((s, k) => v.setUint16(O.kSpltSizes + 2 * k, s, true));
    [0, 1500, 70_001].forEach((t, k) => v.setUint32(O.kSpltIats + 4 * k, t, true));
  }
}

/** A run whose records get a details area as they pass (a stand-in for engines that fill it); record n (from 1) of the run gets the nth. */
function detailed(run: FlowRun): FlowRun {
  let n = 0;
  return {
    path: run.path, kind: run.kind, engine: run.engine, summary: run.summary,
    return: (v?: unknown) => (run as unknown as { return(v?: unknown): Promise<unknown> }).return?.(v),
    async *[Symbol.asyncIterator]() {
      for await (const batch of run) {
        const buffer = batch.buffer.slice(0);
        const copy = new FlowBatch(buffer);
        for (let i = 0; i < copy.length; i++) writeDetails(buffer, i, copy.at(i), ++n);
        yield copy;
      }
    },
  } as unknown as FlowRun;
}

/** The FlowRow keys that are Flow.toObject()'s, with the same meaning. */
const SHARED_KEYS = [
  'flowId', 'segment', 'endReason', 'first', 'last', 'firstNs', 'lastNs', 'durationMs', 'ipVersion', 'protocol', 'src', 'dst', 'srcPort', 'dstPort',
  'vlan', 'innerVlan', 'etherType', 'srcMac', 'dstMac', 'srcMacVendor', 'dstMacVendor', 'tunnelType', 'tunnelId', 'icmpType', 'icmpCode', 'minTtl', 'maxTtl',
  'fwdPackets', 'fwdBytes', 'revPackets', 'revBytes', 'packets', 'bytes', 'fwdIpBytes', 'revIpBytes', 'fwdPayloadBytes', 'revPayloadBytes', 'fwdFirst',
  'fwdLast', 'revFirst', 'revLast', 'fwdTcpFlags', 'revTcpFlags', 'connState', 'history', 'communityId', 'fwdStats', 'revStats', 'biStats',
  'fwdFlagCounts', 'revFlagCounts', 'splt', 'app',
] as const;

const pick = (o: object) => Object.fromEntries(SHARED_KEYS.map((k) => [k, (o as Record<string, unknown>)[k]]));

describe('field list v2 in the store', () => {
  let store: Store;
  let want: FlowObject[];
  beforeAll(async () => {
    const pkts = [
      { t: 0, data: tcp4('10.1.0.1', 40000, '10.1.0.2', 443, 'S') },
      { t: 0.01, data: tcp4('10.1.0.2', 443, '10.1.0.1', 40000, 'SA') },
      { t: 0.02, data: tcp4('10.1.0.1', 40000, '10.1.0.2', 443, 'A', 100) },
      { t: 1, data: udp4('10.1.0.3', 5353, '10.1.0.4', 53, 40) },
      { t: 1.5, data: udp4('10.1.0.4', 53, '10.1.0.3', 5353, 80) },
      { t: 2, data: tcp4('10.1.0.5', 40001, '10.1.0.6', 22, 'S') },
      { t: 3, data: udp4('10.1.0.7', 1000, '10.1.0.8', 2000, 10) },
    ];
    const file = writePcap(pkts);
    want = [];
    for await (const batch of detailed(new FlowMeter({ engine: TEST_ENGINE }).readFile(file))) for (const f of batch) want.push(f.toObject({ statistics: true }));
    // toObject({ statistics: true }) always has the stats; the store keeps them only when the record has them
    for (const o of want) if (o.fwdStats && !o.fwdStats.sizeMax && !o.fwdFlagCounts?.syn) for (const k of ['fwdStats', 'revStats', 'biStats', 'fwdFlagCounts', 'revFlagCounts'] as const) delete o[k];
    store = openStore(':memory:');
    await store.ingest(detailed(new FlowMeter({ engine: TEST_ENGINE }).readFile(file)));
  });

  it('JSON.stringify of a page works: numbers and strings, firstNs/lastNs decimal strings, BigInt only with safeIntegers', () => {
    const page = store.flows.page();
    expect(() => JSON.stringify(page)).not.toThrow();
    const round = JSON.parse(JSON.stringify(page)) as typeof page;
    expect(round).toEqual(page);
    const r = page.items[0];
    expect(typeof r.firstNs).toBe('string');
    expect(r.first).toBe(Number(BigInt(r.firstNs)) / 1e6);
    const big = store.flows.page({ safeIntegers: true }).items[0];
    expect(big.firstNs).toBe(BigInt(r.firstNs));
    expect(typeof big.lastNs).toBe('bigint');
    const off = store.flows.offsetPage({ total: true });
    expect(() => JSON.stringify(off)).not.toThrow();
    expect(typeof store.flows.offsetPage({ safeIntegers: true }).items[0].firstNs).toBe('bigint');
  });

  it("endReason is the name Flow.endReason gives ('idle', 'flush', ...), in rows and in the filter", () => {
    const rows = store.flows.page().items;
    expect(rows.map((r) => r.endReason)).toEqual(want.map((w) => w.endReason));
    for (const r of rows) expect(['idle', 'active', 'tcp-end', 'flush', 'evicted']).toContain(r.endReason);
    const reason = rows[0].endReason as 'flush';
    expect(store.flows.page({ filter: { endReason: reason } }).items.length).toBe(rows.filter((r) => r.endReason === reason).length);
    expect(store.flows.page({ filter: { endReason: ['idle', 'flush', 'tcp-end', 'active', 'evicted'] } }).items.length).toBe(rows.length);
    expect(() => store.flows.page({ filter: { endReason: 4 as unknown as 'idle' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it('FlowRow has the fields of Flow.toObject() with their values: details, statistics, SPLT, community id', () => {
    const rows = store.flows.page().items;
    expect(rows.length).toBe(want.length);
    expect(rows.map(pick)).toEqual(want.map(pick));
    // the hand-written details reached the rows (not only zeros)
    expect(rows.some((r) => r.splt && r.splt.iatMs[2] === 70.001)).toBe(true);
    expect(rows.some((r) => r.tunnelType === 'vxlan' && r.tunnelId! > 4242)).toBe(true);
    expect(rows.some((r) => r.fwdStats?.sizeMax && r.fwdFlagCounts?.syn)).toBe(true);
    expect(rows.some((r) => !r.fwdStats)).toBe(true);
    expect(rows.every((r) => /^1:[A-Za-z0-9+/]{27}=$/.test(r.communityId!))).toBe(true);
  });

  it('the columns are the SQLite types docs/store.md lists: stats and splt JSON or NULL', () => {
    const cols = (store.db.pragma('table_info(flow_template)') as { name: string; type: string }[]).filter((c) => (DETAIL_COLUMNS as readonly string[]).includes(c.name));
    expect(cols.map((c) => c.name)).toEqual([...DETAIL_COLUMNS]);
    const r = store.db.prepare('SELECT stats, splt, history, conn_state FROM flows ORDER BY id LIMIT 1').get() as Record<string, string | null>;
    expect(r.stats === null || typeof JSON.parse(r.stats) === 'object').toBe(true);
    expect(store.db.prepare('SELECT count(*) FROM flows WHERE stats IS NULL').pluck().get()).toBeGreaterThan(0);
  });

  it('filters: communityId exact (through its index once sealed), connState one or several', () => {
    const rows = store.flows.page().items;
    for (const r of rows) expect(store.flows.page({ filter: { communityId: r.communityId! } }).items.map((x) => x.id)).toEqual(rows.filter((x) => x.communityId === r.communityId).map((x) => x.id));
    expect(store.flows.page({ filter: { communityId: '1:AAAAAAAAAAAAAAAAAAAAAAAAAAA=' } }).items).toEqual([]);
    expect(() => store.flows.page({ filter: { communityId: 'nope' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    const states = [...new Set(rows.map((r) => r.connState!))];
    for (const s of states) expect(store.flows.page({ filter: { connState: s } }).items.length).toBe(rows.filter((r) => r.connState === s).length);
    expect(store.flows.page({ filter: { connState: states } }).items.length).toBe(rows.length);
    expect(() => store.flows.page({ filter: { connState: 'XX' as 'SF' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    const plan = store.db.prepare("EXPLAIN QUERY PLAN SELECT id FROM flow_template WHERE community_id = '1:x'").all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('flow_template_community_id');
  });
});

describe('migration 10', () => {
  it('a version-9 database (flows_0 and a sealed partition) gets the columns and the community_id index; old flows have null details', async () => {
    const dbFile = tmpFile('m10.db');
    const old = new Database(dbFile);
    old.pragma('journal_mode = WAL');
    migrate(old, MIGRATIONS.slice(0, 9));
    old.exec("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('old', 'file', 't', 'native', 0)");
    old.exec("INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (x'0a000001', 0, 0, 0)");
    const cols = `source_id, flow_id, segment, first_ns, last_ns, end_reason, ip_version, protocol, ether_type, vlan, src_addr, dst_addr, src_port, dst_port,
      src_device, dst_device, fwd_packets, fwd_bytes, rev_packets, rev_bytes, fwd_tcp_flags, rev_tcp_flags, flags, server_is_dst`;
    const vals = (i: number) => `1, ${i}, 0, ${1_600_000_000_000_000_000n + BigInt(i)}, ${1_600_000_000_000_000_000n + BigInt(i)}, 1, 4, 6, 2048, 0, x'0a000001', x'0a000001', 1, 443, 1, 1, 1, ${i * 10}, 0, 0, 0, 0, 0, 1`;
    for (let i = 1; i <= 5; i++) old.exec(`INSERT INTO flows_0 (id, ${cols}) VALUES (${i}, ${vals(i)})`);
    const template = (old.prepare("SELECT sql FROM sqlite_master WHERE name = 'flow_template'").pluck().get() as string).replace(/^CREATE TABLE "?flow_template"?/, 'CREATE TABLE flows_p6').replace(/\s+REFERENCES\s+\w+\s*\(\s*\w+\s*\)/g, '');
    old.exec(template);
    for (let i = 6; i <= 9; i++) old.exec(`INSERT INTO flows_p6 (id, ${cols}, bytes, packets) VALUES (${i}, ${vals(i)}, ${i * 10}, 1)`);
    old.exec("INSERT INTO partitions (name, lo_ns, hi_ns, state, rows, created_ms) VALUES ('flows_p6', 1600000000000000006, 1600000000000000009, 'sealed', 4, 0)");
    old.exec("CREATE INDEX flows_p6_first ON flows_p6 (first_ns); UPDATE meta SET value = 10 WHERE key IN ('next_flow_id', 'devices_synced_id', 'rollups_synced_id')");
    old.exec('DROP VIEW flows; CREATE VIEW flows AS SELECT * FROM flow_template UNION ALL SELECT *, fwd_bytes + rev_bytes, fwd_packets + rev_packets FROM flows_0 UNION ALL SELECT * FROM flows_p6');
    old.close();
    const s = openStore(dbFile);
    try {
      expect(s.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      for (const t of ['flow_template', 'flows_0', 'flows_p6']) {
        const names = (s.db.pragma(`table_info(${t})`) as { name: string }[]).map((c) => c.name);
        expect(names.slice(-DETAIL_COLUMNS.length), t).toEqual([...DETAIL_COLUMNS]);
      }
      const indexes = s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_community_id'").pluck().all();
      expect(indexes.sort()).toEqual(['flow_template_community_id', 'flows_0_community_id', 'flows_p6_community_id']);
      const rows = s.flows.page({ sort: 'bytes', order: 'desc', limit: 20 }).items;
      expect(rows.map((r) => r.id)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
      expect(rows.map((r) => [r.endReason, r.communityId, r.connState, r.history, r.fwdIpBytes, r.fwdLast, r.fwdStats, r.splt])).toEqual(rows.map(() => ['idle', null, null, null, null, null, undefined, undefined]));
      expect(() => JSON.stringify(rows)).not.toThrow();
      // new flows beside the old ones carry them
      const cap = writePcap([{ t: 0, data: tcp4('10.0.0.1', 40000, '10.0.0.2', 443, 'S') }]);
      await s.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
      const fresh = s.flows.page({ filter: { port: 40000 } }).items;
      expect(fresh.map((r) => [r.id, typeof r.communityId, typeof r.fwdIpBytes])).toEqual([[10, 'string', 'number']]);
      expect(s.flows.page({ filter: { communityId: fresh[0].communityId! } }).items.map((r) => r.id)).toEqual([10]);
      expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      s.close();
    }
  });
});

describe('devices', () => {
  it('broadcast and multicast MACs (the group bit) are no devices: their flows name device 0, their protocol goes to the sender', async () => {
    const eth = (dst: string, src: string, type: number, len = 46) => Buffer.concat([Buffer.from(dst.replace(/:/g, ''), 'hex'), Buffer.from(src.replace(/:/g, ''), 'hex'), Buffer.from([type >> 8, type & 255]), Buffer.alloc(len)]);
    const sender = '00:11:22:33:44:55';
    const cap = writePcap([
      { t: 0, data: eth('ff:ff:ff:ff:ff:ff', sender, 0x88b8) }, // GOOSE to broadcast
      { t: 1, data: eth('01:0c:cd:01:00:01', sender, 0x88b8) }, // GOOSE to its multicast group
      { t: 2, data: eth('01:80:c2:00:00:0e', sender, 0x88cc) }, // LLDP
      { t: 3, data: eth('33:33:00:00:00:01', sender, 0x88b5) },
      { t: 4, data: eth('01:00:5e:00:00:fb', sender, 0x88b5) },
      { t: 5, data: eth('00:aa:bb:cc:dd:ee', sender, 0x88b5) }, // unicast: a device
    ]);
    const s = openStore(':memory:');
    try {
      await s.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
      const devices = s.devices.page().items;
      expect(devices.map((d) => d.addr).sort()).toEqual([sender, '00:aa:bb:cc:dd:ee']);
      const flows = s.flows.page({ limit: 100 }).items;
      expect(flows.length).toBe(6);
      expect(flows.filter((f) => f.dstDevice === 0).map((f) => f.dst)).toEqual(['ff:ff:ff:ff:ff:ff', '01:0c:cd:01:00:01', '01:80:c2:00:00:0e', '33:33:00:00:00:01', '01:00:5e:00:00:fb']);
      const me = devices.find((d) => d.addr === sender)!;
      expect(me.flows).toBe(6);
      expect(me.services.some((x) => x.endsWith(' goose'))).toBe(true);
      // the roll-ups rank no device 0
      expect(s.analytics.topTalkers({ limit: 100 }).map((t) => t.addr).sort()).toEqual([sender, '00:aa:bb:cc:dd:ee']);
      expect(s.analytics.topConversations({ limit: 100 }).map((t) => [t.a, t.b].sort())).toEqual([[sender, '00:aa:bb:cc:dd:ee']]);
    } finally {
      s.close();
    }
  });

  it('offsetPage: numbered pages with the total, the same rows a keyset walk gives', async () => {
    const pkts = Array.from({ length: 25 }, (_, i) => ({ t: i, data: udp4(`10.2.0.${i + 1}`, 1000 + i, '10.2.1.1', 53, 10 + i) }));
    const s = openStore(':memory:');
    try {
      await s.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(writePcap(pkts)));
      const all = s.devices.page({ sort: 'bytes', limit: 1000 }).items.map((d) => d.id);
      expect(all.length).toBe(26);
      const pages = [1, 2, 3].map((page) => s.devices.offsetPage({ sort: 'bytes', page, pageSize: 10, total: true }));
      expect(pages.map((p) => p.total)).toEqual([26, 26, 26]);
      expect(pages.flatMap((p) => p.items.map((d) => d.id))).toEqual(all);
      expect(s.devices.offsetPage({ filter: { host: '10.2.0.0/24' }, page: 2, pageSize: 20, total: true })).toMatchObject({ total: 25, page: 2 });
      expect(() => s.devices.offsetPage({ page: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    } finally {
      s.close();
    }
  });
});

export type { FlowRow };

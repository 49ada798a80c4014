/**
 * Every flows, devices and analytics filter against a brute-force answer
 * computed in JavaScript over all rows of one database that holds IPv4,
 * IPv6 and layer-2 flows and devices: a filter never returns a row of
 * another address family, and top/timeline select the flows that overlap
 * their range, as flows pages do.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import ipaddr from 'ipaddr.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { addressRange, openStore, type DeviceFilter, type DeviceSort, type FlowFilter, type FlowSort, type Store } from '../src/index';
import { buildMixedStore, MAC_EDGES, V4_EDGES, V6_EDGES, type MixedDevice, type MixedFlow, type MixedStore } from './helpers/mixed';
import { rng } from './helpers/rng';

interface Cidr {
  text: string;
  bytes: Buffer;
  bits: number;
}

/** The CIDRs every run tests: the whole spaces, their halves, the audit's examples, single hosts, IPv4-mapped IPv6. */
const FIXED_CIDRS = [
  '0.0.0.0/0', '::/0', '32.0.0.0/3', 'ff00::/8', '::ffff:0:0/96', '::ffff:10.0.0.0/104', '0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1',
  '10.0.0.0/8', '10.0.0.0/24', '10.0.0.1/32', '10.0.0.1', '0.0.0.0/32', '255.255.255.255/32', '224.0.0.0/4', '32.0.0.0/11', '2000::/3',
  '2001:db8::/32', 'fe80::/10', '::/128', '::1', '::/96', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128', 'FF02::1', '::ffff:10.0.0.1',
  '0:0:0:0:0:ffff:a00:1/128', '2001:0db8:0000:0000:0000:0000:0000:0001',
];

function parseCidr(text: string): Cidr {
  const [addr, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), -1];
  const bytes = Buffer.from(addr.toByteArray());
  return { text, bytes, bits: bits < 0 ? bytes.length * 8 : bits };
}

function inCidr(addr: Buffer, c: Cidr): boolean {
  if (addr.length !== c.bytes.length) return false; // MACs (6 bytes) and the other IP family never match
  for (let bit = 0; bit < c.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((addr[bit >> 3] & mask) !== (c.bytes[bit >> 3] & mask)) return false;
  }
  return true;
}

function matchFlow(f: MixedFlow, q: FlowFilter, host?: Cidr): boolean {
  const ip = f.ipVersion !== 0; // layer-2 flows have no IP protocol and no ports
  return (
    (q.from === undefined || f.lastNs >= BigInt(q.from) * 1_000_000n) &&
    (q.to === undefined || f.firstNs <= BigInt(q.to) * 1_000_000n + 999_999n) &&
    (host === undefined || inCidr(f.src, host) || inCidr(f.dst, host)) &&
    (q.device === undefined || f.srcDevice === q.device || f.dstDevice === q.device) &&
    (q.port === undefined || (ip && (f.srcPort === q.port || f.dstPort === q.port))) &&
    (q.protocol === undefined || (ip && f.protocol === q.protocol)) &&
    (q.service === undefined || f.service === q.service) &&
    (q.source === undefined || f.source === q.source) &&
    (q.vlan === undefined || f.vlan === q.vlan) &&
    (q.minBytes === undefined || f.bytes >= q.minBytes)
  );
}

function matchDevice(d: MixedDevice, q: DeviceFilter, host?: Cidr): boolean {
  return (
    (q.seenSince === undefined || d.lastSeen >= q.seenSince) &&
    (host === undefined || inCidr(d.addr, host)) &&
    (q.vlan === undefined || d.vlan === q.vlan) &&
    (q.vendor === undefined || d.vendor === q.vendor)
  );
}

const FLOW_KEY: Record<FlowSort, (f: MixedFlow) => bigint | number> = { first: (f) => f.firstNs, last: (f) => f.lastNs, bytes: (f) => f.bytes, packets: (f) => f.packets };
const DEVICE_KEY: Record<DeviceSort, (d: MixedDevice) => number> = {
  last: (d) => d.lastSeen, first: (d) => d.firstSeen, bytes: (d) => d.bytes, packets: (d) => d.packets, flows: (d) => d.flows,
};

function ordered<T extends { id: number }>(rows: T[], key: (r: T) => bigint | number, order: 'asc' | 'desc'): number[] {
  const sign = order === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => sign * (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id - b.id)).map((r) => r.id);
}

let mixed: MixedStore;
let store: Store;
beforeAll(async () => {
  mixed = await buildMixedStore();
  store = openStore(mixed.file, { readonly: true });
  return () => store.close();
});

describe('a database of every address family', () => {
  it('holds IPv4, IPv6 and layer-2 flows and devices, including the edge addresses', () => {
    const families = new Set(mixed.flows.map((f) => f.ipVersion));
    expect([...families].sort()).toEqual([0, 4, 6]);
    const lengths = new Set(mixed.devices.map((d) => d.addr.length));
    expect([...lengths].sort()).toEqual([16, 4, 6]);
    const addrs = new Set(mixed.devices.map((d) => d.addr.toString('hex')));
    // broadcast and multicast MACs are no devices (their flows name device 0)
    expect([...addrs].filter((a) => a.length === 12 && parseInt(a.slice(0, 2), 16) & 1)).toEqual([]);
    expect(mixed.flows.some((f) => f.dstDevice === 0)).toBe(true);
    for (const ip of ['32.0.0.0', '::ffff:10.0.0.1', 'ff02::1', '2001:db8::1']) expect(addrs.has(Buffer.from(ipaddr.parse(ip).toByteArray()).toString('hex')), ip).toBe(true);
    expect(MAC_EDGES.some((m) => addrs.has(m.replace(/:/g, '')))).toBe(true);
  });
});

describe('host filters never cross address families', () => {
  const cidrs = (): Cidr[] => {
    const r = rng(11);
    const out = FIXED_CIDRS.map(parseCidr);
    const known = [...mixed.devices.map((d) => d.addr).filter((a) => a.length !== 6), ...[...V4_EDGES, ...V6_EDGES].map((a) => Buffer.from(ipaddr.parse(a).toByteArray()))];
    for (let i = 0; i < 300; i++) {
      const v6 = r() < 0.5;
      const family = known.filter((a) => a.length === (v6 ? 16 : 4));
      const bytes = Buffer.from(r() < 0.7 ? family[Math.floor(r() * family.length)] : Array.from({ length: v6 ? 16 : 4 }, () => Math.floor(r() * 256)));
      const width = bytes.length * 8;
      const bits = [0, 1, 3, width, width, Math.floor(r() * (width + 1)), Math.floor(r() * (width + 1))][Math.floor(r() * 7)];
      const addr = ipaddr.fromByteArray([...bytes]);
      const forms = v6 ? [addr.toString(), (addr as ipaddr.IPv6).toNormalizedString(), addr.toString().toUpperCase()] : [addr.toString()];
      const text = forms[Math.floor(r() * forms.length)];
      out.push({ text: bits === width && r() < 0.5 ? text : `${text}/${bits}`, bytes, bits });
    }
    return out;
  };

  it('flows --host: every CIDR of both families (incl. /0, /1, /3, /32, /128, ff00::/8, ::ffff:0:0/96) equals the brute-force answer', () => {
    const wrong: string[] = [];
    for (const c of cidrs()) {
      const want = ordered(mixed.flows.filter((f) => matchFlow(f, {}, c)), FLOW_KEY.first, 'asc');
      const got = store.flows.page({ filter: { host: c.text }, limit: 10_000 }).items.map((f) => f.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${c.text}: ${got.length} rows, want ${want.length}`);
    }
    expect(wrong).toEqual([]);
  });

  it('devices --host: every CIDR equals the brute-force answer (no MAC device in an IPv6 range, no IPv6 device in an IPv4 one)', () => {
    const wrong: string[] = [];
    for (const c of cidrs()) {
      const want = ordered(mixed.devices.filter((d) => matchDevice(d, {}, c)), DEVICE_KEY.last, 'desc');
      const got = store.devices.page({ filter: { host: c.text }, limit: 10_000 }).items.map((d) => d.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${c.text}: ${got.length} rows, want ${want.length}`);
    }
    expect(wrong).toEqual([]);
  });

  it('the whole IPv4 space is the IPv4 rows, the whole IPv6 space the IPv6 rows; an IPv4-mapped range holds only IPv6 rows', () => {
    const families = (host: string) => new Set(store.flows.page({ filter: { host }, limit: 10_000 }).items.map((f) => f.ipVersion));
    expect([...families('0.0.0.0/0')]).toEqual([4]);
    expect([...families('::/0')]).toEqual([6]);
    expect([...families('32.0.0.0/3')]).toEqual([4]);
    expect([...families('::ffff:0:0/96')]).toEqual([6]);
    const byId = new Map(mixed.devices.map((d) => [d.id, d.addr.length]));
    const lengths = (host: string) => new Set(store.devices.page({ filter: { host }, limit: 10_000 }).items.map((d) => byId.get(d.id)));
    expect([...lengths('ff00::/8')]).toEqual([16]);
    expect([...lengths('0.0.0.0/0')]).toEqual([4]);
    expect(store.devices.page({ filter: { host: 'ff00::/8' }, limit: 10_000 }).items.map((d) => d.addr)).not.toContain('ff:ff:ff:ff:ff:ff');
  });

  it('addressRange parses with ipaddr.js: strict dotted quads, no zone ids, prefixes in range', () => {
    expect(addressRange('::ffff:10.0.0.0/104').map((b) => b.toString('hex'))).toEqual(['00000000000000000000ffff0a000000', '00000000000000000000ffff0affffff']);
    expect(addressRange('0.0.0.0/0').map((b) => b.toString('hex'))).toEqual(['00000000', 'ffffffff']);
    expect(addressRange('::/0').map((b) => b.length)).toEqual([16, 16]);
    for (const bad of ['10', '10.1', '0x0a.0.0.1', '010.0.0.1', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/+8', '::/129', 'fe80::1%eth0', 'fe80::1%eth0/64', '1::2::3', '1.2.3.4/32/1', ' 10.0.0.1', '', 'ff:ff:ff:ff:ff:ff'])
      expect(() => addressRange(bad), bad).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it('the family test keeps the host filter a seek in the (addr, vlan) index: devices pages, and the flows page subqueries', () => {
    const plan = (sql: string, params: unknown[]) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join(' | ');
    for (const host of ['10.0.0.0/24', '10.0.0.1', 'ff00::/8', '2001:db8::/32']) {
      for (const sort of ['last', 'bytes'] as const) {
        const { sql, params } = store.devices.pageSql({ filter: { host }, sort });
        expect(plan(sql, params), host).toMatch(/SEARCH devices USING (COVERING )?INDEX sqlite_autoindex_devices_1 \(addr>\? AND addr<\?\)/);
      }
      const { sql, params } = store.flows.pageSql({ filter: { host } });
      expect(plan(sql, params), host).toMatch(/SEARCH devices USING (COVERING )?INDEX sqlite_autoindex_devices_1 \(addr>\? AND addr<\?\)/);
    }
  });
});

describe('every filter, alone and combined, against brute force', () => {
  const services = () => [...new Set(mixed.flows.map((f) => f.service).filter((s): s is string => s !== null)), 'no-such-service'];

  function randomFlowFilter(r: () => number): { filter: FlowFilter; host?: Cidr } {
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
    const [t0, t1] = mixed.spanMs;
    const f: FlowFilter = {};
    let host: Cidr | undefined;
    if (r() < 0.3) f.from = Math.floor(t0 - 60_000 + r() * (t1 - t0 + 120_000));
    if (r() < 0.3) f.to = Math.floor(t0 - 60_000 + r() * (t1 - t0 + 120_000));
    if (r() < 0.3) {
      host = parseCidr(pick([...FIXED_CIDRS, '10.0.0.0/8', '0.0.0.0/2', '::/2', 'c000::/2', '192.0.0.0/2']));
      f.host = host.text;
    }
    if (r() < 0.15) f.device = pick(mixed.devices).id;
    if (r() < 0.25) f.port = pick([0, 80, 443, 502, 53, 20000, 47808, pick(mixed.flows).srcPort]);
    if (r() < 0.25) f.protocol = pick([0, 1, 6, 17, 58, 132, 47]);
    if (r() < 0.2) f.service = pick(services());
    if (r() < 0.2) f.source = pick([1, 2, 3]);
    if (r() < 0.25) f.vlan = pick([0, 10, 20, 30]);
    if (r() < 0.2) f.minBytes = pick(mixed.flows).bytes;
    return { filter: f, host };
  }

  it('flows: 400 random filters × sorts, walked with cursors and as one offset page with its total', () => {
    const r = rng(5);
    const wrong: string[] = [];
    for (let i = 0; i < 400; i++) {
      const { filter, host } = randomFlowFilter(r);
      const sort = (['first', 'last', 'bytes', 'packets'] as const)[i % 4];
      const order = r() < 0.5 ? 'asc' : 'desc';
      const want = ordered(mixed.flows.filter((f) => matchFlow(f, filter, host)), FLOW_KEY[sort], order);
      const got: number[] = [];
      const limit = 1 + Math.floor(r() * 300);
      let cursor: string | undefined;
      do {
        const p = store.flows.page({ filter, sort, order, limit, cursor });
        got.push(...p.items.map((f) => f.id));
        cursor = p.next ?? undefined;
      } while (cursor);
      const offset = store.flows.offsetPage({ filter, sort, order, pageSize: 10_000, total: true });
      const what = `${JSON.stringify(filter)} ${sort} ${order}`;
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`keyset ${what}: ${got.length} rows, want ${want.length}`);
      if (JSON.stringify(offset.items.map((f) => f.id)) !== JSON.stringify(want) || offset.total !== want.length) wrong.push(`offset ${what}`);
    }
    expect(wrong).toEqual([]);
  });

  it('flows: each filter alone over all of its values', () => {
    const cases: FlowFilter[] = [];
    for (let p = 0; p < 256; p++) cases.push({ protocol: p });
    for (const port of new Set([0, ...mixed.flows.flatMap((f) => [f.srcPort, f.dstPort]).slice(0, 200)])) cases.push({ port });
    for (const service of services()) cases.push({ service });
    for (const vlan of [0, 10, 20, 30, 4095]) cases.push({ vlan });
    for (const source of [1, 2, 3]) cases.push({ source });
    for (const d of mixed.devices.slice(0, 200)) cases.push({ device: d.id });
    for (const f of mixed.flows.slice(0, 100)) cases.push({ minBytes: f.bytes }, { from: Number(f.firstNs / 1_000_000n) }, { to: Number(f.lastNs / 1_000_000n) });
    const wrong: string[] = [];
    for (const filter of cases) {
      const want = ordered(mixed.flows.filter((f) => matchFlow(f, filter)), FLOW_KEY.first, 'asc');
      const got = store.flows.page({ filter, limit: 10_000 }).items.map((f) => f.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${JSON.stringify(filter)}: ${got.length} rows, want ${want.length}`);
    }
    expect(wrong).toEqual([]);
    // a layer-2 flow has no IP protocol and no ports: protocol 0 and port 0 are IP flows only
    expect(store.flows.page({ filter: { protocol: 0 }, limit: 10_000 }).items.every((f) => f.ipVersion === 4)).toBe(true);
    expect(store.flows.page({ filter: { port: 0 }, limit: 10_000 }).items.every((f) => f.ipVersion !== 0)).toBe(true);
  });

  it('devices: 300 random filters (host, vlan, vendor, seenSince) × sorts, walked with cursors', () => {
    const r = rng(8);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
    const vendors = [...new Set(mixed.devices.map((d) => d.vendor).filter((v): v is string => v !== null)), 'Nobody Inc'];
    const wrong: string[] = [];
    for (let i = 0; i < 300; i++) {
      const filter: DeviceFilter = {};
      let host: Cidr | undefined;
      if (r() < 0.5) filter.host = (host = parseCidr(pick([...FIXED_CIDRS, '0.0.0.0/2', '::/2', 'c000::/2']))).text;
      if (r() < 0.3) filter.vlan = pick([0, 10, 20, 30]);
      if (r() < 0.3) filter.vendor = pick(vendors);
      if (r() < 0.3) filter.seenSince = pick(mixed.devices).lastSeen;
      const sort = (['last', 'first', 'bytes', 'packets', 'flows'] as const)[i % 5];
      const order = r() < 0.5 ? 'asc' : 'desc';
      const want = ordered(mixed.devices.filter((d) => matchDevice(d, filter, host)), DEVICE_KEY[sort], order);
      const got: number[] = [];
      const limit = 1 + Math.floor(r() * 400);
      let cursor: string | undefined;
      do {
        const p = store.devices.page({ filter, sort, order, limit, cursor });
        got.push(...p.items.map((d) => d.id));
        cursor = p.next ?? undefined;
      } while (cursor);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${JSON.stringify(filter)} ${sort} ${order}: ${got.length} rows, want ${want.length}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('top and timeline: the minute buckets whose start lies in their range, a flow apportioned over the minutes it spans', () => {
  type Totals = { bytes: number; packets: number; flows: number };
  const MINUTE_NS = 60_000_000_000n;
  /** A flow's share of each minute it spans: exact integers, as floor(V * overlap so far / duration) differences (a week or more: all in its first minute). */
  const shares = (f: MixedFlow): { t: number; bytes: number; packets: number; flows: number }[] => {
    const m0 = f.firstNs / MINUTE_NS;
    const m1 = f.lastNs / MINUTE_NS;
    const d = f.lastNs - f.firstNs;
    if (m1 === m0 || d <= 0n || m1 - m0 + 1n > 10_080n) return [{ t: Number(m0 * 60_000n), bytes: f.bytes, packets: f.packets, flows: 1 }];
    const out = [];
    let prevB = 0n;
    let prevP = 0n;
    for (let m = m0; m <= m1; m++) {
      const end = m === m1 ? f.lastNs : (m + 1n) * MINUTE_NS;
      const upTo = end - f.firstNs;
      const b = (BigInt(f.bytes) * upTo) / d;
      const p = (BigInt(f.packets) * upTo) / d;
      out.push({ t: Number(m * 60_000n), bytes: Number(b - prevB), packets: Number(p - prevP), flows: m === m0 ? 1 : 0 });
      [prevB, prevP] = [b, p];
    }
    return out;
  };
  /** The shares in the minutes whose start lies in [from's minute, to]. */
  const inRange = (range: { from?: number; to?: number }) => {
    const lo = range.from === undefined ? -Infinity : Math.floor(range.from / 60_000) * 60_000;
    const hi = range.to ?? Infinity;
    return mixed.flows.flatMap((f) => shares(f).filter((x) => x.t >= lo && x.t <= hi).map((x) => ({ f, ...x })));
  };
  const add = (m: Map<string, Totals>, k: string, x: Totals) => {
    const t = m.get(k) ?? { bytes: 0, packets: 0, flows: 0 };
    t.bytes += x.bytes;
    t.packets += x.packets;
    t.flows += x.flows;
    m.set(k, t);
  };
  const rank = (m: Map<string, Totals>, by: keyof Totals, tie: (a: string, b: string) => number) =>
    [...m].filter(([, v]) => v.bytes || v.packets || v.flows).sort((a, b) => b[1][by] - a[1][by] || tie(a[0], b[0]));
  const serviceName = (f: MixedFlow) =>
    f.service ?? (f.ipVersion === 0 ? `eth/${f.etherType}` : `${({ 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, string>)[f.protocol] ?? f.protocol}/${f.serverIsDst ? f.dstPort : f.srcPort}`);

  const ranges = () => {
    const r = rng(3);
    const [t0, t1] = mixed.spanMs;
    const at = () => Math.floor(t0 - 60_000 + r() * (t1 - t0 + 120_000));
    const out: { from?: number; to?: number }[] = [{}, { from: t0 + 3_600_000 }, { to: t0 + 600_000 }];
    for (let i = 0; i < 40; i++) {
      const [a, b] = [at(), at()].sort((x, y) => x - y);
      out.push(r() < 0.2 ? { from: a } : r() < 0.2 ? { to: b } : { from: a, to: b });
    }
    return out;
  };

  it('some flows span several minutes (their bytes are spread)', () => {
    expect(mixed.flows.filter((f) => shares(f).length > 1).length).toBeGreaterThan(10);
  });

  it('topTalkers, topConversations, topServices and timeline equal brute-force sums of the apportioned flows', () => {
    const wrong: string[] = [];
    for (const range of ranges()) {
      const parts = inRange(range);
      for (const by of ['bytes', 'packets', 'flows'] as const) {
        const talkers = new Map<string, Totals>();
        const conversations = new Map<string, Totals>();
        const services = new Map<string, Totals>();
        for (const x of parts) {
          // device 0 (a group MAC) is no talker and in no conversation
          if (x.f.srcDevice) add(talkers, String(x.f.srcDevice), x);
          if (x.f.dstDevice !== x.f.srcDevice && x.f.dstDevice) add(talkers, String(x.f.dstDevice), x);
          if (x.f.srcDevice && x.f.dstDevice) add(conversations, [Math.min(x.f.srcDevice, x.f.dstDevice), Math.max(x.f.srcDevice, x.f.dstDevice)].join(','), x);
          add(services, serviceName(x.f), x);
        }
        const num = (a: string, b: string) => Number(a) - Number(b);
        const pair = (a: string, b: string) => { const [x, y] = [a.split(',').map(Number), b.split(',').map(Number)]; return x[0] - y[0] || x[1] - y[1]; };
        const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
        const what = `${JSON.stringify(range)} by ${by}`;
        const req = { ...range, by, limit: 10_000 };
        const t = store.analytics.topTalkers(req).map((x) => [String(x.device), x.bytes, x.packets, x.flows]);
        if (JSON.stringify(t) !== JSON.stringify(rank(talkers, by, num).map(([k, v]) => [k, v.bytes, v.packets, v.flows]))) wrong.push(`talkers ${what}`);
        const c = store.analytics.topConversations(req).map((x) => [`${x.aDevice},${x.bDevice}`, x.bytes, x.packets, x.flows]);
        if (JSON.stringify(c) !== JSON.stringify(rank(conversations, by, pair).map(([k, v]) => [k, v.bytes, v.packets, v.flows]))) wrong.push(`conversations ${what}`);
        const s = store.analytics.topServices(req).map((x) => [x.service, x.bytes, x.packets, x.flows]);
        if (JSON.stringify(s) !== JSON.stringify(rank(services, by, text).map(([k, v]) => [k, v.bytes, v.packets, v.flows]))) wrong.push(`services ${what}`);
      }
      for (const bucketMs of [60_000, 300_000, 3_600_000]) {
        const buckets = new Map<string, Totals>();
        for (const x of parts) add(buckets, String(Math.floor(x.t / bucketMs) * bucketMs), x);
        const want = [...buckets].filter(([, v]) => v.bytes || v.packets || v.flows).sort((a, b) => Number(a[0]) - Number(b[0])).map(([k, v]) => [Number(k), v.bytes, v.packets, v.flows]);
        const got = store.analytics.timeline({ ...range, bucketMs }).map((x) => [x.t, x.bytes, x.packets, x.flows]).filter(([, b, p, n]) => b || p || n);
        if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`timeline ${JSON.stringify(range)} ${bucketMs}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('top and timeline agree: the flows that started in the range\'s minutes, once each', () => {
    for (const range of ranges()) {
      const lo = range.from === undefined ? -Infinity : Math.floor(range.from / 60_000) * 60_000;
      const want = mixed.flows.filter((f) => {
        const t = Number((f.firstNs / MINUTE_NS) * 60_000n);
        return t >= lo && t <= (range.to ?? Infinity);
      }).length;
      const inTop = store.analytics.topServices({ ...range, by: 'flows', limit: 10_000 }).reduce((n, s) => n + s.flows, 0);
      const inTimeline = store.analytics.timeline({ ...range, bucketMs: 60_000 }).reduce((n, s) => n + s.flows, 0);
      expect([inTop, inTimeline], JSON.stringify(range)).toEqual([want, want]);
    }
  });
});

describe('through the CLI', () => {
  const root = path.resolve(__dirname, '..');
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), ...args], { cwd: root, maxBuffer: 64 << 20 }).then((r) => r.stdout);

  it('flows --host, devices --host and top --from give the brute-force answers', async () => {
    for (const host of ['32.0.0.0/3', '0.0.0.0/0', '::/0', 'ff00::/8', '::ffff:0:0/96']) {
      const c = parseCidr(host);
      const flows = JSON.parse(await cli('flows', '--db', mixed.file, '--host', host, '--limit', '10000', '--json')).items.map((f: { id: number }) => f.id);
      expect(flows, host).toEqual(ordered(mixed.flows.filter((f) => matchFlow(f, {}, c)), FLOW_KEY.first, 'desc'));
      const devices = JSON.parse(await cli('devices', '--db', mixed.file, '--host', host, '--limit', '10000', '--json')).items.map((d: { id: number }) => d.id);
      expect(devices, host).toEqual(ordered(mixed.devices.filter((d) => matchDevice(d, {}, c)), DEVICE_KEY.last, 'desc'));
    }
    const from = mixed.spanMs[0] + 5_400_000;
    const services = JSON.parse(await cli('top', 'services', '--db', mixed.file, '--from', String(from), '--by', 'flows', '--limit', '10000', '--json')) as { flows: number }[];
    // top counts the flows that started in the range's minutes
    const started = mixed.flows.filter((f) => f.firstNs >= (BigInt(from) / 60_000n) * 60_000n * 1_000_000n).length;
    expect(services.reduce((n, s) => n + s.flows, 0)).toBe(started);
    const flows = JSON.parse(await cli('flows', '--db', mixed.file, '--from', String(from), '--limit', '10000', '--json')).items;
    expect(flows.length).toBe(mixed.flows.filter((f) => matchFlow(f, { from })).length);
  });
});

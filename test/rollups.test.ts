/** Roll-ups: apportioning, the accumulator against brute force, Analytics over them, the timeline command. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Analytics } from '../src/store/analytics';
import { QueryTimer } from '../src/store/query';
import { Metrics } from '../src/metrics/registry';
import { openStore } from '../src/store/store';
import {
  apportion, HOUR_MS, HOUR_NS, MAX_SPREAD_MINUTES, MINUTE_MS, MINUTE_NS, rangePlan, rebuildRollups, replayRollups, retainRollups, RollupAccumulator, ROLLUP_SCHEMA, ALL_INDEX_SCHEMA,
  SERVICE_KEY_SQL, serviceKey, type RollupFlow,
} from '../src/store/rollups';
import { tmpFile } from './helpers/capture';
import { rng } from './helpers/rng';

const T0 = 1_767_225_600_000n * 1_000_000n; // 2026-01-01 in ns
const MIN = 60_000_000_000n;

// ---------------------------------------------------------------------------------------------
// apportion

/** floor division for the non-negative values here */
const sumOf = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

describe('apportion', () => {
  it('splits exactly: parts sum to the value, each within one of its exact share of the overlap', () => {
    const r = rng(1);
    const wrong: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const first = T0 + BigInt(Math.floor(r() * 1e6)) * 1_000_000_000n + BigInt(Math.floor(r() * 1e9));
      const d = [0n, 1n, MIN, BigInt(Math.floor(r() * 3 * 3600e9))][i % 4];
      const last = first + d;
      const v = [0, 1, 7, Math.floor(r() * 1e9), 2 ** 50, Number.MAX_SAFE_INTEGER][i % 6];
      for (const res of [MINUTE_NS, HOUR_NS]) {
        const { startNs, values } = apportion(first, last, v, res);
        if (sumOf(values) !== BigInt(v)) wrong.push(`sum ${first} ${last} ${v}`);
        if (startNs !== (first / res) * res) wrong.push(`start ${first} ${res}`);
        if (d === 0n) {
          if (values.length !== 1) wrong.push(`zero duration: ${values.length} parts`);
          continue;
        }
        if (values.length !== Number(last / res - first / res) + 1) wrong.push(`parts ${first} ${last} ${res}: ${values.length}`);
        values.forEach((p, k) => {
          const lo = startNs + BigInt(k) * res;
          const hi = lo + res;
          const overlap = (last < hi ? last : hi) - (first > lo ? first : lo);
          // |p - v * overlap / d| < 1  <=>  |p*d - v*overlap| < d
          const err = p * d - BigInt(v) * overlap;
          if (err <= -d || err >= d || p < 0n) wrong.push(`part ${k} of ${first}..${last} = ${p}, share ${BigInt(v) * overlap}/${d}`);
        });
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it("an hour's part is the sum of its minutes' parts", () => {
    const r = rng(2);
    for (let i = 0; i < 2000; i++) {
      const first = T0 + BigInt(Math.floor(r() * 1e7)) * 1_000_000_000n + BigInt(Math.floor(r() * 1e9));
      const last = first + BigInt(Math.floor(r() * 5 * 3600e9));
      const v = Math.floor(r() * 2 ** 50);
      const minutes = apportion(first, last, v, MINUTE_NS);
      const hours = apportion(first, last, v, HOUR_NS);
      const summed = new Map<bigint, bigint>();
      minutes.values.forEach((p, k) => {
        const h = ((minutes.startNs + BigInt(k) * MINUTE_NS) / HOUR_NS) * HOUR_NS;
        summed.set(h, (summed.get(h) ?? 0n) + p);
      });
      expect(hours.values.map((p, k) => [hours.startNs + BigInt(k) * HOUR_NS, p])).toEqual([...summed]);
    }
  });

  it('edge cases: zero duration, last before first, bucket boundaries, more than 10,080 minutes, huge values', () => {
    const m = T0 + 5n * MIN; // a minute boundary
    expect(apportion(m + 7n, m + 7n, 100, MINUTE_NS)).toEqual({ startNs: m, values: [100n] });
    expect(apportion(m - 1n, m - 1n, 100, MINUTE_NS)).toEqual({ startNs: m - MIN, values: [100n] });
    expect(apportion(m + 10n, m, 100, MINUTE_NS)).toEqual({ startNs: m, values: [100n] }); // damaged: all at the start
    // from a boundary to a boundary: the bucket that starts at `last` gets nothing
    expect(apportion(m, m + 2n * MIN, 100, MINUTE_NS)).toEqual({ startNs: m, values: [50n, 50n, 0n] });
    expect(apportion(m - 1n, m, 100, MINUTE_NS)).toEqual({ startNs: m - MIN, values: [100n, 0n] });
    expect(apportion(m - 1n, m + 1n, 3, MINUTE_NS)).toEqual({ startNs: m - MIN, values: [1n, 2n] }); // floor(3/2)=1, then 3-1
    // 10,080 minute buckets are spread; 10,081 are booked wholly into the start bucket, at both resolutions
    const spanned = apportion(m, m + BigInt(MAX_SPREAD_MINUTES) * MIN - 1n, 10_080, MINUTE_NS);
    expect(spanned.values.length).toBe(10_080);
    expect(spanned.values.every((p) => p === 1n)).toBe(true);
    expect(apportion(m, m + BigInt(MAX_SPREAD_MINUTES) * MIN, 10_080, MINUTE_NS)).toEqual({ startNs: m, values: [10_080n] });
    expect(apportion(m + 30n * MIN, m + 30n * MIN + BigInt(MAX_SPREAD_MINUTES) * MIN, 9, HOUR_NS)).toEqual({ startNs: (m / HOUR_NS) * HOUR_NS, values: [9n] });
    expect(apportion(m + 30n * MIN, m + 30n * MIN + BigInt(MAX_SPREAD_MINUTES) * MIN - 1n, 9, HOUR_NS).values.length).toBe(169);
    // 2^50 bytes over three hours and a bit: exact
    const big = apportion(m + 123n, m + 3n * 3_600_000_000_000n + 999n, 2 ** 50, MINUTE_NS);
    expect(sumOf(big.values)).toBe(2n ** 50n);
    expect(big.values.length).toBe(181);
    const maxSafe = apportion(m + 1n, m + 90n * MIN, Number.MAX_SAFE_INTEGER, MINUTE_NS);
    expect(sumOf(maxSafe.values)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(() => apportion(m, m, 1, 0n)).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });
});

// ---------------------------------------------------------------------------------------------
// random flows, a database, brute force

interface TestFlow {
  id: number;
  firstNs: bigint;
  lastNs: bigint;
  fwdBytes: number;
  revBytes: number;
  fwdPackets: number;
  revPackets: number;
  srcDevice: number;
  dstDevice: number;
  service: string | null;
  ipVersion: number;
  etherType: number;
  protocol: number;
  serverIsDst: number;
  srcPort: number;
  dstPort: number;
}

/** Device ids: small ones, and some past what the accumulator keys as one small integer (32767), up to 2^40; the last has no devices row. */
const IDS = [...Array.from({ length: 20 }, (_, i) => i + 1), 32767, 32768, 40_000, 2 ** 40];
const DEVICES = IDS.length;
/** The address, vlan and vendor of a device in the devices table ('' and 0: not there, as after retention). */
const deviceRow = (id: number) => {
  const i = IDS.indexOf(id);
  return i < DEVICES - 1 ? [`10.0.0.${i + 1}`, (i + 1) % 3, (i + 1) % 2 ? 'Siemens' : null] : ['', 0, null];
};

function randomFlows(n: number, seed: number): TestFlow[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const flows: TestFlow[] = [];
  for (let i = 0; i < n; i++) {
    let first = T0 + BigInt(Math.floor(r() * 8 * 3600)) * 1_000_000_000n + BigInt(Math.floor(r() * 1e9));
    if (r() < 0.05) first = (first / MIN) * MIN; // on a minute boundary
    const kind = r();
    const d =
      kind < 0.2 ? 0n : kind < 0.3 ? BigInt(1 + Math.floor(r() * 5)) * MIN - (first % MIN) : kind < 0.6 ? BigInt(Math.floor(r() * 120e9)) : BigInt(Math.floor(r() * 3 * 3600e9));
    const src = IDS[Math.floor(r() * DEVICES)];
    const dst = r() < 0.05 ? src : IDS[Math.floor(r() * DEVICES)];
    const l2 = r() < 0.1;
    flows.push({
      id: i + 1, firstNs: first, lastNs: first + d,
      fwdBytes: Math.floor(r() * 1e6), revBytes: r() < 0.3 ? 0 : Math.floor(r() * 1e5), fwdPackets: 1 + Math.floor(r() * 1000), revPackets: Math.floor(r() * 100),
      srcDevice: src, dstDevice: dst, service: r() < 0.3 ? pick(['modbus', 'http', 'dns', 'goose']) : null,
      ipVersion: l2 ? 0 : pick([4, 6]), etherType: l2 ? pick([0x0806, 0x88b8, 0x88cc]) : 0x0800, protocol: l2 ? 0 : pick([6, 17, 132, 1, 47]),
      serverIsDst: r() < 0.7 ? 1 : 0, srcPort: pick([0, 1024, 40000, 502]), dstPort: pick([0, 80, 443, 502, 53]),
    });
  }
  return flows;
}

/** The service text, written out again (not serviceKey()). */
const serviceOf = (f: TestFlow) =>
  f.service ?? (f.ipVersion === 0 ? `eth/${f.etherType}` : `${({ 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, string>)[f.protocol] ?? f.protocol}/${f.serverIsDst ? f.dstPort : f.srcPort}`);

const rollupFlow = (f: TestFlow): RollupFlow => ({
  firstNs: f.firstNs, lastNs: f.lastNs, bytes: f.fwdBytes + f.revBytes, packets: f.fwdPackets + f.revPackets, srcDevice: f.srcDevice, dstDevice: f.dstDevice,
  service: serviceKey(f.service, f.ipVersion, f.etherType, f.protocol, f.serverIsDst, f.srcPort, f.dstPort),
});

/** A database with the roll-up tables and the flows and devices columns they read (plain better-sqlite3, until the store has them). */
function rollupDb(flows: TestFlow[] = []): Database.Database {
  const db = new Database(':memory:');
  db.exec(ROLLUP_SCHEMA + ALL_INDEX_SCHEMA);
  db.exec(`CREATE TABLE devices (id INTEGER PRIMARY KEY, addr BLOB NOT NULL, vlan INTEGER NOT NULL, vendor TEXT);
    CREATE TABLE flows (id INTEGER PRIMARY KEY, first_ns INTEGER, last_ns INTEGER, fwd_bytes INTEGER, rev_bytes INTEGER, fwd_packets INTEGER,
      rev_packets INTEGER, src_device INTEGER, dst_device INTEGER, service TEXT, ip_version INTEGER, ether_type INTEGER, protocol INTEGER,
      server_is_dst INTEGER, src_port INTEGER, dst_port INTEGER)`);
  const dev = db.prepare('INSERT INTO devices VALUES (?, ?, ?, ?)');
  for (let i = 0; i < DEVICES - 1; i++) dev.run(IDS[i], Buffer.from([10, 0, 0, i + 1]), (i + 1) % 3, (i + 1) % 2 ? 'Siemens' : null); // the last: deleted since
  const ins = db.prepare('INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const f of flows)
      ins.run(f.id, f.firstNs, f.lastNs, f.fwdBytes, f.revBytes, f.fwdPackets, f.revPackets, f.srcDevice, f.dstDevice, f.service, f.ipVersion, f.etherType,
        f.protocol, f.serverIsDst, f.srcPort, f.dstPort);
  })();
  return db;
}

/** One flow's share of a minute: [minute start ms, bytes, packets, flows]. */
type Share = [t: number, bytes: number, packets: number, flows: number];

/** A flow's minute shares by direct computation of each minute's overlap (independent of the module). */
function shares(f: TestFlow): Share[] {
  const bytes = BigInt(f.fwdBytes + f.revBytes);
  const packets = BigInt(f.fwdPackets + f.revPackets);
  const m0 = f.firstNs / MIN;
  const m1 = f.lastNs / MIN;
  const d = f.lastNs - f.firstNs;
  if (d <= 0n || m1 - m0 + 1n > 10_080n) return [[Number(m0) * MINUTE_MS, Number(bytes), Number(packets), 1]];
  const out: Share[] = [];
  for (let m = m0; m <= m1; m++) {
    const lo = m * MIN > f.firstNs ? m * MIN : f.firstNs;
    const hi = (m + 1n) * MIN < f.lastNs ? (m + 1n) * MIN : f.lastNs;
    const part = (v: bigint) => (v * (hi - f.firstNs)) / d - (v * (lo - f.firstNs)) / d;
    const s: Share = [Number(m) * MINUTE_MS, Number(part(bytes)), Number(part(packets)), m === m0 ? 1 : 0];
    if (s[1] || s[2] || s[3]) out.push(s);
  }
  return out;
}

/** Rows per table as 'res|t|key' -> [bytes, packets, flows], summed from the flows' shares. */
type Rows = Map<string, [number, number, number]>;
type Tables = { traffic: Rows; talkers: Rows; conversations: Rows; services: Rows };

function bruteForce(flows: TestFlow[]): Tables {
  const tables: Tables = { traffic: new Map(), talkers: new Map(), conversations: new Map(), services: new Map() };
  const add = (m: Rows, k: string, s: Share) => {
    const v = m.get(k) ?? [0, 0, 0];
    m.set(k, [v[0] + s[1], v[1] + s[2], v[2] + s[3]]);
  };
  for (const f of flows) {
    for (const s of shares(f)) {
      // minute, hour, and the ALL rows (res 0, t 0: everything)
      for (const [res, t] of [[MINUTE_MS, s[0]], [HOUR_MS, Math.floor(s[0] / HOUR_MS) * HOUR_MS], [0, 0]]) {
        add(tables.traffic, `${res}|${t}`, s);
        add(tables.talkers, `${res}|${t}|${f.srcDevice}`, s);
        if (f.dstDevice !== f.srcDevice) add(tables.talkers, `${res}|${t}|${f.dstDevice}`, s);
        add(tables.conversations, `${res}|${t}|${Math.min(f.srcDevice, f.dstDevice)}|${Math.max(f.srcDevice, f.dstDevice)}`, s);
        add(tables.services, `${res}|${t}|${serviceOf(f)}`, s);
      }
    }
  }
  return tables;
}

function dump(db: Database.Database): Tables {
  const read = (table: string, keys: string) => {
    const m: Rows = new Map();
    for (const r of db.prepare(`SELECT res, t, ${keys ? `${keys}, ` : ''}bytes, packets, flows FROM ${table}`).raw().all() as unknown[][])
      m.set(r.slice(0, -3).join('|'), r.slice(-3) as [number, number, number]);
    return m;
  };
  return {
    traffic: read('rollup_traffic', ''), talkers: read('rollup_talkers', 'device'), conversations: read('rollup_conversations', 'a, b'),
    services: read('rollup_services', 'service'),
  };
}

/** `tables` with their ALL rows (res 0) recomputed from their hour rows. */
function allOf(tables: Tables): Tables {
  const out = {} as Tables;
  for (const [name, rows] of Object.entries(tables) as [keyof Tables, Rows][]) {
    const m: Rows = new Map([...rows].filter(([k]) => !k.startsWith('0|')));
    for (const [k, v] of rows) {
      if (!k.startsWith(`${HOUR_MS}|`)) continue;
      const key = ['0', '0', ...k.split('|').slice(2)].join('|');
      const w = m.get(key) ?? [0, 0, 0];
      m.set(key, [w[0] + v[0], w[1] + v[1], w[2] + v[2]]);
    }
    out[name] = m;
  }
  return out;
}

/** The rows that differ between two sets of tables (the first 10): [] when equal. */
function differences(got: Tables, want: Tables): string[] {
  const out: string[] = [];
  for (const name of Object.keys(want) as (keyof Tables)[]) {
    for (const k of new Set([...got[name].keys(), ...want[name].keys()])) {
      const [g, w] = [JSON.stringify(got[name].get(k)), JSON.stringify(want[name].get(k))];
      if (g !== w && out.length < 10) out.push(`${name} ${k}: ${g} instead of ${w}`);
    }
  }
  return out;
}

/** Adds the flows in random batches, one flush each. */
function feed(db: Database.Database, flows: TestFlow[], sign: 1 | -1, seed: number): void {
  const r = rng(seed);
  const acc = new RollupAccumulator();
  for (const f of flows) {
    acc.add(rollupFlow(f), sign);
    if (r() < 0.01) acc.flush(db);
  }
  acc.flush(db);
}

describe('RollupAccumulator', () => {
  const flows = randomFlows(4000, 7);
  // plus a flow of damaged timestamps: more than a week
  flows.push({ ...flows[0], id: flows.length + 1, lastNs: flows[0].firstNs + 10_081n * MIN, fwdBytes: 123_456 });

  it('flushed rows equal the brute-force sums, minute and hour rows; removal (sign -1) takes them back to empty', () => {
    const db = rollupDb();
    feed(db, flows, 1, 1);
    const want = bruteForce(flows);
    expect(want.traffic.size).toBeGreaterThan(400);
    expect(differences(dump(db), want)).toEqual([]);
    // take out half, in another order and other batches: the other half is left
    const r = rng(9);
    const order = [...flows].sort(() => r() - 0.5);
    const gone = order.slice(0, 2000);
    feed(db, gone, -1, 2);
    expect(differences(dump(db), bruteForce(order.slice(2000)))).toEqual([]);
    feed(db, order.slice(2000), -1, 3);
    for (const t of ['rollup_traffic', 'rollup_talkers', 'rollup_conversations', 'rollup_services'])
      expect(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get(), t).toBe(0);
    db.close();
  });

  it('clear() forgets; a flush of nothing writes nothing; flush() counts the rows it wrote', () => {
    const db = rollupDb();
    const acc = new RollupAccumulator();
    acc.add(rollupFlow(flows[1]));
    expect(acc.flows).toBe(1);
    acc.clear();
    expect(acc.flush(db)).toBe(0);
    expect(db.prepare('SELECT count(*) FROM rollup_traffic').pluck().get()).toBe(0);
    const f = { ...flows[1], lastNs: flows[1].firstNs, srcDevice: 1, dstDevice: 2, service: 'x' };
    acc.add(rollupFlow(f));
    expect(acc.flush(db)).toBe(3 * (1 + 2 + 1 + 1)); // minute, hour and ALL: traffic, two talkers, a conversation, a service
    db.close();
  });

  it('rebuildRollups() from the flows (services by SERVICE_KEY_SQL) equals the accumulator fed in JS; serviceKey() equals SERVICE_KEY_SQL', () => {
    const db = rollupDb(flows);
    feed(db, flows, 1, 4);
    const fed = dump(db);
    expect(fed.talkers.size).toBeGreaterThan(1000);
    const progress: number[] = [];
    const n = rebuildRollups(db, { chunk: 700, onProgress: (x) => progress.push(x) });
    expect(n.flows).toBe(flows.length);
    expect(progress.at(-1)).toBe(flows.length);
    expect(progress.length).toBe(Math.ceil(flows.length / 700) + (flows.length % 700 === 0 ? 1 : 0));
    expect(differences(dump(db), fed)).toEqual([]);
    const sql = db.prepare(`SELECT id, ${SERVICE_KEY_SQL} FROM flows ORDER BY id`).raw().all() as [number, string][];
    expect(sql.map(([, s]) => s)).toEqual(flows.map((f) => serviceKey(f.service, f.ipVersion, f.etherType, f.protocol, f.serverIsDst, f.srcPort, f.dstPort)));
    expect(sql.map(([, s]) => s)).toEqual(flows.map(serviceOf));
    expect(sql.some(([, s]) => s.startsWith('eth/')) && sql.some(([, s]) => s.startsWith('47/'))).toBe(true);
    db.close();
  });

  it('replayRollups() adds (or takes out) the flows of an id range, as a writer catching up after a crash would', () => {
    const db = rollupDb(flows);
    feed(db, flows.slice(0, 1500), 1, 7); // flushed before the "crash"; flows 1501.. were committed but not flushed
    expect(replayRollups(db, 1501, undefined, { chunk: 333 }).flows).toBe(flows.length - 1500);
    expect(differences(dump(db), bruteForce(flows))).toEqual([]);
    expect(replayRollups(db, 1001, 3000, { sign: -1 }).flows).toBe(2000);
    expect(differences(dump(db), bruteForce([...flows.slice(0, 1000), ...flows.slice(3000)]))).toEqual([]);
    expect(() => replayRollups(db, 1.5)).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => rebuildRollups(db, { chunk: 0 })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(db.prepare('SELECT count(*) FROM rollup_talkers').pluck().get()).toBeGreaterThan(0); // a refused rebuild deleted nothing
    db.close();
  });

  it('a removal after retention lowers the rows that are left and recreates none', () => {
    const db = rollupDb();
    feed(db, flows, 1, 5);
    const cut = Number(T0 / 1_000_000n) + 4 * HOUR_MS;
    const deleted = retainRollups(db, { minuteBeforeMs: cut + 17 * MINUTE_MS, hourBeforeMs: cut - 2 * HOUR_MS }, 100);
    expect(deleted).toBeGreaterThan(0);
    expect(db.prepare('SELECT count(*) FROM rollup_talkers WHERE res = 60000 AND t < ?').pluck().get(cut)).toBe(0);
    expect(db.prepare('SELECT count(*) FROM rollup_talkers WHERE res = 60000 AND t >= ? AND t < ?').pluck().get(cut, cut + HOUR_MS)).toBeGreaterThan(0);
    expect(db.prepare('SELECT count(*) FROM rollup_services WHERE res = 3600000 AND t < ?').pluck().get(cut - 2 * HOUR_MS)).toBe(0);
    const left = dump(db);
    // the ALL rows sum the hour rows retention left (res 0 is marked with the hour cutoff)
    expect(differences(allOf(left), left)).toEqual([]);
    expect(db.prepare('SELECT before_ms FROM rollup_retained WHERE res = 0').pluck().get()).toBe(cut - 2 * HOUR_MS);
    feed(db, flows, -1, 6);
    const after = dump(db);
    for (const [name, rows] of Object.entries(after)) {
      for (const k of rows.keys()) expect(left[name as keyof Tables].has(k), `${name} ${k} recreated`).toBe(true);
    }
    expect(after.traffic.size).toBe(0);
    db.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Analytics over the roll-ups

interface Ranked {
  key: string;
  bytes: number;
  packets: number;
  flows: number;
}

/**
 * What a range reads, by the documented rule, from the flows' minute shares:
 * minutes whose start lies in [floor(from to the minute), to] and whose hour
 * still has minute rows; for hours whose minute rows are gone (and whose hour
 * row is kept), the whole hour when its start lies in the range.
 */
function selected(flows: TestFlow[], from: number, to: number, minuteCut: number, hourCut: number): { t: number; f: TestFlow; s: Share }[] {
  const lo = Math.floor(from / MINUTE_MS) * MINUTE_MS;
  const out: { t: number; f: TestFlow; s: Share }[] = [];
  for (const f of flows) {
    for (const s of shares(f)) {
      const h = Math.floor(s[0] / HOUR_MS) * HOUR_MS;
      if (h >= minuteCut) {
        if (s[0] >= lo && s[0] <= to) out.push({ t: s[0], f, s });
      } else if (h >= hourCut && h >= lo && h <= to) out.push({ t: h, f, s });
    }
  }
  return out;
}

function rank(sel: { f: TestFlow; s: Share }[], keys: (f: TestFlow) => string[], by: 'bytes' | 'packets' | 'flows', cmp: (a: string, b: string) => number): Ranked[] {
  const m = new Map<string, Ranked>();
  for (const { f, s } of sel) {
    for (const key of keys(f)) {
      const v = m.get(key) ?? { key, bytes: 0, packets: 0, flows: 0 };
      v.bytes += s[1];
      v.packets += s[2];
      v.flows += s[3];
      m.set(key, v);
    }
  }
  return [...m.values()].sort((a, b) => b[by] - a[by] || cmp(a.key, b.key));
}

describe('Analytics from the roll-ups', () => {
  const flows = randomFlows(3000, 11);
  const t0 = Number(T0 / 1_000_000n);
  const ranges: [number, number][] = [
    [0, 9_223_372_036_854], [t0, t0 + 24 * HOUR_MS], [t0 + HOUR_MS, t0 + 3 * HOUR_MS - 1], [t0 + HOUR_MS, t0 + 3 * HOUR_MS], [t0 + HOUR_MS, t0 + 3 * HOUR_MS - MINUTE_MS],
    [t0 + 17 * MINUTE_MS + 5, t0 + 5 * HOUR_MS + 3 * MINUTE_MS], [t0 + 2 * HOUR_MS + 10 * MINUTE_MS, t0 + 2 * HOUR_MS + 20 * MINUTE_MS],
    [t0 + 90 * MINUTE_MS, t0 + 150 * MINUTE_MS], [t0 + 5 * HOUR_MS, t0 + HOUR_MS], [t0 + 3 * HOUR_MS + 59_999, t0 + 3 * HOUR_MS + 60_000],
  ];
  const r = rng(12);
  for (let i = 0; i < 25; i++) {
    const a = t0 - HOUR_MS + Math.floor(r() * 14 * HOUR_MS);
    ranges.push([a, a + Math.floor(r() * 6 * HOUR_MS)]);
  }

  const check = (db: Database.Database, minuteCut: number, hourCut: number) => {
    const a = new Analytics(db, new QueryTimer(new Metrics(), 1000));
    const wrong: string[] = [];
    const num = (x: string, y: string) => Number(x) - Number(y);
    const pair = (x: string, y: string) => num(x.split(',')[0], y.split(',')[0]) || num(x.split(',')[1], y.split(',')[1]);
    const text = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    const shape = (rs: Ranked[]) => rs.map((x) => [x.key, x.bytes, x.packets, x.flows]);
    let nonEmpty = 0;
    for (const [from, to] of ranges) {
      const sel = selected(flows, from, to, minuteCut, hourCut);
      if (sel.length) nonEmpty++;
      for (const by of ['bytes', 'packets', 'flows'] as const) {
        const req = { from, to, by, limit: 10_000 };
        const what = `${from - t0}..${to - t0} by ${by}`;
        const talkers = a.topTalkers(req);
        const wantTalkers = rank(sel, (f) => (f.srcDevice === f.dstDevice ? [String(f.srcDevice)] : [String(f.srcDevice), String(f.dstDevice)]), by, num);
        if (JSON.stringify(shape(talkers.map((x) => ({ key: String(x.device), ...x })))) !== JSON.stringify(shape(wantTalkers))) wrong.push(`talkers ${what}`);
        for (const x of talkers) {
          if (JSON.stringify([x.addr, x.vlan, x.vendor]) !== JSON.stringify(deviceRow(x.device))) wrong.push(`talker ${x.device} ${JSON.stringify(x)}`);
        }
        const conv = a.topConversations(req);
        const wantConv = rank(sel, (f) => [`${Math.min(f.srcDevice, f.dstDevice)},${Math.max(f.srcDevice, f.dstDevice)}`], by, pair);
        if (JSON.stringify(shape(conv.map((x) => ({ key: `${x.aDevice},${x.bDevice}`, ...x })))) !== JSON.stringify(shape(wantConv))) wrong.push(`conversations ${what}`);
        if (conv.some((x) => x.a !== deviceRow(x.aDevice)[0] || x.b !== deviceRow(x.bDevice)[0])) wrong.push(`conversation addresses ${what}`);
        const services = a.topServices(req);
        if (JSON.stringify(shape(services.map((x) => ({ key: x.service, ...x })))) !== JSON.stringify(shape(rank(sel, (f) => [serviceOf(f)], by, text)))) wrong.push(`services ${what}`);
        // a limit takes the first rows of the same ranking
        if (JSON.stringify(a.topServices({ ...req, limit: 3 })) !== JSON.stringify(services.slice(0, 3))) wrong.push(`services limit 3 ${what}`);
      }
      for (const bucketMs of [MINUTE_MS, 5 * MINUTE_MS, HOUR_MS, 90 * MINUTE_MS, 2 * HOUR_MS, 86_400_000]) {
        const buckets = new Map<number, [number, number, number]>();
        for (const { t, s } of sel) {
          const b = Math.floor(t / bucketMs) * bucketMs;
          const v = buckets.get(b) ?? [0, 0, 0];
          buckets.set(b, [v[0] + s[1], v[1] + s[2], v[2] + s[3]]);
        }
        const want = [...buckets].sort((x, y) => x[0] - y[0]).map(([t, v]) => [t, ...v]);
        const got = a.timeline({ from, to, bucketMs }).map((x) => [x.t, x.bytes, x.packets, x.flows]);
        if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`timeline ${from - t0}..${to - t0} ${bucketMs}`);
      }
    }
    // without from and to: everything stored, read from the ALL rows; the same as the widest range
    for (const by of ['bytes', 'packets', 'flows'] as const) {
      const widest = { from: 0, to: 9_223_372_036_854, by, limit: 10_000 };
      for (const kind of ['topTalkers', 'topConversations', 'topServices'] as const)
        if (JSON.stringify(a[kind]({ by, limit: 10_000 })) !== JSON.stringify(a[kind](widest))) wrong.push(`${kind} of everything by ${by}`);
      if (JSON.stringify(a.topTalkers({ by, limit: 4 })) !== JSON.stringify(a.topTalkers(widest).slice(0, 4))) wrong.push(`topTalkers of everything, limit 4, by ${by}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(nonEmpty).toBeGreaterThan(25);
  };

  it('top talkers, conversations, services and timelines equal brute-force aggregates, ranges aligned to hours or not', () => {
    const db = rollupDb(flows);
    rebuildRollups(db);
    check(db, 0, 0);
    db.close();
  });

  it('the same after retention has aged minute rows (and the oldest hour rows) out', () => {
    const db = rollupDb(flows);
    rebuildRollups(db);
    const minuteBeforeMs = t0 + 3 * HOUR_MS + 25 * MINUTE_MS; // minute rows go by whole hours: those before t0 + 3 h
    const hourBeforeMs = t0 + HOUR_MS + 59 * MINUTE_MS; // hour rows before t0 + 1 h
    expect(retainRollups(db, { minuteBeforeMs, hourBeforeMs })).toBeGreaterThan(0);
    check(db, t0 + 3 * HOUR_MS, t0 + HOUR_MS);
    // cutoffs only move forward
    retainRollups(db, { minuteBeforeMs: t0, hourBeforeMs: t0 });
    expect(db.prepare('SELECT res, before_ms FROM rollup_retained ORDER BY res').raw().all()).toEqual([[0, t0 + HOUR_MS], [MINUTE_MS, t0 + 3 * HOUR_MS], [HOUR_MS, t0 + HOUR_MS]]);
    db.close();
  });

  it('a 24-hour range reads at most 24 hour rows and 60 minute rows per key, and the queries read what the plan says', () => {
    const count = ([lo, hi]: [number, number], unit: number) => (lo > hi ? 0 : Math.floor(hi / unit) - Math.ceil(lo / unit) + 1);
    const rows = (p: ReturnType<typeof rangePlan>) => ({
      hours: count(p.hours, HOUR_MS),
      minutes: [...p.minutes, ...p.minus].reduce((n, iv) => n + count(iv, MINUTE_MS), 0),
      net: p.minutes.reduce((n, iv) => n + count(iv, MINUTE_MS), 0) - p.minus.reduce((n, iv) => n + count(iv, MINUTE_MS), 0),
    });
    const t = t0 + 17 * MINUTE_MS;
    expect(rows(rangePlan(t, t + 24 * HOUR_MS - 1, 0))).toEqual({ hours: 24, minutes: 34, net: 17 - 17 });
    expect(rows(rangePlan(t0, t0 + 24 * HOUR_MS - 1, 0))).toEqual({ hours: 24, minutes: 0, net: 0 });
    expect(rows(rangePlan(t, t + 24 * HOUR_MS - 1, 0, true, false))).toEqual({ hours: 23, minutes: 60, net: 60 });
    const r = rng(5);
    let most = { hours: 0, minutes: 0 };
    for (let i = 0; i < 20_000; i++) {
      const from = t0 + Math.floor(r() * 48 * HOUR_MS);
      const to = from + Math.floor(r() * 24 * HOUR_MS);
      const x = rows(rangePlan(from, to, 0));
      most = { hours: Math.max(most.hours, x.hours), minutes: Math.max(most.minutes, x.minutes) };
      // the minutes net of the subtracted ones and the hours cover exactly the range's minutes
      expect(x.net + 60 * x.hours, `${from} ${to}`).toBe(Math.floor(to / MINUTE_MS) - Math.floor(from / MINUTE_MS) + 1);
    }
    expect(most).toEqual({ hours: 24, minutes: 60 });
    // a sentinel service with rows that are not sums of each other: 1 per minute row, 10^6 per hour row, shows what a query reads
    const db = rollupDb();
    const ins = db.prepare("INSERT INTO rollup_services VALUES (?, ?, 'sentinel', ?, 0, 0)");
    for (let m = 0; m < 30 * 60; m++) ins.run(MINUTE_MS, t0 + m * MINUTE_MS, 1);
    for (let h = 0; h < 30; h++) ins.run(HOUR_MS, t0 + h * HOUR_MS, 1_000_000);
    const a = new Analytics(db, new QueryTimer(new Metrics(), 1000));
    for (let i = 0; i < 300; i++) {
      const from = t0 + Math.floor(r() * 4 * HOUR_MS);
      const to = from + Math.floor(r() * 24 * HOUR_MS);
      const x = rows(rangePlan(from, to, 0));
      const got = a.topServices({ from, to }).find((s) => s.service === 'sentinel')?.bytes;
      expect(got, `${from - t0} ${to - t0}`).toBe(x.hours * 1_000_000 + x.net);
    }
    db.close();
  });

  it('validates by, limit, from/to and bucketMs (a multiple of a minute) with ERR_INVALID_OPTION', () => {
    const db = rollupDb();
    const a = new Analytics(db, new QueryTimer(new Metrics(), 1000));
    const invalid = expect.objectContaining({ code: 'ERR_INVALID_OPTION' });
    for (const bucketMs of [0, 1000, 90_000, 60_001, 1.5, -60_000]) expect(() => a.timeline({ bucketMs }), String(bucketMs)).toThrowError(invalid);
    expect(() => a.topTalkers({ by: 'constructor' as never })).toThrowError(invalid);
    expect(() => a.topConversations({ limit: 0 })).toThrowError(invalid);
    expect(() => a.topServices({ from: -1 })).toThrowError(invalid);
    expect(() => a.topServices({ to: 9_300_000_000_000 })).toThrowError(invalid);
    expect(a.timeline({ bucketMs: 120_000 })).toEqual([]);
    db.close();
  });
});

// ---------------------------------------------------------------------------------------------
// flowmaster timeline

describe('flowmaster timeline', () => {
  const run = promisify(execFile);
  const root = path.resolve(__dirname, '..');
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), ...args], { cwd: root });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  /** A store file with flows and their roll-ups (built here with rebuildRollups(): the store's ingest may not fill them yet). */
  function storeWithRollups(flows: TestFlow[]): string {
    const file = tmpFile('rollups.db');
    const store = openStore(file);
    const db = store.db;
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'rollup_traffic'").get()) db.exec(ROLLUP_SCHEMA);
    db.prepare("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('synthetic', 'file', 'test', 'native', 0)").run();
    const dev = db.prepare('INSERT INTO devices (id, addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, ?, 0, 0, 0)');
    IDS.forEach((id, i) => dev.run(id, Buffer.from([10, 0, 0, i + 1])));
    store.appendFlows(
      flows.map((f) => ({
        source_id: 1, flow_id: f.id, segment: 0, first_ns: f.firstNs, last_ns: f.lastNs, end_reason: 1, ip_version: f.ipVersion, protocol: f.protocol,
        ether_type: f.etherType, vlan: 0, src_addr: Buffer.from([10, 0, 0, IDS.indexOf(f.srcDevice) + 1]), dst_addr: Buffer.from([10, 0, 0, IDS.indexOf(f.dstDevice) + 1]),
        src_port: f.srcPort, dst_port: f.dstPort, src_device: f.srcDevice, dst_device: f.dstDevice, fwd_packets: f.fwdPackets, fwd_bytes: f.fwdBytes,
        rev_packets: f.revPackets, rev_bytes: f.revBytes, fwd_tcp_flags: 0, rev_tcp_flags: 0, flags: 0, service: f.service, server_is_dst: f.serverIsDst,
      })),
    );
    rebuildRollups(db);
    store.close();
    return file;
  }

  const flows = randomFlows(500, 21);
  const t0 = Number(T0 / 1_000_000n);

  it('prints traffic per bucket as jsonl, csv or a table, for --from/--to', async () => {
    const db = storeWithRollups(flows);
    const from = t0 + 30 * MINUTE_MS;
    const to = t0 + 5 * HOUR_MS + 10 * MINUTE_MS;
    const buckets = new Map<number, number[]>();
    for (const { t, s } of selected(flows, from, to, 0, 0)) {
      const b = Math.floor(t / HOUR_MS) * HOUR_MS;
      const v = buckets.get(b) ?? [0, 0, 0];
      buckets.set(b, [v[0] + s[1], v[1] + s[2], v[2] + s[3]]);
    }
    const want = [...buckets].sort((x, y) => x[0] - y[0]).map(([t, [bytes, packets, n]]) => ({ t, bytes, packets, flows: n }));
    expect(want.length).toBe(6);
    const iso = (ms: number) => new Date(ms).toISOString();
    const args = ['timeline', '--db', db, '--bucket', '1h', '--from', iso(from), '--to', String(to)];
    const jsonl = await cli(...args, '--format', 'jsonl');
    expect(jsonl.stderr).toBe('');
    expect(jsonl.code).toBe(0);
    expect(jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(want.map((w) => ({ ...w, time: iso(w.t) })));
    const csv = await cli(...args, '--format', 'csv');
    expect(csv.stdout.trim().split('\n')).toEqual(['t,time,bytes,packets,flows', ...want.map((w) => `${w.t},${iso(w.t)},${w.bytes},${w.packets},${w.flows}`)]);
    const table = await cli(...args, '--format', 'table');
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^time \(UTC\)\s+bytes\s+packets\s+flows$/);
    expect(lines.slice(-want.length).map((l) => l.trim().split(/\s{2,}/))).toEqual(
      want.map((w) => [iso(w.t).replace('T', ' ').replace('Z', ''), String(w.bytes), String(w.packets), String(w.flows)]),
    );
    // not a terminal: jsonl; the default bucket is an hour
    expect((await cli('timeline', '--db', db, '--from', iso(from), '--to', String(to))).stdout).toBe(jsonl.stdout);
    const fiveMin = await cli('timeline', '--db', db, '--bucket', '5m', '--format', 'jsonl');
    const rows = fiveMin.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.every((x) => x.t % (5 * MINUTE_MS) === 0)).toBe(true);
    expect(rows.reduce((n, x) => n + x.flows, 0)).toBe(flows.length);
  });

  it('a bad --bucket is one coded line on stderr, exit 2', async () => {
    const db = storeWithRollups(flows.slice(0, 10));
    for (const bucket of ['90s', '0m', '1x', 'm', '1.5h']) {
      const r = await cli('timeline', '--db', db, '--bucket', bucket);
      expect(r.code, bucket).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), bucket).toHaveLength(1);
      expect(r.stderr, bucket).toMatch(/^flowmaster: .*--bucket.* \[ERR_INVALID_OPTION\]\n$/);
    }
    const bad = await cli('timeline', '--db', db, '--format', 'xml');
    expect(bad.code).toBe(2);
  });
});

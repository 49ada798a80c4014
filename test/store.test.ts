/** The SQLite store: ingest, devices through the cache, services, batching, migrations, crash safety. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FlowMeter, migrate, openStore, type FlowObject, type Store } from '../src/index';
import { wrongDevices } from './helpers/store-checks';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/schema';
import { tmpFile } from './helpers/capture';
import { corpusFiles, corpusMissing, corpusPresent } from './helpers/corpus';
import { readAll, TEST_ENGINE } from './helpers/read';
import { skipping } from './helpers/skip';

// @ts-expect-error plain ESM helper without type declarations
const genPcap = () => import('../scripts/gen-pcap.mjs');

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function addrHex(f: FlowObject, side: 'src' | 'dst'): string {
  const a = side === 'src' ? f.src : f.dst;
  if (f.l2) return a.replace(/:/g, '');
  if (f.ipVersion === 4) return Buffer.from(a.split('.').map(Number)).toString('hex');
  return ''; // IPv6 compared through the device rows' own bytes below
}

describe.skipIf(skipping(corpusMissing, 'ingest the corpus'))('ingest the corpus', () => {
  for (const { name, path: file, oracle } of corpusFiles()) {
    if (!oracle.readable) continue;
    for (const onDisk of [false, true]) {
      it(`${name} (${onDisk ? 'file' : ':memory:'})`, async () => {
        const want = await readAll(file);
        const store = openStore(onDisk ? tmpFile(`${name}.db`) : ':memory:');
        let error: unknown;
        try {
          await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(file));
        } catch (e) {
          error = e;
        }
        expect(Boolean(error)).toBe(Boolean(want.error));
        const rows = store.db
          .prepare(
            `SELECT flow_id, segment, first_ns, last_ns, protocol, src_port, dst_port, fwd_packets, fwd_bytes, rev_packets, rev_bytes,
               hex(src_addr) s, hex(dst_addr) d FROM flows ORDER BY flow_id, segment`,
          )
          .safeIntegers(true) // ns timestamps need all 64 bits
          .all()
          .map((r) => Object.fromEntries(Object.entries(r as object).map(([k, v]) => [k, typeof v === 'bigint' && !k.endsWith('_ns') ? Number(v) : v])));
        const flows = [...want.flows].sort((a, b) => a.flowId - b.flowId || a.segment - b.segment);
        expect(rows.length).toBe(flows.length);
        rows.forEach((r, i) => {
          const f = flows[i];
          const int64 = (ns: string) => (BigInt(ns) > (1n << 63n) - 1n ? String((1n << 63n) - 1n) : ns); // SQLite's range
          expect([r.flow_id, r.segment, String(r.first_ns), String(r.last_ns), r.protocol, r.src_port, r.dst_port]).toEqual([
            f.flowId, f.segment, int64(f.firstNs), int64(f.lastNs), f.protocol, f.srcPort, f.dstPort,
          ]);
          expect([r.fwd_packets, r.fwd_bytes, r.rev_packets, r.rev_bytes]).toEqual([f.fwdPackets, f.fwdBytes, f.revPackets, f.revBytes]);
          if (f.l2 || f.ipVersion === 4) expect([String(r.s).toLowerCase(), String(r.d).toLowerCase()]).toEqual([addrHex(f, 'src'), addrHex(f, 'dst')]);
        });
        // devices: exactly the distinct (address, vlan) endpoints of the flows, but broadcast and multicast MACs (the group bit)
        const endpoints = new Set<string>();
        const group = (hex: string) => hex.length === 12 && (parseInt(hex.slice(0, 2), 16) & 1) === 1;
        let groupEnds = 0;
        let groupFlows = 0;
        for (const r of store.db.prepare('SELECT hex(src_addr) s, hex(dst_addr) d, vlan FROM flows').all() as { s: string; d: string; vlan: number }[]) {
          if (group(r.s) || group(r.d)) groupFlows++;
          for (const a of [r.s, r.d]) {
            if (group(a)) groupEnds++;
            else endpoints.add(`${r.vlan}/${a}`);
          }
        }
        // ... and the IPv4 hosts ARP bound to a MAC (the target only when its MAC is unicast)
        const ipHex = (ip: string) => Buffer.from(ip.split('.').map(Number)).toString('hex').toUpperCase();
        for (const f of want.flows) {
          if (f.arpSrcIp) endpoints.add(`${f.vlan}/${ipHex(f.arpSrcIp)}`);
          const unicast = !(parseInt(f.dst.slice(0, 2), 16) & 1) && f.dst !== '00:00:00:00:00:00';
          if (f.arpDstIp && unicast) endpoints.add(`${f.vlan}/${ipHex(f.arpDstIp)}`);
        }
        const devices = (store.db.prepare('SELECT vlan, hex(addr) a FROM devices').all() as { vlan: number; a: string }[]).map((d) => `${d.vlan}/${d.a}`);
        expect(new Set(devices)).toEqual(endpoints);
        expect(devices.length).toBe(endpoints.size);
        // every flow points at its devices, and the device counters add up
        expect(store.db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
        const sum = store.db.prepare('SELECT sum(flows) n FROM devices').get() as { n: number | null }; // ARP bindings add no flows
        expect(sum.n ?? 0).toBe(2 * flows.length - groupEnds);
        // a group MAC's flows name device 0
        expect(store.db.prepare('SELECT count(*) FROM flows WHERE src_device = 0 OR dst_device = 0').pluck().get()).toBe(groupFlows);
        const src = store.db.prepare('SELECT packets, flows, error FROM sources').get() as { packets: number; flows: number; error: string | null };
        expect(src).toMatchObject({ packets: want.summary.packets, flows: flows.length });
        expect(src.error !== null).toBe(Boolean(want.error));
        store.close();
      });
    }
  }

  const ICS: Record<string, string> = {
    'iti__modbus_test.pcap': 'modbus',
    'iti__dnp3_test_data_part1.pcap': 'dnp3',
    'iti__s7comm_reading_plc_status.pcap': 'iso-tsap',
    'suricata-verify__enip_cip_example.pcap': 'enip',
    'ndpi__bacnet.pcap': 'bacnet',
    'ndpi__opc-ua.pcap': 'opcua',
    'nfstream__iec60780-5-104.pcap': 'iec104',
    'iti__GOOSE.pcap': 'goose',
    'iti__PROFINET-RT-DCP.pcap': 'profinet-rt',
    'iti__C37.118_1PMU_UDP.pcap': 'c37.118',
  };
  it('ICS captures produce their service names on flows and on the serving devices', async () => {
    for (const [name, service] of Object.entries(ICS)) {
      const file = corpusFiles().find((c) => c.name === name)!.path;
      const store = openStore(':memory:');
      await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(file));
      const services = (store.db.prepare('SELECT DISTINCT service FROM flows WHERE service IS NOT NULL').all() as { service: string }[]).map((r) => r.service);
      expect(services, name).toContain(service);
      const devices = store.db.prepare("SELECT device_id FROM device_services WHERE service LIKE '% ' || ?").all(service);
      expect(devices.length, name).toBeGreaterThan(0);
      store.close();
    }
  });
});

describe('store', () => {
  it('a file database: WAL, synchronous NORMAL, incremental auto-vacuum, schema version; vendors from the OUI registry', async () => {
    const dbFile = tmpFile('flows.db');
    const { generate } = await genPcap();
    const cap = tmpFile('g.pcap');
    await generate({ out: cap, packets: 20_000, flows: 500, mix: 'default', seed: 4, quiet: true });
    const store = openStore(dbFile);
    const r = await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    expect(r.flows).toBeGreaterThan(400);
    store.close();
    const db = new Database(dbFile);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect((db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n).toBe(r.flows);
    db.close();
    const again = openStore(dbFile);
    expect(again.db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    again.close();
  });

  it('migrations: a database made at version N opens and upgrades at N+1; a newer one is refused', () => {
    const dbFile = tmpFile('m.db');
    const v1 = ['CREATE TABLE a (x INTEGER);'];
    const v2 = [...v1, 'ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z INTEGER);'];
    let db = new Database(dbFile);
    expect(migrate(db, v1)).toBe(1);
    db.prepare('INSERT INTO a (x) VALUES (1)').run();
    db.close();
    db = new Database(dbFile);
    expect(migrate(db, v2)).toBe(2);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(db.prepare('SELECT x, y FROM a').all()).toEqual([{ x: 1, y: null }]);
    db.pragma('user_version = 99');
    db.close();
    expect(() => openStore(dbFile)).toThrowError(expect.objectContaining({ code: 'ERR_DB_VERSION', message: expect.stringMatching(/version 99 is newer/) }));
    const real = tmpFile('future.db');
    openStore(real).close();
    const raw = new Database(real);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openStore(real)).toThrowError(expect.objectContaining({ code: 'ERR_DB_VERSION' }));
  });

  it('migration 4: the flows of a version-3 database become partition flows_0, ids and pages kept; new flows go to new partitions', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('m4.pcap');
    await generate({ out: cap, packets: 4000, flows: 100, mix: 'default', seed: 9, quiet: true });
    const dbFile = tmpFile('m4.db');
    // a version-3 database with flows, as the previous flowmaster wrote it
    const old = new Database(dbFile);
    old.pragma('journal_mode = WAL');
    migrate(old, MIGRATIONS.slice(0, 3));
    old.exec("INSERT INTO sources (name, kind, sensor, engine, started_ms) VALUES ('old', 'file', 't', 'native', 0)");
    old.exec("INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (x'0a000001', 0, 0, 0)");
    const ins = old.prepare(`INSERT INTO flows (source_id, flow_id, segment, first_ns, last_ns, end_reason, ip_version, protocol, ether_type, vlan,
      src_addr, dst_addr, src_port, dst_port, src_device, dst_device, fwd_packets, fwd_bytes, rev_packets, rev_bytes, fwd_tcp_flags, rev_tcp_flags,
      flags, server_is_dst) VALUES (1, ?, 0, ?, ?, 1, 4, 6, 2048, 0, x'0a000001', x'0a000001', 1, 2, 1, 1, 1, ?, 0, 0, 0, 0, 0, 1)`);
    for (let i = 1; i <= 50; i++) ins.run(i, 1_600_000_000_000_000_000n + BigInt(i), 1_600_000_000_000_000_000n + BigInt(i), i * 10);
    old.close();
    expect(() => openStore(dbFile, { readonly: true })).toThrowError(expect.objectContaining({ code: 'ERR_DB_VERSION', message: expect.stringMatching(/older/) }));
    const store = openStore(dbFile);
    expect(store.partitions.list().map((p) => p.name)).toEqual(['flows_0']);
    expect(store.flows.page({ sort: 'bytes', order: 'desc', limit: 3 }).items.map((f) => [f.id, f.bytes])).toEqual([[50, 500], [49, 490], [48, 480]]);
    // migration 8 summed the old flows into the roll-ups
    expect(store.analytics.timeline({ bucketMs: 60_000 })).toEqual([{ t: 1_600_000_000_000 - (1_600_000_000_000 % 60_000), bytes: 12_750, packets: 50, flows: 50 }]);
    const r = await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    const parts = store.partitions.list();
    expect(parts.length).toBeGreaterThan(1);
    expect(parts[0].name).toBe('flows_0');
    const ids = store.db.prepare('SELECT id FROM flows ORDER BY id').pluck().all() as number[];
    expect(ids.length).toBe(50 + r.flows);
    expect(ids.slice(50)[0]).toBe(51); // the id counter continues after the old rows
    expect(new Set(ids).size).toBe(ids.length);
    const report = await store.retain({ flows: '1d', now: Date.UTC(2025, 0, 1) }); // before the generated traffic: only flows_0 goes
    expect(report).toMatchObject({ flowsDeleted: 50, partitionsDropped: 1 });
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    store.close();
  });

  it('migration 5: the services JSON of version-4 devices becomes device_services rows; the cache keeps adding to them', async () => {
    const dbFile = tmpFile('m5.db');
    const old = new Database(dbFile);
    migrate(old, MIGRATIONS.slice(0, 4));
    old.exec(`INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms, services) VALUES
      (x'0a000001', 0, 0, 0, '["tcp/502 modbus","udp/161 snmp"]'), (x'0a000002', 0, 0, 0, '[]')`);
    old.close();
    const store = openStore(dbFile);
    const rows = () => store.db.prepare('SELECT device_id, service FROM device_services ORDER BY device_id, service').raw().all();
    expect(rows()).toEqual([[1, 'tcp/502 modbus'], [1, 'udp/161 snmp']]);
    expect(store.db.prepare('SELECT * FROM devices WHERE id = 1').get()).not.toHaveProperty('services');
    expect(store.devices.page({ sort: 'first', order: 'asc' }).items.map((d) => d.services)).toEqual([['tcp/502 modbus', 'udp/161 snmp'], []]);
    const { tcp4, writePcap } = await import('./helpers/capture');
    // 10.0.0.2 answers on tcp/502; 10.0.0.1 (loaded with its two services) answers on tcp/20000
    const file = writePcap([
      { t: 0, data: tcp4('10.0.0.9', 40000, '10.0.0.2', 502, 'S') },
      { t: 1, data: tcp4('10.0.0.9', 40001, '10.0.0.1', 20000, 'S') },
    ]);
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(file));
    expect(rows()).toEqual([[1, 'tcp/20000 dnp3'], [1, 'tcp/502 modbus'], [1, 'udp/161 snmp'], [2, 'tcp/502 modbus']]);
    for (const p of store.partitions.list()) store.db.exec(`DELETE FROM ${p.name}`);
    store.db.exec('DELETE FROM devices WHERE id = 1');
    expect(rows()).toEqual([[2, 'tcp/502 modbus']]); // ON DELETE CASCADE
    store.close();
  });

  it('ARP binds IPv4 addresses to MACs, with the vendor of the OUI', async () => {
    const { P, writePcap } = await import('./helpers/capture');
    const mac = '00:1b:1b:35:84:10'; // a Siemens OUI
    const file = writePcap([
      { t: 0, data: P.ethernet({ src: mac, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806, payload: P.arp({ op: 1, senderMac: mac, senderIp: '192.168.0.10', targetIp: '192.168.0.1' }) }) },
      { t: 1, data: P.ethernet({ src: '02:00:00:00:00:01', dst: mac, type: 0x0806, payload: P.arp({ op: 2, senderMac: '02:00:00:00:00:01', senderIp: '192.168.0.1', targetMac: mac, targetIp: '192.168.0.10' }) }) },
    ]);
    const r = await readAll(file);
    expect(r.flows.map((f) => [f.arpSrcIp, f.arpDstIp])).toEqual([['192.168.0.10', '192.168.0.1'], ['192.168.0.1', '192.168.0.10']]);
    const store = openStore(':memory:');
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(file));
    const host = store.db.prepare("SELECT hex(mac) m, vendor FROM devices WHERE addr = x'c0a8000a'").get();
    expect(host).toEqual({ m: '001B1B358410', vendor: expect.stringMatching(/Siemens/i) });
    const gw = store.db.prepare("SELECT hex(mac) m, vendor FROM devices WHERE addr = x'c0a80001'").get();
    expect(gw).toEqual({ m: '020000000001', vendor: null }); // locally administered: no vendor
    store.close();
  });

  it('devices with changes held in memory stay under the cache size: a sync comes early when there are more (many hosts)', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('many-hosts.pcap');
    await generate({ out: cap, packets: 20_000, flows: 4000, mix: 'simple', seed: 4, quiet: true }); // a host per flow
    let held = 0;
    let syncs = 0;
    const store: Store = openStore(':memory:', {
      deviceCache: { max: 300 }, deviceSyncMs: 1e9, batch: { initial: 100, min: 100, max: 100 },
      afterCommit: () => {
        if (store.deviceCache.unsynced === 0) syncs++;
        held = Math.max(held, store.deviceCache.unsynced);
      },
    });
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    expect(store.db.prepare('SELECT count(*) FROM devices').pluck().get()).toBeGreaterThan(3000);
    expect(held).toBeLessThan(300 + 2 * 100); // at most a batch's two ends beyond the bound
    expect(syncs).toBeGreaterThan(5);
    expect(wrongDevices(store.db)).toEqual([]);
    store.close();
  });

  it('a small device cache gives the same database as no cache (or devices synced only at the end), and counts its hits', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('hosts.pcap');
    await generate({ out: cap, packets: 30_000, flows: 3000, mix: 'default', seed: 9, quiet: true });
    // deviceSyncMs 0: devices written with every batch, so that only the LRU holds them between batches
    const dump = async (cache: number, deviceSyncMs = 0) => {
      const store = openStore(':memory:', { deviceCache: { max: cache }, batch: { initial: 500, min: 100, max: 500 }, deviceSyncMs });
      await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
      const devices = store.db.prepare('SELECT id, hex(addr) a, vlan, hex(mac) m, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows, (SELECT group_concat(service) FROM device_services WHERE device_id = devices.id) services FROM devices ORDER BY id').all();
      const flows = store.db.prepare('SELECT src_device, dst_device, service FROM flows ORDER BY id').all();
      const counters = { ...store.deviceCache.counters };
      const metrics = (await store.metrics.metrics()) as Record<string, number>;
      store.close();
      return { devices, flows, counters, metrics };
    };
    const none = await dump(0);
    const small = await dump(64);
    const big = await dump(100_000);
    const held = await dump(64, 60_000); // counters kept in memory to the end
    expect(held.devices).toEqual(none.devices);
    expect(small.devices).toEqual(none.devices);
    expect(small.flows).toEqual(none.flows);
    expect(big.devices).toEqual(none.devices);
    expect(none.devices.length).toBeGreaterThan(1000); // far more devices than the small cache holds
    expect(small.counters.evictions).toBeGreaterThan(0);
    expect(big.counters.hits / (big.counters.hits + big.counters.misses)).toBeGreaterThan(small.counters.hits / (small.counters.hits + small.counters.misses));
    const ratio = big.counters.hits / (big.counters.hits + big.counters.misses);
    // no lifetime ratio gauge (it could not alert): the counters give it
    const { flowmaster_device_cache_hits_total: hits, flowmaster_device_cache_misses_total: misses } = big.metrics;
    expect(hits / (hits + misses)).toBeCloseTo(ratio, 6);
  });

  it('a device stored by another hand during an ingest is found, not doubled', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('complete.pcap');
    await generate({ out: cap, packets: 2000, flows: 200, mix: 'simple', seed: 5, quiet: true });
    const batch = { initial: 20, min: 20, max: 20 };
    const first = openStore(':memory:', { batch });
    await first.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    const want = first.db.prepare('SELECT hex(addr) a, vlan, flows FROM devices ORDER BY a, vlan').all() as { a: string; vlan: number }[];
    const last = first.db.prepare('SELECT addr, vlan FROM devices ORDER BY id DESC LIMIT 1').get() as { addr: Buffer; vlan: number };
    first.close();
    // after the first commit, the last device to come is stored by another hand
    let commits = 0;
    const store: Store = openStore(':memory:', {
      batch,
      afterCommit: () => {
        if (++commits === 1) store.db.prepare('INSERT INTO devices (id, addr, vlan, first_seen_ms, last_seen_ms) VALUES (1000, ?, ?, 0, 0)').run(last.addr, last.vlan);
      },
    });
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    expect(store.db.prepare('SELECT hex(addr) a, vlan, flows FROM devices ORDER BY a, vlan').all()).toEqual(want);
    expect(store.db.prepare('SELECT id FROM devices WHERE addr = ? AND vlan = ?').pluck().get(last.addr, last.vlan)).toBe(1000);
    expect(store.db.prepare('SELECT count(*) FROM flows WHERE src_device = 1000 OR dst_device = 1000').pluck().get()).toBeGreaterThan(0);
    store.close();
  });

  it('batch size adapts to commit latency; a slow store pauses the engine with bounded pending work', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('batch.pcap');
    await generate({ out: cap, packets: 60_000, flows: 20_000, mix: 'simple', seed: 2, quiet: true });
    const fast = openStore(':memory:', { batch: { initial: 256, min: 64, max: 8192, targetMs: 1000 } });
    const fr = await fast.ingest(new FlowMeter({ engine: TEST_ENGINE, batchSize: 512 }).readFile(cap));
    expect((await fast.metrics.metrics()).flowmaster_batch_size).toBe(8192); // grew to max
    fast.close();

    const slow = openStore(':memory:', {
      batch: { initial: 4096, min: 64, max: 8192, targetMs: 5 },
      afterCommit: () => {
        const until = Date.now() + 15; // a slow disk: every commit takes > 15 ms
        while (Date.now() < until);
      },
    });
    const run = new FlowMeter({ engine: TEST_ENGINE, batchSize: 512 }).readFile(cap);
    let maxRunPending = 0;
    const probe = setInterval(() => (maxRunPending = Math.max(maxRunPending, run.pending)), 1);
    const sr = await slow.ingest(run);
    clearInterval(probe);
    expect(sr.flows).toBe(fr.flows);
    expect((await slow.metrics.metrics()).flowmaster_batch_size).toBe(64); // shrank to min
    expect(sr.batches).toBeGreaterThan(fr.batches);
    // the engine waited: at most 4 batches (of 512 records) queued ahead, pending flows bounded
    expect(maxRunPending).toBeLessThanOrEqual(4);
    expect(sr.maxPending).toBeLessThanOrEqual(4096 + 512);
    slow.close();
  });

  it('device counters not synced yet are rebuilt from the flows stored since the last sync', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('replay.pcap');
    await generate({ out: cap, packets: 20_000, flows: 2000, hosts: 300, mix: 'default', seed: 4, quiet: true });
    const dbFile = tmpFile('replay.db');
    const store = openStore(dbFile, { deviceSyncMs: 0 });
    await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    const dump = (db: Database.Database) => [
      db.prepare('SELECT * FROM devices ORDER BY id').all(),
      db.prepare('SELECT * FROM device_services ORDER BY device_id, service').all(),
    ];
    const before = dump(store.db);
    expect(before[1].length).toBeGreaterThan(100);
    // as if the process died before its first sync: counters and services of every flow gone
    // (first/last seen and MACs keep later values: the replay must leave them as they are)
    const half = Number(store.db.prepare('SELECT min(id) FROM flows').pluck().get());
    const undo = store.db.prepare(`UPDATE devices SET packets = packets - ?, bytes = bytes - ?, flows = flows - 1 WHERE id = ?`);
    for (const f of store.db.prepare('SELECT src_device, dst_device, packets, bytes FROM flows WHERE id >= ?').all(half) as Record<string, number>[]) {
      undo.run(f.packets, f.bytes, f.src_device);
      undo.run(f.packets, f.bytes, f.dst_device);
    }
    store.db.prepare("UPDATE meta SET value = ? WHERE key = 'devices_synced_id'").run(half);
    store.db.prepare('DELETE FROM device_services').run();
    expect(dump(store.db)).not.toEqual(before);
    store.db.close(); // no sync
    const reopened = openStore(dbFile);
    expect(dump(reopened.db)).toEqual(before);
    reopened.close();
  });

  it('survives SIGKILL mid-ingest: integrity ok, committed batches complete, re-ingest works', async () => {
    const { generate } = await genPcap();
    const cap = tmpFile('big.pcap');
    await generate({ out: cap, packets: 600_000, flows: 150_000, mix: 'default', seed: 5, quiet: true });
    const dbFile = tmpFile('crash.db');
    const root = path.resolve(__dirname, '..');
    const child = spawn(
      process.execPath,
      ['-e', `const { openStore, FlowMeter } = require('./dist/index.js');
        const s = openStore(process.argv[1], { batch: { initial: 200, min: 200, max: 200 }, deviceSyncMs: 100 });
        s.ingest(new FlowMeter({ engine: process.argv[3] }).readFile(process.argv[2]));`, dbFile, cap, TEST_ENGINE],
      { cwd: root, stdio: 'ignore' },
    );
    // wait until some batches are committed, then kill
    const deadline = Date.now() + 60_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      if (fs.existsSync(dbFile)) {
        try {
          const ro = new Database(dbFile, { readonly: true });
          const n = (ro.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n;
          ro.close();
          if (n >= 2000) break;
        } catch {
          // schema not there yet
        }
      }
      if (Date.now() > deadline) throw new Error('child committed nothing');
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const store = openStore(dbFile);
    const db = store.db;
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    const committed = (db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n;
    expect(committed % 200).toBe(0); // whole batches only
    const src = db.prepare('SELECT flows, ended_ms FROM sources').get() as { flows: number; ended_ms: number | null };
    expect(src).toEqual({ flows: committed, ended_ms: null });
    // device counters match the committed flows: the ones synced before the kill plus the flows replayed at open
    const devicesFlows = (db.prepare('SELECT sum(flows) n FROM devices').get() as { n: number }).n;
    expect(devicesFlows).toBe(2 * committed);
    const wrong = db
      .prepare(`SELECT d.id FROM devices d JOIN (
          SELECT dev, count(*) n, sum(p) p, sum(b) b, min(f) f, max(l) l FROM (
            SELECT src_device dev, packets p, bytes b, first_ns / 1000000 f, last_ns / 1000000 l FROM flows
            UNION ALL SELECT dst_device, packets, bytes, first_ns / 1000000, last_ns / 1000000 FROM flows) GROUP BY dev
        ) x ON x.dev = d.id
        WHERE d.flows != x.n OR d.packets != x.p OR d.bytes != x.b OR d.first_seen_ms > x.f OR d.last_seen_ms < x.l`)
      .all();
    expect(wrong).toEqual([]);
    expect(Number(store.db.prepare("SELECT value FROM meta WHERE key = 'devices_synced_id'").pluck().get())).toBe(
      Number(store.db.prepare("SELECT value FROM meta WHERE key = 'next_flow_id'").pluck().get()),
    );
    const r = await store.ingest(new FlowMeter({ engine: TEST_ENGINE }).readFile(cap));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect((db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n).toBe(committed + r.flows);
    store.close();
  }, 120_000);
});

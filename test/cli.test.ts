/** The CLI end to end, in a child process, as a shell user runs it. */
import { execFile, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { tcp4, tmpFile, udp4, writePcap } from './helpers/capture';
import { openStore } from '../src/store/store';
import { nfdumpPresent, readNfdump, startNfcapd } from './helpers/nfdump';
import { notRoot, skipping } from './helpers/skip';
import { flowmaster } from './helpers/cli';

const genPcap = () => import('../scripts/gen-pcap.mjs');

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

describe('flowmaster read', () => {
  let file: string;
  beforeAll(async () => {
    file = writePcap([
      { t: 0, data: tcp4('10.0.0.1', 1000, '10.0.0.2', 80, 'S') },
      { t: 0.1, data: tcp4('10.0.0.2', 80, '10.0.0.1', 1000, 'SA') },
      { t: 0.2, data: udp4('10.0.0.1', 5353, '10.0.0.9', 53, 30) },
    ]);
  });

  it('jsonl by default when not a terminal', async () => {
    const r = await flowmaster('read', file);
    expect(r.code).toBe(0);
    const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(flows.map((f) => [f.protocol, f.src, f.srcPort, f.fwdPackets, f.revPackets])).toEqual(
      expect.arrayContaining([[6, '10.0.0.1', 1000, 1, 1], [17, '10.0.0.1', 5353, 1, 0]]),
    );
  });

  it('csv with a header row of stable column names', async () => {
    const r = await flowmaster('read', '--format', 'csv', file);
    const [header, ...rows] = r.stdout.trim().split('\n');
    expect(header.split(',')).toEqual(expect.arrayContaining(['flow_id', 'src', 'src_port', 'dst', 'dst_port', 'fwd_packets', 'fwd_bytes', 'community_id']));
    expect(rows).toHaveLength(2);
  });

  it('table with --top', async () => {
    const r = await flowmaster('read', '--format', 'table', '--top', '1', file);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^proto\s+src\s+dst/);
    expect(lines).toHaveLength(2);
  });

  it('engine options as flags, summary on stderr', async () => {
    const r = await flowmaster('read', '--no-tcp-termination', '--idle-timeout', '0.05', '--summary', '-f', 'tcp', file);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2); // SYN and SYN/ACK 100 ms apart: two idle-split flows
    expect(r.stderr).toMatch(/3 packets, .* 1 filtered/);
  });

  it('reads a capture from stdin with "-"', async () => {
    const { stdout } = await run('sh', ['-c', `cat "$F" | "$NODE" "$CLI" read --format csv -`], { env: { ...process.env, F: file, NODE: process.execPath, CLI: cli } });
    expect(stdout.trim().split('\n')).toHaveLength(3);
  });

  it('missing file: one line on stderr, exit 1', async () => {
    const r = await flowmaster('read', '/no/such/file.pcap');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('ERR_FILE_NOT_FOUND');
  });

  it('usage errors exit 2', async () => {
    expect((await flowmaster('read', '--idle-timeout', 'soon', file)).code).toBe(2);
    expect((await flowmaster('read', '--format', 'xml', file)).code).toBe(2);
    expect((await flowmaster('read', '-f', 'tcp port nope', file)).code).toBe(2);
    expect((await flowmaster('frobnicate')).code).toBe(2);
    expect((await flowmaster('read')).code).toBe(2);
  });

  it('--help shows examples', async () => {
    const r = await flowmaster('read', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--idle-timeout');
  });
});

describe('flowmaster ingest, flows, devices, top, retention', () => {
  const files: string[] = [];
  let db = '';
  beforeAll(async () => {
    const { generate } = await genPcap();
    for (let i = 0; i < 3; i++) {
      files.push(tmpFile(`cli-${i}.pcap`));
      await generate({ out: files[i], packets: 20_000, flows: 400, hosts: 40, mix: 'default', seed: 20 + i, quiet: true });
    }
    db = tmpFile('cli.db');
    const r = await flowmaster('ingest', '--db', db, '--workers', '1', ...files);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ingested 3 of 3 files into .*: 60000 packets, \d+ flows/);
    expect(r.stderr).toMatch(/ingest: .*cli-2\.pcap: 20000 packets/); // plain progress lines when not a terminal
  }, 60_000);

  /** Flows and devices without ids, sources by name: what must not depend on how the files were read. */
  function content(file: string) {
    const d = new Database(file, { readonly: true });
    const flows = d
      .prepare(`SELECT s.name, f.flow_id, f.segment, f.first_ns, f.last_ns, hex(f.src_addr) a, hex(f.dst_addr) b, f.src_port, f.dst_port, f.protocol,
        f.fwd_packets, f.fwd_bytes, f.rev_packets, f.rev_bytes, f.service, hex(sd.addr) sd, hex(dd.addr) dd
        FROM flows f JOIN sources s ON s.id = f.source_id JOIN devices sd ON sd.id = f.src_device JOIN devices dd ON dd.id = f.dst_device`)
      .all()
      .map((r) => JSON.stringify(r))
      .sort();
    const devices = d
      .prepare('SELECT hex(addr) a, vlan, hex(mac) m, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows, (SELECT group_concat(service) FROM device_services WHERE device_id = devices.id) services FROM devices')
      .all()
      .map((r) => JSON.stringify(r))
      .sort();
    d.close();
    return { flows, devices };
  }

  it('--workers 2 gives the same rows as a sequential ingest', async () => {
    const parallel = tmpFile('cli-workers.db');
    const r = await flowmaster('ingest', '--db', parallel, '--workers', '2', ...files);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 reader threads');
    const a = content(db);
    const b = content(parallel);
    expect(a.flows.length).toBeGreaterThan(1000);
    expect(b.flows).toEqual(a.flows);
    expect(b.devices).toEqual(a.devices);
  }, 60_000);

  it('flows: filtered keyset pages that chain with --cursor, offset pages with a total, JSON', async () => {
    const first = await flowmaster('flows', '--db', db, '--protocol', 'tcp', '--sort', 'bytes', '--limit', '5');
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id\s+first \(UTC\)\s+seconds\s+proto\s+src\s+dst\s+packets\s+bytes\s+service/);
    expect(lines.slice(1).every((l) => /\btcp\b/.test(l))).toBe(true);
    const cursor = /more: --cursor (\S+)/.exec(first.stderr)![1];
    const asJson = async (...a: string[]) => JSON.parse((await flowmaster('flows', '--db', db, '--protocol', 'tcp', '--sort', 'bytes', '--json', ...a)).stdout);
    const page1 = await asJson('--limit', '5');
    const page2 = await asJson('--limit', '5', '--cursor', cursor);
    const both = await asJson('--limit', '10');
    expect([...page1.items, ...page2.items].map((f: { id: number }) => f.id)).toEqual(both.items.map((f: { id: number }) => f.id));
    const offset = await flowmaster('flows', '--db', db, '--protocol', 'tcp', '--sort', 'bytes', '--limit', '5', '--page', '2', '--json');
    expect(JSON.parse(offset.stdout).items.map((f: { id: number }) => f.id)).toEqual(page2.items.map((f: { id: number }) => f.id));
    const bad = await flowmaster('flows', '--db', db, '--cursor', 'AAAA' + cursor.slice(4));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ERR_BAD_CURSOR');
  });

  it('devices and top (talkers, conversations, services)', async () => {
    const d = await flowmaster('devices', '--db', db, '--sort', 'bytes', '--limit', '3');
    expect(d.code).toBe(0);
    expect(d.stdout.trim().split('\n')).toHaveLength(4);
    const talkers = JSON.parse((await flowmaster('top', '--db', db, '--json', '--limit', '3')).stdout);
    expect(talkers).toHaveLength(3);
    expect(talkers[0].bytes).toBeGreaterThanOrEqual(talkers[1].bytes);
    for (const what of ['talkers', 'conversations', 'services']) {
      const r = await flowmaster('top', what, '--db', db, '--by', 'flows');
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')[0]).toMatch(/bytes\s+packets\s+flows$/);
    }
    expect((await flowmaster('top', 'planets', '--db', db)).code).toBe(2);
  });

  it('flows, devices and top --format table|jsonl|csv|json: jsonl the rows, CSV headed by the SQLite columns, --json the alias of --format json', async () => {
    const store = openStore(db, { readonly: true });
    try {
      const want = store.flows.page({ filter: { protocol: 6 }, sort: 'bytes', order: 'desc', limit: 7 });
      const args = ['flows', '--db', db, '--protocol', 'tcp', '--sort', 'bytes', '--limit', '7'];
      const jsonl = await flowmaster(...args, '--format', 'jsonl');
      expect([jsonl.code, jsonl.stderr]).toEqual([0, `more: --cursor ${want.next}\n`]);
      expect(jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(JSON.parse(JSON.stringify(want.items)));
      // --json is --format json: the page object, as it always printed
      const alias = await flowmaster(...args, '--json');
      expect(alias.stdout).toBe((await flowmaster(...args, '--format', 'json')).stdout);
      expect(JSON.parse(alias.stdout)).toEqual(JSON.parse(JSON.stringify(want)));
      const csv = await flowmaster(...args, '--format', 'csv');
      const [header, ...lines] = csv.stdout.trim().split('\n');
      const columns = header.split(',');
      const sqlite = new Set((store.db.pragma('table_info(flow_template)') as { name: string }[]).map((c) => c.name));
      expect(columns.filter((c) => !sqlite.has(c))).toEqual([]);
      expect(columns).toEqual(expect.arrayContaining(['first_ns', 'end_reason', 'community_id', 'conn_state', 'history', 'fwd_ip_bytes', 'stats', 'splt', 'sni']));
      expect(lines).toHaveLength(7);
      const cell = (line: string, col: string) => line.split(',')[columns.indexOf(col)];
      expect(lines.map((l) => [Number(cell(l, 'id')), cell(l, 'first_ns'), cell(l, 'end_reason'), cell(l, 'community_id'), Number(cell(l, 'bytes'))])).toEqual(
        want.items.map((r) => [r.id, r.firstNs, r.endReason, r.communityId, r.bytes]),
      );
      // devices: --page and --format
      const dev = await flowmaster('devices', '--db', db, '--sort', 'bytes', '--limit', '4', '--page', '2', '--format', 'jsonl');
      expect(dev.code).toBe(0);
      const wantDevices = store.devices.offsetPage({ sort: 'bytes', order: 'desc', page: 2, pageSize: 4, total: true });
      expect(dev.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(wantDevices.items);
      expect(dev.stderr).toBe(`page 2 of ${Math.ceil(wantDevices.total! / 4)} (${wantDevices.total} rows)\n`);
      const devCsv = (await flowmaster('devices', '--db', db, '--limit', '3', '--format', 'csv')).stdout.trim().split('\n');
      expect(devCsv[0]).toBe('id,addr,vlan,mac,vendor,name,first_seen_ms,last_seen_ms,packets,bytes,flows,services');
      expect(devCsv).toHaveLength(4);
      // top
      const talkers = store.analytics.topTalkers({ limit: 3 });
      const topCsv = (await flowmaster('top', '--db', db, '--limit', '3', '--format', 'csv')).stdout.trim().split('\n');
      expect(topCsv[0]).toBe('device,addr,vlan,vendor,bytes,packets,flows');
      expect(topCsv.slice(1).map((l) => Number(l.split(',')[0]))).toEqual(talkers.map((t) => t.device));
      const topJsonl = (await flowmaster('top', 'services', '--db', db, '--format', 'jsonl')).stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(topJsonl).toEqual(store.analytics.topServices());
      expect((await flowmaster('top', '--db', db, '--json')).stdout).toBe((await flowmaster('top', '--db', db, '--format', 'json')).stdout);
      expect((await flowmaster('flows', '--db', db, '--format', 'xml')).code).toBe(2);
      // the new filters
      const r0 = want.items[0];
      const byId = await flowmaster('flows', '--db', db, '--community-id', r0.communityId!, '--format', 'jsonl');
      expect(byId.stdout.trim().split('\n').map((l) => JSON.parse(l).id)).toContain(r0.id);
      const states = await flowmaster('flows', '--db', db, '--conn-state', 'S0,SF,REJ', '--limit', '10000', '--format', 'jsonl');
      expect(states.code).toBe(0);
      expect(states.stdout.trim().split('\n').filter(Boolean).length).toBe(store.flows.offsetPage({ filter: { connState: ['S0', 'SF', 'REJ'] }, pageSize: 10_000 }).items.length);
      expect((await flowmaster('flows', '--db', db, '--conn-state', 'XX')).code).toBe(2);
    } finally {
      store.close();
    }
  });

  it('retention deletes by age and reports it', async () => {
    const copy = tmpFile('cli-retention.db');
    fs.copyFileSync(db, copy);
    const r = await flowmaster('retention', '--db', copy, '--flows', '1d');
    expect(r.code).toBe(0);
    const n = new Database(db, { readonly: true }).prepare('SELECT count(*) n FROM flows').get() as { n: number };
    expect(r.stdout).toContain(`${n.n} flows`); // generated flows are from 2026-01-01: all older than a day
    expect(r.stdout).toMatch(/\(\d+ partitions\)/);
    expect((await flowmaster('retention', '--db', copy, '--flows', 'soon')).code).toBe(2);
    expect((await flowmaster('retention', '--db', copy, '--flows', '1d', '--exact')).code).toBe(0);
    expect((await flowmaster('retention', '--db', copy, '--max-rows', '10', '--max-size', '100M')).code).toBe(0);
    expect((await flowmaster('retention', '--db', copy, '--max-size', 'lots')).code).toBe(2);
  });

  it('ingest --partition-span sets how long a partition stays hot; a bad span is a usage error', async () => {
    const file = tmpFile('cli-span.db');
    const r = await flowmaster('ingest', '--db', file, '--partition-span', '6h', '--no-progress', files[0]);
    expect(r.code).toBe(0);
    const d = new Database(file, { readonly: true });
    expect(d.prepare("SELECT value FROM meta WHERE key = 'partition_span_ns'").pluck().get()).toBe(6 * 3600e9);
    expect(d.prepare("SELECT count(*) FROM partitions WHERE state = 'hot'").pluck().get()).toBe(1);
    d.close();
    const bad = await flowmaster('ingest', '--db', tmpFile('cli-span2.db'), '--partition-span', '10s', files[0]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('partitionSpan');
  });

  it('ingest --retain-flows applies retention in the same process while it writes', async () => {
    const kept = tmpFile('cli-retain.db');
    // the generated flows are from 2026-01-01: older than a day, so every run of retention may drop them
    const r = await flowmaster('ingest', '--db', kept, '--no-progress', '--workers', '1', '--partition-span', '1h', '--retain-flows', '1d', '--retain-every', '0.05s', '--log-format', 'json', ...files);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; flowsDeleted?: number });
    const runs = events.filter((e) => e.event === 'retention');
    expect(runs.length).toBeGreaterThan(0);
    const deleted = runs.reduce((n, e) => n + (e.flowsDeleted ?? 0), 0);
    const d = new Database(kept, { readonly: true });
    const stored = d.prepare('SELECT count(*) FROM flows').pluck().get() as number;
    const written = d.prepare('SELECT sum(flows) FROM sources').pluck().get() as number;
    d.close();
    expect(deleted).toBeGreaterThan(0);
    expect(stored + deleted).toBe(written);
    const bad = await flowmaster('ingest', '--db', tmpFile('cli-retain2.db'), '--retain-flows', 'soon', files[0]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/retain-flows.*\[ERR_INVALID_OPTION\]/);
  }, 60_000);

  /** Flows and the device counters against the sums over their flows: a doubled or half-removed source shows in either. */
  function totals(file: string) {
    const d = new Database(file, { readonly: true });
    const t = d.prepare('SELECT count(*) flows, sum(fwd_packets + rev_packets) packets FROM flows').get() as { flows: number; packets: number };
    const devices = d.prepare('SELECT sum(packets) p, sum(flows) f FROM devices').get() as { p: number; f: number };
    const sources = d.prepare('SELECT status, flows FROM sources ORDER BY id').all() as { status: string; flows: number }[];
    d.close();
    return { ...t, devicePackets: devices.p, deviceFlows: devices.f, sources };
  }

  it('ingest skips a file it has already read whole, by content; --force reads it again in place of the old source', async () => {
    const once = tmpFile('cli-once.db');
    expect((await flowmaster('ingest', '--db', once, '--no-progress', files[0])).code).toBe(0);
    const first = totals(once);
    expect(first.deviceFlows).toBe(2 * first.flows); // each flow counts at both ends
    const copy = tmpFile('renamed.pcap'); // the same content under another name
    fs.copyFileSync(files[0], copy);
    const again = await flowmaster('ingest', '--db', once, '--no-progress', copy);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^ingested 0 of 1 files .*; 1 already ingested/);
    expect(again.stderr).toMatch(/already in .* as source 1/);
    expect(totals(once)).toEqual(first);
    const forced = await flowmaster('ingest', '--db', once, '--no-progress', '--force', copy);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/replacing source 1 \(complete\)/);
    const after = totals(once);
    expect({ ...after, sources: undefined }).toEqual({ ...first, sources: undefined });
    expect(after.sources).toEqual([{ status: 'complete', flows: first.flows }]);
  }, 60_000);

  it('SIGINT stops an ingest: what was read is committed, the source is interrupted, the next ingest replaces it', async () => {
    const { generate } = await genPcap();
    const big = tmpFile('cli-big.pcap');
    await generate({ out: big, packets: 600_000, flows: 150_000, hosts: 3000, sizes: '64', seed: 5, quiet: true });
    const clean = tmpFile('cli-clean.db');
    expect((await flowmaster('ingest', '--db', clean, '--no-progress', '--engine', 'ts', big)).code).toBe(0);
    const want = totals(clean);
    const cut = tmpFile('cli-cut.db');
    const child = spawn(process.execPath, [cli, 'ingest', '--db', cut, '--no-progress', '--engine', 'ts', big], { cwd: root });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    for (let i = 0; i < 400; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const d = fs.existsSync(cut) ? new Database(cut, { readonly: true, fileMustExist: true }) : undefined;
      const n = d ? ((d.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'sources'").pluck().get() as number) ? (d.prepare('SELECT sum(flows) FROM sources').pluck().get() as number) : 0) : 0;
      d?.close();
      if (n > 0) break;
    }
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(130);
    expect(stdout).toMatch(/interrupted by SIGINT/);
    const part = totals(cut);
    expect(part.sources).toHaveLength(1);
    expect(part.sources[0].status).toBe('interrupted');
    expect(part.flows).toBe(part.sources[0].flows);
    expect(part.flows).toBeLessThan(want.flows);
    expect(part.deviceFlows).toBe(2 * part.flows);
    const resumed = await flowmaster('ingest', '--db', cut, '--no-progress', '--engine', 'ts', big);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/replacing source 1 \(interrupted\)/);
    const end = totals(cut);
    expect({ ...end, sources: undefined }).toEqual({ ...want, sources: undefined });
    expect(end.sources).toEqual([{ status: 'complete', flows: want.flows }]);
  }, 120_000);

  it('a second writer: ERR_DB_LOCKED naming the holder before anything is read, or --wait-for-writer waits its turn', async () => {
    const shared = tmpFile('cli-lease.db');
    expect((await flowmaster('ingest', '--db', shared, '--no-progress', files[0])).code).toBe(0);
    const holder = openStore(shared);
    await holder.acquireWriter();
    const refused = await flowmaster('ingest', '--db', shared, '--no-progress', files[1]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(new RegExp(`is being written by pid ${process.pid} .*\\[ERR_DB_LOCKED\\]`));
    const waiting = flowmaster('ingest', '--db', shared, '--no-progress', '--wait-for-writer', '20s', files[1]);
    await new Promise((r) => setTimeout(r, 1000));
    holder.close(); // releases the lease
    const waited = await waiting;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(/^ingested 1 of 1 files/);
    expect((await flowmaster('ingest', '--db', shared, '--wait-for-writer', 'soon', files[1])).code).toBe(2);
  }, 60_000);

  it('a database from the future, a missing file, bad arguments', async () => {
    const future = tmpFile('cli-future.db');
    const d = new Database(future);
    d.pragma('user_version = 999');
    d.close();
    const r = await flowmaster('flows', '--db', future);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('ERR_DB_VERSION');
    const missing = await flowmaster('ingest', '--db', tmpFile('cli-missing.db'), '--no-progress', '/no/such.pcap');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ERR_FILE_NOT_FOUND');
    expect(missing.stdout).toMatch(/^ingested 0 of 1 files/);
    expect((await flowmaster('ingest', files[0])).code).toBe(2); // --db missing
    expect((await flowmaster('flows', '--db', db, '--protocol', 'banana')).code).toBe(2);
    expect((await flowmaster('flows', '--db', db, '--from', 'yesterday-ish')).code).toBe(2);
    expect((await flowmaster('capture', '--db', db)).code).toBe(2); // -i missing
  });

  it.skipIf(skipping(!nfdumpPresent && 'nfcapd/nfdump not installed (apt-get install nfdump)', 'ingest --ipfix into nfcapd'))('ingest --ipfix also exports every flow to a collector (nfcapd)', async () => {
    const nf = await startNfcapd();
    const exported = tmpFile('cli-ipfix.db');
    const r = await flowmaster('ingest', '--db', exported, '--no-progress', '--ipfix', `127.0.0.1:${nf.port}`, files[0]);
    expect(r.code).toBe(0);
    await nf.stop();
    const got = readNfdump(nf.dir);
    const d = new Database(exported, { readonly: true });
    const want = d.prepare('SELECT sum(fwd_packets > 0) + sum(rev_packets > 0) n, sum(fwd_packets) + sum(rev_packets) p FROM flows').get() as { n: number; p: number };
    d.close();
    expect(got.length).toBe(want.n); // one record per direction with packets (--ipfix-biflow split)
    expect(got.reduce((n, x) => n + x.in_packets, 0)).toBe(want.p);
    fs.rmSync(nf.dir, { recursive: true, force: true });
    expect((await flowmaster('read', '--ipfix', 'nowhere', files[0])).code).toBe(2);
  }, 60_000);

  it('--help of every command shows examples', async () => {
    for (const cmd of ['read', 'ingest', 'capture', 'flows', 'devices', 'top', 'retention', 'bench']) {
      const r = await flowmaster(cmd, '--help');
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain('Examples:');
    }
  });

  it('bench compares the engines', async () => {
    const r = await flowmaster('bench', '--packets', '20000', '--flows', '200', '--runs', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^native\s+[\d,]+\s+[\d.]+×$/m);
    expect(r.stdout).toMatch(/^ts\s+[\d,]+\s+1\.00×$/m);
  }, 60_000);
});

describe.skipIf(skipping(notRoot, 'flowmaster capture'))('flowmaster capture (root)', () => {
  it('captures until SIGINT, then flushes, commits and prints the summary', async () => {
    const port = 46000 + (process.pid % 1000);
    const db = tmpFile('cli-capture.db');
    const metricsPort = 47000 + (process.pid % 1000);
    const child = spawn(process.execPath, [cli, 'capture', '-i', 'lo', '-f', `udp port ${port}`, '--db', db, '--metrics-port', String(metricsPort)], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    for (let i = 0; i < 100 && !stderr.includes('stop with Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 50));
    const s = dgram.createSocket('udp4');
    for (let i = 0; i < 3; i++) await new Promise((r) => s.send(Buffer.alloc(20), port, '127.0.0.1', r));
    s.close();
    await new Promise((r) => setTimeout(r, 1300)); // capture counters reach the metrics about once a second
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^flowmaster_capture_received_packets_total [1-9]/m);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(stdout).toMatch(/captured into .*: 1 flows/);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT fwd_packets, end_reason FROM flows').all()).toEqual([{ fwd_packets: 3, end_reason: 4 }]);
    expect(d.prepare('SELECT kind, name, ended_ms IS NOT NULL AS ended FROM sources').get()).toEqual({ kind: 'interface', name: 'lo', ended: 1 });
    d.close();
  }, 30_000);

  it('capture | head: stops and exits 0 quietly when its reader goes away', async () => {
    const port = 48000 + (process.pid % 1000);
    const errFile = tmpFile('cli-capture-head.err');
    const child = spawn('bash', ['-c', `'${process.execPath}' '${cli}' capture -i lo -f 'udp port ${port}' --idle-timeout 0.1 2>'${errFile}' | head -1 >/dev/null; echo \${PIPESTATUS[0]}`], { cwd: root });
    let status = '';
    child.stdout.on('data', (d) => (status += d));
    const exited = new Promise((r) => child.on('exit', r));
    let done = false;
    void exited.then(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) {
      const s = dgram.createSocket('udp4'); // a new source port: a new flow, ended 0.1 s later
      await new Promise((r) => s.send(Buffer.alloc(20), port, '127.0.0.1', r));
      s.close();
      await new Promise((r) => setTimeout(r, 100));
    }
    await exited;
    expect(done).toBe(true);
    expect(status.trim()).toBe('0');
    expect(fs.readFileSync(errFile, 'utf8')).not.toMatch(/EPIPE|Error|\n\s+at /);
  }, 30_000);
});

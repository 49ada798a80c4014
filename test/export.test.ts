/**
 * `flowmaster export`: stored flows out as CSV, JSON lines, Parquet and
 * IPFIX, checked against the store itself (SQL counts and sums, the
 * library's pages), Parquet read back with parquet-wasm + apache-arrow,
 * IPFIX against nfcapd/nfdump and against `read --ipfix` of the same
 * capture; filters and time range; coded errors; bounded memory.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { tableFromIPC, type Table } from 'apache-arrow';
import { ParquetFile, readParquet } from 'parquet-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_COLUMNS } from '../src/export/rows';
import { FLOW_ROW_COLUMNS, type FlowRow } from '../src/store/query';
import { openStore } from '../src/store/store';
import { tmpFile } from './helpers/capture';
import { nfdumpPresent, readNfdump, startNfcapd, type NfRecord } from './helpers/nfdump';
import { skipping } from './helpers/skip';
import { flowmaster } from './helpers/cli';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');

async function ok(...args: string[]): Promise<string> {
  const r = await flowmaster(...args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** RFC 4180 CSV (quoted cells with "" inside, commas and line breaks) into rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\n') row.push(cell), rows.push(row), (row = []), (cell = '');
    else cell += c;
  }
  return rows;
}

const jsonl = (text: string) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowRow);
const readBack = (file: string): Table => tableFromIPC(readParquet(fs.readFileSync(file)).intoIPCStream());

let capture: string;
let db: string;
/** every stored flow, from the library's pages */
let all: FlowRow[];
let sql: Database.Database;

beforeAll(async () => {
  const { generate } = await import('../scripts/gen-pcap.mjs');
  capture = tmpFile('export.pcap');
  await generate({ out: capture, packets: 30_000, flows: 3000, hosts: 300, mix: 'full', seed: 18, apps: true, quiet: true });
  db = tmpFile('export.db');
  await ok('ingest', '--db', db, '--no-progress', capture);
  const store = openStore(db, { readonly: true });
  all = [];
  for (let cursor: string | undefined, p; (p = store.flows.page({ limit: 1000, cursor })).items.length; cursor = p.next ?? undefined) {
    all.push(...p.items);
    if (!p.next) break;
  }
  store.close();
  sql = new Database(db, { readonly: true });
}, 180_000);

const totals = (rows: { bytes: number; packets: number }[]) => ({ rows: rows.length, bytes: rows.reduce((n, r) => n + r.bytes, 0), packets: rows.reduce((n, r) => n + r.packets, 0) });

describe('export csv and jsonl', () => {
  it('jsonl: every stored flow once, oldest first, each line the library page row', async () => {
    const rows = jsonl(await ok('export', '--db', db, '--format', 'jsonl'));
    const want = sql.prepare('SELECT count(*) AS rows, sum(bytes) AS bytes, sum(packets) AS packets FROM flows').get() as { rows: number; bytes: number; packets: number };
    expect(want.rows).toBeGreaterThan(2000);
    expect(totals(rows)).toEqual(want);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    // sorted by (first_ns, id), as the pages are
    const key = (r: FlowRow) => [BigInt(r.firstNs), r.id] as const;
    for (let i = 1; i < rows.length; i++) {
      const [a, b] = [key(rows[i - 1]), key(rows[i])];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
    }
    const byId = new Map(all.map((r) => [r.id, r]));
    for (const r of rows) expect(r).toEqual(JSON.parse(JSON.stringify(byId.get(r.id))));
    expect(rows.some((r) => r.app?.application)).toBe(true); // the capture has handshakes: the application columns are exercised
  });

  it('csv: the header is the SQLite column names (snake_case), each row the FlowRow', async () => {
    const out = tmpFile('export.csv');
    await ok('export', '--db', db, '--format', 'csv', '--out', out);
    const [header, ...rows] = parseCsv(fs.readFileSync(out, 'utf8'));
    expect(header).toEqual(EXPORT_COLUMNS.map((c) => c.name));
    expect(header.slice(0, FLOW_ROW_COLUMNS.length)).toEqual(FLOW_ROW_COLUMNS.map(([, column]) => column));
    for (const name of header) expect(name).toMatch(/^[a-z0-9_]+$/);
    expect(rows.length).toBe(all.length);
    const col = (name: string) => header.indexOf(name);
    const sum = (name: string) => rows.reduce((n, r) => n + Number(r[col(name)]), 0);
    expect({ rows: rows.length, bytes: sum('bytes'), packets: sum('packets') }).toEqual(totals(all));
    const byId = new Map(all.map((r) => [r.id, r]));
    for (const cells of rows) {
      const r = byId.get(Number(cells[col('id')]))!;
      expect(cells[col('first_ns')]).toBe(String(r.firstNs));
      expect(cells[col('src_addr')]).toBe(r.src);
      expect(cells[col('dst_port')]).toBe(String(r.dstPort));
      expect(cells[col('end_reason')]).toBe(r.endReason);
      expect(cells[col('service')]).toBe(r.service ?? '');
      expect(cells[col('sni')]).toBe(r.app?.sni ?? '');
      expect(cells[col('community_id')]).toBe(r.communityId ?? '');
    }
  });

  it('filters and a time range as `flows` has them: the same rows as SQL selects', async () => {
    const sorted = all.map((r) => BigInt(r.firstNs)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const fromMs = Number(sorted[Math.floor(sorted.length / 4)] / 1_000_000n);
    const toMs = Number(sorted[Math.floor((3 * sorted.length) / 4)] / 1_000_000n);
    const rows = jsonl(await ok('export', '--db', db, '--format', 'jsonl', '--protocol', 'udp', '--from', String(fromMs), '--to', new Date(toMs).toISOString()));
    const want = sql
      .prepare('SELECT id FROM flows WHERE protocol = 17 AND last_ns >= ? AND first_ns <= ? ORDER BY first_ns, id')
      .pluck()
      .all(BigInt(fromMs) * 1_000_000n, BigInt(toMs) * 1_000_000n + 999_999n) as number[];
    expect(want.length).toBeGreaterThan(10);
    expect(want.length).toBeLessThan(all.length / 2);
    expect(rows.map((r) => r.id)).toEqual(want);
    const tls = jsonl(await ok('export', '--db', db, '--format', 'jsonl', '--application', 'tls'));
    expect(tls.length).toBeGreaterThan(0);
    expect(tls.map((r) => r.id).sort((a, b) => a - b)).toEqual(all.filter((r) => r.app?.application === 'tls').map((r) => r.id).sort((a, b) => a - b));
  });
});

describe('export parquet', () => {
  it('typed columns, row groups of --row-group rows; read back equal to the store', async () => {
    const out = tmpFile('export.parquet');
    const r = await flowmaster('export', '--db', db, '--format', 'parquet', '--out', out, '--row-group', '1000');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^export: ${all.length} flows, ${Math.ceil(all.length / 1000)} row groups`));
    const t = readBack(out);
    expect(t.numRows).toBe(all.length);
    const meta = (await ParquetFile.fromFile(new Blob([fs.readFileSync(out)]))).metadata();
    expect(meta.numRowGroups()).toBe(Math.ceil(all.length / 1000));
    expect(meta.rowGroup(0).numRows()).toBe(1000);
    expect(t.schema.fields.map((f) => f.name)).toEqual(EXPORT_COLUMNS.map((c) => c.name));
    const type = (name: string) => String(t.schema.fields.find((f) => f.name === name)!.type);
    expect([type('first_ns'), type('bytes'), type('src_port'), type('src_addr'), type('service'), type('end_reason'), type('first')]).toEqual([
      'Int64', 'Int64', 'Int32', 'Utf8', 'Dictionary<Int32, Utf8>', 'Dictionary<Int32, Utf8>', 'Float64',
    ]);
    const sum = (name: string) => (t.getChild(name)!.toArray() as BigInt64Array).reduce((n, v) => n + v, 0n);
    expect({ rows: t.numRows, bytes: Number(sum('bytes')), packets: Number(sum('packets')) }).toEqual(totals(all));
    const ids = Array.from(t.getChild('id')!.toArray() as BigInt64Array, Number);
    expect([...ids].sort((a, b) => a - b)).toEqual(all.map((r) => r.id).sort((a, b) => a - b)); // each id once
    const byId = new Map(all.map((r) => [r.id, r]));
    for (const i of [0, 1, 999, 1000, Math.floor(t.numRows / 2), t.numRows - 1]) {
      const row = t.get(i)!.toJSON() as Record<string, unknown>;
      const want = byId.get(Number(row.id))!;
      expect(row.first_ns).toBe(BigInt(want.firstNs));
      expect(row.src_addr).toBe(want.src);
      expect(row.dst_port).toBe(want.dstPort);
      expect(row.fwd_bytes).toBe(BigInt(want.fwdBytes));
      expect(row.end_reason).toBe(want.endReason);
      expect(row.service).toBe(want.service);
      expect(row.application).toBe(want.app?.application ?? null);
      expect(row.last).toBe(want.last);
    }
    // a flow with an application: its strings in the columns
    const tlsAt = ids.findIndex((id) => byId.get(id)!.app?.sni);
    expect(tlsAt).toBeGreaterThanOrEqual(0);
    expect(t.get(tlsAt)!.toJSON().sni).toBe(byId.get(ids[tlsAt])!.app!.sni);
  });

  it('filtered; and an empty result is still a file with the schema', async () => {
    const out = tmpFile('export-tcp.parquet');
    await ok('export', '--db', db, '--format', 'parquet', '--out', out, '--protocol', 'tcp');
    const t = readBack(out);
    expect(t.numRows).toBe(all.filter((r) => r.protocol === 6).length);
    expect(new Set(Array.from(t.getChild('protocol')!.toArray() as Int32Array))).toEqual(new Set([6]));
    const empty = tmpFile('export-empty.parquet');
    await ok('export', '--db', db, '--format', 'parquet', '--out', empty, '--from', '2200-01-01');
    const e = readBack(empty);
    expect(e.numRows).toBe(0);
    expect(e.schema.fields.length).toBe(EXPORT_COLUMNS.length);
  });
});

describe('export ipfix', () => {
  const key = (r: NfRecord) => [r.proto, r.src4_addr ?? r.src6_addr ?? r.in_src_mac, r.src_port, r.dst4_addr ?? r.dst6_addr ?? r.in_dst_mac, r.dst_port, r.first, r.last, r.in_packets, r.in_bytes, r.tcp_flags, r.icmp_type, r.icmp_code].join('|');

  it.skipIf(skipping(!nfdumpPresent && 'nfcapd/nfdump not installed', 'export ipfix into nfcapd'))(
    'into nfcapd: the records `read --ipfix` sends for the same capture, one per direction with packets',
    async () => {
      const exported = await startNfcapd();
      const r = await flowmaster('export', '--db', db, '--format', 'ipfix', '--ipfix', `127.0.0.1:${exported.port}`);
      expect(r.code, r.stderr).toBe(0);
      await exported.stop();
      const records = all.reduce((n, f) => n + (f.fwdPackets > 0 ? 1 : 0) + (f.revPackets > 0 ? 1 : 0), 0);
      expect(r.stderr).toMatch(new RegExp(`^export: ${all.length} flows as ${records} IPFIX records`));
      const got = readNfdump(exported.dir);
      expect(got.length).toBe(records);
      expect(got.reduce((n, x) => n + x.in_packets, 0)).toBe(totals(all).packets);
      expect(got.reduce((n, x) => n + x.in_bytes, 0)).toBe(totals(all).bytes);
      // the records rebuilt from rows are the ones the capture's records make (times, flags, ICMP, MACs of layer-2 flows)
      const sent = await startNfcapd();
      await ok('read', '--format', 'csv', '--ipfix', `127.0.0.1:${sent.port}`, capture);
      await sent.stop();
      expect(got.map(key).sort()).toEqual(readNfdump(sent.dir).map(key).sort());
    },
  );
});

describe('export ipfix of flows ingested with --statistics', () => {
  it('the port templates carry the TCP flag counters (IE 218..223), as `read --statistics --ipfix` sends them', async () => {
    const stats = tmpFile('export-stats.db');
    await ok('ingest', '--db', stats, '--no-progress', '--statistics', capture);
    const socket = dgram.createSocket('udp4');
    const messages: Buffer[] = [];
    socket.on('message', (m) => messages.push(m));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    try {
      const r = await flowmaster('export', '--db', stats, '--format', 'ipfix', '--ipfix', `127.0.0.1:${socket.address().port}`, '--protocol', 'tcp');
      expect(r.code, r.stderr).toBe(0);
      const sent = Number(/ in (\d+) messages/.exec(r.stderr)![1]);
      for (let i = 0; i < 100 && messages.length < sent; i++) await new Promise((res) => setTimeout(res, 20));
      expect(messages.length).toBe(sent);
    } finally {
      socket.close();
    }
    // the template records of every template set: id -> its element ids
    const templates = new Map<number, number[]>();
    for (const m of messages) {
      for (let o = 16; o + 4 <= m.length; o += m.readUInt16BE(o + 2)) {
        if (m.readUInt16BE(o) !== 2) continue;
        for (let t = o + 4; t < o + m.readUInt16BE(o + 2); ) {
          const [id, n] = [m.readUInt16BE(t), m.readUInt16BE(t + 2)];
          const ies: number[] = [];
          t += 4;
          for (let k = 0; k < n; k++) {
            const ie = m.readUInt16BE(t);
            ies.push(ie & 0x7fff);
            t += ie & 0x8000 ? 8 : 4;
          }
          templates.set(id, ies);
        }
      }
    }
    expect(templates.get(256)).toEqual(expect.arrayContaining([218, 219, 220, 221, 222, 223]));
  });
});

describe('export errors', () => {
  const oneLine = (r: { code: number; stderr: string }, code: number, err: string) => {
    expect(r.code).toBe(code);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`[${err}]`);
  };

  it('missing --db, bad --format, parquet without --out, ipfix without --ipfix: usage errors (exit 2)', async () => {
    oneLine(await flowmaster('export', '--format', 'csv'), 2, 'ERR_USAGE');
    oneLine(await flowmaster('export', '--db', db, '--format', 'xml'), 2, 'ERR_INVALID_OPTION');
    oneLine(await flowmaster('export', '--db', db), 2, 'ERR_USAGE');
    oneLine(await flowmaster('export', '--db', db, '--format', 'parquet'), 2, 'ERR_USAGE');
    oneLine(await flowmaster('export', '--db', db, '--format', 'ipfix'), 2, 'ERR_USAGE');
    oneLine(await flowmaster('export', '--db', db, '--format', 'csv', '--ipfix', '127.0.0.1:4739'), 2, 'ERR_USAGE');
    oneLine(await flowmaster('export', '--db', db, '--format', 'csv', '--host', 'not-an-ip'), 2, 'ERR_INVALID_OPTION');
  });

  it('a database that is not there, an output that cannot be written: runtime errors (exit 1)', async () => {
    oneLine(await flowmaster('export', '--db', tmpFile('missing.db'), '--format', 'csv'), 1, 'ERR_DB_NOT_FOUND');
    oneLine(await flowmaster('export', '--db', db, '--format', 'csv', '--out', '/nonexistent-dir/x.csv'), 1, 'ERR_EXPORT');
    oneLine(await flowmaster('export', '--db', db, '--format', 'csv', '--out', '/nonexistent-dir/x.csv', '--from', '2200-01-01'), 1, 'ERR_EXPORT'); // no rows: the header alone
    const bad = '/nonexistent-dir/x.parquet';
    oneLine(await flowmaster('export', '--db', db, '--format', 'parquet', '--out', bad), 1, 'ERR_EXPORT');
    expect(fs.existsSync(bad)).toBe(false);
  });
});

describe('export memory', () => {
  /**
   * 120,000 rows (real stored rows, repeated with new ids) through the
   * writers in a child with a 96 MB V8 heap: holding them all would need
   * several hundred MB, so the export must stream. Parquet's WebAssembly
   * memory (outside the V8 heap) is checked to hold about a row group.
   */
  it.each(['csv', 'parquet'])('%s: 120k rows with a 96 MB heap', async (format) => {
    const script = tmpFile(`export-memory-${format}.cjs`);
    fs.writeFileSync(
      script,
      `const { openStore } = require(${JSON.stringify(path.join(root, 'dist/store/store'))});
const s = openStore(${JSON.stringify(db)}, { readonly: true });
const base = s.flows.page({ limit: 1000 }).items;
s.close();
const N = 120000;
function* pages() { for (let i = 0; i < N; i += 10000) yield Array.from({ length: 10000 }, (_, j) => ({ ...base[(i + j) % base.length], id: i + j + 1 })); }
(async () => {
  const out = ${JSON.stringify(tmpFile(`export-memory.${format}`))};
  const n = ${format === 'parquet'}
    ? (await require(${JSON.stringify(path.join(root, 'dist/export/parquet'))}).writeParquet(pages(), out)).rows
    : await require(${JSON.stringify(path.join(root, 'dist/cli/export'))}).exportText(pages(), { format: 'csv', out });
  const wasm = ${format === 'parquet'} ? require(require.resolve('parquet-wasm', { paths: [${JSON.stringify(root)}] })).wasmMemory().buffer.byteLength : 0;
  console.log(JSON.stringify({ n, heap: process.memoryUsage().heapUsed, wasm, size: require('fs').statSync(out).size }));
})().catch((e) => { console.error(e); process.exit(1); });
`,
    );
    const { stdout } = await run(process.execPath, ['--max-old-space-size=96', script], { cwd: root, maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout) as { n: number; wasm: number; size: number };
    expect(r.n).toBe(120_000);
    expect(r.size).toBeGreaterThan(1_000_000);
    expect(r.wasm).toBeLessThan(128 * 2 ** 20);
  }, 300_000);
});

/**
 * The fast text output (src/export/text.ts, what `flowmaster read --format
 * jsonl|csv` prints) against the reference formatters it replaced, kept as
 * the oracle: jsonLine (JSON.stringify(Flow.toObject())) and csvRow of
 * src/export/columns.ts. Byte for byte, on every flow of
 *  - generated captures of every kind (IPv4/IPv6, TCP/UDP/ICMP/SCTP, ARP and
 *    other layer-2 flows, VLAN and QinQ, tunnels, fragments; µs and ns
 *    timestamps; segments and every end reason), on both engines;
 *  - the shared captures (../shared/pcaps, ../shared/community-id) when present;
 *  - random records: every field any value (u64 counters above 2^53, times
 *    from 1970 to 2554, negative and huge durations, NaN statistics, ...);
 *  - and through `flowmaster read` itself.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { FlowmasterError } from '../src/errors';
import { csvHeader, csvRow } from '../src/export/columns';
import { TextFormatter, type TextFormat } from '../src/export/text';
import { FlowBatch } from '../src/flow/flow';
import { Offsets as O, RECORD_SIZE } from '../src/flow/layout';
import { FlowMeter, type FlowMeterOptions } from '../src/index';
import { tmpFile } from './helpers/capture';
import { COMMUNITY_ID_DIR, CORPUS_DIR } from './helpers/corpus';
import { TEST_ENGINE } from './helpers/read';
import { rng } from './helpers/rng';
import { skipping } from './helpers/skip';

const genPcap = () => import('../scripts/gen-pcap.mjs');
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

/** The reference lines of a batch, each with its '\n' (CSV: the SPLT columns when splt > 0). */
function reference(batch: FlowBatch, format: TextFormat, statistics: boolean, splt = 0): string {
  let s = '';
  for (const f of batch) s += (format === 'csv' ? csvRow(f, { statistics, splt }) : JSON.stringify(f.toObject({ statistics }))) + '\n';
  return s;
}

/** The fast formatter's chunks of a whole batch, joined. */
function fast(batch: FlowBatch, formatter: TextFormatter): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < batch.length; ) {
    const { chunk, next } = formatter.chunk(batch, i);
    expect(next).toBeGreaterThan(i);
    chunks.push(chunk);
    i = next;
  }
  return Buffer.concat(chunks);
}

interface Tally {
  flows: number;
  bytes: number;
}

/** Fails (naming the first flow that differs) unless the fast output of `batch` is the reference's, byte for byte. */
function expectSame(batch: FlowBatch, format: TextFormat, statistics: boolean, label: string, tally: Tally, chunkSize?: number, splt = 0): void {
  const want = Buffer.from(reference(batch, format, statistics, splt), 'utf8');
  const got = fast(batch, new TextFormatter(format, { statistics, chunkSize, splt }));
  if (!got.equals(want)) {
    const a = got.toString('utf8').split('\n');
    const b = want.toString('utf8').split('\n');
    const i = b.findIndex((line, k) => a[k] !== line);
    expect(a[i], `${label}: ${format}${statistics ? ' + statistics' : ''}, record ${i} of the batch (raw ${Buffer.from(batch.at(Math.min(i, batch.length - 1)).raw).toString('hex')})`).toBe(b[i]);
    expect(got.length, `${label}: ${format} length`).toBe(want.length);
  }
  expect(got.equals(want)).toBe(true);
  tally.flows += batch.length;
  tally.bytes += got.length;
}

/** Reads a capture and compares every batch in both formats (also with statistics and SPLT columns when the meter keeps them). */
async function compareCapture(file: string, options: FlowMeterOptions, label: string): Promise<Tally & { error?: unknown }> {
  const tally: Tally = { flows: 0, bytes: 0 };
  const run = new FlowMeter({ engine: TEST_ENGINE, ...options }).readFile(file);
  try {
    for await (const batch of run) {
      expectSame(batch, 'jsonl', false, label, tally);
      expectSame(batch, 'csv', false, label, tally);
      if (options.statistics) {
        expectSame(batch, 'jsonl', true, label, tally);
        expectSame(batch, 'csv', true, label, tally, undefined, options.splt ?? 0);
      }
    }
  } catch (e) {
    if (!(e instanceof FlowmasterError)) throw e; // a failed expectation, not a damaged capture
    return { ...tally, error: e };
  }
  return tally;
}

describe('text output: the fast formatter prints what jsonLine / csvRow print', () => {
  const captures: { name: string; file: string }[] = [];
  beforeAll(async () => {
    const { generate } = await genPcap();
    const make = async (name: string, options: Record<string, unknown>) => {
      const file = tmpFile(name);
      await generate({ out: file, quiet: true, ...options });
      captures.push({ name, file });
    };
    await make('full.pcap', { packets: 60_000, flows: 6_000, mix: 'full', seed: 1 });
    // ns timestamps on a second interface: first/last with 4..6 digits after the point
    await make('full-ns.pcapng', { packets: 40_000, flows: 4_000, mix: 'full', seed: 2, format: 'pcapng', nanos: true, multiInterface: true, iface2: 'sll' });
    await make('l2-tunnels.pcap', { packets: 40_000, flows: 4_000, mix: 'full,l2=30,frag=15,vxlan=10,gre=10,ipv6=50,qinq=20', seed: 3, bigEndian: true, sizes: '64' });
    await make('default.pcap', { packets: 30_000, flows: 3_000, mix: 'default', seed: 4, gapUs: 2000 });
  }, 120_000);

  it('generated captures, every flow, jsonl and csv (and JSON with statistics)', async () => {
    const variants: [string, FlowMeterOptions][] = [
      ['defaults', {}],
      // segments, every end reason (active timeout, evictions, idle, tcp-end, flush) and statistics
      ['segments + evictions + statistics + splt', { activeTimeout: 0.02, idleTimeout: 0.05, maxFlows: 300, statistics: true, splt: 12 }],
    ];
    for (const { name, file } of captures) {
      for (const [v, options] of variants) {
        const t = await compareCapture(file, options, `${name} (${v})`);
        expect(t.error, `${name}: ${String(t.error)}`).toBeUndefined();
        expect(t.flows, name).toBeGreaterThan(1000);
      }
    }
  }, 120_000);

  it('the other engine gives the same text for its records', async () => {
    const other = TEST_ENGINE === 'ts' ? 'native' : 'ts';
    const t = await compareCapture(captures[0].file, { engine: other, statistics: true }, `${captures[0].name} (${other} engine)`);
    expect(t.flows).toBeGreaterThan(1000);
  }, 60_000);

  it('chunks end on line boundaries, into new or reused buffers, and line() is one line of chunk()', async () => {
    const tally: Tally = { flows: 0, bytes: 0 };
    for await (const batch of new FlowMeter({ engine: TEST_ENGINE }).readFile(captures[0].file)) {
      expectSame(batch, 'jsonl', false, 'smallest chunks', tally, 1); // chunkSize is raised to its minimum (16 KiB)
      expectSame(batch, 'csv', false, 'smallest chunks', tally, 1);
      for (const format of ['jsonl', 'csv'] as const) {
        const text = new TextFormatter(format);
        // into one buffer, reused for every chunk (as read does once a chunk is written)
        const into = Buffer.alloc(16384);
        const parts: Buffer[] = [];
        for (let i = 0; i < batch.length; ) {
          const { chunk, next } = text.chunk(batch, i, into);
          expect(chunk.buffer).toBe(into.buffer);
          parts.push(Buffer.from(chunk));
          i = next;
        }
        expect(Buffer.concat(parts).equals(Buffer.from(reference(batch, format, false)))).toBe(true);
        expect(() => text.chunk(batch, 0, Buffer.alloc(1000))).toThrow(RangeError);
        for (let i = 0; i < batch.length; i += 97) {
          const f = batch.at(i);
          expect(text.line(batch, i)).toBe(format === 'csv' ? csvRow(f) : JSON.stringify(f.toObject()));
        }
        expect(() => text.line(batch, batch.length)).toThrow(RangeError);
      }
    }
    expect(tally.flows).toBeGreaterThan(1000);
    expect(new TextFormatter('csv').header()).toBe(csvHeader() + '\n');
    expect(new TextFormatter('jsonl').header()).toBe('');
  }, 60_000);

  it('random records: any value in any field', () => {
    const r = rng(20261204);
    const tally: Tally = { flows: 0, bytes: 0 };
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
    const u32 = () => Math.floor(r() * 4294967296);
    const T0 = 1_767_225_600n * 1_000_000_000n;
    for (let round = 0; round < 12; round++) {
      const n = 4096;
      const buf = new ArrayBuffer(n * RECORD_SIZE);
      const b = new Uint8Array(buf);
      const v = new DataView(buf);
      for (let i = 0; i < b.length; i++) b[i] = u32() & 255;
      for (let i = 0; i < n; i++) {
        const o = i * RECORD_SIZE;
        if (round % 3 === 0) continue; // all bytes random
        // plausible records with edge values mixed in
        b[o + O.kFlags] = u32() & 31;
        b[o + O.kIpVersion] = pick([4, 4, 6, 6, 0, 5]);
        b[o + O.kProtocol] = pick([1, 6, 17, 58, 132, 47, 50, 0, 255, u32() & 255]);
        b[o + O.kEndReason] = pick([0, 1, 2, 3, 4, 5, 6, 200]);
        v.setUint16(o + O.kEtherType, pick([0x0800, 0x86dd, 0x0806, 0x88cc, 0x88b8, 0x8892, 0, 0xffff, u32() & 0xffff]), true);
        v.setUint16(o + O.kSegment, pick([0, 0, 1, 65535, u32() & 0xffff]), true);
        for (const k of [O.kSrcPort, O.kDstPort, O.kVlan]) v.setUint16(o + k, pick([0, 1, 9, 10, 80, 443, 9999, 10000, 65535, u32() & 0xffff]), true);
        const first = pick([
          T0 + BigInt(u32()) * 1000n, // µs
          T0 + BigInt(u32()) * 1000n + BigInt(u32() % 1000), // ns
          T0 + BigInt(u32() % 1000) * 1_000_000n, // whole ms
          BigInt(u32() % 100_000), // 1970, below a ms
          BigInt(u32()) * 1000n, // 1970
          (1n << 63n) + BigInt(u32()), // 2262
          (1n << 64n) - 1n - BigInt(u32() % 1_000_000), // the last ns of 2554
          0n,
        ]);
        const span = pick([0n, 1n, 999n, 1000n, 1_000_000n, BigInt(u32()), BigInt(u32()) * 1000n, 1n << 53n, (1n << 53n) + 1n, 1n << 60n, -1n, -1_000_000n, -BigInt(u32())]);
        const last = (first + span) & ((1n << 64n) - 1n);
        v.setBigUint64(o + O.kFirstNs, first, true);
        v.setBigUint64(o + O.kLastNs, last, true);
        for (const k of [O.kFwdPackets, O.kFwdBytes, O.kRevPackets, O.kRevBytes, O.kFlowId]) {
          v.setBigUint64(o + k, pick([0n, 1n, 9n, 65535n, 65536n, BigInt(u32()), (1n << 31n) - 1n, 1n << 31n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 64n) - 1n, BigInt(u32()) << BigInt(u32() % 32)]), true);
        }
        // addresses with zero runs of every length (RFC 5952), ARP IPs that are 0.0.0.0
        for (const a of [O.kSrcAddr, O.kDstAddr]) for (let w = 0; w < 8; w++) if (r() < 0.4) v.setUint16(o + a + 2 * w, 0);
        if (r() < 0.2) v.setUint32(o + O.kSrcAddr + O.kArpIp, 0);
        // ICMP types with and without a counterpart
        b[o + O.kIcmpType] = pick([0, 8, 13, 14, 128, 129, 133, 136, 3, 11, 255]);
        for (const s of [O.kFwdStats, O.kRevStats, O.kBiStats]) {
          for (const k of [O.kStatSizeMean, O.kStatSizeStddev, O.kStatIatMean, O.kStatIatStddev]) {
            v.setFloat64(o + s + k, pick([0, -0, NaN, Infinity, -Infinity, 5e-324, 1e21, 1e-7, 123.456, r() * 1500, r() * 1e9, (u32() - 2 ** 31) / 7]), true);
          }
          for (const k of [O.kStatIatMin, O.kStatIatMax]) v.setBigUint64(o + s + k, pick([0n, 1n, 999n, 1_000_000n, 1_234_567n, BigInt(u32()), BigInt(u32()) * 1000n, (1n << 53n) + 1n, (1n << 64n) - 1n]), true);
        }
        // field list v2: registered, unknown, group and local MACs (vendors: quotes, commas), every tunnel type and
        // conn_state and some beyond, direction times, history letters (with bytes CSV quotes and JSON escapes), SPLT
        for (const m of [O.kSrcMac, O.kDstMac]) b.set(pick([[0x00, 0x1d, 0x60], [0x00, 0xa0, 0xf4], [0x00, 0x50, 0x56], [0x3c, 0x5a, 0xb4], [0x00, 0x00, 0x0c], [0xfc, 0xfb, 0xfb], [0x01, 0x00, 0x5e], [0x02, 0x42, 0xac], [0xff, 0xff, 0xff], [u32() & 252, u32() & 255, u32() & 255]]), o + m);
        b[o + O.kTunnelType] = pick([0, 0, 1, 2, 3, 4, 5, 6, 255]);
        b[o + O.kConnState] = pick([0, 1, 3, 4, 7, 13, 14, 255]);
        v.setUint32(o + O.kTunnelId, pick([0, 1, 4789, 0xffffff, 0xffffffff, u32()]), true);
        for (const k of [O.kFwdLastNs, O.kRevFirstNs, O.kRevLastNs]) v.setBigUint64(o + k, pick([first, last, first + 1n, (first + BigInt(u32())) & ((1n << 64n) - 1n), 0n]), true);
        if (r() < 0.3) v.setBigUint64(o + O.kRevPackets, 0n, true);
        const history = pick(['', 'ShADadFf', 'ShAdDaFRTW', 'D', 'Dd', 'SQ', 'a"b,c\\', 'x\n\ry\t', '0123456789abcdef', '\u00e9\u00ff\u0080A', 'Sh\u007f\u0001']);
        b.fill(0, o + O.kHistory, o + O.kHistory + O.kHistorySize);
        for (let k = 0; k < history.length; k++) b[o + O.kHistory + k] = history.charCodeAt(k);
        if (r() < 0.1) for (let k = 0; k < O.kHistorySize; k++) b[o + O.kHistory + k] = 1 + (u32() % 255); // no NUL
        b[o + O.kSpltCount] = pick([0, 0, 1, 2, 5, 32, 33, 255]);
        for (let k = 0; k < O.kSpltMax; k++) v.setUint32(o + O.kSpltIats + 4 * k, pick([0, 1, 10, 100, 999, 1000, 1001, 123456, 0xffffffff, u32()]), true);
      }
      const batch = new FlowBatch(buf);
      expectSame(batch, 'jsonl', false, `random round ${round}`, tally);
      expectSame(batch, 'jsonl', true, `random round ${round}`, tally);
      expectSame(batch, 'csv', false, `random round ${round}`, tally);
      expectSame(batch, 'csv', true, `random round ${round}`, tally, undefined, 32);
    }
    expect(tally.flows).toBe(12 * 4096 * 4);
  }, 60_000);

  it('flowmaster read --format jsonl / csv prints the reference lines (CSV header first)', async () => {
    const { file } = captures[0];
    let jsonl = '';
    let csv = csvHeader() + '\n';
    for await (const batch of new FlowMeter().readFile(file)) {
      jsonl += reference(batch, 'jsonl', false);
      csv += reference(batch, 'csv', false);
    }
    const run = promisify(execFile);
    for (const [format, want] of [['jsonl', jsonl], ['csv', csv]] as const) {
      const { stdout } = await run(process.execPath, [cli, 'read', '--format', format, file], { cwd: root, maxBuffer: 256 << 20, encoding: 'buffer' });
      expect(stdout.length, format).toBe(Buffer.byteLength(want));
      expect(stdout.equals(Buffer.from(want)), format).toBe(true);
    }
  }, 60_000);

  it('flowmaster read --statistics --format jsonl prints each flow with its per-direction statistics', async () => {
    const { file } = captures[0];
    let want = '';
    for await (const batch of new FlowMeter({ statistics: true }).readFile(file)) want += reference(batch, 'jsonl', true);
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'read', '--statistics', '--format', 'jsonl', file], { cwd: root, maxBuffer: 256 << 20 });
    expect(stdout).toBe(want);
    const first = JSON.parse(stdout.split('\n')[0]);
    for (const k of ['fwdStats', 'revStats', 'biStats', 'fwdFlagCounts', 'revFlagCounts']) expect(first).toHaveProperty(k);
    expect(Object.keys(first.biStats)).toEqual(['sizeMin', 'sizeMax', 'sizeMean', 'sizeStddev', 'iatMinMs', 'iatMaxMs', 'iatMeanMs', 'iatStddevMs']);
  }, 60_000);

  it('flowmaster read --statistics --splt N --format csv: the statistics and SPLT columns, filled', async () => {
    const { file } = captures[0];
    let want = csvHeader({ statistics: true, splt: 8 }) + '\n';
    for await (const batch of new FlowMeter({ statistics: true, splt: 8 }).readFile(file)) want += reference(batch, 'csv', true, 8);
    const args = [cli, 'read', '--statistics', '--splt', '8', '--format', 'csv', file];
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: root, maxBuffer: 256 << 20 });
    const header = stdout.slice(0, stdout.indexOf('\n')).split(',');
    for (const c of ['bi_size_mean', 'fwd_iat_mean_ms', 'rev_syn_packets', 'fwd_cwr_packets', 'splt_direction', 'splt_size', 'splt_iat_ms']) expect(header).toContain(c);
    expect(stdout).toBe(want);
    // the columns hold the meter's statistics (a TCP flow has sizes and SYNs)
    const rows = stdout.trim().split('\n').slice(1).map((l) => l.split(','));
    const col = (c: string) => header.indexOf(c);
    expect(rows.some((r) => Number(r[col('fwd_size_max')]) > 0 && Number(r[col('fwd_syn_packets')]) > 0)).toBe(true);
    await expect(promisify(execFile)(process.execPath, [cli, 'read', '--splt', '33', file], { cwd: root })).rejects.toThrow(/0\.\.32/);
  }, 60_000);

  it('CSV times are epoch ms holding the record\'s ns exactly; the v2 and optional columns come after the application\'s', () => {
    const buf = new ArrayBuffer(RECORD_SIZE);
    const v = new DataView(buf);
    v.setBigUint64(O.kFirstNs, 1_700_000_000_123_456_789n, true);
    v.setBigUint64(O.kLastNs, 1_700_000_002_000_000_001n, true);
    v.setBigUint64(O.kFwdLastNs, 1_700_000_001_000_000_000n, true);
    v.setBigUint64(O.kRevPackets, 1n, true);
    v.setBigUint64(O.kRevFirstNs, 1_700_000_000_200_000_000n, true);
    v.setBigUint64(O.kRevLastNs, 1_700_000_002_000_000_001n, true);
    new Uint8Array(buf)[O.kIpVersion] = 4;
    const f = new FlowBatch(buf).at(0);
    const row = Object.fromEntries(csvHeader().split(',').map((c, i) => [c, csvRow(f).split(',')[i]]));
    expect(row).toMatchObject({ first: '1700000000123.456789', last: '1700000002000.000001', fwd_first: '1700000000123.456789', fwd_last: '1700000001000.000000', rev_first: '1700000000200.000000', rev_last: '1700000002000.000001', duration_ms: '1876.543212' });
    const columns = csvHeader({ statistics: true, splt: 1 }).split(',');
    expect(columns.indexOf('application')).toBe(26);
    expect(columns.indexOf('inner_vlan')).toBe(26 + 20);
    expect(columns.slice(-3)).toEqual(['splt_direction', 'splt_size', 'splt_iat_ms']);
  });
});

const shared = [CORPUS_DIR, COMMUNITY_ID_DIR]
  .filter((d) => fs.existsSync(d))
  .flatMap((d) => fs.readdirSync(d).filter((f) => /\.pcap(ng)?$/.test(f)).sort().map((f) => path.join(d, f)));

describe.skipIf(skipping(shared.length === 0 && `${CORPUS_DIR} not found`, 'text output on the shared captures'))('text output on the shared captures', () => {
  it('every flow of every capture, jsonl and csv (and JSON with statistics)', async () => {
    let flows = 0;
    let damaged = 0;
    for (const file of shared) {
      for (const options of [{}, { statistics: true, activeTimeout: 1, idleTimeout: 5 }]) {
        const t = await compareCapture(file, options, path.basename(file));
        flows += t.flows;
        if (t.error) damaged++;
      }
    }
    expect(flows).toBeGreaterThan(1000);
    expect(damaged).toBeLessThan(shared.length * 2); // the damaged ones are compared up to their damage
  }, 120_000);
});

/**
 * Equivalence: the TypeScript engine (src/engine/ts) must produce the same
 * FlowBatch records as the native engine, byte for byte (compared as a
 * multiset of 256-byte records), and the same summary (counters, first/last
 * packet time, error code, message and offset), on the shared corpus, on
 * generated captures of every format, across option combinations, and on
 * damaged captures.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative, nativeOptions, type NativeSummary } from '../src/engine/native';
import type { BpfInstruction } from '../src/engine/ts/bpf';
import { readFileTs, type FilterCompiler } from '../src/engine/ts/run';
import { resolveOptions, type FlowMeterOptions, type ResolvedOptions } from '../src/options';
import { RECORD_SIZE } from '../src/flow/layout';
import { tcp4, udp4 } from './helpers/capture';
import { corpusFiles, corpusMissing, corpusPresent, CORPUS_DIR } from './helpers/corpus';
// @ts-expect-error plain ESM helper without type declarations
import { generate } from '../scripts/gen-pcap.mjs';
import { addonError } from './helpers/addon';
import { rng } from './helpers/rng';
import { skipping } from './helpers/skip';

interface RunResult {
  records: string[];
  batches: number[];
  summary: NativeSummary;
}

function records(ab: ArrayBuffer, out: string[]): void {
  const b = Buffer.from(ab);
  for (let i = 0; i < b.length; i += RECORD_SIZE) out.push(b.toString('hex', i, i + RECORD_SIZE));
}

const noAddon = skipping(addonError && `the native addon is not built, nothing to compare with: ${addonError}`, 'native == ts');

/** Public options, plus the internal packet limit of a segment. */
type RunOptions = FlowMeterOptions & { maxPackets?: number };
function resolved({ maxPackets, ...options }: RunOptions): ResolvedOptions {
  return { ...resolveOptions(options), maxPackets };
}

function runNative(file: string, options: RunOptions): Promise<RunResult> {
  const addon = loadNative();
  return new Promise((resolve) => {
    const recs: string[] = [];
    const batches: number[] = [];
    const job = new addon.FileJob(file, nativeOptions(resolved(options)), (kind, payload) => {
      if (kind === 'batch') {
        const ab = payload as ArrayBuffer;
        batches.push(ab.byteLength);
        records(ab, recs);
        job.ack();
      } else {
        resolve({ records: recs, batches, summary: payload as NativeSummary });
      }
    });
    job.start();
  });
}

async function runTs(file: string, options: RunOptions, filter?: FilterCompiler): Promise<RunResult> {
  const recs: string[] = [];
  const batches: number[] = [];
  const gen = readFileTs(file, resolved(options), { cancelled: false }, filter);
  for (;;) {
    const r = await gen.next();
    if (r.done) return { records: recs, batches, summary: r.value };
    batches.push(r.value.byteLength);
    records(r.value, recs);
  }
}

/** '' when the multisets are equal, else a short description of the difference. */
function multisetDiff(a: string[], b: string[]): string {
  const sa = [...a].sort();
  const sb = [...b].sort();
  if (sa.length === sb.length && sa.every((x, i) => x === sb[i])) return '';
  const count = new Map<string, number>();
  for (const x of sa) count.set(x, (count.get(x) ?? 0) + 1);
  const onlyB: string[] = [];
  for (const x of sb) {
    const c = count.get(x) ?? 0;
    if (c > 0) count.set(x, c - 1);
    else onlyB.push(x);
  }
  const onlyA = [...count.entries()].filter(([, c]) => c > 0).map(([x]) => x);
  return `native ${a.length} records, ts ${b.length}; only native (${onlyA.length}): ${onlyA.slice(0, 2).join(' ')}; only ts (${onlyB.length}): ${onlyB.slice(0, 2).join(' ')}`;
}

function batchShapeOk(batches: number[], batchSize: number): boolean {
  const full = batchSize * RECORD_SIZE;
  return batches.every((b, i) => b > 0 && b % 256 === 0 && (i === batches.length - 1 ? b <= full : b === full));
}

async function expectSame(file: string, options: RunOptions, filter?: FilterCompiler): Promise<RunResult> {
  const [n, t] = [await runNative(file, options), await runTs(file, options, filter)];
  expect(t.summary, `summary of ${path.basename(file)} with ${JSON.stringify(options)}`).toEqual(n.summary);
  expect(multisetDiff(n.records, t.records), `records of ${path.basename(file)} with ${JSON.stringify(options)}`).toBe('');
  expect(batchShapeOk(t.batches, resolved(options).batchSize), `batch sizes ${t.batches.slice(0, 5).join(',')}`).toBe(true);
  return t;
}

const CORPUS_OPTIONS: FlowMeterOptions[] = [
  {},
  { idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false, keyVlan: false, statistics: true },
  { idleTimeout: 0.5, activeTimeout: 2, tcpCloseTimeout: 0, accounting: 'ip', statistics: true, splt: 32, batchSize: 7 },
  { decodeTunnels: false, l2Flows: false, accounting: 'transport', maxFlows: 4, batchSize: 1 },
  { accounting: 'payload', tcpCloseTimeout: 1, idleTimeout: 30, maxFlows: 64, statistics: true, splt: 5, keyVlan: false },
];

describe.skipIf(skipping(corpusMissing, 'native == ts on the shared corpus') || noAddon)('native == ts on the shared corpus', () => {
  const files = corpusFiles();
  it('finds the corpus', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const [i, options] of CORPUS_OPTIONS.entries()) {
    it(`options #${i} ${JSON.stringify(options)}`, async () => {
      for (const f of files) await expectSame(f.path, options);
    });
  }
});

let dir = '';
const gen: Record<string, string> = {};

const GENERATED: Record<string, Record<string, unknown>> = {
  'pcap-us': { packets: 40000, flows: 3000, mix: 'full', seed: 11, format: 'pcap', gapUs: 300 },
  'pcap-ns-be': { packets: 25000, flows: 800, mix: 'full', seed: 12, format: 'pcap', nanos: true, bigEndian: true, gapUs: 2000 },
  'pcapng-multi': { packets: 30000, flows: 2000, mix: 'full', seed: 13, format: 'pcapng', multiInterface: true, gapUs: 500, extraBlocks: true },
  'pcapng-be-sll': { packets: 20000, flows: 1500, mix: 'full', seed: 14, format: 'pcapng', bigEndian: true, multiInterface: true, iface2: 'sll', gapUs: 800 },
  'pcap-sll2': { packets: 10000, flows: 500, mix: 'default', seed: 15, format: 'pcap', link: 'sll2', gapUs: 1000 },
  'pcap-null-64': { packets: 10000, flows: 300, mix: 'default', seed: 16, format: 'pcap', link: 'null', sizes: '64', gapUs: 3000 },
};

const GENERATED_OPTIONS: FlowMeterOptions[] = [
  { statistics: true },
  { idleTimeout: 0.05, activeTimeout: 0.4, tcpCloseTimeout: 0.01, statistics: true, batchSize: 100 },
  { maxFlows: 50, accounting: 'ip', keyVlan: false, batchSize: 333 },
  { decodeTunnels: false, l2Flows: false, tcpTermination: false, accounting: 'payload', idleTimeout: Infinity, activeTimeout: Infinity },
  { accounting: 'transport', maxFlows: 700, idleTimeout: 0.02, activeTimeout: 1, tcpCloseTimeout: 0, statistics: true },
  { maxFlows: 1, batchSize: 1, tcpTermination: false },
  { keyVlan: false, decodeTunnels: false, idleTimeout: 0.2, activeTimeout: 0.1, tcpCloseTimeout: 2, statistics: true, batchSize: 4096 },
];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-equiv-'));
  if (noAddon) return;
  for (const [name, o] of Object.entries(GENERATED)) {
    const out = path.join(dir, `${name}.${o.format}`);
    await generate({ ...o, out, quiet: true });
    gen[name] = out;
  }
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(noAddon)('native == ts on generated captures', () => {
  for (const name of Object.keys(GENERATED)) {
    it(name, async () => {
      for (const options of GENERATED_OPTIONS) {
        const t = await expectSame(gen[name], options);
        expect(t.summary.packets).toBe(GENERATED[name].packets);
      }
    });
  }
});


describe.skipIf(noAddon)('native == ts: a full packet counter ends the segment', () => {
  // The native table counts packets in 32 bits: before a direction passes
  // 2^32 - 1 the segment ends (reason active) and the flow goes on in the next.
  // maxPackets lowers that limit so both engines can be checked on it.
  const u64 = (hex: string, at: number): number => Number(Buffer.from(hex.slice(at * 2, at * 2 + 16), 'hex').readBigUInt64LE());
  it('same records; per flow, the segments add up to the unsplit flow', async () => {
    const options: FlowMeterOptions = { activeTimeout: Infinity, idleTimeout: Infinity, tcpTermination: false };
    const whole = await runNative(gen['pcap-us'], options);
    const split = await expectSame(gen['pcap-us'], { ...options, maxPackets: 3 });
    const sum = (recs: string[]): Map<number, number[]> => {
      const m = new Map<number, number[]>();
      for (const r of recs) {
        const id = u64(r, 0);
        const t = m.get(id) ?? [0, 0, 0, 0, 0];
        for (let k = 0; k < 4; k++) t[k] += u64(r, 88 + 8 * k);
        t[4]++;
        m.set(id, t);
      }
      return m;
    };
    const a = sum(whole.records);
    const b = sum(split.records);
    expect(b.size).toBe(a.size);
    let segments = 0;
    for (const [id, t] of a) {
      expect(b.get(id)?.slice(0, 4)).toEqual(t.slice(0, 4));
      segments += b.get(id)?.[4] ?? 0;
    }
    expect(segments).toBeGreaterThan(a.size);
    for (const r of split.records) {
      expect(u64(r, 88)).toBeLessThanOrEqual(3);
      expect(u64(r, 104)).toBeLessThanOrEqual(3);
    }
    expect(split.records.filter((r) => parseInt(r.slice(66 * 2, 66 * 2 + 2), 16) === 2).length).toBe(segments - a.size);
  });
});

describe.skipIf(noAddon)('native == ts on damaged captures', () => {
  const write = (name: string, bytes: Uint8Array | string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    return f;
  };

  it('open errors: missing, directory, empty, not a capture, short header', async () => {
    await expectSame(path.join(dir, 'no', 'such.pcap'), {});
    await expectSame(path.join(dir, 'missing.pcap'), {});
    await expectSame(dir, {});
    await expectSame(write('empty.pcap', new Uint8Array(0)), {});
    await expectSame(write('text.pcap', 'hello, this is not a capture\n'), {});
    const pcap = fs.readFileSync(gen['pcap-us']);
    const pcapng = fs.readFileSync(gen['pcapng-multi']);
    for (const n of [1, 3, 4, 10, 23, 24, 30]) {
      await expectSame(write(`short-${n}.pcap`, pcap.subarray(0, n)), {});
      await expectSame(write(`short-${n}.pcapng`, pcapng.subarray(0, n)), {});
    }
  });

  it('truncated anywhere: flows before the damage, then the same error', async () => {
    const r = rng(99);
    for (const name of ['pcap-us', 'pcapng-multi', 'pcapng-be-sll']) {
      const buf = fs.readFileSync(gen[name]);
      for (let k = 0; k < 15; k++) {
        const cut = Math.floor(r() * Math.min(buf.length, 400_000));
        await expectSame(write(`cut-${name}-${cut}`, buf.subarray(0, cut)), { idleTimeout: 0.05 });
      }
    }
  });

  it('corrupted bytes: the same records, summary and error', async () => {
    const r = rng(7);
    for (const name of ['pcap-ns-be', 'pcapng-multi', 'pcapng-be-sll', 'pcap-sll2']) {
      const full = fs.readFileSync(gen[name]);
      const base = full.subarray(0, Math.min(full.length, 60_000));
      for (let k = 0; k < 60; k++) {
        const b = Buffer.from(base);
        const hits = 1 + Math.floor(r() * 4);
        for (let h = 0; h < hits; h++) {
          const at = r() < 0.3 ? Math.floor(r() * 64) : Math.floor(r() * b.length);
          b[at] = r() < 0.5 ? Math.floor(r() * 256) : b[at] ^ (1 << Math.floor(r() * 8));
        }
        await expectSame(write(`fuzz-${name}-${k}`, b), { statistics: true, idleTimeout: 0.01, maxFlows: 100 });
      }
    }
  });
});

// Hand-built captures for what the generator does not write: pcapng with every packet block
// kind, odd timestamp resolutions and offsets, several sections of both byte orders, unknown
// blocks, records bigger than a read chunk; pcap with disordered and extreme timestamps.
class PcapngBuilder {
  readonly parts: Buffer[] = [];
  be = false;
  u32(v: number | bigint): Buffer {
    const b = Buffer.alloc(4);
    if (this.be) b.writeUInt32BE(Number(BigInt(v) & 0xffffffffn));
    else b.writeUInt32LE(Number(BigInt(v) & 0xffffffffn));
    return b;
  }
  u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.be) b.writeUInt16BE(v & 0xffff);
    else b.writeUInt16LE(v & 0xffff);
    return b;
  }
  u64(v: bigint): Buffer {
    const m = v & 0xffffffffffffffffn;
    return this.be ? Buffer.concat([this.u32(m >> 32n), this.u32(m)]) : Buffer.concat([this.u32(m), this.u32(m >> 32n)]);
  }
  static pad(b: Buffer): Buffer {
    return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  }
  opt(code: number, value: Buffer): Buffer {
    return Buffer.concat([this.u16(code), this.u16(value.length), PcapngBuilder.pad(value)]);
  }
  block(type: number, body: Buffer, lenOverride?: number, trailOverride?: number): this {
    const b = PcapngBuilder.pad(body);
    const len = 12 + b.length;
    this.parts.push(Buffer.concat([this.u32(type), this.u32(lenOverride ?? len), b, this.u32(trailOverride ?? len)]));
    return this;
  }
  shb(be: boolean, opts: Buffer[] = [], version = 1): this {
    this.be = be;
    const body = Buffer.concat([this.u32(0x1a2b3c4d), this.u16(version), this.u16(0), this.u64(-1n), ...opts, ...(opts.length ? [this.u32(0)] : [])]);
    return this.block(0x0a0d0d0a, body);
  }
  idb(linktype: number, snaplen: number, opts: Buffer[] = []): this {
    const body = Buffer.concat([this.u16(linktype), this.u16(0), this.u32(snaplen), ...opts, ...(opts.length ? [this.u32(0)] : [])]);
    return this.block(1, body);
  }
  epb(iface: number, ts: bigint, data: Buffer, orig = data.length, caplen = data.length): this {
    return this.block(6, Buffer.concat([this.u32(iface), this.u32(ts >> 32n), this.u32(ts), this.u32(caplen), this.u32(orig), PcapngBuilder.pad(data)]));
  }
  pb(iface: number, ts: bigint, data: Buffer, orig = data.length): this {
    return this.block(2, Buffer.concat([this.u16(iface), this.u16(0), this.u32(ts >> 32n), this.u32(ts), this.u32(data.length), this.u32(orig), PcapngBuilder.pad(data)]));
  }
  spb(data: Buffer, orig = data.length): this {
    return this.block(3, Buffer.concat([this.u32(orig), PcapngBuilder.pad(data)]));
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function packetMix(i: number): Buffer {
  const c = `10.1.${(i >> 8) & 255}.${i & 255}`;
  switch (i % 5) {
    case 0:
      return tcp4(c, 40000 + (i % 7), '172.16.0.1', 443, i % 3 === 0 ? 'S' : i % 3 === 1 ? 'FA' : 'A', 20 + (i % 50));
    case 1:
      return tcp4('172.16.0.1', 443, c, 40000 + (i % 7), i % 4 === 0 ? 'R' : 'FA', 10, [{ id: 100 + (i % 3) }]);
    case 2:
      return udp4(c, 5000 + (i % 3), '172.16.0.2', 53, 40 + (i % 9));
    case 3:
      return udp4('172.16.0.2', 53, c, 5000 + (i % 3), 100);
    default:
      return tcp4(c, 41000, '172.16.0.3', 80, 'PA', 1400);
  }
}

function rawIp(eth: Buffer): Buffer {
  return eth.subarray(14);
}

const S = 1767225600n;

function exoticPcapng(): Buffer {
  const b = new PcapngBuilder();
  b.shb(false, [b.opt(4, Buffer.from('flowmaster test'))]);
  b.idb(1, 0); // 0: Ethernet, µs
  b.idb(101, 65535, [b.opt(9, Buffer.from([9])), b.opt(2, Buffer.from('tun0'))]); // 1: raw IP, ns
  b.idb(1, 0, [b.opt(9, Buffer.from([0x80 | 20]))]); // 2: 2^-20 s
  b.idb(1, 0, [b.opt(9, Buffer.from([12])), b.opt(14, b.u64(S))]); // 3: ps since an offset (BigInt path)
  b.idb(1, 0, [b.opt(9, Buffer.from([0x80]))]); // 4: 2^0 = seconds, through the multiply path
  b.idb(1, 0, [b.opt(9, Buffer.from([19])), b.opt(14, b.u64(S + 5n))]); // 5: 1e-19 s
  b.idb(1, 0, [b.opt(9, Buffer.from([3])), b.opt(14, b.u64(-1000n))]); // 6: ms, negative offset (wraps)
  b.block(0x00000bad, Buffer.from('custom block nobody knows'));
  for (let i = 0; i < 300; i++) {
    const data = packetMix(i);
    const t = BigInt(i) * 37n; // ms steps
    switch (i % 7) {
      case 0:
        b.epb(0, (S * 1000n + t) * 1000n, data);
        break;
      case 1:
        b.epb(1, (S * 1000n + t) * 1000000n, rawIp(data));
        break;
      case 2:
        b.epb(2, ((S * 1000n + t) << 20n) / 1000n, data);
        break;
      case 3:
        b.epb(3, t * 1000000000n + 123n, data);
        break;
      case 4:
        b.pb(4, S + t / 1000n, data, data.length + 4);
        break;
      case 5:
        b.epb(5, t * 10000000000000000n, data.subarray(0, 54), data.length);
        break;
      default:
        b.epb(6, S * 1000n + 1000n + t, data);
    }
    if (i === 150) b.block(5, Buffer.concat([b.u32(0), b.u32(0), b.u32(0)])); // interface statistics
    if (i === 200) b.epb(0, (S * 1000n + t) * 1000n, Buffer.concat([tcp4('10.9.9.9', 1, '10.9.9.8', 2, 'A'), Buffer.alloc(600_000)])); // > a chunk's headroom
  }
  // a second section, big-endian: interfaces start over; simple packet blocks use interface 0's snaplen
  b.shb(true);
  b.idb(1, 64, [b.opt(9, Buffer.from([6]))]);
  for (let i = 0; i < 60; i++) {
    const data = packetMix(1000 + i);
    if (i % 3 === 0) b.spb(data);
    else if (i % 3 === 1) b.epb(0, (S * 1000n + 20000n + BigInt(i)) * 1000n, data);
    else b.block(4, Buffer.concat([b.u16(1), b.u16(4), Buffer.from([10, 0, 0, 1]), b.u16(0), b.u16(0)])); // name resolution
  }
  // a third section, little-endian again, seconds resolution
  b.shb(false);
  b.idb(113, 0, [b.opt(9, Buffer.from([0]))]);
  for (let i = 0; i < 40; i++) {
    const ip = rawIp(packetMix(2000 + i));
    const sll = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, i, 0, 0, 8, 0]), ip]);
    b.epb(0, S + 30n + BigInt(i), sll);
  }
  // a fourth section: ns timestamps far apart, past 2^63 (long timeouts saturate or not)
  b.shb(false);
  b.idb(1, 0, [b.opt(9, Buffer.from([9]))]);
  for (const [i, ts] of [1000000000000000000n, 1000000000000000001n, 11000000000000000000n, 18000000000000000000n, 18446744073709551615n].entries()) {
    b.epb(0, ts, packetMix(i % 2));
  }
  return b.build();
}

function damagedPcapngs(): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const one = (f: (b: PcapngBuilder) => void): Buffer => {
    const b = new PcapngBuilder();
    b.shb(false);
    b.idb(1, 0);
    b.epb(0, S * 1000000n, packetMix(0));
    f(b);
    b.epb(0, S * 1000000n + 5n, packetMix(1));
    return b.build();
  };
  out['spb-before-idb'] = (() => {
    const b = new PcapngBuilder();
    b.shb(false);
    b.spb(packetMix(0));
    return b.build();
  })();
  out['epb-undefined-iface'] = one((b) => b.epb(3, 0n, packetMix(2)));
  out['option-overrun'] = one((b) => b.idb(1, 0, [Buffer.concat([b.u16(9), b.u16(200), Buffer.from([6, 0, 0, 0])])]));
  out['tsresol-decimal-20'] = one((b) => b.idb(1, 0, [b.opt(9, Buffer.from([20]))]));
  out['tsresol-binary-64'] = one((b) => b.idb(1, 0, [b.opt(9, Buffer.from([0x80 | 64]))]));
  out['trailing-length'] = one((b) => b.block(6, Buffer.alloc(32), undefined, 40));
  out['block-length-odd'] = one((b) => b.block(6, Buffer.alloc(32), 45));
  out['block-length-huge'] = one((b) => b.block(6, Buffer.alloc(32), 0x7ffffff0));
  out['epb-short'] = one((b) => b.block(6, Buffer.alloc(16)));
  out['epb-caplen-overrun'] = one((b) => b.epb(0, 0n, packetMix(3), 100, 5000));
  out['idb-short'] = one((b) => b.block(1, Buffer.alloc(4)));
  out['shb-version-2'] = one((b) => b.shb(false, [], 2));
  out['shb-bad-bom'] = one((b) => b.block(0x0a0d0d0a, Buffer.concat([Buffer.from([1, 2, 3, 4]), Buffer.alloc(20)])));
  out['shb-short'] = one((b) => b.block(0x0a0d0d0a, Buffer.concat([b.u32(0x1a2b3c4d), Buffer.alloc(4)])));
  out['shb-option-overrun'] = one((b) => b.shb(true, [Buffer.concat([b.u16(2), b.u16(400)])]));
  out['spb-short'] = one((b) => b.block(3, Buffer.alloc(0)));
  return out;
}

function exoticPcaps(): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const hdr = (be: boolean, magic: number, snaplen: number, linktype: number, major = 2): Buffer => {
    const h = Buffer.alloc(24);
    const w32 = (v: number, at: number) => (be ? h.writeUInt32BE(v >>> 0, at) : h.writeUInt32LE(v >>> 0, at));
    const w16 = (v: number, at: number) => (be ? h.writeUInt16BE(v, at) : h.writeUInt16LE(v, at));
    w32(magic, 0);
    w16(major, 4);
    w16(4, 6);
    w32(snaplen, 16);
    w32(linktype, 20);
    return h;
  };
  const rec = (be: boolean, sec: number, frac: number, data: Buffer, orig = data.length, caplen = data.length): Buffer => {
    const h = Buffer.alloc(16);
    const w32 = (v: number, at: number) => (be ? h.writeUInt32BE(v >>> 0, at) : h.writeUInt32LE(v >>> 0, at));
    w32(sec, 0);
    w32(frac, 4);
    w32(caplen, 8);
    w32(orig, 12);
    return Buffer.concat([h, data]);
  };
  // disordered timestamps, zero timestamps, repeats, extremes; timeouts of every kind
  const r = rng(5);
  const recs: Buffer[] = [hdr(false, 0xa1b2c3d4, 262144, 1)];
  for (let i = 0; i < 3000; i++) {
    const base = 1767225600 + Math.floor(i / 10);
    const jitter = r() < 0.1 ? -Math.floor(r() * 40) : 0;
    const sec = i === 7 || i === 1500 ? 0 : i === 2999 ? 0xffffffff : base + jitter;
    recs.push(rec(false, sec, Math.floor(r() * 1000000), packetMix(Math.floor(r() * 60)), r() < 0.05 ? 9000 : undefined));
  }
  out['disorder.pcap'] = Buffer.concat(recs);
  // big-endian nanoseconds with fractions past a second, a snaplen above 262144 and a record using it
  const be: Buffer[] = [hdr(true, 0xa1b23c4d, 300000, 1 | (4 << 28))];
  for (let i = 0; i < 500; i++) be.push(rec(true, 1767225600 + i, i % 2 ? 1999999999 : 4294967295, packetMix(i)));
  be.push(rec(true, 1767226200, 5, Buffer.concat([tcp4('10.9.9.9', 1, '10.9.9.8', 2, 'A'), Buffer.alloc(280000)])));
  out['be-nanos.pcap'] = Buffer.concat(be);
  out['version-3.pcap'] = Buffer.concat([hdr(false, 0xa1b2c3d4, 65535, 1, 3), rec(false, 1, 0, packetMix(0))]);
  out['caplen-over-limit.pcap'] = Buffer.concat([hdr(false, 0xa1b2c3d4, 65535, 1), rec(false, 1, 0, packetMix(0)), rec(false, 2, 0, Buffer.alloc(16), 300000, 300000)]);
  out['record-header-cut.pcap'] = Buffer.concat([hdr(false, 0xa1b2c3d4, 65535, 1), rec(false, 1, 0, packetMix(0)), Buffer.alloc(9)]);
  out['unsupported-link.pcap'] = Buffer.concat([hdr(false, 0xa1b2c3d4, 65535, 147), rec(false, 1, 0, packetMix(0))]);
  return out;
}

describe.skipIf(noAddon)('native == ts on hand-built captures', () => {
  const write = (name: string, bytes: Buffer): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    return f;
  };
  const OPTS: FlowMeterOptions[] = [
    {},
    { idleTimeout: 1, activeTimeout: 3, tcpCloseTimeout: 0.5, statistics: true, maxFlows: 20, batchSize: 3 },
    // durations past 2^63 ns (native: llround overflow, 2^63) and past 1.8e19 ns (never)
    { idleTimeout: 1.2e10, activeTimeout: 1.9e10, tcpCloseTimeout: 9.3e9 },
  ];

  it('pcapng: every block kind, resolutions, offsets, sections of both byte orders', async () => {
    const f = write('exotic.pcapng', exoticPcapng());
    for (const o of OPTS) {
      const t = await expectSame(f, o);
      expect(t.summary.error).toBeUndefined();
      expect(t.summary.packets).toBe(300 + 1 + 40 + 40 + 5);
    }
  });

  it('pcapng: damaged blocks give the same error, offset and message', async () => {
    for (const [name, bytes] of Object.entries(damagedPcapngs())) {
      const t = await expectSame(write(`${name}.pcapng`, bytes), {});
      expect(t.summary.error, name).toBeDefined();
    }
  });

  it('pcap: disordered and extreme timestamps, big records, header and record errors', async () => {
    for (const [name, bytes] of Object.entries(exoticPcaps())) {
      for (const o of OPTS) await expectSame(write(name, bytes), o);
    }
  });
});

// BPF filters: programs compiled by libpcap, through the addon's bpfProgram() when it has
// one, else through a tiny C helper (when cc and the libpcap headers are here).
const BPF_HELPER = `
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int lt = atoi(argv[1]);
  /* as native/filter.cc: LINKTYPE_RAW (101) is DLT_RAW for libpcap */
  pcap_t *p = pcap_open_dead(lt == 101 || lt == 12 || lt == 14 ? DLT_RAW : lt, 262144);
  struct bpf_program prog;
  if (!p) { printf("ERR libpcap cannot open a handle for link type %s\\n", argv[1]); return 0; }
  if (pcap_compile(p, &prog, argv[2], 1, PCAP_NETMASK_UNKNOWN) != 0) { printf("ERR %s\\n", pcap_geterr(p)); return 0; }
  for (unsigned i = 0; i < prog.bf_len; i++)
    printf("%u %u %u %u\\n", prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k);
  return 0;
}
`;

type ProgramSource = (expr: string, linktype: number) => BpfInstruction[];

function helperSource(helper: string): ProgramSource {
  return (expr, linktype) => {
    const out = execFileSync(helper, [String(linktype), expr], { encoding: 'utf8' });
    if (out.startsWith('ERR ')) {
      const msg = out.slice(4).trimEnd();
      throw new Error(msg.startsWith('libpcap cannot') ? msg : `bad BPF filter "${expr}": ${msg}`);
    }
    return out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l): BpfInstruction => {
        const [code, jt, jf, k] = l.split(' ').map(Number);
        return { code, jt, jf, k };
      });
  };
}

function compilerFor(source: ProgramSource, expr: string): FilterCompiler {
  return (linktype) => {
    try {
      return source(expr, linktype);
    } catch (e) {
      return e as Error;
    }
  };
}

describe.skipIf(noAddon)('native == ts with BPF filters', () => {
  let source: ProgramSource | undefined;
  beforeAll(() => {
    if (noAddon) return;
    const addon = loadNative() as unknown as { bpfProgram?: (expr: string, linktype: number) => BpfInstruction[] };
    if (typeof addon.bpfProgram === 'function') {
      source = (expr, linktype) => addon.bpfProgram!(expr, linktype);
      return;
    }
    try {
      const src = path.join(dir, 'bpfdump.c');
      fs.writeFileSync(src, BPF_HELPER);
      execFileSync('cc', ['-O1', '-o', path.join(dir, 'bpfdump'), src, '-lpcap'], { stdio: 'pipe' });
      source = helperSource(path.join(dir, 'bpfdump'));
    } catch {
      source = undefined;
    }
  });

  const EXPRS = ['tcp', 'udp and not port 53', 'vlan or ip6', 'ip[6:2] & 0x3fff != 0', 'tcp[tcpflags] & (tcp-syn|tcp-fin) != 0', 'greater 500', 'ether proto 0x88cc or arp'];
  it('filtered runs equal, per link type (pcapng with two interfaces too)', async (ctx) => {
    if (skipping(!source && 'no C compiler with libpcap to build the bpfdump helper', 'native == ts with BPF filters')) ctx.skip();
    for (const expr of EXPRS) {
      for (const name of ['pcap-us', 'pcapng-multi', 'pcap-sll2']) {
        const t = await expectSame(gen[name], { filter: expr, idleTimeout: 0.05 }, compilerFor(source!, expr));
        if (!t.summary.error) expect(t.summary.filtered).toBeGreaterThan(0);
      }
    }
  });

  it('a filter libpcap refuses for one interface: ERR_BPF at its first packet, as native', async (ctx) => {
    if (skipping(!source && 'no C compiler with libpcap to build the bpfdump helper', 'native == ts with BPF filters')) ctx.skip();
    // valid syntax that cannot be compiled for raw IP (interface 1 of the multi-interface capture)
    const expr = 'ether host 02:00:00:00:00:01';
    const t = await expectSame(gen['pcapng-multi'], { filter: expr }, compilerFor(source!, expr));
    expect(t.summary.error?.code).toBe('ERR_BPF');
  });
});

/**
 * Differential check of the two decoders: the native one (native/decode.cc) and
 * the TypeScript one (src/engine/ts/decode.ts), on damaged packets.
 *
 * Inputs have fuzz_decode's layout (native/fuzz/fuzz_decode.cc): byte 0 picks the
 * link type, byte 1 the decode options (bit 0: decodeTunnels off, bit 1: l2Flows
 * off) and the frame's original length beyond the captured bytes (bits 2..7 x 97),
 * the rest is the packet. They are
 *  - seeded random mutations (bit flips, truncations, insertions, deletions,
 *    interesting values, link type swaps) of packets cut out of generated captures
 *    and of the shared corpus when present: always, the same every run;
 *  - the fuzz_decode corpus (build-cmake-fuzz/corpus-decode/, `npm run fuzz`), when
 *    it exists.
 * Packets are batched into one pcap per (link type, decode options), one second
 * apart with a 0.5 s idle timeout, so every accounted packet makes its own record
 * (first_ns names the packet); each pcap is read by both engines through
 * FlowMeter, once per accounting mode (the modes read different decoded lengths).
 * Records must be equal byte for byte (as multisets) and the summaries equal
 * (decodeErrors, skipped, flows, ...). A disagreement is narrowed down to single
 * packets, which are printed in hex and saved under os.tmpdir().
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowMeter, Offsets, RECORD_SIZE, type Summary } from '../src/index';
import type { FlowMeterOptions } from '../src/options';
// @ts-expect-error plain ESM helper without type declarations
import { DECODE_LINKTYPES, generatedCaptures, readPackets, sharedCaptures } from '../scripts/fuzz-seeds.mjs';
import { addonError } from './helpers/addon';
import { rng } from './helpers/rng';
import { skipping } from './helpers/skip';

const root = path.resolve(__dirname, '..');
const FUZZ_CORPUS = path.join(root, 'build-cmake-fuzz', 'corpus-decode');
const MUTATIONS = Number(process.env.FLOWMASTER_DIFF_MUTATIONS ?? 20000);
const CORPUS_LIMIT = Number(process.env.FLOWMASTER_DIFF_CORPUS_LIMIT ?? 20000);
const T0 = 1_767_225_600n * 1_000_000_000n;
const ACCOUNTING = ['link', 'ip', 'transport', 'payload'] as const;



interface Input {
  /** where it came from, for the report */
  origin: string;
  bytes: Buffer;
}

const INTERESTING = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0f, 0x10, 0x11, 0x20, 0x2c, 0x3a, 0x40, 0x45, 0x60, 0x7f, 0x80, 0x81, 0x86, 0x88, 0xdd, 0xfe, 0xff];

/** One mutation of a fuzz_decode input (selector bytes included). */
function mutate(src: Buffer, r: () => number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    const len = b.length - 2;
    // headers live at the front: most edits land in the first 80 bytes of the packet
    const at = () => 2 + Math.floor(r() * Math.max(1, r() < 0.8 ? Math.min(len, 80) : len));
    const op = Math.floor(r() * 8);
    if (len <= 0 && op !== 4) {
      b = Buffer.concat([b, Buffer.from([Math.floor(r() * 256)])]);
      continue;
    }
    switch (op) {
      case 0:
      case 1: {
        const i = at();
        b[i] ^= 1 << Math.floor(r() * 8);
        break;
      }
      case 2: {
        const i = at();
        b[i] = INTERESTING[Math.floor(r() * INTERESTING.length)];
        break;
      }
      case 3: // truncate
        b = b.subarray(0, 2 + Math.floor(r() * len));
        break;
      case 4: {
        // insert 1..8 bytes
        const i = len > 0 ? at() : 2;
        const ins = Buffer.alloc(1 + Math.floor(r() * 8));
        for (let j = 0; j < ins.length; j++) ins[j] = r() < 0.5 ? INTERESTING[Math.floor(r() * INTERESTING.length)] : Math.floor(r() * 256);
        b = Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
        break;
      }
      case 5: {
        // delete 1..8 bytes
        const i = at();
        b = Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + Math.floor(r() * 8)))]);
        break;
      }
      case 6: {
        // a 16-bit length-like field set to an edge value
        const i = at();
        if (i + 1 < b.length) b.writeUInt16BE([0, 1, 7, 8, 19, 20, 39, 40, 0x7fff, 0xffff, len, len - 14, len + 1][Math.floor(r() * 13)] & 0xffff, i);
        break;
      }
      default:
        // another link type or other options
        if (r() < 0.5) b[0] = Math.floor(r() * DECODE_LINKTYPES.length);
        else b[1] = Math.floor(r() * 256);
    }
  }
  return b;
}

/** The seeded mutation inputs: packets of generated (and shared) captures, mutated. */
function mutationInputs(): Input[] {
  const bases: Input[] = [];
  const captures: { name: string; bytes: Buffer }[] = [...generatedCaptures()];
  for (const f of sharedCaptures() as string[]) {
    const bytes = fs.readFileSync(f);
    if (bytes.length <= 4 << 20) captures.push({ name: path.basename(f), bytes });
  }
  for (const c of captures) {
    for (const [i, p] of (readPackets(c.bytes) as { linktype: number; data: Buffer }[]).entries()) {
      const lt = DECODE_LINKTYPES.indexOf(p.linktype);
      if (lt < 0) continue;
      bases.push({ origin: `${c.name}#${i}`, bytes: Buffer.concat([Buffer.from([lt, 0]), p.data]) });
    }
  }
  const r = rng(20260101);
  const out: Input[] = [];
  for (let k = 0; k < MUTATIONS && bases.length; k++) {
    const base = bases[Math.floor(r() * bases.length)];
    out.push({ origin: `mutation ${k} of ${base.origin}`, bytes: mutate(base.bytes, r) });
  }
  return out;
}

function corpusInputs(): Input[] {
  if (!fs.existsSync(FUZZ_CORPUS)) return [];
  return fs
    .readdirSync(FUZZ_CORPUS)
    .sort()
    .slice(0, CORPUS_LIMIT)
    .map((f) => ({ origin: `corpus-decode/${f}`, bytes: fs.readFileSync(path.join(FUZZ_CORPUS, f)) }))
    .filter((i) => i.bytes.length >= 2);
}

interface Group {
  linktype: number;
  tunnels: boolean;
  l2: boolean;
  inputs: Input[];
}

function groups(inputs: Input[]): Group[] {
  const m = new Map<string, Group>();
  for (const i of inputs) {
    const linktype = DECODE_LINKTYPES[i.bytes[0] % DECODE_LINKTYPES.length];
    const tunnels = (i.bytes[1] & 1) === 0;
    const l2 = (i.bytes[1] & 2) === 0;
    const key = `${linktype}/${tunnels}/${l2}`;
    let g = m.get(key);
    if (!g) m.set(key, (g = { linktype, tunnels, l2, inputs: [] }));
    g.inputs.push(i);
  }
  return [...m.values()].sort((a, b) => a.linktype - b.linktype || Number(a.tunnels) - Number(b.tunnels) || Number(a.l2) - Number(b.l2));
}

/** A nanosecond pcap of the inputs' packets, one second apart. */
function pcap(linktype: number, inputs: Input[]): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b23c4d, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(262144, 16);
  h.writeUInt32LE(linktype, 20);
  parts.push(h);
  inputs.forEach((inp, k) => {
    const data = inp.bytes.subarray(2);
    const ts = T0 + BigInt(k) * 1_000_000_000n;
    const r = Buffer.alloc(16);
    r.writeUInt32LE(Number(ts / 1_000_000_000n), 0);
    r.writeUInt32LE(Number(ts % 1_000_000_000n), 4);
    r.writeUInt32LE(data.length, 8);
    r.writeUInt32LE(data.length + (inp.bytes[1] >> 2) * 97, 12);
    parts.push(r, data);
  });
  return Buffer.concat(parts);
}

interface Result {
  records: string[];
  summary: Omit<Summary, 'engine' | 'wallMs' | 'packetsPerSecond' | 'path'>;
}

async function read(file: string, engine: 'native' | 'ts', options: FlowMeterOptions): Promise<Result> {
  const run = new FlowMeter({ ...options, engine }).readFile(file);
  const records: string[] = [];
  try {
    for await (const batch of run) {
      const b = Buffer.from(batch.buffer);
      for (let i = 0; i < b.length; i += RECORD_SIZE) records.push(b.toString('hex', i, i + RECORD_SIZE));
    }
  } catch {
    // a read error ends the iteration; the summary says which
  }
  const { engine: _e, wallMs: _w, packetsPerSecond: _p, path: _path, ...summary } = await run.summary;
  return { records: records.sort(), summary };
}

/** Record fields (src/flow/layout.ts) in which two hex records differ. */
const FIELDS = Object.entries(Offsets)
  .filter(([k]) => !k.startsWith('kStat') && k !== 'kArpIp')
  .sort((a, b) => a[1] - b[1]);
function fieldDiff(a: string, b: string): string {
  const names = new Set<string>();
  for (let i = 0; i < RECORD_SIZE; i++) {
    if (a.slice(2 * i, 2 * i + 2) === b.slice(2 * i, 2 * i + 2)) continue;
    let name = 'kFlowId';
    for (const [k, off] of FIELDS) if (off <= i) name = k;
    names.add(name);
  }
  return [...names].join(', ');
}

let saved = 0;
let dir = '';
function tmp(name: string): string {
  dir ||= fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-diff-'));
  return path.join(dir, name);
}
afterAll(() => {
  if (dir && !process.env.FLOWMASTER_DIFF_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

function options(g: Group, accounting: (typeof ACCOUNTING)[number]): FlowMeterOptions {
  return { decodeTunnels: g.tunnels, l2Flows: g.l2, accounting, idleTimeout: 0.5, activeTimeout: 3600, statistics: true, tcpCloseTimeout: 0.25 };
}

/** '' when both engines agree on these inputs, else what differs. */
interface Tally {
  records: number;
  skipped: number;
  decodeErrors: number;
}

async function disagreement(g: Group, inputs: Input[], name: string, tally?: Tally): Promise<string> {
  const file = tmp(`${name}.pcap`);
  fs.writeFileSync(file, pcap(g.linktype, inputs));
  for (const acc of ACCOUNTING) {
    const [n, t] = [await read(file, 'native', options(g, acc)), await read(file, 'ts', options(g, acc))];
    if (tally && acc === 'link') {
      tally.records += n.records.length;
      tally.skipped += n.summary.skipped;
      tally.decodeErrors += Object.values(n.summary.decodeErrors).reduce((a, b) => a + (b ?? 0), 0);
    }
    const s = JSON.stringify(n.summary) === JSON.stringify(t.summary) ? '' : `summary: native ${JSON.stringify(n.summary)}\n         ts     ${JSON.stringify(t.summary)}`;
    let rec = '';
    if (n.records.join() !== t.records.join()) {
      const inT = new Set(t.records);
      const inN = new Set(n.records);
      const onlyN = n.records.filter((x) => !inT.has(x));
      const onlyT = t.records.filter((x) => !inN.has(x));
      rec = `records: native ${n.records.length}, ts ${t.records.length}, ${onlyN.length} only native, ${onlyT.length} only ts`;
      if (onlyN.length && onlyT.length) rec += `; first pair differs in ${fieldDiff(onlyN[0], onlyT[0])}\n  native ${onlyN[0]}\n  ts     ${onlyT[0]}`;
    }
    if (s || rec) return `accounting ${acc}: ${[s, rec].filter(Boolean).join('\n')}`;
  }
  return '';
}

/** Narrows a disagreeing group down to single packets (halving while a half still disagrees). */
async function narrow(g: Group, inputs: Input[], name: string, found: string[], budget = { runs: 200 }): Promise<void> {
  if (found.length >= 5 || budget.runs <= 0) return;
  if (inputs.length === 1) {
    budget.runs--;
    const d = await disagreement(g, inputs, `${name}-1`);
    if (d) {
      const f = tmp(`disagreement-${saved++}.bin`);
      fs.writeFileSync(f, inputs[0].bytes);
      found.push(`link type ${g.linktype}, decodeTunnels ${g.tunnels}, l2Flows ${g.l2}: ${inputs[0].origin} (saved as ${f})\n  input ${inputs[0].bytes.toString('hex').slice(0, 200)}\n  ${d}`);
    }
    return;
  }
  const half = inputs.length >> 1;
  for (const [k, part] of [inputs.slice(0, half), inputs.slice(half)].entries()) {
    budget.runs--;
    if (await disagreement(g, part, `${name}-${k}`)) await narrow(g, part, `${name}-${k}`, found, budget);
  }
}

async function check(inputs: Input[], label: string): Promise<void> {
  const failures: string[] = [];
  const tally: Tally = { records: 0, skipped: 0, decodeErrors: 0 };
  let packets = 0;
  const gs = groups(inputs);
  for (const g of gs) {
    packets += g.inputs.length;
    const name = `${label}-${g.linktype}-${g.tunnels ? 't' : 'n'}${g.l2 ? 'l' : 'n'}`;
    const d = await disagreement(g, g.inputs, name, tally);
    if (!d) continue;
    const found: string[] = [];
    await narrow(g, g.inputs, name, found);
    failures.push(found.length ? found.join('\n') : `link type ${g.linktype} (${g.inputs.length} packets, not narrowed to single packets): ${d}`);
  }
  console.log(
    `differential (${label}): ${packets} packets in ${gs.length} captures x ${ACCOUNTING.length} accounting modes ` +
      `(native: ${tally.records} records, ${tally.skipped} packets skipped, ${tally.decodeErrors} decode errors), ${failures.length} disagreeing capture(s)`,
  );
  expect(failures, `native and TypeScript decoders disagree:\n${failures.join('\n\n')}`).toEqual([]);
}

describe.skipIf(skipping(addonError && `the native addon is not built, nothing to compare with: ${addonError}`, 'native == ts differential decoding'))('native decoder == TypeScript decoder on damaged packets', () => {
  it(`${MUTATIONS} seeded mutations of real and generated packets`, async () => {
    const inputs = mutationInputs();
    expect(inputs.length).toBe(MUTATIONS);
    await check(inputs, 'mutations');
  }, 180_000);

  it.skipIf(skipping(!fs.existsSync(FUZZ_CORPUS) && `${FUZZ_CORPUS} not found (test/hardening.test.ts or npm run fuzz makes it)`, 'the fuzz_decode corpus'))('the fuzz_decode corpus (build-cmake-fuzz/corpus-decode)', async () => {
    const inputs = corpusInputs();
    await check(inputs, 'corpus');
  }, 300_000);
});


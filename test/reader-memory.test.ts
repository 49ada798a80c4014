// The readers' memory follows the bytes actually read, never a length field:
// a record or block that claims hundreds of MiB and then ends early costs
// what the file holds, and still ends with ERR_TRUNCATED at its offset.
// Peak RSS is measured in child processes against a child reading a tiny
// valid capture with the same engine, so the bound is relative.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowMeter } from '../src/index';
import { nativeAvailable } from '../src/engine/native';
import { CaptureReader, NEXT_NEED } from '../src/engine/ts/reader';
import { tmpFile, udp4, writePcap, writePcapng } from './helpers/capture';

const root = path.resolve(__dirname, '..');
const MiB = 1 << 20;

const noAddon = !nativeAvailable();
if (noAddon) console.warn('test/reader-memory.test.ts: the native addon is not built: the native cases skip');

/** A capture of one good packet, then a record/block header claiming `claim` bytes with only `tail` of them present. */
interface Claim {
  file: string;
  /** the offset of the record that claims too much */
  offset: number;
}

function file(name: string, bytes: Buffer): string {
  const f = tmpFile(name);
  fs.writeFileSync(f, bytes);
  return f;
}

/** pcap: snaplen 0xffffffff (so caplens up to the 256 MiB sanity limit pass), then a record claiming `claim` bytes. */
function pcapClaim(claim: number, tail: number): Claim {
  const good = fs.readFileSync(writePcap([{ t: 0, data: udp4('10.0.0.1', 1, '10.0.0.2', 2, 60) }], { nanos: false }));
  good.writeUInt32LE(0xffffffff, 16);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(1, 0);
  h.writeUInt32LE(claim, 8);
  h.writeUInt32LE(claim, 12);
  return { file: file('claim.pcap', Buffer.concat([good, h, Buffer.alloc(tail, 0xab)])), offset: good.length };
}

/** pcapng: an enhanced packet block whose length field claims `claim` bytes. */
function pcapngClaim(claim: number, tail: number): Claim {
  const good = fs.readFileSync(writePcapng([{ t: 0, data: udp4('10.0.0.1', 1, '10.0.0.2', 2, 60) }], [{ linktype: 1 }]));
  const h = Buffer.alloc(28);
  h.writeUInt32LE(6, 0);
  h.writeUInt32LE(claim, 4);
  h.writeUInt32LE(claim - 32, 20);
  h.writeUInt32LE(claim - 32, 24);
  return { file: file('claim.pcapng', Buffer.concat([good, h, Buffer.alloc(tail, 0xab)])), offset: good.length };
}

const claims = () => [
  { name: 'pcap record claiming 256 MiB, 100 bytes present', ...pcapClaim(256 * MiB, 100) },
  { name: 'pcap record claiming 256 MiB, 3 MiB present', ...pcapClaim(256 * MiB, 3 * MiB) },
  { name: 'pcapng block claiming 200 MB, 100 bytes present', ...pcapngClaim(200_000_000, 100) },
  { name: 'pcapng block claiming 200 MB, 3 MiB present', ...pcapngClaim(200_000_000, 3 * MiB) },
];

interface ChildRead {
  packets: number;
  flows: number;
  error?: { code: string; offset?: number };
  maxRssKiB: number;
}

function readInChild(f: string, engine: 'native' | 'ts'): ChildRead {
  const script = `
    const { FlowMeter } = require('./dist/index.js');
    (async () => {
      const run = new FlowMeter({ engine: process.argv[2] }).readFile(process.argv[1]);
      let flows = 0;
      try { for await (const b of run) flows += b.length; } catch {}
      const s = await run.summary;
      console.log(JSON.stringify({ packets: s.packets, flows, error: s.error, maxRssKiB: process.resourceUsage().maxRSS }));
    })();`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, f, engine], { cwd: root, encoding: 'utf8', timeout: 60_000 }));
}

describe('a length field that claims more than the file holds', () => {
  for (const engine of ['native', 'ts'] as const) {
    it.skipIf(engine === 'native' && noAddon)(`${engine}: peak RSS stays near a tiny read's, the error is ERR_TRUNCATED at the record`, () => {
      const base = readInChild(writePcap([{ t: 0, data: udp4('10.0.0.1', 1, '10.0.0.2', 2, 60) }]), engine);
      expect(base.packets).toBe(1);
      const reads = claims().map((c) => ({ c, r: readInChild(c.file, engine) }));
      for (const { c, r } of reads)
        console.log(`${engine}, ${c.name}: peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB (tiny read ${Math.round(base.maxRssKiB / 1024)} MiB)`);
      for (const { c, r } of reads) {
        expect(r.error, c.name).toMatchObject({ code: 'ERR_TRUNCATED', offset: c.offset });
        expect([r.packets, r.flows], c.name).toEqual([1, 1]); // the packet before it still counts
        expect((r.maxRssKiB - base.maxRssKiB) / 1024, c.name).toBeLessThan(48);
      }
    }, 60_000);
  }

  it.skipIf(noAddon)('a record that really is large (5 MiB) is read whole by both engines', async () => {
    const big = Buffer.concat([udp4('10.0.0.1', 1, '10.0.0.2', 2, 1000), Buffer.alloc(5 * MiB)]);
    const pkts = [0, 1, 2].map((t) => ({ t, data: t === 1 ? big : udp4('10.0.0.1', 1, '10.0.0.2', 2, 10) }));
    const pcap = fs.readFileSync(writePcap(pkts));
    pcap.writeUInt32LE(0xffffffff, 16); // snaplen: records up to 256 MiB are valid
    const files = [file('big.pcap', pcap), writePcapng(pkts, [{ linktype: 1 }])];
    for (const f of files) {
      const got = [];
      for (const engine of ['native', 'ts'] as const) {
        const run = new FlowMeter({ engine }).readFile(f);
        const flows = [];
        for await (const b of run) for (const x of b) flows.push(x.toObject());
        const s = await run.summary;
        expect(s.error, `${engine} ${f}`).toBeUndefined();
        expect(s.packets).toBe(3);
        got.push(flows);
      }
      expect(got[0]).toEqual(got[1]);
      expect(got[0][0].fwdBytes).toBe(pkts.reduce((n, p) => n + p.data.length, 0));
    }
  });

  it('ts reader: the buffer grows with the data read, not with the claim', async () => {
    for (const c of claims()) {
      const r = new CaptureReader(c.file);
      expect(await r.open()).toBe(true);
      let largest = r.buf.length;
      for (let st = r.next(); st !== 0; st = r.next()) {
        if (st === NEXT_NEED) await r.refill(r.need);
        largest = Math.max(largest, r.buf.length);
      }
      await r.close();
      expect(r.error, c.name).toMatchObject({ code: 'ERR_TRUNCATED', offset: c.offset });
      expect(largest, c.name).toBeLessThan(16 * MiB); // the file holds at most 3 MiB; chunk and headroom 2.5 MiB
    }
  });
});

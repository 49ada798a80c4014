/**
 * Unit tests of the TypeScript engine's parts: the reader (records straddling
 * read chunks, timestamps), the BPF interpreter, the decoder and the
 * fragment table, readFileTs (cancel, filters without libpcap), and the
 * record's details area (docs/fields.md) as the TypeScript engine fills it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBpf, compileBpf, type BpfInstruction } from '../src/engine/ts/bpf';
import * as D from '../src/engine/ts/decode';
import { CaptureReader, NEXT_NEED, NEXT_PACKET } from '../src/engine/ts/reader';
import { readFileTs } from '../src/engine/ts/run';
import { DECODE_ERRORS, Offsets as O, RECORD_SIZE } from '../src/flow/layout';
import { resolveOptions } from '../src/options';
import { MAC_A, MAC_B, P, tcp4, udp4, writePcap, writePcapng } from './helpers/capture';
// @ts-expect-error plain ESM helper without type declarations
import { generate } from '../scripts/gen-pcap.mjs';

let dir = '';
const files: Record<string, string> = {};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-ts-'));
  const gens: Record<string, Record<string, unknown>> = {
    pcap: { packets: 400, flows: 40, mix: 'full', seed: 3, format: 'pcap' },
    'pcap-be-ns': { packets: 300, flows: 30, mix: 'full', seed: 4, format: 'pcap', bigEndian: true, nanos: true },
    pcapng: { packets: 400, flows: 40, mix: 'full', seed: 5, format: 'pcapng', multiInterface: true, extraBlocks: true },
    'pcapng-be': { packets: 300, flows: 30, mix: 'full', seed: 6, format: 'pcapng', bigEndian: true, multiInterface: true, iface2: 'sll' },
  };
  for (const [name, o] of Object.entries(gens)) {
    files[name] = path.join(dir, `${name}.${o.format}`);
    await generate({ ...o, out: files[name], quiet: true });
  }
  // records bigger than the small chunks and headrooms below
  files.big = writePcapng(
    [
      { t: 0, data: tcp4('10.0.0.1', 1, '10.0.0.2', 2, 'S') },
      { t: 1, data: Buffer.concat([tcp4('10.0.0.1', 1, '10.0.0.2', 2, 'A'), Buffer.alloc(5000, 7)]) },
      { t: 2, data: udp4('10.0.0.3', 5, '10.0.0.4', 6, 3000), iface: 1 },
      { t: 3, data: tcp4('10.0.0.2', 2, '10.0.0.1', 1, 'FA') },
    ],
    [{ linktype: 1 }, { linktype: 1, tsresol: 9 }],
  );
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  packets: string[];
  error?: string;
  bytesRead: number;
}

async function readAllPackets(file: string, chunkSize?: number, headroom?: number): Promise<Seen> {
  const r = new CaptureReader(file, { chunkSize, headroom });
  const packets: string[] = [];
  if (!(await r.open())) return { packets, error: JSON.stringify(r.error), bytesRead: 0 };
  for (;;) {
    const st = r.next();
    if (st === NEXT_PACKET) {
      const data = r.buf.subarray(r.dataOff, r.dataOff + r.caplen);
      const h = createHash('sha1').update(data).digest('hex').slice(0, 12);
      packets.push(`${r.offset} ${r.caplen} ${r.wireLen} ${r.linktype} ${r.iface} ${r.tsHi}:${r.tsLo} ${h}`);
      continue;
    }
    if (st === NEXT_NEED) {
      await r.refill(r.need);
      continue;
    }
    break;
  }
  await r.close();
  return { packets, error: r.error ? JSON.stringify(r.error) : undefined, bytesRead: r.bytesRead() };
}

describe('reader', () => {
  it('records straddling chunk boundaries read the same with any chunk size and headroom', async () => {
    for (const name of Object.keys(files)) {
      const want = await readAllPackets(files[name]);
      expect(want.error).toBeUndefined();
      expect(want.packets.length).toBeGreaterThan(0);
      for (const [chunk, headroom] of [
        [16, 0],
        [17, 8],
        [61, 64],
        [100, 0],
        [1000, 100],
        [4096, undefined],
        [65537, 0],
      ] as const) {
        const got = await readAllPackets(files[name], chunk, headroom);
        expect(got, `${name} chunk ${chunk} headroom ${headroom}`).toEqual(want);
      }
    }
  });

  it('a damaged file gives the same error with small chunks', async () => {
    const buf = fs.readFileSync(files.pcapng);
    for (const cut of [5, 27, 100, 1001, 4321, buf.length - 3]) {
      const f = path.join(dir, `cut-${cut}.pcapng`);
      fs.writeFileSync(f, buf.subarray(0, cut));
      const want = await readAllPackets(f);
      expect(want.error).toMatch(/ERR_TRUNCATED/);
      expect(await readAllPackets(f, 16, 0)).toEqual(want);
      expect(await readAllPackets(f, 33, 20)).toEqual(want);
    }
  });

  it('readFileTs with small chunks gives the same records and summary', async () => {
    const o = resolveOptions({ statistics: true, batchSize: 50 });
    for (const name of ['pcap', 'pcapng', 'big']) {
      const read = async (tuning: { chunkSize?: number; headroom?: number }) => {
        const g = readFileTs(files[name], o, { cancelled: false }, undefined, tuning);
        const recs: string[] = [];
        for (;;) {
          const r = await g.next();
          if (r.done) return { recs, summary: r.value };
          recs.push(Buffer.from(r.value).toString('hex'));
        }
      };
      const want = await read({});
      expect(want.recs.length).toBeGreaterThan(0);
      expect(await read({ chunkSize: 29, headroom: 0 })).toEqual(want);
      expect(await read({ chunkSize: 300, headroom: 40 })).toEqual(want);
    }
  });

  it('pcap timestamps: µs and ns, exact past 2^53', async () => {
    const f = path.join(dir, 'ts.pcap');
    const data = udp4('1.1.1.1', 1, '2.2.2.2', 2);
    const mk = (magic: number, sec: number, frac: number) => {
      const h = Buffer.alloc(24 + 16 + data.length);
      h.writeUInt32LE(magic, 0);
      h.writeUInt16LE(2, 4);
      h.writeUInt16LE(4, 6);
      h.writeUInt32LE(65535, 16);
      h.writeUInt32LE(1, 20);
      h.writeUInt32LE(sec, 24);
      h.writeUInt32LE(frac, 28);
      h.writeUInt32LE(data.length, 32);
      h.writeUInt32LE(data.length, 36);
      data.copy(h, 40);
      return h;
    };
    const cases: [number, number, number, bigint][] = [
      [0xa1b2c3d4, 0xffffffff, 999999, 0xffffffffn * 1000000000n + 999999000n],
      [0xa1b2c3d4, 1767225600, 123456, 1767225600123456000n],
      [0xa1b23c4d, 1767225600, 987654321, 1767225600987654321n],
      [0xa1b23c4d, 0xfffffffe, 0xffffffff, 0xfffffffen * 1000000000n + 0xffffffffn],
      [0xa1b2c3d4, 3, 0xffffffff, 3000000000n + 0xffffffffn * 1000n],
    ];
    for (const [magic, sec, frac, ns] of cases) {
      fs.writeFileSync(f, mk(magic, sec, frac));
      const r = new CaptureReader(f);
      expect(await r.open()).toBe(true);
      let st = r.next();
      while (st === NEXT_NEED) {
        await r.refill(r.need);
        st = r.next();
      }
      expect(st).toBe(NEXT_PACKET);
      expect((BigInt(r.tsHi) << 32n) | BigInt(r.tsLo)).toBe(ns);
      await r.close();
    }
  });

  it('open errors name the file', async () => {
    const missing = await readAllPackets(path.join(dir, 'nope.pcap'));
    expect(JSON.parse(missing.error!)).toEqual({ code: 'ERR_FILE_NOT_FOUND', message: `no such file (${path.join(dir, 'nope.pcap')})`, offset: -1 });
    expect(JSON.parse((await readAllPackets(dir)).error!).code).toBe('ERR_IS_DIRECTORY');
    const empty = path.join(dir, 'empty.pcap');
    fs.writeFileSync(empty, '');
    expect(JSON.parse((await readAllPackets(empty)).error!)).toEqual({ code: 'ERR_EMPTY_FILE', message: `empty file: no capture header (${empty}, byte offset 0)`, offset: 0 });
  });
});

describe('BPF interpreter', () => {
  const ins = (code: number, jt: number, jf: number, k: number): BpfInstruction => ({ code, jt, jf, k });
  const frame = (type: number, proto = 6, len = 60) => {
    const b = Buffer.alloc(len);
    b.writeUInt16BE(type, 12);
    b[14] = 0x45;
    b[23] = proto;
    return b;
  };
  // "ip and tcp": ldh [12]; jeq #0x800 jt 0 jf 3; ldb [23]; jeq #6 jt 0 jf 1; ret #262144; ret #0
  const ipTcp = [ins(0x28, 0, 0, 12), ins(0x15, 0, 3, 0x800), ins(0x30, 0, 0, 23), ins(0x15, 0, 1, 6), ins(0x06, 0, 0, 262144), ins(0x06, 0, 0, 0)];

  it('loads, jumps and returns', () => {
    expect(runBpf(ipTcp, frame(0x800, 6), 60, 60)).toBe(262144);
    expect(runBpf(ipTcp, frame(0x800, 17), 60, 60)).toBe(0);
    expect(runBpf(ipTcp, frame(0x86dd, 6), 60, 60)).toBe(0);
    expect(runBpf(compileBpf(ipTcp), frame(0x800, 6), 60, 60)).toBe(262144);
  });

  it('a load past caplen returns 0', () => {
    expect(runBpf(ipTcp, frame(0x800, 6), 23, 60)).toBe(0); // ldb [23] with 23 bytes
    expect(runBpf(ipTcp, frame(0x800, 6), 24, 60)).toBe(262144);
    expect(runBpf([ins(0x20, 0, 0, 57), ins(0x16, 0, 0, 0)], frame(0x800), 60, 60)).toBe(0); // ld [57]: 4 bytes past 60
    expect(runBpf([ins(0x20, 0, 0, 56), ins(0x16, 0, 0, 0)], Buffer.from([...Buffer.alloc(56), 1, 2, 3, 4]), 60, 60)).toBe(0x01020304);
    expect(runBpf([ins(0x20, 0, 0, 0xffffffff), ins(0x16, 0, 0, 0)], frame(0x800), 60, 60)).toBe(0);
  });

  it('indirect loads, MSH, scratch memory, ALU, len, TAX/TXA', () => {
    const pkt = frame(0x800, 6);
    pkt[14] = 0x46; // IHL 6 -> 24 bytes
    pkt.writeUInt16BE(443, 14 + 24 + 2);
    // ldxb 4*([14]&0xf); ldh [x + 16]; ret a  (TCP dport at 14 + ihl + 2)
    expect(runBpf([ins(0xb1, 0, 0, 14), ins(0x48, 0, 0, 16), ins(0x16, 0, 0, 0)], pkt, 60, 60)).toBe(443);
    // ld #7; st M[3]; ldx M[3]; ld #100; sub x; mul #3; div #2; ret a -> (100-7)*3/2 = 139
    const alu = [ins(0x00, 0, 0, 7), ins(0x02, 0, 0, 3), ins(0x61, 0, 0, 3), ins(0x00, 0, 0, 100), ins(0x1c, 0, 0, 0), ins(0x24, 0, 0, 3), ins(0x34, 0, 0, 2), ins(0x16, 0, 0, 0)];
    expect(runBpf(alu, pkt, 60, 60)).toBe(139);
    // ld #0; sub #1 (wraps to 0xffffffff); rsh #28; ret a -> 15
    expect(runBpf([ins(0x00, 0, 0, 0), ins(0x14, 0, 0, 1), ins(0x74, 0, 0, 28), ins(0x16, 0, 0, 0)], pkt, 60, 60)).toBe(15);
    // ld len; tax; txa; ret a
    expect(runBpf([ins(0x80, 0, 0, 0), ins(0x07, 0, 0, 0), ins(0x00, 0, 0, 1), ins(0x87, 0, 0, 0), ins(0x16, 0, 0, 0)], pkt, 60, 1514)).toBe(1514);
    // ld #1; neg; ret a -> 0xffffffff
    expect(runBpf([ins(0x00, 0, 0, 1), ins(0x84, 0, 0, 0), ins(0x16, 0, 0, 0)], pkt, 60, 60)).toBe(0xffffffff);
    // ld #0x12345678; lsh #4; and #0xff00; or #1; xor #3; mod #1000; ret a
    const v = ((((0x12345678 << 4) >>> 0) & 0xff00) | 1) ^ 3;
    expect(runBpf([ins(0x00, 0, 0, 0x12345678), ins(0x64, 0, 0, 4), ins(0x54, 0, 0, 0xff00), ins(0x44, 0, 0, 1), ins(0xa4, 0, 0, 3), ins(0x94, 0, 0, 1000), ins(0x16, 0, 0, 0)], pkt, 60, 60)).toBe(v % 1000);
  });

  it('division by zero, bad opcodes, jumps out of the program and falling off the end return 0', () => {
    const pkt = frame(0x800);
    expect(runBpf([ins(0x00, 0, 0, 5), ins(0x01, 0, 0, 0), ins(0x3c, 0, 0, 0), ins(0x06, 0, 0, 1)], pkt, 60, 60)).toBe(0); // div x, x = 0
    expect(runBpf([ins(0xff, 0, 0, 0), ins(0x06, 0, 0, 1)], pkt, 60, 60)).toBe(0);
    expect(runBpf([ins(0x05, 0, 0, 5), ins(0x06, 0, 0, 1)], pkt, 60, 60)).toBe(0); // ja past the end
    expect(runBpf([ins(0x00, 0, 0, 5)], pkt, 60, 60)).toBe(0);
    expect(runBpf([], pkt, 60, 60)).toBe(0);
    // ja +1 skips one instruction; jset
    expect(runBpf([ins(0x05, 0, 0, 1), ins(0x06, 0, 0, 0), ins(0x00, 0, 0, 6), ins(0x45, 0, 1, 2), ins(0x06, 0, 0, 9), ins(0x06, 0, 0, 0)], pkt, 60, 60)).toBe(9);
    // jgt / jge with X
    expect(runBpf([ins(0x00, 0, 0, 5), ins(0x01, 0, 0, 5), ins(0x3d, 0, 1, 0), ins(0x06, 0, 0, 1), ins(0x06, 0, 0, 2)], pkt, 60, 60)).toBe(1);
    expect(runBpf([ins(0x00, 0, 0, 5), ins(0x01, 0, 0, 5), ins(0x2d, 0, 1, 0), ins(0x06, 0, 0, 1), ins(0x06, 0, 0, 2)], pkt, 60, 60)).toBe(2);
  });
});

describe('decoder', () => {
  const opt: D.DecodeOptions = { decodeTunnels: true, l2Flows: true };
  const decode = (data: Buffer, linktype = 1, o: D.DecodeOptions = opt, frags = new D.FragmentTable(), wire = data.length) => {
    const p = new D.PacketInfo();
    p.wireLen = wire;
    const k = D.decodePacket(new Uint8Array(data), 0, data.length, linktype, o, frags, p);
    return { k, p };
  };
  const ip4 = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

  it('Ethernet + IPv4 + TCP', () => {
    const data = tcp4('10.0.0.1', 1234, '192.168.1.2', 443, 'SA', 100);
    const { k, p } = decode(data);
    expect(k).toBe(D.KIND_IP);
    expect([p.ipVersion, p.proto, p.s0, p.d0, p.sport, p.dport, p.tcpFlags, p.error]).toEqual([4, 6, ip4('10.0.0.1'), ip4('192.168.1.2'), 1234, 443, 0x12, 0]);
    expect([p.ipLen, p.l4Len, p.payloadLen]).toEqual([140, 120, 100]);
    expect(p.srcMacOff).toBe(6);
    expect(p.dstMacOff).toBe(0);
  });

  it('QinQ: the outermost VLAN id', () => {
    const { p } = decode(tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S', 0, [{ id: 100, tpid: 0x88a8 }, { id: 200 }]));
    expect(p.vlan).toBe(100);
    expect(p.sport).toBe(1);
  });

  it('truncated transport: accounted without ports, error counted', () => {
    const data = tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S');
    const { k, p } = decode(data.subarray(0, 14 + 20 + 10), 1, opt, new D.FragmentTable(), data.length);
    expect(k).toBe(D.KIND_IP);
    expect(p.truncated).toBe(1);
    expect(DECODE_ERRORS[p.error]).toBe('truncated_transport');
    expect([p.sport, p.dport]).toEqual([0, 0]);
  });

  it('IPv6 with extension headers', () => {
    const data = P.ethernet({
      src: MAC_A,
      dst: MAC_B,
      type: 0x86dd,
      payload: P.ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 17, ext: [{ type: 0 }, { type: 60 }], payload: P.udp({ sport: 53, dport: 5353, payload: Buffer.alloc(10) }) }),
    });
    const { k, p } = decode(data);
    expect(k).toBe(D.KIND_IP);
    expect([p.ipVersion, p.proto, p.sport, p.dport, p.s0, p.s3, p.d3]).toEqual([6, 17, 53, 5353, 0x20010db8, 1, 2]);
  });

  it('fragments: later ones get the first fragment ports; the last frees the entry', () => {
    const frags = new D.FragmentTable();
    const ip = { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, id: 77, payload: P.udp({ sport: 1000, dport: 2000, payload: Buffer.alloc(3000) }) };
    const parts: Buffer[] = P.ipv4Fragments(ip, 1400);
    expect(parts.length).toBeGreaterThan(2);
    const eth = (b: Buffer) => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x800, payload: b });
    const first = decode(eth(parts[0]), 1, opt, frags).p;
    expect([first.fragment, first.sport, first.dport]).toEqual([1, 1000, 2000]);
    for (let i = 1; i < parts.length; i++) {
      const p = decode(eth(parts[i]), 1, opt, frags).p;
      expect([p.fragment, p.sport, p.dport, p.error]).toEqual([2, 1000, 2000, 0]);
    }
    const again = decode(eth(parts[1]), 1, opt, frags).p;
    expect(DECODE_ERRORS[again.error]).toBe('unmatched_fragment');
    expect([again.sport, again.dport]).toEqual([0, 0]);
  });

  it('the fragment bucket hash is native FragmentTable::bucket', () => {
    const p = new D.PacketInfo();
    const set = (id: number, src: number[], dst: number[], proto: number) => {
      const w = (b: number[], i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
      const s = [...src, ...Array(16 - src.length).fill(0)];
      const d = [...dst, ...Array(16 - dst.length).fill(0)];
      p.fragId = id;
      [p.s0, p.s1, p.s2, p.s3] = [0, 4, 8, 12].map((i) => w(s, i));
      [p.d0, p.d1, p.d2, p.d3] = [0, 4, 8, 12].map((i) => w(d, i));
      p.proto = proto;
      return D.FragmentTable.bucket(p);
    };
    // expected values computed with the C++ function
    const v6a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const v6b = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    expect(set(0x1234, [10, 0, 0, 1], [192, 168, 1, 2], 17)).toBe(648);
    expect(set(0xffff, [10, 0, 0, 1], [192, 168, 1, 2], 6)).toBe(726);
    expect(set(0xdeadbeef, v6a, v6b, 17)).toBe(248);
    expect(set(7, v6b, v6a, 58)).toBe(917);
  });

  it('tunnels: GRE and VXLAN are keyed by the inner header unless decodeTunnels is off', () => {
    const inner = P.ipv4({ src: '192.168.0.1', dst: '192.168.0.2', proto: 6, payload: P.tcp({ sport: 1, dport: 2, flags: 'S' }) });
    const gre = P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x800, payload: P.ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 47, payload: P.gre({ proto: 0x800, payload: inner }) }) });
    const a = decode(gre).p;
    expect([a.tunnel, a.s0, a.sport, a.dport]).toEqual([1, ip4('192.168.0.1'), 1, 2]);
    const b = decode(gre, 1, { decodeTunnels: false, l2Flows: true }).p;
    expect([b.tunnel, b.s0, b.proto]).toEqual([0, ip4('1.1.1.1'), 47]);
    const vx = P.ethernet({
      src: MAC_A,
      dst: MAC_B,
      type: 0x800,
      payload: P.ipv4({ src: '3.3.3.3', dst: '4.4.4.4', proto: 17, payload: P.udp({ sport: 5555, dport: 4789, payload: P.vxlan({ vni: 5, payload: P.ethernet({ src: MAC_B, dst: MAC_A, type: 0x800, payload: inner }) }) }) }),
    });
    const c = decode(vx).p;
    expect([c.tunnel, c.s0, c.sport, c.srcMacOff]).toEqual([1, ip4('192.168.0.1'), 1, 6]);
  });

  it('details: inner VLAN, the innermost tunnel with its id, TCP seq and window', () => {
    const inner = (payload = 0) =>
      P.ipv4({ src: '192.168.0.1', dst: '192.168.0.2', proto: 6, payload: P.tcp({ sport: 1, dport: 2, flags: 'A', seq: 0xfedcba98, window: 517, payload: Buffer.alloc(payload) }) });
    const outer = (proto: number, payload: Buffer) => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x800, payload: P.ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto, payload }) });
    const fields = (p: D.PacketInfo) => [p.tunnel, p.tunnelType, p.tunnelId, p.innerVlan, p.seq, p.tcpWindow];
    const qinq = decode(tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S', 0, [{ id: 100, tpid: 0x88a8 }, { id: 200 }, { id: 300 }])).p;
    expect([qinq.vlan, qinq.innerVlan, qinq.tunnelType]).toEqual([100, 200, 0]);
    expect(decode(tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S', 0, [{ id: 100 }])).p.innerVlan).toBe(0);
    // the key follows the checksum word
    expect(fields(decode(outer(47, P.gre({ proto: 0x800, key: 0xabcdef01, seq: 9, checksum: true, payload: inner() }))).p)).toEqual([1, D.TUNNEL_GRE, 0xabcdef01, 0, 0xfedcba98, 517]);
    expect(fields(decode(outer(47, P.gre({ proto: 0x800, payload: inner() }))).p)).toEqual([1, D.TUNNEL_GRE, 0, 0, 0xfedcba98, 517]);
    expect(fields(decode(outer(4, inner(3))).p)).toEqual([1, D.TUNNEL_IPIP, 0, 0, 0xfedcba98, 517]);
    const gtp = outer(17, P.udp({ sport: 2152, dport: 2152, payload: P.gtpu({ teid: 0x80000001, payload: inner() }) }));
    expect(fields(decode(gtp).p)).toEqual([1, D.TUNNEL_GTPU, 0x80000001, 0, 0xfedcba98, 517]);
    // VXLAN (VNI 0xabcdef) inside GRE: the innermost tunnel is kept
    const vx = P.ipv4({ src: '3.3.3.3', dst: '4.4.4.4', proto: 17, payload: P.udp({ sport: 5555, dport: 4789, payload: P.vxlan({ vni: 0xabcdef, payload: P.ethernet({ src: MAC_B, dst: MAC_A, type: 0x800, payload: inner() }) }) }) });
    expect(fields(decode(outer(47, P.gre({ proto: 0x800, key: 7, payload: vx }))).p)).toEqual([1, D.TUNNEL_VXLAN, 0xabcdef, 0, 0xfedcba98, 517]);
    // a tunnel whose inner packet is not IP leaves the outer flow as it was
    const arp = P.ethernet({ src: MAC_B, dst: MAC_A, type: 0x0806, payload: Buffer.alloc(28) });
    expect(fields(decode(outer(47, P.gre({ proto: 0x6558, key: 7, payload: arp }))).p)).toEqual([0, 0, 0, 0, 0, 0]);
    // a UDP packet after a TCP one: no stale seq or window
    const p = new D.PacketInfo();
    for (const data of [tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S'), udp4('1.1.1.1', 1, '2.2.2.2', 2)]) {
      p.wireLen = data.length;
      D.decodePacket(new Uint8Array(data), 0, data.length, 1, opt, new D.FragmentTable(), p);
    }
    expect([p.proto, p.seq, p.tcpWindow]).toEqual([17, 0, 0]);
  });

  it('layer-2 frames: flows keyed by MACs, or skipped with l2Flows off', () => {
    const lldp = P.ethernet({ src: MAC_A, dst: '01:80:c2:00:00:0e', type: 0x88cc, payload: Buffer.alloc(40) });
    const { k, p } = decode(lldp);
    expect(k).toBe(D.KIND_L2);
    expect([p.ethertype, p.ipVersion, p.s0, p.s1, p.d0, p.d1]).toEqual([0x88cc, 0, 0x02000000, 0x000a0000, 0x0180c200, 0x000e0000]);
    expect(decode(lldp, 1, { decodeTunnels: true, l2Flows: false }).k).toBe(D.KIND_SKIP);
  });

  it('link types: raw IP, null, SLL2; unsupported ones are counted', () => {
    const eth = tcp4('5.5.5.5', 10, '6.6.6.6', 20, 'A');
    expect(decode(eth.subarray(14), 101).p.sport).toBe(10);
    expect(decode(P.nullLoopback({ family: 2, payload: eth.subarray(14) }), 0).p.dport).toBe(20);
    expect(decode(P.sll2({ protocol: 0x800, addr: MAC_A, payload: eth.subarray(14) }), 276).p.srcMacOff).toBe(12);
    const bad = decode(eth, 147);
    expect(bad.k).toBe(D.KIND_SKIP);
    expect(DECODE_ERRORS[bad.p.error]).toBe('unsupported_link_type');
    expect(D.linktypeSupported(147)).toBe(false);
    expect(D.linktypeSupported(276)).toBe(true);
  });
});

/** Every record of a TypeScript-engine read, in order. */
async function tsRecords(file: string, options: Parameters<typeof resolveOptions>[0]): Promise<DataView[]> {
  const g = readFileTs(file, resolveOptions(options), { cancelled: false });
  const out: DataView[] = [];
  for (let r = await g.next(); !r.done; r = await g.next()) {
    for (let o = 0; o < r.value.byteLength; o += RECORD_SIZE) out.push(new DataView(r.value, o, RECORD_SIZE));
  }
  return out;
}

describe('details area (record bytes 512-1023)', () => {
  const A = '10.0.0.1';
  const B = '10.0.0.2';
  const u64 = (r: DataView, o: number) => Number(r.getBigUint64(o, true));
  const u32s = (r: DataView, o: number, n: number) => Array.from({ length: n }, (_, i) => r.getUint32(o + 4 * i, true));
  const u16s = (r: DataView, o: number, n: number) => Array.from({ length: n }, (_, i) => r.getUint16(o + 2 * i, true));
  const bytes = (r: DataView, o: number, n: number) => Array.from(new Uint8Array(r.buffer, r.byteOffset + o, n));
  // wire sizes 54, 54, 154, 104, 54; IP lengths 40, 40, 140, 90, 40; payloads 0, 0, 100, 50, 0
  const conversation = () =>
    writePcap([
      { t: 0, data: tcp4(A, 1000, B, 80, 'S') },
      { t: 0.001, data: tcp4(B, 80, A, 1000, 'SA') },
      { t: 0.0025, data: tcp4(A, 1000, B, 80, 'PA', 100) },
      { t: 0.0025, data: tcp4(B, 80, A, 1000, 'A', 50) },
      { t: 0.01, data: tcp4(A, 1000, B, 80, 'FA') },
    ]);

  it('IP and payload bytes, flag counters, both-directions statistics and SPLT', async () => {
    const [r, ...more] = await tsRecords(conversation(), { statistics: true, splt: 8 });
    expect(more).toHaveLength(0);
    expect([u64(r, O.kFwdIpBytes), u64(r, O.kRevIpBytes), u64(r, O.kFwdPayloadBytes), u64(r, O.kRevPayloadBytes)]).toEqual([220, 130, 100, 50]);
    // FIN, SYN, RST, PSH, ACK, URG, ECE, CWR
    expect(u32s(r, O.kFwdFlagCounts, 8)).toEqual([1, 1, 0, 1, 2, 0, 0, 0]);
    expect(u32s(r, O.kRevFlagCounts, 8)).toEqual([0, 1, 0, 0, 2, 0, 0, 0]);
    const b = O.kBiStats;
    const sizes = [54, 54, 154, 104, 54];
    const mean = sizes.reduce((a, x) => a + x, 0) / 5;
    expect([r.getUint32(b + O.kStatSizeMin, true), r.getUint32(b + O.kStatSizeMax, true)]).toEqual([54, 154]);
    expect(r.getFloat64(b + O.kStatSizeMean, true)).toBeCloseTo(mean, 9);
    expect(r.getFloat64(b + O.kStatSizeStddev, true)).toBeCloseTo(Math.sqrt(sizes.reduce((a, x) => a + (x - mean) ** 2, 0) / 5), 9);
    // inter-arrival over the flow: 1 ms, 1.5 ms, 0, 7.5 ms
    expect([u64(r, b + O.kStatIatMin), u64(r, b + O.kStatIatMax)]).toEqual([0, 7_500_000]);
    expect(r.getFloat64(b + O.kStatIatMean, true)).toBeCloseTo(2_500_000, 3);
    expect(r.getUint8(O.kSpltCount)).toBe(5);
    expect(r.getUint32(O.kSpltDirections, true)).toBe(0b01010);
    expect(u16s(r, O.kSpltSizes, 6)).toEqual([...sizes, 0]);
    expect(u32s(r, O.kSpltIats, 6)).toEqual([0, 1000, 1500, 0, 7500, 0]);
    expect(bytes(r, O.kDetailsEnd, RECORD_SIZE - O.kDetailsEnd).every((x) => x === 0)).toBe(true);
    // without the options their bytes stay zero; the rest is always filled
    const [plain] = await tsRecords(conversation(), {});
    expect(u64(plain, O.kFwdIpBytes)).toBe(220);
    expect(bytes(plain, O.kFwdFlagCounts, O.kDetailsEnd - O.kFwdFlagCounts).every((x) => x === 0)).toBe(true);
  });

  it('segments restart bytes and statistics; SPLT keeps the flow from its first packet', async () => {
    const recs = await tsRecords(conversation(), { statistics: true, splt: 3, activeTimeout: 0.005 });
    expect(recs.map((r) => r.getUint16(O.kSegment, true))).toEqual([0, 1]);
    const [a, b] = recs;
    expect([u64(a, O.kFwdIpBytes), u64(a, O.kRevIpBytes), u64(a, O.kFwdPayloadBytes)]).toEqual([180, 130, 100]);
    expect([u64(b, O.kFwdIpBytes), u64(b, O.kRevIpBytes), u64(b, O.kFwdPayloadBytes)]).toEqual([40, 0, 0]);
    expect(u32s(b, O.kFwdFlagCounts, 8)).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
    expect([b.getUint32(O.kBiStats + O.kStatSizeMin, true), u64(b, O.kBiStats + O.kStatIatMax)]).toEqual([54, 0]);
    for (const r of recs) {
      expect([r.getUint8(O.kSpltCount), r.getUint32(O.kSpltDirections, true)]).toEqual([3, 0b010]);
      expect(u16s(r, O.kSpltSizes, 4)).toEqual([54, 54, 154, 0]);
      expect(u32s(r, O.kSpltIats, 4)).toEqual([0, 1000, 1500, 0]);
    }
  });

  it('SPLT: an older packet counts 0, sizes saturate; tunnel and inner VLAN come from the first packet', async () => {
    const gre = (key: number, payload: Buffer) =>
      P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x800, vlans: [{ id: 10 }, { id: 20 }], payload: P.ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 47, payload: P.gre({ proto: 0x800, key, payload }) }) });
    const inner = (n: number) => P.ipv4({ src: A, dst: B, proto: 17, payload: P.udp({ sport: 5, dport: 6, payload: Buffer.alloc(n) }) });
    const f = writePcap([
      { t: 1, data: gre(0x01020304, inner(10)) },
      { t: 0.5, data: gre(99, inner(10)) },
      { t: 1.25, data: gre(99, inner(1000)).subarray(0, 200), origLen: 70000 },
      { t: 4296.125, data: gre(99, inner(10)) }, // 4294.875 s: just below 2^32 µs
      { t: 8592.125, data: gre(99, inner(10)) }, // 4296 s: saturates
    ]);
    const recs = await tsRecords(f, { splt: 6, idleTimeout: Infinity, activeTimeout: Infinity });
    expect(recs).toHaveLength(1);
    const [r] = recs;
    expect(r.getUint16(O.kInnerVlan, true)).toBe(20);
    expect([r.getUint8(O.kTunnelType), r.getUint32(O.kTunnelId, true)]).toEqual([2, 0x01020304]);
    expect(r.getUint8(O.kConnState)).toBe(1); // S0: only src sent
    expect(u16s(r, O.kSpltSizes, 6)).toEqual([88, 88, 65535, 88, 88, 0]);
    expect(u32s(r, O.kSpltIats, 6)).toEqual([0, 0, 250_000, 4_294_875_000, 4_294_967_295, 0]);
  });
});

describe('readFileTs', () => {
  it('stops without a flush when cancelled', async () => {
    const o = resolveOptions({ batchSize: 5 });
    const control = { cancelled: false };
    const g = readFileTs(files.pcap, o, control);
    const first = await g.next();
    expect(first.done).toBe(false);
    control.cancelled = true;
    const r = await g.next();
    expect(r.done).toBe(true);
    const s = r.value as Awaited<ReturnType<typeof g.next>>['value'] & { cancelled: boolean };
    expect(s.cancelled).toBe(true);
  });

  it("without the caller's compiler the TypeScript pcap-filter compiler filters; a bad filter ends with ERR_BPF at the first packet", async () => {
    const f = writePcap([
      { t: 0, data: udp4('1.1.1.1', 1, '2.2.2.2', 2) },
      { t: 1, data: tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S') },
      { t: 2, data: udp4('1.1.1.1', 1, '2.2.2.2', 2) },
    ]);
    const run = async (filter: string) => {
      const g = readFileTs(f, resolveOptions({ filter }), { cancelled: false });
      let r = await g.next();
      while (!r.done) r = await g.next();
      return r.value;
    };
    const ok = await run('tcp');
    expect(ok.error).toBeUndefined();
    expect(ok.filtered).toBe(2);
    const bad = await run('udp and gateway x');
    expect(bad.error?.code).toBe('ERR_BPF');
    expect(bad.error?.message).toContain(f);
    expect(bad.packets).toBe(1);
  });

  it('a filter program from the compiler filters', async () => {
    const f = writePcap([
      { t: 0, data: udp4('1.1.1.1', 1, '2.2.2.2', 2) },
      { t: 1, data: tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S') },
      { t: 2, data: udp4('1.1.1.1', 1, '2.2.2.2', 2) },
    ]);
    const ins = (code: number, jt: number, jf: number, k: number): BpfInstruction => ({ code, jt, jf, k });
    const udpOnly = [ins(0x28, 0, 0, 12), ins(0x15, 0, 3, 0x800), ins(0x30, 0, 0, 23), ins(0x15, 0, 1, 17), ins(0x06, 0, 0, 262144), ins(0x06, 0, 0, 0)];
    const g = readFileTs(f, resolveOptions({ filter: 'udp' }), { cancelled: false }, () => udpOnly);
    let n = 0;
    let r = await g.next();
    while (!r.done) {
      n += r.value.byteLength / RECORD_SIZE;
      r = await g.next();
    }
    expect(r.value.error).toBeUndefined();
    expect([r.value.packets, r.value.filtered, n]).toEqual([3, 1, 1]);
  });
});

import { describe, it, expect } from 'vitest';
// @ts-ignore -- plain ESM helper scripts without type declarations
import * as P from '../scripts/lib/packets.mjs';
// @ts-ignore
import { PcapWriter, PcapngWriter } from '../scripts/lib/capture-writer.mjs';
// @ts-ignore
import { generate, BASE_SEC } from '../scripts/gen-pcap.mjs';

/* ------------------------------------------------------------------ tiny readers */

interface Pkt { iface: number; sec: number; sub: number; tsHi: number; tsLo: number; data: Buffer; origLen: number }
interface Iface { linktype: number; snaplen: number; tsresol: number }
interface Capture { format: 'pcap' | 'pcapng'; bigEndian: boolean; nanos: boolean; linktype: number; snaplen: number; ifaces: Iface[]; packets: Pkt[]; blockTypes: number[] }

function readPcap(buf: Buffer): Capture {
  const m = buf.readUInt32LE(0);
  let be: boolean, nanos: boolean;
  if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) { be = false; nanos = m === 0xa1b23c4d; } else {
    const mb = buf.readUInt32BE(0);
    if (mb !== 0xa1b2c3d4 && mb !== 0xa1b23c4d) throw new Error(`bad pcap magic ${m.toString(16)}`);
    be = true; nanos = mb === 0xa1b23c4d;
  }
  const u32 = (o: number) => (be ? buf.readUInt32BE(o) : buf.readUInt32LE(o));
  const u16 = (o: number) => (be ? buf.readUInt16BE(o) : buf.readUInt16LE(o));
  expect(u16(4)).toBe(2);
  expect(u16(6)).toBe(4);
  const snaplen = u32(16);
  const linktype = u32(20);
  const packets: Pkt[] = [];
  let o = 24;
  while (o < buf.length) {
    expect(o + 16).toBeLessThanOrEqual(buf.length);
    const sec = u32(o), sub = u32(o + 4), cap = u32(o + 8), orig = u32(o + 12);
    expect(sub).toBeLessThan(nanos ? 1e9 : 1e6);
    expect(cap).toBeLessThanOrEqual(snaplen);
    expect(cap).toBeLessThanOrEqual(orig);
    expect(o + 16 + cap).toBeLessThanOrEqual(buf.length);
    packets.push({ iface: 0, sec, sub, tsHi: 0, tsLo: 0, data: buf.subarray(o + 16, o + 16 + cap), origLen: orig });
    o += 16 + cap;
  }
  expect(o).toBe(buf.length);
  return { format: 'pcap', bigEndian: be, nanos, linktype, snaplen, ifaces: [{ linktype, snaplen, tsresol: nanos ? 9 : 6 }], packets, blockTypes: [] };
}

function readPcapng(buf: Buffer): Capture {
  expect(buf.readUInt32LE(0)).toBe(0x0a0d0d0a);
  const bom = buf.readUInt32LE(8);
  const be = bom !== 0x1a2b3c4d;
  if (be) expect(buf.readUInt32BE(8)).toBe(0x1a2b3c4d);
  const u32 = (o: number) => (be ? buf.readUInt32BE(o) : buf.readUInt32LE(o));
  const u16 = (o: number) => (be ? buf.readUInt16BE(o) : buf.readUInt16LE(o));
  expect(u16(12)).toBe(1);
  expect(u16(14)).toBe(0);
  expect(buf.readBigInt64LE(16)).toBe(-1n);
  const ifaces: Iface[] = [];
  const packets: Pkt[] = [];
  const blockTypes: number[] = [];
  let o = 0;
  while (o < buf.length) {
    const type = u32(o), len = u32(o + 4);
    expect(len % 4).toBe(0);
    expect(len).toBeGreaterThanOrEqual(12);
    expect(u32(o + len - 4)).toBe(len); // trailing length
    blockTypes.push(type);
    if (type === 1) {
      const iface: Iface = { linktype: u16(o + 8), snaplen: u32(o + 12), tsresol: 6 };
      let p = o + 16;
      while (p < o + len - 4) {
        const code = u16(p), olen = u16(p + 2);
        if (code === 0) break;
        if (code === 9) iface.tsresol = buf[p + 4];
        p += 4 + ((olen + 3) & ~3);
      }
      ifaces.push(iface);
    } else if (type === 6) {
      const ifc = u32(o + 8), cap = u32(o + 20), orig = u32(o + 24);
      expect(ifc).toBeLessThan(ifaces.length);
      expect(28 + ((cap + 3) & ~3) + 4).toBeLessThanOrEqual(len);
      for (let i = o + 28 + cap; i < o + 28 + ((cap + 3) & ~3); i++) expect(buf[i]).toBe(0);
      packets.push({ iface: ifc, sec: 0, sub: 0, tsHi: u32(o + 12), tsLo: u32(o + 16), data: buf.subarray(o + 28, o + 28 + cap), origLen: orig });
    }
    o += len;
  }
  expect(o).toBe(buf.length);
  return { format: 'pcapng', bigEndian: be, nanos: false, linktype: ifaces[0]?.linktype ?? -1, snaplen: 0, ifaces, packets, blockTypes };
}

/** Timestamp of a packet in ns (BigInt). */
function tsNs(c: Capture, p: Pkt): bigint {
  if (c.format === 'pcap') return BigInt(p.sec) * 1000000000n + BigInt(p.sub) * (c.nanos ? 1n : 1000n);
  const r = c.ifaces[p.iface].tsresol;
  const ticks = (BigInt(p.tsHi) << 32n) | BigInt(p.tsLo);
  return (ticks * 1000000000n) / 10n ** BigInt(r);
}

/* ------------------------------------------------------------------ packet checks */

function csum(b: Buffer, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}
function pseudo(src: Buffer, dst: Buffer, proto: number, len: number): number {
  let s = csum(src) + csum(dst) + proto + (len & 0xffff) + Math.floor(len / 65536);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

interface L4Info { v: 4 | 6; src: string; dst: string; proto: number; sport: number; dport: number; frag: boolean; ipid: number; fragOff: number; more: boolean; payload: Buffer }

const stats = { ip4: 0, ip6: 0, tcp: 0, udp: 0, icmp: 0, sctp: 0, frags: 0, gre: 0, vxlan: 0, gtp: 0, ipip: 0, mpls: 0, pppoe: 0, vlan: 0, l2: 0 };

/** Validate an IP packet (lengths + checksums) and recurse into tunnels. Returns the innermost L4 info. */
function checkIp(ip: Buffer, out: L4Info[]): void {
  const ver = ip[0] >> 4;
  if (ver === 4) {
    stats.ip4++;
    const hl = (ip[0] & 15) * 4;
    expect(hl).toBeGreaterThanOrEqual(20);
    const total = ip.readUInt16BE(2);
    expect(total).toBe(ip.length); // caller passes exactly total bytes
    expect(csum(ip.subarray(0, hl))).toBe(0xffff); // header checksum valid
    const fl = ip.readUInt16BE(6);
    const more = (fl & 0x2000) !== 0, off = fl & 0x1fff;
    const pl = ip.subarray(hl, total);
    const info: L4Info = { v: 4, src: ip.subarray(12, 16).toString('hex'), dst: ip.subarray(16, 20).toString('hex'), proto: ip[9], sport: 0, dport: 0, frag: more || off > 0, ipid: ip.readUInt16BE(4), fragOff: off, more, payload: pl };
    checkL4(info, ip.subarray(12, 16), ip.subarray(16, 20), out);
  } else if (ver === 6) {
    stats.ip6++;
    expect(ip.readUInt16BE(4) + 40).toBe(ip.length);
    let next = ip[6];
    let o = 40;
    let frag = false, fragOff = 0, more = false, id = 0;
    while ([0, 43, 44, 60, 51].includes(next)) {
      if (next === 44) { const f = ip.readUInt16BE(o + 2); fragOff = f >> 3; more = (f & 1) === 1; frag = fragOff > 0 || more; id = ip.readUInt32BE(o + 4); next = ip[o]; o += 8; continue; }
      const len = next === 51 ? (ip[o + 1] + 2) * 4 : (ip[o + 1] + 1) * 8;
      next = ip[o]; o += len;
    }
    const info: L4Info = { v: 6, src: ip.subarray(8, 24).toString('hex'), dst: ip.subarray(24, 40).toString('hex'), proto: next, sport: 0, dport: 0, frag, ipid: id, fragOff, more, payload: ip.subarray(o) };
    checkL4(info, ip.subarray(8, 24), ip.subarray(24, 40), out);
  } else {
    throw new Error(`not IP: version ${ver}`);
  }
}

function checkL4(info: L4Info, src: Buffer, dst: Buffer, out: L4Info[]): void {
  const pl = info.payload;
  if (info.frag) { stats.frags++; out.push(info); return; }
  switch (info.proto) {
    case 6:
      stats.tcp++;
      expect(csum(pl, pseudo(src, dst, 6, pl.length))).toBe(0xffff);
      info.sport = pl.readUInt16BE(0); info.dport = pl.readUInt16BE(2);
      break;
    case 17: {
      stats.udp++;
      expect(pl.readUInt16BE(4)).toBe(pl.length);
      info.sport = pl.readUInt16BE(0); info.dport = pl.readUInt16BE(2);
      if (pl.readUInt16BE(6) !== 0) expect(csum(pl, pseudo(src, dst, 17, pl.length))).toBe(0xffff);
      if (info.dport === 4789) { stats.vxlan++; expect(pl[8]).toBe(0x08); return checkEth(pl.subarray(16), out); }
      if (info.dport === 2152) { stats.gtp++; expect(pl[9]).toBe(0xff); expect(pl.readUInt16BE(10)).toBe(pl.length - 16); return checkIp(pl.subarray(16), out); }
      break;
    }
    case 1: stats.icmp++; expect(csum(pl)).toBe(0xffff); break;
    case 58: stats.icmp++; expect(csum(pl, pseudo(src, dst, 58, pl.length))).toBe(0xffff); break;
    case 132: {
      stats.sctp++;
      const c = Buffer.from(pl); const want = c.readUInt32LE(8); c.writeUInt32LE(0, 8);
      expect(P.crc32c(c)).toBe(want);
      info.sport = pl.readUInt16BE(0); info.dport = pl.readUInt16BE(2);
      break;
    }
    case 47: {
      stats.gre++;
      const flags = pl.readUInt16BE(0);
      const hl = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
      return checkIp(pl.subarray(hl), out);
    }
    case 4: case 41: stats.ipip++; return checkIp(pl, out);
    default: break;
  }
  out.push(info);
}

/** Parse an Ethernet frame: VLAN/QinQ, MPLS, PPPoE, IP; non-IP ethertypes are counted as L2. */
function checkEth(f: Buffer, out: L4Info[]): void {
  let o = 12;
  let type = f.readUInt16BE(o);
  while (type === 0x8100 || type === 0x88a8 || type === 0x9100) { stats.vlan++; o += 4; type = f.readUInt16BE(o); }
  o += 2;
  if (type === 0x8847) {
    stats.mpls++;
    while (!(f[o + 2] & 1)) o += 4;
    o += 4;
    type = (f[o] >> 4) === 6 ? 0x86dd : 0x0800;
  } else if (type === 0x8864) {
    stats.pppoe++;
    const len = f.readUInt16BE(o + 4);
    const proto = f.readUInt16BE(o + 6);
    o += 8;
    type = proto === 0x57 ? 0x86dd : 0x0800;
    const ipLen = len - 2;
    return checkIp(f.subarray(o, o + ipLen), out);
  }
  if (type === 0x0800) return checkIp(f.subarray(o, o + f.readUInt16BE(o + 2)), out);
  if (type === 0x86dd) return checkIp(f.subarray(o, o + 40 + f.readUInt16BE(o + 4)), out);
  stats.l2++;
  expect([0x0806, 0x88cc, 0x88b8, 0x8892]).toContain(type);
  if (type === 0x0806) expect(f.readUInt16BE(o + 2)).toBe(0x0800);
}

function checkFrame(linktype: number, data: Buffer, out: L4Info[]): void {
  if (linktype === 1) return checkEth(data, out);
  if (linktype === 101) {
    const len = data[0] >> 4 === 4 ? data.readUInt16BE(2) : 40 + data.readUInt16BE(4);
    expect(len).toBe(data.length);
    return checkIp(data, out);
  }
  if (linktype === 113) {
    expect(data.readUInt16BE(2)).toBe(1);
    const eth = Buffer.concat([Buffer.alloc(12), data.subarray(14)]);
    return checkEth(eth, out);
  }
  throw new Error(`unexpected linktype ${linktype}`);
}

async function gen(opts: Record<string, unknown>): Promise<Buffer> {
  const r = await generate({ quiet: true, ...opts });
  return r.buffer as Buffer;
}

/* ------------------------------------------------------------------ tests */

describe('packets.mjs', () => {
  it('computes the IPv4 header checksum (RFC 1071 example) and lengths', () => {
    const ip = P.ipv4({ src: '192.168.0.1', dst: '192.168.0.199', proto: 17, id: 0, df: true, payload: P.udp({ sport: 1, dport: 2, payload: Buffer.alloc(87) }) });
    expect(ip.subarray(0, 20).toString('hex')).toBe('45000073000040004011b861c0a80001c0a800c7');
    expect(ip.readUInt16BE(2)).toBe(0x73);
    expect(ip.readUInt16BE(20 + 4)).toBe(95);
  });

  it('parses addresses', () => {
    expect(P.ipToBytes('2001:db8::1').toString('hex')).toBe('20010db8000000000000000000000001');
    expect(P.ipToBytes('::ffff:10.0.0.1').toString('hex')).toBe('00000000000000000000ffff0a000001');
    expect(P.macToBytes('aa:bb:cc:dd:ee:ff').toString('hex')).toBe('aabbccddeeff');
    expect(() => P.ipToBytes('1.2.3')).toThrow();
  });

  it('builds tags, tunnels and link headers with correct lengths', () => {
    const inner = P.ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, payload: P.tcp({ sport: 1234, dport: 80, flags: 'S' }) });
    const frame = P.ethernet({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', type: 0x0800, vlans: [{ id: 100, tpid: 0x88a8 }, { id: 200, pcp: 5 }], payload: inner, minLength: 60 });
    expect(frame.readUInt16BE(12)).toBe(0x88a8);
    expect(frame.readUInt16BE(14) & 0xfff).toBe(100);
    expect(frame.readUInt16BE(16)).toBe(0x8100);
    expect(frame.readUInt16BE(18)).toBe((5 << 13) | 200);
    expect(frame.readUInt16BE(20)).toBe(0x0800);
    expect(frame.length).toBe(62);
    expect(P.tcpFlags('SA')).toBe(0x12);
    expect(P.tcpFlags('FA')).toBe(0x11);
    expect(P.mpls([16, 17], inner).readUInt32BE(4) & 0x100).toBe(0x100);
    expect(P.mpls([16, 17], inner).readUInt32BE(0) & 0x100).toBe(0);
    const pp = P.pppoeSession({ sessionId: 7, payload: inner });
    expect(pp.readUInt16BE(4)).toBe(inner.length + 2);
    expect(pp.readUInt16BE(6)).toBe(0x21);
    const g = P.gtpu({ teid: 5, payload: inner });
    expect(g.readUInt16BE(2)).toBe(inner.length);
    expect(P.vxlan({ vni: 0x123456, payload: frame }).readUInt32BE(4)).toBe(0x12345600);
    expect(P.sll({ protocol: 0x800, payload: inner }).length).toBe(16 + inner.length);
    expect(P.sll2({ protocol: 0x800, payload: inner }).length).toBe(20 + inner.length);
    expect(P.nullLoopback({ family: 2, payload: inner }).readUInt32LE(0)).toBe(2);
    expect(P.nullLoopback({ family: 30, payload: inner, bigEndian: true }).readUInt32BE(0)).toBe(30);
    expect(P.arp({ op: 1, senderMac: '02:00:00:00:00:01', senderIp: '10.0.0.1', targetIp: '10.0.0.2' }).length).toBe(28);
    expect(P.crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // every nested checksum verifies through the generic walker
    const out: L4Info[] = [];
    const gre = P.ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 47, payload: P.gre({ proto: 0x86dd, key: 9, checksum: true, payload: P.ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 58, ext: [{ type: 'hop' }, { type: 'dst', options: Buffer.from([1, 1, 0]) }], payload: P.icmpv6({ type: 128, id: 1, seq: 2, payload: Buffer.from('ping') }) }) }) });
    checkIp(gre, out);
    expect(out[0].proto).toBe(58);
  });

  it('fragments IPv4 and IPv6 datagrams that reassemble to the original payload', () => {
    const payload = Buffer.alloc(3000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const seg = P.udp({ sport: 5000, dport: 5001, payload });
    const v4 = P.ipv4Fragments({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, id: 0x4242, payload: seg }, 1480);
    const v6 = P.ipv6Fragments({ src: '2001:db8::1', dst: '2001:db8::2', next: 17, payload: seg }, 1448, 0xdeadbeef);
    for (const frags of [v4, v6]) {
      expect(frags.length).toBe(3);
      const infos: L4Info[] = [];
      for (const f of frags) checkIp(f, infos);
      expect(infos.every((x) => x.frag)).toBe(true);
      expect(new Set(infos.map((x) => x.ipid)).size).toBe(1);
      expect(infos.map((x) => x.more)).toEqual([true, true, false]);
      const whole = Buffer.alloc(seg.length);
      let got = 0;
      for (const x of infos) { x.payload.copy(whole, x.fragOff * 8); got += x.payload.length; }
      expect(got).toBe(seg.length);
      expect(whole.subarray(8).equals(payload)).toBe(true);
      expect(whole.readUInt16BE(4)).toBe(seg.length);
      const src = frags === v4 ? P.ipToBytes('10.0.0.1') : P.ipToBytes('2001:db8::1');
      const dst = frags === v4 ? P.ipToBytes('10.0.0.2') : P.ipToBytes('2001:db8::2');
      expect(csum(whole, pseudo(src, dst, 17, whole.length))).toBe(0xffff);
    }
    expect(v4.slice(0, -1).every((f) => f.length === 1500)).toBe(true);
  });
});

describe('capture writers', () => {
  it('writes pcap in both byte orders and resolutions', () => {
    for (const bigEndian of [false, true]) {
      for (const nanos of [false, true]) {
        const w = new PcapWriter({ bigEndian, nanos, linktype: 101, snaplen: 100 });
        w.write(1767225600123456789n, Buffer.alloc(40, 1));
        w.write(1767225601000000999n, Buffer.alloc(150, 2));
        const c = readPcap(w.close());
        expect(c.bigEndian).toBe(bigEndian);
        expect(c.nanos).toBe(nanos);
        expect(c.linktype).toBe(101);
        expect(c.packets.length).toBe(2);
        expect(c.packets[0].sub).toBe(nanos ? 123456789 : 123456);
        expect(c.packets[1].data.length).toBe(100);
        expect(c.packets[1].origLen).toBe(150);
      }
    }
  });

  it('writes pcapng with per-interface tsresol, NRB, ISB and an unknown block', () => {
    for (const bigEndian of [false, true]) {
      const w = new PcapngWriter({ bigEndian });
      w.addInterface({ linktype: 1 });
      w.addInterface({ linktype: 113, tsresol: 9 });
      w.writeNameResolution([{ ip: '10.0.0.1', names: ['a'] }, { ip: '2001:db8::1', names: ['b', 'c'] }]);
      w.writeCustomUnknownBlock(0xbad, Buffer.from('xyz'));
      w.write(0, 1767225600123456789n, Buffer.alloc(61, 3));
      w.write(1, 1767225600123456789n, Buffer.alloc(62, 4), 70);
      w.writeInterfaceStatistics(0, 1767225601000000000n, { ifRecv: 2, ifDrop: 0 });
      const c = readPcapng(w.close());
      expect(c.bigEndian).toBe(bigEndian);
      expect(c.blockTypes).toEqual([0x0a0d0d0a, 1, 1, 4, 0xbad, 6, 6, 5]);
      expect(c.ifaces.map((i) => [i.linktype, i.tsresol])).toEqual([[1, 6], [113, 9]]);
      expect(tsNs(c, c.packets[0])).toBe(1767225600123456000n);
      expect(tsNs(c, c.packets[1])).toBe(1767225600123456789n);
      expect(c.packets[1].origLen).toBe(70);
    }
  });
});

describe('gen-pcap', () => {
  it('is deterministic per seed', async () => {
    const a = await gen({ packets: 3000, flows: 60, seed: 7, mix: 'full' });
    const b = await gen({ packets: 3000, flows: 60, seed: 7, mix: 'full' });
    const c = await gen({ packets: 3000, flows: 60, seed: 8, mix: 'full' });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    const d = await gen({ packets: 500, flows: 20, seed: 7, format: 'pcapng', multiInterface: true });
    const e = await gen({ packets: 500, flows: 20, seed: 7, format: 'pcapng', multiInterface: true });
    expect(d.equals(e)).toBe(true);
  });

  it('writes exact packet counts in every container variant, with non-decreasing timestamps', async () => {
    for (const format of ['pcap', 'pcapng']) {
      for (const bigEndian of [false, true]) {
        for (const nanos of [false, true]) {
          const buf = await gen({ packets: 777, flows: 33, seed: 3, format, bigEndian, nanos, mix: 'default' });
          const c = format === 'pcap' ? readPcap(buf) : readPcapng(buf);
          expect(c.bigEndian).toBe(bigEndian);
          expect(c.packets.length).toBe(777);
          if (format === 'pcap') expect(c.nanos).toBe(nanos); else expect(c.ifaces[0].tsresol).toBe(nanos ? 9 : 6);
          let prev = 0n;
          for (const p of c.packets) {
            const t = tsNs(c, p);
            expect(t >= prev).toBe(true);
            prev = t;
          }
          expect(tsNs(c, c.packets[0]) / 1000000000n).toBe(BigInt(BASE_SEC));
          for (const p of c.packets) checkFrame(c.linktype, p.data, []);
        }
      }
    }
  });

  it('simple mix: exact flows, every frame 64 bytes, valid checksums and TCP handshakes', async () => {
    const packets = 5000, flows = 400;
    const c = readPcap(await gen({ packets, flows, seed: 11, mix: 'simple', sizes: '64' }));
    expect(c.packets.length).toBe(packets);
    const keys = new Map<string, L4Info[]>();
    for (const p of c.packets) {
      expect(p.data.length).toBe(64);
      expect(p.origLen).toBe(64);
      expect(p.data.readUInt16BE(12)).toBe(0x0800);
      const out: L4Info[] = [];
      checkFrame(1, p.data, out);
      expect(out.length).toBe(1);
      const x = out[0];
      expect([6, 17]).toContain(x.proto);
      const a = `${x.src}:${x.sport}`, b = `${x.dst}:${x.dport}`;
      const key = `${x.proto}|${a < b ? a : b}|${a < b ? b : a}`;
      if (!keys.has(key)) keys.set(key, []);
      keys.get(key)!.push(x);
    }
    expect(keys.size).toBe(flows);
    let tcpFlows = 0;
    for (const pk of keys.values()) {
      if (pk[0].proto !== 6) continue;
      tcpFlows++;
      const t0 = pk[0].payload;
      expect(t0[13]).toBe(0x02); // first packet is a SYN
      if (pk.length > 1) {
        const t1 = pk[1].payload;
        expect(t1[13]).toBe(0x12);
        expect(t1.readUInt32BE(8)).toBe((t0.readUInt32BE(4) + 1) >>> 0);
      }
    }
    expect(tcpFlows).toBeGreaterThan(flows / 2);
  });

  it('imix sizes and full mix: every encapsulation present and valid, fragments reassemble', async () => {
    const c = readPcap(await gen({ packets: 6000, flows: 300, seed: 5, mix: 'full,gre=8,vxlan=8,ipip=5,6in4=5,gtpu=5,mpls=5,pppoe=5,frag=10,l2=5,sctp=5' }));
    expect(c.packets.length).toBe(6000);
    for (const k of Object.keys(stats)) (stats as Record<string, number>)[k] = 0;
    const infos: L4Info[] = [];
    const sizes = new Set<number>();
    for (const p of c.packets) { sizes.add(p.data.length); checkFrame(1, p.data, infos); }
    for (const s of [64, 576, 1500]) expect(sizes.has(s)).toBe(true);
    for (const k of ['ip4', 'ip6', 'tcp', 'udp', 'icmp', 'sctp', 'frags', 'gre', 'vxlan', 'gtp', 'ipip', 'mpls', 'pppoe', 'vlan', 'l2']) {
      expect((stats as Record<string, number>)[k], k).toBeGreaterThan(0);
    }
    // reassemble every complete fragmented datagram and verify its UDP length + checksum
    const groups = new Map<string, L4Info[]>();
    for (const x of infos.filter((i) => i.frag)) {
      const k = `${x.v}|${x.src}|${x.dst}|${x.ipid}`;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k)!.push(x);
    }
    let reassembled = 0;
    for (const parts of groups.values()) {
      const last = parts.find((x) => !x.more);
      if (!last) continue;
      const total = last.fragOff * 8 + last.payload.length;
      const whole = Buffer.alloc(total);
      let got = 0;
      for (const x of parts) { x.payload.copy(whole, x.fragOff * 8); got += x.payload.length; }
      if (got !== total) continue;
      expect(whole.readUInt16BE(4)).toBe(total);
      const src = Buffer.from(parts[0].src, 'hex'), dst = Buffer.from(parts[0].dst, 'hex');
      expect(csum(whole, pseudo(src, dst, 17, total))).toBe(0xffff);
      reassembled++;
    }
    expect(reassembled).toBeGreaterThan(0);
  });

  for (const iface2 of ['raw', 'sll']) {
    it(`multi-interface pcapng (${iface2}): two IDBs, different link types and tsresol, alternating`, async () => {
      const c = readPcapng(await gen({ packets: 1000, flows: 40, seed: 2, format: 'pcapng', multiInterface: true, iface2, mix: 'full', extraBlocks: true }));
      expect(c.ifaces.length).toBe(2);
      expect(c.ifaces[0].linktype).toBe(1);
      expect(c.ifaces[1].linktype).toBe(iface2 === 'raw' ? 101 : 113);
      expect(c.ifaces[0].tsresol).toBe(6);
      expect(c.ifaces[1].tsresol).toBe(9);
      expect(c.blockTypes).toContain(0xbad);
      expect(c.blockTypes).toContain(4);
      expect(c.blockTypes.filter((t) => t === 5).length).toBe(2);
      expect(c.packets.length).toBe(1000);
      const on1 = c.packets.filter((p) => p.iface === 1).length;
      expect(on1).toBeGreaterThan(450);
      c.packets.forEach((p, i) => { if (p.iface === 1) expect(i % 2).toBe(1); });
      let prev = 0n;
      for (const p of c.packets) {
        checkFrame(c.ifaces[p.iface].linktype, p.data, []);
        const t = tsNs(c, p);
        expect(t >= prev).toBe(true);
        prev = t;
      }
    });
  }

  it('supports other single link types', async () => {
    for (const [link, lt] of [['raw', 101], ['sll', 113]] as const) {
      const c = readPcap(await gen({ packets: 300, flows: 20, seed: 4, link, mix: 'full' }));
      expect(c.linktype).toBe(lt);
      expect(c.packets.length).toBe(300);
      for (const p of c.packets) checkFrame(lt, p.data, []);
    }
    const n = readPcap(await gen({ packets: 50, flows: 5, seed: 4, link: 'null', mix: 'default' }));
    expect(n.linktype).toBe(0);
    for (const p of n.packets) expect([2, 30]).toContain(p.data.readUInt32LE(0));
  });

  it('--apps: the same packets, flows and times, with handshakes in the first data packets', async () => {
    const base = { packets: 6000, flows: 300, seed: 5, mix: 'full' };
    const plain = readPcap(await gen(base));
    const apps = readPcap(await gen({ ...base, apps: true }));
    expect(readPcap(await gen({ ...base, apps: true })).packets.length).toBe(6000);
    expect(apps.packets.length).toBe(plain.packets.length);
    const payloads = new Map<string, Buffer[]>();
    let changed = 0;
    apps.packets.forEach((p, i) => {
      expect(p.sec).toBe(plain.packets[i].sec);
      expect(p.sub).toBe(plain.packets[i].sub);
      if (p.data.length !== plain.packets[i].data.length) changed++; // sequence numbers after a handshake move, sizes do not
      const out: L4Info[] = [];
      checkFrame(1, p.data, out); // lengths and every checksum still valid
      for (const x of out) {
        if (x.frag || (x.proto !== 6 && x.proto !== 17)) continue;
        const body = x.proto === 6 ? x.payload.subarray((x.payload[12] >> 4) * 4) : x.payload.subarray(8);
        if (!body.some((b) => b !== 0)) continue;
        const key = `${x.proto}/${Math.min(x.sport, x.dport)}`;
        if (!payloads.has(key)) payloads.set(key, []);
        payloads.get(key)!.push(body);
      }
    });
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(apps.packets.length / 5);
    const starts = (key: string, prefix: number[]) => (payloads.get(key) ?? []).some((b) => prefix.every((v, i) => b[i] === v));
    expect(starts('6/443', [22, 3, 1])).toBe(true); // TLS handshake record
    expect((payloads.get('6/80') ?? []).some((b) => b.toString('latin1').startsWith('GET /'))).toBe(true);
    expect((payloads.get('6/2222') ?? []).some((b) => b.toString('latin1').startsWith('SSH-2.0-'))).toBe(true);
    expect((payloads.get('17/443') ?? []).some((b) => (b[0] & 0xc0) === 0xc0 && b.readUInt32BE(1) === 1)).toBe(true); // QUIC v1 long header
    expect(payloads.has('17/53')).toBe(true);
    expect(payloads.has('17/9999')).toBe(false);
  });

  it('rejects bad options', async () => {
    await expect(generate({ quiet: true, packets: 10, mix: 'bogus' })).rejects.toThrow();
    await expect(generate({ quiet: true, packets: 10, multiInterface: true })).rejects.toThrow();
  });
});

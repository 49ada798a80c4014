/** Flow semantics, rule by rule, on synthetic captures. */
import { describe, expect, it } from 'vitest';
import { MAC_A, MAC_B, P, tcp4, udp4, writePcap, writePcapng } from './helpers/capture';
import { readAll } from './helpers/read';

const A = '10.0.0.1';
const B = '10.0.0.2';

describe('link types and encapsulations', () => {
  const ip = () => P.ipv4({ src: A, dst: B, proto: 6, payload: P.tcp({ sport: 1234, dport: 80, flags: 'S' }) });
  const ip6 = () => P.ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 17, payload: P.udp({ sport: 5353, dport: 53 }) });
  const cases: { name: string; linktype: number; frame: () => Buffer; v6?: boolean; vlan?: number }[] = [
    { name: 'Ethernet', linktype: 1, frame: () => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: ip() }) },
    { name: '802.1Q', linktype: 1, vlan: 42, frame: () => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, vlans: [{ id: 42 }], payload: ip() }) },
    {
      name: 'QinQ 0x88a8 outer',
      linktype: 1,
      vlan: 100,
      frame: () => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, vlans: [{ id: 100, tpid: 0x88a8 }, { id: 7 }], payload: ip() }),
    },
    { name: 'MPLS stack', linktype: 1, frame: () => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x8847, payload: P.mpls([16, 17, 18], ip()) }) },
    { name: 'PPPoE session', linktype: 1, frame: () => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x8864, payload: P.pppoeSession({ sessionId: 1, payload: ip() }) }) },
    { name: 'Linux SLL', linktype: 113, frame: () => P.sll({ protocol: 0x0800, addr: MAC_A, payload: ip() }) },
    { name: 'Linux SLL2', linktype: 276, frame: () => P.sll2({ protocol: 0x0800, addr: MAC_A, payload: ip() }) },
    { name: 'raw 101', linktype: 101, frame: ip },
    { name: 'raw 12', linktype: 12, frame: ip },
    { name: 'raw IPv4 228', linktype: 228, frame: ip },
    { name: 'raw IPv6 229', linktype: 229, frame: ip6, v6: true },
    { name: 'BSD null (LE)', linktype: 0, frame: () => P.nullLoopback({ family: 2, payload: ip() }) },
    { name: 'BSD null (BE)', linktype: 0, frame: () => P.nullLoopback({ family: 2, payload: ip(), bigEndian: true }) },
    { name: 'BSD null IPv6', linktype: 0, frame: () => P.nullLoopback({ family: 30, payload: ip6() }), v6: true },
    { name: 'Ethernet IPv6', linktype: 1, frame: () => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x86dd, payload: ip6() }), v6: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await readAll(writePcap([{ t: 0, data: c.frame() }, { t: 1, data: c.frame() }], { linktype: c.linktype }));
      expect(r.error).toBeUndefined();
      expect(r.summary.decodeErrors).toEqual({});
      expect(r.flows).toHaveLength(1);
      const f = r.flows[0];
      if (c.v6) expect([f.src, f.dst, f.srcPort, f.dstPort, f.protocol]).toEqual(['2001:db8::1', '2001:db8::2', 5353, 53, 17]);
      else expect([f.src, f.dst, f.srcPort, f.dstPort, f.protocol]).toEqual([A, B, 1234, 80, 6]);
      expect(f.fwdPackets).toBe(2);
      expect(f.fwdBytes).toBe(2 * c.frame().length);
      expect(f.vlan).toBe(c.vlan ?? 0);
    });
  }

  it('keyVlan separates VLANs, keyVlan:false merges them', async () => {
    const file = writePcap([
      { t: 0, data: tcp4(A, 1, B, 2, 'A', 0, [{ id: 10 }]) },
      { t: 1, data: tcp4(A, 1, B, 2, 'A', 0, [{ id: 20 }]) },
    ]);
    expect((await readAll(file)).flows).toHaveLength(2);
    const merged = await readAll(file, { keyVlan: false });
    expect(merged.flows).toHaveLength(1);
    expect(merged.flows[0].vlan).toBe(0);
  });
});

describe('tunnels', () => {
  const inner4 = () => P.ipv4({ src: '192.168.1.1', dst: '192.168.1.2', proto: 17, payload: P.udp({ sport: 1000, dport: 2000 }) });
  const inner6 = () => P.ipv6({ src: 'fd00::1', dst: 'fd00::2', next: 17, payload: P.udp({ sport: 1000, dport: 2000 }) });
  const outer = (proto: number, payload: Buffer) => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: P.ipv4({ src: A, dst: B, proto, payload }) });
  const cases: { name: string; frame: () => Buffer; v6?: boolean; outerProto: number }[] = [
    { name: 'GRE IPv4', frame: () => outer(47, P.gre({ proto: 0x0800, payload: inner4() })), outerProto: 47 },
    { name: 'GRE with key and sequence', frame: () => outer(47, P.gre({ proto: 0x0800, key: 5, seq: 9, payload: inner4() })), outerProto: 47 },
    {
      name: 'GRE transparent Ethernet',
      frame: () => outer(47, P.gre({ proto: 0x6558, payload: P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: inner4() }) })),
      outerProto: 47,
    },
    { name: 'IP-in-IP', frame: () => outer(4, inner4()), outerProto: 4 },
    { name: '6in4', frame: () => outer(41, inner6()), v6: true, outerProto: 41 },
    {
      name: 'VXLAN',
      frame: () => outer(17, P.udp({ sport: 40000, dport: 4789, payload: P.vxlan({ vni: 7, payload: P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: inner4() }) }) })),
      outerProto: 17,
    },
    { name: 'GTP-U', frame: () => outer(17, P.udp({ sport: 2152, dport: 2152, payload: P.gtpu({ teid: 1, payload: inner4() }) })), outerProto: 17 },
    { name: 'GTP-U with sequence', frame: () => outer(17, P.udp({ sport: 2152, dport: 2152, payload: P.gtpu({ teid: 1, seq: 5, payload: inner4() }) })), outerProto: 17 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = writePcap([{ t: 0, data: c.frame() }]);
      const r = await readAll(file);
      expect(r.summary.decodeErrors).toEqual({});
      expect(r.flows).toHaveLength(1);
      const f = r.flows[0];
      expect(f.tunnel).toBe(true);
      expect([f.src, f.dst, f.srcPort, f.dstPort]).toEqual(c.v6 ? ['fd00::1', 'fd00::2', 1000, 2000] : ['192.168.1.1', '192.168.1.2', 1000, 2000]);
      expect(f.fwdBytes).toBe(c.frame().length);
      const off = await readAll(file, { decodeTunnels: false });
      expect(off.flows).toHaveLength(1);
      expect([off.flows[0].src, off.flows[0].dst, off.flows[0].protocol, off.flows[0].tunnel]).toEqual([A, B, c.outerProto, false]);
    });
  }
});

describe('expiry', () => {
  it('idle timeout: a gap of exactly idleTimeout starts a new flow, a shorter one does not', async () => {
    const short = await readAll(writePcap([{ t: 0, data: udp4(A, 1, B, 2) }, { t: 9.999, data: udp4(A, 1, B, 2) }]), { idleTimeout: 10 });
    expect(short.flows).toHaveLength(1);
    expect(short.flows[0].endReason).toBe('flush');
    const long = await readAll(writePcap([{ t: 0, data: udp4(A, 1, B, 2) }, { t: 10, data: udp4(A, 1, B, 2) }]), { idleTimeout: 10 });
    expect(long.flows.map((f) => [f.endReason, f.fwdPackets])).toEqual([['idle', 1], ['flush', 1]]);
    expect(long.flows[0].flowId).not.toBe(long.flows[1].flowId);
  });

  it('idle expiry happens in packet time while other traffic flows', async () => {
    const pkts = [{ t: 0, data: udp4(A, 1, B, 2) }];
    for (let t = 1; t <= 30; t++) pkts.push({ t, data: udp4(A, 3, B, 4) });
    const r = await readAll(writePcap(pkts), { idleTimeout: 10 });
    expect(r.flows[0]).toMatchObject({ srcPort: 1, endReason: 'idle', fwdPackets: 1 });
    expect(r.summary.flowsByReason).toMatchObject({ idle: 1, flush: 1 });
  });

  it('active timeout cuts segments that keep the flow id', async () => {
    const pkts = [];
    for (let t = 0; t <= 25; t++) pkts.push({ t, data: udp4(A, 1, B, 2, 10) });
    const r = await readAll(writePcap(pkts), { activeTimeout: 10 });
    expect(r.flows.map((f) => [f.segment, f.endReason, f.fwdPackets])).toEqual([
      [0, 'active', 10],
      [1, 'active', 10],
      [2, 'flush', 6],
    ]);
    expect(new Set(r.flows.map((f) => f.flowId)).size).toBe(1);
    expect(r.flows[1].first).toBe(r.flows[0].first + 10_000);
  });

  it('RST ends a TCP flow after tcpCloseTimeout, keeping trailing packets', async () => {
    const r = await readAll(
      writePcap([
        { t: 0, data: tcp4(A, 1000, B, 80, 'S') },
        { t: 0.1, data: tcp4(B, 80, A, 1000, 'SA') },
        { t: 0.2, data: tcp4(A, 1000, B, 80, 'A') },
        { t: 1, data: tcp4(B, 80, A, 1000, 'R') },
        { t: 2, data: tcp4(A, 1000, B, 80, 'A') }, // trailing, inside the 5 s close timeout
        { t: 7, data: tcp4(A, 1000, B, 80, 'A') }, // after it: a new flow
      ]),
    );
    expect(r.flows.map((f) => [f.endReason, f.fwdPackets, f.revPackets])).toEqual([
      ['tcp-end', 3, 2],
      ['flush', 1, 0],
    ]);
    expect(r.flows[0].revTcpFlags & 0x04).toBe(0x04);
  });

  it('FIN from both sides ends the flow, trailing ACK included; one FIN does not', async () => {
    const handshake = [
      { t: 0, data: tcp4(A, 1000, B, 80, 'S') },
      { t: 0.1, data: tcp4(B, 80, A, 1000, 'SA') },
      { t: 0.2, data: tcp4(A, 1000, B, 80, 'PA', 100) },
      { t: 0.3, data: tcp4(A, 1000, B, 80, 'FA') },
    ];
    const both = await readAll(
      writePcap([...handshake, { t: 0.4, data: tcp4(B, 80, A, 1000, 'FA') }, { t: 0.5, data: tcp4(A, 1000, B, 80, 'A') }, { t: 6, data: udp4(A, 5, B, 6) }]),
      { tcpCloseTimeout: 5 },
    );
    const tcp = both.flows.filter((f) => f.protocol === 6);
    expect(tcp.map((f) => [f.endReason, f.fwdPackets, f.revPackets])).toEqual([['tcp-end', 4, 2]]);
    const one = await readAll(writePcap([...handshake, { t: 6, data: udp4(A, 5, B, 6) }]));
    expect(one.flows.filter((f) => f.protocol === 6).map((f) => f.endReason)).toEqual(['flush']);
    const off = await readAll(writePcap([...handshake, { t: 0.4, data: tcp4(B, 80, A, 1000, 'FA') }, { t: 6, data: udp4(A, 5, B, 6) }]), { tcpTermination: false });
    expect(off.flows.filter((f) => f.protocol === 6).map((f) => f.endReason)).toEqual(['flush']);
  });

  it('maxFlows evicts, counted, and every packet stays accounted', async () => {
    const pkts = [];
    for (let i = 0; i < 10; i++) pkts.push({ t: i * 0.01, data: udp4(A, 1000 + i, B, 53) });
    for (let i = 0; i < 10; i++) pkts.push({ t: 1 + i * 0.01, data: udp4(A, 1000 + i, B, 53) });
    const r = await readAll(writePcap(pkts), { maxFlows: 4 });
    expect(r.summary.flowsByReason.evicted).toBeGreaterThan(0);
    expect(r.flows.filter((f) => f.endReason === 'evicted')).toHaveLength(r.summary.flowsByReason.evicted);
    expect(r.flows.reduce((n, f) => n + f.packets, 0)).toBe(20);
    expect(r.flows.filter((f) => f.endReason === 'flush').length).toBeLessThanOrEqual(4);
  });

  it('end of input flushes every flow', async () => {
    const r = await readAll(writePcap([{ t: 0, data: udp4(A, 1, B, 2) }, { t: 0, data: tcp4(A, 3, B, 4, 'S') }]));
    expect(r.flows.map((f) => f.endReason)).toEqual(['flush', 'flush']);
  });
});

describe('fragments', () => {
  it('IPv4 fragments join the flow of their first fragment', async () => {
    const dgram = { src: A, dst: B, proto: 17, id: 77, payload: P.udp({ sport: 5000, dport: 53, payload: Buffer.alloc(3000) }) };
    const frags: Buffer[] = P.ipv4Fragments(dgram, 1200);
    expect(frags.length).toBe(3);
    const eth = (ip: Buffer) => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: ip });
    const r = await readAll(writePcap(frags.map((f, i) => ({ t: i * 0.001, data: eth(f) }))));
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ srcPort: 5000, dstPort: 53, fwdPackets: 3, fragments: true });
    expect(r.summary.decodeErrors).toEqual({});
  });

  it('IPv6 fragments join the flow of their first fragment', async () => {
    const opts = { src: 'fd00::1', dst: 'fd00::2', next: 17, payload: P.udp({ sport: 5000, dport: 53, payload: Buffer.alloc(3000) }) };
    const frags: Buffer[] = P.ipv6Fragments(opts, 1200, 99);
    const eth = (ip: Buffer) => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x86dd, payload: ip });
    const r = await readAll(writePcap(frags.map((f, i) => ({ t: i * 0.001, data: eth(f) }))));
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ srcPort: 5000, dstPort: 53, fwdPackets: frags.length, fragments: true });
  });

  it('a later fragment without its first is accounted without ports and counted', async () => {
    const frags: Buffer[] = P.ipv4Fragments({ src: A, dst: B, proto: 17, id: 5, payload: P.udp({ sport: 1, dport: 2, payload: Buffer.alloc(2000) }) }, 1000);
    const eth = (ip: Buffer) => P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: ip });
    const r = await readAll(writePcap([{ t: 0, data: eth(frags[1]) }]));
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ srcPort: 0, dstPort: 0, protocol: 17, fragments: true });
    expect(r.summary.decodeErrors).toEqual({ unmatched_fragment: 1 });
  });
});

describe('accounting and statistics', () => {
  const frame = udp4(A, 1, B, 2, 100); // 14 + 20 + 8 + 100
  it.each([
    ['link', 142],
    ['ip', 128],
    ['transport', 108],
    ['payload', 100],
  ] as const)('accounting %s', async (accounting, bytes) => {
    const r = await readAll(writePcap([{ t: 0, data: frame }]), { accounting });
    expect(r.flows[0].fwdBytes).toBe(bytes);
  });

  it('link accounting uses the original length, not the captured one', async () => {
    const r = await readAll(writePcap([{ t: 0, data: frame.subarray(0, 60), origLen: 1500 }]));
    expect(r.flows[0].fwdBytes).toBe(1500);
  });

  it('statistics: sizes and inter-arrival times per direction', async () => {
    const r = await readAll(
      writePcap([
        { t: 0, data: udp4(A, 1, B, 2, 0) },
        { t: 1, data: udp4(A, 1, B, 2, 10) },
        { t: 3, data: udp4(A, 1, B, 2, 20) },
        { t: 4, data: udp4(B, 2, A, 1, 0) },
      ]),
      { statistics: true, accounting: 'payload' },
    );
    const f = r.flows[0];
    // inter-arrival times in ms (docs/fields.md: one time unit)
    expect(f.fwdStats).toMatchObject({ sizeMin: 0, sizeMax: 20, sizeMean: 10, iatMinMs: 1000, iatMaxMs: 2000, iatMeanMs: 1500 });
    expect(f.fwdStats!.sizeStddev).toBeCloseTo(Math.sqrt(200 / 3), 9);
    expect(f.fwdStats!.iatStddevMs).toBeCloseTo(500, 9);
    expect(f.revStats).toMatchObject({ sizeMin: 0, sizeMax: 0, iatMinMs: 0, iatMaxMs: 0 });
    // both directions: sizes 0, 10, 20, 0; gaps 1, 2, 1 s
    expect(f.biStats).toMatchObject({ sizeMin: 0, sizeMax: 20, sizeMean: 7.5, iatMinMs: 1000, iatMaxMs: 2000 });
    expect(f.biStats!.iatMeanMs).toBeCloseTo(4000 / 3, 9);
  });
});

describe('layer 2 and ICMP', () => {
  it('GOOSE, PROFINET RT, LLDP and ARP frames become layer-2 flows keyed by MACs and ethertype', async () => {
    const frames = [
      P.ethernet({ src: MAC_A, dst: '01:0c:cd:01:00:01', type: 0x88b8, payload: P.goose({}) }),
      P.ethernet({ src: MAC_A, dst: '01:0c:cd:01:00:01', type: 0x88b8, payload: P.goose({}) }),
      P.ethernet({ src: MAC_B, dst: MAC_A, type: 0x8892, payload: P.profinetRt({}) }),
      P.ethernet({ src: MAC_A, dst: '01:80:c2:00:00:0e', type: 0x88cc, payload: P.lldp({ chassisMac: MAC_A }) }),
      P.ethernet({ src: MAC_A, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806, payload: P.arp({ senderMac: MAC_A, senderIp: A, targetIp: B }) }),
    ];
    const file = writePcap(frames.map((data, i) => ({ t: i, data })));
    const r = await readAll(file);
    const l2 = r.flows.map((f) => [f.l2, f.etherType, f.src, f.dst, f.fwdPackets]);
    expect(l2).toEqual([
      [true, 0x88b8, MAC_A, '01:0c:cd:01:00:01', 2],
      [true, 0x8892, MAC_B, MAC_A, 1],
      [true, 0x88cc, MAC_A, '01:80:c2:00:00:0e', 1],
      [true, 0x0806, MAC_A, 'ff:ff:ff:ff:ff:ff', 1],
    ]);
    const off = await readAll(file, { l2Flows: false });
    expect(off.flows).toHaveLength(0);
    expect(off.summary.skipped).toBe(5);
  });

  it('ICMP echo request and reply form one flow with the first type', async () => {
    const ping = (src: string, dst: string, type: number) =>
      P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x0800, payload: P.ipv4({ src, dst, proto: 1, payload: P.icmp({ type, id: 1, seq: 1 }) }) });
    const r = await readAll(writePcap([{ t: 0, data: ping(A, B, 8) }, { t: 0.01, data: ping(B, A, 0) }]));
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ protocol: 1, icmpType: 8, icmpCode: 0, fwdPackets: 1, revPackets: 1, src: A });
  });
});

describe('decode problems', () => {
  it('a TCP header cut short is accounted to its flow without ports and counted', async () => {
    const full = tcp4(A, 1000, B, 80, 'S');
    const r = await readAll(writePcap([{ t: 0, data: full.subarray(0, 14 + 20 + 10), origLen: full.length }]));
    expect(r.summary.decodeErrors).toEqual({ truncated_transport: 1 });
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ srcPort: 0, dstPort: 0, protocol: 6, truncated: true, fwdBytes: full.length });
  });

  it('an IPv4 header cut short is counted and not accounted', async () => {
    const full = tcp4(A, 1000, B, 80, 'S');
    const r = await readAll(writePcap([{ t: 0, data: full.subarray(0, 14 + 12), origLen: full.length }]));
    expect(r.summary.decodeErrors).toEqual({ truncated_ip: 1 });
    expect(r.summary.skipped).toBe(1);
    expect(r.flows).toHaveLength(0);
  });
});

describe('capture formats', () => {
  const pkts = [
    { t: 0.000001, data: tcp4(A, 1, B, 2, 'S') },
    { t: 0.5, data: tcp4(B, 2, A, 1, 'SA') },
  ];
  for (const [name, opts] of [
    ['pcap µs little-endian', { nanos: false }],
    ['pcap µs big-endian', { nanos: false, bigEndian: true }],
    ['pcap ns little-endian', { nanos: true }],
    ['pcap ns big-endian', { nanos: true, bigEndian: true }],
  ] as const) {
    it(name, async () => {
      const r = await readAll(writePcap(pkts, opts));
      expect(r.flows).toHaveLength(1);
      expect(r.flows[0]).toMatchObject({ fwdPackets: 1, revPackets: 1 });
      expect(r.flows[0].firstNs).toBe('1767225600000001000');
    });
  }

  for (const bigEndian of [false, true]) {
    it(`pcapng with two interfaces of different link types and resolutions (${bigEndian ? 'big' : 'little'}-endian)`, async () => {
      const rawIp = P.ipv4({ src: '172.16.0.1', dst: '172.16.0.2', proto: 17, payload: P.udp({ sport: 7, dport: 9 }) });
      const file = writePcapng(
        [
          { t: 0, data: tcp4(A, 1, B, 2, 'S'), iface: 0 },
          { t: 0.000000123, data: rawIp, iface: 1 },
          { t: 1, data: tcp4(B, 2, A, 1, 'SA'), iface: 0 },
          { t: 1.000000456, data: rawIp, iface: 1 },
        ],
        [{ linktype: 1, tsresol: 6 }, { linktype: 101, tsresol: 9 }],
        { bigEndian },
      );
      const r = await readAll(file);
      expect(r.error).toBeUndefined();
      const byProto = Object.fromEntries(r.flows.map((f) => [f.protocol, f]));
      expect(byProto[6]).toMatchObject({ src: A, fwdPackets: 1, revPackets: 1 });
      expect(byProto[17]).toMatchObject({ src: '172.16.0.1', fwdPackets: 2, firstNs: '1767225600000000123', lastNs: '1767225601000000456' });
    });
  }

  it('BPF filter on raw IP and SLL captures (LINKTYPE values mapped to libpcap DLTs)', async () => {
    const ip = (proto: number, l4: Buffer) => P.ipv4({ src: A, dst: B, proto, payload: l4 });
    const pkts = [ip(17, P.udp({ sport: 1, dport: 53 })), ip(6, P.tcp({ sport: 2, dport: 80, flags: 'S' }))];
    for (const [linktype, wrap] of [
      [101, (b: Buffer) => b],
      [228, (b: Buffer) => b],
      [113, (b: Buffer) => P.sll({ protocol: 0x0800, addr: MAC_A, payload: b })],
      [0, (b: Buffer) => P.nullLoopback({ family: 2, payload: b })],
    ] as const) {
      const r = await readAll(writePcap(pkts.map((data) => ({ t: 0, data: wrap(data) })), { linktype }), { filter: 'tcp port 80' });
      expect(r.error, `linktype ${linktype}`).toBeUndefined();
      expect(r.flows.map((f) => f.protocol), `linktype ${linktype}`).toEqual([6]);
      expect(r.summary.filtered).toBe(1);
    }
  });

  it('BPF filter keeps only matching packets and counts the rest', async () => {
    const r = await readAll(writePcap([{ t: 0, data: udp4(A, 1, B, 53) }, { t: 0, data: tcp4(A, 3, B, 4, 'S') }]), { filter: 'udp port 53' });
    expect(r.flows.map((f) => f.protocol)).toEqual([17]);
    expect(r.summary.filtered).toBe(1);
  });
});

describe('generated traffic (scripts/gen-pcap.mjs)', () => {
  it('full mix decodes cleanly: every packet in a flow, every IP flow with its ports', async () => {
    // @ts-expect-error plain ESM helper without type declarations
    const { generate } = await import('../scripts/gen-pcap.mjs');
    const { tmpFile } = await import('./helpers/capture');
    for (const format of ['pcap', 'pcapng']) {
      const out = tmpFile(`mix.${format}`);
      await generate({ out, packets: 60_000, flows: 600, mix: 'full', seed: 7, format, quiet: true });
      const r = await readAll(out);
      expect(r.error).toBeUndefined();
      expect(r.summary.decodeErrors).toEqual({});
      expect(r.summary.skipped).toBe(0);
      expect(r.flows.reduce((n, f) => n + f.packets, 0)).toBe(60_000);
      const portless = r.flows.filter((f) => !f.l2 && [6, 17, 132].includes(f.protocol) && f.srcPort === 0 && f.dstPort === 0);
      expect(portless).toEqual([]);
      expect(r.flows.some((f) => f.tunnel)).toBe(true);
      expect(r.flows.some((f) => f.fragments)).toBe(true);
    }
  });

  it('the same traffic as pcap, pcapng with unknown/statistics/name blocks, big-endian and multi-interface pcapng gives the same flows', async () => {
    // @ts-expect-error plain ESM helper without type declarations
    const { generate } = await import('../scripts/gen-pcap.mjs');
    const { tmpFile } = await import('./helpers/capture');
    const key = (flows: { src: string; dst: string; srcPort: number; dstPort: number; protocol: number; packets: number }[]) =>
      flows.map((f) => `${f.protocol} ${f.src}:${f.srcPort} ${f.dst}:${f.dstPort} ${f.packets}`).sort();
    const base = { packets: 20_000, flows: 300, mix: 'default', seed: 3, quiet: true };
    const variants = [
      { format: 'pcap' },
      { format: 'pcapng', extraBlocks: true },
      { format: 'pcapng', bigEndian: true, nanos: true },
    ];
    const results = [];
    for (const v of variants) {
      const out = tmpFile(`variant.${v.format}`);
      await generate({ ...base, ...v, out });
      const r = await readAll(out);
      expect(r.error).toBeUndefined();
      results.push(key(r.flows));
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    const multi = tmpFile('multi.pcapng');
    await generate({ ...base, format: 'pcapng', multiInterface: true, out: multi });
    const m = await readAll(multi);
    expect(m.error).toBeUndefined();
    expect(m.summary.decodeErrors).toEqual({});
    expect(m.summary.packets).toBe(20_000);
  });
});

#!/usr/bin/env node
// gen-tunnel-pcaps: a small capture of the tunnels neither the corpus nor
// gen-pcap.mjs has, for test/fields.test.ts (docs/fields.md: tunnel type and
// id, inner VLAN, SPLT):
//  - ERSPAN type II (GRE 0x88be with a sequence number) mirroring a tagged
//    Ethernet frame (inner 802.1Q 77) with IPv4 TCP; one packet older than the
//    one before it (inter-arrival 0);
//  - ERSPAN type II with a GRE key, behind outer QinQ (802.1ad 100, 802.1Q
//    200), mirroring IPv6 UDP;
//  - GRE transparent Ethernet bridging (0x6558) with a key, IPv4 UDP, one
//    datagram so large that the frame passes 65,535 bytes (SPLT size
//    saturates), and a gap of 5,000 s (SPLT µs saturate);
//  - VXLAN (VNI 4097) behind an outer 802.1Q tag 10 carrying a frame tagged 55.
//
//   node scripts/gen-tunnel-pcaps.mjs --out FILE
//   import { writeTunnelCapture } from './scripts/gen-tunnel-pcaps.mjs';  writeTunnelCapture(file);

import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as P from './lib/packets.mjs';
import { PcapWriter } from './lib/capture-writer.mjs';

const T0 = 1767225600n * 1_000_000_000n; // 2026-01-01T00:00:00Z
const MAC = { a: '02:00:00:00:00:0a', b: '02:00:00:00:00:0b', s: '02:00:00:00:00:01', d: '02:00:00:00:00:02' };

/** ERSPAN type II header (8 bytes: version 1, VLAN, session id, index) + the mirrored frame. */
export function erspan2({ session = 1, vlan = 0, index = 0, payload }) {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt16BE(0x1000 | (vlan & 0xfff), 0);
  b.writeUInt16BE(session & 0x3ff, 2);
  b.writeUInt32BE(index & 0xfffff, 4);
  payload.copy(b, 8);
  return b;
}

const outer = (payload, proto, vlans = []) => P.ethernet({
  src: MAC.s, dst: MAC.d, type: 0x0800, vlans,
  payload: P.ipv4({ src: '192.0.2.1', dst: '192.0.2.2', proto, payload }),
});

/** The four tunnels' packets in file order: [ns, frame]. */
export function tunnelPackets() {
  const out = [];
  const at = (ms, frame) => out.push([T0 + BigInt(Math.round(ms * 1e6)), frame]);
  const v4 = (src, dst, l4, proto) => P.ipv4({ src, dst, proto, payload: l4 });
  // 1. ERSPAN II, GRE sequence number, mirrored frame tagged 77, TCP
  const tcp = (fwd, flags, payload = P.EMPTY) => v4(fwd ? '10.1.0.1' : '10.1.0.2', fwd ? '10.1.0.2' : '10.1.0.1',
    P.tcp({ sport: fwd ? 40000 : 80, dport: fwd ? 80 : 40000, flags: P.tcpFlags(flags), payload }), 6);
  const mirror1 = (ip, seq) => outer(P.gre({ proto: 0x88be, seq, payload: erspan2({ session: 7, payload: P.ethernet({ src: MAC.a, dst: MAC.b, type: 0x0800, vlans: [77], payload: ip }) }) }), 47);
  const flow1 = [[0, tcp(true, 'S')], [1.5, tcp(false, 'SA')], [2, tcp(true, 'A')], [3, tcp(true, 'PA', Buffer.alloc(300, 1))],
    [2.5, tcp(false, 'A')], [9, tcp(false, 'PA', Buffer.alloc(1200, 2))], [10, tcp(true, 'FA')], [11, tcp(false, 'FA')], [11.25, tcp(true, 'A')]];
  flow1.forEach(([ms, ip], i) => at(ms, mirror1(ip, i)));
  // 2. ERSPAN II with a GRE key behind QinQ, IPv6 UDP
  const u6 = (fwd, n) => P.ipv6({ src: fwd ? '2001:db8::1' : '2001:db8::2', dst: fwd ? '2001:db8::2' : '2001:db8::1', next: 17,
    payload: P.udp({ sport: fwd ? 40001 : 40002, dport: fwd ? 40002 : 40001, payload: Buffer.alloc(n, 3) }) });
  const mirror2 = (ip, seq) => outer(P.gre({ proto: 0x88be, key: 0x0badcafe, seq, payload: erspan2({ session: 9, payload: P.ethernet({ src: MAC.a, dst: MAC.b, type: 0x86dd, payload: ip }) }) }), 47,
    [{ id: 100, tpid: 0x88a8 }, { id: 200 }]);
  [[20, u6(true, 10)], [20.004, u6(false, 700)], [21, u6(true, 20)], [21.0001, u6(true, 30)]].forEach(([ms, ip], i) => at(ms, mirror2(ip, i)));
  // 3. GRE transparent Ethernet bridging with a key; a 65,541-byte frame; a 5,000 s gap
  const u4 = (fwd, n) => v4(fwd ? '10.3.0.1' : '10.3.0.2', fwd ? '10.3.0.2' : '10.3.0.1', P.udp({ sport: fwd ? 41001 : 41002, dport: fwd ? 41002 : 41001, payload: Buffer.alloc(n, 4) }), 17);
  const teb = (ip) => outer(P.gre({ proto: 0x6558, key: 4242, payload: P.ethernet({ src: MAC.a, dst: MAC.b, type: 0x0800, payload: ip }) }), 47);
  [[30, u4(true, 100)], [31, u4(false, 65507 - 8 - 20 - 14 - 8)], [5_000_031, u4(true, 60)]].forEach(([ms, ip]) => at(ms, teb(ip)));
  // 4. VXLAN behind an outer tag 10, the inner frame tagged 55
  const vx = (ip) => outer(P.udp({ sport: 49152, dport: 4789, payload: P.vxlan({ vni: 4097, payload: P.ethernet({ src: MAC.a, dst: MAC.b, type: 0x0800, vlans: [55], payload: ip }) }) }), 17, [10]);
  const t4 = (fwd, flags) => v4(fwd ? '10.4.0.1' : '10.4.0.2', fwd ? '10.4.0.2' : '10.4.0.1', P.tcp({ sport: fwd ? 50000 : 443, dport: fwd ? 443 : 50000, flags: P.tcpFlags(flags) }), 6);
  [[40, t4(true, 'S')], [40.2, t4(false, 'RA')]].forEach(([ms, ip]) => at(ms, vx(ip)));
  return out; // file order as built: flow 1 keeps its older packet
}

/** Writes the capture (pcap, ns timestamps) to `file`. */
export function writeTunnelCapture(file) {
  const w = new PcapWriter({ file, nanos: true });
  for (const [ns, frame] of tunnelPackets()) w.write(ns, frame);
  return w.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  if (!values.out) {
    console.error('usage: node scripts/gen-tunnel-pcaps.mjs --out FILE');
    process.exit(2);
  }
  await writeTunnelCapture(values.out);
}

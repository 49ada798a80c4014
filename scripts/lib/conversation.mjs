// Conversations as packets: a TCP connection (handshake, data segments with
// consistent sequence numbers, retransmissions, out-of-order segments, close)
// or UDP datagrams between two hosts, on one clock, written to a capture.
//
//   const cap = new Capture();
//   const c = cap.tcp({ client: ['10.0.0.1', 40000], server: ['10.0.0.2', 443] });
//   c.open(); c.send('c', hello); c.send('s', serverFlight, { mss: 1448 }); c.close();
//   cap.write('tls.pcap');

import * as P from './packets.mjs';
import { PcapWriter } from './capture-writer.mjs';

export const BASE_NS = 1767225600n * 1000000000n; // 2026-01-01T00:00:00Z

/** Packets on one clock; conversations add to it in the order they are called. */
export class Capture {
  constructor({ start = BASE_NS, stepUs = 1000 } = {}) {
    this.t = start; this.step = BigInt(stepUs) * 1000n; this.frames = []; this.hosts = 0;
  }
  /** The next packet's time (advances the clock). */
  tick() { const t = this.t; this.t += this.step; return t; }
  /** Leaves a gap of `seconds` before the next packet. */
  pause(seconds) { this.t += BigInt(Math.round(seconds * 1e9)); }
  push(frame, caplen) { this.frames.push({ t: this.tick(), frame, caplen }); }
  tcp(opts) { return new Conversation(this, { ...opts, proto: 'tcp' }); }
  udp(opts) { return new Conversation(this, { ...opts, proto: 'udp' }); }
  /** The capture as pcap bytes (written to `file` when given). */
  write(file, { snaplen = 262144 } = {}) {
    const w = new PcapWriter({ file, linktype: P.LINKTYPE.ETHERNET, snaplen });
    for (const { t, frame, caplen } of this.frames) {
      if (caplen !== undefined && caplen < frame.length) w.write(t, frame.subarray(0, caplen), frame.length);
      else w.write(t, frame);
    }
    return w.close();
  }
}

function macFor(ip) {
  const b = P.ipToBytes(ip);
  return Buffer.from([0x02, 0x42, b[b.length - 4], b[b.length - 3], b[b.length - 2], b[b.length - 1]]);
}

/**
 * A conversation between client (c) and server (s): [ip, port] each. `isn`: initial sequence
 * numbers [client, server] (TCP).
 */
export class Conversation {
  constructor(cap, { proto, client, server, isn = [0x10000000, 0x20000000], vlan, ttl = [64, 57] }) {
    this.cap = cap; this.proto = proto; this.vlan = vlan; this.ttl = ttl;
    this.ends = { c: { ip: client[0], port: client[1], mac: macFor(client[0]) }, s: { ip: server[0], port: server[1], mac: macFor(server[0]) } };
    this.seq = { c: isn[0] >>> 0, s: isn[1] >>> 0 };
    this.ipId = { c: 0x1000, s: 0x7000 };
  }

  #frame(dir, l4, caplen) {
    const a = this.ends[dir], b = this.ends[dir === 'c' ? 's' : 'c'];
    const proto = this.proto === 'tcp' ? P.IPPROTO.TCP : P.IPPROTO.UDP;
    const v6 = a.ip.includes(':');
    const ttl = this.ttl[dir === 'c' ? 0 : 1];
    const ip = v6
      ? P.ipv6({ src: a.ip, dst: b.ip, next: proto, hopLimit: ttl, payload: l4 })
      : P.ipv4({ src: a.ip, dst: b.ip, proto, id: this.ipId[dir]++, df: true, ttl, payload: l4 });
    const frame = P.ethernet({ src: a.mac, dst: b.mac, type: v6 ? P.ETH_P.IPV6 : P.ETH_P.IPV4, vlans: this.vlan ? [this.vlan] : [], payload: ip, minLength: 60 });
    this.cap.push(frame, caplen === undefined ? undefined : frame.length - l4.length + caplen);
  }

  /** One TCP segment as given (no sequence bookkeeping). `caplen`: bytes of the segment captured. */
  segment(dir, { seq, ack, flags, data = Buffer.alloc(0), window = 64240, caplen }) {
    const a = this.ends[dir], b = this.ends[dir === 'c' ? 's' : 'c'];
    this.#frame(dir, P.tcp({ sport: a.port, dport: b.port, seq, ack, flags, window, payload: data }), caplen);
  }

  /** SYN, SYN/ACK, ACK. */
  open() {
    this.segment('c', { seq: this.seq.c, ack: 0, flags: 'S' });
    this.seq.c = (this.seq.c + 1) >>> 0;
    this.segment('s', { seq: this.seq.s, ack: this.seq.c, flags: 'SA' });
    this.seq.s = (this.seq.s + 1) >>> 0;
    this.segment('c', { seq: this.seq.c, ack: this.seq.s, flags: 'A' });
    return this;
  }

  /**
   * Data from `dir` ('c' | 's') in order: cut at `split` (sizes of the leading segments) or
   * into `mss`-byte segments; the peer acknowledges the last one unless `ack` is false.
   * `caplen`: bytes of each segment's payload captured (a snaplen cut).
   */
  send(dir, data, { split, mss = 1460, ack = true, caplen } = {}) {
    const other = dir === 'c' ? 's' : 'c';
    const pieces = [];
    let o = 0;
    for (const n of split ?? []) { pieces.push(data.subarray(o, o + n)); o += n; }
    while (o < data.length) { pieces.push(data.subarray(o, o + mss)); o += mss; }
    for (const p of pieces) {
      this.segment(dir, { seq: this.seq[dir], ack: this.seq[other], flags: 'PA', data: p, caplen });
      this.seq[dir] = (this.seq[dir] + p.length) >>> 0;
    }
    if (ack && pieces.length) this.segment(other, { seq: this.seq[other], ack: this.seq[dir], flags: 'A' });
    return this;
  }

  /**
   * Data from `dir` as segments sent in the order `order` gives (indexes into the pieces cut at
   * `split`); an index repeated is a retransmission. Sequence numbers stay those of the pieces.
   */
  sendOutOfOrder(dir, data, split, order) {
    const other = dir === 'c' ? 's' : 'c';
    const starts = [];
    const pieces = [];
    let o = 0;
    for (const n of split) { starts.push(o); pieces.push(data.subarray(o, o + n)); o += n; }
    if (o < data.length) { starts.push(o); pieces.push(data.subarray(o)); }
    for (const i of order) {
      this.segment(dir, { seq: (this.seq[dir] + starts[i]) >>> 0, ack: this.seq[other], flags: 'PA', data: pieces[i] });
    }
    this.seq[dir] = (this.seq[dir] + data.length) >>> 0;
    this.segment(other, { seq: this.seq[other], ack: this.seq[dir], flags: 'A' });
    return this;
  }

  /** FIN from the client, FIN from the server, last ACK. */
  close() {
    this.segment('c', { seq: this.seq.c, ack: this.seq.s, flags: 'FA' });
    this.seq.c = (this.seq.c + 1) >>> 0;
    this.segment('s', { seq: this.seq.s, ack: this.seq.c, flags: 'FA' });
    this.seq.s = (this.seq.s + 1) >>> 0;
    this.segment('c', { seq: this.seq.c, ack: this.seq.s, flags: 'A' });
    return this;
  }

  /** One UDP datagram from `dir`. */
  datagram(dir, data, { caplen } = {}) {
    const a = this.ends[dir], b = this.ends[dir === 'c' ? 's' : 'c'];
    this.#frame(dir, P.udp({ sport: a.port, dport: b.port, payload: data }), caplen);
    return this;
  }
}

/**
 * Application dissection of one flow (docs/applications.md): per direction a
 * bounded buffer (TCP: in sequence order), read from its start after each
 * append by the classifiers until one matches, then by that application's
 * dissector only. A flow is done when both directions are.
 */
import { DONE, MAYBE, MORE, type AppFlowInfo, type Status } from './apps';
import { AppArea } from './area';
import { classify, dissector } from './protocols';

/** packets per direction tried while no classifier has matched */
const MAX_UNKNOWN = 3;

class Direction {
  buf: Uint8Array | null = null;
  len = 0;
  started = false;
  next = 0;
  packets = 0;
  done = false;
}

export class AppFlow implements AppFlowInfo {
  readonly proto: number;
  readonly portA: number;
  readonly portB: number;
  readonly bound: number;
  quic: unknown = null;
  datagram = 0;
  /** made when a classifier matches */
  app: AppArea | null = null;
  private readonly dirs = [new Direction(), new Direction()];

  constructor(proto: number, portA: number, portB: number, bound: number) {
    this.proto = proto;
    this.portA = portA;
    this.portB = portB;
    this.bound = bound;
  }

  get area(): AppArea {
    return this.app!;
  }

  get done(): boolean {
    return this.dirs[0].done && this.dirs[1].done;
  }

  /**
   * One packet's captured payload (pkt[off..off+len)), fwd = from the flow's
   * src; seq: the TCP sequence number; datagram: the UDP payload length. True when the flow is done.
   */
  packet(fwd: boolean, pkt: Uint8Array, off: number, len: number, seq: number, datagram: number): boolean {
    const d = this.dirs[fwd ? 0 : 1];
    if (d.done || len === 0) return this.done;
    d.packets++;
    this.datagram = datagram;
    const bound = this.bound;
    if (this.proto !== 6) return this.finish(d, this.read(fwd, pkt.subarray(off, off + Math.min(len, bound))) === DONE);
    if (!d.started) {
      d.started = true;
      d.next = seq;
    }
    if (seq !== d.next || d.len >= bound) return this.finish(d, false);
    const seg = pkt.subarray(off, off + Math.min(len, bound - d.len));
    d.next = (d.next + seg.length) >>> 0;
    let bytes = seg;
    if (d.buf) {
      d.buf.set(seg, d.len);
      bytes = d.buf.subarray(0, d.len + seg.length);
    }
    d.len += seg.length;
    const done = this.read(fwd, bytes) === DONE || d.len >= bound;
    if (!done && !d.buf) {
      // keep the first segment only when more are to be read with it (the packet buffer is reused)
      d.buf = take(bound);
      d.buf.set(seg, 0);
    }
    return this.finish(d, done);
  }

  /** Classifies (a direction that shows nothing is done), then runs the application's dissector. */
  private read(fwd: boolean, bytes: Uint8Array): Status {
    const n = bytes.length;
    if (this.app === null) {
      const app = classify(this, fwd, bytes, n);
      if (app === 0) return DONE;
      if (app === MAYBE) return MORE;
      this.app = new AppArea();
      this.app.application = app;
    }
    return dissector(this.app.application)(this, fwd, bytes, n);
  }

  private finish(d: Direction, done: boolean): boolean {
    if (done || (this.app === null && d.packets >= MAX_UNKNOWN)) {
      d.done = true;
      if (d.buf) release(d.buf);
      d.buf = null;
    }
    if (this.done) this.quic = null;
    return this.done;
  }
}

/** Direction buffers of `bound` bytes, reused: a flow holds one only while it reads its first segments. */
const pools = new Map<number, Uint8Array[]>();

function take(bound: number): Uint8Array {
  return pools.get(bound)?.pop() ?? new Uint8Array(bound);
}

function release(buf: Uint8Array): void {
  let pool = pools.get(buf.length);
  if (!pool) pools.set(buf.length, (pool = []));
  if (pool.length < 1024) pool.push(buf);
}

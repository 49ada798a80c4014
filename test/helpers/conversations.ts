/** Comparing flows with tshark conversations: unordered endpoints, counts per direction. */
import type { FlowObject } from '../../src/index';
import type { Conversation } from './corpus';

export function normalizeAddr(a: string): string {
  if (!a.includes(':')) return a;
  let [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  if (t.length && t[t.length - 1].includes('.')) {
    const v4 = t.pop()!.split('.').map(Number);
    t.push(((v4[0] << 8) | v4[1]).toString(16), ((v4[2] << 8) | v4[3]).toString(16));
  }
  const zeros = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((w) => parseInt(w, 16).toString(16)).join(':');
}

export interface Counts {
  // direction "lo -> hi" where lo is the smaller endpoint string
  framesLoHi: number;
  bytesLoHi: number;
  framesHiLo: number;
  bytesHiLo: number;
}

function endpoint(addr: string, port: number): string {
  return `${normalizeAddr(addr)}#${port}`;
}

function add(map: Map<string, Counts>, proto: string, aAddr: string, aPort: number, bAddr: string, bPort: number, fab: number, bab: number, fba: number, bba: number): void {
  const a = endpoint(aAddr, aPort);
  const b = endpoint(bAddr, bPort);
  const lo = a <= b;
  const key = `${proto} ${lo ? a : b} ${lo ? b : a}`;
  const c = map.get(key) ?? { framesLoHi: 0, bytesLoHi: 0, framesHiLo: 0, bytesHiLo: 0 };
  if (lo) {
    c.framesLoHi += fab; c.bytesLoHi += bab; c.framesHiLo += fba; c.bytesHiLo += bba;
  } else {
    c.framesLoHi += fba; c.bytesLoHi += bba; c.framesHiLo += fab; c.bytesHiLo += bab;
  }
  map.set(key, c);
}

/** tshark conversations summed by 5-tuple (tshark splits a reused tuple into streams). */
export function oracleMap(tcp: Conversation[], udp: Conversation[]): Map<string, Counts> {
  const m = new Map<string, Counts>();
  for (const [proto, list] of [['tcp', tcp], ['udp', udp]] as const)
    for (const c of list) add(m, proto, c.a_addr, c.a_port, c.b_addr, c.b_port, c.frames_a_to_b, c.bytes_a_to_b, c.frames_b_to_a, c.bytes_b_to_a);
  return m;
}

/** Our TCP/UDP flows, summed by 5-tuple (VLAN is not part of tshark's key). */
export function flowMap(flows: FlowObject[]): { map: Map<string, Counts>; fragmented: Set<string> } {
  const m = new Map<string, Counts>();
  const fragmented = new Set<string>();
  for (const f of flows) {
    if (f.l2 || (f.protocol !== 6 && f.protocol !== 17)) continue;
    const proto = f.protocol === 6 ? 'tcp' : 'udp';
    add(m, proto, f.src, f.srcPort, f.dst, f.dstPort, f.fwdPackets, f.fwdBytes, f.revPackets, f.revBytes);
    if (f.fragments) {
      const a = endpoint(f.src, f.srcPort);
      const b = endpoint(f.dst, f.dstPort);
      fragmented.add(`${proto} ${a <= b ? a : b} ${a <= b ? b : a}`);
    }
  }
  return { map: m, fragmented };
}

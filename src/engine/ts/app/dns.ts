/** DNS, mDNS, LLMNR (docs/applications.md): first question, first response's rcode, answer count, first A/AAAA. */
import { AppFlags, Offsets as O } from '../../../flow/layout';
import { APP_DNS, APP_LLMNR, APP_MDNS, DONE, MAYBE, MORE, S_DNS_QUERY, type AppFlowInfo, type Status } from './apps';

const be16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];

function appByPort(f: AppFlowInfo): number {
  const { portA: a, portB: b } = f;
  if (a === 53 || b === 53) return APP_DNS;
  if (a === 5353 || b === 5353) return APP_MDNS;
  if (a === 5355 || b === 5355) return APP_LLMNR;
  return 0;
}

/** The message in the buffer: TCP has a u16 length first; null when not all there. */
function message(f: AppFlowInfo, b: Uint8Array, n: number): Uint8Array | null {
  if (f.proto !== 6) return b.subarray(0, n);
  if (n < 2) return null;
  const len = be16(b, 0);
  return 2 + len <= n ? b.subarray(2, 2 + len) : null;
}

export function classifyDns(f: AppFlowInfo, b: Uint8Array, n: number): number {
  const app = appByPort(f);
  if (app === 0) return 0;
  const m = message(f, b, n);
  if (m === null) return MAYBE;
  if (m.length < 12) return 0;
  if (be16(m, 4) > 0 && readQuestion(m, 12) === null) return 0;
  return app;
}

export function dissectDns(f: AppFlowInfo, _fwd: boolean, b: Uint8Array, n: number): Status {
  const m = message(f, b, n);
  if (m === null) return MORE;
  if (m.length < 12) return DONE;
  const a = f.area;
  const response = (m[2] & 0x80) !== 0;
  const first = response && !a.has(AppFlags.DNS_RESPONSE);
  if (first) {
    a.setU8(O.kDnsRcode, m[3] & 0x0f);
    a.setU16(O.kDnsAnswers, be16(m, 6));
    a.flag(AppFlags.DNS_RESPONSE);
  }
  const qd = be16(m, 4);
  let p = 12;
  if (qd > 0) {
    const q = readQuestion(m, 12);
    if (q === null) return DONE;
    a.string(S_DNS_QUERY, q.name, 0, q.name.length);
    if (a.getU16(O.kDnsQtype) === 0) a.setU16(O.kDnsQtype, q.type);
    p = q.next;
  }
  if (first) firstAddress(f, m, p, qd, be16(m, 6));
  return DONE;
}

interface Question {
  name: Uint8Array;
  type: number;
  next: number;
}

function readQuestion(m: Uint8Array, p: number): Question | null {
  const name = readName(m, p);
  if (name === null) return null;
  const q = skipName(m, p);
  if (q < 0 || q + 4 > m.length) return null;
  return { name, type: be16(m, q), next: q + 4 };
}

const NAME = new Uint8Array(255);

/** The name at p, labels joined by '.', pointers followed (at most 128); null if malformed. */
export function readName(m: Uint8Array, p: number): Uint8Array | null {
  let len = 0;
  let jumps = 0;
  for (;;) {
    if (p >= m.length) return null;
    const c = m[p];
    if (c === 0) break;
    if ((c & 0xc0) === 0xc0) {
      if (p + 1 >= m.length || ++jumps > 128) return null;
      p = ((c & 0x3f) << 8) | m[p + 1];
      continue;
    }
    if (c & 0xc0) return null;
    if (p + 1 + c > m.length) return null;
    const add = (len ? 1 : 0) + c;
    if (len + add > 255) return null;
    if (len) NAME[len++] = 0x2e;
    NAME.set(m.subarray(p + 1, p + 1 + c), len);
    len += c;
    p += 1 + c;
  }
  return NAME.slice(0, len);
}

/** Offset after the name at p (a pointer ends it), -1 if it runs out. */
function skipName(m: Uint8Array, p: number): number {
  while (p < m.length) {
    const c = m[p];
    if (c === 0) return p + 1;
    if ((c & 0xc0) === 0xc0) return p + 2 <= m.length ? p + 2 : -1;
    if (c & 0xc0) return -1;
    p += 1 + c;
  }
  return -1;
}

/** The first A / AAAA answer after the questions. */
function firstAddress(f: AppFlowInfo, m: Uint8Array, p: number, qd: number, an: number): void {
  for (let i = 1; i < qd; i++) {
    p = skipName(m, p);
    if (p < 0 || p + 4 > m.length) return;
    p += 4;
  }
  for (let i = 0; i < an; i++) {
    p = skipName(m, p);
    if (p < 0 || p + 10 > m.length) return;
    const type = be16(m, p);
    const rdlen = be16(m, p + 8);
    p += 10;
    if (p + rdlen > m.length) return;
    if ((type === 1 && rdlen === 4) || (type === 28 && rdlen === 16)) {
      const a = f.area;
      a.setU8(O.kDnsAnswerVersion, type === 1 ? 4 : 6);
      a.b.set(m.subarray(p, p + rdlen), O.kDnsAnswerAddr - O.kApp);
      return;
    }
    p += rdlen;
  }
}

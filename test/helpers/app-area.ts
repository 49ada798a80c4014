/**
 * Writes the application area of a record (docs/applications.md) into a
 * FlowBatch buffer, as the engines fill it: the store, the exports and the
 * CLI are tested on records with an area before (and beside) the engines'
 * dissectors. Also batches with areas, and runs whose batches get them.
 */
import { FlowBatch, type Flow } from '../../src/flow/flow';
import { APP_STRINGS, APPLICATIONS, AppFlags, Offsets as O, RECORD_SIZE, type Application, type AppStringName } from '../../src/flow/layout';
import type { FlowRun } from '../../src/meter';

export interface AppArea {
  application: Application;
  /** strings in the order the engine found them */
  strings?: Partial<Record<AppStringName, string | Uint8Array>>;
  tlsVersion?: number;
  dnsQtype?: number;
  /** a DNS response: both, and flag 2 */
  dnsRcode?: number;
  dnsAnswers?: number;
  /** the first A / AAAA answer */
  dnsAnswer?: string;
  httpStatus?: number;
  appCode?: number;
  /** extra flags (1: a string was cut: set also when one is cut here) */
  flags?: number;
}

function addressBytes(ip: string): Uint8Array {
  if (!ip.includes(':')) return Uint8Array.from(ip.split('.').map(Number));
  const [head, tail] = ip.split('::');
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 255;
  });
  return out;
}

/** Fills the area of record `index` of `buffer` (zeroing it first). */
export function writeApp(buffer: ArrayBuffer, index: number, a: AppArea): void {
  const o = index * RECORD_SIZE;
  const b = new Uint8Array(buffer, o, RECORD_SIZE);
  const v = new DataView(buffer, o, RECORD_SIZE);
  b.fill(0, O.kApp, O.kApp + O.kAppSize); // the area only: the details after it stay
  let flags = a.flags ?? 0;
  b[O.kApplication] = APPLICATIONS.indexOf(a.application);
  if (a.tlsVersion) v.setUint16(O.kTlsVersion, a.tlsVersion, true);
  if (a.dnsQtype) v.setUint16(O.kDnsQtype, a.dnsQtype, true);
  if (a.dnsRcode !== undefined || a.dnsAnswers !== undefined) {
    flags |= AppFlags.DNS_RESPONSE;
    b[O.kDnsRcode] = a.dnsRcode ?? 0;
    v.setUint16(O.kDnsAnswers, a.dnsAnswers ?? 0, true);
  }
  if (a.dnsAnswer) {
    const addr = addressBytes(a.dnsAnswer);
    b[O.kDnsAnswerVersion] = addr.length === 4 ? 4 : 6;
    b.set(addr, O.kDnsAnswerAddr);
  }
  if (a.httpStatus) v.setUint16(O.kHttpStatus, a.httpStatus, true);
  if (a.appCode !== undefined) {
    flags |= AppFlags.CODE;
    v.setUint16(O.kAppCode, a.appCode, true);
  }
  let p = O.kAppStrings;
  for (const [name, value] of Object.entries(a.strings ?? {})) {
    let bytes = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value!);
    if (bytes.length > 255) {
      bytes = bytes.subarray(0, 255);
      flags |= AppFlags.CUT;
    }
    const left = O.kApp + O.kAppSize - p;
    if (left < 3) {
      flags |= AppFlags.CUT;
      continue;
    }
    if (bytes.length > left - 2) {
      bytes = bytes.subarray(0, left - 2);
      flags |= AppFlags.CUT;
    }
    b[p] = APP_STRINGS.indexOf(name as AppStringName);
    b[p + 1] = bytes.length;
    b.set(bytes, p + 2);
    p += 2 + bytes.length;
  }
  b[O.kAppFlags] = flags;
}

/** A copy of `batch` whose records get the areas `areaOf` gives (undefined: left as they are). */
export function withApps(batch: FlowBatch, areaOf: (f: Flow, i: number) => AppArea | undefined): FlowBatch {
  const buffer = batch.buffer.slice(0);
  const copy = new FlowBatch(buffer);
  for (let i = 0; i < copy.length; i++) {
    const a = areaOf(copy.at(i), i);
    if (a) writeApp(buffer, i, a);
  }
  return copy;
}

/** A run whose batches get areas as they pass (withApps): a stand-in for an engine that dissects. */
export function dissected(run: FlowRun, areaOf: (f: Flow, i: number) => AppArea | undefined): FlowRun {
  let n = 0;
  return {
    path: run.path, kind: run.kind, engine: run.engine, summary: run.summary,
    return: (v?: unknown) => (run as unknown as { return(v?: unknown): Promise<unknown> }).return?.(v),
    async *[Symbol.asyncIterator]() {
      for await (const batch of run) {
        const base = n;
        n += batch.length;
        yield withApps(batch, (f, i) => areaOf(f, base + i));
      }
    },
  } as unknown as FlowRun;
}

/** A plausible area for a flow by its server port: TLS on 443, HTTP on 80, DNS on 53, SSH on 22, Modbus on 502. */
export function areaByPort(f: Flow, i: number): AppArea | undefined {
  const port = Math.min(f.srcPort, f.dstPort);
  const ports = [f.srcPort, f.dstPort];
  const n = i % 7;
  if (f.protocol === 6 && ports.includes(443))
    return { application: 'tls', strings: { sni: `h${n}.example.com`, alpn: 'h2,http/1.1', ja4: 't13d1516h2_8daaf6152771_e5627efa2ab1', ja3: 'a0e9f5d64349fb13191bc781f81f42e1' }, tlsVersion: 0x0304 };
  if (f.protocol === 6 && ports.includes(80))
    return { application: 'http', strings: { httpMethod: 'GET', httpHost: `www${n}.example.org`, userAgent: 'curl/8.5.0' }, httpStatus: 200 };
  if (ports.includes(53))
    return { application: 'dns', strings: { dnsQuery: `host${n}.example.net` }, dnsQtype: 1, dnsRcode: 0, dnsAnswers: 1, dnsAnswer: `192.0.2.${n + 1}` };
  if (f.protocol === 6 && ports.includes(22)) return { application: 'ssh', strings: { sshClient: 'SSH-2.0-OpenSSH_9.6', sshServer: 'SSH-2.0-OpenSSH_9.2p1' } };
  if (f.protocol === 6 && port === 502) return { application: 'modbus', appCode: 3 };
  return undefined;
}

/** Areas for a generated capture's flows: TLS and QUIC with server names in two cases, HTTP, DNS answering the flow's own server, Modbus. */
export function mixedArea(f: Flow, i: number): AppArea | undefined {
  if (f.l2) return undefined;
  const ports = [f.srcPort, f.dstPort];
  const n = i % 11;
  if (f.protocol === 6 && (ports.includes(443) || ports.includes(8443)))
    return { application: 'tls', strings: { sni: i % 4 ? `svc${n}.example.com` : `Svc${n}.Example.NET`, alpn: 'h2' }, tlsVersion: i % 3 ? 0x0304 : 0x0303 };
  if (f.protocol === 17 && ports.includes(443)) return { application: 'quic', strings: { sni: `q${n}.example.com`, alpn: 'h3' }, tlsVersion: 0x0304 };
  if (f.protocol === 6 && (ports.includes(80) || ports.includes(8080)))
    return { application: 'http', strings: { httpMethod: i % 2 ? 'GET' : 'POST', httpHost: `www${n}.example.org`, userAgent: 'curl/8.5.0' }, httpStatus: i % 5 ? 200 : 404 };
  if (f.protocol === 17 && i % 2 === 0) return { application: 'dns', strings: { dnsQuery: `host-${f.dst}.lan` }, dnsQtype: 1, dnsRcode: 0, dnsAnswers: 1, dnsAnswer: f.dst };
  if (f.protocol === 6 && ports.includes(25)) return { application: 'modbus', appCode: 3 };
  return undefined;
}


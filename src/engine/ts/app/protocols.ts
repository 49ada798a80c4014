/** The classifiers in the spec's order, and each application's dissector (docs/applications.md). */
import { APP_DNS, APP_HTTP, APP_LLMNR, APP_MDNS, APP_QUIC, APP_SSH, APP_TLS, MAYBE, type AppFlowInfo, type Status } from './apps';
import { classifyDns, dissectDns } from './dns';
import { classifyHttp, dissectHttp } from './http';
import { classifyIcs, dissectIcs } from './ics';
import { classifyQuic, dissectQuic } from './quic';
import { classifySsh, dissectSsh } from './ssh';
import { classifyTls, dissectTls } from './tls';

type Dissector = (f: AppFlowInfo, fwd: boolean, b: Uint8Array, n: number) => Status;

const TCP: ((f: AppFlowInfo, b: Uint8Array, n: number, fwd: boolean) => number)[] = [
  (_f, b, n) => classifyTls(b, n),
  classifyDns,
  (_f, b, n) => classifyHttp(b, n),
  (_f, b, n) => classifySsh(b, n),
  classifyIcs,
];

const UDP: ((f: AppFlowInfo, b: Uint8Array, n: number, fwd: boolean) => number)[] = [
  (f, b, n, fwd) => classifyQuic(f, fwd, b, n),
  classifyDns,
  classifyIcs,
];

/** The application the buffer shows, MAYBE (a TCP buffer that more bytes could make match), or 0. */
export function classify(f: AppFlowInfo, fwd: boolean, b: Uint8Array, n: number): number {
  let maybe = false;
  for (const c of f.proto === 6 ? TCP : UDP) {
    const app = c(f, b, n, fwd);
    if (app > 0) return app;
    if (app === MAYBE) maybe = true;
  }
  return maybe ? MAYBE : 0;
}

const DISSECTORS: Record<number, Dissector> = {
  [APP_TLS]: dissectTls,
  [APP_QUIC]: dissectQuic,
  [APP_DNS]: dissectDns,
  [APP_MDNS]: dissectDns,
  [APP_LLMNR]: dissectDns,
  [APP_HTTP]: dissectHttp,
  [APP_SSH]: dissectSsh,
};

export function dissector(app: number): Dissector {
  return DISSECTORS[app] ?? dissectIcs;
}

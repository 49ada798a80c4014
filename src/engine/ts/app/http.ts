/** HTTP/1.x (docs/applications.md): method, Host and User-Agent of the first request; the first response's status. */
import { Offsets as O } from '../../../flow/layout';
import { APP_HTTP, DONE, MAYBE, MORE, S_HTTP_HOST, S_HTTP_METHOD, S_USER_AGENT, type AppFlowInfo, type Status } from './apps';

const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'].map((m) => Buffer.from(`${m} `));
const VERSIONS = [Buffer.from(' HTTP/1.0'), Buffer.from(' HTTP/1.1')];
const STATUS_PREFIX = Buffer.from('HTTP/1.');
const HOST = Buffer.from('host');
const USER_AGENT = Buffer.from('user-agent');

const startsWith = (b: Uint8Array, p: number, end: number, s: Uint8Array) => {
  if (p + s.length > end) return false;
  for (let i = 0; i < s.length; i++) if (b[p + i] !== s[i]) return false;
  return true;
};
const digit = (c: number) => c >= 0x30 && c <= 0x39;

/** End of the line at p (the offset of its \r\n), -1 if not complete. */
function lineEnd(b: Uint8Array, p: number, n: number): number {
  for (let i = p; i + 1 < n; i++) if (b[i] === 0x0d && b[i + 1] === 0x0a) return i;
  return -1;
}

/** Length of the method token (with its space) of a request line, 0 if not a request. */
function requestMethod(b: Uint8Array, n: number): number {
  const m = METHODS.find((x) => startsWith(b, 0, n, x));
  if (!m) return 0;
  const e = lineEnd(b, 0, n);
  if (e < 0 || !VERSIONS.some((v) => e >= v.length && startsWith(b, e - v.length, e, v))) return 0;
  return m.length;
}

function isResponse(b: Uint8Array, n: number): boolean {
  return n >= 12 && startsWith(b, 0, n, STATUS_PREFIX) && digit(b[7]) && b[8] === 0x20 && digit(b[9]) && digit(b[10]) && digit(b[11]);
}

export function classifyHttp(b: Uint8Array, n: number): number {
  if (requestMethod(b, n) || isResponse(b, n)) return APP_HTTP;
  const started = METHODS.some((m) => prefixOf(b, n, m) && (n < m.length || lineEnd(b, 0, n) < 0));
  return started || (n < 12 && statusPrefix(b, n)) ? MAYBE : 0;
}

/** The buffer agrees with `HTTP/1.`, a digit, a space, three digits, as far as it goes. */
function statusPrefix(b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n && i < 12; i++) {
    const ok = i < 7 ? b[i] === STATUS_PREFIX[i] : i === 8 ? b[i] === 0x20 : digit(b[i]);
    if (!ok) return false;
  }
  return true;
}

/** The buffer and s agree on their common length. */
function prefixOf(b: Uint8Array, n: number, s: Uint8Array): boolean {
  for (let i = 0; i < n && i < s.length; i++) if (b[i] !== s[i]) return false;
  return true;
}

export function dissectHttp(f: AppFlowInfo, _fwd: boolean, b: Uint8Array, n: number): Status {
  const a = f.area;
  if (isResponse(b, n)) {
    if (a.getU16(O.kHttpStatus) === 0) a.setU16(O.kHttpStatus, (b[9] - 48) * 100 + (b[10] - 48) * 10 + (b[11] - 48));
    return DONE;
  }
  const m = requestMethod(b, n);
  if (m === 0) return METHODS.some((x) => startsWith(b, 0, n, x)) && lineEnd(b, 0, n) < 0 ? MORE : DONE;
  a.string(S_HTTP_METHOD, b, 0, m - 1);
  for (let p = lineEnd(b, 0, n) + 2; ; ) {
    const e = lineEnd(b, p, n);
    if (e < 0) return MORE;
    if (e === p) return DONE;
    header(f, b, p, e);
    p = e + 2;
  }
}

function header(f: AppFlowInfo, b: Uint8Array, p: number, e: number): void {
  let colon = p;
  while (colon < e && b[colon] !== 0x3a) colon++;
  if (colon === e) return;
  const id = nameIs(b, p, colon, HOST) ? S_HTTP_HOST : nameIs(b, p, colon, USER_AGENT) ? S_USER_AGENT : 0;
  if (id === 0) return;
  let v = colon + 1;
  let w = e;
  while (v < w && (b[v] === 0x20 || b[v] === 0x09)) v++;
  while (w > v && (b[w - 1] === 0x20 || b[w - 1] === 0x09)) w--;
  f.area.string(id, b, v, w);
}

function nameIs(b: Uint8Array, p: number, e: number, lower: Uint8Array): boolean {
  if (e - p !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = b[p + i];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower[i]) return false;
  }
  return true;
}

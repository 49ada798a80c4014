/**
 * The application area of a record (docs/applications.md) as flat columns:
 * the CSV's, the SQLite store's and ClickHouse's, named alike, in
 * APP_COLUMNS order. JSON keeps the nested `app` object of Flow.toObject()
 * (AppInfo); appInfoOf() makes one back from stored columns.
 *
 * A record whose application byte names no application has no application
 * fields, whatever its area holds (as Flow.app). Strings: the first entry of
 * an id wins (as Flow.appString()), bytes decoded as UTF-8.
 */
import { type AppInfo, type Flow, tlsVersionName } from '../flow/flow';
import { formatIPv4, formatIPv6 } from '../flow/address';
import { APP_STRINGS, APPLICATIONS, AppFlags, type Application, type AppStringName, Offsets as O } from '../flow/layout';

export const APP_COLUMNS = [
  'application', 'app_flags', 'sni', 'alpn', 'ja4', 'ja3', 'cert_cn', 'tls_version', 'dns_query', 'dns_qtype', 'dns_rcode',
  'dns_answers', 'dns_answer', 'http_method', 'http_host', 'user_agent', 'http_status', 'ssh_client', 'ssh_server', 'app_code',
] as const;
export type AppColumn = (typeof APP_COLUMNS)[number];

const camel = (c: string) => c.replace(/_(\w)/g, (_, x: string) => x.toUpperCase());

/** Per column: the string id (APP_STRINGS) it holds, 0 for the others. */
export const APP_STRING_IDS: readonly number[] = APP_COLUMNS.map((c) => Math.max(0, APP_STRINGS.indexOf(camel(c) as AppStringName)));

/** SQLite column types (NULL: not seen); the application is its name, tls_version the number (0x0304), dns_answer the 4 or 16 address bytes. */
export const APP_SQLITE_TYPES: Record<AppColumn, string> = Object.fromEntries(
  APP_COLUMNS.map((c, i) => [c, APP_STRING_IDS[i] || c === 'application' ? 'TEXT' : c === 'dns_answer' ? 'BLOB' : 'INTEGER']),
) as Record<AppColumn, string>;

/** An id of APPLICATIONS that names an application, else 0. */
export function applicationId(raw: Uint8Array, o = 0): number {
  const id = raw[o + O.kApplication];
  return id < APPLICATIONS.length ? id : 0;
}

/**
 * Where each string of the area at raw[o] lies: spans[2 * id] and
 * spans[2 * id + 1] the start and end (into raw), -1 for a string not there
 * (the first entry of an id wins, as Flow.appString()). Returns false when an
 * id came twice or an id is not one of APP_STRINGS (Flow.app then differs
 * from the spans: it keeps the last value of a repeated id).
 */
export function appStringSpans(raw: Uint8Array, o: number, spans: Int32Array): boolean {
  spans.fill(-1);
  let plain = true;
  const end = o + O.kApp + O.kAppSize;
  for (let p = o + O.kAppStrings; p + 2 <= end && raw[p] !== 0; p += 2 + raw[p + 1]) {
    const id = raw[p];
    if (id >= APP_STRINGS.length || spans[2 * id] >= 0) {
      plain = false;
      continue;
    }
    spans[2 * id] = p + 2;
    spans[2 * id + 1] = Math.min(end, p + 2 + raw[p + 1]);
  }
  return plain;
}

const utf8 = new TextDecoder();
const spansScratch = new Int32Array(2 * APP_STRINGS.length);

/** A stored value: text, integer, address bytes, or NULL (not seen). */
export type AppValue = string | number | Buffer | null;

/**
 * The application columns of a record (its RECORD_SIZE bytes: Flow.raw) with
 * SQLite's types, in APP_COLUMNS order; undefined when no application was
 * found (every column NULL).
 */
export function appRow(raw: Uint8Array): AppValue[] | undefined {
  const id = applicationId(raw);
  if (!id) return undefined;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const flags = raw[O.kAppFlags];
  const spans = spansScratch;
  appStringSpans(raw, 0, spans);
  const dnsResponse = (flags & AppFlags.DNS_RESPONSE) !== 0;
  const version = raw[O.kDnsAnswerVersion];
  const out: AppValue[] = new Array(APP_COLUMNS.length);
  for (let i = 0; i < APP_COLUMNS.length; i++) {
    const s = APP_STRING_IDS[i];
    if (s) {
      out[i] = spans[2 * s] < 0 ? null : utf8.decode(raw.subarray(spans[2 * s], spans[2 * s + 1]));
      continue;
    }
    switch (APP_COLUMNS[i]) {
      case 'application': out[i] = APPLICATIONS[id]; break;
      case 'app_flags': out[i] = flags; break;
      case 'tls_version': out[i] = v.getUint16(O.kTlsVersion, true) || null; break;
      case 'dns_qtype': out[i] = v.getUint16(O.kDnsQtype, true) || null; break;
      case 'dns_rcode': out[i] = dnsResponse ? raw[O.kDnsRcode] : null; break;
      case 'dns_answers': out[i] = dnsResponse ? v.getUint16(O.kDnsAnswers, true) : null; break;
      case 'dns_answer': out[i] = version === 4 || version === 6 ? Buffer.from(raw.subarray(O.kDnsAnswerAddr, O.kDnsAnswerAddr + (version === 4 ? 4 : 16))) : null; break;
      case 'http_status': out[i] = v.getUint16(O.kHttpStatus, true) || null; break;
      case 'app_code': out[i] = flags & AppFlags.CODE ? v.getUint16(O.kAppCode, true) : null; break;
      default: out[i] = null;
    }
  }
  return out;
}

/** An address of 4 or 16 bytes as text. */
export function answerText(b: Uint8Array): string {
  return b.length === 4 ? formatIPv4(b, 0) : formatIPv6(b, 0);
}

/** The CSV cells of the application columns (tls_version as its name, dns_answer as text); nulls for a flow without one. */
export function appCsvCells(f: Flow): (string | number | null)[] {
  const row = appRow(f.raw);
  if (!row) return APP_COLUMNS.map(() => null);
  return row.map((x, i) => {
    if (x === null) return null;
    if (APP_COLUMNS[i] === 'tls_version') return tlsVersionName(x as number);
    if (Buffer.isBuffer(x)) return answerText(x);
    return x;
  });
}

/**
 * The AppInfo of stored columns (SQLite: NULL for not seen; ClickHouse,
 * `emptyIsAbsent`: '' and 0), app_flags saying which DNS and code values
 * hold; strings in APP_STRINGS order. Undefined when no application is stored.
 */
export function appInfoOf(r: Record<string, unknown>, emptyIsAbsent = false): AppInfo | undefined {
  const application = r.application;
  if (typeof application !== 'string' || !application) return undefined;
  const a: AppInfo = { application: application as Application };
  const flags = Number(r.app_flags ?? 0);
  const num = (c: string) => (r[c] === null || r[c] === undefined ? 0 : Number(r[c]));
  APP_COLUMNS.forEach((c, i) => {
    const s = APP_STRING_IDS[i];
    const value = r[c];
    if (s && typeof value === 'string' && (value !== '' || !emptyIsAbsent)) a[APP_STRINGS[s] as AppStringName] = value;
  });
  if (num('tls_version')) a.tlsVersion = tlsVersionName(num('tls_version'));
  if (num('dns_qtype')) a.dnsQtype = num('dns_qtype');
  if (flags & AppFlags.DNS_RESPONSE) {
    a.dnsRcode = num('dns_rcode');
    a.dnsAnswers = num('dns_answers');
  }
  const answer = r.dns_answer;
  if (answer instanceof Uint8Array && (answer.length === 4 || answer.length === 16)) a.dnsAnswer = answerText(answer);
  else if (typeof answer === 'string' && answer) a.dnsAnswer = answer;
  if (num('http_status')) a.httpStatus = num('http_status');
  if (flags & AppFlags.CODE) a.appCode = num('app_code');
  if (flags & AppFlags.CUT) a.appCut = true;
  return a;
}

/** What a table shows of a flow's application: its name and the server's name it asked for (SNI, HTTP host, DNS query). */
export function appSummary(app: AppInfo | undefined): string {
  if (!app) return '';
  const name = app.sni ?? app.httpHost ?? app.dnsQuery;
  return name ? `${app.application} ${name}` : app.application;
}

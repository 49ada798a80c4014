/** SQL literals for ClickHouse 18.16, which has no query parameters: every value goes through these. */
import { FlowmasterError } from '../errors';

/** A quoted string literal (backslash and quote escaped, as ClickHouse reads them). */
export function str(v: string): string {
  return `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** An unsigned integer literal (a number, or a bigint beyond 2^53). */
export function uint(v: number | bigint): string {
  if (typeof v === 'bigint' ? v < 0n : !(Number.isSafeInteger(v) && v >= 0)) throw new FlowmasterError('ERR_INVALID_OPTION', `expected an unsigned integer, got ${v}`);
  return String(v);
}

/** A database, table or cluster name: letters, digits and underscores. */
export function ident(v: string, what: string): string {
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(v)) throw new FlowmasterError('ERR_INVALID_OPTION', `${what}: expected letters, digits and underscores, got ${JSON.stringify(v)}`);
  return v;
}

/** A TabSeparated field: backslash, tab and newline escaped. */
export function tsv(v: string): string {
  return /[\\\t\n\r]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : v;
}

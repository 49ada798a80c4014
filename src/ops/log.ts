/**
 * Structured events on stderr for an unattended sensor: lifecycle (start,
 * metrics endpoint, file done, stop), drops, retries and errors.
 *
 *   json  one JSON object per line: {"time":"2026-11-27T10:00:00.000Z","level":"info","event":"start",...fields}
 *   text  what a person reads: an event's `msg` as is (the lines the CLI has
 *         always printed); warnings and errors without one as
 *         `flowmaster: warn: <event> k=v ...`; other events only in JSON,
 *         since the progress bar, the summary and the error line already
 *         say them on a terminal.
 */
export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One event. The store's `log` option takes the same shape (retries). */
export interface LogEvent {
  level: string;
  event: string;
  /** the line text format prints, if any */
  msg?: string | null; // null: JSON only (the text line is printed another way, e.g. the command's one error line)
  [field: string]: unknown;
}

export type LogFn = (event: LogEvent) => void;

export interface Logger {
  readonly format: LogFormat;
  /** writes one event (never throws: a log line must not end a capture) */
  readonly log: LogFn;
}

export function createLogger(format: LogFormat = 'text', write: (line: string) => void = (line) => void process.stderr.write(line)): Logger {
  const log: LogFn = (e) => {
    try {
      const line = format === 'json' ? jsonLine(e) : textLine(e);
      if (line !== undefined) write(line + '\n');
    } catch {
      // a field that cannot be serialized, a closed stderr: drop the line, keep running
    }
  };
  return { format, log };
}

function jsonLine(e: LogEvent): string {
  const { level, event, ...fields } = e;
  if (fields.msg === null) delete fields.msg;
  return JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }, replacer);
}

function textLine(e: LogEvent): string | undefined {
  if (typeof e.msg === 'string') return e.msg;
  if (e.msg === null) return undefined;
  if (e.level !== 'warn' && e.level !== 'error') return undefined;
  const { level, event, msg: _msg, ...fields } = e;
  const kv = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v, replacer)}`);
  return [`flowmaster: ${level}: ${event}`, ...kv].join(' ');
}

/** bigints as strings, errors as their code and message: JSON.stringify throws on the first and drops the second. */
function replacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return { message: v.message, ...((v as { code?: string }).code ? { code: (v as { code?: string }).code } : {}) };
  return v;
}

/** Errors with stable `code`s; native errors arrive as plain objects and become these. */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_USAGE'
  | 'ERR_FILE_NOT_FOUND'
  | 'ERR_IS_DIRECTORY'
  | 'ERR_PCAP_OPEN'
  | 'ERR_READ'
  | 'ERR_EMPTY_FILE'
  | 'ERR_NOT_A_CAPTURE'
  | 'ERR_BAD_HEADER'
  | 'ERR_BAD_RECORD'
  | 'ERR_TRUNCATED'
  | 'ERR_BPF'
  | 'ERR_NO_MEMORY'
  | 'ERR_ADDON_MISSING'
  | 'ERR_LIBPCAP_MISSING'
  | 'ERR_INTERNAL'
  | 'ERR_DB_OPEN'
  | 'ERR_DB_VERSION'
  | 'ERR_DB_NOT_FOUND'
  | 'ERR_DB_READONLY'
  | 'ERR_DB_FULL'
  | 'ERR_DB_BUSY'
  | 'ERR_DB_CORRUPT'
  | 'ERR_DB_IO'
  | 'ERR_DB_LOCKED'
  | 'ERR_BAD_CURSOR'
  | 'ERR_CANCELLED'
  | 'ERR_NO_INTERFACE'
  | 'ERR_INTERFACE_DOWN'
  | 'ERR_PERMISSION'
  | 'ERR_CAPTURE'
  | 'ERR_STOPPED'
  | 'ERR_UNSUPPORTED'
  | 'ERR_EXPORT'
  | 'ERR_METRICS_PORT'
  | 'ERR_CLICKHOUSE'
  | 'ERR_NOT_FOUND'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_TIMEOUT';

export class FlowmasterError extends Error {
  readonly code: ErrorCode;
  /** byte offset in the capture file where the problem is, when it applies */
  readonly offset?: number;
  readonly path?: string;

  constructor(code: ErrorCode, message: string, details: { offset?: number; path?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FlowmasterError';
    this.code = code;
    if (details.offset !== undefined && details.offset >= 0) this.offset = details.offset;
    if (details.path !== undefined) this.path = details.path;
  }
}

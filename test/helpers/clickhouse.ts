/** A real ClickHouse for tests: scripts/clickhouse-server.mjs (shared with bench/clickhouse.mjs), typed. */
// @ts-expect-error plain ESM helper without type declarations
import * as server from '../../scripts/clickhouse-server.mjs';

export interface ClickHouseServer {
  url: string;
  httpPort: number;
  tcpPort: number;
  dir: string;
  /** run a query over HTTP, the text of its answer (throws on an error status) */
  query(sql: string): Promise<string>;
  /** stops it (SIGTERM, waits for the exit); the data stays */
  stop(): Promise<void>;
  /** a crash: SIGKILL, no shutdown */
  kill(): Promise<void>;
  /** starts it again on the same ports and data */
  start(): Promise<void>;
  /** stops it and removes its data */
  destroy(): Promise<void>;
}

/** Why the ClickHouse tests skip here (no server binary), or undefined. */
export const noClickHouse: string | undefined = server.clickhouseMissing;
export const freePort: () => Promise<number> = server.freePort;
/** Starts a server; `shards` lists the TCP ports of every server of the cluster `fm_shards` (this one's included). */
export const startClickHouse: (o?: { httpPort?: number; tcpPort?: number; shards?: number[] }) => Promise<ClickHouseServer> = server.startClickHouse;

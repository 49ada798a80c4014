/**
 * A real ClickHouse for tests: Debian's clickhouse-server (18.16) on free
 * loopback ports with a temporary data directory, stopped (and restartable:
 * the fault tests stop it mid-ingest) by the test. Several servers can share a
 * `remote_servers` cluster definition (`fm_shards`), for the Distributed tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the ClickHouse tests skip here (no server binary), or undefined. */
export const noClickHouse: string | undefined =
  spawnSync('clickhouse-server', ['--help'], { stdio: 'ignore' }).error === undefined
    ? undefined
    : 'clickhouse-server is not installed (Debian: apt-get install clickhouse-server; CI installs it)';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface ClickHouseServer {
  url: string;
  httpPort: number;
  tcpPort: number;
  dir: string;
  /** run a query over HTTP, the text of its answer (throws on an error status) */
  query(sql: string): Promise<string>;
  /** stops it (SIGTERM, waits for the exit); the data stays */
  stop(): Promise<void>;
  /** starts it again on the same ports and data */
  start(): Promise<void>;
  /** stops it and removes its data */
  destroy(): Promise<void>;
}

function config(dir: string, http: number, tcp: number, shards: number[]): string {
  const cluster = shards.length
    ? `<remote_servers><fm_shards>${shards.map((p) => `<shard><replica><host>127.0.0.1</host><port>${p}</port></replica></shard>`).join('')}</fm_shards></remote_servers>`
    : '';
  return `<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog></logger>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  ${cluster}
</yandex>`;
}

/** Starts a server; `shards` lists the TCP ports of every server of the cluster `fm_shards` (this one's included). */
export async function startClickHouse(o: { httpPort?: number; tcpPort?: number; shards?: number[] } = {}): Promise<ClickHouseServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-clickhouse-'));
  const httpPort = o.httpPort ?? (await freePort());
  const tcpPort = o.tcpPort ?? (await freePort());
  const file = path.join(dir, 'config.xml');
  fs.writeFileSync(file, config(dir, httpPort, tcpPort, o.shards ?? []));
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const query = async (sql: string): Promise<string> => {
    const r = await fetch(url, { method: 'POST', body: sql });
    const text = await r.text();
    if (!r.ok) throw new Error(`ClickHouse: ${text.trim()}`);
    return text;
  };
  const server: ClickHouseServer = {
    url, httpPort, tcpPort, dir, query,
    async start() {
      const c = spawn('clickhouse-server', [`--config-file=${file}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      let err = '';
      c.stderr!.on('data', (d) => (err += d));
      exited = new Promise<void>((r) => c.once('exit', () => r()));
      let gone = false;
      void exited.then(() => (gone = true));
      for (let i = 0; i < 300; i++) {
        if (gone) throw new Error(`clickhouse-server exited: ${err}${fs.existsSync(`${dir}/error.log`) ? fs.readFileSync(`${dir}/error.log`, 'utf8').slice(-2000) : ''}`);
        try {
          if ((await fetch(`${url}/ping`)).ok) return;
        } catch {
          // not listening yet
        }
        await sleep(50);
      }
      c.kill('SIGKILL');
      throw new Error(`clickhouse-server did not answer on ${url} within 15 s: ${err}`);
    },
    async stop() {
      child?.kill('SIGTERM');
      await exited;
      child = undefined;
    },
    async destroy() {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

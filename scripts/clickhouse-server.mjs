// A ClickHouse server of one's own for tests and benchmarks: Debian's
// clickhouse-server on free loopback ports with a temporary data directory,
// stoppable and restartable (the fault runs stop it mid-ingest). Servers
// given the same `shards` (their TCP ports) share the cluster `fm_shards`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Why there is no server here (no binary), or undefined. */
export const clickhouseMissing =
  spawnSync('clickhouse-server', ['--help'], { stdio: 'ignore' }).error === undefined
    ? undefined
    : 'clickhouse-server is not installed (Debian: apt-get install clickhouse-server; CI installs it)';

export async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function config(dir, http, tcp, shards) {
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

/**
 * Starts a server: { url, httpPort, tcpPort, dir, query(sql), stop(), kill(), start(), destroy() }.
 * query() posts SQL over HTTP and returns the answer's text (throws on an error status).
 */
export async function startClickHouse(o = {}) {
  const dir = fs.mkdtempSync(path.join(o.tmpdir ?? os.tmpdir(), 'flowmaster-clickhouse-'));
  const httpPort = o.httpPort ?? (await freePort());
  const tcpPort = o.tcpPort ?? (await freePort());
  const file = path.join(dir, 'config.xml');
  fs.writeFileSync(file, config(dir, httpPort, tcpPort, o.shards ?? []));
  const url = `http://127.0.0.1:${httpPort}`;
  let child;
  let exited = Promise.resolve();
  const server = {
    url, httpPort, tcpPort, dir,
    async query(sql) {
      const r = await fetch(url, { method: 'POST', body: sql });
      const text = await r.text();
      if (!r.ok) throw new Error(`ClickHouse: ${text.trim()}`);
      return text;
    },
    async start() {
      const c = spawn('clickhouse-server', [`--config-file=${file}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      let gone = false;
      exited = new Promise((r) => c.once('exit', () => r()));
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
    /** a crash: SIGKILL, no shutdown (inserts in flight are cut off) */
    async kill() {
      child?.kill('SIGKILL');
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

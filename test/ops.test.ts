/**
 * Operating capture and ingest unattended (src/ops): the HTTP server
 * (/metrics live while a run goes on, /healthz, /readyz), its flags, a port
 * in use, promtool's verdict on real scrapes, and the structured logs.
 * CLI tests run dist/ in a child process, as users do.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowmasterError } from '../src/errors';
import { Metrics } from '../src/metrics/registry';
import { createLogger } from '../src/ops/log';
import { Readiness } from '../src/ops/ready';
import { startOpsServer } from '../src/ops/server';
import { tmpFile, udp4, writePcap, type Pkt } from './helpers/capture';
import { notRoot, skipping } from './helpers/skip';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;

/** `promtool check metrics` on a scrape: its exit status and what it reports (lint problems, errors). */
function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

function expectPromtoolClean(text: string, what: string): void {
  if (skipping(!hasPromtool && 'promtool is missing (apt-get install prometheus)', `promtool check metrics (${what})`)) return;
  const r = promtool(text);
  expect(r.output, what).toBe('');
  expect(r.status, what).toBe(0);
}

/** A running CLI child with its output so far. */
interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: Child[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

function start(...args: string[]): Child {
  const proc = spawn(process.execPath, [cli, ...args], { cwd: root });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const c = { proc, stdout: () => out, stderr: () => err, exited: new Promise<number | null>((r) => proc.on('exit', (code) => r(code))) };
  children.push(c);
  return c;
}

async function until<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The metrics URL a child announced (text: "<command>: metrics at URL"; json: event metrics_listening). */
function metricsUrl(c: Child): Promise<string> {
  return until('the metrics URL', () => /metrics at (http:\/\/\S+)\/metrics/.exec(c.stderr())?.[1] ?? /"url":"(http:\/\/[^"]+)\/metrics"/.exec(c.stderr())?.[1]);
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

/** `name{labels}` -> value of the samples in a scrape. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

const total = (s: Map<string, number>, name: string) => [...s].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0);

/**
 * A pcap of 400 one-packet UDP flows 2 s apart (with --idle-timeout 1 each
 * ends the one before), every 10th cut inside its UDP header.
 */
/** 400 packets, 360 UDP flows and 40 cut packets; `t0` shifts their times (another file's content, the same counts). */
function manyFlows(t0 = 0): Buffer {
  const pkts: Pkt[] = [];
  for (let i = 0; i < 400; i++) {
    const data = udp4('10.0.0.1', 10000 + i, '10.0.0.2', 53, 10);
    pkts.push(i % 10 === 5 ? { t: t0 + 2 * i, data: data.subarray(0, 14 + 20 + 4), origLen: data.length } : { t: t0 + 2 * i, data });
  }
  return fs.readFileSync(writePcap(pkts));
}

describe('ingest --metrics-port', () => {
  it('serves live metrics, /healthz and /readyz while it reads (a capture arriving through a FIFO); promtool finds no problem', async () => {
    const fifo = tmpFile('ingest.fifo');
    execFileSync('mkfifo', [fifo]);
    const pcap = manyFlows();
    const c = start('ingest', '--db', tmpFile('ops-ingest.db'), '--metrics-port', '0', '--idle-timeout', '1', '--no-progress', fifo);
    const writer = fs.createWriteStream(fifo);
    writer.write(pcap.subarray(0, Math.floor(pcap.length * 0.6))); // and wait: the reader waits for the rest
    const url = await metricsUrl(c);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/); // loopback unless --metrics-host says otherwise
    const text = await until('flows in the metrics', async () => {
      const t = (await get(`${url}/metrics`)).body;
      return total(samples(t), 'flowmaster_flows_total') > 0 && t;
    });
    const s = samples(text);
    expect(total(s, 'flowmaster_packets_total')).toBeGreaterThan(0);
    expect(total(s, 'flowmaster_packets_total')).toBeLessThan(400); // mid-run
    expect(total(s, 'flowmaster_bytes_total')).toBeGreaterThan(0);
    expect(total(s, 'flowmaster_decode_errors_total')).toBeGreaterThan(0);
    expect(s.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(s.get('flowmaster_database_size_bytes')).toBeGreaterThan(0);
    expect([...s.keys()].some((k) => k.startsWith('flowmaster_build_info{'))).toBe(true);
    expectPromtoolClean(text, 'a running ingest');

    const health = await get(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
    const ready = await get(`${url}/readyz`);
    expect(ready.type).toMatch(/^application\/json/);
    const body = JSON.parse(ready.body);
    expect(ready.status, ready.body).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.started.ok).toBe(true);
    expect(body.checks.commit).toMatchObject({ ok: true, maxSeconds: 60 });
    expect((await get(`${url}/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);

    writer.end(pcap.subarray(Math.floor(pcap.length * 0.6)));
    expect(await c.exited, c.stderr()).toBe(0);
    expect(c.stdout()).toMatch(/ingested 1 of 1 files/);
  }, 30_000);

  it('a port in use: ERR_METRICS_PORT, exit code 1, one line, and no database made', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    const db = tmpFile('ops-busy.db');
    const c = start('ingest', '--db', db, '--metrics-port', String(port), writePcap([{ t: 0, data: udp4('10.0.0.1', 1, '10.0.0.2', 2) }]));
    expect(await c.exited).toBe(1);
    busy.close();
    expect(c.stderr()).toMatch(new RegExp(`^flowmaster: metrics server: 127\\.0\\.0\\.1:${port} is in use .*\\[ERR_METRICS_PORT\\]\\n$`));
    expect(fs.existsSync(db)).toBe(false);
  });

  it('--metrics-host: it listens there only', async (ctx) => {
    // every 127/8 address is this host's on Linux: listen on one, the others refuse
    if (skipping(process.platform !== 'linux' && '127.0.0.2 is not local here', '--metrics-host')) return ctx.skip();
    const fifo = tmpFile('host.fifo');
    execFileSync('mkfifo', [fifo]);
    const c = start('ingest', '--db', tmpFile('ops-host.db'), '--metrics-port', '0', '--metrics-host', '127.0.0.2', '--no-progress', fifo);
    const writer = fs.createWriteStream(fifo);
    const url = await metricsUrl(c);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect((await get(`${url}/healthz`)).status).toBe(200);
    const port = new URL(url).port;
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    writer.end(manyFlows());
    expect(await c.exited).toBe(0);
  }, 30_000);

  it('--log-format json: stderr is JSON lines {time, level, event}: start, file_done per file, stop', async () => {
    const pcap = tmpFile('log.pcap');
    fs.writeFileSync(pcap, manyFlows());
    const later = tmpFile('log2.pcap'); // (the same content twice would be skipped the second time)
    fs.writeFileSync(later, manyFlows(10_000));
    const c = start('ingest', '--db', tmpFile('ops-log.db'), '--log-format', 'json', '--workers', '1', pcap, later);
    expect(await c.exited).toBe(0);
    const lines = c.stderr().trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>); // every line parses
    for (const e of events) {
      expect(typeof e.time).toBe('string');
      expect(Number.isNaN(Date.parse(e.time as string))).toBe(false);
      expect(['debug', 'info', 'warn', 'error']).toContain(e.level);
      expect(typeof e.event).toBe('string');
    }
    expect(events.map((e) => e.event)).toEqual(['start', 'file_done', 'file_done', 'stop']);
    expect(events[0]).toMatchObject({ command: 'ingest', files: 2 });
    const flows = events[1].flows as number; // 360 UDP flows and one of the 40 cut packets
    expect(flows).toBeGreaterThan(300);
    expect(events[1]).toMatchObject({ path: pcap, packets: 400, committed: flows });
    expect(events[3]).toMatchObject({ command: 'ingest', files: 2, ok: 2, packets: 800, flows: 2 * flows });
  });

  it('text logs by default: the human lines as before, no JSON', async () => {
    const pcap = tmpFile('text.pcap');
    fs.writeFileSync(pcap, manyFlows());
    const c = start('ingest', '--db', tmpFile('ops-text.db'), pcap);
    expect(await c.exited).toBe(0);
    expect(c.stderr()).toMatch(/^ingest: .*: 400 packets, \d+ flows$/m);
    expect(c.stderr()).not.toMatch(/^\{/m);
  });
});

describe.skipIf(skipping(notRoot, 'flowmaster capture --metrics-port'))('capture --metrics-port (root)', () => {
  /** One datagram from each of `n` new sockets (n flows) to 127.0.0.1:port. */
  async function send(port: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise((r) => s.send(Buffer.alloc(100), port, '127.0.0.1', r));
      s.close();
    }
  }

  for (const withDb of [false, true]) {
    it(`${withDb ? 'with' : 'without'} --db: flows, bytes and packets live, /healthz, /readyz (threads, drops${withDb ? ', commits' : ''}); promtool finds no problem`, async () => {
      const port = (withDb ? 43500 : 43000) + (process.pid % 500);
      const args = ['capture', '-i', 'lo', '-f', `udp port ${port}`, '--idle-timeout', '0.3', '--threads', '2', '--metrics-port', '0'];
      const c = start(...args, ...(withDb ? ['--db', tmpFile('ops-capture.db')] : []));
      const url = await metricsUrl(c);
      await until('the capture to start', () => c.stderr().includes('stop with Ctrl-C'));
      await send(port, 3);
      const text = await until('ended flows in the metrics', async () => {
        const t = (await get(`${url}/metrics`)).body;
        return (samples(t).get('flowmaster_flows_total{reason="idle"}') ?? 0) >= 3 && t;
      });
      const s = samples(text);
      expect(total(s, 'flowmaster_packets_total')).toBeGreaterThanOrEqual(3);
      expect(total(s, 'flowmaster_bytes_total')).toBeGreaterThanOrEqual(3 * 142);
      expect(s.get('flowmaster_capture_received_packets_total')).toBeGreaterThanOrEqual(3);
      expect(s.get('flowmaster_capture_threads')).toBe(2);
      expect(s.get('flowmaster_capture_threads_running')).toBe(2);
      expect(s.has('flowmaster_active_flows')).toBe(true);
      expect(s.has('flowmaster_flow_table_occupancy_ratio')).toBe(true);
      expect(s.has('flowmaster_database_size_bytes')).toBe(withDb);
      expectPromtoolClean(text, `a running capture ${withDb ? 'with' : 'without'} --db`);

      expect((await get(`${url}/healthz`)).status).toBe(200);
      const ready = await get(`${url}/readyz`);
      const body = JSON.parse(ready.body);
      expect(ready.status, ready.body).toBe(200);
      expect(body.checks.capture).toEqual({ ok: true, threads: 2, running: 2 });
      expect(body.checks.drops).toMatchObject({ ok: true, ratio: 0, maxRatio: 0.01 });
      if (withDb) expect(body.checks.commit.ok).toBe(true);
      else expect(body.checks.commit).toBeUndefined();

      c.proc.kill('SIGINT');
      expect(await c.exited, c.stderr()).toBe(0);
      if (!withDb) expect(c.stdout().trim().split('\n')).toHaveLength(3); // the flows, as JSON lines
    }, 30_000);
  }

  it('a port in use: ERR_METRICS_PORT, exit code 1, one line, nothing captured', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    const c = start('capture', '-i', 'lo', '--metrics-port', String(port));
    expect(await c.exited).toBe(1);
    busy.close();
    expect(c.stderr()).toMatch(/^flowmaster: metrics server: 127\.0\.0\.1:\d+ is in use .*\[ERR_METRICS_PORT\]\n$/);
    expect(c.stdout()).toBe('');
  });

  it('--log-format json: start, flows evicted from a full table as a drops warning, stop', async () => {
    const port = 44000 + (process.pid % 500);
    const c = start('capture', '-i', 'lo', '-f', `udp port ${port}`, '--max-flows', '1', '--log-format', 'json');
    await until('the start event', () => c.stderr().includes('"event":"start"'));
    await send(port, 4); // one table slot: each new flow evicts the one before
    await until('a drops event', () => c.stderr().includes('"event":"drops"'));
    c.proc.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    const events = c.stderr().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events[0]).toMatchObject({ level: 'info', event: 'start', command: 'capture', interfaces: ['lo'] });
    const drops = events.filter((e) => e.event === 'drops');
    expect(drops[0]).toMatchObject({ level: 'warn', packetsKernel: 0 });
    expect(drops.reduce((n, e) => n + (e.flowsTable as number), 0)).toBe(3);
    expect(events[events.length - 1]).toMatchObject({ level: 'info', event: 'stop', command: 'capture', packets: 4, flows: 4, evicted: 3 });
  }, 30_000);
});

describe('ops server', () => {
  it('/readyz is 503 with the failing check named; /healthz stays 200', async () => {
    let now = 0;
    const readiness = new Readiness({ maxCommitAgeSec: 5, now: () => now });
    readiness.started();
    readiness.watchCommits();
    const server = await startOpsServer({ port: 0, host: '127.0.0.1', metrics: new Metrics({ defaultMetrics: false }), ready: () => readiness.report() });
    try {
      expect((await get(`${server.url}/readyz`)).status).toBe(200); // nothing waiting
      readiness.delivered(10);
      now = 4000;
      expect((await get(`${server.url}/readyz`)).status).toBe(200);
      now = 6000; // 6 s waiting, and no commit
      const r = await get(`${server.url}/readyz`);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toEqual({
        status: 'not ready',
        checks: { started: { ok: true }, commit: { ok: false, waitingSeconds: 6, maxSeconds: 5, lastCommitSecondsAgo: null } },
      });
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
      readiness.committed(10);
      expect((await get(`${server.url}/readyz`)).status).toBe(200);
      // a quiet link later: nothing waits, however long ago the last commit was
      now = 600_000;
      expect((await get(`${server.url}/readyz`)).status).toBe(200);
      // a batch after the quiet hour waits from its arrival, not from the last commit
      readiness.delivered(1);
      now += 1000;
      expect((await get(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('readiness of a capture: threads alive, drop ratio over a window', () => {
    let now = 0;
    const stats = { packets: 0, received: 0, kernelDropped: 0, interfaceDropped: 0, flowsDropped: 0, threads: 2, threadsRunning: 2 };
    const capture = { stats: () => ({ ...stats }), stopped: false };
    const r = new Readiness({ maxDropRatio: 0.01, dropWindowSec: 60, now: () => now });
    r.started();
    r.watchCapture(capture);
    r.sample();
    expect(r.report().ready).toBe(true);
    now = 1000;
    stats.received = 1000;
    stats.kernelDropped = 50; // 5 %
    expect(r.report().checks.drops).toMatchObject({ ok: false, ratio: 0.05, dropped: 50, received: 1000 });
    for (let t = 2; t <= 62; t++) {
      now = t * 1000;
      stats.received += 1000; // no more drops
      r.sample();
    }
    expect(r.report().checks.drops.ok).toBe(true); // the burst left the window
    stats.threadsRunning = 1;
    expect(r.report()).toMatchObject({ ready: false, checks: { capture: { ok: false, threads: 2, running: 1 } } });
  });

  it('a port in use is ERR_METRICS_PORT; a host not of this machine too', async () => {
    const a = await startOpsServer({ port: 0, host: '127.0.0.1', metrics: new Metrics({ defaultMetrics: false }), ready: () => ({ ready: true, checks: {} }) });
    const port = Number(new URL(a.url).port);
    try {
      const e = await startOpsServer({ port, host: '127.0.0.1', metrics: new Metrics({ defaultMetrics: false }), ready: () => ({ ready: true, checks: {} }) }).catch((x) => x);
      expect(e).toBeInstanceOf(FlowmasterError);
      expect(e.code).toBe('ERR_METRICS_PORT');
      expect(e.message).toMatch(/in use/);
      const f = await startOpsServer({ port: 0, host: '192.0.2.1', metrics: new Metrics({ defaultMetrics: false }), ready: () => ({ ready: true, checks: {} }) }).catch((x) => x);
      expect(f.code).toBe('ERR_METRICS_PORT');
      expect(f.message).toMatch(/not an address of this host/);
    } finally {
      await a.close();
    }
  });

  it('HEAD, keep-alive scrapers do not hold close()', async () => {
    const s = await startOpsServer({ port: 0, host: '127.0.0.1', metrics: new Metrics({ defaultMetrics: false }), ready: () => ({ ready: true, checks: {} }) });
    const agent = new http.Agent({ keepAlive: true });
    const head = await new Promise<http.IncomingMessage>((resolve) => http.request(`${s.url}/metrics`, { method: 'HEAD', agent }, resolve).end());
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    head.resume();
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    agent.destroy();
  });
});

describe('structured logger', () => {
  it('json: one object per line, time first, bigints and errors serializable', () => {
    const lines: string[] = [];
    const log = createLogger('json', (l) => lines.push(l)).log;
    log({ level: 'warn', event: 'retry', attempt: 2, big: 5n, error: Object.assign(new Error('busy'), { code: 'ERR_DB_BUSY' }) });
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    const e = JSON.parse(lines[0]);
    expect(Object.keys(e).slice(0, 3)).toEqual(['time', 'level', 'event']);
    expect(e).toMatchObject({ level: 'warn', event: 'retry', attempt: 2, big: '5', error: { message: 'busy', code: 'ERR_DB_BUSY' } });
  });

  it('text: the message as is; warnings without one as key=value; other events only in JSON', () => {
    const lines: string[] = [];
    const log = createLogger('text', (l) => lines.push(l)).log;
    log({ level: 'info', event: 'start', msg: 'capture: lo; stop with Ctrl-C' });
    log({ level: 'warn', event: 'commit_retry', attempt: 2, db: '/var/lib/flows db.sqlite' });
    log({ level: 'info', event: 'file_done', path: 'x.pcap' });
    expect(lines).toEqual(['capture: lo; stop with Ctrl-C\n', 'flowmaster: warn: commit_retry attempt=2 db="/var/lib/flows db.sqlite"\n']);
  });

  it('a field that cannot be serialized drops the line, never throws', () => {
    const lines: string[] = [];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => createLogger('json', (l) => lines.push(l)).log({ level: 'info', event: 'x', cyclic })).not.toThrow();
    expect(lines).toEqual([]);
  });
});


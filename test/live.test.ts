// Live capture (native engine): loopback exchanges with exact counters, a
// generated capture replayed with tcpreplay through a veth pair between two
// network namespaces, threads, stop(), errors, store ingest. Needs root (or
// CAP_NET_RAW + CAP_NET_ADMIN), iproute2 and tcpreplay: CI installs them;
// elsewhere the tests that need what is missing skip and say why.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, openStore, type CaptureRun, type FlowObject } from '../src/index';
import { nativeAvailable } from '../src/engine/native';
import { tmpFile } from './helpers/capture';
import { skipping } from './helpers/skip';

const genPcap = () => import('../scripts/gen-pcap.mjs');
const root = path.resolve(__dirname, '..');

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const isRoot = process.getuid?.() === 0;
const captureWhyNot = !nativeAvailable()
  ? 'the native addon is not built'
  : process.platform !== 'linux'
    ? 'live capture tests run on Linux'
    : !isRoot
      ? 'capturing needs root (or CAP_NET_RAW + CAP_NET_ADMIN); run the tests as root'
      : undefined;
/** Whether this machine lets us make network namespaces (not in every container). */
function netnsWorks(): boolean {
  const probe = `fmprobe${process.pid}`;
  const ok = spawnSync('ip', ['netns', 'add', probe]).status === 0;
  if (ok) spawnSync('ip', ['netns', 'del', probe]);
  return ok;
}
const replayWhyNot =
  captureWhyNot ??
  (!has('ip') ? 'iproute2 (ip) is missing'
    : !has('tcpreplay') ? 'tcpreplay is missing (apt-get install tcpreplay)'
      : !netnsWorks() ? '`ip netns add` is not permitted here'
        : undefined);
if (captureWhyNot) console.warn(`live capture tests skipped: ${captureWhyNot}`);
else if (replayWhyNot) console.warn(`veth/tcpreplay tests skipped: ${replayWhyNot}`);

/** Iterates a capture into objects until it ends. */
function collect(run: CaptureRun): Promise<FlowObject[]> {
  return (async () => {
    const out: FlowObject[] = [];
    for await (const b of run) for (const f of b) out.push(f.toObject());
    return out;
  })();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `n` datagrams from one socket to a listening one on 127.0.0.1:port; resolves once sendmsg has returned for all. */
async function sendUdp(port: number, n: number): Promise<{ sent: number; close: () => void }> {
  const server = dgram.createSocket('udp4'); // listening: no ICMP port unreachable
  await new Promise<void>((r) => server.bind(port, '127.0.0.1', r));
  const client = dgram.createSocket('udp4');
  for (let i = 0; i < n; i++) await new Promise((r) => client.send(Buffer.alloc(32, i), port, '127.0.0.1', r));
  return { sent: n, close: () => (client.close(), server.close()) };
}

describe.skipIf(!!captureWhyNot)('live capture on loopback', () => {
  it('gives the exact flows of UDP and TCP exchanges (packets and payload bytes per direction)', async () => {
    const udpPort = 41000 + (process.pid % 1000);
    const tcpPort = udpPort + 1000;
    const meter = new FlowMeter({ engine: 'native', accounting: 'payload', idleTimeout: 60 });
    const run = meter.capture({ interface: 'lo', filter: `udp port ${udpPort} or tcp port ${tcpPort}`, timeoutMs: 20 });
    const flows = collect(run);

    // UDP: 5 requests of 100 bytes, each answered with 50 bytes
    const server = dgram.createSocket('udp4');
    server.on('message', (_m, r) => server.send(Buffer.alloc(50, 1), r.port, r.address));
    await new Promise<void>((r) => server.bind(udpPort, '127.0.0.1', r));
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    let answers = 0;
    const answered = new Promise<void>((r) => client.on('message', () => ++answers === 5 && r()));
    for (let i = 0; i < 5; i++) client.send(Buffer.alloc(100, 2), udpPort, '127.0.0.1');
    await answered;

    // TCP: 1000 bytes up, 3000 bytes down, both sides close
    const tcpServer = net.createServer((s) => {
      let got = 0;
      s.on('data', (d) => {
        got += d.length;
        if (got === 1000) s.end(Buffer.alloc(3000, 3));
      });
    });
    await new Promise<void>((r) => tcpServer.listen(tcpPort, '127.0.0.1', r));
    const clientPort = await new Promise<number>((resolve, reject) => {
      const c = net.connect(tcpPort, '127.0.0.1', () => c.write(Buffer.alloc(1000, 4)));
      let down = 0;
      c.on('data', (d) => (down += d.length));
      c.on('end', () => {
        expect(down).toBe(3000);
        const port = c.localPort!;
        c.end(() => resolve(port));
      });
      c.on('error', reject);
    });
    await sleep(200);

    const open = await run.activeFlows();
    expect(open.length).toBe(2);
    expect([...open].every((f) => f.endReason === 'open')).toBe(true);

    const summary = await run.stop();
    await run.stop(); // a second stop is fine and gives the same summary
    const got = await flows;
    server.close();
    client.close();
    tcpServer.close();

    expect(got).toHaveLength(2);
    const udp = got.find((f) => f.protocol === 17)!;
    expect(udp).toMatchObject({ src: '127.0.0.1', dst: '127.0.0.1', dstPort: udpPort, fwdPackets: 5, fwdBytes: 500, revPackets: 5, revBytes: 250, endReason: 'flush' });
    const tcp = got.find((f) => f.protocol === 6)!;
    expect(tcp).toMatchObject({ srcPort: clientPort, dstPort: tcpPort, fwdBytes: 1000, revBytes: 3000 });
    expect(tcp.fwdTcpFlags & 0x03).toBe(0x03); // SYN and FIN from the client
    expect(tcp.revTcpFlags & 0x13).toBe(0x13); // SYN, FIN, ACK from the server
    expect(summary.packets).toBe(10 + tcp.fwdPackets + tcp.revPackets);
    expect(summary.capture).toMatchObject({ kernelDropped: 0, flowsDropped: 0 });
    expect(summary.capture!.received).toBeGreaterThanOrEqual(summary.packets);
    await expect(run.activeFlows()).rejects.toMatchObject({ code: 'ERR_STOPPED' });
  }, 30_000);

  it('activeFlows() right after start, and several at once, are all answered', async () => {
    const run = new FlowMeter({ engine: 'native' }).capture({ interface: 'lo', filter: 'udp port 9', threads: 2, timeoutMs: 20 });
    const early = run.activeFlows(); // before the threads have started
    const [a, b, c] = await Promise.all([early, run.activeFlows(), run.activeFlows()]);
    expect([a.length, b.length, c.length]).toEqual([0, 0, 0]);
    await run.stop();
  }, 10_000);

  it('expires idle flows on a quiet link (the tick advances expiry without packets)', async () => {
    const port = 43000 + (process.pid % 1000);
    const run = new FlowMeter({ engine: 'native', idleTimeout: 1 }).capture({ interface: 'lo', filter: `udp port ${port}`, timeoutMs: 50 });
    const seen: { reason: string; at: number }[] = [];
    const done = (async () => {
      for await (const b of run) for (const f of b) seen.push({ reason: f.endReason, at: Date.now() });
    })();
    const s = dgram.createSocket('udp4');
    const sent = Date.now();
    s.send(Buffer.alloc(10), port, '127.0.0.1');
    await sleep(2500); // nothing else crosses the filter
    expect(seen).toHaveLength(1);
    expect(seen[0].reason).toBe('idle');
    expect(seen[0].at - sent).toBeLessThan(2000);
    const summary = await run.stop();
    await done;
    expect(summary.flowsByReason).toMatchObject({ idle: 1, flush: 0 });
    s.close();
  }, 15_000);

  it('stop({ flush: false }) leaves active flows undelivered and counts them', async () => {
    const port = 44000 + (process.pid % 1000);
    const run = new FlowMeter({ engine: 'native' }).capture({ interface: 'lo', filter: `udp port ${port}`, timeoutMs: 20 });
    const flows = collect(run);
    const s = dgram.createSocket('udp4');
    s.send(Buffer.alloc(10), port, '127.0.0.1');
    await sleep(300);
    const summary = await run.stop({ flush: false });
    expect(await flows).toHaveLength(0);
    expect(summary.unflushed).toBe(1);
    s.close();
  }, 15_000);

  // libpcap on Linux (TPACKET_V3) hands a ring block to user space only when it
  // is full or its timeout (timeoutMs, 100 by default) expires: stop() must
  // still read what the socket had received before it.
  it('stop() right after sending counts every packet the kernel already holds', async () => {
    const port = 49000 + (process.pid % 1000);
    const run = new FlowMeter({ engine: 'native' }).capture({ interface: 'lo', filter: `udp port ${port}` });
    const flows = collect(run);
    const { sent, close } = await sendUdp(port, 20);
    const summary = await run.stop();
    const got = await flows;
    close();
    // the kernel queues each datagram twice on loopback (out and in); libpcap skips the outgoing copy
    expect(summary.capture!.received).toBeGreaterThanOrEqual(2 * sent);
    expect(summary.packets).toBe(sent);
    expect(got.map((f) => [f.dstPort, f.fwdPackets, f.revPackets])).toEqual([[port, sent, 0]]);
  }, 15_000);

  it('the CLI, interrupted right after sending, counts every packet the kernel already holds', async () => {
    const port = 50000 + (process.pid % 1000);
    const child = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'capture', '-i', 'lo', '-f', `udp port ${port}`], { cwd: root });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    for (let i = 0; i < 200 && !err.includes('stop with Ctrl-C'); i++) await sleep(25);
    expect(err).toContain('stop with Ctrl-C');
    const { sent, close } = await sendUdp(port, 20);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    close();
    expect(err).toMatch(new RegExp(`^lo: ${sent} packets, `, 'm'));
    const flows = out.trim().split('\n').map((l) => JSON.parse(l) as FlowObject);
    expect(flows.map((f) => [f.dstPort, f.fwdPackets, f.revPackets])).toEqual([[port, sent, 0]]);
  }, 15_000);

  it('ingests a capture into the store, committing trickling flows within maxDelayMs', async () => {
    const port = 45000 + (process.pid % 1000);
    const store = openStore(':memory:', { batch: { maxDelayMs: 300 } });
    const run = new FlowMeter({ engine: 'native', idleTimeout: 0.2 }).capture({ interface: 'lo', filter: `udp port ${port}`, timeoutMs: 20 });
    const ingest = store.ingest(run);
    const s = dgram.createSocket('udp4');
    s.send(Buffer.alloc(10), port, '127.0.0.1');
    let rows = 0;
    for (let i = 0; i < 40 && rows === 0; i++) {
      await sleep(50);
      rows = (store.db.prepare('SELECT count(*) n FROM flows').get() as { n: number }).n;
    }
    expect(rows).toBe(1); // committed while the capture still runs
    await run.stop();
    const r = await ingest;
    expect(r.flows).toBe(1);
    expect(store.db.prepare('SELECT kind, name, packets FROM sources').get()).toEqual({ kind: 'interface', name: 'lo', packets: 1 });
    const m = await store.metrics.metrics();
    expect(m.flowmaster_capture_received_packets_total).toBeGreaterThanOrEqual(1);
    store.close();
    s.close();
  }, 15_000);

  it('without privileges fails with ERR_PERMISSION naming the capabilities', (ctx) => {
    if (skipping(!has('setpriv') && 'setpriv (util-linux) is missing', 'capture without privileges')) return ctx.skip();
    const script = `let m; try { m = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))}); } catch { console.log('NOACCESS'); process.exit(0); }
      try { new m.FlowMeter({ engine: 'native' }).capture({ interface: 'lo' }); console.log('opened'); } catch (e) { console.log(e.code, e.message); }`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script]);
    const out = r.stdout.toString();
    if (skipping(out.startsWith('NOACCESS') && 'user nobody cannot read this checkout', 'capture without privileges')) return ctx.skip();
    expect(out).toMatch(/^ERR_PERMISSION no permission to capture on lo .*CAP_NET_RAW.*setcap/);
  });

  it('an interface removed while capturing ends the capture with ERR_NO_INTERFACE', async (ctx) => {
    if (skipping(!has('ip') && 'iproute2 (ip) is missing', 'interface removed while capturing')) return ctx.skip();
    const name = `fmg${process.pid % 100000}`;
    execFileSync('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    try {
      execFileSync('ip', ['link', 'set', name, 'up']);
      execFileSync('ip', ['link', 'set', `${name}p`, 'up']);
      const run = new FlowMeter({ engine: 'native' }).capture({ interface: name, timeoutMs: 20 });
      setTimeout(() => spawnSync('ip', ['link', 'del', name]), 200);
      await expect(collect(run)).rejects.toMatchObject({ code: 'ERR_NO_INTERFACE' });
      expect((await run.summary).error).toMatchObject({ code: 'ERR_NO_INTERFACE' });
    } finally {
      spawnSync('ip', ['link', 'del', name]);
    }
  }, 15_000);

  it('fails with documented codes: missing interface, bad filter, bad options, ts engine', () => {
    const meter = new FlowMeter({ engine: 'native' });
    expect(() => meter.capture({ interface: 'nosuchif0' })).toThrow(expect.objectContaining({ code: 'ERR_NO_INTERFACE' }));
    expect(() => meter.capture({ interface: 'lo', filter: 'port and' })).toThrow(expect.objectContaining({ code: 'ERR_BPF' }));
    expect(() => meter.capture({ interface: 'lo', threads: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => meter.capture({ interface: [] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => new FlowMeter({ engine: 'ts' }).capture({ interface: 'lo' })).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED' }));
  });
});

/** Two namespaces joined by a veth pair; removed again in afterAll, also after a failure. */
const tag = `fm${process.pid % 100000}`;
const nsReplay = `${tag}r`;
const nsCapture = `${tag}c`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const inNs = (ns: string, ...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'pipe' });

/** Captures in the capture namespace (a child process) while tcpreplay plays `file` into the veth. */
async function replayAndCapture(file: string, threads: number, alsoLoopback = false): Promise<{ flows: FlowObject[]; summary: Record<string, unknown> }> {
  const script = `
    const { FlowMeter } = require('./dist/index.js');
    const run = new FlowMeter({ engine: 'native', idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false })
      .capture({ interface: ${alsoLoopback ? "['veth0', 'lo']" : "'veth0'"}, threads: ${threads}, bufferSize: 64 << 20 });
    if (${alsoLoopback}) require('node:dgram').createSocket('udp4').send(Buffer.alloc(7), 9999, '127.0.0.1', (e, n, s) => {});
    const flows = [];
    const done = (async () => { for await (const b of run) for (const f of b) flows.push(f.toObject()); })();
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => {
      const summary = await run.stop();
      await done;
      const json = JSON.stringify({ flows, summary }, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
      process.stdout.write(json + '\\n', () => process.exit(0)); // stdin would keep the process alive
    });`;
  const child = spawn('ip', ['netns', 'exec', nsCapture, process.execPath, '-e', script], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) await sleep(25);
  expect(out).toContain('ready');
  inNs(nsReplay, 'tcpreplay', '-q', '-i', 'veth1', '--pps=20000', file);
  await sleep(300);
  child.stdin.write('stop\n');
  await new Promise((r) => child.on('exit', r));
  return JSON.parse(out.slice(out.indexOf('\n') + 1));
}

const counters = (flows: FlowObject[]) =>
  flows.map((f) => `${f.src}:${f.srcPort}>${f.dst}:${f.dstPort}/${f.protocol} ${f.fwdPackets}/${f.fwdBytes} ${f.revPackets}/${f.revBytes}`).sort();

describe.skipIf(!!replayWhyNot)('live capture of a tcpreplay through a veth pair', () => {
  let file = '';
  beforeAll(async () => {
    ip('netns', 'add', nsReplay);
    ip('netns', 'add', nsCapture);
    ip('link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`);
    ip('link', 'set', `${tag}a`, 'netns', nsReplay);
    ip('link', 'set', `${tag}b`, 'netns', nsCapture);
    for (const [ns, from, to] of [[nsReplay, `${tag}a`, 'veth1'], [nsCapture, `${tag}b`, 'veth0']]) {
      // no IPv6 on the pair: no neighbour discovery or router solicitations in the capture
      inNs(ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6');
      inNs(ns, 'ip', 'link', 'set', from, 'name', to);
      inNs(ns, 'ip', 'link', 'set', to, 'up');
    }
    const { generate } = await genPcap();
    file = tmpFile('replay.pcap');
    await generate({ out: file, packets: 20_000, flows: 500, mix: 'simple', seed: 11, quiet: true });
  });
  afterAll(() => {
    for (const ns of [nsReplay, nsCapture]) spawnSync('ip', ['netns', 'del', ns]);
  });

  it('a down interface fails with ERR_INTERFACE_DOWN', () => {
    // a new namespace's loopback is down
    const script = `try { new (require('./dist/index.js').FlowMeter)({ engine: 'native' }).capture({ interface: 'lo' }); console.log('opened'); }
      catch (e) { console.log(e.code, e.message); }`;
    const out = execFileSync('ip', ['netns', 'exec', nsCapture, process.execPath, '-e', script], { cwd: root }).toString();
    expect(out).toMatch(/^ERR_INTERFACE_DOWN interface lo is down/);
    inNs(nsCapture, 'ip', 'link', 'set', 'lo', 'up');
  });

  it('gives the flows readFile gives for the same capture (timing aside), kernel counters present', async () => {
    const want = [];
    for await (const b of new FlowMeter({ engine: 'native', idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false }).readFile(file))
      for (const f of b) want.push(f.toObject());
    // veth0 and lo at once: the replay on one, a datagram of the capturing process on the other
    const { flows, summary } = await replayAndCapture(file, 1, true);
    // (nothing listens on port 9999: the kernel answers with an ICMP port unreachable, a second loopback flow)
    const lo = flows.filter((f) => f.src === '127.0.0.1');
    expect(lo.find((f) => f.protocol === 17)).toMatchObject({ dst: '127.0.0.1', dstPort: 9999, fwdPackets: 1, revPackets: 0 });
    expect(summary.packets).toBe(20_000 + lo.reduce((n, f) => n + f.fwdPackets + f.revPackets, 0));
    expect(summary.capture).toMatchObject({ kernelDropped: 0, interfaceDropped: 0, flowsDropped: 0 });
    expect(counters(flows.filter((f) => f.src !== '127.0.0.1'))).toEqual(counters(want));
  }, 60_000);

  it('threads: 2 (PACKET_FANOUT) gives the same flows as threads: 1', async () => {
    const one = await replayAndCapture(file, 1);
    const two = await replayAndCapture(file, 2);
    expect(two.summary.packets).toBe(20_000);
    expect(counters(two.flows)).toEqual(counters(one.flows));
    expect(new Set(two.flows.map((f) => f.flowId)).size).toBe(two.flows.length); // ids unique across threads
    // thread i of n numbers its flows i + 1, i + 1 + n, ...: both threads had a share
    expect(new Set(two.flows.map((f) => Number(f.flowId) % 2))).toEqual(new Set([0, 1]));
  }, 60_000);
});

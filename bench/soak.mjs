#!/usr/bin/env node
/**
 * Soak: `flowmaster capture --db` left running under everything an operator
 * does beside it, then an account of every flow. A measurement (bench/soak.sh
 * MINUTES); test/soak.test.ts runs a 60-second version.
 *
 *   - tcpreplay plays a generated capture in a loop into a veth pair whose far
 *     end sits in a network namespace; the capture reads the near end;
 *   - retention (another process's store: this one) drops aged-out
 *     partitions every 30 s;
 *   - a reader pages flows every 0.5 s (read-only, this process);
 *   - a scraper reads /metrics every 5 s and the capture's RSS with it.
 *
 * At the end the replay stops, the flows still open idle out and are
 * committed, the metrics are read once more and the capture is stopped.
 * It checks: the capture never exited; flows stored + flows retention
 * deleted + flows shed = flows the engine emitted (metrics), and equal the
 * rows the store wrote; RSS after warm-up per 5-minute window.
 *
 *   node bench/soak.mjs --minutes 30        (or --seconds 60; --json prints the result as JSON)
 *
 * Needs root, iproute2, tcpreplay and a built package (npm run build).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = arg('seconds', arg('minutes', 30) * 60);
const asJson = args.includes('--json');
const IDLE_S = 2; // flow idle timeout: flows end (and are committed) all through the run
const RETAIN_EVERY_S = Math.min(30, Math.max(10, seconds / 4));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (line) => process.stderr.write(`soak: ${line}\n`);

for (const cmd of ['ip', 'tcpreplay']) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    say(`${cmd} is missing (apt-get install iproute2 tcpreplay)`);
    process.exit(2);
  }
}
if (process.getuid?.() !== 0) {
  say('needs root (network namespaces, capture)');
  process.exit(2);
}

const { openStore } = require(path.join(root, 'dist', 'index.js'));
const cli = path.join(root, 'dist', 'cli', 'main.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-soak-'));
const db = path.join(work, 'soak.db');
const pcap = path.join(root, 'bench', '.data', 'soak-200000.pcap');
if (!fs.existsSync(pcap)) {
  fs.mkdirSync(path.dirname(pcap), { recursive: true });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'gen-pcap.mjs'), '--out', pcap, '--packets', '200000', '--flows', '4000', '--hosts', '400',
    '--sizes', 'imix', '--mix', 'simple', '--seed', '7', '--quiet']);
}

// the veth pair: veth0 here (captured), its peer in a namespace (replayed into)
const tag = `fms${process.pid % 100000}`;
const ns = `${tag}r`;
const ip = (...a) => execFileSync('ip', a, { stdio: 'pipe' });
const cleanup = () => {
  spawnSync('ip', ['netns', 'del', ns]);
  spawnSync('ip', ['link', 'del', `${tag}a`]);
};
cleanup();
ip('netns', 'add', ns);
ip('link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`);
ip('link', 'set', `${tag}b`, 'netns', ns);
ip('netns', 'exec', ns, 'ip', 'link', 'set', `${tag}b`, 'up');
fs.writeFileSync(`/proc/sys/net/ipv6/conf/${tag}a/disable_ipv6`, '1'); // no router solicitations in the count
ip('link', 'set', `${tag}a`, 'up');

const metricsPort = 20000 + (process.pid % 20000);
const capture = spawn(process.execPath, [cli, 'capture', '-i', `${tag}a`, '--db', db, '--partition-span', '1m', '--idle-timeout', String(IDLE_S),
  '--active-timeout', '60', '--buffer-size', String(64 << 20), '--metrics-port', String(metricsPort)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
let captureOut = '';
let captureErr = '';
let captureExit;
capture.stdout.on('data', (d) => (captureOut += d));
capture.stderr.on('data', (d) => (captureErr += d));
const exited = new Promise((r) => capture.on('exit', (code, signal) => r((captureExit = { code, signal }))));
const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

async function scrape() {
  const text = await (await fetch(metricsUrl)).text();
  const m = new Map();
  for (const line of text.split('\n')) {
    const x = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([-+0-9.eEaNInf]+)$/.exec(line);
    if (x) m.set(x[1] + (x[2] ?? ''), Number(x[3]));
  }
  return m;
}
/** The sum of a metric over its labels (those matching `filter`). */
function total(m, name, filter = () => true) {
  let n = 0;
  for (const [k, v] of m) if ((k === name || k.startsWith(`${name}{`)) && filter(k)) n += v;
  return n;
}

for (let i = 0; ; i++) {
  if (captureExit || i > 200) throw new Error(`the capture did not start: ${captureErr}`);
  try {
    await scrape();
    break;
  } catch {
    await sleep(100);
  }
}
say(`capturing ${tag}a into ${db} for ${seconds} s (metrics on ${metricsUrl})`);
const replay = spawn('ip', ['netns', 'exec', ns, 'tcpreplay', '-q', '--loop=0', '--pps=20000', '-i', `${tag}b`, pcap], { stdio: 'ignore' });

const t0 = Date.now();
let retained = 0;
let retentionRuns = 0;
let pages = 0;
let scrapes = 0;
const rss = []; // [s since start, bytes]
const failures = [];
const readRss = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${capture.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

const reader = (async () => {
  let cursor;
  while (!captureExit && Date.now() - t0 < seconds * 1000) {
    try {
      const store = openStore(db, { readonly: true });
      try {
        const page = store.flows.page({ sort: 'last', order: 'desc', limit: 100, cursor });
        cursor = page.next ?? undefined;
        pages++;
      } finally {
        store.close();
      }
    } catch (e) {
      if (e.code !== 'ERR_BAD_CURSOR') failures.push(`reader: ${e.code ?? ''} ${e.message}`);
      cursor = undefined;
    }
    await sleep(500);
  }
})();
const FLOW_AGE = seconds < 600 ? '10s' : '90s'; // partitions span a minute: a short run needs a short age to drop any
async function retainOnce() {
  try {
    const store = openStore(db, { create: false });
    try {
      const r = await store.retain({ flows: FLOW_AGE, devices: '1h' });
      retained += r.flowsDeleted;
      retentionRuns++;
    } finally {
      store.close();
    }
  } catch (e) {
    failures.push(`retention: ${e.code ?? ''} ${e.message}`);
  }
}
const retention = (async () => {
  while (!captureExit && Date.now() - t0 < seconds * 1000) {
    await sleep(RETAIN_EVERY_S * 1000);
    await retainOnce();
  }
})();
const scraper = (async () => {
  while (!captureExit && Date.now() - t0 < seconds * 1000) {
    try {
      await scrape();
      scrapes++;
      rss.push([(Date.now() - t0) / 1000, readRss()]);
    } catch (e) {
      failures.push(`scrape: ${e.message}`);
    }
    await sleep(5000);
  }
})();
await Promise.all([reader, retention, scraper]);

// the end: stop the traffic, let every flow idle out and be committed, account for them
replay.kill('SIGINT');
await new Promise((r) => replay.on('exit', r));
await sleep((IDLE_S + 3) * 1000);
// one more retention pass once the first minute's partition has aged out (a short run's first drop)
await sleep(Math.max(0, 80_000 - (Date.now() - t0)));
if (!captureExit) await retainOnce();
let final;
if (!captureExit) final = await scrape();
capture.kill('SIGINT');
await exited;
cleanup();

const stored = (() => {
  const store = openStore(db, { readonly: true });
  try {
    return Number(store.db.prepare('SELECT count(*) FROM flows').pluck().get());
  } finally {
    store.close();
  }
})();
const emitted = final ? total(final, 'flowmaster_flows_total') : NaN;
const shed = final ? total(final, 'flowmaster_dropped_flows_total') : NaN;
const written = final ? total(final, 'flowmaster_rows_written_total', (k) => k.includes('table="flows"')) : NaN;
const packets = final ? total(final, 'flowmaster_packets_total') : NaN;
// RSS after the first minute (warm-up), min and max per 5-minute window
const windows = [];
for (const [s, bytes] of rss) {
  if (s < Math.min(60, seconds / 3)) continue;
  const w = Math.floor(s / 300);
  windows[w] ??= { from: w * 5, minMiB: Infinity, maxMiB: 0 };
  windows[w].minMiB = Math.min(windows[w].minMiB, bytes / 2 ** 20);
  windows[w].maxMiB = Math.max(windows[w].maxMiB, bytes / 2 ** 20);
}
const result = {
  seconds,
  captureExit,
  exitedEarly: captureExit !== undefined && !final,
  packets,
  emitted,
  stored,
  retained,
  shed,
  written,
  lost: emitted - stored - retained - shed,
  retentionRuns,
  pages,
  scrapes,
  rssMiB: windows.filter(Boolean).map((w) => ({ fromMinute: w.from, min: Math.round(w.minMiB), max: Math.round(w.maxMiB) })),
  failures,
};
result.ok = !result.exitedEarly && captureExit?.code === 0 && result.lost === 0 && written === stored + retained && failures.length === 0 && emitted > 0;
fs.rmSync(work, { recursive: true, force: true });
if (asJson) {
  process.stdout.write(JSON.stringify(result) + '\n');
} else {
  console.log(`soak ${seconds} s: capture exit ${JSON.stringify(captureExit)}; ${packets} packets, ${emitted} flows emitted = ${stored} stored + ${retained} deleted by retention (${retentionRuns} runs) + ${shed} shed; lost ${result.lost}`);
  console.log(`rows written ${written}; ${pages} pages read, ${scrapes} scrapes; failures: ${failures.length ? failures.join('; ') : 'none'}`);
  for (const w of result.rssMiB) console.log(`  RSS minutes ${w.fromMinute}-${w.fromMinute + 5}: ${w.min}-${w.max} MiB`);
  console.log(result.ok ? 'ok' : 'FAILED');
  if (!result.ok) console.log(captureErr.split('\n').slice(-20).join('\n'));
}
process.exitCode = result.ok ? 0 : 1;

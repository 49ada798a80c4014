#!/usr/bin/env node
// zeek-baselines: Zeek's own conn.log for the corpus captures that come from
// Zeek's repository, as small JSON fixtures test/zeek-conn.test.ts checks
// flowmaster's history and conn_state (and packet / IP byte counts) against.
//
//   node scripts/zeek-baselines.mjs ZEEK_GIT_DIR [--corpus DIR] [--out DIR]
//   node scripts/zeek-baselines.mjs ZEEK_GIT_DIR --wide DIR
//
// ZEEK_GIT_DIR is a clone or bare mirror of github.com/zeek/zeek, read with
// `git show <commit>:<path>` at the commit the corpus was taken from
// (SOURCES.md). For each capture `zeek__*.pcap*` there, the trace's btests
// are the scripts under testing/btest that name it (`$TRACES/<trace>`); a
// test's baseline directory is testing/btest/Baseline/<test path with dots>
// (-2, -3 ... for its @TEST-START-NEXT parts). The first baseline conn.log
// (or zeek-cut conn.log.cut) with the most of history, conn_state, orig_pkts
// and orig_ip_bytes wins, unless PREFER names another; runs that filter
// packets (SKIP_ARGS) are left out.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const FIELDS = ['ts', 'orig_h', 'orig_p', 'resp_h', 'resp_p', 'vlan', 'inner_vlan', 'proto', 'conn_state', 'history', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'orig_bytes', 'resp_bytes'];
const NUMERIC = new Set(['ts', 'orig_p', 'resp_p', 'vlan', 'inner_vlan', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'orig_bytes', 'resp_bytes']);
// Zeek column -> fixture field
const COLUMN = { 'id.orig_h': 'orig_h', 'id.orig_p': 'orig_p', 'id.resp_h': 'resp_h', 'id.resp_p': 'resp_p', 'id.ctx.vlan': 'vlan', 'id.ctx.inner_vlan': 'inner_vlan' };
// Baselines to take instead of the best-ranked one: flowmaster keys flows by
// VLAN, as Zeek does with frameworks/conn_key/vlan_fivetuple (the test's 2nd
// part); core.skip_analyzer decodes gre-sample through a skip analyzer.
const PREFER = {
  'vlan-collisions.pcap': 'scripts.policy.frameworks.conn_key.vlan_fivetuple-2',
  'gre-sample.pcap': 'core.tunnels.gre',
};
// Runs that read only part of the trace.
const SKIP_ARGS = /restricted_filter|-f\s/;

function git(dir, ...args) {
  return execFileSync('git', ['--git-dir', dir, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
}

function tryGit(dir, ...args) {
  try {
    return git(dir, ...args);
  } catch {
    return null;
  }
}

/** capture file name -> { trace (under testing/btest/Traces), commit } from SOURCES.md */
export function zeekCaptures(corpus) {
  const out = [];
  const re = /^\| (zeek__[^ |]+) \| zeek\/zeek : `testing\/btest\/Traces\/([^`]+)` @ ([0-9a-f]+) \|/;
  for (const line of fs.readFileSync(path.join(corpus, 'SOURCES.md'), 'utf8').split('\n')) {
    const m = re.exec(line);
    if (m && fs.existsSync(path.join(corpus, m[1]))) out.push({ capture: m[1], trace: m[2], commit: m[3] });
  }
  return out;
}

/** A Zeek ASCII log (#fields header) or a zeek-cut -m table (a header row), as objects. */
export function parseZeekLog(text) {
  let names = null;
  const rows = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('###')) continue;
    if (line.startsWith('#')) {
      if (line.startsWith('#fields\t')) names = line.split('\t').slice(1);
      continue;
    }
    const cells = line.split('\t');
    if (!names) {
      names = cells;
      continue;
    }
    const row = {};
    names.forEach((n, i) => {
      const name = COLUMN[n] ?? n;
      if (!FIELDS.includes(name) || name === '') return;
      const v = cells[i];
      if (v === undefined || v === '-' || /^X+\.X+$/.test(v)) row[name] = null;
      else if (v === '(empty)') row[name] = '';
      else row[name] = NUMERIC.has(name) ? Number(v) : v;
    });
    rows.push(row);
  }
  return { names: (names ?? []).map((n) => COLUMN[n] ?? n), rows };
}

function btestsFor(dir, commit, trace) {
  const hits = tryGit(dir, 'grep', '-n', '-F', `/${trace}`, commit, '--', 'testing/btest/', ':!testing/btest/Baseline*', ':!testing/btest/Traces') ?? '';
  const tests = new Map();
  for (const line of hits.split('\n')) {
    const m = /^[0-9a-f]+:(testing\/btest\/[^:]+):\d+:(.*)$/.exec(line);
    if (!m || !m[2].includes('@TEST-EXEC')) continue;
    if (SKIP_ARGS.test(m[2]) || !new RegExp(`/${trace.replace(/[.]/g, '\\.')}( |$)`).test(m[2])) continue;
    tests.set(m[1], m[2].trim());
  }
  return [...tests].map(([file, exec]) => ({ file, exec, name: file.replace(/^testing\/btest\//, '').replace(/\.[^./]+$/, '').replaceAll('/', '.') }));
}

function baselineFor(dir, commit, trace) {
  const candidates = [];
  for (const t of btestsFor(dir, commit, trace)) {
    for (let part = 1; part <= 9; part++) {
      const base = `testing/btest/Baseline/${t.name}${part === 1 ? '' : `-${part}`}`;
      for (const file of ['conn.log', 'conn.log.cut']) {
        const text = tryGit(dir, 'show', `${commit}:${base}/${file}`);
        if (text === null) continue;
        const log = parseZeekLog(text);
        const rank = ['history', 'conn_state', 'orig_pkts', 'orig_ip_bytes'].filter((f) => log.names.includes(f)).length;
        if (rank === 0) continue;
        candidates.push({ btest: t.file, exec: t.exec, baseline: `${base}/${file}`, log, rank });
      }
    }
  }
  const preferred = PREFER[path.basename(trace)];
  candidates.sort((a, b) => b.rank - a.rank);
  return candidates.find((c) => preferred && c.baseline.includes(`/${preferred}/`)) ?? candidates[0] ?? null;
}

export function extract(zeekDir, corpus, outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const { capture, trace, commit: short } of zeekCaptures(corpus)) {
    const commit = git(zeekDir, 'rev-parse', short).trim();
    const b = baselineFor(zeekDir, commit, trace);
    if (!b) {
      console.error(`${capture}: no conn.log baseline with history, conn_state or counts among the btests of ${trace}`);
      continue;
    }
    const fixture = {
      capture,
      trace: `testing/btest/Traces/${trace}`,
      zeek_commit: commit,
      btest: b.btest,
      command: b.exec.replace(/^#\s*/, ''),
      baseline: b.baseline,
      license: 'BSD-3-Clause (Zeek, COPYING: The Regents of the University of California, ICSI)',
      fields: FIELDS.filter((f) => b.log.names.includes(f)),
      connections: b.log.rows,
    };
    const file = path.join(outDir, `${capture}.json`);
    fs.writeFileSync(file, JSON.stringify(fixture, null, 1) + '\n');
    written.push(file);
    console.error(`${capture}: ${b.log.rows.length} connections from ${b.baseline}`);
  }
  return written;
}

// --wide: beyond the corpus, every btest that reads one trace with a plain
// `zeek [-b] [-C] -r $TRACES/...` (no redefs, no filters, no
// @TEST-START-NEXT) and keeps a full conn.log: the trace and its
// connections into DIR (outside the repository: the traces are not ours to
// ship), for `FLOWMASTER_ZEEK_WIDE=DIR npx vitest run test/zeek-conn.test.ts`.
export function extractWide(zeekDir, outDir, commit = 'HEAD') {
  fs.mkdirSync(outDir, { recursive: true });
  const files = git(zeekDir, 'ls-tree', '-r', '--name-only', commit, 'testing/btest/').split('\n');
  const tests = new Map();
  for (const f of files) {
    if (f.startsWith('testing/btest/Baseline') || f.startsWith('testing/btest/Traces') || !/\.(zeek|test)$/.test(f)) continue;
    tests.set(f.replace(/^testing\/btest\//, '').replace(/\.[^./]+$/, '').replaceAll('/', '.'), f);
  }
  let n = 0;
  for (const baseline of files.filter((f) => /^testing\/btest\/Baseline\/[^/]+\/conn\.log$/.test(f))) {
    const name = baseline.split('/')[3];
    const test = tests.get(name);
    if (!test) continue;
    const src = git(zeekDir, 'show', `${commit}:${test}`);
    if (src.includes('@TEST-START-NEXT')) continue;
    const runs = src.split('\n').filter((l) => l.includes('@TEST-EXEC') && /\bzeek\b/.test(l) && / -\w*r /.test(l));
    const m = runs.length === 1 ? /-\w*r \$\{?TRACES\}?\/(\S+)/.exec(runs[0]) : null;
    if (!m || /=|redef|\s-f\s/.test(runs[0].replace(/^.*?zeek/, ''))) continue;
    const log = parseZeekLog(git(zeekDir, 'show', `${commit}:${baseline}`));
    if (!log.names.includes('history') || !log.names.includes('conn_state')) continue;
    let trace;
    try {
      trace = execFileSync('git', ['--git-dir', zeekDir, 'show', `${commit}:testing/btest/Traces/${m[1]}`], { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue; // not in this mirror
    }
    if (trace.length < 24 || trace.subarray(0, 64).toString('latin1').includes('git-lfs')) continue;
    fs.writeFileSync(path.join(outDir, `${name}.trace`), trace);
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify({ capture: `${name}.trace`, btest: test, command: runs[0].replace(/^#\s*/, ''), baseline, connections: log.rows }) + '\n');
    n++;
  }
  console.error(`${n} traces with conn.log baselines written to ${outDir}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const [, v] = args.splice(i, 2);
    return v;
  };
  const corpus = opt('--corpus', path.resolve(here, '..', '..', 'shared', 'pcaps'));
  const out = opt('--out', path.resolve(here, '..', 'test', 'fixtures', 'zeek-conn'));
  const wide = opt('--wide', null);
  if (args.length !== 1) {
    console.error('usage: node scripts/zeek-baselines.mjs ZEEK_GIT_DIR [--corpus DIR] [--out DIR] | ZEEK_GIT_DIR --wide DIR');
    process.exit(2);
  }
  if (wide) extractWide(args[0], wide);
  else extract(args[0], corpus, out);
}

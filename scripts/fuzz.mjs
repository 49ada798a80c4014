#!/usr/bin/env node
// npm run fuzz [-- LIBFUZZER_ARGS...]: builds the libFuzzer harnesses (clang;
// build-cmake-fuzz/), writes the seed corpora (scripts/fuzz-seeds.mjs), then runs
// every harness with the given libFuzzer arguments, all at once (one process each).
// Without a -max_total_time / -runs argument each runs $FLOWMASTER_FUZZ_SECONDS
// (default 60) seconds.
//
//   npm run fuzz -- -max_total_time=60
//   npm run fuzz -- -runs=0            # just replay the corpora and the regression seeds
//   FUZZ_ONLY=fuzz_decode npm run fuzz
//
// Corpus per harness: build-cmake-fuzz/corpus-<kind>/ (grows across runs), plus
// native/fuzz/crashes/<harness>/ (committed regression inputs, read only).
// Crashes land in build-cmake-fuzz/artifacts/ (copy them to native/fuzz/crashes/<harness>/).
// Prints one line per harness: executions, cov, ft, corpus size, and exits non-zero
// when a harness failed (crash, sanitizer report, leak, timeout).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from './cmake-build.mjs';
import { writeSeeds } from './fuzz-seeds.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const HARNESSES = [
  { name: 'fuzz_decode', corpus: 'corpus-decode', extra: ['-max_len=65600'] },
  { name: 'fuzz_capture', corpus: 'corpus-capture', extra: ['-max_len=300000', '-timeout=30'] },
  { name: 'fuzz_app', corpus: 'corpus-app', extra: ['-max_len=65600'] },
];

const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:', 'WARNING: ThreadSanitizer', 'ERROR: libFuzzer', 'invariant violated', '==ERROR'];

/** Parses libFuzzer's output: the last "#N DONE cov: X ft: Y corp: C/..." line, else the last status line. */
export function parseLibFuzzer(output) {
  const lines = output.split('\n');
  let done;
  let last;
  for (const l of lines) {
    const m = /^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)\//.exec(l);
    if (!m) continue;
    const r = { executions: Number(m[1]), event: m[2], cov: Number(m[3]), ft: Number(m[4]), corpus: Number(m[5]) };
    last = r;
    if (m[2] === 'DONE') done = r;
  }
  const execs = /stat::number_of_executed_units:\s*(\d+)/.exec(output);
  const rate = /stat::average_exec_per_sec:\s*(\d+)/.exec(output);
  const r = done ?? last ?? { executions: 0, event: 'none', cov: 0, ft: 0, corpus: 0 };
  return {
    ...r,
    done: done !== undefined,
    executions: execs ? Number(execs[1]) : r.executions,
    execPerSec: rate ? Number(rate[1]) : undefined,
    markers: SANITIZER_MARKERS.filter((m) => output.includes(m)),
    artifact: /Test unit written to (\S+)/.exec(output)?.[1],
  };
}

/** Runs one harness; resolves to { name, code, output, ...parseLibFuzzer(output) }. */
export function runHarness(h, args, { fuzzDir = path.join(root, 'build-cmake-fuzz'), log, priority } = {}) {
  const exe = path.join(fuzzDir, h.name);
  const corpus = path.join(fuzzDir, h.corpus);
  const regress = path.join(root, 'native', 'fuzz', 'crashes', h.name);
  const artifacts = path.join(fuzzDir, 'artifacts');
  fs.mkdirSync(artifacts, { recursive: true });
  fs.mkdirSync(corpus, { recursive: true });
  const timed = args.some((a) => /^-(max_total_time|runs)=/.test(a));
  const seconds = Number(process.env.FLOWMASTER_FUZZ_SECONDS ?? 60);
  const argv = [
    ...h.extra,
    '-print_final_stats=1',
    `-artifact_prefix=${artifacts}/${h.name}-`,
    ...(timed ? [] : [`-max_total_time=${seconds}`]),
    ...args,
    corpus,
    ...(fs.existsSync(regress) ? [regress] : []),
  ];
  return new Promise((resolve) => {
    const env = { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1' };
    const child = spawn(exe, argv, { cwd: fuzzDir, env });
    if (priority !== undefined && child.pid) {
      try {
        os.setPriority(child.pid, priority);
      } catch {
        // keep the default priority
      }
    }
    let output = '';
    const onData = (d) => {
      output += d;
      if (log) log(d.toString());
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code, signal) => resolve({ name: h.name, argv, code: code ?? signal, output, ...parseLibFuzzer(output) }));
  });
}

export function summaryLine(r) {
  return (
    `${r.name}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`} — ${r.executions} executions` +
    (r.execPerSec !== undefined ? ` (${r.execPerSec}/s)` : '') +
    `, cov: ${r.cov} ft: ${r.ft}, corpus ${r.corpus}` +
    (r.markers.length ? `, reports: ${r.markers.join(', ')}` : '') +
    (r.artifact ? `, crashing input: ${r.artifact}` : '')
  );
}

// what the live log shows of libFuzzer's output (the whole of it goes to build-cmake-fuzz/<harness>.log)
const INTERESTING = /^(INFO: (Seed|Loaded|-max_len|A corpus)|#\d+\s+(INITED|DONE)|Done |==\d+==|SUMMARY|ERROR|WARNING|.*(runtime error|Sanitizer|invariant violated|Test unit written|fuzz_decode:|fuzz_capture:|fuzz_app:))/;

async function main() {
  const args = process.argv.slice(2);
  const only = process.env.FUZZ_ONLY ? process.env.FUZZ_ONLY.split(',') : undefined;
  build('fuzz');
  writeSeeds();
  const hs = HARNESSES.filter((h) => !only || only.includes(h.name));
  const results = await Promise.all(
    hs.map((h) =>
      runHarness(h, args, {
        log: (s) => {
          for (const line of s.split('\n')) if (INTERESTING.test(line)) process.stderr.write(`[${h.name}] ${line}\n`);
        },
      }),
    ),
  );
  console.log('');
  for (const r of results) {
    const log = path.join(root, 'build-cmake-fuzz', `${r.name}.log`);
    fs.writeFileSync(log, r.output);
    console.log(`${summaryLine(r)} (log: ${path.relative(process.cwd(), log)})`);
  }
  process.exit(results.every((r) => r.code === 0) ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}

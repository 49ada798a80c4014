/**
 * Hardening of the native core, one entry point for CI (docs/robustness.md):
 *  1. builds the CMake variants with cmake-js and clang (cached in build-cmake-fuzz/,
 *     build-cmake-tsan/, build-cmake-asan/: reruns only relink what changed);
 *  2. runs each libFuzzer harness (native/fuzz/fuzz_decode.cc, fuzz_capture.cc, fuzz_app.cc) for
 *     FLOWMASTER_FUZZ_SECONDS (default 60 on CI, 20 elsewhere) on its seed corpus
 *     (scripts/fuzz-seeds.mjs) and the regression inputs in native/fuzz/crashes/,
 *     with a fixed libFuzzer seed (FLOWMASTER_FUZZ_SEED, default 1): a test run
 *     replays a known mutation sequence, so a red run reproduces and main does not
 *     turn red at random; exploring new sequences is `npm run fuzz` (random seeds);
 *  3. runs the flow-table stress program (native/fuzz/stress_table.cc: 4 writer
 *     threads vs one, 2M packets) under TSan, and under ASan+UBSan;
 *  4. runs the native-heavy vitest files in a child vitest whose node has the
 *     ASan runtime preloaded and loads the ASan+UBSan addon (FLOWMASTER_ADDON).
 * Every step must exit 0 with no sanitizer report in its output; the fuzzers'
 * executions and coverage are printed (and written to build-cmake-fuzz/hardening.json).
 * Skipped, with a warning, where clang, its sanitizer runtimes or cmake are missing
 * (apt-get install clang libclang-rt-14-dev cmake llvm libssl-dev).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const FUZZ_SECONDS = Number(process.env.FLOWMASTER_FUZZ_SECONDS ?? (process.env.CI ? 60 : 20));
const FUZZ_SEED = Number(process.env.FLOWMASTER_FUZZ_SEED ?? 1);
const STRESS_PACKETS = Number(process.env.FLOWMASTER_STRESS_PACKETS ?? 2_000_000);
/** The native-heavy test files run against the ASan+UBSan addon. */
const SANITIZED_FILES = [
  'test/equivalence.test.ts',
  'test/differential.test.ts',
  'test/conformance.test.ts',
  'test/errors.test.ts',
  'test/rules.test.ts',
  'test/layout.test.ts',
  'test/community-id.test.ts',
  'test/services.test.ts',
  'test/app-rules.test.ts',
  'test/applications.test.ts',
];
const REPORTS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:', 'WARNING: ThreadSanitizer', 'ERROR: libFuzzer', 'invariant violated'];

function tool(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** What is missing for these checks ('' when nothing). */
function missing(): string {
  const why: string[] = [];
  if (process.platform !== 'linux' || process.arch !== 'x64') return `linux x64 only (this is ${process.platform} ${process.arch})`;
  if (!tool('cmake', ['--version'])) why.push('cmake');
  if (!tool('clang', ['--version'])) why.push('clang');
  else {
    for (const rt of ['libclang_rt.fuzzer-x86_64.a', 'libclang_rt.asan-x86_64.so', 'libclang_rt.tsan-x86_64.a']) {
      const f = tool('clang', [`-print-file-name=${rt}`]);
      if (!f || !path.isAbsolute(f) || !fs.existsSync(f)) why.push(`${rt} (libclang-rt-14-dev)`);
    }
  }
  if (!fs.existsSync(path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'))) why.push('cmake-js (npm install)');
  if (!fs.existsSync('/usr/include/pcap/pcap.h')) why.push('libpcap-dev');
  if (!fs.existsSync('/usr/include/openssl/evp.h')) why.push('libssl-dev (libcrypto for the fuzzers and stress_table)');
  return why.join(', ');
}

interface Run {
  code: number | string;
  output: string;
  seconds: number;
}

/** Runs a command at low priority (the rest of the suite keeps the CPU first); output captured. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = root): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      if (child.pid) os.setPriority(child.pid, 10);
    } catch {
      // not allowed: run at normal priority
    }
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', output, seconds: (performance.now() - t0) / 1000 }));
  });
}

function reportsIn(output: string): string[] {
  return REPORTS.filter((r) => output.includes(r));
}

/** The lines around the first sanitizer report (or the tail), for the failure message. */
function excerpt(output: string): string {
  const lines = output.split('\n');
  const at = lines.findIndex((l) => REPORTS.some((r) => l.includes(r)));
  return (at >= 0 ? lines.slice(Math.max(0, at - 5), at + 60) : lines.slice(-60)).join('\n');
}

const why = missing();
if (why) {
  console.warn(`hardening checks skipped: missing ${why}`);
  describe('hardening of the native core', () => {
    it.skip(`needs ${why}`, () => undefined);
  });
} else {
  describe('hardening of the native core', () => {
    const summary: Record<string, unknown> = { fuzzSeconds: FUZZ_SECONDS };
    const t0 = performance.now();

    it('builds the fuzz, TSan and ASan variants (cmake-js, clang)', async () => {
      for (const [variant, target] of [['fuzz'], ['tsan', 'stress_table'], ['asan']] as [string, string?][]) {
        const r = await run(process.execPath, [path.join(root, 'scripts', 'cmake-build.mjs'), variant, ...(target ? ['--target', target] : [])]);
        console.log(`build ${variant}${target ? ` (${target})` : ''}: ${r.seconds.toFixed(1)} s`);
        expect(r.code, `cmake-js build of ${variant}:\n${r.output.slice(-6000)}`).toBe(0);
      }
      for (const f of ['build-cmake-fuzz/fuzz_decode', 'build-cmake-fuzz/fuzz_capture', 'build-cmake-fuzz/fuzz_app', 'build-cmake-tsan/stress_table', 'build-cmake-asan/stress_table', 'build-cmake-asan/Release/flowmaster.node'])
        expect(fs.existsSync(path.join(root, f)), f).toBe(true);
    }, 900_000);

    it(`fuzzes every harness for ${FUZZ_SECONDS} s (seed ${FUZZ_SEED}): no crash, no sanitizer report`, async () => {
      // @ts-expect-error plain ESM helper without type declarations
      const seeds = await import('../scripts/fuzz-seeds.mjs');
      // @ts-expect-error plain ESM helper without type declarations
      const fuzz = await import('../scripts/fuzz.mjs');
      const s = seeds.writeSeeds({ quiet: true });
      console.log(`fuzz seeds: ${s.sharedCaptures} shared + ${s.generatedCaptures} generated captures; corpus-capture ${s.captureCorpus} files, corpus-decode ${s.decodeCorpus} files, corpus-app ${s.appCorpus} files`);
      const results: Record<string, unknown> = {};
      const failures: string[] = [];
      // one harness at a time: one core for the fuzzer, the other for the rest of the suite
      for (const h of fuzz.HARNESSES) {
        const r = await fuzz.runHarness(h, [`-max_total_time=${FUZZ_SECONDS}`, `-seed=${FUZZ_SEED}`], { priority: 10 });
        fs.writeFileSync(path.join(root, 'build-cmake-fuzz', `${h.name}.log`), r.output);
        console.log(fuzz.summaryLine(r));
        results[h.name] = { executions: r.executions, execPerSec: r.execPerSec, cov: r.cov, ft: r.ft, corpus: r.corpus, exit: r.code };
        if (r.code !== 0 || !r.done || reportsIn(r.output).length)
          failures.push(`${h.name} (exit ${r.code}${r.artifact ? `, crashing input ${r.artifact}` : ''}):\n${excerpt(r.output)}`);
        else expect(r.executions).toBeGreaterThan(0);
      }
      summary.fuzz = results;
      expect(failures, failures.join('\n\n')).toEqual([]);
    }, (FUZZ_SECONDS * 3 + 300) * 1000);

    /** Runs a stress_table build; it must exit 0 with no sanitizer report. */
    async function stress(variant: 'tsan' | 'asan', args: string[], env: NodeJS.ProcessEnv = process.env) {
      const r = await run(path.join(root, `build-cmake-${variant}`, 'stress_table'), ['--threads', '4', ...args], env);
      console.log(`${variant === 'tsan' ? 'TSan' : 'ASan'} ${r.output.trim().split('\n').filter((l) => l.startsWith('stress_table:')).join(' ')} (${r.seconds.toFixed(1)} s)`);
      summary[`${variant}Stress`] = { exit: r.code, seconds: r.seconds };
      expect(reportsIn(r.output), excerpt(r.output)).toEqual([]);
      expect(r.code, excerpt(r.output)).toBe(0);
    }

    it(`TSan: ${STRESS_PACKETS} packets over 4 writer threads give the single-threaded records`, async () => {
      await stress('tsan', ['--packets', String(STRESS_PACKETS)], { ...process.env, TSAN_OPTIONS: 'second_deadlock_stack=1' });
    }, 900_000);

    it('ASan+UBSan: the same stress program', async () => {
      await stress('asan', ['--packets', String(Math.ceil(STRESS_PACKETS / 2)), '--seed', '2']);
    }, 900_000);

    it('ASan+UBSan addon: the native-heavy test files pass with no sanitizer report', async () => {
      const runtime = tool('clang', ['-print-file-name=libclang_rt.asan-x86_64.so'])!;
      const addon = path.join(root, 'build-cmake-asan', 'Release', 'flowmaster.node');
      const files = SANITIZED_FILES.filter((f) => fs.existsSync(path.join(root, f)));
      const env = {
        ...process.env,
        LD_PRELOAD: runtime,
        // node itself is not instrumented and keeps memory until exit: no leak check
        ASAN_OPTIONS: 'detect_leaks=0',
        UBSAN_OPTIONS: 'print_stacktrace=1',
        FLOWMASTER_ADDON: addon,
        NO_COLOR: '1',
      };
      const r = await run(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'test/setup/sanitize.config.mts', ...files], env);
      const tally = r.output
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n').filter((l) => /^\s*(Test Files|Tests)\s/.test(l)).map((l) => l.trim()).join('; ');
      console.log(`sanitized vitest (${files.length} files, ASan+UBSan addon): ${tally} (${r.seconds.toFixed(1)} s)`);
      summary.sanitizedVitest = { exit: r.code, seconds: r.seconds, tally };
      expect(reportsIn(r.output), excerpt(r.output)).toEqual([]);
      expect(r.code, r.output.slice(-8000)).toBe(0);
      expect(tally).toMatch(/passed/);
      // the run really loaded the sanitized build
      const probe = spawnSync(process.execPath, ['-e', "require('./dist/engine/native.js').loadNative(); console.log(require('fs').readFileSync('/proc/self/maps', 'utf8').includes(process.env.FLOWMASTER_ADDON))"], {
        cwd: root,
        env,
        encoding: 'utf8',
      });
      if (fs.existsSync(path.join(root, 'dist', 'engine', 'native.js'))) expect(probe.stdout.trim(), probe.stderr).toBe('true');
    }, 900_000);

    it('summary', () => {
      summary.wallSeconds = Math.round((performance.now() - t0) / 100) / 10;
      fs.writeFileSync(path.join(root, 'build-cmake-fuzz', 'hardening.json'), `${JSON.stringify(summary, null, 2)}\n`);
      console.log(`hardening: ${JSON.stringify(summary)}`);
    });
  });
}

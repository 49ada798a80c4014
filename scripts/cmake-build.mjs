#!/usr/bin/env node
// Builds a CMake variant of the native code with cmake-js (CMakeLists.txt at the
// repo root; the default build of the addon stays node-gyp):
//
//   node scripts/cmake-build.mjs [release|asan|tsan|fuzz] [--target NAME]
//
//   release  build-cmake/Release/flowmaster.node          same flags as binding.gyp
//   asan     build-cmake-asan/Release/flowmaster.node     ASan+UBSan (clang), + stress_table
//   tsan     build-cmake-tsan/stress_table                TSan (clang), + the addon
//   fuzz     build-cmake-fuzz/fuzz_decode, fuzz_capture   libFuzzer + ASan + UBSan (clang)
//
// Reruns are incremental (cmake-js configures once per directory). Node's own
// headers are used when they sit beside the node binary (<prefix>/include/node),
// so nothing is downloaded. Exits non-zero when the build fails.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const VARIANTS = {
  release: { dir: 'build-cmake', defs: [], clang: false },
  asan: { dir: 'build-cmake-asan', defs: ['FLOWMASTER_SANITIZE=address'], clang: true },
  tsan: { dir: 'build-cmake-tsan', defs: ['FLOWMASTER_SANITIZE=thread'], clang: true },
  fuzz: { dir: 'build-cmake-fuzz', defs: ['FLOWMASTER_FUZZ=ON'], clang: true },
};

/** Builds `variant` (optionally one target); returns the build directory. Throws on failure. */
export function build(variant, { target, stdio = 'inherit', parallel = 2 } = {}) {
  const v = VARIANTS[variant];
  if (!v) throw new Error(`unknown variant ${variant} (one of ${Object.keys(VARIANTS).join(', ')})`);
  const env = { ...process.env };
  const nodeInclude = path.resolve(process.execPath, '..', '..', 'include', 'node');
  if (!env.npm_config_nodedir && fs.existsSync(path.join(nodeInclude, 'node.h'))) {
    env.npm_config_nodedir = path.resolve(nodeInclude, '..', '..');
  }
  const args = [
    require_cmake_js(),
    'build',
    '--directory', root,
    '--out', path.join(root, v.dir),
    '--parallel', String(parallel),
    '--log-level', 'warn',
    ...v.defs.map((d) => `--CD${d}`),
  ];
  if (v.clang) args.push('--cc', 'clang', '--cxx', 'clang++');
  if (target) args.push('--target', target);
  const r = spawnSync(process.execPath, args, { cwd: root, env, stdio, encoding: 'utf8' });
  if (r.status !== 0) {
    const out = stdio === 'inherit' ? '' : `\n${r.stdout ?? ''}${r.stderr ?? ''}`;
    throw new Error(`cmake-js build of ${variant}${target ? ` (${target})` : ''} failed with ${r.status ?? r.signal}${out}`);
  }
  return path.join(root, v.dir);
}

function require_cmake_js() {
  const p = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  if (!fs.existsSync(p)) throw new Error('cmake-js is not installed (npm install)');
  return p;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const t = argv.indexOf('--target');
  const variant = argv.find((a, i) => !a.startsWith('--') && !(t >= 0 && i === t + 1)) ?? 'release';
  try {
    const dir = build(variant, { target: t >= 0 ? argv[t + 1] : undefined });
    console.log(`built ${variant} in ${path.relative(process.cwd(), dir) || '.'}`);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

#!/usr/bin/env node
// Builds the addon's prebuilt binaries into prebuilds/<platform>-<arch>/, the
// layout node-gyp-build loads at run time (src/engine/native.ts), so that
// `npm install flowmaster` needs no compiler:
//
//   node scripts/prebuild.mjs [--arch x64,arm64] [--require-all]
//
// One Node-API build per platform/arch serves every Node version. Each arch is
// built by prebuildify in its own staging copy (build-prebuild/<arch>/), so
// the development build in build/ is never replaced by a foreign-arch binary.
// arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu; an arch whose
// compiler is missing is skipped with a note (an error with --require-all,
// as for a release). `npm pack` runs this (prepack).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** How each arch is built on a Linux x64 or arm64 host. */
const TARGETS = {
  x64: { triple: 'x86_64-linux-gnu' },
  arm64: { triple: 'aarch64-linux-gnu' },
};

function parseArgs(argv) {
  const opts = { archs: Object.keys(TARGETS), requireAll: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--arch') opts.archs = argv[++i].split(',');
    else if (argv[i] === '--require-all') opts.requireAll = true;
    else throw new Error(`prebuild: unknown argument ${argv[i]}`);
  }
  for (const a of opts.archs) if (!TARGETS[a]) throw new Error(`prebuild: unknown arch ${a} (one of ${Object.keys(TARGETS).join(', ')})`);
  return opts;
}

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** The compilers for `arch`: the host's own, or the cross toolchain (undefined when not installed). */
function toolchain(arch) {
  if (arch === os.arch()) return { env: {}, strip: 'strip' };
  const t = TARGETS[arch].triple;
  if (!which(`${t}-g++`)) return undefined;
  return { env: { CC: `${t}-gcc`, CXX: `${t}-g++`, LINK: `${t}-g++`, AR: `${t}-ar` }, strip: `${t}-strip` };
}

/** A copy of what node-gyp needs, so each arch builds apart from build/. */
function stage(arch) {
  const dir = path.join(root, 'build-prebuild', arch);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['binding.gyp', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true, filter: (src) => !src.includes(`${path.sep}fuzz`) });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function build(arch, tools) {
  const dir = stage(arch);
  const env = { ...process.env, ...tools.env, JOBS: String(os.availableParallelism()) };
  const nodeDir = path.resolve(process.execPath, '..', '..');
  if (!env.npm_config_nodedir && fs.existsSync(path.join(nodeDir, 'include', 'node', 'node.h'))) env.npm_config_nodedir = nodeDir;
  const bin = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
  const args = [bin, '--napi', '--strip', '--strip-bin', tools.strip, '--tag-libc', '--arch', arch, '--cwd', dir, '--out', root];
  const t0 = performance.now();
  // stdout too goes to stderr: `npm pack --json` (which runs this) prints its JSON on stdout
  const r = spawnSync(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`prebuild: prebuildify for ${arch} failed (exit ${r.status})`);
  fs.rmSync(dir, { recursive: true, force: true });
  return (performance.now() - t0) / 1000;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux') throw new Error('prebuild: the addon builds on Linux only');
  for (const arch of opts.archs) {
    const tools = toolchain(arch);
    if (!tools) {
      const msg = `no ${TARGETS[arch].triple}-g++ for the ${arch} prebuild (Debian: apt-get install g++-${TARGETS[arch].triple.replace(/_/g, '-')})`;
      if (opts.requireAll) throw new Error(`prebuild: ${msg}`);
      process.stderr.write(`prebuild: skipped ${arch}: ${msg}\n`);
      continue;
    }
    const seconds = build(arch, tools);
    const out = path.join(root, 'prebuilds', `linux-${arch}`);
    for (const f of fs.readdirSync(out)) process.stderr.write(`prebuild: ${path.join('prebuilds', `linux-${arch}`, f)} ${fs.statSync(path.join(out, f)).size} bytes (${seconds.toFixed(1)} s)\n`);
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}

/**
 * The package as users get it: `npm pack` (which builds the prebuilt binaries),
 * the tarball installed into an empty project with every compiler hidden, on
 * this Node and on the official Node 22 and 24 builds; then the CLI (native
 * engine, and the TypeScript engine with a filter), README's library snippets
 * in CommonJS and ESM, and its types in a strict consumer. better-sqlite3, a
 * dependency, downloads its own prebuilt binary from GitHub, which this
 * sandbox cannot reach: the test serves the same file from a local directory
 * (helpers/package.ts), built from source once per Node ABI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonError } from './helpers/addon';
import { betterSqliteMirror, currentNode, installTarball, noCompilerEnv, officialNode, packOnce, readmeBlocks, root, type NodeBuild } from './helpers/package';

/** What a published tarball may hold: nothing for tests, fuzzing, benchmarks or builds, no source maps. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^binding\.gyp$/, /^scripts\/native-missing\.mjs$/, /^dist\/.+\.(js|d\.ts)$/, /^dist\/serve\/dashboard\/public\/.+\.(html|css|js)$/, /^native\/(app\/)?[a-z_0-9]+\.(cc|h)$/, /^prebuilds\/linux-(x64|arm64)\/flowmaster\.glibc\.node$/];
const MAX_TARBALL_BYTES = 1_500_000;

function tarList(tgz: string): string[] {
  return execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
}

/** The highest GLIBC_x.y and whether any GLIBCXX version a shared object needs (readelf reads any arch). */
function versionNeeds(file: string): { glibc: string; glibcxx: boolean; needed: string[] } {
  const v = execFileSync('readelf', ['-V', '-d', file], { encoding: 'utf8' });
  const glibc = [...v.matchAll(/Name: GLIBC_(\d+\.\d+(?:\.\d+)?)/g)].map((m) => m[1]).sort((a, b) => cmpVersion(a, b)).pop() ?? '';
  return { glibc, glibcxx: /GLIBCXX_/.test(v), needed: [...v.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]) };
}

function cmpVersion(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** A consumer project: the tarball installed by `node` with no compiler, and a sample capture in it. */
function consumer(tgz: string, node: NodeBuild): { dir: string; seconds: number; env: NodeJS.ProcessEnv; run: (args: string[]) => { status: number | null; stdout: string; stderr: string } } {
  const env = noCompilerEnv(node, betterSqliteMirror(node));
  const { dir, seconds } = installTarball(tgz, node, env);
  execFileSync(process.execPath, [path.join(root, 'scripts', 'gen-pcap.mjs'), '--out', path.join(dir, 'sample.pcap'), '--packets', '20000', '--flows', '400', '--seed', '7', '--apps'], { stdio: 'ignore' });
  const run = (args: string[]) => spawnSync(node.bin, args, { cwd: dir, env, encoding: 'utf8' });
  return { dir, seconds, env, run };
}

/** The CLI and README's snippets in an installed consumer. */
function checkConsumer(c: ReturnType<typeof consumer>): void {
  const bin = path.join('node_modules', '.bin', 'flowmaster');
  const native = c.run([bin, 'read', '--engine', 'native', '--format', 'jsonl', 'sample.pcap']);
  expect(native.status, native.stderr).toBe(0);
  expect(native.stdout.trim().split('\n').length).toBeGreaterThan(300);
  const filtered = (engine: string) => c.run([bin, 'read', '--engine', engine, '--filter', 'tcp port 443', '--format', 'jsonl', 'sample.pcap']);
  const ts = filtered('ts');
  expect(ts.status, ts.stderr).toBe(0);
  const flows = ts.stdout.trim().split('\n');
  expect(flows.length).toBeGreaterThan(10);
  for (const line of flows) expect(JSON.parse(line).dstPort === 443 || JSON.parse(line).srcPort === 443).toBe(true);
  const withLibpcap = filtered('native');
  expect(withLibpcap.status, withLibpcap.stderr).toBe(0);
  expect(ts.stdout).toBe(withLibpcap.stdout); // the TypeScript filter compiler and libpcap pick the same packets
  for (const [lang, ext] of [['js', 'cjs'], ['mjs', 'mjs']]) {
    const blocks = readmeBlocks(lang);
    expect(blocks.length, `README has a ${lang} block`).toBeGreaterThan(0);
    blocks.forEach((code, i) => {
      fs.rmSync(path.join(c.dir, 'flows.db'), { force: true });
      const file = path.join(c.dir, `readme-${i}.${ext}`);
      fs.writeFileSync(file, code);
      const r = c.run([file]);
      expect(r.status, `README ${lang} block ${i}:\n${code}\n${r.stderr}`).toBe(0);
      expect(r.stderr, `README ${lang} block ${i} warns`).not.toMatch(/Warning|Error/);
      expect(r.stdout.length).toBeGreaterThan(0);
    });
  }
}

describe.skipIf(addonError)('the packed package', () => {
  let tgz: string;
  beforeAll(() => {
    tgz = packOnce();
  }, 300_000);

  it('holds the code, types, prebuilt binaries, LICENSE and README, and nothing else', () => {
    const files = tarList(tgz);
    const stray = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
    expect(stray).toEqual([]);
    for (const f of ['LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'binding.gyp', 'native/addon.cc', 'prebuilds/linux-x64/flowmaster.glibc.node'])
      expect(files, f).toContain(f);
    const size = fs.statSync(tgz).size;
    console.log(`tarball ${path.basename(tgz)}: ${size} bytes, ${files.length} files`);
    expect(size).toBeLessThan(MAX_TARBALL_BYTES);
  });

  it('prebuilt binaries link no libpcap and no libstdc++, and need glibc 2.34 at most', () => {
    const dir = path.join(root, 'prebuilds');
    for (const arch of fs.readdirSync(dir)) {
      const needs = versionNeeds(path.join(dir, arch, 'flowmaster.glibc.node'));
      console.log(`${arch}: needs ${needs.needed.join(' ')}; glibc ${needs.glibc}`);
      expect(needs.needed.filter((n) => /pcap|stdc\+\+/.test(n))).toEqual([]);
      expect(needs.glibcxx).toBe(false);
      expect(cmpVersion(needs.glibc, '2.34')).toBeLessThanOrEqual(0);
    }
  });

  it(`installs on node ${process.versions.node} with no compiler, in seconds, and runs natively`, () => {
    const c = consumer(tgz, currentNode());
    console.log(`install with no compiler, node ${process.versions.node}: ${c.seconds.toFixed(1)} s`);
    expect(fs.existsSync(path.join(c.dir, 'node_modules', 'flowmaster', 'build'))).toBe(false); // nothing compiled
    checkConsumer(c);
  }, 300_000);

  it('the shipped types compile in a strict consumer with skipLibCheck false', () => {
    const c = consumer(tgz, currentNode());
    // @types/node comes with @types/better-sqlite3, a dependency (store.db is better-sqlite3's Database)
    expect(fs.existsSync(path.join(c.dir, 'node_modules', '@types', 'node', 'package.json'))).toBe(true);
    const compilerOptions = { module: 'nodenext', target: 'es2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] };
    fs.writeFileSync(path.join(c.dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['readme.mts', 'use.cts'] }));
    fs.writeFileSync(path.join(c.dir, 'readme.mts'), readmeBlocks('mjs')[0]);
    fs.writeFileSync(
      path.join(c.dir, 'use.cts'),
      "import fm = require('flowmaster');\nconst store = fm.openStore(':memory:');\nconst n: number = store.db.prepare('SELECT 1 AS one').pluck().get() as number;\nconst e: fm.FlowmasterError = new fm.FlowmasterError('ERR_BPF', 'x');\nconsole.log(n, e.code);\nstore.close();\n",
    );
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', c.dir], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 300_000);

  for (const major of [22, 24]) {
    it(`installs and runs on the official node ${major} build`, (ctx) => {
      const node = officialNode(major);
      if (typeof node === 'string') {
        console.warn(`node ${major} skipped: ${node}`);
        ctx.skip();
        return;
      }
      const c = consumer(tgz, node);
      console.log(`install with no compiler, node ${major}: ${c.seconds.toFixed(1)} s`);
      checkConsumer(c);
    }, 600_000);
  }

  it('the arm64 prebuilt binary gives the same flows as x64 (official node 22 for arm64 under qemu-user)', (ctx) => {
    const missing = ['qemu-aarch64'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
    if (!fs.existsSync('/usr/aarch64-linux-gnu/lib/libstdc++.so.6')) missing.push('arm64 libraries in /usr/aarch64-linux-gnu (g++-aarch64-linux-gnu)');
    if (!fs.existsSync(path.join(root, 'prebuilds', 'linux-arm64'))) missing.push('prebuilds/linux-arm64');
    const arm = missing.length ? undefined : officialNode(22, 'arm64');
    if (missing.length || typeof arm === 'string') {
      console.warn(`arm64 check skipped: needs ${missing.join(', ') || arm}`);
      ctx.skip();
      return;
    }
    const c = consumer(tgz, currentNode());
    const args = [path.join('node_modules', '.bin', 'flowmaster'), 'read', '--engine', 'native', '--format', 'jsonl', 'sample.pcap'];
    const onArm = spawnSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', arm!.bin, ...args], { cwd: c.dir, encoding: 'utf8' });
    expect(onArm.status, onArm.stderr).toBe(0);
    const onX64 = c.run(args);
    expect(onArm.stdout.split('\n').length).toBeGreaterThan(300);
    expect(onArm.stdout).toBe(onX64.stdout);
  }, 300_000);

  it('without a prebuilt binary for the platform and no compiler, it installs and runs on the TypeScript engine', () => {
    const node = currentNode();
    const c = consumer(tgz, node);
    const pkg = path.join(c.dir, 'node_modules', 'flowmaster');
    fs.rmSync(path.join(pkg, 'prebuilds'), { recursive: true });
    const r = spawnSync(node.bin, [path.join(pkg, '..', '.bin', 'node-gyp-build')], { cwd: pkg, env: c.env, encoding: 'utf8' });
    expect(r.status).not.toBe(0); // the build from source fails: no compiler
    const note = spawnSync(node.bin, [path.join(pkg, 'scripts', 'native-missing.mjs')], { cwd: pkg, env: c.env, encoding: 'utf8' });
    expect(note.stderr).toContain('TypeScript engine');
    const out = c.run(['-e', "const { FlowMeter } = require('flowmaster'); (async () => { const m = new FlowMeter({ filter: 'udp' }); let n = 0; for await (const b of m.readFile('sample.pcap')) n += b.length; console.log(m.engine, n > 0); })();"]);
    expect(out.stdout.trim()).toBe('ts true');
    expect(out.stderr).toContain('npm rebuild flowmaster --build-from-source');
  }, 300_000);
});

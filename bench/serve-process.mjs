// `flowmaster serve` (the built dist/) in a child process on a free port, for
// bench/serve.mjs and bench/dashboard.mjs: resolves with its base URL (no
// trailing slash) once it prints it.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function startServer(db, extra = []) {
  const proc = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'serve', '--db', db, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/\S+?\/ /.exec(out);
      if (m) resolve({ proc, url: m[0].trim().replace(/\/$/, '') });
    });
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

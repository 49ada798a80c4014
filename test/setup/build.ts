// Compiles src/ to dist/ once before the suite: the CLI and package tests run
// the built JavaScript in child processes, as users do.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

export default function setup(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: path.resolve(__dirname, '..', '..'),
    stdio: 'inherit',
  });
}

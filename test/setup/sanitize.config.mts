// Vitest config for the sanitized runs (test/hardening.test.ts, README "Robustness"):
// the main config without its global setup, so a nested run does not rewrite
// dist/ while the outer suite's CLI tests execute it. Sanitizers make everything
// slower: longer timeouts.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'),
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/hardening.test.ts', '**/node_modules/**'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});

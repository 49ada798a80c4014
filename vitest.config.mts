import { defineConfig } from 'vitest/config';

// Files that measure time, rates or memory run last, one at a time, so two
// workers do not distort what they measure; the rest run two files at once.
const measuring = [
  'test/event-loop.test.ts',
  'test/soak.test.ts',
  'test/live.test.ts',
  'test/ipfix.test.ts',
  'test/overload.test.ts',
  'test/reader-memory.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/setup/build.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'parallel', include: ['test/**/*.test.ts'], exclude: measuring, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'measuring', include: measuring, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});

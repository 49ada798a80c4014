/** The published entry points: require and import both give the typed API. */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

describe('package entry points', () => {
  it('require() and import() expose the same API', () => {
    const names = ['FlowMeter', 'FlowBatch', 'Flow', 'FlowmasterError', 'communityId', 'RECORD_SIZE'];
    const cjs = execFileSync(process.execPath, ['-e', `const m = require('flowmaster'); console.log(JSON.stringify(${JSON.stringify(names)}.map(n => typeof m[n])))`], {
      cwd: root,
      encoding: 'utf8',
    });
    const esm = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import * as m from 'flowmaster'; console.log(JSON.stringify(${JSON.stringify(names)}.map(n => typeof m[n])))`],
      { cwd: root, encoding: 'utf8' },
    );
    expect(JSON.parse(cjs)).toEqual(['function', 'function', 'function', 'function', 'function', 'number']);
    expect(JSON.parse(esm)).toEqual(JSON.parse(cjs));
  });
});

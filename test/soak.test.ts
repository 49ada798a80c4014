/** A 60-second version of bench/soak.mjs: a capture with --db beside retention, a reader and a scraper, every flow accounted for. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonError } from './helpers/addon';
import { notRoot, skipping } from './helpers/skip';

const root = path.resolve(__dirname, '..');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const why = notRoot ?? addonError ?? (!has('tcpreplay') ? 'tcpreplay is missing (apt-get install tcpreplay)' : !has('ip') ? 'iproute2 (ip) is missing' : undefined);

describe.skipIf(skipping(why, 'the 60-second soak'))('soak', () => {
  it('60 s of capture beside retention, a reader and a scraper: no exit, no lost flow', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'bench', 'soak.mjs'), '--seconds', '60', '--json'], { cwd: root, encoding: 'utf8', timeout: 150_000 });
    const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    console.log(JSON.stringify(result));
    expect(result.failures, r.stderr).toEqual([]);
    expect(result.exitedEarly).toBe(false);
    expect(result.captureExit).toEqual({ code: 0, signal: null });
    expect(result.emitted).toBeGreaterThan(1000);
    expect(result.retained).toBeGreaterThan(0);
    expect(result.lost).toBe(0);
    expect(result.written).toBe(result.stored + result.retained);
    expect(result.ok).toBe(true);
  }, 180_000);
});

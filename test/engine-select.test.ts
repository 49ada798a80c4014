/** Engine choice, and the fallback when the addon is missing (simulated with FLOWMASTER_NO_NATIVE=1). */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowMeter } from '../src/index';
import { udp4, writePcap } from './helpers/capture';

const root = path.resolve(__dirname, '..');
const file = writePcap([{ t: 0, data: udp4('10.0.0.1', 1, '10.0.0.2', 2) }]);

function child(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('engine selection', () => {
  it("'auto' takes native when the addon loads; 'ts' takes TypeScript", () => {
    expect(new FlowMeter().engine).toBe('native');
    expect(new FlowMeter({ engine: 'ts' }).engine).toBe('ts');
  });

  it("without the addon 'auto' falls back to ts with one warning and the same flows", () => {
    const code = `const { FlowMeter } = require('./dist/index.js');
      (async () => {
        const m1 = new FlowMeter(); const m2 = new FlowMeter();
        const run = m1.readFile(${JSON.stringify(file)}); let n = 0;
        for await (const b of run) n += b.length;
        console.log(JSON.stringify({ engines: [m1.engine, m2.engine], flows: n, summary: (await run.summary).engine }));
      })();`;
    const r = child(code, { FLOWMASTER_NO_NATIVE: '1' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ engines: ['ts', 'ts'], flows: 1, summary: 'ts' });
    const warnings = r.stderr.split('\n').filter((l) => l.includes('FLOWMASTER_NO_NATIVE'));
    expect(warnings).toHaveLength(1);
    expect(r.stderr).toContain('pure TypeScript engine');
  });

  it("without the addon 'native' fails with ERR_ADDON_MISSING and a remedy; filters need no libpcap", () => {
    const r = child(
      `const { FlowMeter } = require('./dist/index.js');
       for (const o of [{ engine: 'native' }, { engine: 'ts', filter: 'udp' }, { engine: 'ts', filter: 'udp and gateway x' }]) {
         try { new FlowMeter(o); console.log('no error'); } catch (e) { console.log(e.code + ': ' + e.message); }
       }`,
      { FLOWMASTER_NO_NATIVE: '1' },
    );
    const [native, filter, unsupported] = r.stdout.trim().split('\n');
    expect(native).toMatch(/^ERR_ADDON_MISSING: /);
    expect(filter).toBe('no error');
    expect(unsupported).toMatch(/^ERR_BPF: .*"gateway" is not supported by the TypeScript filter compiler/);
  });

  it('the CLI runs on the TypeScript engine when asked', () => {
    const out = execFileSync(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'read', '--engine', 'ts', '--format', 'jsonl', file], { encoding: 'utf8' });
    expect(JSON.parse(out.trim()).srcPort).toBe(1);
  });
});

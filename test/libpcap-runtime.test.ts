/**
 * libpcap is loaded at run time (native/pcap_api.cc): the addon does not link
 * it, reading files works without it, and filters and live capture fail with
 * ERR_LIBPCAP_MISSING naming the package to install. FLOWMASTER_LIBPCAP points
 * the loader at a file that does not exist, as on a machine without libpcap.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../src/engine/native';
import { addonError } from './helpers/addon';
import { udp4, writePcap } from './helpers/capture';

const root = path.resolve(__dirname, '..');

/** Runs `code` (CommonJS, flowmaster required from src via the built dist/) in a child without libpcap. */
function withoutLibpcap(code: string): unknown {
  const r = spawnSync(process.execPath, ['-e', `const fm = require(${JSON.stringify(path.join(root, 'dist'))}); (async () => { ${code} })().then((v) => console.log(JSON.stringify(v)), (e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); });`], {
    env: { ...process.env, FLOWMASTER_LIBPCAP: '/nonexistent/libpcap.so.1' },
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe.skipIf(addonError)('libpcap loaded at run time', () => {
  const capture = writePcap([
    { t: 0, data: udp4('10.0.0.1', 1000, '10.0.0.2', 53) },
    { t: 1, data: udp4('10.0.0.3', 1000, '10.0.0.4', 53) },
  ]);

  it('the addon does not link libpcap', () => {
    const file = require('node-gyp-build').path(root) as string;
    const needed = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
    expect(needed).toContain('(NEEDED)');
    expect(needed).not.toMatch(/libpcap/);
  });

  it('with libpcap present: its version, and filters compile', () => {
    expect(loadNative().pcapVersion()).toMatch(/^libpcap version \d+\.\d+/);
    expect(loadNative().bpfProgram('udp port 53', 1).length).toBeGreaterThan(3);
  });

  it('without libpcap: files are read on the native engine', () => {
    const out = withoutLibpcap(`const m = new fm.FlowMeter({ engine: 'native' }); let n = 0; for await (const b of m.readFile(${JSON.stringify(capture)})) n += b.length; return { engine: m.engine, flows: n };`);
    expect(out).toEqual({ engine: 'native', flows: 2 });
  });

  it('without libpcap: a native filter says which package to install; the TypeScript engine filters anyway', () => {
    const native = withoutLibpcap(`new fm.FlowMeter({ engine: 'native', filter: 'udp port 53' }); return 'constructed';`) as { code: string; message: string };
    expect(native.code).toBe('ERR_LIBPCAP_MISSING');
    expect(native.message).toContain('apt-get install libpcap0.8');
    expect(native.message).toContain('/nonexistent/libpcap.so.1');
    const ts = withoutLibpcap(`const m = new fm.FlowMeter({ engine: 'ts', filter: 'dst host 10.0.0.2' }); let n = 0; for await (const b of m.readFile(${JSON.stringify(capture)})) n += b.length; return n;`);
    expect(ts).toBe(1);
    const auto = withoutLibpcap(`const m = new fm.FlowMeter({ filter: 'dst host 10.0.0.2' }); let n = 0; for await (const b of m.readFile(${JSON.stringify(capture)})) n += b.length; return [m.engine, n];`);
    expect(auto).toEqual(['ts', 1]); // 'auto' takes the engine that can filter
  });

  it('without libpcap: capture fails with ERR_LIBPCAP_MISSING before touching an interface', () => {
    const out = withoutLibpcap(`const run = new fm.FlowMeter({ engine: 'native' }).capture({ interface: 'lo' }); for await (const b of run) void b; return 'captured';`) as { code: string };
    expect(out.code).toBe('ERR_LIBPCAP_MISSING');
  });
});

/**
 * Addresses as text (RFC 5952): IPv4-mapped IPv6 ends in dotted quad, and an
 * IPv6 endpoint with a port is bracketed (`[2001:db8::1]:443`), in the Flow
 * view, the fast text writer and the flows table alike.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TextFormatter } from '../src/export/text';
import { formatIPv6 } from '../src/flow/address';
import { FlowBatch, FlowMeter } from '../src/index';
import { MAC_A, MAC_B, P, tmpFile, writePcap } from './helpers/capture';
import { TEST_ENGINE } from './helpers/read';

const run = promisify(execFile);
const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

const v6 = (src: string, dst: string) =>
  P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x86dd, payload: P.ipv6({ src, dst, next: 6, payload: P.tcp({ sport: 40000, dport: 443, flags: 'S' }) }) });

describe('IPv6 text', () => {
  it('IPv4-mapped addresses end in a dotted quad; others stay hex', () => {
    const mapped = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    expect(formatIPv6(mapped, 0)).toBe('::ffff:1.2.3.4');
    const notMapped = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 1, 2, 3, 4]);
    expect(formatIPv6(notMapped, 0)).toBe('::fffe:102:304');
  });

  it('the Flow view and the JSON/CSV writer agree on a mapped address', async () => {
    const file = writePcap([{ t: 0, data: v6('::ffff:10.0.0.1', '2001:db8::1') }]);
    const r = new FlowMeter({ engine: TEST_ENGINE }).readFile(file);
    const buffers: ArrayBuffer[] = [];
    for await (const b of r) {
      expect(b.at(0).src).toBe('::ffff:10.0.0.1');
      buffers.push(b.buffer);
    }
    for (const format of ['jsonl', 'csv'] as const) {
      expect(new TextFormatter(format).line(new FlowBatch(buffers[0]), 0)).toContain('"::ffff:10.0.0.1"'.slice(format === 'csv' ? 1 : 0, format === 'csv' ? -1 : undefined));
    }
  });

  it('the flows table brackets IPv6 endpoints with ports', async () => {
    const db = tmpFile('v6.db');
    const file = writePcap([{ t: 0, data: v6('2001:db8::10', '2001:db8::1') }]);
    await run(process.execPath, [cli, 'ingest', '--db', db, file]);
    const { stdout } = await run(process.execPath, [cli, 'flows', '--db', db]);
    expect(stdout).toContain('[2001:db8::10]:40000');
    expect(stdout).toContain('[2001:db8::1]:443');
  });
});

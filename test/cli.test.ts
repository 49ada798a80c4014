/** The CLI end to end, in a child process, as a shell user runs it. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { tcp4, udp4, writePcap } from './helpers/capture';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

async function flowmaster(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('flowmaster read', () => {
  let file: string;
  beforeAll(async () => {
    file = writePcap([
      { t: 0, data: tcp4('10.0.0.1', 1000, '10.0.0.2', 80, 'S') },
      { t: 0.1, data: tcp4('10.0.0.2', 80, '10.0.0.1', 1000, 'SA') },
      { t: 0.2, data: udp4('10.0.0.1', 5353, '10.0.0.9', 53, 30) },
    ]);
  });

  it('jsonl by default when not a terminal', async () => {
    const r = await flowmaster('read', file);
    expect(r.code).toBe(0);
    const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(flows.map((f) => [f.protocol, f.src, f.srcPort, f.fwdPackets, f.revPackets])).toEqual(
      expect.arrayContaining([[6, '10.0.0.1', 1000, 1, 1], [17, '10.0.0.1', 5353, 1, 0]]),
    );
  });

  it('csv with a header row of stable column names', async () => {
    const r = await flowmaster('read', '--format', 'csv', file);
    const [header, ...rows] = r.stdout.trim().split('\n');
    expect(header.split(',')).toEqual(expect.arrayContaining(['flow_id', 'src', 'src_port', 'dst', 'dst_port', 'fwd_packets', 'fwd_bytes', 'community_id']));
    expect(rows).toHaveLength(2);
  });

  it('table with --top', async () => {
    const r = await flowmaster('read', '--format', 'table', '--top', '1', file);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^proto\s+src\s+dst/);
    expect(lines).toHaveLength(2);
  });

  it('engine options as flags, summary on stderr', async () => {
    const r = await flowmaster('read', '--no-tcp-termination', '--idle-timeout', '0.05', '--summary', '-f', 'tcp', file);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2); // SYN and SYN/ACK 100 ms apart: two idle-split flows
    expect(r.stderr).toMatch(/3 packets, .* 1 filtered/);
  });

  it('reads a capture from stdin with "-"', async () => {
    const { stdout } = await run('sh', ['-c', `cat "$F" | "$NODE" "$CLI" read --format csv -`], { env: { ...process.env, F: file, NODE: process.execPath, CLI: cli } });
    expect(stdout.trim().split('\n')).toHaveLength(3);
  });

  it('missing file: one line on stderr, exit 1', async () => {
    const r = await flowmaster('read', '/no/such/file.pcap');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('ERR_FILE_NOT_FOUND');
  });

  it('usage errors exit 2', async () => {
    expect((await flowmaster('read', '--idle-timeout', 'soon', file)).code).toBe(2);
    expect((await flowmaster('read', '--format', 'xml', file)).code).toBe(2);
    expect((await flowmaster('read', '-f', 'tcp port nope', file)).code).toBe(2);
    expect((await flowmaster('frobnicate')).code).toBe(2);
    expect((await flowmaster('read')).code).toBe(2);
  });

  it('--help shows examples', async () => {
    const r = await flowmaster('read', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--idle-timeout');
  });
});

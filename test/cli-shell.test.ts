/**
 * The CLI as a shell sees it: closed pipes, usage errors, times on the
 * command line, exact times in JSON. Each in a child process.
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_TIME_MS, time } from '../src/cli/flags';
import { tmpFile, udp4, writePcap } from './helpers/capture';

const genPcap = () => import('../scripts/gen-pcap.mjs');
const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

async function flowmaster(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** `flowmaster ARGS | head -c 100`: flowmaster's own exit status and stderr. */
function intoHead(args: string[]): { status: number; stderr: string } {
  const errFile = tmpFile(`head-${process.pid}-${args[0]}.err`);
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const r = spawnSync('bash', ['-c', `'${process.execPath}' '${cli}' ${quoted} 2>'${errFile}' | head -c 100 >/dev/null; echo \${PIPESTATUS[0]}`], {
    cwd: root,
    encoding: 'utf8',
  });
  return { status: Number(r.stdout.trim()), stderr: fs.readFileSync(errFile, 'utf8') };
}

describe('closed pipes (EPIPE): quiet exit 0, as Unix tools', () => {
  let pcap: string;
  let db: string;
  beforeAll(async () => {
    const { generate } = await genPcap();
    pcap = tmpFile('epipe.pcap');
    await generate({ out: pcap, packets: 60_000, flows: 6_000, hosts: 300, seed: 3, quiet: true });
    db = tmpFile('epipe.db');
    const r = await flowmaster(['ingest', '--db', db, '--engine', 'ts', '--no-progress', pcap]);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  const commands: [string, () => string[]][] = [
    ['read --format jsonl', () => ['read', '--format', 'jsonl', '--engine', 'ts', pcap]],
    ['read --format csv', () => ['read', '--format', 'csv', '--engine', 'ts', pcap]],
    ['read --format table', () => ['read', '--format', 'table', '--engine', 'ts', pcap]],
    ['flows --json', () => ['flows', '--db', db, '--limit', '5000', '--json']],
    ['flows', () => ['flows', '--db', db, '--limit', '5000']],
    ['devices --json', () => ['devices', '--db', db, '--limit', '5000', '--json']],
    ['top conversations', () => ['top', 'conversations', '--db', db, '--limit', '5000']],
    ['--help', () => ['--help']],
    ['read --help', () => ['read', '--help']],
  ];
  for (const [name, args] of commands) {
    it(`${name} | head`, () => {
      const r = intoHead(args());
      expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /); // (stderr may carry the next page's cursor)
      expect(r.status).toBe(0);
    }, 60_000);
  }
});

describe('usage errors: one line, a code, exit 2', () => {
  const cases: [string[], string][] = [
    [['read', '--bogus', 'x.pcap'], 'ERR_USAGE'],
    [['frobnicate'], 'ERR_USAGE'],
    [['flows'], 'ERR_USAGE'], // --db missing
    [['read'], 'ERR_USAGE'], // no files
    [['top', 'everything', '--db', 'x.db'], 'ERR_INVALID_OPTION'],
    [['flows', '--db', 'x.db', '--limit', 'many'], 'ERR_INVALID_OPTION'],
    [['flows', '--db', 'x.db', '--sort', 'colour'], 'ERR_INVALID_OPTION'],
    [['read', '--idle-timeout', '-1', 'x.pcap'], 'ERR_INVALID_OPTION'],
    [['flows', '--db', 'x.db', '--from', '9300000000000'], 'ERR_INVALID_OPTION'], // past 2262: int64 ns end there
    [['flows', '--db', 'x.db', '--to', '2026-13-01'], 'ERR_INVALID_OPTION'],
    [['devices', '--db', 'x.db', '--seen-since', '2026-02-30'], 'ERR_INVALID_OPTION'],
  ];
  for (const [args, code] of cases) {
    it(args.join(' '), async () => {
      const r = await flowmaster(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^flowmaster: .+ \\[${code}\\]$`));
    });
  }
});

describe('times on the command line: strict ISO 8601, UTC unless zoned', () => {
  const utc = (s: string) => Date.parse(s.endsWith('Z') || /[+-]\d\d:\d\d$/.test(s) ? s : `${s}Z`);
  it.each([
    ['1767225601000', 1767225601000],
    ['2026-01-01', utc('2026-01-01T00:00:00Z')],
    ['2026-01-01T00:00:01', utc('2026-01-01T00:00:01Z')],
    ['2026-01-01 00:00:01', utc('2026-01-01T00:00:01Z')],
    ['2026-01-01T00:00', utc('2026-01-01T00:00:00Z')],
    ['2026-01-01T00:00:01.5', utc('2026-01-01T00:00:01.500Z')],
    ['2026-01-01T00:00:01.123456789Z', utc('2026-01-01T00:00:01.123Z')],
    ['2026-01-01T01:00:01+01:00', utc('2026-01-01T00:00:01Z')],
    ['2025-12-31T19:00:01-0500', utc('2026-01-01T00:00:01Z')],
    ['2024-02-29', utc('2024-02-29T00:00:00Z')],
    ['2262-04-11T23:47:16.854Z', MAX_TIME_MS],
  ])('%s', (text, want) => {
    expect(time(text)).toBe(want);
  });

  it.each(['2026-02-30', '2025-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-01T24:00', '2026-01-01T10:60',
    '2026-01-01T10:00:60', '2026-01-01T10:00+25:00', 'yesterday', '2026-1-1', '01/02/2026', 'Jan 1 2026', '', '1e12', '-5',
    '9300000000000', '2262-04-11T23:47:16.855Z', '1969-12-31T23:59:59Z', '2026-01-01T00:00:00 GMT'])('rejects %j', (text) => {
    expect(() => time(text)).toThrow();
  });

  it('the machine time zone does not change a query', async () => {
    const db = tmpFile('tz.db');
    const pcap = writePcap([{ t: 0.5, data: udp4('10.0.0.1', 1000, '10.0.0.2', 53) }, { t: 3, data: udp4('10.0.0.1', 1001, '10.0.0.2', 53) }]);
    expect((await flowmaster(['ingest', '--db', db, '--engine', 'ts', '--no-progress', pcap])).code).toBe(0);
    // the capture's packets are at 2026-01-01T00:00:00.5Z and 00:00:03Z
    const count = async (tz: string) => {
      const r = await flowmaster(['flows', '--db', db, '--from', '2026-01-01T00:00:01', '--json'], { TZ: tz });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { items: unknown[] }).items.length;
    };
    expect(await count('UTC')).toBe(1);
    expect(await count('America/New_York')).toBe(1);
    expect(await count('Asia/Tokyo')).toBe(1);
  });
});

describe('JSON times', () => {
  it('first and last are exact ms, not a double of the ns', async () => {
    // 2026-01-01T00:00:02.002Z: as ns a double rounds it to ...001.9998 ms
    const pcap = writePcap([{ t: 2.002, data: udp4('10.0.0.1', 1000, '10.0.0.2', 53) }, { t: 7.123456, data: udp4('10.0.0.1', 1000, '10.0.0.2', 53) }]);
    const r = await flowmaster(['read', '--format', 'jsonl', '--engine', 'ts', pcap]);
    const f = JSON.parse(r.stdout.trim()) as { first: number; last: number; firstNs: string; lastNs: string };
    expect(f.firstNs).toBe('1767225602002000000');
    expect(f.first).toBe(1767225602002);
    expect(f.last).toBe(1767225607123.456);
  });
});

/**
 * The dissection driver's rules (docs/applications.md "What is read") on both
 * engines: TCP segments joined in sequence order, retransmissions and gaps
 * skipped, the dissectBytes bound, classifiers that need more bytes, strings
 * cut to fit the record, and dissect: false.
 */
import { describe, expect, it } from 'vitest';
import { FlowBatch, FlowMeter, Offsets, RECORD_SIZE, type Flow } from '../src/index';
import type { FlowMeterOptions } from '../src/options';
import { MAC_A, MAC_B, P, writePcap, type Pkt } from './helpers/capture';
import { addonError } from './helpers/addon';
import { skipping } from './helpers/skip';

const C = '10.0.0.1';
const S = '10.0.0.2';

/** TCP segment with payload: client (fwd) or server. */
function seg(t: number, fromClient: boolean, seq: number, payload: string | Buffer, sport = 40000, dport = 8080): Pkt {
  const [src, dst, sp, dp] = fromClient ? [C, S, sport, dport] : [S, C, dport, sport];
  const data = P.ethernet({
    src: MAC_A,
    dst: MAC_B,
    type: 0x0800,
    payload: P.ipv4({ src, dst, proto: 6, payload: P.tcp({ sport: sp, dport: dp, seq, flags: 'PA', payload: Buffer.from(payload) }) }),
  });
  return { t, data };
}

async function flows(pkts: Pkt[], options: FlowMeterOptions = {}): Promise<Flow[]> {
  const run = new FlowMeter({ idleTimeout: Infinity, ...options }).readFile(writePcap(pkts));
  const out: Flow[] = [];
  for await (const b of run) out.push(...b);
  await run.summary;
  return out;
}

const ENGINES = skipping(addonError, 'native engine in the dissection rules') ? ['ts' as const] : ['native' as const, 'ts' as const];

const REQUEST = 'GET /backups/2026/12/05/full/index.html?generation=42 HTTP/1.1\r\nHost: backup.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n';

describe.each(ENGINES)('dissection rules (%s engine)', (engine) => {
  it('joins a request split over segments in sequence order, skipping a retransmission and a gap', async () => {
    const [x, y] = [REQUEST.indexOf('Host') + 3, REQUEST.indexOf('User-Agent') + 4];
    const [a, b, c] = [REQUEST.slice(0, x), REQUEST.slice(x, y), REQUEST.slice(y)];
    const [f] = await flows(
      [
        seg(0, true, 1000, a),
        seg(0.1, true, 1000, a), // retransmission: skipped
        seg(0.2, true, 1000 + y, c), // ahead of its turn: skipped
        seg(0.3, true, 1000 + x, b),
        seg(0.4, true, 1000 + y, c),
        seg(0.5, false, 5000, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'),
      ],
      { engine },
    );
    expect(f.app).toEqual({
      application: 'http', httpMethod: 'GET', httpHost: 'backup.example.com', userAgent: 'curl/8.5.0', httpStatus: 404,
    });
  });

  it('reads at most dissectBytes per direction', async () => {
    const pkts = [seg(0, true, 1, REQUEST)];
    const hostEnd = REQUEST.indexOf('\r\nUser-Agent');
    expect((await flows(pkts, { engine, dissectBytes: hostEnd + 2 }))[0].app).toEqual({
      application: 'http', httpMethod: 'GET', httpHost: 'backup.example.com',
    });
    expect((await flows(pkts, { engine, dissectBytes: 64 }))[0].app).toEqual({ application: 'http', httpMethod: 'GET' });
  });

  it('tries a buffer again when a classifier needs more bytes (maybe), and gives up on one that matches nothing', async () => {
    const [maybe] = await flows([seg(0, true, 1, 'GE'), seg(0.1, true, 3, REQUEST.slice(2))], { engine });
    expect(maybe.httpHost).toBe('backup.example.com');
    const [none] = await flows([seg(0, true, 1, 'xyzzy'), seg(0.1, true, 6, REQUEST)], { engine });
    expect(none.application).toBeNull();
  });

  it('cuts a string that does not fit the record and flags it', async () => {
    const ua = 'x'.repeat(300);
    const host = 'h'.repeat(200);
    const [f] = await flows([seg(0, true, 1, `GET / HTTP/1.1\r\nUser-Agent: ${ua}\r\nHost: ${host}\r\n\r\n`)], { engine });
    // 224 string bytes: the method (2 + 3), then the user agent cut to the 217 left after its id and length, the host dropped
    expect(f.httpMethod).toBe('GET');
    expect(f.userAgent).toBe(ua.slice(0, Offsets.kApp + Offsets.kAppSize - Offsets.kAppStrings - 5 - 2));
    expect(f.httpHost).toBeNull();
    expect(f.app!.appCut).toBe(true);
  });

  it('dissect: false leaves the application area zero', async () => {
    const [f] = await flows([seg(0, true, 1, REQUEST)], { engine, dissect: false });
    expect(f.application).toBeNull();
    expect(f.raw.subarray(Offsets.kApp, Offsets.kApp + Offsets.kAppSize).every((x) => x === 0)).toBe(true);
  });

  it('a flow split by the active timeout carries the application into every segment', async () => {
    const out = await flows([seg(0, true, 1, REQUEST), seg(5, false, 1, 'HTTP/1.1 200 OK\r\n\r\n'), seg(10, true, 1 + REQUEST.length, 'x')], {
      engine,
      activeTimeout: 4,
    });
    expect(out.length).toBe(3);
    for (const f of out) expect(f.httpHost).toBe('backup.example.com');
    expect(out.map((f) => f.httpStatus)).toEqual([null, 200, 200]);
  });
});

describe('dissection options', () => {
  it('rejects a dissectBytes outside 64..65535', () => {
    expect(() => new FlowMeter({ dissectBytes: 63 })).toThrow(/ERR_INVALID_OPTION|dissectBytes/);
    expect(() => new FlowMeter({ dissectBytes: 65536 })).toThrow(/dissectBytes/);
    expect(() => new FlowMeter({ dissect: 'yes' as unknown as boolean })).toThrow(/dissect/);
  });

  it('the application area ends where the details area starts, inside the record', () => {
    expect(Offsets.kApp + Offsets.kAppSize).toBe(Offsets.kDetails);
    expect(Offsets.kDetailsEnd).toBeLessThanOrEqual(RECORD_SIZE);
    expect(new FlowBatch(new ArrayBuffer(RECORD_SIZE)).at(0).app).toBeUndefined();
  });
});

/** Bad input: each failure has its own code, an offset where it applies, and never a crash. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowMeter, FlowmasterError } from '../src/index';
import { tcp4, tmpFile, udp4, writePcap, writePcapng } from './helpers/capture';
import { corpusMissing, CORPUS_DIR } from './helpers/corpus';
import { readAll } from './helpers/read';
import { skipping } from './helpers/skip';

function file(name: string, bytes: Buffer | string): string {
  const f = tmpFile(name);
  fs.writeFileSync(f, bytes);
  return f;
}

describe('errors reading captures', () => {
  it('missing file', async () => {
    const r = await readAll('/nonexistent/dir/x.pcap');
    expect(r.error).toBeInstanceOf(FlowmasterError);
    expect(r.error!.code).toBe('ERR_FILE_NOT_FOUND');
    expect(r.error!.message).toContain('/nonexistent/dir/x.pcap');
  });

  it('directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-dir-'));
    expect((await readAll(dir)).error!.code).toBe('ERR_IS_DIRECTORY');
  });

  it('empty file', async () => {
    expect((await readAll(file('empty.pcap', Buffer.alloc(0)))).error!.code).toBe('ERR_EMPTY_FILE');
  });

  it('not a capture', async () => {
    const r = await readAll(file('notes.txt', 'hello, this is not a capture file\n'));
    expect(r.error!.code).toBe('ERR_NOT_A_CAPTURE');
    expect(r.error!.offset).toBe(0);
  });

  it('truncated pcap header', async () => {
    const good = fs.readFileSync(writePcap([{ t: 0, data: udp4('1.1.1.1', 1, '2.2.2.2', 2) }]));
    const r = await readAll(file('short.pcap', good.subarray(0, 10)));
    expect(r.error!.code).toBe('ERR_TRUNCATED');
  });

  it('truncated last record: every complete packet before it still yields its flows', async () => {
    const pkts = [];
    for (let i = 0; i < 10; i++) pkts.push({ t: i, data: udp4('1.1.1.1', 1000 + i, '2.2.2.2', 53, 50) });
    const good = fs.readFileSync(writePcap(pkts));
    const cut = good.length - 30;
    const r = await readAll(file('cut.pcap', good.subarray(0, cut)));
    expect(r.error!.code).toBe('ERR_TRUNCATED');
    const recordStart = good.length - (16 + pkts[9].data.length);
    expect(r.error!.offset).toBe(recordStart);
    expect(r.error!.message).toMatch(/byte offset \d+/);
    expect(r.flows).toHaveLength(9);
    expect(r.summary.packets).toBe(9);
    expect(r.summary.error?.code).toBe('ERR_TRUNCATED');
  });

  it('truncated pcapng block', async () => {
    const good = fs.readFileSync(writePcapng([{ t: 0, data: tcp4('1.1.1.1', 1, '2.2.2.2', 2, 'S') }, { t: 1, data: tcp4('1.1.1.1', 3, '2.2.2.2', 2, 'S') }], [{ linktype: 1 }]));
    const r = await readAll(file('cut.pcapng', good.subarray(0, good.length - 8)));
    expect(r.error!.code).toBe('ERR_TRUNCATED');
    expect(r.flows).toHaveLength(1);
  });

  it('record larger than any snaplen', async () => {
    const good = fs.readFileSync(writePcap([{ t: 0, data: udp4('1.1.1.1', 1, '2.2.2.2', 2) }]));
    good.writeUInt32LE(0x7ffffff0, 24 + 8);
    const r = await readAll(file('huge.pcap', good));
    expect(r.error!.code).toBe('ERR_BAD_RECORD');
    expect(r.error!.offset).toBe(24);
  });

  it('bad BPF filter fails at construction', () => {
    expect(() => new FlowMeter({ filter: 'tcp port nonsense and' })).toThrowError(expect.objectContaining({ code: 'ERR_BPF' }));
  });

  it.each([
    [{ idleTimeout: -1 }],
    [{ idleTimeout: 0 }],
    [{ activeTimeout: 'x' }],
    [{ maxFlows: 0 }],
    [{ maxFlows: 1.5 }],
    [{ batchSize: 0 }],
    [{ accounting: 'frames' }],
    [{ keyVlan: 'yes' }],
    [{ noSuchOption: 1 }],
    [{ engine: 'gpu' }],
  ])('invalid option %o throws ERR_INVALID_OPTION', (opts) => {
    expect(() => new FlowMeter(opts as never)).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it('reading pauses while batches wait unconsumed (bounded memory, nothing lost)', async () => {
    const pkts = [];
    for (let i = 0; i < 3000; i++) pkts.push({ t: i * 0.001, data: udp4('1.1.1.1', 1 + i, '2.2.2.2', 53) });
    const run = new FlowMeter({ batchSize: 10 }).readFile(writePcap(pkts));
    const it = run[Symbol.asyncIterator]();
    let records = (await it.next()).value!.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(run.pending).toBeLessThanOrEqual(4);
    for (let r = await it.next(); !r.done; r = await it.next()) records += r.value.length;
    expect(records).toBe(3000);
  });

  it('stopping early (break) cancels the read and releases the process', async () => {
    const pkts = [];
    for (let i = 0; i < 5000; i++) pkts.push({ t: i * 0.001, data: udp4('1.1.1.1', i % 60000, '2.2.2.2', 53) });
    const run = new FlowMeter({ batchSize: 16 }).readFile(writePcap(pkts));
    let batches = 0;
    for await (const _ of run) if (++batches === 2) break;
    const s = await run.summary;
    expect(batches).toBe(2);
    expect(s.cancelled).toBe(true);
  });
});

// The corpus's damaged captures: a coded error or counted decode errors, never a crash.
const MALFORMED: Record<string, { code?: string; decodeErrors?: string[] }> = {
  'derived__bad-magic__tcpdump__icmpv6.pcap': { code: 'ERR_NOT_A_CAPTURE' },
  'derived__flipped-ipv4-header-bytes__nfstream__iphone.pcap': { decodeErrors: ['truncated_ip', 'bad_ip_total_length', 'bad_ip_version'] },
  'derived__huge-caplen-record__zeek__gre-sample.pcap': { code: 'ERR_BAD_RECORD' },
  'derived__truncated-mid-epb__iti__S7-1200_V13_timer_sync.pcapng': { code: 'ERR_TRUNCATED' },
  'derived__truncated-mid-record__iti__modbus_test_data_part1.pcap': { code: 'ERR_TRUNCATED' },
  'libpcap__pcap-invalid-version-1.pcap': { code: 'ERR_BAD_HEADER' },
  'libpcap__shb-option-too-long.pcapng': { code: 'ERR_BAD_RECORD' },
  'ndpi__fuzz-2021-10-13.pcap': { code: 'ERR_BAD_RECORD' },
  'tcpdump__ipv4_invalid_hdr_length.pcap': { decodeErrors: ['bad_ip_header_length'] },
  'tcpdump__ipv4_invalid_length.pcap': { decodeErrors: ['truncated_ip'] },
  'tcpdump__ipv6_invalid_length.pcap': { decodeErrors: ['truncated_ip'] },
  'tcpdump__tcp_header_heapoverflow.pcap': { decodeErrors: ['truncated_transport'] },
  'tcpdump__udp-length-heapoverflow.pcap': { decodeErrors: ['truncated_transport'] },
  'tcpdump__unsupported-link-type-160.pcap': { decodeErrors: ['unsupported_link_type'] },
};

describe.skipIf(skipping(corpusMissing, 'malformed corpus captures'))('malformed corpus captures', () => {
  for (const [name, want] of Object.entries(MALFORMED)) {
    it(name, async () => {
      const r = await readAll(`${CORPUS_DIR}/${name}`);
      if (want.code) {
        expect(r.error?.code).toBe(want.code);
        expect(r.error!.message).toContain(name);
      } else {
        expect(r.error).toBeUndefined();
      }
      for (const kind of want.decodeErrors ?? []) expect(r.summary.decodeErrors, kind).toHaveProperty(kind);
    });
  }
});

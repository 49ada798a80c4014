// Stage runners for the benchmark: decode only and flow table only, for both
// engines. Table runs take packets decoded beforehand (untimed) and time only
// the table; both engines get the same first `limit` packets of a capture.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { loadNative } = require('../dist/engine/native.js');
const { CaptureReader, NEXT_NEED, NEXT_PACKET } = require('../dist/engine/ts/reader.js');
const { decodePacket, FragmentTable, PacketInfo, KIND_SKIP } = require('../dist/engine/ts/decode.js');
const { BatchSink, FlowTable, GROUP, END_FLUSH } = require('../dist/engine/ts/flow-table.js');
const { tsRunOptions } = require('../dist/engine/ts/run.js');
const { resolveOptions } = require('../dist/options.js');

const DECODE = { decodeTunnels: true, l2Flows: true };

/** Reads and decodes every packet with the TypeScript reader and decoder. */
export async function tsDecode(path, keep = 0, tuning = {}) {
  const reader = new CaptureReader(path, tuning);
  if (!(await reader.open())) throw new Error(reader.error.message);
  const frags = new FragmentTable();
  const p = new PacketInfo();
  const kept = [];
  let packets = 0;
  for (;;) {
    const st = reader.next();
    if (st === NEXT_NEED) {
      if (keep) break; // the table stage keeps one chunk: MACs point into it
      await reader.refill(reader.need);
      continue;
    }
    if (st !== NEXT_PACKET) break;
    p.tsHi = reader.tsHi;
    p.tsLo = reader.tsLo;
    p.wireLen = reader.wireLen;
    if (decodePacket(reader.buf, reader.dataOff, reader.caplen, reader.linktype, DECODE, frags, p) === KIND_SKIP) continue;
    packets++;
    if (keep) {
      kept.push(Object.assign(new PacketInfo(), p));
      if (packets === keep) break;
    }
  }
  await reader.close();
  if (reader.error) throw new Error(reader.error.message);
  return keep ? { packets: kept, buf: reader.buf } : packets;
}

export function tsTablePrepare(path, limit) {
  // one chunk big enough for `limit` packets of up to 1518 bytes
  return tsDecode(path, limit, { chunkSize: Math.min(limit * 1600, 1 << 30) });
}

export function tsTableRun(prepared, maxFlows) {
  const opt = tsRunOptions(resolveOptions({ maxFlows })).flow;
  const table = new FlowTable(opt, new BatchSink(4096));
  const { packets, buf } = prepared;
  const group = [];
  for (let i = 0; i < packets.length; i += GROUP) {
    group.length = 0;
    for (let j = i; j < i + GROUP && j < packets.length; j++) group.push(packets[j]);
    table.processGroup(group, group.length, buf);
  }
  table.flush(END_FLUSH);
  return packets.length;
}

export const native = {
  decode: (path) => loadNative().benchDecode(path),
  tablePrepare: (path, limit) => {
    const handle = loadNative().benchTablePrepare(path, limit);
    return handle;
  },
  tableRun: (handle, maxFlows) => loadNative().benchTableRun(handle, maxFlows),
};

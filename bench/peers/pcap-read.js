// The npm `pcap` package as a flow meter: offline session, its decoder on
// every packet (one JS callback per packet), and a Map of 5-tuples counting
// packets and bytes per direction. Prints "packets flows seconds".
const pcap = require('pcap');

const t0 = process.hrtime.bigint();
const session = pcap.createOfflineSession(process.argv[2], '');
const flows = new Map();
let packets = 0;
session.on('packet', (raw) => {
  packets++;
  let ip;
  try {
    ip = pcap.decode.packet(raw).payload.payload; // Ethernet -> IPv4/IPv6
  } catch {
    return;
  }
  if (!ip || !ip.saddr) return;
  const l4 = ip.payload || {};
  const a = `${ip.saddr}:${l4.sport || 0}`;
  const b = `${ip.daddr}:${l4.dport || 0}`;
  const key = a < b ? `${ip.protocol} ${a} ${b}` : `${ip.protocol} ${b} ${a}`;
  let f = flows.get(key);
  if (!f) flows.set(key, (f = { packets: [0, 0], bytes: [0, 0] }));
  const dir = a < b ? 0 : 1;
  f.packets[dir]++;
  f.bytes[dir] += raw.header.readUInt32LE(12);
});
session.on('complete', () => {
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${packets} ${flows.size} ${s.toFixed(6)}`);
});

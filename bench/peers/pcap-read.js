// The npm `pcap` package reading a capture offline (one JS callback per packet).
// Prints "packets seconds".
const pcap = require('pcap');

const t0 = process.hrtime.bigint();
const session = pcap.createOfflineSession(process.argv[2], '');
let packets = 0;
session.on('packet', () => packets++);
session.on('complete', () => {
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${packets} ${s.toFixed(6)}`);
});

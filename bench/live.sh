#!/usr/bin/env bash
# Live capture under load: tcpreplay --topspeed plays the 1M-packet generated
# capture into a veth pair between two network namespaces while flowmaster
# and `tcpdump -w /dev/null` capture the same replay side by side (same
# interface, same 64 MiB kernel buffer). Prints packets received and dropped
# by each, per run, and the medians. A measurement, not a test.
# Needs root, iproute2, tcpreplay, tcpdump and a built package (npm run build).
#
#   bench/live.sh [runs (default 3)] [flowmaster threads (default 1)]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
threads=${2:-1}
for cmd in ip tcpreplay tcpdump; do
  command -v "$cmd" >/dev/null || { echo "bench/live.sh: $cmd is missing (apt-get install iproute2 tcpreplay tcpdump)" >&2; exit 2; }
done
file=bench/.data/live-1000000-imix.pcap
if [ ! -f "$file" ]; then
  mkdir -p bench/.data
  node scripts/gen-pcap.mjs --out "$file" --packets 1000000 --flows 10000 --sizes imix --mix simple --seed 1 >&2
fi

. bench/veth-pair.sh
veth_pair fmb$$

capture='
const { FlowMeter } = require("./dist/index.js");
const run = new FlowMeter({ engine: "native" }).capture({ interface: "veth0", bufferSize: 64 << 20, threads: Number(process.argv[1]) });
let flows = 0;
const done = (async () => { for await (const b of run) flows += b.length; })();
process.on("SIGINT", async () => {
  const s = await run.stop();
  await done;
  console.log(JSON.stringify({ packets: s.packets, flows, ...s.capture }));
  process.exit(0);
});
console.log("ready");'

printf '%-4s %-28s %-28s %s\n' run 'flowmaster (seen / dropped)' 'tcpdump (seen / dropped)' 'replay'
fm_seen=() fm_drop=() td_seen=() td_drop=()
for run in $(seq 1 "$runs"); do
  ip netns exec "$nsc" node -e "$capture" "$threads" >"$work/fm.out" &
  fm=$!
  ip netns exec "$nsc" tcpdump -q -i veth0 -B 65536 -w /dev/null 2>"$work/td.err" &
  td=$!
  until grep -q ready "$work/fm.out" 2>/dev/null && grep -q listening "$work/td.err" 2>/dev/null; do sleep 0.1; done
  replay=$(ip netns exec "$nsr" tcpreplay -q --topspeed -i veth1 "$file" 2>&1 | grep -o 'Rated: .*pps' | sed 's/.*Mbps, //')
  sleep 1
  kill -INT "$fm" "$td"
  wait "$fm" "$td" || true
  fm_json=$(tail -1 "$work/fm.out")
  f_seen=$(node -p "JSON.parse(process.argv[1]).packets" "$fm_json")
  f_drop=$(node -p "const s = JSON.parse(process.argv[1]); s.kernelDropped + s.interfaceDropped" "$fm_json")
  t_seen=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$work/td.err")
  t_drop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$work/td.err")
  printf '%-4s %-28s %-28s %s\n' "$run" "$f_seen / $f_drop" "$t_seen / $t_drop" "$replay"
  fm_seen+=("$f_seen") fm_drop+=("$f_drop") td_seen+=("$t_seen") td_drop+=("$t_drop")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "medians of $runs runs, 1,000,000 packets replayed at top speed, flowmaster threads: $threads"
echo "  flowmaster: $(median "${fm_seen[@]}") seen, $(median "${fm_drop[@]}") dropped by the kernel"
echo "  tcpdump:    $(median "${td_seen[@]}") seen, $(median "${td_drop[@]}") dropped by the kernel"

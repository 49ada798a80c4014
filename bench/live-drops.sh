#!/usr/bin/env bash
# Kernel drops at the highest packet rate this machine makes: two trafgen
# processes (Debian's netsniff-ng) send 64-byte UDP packets, random source
# ports and 8000 destination ports (so many flows), as fast as they can into a
# veth pair between two network namespaces, while `flowmaster capture --db`
# and `tcpdump -w /dev/null` capture the same interface side by side with the
# same 64 MiB kernel buffer. Prints packets sent, and per capturer the packets
# seen and dropped by the kernel (and the flows flowmaster stored and shed).
# `few` keeps the source port fixed: 8000 flows instead of about one a packet.
# A measurement, not a test. Needs root, iproute2, netsniff-ng, tcpdump and a
# built package (npm run build).
#
#   bench/live-drops.sh [runs (default 3)] [packets (default 4000000)] [trafgen processes (default 2)] [many|few (default many)]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
packets=${2:-4000000}
senders=${3:-2}
mode=${4:-many}
sport=$([ "$mode" = few ] && echo 40000 || echo 'drnd()')
for cmd in ip trafgen tcpdump; do
  command -v "$cmd" >/dev/null || { echo "bench/live-drops.sh: $cmd is missing (apt-get install iproute2 netsniff-ng tcpdump)" >&2; exit 2; }
done

. bench/veth-pair.sh
veth_pair fmd$$
cat >"$work/packet.cfg" <<CFG
{
  eth(da=02:00:00:00:00:02, sa=02:00:00:00:00:01),
  ipv4(saddr=10.1.0.1, daddr=10.2.0.1),
  udp(sp=$sport, dp=dinc(1000, 9000)),
  fill(0x00, 18)
}
CFG

printf '%-4s %-22s %-40s %s\n' run 'sent (packets/s)' 'flowmaster --db: seen / dropped (stored, shed)' 'tcpdump: seen / dropped'
fm_drop=() td_drop=()
for run in $(seq 1 "$runs"); do
  db=$work/drops-$run.db
  ip netns exec "$nsc" node dist/cli/main.js capture -i veth0 --db "$db" --buffer-size $((64 << 20)) --idle-timeout 1 >"$work/fm.out" 2>"$work/fm.err" &
  fm=$!
  ip netns exec "$nsc" tcpdump -q -i veth0 -B 65536 -w /dev/null 2>"$work/td.err" &
  td=$!
  until grep -q 'stop with Ctrl-C' "$work/fm.err" 2>/dev/null && grep -q listening "$work/td.err" 2>/dev/null; do sleep 0.1; done
  t0=$(date +%s.%N)
  pids=()
  for s in $(seq 1 "$senders"); do
    ip netns exec "$nsr" trafgen -i "$work/packet.cfg" -o veth1 -n $((packets / senders)) -P 1 -q >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  rate=$(echo "$packets / ($(date +%s.%N) - $t0)" | bc)
  sleep 2
  kill -INT "$fm" "$td"
  wait "$fm" "$td" || true
  line=$(grep '^captured into' "$work/fm.out" || true)
  f_seen=$(sed -n 's/.*kernel received \([0-9]*\),.*/\1/p' <<<"$line")
  f_drop=$(sed -n 's/.*dropped \([0-9]*\) (interface.*/\1/p' <<<"$line")
  f_flows=$(sed -n 's/^captured into [^:]*: \([0-9]*\) flows.*/\1/p' <<<"$line")
  f_shed=$(sed -n 's/.*flows shed \([0-9]*\).*/\1/p' <<<"$line")
  t_seen=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$work/td.err")
  t_drop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$work/td.err")
  printf '%-4s %-22s %-40s %s\n' "$run" "$packets ($rate)" "$f_seen / $f_drop ($f_flows, $f_shed)" "$t_seen / $t_drop"
  fm_drop+=("${f_drop:-0}") td_drop+=("${t_drop:-0}")
  rm -f "$db" "$db-wal" "$db-shm"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "medians of $runs runs, $packets packets from $senders trafgen processes ($mode flows):"
echo "  flowmaster capture --db: $(median "${fm_drop[@]}") dropped by the kernel"
echo "  tcpdump -w /dev/null:    $(median "${td_drop[@]}") dropped by the kernel"

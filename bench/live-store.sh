#!/usr/bin/env bash
# Live capture into the store: tcpreplay plays a capture of short flows into a
# veth pair between two network namespaces at a fixed packet rate (so many new
# flows per second) while `flowmaster capture --db` captures and commits them.
# Prints, per run: the flows sent, the flows stored, the packets the kernel
# dropped, the flows the capture shed (its bounded queue was full), and how
# long the store took to commit the rest after the replay ended. A
# measurement, not a test. Needs root, iproute2, tcpreplay and a built
# package (npm run build).
#
#   bench/live-store.sh [new flows/s (default 100000)] [runs (default 3)] [flows (default 1000000)]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100000}
runs=${2:-3}
flows=${3:-1000000}
per=3 # packets per flow
for cmd in ip tcpreplay; do
  command -v "$cmd" >/dev/null || { echo "bench/live-store.sh: $cmd is missing (apt-get install iproute2 tcpreplay)" >&2; exit 2; }
done
file=bench/.data/live-store-$flows.pcap
if [ ! -f "$file" ]; then
  mkdir -p bench/.data
  # 3-packet flows, 64-byte frames, at most 4096 of them active at once
  node scripts/gen-pcap.mjs --out "$file" --packets $((flows * per)) --flows "$flows" --sizes 64 --mix simple --concurrency 4096 --seed 7 >&2
fi

. bench/veth-pair.sh
veth_pair fml$$

pps=$((rate * per))
printf '%-4s %-10s %-10s %-14s %-12s %-14s %s\n' run sent stored 'kernel drops' 'flows shed' 'commit tail s' 'replay'
stored_all=() drops_all=() shed_all=()
for run in $(seq 1 "$runs"); do
  db=$work/live-$run.db
  # idle timeout 1 s: flows end (and are committed) while the replay runs
  ip netns exec "$nsc" node dist/cli/main.js capture -i veth0 --db "$db" --buffer-size $((256 << 20)) --idle-timeout 1 \
    >"$work/fm.out" 2>"$work/fm.err" &
  fm=$!
  until grep -q 'stop with Ctrl-C' "$work/fm.err" 2>/dev/null; do sleep 0.1; done
  replay=$(ip netns exec "$nsr" tcpreplay -q --pps="$pps" -i veth1 "$file" 2>&1 | grep -o 'Rated: .*pps' | sed 's/.*Mbps, //')
  t0=$(date +%s.%N)
  sleep 1.5 # the last flows' idle timeout
  kill -INT "$fm"
  wait "$fm" || true
  tail_s=$(echo "$(date +%s.%N) - $t0" | bc)
  line=$(grep '^captured into' "$work/fm.out" || true)
  stored=$(node -e "const D=require('better-sqlite3'); console.log(new D(process.argv[1],{readonly:true}).prepare('SELECT count(*) FROM flows').pluck().get())" "$db")
  drops=$(sed -n 's/.*dropped \([0-9]*\) (interface.*/\1/p' <<<"$line")
  shed=$(sed -n 's/.*flows shed \([0-9]*\).*/\1/p' <<<"$line")
  printf '%-4s %-10s %-10s %-14s %-12s %-14.1f %s\n' "$run" "$flows" "$stored" "${drops:-?}" "${shed:-?}" "$tail_s" "$replay"
  stored_all+=("$stored") drops_all+=("${drops:-0}") shed_all+=("${shed:-0}")
  rm -f "$db" "$db-wal" "$db-shm"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "medians of $runs runs, $flows flows of $per packets replayed at $pps packets/s ($rate new flows/s) into capture --db:"
echo "  stored $(median "${stored_all[@]}") of $flows flows, kernel drops $(median "${drops_all[@]}"), flows shed $(median "${shed_all[@]}")"

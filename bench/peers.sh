#!/usr/bin/env bash
# Other flow meters and capture readers on the same generated capture, timed
# beside flowmaster's native engine, with their packets/s and the ratio of
# flowmaster to each. A peer that is not installed is skipped with a note.
#
# Install the peers (Debian 12):
#   apt-get install -y softflowd argus-server     # softflowd -r, argus -r
#   (cd bench/peers && npm install)               # the npm `pcap` package (builds against libpcap-dev)
#
# Usage: bench/peers.sh [capture]   (default: 3M packets / 30k flows IMIX, generated). Every
# time is a whole process (start-up included) reading the file once.
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-bench/.data/peers-3000000-30000-imix.pcap}
if [ ! -f "$file" ]; then
  mkdir -p "$(dirname "$file")"
  node scripts/gen-pcap.mjs --out "$file" --packets 3000000 --flows 30000 --sizes imix --mix simple --seed 1 --quiet
fi
[ -f dist/index.js ] || npx tsc -p tsconfig.build.json
packets=$(node -e "const{FlowMeter}=require('./dist');(async()=>{const r=new FlowMeter().readFile(process.argv[1]);for await(const _ of r);console.log((await r.summary).packets)})()" "$file")
cat "$file" > /dev/null  # warm the page cache

# wall seconds of a command (median of 3)
seconds() {
  local t=()
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    "$@" > /dev/null 2>&1 || return 1
    e=$(date +%s.%N)
    t+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${t[@]}" | sort -g | sed -n 2p
}

native=$(seconds node bench/trial.mjs native "$file" 1000000)
printf '%-34s %10s %12s %18s\n' "reader" "seconds" "packets/s" "flowmaster speedup"
row() { printf '%-34s %10.3f %12.0f %18.2f\n' "$1" "$2" "$(echo "$packets / $2" | bc -l)" "$(echo "$2 / $native" | bc -l)"; }
row "flowmaster native (end to end)" "$native"

if command -v softflowd > /dev/null; then
  # -r: read a capture file; flows are exported as NetFlow to a closed loopback port
  row "softflowd -r" "$(seconds softflowd -r "$file" -n 127.0.0.1:9 -v 9)"
else echo "softflowd: not installed (apt-get install softflowd)"; fi

if command -v argus > /dev/null; then
  row "argus -r" "$(seconds argus -r "$file" -w /dev/null)"
else echo "argus: not installed (apt-get install argus-server)"; fi

if [ -f bench/peers/node_modules/pcap/package.json ]; then
  row "npm pcap (decode + Map of 5-tuples)" "$(seconds node bench/peers/pcap-read.js "$file")"
else echo "npm pcap: not installed (cd bench/peers && npm install)"; fi

if [ -x bench/libpcap-count ] || cc -O2 -o bench/libpcap-count bench/libpcap-count.c -lpcap; then
  row "libpcap counting loop (ceiling)" "$(seconds bench/libpcap-count "$file")"
fi

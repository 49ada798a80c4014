#!/usr/bin/env bash
# Soak test of a capture left running (see bench/soak.mjs): bench/soak.sh [MINUTES (default 30)]
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bench/soak.mjs --minutes "${1:-30}"

#!/usr/bin/env bash
# The whole test suite, in release (ed25519 and RocksDB are many times slower unoptimised):
# unit and property tests, storage tests, an in-process testnet, 600 seeded consensus
# simulations and the consensus mutation score. Every test binary runs even after one fails
# (--no-fail-fast), so the last line totals every test; the exit status is still non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
echo
echo "lantau tests: $passed passed, $failed failed"
exit "$status"

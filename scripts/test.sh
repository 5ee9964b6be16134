#!/usr/bin/env bash
# The whole test suite, in release (ed25519 and RocksDB are many times slower unoptimised):
# unit and property tests, storage tests, and 1,002 seeded consensus simulations.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --release --workspace

#!/usr/bin/env bash
# Install what is missing, build, and run a live 4-validator testnet in one process that
# commits signed transfers and prints every block. Extra arguments go to `lantau demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p cli
exec "${CARGO_TARGET_DIR:-target}/release/lantau" demo "$@"

#!/usr/bin/env bash
# Install what is missing, build, bring up a local 4-validator testnet (four background
# `lantau start` processes talking libp2p on 127.0.0.1), send signed transfers between the
# demo accounts and show them committed with the balances changing. The testnet keeps
# running afterwards; `lantau testnet down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p cli
lantau="$(realpath "${CARGO_TARGET_DIR:-target}")/release/lantau"
dir="${LANTAU_TESTNET_DIR:-$HOME/.lantau/testnet}"
export LANTAU_TESTNET_DIR="$dir"

"$lantau" testnet up

people=(alice bob carol dave)
declare -A addr
for p in "${people[@]}"; do addr[$p]="$("$lantau" address "$dir/keys/$p.key")"; done
balances() {
  printf '%-6s %16s %6s\n' account balance nonce
  for p in "${people[@]}"; do
    "$lantau" query account "${addr[$p]}" --json |
      sed -n 's/.*"balance": \([0-9]*\).*/\1/p; s/.*"nonce": \([0-9]*\).*/\1/p' |
      paste -sd' ' | { read -r b n; printf '%-6s %16s %6s\n' "$p" "$b" "$n"; }
  done
}

echo; echo "balances before:"; balances
echo
send() { # from to amount
  echo "transfer $3 from $1 to $2:"
  "$lantau" tx transfer --from-key "$dir/keys/$1.key" --to "${addr[$2]}" --amount "$3" --wait | sed 's/^/  /'
}
send alice bob 250
send bob carol 100
send carol dave 40
send dave alice 5
echo; echo "balances after:"; balances

cat <<EOT

The testnet is still running in $dir. Try:
  alias lantau=$lantau
  lantau query status                  # height, round and peers of node0
  lantau keygen --out my.key           # a new account; prints its address
  lantau tx transfer --from-key $dir/keys/alice.key --to <address> --amount 10 --wait
  lantau query block                   # the latest block and its certificate
  lantau testnet status                # every validator
  lantau testnet logs -f               # follow every validator's log
  lantau testnet down                  # stop it
EOT

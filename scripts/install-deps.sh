#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with only rustup's toolchain lacks to build
# lantau: libclang (bindgen in librocksdb-sys), a C++ compiler (RocksDB), rustfmt/clippy, and
# headless Chromium (a test lays out the bench report in it).
set -euo pipefail

missing=()
ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' || missing+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v chromium-headless-shell >/dev/null 2>&1 || missing+=(chromium-headless-shell)

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "lantau needs: ${missing[*]} (not found, and no apt-get to install them)" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]} ..." >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

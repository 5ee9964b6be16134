#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with only rustup's toolchain lacks to build
# lantau: libclang (bindgen in librocksdb-sys), a C++ compiler (RocksDB), rustfmt/clippy,
# headless Chromium (tests lay out the bench report and the dashboard in it), and PyPI's
# kubernetes-validate (which ships the Kubernetes API schemas) in a virtual environment.
set -euo pipefail

missing=()
ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' || missing+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v chromium-headless-shell >/dev/null 2>&1 || missing+=(chromium-headless-shell)
# For the Kubernetes manifests' offline check (below): Python with venv and pip.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)

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

# The generated Kubernetes manifests are checked against the API schemas, offline.
venv="${LANTAU_VENV:-$HOME/.cache/lantau/venv}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "installing kubernetes-validate into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate
fi

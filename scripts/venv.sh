#!/usr/bin/env bash
# Creates .venv (Python with pip) at the repository root, which the model
# installer and the test tools use. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY="$VENV/bin/python"

need() { command -v "$1" >/dev/null 2>&1; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif need sudo; then sudo "$@"; else
    echo "need root for: $*" >&2; exit 1
  fi
}

need python3 || { echo "python3 not found: install Python 3.9 or newer" >&2; exit 1; }

if [ -x "$PY" ] && "$PY" -m pip --version >/dev/null 2>&1; then
  echo "venv: $VENV already exists"
else
  # Debian splits venv and ensurepip into python3-venv; without it `venv` fails half-way.
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "venv: installing python3-venv (apt)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  echo "venv: created $VENV"
fi

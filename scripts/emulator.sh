#!/usr/bin/env bash
# Installs the AWS emulator the coda-aws tests start: moto server in .venv at
# the repository root. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=.venv
PY="$VENV/bin/python"

./scripts/venv.sh

installed=$("$PY" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true)
if [ "$installed" = "$MOTO_VERSION" ] && [ -x "$VENV/bin/moto_server" ]; then
  echo "moto: $MOTO_VERSION already installed"
else
  echo "moto: installing moto[server]==$MOTO_VERSION (was: ${installed:-none})"
  "$PY" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  echo "moto: installed $("$PY" -c 'import importlib.metadata as m; print(m.version("moto"))')"
fi
echo "moto_server: $(pwd)/$VENV/bin/moto_server"

#!/usr/bin/env bash
# Creates (once) a Python venv with Docker's Python SDK for the client tests
# (tests/clients.rs), cached under target/; prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ENGINE_CLIENT_VENV:-$PWD/target/client-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import docker' 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'docker>=6,<8' >&2
fi
echo "$venv/bin/python"

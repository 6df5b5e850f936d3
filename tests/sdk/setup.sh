#!/usr/bin/env bash
# The pinned official SDKs, made once and remade when their pins change: a virtualenv with the
# `twilio` Python package (tests/sdk/python/.venv, from requirements.txt) and the `twilio` Node
# package (tests/sdk/node/node_modules, `npm ci` from its lock file). Used by tests/sdk/run.sh
# and tests/readme/run.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

venv="$here/python/.venv"
if [ ! -x "$venv/bin/pytest" ] || ! cmp -s "$here/python/requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
  cp "$here/python/requirements.txt" "$venv/requirements.txt"
fi
if [ ! -d "$here/node/node_modules/twilio" ] || [ "$here/node/package-lock.json" -nt "$here/node/node_modules" ]; then
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

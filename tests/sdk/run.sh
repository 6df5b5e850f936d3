#!/usr/bin/env bash
# The official-SDK conformance suite: starts a real confab (on a free port), creates a
# virtualenv with the pinned official `twilio` Python package, and drives confab through the
# SDK's own create/list/stream/fetch/update/delete calls; then the pinned official `twilio` Node
# package (tests/sdk/node, `npm ci` from its lock file) against the same server.
#
#   tests/sdk/run.sh [pytest args...]     (pytest args skip the Node suite)
#
# CONFAB_BIN may name an already built binary; otherwise this builds one. The store is a SQLite
# file with the default durability, or, when CONFAB_TEST_PG names a PostgreSQL server's
# maintenance database (postgres://postgres@127.0.0.1:5432/postgres), a database of its own
# there, dropped at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ -z "${CONFAB_BIN:-}" ]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml"
  CONFAB_BIN="$root/target/debug/confab"
fi

"$here/setup.sh"
venv="$here/python/.venv"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp)"
dir="$(mktemp -d)"
db="$dir/confab.db"
if [ -n "${CONFAB_TEST_PG:-}" ]; then
  name="confab_sdk_${CONFAB_TEST_PG_RUN:-run}_$$"
  psql "$CONFAB_TEST_PG" -qc "CREATE DATABASE $name" || {
    echo "CONFAB_TEST_PG=$CONFAB_TEST_PG: PostgreSQL cannot be reached" >&2
    exit 1
  }
  db="${CONFAB_TEST_PG%/*}/$name"
fi
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ -n "${CONFAB_TEST_PG:-}" ]; then
    psql "$CONFAB_TEST_PG" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
  fi
  rm -rf "$dir"
}
"$CONFAB_BIN" serve --db "$db" --listen "127.0.0.1:$port" --test-mode >"$log" 2>&1 &
server=$!
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done

export CONFAB_URL="http://127.0.0.1:$port"
status=0
(cd "$here/python" && "$venv/bin/pytest" -q "$@") || status=$?
if [ $# -eq 0 ]; then
  (cd "$here/node" && node --test) || status=$?
fi
if [ $status -ne 0 ]; then
  echo "--- confab log (last 40 lines) ---"
  tail -40 "$log"
fi
exit $status

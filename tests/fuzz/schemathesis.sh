#!/usr/bin/env bash
# Schemathesis (pinned in tests/fuzz/requirements.txt) against Twilio's official OpenAPI spec
# (spec/twilio_conversations_v1.json): starts confab (in memory), seeds one resource of every
# kind (tests/fuzz/seed.py, which also writes the run's schemathesis.toml), then lets
# schemathesis generate requests for every operation for SCHEMATHESIS_SECONDS (60 by default),
# failing on any 5xx (not_a_server_error) and on any response that breaks its documented schema
# (response_schema_conformance).
#
# Generated requests set webhook URLs to anything (private addresses included) and ask for
# webhooks to fire, so confab, the seeding and schemathesis all run in a network namespace of
# their own with only a loopback interface (unshare -n, as root): nothing leaves the machine.
#
#   tests/fuzz/schemathesis.sh        (CONFAB_BIN may name a built binary)
#
# A CI-only check (.ci/run calls it): it needs a network namespace and a time budget, which the
# README's test command (scripts/test) does not assume.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${SCHEMATHESIS_SECONDS:-60}"

if [ -z "${CONFAB_BIN:-}" ]; then
  cargo build --quiet --locked --manifest-path "$root/Cargo.toml"
  CONFAB_BIN="$root/target/debug/confab"
fi

venv="$here/.venv"
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if ! unshare -n true 2>/dev/null; then
  echo "schemathesis.sh: cannot make a network namespace (unshare -n needs root); not run" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CONFAB_BIN here root seconds work venv
# Everything below runs without a network, but for loopback.
unshare -n bash -euo pipefail -c '
  ip link set lo up
  sid=AC0123456789abcdef0123456789abcdef
  token=confab_dev_auth_token
  port=8787
  "$CONFAB_BIN" serve --db :memory: --listen "127.0.0.1:$port" >"$work/confab.log" 2>&1 &
  server=$!
  trap "kill $server 2>/dev/null || true; wait $server 2>/dev/null || true" EXIT
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/healthz\")" 2>/dev/null && break
    sleep 0.05
  done
  python3 "$here/seed.py" "http://127.0.0.1:$port" "$sid" "$token" \
    "$root/spec/twilio_conversations_v1.json" "$work/schemathesis.toml"
  status=0
  cd "$work" # schemathesis keeps a cache in its working directory
  "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run \
    "$root/spec/twilio_conversations_v1.json" \
    --url "http://127.0.0.1:$port" \
    --auth "$sid:$token" \
    --checks not_a_server_error,response_schema_conformance \
    --max-time "$seconds" \
    --workers 1 \
    --request-timeout 10 \
    --no-color || status=$?
  if ! kill -0 $server 2>/dev/null; then
    echo "confab died during the run"
    status=1
  fi
  if [ $status -ne 0 ]; then
    echo "--- confab log (errors and the last 40 lines) ---"
    grep -E "ERROR|panicked" "$work/confab.log" | tail -20 || true
    tail -40 "$work/confab.log"
  fi
  exit $status
'

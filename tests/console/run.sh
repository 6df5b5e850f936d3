#!/usr/bin/env bash
# The web console's tests: a real headless Chromium (Debian's `chromium`; CHROMIUM may name
# another) driven by the pinned playwright-core (`npm ci` from package-lock.json) against real
# confab servers that the tests start themselves (--test-mode, a SQLite file each).
#
#   tests/console/run.sh [node --test args...]
#   CONSOLE_SCREENSHOTS=docs/console tests/console/run.sh   # refresh README's screenshots
#
# CONFAB_BIN may name an already built binary; otherwise this builds one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ -z "${CONFAB_BIN:-}" ]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml"
  export CONFAB_BIN="$root/target/debug/confab"
fi
if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
  echo "no chromium: apt-get install -y chromium (.ci/run installs it)" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ] || [ "$here/package-lock.json" -nt "$here/node_modules" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$here"
exec node --test "$@"

#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets: the form parser, the duration parser, the
# page-token decoder) for FUZZ_SECONDS (20 by default), starting from the seeds in fuzz/seeds;
# fails on any crash (a panic or a broken property). Installs the pinned cargo-fuzz if missing.
#
#   fuzz/run.sh [target...]
#
# Stable Rust is enough: with `--sanitizer none` cargo-fuzz passes no unstable flag, only
# libFuzzer's coverage instrumentation (-Cpasses=sancov-module), which stable rustc takes. The
# parsers are safe Rust, whose bounds and overflow checks (on here) are what a sanitizer would
# add. The build keeps its artifacts outside the clone (CONFAB_FUZZ_TARGET_DIR, by default
# ~/.cache/confab/fuzz-target): all of confab's dependencies are compiled with that
# instrumentation, once per machine rather than once per clone.
#
# A CI-only check (.ci/run calls it): a time-bounded campaign with its own toolchain add-on,
# not part of the README's test command (scripts/test).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
version=0.13.2
export CARGO_TARGET_DIR="${CONFAB_FUZZ_TARGET_DIR:-$HOME/.cache/confab/fuzz-target}"

if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $version"; then
  cargo install cargo-fuzz --locked --version "$version"
fi

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(form duration page_token)
cargo fuzz build --sanitizer none
status=0
for target in "${targets[@]}"; do
  corpus="$(mktemp -d)"
  log="$(mktemp)"
  echo "== fuzz $target (${seconds}s)"
  if cargo fuzz run --sanitizer none "$target" "$corpus" "seeds/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    grep -E "^Done|stat::number_of_executed_units|stat::new_units_added" "$log" || true
  else
    status=1
    tail -60 "$log"
  fi
  rm -rf "$corpus" "$log"
done
exit $status

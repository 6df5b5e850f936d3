#!/usr/bin/env bash
# confab's benchmark: builds confab, the baseline server and the load generator, then runs
# bench/bench.py (seeding through the HTTP API, every scenario at 1/16/64 connections, medians,
# ratios to the baselines, RSS, start-up times, store bytes per message).
#
#   bench/run.sh            # the full run (the `dist` build: fat LTO; 1,000,000 messages; ~20 minutes)
#   bench/run.sh --smoke    # tiny sizes, 0.5 s runs, debug build: checks only that every
#                           # request answers 2xx (exits non-zero otherwise)
#
# Sizes and durations: BENCH_DURATION, BENCH_WARMUP, BENCH_REPEAT, BENCH_CONNS, BENCH_MESSAGES,
# BENCH_CONVERSATIONS, BENCH_SEED_CONNS, BENCH_SCENARIOS, BENCH_PROFILE, BENCH_DIR, BENCH_KEEP,
# BENCH_OUT, BENCH_PORT, BENCH_BASELINE_PORT (see docs/benchmark.md).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${BENCH_PROFILE:-dist}"
for arg in "$@"; do
  [ "$arg" = "--smoke" ] && profile="${BENCH_PROFILE:-debug}"
done
flags=(--locked --bin confab --example bench_baseline --example loadgen)
case "$profile" in
  release) cargo build --release "${flags[@]}" ;;
  debug) cargo build "${flags[@]}" ;;
  *) cargo build --profile "$profile" "${flags[@]}" ;;
esac
BENCH_PROFILE="$profile" exec python3 bench/bench.py "$@"

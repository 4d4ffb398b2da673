#!/usr/bin/env bash
# Kills a writing store with SIGKILL at random points, TRIALS times (100 by default), and
# checks after each kill that nothing acknowledged was lost or stored twice. Too long for
# every test run (which does 3 kills); its figures are in docs/reliability.md.
#   scripts/kill-loop.sh [TRIALS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export FLOWLENS_CRASH_TRIALS="${1:-100}"
export FLOWLENS_CRASH_SEED="${2:-$(date +%s)}"
echo "kill -9 loop: $FLOWLENS_CRASH_TRIALS trials, seed $FLOWLENS_CRASH_SEED"
start=$(date +%s)
cargo nextest run --workspace --locked --no-capture \
    -E 'package(flowlens-store) and test(=kill_9_loses_nothing_acknowledged)'
echo "passed: $FLOWLENS_CRASH_TRIALS kills in $(($(date +%s) - start)) s, seed $FLOWLENS_CRASH_SEED"

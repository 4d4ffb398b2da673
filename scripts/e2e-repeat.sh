#!/usr/bin/env bash
# Runs the browser suite again and again to show it does not fail at random (not part of the
# normal suite). Run scripts/ui-test.sh once first: it installs Chromium and the node modules and
# builds the UI and the binary this loop uses.
#
#   scripts/e2e-repeat.sh 20            # twenty runs in a row
#   scripts/e2e-repeat.sh 10 --hog      # ten runs with two busy-looping processes beside them
#
# Every run's output is kept in $E2E_LOG_DIR (default: a new temporary directory); the summary
# line says how many runs passed and where the logs of any failed run are.
set -euo pipefail
cd "$(dirname "$0")/../ui"

runs=${1:-20}
hog=${2:-}
logs=${E2E_LOG_DIR:-$(mktemp -d -t flowlens-e2e-repeat-XXXXXX)}
mkdir -p "$logs"

hogs=()
stop_hogs() { for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_hogs EXIT
if [ "$hog" = "--hog" ]; then
  # Two processes that keep both cores of a two-core machine busy, as a loaded CI host would.
  for _ in 1 2; do
    yes >/dev/null &
    hogs+=($!)
  done
  echo "e2e-repeat: CPU hogs ${hogs[*]} running"
fi

passed=0
failed=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if node tests/run-e2e.mjs >"$logs/run-$i.log" 2>&1; then
    passed=$((passed + 1))
    verdict=pass
  else
    failed+=("$i")
    verdict=FAIL
  fi
  echo "e2e-repeat: run $i/$runs $verdict in $(($(date +%s) - start)) s"
done

echo "e2e-repeat: $passed of $runs runs passed${hog:+ (with CPU hogs)}; logs in $logs"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "e2e-repeat: failed runs: ${failed[*]}"
  exit 1
fi

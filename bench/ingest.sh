#!/usr/bin/env bash
# Whole-process ingest: `flowlens simulate` writes raw records of the `scale` scenario, then
# `flowlens ingest` enriches, attributes, aggregates and stores them; prints records per second
# and stored bytes per flow log at the given aggregation levels.
#   SECONDS_OF_TRAFFIC=60 RATE=100000 bench/ingest.sh            # Calico's default levels (2 / 1)
#   LEVELS="0 0" bench/ingest.sh                                   # level 0: nothing aggregated
#   INPUT=calico bench/ingest.sh     # Calico flow log lines (`simulate --calico` at LEVELS),
#                                    # stored as they are: parsing and the store alone
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${FLOWLENS_BIN:-${CARGO_TARGET_DIR:-target}/release/flowlens}"
RATE="${RATE:-100000}"
SECONDS_OF_TRAFFIC="${SECONDS_OF_TRAFFIC:-60}"
read -r ALLOWED DENIED <<< "${LEVELS:-2 1}"
WORK="${WORK:-/tmp/flowlens-ingest-bench}"
SCALE=(--namespaces 200 --workloads 2000 --policies 500 --tiers 5 --rate "$RATE")

mkdir -p "$WORK"
INPUT="${INPUT:-raw}"
LEVEL_ARGS=(--allowed-level "$ALLOWED" --denied-level "$DENIED")
case "$INPUT" in
    raw) records="$WORK/scale-$RATE-$SECONDS_OF_TRAFFIC.jsonl"; SIM_ARGS=() ;;
    calico) records="$WORK/calico-$RATE-$SECONDS_OF_TRAFFIC-$ALLOWED-$DENIED.jsonl"
        SIM_ARGS=(--calico "${LEVEL_ARGS[@]}") ;;
    *) echo "INPUT is raw or calico, not $INPUT" >&2; exit 2 ;;
esac
if [ ! -s "$records" ]; then
    "$BIN" simulate --scenario scale "${SCALE[@]}" --duration "${SECONDS_OF_TRAFFIC}s" \
        --seed 1 --start 1763700000 "${SIM_ARGS[@]}" --output "$records"
fi
lines=$(wc -l < "$records")
data="$WORK/data-$INPUT-$ALLOWED-$DENIED"
rm -rf "$data"
start=$(date +%s.%N)
if [ "$INPUT" = raw ]; then
    "$BIN" ingest --quiet --data "$data" --scenario scale "${SCALE[@]}" "${LEVEL_ARGS[@]}" "$records"
else
    "$BIN" ingest --quiet --data "$data" --format calico "$records"
fi
end=$(date +%s.%N)
logs=$("$BIN" sql --data "$data" --output csv "SELECT count(*) FROM flows" | tail -1)
bytes=$(du -sb "$data" | cut -f1)
python3 - "$lines" "$start" "$end" "$logs" "$bytes" "$ALLOWED" "$DENIED" <<'PY'
import sys
lines, start, end, logs, size, allowed, denied = sys.argv[1:]
secs = float(end) - float(start)
lines, logs, size = int(lines), int(logs), int(size)
print(f"levels allowed={allowed} denied={denied}: {lines:,} input records in {secs:.2f} s = "
      f"{lines / secs:,.0f} records/s; {logs:,} flow logs stored, {size / 1e6:,.1f} MB on disk, "
      f"{size / max(1, logs):.1f} bytes/flow log, {size / lines:.2f} bytes/raw record")
PY

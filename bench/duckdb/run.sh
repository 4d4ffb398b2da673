#!/usr/bin/env bash
# Flowlens vs DuckDB on the same data: builds (once) a store of RECORDS synthetic flow logs in
# DIR, then prints both engines' p50 per query side by side.
#   RECORDS=10000000 DIR=/tmp/flowlens-bench-10m bench/duckdb/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
RECORDS="${RECORDS:-10000000}"
DIR="${DIR:-/tmp/flowlens-bench-$RECORDS}"
RUNS="${RUNS:-20}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q duckdb
fi
exec "$venv/bin/python" "$here/compare.py" --dir "$DIR" --records "$RECORDS" --runs "$RUNS"

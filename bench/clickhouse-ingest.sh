#!/usr/bin/env bash
# Ingest into ClickHouse beside the embedded store, whole process, on the same input, in
# alternating rounds: Calico flow-log lines of the `scale` scenario (`flowlens simulate
# --calico`, level 0) stored as they are; then `flowlens store copy` of the data directory into
# a fresh ClickHouse database. ClickHouse runs as the tests run it (a private server on
# loopback, `crates/store-clickhouse/examples/test_server.rs`).
#   cargo build --release -p flowlens
#   cargo build --release -p flowlens-store-clickhouse --features test-server --example test_server
#   RATE=20000 SECONDS_OF_TRAFFIC=30 ROUNDS=3 bench/clickhouse-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="${FLOWLENS_BIN:-$TARGET/release/flowlens}"
SERVER="${CLICKHOUSE_SERVER_BIN:-$TARGET/release/examples/test_server}"
RATE="${RATE:-20000}"
SECONDS_OF_TRAFFIC="${SECONDS_OF_TRAFFIC:-30}"
ROUNDS="${ROUNDS:-3}"
WORK="${WORK:-/tmp/flowlens-clickhouse-bench}"

mkdir -p "$WORK"
input="$WORK/calico-$RATE-$SECONDS_OF_TRAFFIC.jsonl"
if [ ! -s "$input" ]; then
    "$BIN" simulate --scenario scale --namespaces 200 --workloads 2000 --policies 500 --tiers 5 \
        --rate "$RATE" --duration "${SECONDS_OF_TRAFFIC}s" --seed 1 --start 1763700000 \
        --calico --allowed-level 0 --denied-level 0 --output "$input"
fi
lines=$(wc -l < "$input")
echo "input: $lines Calico flow-log lines, $(du -h "$input" | cut -f1)"

# The server prints its password, then an address; another (a fresh database) per line sent.
coproc CLICKHOUSE { "$SERVER"; }
read -r password <&"${CLICKHOUSE[0]}"
read -r address <&"${CLICKHOUSE[0]}"
export FLOWLENS_CLICKHOUSE_PASSWORD="$password"
fresh_database() { echo >&"${CLICKHOUSE[1]}"; read -r address <&"${CLICKHOUSE[0]}"; }

# Seconds `"$@"` takes.
timed() {
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$end"
}
per_second() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}/s ({float(sys.argv[2]):.2f} s)')" "$lines" "$1"; }

for round in $(seq "$ROUNDS"); do
    data="$WORK/data"
    rm -rf "$data"
    embedded=$(timed "$BIN" ingest --quiet --data "$data" --format calico "$input")
    fresh_database
    clickhouse=$(timed "$BIN" ingest --quiet --store "$address" --format calico "$input")
    fresh_database
    copy=$(timed "$BIN" store copy --from "$data" --to "$address")
    echo "round $round: ingest into a data directory $(per_second "$embedded"); into ClickHouse $(per_second "$clickhouse"); store copy directory → ClickHouse $(per_second "$copy")"
done
exec {CLICKHOUSE[1]}>&-

#!/usr/bin/env bash
# The whole Flowlens test suite, from a fresh clone: installs what the tests need, then runs
# formatting and lint checks and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

step "Helm's template engine for the chart tests (scripts/helm-venv.sh)"
scripts/helm-venv.sh

step "tools for the live-source tests (softflowd, ping, iproute2)"
scripts/source-test-deps.sh

step "ClickHouse for the ClickHouse store tests (scripts/clickhouse-test-deps.sh)"
scripts/clickhouse-test-deps.sh
# As root the network-namespace and full-disk (tmpfs) tests can run, and ClickHouse is
# installed, so they must: a missing prerequisite fails them instead of skipping them.
if [ "$(id -u)" -eq 0 ]; then
    export FLOWLENS_REQUIRE_NETNS=1
    export FLOWLENS_REQUIRE_ROOT=1
    export FLOWLENS_REQUIRE_CLICKHOUSE=1
fi

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (cargo nextest)"
cargo nextest run --workspace --locked --no-fail-fast

step "web UI (typecheck, unit tests, browser end-to-end tests)"
scripts/ui-test.sh

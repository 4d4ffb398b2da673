#!/usr/bin/env bash
# UI checks: typecheck, unit tests (Vitest), then the browser tests against a live demo.
# Installs what the browser tests need when missing (Debian's chromium, node modules) and
# builds the flowlens binary if the Rust tests have not.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_BIN:-}" ]; then
  echo "ui-test: installing chromium"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

cd "$root/ui"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` follows the lock; `npm ci` rejects locks written without other platforms'
  # optional packages (npm's omit-lockfile-registry-resolved setting).
  echo "ui-test: npm install"
  npm install --no-audit --no-fund
fi

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export FLOWLENS_BIN="${FLOWLENS_BIN:-$target/debug/flowlens}"
if [ ! -x "$FLOWLENS_BIN" ]; then
  echo "ui-test: building flowlens"
  (cd "$root" && cargo build -p flowlens)
fi

# The fake Kubernetes API server the cluster browser tests run `serve --kube` against.
export FLOWLENS_FAKE_CLUSTER="${FLOWLENS_FAKE_CLUSTER:-$target/debug/examples/fake_cluster}"
if [ ! -x "$FLOWLENS_FAKE_CLUSTER" ]; then
  echo "ui-test: building the fake cluster"
  (cd "$root" && cargo build -p flowlens-kube --features test-support --example fake_cluster)
fi

echo "ui-test: typecheck"
npx tsc --noEmit
echo "ui-test: unit tests"
npx vitest run
echo "ui-test: build"
npx vite build --logLevel warn
echo "ui-test: browser tests"
node tests/run-e2e.mjs

#!/usr/bin/env bash
# What the ClickHouse store tests need from Debian: clickhouse-server and clickhouse-client
# (18.16 in bookworm). The tests start their own private server from the installed binary, in a
# temporary directory on loopback; the packaged system service is neither needed nor started.
# Installs only what is missing, and only as root; otherwise says which tests will skip.
set -euo pipefail

# Debian puts the server in /usr/sbin, which a user's PATH may lack.
have_server() {
  command -v clickhouse-server >/dev/null 2>&1 || command -v clickhouse >/dev/null 2>&1 \
    || [ -x /usr/sbin/clickhouse-server ]
}

need=()
have_server || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null 2>&1 || need+=(clickhouse-client)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "clickhouse-test-deps: missing ${need[*]} and cannot install them (needs root and apt-get);"
  echo "clickhouse-test-deps: the ClickHouse store tests will skip"
  exit 0
fi
echo "clickhouse-test-deps: installing ${need[*]}"
# Refresh the package lists only when they do not know the packages yet.
if ! apt-cache show clickhouse-server >/dev/null 2>&1; then
  apt-get update -qq
fi
# The package's post-install may try to start the system service; no init system runs here,
# and the tests do not use it, so policy-rc.d keeps it from being started.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  made_policy=1
fi
trap 'if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

#!/usr/bin/env bash
# What the live-source tests need from Debian: softflowd (a real IPFIX / NetFlow v9 / v5
# exporter), ping and netcat to make traffic, iproute2 for the network namespaces.
# Installs only what is missing, and only as root; otherwise says what the netns tests
# will skip.
set -euo pipefail

need=()
command -v softflowd >/dev/null 2>&1 || need+=(softflowd)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
command -v ip >/dev/null 2>&1 || need+=(iproute2)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "source-test-deps: missing ${need[*]} and cannot install them (needs root and apt-get);"
  echo "source-test-deps: the IPFIX/NetFlow network-namespace tests will skip"
  exit 0
fi
echo "source-test-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

#!/usr/bin/env bash
# Writes deploy/kubernetes/flowlens.yaml from the Helm chart's default values.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/helm-venv.sh)"
"$python" deploy/helm/render.py deploy/helm/flowlens --manifest > deploy/kubernetes/flowlens.yaml
echo "wrote deploy/kubernetes/flowlens.yaml"

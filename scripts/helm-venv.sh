#!/usr/bin/env bash
# A Python environment with Helm's template engine (helm-python-sdk: Helm v4's Go SDK as a
# bundled library, no helm binary) and PyYAML, for the chart tests and
# deploy/render-manifests.sh. Prints the environment's python; installs it once.
set -euo pipefail
venv="${FLOWLENS_HELM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flowlens/helm-venv}"
ready() { "$venv/bin/python" -c 'import helm_python, yaml' >/dev/null 2>&1; }
if ! ready; then
    # Two test runs may get here at once: one creates, the other waits and finds it ready.
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if ! ready; then
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            'helm-python-sdk==0.2.2' 'PyYAML>=6,<7' >&2
    fi
    flock -u 9
fi
echo "$venv/bin/python"

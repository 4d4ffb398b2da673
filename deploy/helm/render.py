#!/usr/bin/env python3
"""Renders the Flowlens chart with Helm's own template engine, without a helm binary.

It uses helm-python-sdk, which binds Helm's Go SDK (Helm v4) through a bundled shared
library; scripts/helm-venv.sh installs it. The chart is linted first; lint errors fail.

  render.py CHART [-f VALUES]... [--name NAME] [--namespace NS]
      prints {"<template>": "<rendered YAML>"} as JSON (empty templates left out)
  render.py CHART --manifest [...]
      prints one multi-document YAML stream: the plain manifests of deploy/kubernetes/
"""

import argparse
import json
import sys

import helm_python as helm
import yaml

# Order of the plain manifest: what others refer to comes first.
KIND_ORDER = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding",
              "PersistentVolumeClaim", "Service", "Deployment"]


def merge(base, over):
    """Deep merge, as helm merges -f files: maps merge, everything else replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("chart")
    p.add_argument("-f", "--values", action="append", default=[])
    p.add_argument("--name", default="flowlens")
    p.add_argument("--namespace", default="flowlens")
    p.add_argument("--manifest", action="store_true")
    args = p.parse_args()

    lint = helm.lint(args.chart)
    errors = lint.get("errors") or []
    # Severity 3 and above are errors in Helm's lint support levels (1 info, 2 warning).
    errors += [m for m in lint.get("messages") or [] if m.get("severity", 0) >= 3]
    if errors:
        print(f"helm lint: {errors}", file=sys.stderr)
        return 1

    values = {}
    for path in args.values:
        with open(path, encoding="utf-8") as f:
            values = merge(values, yaml.safe_load(f) or {})
    with helm.Chart.load(args.chart) as chart:
        rendered = chart.render(values, name=args.name, namespace=args.namespace)
    rendered = {k: v for k, v in sorted(rendered.items())
                if k.endswith((".yaml", ".yml")) and v.strip()}
    if not args.manifest:
        json.dump(rendered, sys.stdout, indent=1, sort_keys=True)
        return 0

    docs = []
    for template, text in rendered.items():
        for doc in text.split("\n---\n"):
            body = doc.strip()
            if body.startswith("---"):
                body = body[3:].strip()
            if body:
                kind = yaml.safe_load(body).get("kind", "")
                rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
                docs.append((rank, template, body))
    docs.sort(key=lambda d: (d[0], d[1]))
    print("# Flowlens, rendered from deploy/helm/flowlens with its default values")
    print("# (release flowlens, namespace flowlens). Do not edit: run")
    print("# deploy/render-manifests.sh after changing the chart.")
    for _, template, body in docs:
        print("---")
        print(f"# Source: {template}")
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

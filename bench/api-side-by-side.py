#!/usr/bin/env python3
"""The UI's requests timed over HTTP against running flowlens processes, whole path (routing,
parameter parsing, the store, JSON encoding), one or more builds side by side.

Usage:
  bench/api-side-by-side.py --build old=PATH --build new=PATH \
      --query-store DIR --scale-store DIR [--rounds 4] [--runs 5] [--out DIR]

--query-store: a store of synthetic flow logs, as `query_latency --dir DIR --only none` builds
  it (served with `flowlens serve`, no inventory). Timed: flow pages, groupings, the graph.
--scale-store: the `scale` benchmark store `preview_scale --dir DIR` builds (served with
  `flowlens demo --scenario scale` at the benchmark size, so the inventory is the one the
  flow logs were attributed with; the demo's own feed runs at one connection per second and
  lands outside the timed window). Timed: the Policy Board (`/api/policies`) for the last
  hour and the day, and the impact preview of the benchmark's draft over the day.

Each build serves its own copy of each store. Builds run one at a time, the order swapped
every round; every request is sent once to warm up, then --runs times. Prints per request
each build's p50 per round, the median of those, new/old per round (first build = reference)
and the rows each answered (which must agree).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOUR = 3600
DAY = 86400
SCALE = ["--scenario", "scale", "--namespaces", "2000", "--workloads", "10000",
         "--policies", "1000", "--tiers", "5", "--pods-per-workload", "3"]
# The benchmark's draft: the busiest policy with a leading deny of TCP 1-1024 both ways.
DRAFT_POLICY = "gnp:security.block-threat-feed"
# Which store answers which request.
KINDS = {
    "query": ["flows_15m", "flows_15m_deny", "flows_1h_selector", "namespace_pair_1h",
              "name_pair_1h", "policy_24h", "policy_rule_24h", "graph_1h"],
    "scale": ["board_1h", "board_24h", "preview_24h"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(binary, command, flag):
    out = subprocess.run([binary, command, "--help"], capture_output=True, text=True).stdout
    return flag in out


class Server:
    """One flowlens process (serve or demo) on a free loopback port."""

    def __init__(self, binary, command, args, log):
        self.port = free_port()
        argv = [binary, command, "--bind", "127.0.0.1", "--port", str(self.port)] + args
        if accepts(binary, command, "--no-auth"):
            argv.append("--no-auth")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{' '.join(argv)} exited with {self.proc.returncode}")
            try:
                self.get("/api/health")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise SystemExit(f"{' '.join(argv)} did not answer in 600 s")

    def fetch(self, path, body=None):
        """The response's bytes, read to the end (the client's JSON parsing is not timed)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, headers=headers,
                                     method="POST" if body is not None else "GET")
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.read()

    def request(self, path, body=None):
        return json.loads(self.fetch(path, body))

    def get(self, path):
        return self.request(path)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def rows_of(answer):
    """What a request answered, to check that every build answers the same."""
    if "flows" in answer:
        return answer["total"]
    if "rows" in answer:
        return len(answer["rows"])
    if "edges" in answer:
        return f"{len(answer['nodes'])} nodes, {len(answer['edges'])} edges"
    if "tiers" in answer:
        return sum(p["metrics"]["connections"] for t in answer["tiers"] for p in t["policies"])
    if "summary" in answer:
        return " ".join(f"{k} {v}" for k, v in sorted(answer["summary"].items()))
    return None


def time_requests(server, requests, runs, only=None):
    results = {}
    for name, path, body in requests:
        if only and name not in only:
            continue
        answer = server.fetch(path, body)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            answer = server.fetch(path, body)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        results[name] = {"p50_ms": statistics.median(times),
                         "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
                         "bytes": len(answer),
                         "rows": rows_of(json.loads(answer))}
    return results


def window(server):
    """The newest stored end time: the flow logs may lie in the past or the future."""
    return server.get("/api/health")["data_time"]["max"]


def query_requests(hi):
    h, q = f"from={hi - HOUR}&to={hi}", f"from={hi - 900}&to={hi}"
    d = f"from={hi - DAY}&to={hi}"
    sel = urllib.request.quote("app == 'checkout' && team in {'team-7', 'team-8'}")
    return [
        ("flows_15m", f"/api/flows?{q}&limit=100", None),
        ("flows_15m_deny", f"/api/flows?{q}&limit=100&filter=action%3Ddeny", None),
        ("flows_1h_selector", f"/api/flows?{h}&limit=100&source_selector={sel}", None),
        ("namespace_pair_1h", f"/api/aggregates?{h}&group_by=namespace_pair", None),
        ("name_pair_1h", f"/api/aggregates?{h}&group_by=name_pair", None),
        ("policy_24h", f"/api/aggregates?{d}&group_by=policy", None),
        ("policy_rule_24h", f"/api/aggregates?{d}&group_by=policy_rule", None),
        ("graph_1h", f"/api/graph?{h}", None),
    ]


def draft_yaml(server):
    """The draft from the server's own YAML of the policy (builds without it get the same
    draft, written once)."""
    policy = server.get(f"/api/policy?id={DRAFT_POLICY}")
    text = policy.get("yaml")
    if not text:
        return None
    rule = ("  - action: Deny\n    protocol: TCP\n    destination:\n"
            "      ports:\n      - 1:1024\n")
    for section in ("ingress:", "egress:"):
        text = re.sub(rf"^  {section}\n", f"  {section}\n{rule}", text, count=1, flags=re.M)
    return text


def scale_requests(hi, draft):
    return [
        ("board_1h", f"/api/policies?from={hi - HOUR}&to={hi}", None),
        ("board_24h", f"/api/policies?from={hi - DAY}&to={hi}", None),
        ("preview_24h", "/api/policies/preview", {"yaml": draft, "from": hi - DAY, "to": hi}),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", required=True, help="NAME=PATH (first: reference)")
    ap.add_argument("--query-store")
    ap.add_argument("--scale-store")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/tmp/flowlens-api-bench")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", help="comma-separated request names to time (default: all)")
    a = ap.parse_args()
    builds = dict(b.split("=", 1) for b in a.build)
    only = set(a.only.split(",")) if a.only else None
    out = a.out or os.path.join(a.work, time.strftime("results-%Y%m%dT%H%M", time.gmtime()))
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, "servers.log"), "a")

    stores = {}
    for kind, src in (("query", a.query_store), ("scale", a.scale_store)):
        if not src or (only and not only & set(KINDS[kind])):
            continue
        for b in builds:
            copy = os.path.join(a.work, f"{kind}-{b}")
            if not os.path.isdir(copy):
                shutil.copytree(src, copy)
            stores[(kind, b)] = copy

    draft = None
    results = {b: [] for b in builds}
    names = list(builds)
    for r in range(a.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for b in order:
            round_results = {}
            if ("query", b) in stores:
                s = Server(builds[b], "serve", ["--data", stores[("query", b)]], log)
                try:
                    round_results.update(time_requests(s, query_requests(window(s)), a.runs, only))
                finally:
                    s.stop()
            if ("scale", b) in stores:
                s = Server(builds[b], "demo", SCALE + ["--rate", "1", "--backfill", "0s",
                                                       "--data", stores[("scale", b)]], log)
                try:
                    hi = window(s)
                    if draft is None:
                        draft = draft_yaml(s)
                    if draft is None:
                        raise SystemExit(f"{b} does not give a policy's YAML: put the build that "
                                         "does first")
                    round_results.update(time_requests(s, scale_requests(hi, draft), a.runs, only))
                finally:
                    s.stop()
            results[b].append(round_results)
            print(f"round {r + 1} {b}: " + ", ".join(
                f"{k} {v['p50_ms']:.0f}" for k, v in round_results.items()), flush=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    report(results, names)


def report(results, names):
    ref = names[0]
    queries = list(results[ref][0])
    print(f"\n{'request':<20}" + "".join(f" {b + ' p50 per round (ms)':>34} {b + ' med':>9}" for b in names)
          + f" {'per-round ratio, median (range)':>32}  rows")
    for q in queries:
        line = f"{q:<20}"
        for b in names:
            v = [r[q]["p50_ms"] for r in results[b]]
            line += f" {' '.join(f'{x:.0f}' for x in v):>34} {statistics.median(v):>9.1f}"
        for b in names[1:]:
            ratios = [n[q]["p50_ms"] / o[q]["p50_ms"] for o, n in zip(results[ref], results[b])]
            line += f" {statistics.median(ratios):>12.3f} ({min(ratios):.2f}-{max(ratios):.2f})"
        rows = {b: results[b][-1][q]["rows"] for b in names}
        line += "  " + " / ".join(str(rows[b]) for b in names)
        print(line)


if __name__ == "__main__":
    sys.exit(main())

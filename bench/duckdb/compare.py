#!/usr/bin/env python3
"""Flowlens vs DuckDB on the same Parquet files and the same queries.

Runs the Rust example `query_latency` (which builds the store when DIR is empty, then times
the UI's queries), then runs the same queries as DuckDB SQL over DIR/data/**/*.parquet with
the same time windows, and prints the p50s side by side with the ratio.

    python3 compare.py --dir /tmp/flowlens-bench --records 10000000 --runs 20
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import duckdb

TRAFFIC = """
    count(*) AS records,
    sum(num_flows) AS num_flows,
    sum(num_flows_started) AS num_flows_started,
    sum(num_flows_completed) AS num_flows_completed,
    sum(packets_in) AS packets_in, sum(packets_out) AS packets_out,
    sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out,
    sum(CASE WHEN action = 'allow' THEN num_flows ELSE 0 END) AS allowed_flows,
    sum(CASE WHEN action = 'deny' THEN num_flows ELSE 0 END) AS denied_flows
"""


def flows_page(extra=""):
    # A page and its total, as Flowlens answers them.
    where = "end_time >= {from} AND end_time < {to}" + extra
    return [
        f"SELECT * FROM flows WHERE {where} ORDER BY end_time DESC, record_id DESC LIMIT 101",
        f"SELECT count(*) FROM flows WHERE {where}",
    ]


def group_by(keys):
    return [
        f"SELECT {keys}, {TRAFFIC} FROM flows "
        "WHERE end_time >= {from} AND end_time < {to} "
        f"GROUP BY {keys} ORDER BY num_flows DESC LIMIT 100000"
    ]


def policies(rule_level):
    # Unnest the hits, then group by the parsed policy (and rule), counting per hit action;
    # the pending trace likewise. Flowlens returns the same numbers.
    key = "split_part(hit, '|', 2) AS tier, split_part(hit, '|', 3) AS policy"
    groups = "tier, policy"
    if rule_level:
        key += ", split_part(hit, '|', 4) AS hit_action, split_part(hit, '|', 5) AS rule"
        groups += ", hit_action, rule"
    per_action = ", ".join(
        f"sum(CASE WHEN split_part(hit, '|', 4) = '{a}' THEN num_flows ELSE 0 END) AS {a}"
        for a in ("allow", "deny", "pass")
    )
    return [
        f"SELECT {key}, {TRAFFIC}, {per_action} FROM ("
        "  SELECT unnest(policies_enforced) AS hit, action, num_flows, num_flows_started, "
        "  num_flows_completed, packets_in, packets_out, bytes_in, bytes_out FROM flows "
        "  WHERE end_time >= {from} AND end_time < {to}"
        f") GROUP BY {groups}",
        f"SELECT {key}, sum(num_flows) AS pending, {per_action} FROM ("
        "  SELECT unnest(coalesce(policies_pending, policies_enforced)) AS hit, num_flows FROM flows "
        "  WHERE end_time >= {from} AND end_time < {to}"
        f") GROUP BY {groups}",
    ]


QUERIES = {
    "flows_15m": flows_page(),
    "flows_15m_deny": flows_page(" AND action = 'deny'"),
    # The Calico selector `app == 'checkout' && team in {'team-7', 'team-8'}` spelled out.
    "flows_1h_selector": flows_page(
        " AND list_contains(source_labels, 'app=checkout')"
        " AND (list_contains(source_labels, 'team=team-7') OR list_contains(source_labels, 'team=team-8'))"
    ),
    "namespace_pair_1h": group_by("source_namespace, dest_namespace"),
    "name_pair_1h": group_by("source_namespace, source_name_aggr, dest_namespace, dest_name_aggr"),
    "policy_24h": policies(False),
    "policy_rule_24h": policies(True),
}


def run_flowlens(args, results_path):
    cmd = [
        "cargo", "run", "--release", "-q", "-p", "flowlens-server", "--example", "query_latency", "--",
        "--records", str(args.records), "--dir", args.dir, "--runs", str(args.runs),
        "--json", results_path,
    ]
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=args.workspace)
    with open(results_path) as f:
        return json.load(f)


def run_duckdb(data_dir, windows, runs):
    con = duckdb.connect()
    con.execute("SET enable_object_cache = true")
    con.execute(
        f"CREATE VIEW flows AS SELECT * FROM read_parquet('{data_dir}/**/*.parquet')"
    )
    out = {}
    for name, sqls in QUERIES.items():
        if name not in windows:
            continue
        w = windows[name]
        texts = [s.replace("{from}", str(w["from"])).replace("{to}", str(w["to"])) for s in sqls]
        times = []
        rows = 0
        for run in range(runs + 1):
            started = time.perf_counter()
            results = [con.execute(t).fetchall() for t in texts]
            elapsed = (time.perf_counter() - started) * 1000
            rows = len(results[0])
            if run > 0:
                times.append(elapsed)
        times.sort()
        out[name] = (statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], rows)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True, help="store directory (built when empty)")
    p.add_argument("--records", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--workspace", default=os.path.normpath(os.path.join(here, "..", "..")))
    args = p.parse_args()
    args.dir = os.path.abspath(args.dir)

    flowlens = run_flowlens(args, os.path.join(args.dir + ".flowlens.json"))
    windows = {r["query"]: r for r in flowlens["results"]}
    duck = run_duckdb(flowlens["data_dir"], windows, args.runs)

    print()
    print(f"{flowlens['records']:,} records, {flowlens['bytes_on_disk'] / 1e6:,.0f} MB of Parquet "
          f"({flowlens['bytes_on_disk'] / max(1, flowlens['records']):.1f} bytes/record), "
          f"duckdb {duckdb.__version__}, {os.cpu_count()} cores")
    print(f"{'query':<20} {'flowlens p50':>13} {'duckdb p50':>11} {'ratio':>7}   {'flowlens p95':>13} {'duckdb p95':>11}")
    for r in flowlens["results"]:
        name = r["query"]
        if name not in duck:
            print(f"{name:<20} {r['p50_ms']:>10.1f} ms {'-':>11} {'-':>7}   {r['p95_ms']:>10.1f} ms {'-':>11}")
            continue
        d50, d95, _ = duck[name]
        ratio = r["p50_ms"] / d50 if d50 else float("inf")
        print(f"{name:<20} {r['p50_ms']:>10.1f} ms {d50:>8.1f} ms {ratio:>6.2f}x   {r['p95_ms']:>10.1f} ms {d95:>8.1f} ms")
    print("ratio = flowlens / duckdb (below 1: flowlens faster)")


if __name__ == "__main__":
    main()

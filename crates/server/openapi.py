#!/usr/bin/env python3
"""Writes openapi.json, the machine-readable form of docs/api.md. Run after changing routes;
a test checks that every route the server has is described here."""
import json, pathlib

time = [
    {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "e.g. 15m, 1h, 7d: back from the newest data (or now)"},
    {"name": "from", "in": "query", "schema": {"type": "integer"}, "description": "unix seconds"},
    {"name": "to", "in": "query", "schema": {"type": "integer"}, "description": "unix seconds, exclusive"},
]
filters = [
    {"name": "filter", "in": "query", "style": "form", "explode": True, "schema": {"type": "array", "items": {"type": "string"}},
     "description": "FIELD OP VALUE with a flow-log field as Calico names it, e.g. action=deny, dest_port>=1024, source_namespace=in:a,b, dest_labels=app=web, enforced_policies^=0|security| (repeatable)"},
    {"name": "source_selector", "in": "query", "schema": {"type": "string"}, "description": "Calico selector on source labels"},
    {"name": "dest_selector", "in": "query", "schema": {"type": "string"}, "description": "Calico selector on destination labels"},
    {"name": "policy", "in": "query", "schema": {"type": "string"}, "description": "TIER, TIER/NAME, TIER/NAMESPACE/NAME or TIER/KIND:[NAMESPACE/]NAME: flows whose enforced trace holds a hit of it"},
    {"name": "policy_action", "in": "query", "schema": {"type": "string", "enum": ["allow", "deny", "pass"]}},
    {"name": "policy_rule", "in": "query", "schema": {"type": "integer"}, "description": "rule index; -1 is the end of the tier"},
    {"name": "hits", "in": "query", "schema": {"type": "string", "enum": ["calico", "enterprise"]}, "description": "policy-hit spelling"},
]
paging = [
    {"name": "sort", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": True, "description": "FIELD, FIELD:desc or -FIELD (repeatable); newest first by default"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10000}},
    {"name": "page_token", "in": "query", "schema": {"type": "string"}},
]
def q(name, desc, typ="string", required=False, enum=None):
    s = {"type": typ}
    if enum: s["enum"] = enum
    return {"name": name, "in": "query", "required": required, "schema": s, "description": desc}
expand = {"name": "expand", "in": "query", "style": "form", "explode": True, "schema": {"type": "array", "items": {"type": "string"}}, "description": "namespaces to show as workloads and services; * for all"}
err = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
def ok(desc, schema=None, mime="application/json"):
    r = {"200": {"description": desc, "content": {mime: {"schema": schema or {"type": "object"}}}}, "400": err}
    return r
paths = {
    "/api/health": {"get": {"summary": "Health, store statistics, data time bounds; status is syncing while a cluster's first listing is under way (serve --kube), ok otherwise; mode is cluster or snapshot", "responses": ok("health")}},
    "/api/openapi.json": {"get": {"summary": "This document", "responses": ok("OpenAPI 3.1")}},
    "/api/flows": {"get": {"summary": "One page of flow logs", "parameters": time + filters + paging + [{"name": "include", "in": "query", "schema": {"type": "string", "enum": ["connections"]}, "description": "connections: add total_connections, the connections in the matching flow logs (each once; per endpoint record when the query picks by policy or reporter)"}],
        "responses": ok("page", {"type": "object", "properties": {"flows": {"type": "array", "items": {"$ref": "#/components/schemas/FlowLog"}}, "total": {"type": "integer"}, "next_page_token": {"type": ["string", "null"]}}})}},
    "/api/flows/export": {"get": {"summary": "The query's flows (up to 100,000) as a CSV or JSON download, streamed a page at a time (chunked; a failure after the first page ends the body early)",
        "parameters": time + filters + [q("format", "csv or json", enum=["csv", "json"])] + paging[:1],
        "responses": {"200": {"description": "file", "content": {"text/csv": {}, "application/json": {}}}, "400": err}}},
    "/api/flows/live": {"get": {"summary": "Newly stored flows as Server-Sent Events (event `flows`: {flows, dropped}; `lagged`)",
        "parameters": filters, "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {}}}, "400": err,
            "503": {"description": "as many live streams are open as the server allows (--max-live-streams); Retry-After says when to try again", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/api/aggregates": {"get": {"summary": "Flows grouped, with sums and rates",
        "parameters": [q("group_by", "grouping", required=True, enum=["namespace_pair", "name_pair", "edge", "service_edge", "action", "policy", "policy_rule"])] + time + filters,
        "responses": ok("rows", {"type": "object", "properties": {"rows": {"type": "array", "items": {"$ref": "#/components/schemas/AggregateRow"}}}})}},
    "/api/graph": {"get": {"summary": "Service graph nodes and edges", "parameters": time + filters + [expand], "responses": ok("graph")}},
    "/api/graph/edge": {"get": {"summary": "One edge: ports, deciding policies with traces, volumes, flows",
        "parameters": [q("source", "node id", required=True), q("target", "node id", required=True), expand] + time + filters + [q("limit", "flows listed", "integer")],
        "responses": ok("edge detail")}},
    "/api/inventory": {"get": {"summary": "Namespaces, endpoints, services, network sets, tiers", "responses": ok("inventory")}},
    "/api/cluster": {"get": {"summary": "The cluster the inventory follows (serve --kube): context, cluster name, API server, synced, watch and inventory revisions, last event time, each kind's watch state with its last error, kinds the cluster does not serve with the reason, skipped objects (listed for administrators), and write access (SelfSubjectAccessReview); {mode: snapshot, connected: false} without a cluster",
        "responses": ok("connection", {"type": "object", "required": ["mode", "connected"], "properties": {
            "mode": {"type": "string", "enum": ["cluster", "snapshot"]}, "connected": {"type": "boolean"},
            "context": {"type": ["string", "null"]}, "cluster": {"type": ["string", "null"]}, "server": {"type": "string"}, "in_cluster": {"type": "boolean"},
            "synced": {"type": "boolean", "description": "every served kind has been listed"}, "ready": {"type": "boolean", "description": "the listing is compiled and attributes flows"},
            "watch_revision": {"type": "integer"}, "inventory_revision": {"type": "integer"},
            "last_change_at": {"type": ["integer", "null"], "description": "unix milliseconds"}, "last_event_at": {"type": ["integer", "null"], "description": "unix milliseconds"},
            "kinds": {"type": "array", "items": {"type": "object", "properties": {"resource": {"type": "string"}, "api_version": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "listing", "watching", "retrying", "not_served"]}, "reason": {"type": "string"}, "objects": {"type": "integer"}, "events": {"type": "integer"}, "listings": {"type": "integer"}, "errors": {"type": "integer"}, "last_error": {"type": "string"}, "last_event_at": {"type": "integer"}}}},
            "skipped_kinds": {"type": "array", "items": {"type": "object", "properties": {"resource": {"type": "string"}, "reason": {"type": ["string", "null"]}}}},
            "skipped_objects": {"type": "integer"}, "skipped_listed": {"type": "array", "items": {"type": "object"}},
            "write": {"type": "object", "properties": {"checked": {"type": "boolean"}, "read_only": {"type": "boolean"}, "error": {"type": "string"}, "kinds": {"type": "array", "items": {"type": "object"}}}}}})}},
    "/api/labels": {"get": {"summary": "Label keys and values, for completion", "responses": ok("labels")}},
    "/api/explain": {"get": {"summary": "The engine's trace for one flow",
        "parameters": [q("source", "IP or NAMESPACE/NAME", required=True), q("dest", "IP or NAMESPACE/NAME (a Service follows to a backend)", required=True), q("port", "destination port", "integer", True), q("proto", "tcp, udp, icmp, sctp or a number"), q("src_port", "source port", "integer"), q("hits", "calico or enterprise"), q("at", "unix milliseconds: against the tiers and policies in force then (connected to a cluster)", "integer")],
        "responses": ok("explanation")}},
    "/api/sources": {"get": {"summary": "Every source feeding the store (live network sources, files, the demo's simulator) with its figures",
        "responses": ok("sources", {"type": "object", "properties": {"sources": {"type": "array", "items": {"$ref": "#/components/schemas/Source"}}}})}},
    "/metrics": {"get": {"summary": "The sources', the store's and the engine's figures for Prometheus (OpenMetrics text): flowlens_source_records_total{source,kind}, flowlens_source_dropped_total, flowlens_store_records, flowlens_engine_policies, …",
        "responses": {"200": {"description": "metrics", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}}},
    "/api/scenario": {"get": {"summary": "The running scenario and its steps (demo only)", "responses": {**ok("scenario"), "404": err}}},
    "/api/scenario/steps/{name}": {"post": {"summary": "Apply a scenario step now",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}], "responses": {**ok("applied"), "404": err}}},
}
schemas = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "details": {"type": "array", "items": {"type": "object", "properties": {"line": {"type": ["integer", "null"]}, "column": {"type": ["integer", "null"]}, "field": {"type": ["string", "null"]}, "message": {"type": "string"}}}}}},
    "FlowLog": {"type": "object", "description": "Calico flow-log fields (see docs/api.md) plus id", "additionalProperties": True},
    "Source": {"type": "object", "properties": {
        "name": {"type": "string", "description": "the --source URL (with the port a listener was given), a file name, or `scenario NAME`"},
        "kind": {"type": "string", "description": "goldmane, felix, hubble, ipfix, netflow, hubble-file, file, stdin, simulator"},
        "state": {"type": "string", "enum": ["running", "ended", "failed"]}, "error": {"type": ["string", "null"]},
        "connected": {"type": "boolean", "description": "connected, listening or receiving pushes (a file or the simulator: while it runs)"},
        "connections": {"type": "integer", "description": "live connections (the Felix collector: nodes pushing)"},
        "records": {"type": "integer", "description": "records accepted into the pipeline"},
        "records_per_second": {"type": "number", "description": "over the last ten seconds"},
        "rejected": {"type": "integer"}, "dropped": {"type": "integer", "description": "dropped because a queue was full"},
        "duplicates": {"type": "integer"}, "lost_upstream": {"type": "integer"}, "sequence_gaps": {"type": "integer"},
        "ignored": {"type": "integer"}, "errors": {"type": "integer"}, "reconnects": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
        "verdicts": {"type": ["object", "null"], "description": "sources whose records carry an observer's verdict (Hubble): how it compares with the engine's at the observing end",
            "properties": {
                "compared": {"type": "integer"}, "disagreed": {"type": "integer"},
                "unmodelled": {"type": "integer", "description": "disagreements where the observer credited a policy kind the engine does not model (CiliumNetworkPolicy, …)"},
                "recent": {"type": "array", "description": "the latest disagreements, newest first", "items": {"type": "object", "properties": {
                    "end_time": {"type": "integer"}, "source": {"type": "string"}, "dest": {"type": "string"}, "dest_port": {"type": "integer"},
                    "protocol": {"type": "string"}, "reporter": {"type": "string", "enum": ["src", "dst"]},
                    "observer_action": {"type": "string", "enum": ["allow", "deny"]}, "observer_policies": {"type": "array", "items": {"type": "string"}},
                    "engine_action": {"type": "string", "enum": ["allow", "deny"]}, "engine_policies": {"type": "array", "items": {"type": "string"}},
                    "unmodelled": {"type": "boolean"}}}}}},
        "last_record_time": {"type": ["number", "null"], "description": "unix seconds"}}},
    "AggregateRow": {"type": "object", "properties": {"key": {"type": "object"}, "records": {"type": "integer"}, "num_flows": {"type": "integer"}, "allowed_flows": {"type": "integer"}, "denied_flows": {"type": "integer"}, "bytes_in": {"type": "integer"}, "bytes_out": {"type": "integer"}, "packets_in": {"type": "integer"}, "packets_out": {"type": "integer"}, "connections_per_second": {"type": "number"}, "packets_per_second": {"type": "number"}, "bits_per_second": {"type": "number"}}, "additionalProperties": True},
}
policy_id = q("id", "KIND:[NAMESPACE/]NAME, e.g. np:shop/web, gnp:security.block, knp:shop/deny-all", required=True)
draft = {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
    "yaml": {"type": "string", "description": "one policy document"},
    "staged": {"type": "boolean", "description": "save or preview as the staged counterpart (true) or enforced (false)"},
    "delete": {"type": "string", "description": "preview deleting this policy id instead"},
    "version": {"type": "string", "description": "save: the policy version the edit is based on (as If-Match); a policy that changed since gets 409"},
    "force": {"type": "boolean", "description": "save to a cluster (serve --kube): take over the fields other field managers own (server-side apply force)"},
    "since": {"type": "string"}, "from": {"type": "integer"}, "to": {"type": "integer"}}}}}}
conflict = {"description": "the policy changed since the version the edit names (If-Match or version); current holds {id, version, yaml} of the current one, or null when it was deleted. Connected to a cluster: the cluster refused the apply (changed since, or fields another field manager owns): current holds {id, yaml, resource_version, managers}", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
if_match = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}, "description": "the policy version the edit is based on (version of GET /api/policy or the board)"}
unprocessable = {"description": "the policy does not validate; details give line, column and field", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
paths.update({
    "/api/policies": {
        "get": {"summary": "Policy Board: tiers in order, policies in order, with endpoint counts and hit metrics", "parameters": time, "responses": ok("board")},
        "put": {"summary": "Save (create or replace) a policy into the running inventory; connected to a cluster (serve --kube), a server-side apply to the cluster (dry run first, field manager flowlens; 403 read-only without write permission, 502 cluster unreachable); recorded in the audit log", "parameters": [if_match], "requestBody": draft, "responses": {**ok("saved: {id, created, revision, version}"), "409": conflict, "422": unprocessable}}},
    "/api/policy": {
        "get": {"summary": "One policy: YAML, rules in words with per-rule metrics, end of tier", "parameters": [policy_id] + time, "responses": {**ok("policy"), "404": err}},
        "delete": {"summary": "Remove a policy from the running inventory; recorded in the audit log", "parameters": [policy_id, q("version", "the policy version the deletion is based on (or If-Match)"), if_match], "responses": {**ok("deleted"), "404": err, "409": conflict}}},
    "/api/policies/validate": {"post": {"summary": "Parse one policy document: valid with id, endpoints selected and warnings, or not valid with the problems at their lines",
        "requestBody": {"required": True, "content": {"text/yaml": {"schema": {"type": "string"}}}}, "responses": ok('the answer: {"valid": true, "id", "policy", "endpoints", "warnings"} or {"valid": false, "error", "details"}')}},
    "/api/policies/preview": {"post": {"summary": "Impact preview: stored flows of the window re-evaluated with the draft (or deletion)",
        "requestBody": draft, "responses": {**ok("preview"), "422": unprocessable}}},
    "/api/audit": {"get": {"summary": "Recorded policy changes the caller may read, oldest first (the newest 1000): {entries: [{time, user, action (save|delete|apply|cluster-delete|add-tier), policy, tier, namespace, before, after, revision}], recorded}",
        "parameters": [q("id", "only this policy's changes")], "responses": ok("audit entries")}},
    "/api/policy-revisions": {"get": {"summary": "A policy's revisions as the cluster's watch saw them (serve --kube), oldest first, kept in memory for the watch's history window: {watched, revisions: [{at (Unix ms), resource_version, kind (observed|created|updated|deleted), yaml (null once deleted)}]}; {watched: false} without a cluster; 403 when the caller's scope does not include the policy",
        "parameters": [q("id", "policy id", required=True)], "responses": {**ok("revisions"), "403": err}}},
    "/api/me": {"get": {"summary": "Who the caller is and what it may do, for clients to offer only that: {name, auth (bearer|cookie|disabled|kubernetes), admin, scope: {role: admin} or {role: scoped, tiers: {all, named}, namespaces: {all, named}} with read or write per name, all for every one}", "responses": {"200": {"description": "the caller", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/api/policies/export": {"get": {"summary": "YAML of one policy (id), one tier (tier) or every policy",
        "parameters": [q("id", "policy id"), q("tier", "tier name")], "responses": {"200": {"description": "YAML", "content": {"text/yaml": {}}}, "404": err}}},
})
paths.update({
    "/api/recommendations": {"get": {"summary": "Policy advisor (administrators only): per namespace one ingress and one egress StagedNetworkPolicy in the namespace-isolation tier, learned from the window's stored traffic; each with its lifecycle status (learning, stable, staged, enforced), YAML, rules with their evidence and, with prove=true, the impact preview of enforcing it over the window",
        "parameters": time + [q("namespace", "recommend for this namespace (repeatable); default every namespace with pods except kube-*, calico-*, tigera-*"),
            q("learn", "attempted (default: every attempted connection, denied ones too) or allowed (only what today's policy allowed)", enum=["attempted", "allowed"]),
            q("stabilization", "a policy is stable once this last stretch of the window added no rule (default 10m)"),
            q("prove", "true: preview each policy, enforced, over the window", enum=["true", "false"]),
            q("range_min_ports", "observed ports become a range when at least this many lie together", "integer"),
            q("range_max_gap", "…each at most this far from the next", "integer")],
        "responses": ok("{window, stabilization_secs, flows_read, flows_used, tier: {name, order, exists, yaml}, policies: [{id, name, namespace, direction, status: {lifecycle, new_rules, differs_from_applied}, yaml, rules: [{peer, allowed_connections, denied_connections, observed_ports}], proof}], notes}")}},
    "/api/recommendations/apply": {"post": {"summary": "Save a recommended policy staged or enforced (administrators only), creating the advisor's tier first when it is missing; otherwise as PUT /api/policies (audit log, server-side apply when connected; 409 when the cluster lacks the tier)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["yaml"], "properties": {
            "yaml": {"type": "string", "description": "one recommended policy document"},
            "enforce": {"type": "boolean", "description": "save as NetworkPolicy (replacing the staged one of the same name) instead of StagedNetworkPolicy"}}}}}},
        "responses": {**ok("saved: {id, created, revision, version}"), "409": conflict, "422": unprocessable}}},
    "/api/policy-audit": {"get": {"summary": "Policy audit (administrators only): today's policies held against the window's stored traffic. Per workload pair (pods grouped as flow logs aggregate them) what policy allows, exact per port interval (Calico tiers, pass, admin policies, default deny), as segments with the deciding egress and ingress rules and the connections seen; the ports allowed but never used, the denied flows attempted with the rule that denies them today, and every rule in the workloads' traces with the pairs that never reached it",
        "parameters": time + [q("namespace", "audit pairs and flows with an end in this namespace (repeatable); default all")],
        "responses": ok("{window, workloads: [{namespace, name, name_aggr, kind, pods}], cells: [{source, dest, status (denied_attempted|allowed_used|allowed_unused|denied), allowed, allowed_connections, denied_connections, segments: [{protocol, ports: {first, last}|null, action, egress_rule, ingress_rule, undecidable, seen: {allowed_connections, denied_connections, ports}}]}], unused: [{source, dest, protocol, ports, partly_used, egress_rule, ingress_rule}], denied_attempted: [{source, dest, protocol, ports, distinct_ports, connections, rule, allowed_today}], rules: [{rule: {direction, tier, policy, rule, action}, pairs, pairs_hit, connections, idle_pairs: [{source, dest, connections}]}], protocols, flows_read, flows_in_matrix, questions, notes, timings_ms}")}},
})
paths.update({
    "/api/login": {"post": {"summary": "Trade the token for the session cookie (HttpOnly, SameSite=Strict, Secure under TLS); the UI calls it with the token from the login URL's #token=",
        "security": [], "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}}}},
        "responses": {"204": {"description": "logged in: Set-Cookie flowlens_session"}, "401": err}}},
    "/api/logout": {"post": {"summary": "Drop the session cookie", "security": [], "responses": {"204": {"description": "logged out"}}}},
})
admin_only = {"/api/sources", "/metrics", "/api/explain", "/api/scenario/steps/{name}", "/api/recommendations", "/api/recommendations/apply", "/api/policy-audit"}
scoped_reads = {"/api/flows", "/api/flows/export", "/api/flows/live", "/api/aggregates", "/api/graph", "/api/graph/edge"}
unauthorized = {"description": "no token, or not the server's (WWW-Authenticate: Bearer)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
for path, ops in paths.items():
    for op in ops.values():
        # Every request may meet the Host check; every change the Origin check.
        op["responses"]["421"] = {"description": "the Host header names a host this server does not answer to (--allowed-host)"}
        if "security" not in op and path != "/api/health":
            op["responses"]["401"] = unauthorized
    for method, op in ops.items():
        if path in ("/api/health", "/api/login", "/api/logout", "/api/openapi.json"):
            continue
        if method in ("post", "put", "delete"):
            op["responses"]["403"] = {"description": "cross-origin request (Origin or Sec-Fetch-Site of another site), or outside the user's scope (--roles): the message names the tier or namespace"}
        elif path in admin_only:
            op["responses"]["403"] = {"description": "for administrators only (--roles)"}
        elif path in scoped_reads:
            op["responses"]["403"] = {"description": "a scoped user (--roles) filtered by the policy-trace text, or by a policy of a tier it may not read"}
paths["/api/health"]["get"]["security"] = []
# The parameter objects are shared by the flow endpoints: amend them once.
filters[0]["description"] += "; at most 64 per query (more: 400), at most 256 values in one in: list"
paging[0]["description"] += "; at most 8"
doc = {"openapi": "3.1.0", "info": {"title": "Flowlens API", "version": "0.1.0", "description": "Flow logs with Kubernetes context and policy verdicts. Readable form: docs/api.md. Every route but /api/health and /api/login needs the server's token (or a --roles user's): Authorization: Bearer TOKEN, or the session cookie /api/login sets. A scoped user sees flows with an end in its namespaces (the other end as (hidden)), the policies of its tiers and namespaces, and writes only where it may (403)."},
       "paths": paths, "components": {"schemas": schemas, "securitySchemes": {
           "bearer": {"type": "http", "scheme": "bearer", "description": "the token in the data directory's api-token file (or --token-file)"},
           "cookie": {"type": "apiKey", "in": "cookie", "name": "flowlens_session"}}},
       "security": [{"bearer": []}, {"cookie": []}]}
pathlib.Path(__file__).with_name("openapi.json").write_text(json.dumps(doc, indent=2) + "\n")

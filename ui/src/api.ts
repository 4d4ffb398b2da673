// Typed client for the Flowlens HTTP API (docs/api.md) and the query state every view shares.
//
// A view's query lives in the hash route as the API's own parameters (since, from, to, filter,
// source_selector, dest_selector, policy, policy_action, policy_rule, …), so `FlowQuery` is a thin
// typed layer over URLSearchParams: parse it from the route, change it, write it back, and send
// the same parameters to the API. Parameters this module does not know are kept and passed on.
import { useCallback, useEffect, useRef, useState } from "react";

// ---------------------------------------------------------------------------------------------
// API types

export type Action = "allow" | "deny";
export type EndpointType = "wep" | "hep" | "ns" | "net";

/** One flow log, with Calico's field names. `-` (or null) means not applicable. */
export interface Flow {
  id: number;
  start_time: number;
  end_time: number;
  source_ip: string | null;
  source_name: string;
  source_name_aggr: string;
  source_namespace: string;
  source_port: number | null;
  source_type: EndpointType | string;
  source_labels: { labels: string[] } | null;
  dest_ip: string | null;
  dest_name: string;
  dest_name_aggr: string;
  dest_namespace: string;
  dest_port: number | null;
  dest_type: EndpointType | string;
  dest_labels: { labels: string[] } | null;
  dest_service_namespace: string;
  dest_service_name: string;
  dest_service_port: string;
  dest_service_port_num: number | null;
  proto: string;
  action: Action | string;
  reporter: "src" | "dst" | string;
  policies: { enforced_policies?: string[]; pending_policies?: string[] } | null;
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  num_flows: number;
  num_flows_started: number;
  num_flows_completed: number;
  process_name: string;
  process_id: string;
  host: string;
}

export interface FlowPage {
  flows: Flow[];
  total: number;
  next_page_token: string | null;
}

export type GroupBy = "namespace_pair" | "name_pair" | "edge" | "action" | "policy" | "policy_rule";

export interface AggregateKey {
  source_namespace: string | null;
  source_name_aggr: string | null;
  dest_namespace: string | null;
  dest_name_aggr: string | null;
  proto: string | null;
  dest_port: number | null;
  action: string | null;
  tier: string | null;
  kind: string | null;
  policy_namespace: string | null;
  policy_name: string | null;
  hit_action: string | null;
  rule: number | null;
}

export interface AggregateRow {
  key: AggregateKey;
  records: number;
  num_flows: number;
  num_flows_started: number;
  num_flows_completed: number;
  allowed_flows: number;
  denied_flows: number;
  packets_in: number;
  packets_out: number;
  bytes_in: number;
  bytes_out: number;
  connections_per_second: number;
  packets_per_second: number;
  bits_per_second: number;
  hits_allowed: number;
  hits_denied: number;
  hits_passed: number;
  pending_num_flows: number;
  pending_allowed: number;
  pending_denied: number;
  pending_passed: number;
}

export type GraphNodeKind = "namespace" | "workload" | "service" | "net" | "network_set" | "host";
export type EdgeStatus = "allowed" | "denied" | "mixed";

export interface GraphNode {
  id: string;
  kind: GraphNodeKind;
  label: string;
  namespace: string | null;
  parent: string | null;
  expanded: boolean;
  num_flows: number;
  denied_flows: number;
}

export interface PortVolume {
  proto: string;
  port: number | null;
  num_flows: number;
  denied_flows: number;
  allowed_flows?: number;
  bytes?: number;
  packets?: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  status: EdgeStatus;
  num_flows: number;
  allowed_flows: number;
  denied_flows: number;
  bytes: number;
  packets: number;
  ports: PortVolume[];
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** True when the server kept only the heaviest edges. */
  truncated?: boolean;
}

/**
 * The engine's explanation of one representative flow (`flowlens explain --output json`):
 * `text` is its readable rendering; `unavailable` says why there is none.
 */
export interface Trace {
  text?: string;
  unavailable?: string;
  action?: string;
  stored_policies?: string[];
  [key: string]: unknown;
}

export interface EdgePolicy {
  hit: string;
  tier: string;
  kind: string;
  namespace: string | null;
  name: string;
  action: string;
  rule: number;
  num_flows: number;
  trace: Trace | null;
}

export interface EdgeDetail {
  edge: GraphEdge;
  source: GraphNode;
  target: GraphNode;
  ports: PortVolume[];
  policies: EdgePolicy[];
  flows: Flow[];
  total_flows?: number;
}

export interface Health {
  status: string;
  version: string;
  /** The server's idea of now (data time when a demo runs faster than real time). */
  now?: number;
  store: Record<string, unknown>;
  /** The demo's scenario name, or null when serving real data. */
  scenario: string | null;
  inventory?: { counts: Record<string, number>; revision: number };
  data_time: { min: number; max: number } | null;
}

export interface ScenarioStep {
  name: string;
  description: string;
  applied: boolean;
}

export interface Scenario {
  name: string;
  description: string;
  steps: ScenarioStep[];
  speed: number;
}

export interface InventoryEndpoint {
  name: string;
  name_aggr?: string;
  namespace?: string | null;
  type?: EndpointType;
  ips?: string[];
  labels?: Record<string, string>;
  [key: string]: unknown;
}

export interface Inventory {
  namespaces: { name: string; labels: Record<string, string> }[];
  endpoints: InventoryEndpoint[];
  services: Record<string, unknown>[];
  network_sets: Record<string, unknown>[];
  tiers: Record<string, unknown>[];
  /** True when the server listed only the first endpoints of a large cluster. */
  endpoints_truncated?: boolean;
}

export interface Labels {
  keys: Record<string, string[]>;
  namespace_keys?: Record<string, string[]>;
}

// ---------------------------------------------------------------------------------------------
// Query state

/** The filter operators of the API, longest first so that parsing finds `!=` before `=`. */
export const FILTER_OPS = ["!^=", "!=", "^=", ">=", "<=", "=", ">", "<"] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

/** One `filter=FIELD OP VALUE` term. `in:` lists keep their prefix in `value`. */
export interface Filter {
  field: string;
  op: FilterOp;
  value: string;
}

/** Flow-log fields a filter can name, for autocompletion and the expanded row. */
export const FLOW_FIELDS = [
  "source_namespace",
  "source_name_aggr",
  "source_name",
  "source_ip",
  "source_port",
  "source_type",
  "source_labels",
  "dest_namespace",
  "dest_name_aggr",
  "dest_name",
  "dest_ip",
  "dest_port",
  "dest_type",
  "dest_labels",
  "dest_service_namespace",
  "dest_service_name",
  "dest_service_port",
  "dest_service_port_num",
  "proto",
  "action",
  "reporter",
  "process_name",
  "process_id",
  "host",
  "bytes_in",
  "bytes_out",
  "packets_in",
  "packets_out",
  "num_flows",
  "num_flows_started",
  "num_flows_completed",
  "start_time",
  "end_time",
] as const;

export function parseFilter(text: string): Filter | null {
  // The field is a plain identifier; the operator is the first one after it.
  const m = /^([A-Za-z_][A-Za-z0-9_.]*)(.*)$/.exec(text.trim());
  if (!m) return null;
  const rest = m[2];
  for (const op of FILTER_OPS) {
    if (rest.startsWith(op)) return { field: m[1], op, value: rest.slice(op.length) };
  }
  return null;
}

export function formatFilter(f: Filter): string {
  return `${f.field}${f.op}${f.value}`;
}

/** The filter that keeps the opposite: used by "filter out value" and the chip's negate. */
export function negateFilter(f: Filter): Filter {
  const flip: Partial<Record<FilterOp, FilterOp>> = {
    "=": "!=",
    "!=": "=",
    "^=": "!^=",
    "!^=": "^=",
    ">": "<=",
    "<=": ">",
    "<": ">=",
    ">=": "<",
  };
  return { ...f, op: flip[f.op] ?? f.op };
}

export function sameFilter(a: Filter, b: Filter): boolean {
  return a.field === b.field && a.op === b.op && a.value === b.value;
}

/** Parameters that shape a query (as opposed to paging or presentation). */
export const QUERY_PARAMS = [
  "since",
  "from",
  "to",
  "filter",
  "source_selector",
  "dest_selector",
  "policy",
  "policy_action",
  "policy_rule",
] as const;

/**
 * A flows query. `since` and `from`/`to` are exclusive; neither means everything stored.
 * `extra` holds every other parameter of the route (sort, hits, expand, view options, …).
 */
export interface FlowQuery {
  since?: string;
  from?: number;
  to?: number;
  filters: Filter[];
  source_selector?: string;
  dest_selector?: string;
  policy?: string;
  policy_action?: string;
  policy_rule?: string;
  extra: [string, string][];
}

export function parseQuery(params: URLSearchParams): FlowQuery {
  const q: FlowQuery = { filters: [], extra: [] };
  for (const [k, v] of params) {
    switch (k) {
      case "since":
        q.since = v;
        break;
      case "from":
        q.from = Number(v);
        break;
      case "to":
        q.to = Number(v);
        break;
      case "filter": {
        const f = parseFilter(v);
        if (f) q.filters.push(f);
        break;
      }
      case "source_selector":
      case "dest_selector":
      case "policy":
      case "policy_action":
      case "policy_rule":
        q[k] = v;
        break;
      default:
        q.extra.push([k, v]);
    }
  }
  return q;
}

/** The query as parameters; `omitExtra` leaves out the route-only ones (for API calls that don't take them). */
export function queryToParams(q: FlowQuery, opts: { omitExtra?: boolean } = {}): URLSearchParams {
  const p = new URLSearchParams();
  if (q.since) p.set("since", q.since);
  else if (q.from !== undefined && Number.isFinite(q.from)) {
    p.set("from", String(q.from));
    if (q.to !== undefined && Number.isFinite(q.to)) p.set("to", String(q.to));
  }
  for (const f of q.filters) p.append("filter", formatFilter(f));
  if (q.source_selector) p.set("source_selector", q.source_selector);
  if (q.dest_selector) p.set("dest_selector", q.dest_selector);
  if (q.policy) p.set("policy", q.policy);
  if (q.policy_action) p.set("policy_action", q.policy_action);
  if (q.policy_rule !== undefined && q.policy_rule !== "") p.set("policy_rule", q.policy_rule);
  if (!opts.omitExtra) for (const [k, v] of q.extra) p.append(k, v);
  return p;
}

/** Adds a filter (replacing its exact opposite, so "filter out" after "filter for" flips it). */
export function addFilter(q: FlowQuery, f: Filter): FlowQuery {
  const neg = negateFilter(f);
  const filters = q.filters.filter((x) => !sameFilter(x, f) && !sameFilter(x, neg));
  return { ...q, filters: [...filters, f] };
}

export function removeFilter(q: FlowQuery, index: number): FlowQuery {
  return { ...q, filters: q.filters.filter((_, i) => i !== index) };
}

export function getExtra(q: FlowQuery, key: string): string | undefined {
  return q.extra.find(([k]) => k === key)?.[1];
}

export function getExtraAll(q: FlowQuery, key: string): string[] {
  return q.extra.filter(([k]) => k === key).map(([, v]) => v);
}

/** Sets (or with `undefined` removes) a route-only parameter; an array sets it repeated. */
export function setExtra(q: FlowQuery, key: string, value: string | string[] | undefined): FlowQuery {
  const extra = q.extra.filter(([k]) => k !== key);
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  for (const v of values) extra.push([key, v]);
  return { ...q, extra };
}

/** The default time range of the views when the route says none. */
export const DEFAULT_SINCE = "1h";

export function withDefaultRange(q: FlowQuery): FlowQuery {
  if (q.since || q.from !== undefined) return q;
  return { ...q, since: DEFAULT_SINCE };
}

/** A filter on a flow's value: the field's value formatted the way the API parses it. */
export function filterForValue(field: string, value: unknown, exclude = false): Filter | null {
  if (value === null || value === undefined) return { field, op: exclude ? "!=" : "=", value: "-" };
  if (typeof value === "object") return null;
  return { field, op: exclude ? "!=" : "=", value: String(value) };
}

// ---------------------------------------------------------------------------------------------
// Policy hits

export interface PolicyHit {
  index: number;
  tier: string;
  /** np, gnp, knp, snp, sgnp, sknp, kcnp, pro (profile), … ; "" for the Enterprise spelling. */
  kind: string;
  namespace: string | null;
  name: string;
  action: string;
  /** -1 for the end of the tier. */
  rule: number;
  raw: string;
}

/**
 * Parses both spellings: `0|tier|kind:[ns/]name|action|rule` and `0|tier|[ns/]tier.name|action|rule`,
 * with or without the leading index (edge details give hits without it).
 */
export function parsePolicyHit(raw: string): PolicyHit | null {
  const parts = raw.split("|");
  if (parts.length === 4) parts.unshift("0");
  if (parts.length !== 5) return null;
  const [idx, tier, policy, action, rule] = parts;
  let kind = "";
  let rest = policy;
  const colon = policy.indexOf(":");
  if (colon > 0 && !policy.slice(0, colon).includes("/")) {
    kind = policy.slice(0, colon);
    rest = policy.slice(colon + 1);
  }
  const slash = rest.indexOf("/");
  const namespace = slash >= 0 ? rest.slice(0, slash) : null;
  const name = slash >= 0 ? rest.slice(slash + 1) : rest;
  return {
    index: Number(idx),
    tier,
    kind,
    namespace,
    name,
    action,
    rule: Number(rule),
    raw,
  };
}

/** Policy kinds as aggregate keys spell them (the model's enum) → the tag of hit strings. */
const KIND_TAGS: Record<string, string> = {
  NetworkPolicy: "np",
  GlobalNetworkPolicy: "gnp",
  StagedNetworkPolicy: "snp",
  StagedGlobalNetworkPolicy: "sgnp",
  StagedKubernetesNetworkPolicy: "sknp",
  KubernetesNetworkPolicy: "knp",
  AdminNetworkPolicy: "kcnp",
  BaselineAdminNetworkPolicy: "kcnp",
};

export function kindTag(kind: string | null | undefined): string {
  if (!kind) return "";
  return KIND_TAGS[kind] ?? kind;
}

/** The hit string for an aggregate row of `group_by=policy_rule` (null when it has no policy). */
export function hitOfKey(k: AggregateKey): string | null {
  if (!k.tier || !k.policy_name) return null;
  const tag = kindTag(k.kind);
  const name = `${tag ? `${tag}:` : ""}${k.policy_namespace ? `${k.policy_namespace}/` : ""}${k.policy_name}`;
  return `0|${k.tier}|${name}|${k.hit_action ?? "-"}|${k.rule ?? -1}`;
}

/** The `policy=` parameter value for a hit: TIER/NAME or TIER/NAMESPACE/NAME. */
export function policyParam(hit: PolicyHit): string {
  return hit.namespace ? `${hit.tier}/${hit.namespace}/${hit.name}` : `${hit.tier}/${hit.name}`;
}

export function ruleLabel(rule: number): string {
  return rule < 0 ? "end of tier" : `rule ${rule}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Base URL of the API; the UI is served by the same binary, so relative paths work. */
const BASE = "";

export function apiUrl(path: string, params?: URLSearchParams): string {
  const q = params?.toString();
  return `${BASE}${path}${q ? `?${q}` : ""}`;
}

export async function fetchJson<T>(path: string, params?: URLSearchParams, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path, params), init);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError("Cannot reach the Flowlens server. Is it running?", 0);
  }
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON; reported below if the status is an error
  }
  if (!res.ok) {
    const b = body as { error?: string; details?: unknown } | undefined;
    throw new ApiError(b?.error ?? `${res.status} ${res.statusText}`, res.status, b?.details);
  }
  return body as T;
}

export interface PageOptions {
  sort?: string[];
  limit?: number;
  page_token?: string;
  /** Other API parameters to pass on as they are (e.g. `hits=enterprise`). */
  params?: [string, string][];
}

function withPage(p: URLSearchParams, o: PageOptions): URLSearchParams {
  for (const [k, v] of o.params ?? []) p.append(k, v);
  for (const s of o.sort ?? []) p.append("sort", s);
  if (o.limit !== undefined) p.set("limit", String(o.limit));
  if (o.page_token) p.set("page_token", o.page_token);
  return p;
}

/** API calls. Each takes the query (route-only parameters are not sent) and an AbortSignal. */
export const api = {
  health: (signal?: AbortSignal) => fetchJson<Health>("/api/health", undefined, { signal }),

  flows: (q: FlowQuery, page: PageOptions = {}, signal?: AbortSignal) =>
    fetchJson<FlowPage>("/api/flows", withPage(queryToParams(q, { omitExtra: true }), page), { signal }),

  aggregates: (q: FlowQuery, groupBy: GroupBy, signal?: AbortSignal) => {
    const p = queryToParams(q, { omitExtra: true });
    p.set("group_by", groupBy);
    return fetchJson<{ rows: AggregateRow[] }>("/api/aggregates", p, { signal });
  },

  graph: (q: FlowQuery, expand: string[], signal?: AbortSignal) => {
    const p = queryToParams(q, { omitExtra: true });
    for (const ns of expand) p.append("expand", ns);
    return fetchJson<Graph>("/api/graph", p, { signal });
  },

  graphEdge: (q: FlowQuery, source: string, target: string, expand: string[], signal?: AbortSignal) => {
    const p = queryToParams(q, { omitExtra: true });
    p.set("source", source);
    p.set("target", target);
    for (const ns of expand) p.append("expand", ns);
    return fetchJson<EdgeDetail>("/api/graph/edge", p, { signal });
  },

  inventory: (signal?: AbortSignal) => fetchJson<Inventory>("/api/inventory", undefined, { signal }),

  labels: (signal?: AbortSignal) => fetchJson<Labels>("/api/labels", undefined, { signal }),

  scenario: (signal?: AbortSignal) => fetchJson<Scenario>("/api/scenario", undefined, { signal }),

  applyStep: (name: string) =>
    fetchJson<{ applied: string; time: number }>(`/api/scenario/steps/${encodeURIComponent(name)}`, undefined, {
      method: "POST",
    }),
};

/** The export download URL for the query (all pages, up to the server's limit). */
export function exportUrl(q: FlowQuery, format: "csv" | "json", page: PageOptions = {}): string {
  const p = withPage(queryToParams(q, { omitExtra: true }), { ...page, limit: undefined, page_token: undefined });
  p.set("format", format);
  return apiUrl("/api/flows/export", p);
}

/**
 * Streams new flows matching the query (its time range is ignored by the server).
 * Returns a function that closes the stream.
 */
export function streamFlows(
  q: FlowQuery,
  onFlows: (flows: Flow[]) => void,
  onState?: (state: "open" | "error") => void,
): () => void {
  const p = queryToParams({ ...q, since: undefined, from: undefined, to: undefined }, { omitExtra: true });
  const es = new EventSource(apiUrl("/api/flows/live", p));
  es.addEventListener("flows", (ev) => {
    try {
      const data = JSON.parse((ev as MessageEvent<string>).data) as { flows: Flow[] };
      onFlows(data.flows ?? []);
    } catch {
      // a malformed event is skipped; the next batch carries on
    }
  });
  es.onopen = () => onState?.("open");
  es.onerror = () => onState?.("error");
  return () => es.close();
}

// ---------------------------------------------------------------------------------------------
// React hook

export interface Loadable<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` whenever `key` changes (and on `reload`), aborting the previous request.
 * Keeps the last data while reloading so views don't flash empty; `refreshMs` polls.
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, key: string, refreshMs?: number): Loadable<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    loadRef.current(ctl.signal).then(
      (d) => {
        if (ctl.signal.aborted) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [key, tick]);

  useEffect(() => {
    if (!refreshMs) return;
    // A hidden tab does not poll; it catches up on the next tick once visible.
    const t = window.setInterval(() => !document.hidden && setTick((n) => n + 1), refreshMs);
    return () => window.clearInterval(t);
  }, [refreshMs, key]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, loading, reload };
}

// ---------------------------------------------------------------------------------------------
// Formatting

const NUM = new Intl.NumberFormat("en-US");

export function formatNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return NUM.format(Math.round(n));
}

/** 1234 → "1.2k"; for dense tables and badges. */
export function formatCompact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n * 10) / 10);
  const units = ["k", "M", "G", "T"];
  let v = n;
  let i = -1;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : Math.round(v * 10) / 10}${units[i]}`;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** A per-second rate: "12.3/s"; bits use k/M/G. */
export function formatRate(n: number, unit = ""): string {
  if (!Number.isFinite(n) || n === 0) return "0";
  if (n < 0.01) return `<0.01${unit}`;
  if (n < 10) return `${n.toFixed(2)}${unit}`;
  return `${formatCompact(n)}${unit}`;
}

export function formatTime(unix: number): string {
  const d = new Date(unix * 1000);
  const p = (x: number) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "Nov 21 17:51:30": for tables, where the year is noise. */
export function formatShortTime(unix: number): string {
  const d = new Date(unix * 1000);
  const p = (x: number) => String(x).padStart(2, "0");
  return `${MONTHS[d.getMonth()]} ${d.getDate()} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The endpoint's display: "namespace/name" or just the name for endpoints outside namespaces. */
export function endpointLabel(namespace: string | null | undefined, name: string | null | undefined): string {
  const n = name && name !== "-" ? name : "?";
  return namespace && namespace !== "-" ? `${namespace}/${n}` : n;
}

export const ENDPOINT_TYPES: { value: EndpointType; label: string }[] = [
  { value: "wep", label: "Workload (WEP)" },
  { value: "hep", label: "Host (HEP)" },
  { value: "ns", label: "Network set" },
  { value: "net", label: "Network" },
];

// The query state every view shares. A view's query lives in the hash route as the API's own
// parameters (since, from, to, filter, source_selector, dest_selector, policy, policy_action,
// policy_rule, …), so `FlowQuery` is a thin typed layer over URLSearchParams: parse it from the
// route, change it, write it back, and send the same parameters to the API. Parameters this
// module does not know are kept and passed on.

import { FILTER_OPS, type FilterOp } from "./flowFields.generated";

/** One `filter=FIELD OP VALUE` term. `in:` lists keep their prefix in `value`. */
export interface Filter {
  field: string;
  op: FilterOp;
  value: string;
}

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

/** The filter that keeps the opposite: used by "filter out value" and the chip's invert. */
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

/** A time range: `since` back from the newest data, or `from`/`to` in unix seconds; neither is all. */
export interface TimeRange {
  since?: string;
  from?: number;
  to?: number;
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
export interface FlowQuery extends TimeRange {
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

/** The time range as route or API parameters. */
export function rangeParams(r: TimeRange, p = new URLSearchParams()): URLSearchParams {
  if (r.since) p.set("since", r.since);
  else if (r.from !== undefined && Number.isFinite(r.from)) {
    p.set("from", String(r.from));
    if (r.to !== undefined && Number.isFinite(r.to)) p.set("to", String(r.to));
  }
  return p;
}

/** The query as parameters; `omitExtra` leaves out the route-only ones (for API calls that don't take them). */
export function queryToParams(q: FlowQuery, opts: { omitExtra?: boolean } = {}): URLSearchParams {
  const p = rangeParams(q);
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

export function withDefaultRange<T extends TimeRange>(q: T): T {
  if (q.since || q.from !== undefined) return q;
  return { ...q, since: DEFAULT_SINCE };
}

/** A filter on a flow's value: the field's value formatted the way the API parses it. */
export function filterForValue(field: string, value: unknown, exclude = false): Filter | null {
  if (value === null || value === undefined) return { field, op: exclude ? "!=" : "=", value: "-" };
  if (typeof value === "object") return null;
  return { field, op: exclude ? "!=" : "=", value: String(value) };
}

/**
 * The flows query for one policy's hits (route and API parameters), so every metric can open
 * the Flows view on exactly the flows it counts. The policy is named by tier and id
 * (`TIER/KIND:[NS/]NAME`) so a Kubernetes and a Calico policy of one name stay apart.
 */
export function policyFlowsParams(
  p: { tier: string; id: string },
  range: TimeRange,
  action?: string,
  rule?: number,
): URLSearchParams {
  const params = rangeParams(range);
  params.set("policy", `${p.tier}/${p.id}`);
  if (action) params.set("policy_action", action);
  if (rule !== undefined) params.set("policy_rule", String(rule));
  return params;
}

/**
 * The candidate `word` most likely means: one it starts with (or that starts with it), else
 * the longest shared start of three letters or more, else one it abbreviates (`src` for
 * `source`), else the closest within two edits.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  if (!w) return undefined;
  const prefix = candidates.find((c) => w.startsWith(c) || c.startsWith(w));
  if (prefix) return prefix;
  const shared = (c: string) => {
    let n = 0;
    while (n < c.length && n < w.length && c[n] === w[n]) n++;
    return n;
  };
  const longest = [...candidates].sort((a, b) => shared(b) - shared(a))[0];
  if (longest && shared(longest) >= 3) return longest;
  const abbreviates = (c: string) => {
    if (c[0] !== w[0]) return false;
    let i = 0;
    for (const ch of w) if (ch === c[i]) i++;
    return i === c.length;
  };
  const abbreviation = candidates.find(abbreviates);
  if (abbreviation) return abbreviation;
  let best: [number, string] | undefined;
  for (const c of candidates) {
    const d = editDistance(w, c);
    if (d <= 2 && (!best || d < best[0])) best = [d, c];
  }
  return best?.[1];
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1), row[j] + 1, next[j - 1] + 1);
    }
    row = next;
  }
  return row[b.length];
}

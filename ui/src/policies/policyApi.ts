// Typed calls to the policy endpoints of the HTTP API (docs/api.md).

export interface PolicyMetrics {
  connections: number;
  allowed: number;
  denied: number;
  passed: number;
  pending_connections: number;
  pending_allowed: number;
  pending_denied: number;
  pending_passed: number;
}

export interface BoardPolicy {
  id: string;
  tier: string;
  kind: string;
  kind_label: string;
  name: string;
  namespace: string | null;
  order: number | null;
  selector: string;
  staged: boolean;
  endpoints: number;
  types: string[];
  metrics: PolicyMetrics;
  /** Rules no flow hit in the range: indices, or indices per direction. */
  unused_rules: UnusedRules;
}

export type UnusedRules = number[] | string[] | { ingress?: number[]; egress?: number[] };

/** The unused rules as `Ingress rule 0`, `Egress rule 1`, … (`Rule 2` when the direction is not given). */
export function unusedRuleLabels(u: UnusedRules | null | undefined): string[] {
  if (!u) return [];
  if (Array.isArray(u)) {
    return u.map((x) => {
      const [dir, idx] = String(x).includes(":") ? String(x).split(":") : ["", String(x)];
      return dir ? `${dir[0].toUpperCase()}${dir.slice(1)} rule ${idx}` : `Rule ${idx}`;
    });
  }
  return [...(u.ingress ?? []).map((i) => `Ingress rule ${i}`), ...(u.egress ?? []).map((i) => `Egress rule ${i}`)];
}

export interface BoardTier {
  name: string;
  order: number | null;
  default_action: string;
  policies: BoardPolicy[];
}

export interface Board {
  time: { from: number | null; to: number | null } | null;
  tiers: BoardTier[];
}

export interface RuleView {
  index: number;
  text: string;
  action: string;
  metrics: PolicyMetrics;
}

export interface PolicyDetail extends BoardPolicy {
  /** Null when the server cannot print the policy. */
  yaml: string | null;
  ingress: RuleView[];
  egress: RuleView[];
  end_of_tier: { action: string | null; metrics: PolicyMetrics; ingress?: PolicyMetrics; egress?: PolicyMetrics } | null;
}

export interface ErrorDetail {
  line?: number | null;
  column?: number | null;
  field?: string | null;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly details: ErrorDetail[];
  constructor(status: number, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export type ChangeKind = "allow_to_deny" | "deny_to_allow" | "uncertain";

export interface PreviewChange {
  change: ChangeKind;
  source_namespace: string | null;
  source_name_aggr: string;
  dest_namespace: string | null;
  dest_name_aggr: string;
  proto: string;
  dest_port: number | null;
  flow_logs: number;
  num_flows: number;
  before: string | null;
  after: string | null;
  reason: string | null;
}

export interface PreviewSummary {
  allow_to_deny: number;
  deny_to_allow: number;
  uncertain: number;
  unchanged: number;
}

export interface Preview {
  window: { from: number | null; to: number | null };
  /** create, replace or delete. */
  operation?: string;
  /** `pending` when the policy is staged: what it would do is compared, not what is enforced. */
  compared?: "enforced" | "pending";
  /** Distinct flows in the window, and those the policy applies to. */
  tuples?: number;
  evaluated_tuples: number;
  flow_logs: number;
  num_flows?: number;
  /** Counted in flow logs; `summary_num_flows` counts connections. */
  summary: PreviewSummary;
  summary_num_flows?: PreviewSummary;
  /** Flow logs recorded under another policy set than the current one. */
  stored_mismatch_flow_logs?: number;
  changes: PreviewChange[];
}

export interface Validated {
  policy: Record<string, unknown>;
  [k: string]: unknown;
}

async function request<T>(url: string, init?: RequestInit, as: "json" | "text" = "json"): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    let details: ErrorDetail[] = [];
    try {
      const body = (await res.json()) as { error?: string; details?: ErrorDetail[] };
      if (body.error) message = body.error;
      if (Array.isArray(body.details)) details = body.details;
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(res.status, message, details);
  }
  return (as === "json" ? res.json() : res.text()) as Promise<T>;
}

function query(params: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") p.set(k, v);
  const q = p.toString();
  return q ? `?${q}` : "";
}

export function fetchBoard(since: string, signal?: AbortSignal): Promise<Board> {
  return request<Board>(`/api/policies${query({ since })}`, { signal });
}

export function fetchPolicy(id: string, since: string, signal?: AbortSignal): Promise<PolicyDetail> {
  return request<PolicyDetail>(`/api/policy${query({ id, since })}`, { signal });
}

export function validatePolicy(yaml: string, signal?: AbortSignal): Promise<Validated> {
  return request<Validated>("/api/policies/validate", {
    method: "POST",
    headers: { "content-type": "text/yaml" },
    body: yaml,
    signal,
  });
}

export function previewPolicy(
  body: { yaml: string; since: string } | { delete: string; since: string },
  signal?: AbortSignal,
): Promise<Preview> {
  return request<Preview>("/api/policies/preview", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

export function savePolicy(yaml: string, staged: boolean): Promise<Record<string, unknown>> {
  return request("/api/policies", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ yaml, staged }),
  });
}

export function deletePolicy(id: string): Promise<unknown> {
  return request(`/api/policy${query({ id })}`, { method: "DELETE" }, "text");
}

export function exportPolicies(tier?: string): Promise<string> {
  return request<string>(`/api/policies/export${query({ tier })}`, undefined, "text");
}

/** Offers text as a file download. */
export function download(fileName: string, text: string, type = "text/yaml") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * The flows query for one policy hit (API filter parameters), so every metric can open
 * the Flows view on exactly the flows it counts. The policy is named by tier and id
 * (`TIER/KIND:[NS/]NAME`) so a Kubernetes and a Calico policy of one name stay apart.
 */
export function policyFlowsParams(
  p: { tier: string; id: string },
  since: string,
  action?: string,
  rule?: number,
): Record<string, string> {
  const params: Record<string, string> = {};
  if (since) params.since = since;
  params.policy = `${p.tier}/${p.id}`;
  if (action) params.policy_action = action;
  if (rule !== undefined) params.policy_rule = String(rule);
  return params;
}

/** One row of `/api/aggregates?group_by=edge` (the fields this view reads). */
export interface EdgeAggregate {
  key: {
    source_namespace: string | null;
    source_name_aggr: string | null;
    dest_namespace: string | null;
    dest_name_aggr: string | null;
    proto: string | null;
    dest_port: number | null;
    action: string | null;
  };
  num_flows: number;
  allowed_flows: number;
  denied_flows: number;
}

/** The flows one policy hit counts, by edge and port. */
export function fetchHitEdges(params: Record<string, string>, signal?: AbortSignal): Promise<{ rows: EdgeAggregate[] }> {
  return request(`/api/aggregates${query({ ...params, group_by: "edge" })}`, { signal });
}

// The HTTP client: one fetch wrapper, one error type, and a typed call per endpoint.
import type { Flow } from "./fields";
import { queryToParams, rangeParams, type FlowQuery, type TimeRange } from "./query";
import type {
  AggregateRow,
  AuditEntry,
  Board,
  EdgeDetail,
  ErrorDetail,
  FlowPage,
  Graph,
  GroupBy,
  Health,
  Inventory,
  Labels,
  PolicyDetail,
  PolicyRevision,
  Preview,
  Recommendations,
  PolicyAudit,
  Scenario,
  Source,
  ClusterConnection,
  Validated,
} from "./types";

/** An answer the server refused, with its message and, for manifests, the problems by line. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details: ErrorDetail[] = [],
    /** What the request was about as it is now (a 409's current policy). */
    readonly current?: ConflictCurrent | null,
  ) {
    super(message);
  }
}

/** The current version of a policy a save conflicted with. */
export interface ConflictCurrent {
  id?: string;
  yaml?: string | null;
  /** The running inventory's version (a conflict found by Flowlens). */
  version?: string;
  /** The cluster's version and the field managers that own what the edit changes. */
  resource_version?: string | null;
  managers?: string[];
}

/** Base URL of the API; the UI is served by the same binary, so relative paths work. */
const BASE = "";

export function apiUrl(path: string, params?: URLSearchParams): string {
  const q = params?.toString();
  return `${BASE}${path}${q ? `?${q}` : ""}`;
}

async function request(path: string, params?: URLSearchParams, init?: RequestInit): Promise<string> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path, params), init);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError("Cannot reach the Flowlens server. Is it running?", 0);
  }
  const text = await res.text();
  if (!res.ok) {
    let body: { error?: string; details?: unknown; current?: ConflictCurrent | null } | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: the status line says what happened
    }
    const details = Array.isArray(body?.details) ? (body.details as ErrorDetail[]) : [];
    throw new ApiError(body?.error ?? `${res.status} ${res.statusText}`, res.status, details, body?.current);
  }
  return text;
}

export async function fetchJson<T>(path: string, params?: URLSearchParams, init?: RequestInit): Promise<T> {
  const text = await request(path, params, init);
  return (text ? JSON.parse(text) : undefined) as T;
}

export function fetchText(path: string, params?: URLSearchParams, init?: RequestInit): Promise<string> {
  return request(path, params, init);
}

const jsonBody = (method: string, body: unknown, signal?: AbortSignal): RequestInit => ({
  method,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
  signal,
});

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

/** The body of a preview: a draft, or the id of a policy to delete, over a time range. */
export type PreviewRequest = ({ yaml: string } | { delete: string }) & TimeRange;

/** The parameters of a flows page: the query (route-only parameters left out) and the paging. */
export function flowsParams(q: FlowQuery, page: PageOptions = {}): URLSearchParams {
  return withPage(queryToParams(q, { omitExtra: true }), page);
}

/** API calls. Each takes the query (route-only parameters are not sent) and an AbortSignal. */
export const api = {
  health: (signal?: AbortSignal) => fetchJson<Health>("/api/health", undefined, { signal }),

  flows: (q: FlowQuery, page: PageOptions = {}, signal?: AbortSignal) =>
    fetchJson<FlowPage>("/api/flows", flowsParams(q, page), { signal }),

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

  sources: (signal?: AbortSignal) => fetchJson<{ sources: Source[] }>("/api/sources", undefined, { signal }),

  cluster: (signal?: AbortSignal) => fetchJson<ClusterConnection>("/api/cluster", undefined, { signal }),

  applyStep: (name: string) =>
    fetchJson<{ applied: string; time: number }>(`/api/scenario/steps/${encodeURIComponent(name)}`, undefined, {
      method: "POST",
    }),

  board: (range: TimeRange, signal?: AbortSignal) => fetchJson<Board>("/api/policies", rangeParams(range), { signal }),

  policy: (id: string, range: TimeRange, signal?: AbortSignal) =>
    fetchJson<PolicyDetail>("/api/policy", rangeParams(range, new URLSearchParams({ id })), { signal }),

  validatePolicy: (yaml: string, signal?: AbortSignal) =>
    fetchJson<Validated>("/api/policies/validate", undefined, {
      method: "POST",
      headers: { "content-type": "text/yaml" },
      body: yaml,
      signal,
    }),

  previewPolicy: (body: PreviewRequest, signal?: AbortSignal) =>
    fetchJson<Preview>("/api/policies/preview", undefined, jsonBody("POST", body, signal)),

  /** `version`: the version of the policy the edit started from (a stale one gets 409). */
  savePolicy: (yaml: string, staged: boolean, version?: string, force = false) =>
    fetchJson<Record<string, unknown>>(
      "/api/policies",
      undefined,
      jsonBody("PUT", { yaml, staged, ...(version ? { version } : {}), ...(force ? { force } : {}) }),
    ),

  deletePolicy: (id: string, version?: string) =>
    fetchText("/api/policy", new URLSearchParams(version ? { id, version } : { id }), { method: "DELETE" }),

  /** The advisor's recommendation for the window; `namespace` narrows it, `prove` adds each policy's proof. */
  recommendations: (
    range: TimeRange,
    options: { namespace?: string; learn?: "attempted" | "allowed"; prove?: boolean },
    signal?: AbortSignal,
  ) => {
    const p = rangeParams(range);
    if (options.namespace) p.set("namespace", options.namespace);
    if (options.learn) p.set("learn", options.learn);
    if (options.prove) p.set("prove", "true");
    return fetchJson<Recommendations>("/api/recommendations", p, { signal });
  },

  /** Saves a recommended policy staged (creating the advisor's tier when missing) or enforced. */
  applyRecommendation: (yaml: string, enforce: boolean) =>
    fetchJson<Record<string, unknown>>("/api/recommendations/apply", undefined, jsonBody("POST", { yaml, enforce })),

  /** Today's policies held against the window's traffic (administrators only). */
  policyAudit: (range: TimeRange, namespaces: string[], signal?: AbortSignal) => {
    const p = rangeParams(range);
    for (const ns of namespaces) p.append("namespace", ns);
    return fetchJson<PolicyAudit>("/api/policy-audit", p, { signal });
  },

  exportPolicies: (tier?: string) => fetchText("/api/policies/export", tier ? new URLSearchParams({ tier }) : undefined),

  /** The recorded changes of policy `id` the user may read, oldest first. */
  audit: (id: string, signal?: AbortSignal) =>
    fetchJson<{ entries: AuditEntry[]; recorded: boolean }>("/api/audit", new URLSearchParams({ id }), { signal }),

  /** Policy `id`'s revisions as the cluster's watch saw them, oldest first (`watched`: connected). */
  policyRevisions: (id: string, signal?: AbortSignal) =>
    fetchJson<{ watched: boolean; revisions: PolicyRevision[] }>("/api/policy-revisions", new URLSearchParams({ id }), { signal }),
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

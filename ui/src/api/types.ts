// The shapes the HTTP API answers with (docs/api.md). The flow log itself is in `fields.ts`.
import type { Flow } from "./fields";

export type Action = "allow" | "deny";
export type EndpointType = "wep" | "hep" | "ns" | "net";

export interface FlowPage {
  flows: Flow[];
  /** Flow logs (records) matching the query. */
  total: number;
  /** Connections (the sum of `num_flows`) in those flow logs, when asked for. */
  total_connections?: number;
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
  /**
   * The hop from a Service to a backend: its flows are those of the edges into the Service,
   * counted there; sums over edges leave it out.
   */
  backend_hop?: boolean;
}

/** A graph's traffic with each connection counted once, however many edges draw it. */
export interface GraphTotals {
  num_flows: number;
  allowed_flows: number;
  denied_flows: number;
  bytes: number;
  packets: number;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  totals?: GraphTotals;
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

/** One kind's watch (`/api/cluster`). */
export interface KindWatch {
  /** `pods`, `tiers.projectcalico.org`, … */
  resource: string;
  api_version?: string;
  state: "pending" | "listing" | "watching" | "retrying" | "not_served";
  /** Why the kind is not served, or the last error. */
  reason?: string;
  objects: number;
  events: number;
  listings: number;
  errors: number;
  last_error?: string;
  last_event_at?: number;
}

/** The cluster the inventory follows (`/api/cluster`); `connected: false` for a snapshot. */
export interface ClusterConnection {
  mode: "cluster" | "snapshot";
  connected: boolean;
  inventory_revision: number;
  context?: string | null;
  cluster?: string | null;
  server?: string;
  in_cluster?: boolean;
  /** Every served kind has been listed. */
  synced?: boolean;
  /** The listing is compiled: flows are attributed with it. */
  ready?: boolean;
  watch_revision?: number;
  /** Unix milliseconds. */
  last_change_at?: number | null;
  last_event_at?: number | null;
  kinds?: KindWatch[];
  skipped_kinds?: { resource: string; reason: string | null }[];
  skipped_objects?: number;
  write?: { checked: boolean; read_only: boolean; error?: string };
}

/** One source feeding the store (`/api/sources`). */
export interface Source {
  /** The --source URL, a file name, or `scenario NAME` for the demo's simulator. */
  name: string;
  /** goldmane, felix, hubble, ipfix, netflow, hubble-file, file, stdin or simulator. */
  kind: string;
  state: "running" | "ended" | "failed";
  error: string | null;
  connected: boolean;
  connections: number;
  records: number;
  records_per_second: number;
  rejected: number;
  dropped: number;
  duplicates: number;
  lost_upstream: number;
  sequence_gaps: number;
  ignored: number;
  errors: number;
  reconnects: number;
  last_error: string | null;
  /** Sources whose records carry an observer's verdict (Hubble): how it compares with the engine's. */
  verdicts: VerdictComparison | null;
  /** Unix seconds. */
  last_record_time: number | null;
}

export interface VerdictComparison {
  compared: number;
  disagreed: number;
  /** Disagreements where the observer credited a policy kind the engine does not model. */
  unmodelled: number;
  /** Newest first. */
  recent: VerdictDisagreement[];
}

export interface VerdictDisagreement {
  end_time: number;
  source: string;
  dest: string;
  dest_port: number;
  protocol: string;
  reporter: "src" | "dst";
  observer_action: "allow" | "deny";
  observer_policies: string[];
  engine_action: "allow" | "deny";
  engine_policies: string[];
  unmodelled: boolean;
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

// ---- policies ----------------------------------------------------------------------------

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

/** Rules no flow hit in the range: indices, or indices per direction. */
export type UnusedRules = number[] | string[] | { ingress?: number[]; egress?: number[] };

export interface BoardPolicy {
  id: string;
  /** Names this definition: a save or delete that sends it gets 409 if the policy changed since. */
  version?: string;
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
  unused_rules: UnusedRules;
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

/** One problem in a submitted manifest, at its line and field. */
export interface ErrorDetail {
  line?: number | null;
  column?: number | null;
  field?: string | null;
  message: string;
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

/** The answer to "is this draft valid?": the policy as read, or the problems at their lines. */
export interface Validated {
  valid: boolean;
  policy?: Record<string, unknown>;
  endpoints?: number | null;
  warnings?: string[];
  error?: string;
  details?: ErrorDetail[];
}

/** Where a recommended policy stands: learning while recent traffic adds rules, stable once a stabilization period added none, then staged or enforced once applied. */
export type Lifecycle = "learning" | "stable" | "staged" | "enforced";

export interface RecommendedRule {
  /** The peer in words (a workload, a namespace, cluster DNS, a network set, addresses). */
  peer: string;
  /** The rule in words: action, protocol, peer, ports. */
  rule: string;
  allowed_connections: number;
  /** Connections today's policy denied: enforcing the rule lets them through. */
  denied_connections: number;
  observed_ports: number;
}

export interface RecommendedPolicy {
  id: string;
  name: string;
  namespace: string;
  direction: "ingress" | "egress";
  status: { lifecycle: Lifecycle; new_rules: number; differs_from_applied: boolean };
  yaml: string;
  rules: RecommendedRule[];
  /** The impact preview of enforcing it over the window (asked for with prove=true). */
  proof: Preview | null;
}

export interface Recommendations {
  window: { from: number; to: number } | null;
  stabilization_secs: number;
  flows_read: number;
  flows_used: number;
  tier: { name: string; order: number | null; exists: boolean; yaml: string };
  policies: RecommendedPolicy[];
  notes: string[];
}

/** One state of a policy as the cluster's watch saw it (`GET /api/policy-revisions`). */
export interface PolicyRevision {
  /** Unix milliseconds. */
  at: number;
  resource_version: string | null;
  kind: "observed" | "created" | "updated" | "deleted";
  /** The policy's YAML after the change; null once deleted. */
  yaml: string | null;
}

/** How a cell of the audit matrix reads, most urgent first. */
export type AuditCellStatus = "denied_attempted" | "allowed_used" | "allowed_unused" | "denied";

/** A rule as traces name it (`GET /api/policy-audit`). */
export interface AuditRule {
  direction: "ingress" | "egress";
  tier: string;
  /** The policy field of Calico's hit strings: `np:storefront/trusted`, `pro:kns.storefront`. */
  policy: string;
  /** -1: the end of the tier (its default action). */
  rule: number;
  action: "allow" | "deny" | "pass";
}

export interface PortRange {
  first: number;
  last: number;
}

/** One protocol and port range on which policy's verdict between two workloads is one. */
export interface AuditSegment {
  protocol: string;
  /** null: a protocol without ports. */
  ports: PortRange | null;
  action: "allow" | "deny";
  egress_rule: AuditRule | null;
  ingress_rule: AuditRule | null;
  undecidable: boolean;
  seen: { allowed_connections: number; denied_connections: number; ports: number[] };
}

export interface AuditCell {
  /** Indices into the audit's workloads. */
  source: number;
  dest: number;
  status: AuditCellStatus;
  /** What policy allows, np-guard style: `TCP 80,443; UDP 53`, `All Connections`, `No Connections`. */
  allowed: string;
  allowed_connections: number;
  denied_connections: number;
  segments: AuditSegment[];
}

export interface AuditWorkload {
  namespace: string;
  name: string;
  name_aggr: string;
  kind: string | null;
  pods: number;
}

export interface AuditUnused {
  source: string;
  dest: string;
  protocol: string;
  ports: PortRange[] | null;
  partly_used: boolean;
  egress_rule: AuditRule | null;
  ingress_rule: AuditRule | null;
}

export interface AuditDenied {
  source: string;
  dest: string;
  protocol: string;
  ports: PortRange[];
  distinct_ports: number;
  connections: number;
  rule: AuditRule | null;
  allowed_today: boolean;
}

export interface AuditRuleUse {
  rule: AuditRule;
  pairs: number;
  pairs_hit: number;
  connections: number;
  idle_pairs: { source: string; dest: string; connections: string }[];
}

/** Today's policies held against the window's traffic (`GET /api/policy-audit`). */
export interface PolicyAudit {
  window: { from: number; to: number } | null;
  workloads: AuditWorkload[];
  cells: AuditCell[];
  unused: AuditUnused[];
  denied_attempted: AuditDenied[];
  rules: AuditRuleUse[];
  protocols: string[];
  flows_read: number;
  flows_in_matrix: number;
  questions: number;
  notes: string[];
  timings_ms: { reachability: number; flows: number };
}

/** One recorded policy change (`GET /api/audit`). */
export interface AuditEntry {
  /** Unix seconds. */
  time: number;
  user: string;
  /** save / delete (the running inventory), apply / cluster-delete (written to the cluster). */
  action: string;
  policy: string;
  tier: string;
  namespace: string | null;
  /** The policy's YAML before and after; null when it did not exist, or no longer does. */
  before: string | null;
  after: string | null;
  revision: number;
}

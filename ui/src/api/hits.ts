// Policy hits: the `<idx>|<tier>|<kind>:[<ns>/]<name>|<action>|<rule>` strings of flow logs,
// and the names the board and the aggregates give the same policies.
import type { AggregateKey, UnusedRules } from "./types";

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

/** Hit tags of policies the Policy Board lists (profiles and unknown tags have no page). */
const POLICY_TAGS = new Set(["np", "gnp", "snp", "sgnp", "sknp", "knp", "kcnp"]);

/** The board's id of the policy a hit names (`KIND:[NS/]NAME`), or null when it has no page. */
export function policyIdOfHit(hit: PolicyHit): string | null {
  if (!POLICY_TAGS.has(hit.kind)) return null;
  return `${hit.kind}:${hit.namespace ? `${hit.namespace}/` : ""}${hit.name}`;
}

export function ruleLabel(rule: number): string {
  return rule < 0 ? "end of tier" : `rule ${rule}`;
}

/** Capitalised action as Calico writes it. */
export function actionLabel(a: string): string {
  return a ? a[0].toUpperCase() + a.slice(1).toLowerCase() : a;
}

/** A policy hit string made readable: "Deny by default / fme/default-deny (end of tier)". */
export function hitLabel(hit: string | null): string {
  if (!hit) return "–";
  const h = parsePolicyHit(hit);
  if (!h) return hit;
  const name = h.namespace ? `${h.namespace}/${h.name}` : h.name;
  return `${actionLabel(h.action)} by ${h.tier} / ${name} (${ruleLabel(h.rule)})`;
}

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

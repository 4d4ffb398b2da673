// Small labels shared by the views: flow actions, edge status, policy hits.
import { parsePolicyHit, policyParam, ruleLabel, type PolicyHit } from "../api";
import { routeHref } from "../route";

export function ActionBadge({ action }: { action: string }) {
  const cls = action === "allow" || action === "allowed" ? "ok" : action === "deny" || action === "denied" ? "bad" : action === "pass" ? "pass" : action === "mixed" ? "warn" : "muted";
  return <span className={`badge badge-${cls}`}>{action}</span>;
}

/** One policy hit as "tier › [ns/]name · action · rule", linking to the flows it decided. */
export function PolicyHitLabel({ hit, link = true, since }: { hit: PolicyHit | string; link?: boolean; since?: string }) {
  const h = typeof hit === "string" ? parsePolicyHit(hit) : hit;
  if (!h) return <code>{String(hit)}</code>;
  const name = h.namespace ? `${h.namespace}/${h.name}` : h.name;
  const body = (
    <>
      <span className="hit-tier">{h.tier}</span>
      <span className="hit-name">
        {h.kind && <span className="hit-kind">{h.kind}</span>}
        {name}
      </span>
      <ActionBadge action={h.action} />
      <span className="hit-rule">{ruleLabel(h.rule)}</span>
    </>
  );
  if (!link) return <span className="hit">{body}</span>;
  const params: Record<string, string> = {
    policy: policyParam(h),
    policy_action: h.action,
    policy_rule: String(h.rule),
  };
  if (since) params.since = since;
  return (
    <a className="hit" href={routeHref("flows", params)} title={`Flows decided by ${h.raw}`}>
      {body}
    </a>
  );
}

/** A hit in one short line for tables: coloured dot, [ns/]name, rule; the tier in the tooltip. */
export function PolicyHitCompact({ hit, extra }: { hit: PolicyHit; extra?: number }) {
  const name = hit.namespace ? `${hit.namespace}/${hit.name}` : hit.name;
  const cls = hit.action === "allow" ? "ok" : hit.action === "deny" ? "bad" : "pass";
  return (
    <span className="hit-compact" title={`${hit.raw}\ntier ${hit.tier} · ${hit.action} · ${ruleLabel(hit.rule)}`}>
      <span className={`dot dot-${cls}`} />
      <span className="hit-name">{name}</span>
      <span className="hit-rule">{hit.rule < 0 ? "end of tier" : `#${hit.rule}`}</span>
      {extra ? <span className="hit-rule">+{extra}</span> : null}
    </span>
  );
}

// Small labels shared by the views: flow actions, edge status, policy hits, policy kinds and
// the figures that link to the flows they count.
import { actionLabel, formatCount, formatNumber, parsePolicyHit, policyParam, ruleLabel, type PolicyHit } from "../api";
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

/** A figure that opens the Flows view on exactly the flows it counts, when it can. */
export function MetricLink({
  label,
  value,
  href,
  tone,
  unit = "connections",
}: {
  label: string;
  value: number;
  href?: string;
  tone?: "allow" | "deny" | "pass";
  unit?: string;
}) {
  const body = (
    <>
      <span className="v" title={formatNumber(value)}>
        {formatCount(value)}
      </span>
      {label && <span className="l">{label}</span>}
    </>
  );
  const cls = `metric ${tone ?? ""} ${value === 0 ? "zero" : ""}`;
  return href && value > 0 ? (
    <a className={cls} href={href} title={`Show these ${formatNumber(value)} ${unit} in Flows`} data-metric={label}>
      {body}
    </a>
  ) : (
    <span className={cls} data-metric={label}>
      {body}
    </span>
  );
}

const KIND_TONE: Record<string, string> = {
  np: "calico",
  gnp: "global",
  knp: "k8s",
  snp: "calico",
  sgnp: "global",
  sknp: "k8s",
  kcnp: "admin",
  anp: "admin",
  banp: "admin",
};

/** The policy's kind ("Calico", "Kubernetes", …); staging has its own badge beside it. */
export function KindBadge({ kind, label }: { kind: string; label: string }) {
  return <span className={`badge badge-kind-${KIND_TONE[kind] ?? "calico"}`}>{label.replace(/^staged /i, "")}</span>;
}

/** A rule's action as Calico writes it: Allow, Deny, Pass, Log. */
export function ActionChip({ action }: { action: string }) {
  const a = action.toLowerCase();
  return <span className={`action-chip ${a}`}>{a ? actionLabel(a) : "—"}</span>;
}

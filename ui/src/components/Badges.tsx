// Small labels shared by the views: flow actions, edge status, policy hits, policy kinds and
// the figures that link to the flows they count.
import {
  actionLabel,
  formatCompact,
  formatCount,
  formatNumber,
  parsePolicyHit,
  policyIdOfHit,
  policyParam,
  rangeParams,
  ruleLabel,
  type PolicyHit,
  type TimeRange,
} from "../api";
import { Icon } from "./Icon";
import { routeHref } from "../route";

export function ActionBadge({ action }: { action: string }) {
  const cls = action === "allow" || action === "allowed" ? "ok" : action === "deny" || action === "denied" ? "bad" : action === "pass" ? "pass" : action === "mixed" ? "warn" : "muted";
  return <span className={`badge badge-${cls}`}>{action}</span>;
}

/** The routes a policy hit links to: its policy, the editor on it, and the flows it decided. */
export function hitLinks(h: PolicyHit, range: TimeRange = {}): { policy?: string; edit?: string; flows: string } {
  const id = policyIdOfHit(h);
  const flows = rangeParams(range);
  flows.set("policy", policyParam(h));
  flows.set("policy_action", h.action);
  flows.set("policy_rule", String(h.rule));
  const policy = (extra: Record<string, string> = {}) =>
    id ? routeHref("policies", rangeParams(range, new URLSearchParams({ id, ...extra }))) : undefined;
  return { policy: policy(), edit: policy({ edit: "1" }), flows: routeHref("flows", flows) };
}

/**
 * One policy hit as "tier › [ns/]name · action · rule": the name opens the policy, the icon
 * after it the flows the hit decided.
 */
export function PolicyHitLabel({ hit, link = true, range }: { hit: PolicyHit | string; link?: boolean; range?: TimeRange }) {
  const h = typeof hit === "string" ? parsePolicyHit(hit) : hit;
  if (!h) return <code>{String(hit)}</code>;
  const name = h.namespace ? `${h.namespace}/${h.name}` : h.name;
  const links = hitLinks(h, range);
  const nameBody = (
    <>
      {h.kind && <span className="hit-kind">{h.kind}</span>}
      {name}
    </>
  );
  return (
    <span className="hit" data-testid="policy-hit">
      <span className="hit-tier">{h.tier}</span>
      {link && links.policy ? (
        <a className="hit-name" href={links.policy} title={`Open the policy ${name}`} data-testid="open-policy">
          {nameBody}
        </a>
      ) : (
        <span className="hit-name">{nameBody}</span>
      )}
      <ActionBadge action={h.action} />
      <span className="hit-rule">{ruleLabel(h.rule)}</span>
      {link && (
        <a className="hit-flows" href={links.flows} title={`Flows decided by ${h.raw}`} aria-label={`Flows decided by ${name}, ${ruleLabel(h.rule)}`}>
          <Icon name="flows" size={13} />
        </a>
      )}
    </span>
  );
}

/** A hit in one short line for tables: coloured dot, [ns/]name (opens the policy), rule; the tier in the tooltip. */
export function PolicyHitCompact({ hit, extra, range }: { hit: PolicyHit; extra?: number; range?: TimeRange }) {
  const name = hit.namespace ? `${hit.namespace}/${hit.name}` : hit.name;
  const cls = hit.action === "allow" ? "ok" : hit.action === "deny" ? "bad" : "pass";
  const { policy } = hitLinks(hit, range);
  return (
    <span className="hit-compact" title={`${hit.raw}\ntier ${hit.tier} · ${hit.action} · ${ruleLabel(hit.rule)}`}>
      <span className="hit-compact-name">
        <span className={`dot dot-${cls}`} />
        {policy ? (
          <a className="hit-name" href={policy} data-testid="open-policy" onClick={(e) => e.stopPropagation()}>
            {name}
          </a>
        ) : (
          <span className="hit-name">{name}</span>
        )}
      </span>
      <span className="hit-rule">
        {ruleLabel(hit.rule)}
        {extra ? ` · +${extra} more` : ""}
      </span>
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
  compact = false,
}: {
  label: string;
  value: number;
  href?: string;
  tone?: "allow" | "deny" | "pass";
  unit?: string;
  /** Past four digits as 65.1k (narrow cards); the exact figure is in the tooltip. */
  compact?: boolean;
}) {
  const body = (
    <>
      <span className="v" title={formatNumber(value)}>
        {compact && Math.abs(value) >= 10_000 ? formatCompact(value) : formatCount(value)}
      </span>
      {label && <span className="l">{label}</span>}
    </>
  );
  const cls = `metric ${tone ?? ""} ${value === 0 ? "zero" : ""}`;
  return href && value > 0 ? (
    <a className={cls} href={href} title={`Show these ${formatNumber(value)} ${unit} in Flows`} data-metric={label} data-value={value}>
      {body}
    </a>
  ) : (
    <span className={cls} data-metric={label} data-value={value}>
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

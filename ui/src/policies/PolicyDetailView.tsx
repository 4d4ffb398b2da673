// One policy: its rules in order, each with its hit counts per action, and the end of tier.
import { useState } from "react";
import { routeHref } from "../route";
import { fetchPolicy, deletePolicy, download, policyFlowsParams, type PolicyDetail, type RuleView } from "./policyApi";
import { useApi } from "./useApi";
import { Icon } from "./icons";
import { plural, actionLabel } from "./format";
import { policiesHref } from "./PoliciesView";
import { TimeRange, MetricLink, KindBadge, ActionChip, ErrorBanner } from "./parts";
import { YamlEditor } from "./YamlEditor";

export function PolicyDetailView({ id, since }: { id: string; since: string }) {
  const policy = useApi((s) => fetchPolicy(id, since, s), [id, since], 10_000);
  const [showYaml, setShowYaml] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const p = policy.data;

  const remove = async () => {
    if (!p || !window.confirm(`Delete ${p.name} from the running inventory?`)) return;
    try {
      await deletePolicy(p.id);
      window.location.hash = policiesHref({ since });
    } catch (e) {
      setDeleteError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <div className="pl-detail" data-testid="policy-detail">
      <nav className="pl-crumbs">
        <a href={policiesHref({ since })}>
          <Icon name="back" size={14} /> Policy Board
        </a>
        {p && (
          <>
            <span>/</span>
            <span>{p.tier}</span>
            <span>/</span>
            <span className="cur">{p.name}</span>
          </>
        )}
      </nav>
      {policy.error && <ErrorBanner message={policy.error} onRetry={policy.reload} />}
      {deleteError && <ErrorBanner message={deleteError} />}
      {!p && policy.loading && <div className="pl-empty">Loading policy…</div>}
      {p && (
        <>
          <header className="pl-head">
            <div className="pl-title">
              <h1 className="pl-policy-name">
                {p.name}
                <KindBadge kind={p.kind} label={p.kind_label} />
                {p.staged && <span className="pl-badge staged">Staged</span>}
              </h1>
              <p className="pl-sub">
                Tier <b>{p.tier}</b> · order <b>{p.order ?? "—"}</b> ·{" "}
                {p.namespace ? (
                  <>
                    namespace <b>{p.namespace}</b>
                  </>
                ) : (
                  <b>global</b>
                )}
              </p>
            </div>
            <div className="pl-tools">
              <TimeRange since={since} href={(s) => policiesHref({ id, since: s })} />
              <button className="pl-btn" onClick={() => download(`${p.name}.yaml`, p.yaml)}>
                <Icon name="download" /> Export YAML
              </button>
              <button className="pl-btn danger" onClick={remove}>
                <Icon name="trash" /> Delete
              </button>
              <a className="pl-btn primary" href={policiesHref({ id, edit: "1", since })} data-testid="edit-policy">
                <Icon name="edit" /> Edit policy
              </a>
            </div>
          </header>

          <div className="pl-facts">
            <Fact label="Selector">
              <code>{p.selector || "all()"}</code>
            </Fact>
            <Fact label="Selects">
              <span className={p.endpoints === 0 ? "warn" : ""}>
                {p.endpoints === 0 ? "no endpoint" : plural(p.endpoints, "endpoint")}
              </span>
            </Fact>
            <Fact label="Applies to">{p.types.map((t) => actionLabel(t)).join(" and ") || "—"}</Fact>
            <Fact label="Connections">
              <MetricLink label="" value={p.metrics.connections} href={routeHref("flows", policyFlowsParams(p, since))} />
            </Fact>
            <Fact label="Allowed">
              <MetricLink label="" tone="allow" value={p.metrics.allowed} href={routeHref("flows", policyFlowsParams(p, since, "allow"))} />
            </Fact>
            <Fact label="Denied">
              <MetricLink label="" tone="deny" value={p.metrics.denied} href={routeHref("flows", policyFlowsParams(p, since, "deny"))} />
            </Fact>
            <Fact label="Passed">
              <MetricLink label="" tone="pass" value={p.metrics.passed} href={routeHref("flows", policyFlowsParams(p, since, "pass"))} />
            </Fact>
          </div>

          <RuleSection title="Ingress" p={p} rules={p.ingress} since={since} applies={p.types.includes("ingress")} />
          <RuleSection title="Egress" p={p} rules={p.egress} since={since} applies={p.types.includes("egress")} />

          {p.end_of_tier && <EndOfTier p={p} since={since} />}

          <section className="pl-panel">
            <button className="pl-panel-toggle" onClick={() => setShowYaml(!showYaml)} aria-expanded={showYaml}>
              <Icon name={showYaml ? "up" : "down"} size={14} /> YAML
            </button>
            {showYaml && <YamlEditor value={p.yaml} readOnly minHeight="120px" />}
          </section>
        </>
      )}
    </div>
  );
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="pl-fact">
      <span className="l">{label}</span>
      <span className="v">{children}</span>
    </div>
  );
}

function RuleSection({
  title,
  p,
  rules,
  since,
  applies,
}: {
  title: string;
  p: PolicyDetail;
  rules: RuleView[];
  since: string;
  applies: boolean;
}) {
  return (
    <section className="pl-panel" data-testid={`rules-${title.toLowerCase()}`}>
      <h2>
        {title} rules <span className="pl-count">{rules.length}</span>
        {!applies && <span className="pl-note">not applied: the policy's types leave {title.toLowerCase()} out</span>}
      </h2>
      {rules.length === 0 ? (
        <div className="pl-card-empty">
          {applies ? `No ${title.toLowerCase()} rules: traffic it selects goes to the end of the tier.` : "—"}
        </div>
      ) : (
        <table className="pl-rules">
          <thead>
            <tr>
              <th className="idx">#</th>
              <th className="act">Action</th>
              <th>Rule</th>
              <th className="num">Allowed</th>
              <th className="num">Denied</th>
              <th className="num">Passed</th>
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <RuleRow key={r.index} p={p} r={r} since={since} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RuleRow({ p, r, since }: { p: PolicyDetail; r: RuleView; since: string }) {
  const link = (action: string) => routeHref("flows", policyFlowsParams(p, since, action, r.index));
  const hits = r.metrics.allowed + r.metrics.denied + r.metrics.passed;
  return (
    <tr className={hits === 0 ? "unhit" : ""} data-testid="rule-row" data-rule={r.index}>
      <td className="idx">{r.index}</td>
      <td className="act">
        <ActionChip action={r.action} />
      </td>
      <td className="text">
        {r.text}
        {hits === 0 && <span className="pl-never" title="No flow in the time range hit this rule">never hit</span>}
      </td>
      <td className="num">
        <MetricLink label="" tone="allow" value={r.metrics.allowed} href={link("allow")} />
      </td>
      <td className="num">
        <MetricLink label="" tone="deny" value={r.metrics.denied} href={link("deny")} />
      </td>
      <td className="num">
        <MetricLink label="" tone="pass" value={r.metrics.passed} href={link("pass")} />
      </td>
    </tr>
  );
}

function EndOfTier({ p, since }: { p: PolicyDetail; since: string }) {
  const e = p.end_of_tier!;
  const action = e.action.toLowerCase();
  const m = e.metrics;
  const n = action === "deny" ? m.denied : action === "pass" ? m.passed : action === "allow" ? m.allowed : m.connections;
  return (
    <section className={`pl-eot ${action}`} data-testid="end-of-tier">
      <Icon name="layers" />
      <span className="pl-eot-text">
        <b>End of tier {p.tier}</b>: traffic this policy selects that no rule matched is{" "}
        <ActionChip action={e.action} />
        {action === "pass" ? " on to the next tier." : "."}
      </span>
      <MetricLink
        label={n === 1 ? "connection" : "connections"}
        tone={action === "deny" ? "deny" : action === "allow" ? "allow" : "pass"}
        value={n}
        href={routeHref("flows", policyFlowsParams(p, since, action, -1))}
      />
    </section>
  );
}

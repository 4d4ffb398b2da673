// One policy: its rules in order, each with its hit counts per action, and the end of tier.
import { useState } from "react";
import { routeHref } from "../route";
import { fetchPolicy, fetchHitEdges, deletePolicy, download, policyFlowsParams, previewPolicy, type Preview, type PolicyDetail, type RuleView } from "./policyApi";
import { PreviewPanel } from "./PreviewPanel";
import { useApi } from "./useApi";
import { Icon } from "./icons";
import { plural, actionLabel, count, portRanges } from "./format";
import { policiesHref } from "./PoliciesView";
import { TimeRange, MetricLink, KindBadge, ActionChip, ErrorBanner } from "./parts";
import { YamlEditor } from "./YamlEditor";

export function PolicyDetailView({ id, since }: { id: string; since: string }) {
  const policy = useApi((s) => fetchPolicy(id, since, s), [id, since], 10_000);
  const [showYaml, setShowYaml] = useState(true);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [deletePreview, setDeletePreview] = useState<Preview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const p = policy.data;

  // What removing the policy would change, over the same stored flows as the metrics.
  const previewDelete = async () => {
    setPreviewing(true);
    setDeleteError(null);
    try {
      setDeletePreview(await previewPolicy({ delete: id, since }));
    } catch (e) {
      setDeleteError(e instanceof Error ? e.message : String(e));
    } finally {
      setPreviewing(false);
    }
  };

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
              <button className="pl-btn" onClick={() => p.yaml && download(`${p.name}.yaml`, p.yaml)} disabled={!p.yaml}>
                <Icon name="download" /> Export YAML
              </button>
              <button className="pl-btn" onClick={previewDelete} disabled={previewing} data-testid="preview-delete">
                <Icon name="play" /> {previewing ? "Evaluating…" : "Preview deletion"}
              </button>
              <button className="pl-btn danger" onClick={remove}>
                <Icon name="trash" /> Delete
              </button>
              <a className="pl-btn primary" href={policiesHref({ id, edit: "1", since })} data-testid="edit-policy">
                <Icon name="edit" /> Edit policy
              </a>
            </div>
          </header>

          {deletePreview && (
            <div className="pl-preview-wrap top">
              <PreviewPanel preview={deletePreview} title={`Impact of deleting ${p.name}`} onClose={() => setDeletePreview(null)} />
            </div>
          )}

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

          {p.yaml && (
            <section className="pl-panel">
              <button className="pl-panel-toggle" onClick={() => setShowYaml(!showYaml)} aria-expanded={showYaml}>
                <Icon name={showYaml ? "up" : "down"} size={14} /> YAML
              </button>
              {showYaml && <YamlEditor value={p.yaml} readOnly minHeight="120px" />}
            </section>
          )}
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
              <th className="num">{p.staged ? "Would allow" : "Allowed"}</th>
              <th className="num">{p.staged ? "Would deny" : "Denied"}</th>
              <th className="num">{p.staged ? "Would pass" : "Passed"}</th>
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
  // A staged policy enforces nothing: its figures are what it would have done (pending hits),
  // which the flows query cannot select, so they are not links.
  const link = (action: string) => (p.staged ? undefined : routeHref("flows", policyFlowsParams(p, since, action, r.index)));
  const m = p.staged
    ? { allowed: r.metrics.pending_allowed, denied: r.metrics.pending_denied, passed: r.metrics.pending_passed }
    : r.metrics;
  const hits = m.allowed + m.denied + m.passed;
  return (
    <tr className={hits === 0 ? "unhit" : ""} data-testid="rule-row" data-rule={r.index}>
      <td className="idx">{r.index}</td>
      <td className="act">
        <ActionChip action={r.action} />
      </td>
      <td className="text">
        <RuleText text={r.text} />
        {hits === 0 && <span className="pl-never" title="No flow in the time range hit this rule">never hit</span>}
      </td>
      <td className="num">
        <MetricLink label="" tone="allow" value={m.allowed} href={link("allow")} />
      </td>
      <td className="num">
        <MetricLink label="" tone="deny" value={m.denied} href={link("deny")} />
      </td>
      <td className="num">
        <MetricLink label="" tone="pass" value={m.passed} href={link("pass")} />
      </td>
    </tr>
  );
}

function flowsOfEdge(
  base: Record<string, string>,
  k: { source_namespace: string | null; source_name_aggr: string | null; dest_namespace: string | null; dest_name_aggr: string | null; proto: string | null },
): URLSearchParams {
  const q = new URLSearchParams(base);
  const add = (field: string, v: string | null) => v !== null && q.append("filter", `${field}=${v}`);
  add("source_namespace", k.source_namespace);
  add("source_name_aggr", k.source_name_aggr);
  add("dest_namespace", k.dest_namespace);
  add("dest_name_aggr", k.dest_name_aggr);
  add("proto", k.proto);
  return q;
}

/** The server's rule sentence with its values set off: selectors, nets and ports. */
function RuleText({ text }: { text: string }) {
  const parts = text.split(/("[^"]*"|'[^']*'|\b\d{1,5}(?::\d{1,5})?\b(?![.\/\d])|\b\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}\b)/g);
  return (
    <>
      {parts.map((t, i) =>
        i % 2 === 0 ? (
          <span key={i}>{t}</span>
        ) : /^["']/.test(t) ? (
          <span key={i} className="tok-str">
            {t}
          </span>
        ) : (
          <span key={i} className="tok-num">
            {t}
          </span>
        ),
      )}
    </>
  );
}

function EndOfTier({ p, since }: { p: PolicyDetail; since: string }) {
  const e = p.end_of_tier!;
  const action = (e.action ?? "").toLowerCase();
  const m = e.metrics;
  const n = action === "deny" ? m.denied : action === "pass" ? m.passed : action === "allow" ? m.allowed : m.connections;
  return (
    <section className={`pl-eot ${action}`} data-testid="end-of-tier">
      <Icon name="layers" />
      <span className="pl-eot-text">
        <b>End of tier {p.tier}</b>: traffic this policy selects that no rule matched is{" "}
        <ActionChip action={action} />
        {action === "pass" ? " on to the next tier." : "."}
        {e.ingress && e.egress && n > 0 && (
          <span className="pl-eot-split">
            {" "}
            Ingress {count(e.ingress.connections)} · egress {count(e.egress.connections)}.
          </span>
        )}
      </span>
      <MetricLink
        label={n === 1 ? "connection" : "connections"}
        tone={action === "deny" ? "deny" : action === "allow" ? "allow" : "pass"}
        value={n}
        href={routeHref("flows", policyFlowsParams(p, since, action, -1))}
      />
      {n > 0 && <EndOfTierTraffic p={p} since={since} action={action} />}
    </section>
  );
}

/**
 * Where the traffic that reached the end of the tier went, and how it ended: for a tier
 * that passes, this is what the next tiers allowed or denied (the blog's missing port range
 * shows up here as engine → core on 42001… denied).
 */
function EndOfTierTraffic({ p, since, action }: { p: PolicyDetail; since: string; action: string }) {
  const edges = useApi((s) => fetchHitEdges(policyFlowsParams(p, since, action, -1), s), [p.id, since, action], 10_000);
  const groups = new Map<
    string,
    { src: string; dst: string; proto: string; ports: number[]; flows: number; allowed: number; denied: number; href: string }
  >();
  for (const r of edges.data?.rows ?? []) {
    const k = r.key;
    const src = k.source_namespace && k.source_namespace !== "-" ? `${k.source_namespace}/${k.source_name_aggr}` : k.source_name_aggr ?? "?";
    const dst = k.dest_namespace && k.dest_namespace !== "-" ? `${k.dest_namespace}/${k.dest_name_aggr}` : k.dest_name_aggr ?? "?";
    const id = `${src}|${dst}|${k.proto}`;
    const g = groups.get(id) ?? {
      src,
      dst,
      proto: k.proto ?? "",
      ports: [],
      flows: 0,
      allowed: 0,
      denied: 0,
      // The Flows view on exactly this edge's end-of-tier flows.
      href: routeHref("flows", flowsOfEdge(policyFlowsParams(p, since, action, -1), k)),
    };
    if (k.dest_port !== null) g.ports.push(k.dest_port);
    g.flows += r.num_flows;
    g.allowed += r.allowed_flows;
    g.denied += r.denied_flows;
    groups.set(id, g);
  }
  const rows = [...groups.values()].sort((a, b) => b.denied - a.denied || b.flows - a.flows).slice(0, 8);
  if (!rows.length) return null;
  return (
    <table className="pl-eot-table" data-testid="end-of-tier-traffic">
      <thead>
        <tr>
          <th>Traffic at the end of the tier</th>
          <th>Ports</th>
          <th className="num">Flows</th>
          <th>Outcome</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((g) => (
          <tr key={`${g.src}|${g.dst}|${g.proto}`} data-source={g.src} data-dest={g.dst} data-ports={portRanges(g.ports)}>
            <td className="pl-ep">
              {g.src} <Icon name="arrow" size={12} /> {g.dst}
            </td>
            <td className="ports">
              <span className="proto">{g.proto.toUpperCase()}</span> {portRanges(g.ports, 6) || "—"}
            </td>
            <td className="num">
              <a href={g.href} className="pl-row-link" title="Show these flows">
                {count(g.flows)}
              </a>
            </td>
            <td>
              {g.denied > 0 && <span className="pl-action deny">Denied {g.allowed > 0 ? count(g.denied) : ""}</span>}{" "}
              {g.allowed > 0 && <span className="pl-action allow">Allowed {g.denied > 0 ? count(g.allowed) : ""}</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

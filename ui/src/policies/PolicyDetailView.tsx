// One policy: its rules in order, each with its hit counts per action, and the end of tier.
import { useState, type ReactNode } from "react";
import {
  actionLabel,
  api,
  download,
  formatCount,
  plural,
  parseQuery,
  policyFlowsParams,
  portRanges,
  useApi,
  useMe,
  writeDenied,
  type AggregateKey,
  type PolicyDetail,
  type Preview,
  type RuleView,
  type FlowFieldName,
  type TimeRange,
} from "../api";
import { ActionChip, KindBadge, MetricLink } from "../components/Badges";
import { Icon } from "../components/Icon";
import { useClusterInfo } from "../components/QueryBar";
import { ErrorBanner, Loading } from "../components/States";
import { TimeRangePicker } from "../components/TimeRangePicker";
import { routeHref } from "../route";
import { policiesHref } from "./PoliciesView";
import { PolicyHistory } from "./PolicyHistory";
import { PreviewPanel } from "./PreviewPanel";
import { YamlEditor } from "./YamlEditor";

export function PolicyDetailView({ id, range }: { id: string; range: TimeRange }) {
  const policy = useApi((s) => api.policy(id, range, s), JSON.stringify([id, range]), 10_000);
  const { health } = useClusterInfo();
  const [showYaml, setShowYaml] = useState(true);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [deletePreview, setDeletePreview] = useState<Preview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const p = policy.data;
  // Why the signed-in user may not change this policy (the server would answer 403).
  const me = useMe();
  const denied = p && me ? writeDenied(me, p.tier, p.namespace) : null;

  // What removing the policy would change, over the same stored flows as the metrics.
  const previewDelete = async () => {
    setPreviewing(true);
    setDeleteError(null);
    try {
      setDeletePreview(await api.previewPolicy({ delete: id, ...range }));
    } catch (e) {
      setDeleteError(e instanceof Error ? e.message : String(e));
    } finally {
      setPreviewing(false);
    }
  };

  const remove = async () => {
    if (!p || !window.confirm(`Delete ${p.name} from the running inventory?`)) return;
    try {
      await api.deletePolicy(p.id, p.version);
      window.location.hash = policiesHref(range);
    } catch (e) {
      setDeleteError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <div className="pl-detail" data-testid="policy-detail">
      <nav className="pl-crumbs">
        <a href={policiesHref(range)}>
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
      {policy.error && <ErrorBanner error={policy.error} onRetry={policy.reload} />}
      {deleteError && <ErrorBanner error={deleteError} />}
      {!p && policy.loading && <Loading label="Loading policy…" />}
      {p && (
        <>
          <header className="pl-head">
            <div className="pl-title">
              <h1 className="pl-policy-name">
                {p.name}
                <KindBadge kind={p.kind} label={p.kind_label} />
                {p.staged && <span className="badge badge-staged">Staged</span>}
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
              <TimeRangePicker
                value={range}
                dataMax={health?.data_time?.max}
                onChange={(r) => (window.location.hash = policiesHref(r, { id }))}
              />
              <button type="button" className="btn" onClick={() => p.yaml && download(`${p.name}.yaml`, p.yaml)} disabled={!p.yaml}>
                <Icon name="download" /> Export YAML
              </button>
              {!denied && (
                <>
                  <button type="button" className="btn" onClick={previewDelete} disabled={previewing} data-testid="preview-delete">
                    <Icon name="play" /> {previewing ? "Evaluating…" : "Preview deletion"}
                  </button>
                  <button type="button" className="btn btn-danger" onClick={remove} data-testid="detail-delete">
                    <Icon name="trash" /> Delete
                  </button>
                  <a className="btn btn-primary" href={policiesHref(range, { id, edit: "1" })} data-testid="edit-policy">
                    <Icon name="edit" /> Edit policy
                  </a>
                </>
              )}
            </div>
          </header>
          {denied && (
            <p className="pl-scope-note" data-testid="read-only-for-user">
              <Icon name="eye" size={14} /> Read-only for you: {denied}.
            </p>
          )}

          {deletePreview && (
            <div className="pl-preview-wrap top">
              <PreviewPanel preview={deletePreview} title={`Impact of deleting ${p.name}`} onClose={() => setDeletePreview(null)} />
            </div>
          )}

          <div className="card pl-facts">
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
              <MetricLink label="" value={p.metrics.connections} href={routeHref("flows", policyFlowsParams(p, range))} />
            </Fact>
            <Fact label="Allowed">
              <MetricLink label="" tone="allow" value={p.metrics.allowed} href={routeHref("flows", policyFlowsParams(p, range, "allow"))} />
            </Fact>
            <Fact label="Denied">
              <MetricLink label="" tone="deny" value={p.metrics.denied} href={routeHref("flows", policyFlowsParams(p, range, "deny"))} />
            </Fact>
            <Fact label="Passed">
              <MetricLink label="" tone="pass" value={p.metrics.passed} href={routeHref("flows", policyFlowsParams(p, range, "pass"))} />
            </Fact>
          </div>

          <RuleSection title="Ingress" p={p} rules={p.ingress} range={range} applies={p.types.includes("ingress")} />
          <RuleSection title="Egress" p={p} rules={p.egress} range={range} applies={p.types.includes("egress")} />

          {p.end_of_tier && <EndOfTier p={p} range={range} />}

          {p.yaml && (
            <section className="card pl-panel">
              <button type="button" className="pl-panel-toggle" onClick={() => setShowYaml(!showYaml)} aria-expanded={showYaml}>
                <Icon name={showYaml ? "up" : "down"} size={14} /> YAML
              </button>
              {showYaml && <YamlEditor value={p.yaml} readOnly minHeight="120px" />}
            </section>
          )}

          <PolicyHistory id={p.id} />
        </>
      )}
    </div>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
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
  range,
  applies,
}: {
  title: string;
  p: PolicyDetail;
  rules: RuleView[];
  range: TimeRange;
  applies: boolean;
}) {
  return (
    <section className="card pl-panel" data-testid={`rules-${title.toLowerCase()}`}>
      <h2>
        {title} rules <span className="count-pill">{rules.length}</span>
        {!applies && <span className="note">not applied: the policy's types leave {title.toLowerCase()} out</span>}
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
              <RuleRow key={r.index} p={p} r={r} range={range} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RuleRow({ p, r, range }: { p: PolicyDetail; r: RuleView; range: TimeRange }) {
  // A staged policy enforces nothing: its figures are what it would have done (pending hits),
  // which the flows query cannot select, so they are not links.
  const link = (action: string) => (p.staged ? undefined : routeHref("flows", policyFlowsParams(p, range, action, r.index)));
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

function flowsOfEdge(base: URLSearchParams, k: AggregateKey): URLSearchParams {
  const q = new URLSearchParams(base);
  const add = (field: FlowFieldName, v: string | null) => v !== null && q.append("filter", `${field}=${v}`);
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

function EndOfTier({ p, range }: { p: PolicyDetail; range: TimeRange }) {
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
            Ingress {formatCount(e.ingress.connections)} · egress {formatCount(e.egress.connections)}.
          </span>
        )}
      </span>
      <MetricLink
        label={n === 1 ? "connection" : "connections"}
        tone={action === "deny" ? "deny" : action === "allow" ? "allow" : "pass"}
        value={n}
        href={routeHref("flows", policyFlowsParams(p, range, action, -1))}
      />
      {n > 0 && <EndOfTierTraffic p={p} range={range} action={action} />}
    </section>
  );
}

/**
 * Where the traffic that reached the end of the tier went, and how it ended: for a tier
 * that passes, this is what the next tiers allowed or denied (the blog's missing port range
 * shows up here as engine → core on 42001… denied).
 */
function EndOfTierTraffic({ p, range, action }: { p: PolicyDetail; range: TimeRange; action: string }) {
  const hitQuery = policyFlowsParams(p, range, action, -1);
  const edges = useApi(
    (s) => api.aggregates({ ...parseQuery(hitQuery), extra: [] }, "edge", s),
    hitQuery.toString(),
    10_000,
  );
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
      href: routeHref("flows", flowsOfEdge(hitQuery, k)),
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
          <th className="num">Connections</th>
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
              <a href={g.href} className="pl-row-link" title="Show these flow logs">
                {formatCount(g.flows)}
              </a>
            </td>
            <td>
              {g.denied > 0 && <span className="action-chip deny">Denied {g.allowed > 0 ? formatCount(g.denied) : ""}</span>}{" "}
              {g.allowed > 0 && <span className="action-chip allow">Allowed {g.denied > 0 ? formatCount(g.allowed) : ""}</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

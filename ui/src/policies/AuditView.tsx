// `#/audit`: today's policies held against the window's traffic. A matrix of source ×
// destination workloads coloured by what policy allows and what was seen; a cell opens its
// ports and rules. Below it, the lists: denied and attempted, allowed but never used, and
// the rules no traffic reached. CSV and JSON downloads of the whole audit.
import { useState } from "react";
import {
  api,
  download,
  formatCount,
  formatTime,
  parseQuery,
  plural,
  rangeParams,
  useApi,
  withDefaultRange,
  type AuditCell,
  type PolicyAudit,
  type TimeRange,
} from "../api";
import { Icon } from "../components/Icon";
import { ErrorBanner, Loading, Empty } from "../components/States";
import { TimeRangePicker } from "../components/TimeRangePicker";
import { useClusterInfo } from "../components/QueryBar";
import { routeHref } from "../route";
import { Stat } from "./PolicyBoard";
import { STATUS, STATUS_ORDER, auditCsv, auditMatrix, deniedRest, portsText, ruleText, segmentLines } from "./audit";

export function auditHref(range: TimeRange, params: Record<string, string | undefined> = {}): string {
  const p = rangeParams(range);
  for (const [k, v] of Object.entries(params)) if (v) p.set(k, v);
  return routeHref("audit", p);
}

export function AuditView({ params }: { params: URLSearchParams }) {
  const q = withDefaultRange(parseQuery(params));
  const range: TimeRange = { since: q.since, from: q.from, to: q.to };
  const namespaces = params.getAll("namespace");
  const quiet = params.get("quiet") === "show";
  const { health } = useClusterInfo();
  const go = (next: { range?: TimeRange; quiet?: boolean }) => {
    const p = rangeParams(next.range ?? range);
    for (const ns of namespaces) p.append("namespace", ns);
    if (next.quiet ?? quiet) p.set("quiet", "show");
    window.location.hash = routeHref("audit", p);
  };
  const audit = useApi((s) => api.policyAudit(range, namespaces, s), JSON.stringify([range, namespaces]));
  const stamp = () => new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");

  return (
    <section className="view pl-view au-view" data-testid="audit">
      <header className="pl-head">
        <div className="pl-title">
          <h1>Policy audit</h1>
          <p className="pl-sub">
            What today's policies allow between workloads, exact per port, held against the traffic of the window.
          </p>
        </div>
        <div className="pl-tools">
          <label className="au-toggle" title="Also show workloads with nothing allowed or attempted in either direction">
            <input type="checkbox" checked={quiet} onChange={(e) => go({ quiet: e.target.checked })} data-testid="audit-show-quiet" /> Show quiet workloads
          </label>
          <button
            type="button"
            className="btn"
            disabled={!audit.data}
            data-testid="audit-export-csv"
            onClick={() => audit.data && download(`policy-audit-${stamp()}.csv`, auditCsv(audit.data), "text/csv")}
          >
            <Icon name="download" /> CSV
          </button>
          <button
            type="button"
            className="btn"
            disabled={!audit.data}
            data-testid="audit-export-json"
            onClick={() => audit.data && download(`policy-audit-${stamp()}.json`, JSON.stringify(audit.data, null, 2) + "\n", "application/json")}
          >
            <Icon name="download" /> JSON
          </button>
          <TimeRangePicker value={range} dataMax={health?.data_time?.max} onChange={(r) => go({ range: r })} />
        </div>
      </header>
      {audit.error && <ErrorBanner error={audit.error} onRetry={audit.reload} />}
      {!audit.data && audit.loading && <Loading label="Asking the policy engine about every workload pair…" />}
      {audit.data && <AuditBody audit={audit.data} showQuiet={quiet} />}
    </section>
  );
}

function AuditBody({ audit, showQuiet }: { audit: PolicyAudit; showQuiet: boolean }) {
  const matrix = auditMatrix(audit, { hideQuiet: !showQuiet });
  const [selected, setSelected] = useState<AuditCell>();
  const never = audit.rules.filter((r) => r.pairs_hit === 0);
  if (audit.workloads.length === 0) {
    return <Empty title="No workloads">The inventory holds no pods to audit.</Empty>;
  }
  const label = (i: number) => audit.workloads[i].name;
  const full = (i: number) => `${audit.workloads[i].namespace}/${audit.workloads[i].name}`;
  return (
    <div className="au-body">
      <div className="pl-stats">
        <Stat label="Workloads" value={formatCount(audit.workloads.length)} />
        <Stat label="Pairs allowed & used" value={formatCount(matrix.counts.allowed_used)} />
        <Stat label="Pairs allowed & unused" value={formatCount(matrix.counts.allowed_unused)} tone={matrix.counts.allowed_unused ? "warn" : undefined} />
        <Stat label="Pairs denied & attempted" value={formatCount(matrix.counts.denied_attempted)} tone={matrix.counts.denied_attempted ? "deny" : undefined} />
        <Stat label="Rules never hit" value={`${formatCount(never.length)} of ${formatCount(audit.rules.length)}`} />
      </div>
      {audit.window && (
        <p className="pl-sub">
          Traffic from {formatTime(audit.window.from)} to {formatTime(audit.window.to)}: {plural(audit.flows_read, "flow tuple")},{" "}
          {formatCount(audit.flows_in_matrix)} between workloads; {formatCount(audit.questions)} questions to the policy engine.
        </p>
      )}
      <div className="au-legend" data-testid="audit-legend">
        {STATUS_ORDER.map((s) => (
          <span key={s} title={STATUS[s].hint}>
            <i className={`au-swatch au-${s}`} /> {STATUS[s].label} <b>{formatCount(matrix.counts[s])}</b>
          </span>
        ))}
      </div>
      <div className="au-layout">
        <div className="card au-matrix-card">
          <table className="au-matrix" data-testid="audit-matrix">
            <thead>
              <tr>
                <th className="au-corner" rowSpan={2}>
                  <span className="au-axis-dst">destination →</span>
                  <span className="au-axis-src">source ↓</span>
                </th>
                {matrix.axis.groups.map((g) => (
                  <th key={g.namespace} colSpan={g.count} className="au-ns-head" title={g.namespace}>
                    {/* As wide as its columns: a long name is cut, never widens them. */}
                    <span className="au-ns-label" style={{ maxWidth: `${g.count * 29 - 4}px` }}>
                      {g.namespace}
                    </span>
                  </th>
                ))}
              </tr>
              <tr>
                {matrix.axis.order.map((d) => (
                  <th key={d} className="au-col-head" title={full(d)}>
                    <span>{label(d)}</span>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {matrix.axis.order.map((s, row) => {
                const group = matrix.axis.groups.find((g) => g.start === row);
                return (
                  <tr key={s} className={group ? "au-group-start" : ""}>
                    <th className="au-row-head" title={full(s)} scope="row">
                      <span className="au-row-ns">{audit.workloads[s].namespace}/</span>
                      {label(s)}
                    </th>
                    {matrix.axis.order.map((d) => {
                      const c = matrix.cell(s, d);
                      if (!c) return <td key={d} className="au-cell au-none" />;
                      const isSelected = selected?.source === s && selected?.dest === d;
                      return (
                        <td key={d} className="au-cell-td">
                          <button
                            type="button"
                            className={`au-cell au-${c.status} ${isSelected ? "selected" : ""}`}
                            title={`${full(s)} → ${full(d)}: ${STATUS[c.status].label}; allows ${c.allowed}`}
                            aria-label={`${full(s)} to ${full(d)}: ${STATUS[c.status].label}`}
                            aria-pressed={isSelected}
                            data-source={full(s)}
                            data-dest={full(d)}
                            data-status={c.status}
                            onClick={() => setSelected(isSelected ? undefined : c)}
                          />
                        </td>
                      );
                    })}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {selected && <CellPanel audit={audit} cell={selected} onClose={() => setSelected(undefined)} />}
      </div>

      <h2 className="au-h2">Denied and attempted</h2>
      {audit.denied_attempted.length === 0 ? (
        <p className="pl-sub">No denied flow in the window.</p>
      ) : (
        <div className="card">
          <table className="data-table" data-testid="audit-denied">
            <thead>
              <tr>
                <th>Source</th>
                <th>Destination</th>
                <th>Protocol and ports</th>
                <th className="num">Connections</th>
                <th>Denied by (today)</th>
              </tr>
            </thead>
            <tbody>
              {audit.denied_attempted.map((d, i) => (
                <tr key={i}>
                  <td>{d.source}</td>
                  <td>{d.dest}</td>
                  <td className="mono">
                    {d.protocol} {d.distinct_ports > 12 ? `${formatCount(d.distinct_ports)} ports` : portsText(d.ports)}
                  </td>
                  <td className="num deny">{formatCount(d.connections)}</td>
                  <td className="mono">{d.rule ? `${d.rule.direction} ${ruleText(d.rule)}` : d.allowed_today ? "allowed today (policy changed)" : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 className="au-h2">Allowed, never used</h2>
      {audit.unused.length === 0 ? (
        <p className="pl-sub">Everything policy allows between workloads was used.</p>
      ) : (
        <div className="card">
          <table className="data-table" data-testid="audit-unused">
            <thead>
              <tr>
                <th>Source</th>
                <th>Destination</th>
                <th>Unused</th>
                <th>Allowed by (egress)</th>
                <th>Allowed by (ingress)</th>
              </tr>
            </thead>
            <tbody>
              {audit.unused.map((u, i) => (
                <tr key={i}>
                  <td>{u.source}</td>
                  <td>{u.dest}</td>
                  <td className="mono">
                    {u.protocol} {u.ports ? portsText(u.ports) : ""}
                    {u.partly_used && <span className="muted"> (rest used)</span>}
                  </td>
                  <td className="mono">{ruleText(u.egress_rule)}</td>
                  <td className="mono">{ruleText(u.ingress_rule)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 className="au-h2">Rules never hit</h2>
      {never.length === 0 ? (
        <p className="pl-sub">Every rule between workloads saw traffic.</p>
      ) : (
        <div className="card">
          <table className="data-table" data-testid="audit-rules">
            <thead>
              <tr>
                <th>Rule</th>
                <th>Direction</th>
                <th className="num">Pairs</th>
                <th>For example</th>
              </tr>
            </thead>
            <tbody>
              {never.map((r, i) => (
                <tr key={i}>
                  <td className="mono">{ruleText(r.rule)}</td>
                  <td>{r.rule.direction}</td>
                  <td className="num">{formatCount(r.pairs)}</td>
                  <td>
                    {r.idle_pairs
                      .slice(0, 2)
                      .map((p) => `${p.source} → ${p.dest} (${p.connections})`)
                      .join(", ")}
                    {r.idle_pairs.length > 2 && ` and ${formatCount(r.idle_pairs.length - 2)} more`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {audit.notes.length > 0 && (
        <ul className="pl-notes" data-testid="audit-notes">
          {audit.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function CellPanel({ audit, cell, onClose }: { audit: PolicyAudit; cell: AuditCell; onClose: () => void }) {
  const w = (i: number) => `${audit.workloads[i].namespace}/${audit.workloads[i].name}`;
  const lines = segmentLines(cell);
  const rest = deniedRest(cell);
  return (
    <aside className="card au-panel" data-testid="audit-cell" data-source={w(cell.source)} data-dest={w(cell.dest)}>
      <header className="au-panel-head">
        <h3>
          {w(cell.source)} <span className="muted">→</span> {w(cell.dest)}
        </h3>
        <button type="button" className="icon-btn" onClick={onClose} title="Close" aria-label="Close">
          <Icon name="close" size={14} />
        </button>
      </header>
      <p className="au-panel-status">
        <i className={`au-swatch au-${cell.status}`} /> {STATUS[cell.status].label}
        {cell.allowed_connections > 0 && <span> · {plural(cell.allowed_connections, "connection")} allowed</span>}
        {cell.denied_connections > 0 && <span className="deny"> · {plural(cell.denied_connections, "connection")} denied</span>}
      </p>
      <p className="au-allows">
        Policy allows: <b className="mono">{cell.allowed}</b>
      </p>
      {lines.length > 0 && (
        <table className="data-table au-segments" data-testid="audit-segments">
          <thead>
            <tr>
              <th>Ports</th>
              <th>Verdict</th>
              <th>Rules (egress, ingress)</th>
              <th className="num">Seen</th>
            </tr>
          </thead>
          <tbody>
            {lines.map((l, i) => (
              <tr key={i} className={l.action === "deny" ? "au-deny-row" : ""}>
                <td className="mono">
                  {l.protocol} {l.ports}
                  {l.unusedPorts && (
                    <div className="muted">unused: {l.unusedPorts === "all" ? "all" : l.unusedPorts}</div>
                  )}
                </td>
                <td className={l.action === "deny" ? "deny" : "allow"}>
                  {l.action}
                  {l.undecidable && <span className="muted" title="A deciding rule needs what a flow would tell (an ICMP type, an HTTP request)"> ?</span>}
                </td>
                <td className="mono au-rules">
                  <div>
                    <span className="muted">egress </span>
                    {l.egress}
                  </div>
                  <div>
                    <span className="muted">ingress </span>
                    {l.ingress}
                  </div>
                </td>
                <td className="num">
                  {l.allowed > 0 && <div>{formatCount(l.allowed)} allowed</div>}
                  {l.denied > 0 && <div className="deny">{formatCount(l.denied)} denied</div>}
                  {l.seenPorts && <div className="muted mono">ports {l.seenPorts}</div>}
                  {l.allowed + l.denied === 0 && <span className="muted">none</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rest.length > 0 && (
        <div className="au-rest">
          <div className="muted">{lines.length ? "Everything else is denied by" : "Denied by"}</div>
          <ul>
            {rest.map((r) => (
              <li key={r.rule} className="mono">
                {r.rule}
              </li>
            ))}
          </ul>
        </div>
      )}
    </aside>
  );
}

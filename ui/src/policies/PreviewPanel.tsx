// The impact preview: the stored flows of a window re-evaluated with the draft in place.
import { useMemo, useState } from "react";
import { formatCount, formatTime, hitLabel, plural, portRanges, type ChangeKind, type Preview, type PreviewChange } from "../api";
import { Icon } from "../components/Icon";

const GROUP_TITLES: Record<ChangeKind, string> = {
  deny_to_allow: "Denied → allowed",
  allow_to_deny: "Allowed → denied",
  uncertain: "Outcome uncertain",
};
const GROUP_HINTS: Record<ChangeKind, string> = {
  deny_to_allow: "Flows that would be let through.",
  allow_to_deny: "Flows that would be blocked.",
  uncertain: "What was kept of these flows is not enough to know their outcome.",
};

interface Group {
  key: string;
  change: ChangeKind;
  source: string;
  dest: string;
  proto: string;
  ports: number[];
  flowLogs: number;
  flows: number;
  befores: string[];
  afters: string[];
  reasons: string[];
  rows: PreviewChange[];
}

function endpoint(ns: string | null, name: string): string {
  return ns && ns !== "-" ? `${ns}/${name}` : name;
}

/** One group per change, source, destination and protocol; ports are collapsed into ranges. */
export function groupChanges(changes: PreviewChange[]): Group[] {
  const groups = new Map<string, Group>();
  for (const c of changes) {
    const source = endpoint(c.source_namespace, c.source_name_aggr);
    const dest = endpoint(c.dest_namespace, c.dest_name_aggr);
    const key = `${c.change}|${source}|${dest}|${c.proto}`;
    let g = groups.get(key);
    if (!g) {
      g = { key, change: c.change, source, dest, proto: c.proto, ports: [], flowLogs: 0, flows: 0, befores: [], afters: [], reasons: [], rows: [] };
      groups.set(key, g);
    }
    if (c.dest_port !== null && c.dest_port !== undefined) g.ports.push(c.dest_port);
    g.flowLogs += c.flow_logs;
    g.flows += c.num_flows;
    if (c.before && !g.befores.includes(c.before)) g.befores.push(c.before);
    if (c.after && !g.afters.includes(c.after)) g.afters.push(c.after);
    if (c.reason && !g.reasons.includes(c.reason)) g.reasons.push(c.reason);
    g.rows.push(c);
  }
  return [...groups.values()].sort((a, b) => b.flows - a.flows);
}

export function PreviewPanel({ preview, onClose, title = "Impact preview" }: { preview: Preview; onClose?: () => void; title?: string }) {
  const groups = useMemo(() => groupChanges(preview.changes), [preview]);
  const s = preview.summary;
  const n = preview.summary_num_flows;
  const kinds: ChangeKind[] = ["deny_to_allow", "allow_to_deny", "uncertain"];
  const nothing = s.allow_to_deny + s.deny_to_allow + s.uncertain === 0;
  return (
    <div className="card pl-preview" data-testid="preview-result">
      <header className="pl-preview-head">
        <h2>{title}</h2>
        {onClose && (
          <button type="button" className="icon-btn" onClick={onClose} title="Close the preview" aria-label="Close the preview">
            <Icon name="close" size={14} />
          </button>
        )}
      </header>
      <div className="pl-preview-meta">
        Re-evaluated {plural(preview.flow_logs, "flow log")} from {preview.window.from ? formatTime(preview.window.from) : "the start"} to{" "}
        {preview.window.to ? formatTime(preview.window.to) : "now"}
        {preview.tuples !== undefined
          ? `: ${plural(preview.tuples, "distinct flow")}, ${formatCount(preview.evaluated_tuples)} of them touched by the policy.`
          : ` (${plural(preview.evaluated_tuples, "distinct flow")}).`}
        {preview.compared === "pending" && (
          <span className="pl-preview-note staged" data-testid="preview-pending">
            Staged policy: the comparison is of what the policies would do (pending verdicts); nothing enforced changes.
          </span>
        )}
        {(preview.stored_mismatch_flow_logs ?? 0) > 0 && (
          <span className="pl-preview-note">
            {plural(preview.stored_mismatch_flow_logs ?? 0, "flow log")} in the window were recorded under an earlier policy
            set; they are compared with what the current policies decide.
          </span>
        )}
      </div>
      <div className="pl-preview-tiles">
        <Tile tone="allow" label="Denied → allowed" value={s.deny_to_allow} flows={n?.deny_to_allow} testid="sum-deny-to-allow" />
        <Tile tone="deny" label="Allowed → denied" value={s.allow_to_deny} flows={n?.allow_to_deny} testid="sum-allow-to-deny" />
        <Tile tone="warn" label="Uncertain" value={s.uncertain} flows={n?.uncertain} testid="sum-uncertain" />
        <Tile tone="none" label="Unchanged" value={s.unchanged} testid="sum-unchanged" />
      </div>
      {nothing && (
        <div className="pl-preview-none">
          <Icon name="check" /> No stored flow in this window would change outcome.
        </div>
      )}
      {kinds.map((k) => {
        const gs = groups.filter((g) => g.change === k);
        if (!gs.length) return null;
        return (
          <section key={k} className={`pl-change-group ${k}`} data-testid={`changes-${k}`}>
            <h3>
              {GROUP_TITLES[k]} <span className="count-pill">{gs.length}</span>
              <span className="note">{GROUP_HINTS[k]}</span>
            </h3>
            <table className="pl-changes">
              <colgroup>
                <col style={{ width: "19%" }} />
                <col style={{ width: "28px" }} />
                <col style={{ width: "19%" }} />
                <col style={{ width: "15%" }} />
                <col style={{ width: "80px" }} />
                <col style={{ width: "112px" }} />
                <col />
              </colgroup>
              <thead>
                <tr>
                  <th>Source</th>
                  <th />
                  <th>Destination</th>
                  <th>Ports</th>
                  <th className="num">Flow logs</th>
                  <th className="num">Connections</th>
                  <th>{k === "uncertain" ? "Why" : "Before → after"}</th>
                </tr>
              </thead>
              <tbody>
                {gs.map((g) => (
                  <GroupRow key={g.key} g={g} />
                ))}
              </tbody>
            </table>
          </section>
        );
      })}
    </div>
  );
}

function Tile({ tone, label, value, flows, testid }: { tone: string; label: string; value: number; flows?: number; testid: string }) {
  return (
    <div className={`pl-tile ${tone} ${value === 0 ? "zero" : ""}`} data-testid={testid} data-value={value}>
      <span className="v">
        {formatCount(value)} <small>flow logs</small>
      </span>
      <span className="l">
        {label}
        {flows !== undefined && value > 0 && <span className="pl-tile-flows"> · {plural(flows, "connection")}</span>}
      </span>
    </div>
  );
}

const SUB_ROWS = 40;

function GroupRow({ g }: { g: Group }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <tr className="pl-change-row" data-testid="change-group" data-source={g.source} data-dest={g.dest} data-ports={portRanges(g.ports)}>
        <td className="pl-ep">{g.source}</td>
        <td className="arrow">
          <Icon name="arrow" size={14} />
        </td>
        <td className="pl-ep">{g.dest}</td>
        <td className="ports">
          <span className="proto">{g.proto.toUpperCase()}</span> {portRanges(g.ports, 6) || "—"}
          {g.rows.length > 1 && (
            <button type="button" className="link-btn" onClick={() => setOpen(!open)}>
              {open ? "hide ports" : "by port"}
            </button>
          )}
        </td>
        <td className="num">{formatCount(g.flowLogs)}</td>
        <td className="num">{formatCount(g.flows)}</td>
        <td className="hits">
          {g.change === "uncertain" ? (
            g.reasons.join("; ") || "—"
          ) : (
            <>
              <div className="before">{g.befores.map(hitLabel).join("; ") || "—"}</div>
              <div className="after">{g.afters.map(hitLabel).join("; ") || "—"}</div>
            </>
          )}
        </td>
      </tr>
      {open &&
        g.rows.slice(0, SUB_ROWS).map((r, i) => (
          <tr key={i} className="pl-change-sub">
            <td />
            <td />
            <td />
            <td className="ports">{r.dest_port ?? "—"}</td>
            <td className="num">{formatCount(r.flow_logs)}</td>
            <td className="num">{formatCount(r.num_flows)}</td>
            <td className="hits">{r.reason ?? `${hitLabel(r.before)} → ${hitLabel(r.after)}`}</td>
          </tr>
        ))}
      {open && g.rows.length > SUB_ROWS && (
        <tr className="pl-change-sub">
          <td colSpan={7} className="pl-more">
            … and {formatCount(g.rows.length - SUB_ROWS)} more ports
          </td>
        </tr>
      )}
    </>
  );
}

// `#/advisor`: policy recommendations. Per namespace, the least-privilege ingress and egress
// policies learned from the window's traffic, with where each stands (learning, stable,
// staged, enforced), the evidence behind each rule, the proof of enforcing it over the same
// window, and one click to stage or enforce it.
import { useState } from "react";
import {
  ApiError,
  api,
  download,
  formatCount,
  formatTime,
  parseQuery,
  plural,
  rangeParams,
  useApi,
  withDefaultRange,
  type Lifecycle,
  type RecommendedPolicy,
  type Recommendations,
  type TimeRange,
} from "../api";
import { Icon } from "../components/Icon";
import { ErrorBanner, Loading, Empty } from "../components/States";
import { TimeRangePicker } from "../components/TimeRangePicker";
import { useClusterInfo } from "../components/QueryBar";
import { routeHref } from "../route";
import { Stat } from "./PolicyBoard";
import { PreviewPanel } from "./PreviewPanel";

type Learn = "attempted" | "allowed";

const LIFECYCLE: Record<Lifecycle, { label: string; tone: string; hint: string }> = {
  learning: { label: "Learning", tone: "warn", hint: "Traffic of the last stabilization period still added rules." },
  stable: { label: "Stable", tone: "ok", hint: "The last stabilization period added no rule: ready to stage or enforce." },
  staged: { label: "Staged", tone: "pass", hint: "Staged in the cluster: it reports what it would do without enforcing." },
  enforced: { label: "Enforced", tone: "muted", hint: "In force." },
};

export function advisorHref(range: TimeRange, params: Record<string, string | undefined> = {}): string {
  const p = rangeParams(range);
  for (const [k, v] of Object.entries(params)) if (v) p.set(k, v);
  return routeHref("advisor", p);
}

export function LifecycleBadge({ policy }: { policy: RecommendedPolicy }) {
  const s = policy.status;
  const l = LIFECYCLE[s.lifecycle];
  const detail =
    s.lifecycle === "learning"
      ? ` (${plural(s.new_rules, "new rule")})`
      : s.differs_from_applied
        ? " · changed since"
        : "";
  return (
    <span className={`badge badge-${l.tone}`} title={l.hint} data-lifecycle={s.lifecycle}>
      {l.label}
      {detail}
    </span>
  );
}

/** What a namespace's pair of policies adds up to, for the overview table. */
export function namespaceRows(rec: Recommendations) {
  const rows = new Map<string, { namespace: string; ingress?: RecommendedPolicy; egress?: RecommendedPolicy; rules: number; denied: number }>();
  for (const p of rec.policies) {
    const row = rows.get(p.namespace) ?? { namespace: p.namespace, rules: 0, denied: 0 };
    row[p.direction] = p;
    row.rules += p.rules.length;
    row.denied += p.rules.reduce((n, r) => n + r.denied_connections, 0);
    rows.set(p.namespace, row);
  }
  return [...rows.values()];
}

export function AdvisorView({ params }: { params: URLSearchParams }) {
  const q = withDefaultRange(parseQuery(params));
  const range: TimeRange = { since: q.since, from: q.from, to: q.to };
  const learn: Learn = params.get("learn") === "allowed" ? "allowed" : "attempted";
  const selected = params.get("namespace") ?? "";
  const { health } = useClusterInfo();
  const go = (next: { range?: TimeRange; learn?: Learn; namespace?: string }) => {
    window.location.hash = advisorHref(next.range ?? range, {
      learn: (next.learn ?? learn) === "allowed" ? "allowed" : undefined,
      namespace: next.namespace ?? selected,
    });
  };
  const all = useApi((s) => api.recommendations(range, { learn }, s), JSON.stringify([range, learn]));

  return (
    <section className="view pl-view" data-testid="advisor">
      <header className="pl-head">
        <div className="pl-title">
          <h1>Policy recommendations</h1>
          <p className="pl-sub">
            Least-privilege policies learned from the traffic of the window: per namespace one ingress and one egress policy in
            the <b>{all.data?.tier.name ?? "namespace-isolation"}</b> tier, allowing what was observed and nothing else.
          </p>
        </div>
        <div className="pl-tools">
          <div className="segmented" role="group" aria-label="Learn from">
            {(["attempted", "allowed"] as Learn[]).map((l) => (
              <button key={l} type="button" className={learn === l ? "active" : ""} aria-pressed={learn === l} onClick={() => go({ learn: l })}>
                {l === "attempted" ? "Every attempt" : "Allowed only"}
              </button>
            ))}
          </div>
          <TimeRangePicker value={range} dataMax={health?.data_time?.max} onChange={(r) => go({ range: r })} />
        </div>
      </header>

      {all.error && <ErrorBanner error={all.error} onRetry={all.reload} />}
      {!all.data && all.loading && <Loading label="Learning from the window's traffic…" />}
      {all.data && <Overview rec={all.data} selected={selected} onSelect={(ns) => go({ namespace: ns })} />}
      {all.data && selected && (
        <NamespaceDetail key={`${selected}|${learn}|${JSON.stringify(range)}`} namespace={selected} range={range} learn={learn} onApplied={all.reload} />
      )}
    </section>
  );
}

function Overview({ rec, selected, onSelect }: { rec: Recommendations; selected: string; onSelect: (ns: string) => void }) {
  const rows = namespaceRows(rec);
  const count = (l: Lifecycle) => rec.policies.filter((p) => p.status.lifecycle === l).length;
  if (rows.length === 0) {
    return (
      <Empty title="Nothing to recommend">
        No namespace with pods had traffic in this window. Widen the time range, or check that flows are being stored.
      </Empty>
    );
  }
  return (
    <>
      <div className="pl-stats">
        <Stat label="Namespaces" value={formatCount(rows.length)} />
        <Stat label="Learning" value={formatCount(count("learning"))} tone={count("learning") ? "warn" : undefined} />
        <Stat label="Stable" value={formatCount(count("stable"))} />
        <Stat label="Staged or enforced" value={formatCount(count("staged") + count("enforced"))} />
        <Stat label="Flows learned from" value={`${formatCount(rec.flows_used)} of ${formatCount(rec.flows_read)}`} />
      </div>
      {rec.window && (
        <p className="pl-sub">
          Learned from {formatTime(rec.window.from)} to {formatTime(rec.window.to)}; a policy is stable once the last{" "}
          {Math.round(rec.stabilization_secs / 60)} minutes added no rule to it.
        </p>
      )}
      <div className="card">
        <table className="data-table" data-testid="advisor-namespaces">
          <thead>
            <tr>
              <th>Namespace</th>
              <th>Ingress</th>
              <th>Egress</th>
              <th className="num">Rules</th>
              <th className="num" title="Connections today's policy denied that the recommendation would allow">
                Denied today
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr
                key={r.namespace}
                className={`clickable ${r.namespace === selected ? "selected" : ""}`}
                onClick={() => onSelect(r.namespace)}
                data-namespace={r.namespace}
              >
                <td>
                  <a
                    href="#"
                    onClick={(e) => {
                      e.preventDefault();
                      onSelect(r.namespace);
                    }}
                  >
                    {r.namespace}
                  </a>
                </td>
                <td>{r.ingress && <LifecycleBadge policy={r.ingress} />}</td>
                <td>{r.egress && <LifecycleBadge policy={r.egress} />}</td>
                <td className="num">{formatCount(r.rules)}</td>
                <td className={`num ${r.denied ? "deny" : ""}`}>{formatCount(r.denied)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rec.notes.length > 0 && (
        <ul className="pl-notes" data-testid="advisor-notes">
          {rec.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </>
  );
}

/** One namespace's two policies, proven: each policy's rules, its proof, and stage/enforce. */
function NamespaceDetail({ namespace, range, learn, onApplied }: { namespace: string; range: TimeRange; learn: Learn; onApplied: () => void }) {
  const rec = useApi((s) => api.recommendations(range, { namespace, learn, prove: true }, s), JSON.stringify([namespace, range, learn]));
  return (
    <div className="adv-detail" data-testid="advisor-detail" data-namespace={namespace}>
      <h2>{namespace}</h2>
      {rec.error && <ErrorBanner error={rec.error} onRetry={rec.reload} />}
      {!rec.data && rec.loading && <Loading label="Proving the recommendation over the window…" />}
      {rec.data?.policies.map((p) => (
        <PolicyCard
          key={p.id}
          policy={p}
          onApplied={() => {
            rec.reload();
            onApplied();
          }}
        />
      ))}
    </div>
  );
}

function PolicyCard({ policy, onApplied }: { policy: RecommendedPolicy; onApplied: () => void }) {
  const [busy, setBusy] = useState<"stage" | "enforce">();
  const [done, setDone] = useState<string>();
  const [error, setError] = useState<Error>();
  const [showYaml, setShowYaml] = useState(false);
  const apply = async (enforce: boolean) => {
    setBusy(enforce ? "enforce" : "stage");
    setError(undefined);
    setDone(undefined);
    try {
      await api.applyRecommendation(policy.yaml, enforce);
      setDone(enforce ? "Enforced." : "Staged: the Policy Board shows what it would do.");
      onApplied();
    } catch (e) {
      setError(e instanceof ApiError || e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(undefined);
    }
  };
  const proof = policy.proof;
  const wouldDeny = proof?.summary.allow_to_deny ?? 0;
  const enforced = policy.status.lifecycle === "enforced" && !policy.status.differs_from_applied;
  return (
    <div className="card adv-policy" data-testid="recommended-policy" data-direction={policy.direction} data-policy={policy.name}>
      <header className="adv-policy-head">
        <h3>
          {policy.direction === "ingress" ? "Ingress" : "Egress"} <span className="muted">{policy.name}</span>
        </h3>
        <LifecycleBadge policy={policy} />
        <span className="spacer" />
        <button type="button" className="btn" onClick={() => setShowYaml(!showYaml)} aria-pressed={showYaml}>
          YAML
        </button>
        <button type="button" className="btn" onClick={() => download(`${policy.name}.yaml`, policy.yaml)} title="Download the policy as YAML">
          <Icon name="download" />
        </button>
        <button type="button" className="btn" disabled={!!busy} onClick={() => apply(false)} data-testid="stage">
          {busy === "stage" ? "Staging…" : "Stage"}
        </button>
        <button
          type="button"
          className="btn btn-primary"
          disabled={!!busy || enforced}
          onClick={() => apply(true)}
          data-testid="enforce"
          title={wouldDeny ? `Enforcing would deny ${plural(wouldDeny, "flow log")} that was allowed: see the proof` : "Enforce the policy"}
        >
          {busy === "enforce" ? "Enforcing…" : "Enforce"}
        </button>
      </header>
      {error && <ErrorBanner error={error} />}
      {done && (
        <p className="adv-done" role="status">
          <Icon name="check" /> {done}
        </p>
      )}
      {showYaml && <pre className="adv-yaml">{policy.yaml}</pre>}
      {policy.rules.length === 0 ? (
        <p className="pl-sub">No traffic in this direction: enforced, the policy denies everything that reaches its tier.</p>
      ) : (
        <table className="data-table" data-testid="recommended-rules">
          <thead>
            <tr>
              <th>#</th>
              <th>Peer</th>
              <th>Rule</th>
              <th className="num">Allowed today</th>
              <th className="num">Denied today</th>
              <th className="num">Ports seen</th>
            </tr>
          </thead>
          <tbody>
            {policy.rules.map((r, i) => (
              <tr key={i}>
                <td className="num">{i}</td>
                <td>{r.peer}</td>
                <td className="mono">{r.rule}</td>
                <td className="num">{formatCount(r.allowed_connections)}</td>
                <td className={`num ${r.denied_connections ? "deny" : ""}`}>{formatCount(r.denied_connections)}</td>
                <td className="num">{formatCount(r.observed_ports)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {proof && <PreviewPanel preview={proof} title="Proof: enforcing this policy alone over the window" />}
    </div>
  );
}

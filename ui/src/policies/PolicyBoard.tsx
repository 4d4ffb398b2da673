// The Policy Board: tiers as columns in evaluation order, policies as cards in order.
import { useMemo, useState } from "react";
import {
  actionLabel,
  api,
  download,
  formatCount,
  formatTime,
  plural,
  policyFlowsParams,
  unusedRuleLabels,
  useApi,
  useMe,
  canWriteTier,
  type BoardPolicy,
  type BoardTier,
  type TimeRange,
} from "../api";
import { KindBadge, MetricLink } from "../components/Badges";
import { Icon } from "../components/Icon";
import { ErrorBanner, Loading } from "../components/States";
import { TimeRangePicker } from "../components/TimeRangePicker";
import { useClusterInfo } from "../components/QueryBar";
import { routeHref } from "../route";
import { policiesHref } from "./PoliciesView";

const METRICS_KEY = "flowlens.policies.metrics";

function useMetricsToggle(): [boolean, (v: boolean) => void] {
  const [on, setOn] = useState(() => localStorage.getItem(METRICS_KEY) !== "0");
  return [
    on,
    (v: boolean) => {
      localStorage.setItem(METRICS_KEY, v ? "1" : "0");
      setOn(v);
    },
  ];
}

/** Which cards the board shows. */
export type BoardShow = "all" | "denies" | "unused" | "staged" | "idle";
/** How cards are ordered within a tier: evaluation order, or by a figure. */
export type BoardSort = "order" | "denied" | "connections";

export const SHOW_OPTIONS: { value: BoardShow; label: string }[] = [
  { value: "all", label: "All" },
  { value: "denies", label: "With denies" },
  { value: "unused", label: "Unused rules" },
  { value: "staged", label: "Staged" },
  { value: "idle", label: "Select nothing" },
];

/** The policies of a tier the board shows, in the order it shows them. */
export function boardCards(policies: BoardPolicy[], search: string, show: BoardShow, sort: BoardSort): BoardPolicy[] {
  const needle = search.trim().toLowerCase();
  const kept = policies.filter(
    (p) =>
      (!needle ||
        p.name.toLowerCase().includes(needle) ||
        (p.namespace ?? "").toLowerCase().includes(needle) ||
        p.selector.toLowerCase().includes(needle)) &&
      (show === "all" ||
        (show === "denies" && (p.metrics.denied > 0 || p.metrics.pending_denied > 0)) ||
        (show === "unused" && unusedRuleLabels(p.unused_rules).length > 0) ||
        (show === "staged" && p.staged) ||
        (show === "idle" && p.endpoints === 0)),
  );
  if (sort === "order") return kept;
  const figure = (p: BoardPolicy) => (sort === "denied" ? p.metrics.denied + p.metrics.pending_denied : p.metrics.connections + p.metrics.pending_connections);
  return [...kept].sort((a, b) => figure(b) - figure(a));
}

export function PolicyBoard({
  range,
  search,
  show,
  sort,
  onChange,
}: {
  range: TimeRange;
  search: string;
  show: BoardShow;
  sort: BoardSort;
  /** The board's own parameters changed (they live in the route, so a link keeps them). */
  onChange: (p: { search?: string; show?: BoardShow; sort?: BoardSort; range?: TimeRange }) => void;
}) {
  const board = useApi((s) => api.board(range, s), JSON.stringify(range), 10_000);
  const { health } = useClusterInfo();
  const [showMetrics, setShowMetrics] = useMetricsToggle();

  const tiers = board.data?.tiers ?? [];
  // New policies only where the signed-in user may write (unknown yet: offered).
  const me = useMe();
  const mayWrite = (tier: string) => !me || canWriteTier(me, tier);
  const mayWriteAny = !me || me.admin || tiers.some((t) => canWriteTier(me, t.name));
  const filtered = !!search.trim() || show !== "all";
  const columns = tiers.map((tier, i) => ({ tier, position: i + 1, cards: boardCards(tier.policies, search, show, sort) }));
  const matched = columns.filter((c) => c.cards.length > 0);
  const unmatched = columns.filter((c) => c.cards.length === 0);
  const totals = useMemo(() => {
    let policies = 0;
    let denied = 0;
    let idle = 0;
    let staged = 0;
    for (const t of tiers) {
      for (const p of t.policies) {
        policies++;
        denied += p.metrics.denied;
        if (p.endpoints === 0) idle++;
        if (p.staged) staged++;
      }
    }
    return { policies, denied, idle, staged };
  }, [tiers]);

  const exportAll = async () => download("flowlens-policies.yaml", await api.exportPolicies());
  const time = board.data?.time;

  return (
    <div className="pl-board" data-testid="policy-board">
      <header className="pl-head">
        <div className="pl-title">
          <h1>Policy Board</h1>
          <p className="pl-sub">
            Tiers are evaluated left to right, policies within a tier top to bottom.
            {time?.from ? ` Metrics count connections from ${formatTime(time.from)} to ${time.to ? formatTime(time.to) : "now"}.` : ""}
          </p>
        </div>
        <div className="pl-tools">
          <SearchBox value={search} onChange={(v) => onChange({ search: v })} />
          <TimeRangePicker value={range} dataMax={health?.data_time?.max} onChange={(r) => onChange({ range: r })} />
          <button
            type="button"
            className={`btn ${showMetrics ? "on" : ""}`}
            onClick={() => setShowMetrics(!showMetrics)}
            aria-pressed={showMetrics}
            data-testid="metrics-toggle"
            title={showMetrics ? "Hide metrics" : "Show metrics"}
          >
            <Icon name={showMetrics ? "eye" : "eyeOff"} /> Metrics
          </button>
          <button type="button" className="btn" onClick={exportAll} title="Export every policy as YAML">
            <Icon name="download" /> Export
          </button>
          {mayWriteAny && (
            <a className="btn btn-primary" href={policiesHref(range, { new: "1" })} data-testid="new-policy">
              <Icon name="plus" /> New policy
            </a>
          )}
        </div>
      </header>

      {board.error && <ErrorBanner error={board.error} onRetry={board.reload} />}

      {board.data && (
        <div className="pl-stats">
          <Stat label="Tiers" value={formatCount(tiers.length)} />
          <Stat label="Policies" value={formatCount(totals.policies)} />
          <Stat label="Staged" value={formatCount(totals.staged)} />
          <Stat label="Denied connections" value={formatCount(totals.denied)} tone={totals.denied ? "deny" : undefined} />
          <Stat label="Select no endpoint" value={formatCount(totals.idle)} tone={totals.idle ? "warn" : undefined} />
        </div>
      )}

      {!board.data && board.loading && <Loading label="Loading policies…" />}

      <div className="pl-board-filters">
        <div className="segmented" role="group" aria-label="Show policies" data-testid="board-show">
          {SHOW_OPTIONS.map((o) => (
            <button
              key={o.value}
              type="button"
              className={show === o.value ? "active" : ""}
              aria-pressed={show === o.value}
              onClick={() => onChange({ show: o.value })}
            >
              {o.label}
            </button>
          ))}
        </div>
        <label className="pl-sort">
          Sort within tiers
          <select value={sort} onChange={(e) => onChange({ sort: e.target.value as BoardSort })} data-testid="board-sort">
            <option value="order">by evaluation order</option>
            <option value="denied">by denied connections</option>
            <option value="connections">by connections</option>
          </select>
        </label>
      </div>

      {filtered && unmatched.length > 0 && (
        <p className="pl-unmatched" data-testid="board-unmatched">
          {matched.length === 0 ? "No policy matches." : `Not shown: ${plural(unmatched.length, "tier")} with no match`}{" "}
          ({unmatched.map((c) => c.tier.name).join(", ")})
        </p>
      )}
      <div className="pl-columns" data-testid="board-columns">
        {/* With a search or filter on, tiers with no match step aside so the matches are in sight. */}
        {(filtered ? matched : columns).map(({ tier, position, cards }) => (
          <TierColumn
            key={tier.name}
            tier={tier}
            position={position}
            range={range}
            showMetrics={showMetrics}
            policies={cards}
            writable={mayWrite(tier.name)}
          />
        ))}
      </div>
    </div>
  );
}

/** The search box; the route follows as the user types, without a history entry per key. */
function SearchBox({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const [text, setText] = useState(value);
  const [prev, setPrev] = useState(value);
  if (prev !== value) {
    setPrev(value);
    setText(value);
  }
  return (
    <input
      className="search-input"
      type="search"
      placeholder="Filter policies…"
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        onChange(e.target.value);
      }}
      aria-label="Filter policies"
      data-testid="board-search"
    />
  );
}

export function Stat({ label, value, tone }: { label: string; value: string; tone?: "deny" | "warn" }) {
  return (
    <div className={`card pl-stat ${tone ?? ""}`}>
      <span className="v">{value}</span>
      <span className="l">{label}</span>
    </div>
  );
}

function TierColumn({
  tier,
  position,
  range,
  showMetrics,
  policies,
  writable,
}: {
  tier: BoardTier;
  position: number;
  range: TimeRange;
  showMetrics: boolean;
  policies: BoardPolicy[];
  /** Whether the user may add a policy to the tier. */
  writable: boolean;
}) {
  const denied = tier.policies.reduce((n, p) => n + p.metrics.denied, 0);
  const exportTier = async () => download(`flowlens-tier-${tier.name}.yaml`, await api.exportPolicies(tier.name));
  return (
    <section
      className={`pl-tier ${policies.length === 0 ? "empty" : ""}`}
      data-testid={`tier-${tier.name}`}
      aria-label={`Tier ${tier.name}`}
    >
      <header className="pl-tier-head">
        <div className="pl-tier-name">
          <span className="pl-tier-pos">{position}</span>
          <span className="n">{tier.name}</span>
          {denied > 0 && showMetrics && <span className="pl-dot deny" title={`${formatCount(denied)} denied`} />}
        </div>
        <div className="pl-tier-meta">
          {tier.order !== null ? `order ${tier.order}` : "evaluated last"}
          {tier.policies.length > 0 && ` · ${plural(tier.policies.length, "policy", "policies")}`}
          <span className="pl-tier-actions">
            <button type="button" className="icon-btn" onClick={exportTier} title={`Export tier ${tier.name} as YAML`} aria-label={`Export tier ${tier.name} as YAML`}>
              <Icon name="download" size={14} />
            </button>
            {writable && (
              <a
                className="icon-btn"
                href={policiesHref(range, { new: "1", tier: tier.name })}
                title={`New policy in ${tier.name}`}
                aria-label={`New policy in ${tier.name}`}
                data-testid={`new-policy-in-${tier.name}`}
              >
                <Icon name="plus" size={14} />
              </a>
            )}
          </span>
        </div>
      </header>
      <div className="pl-cards">
        {policies.map((p) => (
          <PolicyCard key={p.id} p={p} range={range} showMetrics={showMetrics} />
        ))}
        {policies.length === 0 && <div className="pl-card-empty">No policies</div>}
      </div>
      <footer className={`pl-tier-end ${tier.default_action.toLowerCase()}`}>
        End of tier: <b>{actionLabel(tier.default_action)}</b>
      </footer>
    </section>
  );
}

function PolicyCard({ p, range, showMetrics }: { p: BoardPolicy; range: TimeRange; showMetrics: boolean }) {
  const idle = p.endpoints === 0;
  const unused = unusedRuleLabels(p.unused_rules);
  const href = policiesHref(range, { id: p.id });
  const flows = (action?: string) => routeHref("flows", policyFlowsParams(p, range, action));
  const m = p.metrics;
  return (
    <article
      className={`pl-card ${idle ? "idle" : ""} ${p.staged ? "staged" : ""} ${m.denied > 0 ? "has-deny" : ""}`}
      data-testid="policy-card"
      data-policy-id={p.id}
      // Anywhere on the card opens the policy; its links (name, figures) go where they say.
      onClick={(e) => {
        if ((e.target as HTMLElement).closest("a, button")) return;
        window.location.hash = href;
      }}
    >
      <div className="pl-card-top">
        <span className="pl-order" title="Order within the tier">
          {p.order ?? "—"}
        </span>
        <a className="pl-card-name" href={href} title={p.name}>
          {p.name}
        </a>
      </div>
      <div className="pl-card-badges">
        <KindBadge kind={p.kind} label={p.kind_label} />
        {p.staged && <span className="badge badge-staged">Staged</span>}
        <span className="pl-scope" title={p.namespace ? `Namespace ${p.namespace}` : "All namespaces"}>
          <Icon name={p.namespace ? "box" : "globe"} size={12} />
          {p.namespace ?? "global"}
        </span>
        <span className={`pl-endpoints ${idle ? "warn" : ""}`} data-testid="endpoints" title="Endpoints the selector picks now">
          <Icon name={idle ? "alert" : "target"} size={12} />
          {idle ? "Selects no endpoint" : plural(p.endpoints, "endpoint")}
        </span>
      </div>
      <code className="pl-selector" title={p.selector}>
        {p.selector || "all()"}
      </code>
      {unused.length > 0 && showMetrics && (
        <div className="pl-card-foot">
          <span className="pl-unused" title={`Rules never hit in this range: ${unused.join(", ")}`}>
            {unused.length === 1 ? `${unused[0]} never hit` : `${unused.length} rules never hit`}
          </span>
        </div>
      )}
      {showMetrics && !p.staged && (
        <div className="pl-metrics" data-testid="card-metrics">
          <MetricLink label="Total" value={m.connections} href={flows()} compact />
          <MetricLink label="Allowed" value={m.allowed} href={flows("allow")} tone="allow" compact />
          <MetricLink label="Denied" value={m.denied} href={flows("deny")} tone="deny" compact />
          <MetricLink label="Passed" value={m.passed} href={flows("pass")} tone="pass" compact />
        </div>
      )}
      {showMetrics && p.staged && (
        <div className="pl-metrics pending" data-testid="card-metrics" title="A staged policy enforces nothing: what it would do if enforced">
          <MetricLink label="Pending" value={m.pending_connections} compact />
          <MetricLink label="Would allow" value={m.pending_allowed} tone="allow" compact />
          <MetricLink label="Would deny" value={m.pending_denied} tone="deny" compact />
          <MetricLink label="Would pass" value={m.pending_passed} tone="pass" compact />
        </div>
      )}
    </article>
  );
}

import { lazy, Suspense, useEffect, useState } from "react";
import { useRoute, routeHref, VIEWS, type Route, type View } from "./route";
import { api, useMe, type Health, type Scenario } from "./api";
import { FlowsView } from "./views/flows/FlowsView";
import { Loading } from "./components/States";
import { GraphView } from "./views/graph/GraphView";
import { SourcesCard } from "./components/SourcesCard";
import { ClusterCard } from "./components/ClusterCard";
// The default view (the graph) loads first; the others, with D3 and the policy editor, on demand.
const VisualizerView = lazy(() => import("./views/visualizer/VisualizerView").then((m) => ({ default: m.VisualizerView })));
const PoliciesView = lazy(() => import("./policies/PoliciesView").then((m) => ({ default: m.PoliciesView })));
const AdvisorView = lazy(() => import("./policies/AdvisorView").then((m) => ({ default: m.AdvisorView })));
const AuditView = lazy(() => import("./policies/AuditView").then((m) => ({ default: m.AuditView })));

const TITLES: Record<View, string> = {
  graph: "Service Graph",
  visualizer: "Flow Visualizer",
  flows: "Flows",
  policies: "Policies",
  advisor: "Recommendations",
  audit: "Audit",
};

const ICONS: Record<View, string> = {
  graph: "M5 6a2 2 0 1 0 0-.01M15 4a2 2 0 1 0 0-.01M15 16a2 2 0 1 0 0-.01M6.8 6.6 13.2 4.6M6.6 7.4l6.8 7.2",
  visualizer: "M10 2a8 8 0 1 0 0 16 8 8 0 1 0 0-16M10 5a5 5 0 1 0 0 10 5 5 0 1 0 0-10M7 8.5c2 1 4 1 6 0",
  flows: "M3 4h14M3 8h14M3 12h14M3 16h9",
  policies: "M10 2 3 5v5c0 4 3 6.5 7 8 4-1.5 7-4 7-8V5l-7-3M7 10l2 2 4-4",
  advisor: "M10 2a5 5 0 0 0-3 9v2h6v-2a5 5 0 0 0-3-9M8 16h4M9 18h2",
  audit: "M3 3h6v6H3zM11 3h6v6h-6zM3 11h6v6H3zM11 11h6v6h-6z",
};

function NavIcon({ view }: { view: View }) {
  return (
    <svg width="18" height="18" viewBox="0 0 20 20" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d={ICONS[view]} />
    </svg>
  );
}

function Logo() {
  return (
    <svg width="26" height="26" viewBox="0 0 32 32" aria-hidden="true">
      <defs>
        <linearGradient id="lg" x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#5b8cff" />
          <stop offset="1" stopColor="#34d2a0" />
        </linearGradient>
      </defs>
      <circle cx="16" cy="16" r="14" fill="none" stroke="url(#lg)" strokeWidth="3" />
      <circle cx="16" cy="16" r="7" fill="none" stroke="url(#lg)" strokeWidth="2.4" opacity="0.8" />
      <path d="M4 16h8M20 16h8" stroke="#fff" strokeWidth="2.2" strokeLinecap="round" />
    </svg>
  );
}

/** The demo's scenario steps and the server's health, at the foot of the navigation. */
function ScenarioFooter() {
  const [scenario, setScenario] = useState<Scenario | null>();
  // Steps change the inventory for everyone: administrators only (unknown yet: offered).
  const me = useMe();
  const maySteer = !me || me.admin;
  const [health, setHealth] = useState<Health | null>();
  const [busy, setBusy] = useState<string>();
  useEffect(() => {
    let stop = false;
    const load = () => {
      api.scenario().then(
        (s) => !stop && setScenario(s),
        () => !stop && setScenario(null),
      );
      api.health().then(
        (h) => !stop && setHealth(h),
        () => !stop && setHealth(null),
      );
    };
    load();
    const t = window.setInterval(load, 15_000);
    return () => {
      stop = true;
      window.clearInterval(t);
    };
  }, []);
  return (
    <div className="nav-footer">
      {scenario && (
        <div data-testid="scenario">
          <div>
            Demo <span className="scenario-name">{scenario.name}</span>
          </div>
          {scenario.steps.map((s) => (
            <div className="step" key={s.name} title={s.description}>
              <span>{s.name}</span>
              {s.applied ? (
                <span className="applied">applied ✓</span>
              ) : !maySteer ? (
                <span className="admin-only" title="Scenario steps are for administrators" data-testid={`step-admin-only-${s.name}`}>
                  admin only
                </span>
              ) : (
                <button
                  type="button"
                  disabled={busy === s.name}
                  data-testid={`apply-step-${s.name}`}
                  onClick={() => {
                    setBusy(s.name);
                    api
                      .applyStep(s.name)
                      .then(() => api.scenario())
                      .then(setScenario, () => undefined)
                      .finally(() => setBusy(undefined));
                  }}
                >
                  Apply
                </button>
              )}
            </div>
          ))}
        </div>
      )}
      <ClusterCard />
      <SourcesCard />
      <div className="health" title={health ? `Flowlens ${health.version}` : "Server unreachable"}>
        <span className={`dot ${health ? "ok" : health === null ? "bad" : ""}`} />
        {health ? `Connected · v${health.version}` : health === null ? "Server unreachable" : "Connecting…"}
      </div>
    </div>
  );
}

/** The views under "Security" in the navigation; the others show traffic. */
const SECURITY_VIEWS: View[] = ["policies", "advisor", "audit"];

/** Route parameters every view understands: the time range, and for traffic views the filters. */
const RANGE_PARAMS = ["since", "from", "to"];
const TRAFFIC_PARAMS = [...RANGE_PARAMS, "filter", "source_selector", "dest_selector", "policy", "policy_action", "policy_rule"];

/** The link to a view that keeps the current time range and filters (what the target understands). */
export function carriedHref(route: Route, target: View): string {
  const traffic = (v: View) => !SECURITY_VIEWS.includes(v);
  // The policy screens have their own `policy`-free parameters; only the range carries over.
  const keys = traffic(target) && traffic(route.view) ? TRAFFIC_PARAMS : RANGE_PARAMS;
  const p = new URLSearchParams();
  for (const k of keys) for (const v of route.params.getAll(k)) p.append(k, v);
  return routeHref(target, p);
}

export function App() {
  const route = useRoute();
  useEffect(() => {
    document.title = `${TITLES[route.view]} · Flowlens`;
  }, [route.view]);
  return (
    <div className="app">
      <nav className="nav" aria-label="Views">
        <span className="brand">
          <Logo />
          Flowlens
        </span>
        <div className="nav-section">Traffic</div>
        {VIEWS.filter((v) => !SECURITY_VIEWS.includes(v)).map((v) => (
          <a key={v} href={carriedHref(route, v)} className={`nav-item ${v === route.view ? "active" : ""}`} data-view={v}>
            <NavIcon view={v} />
            {TITLES[v]}
          </a>
        ))}
        <div className="nav-section">Security</div>
        <a
          href={carriedHref(route, "policies")}
          className={`nav-item ${route.view === "policies" ? "active" : ""}`}
          data-view="policies"
        >
          <NavIcon view="policies" />
          Policy Board
        </a>
        <a
          href={carriedHref(route, "advisor")}
          className={`nav-item ${route.view === "advisor" ? "active" : ""}`}
          data-view="advisor"
        >
          <NavIcon view="advisor" />
          {TITLES.advisor}
        </a>
        <a href={carriedHref(route, "audit")} className={`nav-item ${route.view === "audit" ? "active" : ""}`} data-view="audit">
          <NavIcon view="audit" />
          {TITLES.audit}
        </a>
        <ScenarioFooter />
      </nav>
      <main className="main">
        <Suspense fallback={<Loading />}>
          {route.view === "flows" && <FlowsView params={route.params} />}
          {route.view === "visualizer" && <VisualizerView params={route.params} />}
          {route.view === "graph" && <GraphView params={route.params} />}
          {route.view === "policies" && <PoliciesView params={route.params} />}
          {route.view === "advisor" && <AdvisorView params={route.params} />}
          {route.view === "audit" && <AuditView params={route.params} />}
        </Suspense>
      </main>
    </div>
  );
}

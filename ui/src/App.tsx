import { useRoute, routeHref, VIEWS, type View } from "./route";
import { FlowsView } from "./views/flows/FlowsView";
import { VisualizerView } from "./views/visualizer/VisualizerView";
import { GraphView } from "./views/graph/GraphView";
import { PoliciesView } from "./policies/PoliciesView";

const TITLES: Record<View, string> = {
  graph: "Service Graph",
  visualizer: "Flow Visualizer",
  flows: "Flows",
  policies: "Policies",
};

export function App() {
  const route = useRoute();
  return (
    <div className="app">
      <nav className="nav">
        <span className="brand">Flowlens</span>
        {VIEWS.map((v) => (
          <a key={v} href={routeHref(v)} className={v === route.view ? "active" : ""} data-view={v}>
            {TITLES[v]}
          </a>
        ))}
      </nav>
      <main className="main">
        {route.view === "flows" && <FlowsView params={route.params} />}
        {route.view === "visualizer" && <VisualizerView params={route.params} />}
        {route.view === "graph" && <GraphView params={route.params} />}
        {route.view === "policies" && <PoliciesView params={route.params} />}
      </main>
    </div>
  );
}

// Service Graph: namespaces (expandable into workloads and services), external networks,
// network sets and hosts, with directed edges coloured by what policy did. Selecting an edge
// shows its ports, volumes and the deciding policies with their trace; selecting a node lists
// its edges; the flows of the selection are listed under the graph.
import { useCallback, useMemo, useState } from "react";
import {
  api,
  formatBytes,
  formatNumber,
  getExtra,
  getExtraAll,
  queryToParams,
  setExtra,
  useApi,
  type EdgeDetail,
  type EdgePolicy,
  type FlowQuery,
  type Graph,
  type GraphEdge,
  type GraphNode,
} from "../../api";
import { ActionBadge, PolicyHitLabel } from "../../components/Badges";
import { QueryBar } from "../../components/QueryBar";
import { PanelSection, SidePanel, Stats } from "../../components/SidePanel";
import { Empty, ErrorState, Loading } from "../../components/States";
import { useViewQuery } from "../../components/useViewQuery";
import { routeHref } from "../../route";
import { FlowResults } from "../flows/FlowsView";
import { GraphCanvas, fitGraph, type RenderInfo, type Selection } from "./GraphCanvas";
import { NODE_KIND_LABEL, edgeFilters, nodeEdges, nodeFilters } from "./graphModel";

/** The graph follows new traffic; positions stay, so refreshing often is cheap for the eye. */
const REFRESH_MS = 10_000;

declare global {
  interface Window {
    /** The last render of the graph: read by the e2e tests and the render benchmark. */
    __flowlensGraphRender?: RenderInfo & { at: number };
  }
}

function selectionOf(q: FlowQuery): Selection | null {
  const node = getExtra(q, "node");
  if (node) return { type: "node", id: node };
  const source = getExtra(q, "edge_source");
  const target = getExtra(q, "edge_target");
  if (source && target) return { type: "edge", id: `${source}->${target}`, source, target };
  return null;
}

function withSelection(q: FlowQuery, s: Selection | null): FlowQuery {
  let n = setExtra(q, "node", s?.type === "node" ? s.id : undefined);
  n = setExtra(n, "edge_source", s?.type === "edge" ? s.source : undefined);
  n = setExtra(n, "edge_target", s?.type === "edge" ? s.target : undefined);
  return setExtra(n, "dir", undefined);
}

export function GraphView({ params }: { params: URLSearchParams }) {
  const [query, setQuery] = useViewQuery("graph", params);
  const expand = getExtraAll(query, "expand");
  const selection = selectionOf(query);
  const apiQuery = useMemo(() => ({ ...query, extra: [] }), [query]);
  const apiKey = JSON.stringify([apiQuery, expand]);
  const graph = useApi((signal) => api.graph(apiQuery, expand, signal), apiKey, REFRESH_MS);
  const [render, setRender] = useState<RenderInfo>();
  const [layoutNonce, setLayoutNonce] = useState(0);

  const select = useCallback((s: Selection | null) => setQuery(withSelection(query, s)), [query, setQuery]);
  const toggleExpand = useCallback(
    (ns: string) => {
      const all = expand.includes("*");
      const names = graph.data?.nodes.filter((n) => n.kind === "namespace").map((n) => n.label) ?? [];
      let next: string[];
      if (all) next = names.filter((n) => n !== ns);
      else next = expand.includes(ns) ? expand.filter((e) => e !== ns) : [...expand, ns];
      setQuery(setExtra(query, "expand", next));
    },
    [expand, graph.data, query, setQuery],
  );
  const onRendered = useCallback((info: RenderInfo) => {
    window.__flowlensGraphRender = { ...info, at: performance.now() };
    performance.mark("flowlens-graph-rendered");
    setRender(info);
  }, []);

  const g = graph.data;
  const empty = g && g.nodes.length === 0;
  return (
    <section className="view graph-view" data-testid="graph-view">
      <div className="view-head">
        <h1>Service Graph</h1>
        <span className="sub">Who talks to whom, and what policy did about it</span>
      </div>
      <QueryBar query={query} onChange={setQuery}>
        <button
          type="button"
          className={`btn ${expand.includes("*") ? "on" : ""}`}
          onClick={() => setQuery(setExtra(query, "expand", expand.includes("*") ? undefined : "*"))}
          data-testid="expand-all"
        >
          {expand.includes("*") ? "Collapse all" : "Expand all"}
        </button>
      </QueryBar>
      <div className={`graph-layout`}>
        <div className="card graph-canvas-card">
          {graph.loading && <div className="loading-bar" />}
          {g && !empty && (
            <GraphCanvas
              graph={g}
              selection={selection}
              onSelect={select}
              onToggleExpand={toggleExpand}
              relayoutKey={expand.join(",")}
              layoutNonce={layoutNonce}
              onRendered={onRendered}
            />
          )}
          {g && !empty && (
            <>
              <div className="graph-toolbar">
                <button type="button" className="btn btn-small" onClick={fitGraph} title="Fit the graph to the view">
                  Fit
                </button>
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => setLayoutNonce((n) => n + 1)}
                  title="Lay the whole graph out afresh"
                >
                  Re-layout
                </button>
              </div>
              <Legend />
              <div className="graph-stats" data-testid="graph-stats">
                {formatNumber(render?.nodes ?? g.nodes.length)} nodes · {formatNumber(render?.edges ?? g.edges.length)}{" "}
                edges{g.truncated ? " (heaviest only)" : ""}
              </div>
            </>
          )}
          <div className="overlay-state">
            {!g && graph.loading && <Loading label="Building the graph…" />}
            {!g && graph.error && <ErrorState error={graph.error} onRetry={graph.reload} />}
            {empty && (
              <Empty title="No traffic in this time range">
                Widen the time range or remove filters; the graph follows new flows as they arrive.
              </Empty>
            )}
          </div>
        </div>
        <GraphSidePanel
          graph={g}
          query={apiQuery}
          expand={expand}
          selection={selection}
          onSelect={select}
          onToggleExpand={toggleExpand}
        />
        {/* After the graph: on a large cluster both queries would compete for the server. */}
        {g ? (
          <GraphFlows query={query} setQuery={setQuery} selection={selection} graph={g} />
        ) : (
          <div className="card graph-flows" />
        )}
      </div>
    </section>
  );
}

function Legend() {
  return (
    <div className="graph-legend">
      <span className="legend-item">
        <span className="legend-line status-allowed" /> allowed
      </span>
      <span className="legend-item">
        <span className="legend-line status-denied" /> denied
      </span>
      <span className="legend-item">
        <span className="legend-line status-mixed" /> mixed
      </span>
      <span className="legend-item hit-rule">double-click a namespace to expand it</span>
    </div>
  );
}

function nodeName(g: Graph | undefined, id: string): string {
  const n = g?.nodes.find((x) => x.id === id);
  if (!n) return id.replace(/^[a-z-]+:/, "");
  if (n.kind === "workload" || n.kind === "service") return `${n.namespace}/${n.label}`;
  return n.label;
}

function EdgeRow({ g, e, dir, onSelect }: { g?: Graph; e: GraphEdge; dir: "in" | "out"; onSelect: (s: Selection) => void }) {
  const other = dir === "in" ? e.source : e.target;
  return (
    <div
      className="edge-list-item"
      onClick={() => onSelect({ type: "edge", id: e.id, source: e.source, target: e.target })}
      data-testid="edge-list-item"
      data-status={e.status}
    >
      <span className={`status-line status-${e.status}`} />
      <span className="grow" title={nodeName(g, other)}>
        {dir === "in" ? "from " : "to "}
        {nodeName(g, other)}
      </span>
      <span className="hit-rule">{formatNumber(e.num_flows)} flows</span>
      {e.denied_flows > 0 && <ActionBadge action={e.status} />}
    </div>
  );
}

function GraphSidePanel({
  graph,
  query,
  expand,
  selection,
  onSelect,
  onToggleExpand,
}: {
  graph?: Graph;
  query: FlowQuery;
  expand: string[];
  selection: Selection | null;
  onSelect: (s: Selection | null) => void;
  onToggleExpand: (ns: string) => void;
}) {
  if (selection?.type === "edge")
    return <EdgePanel graph={graph} query={query} expand={expand} selection={selection} onClose={() => onSelect(null)} />;
  if (selection?.type === "node" && graph) {
    const node = graph.nodes.find((n) => n.id === selection.id);
    if (node)
      return (
        <NodePanel
          graph={graph}
          node={node}
          onSelect={onSelect}
          onToggleExpand={onToggleExpand}
          onClose={() => onSelect(null)}
        />
      );
  }
  return <OverviewPanel graph={graph} onSelect={onSelect} />;
}

function OverviewPanel({ graph, onSelect }: { graph?: Graph; onSelect: (s: Selection) => void }) {
  const denied = (graph?.edges ?? []).filter((e) => e.denied_flows > 0).sort((a, b) => b.denied_flows - a.denied_flows);
  const flows = (graph?.edges ?? []).reduce((s, e) => s + e.num_flows, 0);
  const deniedFlows = (graph?.edges ?? []).reduce((s, e) => s + e.denied_flows, 0);
  return (
    <SidePanel title="Overview" subtitle="Select a node or an edge for details" testId="graph-panel">
      <PanelSection title="Traffic">
        <Stats
          items={[
            ["Nodes", formatNumber(graph?.nodes.length)],
            ["Edges", formatNumber(graph?.edges.length)],
            ["Flows", formatNumber(flows)],
            ["Denied flows", <span style={{ color: deniedFlows ? "var(--bad)" : undefined }}>{formatNumber(deniedFlows)}</span>],
          ]}
        />
      </PanelSection>
      <PanelSection title={`Denied traffic (${denied.length})`}>
        {denied.length === 0 ? (
          <div className="panel-hint">No denied flows in this range. Red edges appear here when policy denies traffic.</div>
        ) : (
          denied.slice(0, 25).map((e) => (
            <div
              key={e.id}
              className="edge-list-item"
              onClick={() => onSelect({ type: "edge", id: e.id, source: e.source, target: e.target })}
              data-testid="denied-edge"
            >
              <span className={`status-line status-${e.status}`} />
              <span className="grow" title={`${nodeName(graph, e.source)} → ${nodeName(graph, e.target)}`}>
                {nodeName(graph, e.source)} → {nodeName(graph, e.target)}
              </span>
              <span className="hit-rule">{formatNumber(e.denied_flows)}</span>
            </div>
          ))
        )}
      </PanelSection>
      <PanelSection title="How to read it">
        <div className="panel-hint">
          <ul>
            <li>Arrows point from client to server; width grows with the number of flows.</li>
            <li>Double-click a namespace (or use its panel) to see its workloads and services.</li>
            <li>Click an edge to see ports, volumes and the policies that decided.</li>
          </ul>
        </div>
      </PanelSection>
    </SidePanel>
  );
}

function NodePanel({
  graph,
  node,
  onSelect,
  onToggleExpand,
  onClose,
}: {
  graph: Graph;
  node: GraphNode;
  onSelect: (s: Selection) => void;
  onToggleExpand: (ns: string) => void;
  onClose: () => void;
}) {
  const { inbound, outbound } = nodeEdges(graph, node.id);
  const hasChildren = graph.nodes.some((n) => n.parent === node.id);
  return (
    <SidePanel
      title={node.kind === "workload" || node.kind === "service" ? `${node.namespace}/${node.label}` : node.label}
      subtitle={NODE_KIND_LABEL[node.kind] ?? node.kind}
      onClose={onClose}
      testId="node-panel"
    >
      <PanelSection title="Traffic">
        <Stats
          items={[
            ["Flows", formatNumber(node.num_flows)],
            ["Denied", <span style={{ color: node.denied_flows ? "var(--bad)" : undefined }}>{formatNumber(node.denied_flows)}</span>],
            ["Inbound edges", inbound.length],
            ["Outbound edges", outbound.length],
          ]}
        />
        {node.kind === "namespace" && (
          <div style={{ marginTop: 10, display: "flex", gap: 6 }}>
            <button type="button" className="btn btn-small" onClick={() => onToggleExpand(node.label)} data-testid="toggle-expand">
              {hasChildren ? "Collapse namespace" : "Expand namespace"}
            </button>
          </div>
        )}
      </PanelSection>
      <PanelSection title={`Inbound (${inbound.length})`}>
        {inbound.length === 0 && <div className="panel-hint">No inbound traffic.</div>}
        {inbound.map((e) => (
          <EdgeRow key={e.id} g={graph} e={e} dir="in" onSelect={onSelect} />
        ))}
      </PanelSection>
      <PanelSection title={`Outbound (${outbound.length})`}>
        {outbound.length === 0 && <div className="panel-hint">No outbound traffic.</div>}
        {outbound.map((e) => (
          <EdgeRow key={e.id} g={graph} e={e} dir="out" onSelect={onSelect} />
        ))}
      </PanelSection>
    </SidePanel>
  );
}

function EdgePanel({
  graph,
  query,
  expand,
  selection,
  onClose,
}: {
  graph?: Graph;
  query: FlowQuery;
  expand: string[];
  selection: Extract<Selection, { type: "edge" }>;
  onClose: () => void;
}) {
  const key = JSON.stringify([query, expand, selection.source, selection.target]);
  const detail = useApi(
    (signal) => api.graphEdge(query, selection.source, selection.target, expand, signal),
    key,
  );
  const d = detail.data;
  const edge = d?.edge ?? graph?.edges.find((e) => e.id === selection.id);
  return (
    <SidePanel
      title={
        <span className="edge-title">
          <span>{nodeName(graph, selection.source)}</span>
          <span>
            <span className="hit-rule">→ </span>
            {nodeName(graph, selection.target)}
          </span>
        </span>
      }
      subtitle={edge ? <ActionBadge action={edge.status} /> : undefined}
      onClose={onClose}
      testId="edge-panel"
    >
      {detail.loading && !d && <Loading label="Loading the edge…" />}
      {detail.error && <ErrorState error={detail.error} onRetry={detail.reload} />}
      {edge && (
        <PanelSection title="Volume">
          <Stats
            items={[
              ["Flows", formatNumber(edge.num_flows)],
              ["Denied", <span style={{ color: edge.denied_flows ? "var(--bad)" : undefined }}>{formatNumber(edge.denied_flows)}</span>],
              ["Bytes", formatBytes(edge.bytes)],
              ["Packets", formatNumber(edge.packets)],
            ]}
          />
        </PanelSection>
      )}
      {d && <EdgeDetailSections d={d} since={query.since} />}
    </SidePanel>
  );
}

function EdgeDetailSections({ d, since }: { d: EdgeDetail; since?: string }) {
  return (
    <>
      <PanelSection title="Protocols and ports">
        <table className="mini-table" data-testid="edge-ports">
          <thead>
            <tr>
              <th>Proto</th>
              <th>Port</th>
              <th className="num">Flows</th>
              <th className="num">Denied</th>
              <th className="num">Bytes</th>
            </tr>
          </thead>
          <tbody>
            {d.ports.map((p) => (
              <tr key={`${p.proto}/${p.port}`}>
                <td>{p.proto}</td>
                <td>{p.port ?? "–"}</td>
                <td className="num">{formatNumber(p.num_flows)}</td>
                <td className="num" style={{ color: p.denied_flows ? "var(--bad)" : undefined }}>
                  {formatNumber(p.denied_flows)}
                </td>
                <td className="num">{p.bytes !== undefined ? formatBytes(p.bytes) : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </PanelSection>
      <PanelSection title={`Policies that decided (${d.policies.length})`}>
        {d.policies.length === 0 && <div className="panel-hint">No policy hits recorded for these flows.</div>}
        {d.policies.map((p) => (
          <PolicyCard key={p.hit} p={p} since={since} />
        ))}
      </PanelSection>
    </>
  );
}

function PolicyCard({ p, since }: { p: EdgePolicy; since?: string }) {
  return (
    <div className={`policy-card ${p.action}`} data-testid="edge-policy" data-action={p.action}>
      <div className="policy-card-head">
        <PolicyHitLabel hit={p.hit} since={since} />
        <span className="hit-rule">{formatNumber(p.num_flows)} flows</span>
      </div>
      {p.trace && (
        <details open={p.action === "deny"}>
          <summary>Trace of one flow</summary>
          {p.trace.unavailable ? (
            <div className="panel-hint">{p.trace.unavailable}</div>
          ) : (
            <div className="trace-raw" data-testid="edge-trace">
              {p.trace.text ?? JSON.stringify(p.trace, null, 2)}
            </div>
          )}
        </details>
      )}
    </div>
  );
}

function GraphFlows({
  query,
  setQuery,
  selection,
  graph,
}: {
  query: FlowQuery;
  setQuery: (q: FlowQuery) => void;
  selection: Selection | null;
  graph?: Graph;
}) {
  const dir = getExtra(query, "dir") === "in" ? "in" : "out";
  const base: FlowQuery = { ...query, extra: [] };
  let filters = null;
  let title = "All flows";
  if (selection?.type === "edge") {
    filters = edgeFilters(selection.source, selection.target);
    title = `${nodeName(graph, selection.source)} → ${nodeName(graph, selection.target)}`;
  } else if (selection?.type === "node") {
    filters = nodeFilters(selection.id, dir === "out");
    title = nodeName(graph, selection.id);
  }
  const flowsQuery: FlowQuery = filters ? { ...base, filters: [...base.filters, ...filters] } : base;
  const page = useMemo(() => ({ sort: ["end_time:desc"], limit: 50 }), []);
  const flowsHref = routeHref("flows", queryToParams(flowsQuery));
  return (
    <div className="graph-flows" data-testid="graph-flows">
      <FlowResults
        query={flowsQuery}
        page={page}
        compact
        title={
          <>
            <strong className="results-title" title={title}>
              {title}
            </strong>
          </>
        }
        actions={
          <>
            {selection?.type === "node" && !selection.id.startsWith("svc:") && (
              <div className="segmented">
                <button type="button" className={dir === "out" ? "active" : ""} onClick={() => setQuery(setExtra(query, "dir", undefined))}>
                  Outbound
                </button>
                <button type="button" className={dir === "in" ? "active" : ""} onClick={() => setQuery(setExtra(query, "dir", "in"))}>
                  Inbound
                </button>
              </div>
            )}
            <a href={flowsHref} className="btn btn-small" data-testid="open-in-flows">
              Open in Flows
            </a>
          </>
        }
      />
    </div>
  );
}

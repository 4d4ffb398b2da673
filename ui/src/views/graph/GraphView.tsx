// Service Graph: namespaces (expandable into workloads and services), external networks,
// network sets and hosts, with directed edges coloured by what policy did. Selecting an edge
// shows its ports, volumes and the deciding policies with their trace; selecting a node lists
// its edges; the flows of the selection are listed under the graph.
import { useCallback, useEffect, useId, useMemo, useState } from "react";
import {
  api,
  formatBytes,
  formatNumber,
  getExtra,
  getExtraAll,
  parsePolicyHit,
  queryToParams,
  setExtra,
  useApi,
  type EdgeDetail,
  type EdgePolicy,
  type FlowQuery,
  type Graph,
  type GraphEdge,
  type GraphNode,
  type TimeRange,
} from "../../api";
import { ActionBadge, PolicyHitLabel, hitLinks } from "../../components/Badges";
import { QueryBar } from "../../components/QueryBar";
import { PanelSection, SidePanel, Stats } from "../../components/SidePanel";
import { Empty, ErrorState, Loading } from "../../components/States";
import { useViewQuery } from "../../components/useViewQuery";
import { routeHref } from "../../route";
import { FlowResults } from "../flows/FlowsView";
import { GraphCanvas, centreOn, fitGraph, zoomGraph, type RenderInfo, type Selection } from "./GraphCanvas";
import {
  MANY_NAMESPACES,
  NODE_KIND_LABEL,
  edgeFilters,
  focusGraph,
  groupPorts,
  nodeEdges,
  nodeFilters,
  nodeTraffic,
  searchNodes,
} from "./graphModel";

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
  const focus = getExtra(query, "focus");

  const select = useCallback((s: Selection | null) => setQuery(withSelection(query, s)), [query, setQuery]);
  // Escape closes the panel of a selection (not while typing in a field).
  useEffect(() => {
    if (!selection) return;
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (e.key !== "Escape" || el?.closest("input, textarea, select")) return;
      select(null);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [selection, select]);
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

  const full = graph.data;
  const g = useMemo(() => (full && focus && full.nodes.some((n) => n.id === focus) ? focusGraph(full, focus) : full), [full, focus]);
  const empty = g && g.nodes.length === 0;
  const namespaces = full?.nodes.filter((n) => n.kind === "namespace").length ?? 0;
  const expandAllBlocked = !expand.includes("*") && namespaces > MANY_NAMESPACES;
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
          disabled={expandAllBlocked}
          title={
            expandAllBlocked
              ? `${formatNumber(namespaces)} namespaces would make an unreadable picture: expand them one at a time (double-click), or search for a node and focus on it`
              : undefined
          }
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
                <button type="button" className="btn btn-small" onClick={() => zoomGraph(1.4)} aria-label="Zoom in" title="Zoom in">
                  +
                </button>
                <button type="button" className="btn btn-small" onClick={() => zoomGraph(1 / 1.4)} aria-label="Zoom out" title="Zoom out">
                  −
                </button>
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
                <NodeSearch graph={g} onFound={(id) => select({ type: "node", id })} />
                {focus && (
                  <span className="chip chip-focus" data-testid="graph-focus">
                    <span className="chip-label">focus: {nodeName(full, focus)}</span>
                    <button
                      type="button"
                      className="chip-btn"
                      aria-label="Show the whole graph"
                      title="Show the whole graph"
                      onClick={() => setQuery(setExtra(query, "focus", undefined))}
                    >
                      ×
                    </button>
                  </span>
                )}
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
          onFocus={(id) => setQuery(setExtra(query, "focus", id))}
          focus={focus}
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

/** Finds a node by name: selects it and centres the view on it. */
function NodeSearch({ graph, onFound }: { graph: Graph; onFound: (id: string) => void }) {
  const id = useId();
  const [text, setText] = useState("");
  const [missing, setMissing] = useState(false);
  const name = (n: GraphNode) => nodeName(graph, n.id);
  const options = useMemo(() => (text.trim() ? searchNodes(graph, text, name).slice(0, 30) : []), [graph, text]);
  return (
    <form
      className="graph-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        const hit = searchNodes(graph, text, name)[0];
        setMissing(!hit);
        if (!hit) return;
        onFound(hit.id);
        centreOn(hit.id);
      }}
    >
      <input
        type="search"
        list={`${id}-nodes`}
        value={text}
        placeholder="Find a node…"
        aria-label="Find a node"
        aria-invalid={missing}
        data-testid="graph-search"
        onChange={(e) => {
          setText(e.target.value);
          setMissing(false);
        }}
      />
      <datalist id={`${id}-nodes`}>
        {options.map((n) => (
          <option key={n.id} value={name(n)} />
        ))}
      </datalist>
    </form>
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
    <button
      type="button"
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
      <span className="hit-rule">{formatNumber(e.num_flows)} conn.</span>
      {e.denied_flows > 0 && <ActionBadge action={e.status} />}
    </button>
  );
}

function GraphSidePanel({
  graph,
  query,
  expand,
  selection,
  onSelect,
  onToggleExpand,
  onFocus,
  focus,
}: {
  graph?: Graph;
  query: FlowQuery;
  expand: string[];
  selection: Selection | null;
  onSelect: (s: Selection | null) => void;
  onToggleExpand: (ns: string) => void;
  onFocus: (id: string) => void;
  focus?: string;
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
          onFocus={focus === node.id ? undefined : () => onFocus(node.id)}
        />
      );
  }
  return <OverviewPanel graph={graph} onSelect={onSelect} />;
}

/** The graph's traffic, each connection once: the server's totals, else the edges that are not backend hops. */
export function graphTotals(g: Graph | undefined): { connections: number; denied: number } {
  if (g?.totals) return { connections: g.totals.num_flows, denied: g.totals.denied_flows };
  const edges = (g?.edges ?? []).filter((e) => !e.backend_hop);
  return {
    connections: edges.reduce((s, e) => s + e.num_flows, 0),
    denied: edges.reduce((s, e) => s + e.denied_flows, 0),
  };
}

function OverviewPanel({ graph, onSelect }: { graph?: Graph; onSelect: (s: Selection) => void }) {
  // A flow through a Service is drawn twice (into the Service, on to its backend): list it once.
  const denied = (graph?.edges ?? [])
    .filter((e) => e.denied_flows > 0 && !e.backend_hop)
    .sort((a, b) => b.denied_flows - a.denied_flows);
  const totals = graphTotals(graph);
  return (
    <SidePanel title="Overview" subtitle="Select a node or an edge for details" testId="graph-panel">
      <PanelSection title="Traffic">
        <Stats
          items={[
            ["Nodes", formatNumber(graph?.nodes.length)],
            ["Edges", formatNumber(graph?.edges.length)],
            [
              "Connections",
              <span data-testid="graph-total-connections" data-value={graph ? totals.connections : undefined}>
                {formatNumber(totals.connections)}
              </span>,
            ],
            [
              "Denied connections",
              <span
                className={totals.denied ? "text-bad" : undefined}
                data-testid="graph-total-denied"
                data-value={graph ? totals.denied : undefined}
              >
                {formatNumber(totals.denied)}
              </span>,
            ],
          ]}
        />
      </PanelSection>
      <PanelSection title={`Denied traffic (${denied.length})`}>
        {denied.length === 0 ? (
          <div className="panel-hint">No denied flows in this range. Red edges appear here when policy denies traffic.</div>
        ) : (
          denied.slice(0, 25).map((e) => (
            <button
              type="button"
              key={e.id}
              className="edge-list-item"
              onClick={() => onSelect({ type: "edge", id: e.id, source: e.source, target: e.target })}
              data-testid="denied-edge"
              data-value={e.denied_flows}
            >
              <span className={`status-line status-${e.status}`} />
              <span className="grow" title={`${nodeName(graph, e.source)} → ${nodeName(graph, e.target)}`}>
                {nodeName(graph, e.source)} → {nodeName(graph, e.target)}
              </span>
              <span className="hit-rule">{formatNumber(e.denied_flows)}</span>
            </button>
          ))
        )}
        {denied.length > 25 && <div className="panel-hint">… and {formatNumber(denied.length - 25)} more denied edges</div>}
      </PanelSection>
      <PanelSection title="How to read it">
        <div className="panel-hint">
          <ul>
            <li>Arrows point from client to server; width grows with the number of connections.</li>
            <li>Double-click a namespace (or use its panel) to see its workloads and services.</li>
            <li>Click an edge to see ports, volumes and the policies that decided.</li>
            <li>Counts are connections, each counted once; the table below lists flow logs (one per reporting end).</li>
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
  onFocus,
}: {
  graph: Graph;
  node: GraphNode;
  onSelect: (s: Selection) => void;
  onToggleExpand: (ns: string) => void;
  onClose: () => void;
  /** Shows only this node and its neighbours (absent when that is what is shown). */
  onFocus?: () => void;
}) {
  const { inbound, outbound } = nodeEdges(graph, node.id);
  const hasChildren = graph.nodes.some((n) => n.parent === node.id);
  const traffic = nodeTraffic(graph, node);
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
            ["Connections", formatNumber(traffic.connections)],
            ["Denied", <span className={traffic.denied ? "text-bad" : undefined}>{formatNumber(traffic.denied)}</span>],
            ["Inbound edges", inbound.length],
            ["Outbound edges", outbound.length],
          ]}
        />
        <div className="panel-actions">
          {node.kind === "namespace" && (
            <button type="button" className="btn btn-small" onClick={() => onToggleExpand(node.label)} data-testid="toggle-expand">
              {hasChildren ? "Collapse namespace" : "Expand namespace"}
            </button>
          )}
          {onFocus && (
            <button type="button" className="btn btn-small" onClick={onFocus} data-testid="focus-node" title="Show only this node and its neighbours">
              Focus on its neighbours
            </button>
          )}
        </div>
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
      {/* The answer first, in sight as the panel opens: which ports (a pool is one range), then
          the policies that decided; then how much. */}
      {d && <EdgePorts d={d} />}
      {d && <EdgePolicies d={d} range={query} />}
      {edge && (
        <PanelSection title="Volume">
          <Stats
            items={[
              ["Connections", formatNumber(edge.num_flows)],
              ["Denied", <span className={edge.denied_flows ? "text-bad" : undefined}>{formatNumber(edge.denied_flows)}</span>],
              ["Bytes", formatBytes(edge.bytes)],
              ["Packets", formatNumber(edge.packets)],
            ]}
          />
        </PanelSection>
      )}
    </SidePanel>
  );
}

/** Lists longer than this show their first rows and a button for the rest. */
const PAGE_ROWS = 6;

function ShowMore({ shown, total, onMore, what }: { shown: number; total: number; onMore: () => void; what: string }) {
  if (shown >= total) return null;
  return (
    <button type="button" className="link-btn show-more" onClick={onMore} data-testid="show-more">
      Show {formatNumber(Math.min(PAGE_ROWS * 4, total - shown))} more of {formatNumber(total)} {what}
    </button>
  );
}

function EdgePolicies({ d, range }: { d: EdgeDetail; range: TimeRange }) {
  const [shown, setShown] = useState(PAGE_ROWS);
  return (
    <PanelSection title={`Policies that decided (${d.policies.length})`}>
      {d.policies.length === 0 && <div className="panel-hint">No policy hits recorded for these flows.</div>}
      {d.policies.slice(0, shown).map((p, i) => (
        <PolicyCard key={p.hit} p={p} range={range} openTrace={i === 0 && p.action === "deny"} />
      ))}
      <ShowMore shown={shown} total={d.policies.length} onMore={() => setShown((n) => n + PAGE_ROWS * 4)} what="policies" />
    </PanelSection>
  );
}

function EdgePorts({ d }: { d: EdgeDetail }) {
  const groups = useMemo(() => groupPorts(d.ports), [d.ports]);
  const [shown, setShown] = useState(PAGE_ROWS);
  return (
    <PanelSection title="Protocols and ports">
      <table className="mini-table edge-ports" data-testid="edge-ports">
        <thead>
          <tr>
            <th>Ports</th>
            <th className="num">Conn.</th>
            <th className="num">Denied</th>
            <th className="num">Bytes</th>
          </tr>
        </thead>
        <tbody>
          {groups.slice(0, shown).map((g) => (
            <tr key={`${g.proto}|${g.status}`} data-testid="edge-port-group" data-status={g.status} data-ranges={g.ranges}>
              <td>
                <div className="port-cell">
                  <span className={`status-line status-${g.status}`} />
                  <span className="port-range" data-testid="edge-port-range" title={`${g.proto.toUpperCase()} ${g.ranges}`}>
                    {g.proto.toUpperCase()} {g.span}
                  </span>
                </div>
                <div className="hit-rule port-count">
                  {formatNumber(g.ports)} port{g.ports === 1 ? "" : "s"}, {g.status}
                </div>
              </td>
              <td className="num">{formatNumber(g.num_flows)}</td>
              <td className={`num ${g.denied_flows ? "text-bad" : ""}`}>{formatNumber(g.denied_flows)}</td>
              <td className="num">{formatBytes(g.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ShowMore shown={shown} total={groups.length} onMore={() => setShown((n) => n + PAGE_ROWS * 4)} what="port groups" />
    </PanelSection>
  );
}

function PolicyCard({ p, range, openTrace }: { p: EdgePolicy; range: TimeRange; openTrace: boolean }) {
  const hit = parsePolicyHit(p.hit);
  const links = hit ? hitLinks(hit, range) : undefined;
  return (
    <div className={`policy-card ${p.action}`} data-testid="edge-policy" data-action={p.action}>
      <div className="policy-card-head">
        <PolicyHitLabel hit={p.hit} range={range} />
        <span className="hit-rule">{formatNumber(p.num_flows)} conn.</span>
      </div>
      {links && (
        <div className="policy-card-actions">
          {links.policy && (
            <a className="btn btn-small" href={links.policy} data-testid="edge-open-policy">
              Open policy
            </a>
          )}
          {links.edit && (
            <a className="btn btn-small" href={links.edit} data-testid="edge-edit-policy">
              Edit policy
            </a>
          )}
          <a className="btn btn-small" href={links.flows}>
            Its flows
          </a>
        </div>
      )}
      {p.trace && (
        <details open={openTrace}>
          <summary>Trace of one flow</summary>
          {p.trace.unavailable ? (
            <div className="panel-hint">{p.trace.unavailable}</div>
          ) : (
            <div className="trace-raw" data-testid="edge-trace" tabIndex={0} aria-label="Trace of one flow">
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

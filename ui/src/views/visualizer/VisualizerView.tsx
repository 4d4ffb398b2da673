// Flow Visualizer: the cluster's traffic as three rings (namespaces, aggregated names, flows)
// with a ribbon per flow, volumes as angles and widths. Views colour by namespace, by name, or
// by status (green allowed, red denied). Clicking a namespace zooms into it; clicking a flow
// shows the policies that decided it.
import { useEffect, useMemo, useRef, useState } from "react";
import * as d3 from "d3";
import {
  api,
  formatNumber,
  formatRate,
  getExtra,
  hitOfKey,
  queryToParams,
  setExtra,
  useApi,
  ENDPOINT_TYPES,
  type AggregateRow,
  type Filter,
  type FlowFieldName,
  type FlowQuery,
} from "../../api";
import { ActionBadge, PolicyHitLabel } from "../../components/Badges";
import { QueryBar } from "../../components/QueryBar";
import { PanelSection, SidePanel, Stats } from "../../components/SidePanel";
import { Empty, ErrorState, Loading } from "../../components/States";
import { useViewQuery } from "../../components/useViewQuery";
import { routeHref } from "../../route";
import {
  EXTERNAL,
  filterFlows,
  layoutRings,
  namespaceRates,
  rowsToFlows,
  placeLabels,
  type Arc,
  type Metric,
  type RingFlow,
  type Status,
} from "./ringModel";

type Mode = "namespaces" | "names" | "status";
const MODES: { value: Mode; label: string }[] = [
  { value: "namespaces", label: "Namespaces" },
  { value: "names", label: "Names" },
  { value: "status", label: "Status" },
];
const METRICS: { value: Metric; label: string }[] = [
  { value: "num_flows", label: "Connections" },
  { value: "bytes", label: "Bytes" },
  { value: "packets", label: "Packets" },
];

const OK = "#1fa855";
const BAD = "#e0393e";
const NEUTRAL = "#d3d9e3";
/** Distinct, readable on white, none of them the status red or green. */
const PALETTE = [
  "#3467eb", "#f08c00", "#7c5cdb", "#0e9384", "#d6409f", "#5c7cfa", "#c2780c", "#1098ad",
  "#9c36b5", "#4c6ef5", "#e8590c", "#2b8a3e", "#a61e4d", "#364fc7", "#5f3dc4", "#087f5b",
];

declare global {
  interface Window {
    __flowlensVizRender?: { flows: number; at: number };
  }
}

/** Edge rows for the query; an endpoint type keeps flows with that type at either end. */
async function loadRows(q: FlowQuery, ep: string | undefined, signal: AbortSignal): Promise<AggregateRow[]> {
  if (!ep) return (await api.aggregates(q, "edge", signal)).rows;
  const side = (field: string): FlowQuery => ({ ...q, filters: [...q.filters, { field, op: "=", value: ep }] });
  const [a, b] = await Promise.all([
    api.aggregates(side("source_type"), "edge", signal),
    api.aggregates(side("dest_type"), "edge", signal),
  ]);
  const seen = new Set(a.rows.map((r) => JSON.stringify(r.key)));
  return [...a.rows, ...b.rows.filter((r) => !seen.has(JSON.stringify(r.key)))];
}

/** The filters that select one ring flow's logs. */
export function ringFlowFilters(f: RingFlow): Filter[] {
  const eq = (field: FlowFieldName, value: string): Filter => ({ field, op: "=", value });
  const out = [
    eq("source_namespace", f.source_namespace === EXTERNAL ? "-" : f.source_namespace),
    eq("source_name_aggr", f.source_name),
    eq("dest_namespace", f.dest_namespace === EXTERNAL ? "-" : f.dest_namespace),
    eq("dest_name_aggr", f.dest_name),
    eq("proto", f.proto),
    eq("action", f.status === "denied" ? "deny" : "allow"),
  ];
  if (f.port !== null) out.push(eq("dest_port", String(f.port)));
  return out;
}

export function VisualizerView({ params }: { params: URLSearchParams }) {
  const [query, setQuery] = useViewQuery("visualizer", params);
  const mode = (getExtra(query, "mode") as Mode) ?? "namespaces";
  const zoomNs = getExtra(query, "ns");
  const nameFilter = getExtra(query, "name");
  const status = getExtra(query, "status") as Status | undefined;
  const ep = getExtra(query, "ep");
  const metric = (getExtra(query, "metric") as Metric) ?? "num_flows";
  const selected = getExtra(query, "sel");
  const apiQuery = useMemo(() => ({ ...query, extra: [] }), [query]);
  const rows = useApi((signal) => loadRows(apiQuery, ep, signal), JSON.stringify([apiQuery, ep]), 15_000);

  const allFlows = useMemo(() => rowsToFlows(rows.data ?? [], metric), [rows.data, metric]);
  const flows = useMemo(
    () => filterFlows(allFlows, { namespace: zoomNs, name: nameFilter, status }),
    [allFlows, zoomNs, nameFilter, status],
  );
  const set = (key: string, value: string | undefined) => setQuery(setExtra(query, key, value));
  const selectedFlow = selected ? allFlows.find((f) => f.id === selected) : undefined;
  const namespaces = useMemo(() => [...new Set(allFlows.flatMap((f) => [f.source_namespace, f.dest_namespace]))].sort(), [allFlows]);
  const names = useMemo(
    () =>
      [
        ...new Set(
          filterFlows(allFlows, { namespace: zoomNs }).flatMap((f) => [
            ...(zoomNs && f.source_namespace !== zoomNs ? [] : [f.source_name]),
            ...(zoomNs && f.dest_namespace !== zoomNs ? [] : [f.dest_name]),
          ]),
        ),
      ].sort(),
    [allFlows, zoomNs],
  );

  return (
    <section className="view viz-view" data-testid="visualizer-view">
      <div className="view-head">
        <h1>Flow Visualizer</h1>
        <span className="sub">Namespaces, names and flows by volume</span>
      </div>
      <QueryBar query={query} onChange={setQuery} />
      <div className="viz-layout">
        <div className="card viz-canvas-card">
          {rows.loading && <div className="loading-bar" />}
          <div className="viz-toolbar">
            <div className="segmented" role="group" aria-label="Colour by" data-testid="viz-mode">
              {MODES.map((m) => (
                <button
                  key={m.value}
                  type="button"
                  className={mode === m.value ? "active" : ""}
                  onClick={() => set("mode", m.value === "namespaces" ? undefined : m.value)}
                >
                  {m.label}
                </button>
              ))}
            </div>
            <span className="viz-total" data-testid="viz-total">
              {formatNumber(flows.reduce((t, f) => t + f.value, 0))} {METRICS.find((m) => m.value === metric)!.label.toLowerCase()}
              {flows.some((f) => f.status === "denied") && (
                <span className="viz-denied">
                  {" · "}
                  {formatNumber(flows.filter((f) => f.status === "denied").reduce((t, f) => t + f.value, 0))} denied
                </span>
              )}
            </span>
            <div className="crumbs" data-testid="viz-crumbs">
              {zoomNs ? (
                <>
                  <button type="button" onClick={() => setQuery(setExtra(setExtra(query, "ns", undefined), "name", undefined))}>
                    All namespaces
                  </button>
                  <span className="hit-rule">›</span>
                  <span>{zoomNs}</span>
                </>
              ) : (
                <span className="hit-rule">All namespaces · click a namespace to zoom in</span>
              )}
            </div>
          </div>
          <div style={{ position: "relative", flex: 1, minHeight: 0 }}>
            {rows.data && flows.length > 0 && (
              <Rings
                flows={flows}
                mode={mode}
                zoomed={!!zoomNs}
                selected={selected}
                onZoom={(ns) => setQuery(setExtra(setExtra(setExtra(query, "ns", ns), "name", undefined), "sel", undefined))}
                onName={(name) => set("name", nameFilter === name ? undefined : name)}
                onSelect={(id) => set("sel", id)}
                metric={metric}
              />
            )}
            <div className="overlay-state">
              {!rows.data && rows.loading && <Loading label="Loading flows…" />}
              {!rows.data && rows.error && <ErrorState error={rows.error} onRetry={rows.reload} />}
              {rows.data && flows.length === 0 && (
                <Empty title="No flows to show">Widen the time range or clear the filters on the right.</Empty>
              )}
            </div>
          </div>
        </div>
        <div className="viz-side">
          <SidePanel title="Filters" testId="viz-filters">
            <div className="form-grid" style={{ paddingTop: 10 }}>
              <label htmlFor="viz-ns">Namespace</label>
              <select id="viz-ns" value={zoomNs ?? ""} onChange={(e) => setQuery(setExtra(setExtra(query, "ns", e.target.value || undefined), "name", undefined))} data-testid="viz-namespace">
                <option value="">All</option>
                {namespaces.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
              <label htmlFor="viz-name">Name</label>
              <select id="viz-name" value={nameFilter ?? ""} onChange={(e) => set("name", e.target.value || undefined)} data-testid="viz-name">
                <option value="">All</option>
                {names.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
              <label htmlFor="viz-status">Status</label>
              <select id="viz-status" value={status ?? ""} onChange={(e) => set("status", e.target.value || undefined)} data-testid="viz-status">
                <option value="">All</option>
                <option value="allowed">Allowed</option>
                <option value="denied">Denied</option>
              </select>
              <label htmlFor="viz-ep">Endpoint type</label>
              <select id="viz-ep" value={ep ?? ""} onChange={(e) => set("ep", e.target.value || undefined)} data-testid="viz-ep">
                <option value="">Any</option>
                {ENDPOINT_TYPES.map((t) => (
                  <option key={t.value} value={t.value}>
                    {t.label}
                  </option>
                ))}
              </select>
              <label htmlFor="viz-metric">Volume</label>
              <select id="viz-metric" value={metric} onChange={(e) => set("metric", e.target.value === "num_flows" ? undefined : e.target.value)}>
                {METRICS.map((m) => (
                  <option key={m.value} value={m.value}>
                    {m.label}
                  </option>
                ))}
              </select>
            </div>
          </SidePanel>
          {selectedFlow && <FlowPanel flow={selectedFlow} query={apiQuery} metric={metric} onClose={() => set("sel", undefined)} />}
          <RatesPanel flows={flows} />
        </div>
      </div>
    </section>
  );
}

/** A lighter shade of a colour, for the ring of names inside their namespace's arc. */
function tint(colour: string): string {
  return d3.interpolateRgb(colour, "#ffffff")(0.45);
}

function colourScale(keys: string[]) {
  return d3.scaleOrdinal<string, string>().domain([...keys].sort()).range(PALETTE);
}

interface Hover {
  x: number;
  y: number;
  title: string;
  sub: string;
  ids: Set<string>;
}

function Rings({
  flows,
  mode,
  zoomed,
  selected,
  onZoom,
  onName,
  onSelect,
  metric,
}: {
  flows: RingFlow[];
  mode: Mode;
  zoomed: boolean;
  selected?: string;
  onZoom: (ns: string) => void;
  onName: (name: string) => void;
  onSelect: (id: string) => void;
  metric: Metric;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ w: 640, h: 560 });
  const [hover, setHover] = useState<Hover>();
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    window.__flowlensVizRender = { flows: flows.length, at: performance.now() };
  }, [flows]);

  const layout = useMemo(() => layoutRings(flows), [flows]);
  const labelRoom = 90;
  const R = Math.max(120, Math.min(size.w, size.h) / 2 - labelRoom);
  const rings = {
    ns: [R - 16, R],
    name: [R - 36, R - 19],
    flow: [R - 48, R - 39],
  };
  const inner = R - 50;
  const arc = d3.arc<{ startAngle: number; endAngle: number; innerRadius: number; outerRadius: number }>();
  const ribbon = d3.ribbon<unknown, { startAngle: number; endAngle: number; radius: number }>().padAngle(0);
  const nsColour = useMemo(() => colourScale(layout.namespaces.map((n) => n.id)), [layout]);
  const nameColour = useMemo(() => colourScale(layout.names.map((n) => n.id)), [layout]);

  const flowColour = (f: RingFlow) =>
    mode === "status"
      ? f.status === "denied"
        ? BAD
        : OK
      : mode === "names"
        ? nameColour(`${f.source_namespace}/${f.source_name}`)
        : nsColour(f.source_namespace);
  const nsFill = (a: Arc) => (mode === "namespaces" ? nsColour(a.id) : "#b3bccb");
  // In the status view only flows carry colour; the rings stay neutral so red stands out.
  const nameFill = (a: Arc) =>
    mode === "names" ? nameColour(a.id) : mode === "namespaces" ? tint(nsColour(a.namespace)) : NEUTRAL;

  const related = hover?.ids;
  const isDim = (flowId: string) => !!related && !related.has(flowId);
  const metricLabel = METRICS.find((m) => m.value === metric)!.label.toLowerCase();
  const vol = (v: number) => `${formatNumber(v)} ${metricLabel}`;

  const move = (e: React.MouseEvent, title: string, sub: string, ids: Set<string>) => {
    const r = box.current!.getBoundingClientRect();
    setHover({ x: e.clientX - r.left + 14, y: e.clientY - r.top + 12, title, sub, ids });
  };
  // A group's volume counts each of its flows once, even when both ends are in it.
  const hoverGroup = (e: React.MouseEvent, title: string, prefix: string, pred: (f: RingFlow) => boolean, hint: string) => {
    const mine = flows.filter(pred);
    const total = mine.reduce((t, f) => t + f.value, 0);
    const denied = mine.filter((f) => f.status === "denied").reduce((t, f) => t + f.value, 0);
    const sub = `${prefix}${vol(total)}${denied ? ` · ${formatNumber(denied)} denied` : ""}${hint ? ` · ${hint}` : ""}`;
    move(e, title, sub, new Set(mine.map((f) => f.id)));
  };
  // A new picture (zoom, filter, refresh) invalidates what the tooltip says.
  useEffect(() => setHover(undefined), [flows]);
  const labels = useMemo(
    () => placeLabels(zoomed ? layout.names : layout.namespaces, R + 10),
    [zoomed, layout, R],
  );

  return (
    <div ref={box} style={{ position: "absolute", inset: 0 }} data-testid="viz-rings">
      <svg viewBox={`${-size.w / 2} ${-size.h / 2} ${size.w} ${size.h}`} role="img" aria-label="Flow rings">
        <g className="ribbons">
          {layout.ribbons.map((rb) => (
            <path
              key={rb.id}
              className={`viz-ribbon ${isDim(rb.id) ? "dim" : ""} ${related?.has(rb.id) || selected === rb.id ? "hl" : ""}`}
              d={ribbon({ source: { ...rb.source, radius: inner }, target: { ...rb.target, radius: inner } }) as unknown as string}
              fill={flowColour(rb.flow)}
              stroke={flowColour(rb.flow)}
              data-status={rb.flow.status}
              data-flow={rb.id}
              data-source-namespace={rb.flow.source_namespace}
              data-dest-namespace={rb.flow.dest_namespace}
              data-testid="viz-ribbon"
              onMouseMove={(e) => move(e, flowTitle(rb.flow), `${rb.flow.proto}/${rb.flow.port ?? "-"} · ${vol(rb.flow.value)} · ${rb.flow.status}`, new Set([rb.id]))}
              onMouseLeave={() => setHover(undefined)}
              onClick={() => onSelect(rb.id)}
            />
          ))}
        </g>
        <g className="flow-ring">
          {layout.flows.map((a) => (
            <path
              key={a.id}
              className={`viz-arc ${isDim(a.flow.id) ? "dim" : ""}`}
              d={arc({ ...a, innerRadius: rings.flow[0], outerRadius: rings.flow[1] }) ?? ""}
              fill={flowColour(a.flow)}
              data-status={a.flow.status}
              onMouseMove={(e) =>
                move(e, flowTitle(a.flow), `${a.end === "source" ? "outbound" : "inbound"} · ${a.flow.proto}/${a.flow.port ?? "-"} · ${vol(a.flow.value)}`, new Set([a.flow.id]))
              }
              onMouseLeave={() => setHover(undefined)}
              onClick={() => onSelect(a.flow.id)}
            />
          ))}
        </g>
        <g className="name-ring">
          {layout.names.map((a) => (
            <path
              key={a.id}
              className="viz-arc"
              d={arc({ ...a, innerRadius: rings.name[0], outerRadius: rings.name[1] }) ?? ""}
              fill={nameFill(a)}
              data-testid="viz-name-arc"
              data-name={a.id}
              data-centroid={arc.centroid({ ...a, innerRadius: rings.name[0], outerRadius: rings.name[1] }).join(",")}
              onMouseMove={(e) =>
                hoverGroup(e, a.id, "", (f) => `${f.source_namespace}/${f.source_name}` === a.id || `${f.dest_namespace}/${f.dest_name}` === a.id, "click to filter")
              }
              onMouseLeave={() => setHover(undefined)}
              onClick={() => a.name && onName(a.name)}
            />
          ))}
        </g>
        <g className="ns-ring">
          {layout.namespaces.map((a) => (
            <path
              key={a.id}
              className="viz-arc"
              d={arc({ ...a, innerRadius: rings.ns[0], outerRadius: rings.ns[1] }) ?? ""}
              fill={nsFill(a)}
              data-testid="viz-ns-arc"
              data-namespace={a.id}
              data-centroid={arc.centroid({ ...a, innerRadius: rings.ns[0], outerRadius: rings.ns[1] }).join(",")}
              onMouseMove={(e) =>
                hoverGroup(e, a.id, "namespace · ", (f) => f.source_namespace === a.id || f.dest_namespace === a.id, zoomed ? "" : "click to zoom")
              }
              onMouseLeave={() => setHover(undefined)}
              onClick={() => a.id !== EXTERNAL && onZoom(a.id)}
            />
          ))}
        </g>
        <g className="labels">
          {labels.map((l) => (
            <text
              key={l.arc.id}
              className="viz-ns-label"
              x={l.x}
              y={l.y}
              textAnchor={l.anchor}
              dominantBaseline={l.baseline}
            >
              {l.text}
            </text>
          ))}
        </g>
      </svg>
      {hover && (
        <div className="viz-tooltip" style={{ left: hover.x, top: hover.y }} data-testid="viz-tooltip">
          <div className="tt-title">{hover.title}</div>
          <div className="tt-sub">{hover.sub}</div>
        </div>
      )}
      <div className="graph-legend">
        {mode === "status" ? (
          <>
            <span className="legend-item">
              <span className="legend-swatch" style={{ background: OK }} /> allowed
            </span>
            <span className="legend-item">
              <span className="legend-swatch" style={{ background: BAD }} /> denied
            </span>
          </>
        ) : (
          <span className="hit-rule">
            Outer ring: namespaces · middle: names · inner: flows. Colour by {mode === "names" ? "source name" : "source namespace"}.
          </span>
        )}
      </div>
    </div>
  );
}

function endName(ns: string, name: string) {
  return ns === EXTERNAL ? name : `${ns}/${name}`;
}

function flowTitle(f: RingFlow) {
  return `${endName(f.source_namespace, f.source_name)} → ${endName(f.dest_namespace, f.dest_name)}`;
}

function FlowPanel({ flow, query, metric, onClose }: { flow: RingFlow; query: FlowQuery; metric: Metric; onClose: () => void }) {
  const q: FlowQuery = { ...query, filters: [...query.filters, ...ringFlowFilters(flow)] };
  const key = JSON.stringify(q);
  const policies = useApi((signal) => api.aggregates(q, "policy_rule", signal), key);
  const rank = (a: string) => (a === "deny" ? 0 : a === "allow" ? 1 : 2);
  const hits = (policies.data?.rows ?? [])
    .map((r) => ({ hit: hitOfKey(r.key), action: r.key.hit_action ?? "", count: r.hits_allowed + r.hits_denied + r.hits_passed }))
    .filter((h): h is { hit: string; action: string; count: number } => h.hit !== null)
    .sort((a, b) => rank(a.action) - rank(b.action) || b.count - a.count);
  return (
    <SidePanel title={flowTitle(flow)} subtitle={<ActionBadge action={flow.status} />} onClose={onClose} testId="viz-flow-panel">
      <PanelSection title="Flow">
        <Stats
          items={[
            ["Protocol / port", `${flow.proto}/${flow.port ?? "–"}`],
            [METRICS.find((m) => m.value === metric)?.label ?? "Volume", formatNumber(flow.value)],
            ["Connections/s", formatRate(flow.cps)],
            ["Bits/s", formatRate(flow.bps)],
          ]}
        />
      </PanelSection>
      <PanelSection title="Policies that decided">
        {policies.loading && !policies.data && <Loading />}
        {policies.error && <ErrorState error={policies.error} onRetry={policies.reload} />}
        {policies.data && hits.length === 0 && <div className="panel-hint">No policy hits recorded.</div>}
        <div className="hits" data-testid="viz-flow-policies">
          {hits.map((h) => (
            <div key={h.hit} className="policy-card-head" data-action={h.action}>
              <PolicyHitLabel hit={h.hit} range={query} />
              <span className="hit-rule" title="Connections whose flow logs hold this hit">
                {formatNumber(h.count)} conn.
              </span>
            </div>
          ))}
        </div>
        <div style={{ marginTop: 10 }}>
          <a className="btn btn-small" href={routeHref("flows", queryToParams(q))}>
            Open flow logs
          </a>
        </div>
      </PanelSection>
    </SidePanel>
  );
}

function RatesPanel({ flows }: { flows: RingFlow[] }) {
  const rates = useMemo(() => namespaceRates(flows), [flows]);
  return (
    <SidePanel title="Traffic by namespace" subtitle="Per second, over the time range" testId="viz-rates">
      <table className="mini-table rate-table" data-testid="rate-table">
        <thead>
          <tr>
            <th>Namespace</th>
            <th />
            <th className="num">Conn/s</th>
            <th className="num">Pkt/s</th>
            <th className="num">Bit/s</th>
          </tr>
        </thead>
        <tbody>
          {rates.map((r) =>
            (["allowed", "denied"] as const).map((s, i) => (
              <tr key={`${r.namespace}-${s}`} data-namespace={r.namespace} data-status={s}>
                {i === 0 && (
                  <td rowSpan={2} style={{ fontWeight: 500, verticalAlign: "top" }}>
                    {r.namespace}
                  </td>
                )}
                <td className={s}>{s}</td>
                <td className={`num ${r[s].cps > 0 ? s : ""}`}>{formatRate(r[s].cps)}</td>
                <td className={`num ${r[s].pps > 0 ? s : ""}`}>{formatRate(r[s].pps)}</td>
                <td className={`num ${r[s].bps > 0 ? s : ""}`}>{formatRate(r[s].bps)}</td>
              </tr>
            )),
          )}
        </tbody>
      </table>
      {rates.length === 0 && <div className="panel-hint">No traffic.</div>}
    </SidePanel>
  );
}

// The Cytoscape canvas of the Service Graph. One Cytoscape instance lives as long as the view;
// each refresh is applied as a diff so nodes that stay keep their positions, and only new nodes
// are laid out (force-directed with the others pinned, or a grid when the graph is large).
import { useEffect, useRef } from "react";
import cytoscape, { type Core, type ElementDefinition, type StylesheetJson } from "cytoscape";
import fcose from "cytoscape-fcose";
import type { Graph } from "../../api";
import { buildElements, diffNodes, gridLayout, pickLabels, placeNewNodes, type LabelBox, type Point } from "./graphModel";
import { NODE_ICONS, iconsReady } from "./icons";

cytoscape.use(fcose);

/** Above this many nodes a force layout takes seconds; the grid layout takes milliseconds. */
export const LARGE_GRAPH = 300;
/** Grid spacing of large graphs: room for a 96 px label under each node. */
const GRID_SPACING = 104;

export type Selection = { type: "node"; id: string } | { type: "edge"; id: string; source: string; target: string };

const OK = "#17a34a";
const BAD = "#e0393e";
const WARN = "#e59a0b";

// A namespace drawn as a dashed frame behind its workloads (large graphs, both stylesheets).
const FRAME_STYLE = {
  width: "data(w)",
  height: "data(h)",
  "background-color": "#eef3ff",
  "background-opacity": 0.45,
  "border-width": 1.5,
  "border-style": "dashed",
  "border-color": "#8aa6f0",
  label: "data(label)",
  "text-valign": "top",
  "text-margin-y": -4,
  "font-size": 12,
  "font-weight": 600,
  color: "#2443a8",
  "z-compound-depth": "bottom",
} as const;

const STYLE: StylesheetJson = [
  {
    selector: "node",
    style: {
      width: "data(size)",
      height: "data(size)",
      label: "data(label)",
      "font-size": 12,
      "font-family": "Inter, Segoe UI, system-ui, sans-serif",
      color: "#263045",
      "text-valign": "bottom",
      "text-margin-y": 5,
      "text-wrap": "ellipsis",
      "text-max-width": "130px",
      "text-background-color": "#fbfcfe",
      "text-background-opacity": 0.85,
      "text-background-padding": "2px",
      "text-background-shape": "roundrectangle",
      "min-zoomed-font-size": 7,
      "background-color": "#ffffff",
      "border-width": 2,
      "border-color": "#3467eb",
      "background-fit": "contain",
      "background-clip": "none",
      "overlay-padding": 4,
    },
  },
  { selector: 'node[kind = "namespace"]', style: { shape: "round-rectangle", "border-color": "#3467eb", "background-color": "#eef3ff", "font-weight": 600 } },
  { selector: 'node[kind = "workload"]', style: { shape: "ellipse", "border-color": "#3d7be0" } },
  { selector: 'node[kind = "service"]', style: { shape: "hexagon", "border-color": "#0e9384", "background-color": "#effaf8" } },
  { selector: 'node[kind = "net"]', style: { shape: "ellipse", "border-color": "#6b7588", "background-color": "#f3f5f9", "border-style": "dashed" } },
  { selector: 'node[kind = "network_set"]', style: { shape: "round-tag", "border-color": "#7c5cdb", "background-color": "#f4f0fe" } },
  { selector: 'node[kind = "host"]', style: { shape: "round-rectangle", "border-color": "#475467", "background-color": "#f2f4f7" } },
  ...(Object.entries(NODE_ICONS).map(([kind, uri]) => ({
    selector: `node[kind = "${kind}"][!compound]`,
    style: { "background-image": uri },
  })) as StylesheetJson),
  { selector: "node[?denied][!compound]", style: { "border-color": BAD, "border-width": 3 } },
  {
    selector: "node[?compound]",
    style: {
      shape: "round-rectangle",
      "background-color": "#eef3ff",
      "background-opacity": 0.45,
      "border-width": 1.5,
      "border-style": "dashed",
      "border-color": "#8aa6f0",
      "text-valign": "top",
      "text-halign": "center",
      "text-margin-y": -4,
      // A namespace's name is never cut: it is the frame's only title.
      "text-wrap": "none",
      "font-size": 12,
      "font-weight": 600,
      color: "#2443a8",
      padding: "18px",
      "background-image": "none",
    },
  },
  {
    selector: "edge",
    style: {
      width: "data(width)",
      "curve-style": "bezier",
      "target-arrow-shape": "triangle",
      "arrow-scale": 0.9,
      "line-color": OK,
      "target-arrow-color": OK,
      opacity: 0.85,
      "overlay-padding": 4,
    },
  },
  { selector: 'edge[status = "denied"]', style: { "line-color": BAD, "target-arrow-color": BAD, "z-index": 10 } },
  { selector: 'edge[status = "mixed"]', style: { "line-color": WARN, "target-arrow-color": WARN, "z-index": 5 } },
  { selector: "edge.loop", style: { "curve-style": "bezier", "loop-direction": "-45deg", "loop-sweep": "-60deg" } },
  { selector: ".faded", style: { opacity: 0.15 } },
  // Large graphs: no icons, straight edges, namespaces as frames behind their workloads.
  // Labels of a large graph are measured only once someone zooms in far enough to read them.
  { selector: "node.large", style: { "background-image": "none", label: "" } },
  { selector: "node.large.labelled", style: { label: "data(label)", "font-size": 10, "text-max-width": "96px" } },
  { selector: "edge.large", style: { "curve-style": "haystack", "haystack-radius": 0, "arrow-scale": 0.6 } },
  {
    selector: "node[?frame]",
    style: {
      shape: "round-rectangle",
      ...FRAME_STYLE,
      "background-image": "none",
    },
  },
  { selector: "node:selected", style: { "border-width": 4, "border-color": "#1e3f9a", "overlay-color": "#3467eb", "overlay-opacity": 0.12 } },
  { selector: "edge:selected", style: { opacity: 1, "overlay-color": "#3467eb", "overlay-opacity": 0.18, "z-index": 20 } },
  // A label that would overlap a more important one waits for a zoom, a hover or a selection.
  { selector: "node.label-above[!compound]", style: { "text-valign": "top", "text-margin-y": -5 } },
  { selector: "node.label-hidden", style: { "text-opacity": 0, "text-background-opacity": 0 } },
  { selector: "node.label-hover", style: { "text-opacity": 1, "text-background-opacity": 0.95, "z-index": 30 } },
];

/**
 * The stylesheet of large graphs: the same colours with as few properties as possible, because
 * Cytoscape's cost per element grows with the properties it resolves (measured: a third of the
 * first render at 1,270 nodes). No icons; labels only once zoomed in (class `labelled`).
 */
const KIND_COLOURS: [string, string, string, string][] = [
  ["namespace", "round-rectangle", "#3467eb", "#eef3ff"],
  ["workload", "ellipse", "#3d7be0", "#ffffff"],
  ["service", "hexagon", "#0e9384", "#effaf8"],
  ["net", "ellipse", "#6b7588", "#f3f5f9"],
  ["network_set", "round-tag", "#7c5cdb", "#f4f0fe"],
  ["host", "round-rectangle", "#475467", "#f2f4f7"],
];
const LARGE_STYLE: StylesheetJson = [
  {
    selector: "node",
    style: { width: "data(size)", height: "data(size)", "border-width": 2, "background-color": "#ffffff" },
  },
  ...(KIND_COLOURS.map(([kind, shape, border, fill]) => ({
    selector: `node[kind = "${kind}"]`,
    style: { shape, "border-color": border, "background-color": fill },
  })) as StylesheetJson),
  { selector: "node[?denied]", style: { "border-color": BAD, "border-width": 3 } },
  {
    selector: "node.labelled",
    style: {
      label: "data(label)",
      "font-size": 10,
      color: "#263045",
      "text-valign": "bottom",
      "text-margin-y": 4,
      "text-wrap": "ellipsis",
      "text-max-width": "96px",
    },
  },
  {
    selector: "node[?frame]",
    style: {
      shape: "round-rectangle",
      ...FRAME_STYLE,
    },
  },
  { selector: "edge", style: { width: "data(width)", "curve-style": "haystack", "haystack-radius": 0, "line-color": OK } },
  { selector: 'edge[status = "denied"]', style: { "line-color": BAD, "z-index": 10 } },
  { selector: 'edge[status = "mixed"]', style: { "line-color": WARN, "z-index": 5 } },
  { selector: ".faded", style: { opacity: 0.15 } },
  { selector: "node:selected", style: { "border-width": 4, "border-color": "#1e3f9a" } },
  { selector: "edge:selected", style: { width: 4, "z-index": 20 } },
];

export interface RenderInfo {
  nodes: number;
  edges: number;
  ms: number;
}

export function GraphCanvas({
  graph,
  selection,
  onSelect,
  onToggleExpand,
  relayoutKey,
  layoutNonce = 0,
  onRendered,
}: {
  graph: Graph;
  selection: Selection | null;
  onSelect: (s: Selection | null) => void;
  onToggleExpand: (namespace: string) => void;
  /** Changes when the user changes the graph's structure (expand/collapse): allow a full relayout. */
  relayoutKey: string;
  /** Incremented by the "Re-layout" button: lay everything out afresh. */
  layoutNonce?: number;
  onRendered?: (info: RenderInfo) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const cyRef = useRef<Core>(undefined);
  const lastLayoutKey = useRef<string>(undefined);
  const largeMode = useRef(false);
  const handlers = useRef({ onSelect, onToggleExpand, onRendered });
  handlers.current = { onSelect, onToggleExpand, onRendered };

  useEffect(() => {
    const cy = cytoscape({
      container: host.current,
      style: STYLE,
      minZoom: 0.05,
      maxZoom: 3,
      // The wheel is ours (below): Cytoscape's takes a mouse's steady wheel for a touchpad and
      // zooms a few percent per notch.
      userZoomingEnabled: false,
      boxSelectionEnabled: false,
      selectionType: "single",
    });
    cyRef.current = cy;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = host.current!.getBoundingClientRect();
      cy.zoom({ level: cy.zoom() * wheelZoomFactor(e.deltaY, e.deltaMode), renderedPosition: { x: e.clientX - rect.left, y: e.clientY - rect.top } });
    };
    host.current!.addEventListener("wheel", onWheel, { passive: false });
    cy.on("tap", "node", (e) => handlers.current.onSelect({ type: "node", id: e.target.id() }));
    cy.on("tap", "edge", (e) =>
      handlers.current.onSelect({
        type: "edge",
        id: e.target.id(),
        source: e.target.data("source"),
        target: e.target.data("target"),
      }),
    );
    cy.on("tap", (e) => {
      if (e.target === cy) handlers.current.onSelect(null);
    });
    // Hovering a node shows its label even when it had to give way to another.
    cy.on("mouseover", "node", (e) => {
      e.target.addClass("label-hover");
    });
    cy.on("mouseout", "node", (e) => {
      e.target.removeClass("label-hover");
    });
    cy.on("free", "node", () => {
      if (!largeMode.current) declutterLabels(cy);
    });
    cy.on("dbltap", "node", (e) => {
      const id: string = e.target.id();
      if (id.startsWith("ns:")) handlers.current.onToggleExpand(id.slice(3));
    });
    let labelled = false;
    let labelFrame = 0;
    cy.on("zoom", () => {
      // Small graphs: labels keep a readable size on screen as the view zooms out.
      if (!largeMode.current && !labelFrame) {
        labelFrame = requestAnimationFrame(() => {
          labelFrame = 0;
          if (cy.destroyed()) return;
          scaleLabels(cy);
          declutterLabels(cy);
        });
      }
      const want = cy.zoom() >= 0.55;
      if (want === labelled) return;
      labelled = want;
      cy.batch(() => cy.nodes(".large").toggleClass("labelled", want));
    });
    void iconsReady.then(() => {
      if (!cy.destroyed()) cy.style().update();
    });
    // The e2e tests and the benchmark read the graph through this handle.
    (window as unknown as { __flowlensCy?: Core }).__flowlensCy = cy;
    const el = host.current!;
    return () => {
      el.removeEventListener("wheel", onWheel);
      cancelAnimationFrame(labelFrame);
      cy.destroy();
      cyRef.current = undefined;
    };
  }, []);

  useEffect(() => {
    const cy = cyRef.current;
    if (!cy) return;
    const t0 = performance.now();
    const large = graph.nodes.length > LARGE_GRAPH;
    if (large !== largeMode.current) {
      largeMode.current = large;
      cy.style(large ? LARGE_STYLE : STYLE);
    }
    const els = buildElements(graph, large);
    const first = cy.nodes().length === 0;
    const prev = new Map<string, string | undefined>();
    const positions = new Map<string, Point>();
    cy.nodes().forEach((n) => {
      prev.set(n.id(), n.data("parent") as string | undefined);
      if (!n.isParent()) positions.set(n.id(), { ...n.position() });
    });
    const diff = diffNodes(prev, els.nodes);
    const changed = diff.added.length + diff.reparented.length + diff.removed.length > 0;
    // Expanding or collapsing changes the route at once and the graph when the server answers:
    // the relayout (and refit) is for the first graph whose nodes changed after the change.
    const structural = lastLayoutKey.current !== relayoutKey && (changed || first);
    if (structural || first) lastLayoutKey.current = relayoutKey;

    // Large graphs are laid out on a grid: at once on first render or when namespaces are
    // expanded or collapsed; otherwise new nodes are placed next to their neighbours.
    const newFrame = els.nodes.some((n) => n.frame && !prev.has(n.id));
    let placed: Map<string, Point>;
    let frames = new Map<string, { w: number; h: number }>();
    const regrid = large && (first || structural || newFrame);
    if (regrid) ({ positions: placed, frames } = gridLayout(graph, GRID_SPACING));
    else placed = placeNewNodes(graph, [...diff.added, ...diff.reparented], positions);

    const nodeById = new Map(els.nodes.map((n) => [n.id, frames.has(n.id) ? { ...n, ...frames.get(n.id) } : n]));
    const edgeIds = new Set(els.edges.map((e) => e.id));
    cy.batch(() => {
      cy.edges().forEach((e) => {
        if (!edgeIds.has(e.id())) e.remove();
      });
      for (const id of diff.removed) cy.getElementById(id).remove();
      // Parents before children: Cytoscape needs a parent to exist when a child names it.
      const adds: ElementDefinition[] = diff.added
        .map((id) => nodeById.get(id)!)
        .sort((a, b) => Number(!!a.parent) - Number(!!b.parent))
        .map((n) => ({
          group: "nodes",
          data: { ...n },
          position: placed.get(n.id) ?? { x: 0, y: 0 },
          classes: large ? (cy.zoom() >= 0.55 ? "large labelled" : "large") : "",
        }));
      cy.add(adds);
      for (const id of diff.reparented) {
        const n = nodeById.get(id)!;
        cy.getElementById(id).move({ parent: n.parent ?? null });
        const p = placed.get(id);
        if (p) cy.getElementById(id).position(p);
      }
      for (const id of diff.kept) {
        const el = cy.getElementById(id);
        el.data(nodeById.get(id)!);
        el.toggleClass("large", large);
        const p = regrid ? placed.get(id) : undefined;
        if (p && !el.isParent()) el.position(p);
      }
      const newEdges: ElementDefinition[] = [];
      for (const e of els.edges) {
        const el = cy.getElementById(e.id);
        if (el.nonempty()) el.data(e).toggleClass("large", large && e.source !== e.target);
        else newEdges.push({ group: "edges", data: { ...e }, classes: e.source === e.target ? "loop" : large ? "large" : "" });
      }
      cy.add(newEdges);
    });

    const done = () => {
      // A small graph fitted to a large canvas would be zoomed in past legibility.
      if ((first || structural) && cy.zoom() > 1.3) {
        cy.zoom(1.3);
        cy.center();
      }
      if (!large) {
        scaleLabels(cy);
        declutterLabels(cy);
      }
      requestAnimationFrame(() => {
        handlers.current.onRendered?.({ nodes: els.nodes.length, edges: els.edges.length, ms: performance.now() - t0 });
      });
    };
    if (!changed || large) {
      // Expanding or collapsing changes the picture: fit it again, as on the first render.
      if ((first || structural) && large) fitPositions(cy, placed, frames);
      else if (first || (structural && changed)) cy.fit(undefined, 40);
      done();
      return;
    }
    // The layout sizes nodes with their labels: lay out with the labels' own size, not the
    // size they were given to stay readable at the old zoom (or every layout spreads wider).
    cy.nodes().removeStyle("font-size text-max-width");
    const simple = cy.nodes().filter((n) => !n.isParent());
    const keep = new Set(diff.kept);
    const fixed = structural || first ? [] : simple.filter((n) => keep.has(n.id()));
    const layout = cy.layout({
      name: "fcose",
      quality: "proof",
      randomize: first,
      animate: !first && !structural,
      animationDuration: 350,
      fit: first || structural,
      padding: 40,
      nodeDimensionsIncludeLabels: true,
      ...spacing(simple.length),
      nestingFactor: 0.1,
      numIter: 2500,
      tile: true,
      fixedNodeConstraint: fixed.length ? fixed.map((n) => ({ nodeId: n.id(), position: { ...(n as cytoscape.NodeSingular).position() } })) : undefined,
    } as cytoscape.LayoutOptions);
    layout.one("layoutstop", done);
    layout.run();
  }, [graph, relayoutKey]);

  useEffect(() => {
    const cy = cyRef.current;
    if (!cy || !layoutNonce || cy.nodes().empty()) return;
    if (cy.nodes().length > LARGE_GRAPH) {
      const { positions } = gridLayout(graph, GRID_SPACING);
      cy.nodes().forEach((n) => {
        const p = positions.get(n.id());
        if (p && !n.isParent()) n.position(p);
      });
      cy.fit(undefined, 40);
      return;
    }
    cy.layout({
      name: "fcose",
      quality: "default",
      randomize: true,
      animate: true,
      animationDuration: 400,
      fit: true,
      padding: 40,
      nodeDimensionsIncludeLabels: true,
      ...spacing(cy.nodes().filter((n) => !n.isParent()).length),
      nestingFactor: 0.1,
    } as cytoscape.LayoutOptions).run();
    // Only the button triggers this; the graph itself is read as of that moment.
  }, [layoutNonce]);

  // Selection: highlight the selected element and its neighbourhood, fade the rest.
  const highlighted = useRef(false);
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy) return;
    // Nothing to clear and nothing to show: skip touching every element of a large graph.
    if (!selection && !highlighted.current) return;
    highlighted.current = !!selection;
    cy.batch(() => {
      cy.elements().removeClass("faded").unselect();
      if (!selection) return;
      const el: cytoscape.CollectionReturnValue = cy.getElementById(selection.id);
      if (el.empty()) return;
      el.select();
      let keep: cytoscape.CollectionReturnValue;
      if (selection.type === "node") {
        const n = el as cytoscape.NodeSingular;
        // A frame's members are its workloads (flat mode); a compound's are its descendants.
        const members = n.descendants().union(cy.nodes().filter((m) => m.data("group") === n.id()));
        keep = n.closedNeighborhood().union(members).union(members.closedNeighborhood());
      } else {
        keep = el.union((el as cytoscape.EdgeSingular).connectedNodes());
      }
      const withParents = keep.union(keep.nodes().ancestors());
      cy.elements().not(withParents).addClass("faded");
    });
    // The selection and its neighbours get their labels first.
    if (!largeMode.current) declutterLabels(cy);
  }, [selection, graph]);

  return <div ref={host} className="graph-canvas" data-testid="graph-canvas" />;
}

/**
 * Fits known positions to the canvas without asking Cytoscape for bounding boxes, which on a
 * large graph means measuring every label (seconds at 1,000+ nodes).
 */
function fitPositions(
  cy: Core,
  positions: Map<string, Point>,
  frames: Map<string, { w: number; h: number }>,
  padding = 40,
) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [id, p] of positions) {
    const f = frames.get(id) ?? { w: 0, h: 0 };
    x0 = Math.min(x0, p.x - f.w / 2);
    y0 = Math.min(y0, p.y - f.h / 2);
    x1 = Math.max(x1, p.x + f.w / 2);
    y1 = Math.max(y1, p.y + f.h / 2);
  }
  if (!Number.isFinite(x0)) return;
  const w = cy.width();
  const h = cy.height();
  const zoom = Math.min(1.3, (w - 2 * padding) / Math.max(1, x1 - x0), (h - 2 * padding) / Math.max(1, y1 - y0));
  cy.viewport({ zoom, pan: { x: w / 2 - zoom * ((x0 + x1) / 2), y: h / 2 - zoom * ((y0 + y1) / 2) } });
}

/**
 * fcose's forces for a graph of `n` nodes. A few dozen nodes that all talk to kube-system and the
 * public network pile up with the small-graph forces: push harder and pull less as it grows.
 */
export function spacing(n: number) {
  const grow = Math.max(1, n / 15);
  return {
    nodeRepulsion: () => Math.round(4500 * grow ** 1.5),
    idealEdgeLength: () => Math.round(55 * grow ** 0.75),
    nodeSeparation: 75,
    gravity: 0.25 / grow,
  };
}

/** Zoom per wheel event: about 16 % per notch of a mouse wheel, smooth on a touchpad. */
export function wheelZoomFactor(deltaY: number, deltaMode = 0): number {
  const pixels = deltaY * (deltaMode === 1 ? 33 : deltaMode === 2 ? 800 : 1);
  return Math.min(2, Math.max(0.5, Math.pow(1.0015, -pixels)));
}

/**
 * Label size in graph units so that labels read at about 11 px on screen, up to a cap (a
 * graph zoomed out that far shows few labels anyway: those that do not fit are hidden).
 */
export function labelSize(zoom: number): number {
  return Math.round(Math.min(80, Math.max(11, 11 / Math.max(zoom, 0.01))));
}

/** Room between two labels on screen, in pixels. */
const LABEL_GAP = 3;

/**
 * Shows the labels that fit without overlapping each other or another node: namespace titles,
 * the selection and nodes with denied traffic first (these may cover a node), then the
 * selection's neighbours, then the busiest nodes. The others are hidden (class `label-hidden`) until
 * a zoom, a hover or a selection makes room for them.
 */
function declutterLabels(cy: Core) {
  const selected = cy.$(":selected");
  const sel = selected.nodes().union(selected.edges().connectedNodes());
  const near = sel.closedNeighborhood().nodes();
  const boxes: LabelBox[] = [];
  const candidates = cy.nodes().filter((n) => !!n.data("label") && n.visible());
  candidates.forEach((n) => {
    const b = n.boundingBox({ includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false });
    if (!(b.w > 0 && b.h > 0)) return;
    const rank = n.isParent() || n.data("frame") ? 0 : sel.contains(n) ? 1 : n.data("denied") ? 2 : near.contains(n) ? 3 : 4;
    const weight = Number(n.data("num_flows")) || 0;
    if (rank === 0) {
      boxes.push({ id: n.id(), x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2, rank, weight });
      return;
    }
    // A node's label goes under it, or above it when that place is taken: the two places are
    // mirror images about the node's centre.
    const y = n.position("y");
    const mirror = { x1: b.x1, x2: b.x2, y1: 2 * y - b.y2, y2: 2 * y - b.y1 };
    const [below, above] = n.hasClass("label-above") ? [mirror, b] : [b, mirror];
    boxes.push({ id: n.id(), ...below, alt: above, rank, weight });
  });
  const bodies = cy
    .nodes()
    .filter((n) => !n.isParent() && !n.data("frame") && n.visible())
    .map((n) => {
      const b = n.boundingBox({ includeLabels: false, includeOverlays: false });
      return { id: n.id(), x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 };
    });
  const shown = pickLabels(boxes, LABEL_GAP / cy.zoom(), bodies, 2);
  cy.batch(() =>
    candidates.forEach((n) => {
      n.toggleClass("label-hidden", !shown.has(n.id()));
      n.toggleClass("label-above", shown.get(n.id()) === "alt");
    }),
  );
}

function scaleLabels(cy: Core) {
  const size = labelSize(cy.zoom());
  cy.batch(() => {
    cy.nodes("[!compound][!frame]").style({ "font-size": size, "text-max-width": `${Math.round(size * 11)}px` });
    cy.nodes("[?compound]").style({ "font-size": Math.round(size * 1.1) });
  });
}

const currentCy = () => (window as unknown as { __flowlensCy?: Core }).__flowlensCy;

/** Fits the graph to the canvas (toolbar button). */
export function fitGraph() {
  const cy = currentCy();
  cy?.animate({ fit: { eles: cy.elements(), padding: 40 }, duration: 300 });
}

/** Zooms about the canvas's centre (toolbar buttons). */
export function zoomGraph(factor: number) {
  const cy = currentCy();
  if (!cy) return;
  cy.animate({ zoom: { level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } }, duration: 150 });
}

/** Centres a node, zoomed in enough to read it (search). */
export function centreOn(id: string) {
  const cy = currentCy();
  const el = cy?.getElementById(id);
  if (!cy || !el || el.empty()) return;
  cy.animate({ center: { eles: el }, zoom: Math.max(cy.zoom(), 1), duration: 300 });
}

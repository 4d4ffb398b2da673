// Pure logic of the Service Graph: the flows behind nodes and edges, element data for
// Cytoscape, what changed between refreshes, and positions for nodes a refresh brings in
// (existing nodes keep theirs, so the picture does not jump).
import { portRanges, type EdgeStatus, type Filter, type Graph, type GraphEdge, type GraphNode, type GraphNodeKind, type PortVolume } from "../../api";

export interface Point {
  x: number;
  y: number;
}

const eq = (field: string, value: string): Filter => ({ field, op: "=", value });

function splitNsName(rest: string): [string | null, string] {
  const i = rest.indexOf("/");
  return i < 0 ? [null, rest] : [rest.slice(0, i), rest.slice(i + 1)];
}

/**
 * The filters that select a node's flows as the source or destination end of an edge, matching
 * the server's node ids (`ns:NS`, `wl:NS/NAME`, `svc:NS/NAME`, `net:pub`, `netset:[NS/]NAME`,
 * `hep:NAME`). A Service is only ever a destination. Null for ids this version cannot map.
 */
export function nodeFilters(id: string, asSource: boolean): Filter[] | null {
  const colon = id.indexOf(":");
  if (colon < 0) return null;
  const prefix = id.slice(0, colon);
  const rest = id.slice(colon + 1);
  const side = asSource ? "source" : "dest";
  switch (prefix) {
    case "ns":
      return [eq(`${side}_namespace`, rest)];
    case "wl": {
      const [ns, name] = splitNsName(rest);
      return ns ? [eq(`${side}_namespace`, ns), eq(`${side}_name_aggr`, name)] : null;
    }
    case "net":
      return [eq(`${side}_type`, "net"), eq(`${side}_name_aggr`, rest)];
    case "hep":
      return [eq(`${side}_type`, "hep"), eq(`${side}_name_aggr`, rest)];
    case "netset": {
      const [ns, name] = splitNsName(rest);
      return [eq(`${side}_type`, "ns"), eq(`${side}_namespace`, ns ?? "-"), eq(`${side}_name_aggr`, name)];
    }
    case "svc": {
      const [ns, name] = splitNsName(rest);
      return ns ? [eq("dest_service_namespace", ns), eq("dest_service_name", name)] : null;
    }
    default:
      return null;
  }
}

/** The flows behind an edge; an edge out of a Service means flows to it that reached the target. */
export function edgeFilters(source: string, target: string): Filter[] | null {
  const s = nodeFilters(source, !source.startsWith("svc:"));
  const t = nodeFilters(target, false);
  return s && t ? [...s, ...t] : null;
}

/** Edge width in px: logarithmic in flows, so one heavy edge does not hide the rest. */
export function edgeWidth(flows: number, maxFlows: number): number {
  if (maxFlows <= 0 || flows <= 0) return 1.5;
  return 1.5 + 7.5 * (Math.log1p(flows) / Math.log1p(maxFlows));
}

/** Node size in px for simple nodes, by volume. */
export function nodeSize(kind: GraphNodeKind, flows: number, maxFlows: number): number {
  const base = kind === "namespace" ? 44 : kind === "workload" ? 34 : 30;
  if (maxFlows <= 0) return base;
  return Math.round(base + 14 * (Math.log1p(flows) / Math.log1p(maxFlows)));
}

export interface NodeData {
  id: string;
  label: string;
  kind: GraphNodeKind;
  parent?: string;
  compound: boolean;
  /** Flat mode: a namespace drawn as a frame behind its children (w×h), not as a compound node. */
  frame: boolean;
  /** Flat mode: the frame a child belongs to. */
  group?: string;
  size: number;
  denied: boolean;
  num_flows: number;
  denied_flows: number;
}

export interface EdgeData {
  id: string;
  source: string;
  target: string;
  status: EdgeStatus;
  width: number;
  num_flows: number;
}

/**
 * Cytoscape element data for a graph. A namespace with children becomes a compound node; with
 * `flat`, a frame node behind them instead, because Cytoscape's compound bookkeeping costs
 * seconds at 1,000+ nodes.
 */
export function buildElements(g: Graph, flat = false): { nodes: NodeData[]; edges: EdgeData[] } {
  const ids = new Set(g.nodes.map((n) => n.id));
  const parents = new Set(g.nodes.filter((n) => n.parent && ids.has(n.parent)).map((n) => n.parent!));
  const maxNode = Math.max(0, ...g.nodes.filter((n) => !parents.has(n.id)).map((n) => n.num_flows));
  const maxEdge = Math.max(0, ...g.edges.map((e) => e.num_flows));
  const nodes = g.nodes.map((n) => ({
    id: n.id,
    label: n.label,
    kind: n.kind,
    parent: !flat && n.parent && ids.has(n.parent) ? n.parent : undefined,
    group: flat && n.parent && ids.has(n.parent) ? n.parent : undefined,
    compound: !flat && parents.has(n.id),
    frame: flat && parents.has(n.id),
    size: nodeSize(n.kind, n.num_flows, maxNode),
    denied: n.denied_flows > 0,
    num_flows: n.num_flows,
    denied_flows: n.denied_flows,
  }));
  // Edges whose ends are missing (the server cut the graph) would make Cytoscape throw.
  const edges = g.edges
    .filter((e) => ids.has(e.source) && ids.has(e.target))
    .map((e) => ({
      id: e.id,
      source: e.source,
      target: e.target,
      status: e.status,
      width: edgeWidth(e.num_flows, maxEdge),
      num_flows: e.num_flows,
    }));
  return { nodes, edges };
}

export interface GraphDiff {
  added: string[];
  removed: string[];
  kept: string[];
  /** Nodes whose parent changed (a namespace expanded or collapsed): Cytoscape must re-add them. */
  reparented: string[];
}

export function diffNodes(prev: Map<string, string | undefined>, next: NodeData[]): GraphDiff {
  const nextIds = new Set(next.map((n) => n.id));
  const added: string[] = [];
  const kept: string[] = [];
  const reparented: string[] = [];
  for (const n of next) {
    if (!prev.has(n.id)) added.push(n.id);
    else if (prev.get(n.id) !== n.parent) reparented.push(n.id);
    else kept.push(n.id);
  }
  const removed = [...prev.keys()].filter((id) => !nextIds.has(id));
  return { added, removed, kept, reparented };
}

/** A small stable hash, to spread new nodes around their anchor without randomness. */
export function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/**
 * Positions for nodes that have none yet: next to siblings inside their namespace, else next to
 * the neighbour they exchange most traffic with, else to the right of everything. Existing
 * positions are never changed.
 */
export function placeNewNodes(
  g: Graph,
  newIds: string[],
  positions: Map<string, Point>,
  spacing = 90,
): Map<string, Point> {
  const out = new Map<string, Point>();
  const pos = (id: string) => out.get(id) ?? positions.get(id);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const weight = new Map<string, [string, number][]>();
  for (const e of g.edges) {
    for (const [a, b] of [
      [e.source, e.target],
      [e.target, e.source],
    ]) {
      const l = weight.get(a) ?? [];
      l.push([b, e.num_flows]);
      weight.set(a, l);
    }
  }
  let maxX = 0;
  let minY = 0;
  for (const p of positions.values()) {
    maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y);
  }
  let freeSlot = 0;
  for (const id of newIds) {
    const n = byId.get(id);
    if (!n) continue;
    const angle = ((hash(id) % 360) * Math.PI) / 180;
    let anchor: Point | undefined;
    if (n.parent) anchor = pos(n.parent) ?? siblingsCentre(g, n, pos);
    if (!anchor) {
      const peers = (weight.get(id) ?? []).filter(([p]) => pos(p)).sort((a, b) => b[1] - a[1]);
      if (peers.length) anchor = pos(peers[0][0]);
    }
    if (anchor) {
      const r = spacing * (1 + (hash(id + "r") % 100) / 100);
      out.set(id, { x: anchor.x + r * Math.cos(angle), y: anchor.y + r * Math.sin(angle) });
    } else {
      out.set(id, { x: maxX + spacing * 2, y: minY + spacing * freeSlot++ });
    }
  }
  return out;
}

function siblingsCentre(g: Graph, n: GraphNode, pos: (id: string) => Point | undefined): Point | undefined {
  const ps = g.nodes.filter((s) => s.parent === n.parent && s.id !== n.id).map((s) => pos(s.id));
  const known = ps.filter((p): p is Point => !!p);
  if (!known.length) return undefined;
  return {
    x: known.reduce((a, p) => a + p.x, 0) / known.length,
    y: known.reduce((a, p) => a + p.y, 0) / known.length,
  };
}

/**
 * A deterministic layout for large graphs, linear in size: each namespace's children in a
 * square grid, namespaces and other top-level nodes packed in rows (largest first). Used where
 * a force layout would take seconds.
 */
export function gridLayout(
  g: Graph,
  spacing = 80,
): { positions: Map<string, Point>; frames: Map<string, { w: number; h: number }> } {
  const children = new Map<string, GraphNode[]>();
  const ids = new Set(g.nodes.map((n) => n.id));
  for (const n of g.nodes) {
    if (n.parent && ids.has(n.parent)) {
      const l = children.get(n.parent) ?? [];
      l.push(n);
      children.set(n.parent, l);
    }
  }
  const tops = g.nodes.filter((n) => !n.parent || !ids.has(n.parent));
  const blocks = tops.map((n) => {
    const kids = (children.get(n.id) ?? []).sort((a, b) => a.id.localeCompare(b.id));
    const cols = Math.max(1, Math.ceil(Math.sqrt(kids.length)));
    const rows = Math.max(1, Math.ceil(kids.length / cols));
    return { node: n, kids, cols, w: cols * spacing + (kids.length ? spacing : 0), h: rows * spacing + (kids.length ? spacing : 0) };
  });
  blocks.sort((a, b) => b.h * b.w - a.h * a.w || a.node.id.localeCompare(b.node.id));
  const area = blocks.reduce((s, b) => s + b.w * b.h, 0);
  const rowWidth = Math.max(spacing * 4, Math.sqrt(area) * 1.6);
  const out = new Map<string, Point>();
  const frames = new Map<string, { w: number; h: number }>();
  let x = 0;
  let y = 0;
  let rowH = 0;
  for (const b of blocks) {
    if (x > 0 && x + b.w > rowWidth) {
      x = 0;
      y += rowH + spacing / 2;
      rowH = 0;
    }
    if (b.kids.length) {
      b.kids.forEach((k, i) => {
        out.set(k.id, {
          x: x + spacing + (i % b.cols) * spacing,
          y: y + spacing + Math.floor(i / b.cols) * spacing,
        });
      });
      frames.set(b.node.id, { w: b.w, h: b.h });
    }
    // A compound parent's position follows its children; a frame needs its own.
    out.set(b.node.id, { x: x + b.w / 2, y: y + b.h / 2 });
    x += b.w + spacing / 2;
    rowH = Math.max(rowH, b.h);
  }
  return { positions: out, frames };
}

/** Edges into and out of a node; for an expanded namespace, those crossing its boundary. */
export function nodeEdges(g: Graph, id: string): { inbound: GraphEdge[]; outbound: GraphEdge[] } {
  const inside = new Set([id, ...g.nodes.filter((n) => n.parent === id).map((n) => n.id)]);
  const inbound = g.edges.filter((e) => inside.has(e.target) && !inside.has(e.source));
  const outbound = g.edges.filter((e) => inside.has(e.source) && !inside.has(e.target));
  // Traffic inside a single node (e.g. a namespace talking to itself) counts both ways.
  const self = g.edges.filter((e) => e.source === id && e.target === id);
  const byFlows = (a: GraphEdge, b: GraphEdge) => b.num_flows - a.num_flows;
  return { inbound: [...inbound, ...self].sort(byFlows), outbound: [...outbound, ...self].sort(byFlows) };
}

export const NODE_KIND_LABEL: Record<GraphNodeKind, string> = {
  namespace: "Namespace",
  workload: "Workload",
  service: "Service",
  net: "Network",
  network_set: "Network set",
  host: "Host endpoint",
};

/** An edge's ports of one protocol and outcome, collapsed into ranges. */
export interface PortGroup {
  proto: string;
  status: EdgeStatus;
  /** "42000–43000", "80, 443", or "1,001 ports in 42000–43000" when too scattered to list. */
  ranges: string;
  /** The ports in a few characters: "42000–43000", "80, 443", the first–last span when scattered. */
  span: string;
  ports: number;
  num_flows: number;
  denied_flows: number;
  bytes: number;
}

/**
 * Ports grouped by protocol and outcome (allowed, denied, both), each group's ports as ranges:
 * a pool of a thousand ports reads as one line. Denials first, then by volume.
 */
export function groupPorts(ports: PortVolume[], maxRanges = 4): PortGroup[] {
  const groups = new Map<string, { proto: string; status: EdgeStatus; ports: number[]; none: boolean; flows: number; denied: number; bytes: number }>();
  for (const p of ports) {
    const allowed = p.allowed_flows ?? p.num_flows - p.denied_flows;
    const status: EdgeStatus = p.denied_flows === 0 ? "allowed" : allowed === 0 ? "denied" : "mixed";
    const key = `${p.proto}|${status}`;
    const g = groups.get(key) ?? { proto: p.proto, status, ports: [], none: false, flows: 0, denied: 0, bytes: 0 };
    if (p.port === null) g.none = true;
    else g.ports.push(p.port);
    g.flows += p.num_flows;
    g.denied += p.denied_flows;
    g.bytes += p.bytes ?? 0;
    groups.set(key, g);
  }
  const rank: Record<EdgeStatus, number> = { denied: 0, mixed: 1, allowed: 2 };
  return [...groups.values()]
    .map((g) => {
      const listed = portRanges(g.ports, maxRanges);
      const span = listed.replace(/^[\d,]+ ports in /, "");
      return {
        proto: g.proto,
        status: g.status,
        ranges: [listed, g.none ? "no port" : ""].filter(Boolean).join(", "),
        span: [span, g.none ? "no port" : ""].filter(Boolean).join(", "),
        ports: new Set(g.ports).size,
        num_flows: g.flows,
        denied_flows: g.denied,
        bytes: g.bytes,
      };
    })
    .sort((a, b) => rank[a.status] - rank[b.status] || b.num_flows - a.num_flows);
}


/**
 * The part of the graph around one node: the node (with its workloads when it is an expanded
 * namespace), the edges that touch it and the nodes at their other ends.
 */
export function focusGraph(g: Graph, id: string): Graph {
  const members = new Set([id, ...g.nodes.filter((n) => n.parent === id).map((n) => n.id)]);
  const edges = g.edges.filter((e) => members.has(e.source) || members.has(e.target));
  const keep = new Set(members);
  for (const e of edges) {
    keep.add(e.source);
    keep.add(e.target);
  }
  for (const n of g.nodes) if (keep.has(n.id) && n.parent) keep.add(n.parent);
  // The server's totals are the whole graph's; the focused part is summed from its edges.
  return { nodes: g.nodes.filter((n) => keep.has(n.id)), edges, truncated: g.truncated };
}

/** Above this many namespaces, expanding all of them draws more than anyone can read. */
export const MANY_NAMESPACES = 20;

/** Nodes whose name contains the text, best matches first (whole name, then start, then anywhere). */
export function searchNodes(g: Graph, text: string, name: (n: GraphNode) => string): GraphNode[] {
  const t = text.trim().toLowerCase();
  if (!t) return [];
  const scored = g.nodes
    .map((n) => {
      const full = name(n).toLowerCase();
      const label = n.label.toLowerCase();
      const score = full === t || label === t ? 0 : label.startsWith(t) || full.startsWith(t) ? 1 : full.includes(t) ? 2 : 3;
      return { n, score };
    })
    .filter((x) => x.score < 3);
  scored.sort((a, b) => a.score - b.score || b.n.num_flows - a.n.num_flows);
  return scored.map((x) => x.n);
}

/**
 * The connections a node takes part in: its own count, or for an expanded namespace (drawn as
 * a frame around its workloads) those of the edges that touch it or them, each once.
 */
export function nodeTraffic(g: Graph, node: GraphNode): { connections: number; denied: number } {
  const inside = new Set(g.nodes.filter((n) => n.parent === node.id).map((n) => n.id));
  if (!inside.size) return { connections: node.num_flows, denied: node.denied_flows };
  inside.add(node.id);
  const edges = g.edges.filter((e) => !e.backend_hop && (inside.has(e.source) || inside.has(e.target)));
  return {
    connections: edges.reduce((t, e) => t + e.num_flows, 0),
    denied: edges.reduce((t, e) => t + e.denied_flows, 0),
  };
}

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface LabelBox extends Box {
  id: string;
  /** Another place the label may go (above its node) when its own is taken. */
  alt?: Box;
  /** Lower first: the labels that must show (a namespace's title, the selection) before the rest. */
  rank: number;
  /** Within a rank, more traffic first. */
  weight: number;
}

/**
 * Where to draw labels so that none overlaps another (with `gap` between them) nor, except the
 * ones that must show, another node: greedy, most important first, each at its own place or
 * else at its alternative, as graph tools thin labels out. A label left out waits for the
 * user to zoom in, hover or select its node. Returns the labels shown and the place of each.
 */
export function pickLabels(
  boxes: LabelBox[],
  gap = 0,
  /** Node bodies a label must not cover (its own node's excepted), for labels of rank > `mustShow`. */
  bodies: (Box & { id: string })[] = [],
  mustShow = 1,
): Map<string, "main" | "alt"> {
  const order = [...boxes].sort((a, b) => a.rank - b.rank || b.weight - a.weight || a.id.localeCompare(b.id));
  const placed: Box[] = [];
  const shown = new Map<string, "main" | "alt">();
  const meets = (p: Box, b: Box) => p.x1 < b.x2 + gap && b.x1 < p.x2 + gap && p.y1 < b.y2 + gap && b.y1 < p.y2 + gap;
  for (const l of order) {
    const fits = (b: Box) =>
      !placed.some((p) => meets(p, b)) && (l.rank <= mustShow || !bodies.some((n) => n.id !== l.id && meets(n, b)));
    const at = fits(l) ? "main" : l.alt && fits(l.alt) ? "alt" : null;
    if (!at) continue;
    placed.push(at === "main" ? l : l.alt!);
    shown.set(l.id, at);
  }
  return shown;
}

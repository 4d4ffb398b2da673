import { describe, expect, it } from "vitest";
import type { Graph, GraphEdge, GraphNode } from "../../api";
import {
  buildElements,
  diffNodes,
  edgeFilters,
  edgeWidth,
  gridLayout,
  nodeEdges,
  nodeFilters,
  placeNewNodes,
  type Point,
} from "./graphModel";

const node = (id: string, kind: GraphNode["kind"], parent: string | null = null, num_flows = 10): GraphNode => ({
  id,
  kind,
  label: id.split(/[:/]/).pop()!,
  namespace: null,
  parent,
  expanded: false,
  num_flows,
  denied_flows: 0,
});
const edge = (source: string, target: string, num_flows = 10, status: GraphEdge["status"] = "allowed"): GraphEdge => ({
  id: `${source}->${target}`,
  source,
  target,
  status,
  num_flows,
  allowed_flows: status === "denied" ? 0 : num_flows,
  denied_flows: status === "allowed" ? 0 : num_flows,
  bytes: 0,
  packets: 0,
  ports: [],
});

const graph: Graph = {
  nodes: [
    node("ns:shop", "namespace"),
    node("wl:shop/web-*", "workload", "ns:shop"),
    node("wl:shop/rogue", "workload", "ns:shop"),
    node("svc:shop/web", "service", "ns:shop"),
    node("net:pub", "net"),
    node("ns:kube-system", "namespace"),
  ],
  edges: [
    edge("net:pub", "svc:shop/web", 100),
    edge("svc:shop/web", "wl:shop/web-*", 100),
    edge("wl:shop/rogue", "svc:shop/web", 5, "denied"),
    edge("wl:shop/web-*", "ns:kube-system", 20),
    edge("wl:shop/web-*", "ghost", 1),
  ],
};

describe("node and edge filters", () => {
  it("maps every node kind to flow filters", () => {
    expect(nodeFilters("ns:shop", true)).toEqual([{ field: "source_namespace", op: "=", value: "shop" }]);
    expect(nodeFilters("wl:shop/web-*", false)).toEqual([
      { field: "dest_namespace", op: "=", value: "shop" },
      { field: "dest_name_aggr", op: "=", value: "web-*" },
    ]);
    expect(nodeFilters("net:pub", true)?.map((f) => `${f.field}${f.op}${f.value}`)).toEqual([
      "source_type=net",
      "source_name_aggr=pub",
    ]);
    expect(nodeFilters("netset:twilio", false)?.map((f) => f.value)).toEqual(["ns", "-", "twilio"]);
    expect(nodeFilters("netset:shop/twilio", false)?.map((f) => f.value)).toEqual(["ns", "shop", "twilio"]);
    expect(nodeFilters("hep:node-1", true)?.map((f) => f.value)).toEqual(["hep", "node-1"]);
    expect(nodeFilters("svc:shop", false)).toBeNull();
    expect(nodeFilters("bogus", false)).toBeNull();
  });

  it("treats a service as the destination even when it is an edge's source", () => {
    const f = edgeFilters("svc:shop/web", "wl:shop/web-*")!.map((x) => x.field);
    expect(f).toEqual(["dest_service_namespace", "dest_service_name", "dest_namespace", "dest_name_aggr"]);
  });
});

describe("elements", () => {
  it("draws namespaces as frames in flat mode", () => {
    const { nodes } = buildElements(graph, true);
    expect(nodes.find((n) => n.id === "ns:shop")).toMatchObject({ compound: false, frame: true });
    expect(nodes.find((n) => n.id === "wl:shop/rogue")).toMatchObject({ parent: undefined, group: "ns:shop" });
  });

  it("makes namespaces with children compound and drops dangling edges", () => {
    const { nodes, edges } = buildElements(graph);
    expect(nodes.find((n) => n.id === "ns:shop")?.compound).toBe(true);
    expect(nodes.find((n) => n.id === "ns:kube-system")?.compound).toBe(false);
    expect(nodes.find((n) => n.id === "wl:shop/rogue")?.parent).toBe("ns:shop");
    expect(edges.map((e) => e.target)).not.toContain("ghost");
  });

  it("scales edge width logarithmically within bounds", () => {
    expect(edgeWidth(0, 100)).toBe(1.5);
    expect(edgeWidth(100, 100)).toBeCloseTo(9);
    expect(edgeWidth(10, 100)).toBeGreaterThan(edgeWidth(1, 100));
    expect(edgeWidth(10, 0)).toBe(1.5);
  });
});

describe("refresh diffs and placement", () => {
  it("finds added, removed and re-parented nodes", () => {
    const prev = new Map<string, string | undefined>([
      ["ns:shop", undefined],
      ["net:pub", undefined],
      ["wl:shop/web-*", "ns:shop"],
      ["ns:gone", undefined],
    ]);
    const d = diffNodes(prev, buildElements(graph).nodes);
    expect(d.removed).toEqual(["ns:gone"]);
    expect(d.added.sort()).toEqual(["ns:kube-system", "svc:shop/web", "wl:shop/rogue"]);
    expect(d.kept.sort()).toEqual(["net:pub", "ns:shop", "wl:shop/web-*"]);
    expect(d.reparented).toEqual([]);
  });

  it("places new nodes near their namespace or busiest neighbour and leaves others alone", () => {
    const positions = new Map<string, Point>([
      ["ns:shop", { x: 0, y: 0 }],
      ["wl:shop/web-*", { x: 10, y: 10 }],
      ["net:pub", { x: 500, y: 0 }],
    ]);
    const placed = placeNewNodes(graph, ["wl:shop/rogue", "ns:kube-system", "missing"], positions, 90);
    expect([...placed.keys()].sort()).toEqual(["ns:kube-system", "wl:shop/rogue"]);
    const near = (p: Point, q: Point, d: number) => Math.hypot(p.x - q.x, p.y - q.y) <= d;
    expect(near(placed.get("wl:shop/rogue")!, { x: 0, y: 0 }, 181)).toBe(true);
    expect(near(placed.get("ns:kube-system")!, { x: 10, y: 10 }, 181)).toBe(true);
    // Deterministic: the same input gives the same positions.
    expect(placeNewNodes(graph, ["wl:shop/rogue"], positions, 90).get("wl:shop/rogue")).toEqual(
      placed.get("wl:shop/rogue"),
    );
  });

  it("lays out a large graph on a grid without overlaps", () => {
    const nodes: GraphNode[] = [];
    for (let n = 0; n < 50; n++) {
      nodes.push(node(`ns:n${n}`, "namespace"));
      for (let w = 0; w < 20; w++) nodes.push(node(`wl:n${n}/w${w}`, "workload", `ns:n${n}`));
    }
    nodes.push(node("net:pub", "net"));
    const { positions, frames } = gridLayout({ nodes, edges: [] }, 80);
    expect(positions.size).toBe(1051);
    const leaves = [...positions.entries()].filter(([id]) => !frames.has(id)).map(([, p]) => p);
    const seen = new Set(leaves.map((p) => `${Math.round(p.x)},${Math.round(p.y)}`));
    expect(seen.size).toBe(1001);
    // Each namespace's frame contains its children.
    expect(frames.size).toBe(50);
    const c = positions.get("ns:n7")!;
    const f = frames.get("ns:n7")!;
    for (let w = 0; w < 20; w++) {
      const p = positions.get(`wl:n7/w${w}`)!;
      expect(Math.abs(p.x - c.x)).toBeLessThan(f.w / 2);
      expect(Math.abs(p.y - c.y)).toBeLessThan(f.h / 2);
    }
  });
});

describe("nodeEdges", () => {
  it("lists edges crossing an expanded namespace's boundary", () => {
    const { inbound, outbound } = nodeEdges(graph, "ns:shop");
    expect(inbound.map((e) => e.source)).toEqual(["net:pub"]);
    expect(outbound.map((e) => e.target).sort()).toEqual(["ghost", "ns:kube-system"]);
    const w = nodeEdges(graph, "wl:shop/web-*");
    expect(w.inbound.map((e) => e.source)).toEqual(["svc:shop/web"]);
  });
});

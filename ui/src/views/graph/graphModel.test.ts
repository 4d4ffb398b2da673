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

describe("groupPorts", () => {
  it("collapses a port pool into one range per protocol and outcome, denials first", async () => {
    const { groupPorts } = await import("./graphModel");
    const pool = Array.from({ length: 1001 }, (_, i) => ({ proto: "tcp", port: 42000 + i, num_flows: 2, denied_flows: 2, allowed_flows: 0, bytes: 10 }));
    const groups = groupPorts([{ proto: "tcp", port: 7070, num_flows: 50, denied_flows: 0, allowed_flows: 50, bytes: 5 }, ...pool]);
    expect(groups.map((g) => [g.proto, g.status, g.ranges, g.ports])).toEqual([
      ["tcp", "denied", "42000–43000", 1001],
      ["tcp", "allowed", "7070", 1],
    ]);
    expect(groups[0].num_flows).toBe(2002);
    expect(groups[0].bytes).toBe(10010);
  });
  it("names scattered ports by count and span", async () => {
    const { groupPorts } = await import("./graphModel");
    const ports = [42001, 42005, 42100, 42200, 42900].map((port) => ({ proto: "tcp", port, num_flows: 1, denied_flows: 1 }));
    expect(groupPorts(ports)[0].ranges).toBe("5 ports in 42001–42900");
    expect(groupPorts(ports)[0].span).toBe("42001–42900");
    expect(groupPorts([{ proto: "icmp", port: null, num_flows: 3, denied_flows: 0 }])[0].ranges).toBe("no port");
  });
});

describe("focus and search", () => {
  const g: Graph = {
    nodes: [
      { id: "ns:a", kind: "namespace", label: "a", namespace: "a", parent: null, expanded: true, num_flows: 0, denied_flows: 0 },
      { id: "wl:a/web-*", kind: "workload", label: "web-*", namespace: "a", parent: "ns:a", expanded: false, num_flows: 9, denied_flows: 0 },
      { id: "wl:a/db-*", kind: "workload", label: "db-*", namespace: "a", parent: "ns:a", expanded: false, num_flows: 5, denied_flows: 0 },
      { id: "ns:b", kind: "namespace", label: "b", namespace: "b", parent: null, expanded: false, num_flows: 3, denied_flows: 0 },
      { id: "net:pub", kind: "net", label: "public network", namespace: null, parent: null, expanded: false, num_flows: 2, denied_flows: 0 },
    ],
    edges: [
      { id: "wl:a/web-*->wl:a/db-*", source: "wl:a/web-*", target: "wl:a/db-*", status: "allowed", num_flows: 5, allowed_flows: 5, denied_flows: 0, bytes: 0, packets: 0, ports: [] },
      { id: "ns:b->wl:a/web-*", source: "ns:b", target: "wl:a/web-*", status: "allowed", num_flows: 3, allowed_flows: 3, denied_flows: 0, bytes: 0, packets: 0, ports: [] },
      { id: "net:pub->ns:b", source: "net:pub", target: "ns:b", status: "allowed", num_flows: 2, allowed_flows: 2, denied_flows: 0, bytes: 0, packets: 0, ports: [] },
    ],
    totals: { num_flows: 10, allowed_flows: 10, denied_flows: 0, bytes: 0, packets: 0 },
  };
  it("keeps a node's neighbourhood with the namespaces around it", async () => {
    const { focusGraph } = await import("./graphModel");
    const f = focusGraph(g, "wl:a/db-*");
    expect(f.nodes.map((n) => n.id).sort()).toEqual(["ns:a", "wl:a/db-*", "wl:a/web-*"]);
    expect(f.edges.map((e) => e.id)).toEqual(["wl:a/web-*->wl:a/db-*"]);
    expect(f.totals).toBeUndefined();
    expect(focusGraph(g, "ns:b").nodes.map((n) => n.id).sort()).toEqual(["net:pub", "ns:a", "ns:b", "wl:a/web-*"]);
  });
  it("finds nodes by name, best matches first", async () => {
    const { searchNodes } = await import("./graphModel");
    const name = (n: { namespace: string | null; label: string }) => (n.namespace ? `${n.namespace}/${n.label}` : n.label);
    expect(searchNodes(g, "db", name).map((n) => n.id)).toEqual(["wl:a/db-*"]);
    expect(searchNodes(g, "a/", name)[0].id).toBe("wl:a/web-*");
    expect(searchNodes(g, "", name)).toEqual([]);
  });
});

describe("nodeTraffic", () => {
  it("sums an expanded namespace's edges once, backend hops aside", async () => {
    const { nodeTraffic } = await import("./graphModel");
    const n = (id: string, parent: string | null, num = 0) =>
      ({ id, kind: parent ? "workload" : "namespace", label: id, namespace: "a", parent, expanded: false, num_flows: num, denied_flows: 0 }) as const;
    const e = (source: string, target: string, num: number, denied: number, backend_hop = false) => ({
      id: `${source}->${target}`,
      source,
      target,
      status: "allowed" as const,
      num_flows: num,
      allowed_flows: num - denied,
      denied_flows: denied,
      bytes: 0,
      packets: 0,
      ports: [],
      backend_hop,
    });
    const g = {
      nodes: [n("ns:a", null), n("wl:a/x", "ns:a"), n("svc:a/y", "ns:a"), n("wl:a/y", "ns:a"), n("ns:b", null, 7)],
      edges: [e("ns:b", "svc:a/y", 5, 2), e("svc:a/y", "wl:a/y", 5, 2, true), e("wl:a/x", "ns:b", 3, 0)],
    };
    expect(nodeTraffic(g, g.nodes[0])).toEqual({ connections: 8, denied: 2 });
    expect(nodeTraffic(g, g.nodes[4])).toEqual({ connections: 7, denied: 0 });
  });
});

describe("pickLabels", () => {
  const box = (id: string, x: number, y: number, rank: number, weight = 0) => ({ id, x1: x, y1: y, x2: x + 50, y2: y + 10, rank, weight });
  it("keeps the labels that do not overlap, the most important first", async () => {
    const { pickLabels } = await import("./graphModel");
    const shown = pickLabels([
      box("busy", 0, 0, 5, 100),
      box("quiet", 20, 5, 5, 1),
      box("selected", 40, 0, 2),
      box("apart", 200, 0, 5),
      box("ns", 0, 30, 0),
      box("under-ns", 10, 35, 5, 1000),
    ]);
    expect([...shown.keys()].sort()).toEqual(["apart", "ns", "selected"]);
    // A gap keeps neighbours apart even when their boxes only touch.
    expect([...pickLabels([box("a", 0, 0, 1), box("b", 52, 0, 1)], 3).keys()]).toEqual(["a"]);
    expect([...pickLabels([box("a", 0, 0, 1), box("b", 52, 0, 1)], 1).keys()].sort()).toEqual(["a", "b"]);
  });
  it("moves a label to its other place when its own is taken", async () => {
    const { pickLabels } = await import("./graphModel");
    const b = { ...box("b", 20, 5, 3), alt: { x1: 20, y1: -30, x2: 70, y2: -20 } };
    expect([...pickLabels([box("a", 0, 0, 2), b])]).toEqual([
      ["a", "main"],
      ["b", "alt"],
    ]);
  });
  it("does not cover another node, unless it must show", async () => {
    const { pickLabels } = await import("./graphModel");
    const node = { id: "n", x1: 30, y1: 2, x2: 40, y2: 12 };
    expect([...pickLabels([box("a", 0, 0, 4), box("n", 100, 0, 4)], 0, [node]).keys()]).toEqual(["n"]);
    expect([...pickLabels([box("a", 0, 0, 1)], 0, [node]).keys()]).toEqual(["a"]);
  });
});

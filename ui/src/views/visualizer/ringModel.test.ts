import { describe, expect, it } from "vitest";
import type { AggregateRow } from "../../api";
import { EXTERNAL, filterFlows, layoutRings, namespaceRates, placeLabels, rowsToFlows } from "./ringModel";

function row(
  src: [string | null, string],
  dst: [string | null, string],
  action: "allow" | "deny",
  num_flows: number,
  port = 80,
): AggregateRow {
  return {
    key: {
      source_namespace: src[0],
      source_name_aggr: src[1],
      dest_namespace: dst[0],
      dest_name_aggr: dst[1],
      proto: "tcp",
      dest_port: port,
      action,
      tier: null,
      kind: null,
      policy_namespace: null,
      policy_name: null,
      hit_action: null,
      rule: null,
    },
    records: 1,
    num_flows,
    num_flows_started: num_flows,
    num_flows_completed: num_flows,
    allowed_flows: action === "allow" ? num_flows : 0,
    denied_flows: action === "deny" ? num_flows : 0,
    packets_in: 1,
    packets_out: 1,
    bytes_in: 10,
    bytes_out: 10,
    connections_per_second: num_flows / 100,
    packets_per_second: 1,
    bits_per_second: 8,
    hits_allowed: 0,
    hits_denied: 0,
    hits_passed: 0,
    pending_num_flows: 0,
    pending_allowed: 0,
    pending_denied: 0,
    pending_passed: 0,
  };
}

const rows = [
  row(["shop", "web-*"], ["shop", "api-*"], "allow", 600),
  row(["shop", "api-*"], ["db", "pg-*"], "allow", 300),
  row(["shop", "rogue"], ["shop", "api-*"], "deny", 1),
  row(["shop", "web-*"], ["-", "pub"], "allow", 98, 443),
];

describe("rowsToFlows", () => {
  it("maps rows to flows with status and an external namespace for networks", () => {
    const flows = rowsToFlows(rows);
    expect(flows).toHaveLength(4);
    expect(flows.find((f) => f.source_name === "rogue")?.status).toBe("denied");
    expect(flows.find((f) => f.dest_name === "pub")?.dest_namespace).toBe(EXTERNAL);
  });

  it("merges duplicate keys and sums their volume and rates", () => {
    const flows = rowsToFlows([rows[0], rows[0]]);
    expect(flows).toHaveLength(1);
    expect(flows[0].value).toBe(1200);
    expect(flows[0].cps).toBe(12);
  });

  it("measures volume by the chosen metric", () => {
    expect(rowsToFlows([rows[0]], "bytes")[0].value).toBe(20);
  });
});

describe("layoutRings", () => {
  const layout = layoutRings(rowsToFlows(rows));

  it("nests flows in names in namespaces, covering the circle once", () => {
    expect(layout.namespaces.map((n) => n.label)).toEqual(["db", "shop", EXTERNAL]);
    const shop = layout.namespaces.find((n) => n.id === "shop")!;
    for (const name of layout.names.filter((n) => n.namespace === "shop")) {
      expect(name.startAngle).toBeGreaterThanOrEqual(shop.startAngle - 1e-9);
      expect(name.endAngle).toBeLessThanOrEqual(shop.endAngle + 1e-9);
    }
    const last = layout.namespaces[layout.namespaces.length - 1];
    expect(last.endAngle).toBeLessThan(Math.PI * 2);
    // Arcs do not overlap.
    const sorted = [...layout.flows].sort((a, b) => a.startAngle - b.startAngle);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i].startAngle).toBeGreaterThanOrEqual(sorted[i - 1].endAngle - 1e-9);
  });

  it("gives each flow a ribbon between its two ends, thin ones drawn last", () => {
    expect(layout.ribbons).toHaveLength(4);
    expect(layout.ribbons[layout.ribbons.length - 1].flow.source_name).toBe("rogue");
    expect(layout.flows).toHaveLength(8);
  });

  it("makes angles proportional to volume, with a floor for tiny flows", () => {
    const web = layout.flows.find((f) => f.flow.source_name === "web-*" && f.flow.dest_name === "api-*" && f.end === "source")!;
    const db = layout.flows.find((f) => f.flow.dest_name === "pg-*" && f.end === "source")!;
    const span = (a: { startAngle: number; endAngle: number }) => a.endAngle - a.startAngle;
    expect(span(web) / span(db)).toBeCloseTo(2, 5);
    const rogue = layout.flows.find((f) => f.flow.source_name === "rogue")!;
    // Proportional would be 1/300 of the db flow; the floor makes it about 2/300.
    expect(span(rogue) / span(db)).toBeGreaterThan(1.5 / 300);
    expect(layout.total).toBe(999);
  });

  it("is empty without flows", () => {
    expect(layoutRings([]).namespaces).toEqual([]);
  });
});

describe("filters, labels and rates", () => {
  const flows = rowsToFlows(rows);

  it("filters by namespace at either end, name and status", () => {
    expect(filterFlows(flows, { namespace: "db" })).toHaveLength(1);
    expect(filterFlows(flows, { name: "api-*" })).toHaveLength(3);
    expect(filterFlows(flows, { status: "denied" }).map((f) => f.source_name)).toEqual(["rogue"]);
  });

  it("places labels without overlapping boxes, widest arcs first", () => {
    const arcs = Array.from({ length: 40 }, (_, i) => ({
      id: `ns-${i}`,
      label: `namespace-${i}`,
      namespace: `ns-${i}`,
      startAngle: (i * 2 * Math.PI) / 40,
      endAngle: ((i + 1) * 2 * Math.PI) / 40 - 0.01,
      value: 1,
      denied: 0,
    }));
    arcs[7].endAngle += 0.005; // the widest
    const placed = placeLabels(arcs, 200);
    expect(placed.length).toBeGreaterThan(5);
    expect(placed.length).toBeLessThan(40);
    expect(placed[0].arc.id).toBe("ns-7");
    const box = (l: (typeof placed)[number]) => {
      const w = l.text.length * 6.6;
      const x0 = l.anchor === "start" ? l.x : l.anchor === "end" ? l.x - w : l.x - w / 2;
      const y0 = l.baseline === "auto" ? l.y - 14 : l.baseline === "hanging" ? l.y : l.y - 7;
      return { x0, x1: x0 + w, y0, y1: y0 + 14 };
    };
    for (let i = 0; i < placed.length; i++)
      for (let j = i + 1; j < placed.length; j++) {
        const a = box(placed[i]);
        const b = box(placed[j]);
        expect(a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1).toBe(false);
      }
  });

  it("splits rates per namespace by status, counting in-namespace flows once", () => {
    const rates = namespaceRates(flows);
    const shop = rates.find((r) => r.namespace === "shop")!;
    expect(rates[0].namespace).toBe("shop");
    expect(shop.denied.cps).toBeCloseTo(0.01);
    expect(shop.allowed.cps).toBeCloseTo(6 + 3 + 0.98);
    expect(rates.find((r) => r.namespace === "db")!.allowed.cps).toBeCloseTo(3);
  });
});

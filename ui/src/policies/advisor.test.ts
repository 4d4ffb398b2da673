import { describe, expect, it } from "vitest";
import type { RecommendedPolicy, Recommendations } from "../api";
import { namespaceRows } from "./AdvisorView";

const policy = (namespace: string, direction: "ingress" | "egress", denied: number[]): RecommendedPolicy => ({
  id: `snp:${namespace}/namespace-isolation.${namespace}-${direction}`,
  name: `namespace-isolation.${namespace}-${direction}`,
  namespace,
  direction,
  status: { lifecycle: "stable", new_rules: 0, differs_from_applied: false },
  yaml: "",
  rules: denied.map((d, i) => ({ peer: `peer ${i}`, rule: "Allow TCP", allowed_connections: 10, denied_connections: d, observed_ports: 1 })),
  proof: null,
});

describe("namespaceRows", () => {
  it("pairs each namespace's ingress and egress and sums their rules and denied connections", () => {
    const rec: Recommendations = {
      window: null,
      stabilization_secs: 600,
      flows_read: 0,
      flows_used: 0,
      tier: { name: "namespace-isolation", order: 10000, exists: false, yaml: "" },
      policies: [policy("fme", "ingress", [0, 974]), policy("fme", "egress", [5]), policy("shop", "ingress", [])],
      notes: [],
    };
    const rows = namespaceRows(rec);
    expect(rows.map((r) => r.namespace)).toEqual(["fme", "shop"]);
    expect(rows[0].ingress?.direction).toBe("ingress");
    expect(rows[0].egress?.direction).toBe("egress");
    expect(rows[0].rules).toBe(3);
    expect(rows[0].denied).toBe(979);
    expect(rows[1].egress).toBeUndefined();
    expect(rows[1].rules).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import type { PreviewChange } from "../api";
import { boardCards } from "./PolicyBoard";
import { groupChanges } from "./PreviewPanel";
import { changedLines } from "./YamlEditor";

describe("groupChanges", () => {
  const change = (port: number, dest = "fmeserver-core-*", change: PreviewChange["change"] = "deny_to_allow"): PreviewChange => ({
    change,
    source_namespace: "fme",
    source_name_aggr: "engine-standard-group-*",
    dest_namespace: "fme",
    dest_name_aggr: dest,
    proto: "tcp",
    dest_port: port,
    flow_logs: 2,
    num_flows: 5,
    before: "0|default|knp:fme/default-deny|deny|-1",
    after: "0|application|np:fme/application.engine-fmeserver|allow|0",
    reason: null,
  });
  it("groups by change, endpoints and protocol, summing counts", () => {
    const gs = groupChanges([change(42001), change(42002), change(5432, "fmeserver-postgresql-*"), change(42003, "fmeserver-core-*", "uncertain")]);
    expect(gs).toHaveLength(3);
    const core = gs.find((g) => g.dest === "fme/fmeserver-core-*" && g.change === "deny_to_allow")!;
    expect(core.ports).toEqual([42001, 42002]);
    expect(core.flows).toBe(10);
    expect(core.flowLogs).toBe(4);
    expect(core.befores).toHaveLength(1);
  });
});

describe("changedLines", () => {
  it("marks inserted and edited lines only", () => {
    expect([...changedLines("a\nb\nc", "a\nb\nx\nc")]).toEqual([3]);
    expect([...changedLines("a\nb\nc", "a\nB\nc")]).toEqual([2]);
    expect([...changedLines("a\nb", "a\nb")]).toEqual([]);
    expect([...changedLines("a\nb\nc", "a\nc")]).toEqual([]);
  });
});


describe("board cards", () => {
  it("filters by search and by what a policy did, and sorts by a figure", async () => {
    const metrics = (denied: number, connections: number) => ({
      connections,
      allowed: connections - denied,
      denied,
      passed: 0,
      pending_connections: 0,
      pending_allowed: 0,
      pending_denied: 0,
      pending_passed: 0,
    });
    const card = (name: string, denied: number, connections: number, extra = {}) => ({
      id: `np:ns/${name}`,
      tier: "t",
      kind: "np",
      kind_label: "Calico",
      name,
      namespace: "ns",
      order: 1,
      selector: "all()",
      staged: false,
      endpoints: 1,
      types: ["ingress"],
      metrics: metrics(denied, connections),
      unused_rules: [],
      ...extra,
    });
    const ps = [card("a", 0, 50), card("b", 7, 10), card("c", 3, 99, { unused_rules: { ingress: [1] } }), card("d", 0, 0, { staged: true })];
    expect(boardCards(ps, "", "all", "order").map((p) => p.name)).toEqual(["a", "b", "c", "d"]);
    expect(boardCards(ps, "", "denies", "order").map((p) => p.name)).toEqual(["b", "c"]);
    expect(boardCards(ps, "", "all", "denied").map((p) => p.name)).toEqual(["b", "c", "a", "d"]);
    expect(boardCards(ps, "", "all", "connections").map((p) => p.name)).toEqual(["c", "a", "b", "d"]);
    expect(boardCards(ps, "", "unused", "order").map((p) => p.name)).toEqual(["c"]);
    expect(boardCards(ps, "", "staged", "order").map((p) => p.name)).toEqual(["d"]);
    expect(boardCards(ps, "B", "all", "order").map((p) => p.name)).toEqual(["b"]);
  });
});

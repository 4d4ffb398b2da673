import { describe, expect, it } from "vitest";
import type { Flow } from "../../api";
import { decidingHit, flowFieldRows } from "./flowFields";

const flow = {
  id: 7,
  start_time: 1795282875,
  end_time: 1795282890,
  action: "deny",
  source_labels: { labels: ["app=rogue"] },
  dest_labels: null,
  dest_ip: null,
  policies: {
    enforced_policies: ["1|default|np:storefront/trusted|deny|-1", "0|security|gnp:security.block|pass|1"],
    pending_policies: [],
  },
  new_field: 3,
} as unknown as Flow;

describe("decidingHit", () => {
  it("takes the first allow or deny in evaluation order, past passes", () => {
    expect(decidingHit(flow.policies!.enforced_policies!)?.name).toBe("trusted");
  });
  it("falls back to the last hit when all pass, and to null when none", () => {
    expect(decidingHit(["0|a|gnp:x|pass|0", "1|b|gnp:y|pass|0"])?.name).toBe("y");
    expect(decidingHit([])).toBeNull();
  });
});

describe("flowFieldRows", () => {
  it("lists known fields first, flattens labels and policies, keeps unknown fields", () => {
    const rows = flowFieldRows(flow);
    const names = rows.map((r) => r[0]);
    expect(names.slice(0, 3)).toEqual(["id", "start_time", "end_time"]);
    expect(names).toContain("source_labels.labels");
    expect(names).toContain("policies.enforced_policies");
    expect(names[names.length - 1]).toBe("new_field");
    expect(rows.find((r) => r[0] === "dest_labels.labels")?.[2]).toEqual([]);
    expect(rows.find((r) => r[0] === "dest_ip")?.[2]).toBe("-");
  });
});

import { describe, expect, it } from "vitest";
import { FILTER_FIELDS, FLOW_FIELDS, type Flow } from "../../api";
import * as generated from "../../api/flowFields.generated";
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

describe("the field list", () => {
  it("is the generated one: every member of a flow log's JSON once, what happened first", () => {
    const members = new Set(generated.FLOW_FIELDS.filter((f) => f.inFlowLog).map((f) => f.path.split(".")[0]));
    expect(new Set(FLOW_FIELDS)).toEqual(new Set(["id", ...members]));
    expect(FLOW_FIELDS.length).toBe(members.size + 1);
    expect(FLOW_FIELDS.slice(0, 6)).toEqual(["id", "start_time", "end_time", "action", "reporter", "proto"]);
    expect(FLOW_FIELDS).toContain("policies");
    expect(FILTER_FIELDS).toEqual(generated.FLOW_LOG_FIELD_NAMES);
    expect(FILTER_FIELDS).toContain("dest_name_aggr");
  });
});

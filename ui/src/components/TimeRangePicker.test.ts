import { describe, expect, it } from "vitest";
import { describeRange, fromLocalInput, toLocalInput } from "./TimeRangePicker";
import { fieldValues } from "./QueryBar";
import type { Inventory } from "../api";

describe("time range", () => {
  it("round-trips a custom range through the datetime-local inputs (to the minute)", () => {
    const t = 1795282860; // a whole minute
    expect(fromLocalInput(toLocalInput(t))).toBe(t);
    expect(fromLocalInput("")).toBeUndefined();
    expect(fromLocalInput("not a date")).toBeUndefined();
  });

  it("describes presets, custom ranges and no range", () => {
    expect(describeRange({ since: "15m" })).toBe("Last 15 min");
    expect(describeRange({ since: "90m" })).toBe("Last 90m");
    expect(describeRange({})).toBe("All time");
    expect(describeRange({ from: 1795282860 })).toMatch(/→ now$/);
  });
});

describe("filter autocompletion values", () => {
  const inv: Inventory = {
    namespaces: [{ name: "storefront", labels: {} }, { name: "kube-system", labels: {} }],
    endpoints: [{ name: "frontend-abc", namespace: "storefront" }],
    services: [{ name: "frontend" }],
    network_sets: [{ name: "twilio" }],
    tiers: [],
  };
  it("knows fixed vocabularies and inventory names", () => {
    expect(fieldValues(undefined, "action")).toEqual(["allow", "deny"]);
    expect(fieldValues(undefined, "dest_type")).toContain("ns");
    expect(fieldValues(inv, "source_namespace")).toEqual(["kube-system", "storefront"]);
    expect(fieldValues(inv, "dest_service_name")).toEqual(["frontend"]);
    expect(fieldValues(inv, "dest_name_aggr")).toEqual(expect.arrayContaining(["pub", "pvt", "twilio"]));
    expect(fieldValues(inv, "source_name")).toEqual(["frontend-abc"]);
    expect(fieldValues(undefined, "bytes_in")).toEqual([]);
  });
});

describe("custom range problems", () => {
  it("refuses a range that ends before it starts, in local time", async () => {
    const { rangeProblem } = await import("./TimeRangePicker");
    expect(rangeProblem(1000, 2000)).toBeUndefined();
    expect(rangeProblem(1000, undefined)).toBeUndefined();
    expect(rangeProblem(undefined, 2000)).toBe("Pick when the range starts.");
    const p = rangeProblem(7200, 3600)!;
    expect(p).toMatch(/^The range ends \(.+\) before it starts \(.+\)/);
    expect(p).not.toMatch(/3600|7200/);
  });
});

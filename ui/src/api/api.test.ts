import { describe, expect, it } from "vitest";
import {
  addFilter,
  filterForValue,
  negateFilter,
  parseFilter,
  parsePolicyHit,
  parseQuery,
  policyParam,
  queryToParams,
  setExtra,
  withDefaultRange,
  formatBytes,
  formatCompact,
} from ".";
import { queryChips, removeChip, suggestFilters } from "../components/FilterBar";

describe("filters", () => {
  it("parses every operator, longest first", () => {
    expect(parseFilter("action!=allow")).toEqual({ field: "action", op: "!=", value: "allow" });
    expect(parseFilter("dest_name_aggr^=frontend-")).toEqual({ field: "dest_name_aggr", op: "^=", value: "frontend-" });
    expect(parseFilter("dest_name_aggr!^=frontend-")).toEqual({
      field: "dest_name_aggr",
      op: "!^=",
      value: "frontend-",
    });
    expect(parseFilter("dest_port>=1024")).toEqual({ field: "dest_port", op: ">=", value: "1024" });
    expect(parseFilter("dest_port<80")).toEqual({ field: "dest_port", op: "<", value: "80" });
    expect(parseFilter("action=in:allow,deny")).toEqual({ field: "action", op: "=", value: "in:allow,deny" });
    expect(parseFilter("dest_labels=app=web")).toEqual({ field: "dest_labels", op: "=", value: "app=web" });
    expect(parseFilter("source_namespace=-")).toEqual({ field: "source_namespace", op: "=", value: "-" });
  });

  it("rejects text without an operator", () => {
    expect(parseFilter("action")).toBeNull();
    expect(parseFilter("=deny")).toBeNull();
  });

  it("negates each operator and back", () => {
    for (const t of ["a=1", "a!=1", "a^=x", "a!^=x", "a>1", "a>=1", "a<1", "a<=1"]) {
      const f = parseFilter(t)!;
      expect(negateFilter(negateFilter(f))).toEqual(f);
      expect(negateFilter(f).op).not.toBe(f.op);
    }
  });

  it("filter out replaces the matching filter for", () => {
    let q = parseQuery(new URLSearchParams("filter=action%3Ddeny&filter=proto%3Dtcp"));
    q = addFilter(q, { field: "action", op: "!=", value: "deny" });
    expect(queryToParams(q).getAll("filter")).toEqual(["proto=tcp", "action!=deny"]);
  });

  it("filters for absent values with -", () => {
    expect(filterForValue("dest_port", null)).toEqual({ field: "dest_port", op: "=", value: "-" });
    expect(filterForValue("dest_port", 80, true)).toEqual({ field: "dest_port", op: "!=", value: "80" });
    expect(filterForValue("source_labels", { labels: [] })).toBeNull();
  });
});

describe("query ↔ route parameters", () => {
  it("round-trips every API parameter and keeps unknown ones", () => {
    const text =
      "since=1h&filter=action%3Ddeny&filter=dest_port%3E%3D1024&source_selector=app+%3D%3D+%22rogue%22" +
      "&dest_selector=has%28app%29&policy=default%2Fstorefront%2Ftrusted&policy_action=deny&policy_rule=-1" +
      "&sort=end_time%3Adesc&hits=enterprise";
    const q = parseQuery(new URLSearchParams(text));
    expect(q.since).toBe("1h");
    expect(q.filters).toHaveLength(2);
    expect(q.source_selector).toBe('app == "rogue"');
    expect(q.policy).toBe("default/storefront/trusted");
    expect(q.policy_rule).toBe("-1");
    expect(q.extra).toEqual([
      ["sort", "end_time:desc"],
      ["hits", "enterprise"],
    ]);
    expect(queryToParams(q).toString()).toBe(new URLSearchParams(text).toString());
  });

  it("omits route-only parameters for API calls", () => {
    const q = parseQuery(new URLSearchParams("since=15m&expand=storefront&mode=status"));
    expect(queryToParams(q, { omitExtra: true }).toString()).toBe("since=15m");
  });

  it("prefers since over an absolute range and defaults to the last hour", () => {
    const q = parseQuery(new URLSearchParams("from=100&to=200"));
    expect(queryToParams(q).toString()).toBe("from=100&to=200");
    expect(withDefaultRange(q)).toBe(q);
    expect(withDefaultRange(parseQuery(new URLSearchParams(""))).since).toBe("1h");
  });

  it("sets repeated route-only parameters", () => {
    const q = setExtra(parseQuery(new URLSearchParams("since=1h")), "expand", ["a", "b"]);
    expect(queryToParams(q).getAll("expand")).toEqual(["a", "b"]);
    expect(queryToParams(setExtra(q, "expand", undefined)).has("expand")).toBe(false);
  });
});

describe("chips", () => {
  it("shows filters, selectors and the policy, and removes each", () => {
    const q = parseQuery(
      new URLSearchParams(
        "filter=action%3Ddeny&source_selector=app%3D%3D%22x%22&policy=default%2Ftrusted&policy_action=deny&policy_rule=0",
      ),
    );
    const chips = queryChips(q);
    expect(chips.map((c) => c.kind)).toEqual(["filter", "selector", "policy"]);
    expect(chips[2].label).toBe("policy default/trusted · deny · rule 0");
    const noPolicy = removeChip(q, chips[2]);
    expect(noPolicy.policy).toBeUndefined();
    expect(noPolicy.policy_action).toBeUndefined();
    expect(noPolicy.policy_rule).toBeUndefined();
    expect(removeChip(q, chips[0]).filters).toEqual([]);
  });

  it("suggests fields, then values", () => {
    expect(suggestFilters("dest_na", () => [])).toContain("dest_namespace=");
    expect(suggestFilters("action=d", (f) => (f === "action" ? ["allow", "deny"] : []))).toEqual(["action=deny"]);
  });
});

describe("policy hits", () => {
  it("parses the Calico spelling", () => {
    const h = parsePolicyHit("0|default|np:storefront/trusted|deny|-1")!;
    expect(h).toMatchObject({ tier: "default", kind: "np", namespace: "storefront", name: "trusted", rule: -1 });
    expect(policyParam(h)).toBe("default/storefront/trusted");
    const g = parsePolicyHit("1|platform|gnp:platform.allow-kube-dns|pass|2")!;
    expect(g).toMatchObject({ kind: "gnp", namespace: null, name: "platform.allow-kube-dns", action: "pass", rule: 2 });
  });

  it("parses the Enterprise spelling", () => {
    const h = parsePolicyHit("0|default|default/default.trusted|deny|-1")!;
    expect(h).toMatchObject({ kind: "", namespace: "default", name: "default.trusted" });
  });

  it("rejects malformed hits", () => {
    expect(parsePolicyHit("nonsense")).toBeNull();
  });
});

describe("formatting", () => {
  it("formats bytes and compact numbers", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatCompact(1234)).toBe("1.2k");
    expect(formatCompact(999)).toBe("999");
    expect(formatCompact(2_500_000)).toBe("2.5M");
  });
});

describe("policy hits without index", () => {
  it("parses the edge-detail form", () => {
    expect(parsePolicyHit("default|np:storefront/trusted|deny|-1")).toMatchObject({
      index: 0,
      tier: "default",
      name: "trusted",
      rule: -1,
    });
  });
});

describe("aggregate policy keys", () => {
  it("turns a policy_rule key into a hit string with the kind's tag", async () => {
    const { hitOfKey, kindTag } = await import(".");
    expect(kindTag("GlobalNetworkPolicy")).toBe("gnp");
    expect(kindTag("np")).toBe("np");
    const base = {
      source_namespace: null,
      source_name_aggr: null,
      dest_namespace: null,
      dest_name_aggr: null,
      proto: null,
      dest_port: null,
      action: null,
    };
    const hit = hitOfKey({
      ...base,
      tier: "default",
      kind: "NetworkPolicy",
      policy_namespace: "storefront",
      policy_name: "trusted",
      hit_action: "deny",
      rule: -1,
    })!;
    expect(parsePolicyHit(hit)).toMatchObject({ kind: "np", namespace: "storefront", name: "trusted", rule: -1 });
    expect(
      hitOfKey({ ...base, tier: null, kind: null, policy_namespace: null, policy_name: null, hit_action: null, rule: null }),
    ).toBeNull();
  });
});

describe("policy screens' formatting", () => {
  it("collapses ports into ranges", async () => {
    const { portRanges } = await import(".");
    expect(portRanges([42003, 42001, 42002, 7070, 42001])).toBe("7070, 42001–42003");
    expect(portRanges([])).toBe("");
    expect(portRanges([1, 3, 5, 7], 2)).toBe("4 ports in 1–7");
  });
  it("reads policy hits", async () => {
    const { hitLabel } = await import(".");
    expect(hitLabel("0|default|knp:fme/default-deny|deny|-1")).toBe("Deny by default / fme/default-deny (end of tier)");
    expect(hitLabel("1|application|np:fme/application.engine-fmeserver|allow|0")).toBe(
      "Allow by application / fme/application.engine-fmeserver (rule 0)",
    );
    expect(hitLabel(null)).toBe("–");
  });
  it("names unused rules by direction", async () => {
    const { unusedRuleLabels } = await import(".");
    expect(unusedRuleLabels({ ingress: [1], egress: [0, 2] })).toEqual(["Ingress rule 1", "Egress rule 0", "Egress rule 2"]);
    expect(unusedRuleLabels(["egress:1", 3] as string[])).toEqual(["Egress rule 1", "Rule 3"]);
    expect(unusedRuleLabels(null)).toEqual([]);
  });
  it("counts compactly past six digits", async () => {
    const { formatCount } = await import(".");
    expect(formatCount(18230)).toBe("18,230");
    expect(formatCount(749_000)).toBe("749k");
    expect(formatCount(7_100_000)).toBe("7.1M");
    expect(formatCount(undefined)).toBe("–");
  });
});

describe("filter problems", () => {
  it("explains filters that cannot be sent, with what was meant", async () => {
    const { filterProblem } = await import("../components/FilterBar");
    expect(filterProblem("action deny")).toBe("Write the filter without spaces, as FIELD=VALUE: did you mean action=deny?");
    expect(filterProblem("action == deny")).toMatch(/did you mean action=deny\?/);
    expect(filterProblem("action=denied")).toBe("action is one of allow, deny: did you mean action=deny?");
    expect(filterProblem("action!=in:allow,dny")).toBe("action is one of allow, deny: did you mean action!=in:allow,deny?");
    expect(filterProblem("action=")).toBe("action= needs a value: action=allow or action=deny.");
    expect(filterProblem("=x")).toMatch(/^A filter is FIELD, an operator/);
    for (const ok of ["action=deny", "dest_port>=1024", "foo=bar", "dest_type=-", "action^=de"]) expect(filterProblem(ok)).toBeUndefined();
  });
  it("suggests the nearest word", async () => {
    const { didYouMean } = await import(".");
    expect(didYouMean("denied", ["allow", "deny"])).toBe("deny");
    expect(didYouMean("dts", ["src", "dst"])).toBe("dst");
    expect(didYouMean("zzz", ["src", "dst"])).toBeUndefined();
  });
});

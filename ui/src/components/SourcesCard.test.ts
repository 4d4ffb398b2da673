import { describe, expect, it } from "vitest";
import { disagreementLine, verdictSummary } from "./SourcesCard";
import type { VerdictComparison } from "../api";

const disagreement: VerdictComparison["recent"][number] = {
  end_time: 1_700_000_125,
  source: "default/tiefighter",
  dest: "default/deathstar-6fb5694d48-5hmds",
  dest_port: 80,
  protocol: "TCP",
  reporter: "dst",
  observer_action: "deny",
  observer_policies: ["CiliumNetworkPolicy default/no-landing (deny)"],
  engine_action: "allow",
  engine_policies: ["0|default|knp:default/empire-only|allow|0"],
  unmodelled: true,
};

describe("Hubble's verdicts against the engine's", () => {
  it("says how many differ and how many an unmodelled policy explains", () => {
    expect(verdictSummary({ compared: 3400, disagreed: 12, unmodelled: 10, recent: [] })).toBe(
      "12 of 3,400 verdicts differ, 10 by unmodelled policy",
    );
    expect(verdictSummary({ compared: 3400, disagreed: 2, unmodelled: 0, recent: [] })).toBe("2 of 3,400 verdicts differ");
    expect(verdictSummary({ compared: 5, disagreed: 0, unmodelled: 0, recent: [] })).toBe("verdicts agree (5)");
  });

  it("names both sides' policies for a disagreement", () => {
    expect(disagreementLine(disagreement)).toBe(
      "default/tiefighter → default/deathstar-6fb5694d48-5hmds:80/TCP: observer deny by CiliumNetworkPolicy default/no-landing (deny); " +
        "engine allow by 0|default|knp:default/empire-only|allow|0",
    );
    expect(disagreementLine({ ...disagreement, observer_policies: [], engine_policies: [] })).toBe(
      "default/tiefighter → default/deathstar-6fb5694d48-5hmds:80/TCP: observer deny; engine allow",
    );
  });
});

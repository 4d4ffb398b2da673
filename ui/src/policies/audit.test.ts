import { describe, expect, it } from "vitest";
import type { AuditCell, AuditRule, AuditSegment, PolicyAudit } from "../api";
import { auditCsv, auditMatrix, csvCell, deniedRest, portRuns, portsText, ruleText, segmentLines } from "./audit";

const allowRule = (direction: "ingress" | "egress", policy: string, rule = 0): AuditRule => ({ direction, tier: "default", policy, rule, action: "allow" });
const endOfTier: AuditRule = { direction: "ingress", tier: "default", policy: "np:shop/zones", rule: -1, action: "deny" };

const seg = (action: "allow" | "deny", first: number, last: number, seen: Partial<AuditSegment["seen"]> = {}): AuditSegment => ({
  protocol: "TCP",
  ports: { first, last },
  action,
  egress_rule: action === "allow" ? allowRule("egress", "pro:kns.shop") : allowRule("egress", "pro:kns.shop"),
  ingress_rule: action === "allow" ? allowRule("ingress", "np:shop/zones", 1) : endOfTier,
  undecidable: false,
  seen: { allowed_connections: 0, denied_connections: 0, ports: [], ...seen },
});

const cell = (source: number, dest: number, status: AuditCell["status"], segments: AuditSegment[]): AuditCell => ({
  source,
  dest,
  status,
  allowed: segments.some((s) => s.action === "allow") ? "TCP 80" : "No Connections",
  allowed_connections: segments.reduce((n, s) => n + s.seen.allowed_connections, 0),
  denied_connections: segments.reduce((n, s) => n + s.seen.denied_connections, 0),
  segments,
});

const audit = (cells: AuditCell[]): PolicyAudit => ({
  window: { from: 0, to: 3600 },
  workloads: [
    { namespace: "shop", name: "web", name_aggr: "web-5d-*", kind: "Deployment", pods: 2 },
    { namespace: "data", name: "db", name_aggr: "db-*", kind: "StatefulSet", pods: 1 },
    { namespace: "shop", name: "api", name_aggr: "api-7c-*", kind: "Deployment", pods: 3 },
    { namespace: "shop", name: "=cmd", name_aggr: "=cmd", kind: null, pods: 1 },
  ],
  cells,
  unused: [],
  denied_attempted: [],
  rules: [],
  protocols: ["TCP", "UDP", "SCTP", "ICMP"],
  flows_read: 10,
  flows_in_matrix: 8,
  questions: 100,
  notes: [],
  timings_ms: { reachability: 1, flows: 1 },
});

describe("auditMatrix", () => {
  const all: AuditCell[] = [];
  for (let s = 0; s < 4; s++) for (let d = 0; d < 4; d++) all.push(cell(s, d, "denied", [seg("deny", 1, 65535)]));
  all[2 * 4 + 0] = cell(2, 0, "allowed_used", [seg("deny", 1, 79), seg("allow", 80, 80, { allowed_connections: 5, ports: [80] }), seg("deny", 81, 65535)]);
  all[0 * 4 + 1] = cell(0, 1, "denied_attempted", [seg("deny", 1, 65535, { denied_connections: 3, ports: [5432] })]);

  it("orders workloads by namespace then name and groups the namespaces", () => {
    const m = auditMatrix(audit(all));
    expect(m.axis.order).toEqual([1, 3, 2, 0]);
    expect(m.axis.groups).toEqual([
      { namespace: "data", start: 0, count: 1 },
      { namespace: "shop", start: 1, count: 3 },
    ]);
    expect(m.cell(2, 0)?.status).toBe("allowed_used");
    expect(m.counts).toEqual({ denied_attempted: 1, allowed_used: 1, allowed_unused: 0, denied: 14 });
  });

  it("leaves out workloads with nothing allowed or attempted when asked", () => {
    const m = auditMatrix(audit(all), { hideQuiet: true });
    expect(m.axis.order).toEqual([1, 2, 0]);
    expect(m.axis.groups.map((g) => g.count)).toEqual([1, 2]);
  });
});

describe("a cell in words", () => {
  it("lists allowed and attempted segments with unused ports, and sums up the quiet rest", () => {
    const c = cell(0, 2, "allowed_used", [
      seg("deny", 1, 79),
      seg("allow", 80, 90, { allowed_connections: 7, ports: [80, 81, 85] }),
      seg("deny", 91, 65535, { denied_connections: 2, ports: [22] }),
    ]);
    const lines = segmentLines(c);
    expect(lines.map((l) => [l.ports, l.action, l.seenPorts, l.unusedPorts])).toEqual([
      ["80-90", "allow", "80-81,85", "82-84,86-90"],
      ["91-65535", "deny", "22", ""],
    ]);
    expect(lines[0].ingress).toBe("default | np:shop/zones | rule 1 | allow");
    expect(deniedRest(c)).toEqual([{ rule: "ingress default | np:shop/zones | end of tier | deny", segments: 1 }]);
  });

  it("reads ports and rules as people write them", () => {
    expect(portRuns([443, 80, 81, 82, 8080])).toEqual([
      { first: 80, last: 82 },
      { first: 443, last: 443 },
      { first: 8080, last: 8080 },
    ]);
    expect(portsText(portRuns([1, 2, 3, 7]))).toBe("1-3,7");
    expect(ruleText(null)).toBe("–");
    expect(ruleText(endOfTier)).toBe("default | np:shop/zones | end of tier | deny");
    expect(ruleText({ direction: "egress", tier: "__PROFILE__", policy: "pro:kns.shop", rule: 0, action: "allow" })).toBe("profile kns.shop | allow");
  });
});

describe("auditCsv", () => {
  it("writes one row per cell with the unused ports and the denying rules, formula-safe", () => {
    const csv = auditCsv(
      audit([
        cell(0, 2, "allowed_unused", [seg("allow", 80, 80), seg("deny", 81, 65535)]),
        cell(3, 1, "denied_attempted", [seg("deny", 1, 65535, { denied_connections: 4, ports: [22] })]),
      ]),
    );
    const lines = csv.trimEnd().split("\n");
    expect(lines[0]).toBe("source,dest,status,allowed,allowed_connections,denied_connections,allowed_unused,denied_by");
    expect(lines[1]).toBe("shop/web,shop/api,allowed_unused,TCP 80,0,0,TCP 80,");
    expect(lines[2].startsWith("shop/=cmd,data/db,")).toBe(true);
    expect(lines[2]).toContain("denied_attempted,No Connections,0,4,,default | np:shop/zones | end of tier | deny");
  });
});

describe("csvCell", () => {
  it("defuses what a spreadsheet would run and quotes what CSV must", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("@cmd")).toBe("'@cmd");
    expect(csvCell("-12")).toBe("-12");
    expect(csvCell("TCP 80; UDP 53")).toBe("TCP 80; UDP 53");
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
  });
});

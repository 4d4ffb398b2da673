// The policy audit's data, shaped for the matrix and its panels: rows and columns of
// workloads grouped by namespace, a cell's segments in words, and the CSV export.
import type { AuditCell, AuditCellStatus, AuditRule, AuditSegment, PolicyAudit, PortRange } from "../api";

export const STATUS: Record<AuditCellStatus, { label: string; hint: string }> = {
  denied_attempted: { label: "Denied & attempted", hint: "Observed connections were denied: a broken application or an attack." },
  allowed_used: { label: "Allowed & used", hint: "Policy allows it and traffic used it." },
  allowed_unused: { label: "Allowed & unused", hint: "Policy allows it but nothing was observed: a candidate for tightening." },
  denied: { label: "Denied", hint: "Policy allows nothing and nothing was attempted." },
};

/** Order of the legend and of the counts. */
export const STATUS_ORDER: AuditCellStatus[] = ["allowed_used", "allowed_unused", "denied_attempted", "denied"];

/** `80`, `42000-43000`. */
export function rangeText(r: PortRange): string {
  return r.first === r.last ? String(r.first) : `${r.first}-${r.last}`;
}

export function portsText(ranges: PortRange[]): string {
  return ranges.map(rangeText).join(",");
}

/** Sorted ports as ranges of consecutive ports. */
export function portRuns(ports: number[]): PortRange[] {
  const out: PortRange[] = [];
  for (const p of [...ports].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && p <= last.last + 1) last.last = Math.max(last.last, p);
    else out.push({ first: p, last: p });
  }
  return out;
}

/**
 * `default | np:storefront/trusted | rule 0 | allow`; the end of a tier says so, and a
 * namespace profile reads `profile kns.storefront | allow`.
 */
export function ruleText(rule: AuditRule | null): string {
  if (!rule) return "–";
  if (rule.policy.startsWith("pro:")) return `profile ${rule.policy.slice(4)} | ${rule.action}`;
  const which = rule.rule < 0 ? "end of tier" : `rule ${rule.rule}`;
  return `${rule.tier} | ${rule.policy} | ${which} | ${rule.action}`;
}

/** The policy id the Policy Board opens (`np:storefront/trusted` → kind and name), when it names a policy. */
export function rulePolicyId(rule: AuditRule | null): string | null {
  if (!rule || rule.policy.startsWith("pro:")) return null;
  return rule.policy;
}

export interface MatrixAxis {
  /** Workload indices, by namespace then name. */
  order: number[];
  /** Runs of the order that share a namespace, for the group headers. */
  groups: { namespace: string; start: number; count: number }[];
}

export interface Matrix {
  axis: MatrixAxis;
  cell: (source: number, dest: number) => AuditCell | undefined;
  counts: Record<AuditCellStatus, number>;
}

/**
 * Rows and columns of the matrix: the workloads with anything to show (a cell allowed or
 * attempted, either way), by namespace then name; `namespaces` narrows the rows and columns
 * to workloads of those namespaces when given.
 */
export function auditMatrix(audit: PolicyAudit, options: { hideQuiet?: boolean } = {}): Matrix {
  const byPair = new Map<string, AuditCell>();
  const active = new Set<number>();
  const counts: Record<AuditCellStatus, number> = { denied_attempted: 0, allowed_used: 0, allowed_unused: 0, denied: 0 };
  for (const c of audit.cells) {
    byPair.set(`${c.source}|${c.dest}`, c);
    counts[c.status] += 1;
    if (c.status !== "denied") {
      active.add(c.source);
      active.add(c.dest);
    }
  }
  const present = new Set<number>();
  for (const c of audit.cells) {
    present.add(c.source);
    present.add(c.dest);
  }
  const order = [...present]
    .filter((i) => !options.hideQuiet || active.has(i))
    .sort((a, b) => {
      const wa = audit.workloads[a];
      const wb = audit.workloads[b];
      return wa.namespace.localeCompare(wb.namespace) || wa.name.localeCompare(wb.name);
    });
  const groups: MatrixAxis["groups"] = [];
  order.forEach((w, i) => {
    const ns = audit.workloads[w].namespace;
    const last = groups[groups.length - 1];
    if (last && last.namespace === ns) last.count += 1;
    else groups.push({ namespace: ns, start: i, count: 1 });
  });
  return { axis: { order, groups }, cell: (s, d) => byPair.get(`${s}|${d}`), counts };
}

export interface SegmentLine {
  protocol: string;
  ports: string;
  action: "allow" | "deny";
  egress: string;
  ingress: string;
  allowed: number;
  denied: number;
  /** Ports seen on the segment, as ranges. */
  seenPorts: string;
  /** Allowed ports no flow used. */
  unusedPorts: string;
  undecidable: boolean;
}

function unusedOf(seg: AuditSegment): string {
  if (seg.action !== "allow") return "";
  if (!seg.ports) return seg.seen.allowed_connections + seg.seen.denied_connections > 0 ? "" : "all";
  const used = new Set(seg.seen.ports);
  const out: PortRange[] = [];
  for (let p = seg.ports.first; p <= seg.ports.last; p++) {
    if (used.has(p)) continue;
    const last = out[out.length - 1];
    if (last && last.last === p - 1) last.last = p;
    else out.push({ first: p, last: p });
  }
  return portsText(out);
}

/**
 * A cell's segments in words for its panel: every allowed segment and every segment with
 * traffic, in the order the audit gives them (protocol, then port); the quiet denied rest
 * is summed up by `deniedRest`.
 */
export function segmentLines(cell: AuditCell): SegmentLine[] {
  return cell.segments
    .filter((s) => s.action === "allow" || s.seen.allowed_connections + s.seen.denied_connections > 0)
    .map((s) => ({
      protocol: s.protocol,
      ports: s.ports ? rangeText(s.ports) : "",
      action: s.action,
      egress: ruleText(s.egress_rule),
      ingress: ruleText(s.ingress_rule),
      allowed: s.seen.allowed_connections,
      denied: s.seen.denied_connections,
      seenPorts: portsText(portRuns(s.seen.ports)),
      unusedPorts: unusedOf(s),
      undecidable: s.undecidable,
    }));
}

/** The rules that deny the quiet rest of a cell, with how many segments each. */
export function deniedRest(cell: AuditCell): { rule: string; segments: number }[] {
  const counts = new Map<string, number>();
  for (const s of cell.segments) {
    if (s.action !== "deny" || s.seen.allowed_connections + s.seen.denied_connections > 0) continue;
    const denying = s.egress_rule?.action === "deny" ? s.egress_rule : s.ingress_rule;
    const key = `${denying?.direction ?? ""} ${ruleText(denying ?? null)}`.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].map(([rule, segments]) => ({ rule, segments })).sort((a, b) => b.segments - a.segments);
}

/** A CSV cell a spreadsheet will not run as a formula (as the server's exports write them). */
export function csvCell(text: string): string {
  const formula = /^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text);
  const t = formula ? `'${text}` : text;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** The matrix as CSV: one row per cell (`source,dest,status,allowed,…`). */
export function auditCsv(audit: PolicyAudit): string {
  const label = (i: number) => `${audit.workloads[i].namespace}/${audit.workloads[i].name}`;
  const rows = [["source", "dest", "status", "allowed", "allowed_connections", "denied_connections", "allowed_unused", "denied_by"]];
  for (const c of audit.cells) {
    const unused = c.segments
      .filter((s) => s.action === "allow")
      .map((s) => {
        const u = unusedOf(s);
        return u ? `${s.protocol}${u === "all" ? "" : ` ${u}`}` : "";
      })
      .filter(Boolean)
      .join("; ");
    const deniedBy = [
      ...new Set(
        c.segments
          .filter((s) => s.action === "deny" && s.seen.denied_connections > 0)
          .map((s) => ruleText(s.egress_rule?.action === "deny" ? s.egress_rule : s.ingress_rule)),
      ),
    ].join("; ");
    rows.push([label(c.source), label(c.dest), c.status, c.allowed, String(c.allowed_connections), String(c.denied_connections), unused, deniedBy]);
  }
  return rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
}

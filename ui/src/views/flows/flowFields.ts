// Pure helpers for showing one flow log: its fields in a stable order and the deciding hit.
import { FLOW_FIELDS, formatTime, parsePolicyHit, type Flow, type PolicyHit } from "../../api";

/** The hit that decided the flow: the first allow/deny in evaluation order (passes go on). */
export function decidingHit(hits: string[]): PolicyHit | null {
  const parsed = hits.map(parsePolicyHit).filter((h): h is PolicyHit => h !== null);
  parsed.sort((a, b) => a.index - b.index);
  return parsed.find((h) => h.action === "allow" || h.action === "deny") ?? parsed[parsed.length - 1] ?? null;
}

/**
 * Every field as [name, raw value, display]. Nested lists are flattened to the names Kibana
 * shows (`source_labels.labels`, `policies.enforced_policies`); fields the server adds later
 * are listed after the known ones.
 */
export function flowFieldRows(flow: Flow): [string, unknown, string | string[]][] {
  const rec = flow as unknown as Record<string, unknown>;
  const known: readonly string[] = FLOW_FIELDS;
  const names = [...known.filter((k) => k in rec), ...Object.keys(rec).filter((k) => !known.includes(k)).sort()];
  const out: [string, unknown, string | string[]][] = [];
  for (const k of names) {
    const v = rec[k];
    if (k === "source_labels" || k === "dest_labels") {
      const labels = (v as { labels?: string[] } | null)?.labels ?? [];
      out.push([`${k}.labels`, labels, labels]);
    } else if (k === "policies") {
      const p = (v ?? {}) as Record<string, string[] | undefined>;
      for (const [pk, pv] of Object.entries(p)) out.push([`policies.${pk}`, pv ?? [], pv ?? []]);
    } else if ((k === "start_time" || k === "end_time") && typeof v === "number") {
      out.push([k, v, `${formatTime(v)} (${v})`]);
    } else if (v !== null && typeof v === "object") {
      out.push([k, v, JSON.stringify(v)]);
    } else {
      out.push([k, v, v === null || v === undefined ? "-" : String(v)]);
    }
  }
  return out;
}

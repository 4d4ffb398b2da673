// Formatting shared by the board, the policy view and the editor.

export const TIME_RANGES: { value: string; label: string }[] = [
  { value: "15m", label: "15 min" },
  { value: "1h", label: "1 hour" },
  { value: "6h", label: "6 hours" },
  { value: "24h", label: "24 hours" },
  { value: "7d", label: "7 days" },
];
export const DEFAULT_SINCE = "1h";

/** 1234 → "1,234"; 1_234_567 → "1.2M". */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1_000_000) return `${(n / 1_000_000).toFixed(1).replace(/\.0$/, "")}M`;
  if (Math.abs(n) >= 100_000) return `${Math.round(n / 1000)}k`;
  return n.toLocaleString("en-US");
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** Capitalised action as Calico writes it. */
export function actionLabel(a: string): string {
  return a ? a[0].toUpperCase() + a.slice(1).toLowerCase() : a;
}

export function timeLabel(unix: number | null | undefined): string {
  if (!unix) return "–";
  return new Date(unix * 1000).toLocaleString("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    day: "2-digit",
    month: "short",
  });
}

/** A policy hit string `<idx>|<tier>|<kind>:[<ns>/]<name>|<action>|<rule>` made readable. */
export function hitLabel(hit: string | null): string {
  if (!hit) return "–";
  const parts = hit.split("|");
  if (parts.length !== 5) return hit;
  const [, tier, policy, action, rule] = parts;
  const name = policy.replace(/^[a-z]+:/, "");
  const where = rule === "-1" ? "end of tier" : `rule ${rule}`;
  return `${actionLabel(action)} by ${tier} / ${name} (${where})`;
}

/** Collapses a list of ports into ranges: [1,2,3,7] → "1–3, 7"; past `max` ranges, "N ports in A–B". */
export function portRanges(ports: number[], max = Infinity): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(j > i ? `${sorted[i]}–${sorted[j]}` : String(sorted[i]));
    i = j + 1;
  }
  if (out.length > max) return `${sorted.length} ports in ${sorted[0]}–${sorted[sorted.length - 1]}`;
  return out.join(", ");
}

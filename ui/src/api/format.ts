// Numbers, sizes, rates, times and names as every view shows them.
import type { EndpointType } from "./types";

const NUM = new Intl.NumberFormat("en-US");

/** 1234 → "1,234". */
export function formatNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return NUM.format(Math.round(n));
}

/** 1234 → "1.2k"; for dense tables and badges. */
export function formatCompact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n * 10) / 10);
  const units = ["k", "M", "G", "T"];
  let v = n;
  let i = -1;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : Math.round(v * 10) / 10}${units[i]}`;
}

/** A count exact while it is short, compact past six digits: 1,234 · 99,999 · 123k · 1.2M. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return Math.abs(n) >= 100_000 ? formatCompact(n) : formatNumber(n);
}

/** "1 endpoint", "3 endpoints". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** A per-second rate: "12.3/s"; bits use k/M/G. */
export function formatRate(n: number, unit = ""): string {
  if (!Number.isFinite(n) || n === 0) return "0";
  if (n < 0.01) return `<0.01${unit}`;
  if (n < 10) return `${n.toFixed(2)}${unit}`;
  return `${formatCompact(n)}${unit}`;
}

const pad = (x: number) => String(x).padStart(2, "0");

/** "2026-12-06 13:40:30", local time. */
export function formatTime(unix: number): string {
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "Nov 21 17:51:30": for tables, where the year is noise. */
export function formatShortTime(unix: number | null | undefined): string {
  if (unix === null || unix === undefined || !Number.isFinite(unix)) return "–";
  const d = new Date(unix * 1000);
  return `${MONTHS[d.getMonth()]} ${d.getDate()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The endpoint's display: "namespace/name" or just the name for endpoints outside namespaces. */
export function endpointLabel(namespace: string | null | undefined, name: string | null | undefined): string {
  const n = name && name !== "-" ? name : "?";
  return namespace && namespace !== "-" ? `${namespace}/${n}` : n;
}

export const ENDPOINT_TYPES: { value: EndpointType; label: string }[] = [
  { value: "wep", label: "Workload (WEP)" },
  { value: "hep", label: "Host (HEP)" },
  { value: "ns", label: "Network set" },
  { value: "net", label: "Network" },
];

/** Collapses ports into ranges: [1,2,3,7] → "1–3, 7"; past `max` ranges, "N ports in A–B". */
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
  if (out.length > max) return `${formatNumber(sorted.length)} ports in ${sorted[0]}–${sorted[sorted.length - 1]}`;
  return out.join(", ");
}

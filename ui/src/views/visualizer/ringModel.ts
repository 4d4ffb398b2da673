// Pure layout of the Flow Visualizer: three rings (namespaces outside, aggregated names, flows
// inside) and a ribbon per flow between its two ends. Every angle is proportional to volume;
// a minimum share keeps small flows (e.g. a few denied probes) visible and clickable.
import type { AggregateRow } from "../../api";

export type Metric = "num_flows" | "bytes" | "packets";
export type Status = "allowed" | "denied";

/** Namespace name for endpoints outside namespaces (networks, global sets, hosts). */
export const EXTERNAL = "(external)";

export interface FlowKey {
  source_namespace: string;
  source_name: string;
  dest_namespace: string;
  dest_name: string;
  proto: string;
  port: number | null;
  status: Status;
}

export interface RingFlow extends FlowKey {
  id: string;
  value: number;
  /** Rates over the query's time range, summed over merged rows. */
  cps: number;
  pps: number;
  bps: number;
}

export interface Arc {
  id: string;
  label: string;
  namespace: string;
  name?: string;
  startAngle: number;
  endAngle: number;
  value: number;
  denied: number;
}

/** One end of a flow on the inner ring. */
export interface FlowArc extends Arc {
  flow: RingFlow;
  end: "source" | "dest";
}

export interface Ribbon {
  id: string;
  flow: RingFlow;
  source: { startAngle: number; endAngle: number };
  target: { startAngle: number; endAngle: number };
}

export interface RingLayout {
  namespaces: Arc[];
  names: Arc[];
  flows: FlowArc[];
  ribbons: Ribbon[];
  total: number;
}

function ns(v: string | null | undefined): string {
  return v && v !== "-" ? v : EXTERNAL;
}

export function rowValue(row: AggregateRow, metric: Metric): number {
  if (metric === "bytes") return row.bytes_in + row.bytes_out;
  if (metric === "packets") return row.packets_in + row.packets_out;
  return row.num_flows;
}

/** Aggregate rows (group_by=edge) as flows; rows with the same key are merged. */
export function rowsToFlows(rows: AggregateRow[], metric: Metric = "num_flows"): RingFlow[] {
  const byId = new Map<string, RingFlow>();
  for (const row of rows) {
    const k = row.key;
    const status: Status = k.action === "deny" || (k.action === null && row.denied_flows > row.allowed_flows) ? "denied" : "allowed";
    const f: FlowKey = {
      source_namespace: ns(k.source_namespace),
      source_name: k.source_name_aggr ?? "-",
      dest_namespace: ns(k.dest_namespace),
      dest_name: k.dest_name_aggr ?? "-",
      proto: k.proto ?? "-",
      port: k.dest_port,
      status,
    };
    const id = `${f.source_namespace}/${f.source_name}>${f.dest_namespace}/${f.dest_name}:${f.proto}/${f.port ?? "-"}:${status}`;
    const have = byId.get(id) ?? { ...f, id, value: 0, cps: 0, pps: 0, bps: 0 };
    have.value += rowValue(row, metric);
    have.cps += row.connections_per_second;
    have.pps += row.packets_per_second;
    have.bps += row.bits_per_second;
    byId.set(id, have);
  }
  return [...byId.values()];
}

export interface RingFilter {
  namespace?: string;
  name?: string;
  status?: Status;
}

/** Keeps flows with an end in the namespace / name, and of the status. */
export function filterFlows(flows: RingFlow[], f: RingFilter): RingFlow[] {
  return flows.filter(
    (x) =>
      (!f.namespace || x.source_namespace === f.namespace || x.dest_namespace === f.namespace) &&
      (!f.name || x.source_name === f.name || x.dest_name === f.name) &&
      (!f.status || x.status === f.status),
  );
}

const TAU = Math.PI * 2;

/**
 * Lays the rings out over the full circle. Namespaces and names are sorted by name so a refresh
 * moves arcs only as much as volumes change; flows within a name by their other end.
 */
export function layoutRings(
  flows: RingFlow[],
  opts: { nsPad?: number; namePad?: number; minShare?: number } = {},
): RingLayout {
  const nsPad = opts.nsPad ?? 0.02;
  const namePad = opts.namePad ?? 0.004;
  const minShare = opts.minShare ?? 0.004;
  const empty: RingLayout = { namespaces: [], names: [], flows: [], ribbons: [], total: 0 };
  if (!flows.length) return empty;
  const rawTotal = flows.reduce((s, f) => s + f.value, 0);
  // Each flow appears at both ends; the floor keeps the smallest ones a few pixels wide.
  const floor = rawTotal > 0 ? (rawTotal * minShare) / 2 : 1;
  const size = (f: RingFlow) => Math.max(f.value, floor);

  type End = { flow: RingFlow; end: "source" | "dest"; other: string };
  const tree = new Map<string, Map<string, End[]>>();
  const put = (n: string, name: string, e: End) => {
    let names = tree.get(n);
    if (!names) tree.set(n, (names = new Map()));
    let ends = names.get(name);
    if (!ends) names.set(name, (ends = []));
    ends.push(e);
  };
  for (const f of flows) {
    put(f.source_namespace, f.source_name, { flow: f, end: "source", other: `${f.dest_namespace}/${f.dest_name}` });
    put(f.dest_namespace, f.dest_name, { flow: f, end: "dest", other: `${f.source_namespace}/${f.source_name}` });
  }
  const nsNames = [...tree.keys()].sort((a, b) => (a === EXTERNAL ? 1 : b === EXTERNAL ? -1 : a.localeCompare(b)));
  const nameCount = [...tree.values()].reduce((s, m) => s + m.size, 0);
  const padTotal = nsPad * nsNames.length + namePad * nameCount;
  // Pads never take more than a third of the circle, however many names there are.
  const scalePad = padTotal > TAU / 3 ? TAU / 3 / padTotal : 1;
  const total = [...tree.values()].reduce(
    (s, m) => s + [...m.values()].reduce((t, ends) => t + ends.reduce((u, e) => u + size(e.flow), 0), 0),
    0,
  );
  const k = (TAU - padTotal * scalePad) / total;

  const out: RingLayout = { namespaces: [], names: [], flows: [], ribbons: [], total: rawTotal };
  const ends = new Map<string, { source?: [number, number]; dest?: [number, number] }>();
  let a = (nsPad * scalePad) / 2;
  for (const n of nsNames) {
    const names = tree.get(n)!;
    const nsStart = a;
    let nsValue = 0;
    let nsDenied = 0;
    for (const name of [...names.keys()].sort()) {
      const list = names.get(name)!.sort((x, y) => x.other.localeCompare(y.other) || x.flow.id.localeCompare(y.flow.id));
      const nameStart = a;
      let value = 0;
      let denied = 0;
      for (const e of list) {
        const span = size(e.flow) * k;
        const fa: FlowArc = {
          id: `${e.flow.id}#${e.end}`,
          label: e.flow.id,
          namespace: n,
          name,
          startAngle: a,
          endAngle: a + span,
          value: e.flow.value,
          denied: e.flow.status === "denied" ? e.flow.value : 0,
          flow: e.flow,
          end: e.end,
        };
        out.flows.push(fa);
        const rec = ends.get(e.flow.id) ?? {};
        rec[e.end] = [a, a + span];
        ends.set(e.flow.id, rec);
        a += span;
        value += e.flow.value;
        denied += fa.denied;
      }
      out.names.push({ id: `${n}/${name}`, label: name, namespace: n, name, startAngle: nameStart, endAngle: a, value, denied });
      nsValue += value;
      nsDenied += denied;
      a += namePad * scalePad;
    }
    a -= namePad * scalePad;
    out.namespaces.push({ id: n, label: n, namespace: n, startAngle: nsStart, endAngle: a, value: nsValue, denied: nsDenied });
    a += nsPad * scalePad;
  }
  for (const f of flows) {
    const e = ends.get(f.id);
    if (!e?.source || !e.dest) continue;
    out.ribbons.push({
      id: f.id,
      flow: f,
      source: { startAngle: e.source[0], endAngle: e.source[1] },
      target: { startAngle: e.dest[0], endAngle: e.dest[1] },
    });
  }
  // Thin ribbons on top, so a small denied flow is not buried under a thick allowed one.
  out.ribbons.sort((x, y) => y.flow.value - x.flow.value);
  return out;
}

export interface PlacedLabel<T> {
  arc: T;
  text: string;
  x: number;
  y: number;
  anchor: "start" | "middle" | "end";
  baseline: "auto" | "middle" | "hanging";
}

/**
 * Horizontal labels just outside a ring of radius `r`, anchored away from the circle. A label
 * is dropped when its box (estimated from its length) would overlap one already placed, widest
 * arcs first, so the big namespaces always get theirs.
 */
export function placeLabels<T extends Arc>(
  arcs: T[],
  r: number,
  opts: { charWidth?: number; lineHeight?: number; maxChars?: number } = {},
): PlacedLabel<T>[] {
  const charWidth = opts.charWidth ?? 6.6;
  const lineHeight = opts.lineHeight ?? 14;
  const maxChars = opts.maxChars ?? 22;
  const boxes: { x0: number; x1: number; y0: number; y1: number }[] = [];
  const out: PlacedLabel<T>[] = [];
  const bySize = [...arcs].sort((a, b) => b.endAngle - b.startAngle - (a.endAngle - a.startAngle));
  for (const arc of bySize) {
    if (arc.endAngle - arc.startAngle < (lineHeight / r) * 0.5) continue;
    const mid = (arc.startAngle + arc.endAngle) / 2;
    const x = Math.sin(mid) * r;
    const y = -Math.cos(mid) * r;
    const text = arc.label.length > maxChars ? `${arc.label.slice(0, maxChars - 2)}…` : arc.label;
    const w = text.length * charWidth;
    const anchor = Math.abs(x) < r * 0.15 ? "middle" : x > 0 ? "start" : "end";
    const baseline = y < -r * 0.9 ? "auto" : y > r * 0.9 ? "hanging" : "middle";
    const x0 = anchor === "start" ? x : anchor === "end" ? x - w : x - w / 2;
    const y0 = baseline === "auto" ? y - lineHeight : baseline === "hanging" ? y : y - lineHeight / 2;
    const box = { x0: x0 - 2, x1: x0 + w + 2, y0, y1: y0 + lineHeight };
    if (boxes.some((b) => b.x0 < box.x1 && box.x0 < b.x1 && b.y0 < box.y1 && box.y0 < b.y1)) continue;
    boxes.push(box);
    out.push({ arc, text, x, y, anchor, baseline });
  }
  return out;
}

export interface NamespaceRates {
  namespace: string;
  allowed: { cps: number; pps: number; bps: number };
  denied: { cps: number; pps: number; bps: number };
}

/** Connections, packets and bits per second per namespace (as either end), split by status. */
export function namespaceRates(flows: RingFlow[]): NamespaceRates[] {
  const m = new Map<string, NamespaceRates>();
  const get = (n: string) => {
    let r = m.get(n);
    if (!r)
      m.set(
        n,
        (r = { namespace: n, allowed: { cps: 0, pps: 0, bps: 0 }, denied: { cps: 0, pps: 0, bps: 0 } }),
      );
    return r;
  };
  for (const f of flows) {
    // A flow counts once per namespace, even when both ends are in it.
    for (const n of new Set([f.source_namespace, f.dest_namespace])) {
      const r = get(n)[f.status];
      r.cps += f.cps;
      r.pps += f.pps;
      r.bps += f.bps;
    }
  }
  return [...m.values()].sort(
    (a, b) => b.denied.cps - a.denied.cps || b.allowed.cps - a.allowed.cps || a.namespace.localeCompare(b.namespace),
  );
}

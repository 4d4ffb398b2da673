// The bar on top of every traffic view: time range, filter chips, label selectors, and the
// view's own controls on the right. Autocompletion comes from the inventory and labels.
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { FIELD_DOMAINS, api, type FlowFieldName, type FlowQuery, type Health, type Inventory, type Labels } from "../api";
import { FilterBar, LabelSelectors, labelSelectorSuggestions } from "./FilterBar";
import { TimeRangePicker } from "./TimeRangePicker";

// Inventory, labels and health change rarely; one copy for the whole app, refreshed per minute.
// The inventory (every endpoint of the cluster) is only fetched once someone types a filter.
const cache: {
  at: number;
  invAt: number;
  inv?: Inventory;
  labels?: Labels;
  health?: Health;
  pending?: Promise<void>;
  invPending?: Promise<void>;
} = { at: 0, invAt: 0 };
const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());

function refreshCache(): Promise<void> {
  if (cache.pending) return cache.pending;
  cache.pending = Promise.allSettled([api.labels(), api.health()]).then(([labels, health]) => {
    if (labels.status === "fulfilled") cache.labels = labels.value;
    if (health.status === "fulfilled") cache.health = health.value;
    cache.at = Date.now();
    cache.pending = undefined;
    notify();
  });
  return cache.pending;
}

/** Loads the inventory for autocompletion (at most once a minute). */
export function requestInventory(): void {
  if (cache.invPending || Date.now() - cache.invAt < 60_000) return;
  cache.invPending = api.inventory().then(
    (inv) => {
      cache.inv = inv;
      cache.invAt = Date.now();
      cache.invPending = undefined;
      notify();
    },
    () => {
      cache.invPending = undefined;
    },
  );
}

/** Inventory, labels and health shared by the views (undefined until loaded). */
export function useClusterInfo(): { inventory?: Inventory; labels?: Labels; health?: Health } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((n) => n + 1);
    listeners.add(l);
    if (Date.now() - cache.at > 60_000) void refreshCache();
    return () => {
      listeners.delete(l);
    };
  }, []);
  return { inventory: cache.inv, labels: cache.labels, health: cache.health };
}

/** Known values of a flow field, for the filter input's autocompletion. */
export function fieldValues(inv: Inventory | undefined, field: string): string[] {
  const domain = FIELD_DOMAINS[field as FlowFieldName];
  if (domain) return [...domain];
  if (!inv) return [];
  if (field.endsWith("_namespace")) return inv.namespaces.map((n) => n.name).sort();
  if (field === "dest_service_name") return [...new Set(inv.services.map((s) => String(s.name ?? "")))].sort();
  if (field.endsWith("_name_aggr")) {
    const names = new Set<string>(["pub", "pvt"]);
    for (const e of inv.endpoints) if (e.name_aggr) names.add(e.name_aggr);
    for (const s of inv.network_sets) if (typeof s.name === "string") names.add(s.name);
    return [...names].sort();
  }
  if (field.endsWith("_name")) return inv.endpoints.map((e) => e.name).sort();
  return [];
}

/**
 * Time range, label selectors and the view's own controls (children) on the first row; the
 * filter chips on the second.
 */
export function QueryBar({
  query,
  onChange,
  children,
}: {
  query: FlowQuery;
  onChange: (q: FlowQuery) => void;
  children?: ReactNode;
}) {
  const { inventory, labels, health } = useClusterInfo();
  const values = useCallback((field: string) => fieldValues(inventory, field), [inventory]);
  return (
    <div className="query-bar" onFocus={requestInventory}>
      <div className="query-bar-row">
        <TimeRangePicker
          value={{ since: query.since, from: query.from, to: query.to }}
          dataMax={health?.data_time?.max}
          onChange={(r) => onChange({ ...query, since: r.since, from: r.from, to: r.to })}
        />
        <LabelSelectors query={query} onChange={onChange} suggestions={labelSelectorSuggestions(labels?.keys)} />
        {children && <div className="query-bar-actions">{children}</div>}
      </div>
      <FilterBar query={query} onChange={onChange} values={values} showSelectors={false} />
    </div>
  );
}

import { useEffect, useState } from "react";
import { api, formatCount, formatShortTime, type ClusterConnection, type KindWatch } from "../api";

/** How often the card asks for fresh figures. */
const REFRESH_MS = 5_000;

/** The connection's state in two words, and whether it is healthy. */
export function connectionState(c: ClusterConnection): { text: string; tone: "ok" | "bad" | "" } {
  if (!c.connected) return { text: "snapshot", tone: "" };
  const failing = (c.kinds ?? []).filter((k) => k.state === "retrying");
  if (!c.ready) return { text: c.synced ? "compiling…" : "syncing…", tone: "" };
  if (failing.length > 0) return { text: `${failing.length} watch${failing.length > 1 ? "es" : ""} retrying`, tone: "bad" };
  return { text: "watching", tone: "ok" };
}

/** A kind's line in the tooltip: what it is doing and why not more. */
export function kindLine(k: KindWatch): string {
  const state = k.state.replace("_", " ");
  const why = k.state === "not_served" ? k.reason : k.last_error;
  const figures = k.state === "not_served" ? "" : ` · ${formatCount(k.objects)} objects`;
  return `${k.resource}: ${state}${figures}${why ? ` — ${why}` : ""}`;
}

/** The cluster the inventory follows (or "snapshot"), in the navigation's footer. */
export function ClusterCard() {
  const [cluster, setCluster] = useState<ClusterConnection | null>();
  useEffect(() => {
    let stop = false;
    const controller = new AbortController();
    const load = () =>
      api.cluster(controller.signal).then(
        (c) => !stop && setCluster(c),
        () => !stop && setCluster(null),
      );
    load();
    const t = window.setInterval(load, REFRESH_MS);
    return () => {
      stop = true;
      controller.abort();
      window.clearInterval(t);
    };
  }, []);
  if (!cluster) return null;
  const state = connectionState(cluster);
  if (!cluster.connected) {
    return (
      <section className="cluster-card" aria-label="Inventory" data-testid="cluster" data-mode="snapshot">
        <div className="cluster-head" title="The inventory is a snapshot of manifests (serve --snapshot), not a live cluster">
          <span className="dot" />
          <span className="cluster-name">Snapshot</span>
          <span className="cluster-figure">rev {cluster.inventory_revision}</span>
        </div>
      </section>
    );
  }
  const kinds = cluster.kinds ?? [];
  const skipped = cluster.skipped_kinds ?? [];
  const problems = kinds.filter((k) => k.state === "retrying");
  const name = cluster.context ?? cluster.cluster ?? (cluster.in_cluster ? "in-cluster" : cluster.server);
  const lastEvent = cluster.last_event_at ?? cluster.last_change_at;
  const title = [
    `${cluster.server}${cluster.cluster ? ` (cluster ${cluster.cluster})` : ""}`,
    `watch revision ${cluster.watch_revision ?? 0}, inventory revision ${cluster.inventory_revision}`,
    ...kinds.map(kindLine),
  ].join("\n");
  const readOnly = cluster.write?.read_only ?? true;
  return (
    <section className="cluster-card" aria-label="Cluster" data-testid="cluster" data-mode="cluster" data-ready={cluster.ready ? "true" : "false"}>
      <div className="cluster-head" title={title}>
        <span className={`dot ${state.tone}`} />
        <span className="cluster-name">{name}</span>
        <span className={`cluster-state ${state.tone}`} data-testid="cluster-state">
          {state.text}
        </span>
      </div>
      <div className="cluster-figures">
        <span data-testid="cluster-revision">rev {cluster.inventory_revision}</span>
        <span title="Last change the watch received">{lastEvent ? formatShortTime(lastEvent / 1000) : "no event yet"}</span>
      </div>
      {problems.map((k) => (
        <div className="cluster-issue" key={k.resource} title={k.last_error}>
          {k.resource}: {k.last_error ?? "retrying"}
        </div>
      ))}
      <div className="cluster-notes">
        {skipped.length > 0 && (
          <span title={skipped.map((s) => `${s.resource}: ${s.reason ?? "not served"}`).join("\n")} data-testid="cluster-skipped">
            {skipped.length} kind{skipped.length > 1 ? "s" : ""} not served
          </span>
        )}
        {(cluster.skipped_objects ?? 0) > 0 && <span>{formatCount(cluster.skipped_objects)} objects skipped</span>}
        <span
          className={readOnly ? "read-only" : "writable"}
          data-testid="cluster-write"
          title={
            cluster.write?.error ??
            (readOnly ? "Flowlens may not write policies: the Policy Editor offers the YAML to download" : "The Policy Editor applies saves to the cluster")
          }
        >
          {readOnly ? "read-only" : "writes policies"}
        </span>
      </div>
    </section>
  );
}

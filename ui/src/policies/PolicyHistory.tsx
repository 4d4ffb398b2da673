// A policy's history: the audit log's changes (who changed it here, when, how: saved,
// deleted, applied to the cluster) and, connected to a cluster, every revision its watch saw
// (changes made with kubectl too), each as a line diff of its YAML. Only changes of policies
// the user may read are listed (the server filters them).
import { useState } from "react";
import { api, useApi } from "../api";
import { Icon } from "../components/Icon";
import { ErrorBanner } from "../components/States";
import { type HistoryChange, lineDiff, mergeHistory, withContext } from "./diff";

const ACTIONS: Record<string, string> = {
  save: "saved",
  delete: "deleted",
  apply: "applied to the cluster",
  "cluster-delete": "deleted from the cluster",
  "watch-observed": "held",
  "watch-created": "created",
  "watch-updated": "changed",
  "watch-deleted": "deleted",
};

function when(t: number): string {
  return new Date(t * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function PolicyHistory({ id }: { id: string }) {
  const history = useApi((s) => api.audit(id, s), id, 15_000);
  const watched = useApi((s) => api.policyRevisions(id, s), id, 15_000);
  const [open, setOpen] = useState(true);
  const entries = mergeHistory(history.data?.entries ?? [], watched.data?.revisions ?? []);
  const recorded = history.data?.recorded || watched.data?.watched;
  return (
    <section className="card pl-panel" data-testid="policy-history">
      <button type="button" className="pl-panel-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        <Icon name={open ? "up" : "down"} size={14} /> History <span className="count-pill">{entries.length}</span>
      </button>
      {open && history.error && <ErrorBanner error={history.error} onRetry={history.reload} />}
      {open && watched.error && <ErrorBanner error={watched.error} onRetry={watched.reload} />}
      {open && history.data && !recorded && <div className="pl-card-empty">This server keeps no audit log.</div>}
      {open && recorded && entries.length === 0 && (
        <div className="pl-card-empty">No change recorded since the audit log began: the policy is as it was loaded.</div>
      )}
      {open && entries.length > 0 && (
        <ol className="pl-history">
          {[...entries].reverse().map((e) => (
            <HistoryEntry key={e.key} e={e} />
          ))}
        </ol>
      )}
    </section>
  );
}

function HistoryEntry({ e }: { e: HistoryChange }) {
  const [full, setFull] = useState(false);
  const lines = lineDiff(e.before, e.after);
  const changes = withContext(lines, 2);
  const trimmed = changes.length !== lines.length || changes.includes(null);
  const shown = full ? lines : changes;
  const added = lines.filter((l) => l.kind === "added").length;
  const removed = lines.filter((l) => l.kind === "removed").length;
  return (
    <li className="pl-history-entry" data-testid="history-entry">
      <div className="pl-history-head">
        <b className="who">{e.user === "cluster" ? "the cluster" : e.user}</b>{" "}
        <span className="what">{ACTIONS[e.action] ?? e.action}</span> it
        <span className="when"> · {when(e.time)}</span>
        <span className="stat">
          <span className="add">+{added}</span> <span className="del">−{removed}</span>
        </span>
        {trimmed && (
          <button type="button" className="btn btn-small" onClick={() => setFull(!full)}>
            {full ? "Changes only" : "Whole YAML"}
          </button>
        )}
      </div>
      <pre className="pl-diff" data-testid="history-diff">
        {shown.map((l, i) =>
          l === null ? (
            <span key={i} className="gap">
              {"⋯\n"}
            </span>
          ) : (
            <span key={i} className={l.kind}>
              {`${l.kind === "added" ? "+" : l.kind === "removed" ? "−" : " "} ${l.text}\n`}
            </span>
          ),
        )}
      </pre>
    </li>
  );
}

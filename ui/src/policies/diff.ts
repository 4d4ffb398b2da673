import type { AuditEntry, PolicyRevision } from "../api";
// A line diff of two texts (a policy's YAML before and after a change), for the history.

export type DiffLine = { kind: "same" | "added" | "removed"; text: string };

/** Lines beyond which the diff shows everything removed then added (the table would be large). */
const MAX_LINES = 2000;

/** The lines of `before` and `after` in order, each kept, removed or added (a longest common subsequence). */
export function lineDiff(before: string | null, after: string | null): DiffLine[] {
  const a = before ? before.replace(/\n$/, "").split("\n") : [];
  const b = after ? after.replace(/\n$/, "").split("\n") : [];
  if (a.length > MAX_LINES || b.length > MAX_LINES) {
    return [...a.map((text) => ({ kind: "removed" as const, text })), ...b.map((text) => ({ kind: "added" as const, text }))];
  }
  // common[i][j]: the longest common subsequence of a[i..] and b[j..].
  const common: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: "same", text: a[i] });
      i++;
      j++;
    } else if (common[i + 1][j] >= common[i][j + 1]) {
      out.push({ kind: "removed", text: a[i++] });
    } else {
      out.push({ kind: "added", text: b[j++] });
    }
  }
  while (i < a.length) out.push({ kind: "removed", text: a[i++] });
  while (j < b.length) out.push({ kind: "added", text: b[j++] });
  return out;
}

/** The changed lines with `context` unchanged lines around each change; gaps are null. */
export function withContext(lines: DiffLine[], context = 2): (DiffLine | null)[] {
  const keep = lines.map(() => false);
  lines.forEach((l, i) => {
    if (l.kind === "same") return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out: (DiffLine | null)[] = [];
  lines.forEach((l, i) => {
    if (keep[i]) out.push(l);
    else if (out.length === 0 || out[out.length - 1] !== null) out.push(null);
  });
  // No gap marker after the last change.
  while (out.length && out[out.length - 1] === null) out.pop();
  return out;
}

/** A change in a policy's history: one written here (the audit log) or seen by the watch. */
export interface HistoryChange {
  /** Unix seconds. */
  time: number;
  /** Who made it; `cluster` for a change the watch saw. */
  user: string;
  action: string;
  before: string | null;
  after: string | null;
  /** Tells changes apart within one second. */
  key: string;
}

/**
 * The audit log's entries and the watch's revisions of one policy as one history, oldest
 * first. Each revision is held against the one before it; the first one listed
 * (`observed`) is the policy as the watch found it, shown whole.
 */
export function mergeHistory(entries: AuditEntry[], revisions: PolicyRevision[]): HistoryChange[] {
  const out: HistoryChange[] = entries.map((e, i) => ({
    time: e.time,
    user: e.user,
    action: e.action,
    before: e.before,
    after: e.after,
    key: `audit-${i}-${e.revision}`,
  }));
  revisions.forEach((r, i) => {
    out.push({
      time: Math.floor(r.at / 1000),
      user: "cluster",
      action: `watch-${r.kind}`,
      before: i > 0 ? revisions[i - 1].yaml : null,
      after: r.yaml,
      key: `watch-${i}-${r.resource_version ?? ""}`,
    });
  });
  // Stable: within one second the audit entry (the save) comes before what the watch saw.
  return out.sort((a, b) => a.time - b.time);
}

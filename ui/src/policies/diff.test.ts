import { describe, expect, it } from "vitest";
import { lineDiff, mergeHistory, withContext } from "./diff";

describe("the history's line diff", () => {
  it("keeps common lines and marks the rest", () => {
    const before = "a: 1\nb: 2\nc: 3\n";
    const after = "a: 1\nb: 20\nc: 3\nd: 4\n";
    expect(lineDiff(before, after)).toEqual([
      { kind: "same", text: "a: 1" },
      { kind: "removed", text: "b: 2" },
      { kind: "added", text: "b: 20" },
      { kind: "same", text: "c: 3" },
      { kind: "added", text: "d: 4" },
    ]);
  });

  it("shows a creation as added lines and a deletion as removed ones", () => {
    expect(lineDiff(null, "x\ny")).toEqual([
      { kind: "added", text: "x" },
      { kind: "added", text: "y" },
    ]);
    expect(lineDiff("x", null)).toEqual([{ kind: "removed", text: "x" }]);
    expect(lineDiff(null, null)).toEqual([]);
  });

  it("keeps a few lines of context around changes", () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`).join("\n");
    const after = before.replace("l10", "L10");
    const shown = withContext(lineDiff(before, after), 1);
    expect(shown).toEqual([
      null,
      { kind: "same", text: "l9" },
      { kind: "removed", text: "l10" },
      { kind: "added", text: "L10" },
      { kind: "same", text: "l11" },
    ]);
  });
});

describe("a policy's history", () => {
  it("interleaves the audit log and the watch's revisions by time, each revision against the one before", () => {
    const audit = [
      { time: 200, user: "alice", action: "apply", policy: "np:a/x", tier: "default", namespace: "a", before: "v: 1\n", after: "v: 2\n", revision: 3 },
    ];
    const revisions = [
      { at: 100_000, resource_version: "10", kind: "observed" as const, yaml: "v: 1\n" },
      { at: 200_500, resource_version: "11", kind: "updated" as const, yaml: "v: 2\n" },
      { at: 300_000, resource_version: "11", kind: "deleted" as const, yaml: null },
    ];
    const history = mergeHistory(audit, revisions);
    expect(history.map((h) => [h.time, h.user, h.action])).toEqual([
      [100, "cluster", "watch-observed"],
      [200, "alice", "apply"],
      [200, "cluster", "watch-updated"],
      [300, "cluster", "watch-deleted"],
    ]);
    expect(history[0].before).toBeNull();
    expect(history[2].before).toBe("v: 1\n");
    expect(history[3]).toMatchObject({ before: "v: 2\n", after: null });
    expect(new Set(history.map((h) => h.key)).size).toBe(4);
  });
});

import { describe, expect, it } from "vitest";
import { lineDiff, withContext } from "./diff";

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

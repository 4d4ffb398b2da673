// A node:test reporter that prints, once every test has run, the tests that took longest, so a
// slow test or one that waits out its timeouts shows up in every run's output. Used beside the
// spec reporter by run-e2e.mjs.
import path from "node:path";

const SHOWN = 10;

export default async function* slowest(source) {
  const timings = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, file, details } = event.data;
    // A file's own entry (its name is its path) holds its tests' times already.
    if (details?.type === "suite" || (file && name === file)) continue;
    timings.push({ name, file: file ? path.basename(file) : "", ms: details?.duration_ms ?? 0, ok: event.type === "test:pass" });
  }
  if (!timings.length) return;
  timings.sort((a, b) => b.ms - a.ms);
  const total = timings.reduce((t, x) => t + x.ms, 0);
  yield `\nslowest tests (of ${timings.length}, ${(total / 1000).toFixed(1)} s in all):\n`;
  for (const t of timings.slice(0, SHOWN)) {
    yield `  ${(t.ms / 1000).toFixed(1).padStart(6)} s  ${t.ok ? "" : "FAILED "}${t.file}: ${t.name}\n`;
  }
}

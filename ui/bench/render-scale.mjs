// UI render benchmark: the Service Graph of the `scale` scenario (1,000 workloads in 50
// namespaces, 200 policies) with every namespace expanded, in headless Chromium.
//
//   node ui/bench/render-scale.mjs [--runs 5] [--workloads 1000] [--namespaces 50] [--policies 200]
//                                  [--view graph|visualizer]
//
// Time-to-rendered is measured in the page: from navigation start to the first frame painted
// after the graph's elements are in place (the view's `flowlens-graph-rendered` mark), so it
// includes loading the UI, the /api/graph request and Cytoscape's work. Prints each run and
// the median.
import { launchBrowser, startDemo, waitFor, getJson } from "../tests/e2e/harness.mjs";
import os from "node:os";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const runs = Number(arg("runs", 5));
const workloads = Number(arg("workloads", 1000));
const namespaces = Number(arg("namespaces", 50));
const policies = Number(arg("policies", 200));
const view = arg("view", "graph");

// Real time (speed 1): a sped-up demo would generate traffic on the same cores the browser uses.
const demo = await startDemo({
  scenario: "scale",
  speed: 1,
  args: ["--workloads", String(workloads), "--namespaces", String(namespaces), "--policies", String(policies)],
  timeoutMs: 180_000,
});
const browser = await launchBrowser();
try {
  // Wait until traffic from (nearly) every workload is stored, so the graph is full size.
  const graph = await waitFor(
    async () => {
      const g = await getJson(demo.url, "api/graph?expand=*");
      const wl = g.nodes.filter((n) => n.kind === "workload").length;
      return wl >= workloads * 0.95 ? g : null;
    },
    { timeoutMs: 180_000, intervalMs: 2000, what: `${workloads} workloads in the graph` },
  );
  console.log(`graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges`);
  const hash = view === "visualizer" ? "#/visualizer" : "#/graph?expand=*";
  const times = [];
  const renders = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const page = await context.newPage();
    await page.goto(new URL(hash, demo.url).toString());
    const ms = await page.waitForFunction(
      (v) => {
        if (v === "visualizer") {
          const r = window.__flowlensVizRender;
          return r && r.flows > 0 ? new Promise((res) => requestAnimationFrame(() => res(performance.now()))) : null;
        }
        const m = performance.getEntriesByName("flowlens-graph-rendered");
        return m.length ? window.__flowlensGraphRender.at : null;
      },
      view,
      { timeout: 60_000, polling: 20 },
    );
    const value = await ms.jsonValue();
    const info = await page.evaluate(() => window.__flowlensGraphRender ?? window.__flowlensVizRender);
    times.push(value);
    if (typeof info?.ms === "number") renders.push(info.ms);
    console.log(`run ${i + 1}: ${value.toFixed(0)} ms to rendered (${JSON.stringify(info)})`);
    await context.close();
  }
  times.sort((a, b) => a - b);
  renders.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const renderMedian = renders.length ? renders[Math.floor(renders.length / 2)] : NaN;
  console.log(
    `\n${view} render, scale scenario (${workloads} workloads, ${namespaces} namespaces, ${policies} policies): ` +
      `median ${median.toFixed(0)} ms over ${runs} runs (min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)}), ` +
      (Number.isNaN(renderMedian) ? "" : `of which data → painted ${renderMedian.toFixed(0)} ms; `) +
      `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}`,
  );
} finally {
  await browser.close();
  await demo.stop();
}

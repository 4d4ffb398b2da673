// Accessibility of every view against the storefront demo: axe-core's WCAG 2 A/AA rules find
// no serious or critical violation on the Service Graph (with an edge open), the Flow
// Visualizer, the Flows table (with a row open), the Policy Board, a policy's view, the editor
// and a new policy.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, flowsLoaded, getJson, launchBrowser, openPage, seriousA11yViolations, sharedDemo, waitFor } from "./harness.mjs";

let demo;
let browser;
before(async () => {
  demo = await sharedDemo();
  browser = await launchBrowser();
  await ensureStep(demo.url, "rogue");
  await waitFor(async () => (await getJson(demo.url, "api/flows?filter=action%3Ddeny&limit=1")).total > 0, {
    timeoutMs: 45_000,
    intervalMs: 1000,
    what: "denied flows in the store",
  });
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

async function check(page, what) {
  assert.deepEqual(await seriousA11yViolations(page), [], `${what}: serious accessibility violations`);
}

test("the Service Graph, with an edge's panel open", async () => {
  const graph = await getJson(demo.url, "api/graph?since=15m&expand=storefront");
  const edge = graph.edges.find((e) => e.status === "denied" && !e.backend_hop) ?? graph.edges[0];
  const q = new URLSearchParams({ since: "15m", expand: "storefront", edge_source: edge.source, edge_target: edge.target });
  const page = await openPage(browser, demo.url, `#/graph?${q}`);
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  await page.locator('[data-testid="edge-panel"] [data-testid="edge-policy"]').first().waitFor();
  await page.locator('[data-testid="graph-flows"] [data-testid="flow-results"][aria-busy="false"]').waitFor();
  await check(page, "Service Graph");
  assert.deepEqual(page.errors, []);
});

test("the Flow Visualizer", async () => {
  const page = await openPage(browser, demo.url, "#/visualizer?since=15m&mode=status");
  await page.locator('[data-testid="viz-ribbon"]').first().waitFor();
  await check(page, "Flow Visualizer");
  assert.deepEqual(page.errors, []);
});

test("the Flows table, with a row open", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m&filter=action%3Ddeny");
  await flowsLoaded(page, (q) => q.getAll("filter").includes("action=deny"));
  const row = page.locator('[data-testid="flows-table"] tbody tr[data-row-key]').first();
  await row.waitFor();
  await row.locator("button.expand-btn").click();
  await page.locator('[data-testid="flow-detail"]').waitFor();
  await check(page, "Flows");
  assert.deepEqual(page.errors, []);
});

test("the Policy Board, a policy, the editor and a new policy", async () => {
  const page = await openPage(browser, demo.url, "#/policies?since=15m");
  await page.locator('[data-testid="policy-card"] [data-testid="card-metrics"]').first().waitFor();
  await check(page, "Policy Board");
  await page.goto(new URL("#/policies?since=15m&id=np%3Astorefront%2Ftrusted", demo.url).toString());
  await page.locator('[data-testid="rules-ingress"] [data-testid="rule-row"]').first().waitFor();
  await page.locator('[data-testid="end-of-tier"]').waitFor();
  await check(page, "policy view");
  await page.goto(new URL("#/policies?since=15m&id=np%3Astorefront%2Ftrusted&edit=1", demo.url).toString());
  await page.getByTestId("validation-ok").waitFor();
  await check(page, "Policy Editor");
  await page.goto(new URL("#/policies?since=15m&new=1", demo.url).toString());
  await page.getByTestId("validation-incomplete").waitFor();
  await check(page, "a new policy");
  assert.deepEqual(page.errors, []);
});

// Service Graph against the storefront demo: after the rogue step, red edges leave the rogue
// pod, and clicking one shows the denying policy and rule with its trace.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, eventually, launchBrowser, openPage, screenshot, sharedDemo, waitFor } from "./harness.mjs";

let demo;
let browser;
before(async () => {
  demo = await sharedDemo();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

/** Edges of the rendered graph, read from Cytoscape. */
function renderedEdges(page) {
  return page.evaluate(() => {
    const cy = window.__flowlensCy;
    if (!cy) return [];
    return cy.edges().map((e) => ({ ...e.data(), mid: e.renderedMidpoint(), visible: e.visible() }));
  });
}

test("the default route is the Service Graph and the navigation reaches every view", async () => {
  const page = await openPage(browser, demo.url, "");
  await page.waitForSelector('[data-testid="graph-view"]');
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  for (const view of ["visualizer", "flows", "policies", "graph"]) {
    await page.click(`nav a[data-view="${view}"]`);
    await waitFor(async () => (await page.evaluate(() => location.hash)).startsWith(`#/${view}`), { what: view });
    // The route changes before the render that marks the link: wait for the mark itself.
    await eventually(async () => assert.equal(await page.locator(`nav a[data-view="${view}"].active`).count(), 1));
    assert.equal(await page.locator("nav a.active").count(), 1, "one view is marked");
  }
  assert.deepEqual(page.errors, []);
});

test("rogue traffic shows as red edges, and an edge explains the denying policy", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m");
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  await screenshot(page, "graph-namespaces");

  // Apply the step from the UI, as a user of the demo would.
  const button = page.locator('[data-testid="apply-step-rogue"]');
  if (await button.count()) await button.click();
  else await ensureStep(demo.url, "rogue");

  // Expand storefront to see workloads; the graph refreshes itself as the rogue's flows arrive.
  await page.goto(new URL("#/graph?since=15m&expand=storefront", demo.url).toString());
  const denied = await waitFor(
    async () => {
      const edges = await renderedEdges(page);
      const red = edges.filter((e) => e.status === "denied" && e.source.includes("rogue"));
      if (!red.length) await page.evaluate(() => window.dispatchEvent(new Event("focus")));
      return red.length ? red : null;
    },
    { timeoutMs: 45_000, intervalMs: 1000, what: "a denied edge from the rogue pod" },
  );
  assert.ok(denied.length >= 1);

  // The overview lists denied traffic.
  await page.waitForSelector('[data-testid="denied-edge"]');

  // Click the edge on the canvas.
  const edge = denied[0];
  const box = await page.locator('[data-testid="graph-canvas"]').boundingBox();
  await page.evaluate((id) => {
    const cy = window.__flowlensCy;
    cy.center(cy.getElementById(id));
  }, edge.id);
  // Edges into a shared service node can overlap near it: click points along the edge until
  // the click lands on this one (the canvas marks the edge it took as selected).
  let clicked = false;
  for (const t of [0.5, 0.3, 0.7, 0.2, 0.8]) {
    const at = await page.evaluate(
      ([id, t]) => {
        const e = window.__flowlensCy.getElementById(id);
        const [a, b] = t < 0.5 ? [e.renderedSourceEndpoint(), e.renderedMidpoint()] : [e.renderedMidpoint(), e.renderedTargetEndpoint()];
        const f = t < 0.5 ? t / 0.5 : (t - 0.5) / 0.5;
        return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f };
      },
      [edge.id, t],
    );
    await page.mouse.click(box.x + at.x, box.y + at.y);
    clicked = await page.evaluate((id) => window.__flowlensCy.getElementById(id).selected(), edge.id);
    if (clicked) break;
  }
  assert.ok(clicked, `a click on edge ${edge.id}`);
  const panel = page.locator('[data-testid="edge-panel"]');
  await panel.waitFor();
  const policy = panel.locator('[data-testid="edge-policy"][data-action="deny"]').first();
  await policy.waitFor({ timeout: 15_000 });
  const text = await policy.innerText();
  assert.match(text, /deny/);
  assert.match(text, /end of tier|rule \d+/);
  assert.match(text, /trusted|restricted|dmz|default/);
  // The trace of one denied flow is shown.
  await panel.locator('[data-testid="edge-trace"]').first().waitFor();
  assert.match(await panel.locator('[data-testid="edge-trace"]').first().innerText(), /DENY|deny/i);
  // The flows table under the graph lists the edge's flow logs (both reporters' records), with
  // the destination's denials among them.
  await eventually(async () => {
    const actions = await page.locator('[data-testid="graph-flows"] td[data-col="action"]').allInnerTexts();
    assert.ok(actions.some((a) => a.trim() === "deny"), `actions: ${actions}`);
    const sources = await page.locator('[data-testid="graph-flows"] td[data-col="source"]').allInnerTexts();
    assert.ok(sources.length > 0 && sources.every((s) => s.includes("rogue")), `sources: ${sources}`);
  });
  // The whole graph with the selection highlighted, for the record.
  await page.getByRole("button", { name: "Fit", exact: true }).click();
  await page.waitForTimeout(500);
  await screenshot(page, "graph");
  assert.deepEqual(page.errors, []);
});

test("a node lists its inbound and outbound edges; positions stay across refreshes", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m&expand=storefront");
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  const id = await waitFor(
    () =>
      page.evaluate(() => {
        const n = window.__flowlensCy.nodes().filter((x) => x.id().startsWith("wl:storefront/frontend"));
        return n.length ? n[0].id() : null;
      }),
    { what: "frontend node" },
  );
  const before = await page.evaluate(() => window.__flowlensCy.nodes().map((n) => [n.id(), n.position()]));
  const pos = await page.evaluate((id) => window.__flowlensCy.getElementById(id).renderedPosition(), id);
  const box = await page.locator('[data-testid="graph-canvas"]').boundingBox();
  await page.mouse.click(box.x + pos.x, box.y + pos.y);
  const panel = page.locator('[data-testid="node-panel"]');
  await eventually(async () => {
    const text = await panel.innerText();
    assert.match(text, /inbound \(\d+\)/i);
    assert.match(text, /outbound \(\d+\)/i);
    assert.ok((await panel.locator('[data-testid="edge-list-item"]').count()) >= 2);
  });

  // Force a refresh (the view polls; a time range change re-queries) and compare positions.
  await page.evaluate(() => {
    location.hash = location.hash.replace("since=15m", "since=16m");
  });
  await waitFor(() => page.evaluate(() => window.__flowlensGraphRender && performance.getEntriesByName("flowlens-graph-rendered").length >= 2), {
    what: "second render",
  });
  const afterPos = await page.evaluate(() => Object.fromEntries(window.__flowlensCy.nodes().map((n) => [n.id(), n.position()])));
  for (const [nid, p] of before) {
    if (!afterPos[nid] || nid.startsWith("ns:")) continue;
    assert.ok(Math.abs(afterPos[nid].x - p.x) < 1 && Math.abs(afterPos[nid].y - p.y) < 1, `${nid} moved`);
  }
  assert.deepEqual(page.errors, []);
});

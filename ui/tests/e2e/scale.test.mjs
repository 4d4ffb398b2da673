// The `scale` demo (50 namespaces, 250 workloads, 100 policies in 7 tiers): the Policy Board
// fits the screen with every tier in reach and readable figures, and the Service Graph keeps
// a large cluster readable (no expand-all hairball, search and focus instead).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, getJson, launchBrowser, openPage, screenshot, startDemo, waitFor } from "./harness.mjs";

let demo;
let browser;
before(async () => {
  demo = await startDemo({ scenario: "scale", speed: 5, args: ["--backfill", "15m"], timeoutMs: 120_000 });
  browser = await launchBrowser();
  await waitFor(async () => (await getJson(demo.url, "api/graph?since=15m")).nodes.length >= 40, {
    timeoutMs: 120_000,
    intervalMs: 1000,
    what: "the scale cluster's namespaces in the graph",
  });
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

test("the Policy Board at 100 policies fits the screen, every tier in reach, figures that do not collide", async () => {
  for (const viewport of [
    { width: 1600, height: 1000 },
    { width: 1280, height: 800 },
  ]) {
    const page = await openPage(browser, demo.url, "#/policies?since=15m", { viewport });
    await page.locator('[data-testid="card-metrics"]').first().waitFor();
    const layout = await page.evaluate(() => {
      const cols = document.querySelector('[data-testid="board-columns"]').getBoundingClientRect();
      const scroller = document.querySelector('[data-testid="board-columns"]');
      return {
        page: document.documentElement.scrollHeight,
        view: document.querySelector(".view").scrollHeight - document.querySelector(".view").clientHeight,
        columnsBottom: cols.bottom,
        sideways: scroller.scrollWidth > scroller.clientWidth,
        tiers: document.querySelectorAll(".pl-tier").length,
      };
    });
    assert.ok(layout.page <= viewport.height && layout.view <= 1, `${viewport.width}: the page scrolls (${JSON.stringify(layout)})`);
    assert.ok(layout.columnsBottom <= viewport.height, `${viewport.width}: the tiers end below the screen`);
    assert.equal(layout.tiers, 7);
    // The last tier is reached by scrolling the tiers, whose scrollbar is on screen.
    if (layout.sideways) {
      await page.locator('[data-testid="board-columns"]').evaluate((el) => (el.scrollLeft = el.scrollWidth));
      await eventually(async () => {
        const box = await page.locator(".pl-tier").last().boundingBox();
        assert.ok(box.x + box.width <= viewport.width + 1, `the last tier ends at ${box.x + box.width}`);
      });
      await page.locator('[data-testid="board-columns"]').evaluate((el) => (el.scrollLeft = 0));
    }
    // Every figure fits its cell: no "18,230 Allowed0".
    const clipped = await page.locator('[data-testid="card-metrics"] .metric').evaluateAll((els) =>
      els
        .filter((el) => el.getBoundingClientRect().width > 0)
        .flatMap((el) => [...el.querySelectorAll(".v, .l")])
        .filter((x) => x.scrollWidth > x.clientWidth + 1)
        .map((x) => x.textContent),
    );
    assert.deepEqual(clipped, [], `${viewport.width}: clipped figures`);
    await screenshot(page, `board-scale-${viewport.width}`);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test("at scale the board filters to the policies that deny, the most first, in sight at 1280×800", async () => {
  const viewport = { width: 1280, height: 800 };
  const page = await openPage(browser, demo.url, "#/policies?since=15m&show=denies&sort=denied", { viewport });
  await page.locator('[data-testid="policy-card"]').first().waitFor();
  const board = await getJson(demo.url, "api/policies?since=15m");
  const denying = board.tiers.flatMap((t) => t.policies).filter((p) => p.metrics.denied > 0 || p.metrics.pending_denied > 0);
  assert.ok(denying.length > 0 && denying.length < 100);
  // Tiers without a match step aside (and are named), so the first match is on screen.
  await page.getByTestId("board-unmatched").waitFor();
  await eventually(async () => {
    const box = await page.locator('[data-testid="policy-card"]').first().boundingBox();
    assert.ok(box && box.x + box.width <= viewport.width, `the first match ends at x=${box && box.x + box.width}`);
  });
  await eventually(async () => {
    const shown = await page.locator('[data-testid="policy-card"]').count();
    assert.ok(shown > 0 && shown <= denying.length + 2, `${shown} cards for ${denying.length} denying policies`);
    for (const tier of await page.locator(".pl-tier").all()) {
      const figures = await tier.locator('[data-metric="Denied"]').evaluateAll((els) => els.map((e) => Number(e.dataset.value)));
      for (let i = 1; i < figures.length; i++) assert.ok(figures[i] <= figures[i - 1], `sorted: ${figures}`);
    }
  });
  assert.deepEqual(page.errors, []);
});

test("the graph of 50 namespaces: no expand-all hairball; search and focus show one neighbourhood", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m");
  const warnings = [];
  page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  // Fifty namespaces that all talk to kube-system are laid out apart, not piled up: with the
  // small-graph forces 33 of their 1,378 pairs overlapped; the layout is random, a few may touch.
  await eventually(async () => {
    const overlaps = await page.evaluate(() => {
      const boxes = window.__flowlensCy.nodes("[!compound]").map((n) => n.boundingBox({ includeLabels: false }));
      let n = 0;
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) n++;
        }
      return n;
    });
    assert.ok(overlaps <= 8, `${overlaps} pairs of nodes overlap`);
  });
  const expandAll = page.getByTestId("expand-all");
  assert.equal(await expandAll.isDisabled(), true, "Expand all is not offered at 50 namespaces");
  assert.match(await expandAll.getAttribute("title"), /namespaces would make an unreadable picture/);
  const all = await page.evaluate(() => window.__flowlensCy.nodes().length);
  await page.fill('[data-testid="graph-search"]', "ns-0008");
  await page.press('[data-testid="graph-search"]', "Enter");
  await page.locator('[data-testid="node-panel"]').waitFor();
  await page.getByTestId("focus-node").click();
  await eventually(async () => {
    const shown = await page.evaluate(() => window.__flowlensCy.nodes().length);
    assert.ok(shown < all / 2, `${shown} of ${all} nodes in focus`);
  });
  // Expanded in focus, its workloads are readable.
  await page.getByTestId("toggle-expand").click();
  await waitFor(() => page.evaluate(() => window.__flowlensCy.nodes('[kind = "workload"]').length > 0), { what: "workloads" });
  await screenshot(page, "graph-scale-focus");
  assert.deepEqual(warnings, []);
  assert.deepEqual(page.errors, []);
});

test("a link that expands all 50 namespaces still draws without console noise, and search reaches a workload", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m&expand=*");
  const warnings = [];
  page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
  await waitFor(() => page.evaluate(() => (window.__flowlensGraphRender?.nodes ?? 0) > 200), { timeoutMs: 60_000, what: "the expanded graph" });
  await page.fill('[data-testid="graph-search"]', "ns-0008/api");
  await page.press('[data-testid="graph-search"]', "Enter");
  const panel = page.locator('[data-testid="node-panel"]');
  await panel.waitFor();
  assert.match(await panel.locator("h2").innerText(), /ns-0008\/api/);
  await eventually(async () => {
    const z = await page.evaluate(() => window.__flowlensCy.zoom());
    assert.ok(z >= 1, `zoomed in to read the node: ${z}`);
  });
  await screenshot(page, "graph-scale-expanded-search");
  assert.deepEqual(warnings, [], "console warnings");
  assert.deepEqual(page.errors, []);
});

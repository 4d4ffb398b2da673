// Flow Visualizer against the storefront demo: the Status view shows the rogue pod's denied
// flows in red; clicking a namespace zooms into it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, eventually, launchBrowser, openPage, screenshot, sharedDemo, waitFor } from "./harness.mjs";

let demo;
let browser;
before(async () => {
  demo = await sharedDemo();
  browser = await launchBrowser();
  await ensureStep(demo.url, "rogue");
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * The page position of an arc's centroid: the middle of a wide arc's bounding box is often the
 * circle's centre, where ribbons are.
 */
async function arcPoint(locator) {
  return locator.evaluate((el) => {
    const [x, y] = el.dataset.centroid.split(",").map(Number);
    const m = el.getScreenCTM();
    return { x: m.a * x + m.c * y + m.e, y: m.b * x + m.d * y + m.f };
  });
}

test("namespaces view draws the three rings", async () => {
  const page = await openPage(browser, demo.url, "#/visualizer?since=15m");
  await page.waitForSelector('[data-testid="viz-ns-arc"]');
  await eventually(async () => {
    const namespaces = await page.locator('[data-testid="viz-ns-arc"]').evaluateAll((els) => els.map((e) => e.dataset.namespace));
    assert.ok(namespaces.includes("storefront"), namespaces.join());
    assert.ok((await page.locator('[data-testid="viz-name-arc"]').count()) >= 5);
    assert.ok((await page.locator('[data-testid="viz-ribbon"]').count()) >= 5);
  });
  // Hover shows the name.
  const p = await arcPoint(page.locator('[data-testid="viz-ns-arc"][data-namespace="storefront"]'));
  await page.mouse.move(p.x, p.y);
  await page.waitForSelector('[data-testid="viz-tooltip"]');
  await eventually(async () => assert.match(await page.locator('[data-testid="viz-tooltip"]').innerText(), /storefront/));
  await screenshot(page, "visualizer-namespaces");
  assert.deepEqual(page.errors, []);
});

test("status view shows the rogue pod's denied flows in red", async () => {
  const page = await openPage(browser, demo.url, "#/visualizer?since=15m&mode=status");
  const red = await waitFor(
    async () => {
      await page.waitForSelector('[data-testid="viz-ribbon"]');
      const n = await page.locator('[data-testid="viz-ribbon"][data-status="denied"]').count();
      if (!n) await page.reload();
      return n;
    },
    { timeoutMs: 45_000, intervalMs: 1500, what: "denied ribbons" },
  );
  assert.ok(red >= 1);
  const fill = await page.locator('[data-testid="viz-ribbon"][data-status="denied"]').first().getAttribute("fill");
  assert.equal(fill, "#e0393e");
  // Denied flows come from the rogue pod.
  await page.selectOption('[data-testid="viz-status"]', "denied");
  await waitFor(async () => (await page.locator('[data-testid="viz-ribbon"][data-status="allowed"]').count()) === 0, {
    what: "only denied ribbons",
  });
  await eventually(async () => {
    const names = await page.locator('[data-testid="viz-name-arc"]').evaluateAll((els) => els.map((e) => e.dataset.name));
    assert.ok(names.some((n) => n.includes("rogue")), names.join());
  });
  // Clicking a denied flow shows the policy that denied it.
  await page.locator('[data-testid="viz-ribbon"][data-status="denied"]').first().click({ force: true });
  const panel = page.locator('[data-testid="viz-flow-panel"]');
  await panel.waitFor();
  await waitFor(async () => /deny/.test(await panel.locator('[data-testid="viz-flow-policies"]').innerText()), {
    what: "deciding policy",
  });
  // The rates table splits allowed and denied per namespace.
  await eventually(async () => assert.ok((await page.locator('[data-testid="rate-table"] tr[data-status="denied"]').count()) >= 1));
  await page.selectOption('[data-testid="viz-status"]', "");
  await screenshot(page, "visualizer-status");
  assert.deepEqual(page.errors, []);
});

test("clicking a namespace zooms into it", async () => {
  const page = await openPage(browser, demo.url, "#/visualizer?since=15m&mode=names");
  await page.waitForSelector('[data-testid="viz-ns-arc"][data-namespace="storefront"]');
  const p = await arcPoint(page.locator('[data-testid="viz-ns-arc"][data-namespace="storefront"]'));
  await page.mouse.click(p.x, p.y);
  await waitFor(async () => /storefront/.test(await page.locator('[data-testid="viz-crumbs"]').innerText()), { what: "zoom" });
  await eventually(async () => assert.match(await page.evaluate(() => location.hash), /ns=storefront/));
  // Every remaining flow has an end in storefront.
  await eventually(async () => {
    const ends = await page
      .locator('[data-testid="viz-ribbon"]')
      .evaluateAll((els) => els.map((e) => [e.dataset.sourceNamespace, e.dataset.destNamespace]));
    assert.ok(ends.length > 0, "ribbons in the zoomed view");
    const outside = ends.filter(([s, d]) => s !== "storefront" && d !== "storefront");
    assert.deepEqual(outside, [], "flows without an end in storefront");
  });
  await screenshot(page, "visualizer-zoom");
  assert.deepEqual(page.errors, []);
});

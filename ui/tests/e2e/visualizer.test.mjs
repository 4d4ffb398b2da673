// Flow Visualizer against the storefront demo: the Status view shows the rogue pod's denied
// flows in red; clicking a namespace zooms into it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, eventually, getJson, launchBrowser, openPage, screenshot, sharedDemo, waitFor } from "./harness.mjs";

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

/** The ribbons drawn: one per flow, with the namespaces of its two ends. */
function ribbons(page) {
  return page
    .locator('[data-testid="viz-ribbon"]')
    .evaluateAll((els) => els.map((e) => ({ id: e.dataset.flow, ends: [e.dataset.sourceNamespace, e.dataset.destNamespace] })));
}

test("clicking a namespace zooms into it: the flows that remain are exactly those with an end in it", async () => {
  // A past window no new record falls into, so the picture before and after the click is of
  // the same flows.
  const max = (await getJson(demo.url, "api/health")).data_time.max;
  const [from, to] = [max - 15 * 60, max - 60];
  const page = await openPage(browser, demo.url, `#/visualizer?from=${from}&to=${to}&mode=names`);
  await page.waitForSelector('[data-testid="viz-ns-arc"][data-namespace="storefront"]');
  await page.waitForSelector('[data-testid="viz-ns-arc"][data-namespace="kube-system"]');
  const all = await eventually(async () => {
    const r = await ribbons(page);
    assert.ok(r.length >= 5, `ribbons before zooming: ${r.length}`);
    return r;
  });
  // storefront: every flow of the lab has an end there, so none may be lost; kube-system: only
  // the DNS lookups have an end there, so every other flow must go.
  for (const ns of ["storefront", "kube-system"]) {
    const expected = all.filter((r) => r.ends.includes(ns)).map((r) => r.id).sort();
    assert.ok(expected.length > 0, `flows with an end in ${ns}`);
    if (ns === "kube-system") assert.ok(expected.length < all.length, "flows without an end in kube-system, to be left out");
    const p = await arcPoint(page.locator(`[data-testid="viz-ns-arc"][data-namespace="${ns}"]`));
    await page.mouse.click(p.x, p.y);
    await waitFor(async () => (await page.locator('[data-testid="viz-crumbs"]').innerText()).includes(ns), { what: `zoom into ${ns}` });
    await eventually(async () => assert.match(await page.evaluate(() => location.hash), new RegExp(`ns=${ns}`)));
    // Every remaining flow has an end in the namespace, and every such flow remains.
    await eventually(async () => {
      const zoomed = await ribbons(page);
      assert.deepEqual(zoomed.filter((r) => !r.ends.includes(ns)), [], `flows without an end in ${ns}`);
      assert.deepEqual(zoomed.map((r) => r.id).sort(), expected, `the flows with an end in ${ns}`);
    });
    await screenshot(page, `visualizer-zoom-${ns}`);
    await page.locator('[data-testid="viz-crumbs"]').getByRole("button", { name: "All namespaces" }).click();
    await eventually(async () => assert.equal((await ribbons(page)).length, all.length));
  }
  assert.deepEqual(page.errors, []);
});

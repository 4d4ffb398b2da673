// The policy audit against the storefront demo after the rogue step: the matrix shows the
// rogue's probes as denied and attempted, a cell opens its ports and the rules that decide
// them, and the audit downloads as CSV and JSON.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, eventually, getJson, launchBrowser, openPage, screenshot, sharedDemo, waitFor } from "./harness.mjs";

let demo;
let browser;
before(async () => {
  demo = await sharedDemo();
  browser = await launchBrowser();
  await ensureStep(demo.url, "rogue");
  await waitFor(
    async () => {
      const q = new URLSearchParams({ limit: "1", since: "15m" });
      q.append("filter", "action=deny");
      q.append("filter", "source_name_aggr^=rogue");
      return (await getJson(demo.url, `api/flows?${q}`)).total > 0;
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: "the rogue's denied flows in the store" },
  );
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

test("the audit's matrix shows the rogue's probes denied and a cell explains its ports and rules", async () => {
  const page = await openPage(browser, demo.url, "#/graph");
  await page.click('nav a[data-view="audit"]');
  const matrix = page.locator('[data-testid="audit-matrix"]');
  await matrix.waitFor({ timeout: 60_000 });

  // The application's own paths are allowed and used: frontend → microservice1.
  const used = matrix.locator('button[data-source="storefront/frontend"][data-dest="storefront/microservice1"]');
  await eventually(async () => assert.equal(await used.getAttribute("data-status"), "allowed_used"), { timeoutMs: 30_000 });

  // The rogue's row holds denied-and-attempted cells towards storefront's workloads.
  const rogueCells = matrix.locator('button[data-source^="storefront/rogue"][data-status="denied_attempted"]');
  await eventually(async () => assert.ok((await rogueCells.count()) > 0, "a denied and attempted cell from the rogue"), { timeoutMs: 60_000 });

  // Clicking one shows the denying rule and what was attempted.
  await rogueCells.first().click();
  const panel = page.locator('[data-testid="audit-cell"]');
  await panel.waitFor();
  const text = await panel.innerText();
  assert.match(text, /Denied & attempted/);
  assert.match(text, /deny/);
  assert.match(text, /denied/);
  await screenshot(page, "audit-storefront");

  // The denied-and-attempted list names the rogue with the rule that denies it.
  const denied = await page.locator('[data-testid="audit-denied"] tbody tr').allInnerTexts();
  const rogue = denied.find((r) => r.includes("rogue"));
  assert.ok(rogue, denied.slice(0, 5).join(" | "));
  assert.match(rogue, /ingress default \| np:storefront\/[a-z-]+ \| end of tier \| deny/);

  // Downloads: CSV (one row per cell) and JSON (the whole audit).
  const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="audit-export-csv"]')]);
  const csv = await (await import("node:fs/promises")).readFile(await csvDownload.path(), "utf8");
  const lines = csv.trimEnd().split("\n");
  assert.equal(lines[0], "source,dest,status,allowed,allowed_connections,denied_connections,allowed_unused,denied_by");
  assert.ok(lines.some((l) => l.startsWith("storefront/rogue") && l.includes(",denied_attempted,")), lines.slice(0, 5).join("\n"));
  const [jsonDownload] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="audit-export-json"]')]);
  const json = JSON.parse(await (await import("node:fs/promises")).readFile(await jsonDownload.path(), "utf8"));
  assert.equal(json.cells.length, json.workloads.length ** 2, "every ordered pair of workloads has a cell");
  assert.ok(json.denied_attempted.some((d) => d.source.startsWith("storefront/rogue")));

  // A narrower window at 1280×800 stays readable.
  await page.setViewportSize({ width: 1280, height: 800 });
  await screenshot(page, "audit-storefront-1280");
  assert.deepEqual(page.errors, []);
});

// Flows view against the storefront demo: filter chips, filter for/out value, expanded rows,
// policy links from the Policy Board, live mode and export.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, eventually, flowsLoaded, getJson, launchBrowser, openPage, screenshot, sharedDemo, waitFor } from "./harness.mjs";

let demo;
let browser;
before(async () => {
  demo = await sharedDemo();
  browser = await launchBrowser();
  await ensureStep(demo.url, "rogue");
  // Wait until the rogue's denied flows are stored, so the table has something to show.
  await waitFor(
    async () => (await getJson(demo.url, "api/flows?filter=action%3Ddeny&limit=1")).total > 0,
    { timeoutMs: 45_000, intervalMs: 1000, what: "denied flows in the store" },
  );
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

const rows = (page) => page.locator('[data-testid="flows-table"] tbody tr[data-row-key]');

test("filtering to action=deny lists the rogue pod's flows", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  await page.fill('[data-testid="filter-input"]', "action=deny");
  await page.press('[data-testid="filter-input"]', "Enter");
  await waitFor(async () => /action=deny/.test(await page.evaluate(() => decodeURIComponent(location.hash))), { what: "route" });
  await page.waitForSelector('[data-testid="filter-chip"]');
  await waitFor(
    async () => {
      const actions = await page.locator('[data-testid="flows-table"] td[data-col="action"]').allInnerTexts();
      return actions.length > 0 && actions.every((a) => a.trim() === "deny");
    },
    { what: "only denied rows" },
  );
  await eventually(async () => {
    const sources = await page.locator('[data-testid="flows-table"] td[data-col="source"]').allInnerTexts();
    assert.ok(sources.some((s) => s.includes("rogue")), sources.slice(0, 5).join(" | "));
  });
  await screenshot(page, "flows-deny");
  assert.deepEqual(page.errors, []);
});

test("filter for and filter out a cell value; expand a row to see every field", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  const protoCell = page.locator('[data-testid="flows-table"] td[data-col="proto"]').first();
  const proto = (await protoCell.innerText()).trim();
  await protoCell.hover();
  await protoCell.locator('[data-testid="filter-out"]').click();
  await waitFor(async () => (await page.evaluate(() => decodeURIComponent(location.hash))).includes(`proto!=${proto}`), {
    what: "filter out in route",
  });
  await waitFor(
    async () => {
      const protos = await page.locator('[data-testid="flows-table"] td[data-col="proto"]').allInnerTexts();
      return protos.length > 0 && protos.every((p) => p.trim() !== proto);
    },
    { what: `no ${proto} rows` },
  );
  // Filter for a value: the opposite chip replaces the first.
  const cell = page.locator('[data-testid="flows-table"] td[data-col="action"]').first();
  const action = (await cell.innerText()).trim();
  await cell.hover();
  await cell.locator('[data-testid="filter-for"]').click();
  await waitFor(async () => (await page.evaluate(() => decodeURIComponent(location.hash))).includes(`action=${action}`), {
    what: "filter for in route",
  });
  await eventually(async () => assert.equal(await page.locator('[data-testid="filter-chip"]').count(), 2));
  await flowsLoaded(page, (q) => q.getAll("filter").includes(`action=${action}`));

  // Expand the first row.
  await rows(page).first().locator("button.expand-btn").click();
  const detail = page.locator('[data-testid="flow-detail"]').first();
  await eventually(async () => {
    const text = await detail.innerText();
    for (const field of ["source_name_aggr", "dest_name_aggr", "policies.enforced_policies", "source_labels.labels", "bytes_out", "num_flows", "reporter"]) {
      assert.ok(text.includes(field), `expanded row lacks ${field}`);
    }
  });
  await screenshot(page, "flows");
  assert.deepEqual(page.errors, []);
});

test("honours every API parameter in the route, as the Policy Board links", async () => {
  // The hit that denies the rogue's probes, as the API reports it.
  const agg = await getJson(demo.url, "api/aggregates?group_by=policy_rule&filter=action%3Ddeny&since=1h");
  const row = agg.rows.find((r) => r.key.hit_action === "deny");
  assert.ok(row, "a denying policy rule");
  const k = row.key;
  const policy = [k.tier, k.policy_namespace, k.policy_name].filter(Boolean).join("/");
  const q = new URLSearchParams({ since: "1h", policy, policy_action: "deny", policy_rule: String(k.rule) });
  q.append("source_selector", 'app == "rogue"');
  const page = await openPage(browser, demo.url, `#/flows?${q}`);
  const ofThePolicy = (sent) => sent.get("policy") === policy && sent.get("policy_rule") === String(k.rule);
  await flowsLoaded(page, ofThePolicy);
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows of the policy" });
  await eventually(async () => {
    const chips = await page.locator('[data-testid="filter-chip"]').allInnerTexts();
    assert.ok(chips.some((c) => c.includes(`policy ${policy}`)), chips.join());
    assert.ok(chips.some((c) => c.includes("rogue")), chips.join());
  });
  const actions = await page.locator('[data-testid="flows-table"] td[data-col="action"]').allInnerTexts();
  assert.ok(actions.every((a) => a.trim() === "deny"));
  // The count is the API's total for the same query (read before and after: flows keep coming).
  const before = (await getJson(demo.url, `api/flows?${q}&limit=1`)).total;
  await page.reload();
  await flowsLoaded(page, ofThePolicy);
  const shown = Number((await page.locator('[data-testid="flow-count"]').innerText()).replace(/[^0-9]/g, ""));
  const afterTotal = (await getJson(demo.url, `api/flows?${q}&limit=1`)).total;
  assert.ok(shown >= before && shown <= afterTotal, `shown ${shown}, API ${before}..${afterTotal}`);
  // Export links carry the same query.
  const href = await page.locator('[data-testid="export-csv"]').getAttribute("href");
  const exported = new URL(href, demo.url).searchParams;
  assert.equal(exported.get("policy"), policy);
  assert.equal(exported.get("format"), "csv");
  const csv = await (await fetch(new URL(href, demo.url))).text();
  assert.ok(csv.split("\n").length > 1 && /rogue/.test(csv));
  assert.deepEqual(page.errors, []);
});

test("live mode streams new flows", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m&filter=action%3Ddeny");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  const firstBefore = await rows(page).first().getAttribute("data-row-key");
  await page.click('[data-testid="live-toggle"]');
  await waitFor(async () => /streaming/.test(await page.locator('[data-testid="live-state"]').innerText()), { what: "stream open" });
  await waitFor(async () => (await rows(page).first().getAttribute("data-row-key")) !== firstBefore, {
    timeoutMs: 30_000,
    what: "a streamed flow at the top",
  });
  const actions = await page.locator('[data-testid="flows-table"] td[data-col="action"]').allInnerTexts();
  assert.ok(actions.every((a) => a.trim() === "deny"), "live flows honour the filter");
  assert.deepEqual(page.errors, []);
});

test("a custom time range is sent as from/to and narrows the table", async () => {
  const health = await getJson(demo.url, "api/health");
  const max = health.data_time.max;
  const page = await openPage(browser, demo.url, "#/flows?since=1h");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  await page.getByRole("button", { name: /Custom/ }).click();
  // The inputs are local time; write the range in the browser's zone: the last 10 minutes of data.
  const [from, to] = await page.evaluate(
    ([a, b]) =>
      [a, b].map((t) => {
        const d = new Date(t * 1000);
        const p = (x) => String(x).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
      }),
    [max - 600, max + 60],
  );
  const inputs = page.locator('.time-popover input[type="datetime-local"]');
  await inputs.nth(0).fill(from);
  await inputs.nth(1).fill(to);
  await page.getByRole("button", { name: "Apply" }).click();
  await waitFor(async () => /from=\d+&to=\d+/.test(await page.evaluate(() => location.hash)), { what: "from/to in route" });
  const hash = await page.evaluate(() => location.hash);
  const f = Number(/from=(\d+)/.exec(hash)[1]);
  const t = Number(/to=(\d+)/.exec(hash)[1]);
  assert.ok(t > f && f <= max && t > max - 600, `${f}..${t} vs data max ${max}`);
  await flowsLoaded(page, (sent) => sent.get("from") === String(f) && sent.get("to") === String(t));
  assert.ok((await rows(page).count()) > 0, "flows in the custom range");
  // The table counts what the API counts for that range, and less than the last hour.
  const shown = Number((await page.locator('[data-testid="flow-count"]').innerText()).replace(/[^0-9]/g, ""));
  const inRange = (await getJson(demo.url, `api/flows?from=${f}&to=${t}&limit=1`)).total;
  const lastHour = (await getJson(demo.url, "api/flows?since=1h&limit=1")).total;
  assert.ok(shown > 0 && shown <= inRange && inRange < lastHour, `shown ${shown}, range ${inRange}, hour ${lastHour}`);
  assert.deepEqual(page.errors, []);
});

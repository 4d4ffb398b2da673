// Flows view against the storefront demo: filter chips, filter for/out value, expanded rows,
// policy links from the Policy Board and export (live mode is in live.test.mjs).
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
  // The chip reads as what it keeps ("action=deny"), never as "¬ action=deny".
  const chip = page.locator('[data-testid="filter-chip"]').first();
  assert.match((await chip.innerText()).trim(), /^action=deny/);
  assert.equal(await chip.evaluate((el) => el.firstElementChild?.className), "chip-label");
  // A cell's filter actions cover the end of their own cell, not the next column.
  const cell = page.locator('[data-testid="flows-table"] tbody tr[data-row-key]').first().locator('td[data-col="source"]');
  await cell.locator(".ep-name").hover();
  const actions = cell.locator(".ep-name > .cell-actions");
  await actions.waitFor({ state: "visible" });
  const [cellBox, actionsBox] = [await cell.boundingBox(), await actions.boundingBox()];
  assert.ok(actionsBox.x + actionsBox.width <= cellBox.x + cellBox.width + 0.5, `actions end at ${actionsBox.x + actionsBox.width}, cell at ${cellBox.x + cellBox.width}`);
  await screenshot(page, "flows-deny");
  assert.deepEqual(page.errors, []);
});

test("filter for and filter out a cell value; expand a row to see every field", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  const reporterCell = page.locator('[data-testid="flows-table"] td[data-col="reporter"]').first();
  const reporter = (await reporterCell.innerText()).trim();
  await reporterCell.hover();
  await reporterCell.locator('[data-testid="filter-out"]').click();
  await waitFor(async () => (await page.evaluate(() => decodeURIComponent(location.hash))).includes(`reporter!=${reporter}`), {
    what: "filter out in route",
  });
  await flowsLoaded(page, (q) => q.getAll("filter").includes(`reporter!=${reporter}`));
  const reporters = await page.locator('[data-testid="flows-table"] td[data-col="reporter"]').allInnerTexts();
  assert.ok(reporters.length > 0 && reporters.every((p) => p.trim() !== reporter), `no ${reporter} rows: ${reporters}`);
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

test("a denied flow's policy opens in one click, from the table and from the expanded row", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m&filter=action%3Ddeny");
  await flowsLoaded(page, (q) => q.getAll("filter").includes("action=deny"));
  await waitFor(async () => (await rows(page).count()) > 0, { what: "denied flows" });
  const cellLink = rows(page).first().locator('td[data-col="policies"] [data-testid="open-policy"]');
  const href = await cellLink.getAttribute("href");
  const id = new URLSearchParams(href.split("?")[1]).get("id");
  assert.ok(id, `the policy link names a policy: ${href}`);
  await cellLink.click();
  await page.getByTestId("policy-detail").waitFor();
  assert.equal(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("id"), id);
  await eventually(async () => assert.ok((await page.locator(".pl-policy-name").textContent()).includes(id.split("/").pop())));

  // A row's expanded detail names the same policy as its cell, with the same link. The demo
  // runs on, so the first row after Back may be another flow: compare within one row.
  await page.goBack();
  await flowsLoaded(page, (q) => q.getAll("filter").includes("action=deny"));
  const row = rows(page).first();
  const rowId = new URLSearchParams(
    (await row.locator('td[data-col="policies"] [data-testid="open-policy"]').getAttribute("href")).split("?")[1],
  ).get("id");
  await row.locator("button.expand-btn").click();
  const detail = page.locator('[data-testid="flow-detail"]').first();
  const denying = detail.locator('[data-testid="policy-hit"]:has(.badge-bad) [data-testid="open-policy"]').first();
  await denying.waitFor();
  await denying.click();
  await page.getByTestId("policy-detail").waitFor();
  assert.equal(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("id"), rowId);
  assert.deepEqual(page.errors, []);
});

test("a bad filter clears the rows it no longer describes and says what was meant", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  await flowsLoaded(page);
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  const results = page.locator('[data-testid="flow-results"]');

  // An unknown field reaches the server: its error replaces the rows and the total.
  await page.fill('[data-testid="filter-input"]', "foo=bar");
  await page.press('[data-testid="filter-input"]', "Enter");
  await flowsLoaded(page, (q) => q.getAll("filter").includes("foo=bar"));
  assert.equal(await results.getAttribute("data-error"), "true");
  assert.match(await results.locator('[role="alert"]').first().innerText(), /unknown field "foo"/);
  assert.equal(await rows(page).count(), 0, "no stale rows under the error");
  assert.equal(await page.locator('[data-testid="flow-count"]').getAttribute("data-total"), null, "no stale total");
  await screenshot(page, "flows-bad-filter");

  // Typed with a space, or with a value outside the field's values, the bar says what was meant.
  await page.fill('[data-testid="filter-input"]', "action deny");
  await page.press('[data-testid="filter-input"]', "Enter");
  await eventually(async () =>
    assert.match(await page.locator('[data-testid="filter-problem"]').innerText(), /did you mean action=deny\?/),
  );
  await page.fill('[data-testid="filter-input"]', "action=denied");
  await page.press('[data-testid="filter-input"]', "Enter");
  await eventually(async () =>
    assert.match(await page.locator('[data-testid="filter-problem"]').innerText(), /did you mean action=deny\?/),
  );
  assert.equal(await page.locator('[data-testid="filter-chip"]').count(), 1, "neither was added");

  // The same value in a link is answered by the server the same way, with no rows.
  await page.goto(new URL("#/flows?since=15m&filter=action%3Ddenied", demo.url).toString());
  await flowsLoaded(page, (q) => q.getAll("filter").includes("action=denied"));
  assert.match(await results.locator('[role="alert"]').first().innerText(), /did you mean deny\?/);
  assert.equal(await rows(page).count(), 0);

  // A custom range that ends before it starts is refused in local time and not applied.
  await page.goto(new URL("#/flows?since=15m", demo.url).toString());
  await flowsLoaded(page, (q) => q.get("since") === "15m");
  await page.getByRole("button", { name: /Custom/ }).click();
  const inputs = page.locator('.time-popover input[type="datetime-local"]');
  await inputs.nth(0).fill("2030-01-02T10:00");
  await inputs.nth(1).fill("2030-01-02T09:00");
  await page.getByRole("button", { name: "Apply" }).click();
  const problem = page.locator('[data-testid="range-problem"]');
  await problem.waitFor();
  assert.match(await problem.innerText(), /ends \(2030-01-02 09:00:00\) before it starts \(2030-01-02 10:00:00\)/);
  assert.doesNotMatch(await page.evaluate(() => location.hash), /from=/);
  assert.deepEqual(page.errors, []);
});

test("a byte column sorts by the very numbers it shows", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  await flowsLoaded(page);
  for (const col of ["bytes_out", "bytes_in"]) {
    await page.locator(`[data-testid="flows-table"] th[data-col="${col}"]`).click();
    await flowsLoaded(page, (q) => q.get("sort") === `${col}:desc`);
    const values = await page
      .locator(`[data-testid="flows-table"] td[data-col="${col}"] [data-value]`)
      .evaluateAll((els) => els.map((e) => Number(e.dataset.value)));
    assert.ok(values.length > 10, `${col}: ${values.length} rows`);
    for (let i = 1; i < values.length; i++) assert.ok(values[i] <= values[i - 1], `${col} out of order at row ${i}: ${values.slice(0, i + 1)}`);
  }
  assert.deepEqual(page.errors, []);
});

/** How far the table sticks out of its box to the right (0 when it fits). */
const overflow = (page, within) =>
  page.locator(`${within} .table-wrap`).first().evaluate((el) => Math.max(0, el.scrollWidth - el.clientWidth));

test("at 1280×800 the tables fit and the label selectors stay readable", async () => {
  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 1600, height: 1000 },
  ]) {
    const page = await openPage(browser, demo.url, "#/flows?since=15m", { viewport });
    await flowsLoaded(page);
    await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
    assert.equal(await overflow(page, '[data-testid="flows-view"]'), 0, `${viewport.width}: the Flows table is wider than its box`);
    for (const id of ["source-selector", "dest-selector"]) {
      const w = (await page.getByTestId(id).boundingBox()).width;
      assert.ok(w >= 160, `${viewport.width}: ${id} is ${w} px wide`);
    }
    if (viewport.width === 1280) await screenshot(page, "flows-1280");
    // The table under the graph fits too.
    await page.goto(new URL("#/graph?since=15m", demo.url).toString());
    await page.locator('[data-testid="graph-flows"] [data-testid="flow-results"][aria-busy="false"]').waitFor();
    await waitFor(async () => (await page.locator('[data-testid="graph-flows"] tbody tr[data-row-key]').count()) > 0, { what: "graph flows" });
    assert.equal(await overflow(page, '[data-testid="graph-flows"]'), 0, `${viewport.width}: the table under the graph is cut`);
    if (viewport.width === 1280) await screenshot(page, "graph-1280");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test("columns can be picked, and one flow log can be read and copied as JSON", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  await flowsLoaded(page);
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  const header = (col) => page.locator(`[data-testid="flows-table"] th[data-col="${col}"]`);
  assert.equal(await header("process").count(), 0, "Process is not shown by default");
  await page.getByTestId("column-picker").click();
  await page.locator('[data-testid="column-popover"] input[data-column="process"]').check();
  await page.locator('[data-testid="column-popover"] input[data-column="reporter"]').uncheck();
  await eventually(async () => {
    assert.equal(await header("process").count(), 1);
    assert.equal(await header("reporter").count(), 0);
  });
  // The choice is remembered.
  await page.reload();
  await flowsLoaded(page);
  await eventually(async () => assert.equal(await header("process").count(), 1));
  await page.getByTestId("column-picker").click();
  await page.locator('[data-testid="column-popover"]').getByRole("button", { name: "Defaults" }).click();
  await eventually(async () => assert.equal(await header("reporter").count(), 1));
  await page.keyboard.press("Escape");

  await rows(page).first().locator("button.expand-btn").click();
  const detail = page.locator('[data-testid="flow-detail"]').first();
  await detail.getByTestId("flow-json-toggle").click();
  const shown = JSON.parse(await detail.getByTestId("flow-json").innerText());
  assert.equal(String(shown.id), await rows(page).first().getAttribute("data-row-key"));
  for (const field of ["source_name_aggr", "dest_name_aggr", "policies", "reporter", "num_flows"]) assert.ok(field in shown, field);
  // The system clipboard of a headless browser is not the test's to read: record what the
  // page hands to it instead.
  await page.evaluate(() => {
    window.__copied = undefined;
    navigator.clipboard.writeText = async (text) => {
      window.__copied = text;
    };
  });
  await detail.getByTestId("flow-copy").click();
  await eventually(async () => assert.match(await detail.locator('[role="status"]').innerText(), /Copied/));
  const copied = await page.evaluate(() => window.__copied);
  assert.deepEqual(JSON.parse(copied), shown);
  assert.deepEqual(page.errors, []);
});

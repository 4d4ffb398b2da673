// Browser tests of the Policy Board and Policy Editor, replaying the blog post: in the `fme`
// demo the default deny denies the engines' port-pool traffic; the engine policy's view shows
// the egress rule that lacks 42000:43000; adding it in the editor, the preview lists exactly
// the engine → core flows turning allowed; saving it turns new engine → core flows allowed.
//
// Run: `node tests/run-e2e.mjs policies` (or `node --test tests/e2e/policies.test.mjs`) from ui/
// after `npx vite build` and `cargo build -p flowlens`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, sharedDemo, ensureStep, eventually, flowsLoaded, launchBrowser, openPage, screenshot, waitFor } from "./harness.mjs";

// This file edits policies, so it runs its own fme demo rather than the shared storefront one.
let ctx; // { base, page, browser, demo }

// ---- helpers ------------------------------------------------------------------------------

async function api(path, init) {
  const res = await fetch(ctx.base + path, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${path}: ${res.status} ${text}`);
  return text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text;
}

function until(what, fn, timeoutMs = 60_000) {
  return waitFor(fn, { timeoutMs, intervalMs: 500, what });
}

const shot = (name) => screenshot(ctx.page, name);

const ENGINE = "np:fme/application.engine-fmeserver";
const inPool = (p) => p >= 42000 && p <= 43000;
/** The ports of a `data-ports` attribute ("42001–42003, 42010") as [first, last] ranges. */
const portSpans = (text) =>
  text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => t.split("–").map(Number))
    .map(([a, b]) => [a, b ?? a]);

function boardPolicy(board, pred) {
  for (const t of board.tiers) for (const p of t.policies) if (pred(p)) return p;
  return null;
}

before(async () => {
  const demo = await startDemo({ scenario: "fme", speed: 20 });
  const browser = await launchBrowser();
  const page = await openPage(browser, demo.url, "#/policies");
  ctx = { base: demo.url.replace(/\/$/, ""), page, browser, demo };
  // Enough stored traffic for the board: denied port-pool flows exist.
  await until("denied engine → core flows", async () => {
    const q = new URLSearchParams({ limit: "1" });
    q.append("filter", "action=deny");
    q.append("filter", "dest_port>=42000");
    const page = await api(`/api/flows?${q}`);
    return page.total > 0;
  });
  // The hour of history is stored in the background: wait until the board's figures settle.
  let last = -1;
  await until("board metrics to settle", async () => {
    const board = await api("/api/policies?since=15m");
    const deny = boardPolicy(board, (p) => p.id === "knp:fme/default-deny")?.metrics.denied ?? 0;
    const engine = boardPolicy(board, (p) => p.id === ENGINE)?.metrics.allowed ?? 0;
    const settled = deny > 0 && engine > 0 && Math.abs(deny - last) <= 0.1 * deny;
    last = deny;
    if (!settled) await new Promise((r) => setTimeout(r, 1500));
    return settled;
  });
});

after(async () => {
  await ctx?.browser.close().catch(() => {});
  await ctx?.demo.stop();
});

// ---- the blog, step by step ----------------------------------------------------------------

/** The [first, last] port of a port group's text: "42000–43000", "42001" or "1,001 ports in 42000–43000". */
function portSpan(text) {
  const nums = text.replace(/,(?=\d{3})/g, "").match(/\d+/g).map(Number);
  return nums.length >= 2 ? nums.slice(-2) : [nums[0], nums[0]];
}

test("engine → core on the graph: the port pool as one range, the denying policy first, its editor one click away", async () => {
  const { page, base } = ctx;
  const graph = await api("/api/graph?since=15m&expand=fme");
  const edge = graph.edges
    .filter((e) => /engine-standard-group/.test(e.source) && /fmeserver-core/.test(e.target) && e.denied_flows > 0)
    .sort((a, b) => b.denied_flows - a.denied_flows)[0];
  assert.ok(edge, "a denied engine → core edge");
  const q = new URLSearchParams({ since: "15m", expand: "fme", edge_source: edge.source, edge_target: edge.target });
  await page.goto(`${base}/#/graph?${q}`);
  const panel = page.getByTestId("edge-panel");
  const first = panel.getByTestId("edge-policy").first();
  await first.waitFor();
  assert.equal(await first.getAttribute("data-action"), "deny", "the denying policy comes first");
  // It is on screen as the panel opens: no scrolling needed.
  const box = await first.boundingBox();
  assert.ok(box && box.y >= 0 && box.y + 40 <= page.viewportSize().height, `first policy at y=${box?.y}`);
  assert.equal(await panel.locator(".side-panel-body").evaluate((el) => el.scrollTop), 0);
  // The pool's denied ports are one row with one range, not a thousand rows.
  const groups = panel.getByTestId("edge-port-group");
  await groups.first().waitFor();
  const denied = panel.locator('[data-testid="edge-port-group"][data-status="denied"]');
  assert.equal(await denied.count(), 1, "one row for the denied ports");
  const [lo, hi] = portSpan(await denied.getAttribute("data-ranges"));
  assert.ok(inPool(lo) && inPool(hi) && hi > lo, `denied ports ${lo}–${hi} in the pool`);
  assert.ok((await groups.count()) <= 6, "a short table");
  await shot("graph-fme-edge-panel");

  // One click from the denying policy to its editor.
  await first.getByTestId("edge-edit-policy").click();
  await page.getByTestId("policy-editor").waitFor();
  const hash = new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
  assert.equal(hash.get("edit"), "1");
  assert.equal(hash.get("id"), "knp:fme/default-deny");
  await page.getByTestId("validation-ok").waitFor();
  assert.deepEqual(page.errors, []);
});

test("at 1280×800 the engine → core flows under the graph fit their box (five-digit ports, long names)", async () => {
  const graph = await api("/api/graph?since=15m&expand=fme");
  const edge = graph.edges.find((e) => /engine-standard-group/.test(e.source) && /fmeserver-core/.test(e.target) && e.denied_flows > 0);
  assert.ok(edge, "a denied engine → core edge");
  const q = new URLSearchParams({ since: "15m", expand: "fme", edge_source: edge.source, edge_target: edge.target });
  const page = await openPage(ctx.browser, ctx.base, `#/graph?${q}`, { viewport: { width: 1280, height: 800 } });
  await page.locator('[data-testid="graph-flows"] [data-testid="flow-results"][aria-busy="false"]').waitFor();
  await waitFor(async () => (await page.locator('[data-testid="graph-flows"] tbody tr[data-row-key]').count()) > 0, { what: "edge flows" });
  const wrap = page.locator('[data-testid="graph-flows"] .table-wrap').first();
  const sticksOut = await wrap.evaluate((el) => el.scrollWidth - el.clientWidth);
  assert.ok(sticksOut <= 0, `the table is ${sticksOut} px wider than its box`);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the engine → core panel shows the pool's range and the deciding policy as it opens, at 1600×1000 and 1280×800, nothing sideways", async () => {
  const graph = await api("/api/graph?since=15m&expand=fme");
  const edge = graph.edges
    .filter((e) => /engine-standard-group/.test(e.source) && /fmeserver-core/.test(e.target) && e.denied_flows > 0)
    .sort((a, b) => b.denied_flows - a.denied_flows)[0];
  assert.ok(edge, "a denied engine → core edge");
  const q = new URLSearchParams({ since: "15m", expand: "fme", edge_source: edge.source, edge_target: edge.target });
  for (const viewport of [
    { width: 1600, height: 1000 },
    { width: 1280, height: 800 },
  ]) {
    const page = await openPage(ctx.browser, ctx.base, `#/graph?${q}`, { viewport });
    const panel = page.getByTestId("edge-panel");
    await panel.locator('[data-testid="edge-port-group"][data-status="denied"]').waitFor();
    await panel.locator('[data-testid="edge-policy"]').first().waitFor();
    await eventually(async () => {
      const seen = await panel.evaluate((el) => {
        const body = el.querySelector(".side-panel-body");
        const view = body.getBoundingClientRect();
        const inSight = (e) => {
          const r = e.getBoundingClientRect();
          return r.height > 0 && r.top >= view.top - 1 && r.bottom <= view.bottom + 1 && r.left >= view.left - 1 && r.right <= view.right + 1;
        };
        const row = el.querySelector('[data-testid="edge-port-group"][data-status="denied"]');
        const range = row.querySelector('[data-testid="edge-port-range"]') ?? row.cells[1];
        const policy = el.querySelector('[data-testid="edge-policy"]');
        const head = policy.querySelector(".policy-card-head");
        // Anything in the panel wider than its box (a cell, a name, the trace).
        const sideways = [body, ...body.querySelectorAll("*")]
          .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible")
          .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${e.scrollWidth}>${e.clientWidth}`);
        return {
          scrollTop: body.scrollTop,
          sideways,
          bodyWider: body.scrollWidth - body.clientWidth,
          rowInSight: inSight(row),
          rangeText: range?.textContent ?? "",
          rangeLines: range ? range.getClientRects().length : 0,
          rangeClipped: range ? range.scrollWidth > range.clientWidth + 1 : true,
          policyAction: policy.dataset.action,
          policyInSight: inSight(head),
          policyText: head.textContent,
        };
      });
      const at = `${viewport.width}×${viewport.height}`;
      assert.equal(seen.scrollTop, 0, `${at}: the panel opens at its top`);
      assert.ok(seen.bodyWider <= 0, `${at}: the panel scrolls sideways by ${seen.bodyWider} px`);
      assert.deepEqual(seen.sideways, [], `${at}: wider than their box`);
      assert.ok(seen.rowInSight, `${at}: the pool's row is in sight without scrolling`);
      assert.match(seen.rangeText, /^TCP 42\d{3}–4[23]\d{3}$/, `${at}: the pool as one range`);
      const [lo, hi] = portSpan(seen.rangeText.replace(/^TCP /, ""));
      assert.ok(inPool(lo) && inPool(hi) && hi > lo, `${at}: ${seen.rangeText} in the pool`);
      assert.equal(seen.rangeLines, 1, `${at}: the range on one line`);
      assert.equal(seen.rangeClipped, false, `${at}: the range is cut`);
      assert.equal(seen.policyAction, "deny");
      assert.match(seen.policyText, /default-deny/);
      assert.ok(seen.policyInSight, `${at}: the deciding policy is in sight without scrolling`);
    });
    await screenshot(page, `graph-fme-edge-panel-${viewport.width}`);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test("the board shows tiers in order and denied traffic on the default deny", async () => {
  const { page, base } = ctx;
  const board = await api("/api/policies?since=15m");
  const tierNames = board.tiers.map((t) => t.name);
  assert.ok(tierNames.indexOf("application") < tierNames.indexOf("default"), `tier order ${tierNames}`);
  const deny = boardPolicy(board, (p) => p.name === "default-deny" && p.namespace === "fme");
  assert.ok(deny, "default-deny on the board");
  assert.ok(deny.metrics.denied > 0, "the API counts denied connections on default-deny");

  await page.goto(`${base}/#/policies?since=15m`);
  await page.getByTestId("policy-board").waitFor();
  const columns = page.locator(".pl-tier");
  await columns.first().waitFor();
  const shownTiers = await columns.evaluateAll((els) => els.map((e) => e.getAttribute("data-testid")));
  assert.deepEqual(shownTiers, tierNames.map((t) => `tier-${t}`), "columns in evaluation order");

  // Metrics on (the toggle remembers its state; make sure they are shown).
  const toggle = page.getByTestId("metrics-toggle");
  if ((await toggle.getAttribute("aria-pressed")) !== "true") await toggle.click();

  const card = page.locator(`[data-policy-id="${deny.id}"]`);
  await card.waitFor();
  const denied = card.locator('[data-metric="Denied"] .v');
  await eventually(async () => {
    const deniedShown = Number((await denied.textContent()).replace(/[^\d]/g, ""));
    assert.ok(deniedShown > 0, "the card shows denied connections");
    assert.match(await card.getAttribute("class"), /has-deny/);
    assert.match(await card.textContent(), /Kubernetes/i, "kind badge");
  });
  await shot("policies-board");

  // Hiding metrics hides them.
  await toggle.click();
  await eventually(async () => assert.equal(await page.getByTestId("card-metrics").count(), 0));
  await toggle.click();
  await eventually(async () => assert.ok((await page.getByTestId("card-metrics").count()) > 0));

  // One click from the denied figure opens the Flows view on exactly those flows.
  const link = card.locator('a[data-metric="Denied"]');
  const href = await link.getAttribute("href");
  const q = new URLSearchParams(href.split("?")[1]);
  assert.equal(q.get("policy"), `default/${deny.id}`);
  assert.equal(q.get("policy_action"), "deny");
  assert.equal(q.get("since"), "15m");
  const flows = await api(`/api/flows?${q}&limit=200`);
  assert.ok(flows.total > 0, "the link's query finds the denied flows");
  assert.ok(flows.flows.every((f) => f.action === "deny"));

  // … and the click lands there.
  await link.click();
  await page.getByTestId("flows-view").waitFor();
  const hash = new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
  assert.equal(hash.get("policy"), q.get("policy"));
  assert.equal(hash.get("policy_action"), "deny");
  await flowsLoaded(page, (sent) => sent.get("policy") === q.get("policy") && sent.get("policy_action") === "deny");
  const shown = Number(await page.getByTestId("flow-count").getAttribute("data-total"));
  assert.ok(shown > 0, "the Flows view lists the denied flows");
});

test("the engine policy's view shows the egress rule without the port pool", async () => {
  const { page, base } = ctx;
  await page.goto(`${base}/#/policies?since=15m`);
  await page.locator(`[data-policy-id="${ENGINE}"] .pl-card-name`).click();
  await page.getByTestId("policy-detail").waitFor();
  assert.match(page.url(), /id=np%3Afme%2Fapplication\.engine-fmeserver|id=np:fme\/application\.engine-fmeserver/);

  const egress = page.getByTestId("rules-egress");
  const rows = egress.getByTestId("rule-row");
  await rows.first().waitFor();
  await eventually(async () => assert.equal(await rows.count(), 2));
  const rule0 = await rows.nth(0).locator(".text").textContent();
  assert.match(rule0, /7070/);
  assert.doesNotMatch(rule0, /42000/, "the engine → core rule lacks the port pool");
  await eventually(async () => {
    const allowed0 = Number((await rows.nth(0).locator(".metric.allow .v").textContent()).replace(/[^\d]/g, ""));
    assert.ok(allowed0 > 0, "registration on 7070 is allowed by egress rule 0");
  });

  // What no rule matched goes past the end of the application tier.
  const eot = page.getByTestId("end-of-tier");
  await eot.waitFor();
  const eotText = await eot.textContent();
  assert.match(eotText, /Pass/);
  const eotLink = eot.locator("a.metric");
  const eotHref = await eotLink.getAttribute("href");
  const q = new URLSearchParams(eotHref.split("?")[1]);
  assert.equal(q.get("policy_rule"), "-1");
  assert.equal(q.get("policy_action"), "pass");
  const passed = await api(`/api/flows?${q}&limit=500`);
  assert.ok(passed.total > 0, "flows pass the end of the tier");
  const poolFlows = passed.flows.filter((f) => f.dest_name_aggr.startsWith("fmeserver-core") && inPool(f.dest_port));
  assert.ok(poolFlows.length > 0, "among them the engines' port-pool flows to the core");
  // The view itself says where that traffic went: engine → core on the pool, denied further on.
  const row = eot.locator('[data-testid="end-of-tier-traffic"] tr[data-dest^="fme/fmeserver-core"][data-source^="fme/engine-standard-group"]');
  await row.first().waitFor();
  const spans = portSpans(await row.first().getAttribute("data-ports"));
  assert.ok(spans.some(([a, b]) => inPool(a) && inPool(b)), "port-pool ports listed");
  assert.match(await row.first().textContent(), /Denied/);
  await shot("policies-policy-view");
});

test("unsaved edits prompt before the editor is left by a link or Back", async () => {
  const { page, base } = ctx;
  await page.goto(`${base}/#/policies?id=${encodeURIComponent(ENGINE)}&since=15m`);
  await page.getByTestId("edit-policy").click();
  await page.getByTestId("policy-editor").waitFor();
  await page.getByTestId("validation-ok").waitFor();
  const editorUrl = page.url();
  const order = page.getByLabel("Order", { exact: true });
  const before = await order.inputValue();
  await order.fill("12.5");
  await page.locator(".pl-dirty").waitFor();

  // A link away: the prompt names the loss; staying keeps the route and the edit.
  const dialogs = [];
  const answer = (accept) => page.once("dialog", (d) => (dialogs.push(d.message()), accept ? d.accept() : d.dismiss()));
  answer(false);
  await page.click('nav a[data-view="flows"]');
  await waitFor(() => dialogs.length === 1, { what: "the prompt on a link" });
  assert.match(dialogs[0], /not saved/);
  await eventually(async () => assert.equal(page.url(), editorUrl));
  assert.equal(await page.getByTestId("policy-editor").count(), 1);
  assert.equal(await order.inputValue(), "12.5");

  // Back: the same.
  answer(false);
  await page.goBack();
  await waitFor(() => dialogs.length === 2, { what: "the prompt on Back" });
  await eventually(async () => assert.equal(page.url(), editorUrl));
  assert.equal(await order.inputValue(), "12.5");

  // Leaving on purpose leaves.
  answer(true);
  await page.click('nav a[data-view="flows"]');
  await page.getByTestId("flows-view").waitFor();
  assert.equal(dialogs.length, 3);
  // Nothing was saved.
  const policy = await api(`/api/policy?id=${encodeURIComponent(ENGINE)}`);
  assert.match(policy.yaml, new RegExp(`order: ${before.replace(".", "\\.")}`));
  assert.deepEqual(page.errors, []);
});

test("editing adds 42000:43000, the preview lists exactly engine → core turning allowed, saving fixes new flows", async () => {
  const { page, base } = ctx;
  await page.goto(`${base}/#/policies?id=${encodeURIComponent(ENGINE)}&since=15m`);
  await page.getByTestId("edit-policy").click();
  await page.getByTestId("policy-editor").waitFor();
  await page.getByTestId("validation-ok").waitFor();

  // A bad port is reported at its field and line.
  const ports = page.getByLabel("egress rule 0 destination ports");
  await ports.fill("70000");
  await ports.press("Enter");
  await page.getByTestId("validation-bad").waitFor();
  const problems = await page.getByTestId("validation-errors").textContent();
  assert.match(problems, /line \d+/);
  assert.match(problems, /70000/);
  await page.locator('[data-testid="rule-egress-0"] .pl-chip:has-text("70000") button').click();
  await page.getByTestId("validation-ok").waitFor();

  // The fix, in the form.
  await ports.fill("42000:43000");
  await ports.press("Enter");
  await page.getByTestId("validation-ok").waitFor();
  const yamlText = await page.locator(".cm-content").textContent();
  assert.match(yamlText, /42000:43000/, "the YAML follows the form");
  await shot("policies-editor");

  // Preview over the stored flows.
  const sent = page.waitForRequest((r) => r.url().endsWith("/api/policies/preview"));
  await page.getByTestId("run-preview").click();
  const body = JSON.parse((await sent).postData());
  assert.match(body.yaml, /42000:43000/);
  const result = page.getByTestId("preview-result");
  await result.waitFor({ timeout: 60_000 });
  const value = async (id) => Number(await page.getByTestId(id).getAttribute("data-value"));
  assert.equal(await value("sum-allow-to-deny"), 0, "nothing turns denied");
  assert.ok((await value("sum-deny-to-allow")) > 0, "some flows turn allowed");
  const groups = page.locator('[data-testid="changes-deny_to_allow"] [data-testid="change-group"]');
  assert.ok((await groups.count()) > 0);
  for (const g of await groups.all()) {
    assert.match(await g.getAttribute("data-source"), /^fme\/engine-standard-group/);
    assert.match(await g.getAttribute("data-dest"), /^fme\/fmeserver-core/);
    for (const [a, b] of portSpans(await g.getAttribute("data-ports"))) assert.ok(inPool(a) && inPool(b), `ports ${a}–${b}`);
  }
  assert.equal(await page.getByTestId("changes-allow_to_deny").count(), 0);
  // Every column heading fits its column (no "CONNECTIONS" running into the next one).
  const spilled = await result
    .locator("table.pl-changes th")
    .evaluateAll((ths) => ths.filter((th) => th.scrollWidth > th.clientWidth + 1).map((th) => th.textContent));
  assert.deepEqual(spilled, [], "headings wider than their column");
  await result.scrollIntoViewIfNeeded();
  await page.waitForTimeout(400);
  await shot("policies-preview");

  // The API's own preview of the draft the page sent: only engine → core port-pool flows change.
  const preview = await api("/api/policies/preview", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(preview.changes.length > 0);
  assert.equal(preview.summary.allow_to_deny, 0);
  for (const c of preview.changes) {
    assert.equal(c.change, "deny_to_allow");
    assert.ok(c.source_name_aggr.startsWith("engine-standard-group"), c.source_name_aggr);
    assert.ok(c.dest_name_aggr.startsWith("fmeserver-core"), c.dest_name_aggr);
    assert.ok(inPool(c.dest_port), `port ${c.dest_port}`);
  }

  // Save and enforce.
  await page.getByTestId("save-enforced").click();
  await page.getByTestId("policy-detail").waitFor();
  const rule0 = await page.getByTestId("rules-egress").getByTestId("rule-row").nth(0).locator(".text").textContent();
  assert.match(rule0, /42000/);
  await shot("policies-policy-view-fixed");

  // New engine → core port-pool flows are allowed from now on. Records are aggregated in time
  // buckets: the one in flight during the save also holds flows from before it, so look at
  // buckets that start a minute of data time after the save.
  const saved = (await api("/api/health")).data_time.max;
  const after = saved + 60;
  const fresh = await until(
    "new engine → core port-pool flows",
    async () => {
      const q = new URLSearchParams({ from: String(after), limit: "500" });
      q.append("filter", `start_time>=${after}`);
      q.append("filter", "source_name_aggr^=engine-standard-group");
      q.append("filter", "dest_port>=42000");
      q.append("filter", "dest_port<=43000");
      const page = await api(`/api/flows?${q}`);
      return page.flows.length >= 3 ? page.flows : null;
    },
    90_000,
  );
  const denied = fresh.filter((f) => f.action !== "allow");
  assert.deepEqual(
    denied.map((f) => `${f.start_time}-${f.end_time} ${f.reporter} ${f.dest_port} ${f.action} ${JSON.stringify(f.policies)}`),
    [],
    `every port-pool flow from data time ${after} on is allowed`,
  );
  const graph = await api(`/api/graph?from=${after}&expand=fme`);
  const edges = graph.edges.filter((e) => /engine-standard-group/.test(e.source) && /fmeserver-core/.test(e.target));
  assert.ok(edges.length > 0, "engine → core in the service graph");
  for (const e of edges) assert.equal(e.status, "allowed", `${e.id} is ${e.status}`);
  assert.deepEqual(page.errors, [], "no errors in the page");
});

test("a new policy starts empty and staged, and enforcing an allow-all asks first", async () => {
  const { page, base } = ctx;
  await page.goto(`${base}/#/policies?since=15m`);
  await page.getByTestId("new-policy").click();
  await page.getByTestId("policy-editor").waitFor();
  const ns = page.getByLabel("Namespace", { exact: true });
  await ns.waitFor();
  assert.equal(await ns.inputValue(), "", "no namespace is picked for the user");
  assert.equal(await page.getByLabel("Selector", { exact: true }).inputValue(), "");
  assert.equal(await page.locator('[data-testid^="rule-ingress-"], [data-testid^="rule-egress-"]').count(), 0, "no rule");
  assert.match(await page.locator(".cm-content").textContent(), /kind: StagedNetworkPolicy/);
  assert.match(await page.getByTestId("save-staged").getAttribute("class"), /btn-primary/, "saving staged is the first choice");
  await page.getByTestId("choose-namespace").waitFor();
  await page.getByTestId("validation-incomplete").waitFor();
  assert.equal(await page.getByTestId("validation-ok").count(), 0, "not called valid before a namespace is chosen");
  assert.equal(await page.getByTestId("save-staged").isDisabled(), true, "nothing to save before a namespace is chosen");
  await shot("policies-new");

  // Made into an allow-all, enforcing it asks first; saying no saves nothing.
  await ns.selectOption("fme");
  await page.getByLabel("Name", { exact: true }).fill("open-everything");
  await page.getByTestId("add-ingress-rule").click();
  await page.getByTestId("validation-ok").waitFor();
  const dialogs = [];
  page.once("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  await page.getByTestId("save-enforced").click();
  await waitFor(() => dialogs.length === 1, { what: "the warning" });
  assert.match(dialogs[0], /every endpoint in namespace fme/);
  assert.match(dialogs[0], /Ingress rule 0 allows TCP from anywhere, on any port/);
  await page.waitForTimeout(500);
  assert.equal(await page.getByTestId("policy-editor").count(), 1, "still in the editor");
  const res = await fetch(`${base}/api/policy?id=np:fme/open-everything`);
  assert.equal(res.status, 404, "nothing was saved");
  // Leave without saving (the prompt for unsaved edits is answered yes).
  page.once("dialog", (d) => d.accept());
  await page.click('nav a[data-view="policies"]');
  await page.getByTestId("policy-board").waitFor();
  assert.deepEqual(page.errors, []);
});

test("a new policy from the form: preview blocks core → queue, saved staged it only counts, then it is deleted", async () => {
  const { page, base } = ctx;
  const NAME = "application.core-no-queue";
  await page.goto(`${base}/#/policies?new=1&tier=application&namespace=fme&since=15m`);
  await page.getByTestId("policy-editor").waitFor();
  await page.getByLabel("Name", { exact: true }).fill(NAME);
  await page.getByLabel("Order", { exact: true }).fill("10");
  // A selector that picks nothing is called out while typing.
  await page.getByLabel("Selector", { exact: true }).fill('safe.k8s.fmeserver.component == "nothing"');
  await page.getByTestId("selects-nothing").waitFor();
  await page.getByLabel("Selector", { exact: true }).fill('safe.k8s.fmeserver.component == "core"');
  await page.locator('.pl-checks label:has-text("Ingress") input').uncheck();
  await page.locator('.pl-checks label:has-text("Egress") input').check();
  await page.getByTestId("add-egress-rule").click();
  await page.getByLabel("egress rule 0 action").selectOption("Deny");
  await page.getByLabel("egress rule 0 destination: add selector").click();
  await page.getByLabel("egress rule 0 destination selector").fill('safe.k8s.fmeserver.component == "queue"');
  const ports = page.getByLabel("egress rule 0 destination ports");
  await ports.fill("6379");
  await ports.press("Enter");
  await page.getByTestId("validation-ok").waitFor();

  const sent = page.waitForRequest((r) => r.url().endsWith("/api/policies/preview"));
  await page.getByTestId("run-preview").click();
  const draft = JSON.parse((await sent).postData()).yaml;
  assert.match(draft, /kind: StagedNetworkPolicy/);
  assert.match(draft, /types:\n\s*- Egress\n/);
  await page.getByTestId("preview-result").waitFor({ timeout: 60_000 });
  assert.ok(Number(await page.getByTestId("sum-allow-to-deny").getAttribute("data-value")) > 0);
  assert.equal(Number(await page.getByTestId("sum-deny-to-allow").getAttribute("data-value")), 0);
  for (const g of await page.locator('[data-testid="changes-allow_to_deny"] [data-testid="change-group"]').all()) {
    assert.match(await g.getAttribute("data-source"), /^fme\/fmeserver-core/);
    assert.match(await g.getAttribute("data-dest"), /^fme\/fmeserver-queue/);
    assert.equal(await g.getAttribute("data-ports"), "6379");
  }

  // Staged: recorded, not enforced.
  await page.getByTestId("save-staged").click();
  await page.getByTestId("policy-detail").waitFor();
  const id = `snp:fme/${NAME}`;
  assert.match(decodeURIComponent(page.url()), new RegExp(`id=${id}`));
  await eventually(async () => assert.match(await page.locator(".pl-policy-name").textContent(), /Staged/));
  const card = await until("pending denials on the staged policy", async () => {
    const board = await api("/api/policies?since=15m");
    const p = boardPolicy(board, (x) => x.id === id);
    return p?.staged && p.metrics.pending_denied > 0 ? p : null;
  });
  assert.equal(card.metrics.denied, 0, "a staged policy denies nothing");
  const q = new URLSearchParams({ from: String((await api("/api/health")).data_time.max - 30), limit: "50" });
  q.append("filter", "dest_name_aggr^=fmeserver-queue");
  q.append("filter", "action=deny");
  assert.equal((await api(`/api/flows?${q}`)).total, 0, "core → queue is still allowed");

  await page.goto(`${base}/#/policies?since=15m`);
  const staged = page.locator(`[data-policy-id="${id}"]`);
  await staged.waitFor();
  await eventually(async () => assert.match(await staged.textContent(), /Staged/));
  await page.waitForFunction(
    (pid) => Number(document.querySelector(`[data-policy-id="${pid}"] [data-metric="Would deny"] .v`)?.textContent?.replace(/\D/g, "") || 0) > 0,
    id,
    { timeout: 30_000 },
  );
  await shot("policies-board-staged");

  // Delete it from its view.
  await staged.locator(".pl-card-name").click();
  await page.getByTestId("policy-detail").waitFor();
  // Deleting a staged policy compares what would be done (pending verdicts): the core → queue
  // flows it would deny would be allowed again; nothing else moves.
  await page.getByTestId("preview-delete").click();
  await page.getByTestId("preview-result").waitFor({ timeout: 60_000 });
  await page.getByTestId("preview-pending").waitFor();
  assert.equal(Number(await page.getByTestId("sum-allow-to-deny").getAttribute("data-value")), 0);
  assert.ok(Number(await page.getByTestId("sum-deny-to-allow").getAttribute("data-value")) > 0);
  for (const g of await page.locator('[data-testid="changes-deny_to_allow"] [data-testid="change-group"]').all()) {
    assert.match(await g.getAttribute("data-source"), /^fme\/fmeserver-core/);
    assert.match(await g.getAttribute("data-dest"), /^fme\/fmeserver-queue/);
  }
  page.once("dialog", (d) => d.accept());
  await page.locator('.pl-detail button:has-text("Delete")').click();
  await page.getByTestId("policy-board").waitFor();
  const board = await api("/api/policies?since=15m");
  assert.equal(boardPolicy(board, (x) => x.id === id), null, "deleted from the inventory");
  assert.deepEqual(page.errors, [], "no errors in the page");
});

test("storefront, as in the lab: the rogue pod's denials show on trusted, at the end of its tier", async () => {
  const sf = await sharedDemo();
  try {
    const base = sf.url.replace(/\/$/, "");
    await ensureStep(sf.url, "rogue");
    const TRUSTED = "np:storefront/trusted";
    await until(
      "denials on trusted",
      async () => {
        const res = await fetch(`${base}/api/policies?since=15m`);
        const p = boardPolicy(await res.json(), (x) => x.id === TRUSTED);
        return p?.metrics.denied > 0;
      },
      90_000,
    );
    const page = await openPage(ctx.browser, sf.url, "#/policies?since=15m");
    const card = page.locator(`[data-policy-id="${TRUSTED}"]`);
    await card.waitFor();
    const tiers = await page.locator(".pl-tier").evaluateAll((els) => els.map((e) => e.getAttribute("data-testid")));
    assert.ok(tiers.indexOf("tier-security") >= 0, tiers.join());
    assert.ok(tiers.indexOf("tier-security") < tiers.indexOf("tier-platform"), tiers.join());
    assert.ok(tiers.indexOf("tier-platform") < tiers.indexOf("tier-default"), tiers.join());
    await eventually(async () => assert.match(await card.getAttribute("class"), /has-deny/));
    await screenshot(page, "policies-board-storefront");

    await card.locator(".pl-card-name").click();
    await page.getByTestId("policy-detail").waitFor();
    const ingress = page.getByTestId("rules-ingress").getByTestId("rule-row");
    await ingress.first().waitFor();
    await eventually(async () => assert.equal(await ingress.count(), 3));
    const rows = page.locator('[data-testid="end-of-tier-traffic"] tbody tr');
    await rows.first().waitFor();
    for (const r of await rows.all()) {
      assert.match(await r.getAttribute("data-source"), /^storefront\/rogue/);
      assert.match(await r.textContent(), /Denied/);
    }
    await screenshot(page, "policies-policy-view-storefront");
    assert.deepEqual(page.errors, [], "no errors in the page");
    await page.context().close();
  } finally {
    await sf.stop();
  }
});

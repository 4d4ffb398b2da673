// Browser tests of the policy advisor on the FME story without its fix: the recommendation
// for `fme` gives the engines the core's port pool as one range, its proof denies no flow that
// was allowed, and enforcing it from the UI turns new engine → core flows allowed.
//
// Run: `node tests/run-e2e.mjs advisor` from ui/ after `npx vite build` and `cargo build -p flowlens`.
// This file changes policies, so it runs its own fme demo rather than the shared storefront one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, eventually, launchBrowser, openPage, screenshot, waitFor } from "./harness.mjs";

let ctx; // { base, page, browser, demo }

async function api(path, init) {
  const res = await fetch(ctx.base + path, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Engine → core flow logs in the port pool with `action` in buckets starting at or after `from` (data time, unix seconds). */
async function poolFlows(action, from = 0) {
  const q = new URLSearchParams({ limit: "1" });
  if (from) q.set("from", String(from));
  else q.set("since", "15m");
  q.append("filter", `action=${action}`);
  q.append("filter", "source_name_aggr^=engine-standard-group");
  q.append("filter", "dest_port>=42000");
  q.append("filter", "dest_port<=43000");
  if (from) q.append("filter", `start_time>=${from}`);
  return (await api(`/api/flows?${q}`)).total;
}

before(async () => {
  const demo = await startDemo({ scenario: "fme", speed: 20 });
  const browser = await launchBrowser();
  const page = await openPage(browser, demo.url, "#/graph");
  ctx = { base: demo.url.replace(/\/$/, ""), page, browser, demo };
  await waitFor(async () => (await poolFlows("deny")) > 0, { timeoutMs: 60_000, intervalMs: 500, what: "denied engine → core flows" });
});

after(async () => {
  await ctx?.browser.close().catch(() => {});
  await ctx?.demo.stop();
});

test("the advisor recommends the port pool as one range and enforcing it lets the engines through", async () => {
  const { page } = ctx;
  await page.click('nav a[data-view="advisor"]');
  await page.waitForSelector('[data-testid="advisor-namespaces"] tr[data-namespace="fme"]', { timeout: 60_000 });
  await page.click('[data-testid="advisor-namespaces"] tr[data-namespace="fme"] a');

  // The ingress policy of fme allows the engines the pool as one range, and says how many
  // connections today's policy denied.
  const ingress = page.locator('[data-testid="recommended-policy"][data-direction="ingress"]');
  await ingress.waitFor({ timeout: 60_000 });
  await eventually(async () => {
    const rules = await ingress.locator('[data-testid="recommended-rules"] tbody tr').allInnerTexts();
    const pool = rules.find((r) => r.includes("42000:43000"));
    assert.ok(pool, `a rule with the port pool as a range: ${rules.join(" | ")}`);
    assert.match(pool, /engine/, pool);
  });

  // The proof of each policy: enforcing it denies no stored flow that was allowed.
  for (const direction of ["ingress", "egress"]) {
    const proof = page.locator(`[data-testid="recommended-policy"][data-direction="${direction}"] [data-testid="preview-result"]`);
    await proof.waitFor({ timeout: 60_000 });
    const flowLogs = Number(await proof.locator('[data-testid="sum-unchanged"]').getAttribute("data-value"));
    assert.ok(flowLogs > 0, `${direction}: the proof re-evaluated stored flows`);
    assert.equal(await proof.locator('[data-testid="sum-allow-to-deny"]').getAttribute("data-value"), "0", `${direction}: nothing allowed becomes denied`);
  }
  await screenshot(page, "advisor-fme");

  // Enforce both of fme's policies from the UI.
  for (const direction of ["ingress", "egress"]) {
    const card = page.locator(`[data-testid="recommended-policy"][data-direction="${direction}"]`);
    await card.locator('[data-testid="enforce"]').click();
    await card.locator('.adv-done').waitFor({ timeout: 30_000 });
  }
  await eventually(
    async () => {
      const states = await page.locator('[data-testid="recommended-policy"] [data-lifecycle]').evaluateAll((els) => els.map((e) => e.dataset.lifecycle));
      assert.deepEqual(states, ["enforced", "enforced"]);
    },
    { timeoutMs: 60_000 },
  );
  const board = await api("/api/policies?since=15m");
  const tier = board.tiers.find((t) => t.name === "namespace-isolation");
  assert.ok(tier, "the advisor's tier was created");
  assert.deepEqual(tier.policies.map((p) => p.id).sort(), ["np:fme/namespace-isolation.fme-egress", "np:fme/namespace-isolation.fme-ingress"]);

  // New engine → core flows in the pool are allowed, none denied. Records are aggregated in
  // time buckets, and the one in flight while enforcing also holds flows from before: look at
  // buckets that start a minute of data time after.
  const after = (await api("/api/health")).data_time.max + 60;
  await waitFor(async () => (await poolFlows("allow", after)) >= 3, { timeoutMs: 90_000, intervalMs: 1000, what: "allowed pool flows after enforcing" });
  assert.equal(await poolFlows("deny", after), 0, `no pool flow denied from data time ${after} on`);
  await screenshot(page, "advisor-fme-enforced");
});

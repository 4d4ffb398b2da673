// The sources card in the navigation: the demo's simulator is listed as a running source
// whose record count grows as the scenario runs, and /metrics answers with the same source
// in Prometheus' exposition.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, launchBrowser, openPage, screenshot, sharedDemo } from "./harness.mjs";

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

test("the sources card shows the simulator with a growing record count", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m");
  const source = page.locator('[data-testid="sources"] [data-testid="source"][data-kind="simulator"]');
  const records = source.locator('[data-testid="source-records"]');
  const first = await eventually(async () => {
    const n = Number(await records.getAttribute("data-value", { timeout: 2_000 }));
    assert.ok(n > 0, `the simulator's records: ${n}`);
    return n;
  });
  assert.match(await source.innerText(), /scenario storefront/);
  assert.equal(await source.locator(".dot.ok").count(), 1, "the running simulator shows as connected");
  await eventually(
    async () => {
      const n = Number(await records.getAttribute("data-value", { timeout: 2_000 }));
      assert.ok(n > first, `the record count grows past ${first}: ${n}`);
    },
    { timeoutMs: 30_000 },
  );
  await screenshot(page, "sources-card");
  assert.deepEqual(page.errors, []);
});

test("/metrics answers with the sources, the store and the engine", async () => {
  await eventually(async () => {
    const res = await fetch(new URL("metrics", demo.url));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /openmetrics-text|text\/plain/);
    const text = await res.text();
    const line = text.split("\n").find((l) => l.startsWith("flowlens_source_records_total{"));
    assert.ok(line, `no flowlens_source_records_total in\n${text}`);
    assert.match(line, /source="scenario storefront"/);
    assert.match(line, /kind="simulator"/);
    assert.ok(Number(line.split(" ").pop()) > 0, line);
    assert.match(text, /^flowlens_store_records \d+/m);
    assert.match(text, /^flowlens_engine_policies \d+/m);
  });
});

// Live mode of the Flows view against the storefront demo: new flows stream in on top, the
// count stays the server's, and the table holds still while the pointer rests on it or a row is
// open, with new flows waiting behind an "N new flow logs" bar. A file of its own, so its waits
// for the stream do not eat into the other Flows tests' time.
//
// The page says what it is doing in attributes of its live-state label: `data-live-state`
// (connecting, streaming, paused, reconnecting), `data-paused` (why) and `data-streamed` (flows
// received since live mode started). Every step below waits for one of those states; nothing
// depends on how fast the demo or the browser runs.
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
    async () => (await getJson(demo.url, "api/flows?filter=action%3Ddeny&limit=1")).total > 0,
    { timeoutMs: 45_000, intervalMs: 1000, what: "denied flows in the store" },
  );
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

const rows = (page) => page.locator('[data-testid="flows-table"] tbody tr[data-row-key]');
const liveState = (page) => page.locator('[data-testid="live-state"]');

/** Waits until the live label's `attr` satisfies `ok`, and returns its value. */
async function liveAttr(page, attr, ok, what, timeoutMs = 30_000) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = await liveState(page).evaluate((el) => ({ ...el.dataset }), undefined, { timeout: 5_000 });
        const v = last[attr.replace(/^data-/, "").replace(/-(\w)/g, (_, c) => c.toUpperCase())];
        return ok(v) ? v ?? "" : null;
      },
      { timeoutMs, what },
    );
  } catch (e) {
    throw new Error(`${e.message} (the live label said ${JSON.stringify(last)})`);
  }
}
const streamedAtLeast = (page, n, what, timeoutMs) => liveAttr(page, "data-streamed", (v) => Number(v) >= n, what, timeoutMs);

test("live mode streams new flows on top, honouring the filter", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m&filter=action%3Ddeny");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  const firstBefore = await rows(page).first().getAttribute("data-row-key");
  await page.click('[data-testid="live-toggle"]');
  await liveAttr(page, "data-live-state", (v) => v === "streaming", "the stream to open");
  await streamedAtLeast(page, 1, "a streamed flow", 60_000);
  await waitFor(async () => (await rows(page).first().getAttribute("data-row-key")) !== firstBefore, {
    timeoutMs: 30_000,
    what: "a streamed flow at the top",
  });
  // One read of every row at once: the rows on screen, streamed or loaded, are all denials.
  const actions = await page.locator('[data-testid="flows-table"] td[data-col="action"]').allInnerTexts();
  assert.ok(actions.length > 0 && actions.every((a) => a.trim() === "deny"), `live flows honour the filter: ${actions.slice(0, 5)}`);
  assert.deepEqual(page.errors, []);
});

test("live mode counts what the API counts, and pauses while a row is open", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m&live=1");
  await liveAttr(page, "data-live-state", (v) => v === "streaming", "the stream to open");
  // Let a good share of the window stream in: had the page added what streamed to its total
  // (the count grew without bound), the total would now be off by more than the 5 % allowed.
  const total = (await getJson(demo.url, "api/flows?since=15m&limit=1")).total;
  const enough = Math.max(20, Math.ceil(total * 0.12));
  await streamedAtLeast(page, enough, `${enough} streamed flows`, 120_000);
  await eventually(
    async () => {
      const before = (await getJson(demo.url, "api/flows?since=15m&limit=1")).total;
      const shown = Number(await page.locator('[data-testid="flow-count"]').getAttribute("data-total", { timeout: 5_000 }));
      const after = (await getJson(demo.url, "api/flows?since=15m&limit=1")).total;
      const lo = Math.min(before, after) * 0.95;
      const hi = Math.max(before, after) * 1.05;
      if (process.env.FLOWLENS_E2E_VERBOSE) console.log(`live count: shown ${shown}, API ${before}..${after}`);
      assert.ok(shown >= lo && shown <= hi, `shown ${shown}, API ${before}..${after}`);
    },
    { timeoutMs: 20_000 },
  );

  // The pointer resting on the table pauses it (as a user's does on the way to a row)… It rests
  // on the header, which holds still: a row may move down between being found and being
  // pointed at, and pointing at it then would scroll the table.
  const state = liveState(page);
  await page.locator('[data-testid="flows-table"] thead').hover();
  await liveAttr(page, "data-paused", (v) => v === "pointer", "paused under the pointer");
  // …so the row to open holds still; opening it keeps the table paused.
  const top = await rows(page).first().getAttribute("data-row-key");
  await rows(page).first().locator("button.expand-btn").click();
  await liveAttr(page, "data-paused", (v) => v === "expanded", "paused while a row is open");
  await page.locator('[data-testid="flow-detail"]').first().waitFor();

  // New flows wait behind the bar; once more of them have arrived, the rows have not moved.
  const newBar = page.locator('[data-testid="live-new"]');
  const waiting = Number(
    await waitFor(async () => {
      const n = Number(await newBar.getAttribute("data-count", { timeout: 5_000 }));
      return n > 0 ? n : null;
    }, { timeoutMs: 60_000, what: "new flows waiting" }),
  );
  await waitFor(async () => Number(await newBar.getAttribute("data-count", { timeout: 5_000 })) > waiting, {
    timeoutMs: 60_000,
    what: "more new flows waiting",
  });
  assert.equal(await rows(page).first().getAttribute("data-row-key"), top, "the rows did not move");
  assert.equal(await page.locator('[data-testid="flow-detail"]').count(), 1, "the open row is still open");
  await screenshot(page, "flows-live-paused");

  // The bar shows them; the open row stays open.
  await newBar.click();
  await waitFor(async () => (await rows(page).first().getAttribute("data-row-key")) !== top, { what: "new flows on top" });
  assert.equal(await page.locator('[data-testid="flow-detail"]').count(), 1, "the open row survived the update");
  assert.equal(await state.getAttribute("data-paused"), "expanded", "still paused while the row is open");
  assert.deepEqual(page.errors, []);
});

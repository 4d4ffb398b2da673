// Retakes the screenshots in docs/screenshots/ at 1600×1000 and 1280×800: the storefront lab
// after the rogue step, the FME story (the engine → core edge, the fix in the editor and its
// preview, a new policy) and the `scale` scenario (100 policies, 50 namespaces). Run from ui/
// after `npx vite build` and `cargo build -p flowlens`:
//
//   node tests/docs-screenshots.mjs [storefront|fme|scale …]
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { UI_DIR, ensureStep, getJson, launchBrowser, openPage, startDemo, waitFor } from "./e2e/harness.mjs";

const OUT = path.join(UI_DIR, "..", "docs", "screenshots");
const SIZES = [
  { width: 1600, height: 1000 },
  { width: 1280, height: 800 },
];
const only = process.argv.slice(2);
const wanted = (story) => !only.length || only.includes(story);

mkdirSync(OUT, { recursive: true });
if (!only.length) for (const f of readdirSync(OUT)) if (f.endsWith(".png")) rmSync(path.join(OUT, f));

const browser = await launchBrowser();
const settle = (page) => page.waitForTimeout(700);
const graphDrawn = (page) => waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });

/** Back to the top of the view: typing into a field lower down scrolls it. */
const toTop = (page) =>
  page.evaluate(() => {
    document.activeElement?.blur();
    document.querySelector(".view")?.scrollTo(0, 0);
    window.scrollTo(0, 0);
  });

/** Waits until the stored flow logs grow by less than 2 % in 3 s (a backfill has landed). */
async function settled(demo) {
  let last = -1;
  await waitFor(
    async () => {
      const now = (await getJson(demo.url, "api/flows?since=15m&limit=1")).total;
      const done = last > 0 && now - last < last * 0.02;
      last = now;
      return done;
    },
    { timeoutMs: 180_000, intervalMs: 3000, what: "the backfill to land" },
  );
}

/** Opens `hash` at both sizes, runs `ready` (waits for what the picture must show) and saves NAME-WIDTH.png. */
async function shoot(demo, name, hash, ready = async () => {}) {
  for (const viewport of SIZES) {
    const page = await openPage(browser, demo.url, hash, { viewport });
    await ready(page);
    await settle(page);
    await page.screenshot({ path: path.join(OUT, `${name}-${viewport.width}.png`) });
    console.log(`docs-screenshots: ${name}-${viewport.width}.png`);
    await page.context().close();
  }
}

async function storefront() {
  const demo = await startDemo({ scenario: "storefront", speed: 20 });
  try {
    await ensureStep(demo.url, "rogue");
    await waitFor(async () => (await getJson(demo.url, "api/flows?filter=action%3Ddeny&since=15m&limit=1")).total > 40, {
      timeoutMs: 90_000,
      intervalMs: 1000,
      what: "the rogue's denied flows",
    });
    const graph = await getJson(demo.url, "api/graph?since=15m&expand=storefront");
    const edge = graph.edges.filter((e) => e.status === "denied" && !e.backend_hop).sort((a, b) => b.denied_flows - a.denied_flows)[0];
    await shoot(demo, "service-graph", "#/graph?since=15m", graphDrawn);
    const sel = new URLSearchParams({ since: "15m", expand: "storefront", edge_source: edge.source, edge_target: edge.target });
    await shoot(demo, "service-graph-denied-edge", `#/graph?${sel}`, async (page) => {
      await graphDrawn(page);
      await page.locator('[data-testid="edge-policy"]').first().waitFor();
    });
    await shoot(demo, "flow-visualizer", "#/visualizer?since=15m&mode=status", (page) =>
      page.locator('[data-testid="viz-ribbon"][data-status="denied"]').first().waitFor(),
    );
    await shoot(demo, "flows", "#/flows?since=15m&filter=action%3Ddeny", async (page) => {
      const row = page.locator('[data-testid="flows-table"] tbody tr[data-row-key]').first();
      await row.waitFor();
      await row.locator("button.expand-btn").click();
      await page.locator('[data-testid="flow-detail"]').waitFor();
    });
    await shoot(demo, "policies-board-storefront", "#/policies?since=15m", (page) =>
      page.locator('[data-testid="card-metrics"]').first().waitFor(),
    );
    await shoot(demo, "policies-policy-view-storefront", "#/policies?since=15m&id=np%3Astorefront%2Ftrusted", (page) =>
      page.locator('[data-testid="end-of-tier-traffic"]').waitFor(),
    );
  } finally {
    await demo.stop();
  }
}

async function fme() {
  const demo = await startDemo({ scenario: "fme", speed: 20 });
  try {
    await waitFor(async () => (await getJson(demo.url, "api/flows?filter=action%3Ddeny&since=15m&limit=1")).total > 100, {
      timeoutMs: 90_000,
      intervalMs: 1000,
      what: "denied port-pool flows",
    });
    const graph = await getJson(demo.url, "api/graph?since=15m&expand=fme");
    const edge = graph.edges
      .filter((e) => /engine-standard-group/.test(e.source) && /fmeserver-core/.test(e.target) && e.denied_flows > 0)
      .sort((a, b) => b.denied_flows - a.denied_flows)[0];
    const sel = new URLSearchParams({ since: "15m", expand: "fme", edge_source: edge.source, edge_target: edge.target });
    await shoot(demo, "service-graph-fme-edge", `#/graph?${sel}`, async (page) => {
      await graphDrawn(page);
      await page.locator('[data-testid="edge-port-group"]').first().waitFor();
    });
    await shoot(demo, "policies-board", "#/policies?since=15m", (page) => page.locator('[data-testid="card-metrics"]').first().waitFor());
    const engine = encodeURIComponent("np:fme/application.engine-fmeserver");
    await shoot(demo, "policies-policy-view", `#/policies?since=15m&id=${engine}`, (page) =>
      page.locator('[data-testid="end-of-tier-traffic"]').waitFor(),
    );
    const edit = async (page) => {
      await page.getByTestId("validation-ok").waitFor();
      const ports = page.getByLabel("egress rule 0 destination ports");
      await ports.fill("42000:43000");
      await ports.press("Enter");
      await page.getByTestId("validation-ok").waitFor();
    };
    await shoot(demo, "policies-editor", `#/policies?since=15m&id=${engine}&edit=1`, async (page) => {
      await edit(page);
      await toTop(page);
    });
    await shoot(demo, "policies-preview", `#/policies?since=15m&id=${engine}&edit=1`, async (page) => {
      await edit(page);
      await page.getByTestId("run-preview").click();
      await page.getByTestId("preview-result").waitFor({ timeout: 60_000 });
      await page.getByTestId("preview-result").scrollIntoViewIfNeeded();
    });
    await shoot(demo, "policies-new", "#/policies?since=15m&new=1", (page) => page.getByTestId("validation-incomplete").waitFor());
  } finally {
    await demo.stop();
  }
}

async function scale() {
  const demo = await startDemo({ scenario: "scale", speed: 5, args: ["--backfill", "20m"], timeoutMs: 180_000 });
  try {
    await waitFor(async () => (await getJson(demo.url, "api/graph?since=15m")).nodes.length >= 40, {
      timeoutMs: 180_000,
      intervalMs: 2000,
      what: "the scale graph",
    });
    await settled(demo);
    await shoot(demo, "service-graph-scale", "#/graph?since=15m", graphDrawn);
    await shoot(demo, "policies-board-scale", "#/policies?since=15m&show=denies&sort=denied", (page) =>
      page.locator('[data-testid="policy-card"]').first().waitFor(),
    );
  } finally {
    await demo.stop();
  }
}

try {
  if (wanted("storefront")) await storefront();
  if (wanted("fme")) await fme();
  if (wanted("scale")) await scale();
} finally {
  await browser.close();
}

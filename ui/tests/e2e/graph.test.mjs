// Service Graph against the storefront demo: after the rogue step, red edges leave the rogue
// pod, and clicking one shows the denying policy and rule with its trace.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ensureStep, eventually, flowsLoaded, getJson, launchBrowser, openPage, screenshot, sharedDemo, waitFor } from "./harness.mjs";

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

/** Edges of the rendered graph, read from Cytoscape. */
function renderedEdges(page) {
  return page.evaluate(() => {
    const cy = window.__flowlensCy;
    if (!cy) return [];
    return cy.edges().map((e) => ({ ...e.data(), mid: e.renderedMidpoint(), visible: e.visible() }));
  });
}

test("the default route is the Service Graph and the navigation reaches every view", async () => {
  const page = await openPage(browser, demo.url, "");
  await page.waitForSelector('[data-testid="graph-view"]');
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  for (const view of ["visualizer", "flows", "policies", "graph"]) {
    await page.click(`nav a[data-view="${view}"]`);
    await waitFor(async () => (await page.evaluate(() => location.hash)).startsWith(`#/${view}`), { what: view });
    // The route changes before the render that marks the link: wait for the mark itself.
    await eventually(async () => assert.equal(await page.locator(`nav a[data-view="${view}"].active`).count(), 1));
    assert.equal(await page.locator("nav a.active").count(), 1, "one view is marked");
  }
  assert.deepEqual(page.errors, []);
});

test("rogue traffic shows as red edges, and an edge explains the denying policy", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m");
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  await screenshot(page, "graph-namespaces");

  // Apply the step from the UI, as a user of the demo would.
  const button = page.locator('[data-testid="apply-step-rogue"]');
  if (await button.count()) await button.click();
  else await ensureStep(demo.url, "rogue");

  // Expand storefront to see workloads; the graph refreshes itself as the rogue's flows arrive.
  await page.goto(new URL("#/graph?since=15m&expand=storefront", demo.url).toString());
  const denied = await waitFor(
    async () => {
      const edges = await renderedEdges(page);
      const red = edges.filter((e) => e.status === "denied" && e.source.includes("rogue"));
      if (!red.length) await page.evaluate(() => window.dispatchEvent(new Event("focus")));
      return red.length ? red : null;
    },
    { timeoutMs: 45_000, intervalMs: 1000, what: "a denied edge from the rogue pod" },
  );
  assert.ok(denied.length >= 1);

  // The overview lists denied traffic.
  await page.waitForSelector('[data-testid="denied-edge"]');

  // Click the edge on the canvas.
  const edge = denied[0];
  const box = await page.locator('[data-testid="graph-canvas"]').boundingBox();
  await page.evaluate((id) => {
    const cy = window.__flowlensCy;
    cy.center(cy.getElementById(id));
  }, edge.id);
  // Edges into a shared service node can overlap near it: click points along the edge until
  // the click lands on this one (the canvas marks the edge it took as selected).
  let clicked = false;
  for (const t of [0.5, 0.3, 0.7, 0.2, 0.8]) {
    const at = await page.evaluate(
      ([id, t]) => {
        const e = window.__flowlensCy.getElementById(id);
        const [a, b] = t < 0.5 ? [e.renderedSourceEndpoint(), e.renderedMidpoint()] : [e.renderedMidpoint(), e.renderedTargetEndpoint()];
        const f = t < 0.5 ? t / 0.5 : (t - 0.5) / 0.5;
        return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f };
      },
      [edge.id, t],
    );
    await page.mouse.click(box.x + at.x, box.y + at.y);
    clicked = await page.evaluate((id) => window.__flowlensCy.getElementById(id).selected(), edge.id);
    if (clicked) break;
  }
  assert.ok(clicked, `a click on edge ${edge.id}`);
  const panel = page.locator('[data-testid="edge-panel"]');
  await panel.waitFor();
  const policy = panel.locator('[data-testid="edge-policy"][data-action="deny"]').first();
  await policy.waitFor({ timeout: 15_000 });
  const text = await policy.innerText();
  assert.match(text, /deny/);
  assert.match(text, /end of tier|rule \d+/);
  assert.match(text, /trusted|restricted|dmz|default/);
  // The trace of one denied flow is shown.
  await panel.locator('[data-testid="edge-trace"]').first().waitFor();
  assert.match(await panel.locator('[data-testid="edge-trace"]').first().innerText(), /DENY|deny/i);
  // The flows table under the graph lists the edge's flow logs (both reporters' records), with
  // the destination's denials among them.
  await eventually(async () => {
    const actions = await page.locator('[data-testid="graph-flows"] td[data-col="action"]').allInnerTexts();
    assert.ok(actions.some((a) => a.trim() === "deny"), `actions: ${actions}`);
    const sources = await page.locator('[data-testid="graph-flows"] td[data-col="source"]').allInnerTexts();
    assert.ok(sources.length > 0 && sources.every((s) => s.includes("rogue")), `sources: ${sources}`);
  });
  // The whole graph with the selection highlighted, for the record.
  await page.getByRole("button", { name: "Fit", exact: true }).click();
  await page.waitForTimeout(500);
  await screenshot(page, "graph");
  // The denying policy is one click from its page and from its editor.
  const open = policy.getByTestId("edge-open-policy");
  const openHref = await open.getAttribute("href");
  assert.match(openHref, /^#\/policies\?/);
  await policy.getByTestId("edge-edit-policy").click();
  await page.getByTestId("policy-editor").waitFor();
  const params = new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
  assert.equal(params.get("edit"), "1");
  assert.equal(params.get("id"), new URLSearchParams(openHref.split("?")[1]).get("id"));
  assert.deepEqual(page.errors, []);
});

test("a node lists its inbound and outbound edges; positions stay across refreshes", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m&expand=storefront");
  await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
  const id = await waitFor(
    () =>
      page.evaluate(() => {
        const n = window.__flowlensCy.nodes().filter((x) => x.id().startsWith("wl:storefront/frontend"));
        return n.length ? n[0].id() : null;
      }),
    { what: "frontend node" },
  );
  const before = await page.evaluate(() => window.__flowlensCy.nodes().map((n) => [n.id(), n.position()]));
  const pos = await page.evaluate((id) => window.__flowlensCy.getElementById(id).renderedPosition(), id);
  const box = await page.locator('[data-testid="graph-canvas"]').boundingBox();
  await page.mouse.click(box.x + pos.x, box.y + pos.y);
  const panel = page.locator('[data-testid="node-panel"]');
  await eventually(async () => {
    const text = await panel.innerText();
    assert.match(text, /inbound \(\d+\)/i);
    assert.match(text, /outbound \(\d+\)/i);
    assert.ok((await panel.locator('[data-testid="edge-list-item"]').count()) >= 2);
  });

  // Force a refresh (the view polls; a time range change re-queries) and compare positions.
  await page.evaluate(() => {
    location.hash = location.hash.replace("since=15m", "since=16m");
  });
  await waitFor(() => page.evaluate(() => window.__flowlensGraphRender && performance.getEntriesByName("flowlens-graph-rendered").length >= 2), {
    what: "second render",
  });
  const afterPos = await page.evaluate(() => Object.fromEntries(window.__flowlensCy.nodes().map((n) => [n.id(), n.position()])));
  for (const [nid, p] of before) {
    if (!afterPos[nid] || nid.startsWith("ns:")) continue;
    assert.ok(Math.abs(afterPos[nid].x - p.x) < 1 && Math.abs(afterPos[nid].y - p.y) < 1, `${nid} moved`);
  }
  assert.deepEqual(page.errors, []);
});

/** A past window of the shared demo's data that no new record can fall into any more. */
async function settledWindow(minutes = 15) {
  const max = (await getJson(demo.url, "api/health")).data_time.max;
  return { from: max - minutes * 60, to: max - 60 };
}

test("totals after expanding a namespace are the API's, each connection counted once", async () => {
  await ensureStep(demo.url, "rogue");
  await waitFor(async () => (await getJson(demo.url, "api/flows?filter=action%3Ddeny&limit=1")).total > 0, {
    timeoutMs: 45_000,
    intervalMs: 1000,
    what: "denied flows in the store",
  });
  const { from, to } = await settledWindow();
  const actions = await getJson(demo.url, `api/aggregates?group_by=action&from=${from}&to=${to}`);
  const connections = actions.rows.reduce((t, r) => t + r.num_flows, 0);
  const denied = actions.rows.filter((r) => r.key.action === "deny").reduce((t, r) => t + r.num_flows, 0);
  assert.ok(denied > 0, "denied connections in the window");
  const page = await openPage(browser, demo.url, `#/graph?from=${from}&to=${to}`);
  const shown = async () => {
    const panel = page.locator('[data-testid="graph-panel"]');
    return {
      connections: Number(await panel.locator('[data-testid="graph-total-connections"]').getAttribute("data-value")),
      denied: Number(await panel.locator('[data-testid="graph-total-denied"]').getAttribute("data-value")),
      list: (await panel.locator('[data-testid="denied-edge"]').evaluateAll((els) => els.map((e) => Number(e.dataset.value)))),
    };
  };
  for (const hash of [`#/graph?from=${from}&to=${to}`, `#/graph?from=${from}&to=${to}&expand=storefront`, `#/graph?from=${from}&to=${to}&expand=*`]) {
    await page.goto(new URL(hash, demo.url).toString());
    await waitFor(() => page.evaluate(() => !!window.__flowlensGraphRender), { what: "graph render" });
    await eventually(async () => {
      const s = await shown();
      assert.equal(s.connections, connections, `${hash}: connections`);
      assert.equal(s.denied, denied, `${hash}: denied`);
      // Each denied connection is listed on one edge: the list adds up to the total.
      assert.equal(s.list.reduce((t, n) => t + n, 0), denied, `${hash}: denied list ${s.list}`);
    });
  }
  await screenshot(page, "graph-expanded-totals");
  assert.deepEqual(page.errors, []);
});

test("a large picture stays usable: zoom buttons, a wheel that zooms, refit on expand, readable labels, search, focus, Escape", async () => {
  const page = await openPage(browser, demo.url, "#/graph?since=15m");
  const warnings = [];
  page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
  const renders = () => page.evaluate(() => performance.getEntriesByName("flowlens-graph-rendered").length);
  await waitFor(async () => (await renders()) >= 1, { what: "graph render" });
  const zoom = () => page.evaluate(() => window.__flowlensCy.zoom());

  // The buttons zoom about the centre.
  let z0 = await zoom();
  await page.getByRole("button", { name: "Zoom in" }).click();
  await waitFor(async () => (await zoom()) > z0 * 1.3, { what: "zoomed in" });
  z0 = await zoom();
  await page.getByRole("button", { name: "Zoom out" }).click();
  await waitFor(async () => (await zoom()) < z0 / 1.3, { what: "zoomed out" });

  // Ten notches of a mouse wheel zoom out by more than half, not by a few percent.
  const box = await page.locator('[data-testid="graph-canvas"]').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  z0 = await zoom();
  for (let i = 0; i < 10; i++) await page.mouse.wheel(0, 100);
  await waitFor(async () => (await zoom()) < z0 / 2, { what: "wheel zoom" });

  // Expanding refits: every node is inside the canvas, with labels big enough to read.
  const collapsed = await page.evaluate(() => window.__flowlensGraphRender.nodes);
  await page.evaluate(() => (location.hash = location.hash + "&expand=*"));
  // The expanded graph is laid out and drawn (more nodes than the collapsed one).
  await waitFor(() => page.evaluate((n) => window.__flowlensGraphRender.nodes > n, collapsed), {
    timeoutMs: 30_000,
    what: "the expanded graph drawn",
  });
  await eventually(async () => {
    const { outside, smallest } = await page.evaluate(() => {
      const cy = window.__flowlensCy;
      const w = cy.width();
      const h = cy.height();
      const out = cy.nodes().filter((n) => {
        const b = n.renderedBoundingBox({ includeLabels: false });
        return b.x1 < -1 || b.y1 < -1 || b.x2 > w + 1 || b.y2 > h + 1;
      });
      const sizes = cy.nodes('[kind = "workload"]').map((n) => parseFloat(n.renderedStyle("font-size")));
      return { outside: out.map((n) => n.id()), smallest: Math.min(...sizes) };
    });
    assert.deepEqual(outside, [], "nodes outside the canvas after expanding");
    assert.ok(smallest >= 9, `workload labels render at ${smallest} px`);
  });
  await screenshot(page, "graph-expanded-fit");

  // Search finds a node, selects it and centres it.
  await page.fill('[data-testid="graph-search"]', "frontend");
  await page.press('[data-testid="graph-search"]', "Enter");
  const nodePanel = page.locator('[data-testid="node-panel"]');
  await nodePanel.waitFor();
  await eventually(async () => assert.match(await nodePanel.locator("h2").innerText(), /frontend/));
  // Focus shows only the node and its neighbours.
  await nodePanel.getByTestId("focus-node").click();
  await page.locator('[data-testid="graph-focus"]').waitFor();
  await eventually(async () => {
    const { alone } = await page.evaluate(() => {
      const cy = window.__flowlensCy;
      const focus = new URLSearchParams(location.hash.split("?")[1]).get("focus");
      const f = cy.getElementById(focus);
      const near = f.closedNeighborhood().union(f.closedNeighborhood().parents());
      return { alone: cy.nodes().filter((n) => !near.contains(n)).map((n) => n.id()) };
    });
    assert.deepEqual(alone, [], "only the focused node's neighbourhood is drawn");
  });
  // Escape closes the panel.
  await page.keyboard.press("Escape");
  await page.locator('[data-testid="graph-panel"]').waitFor();
  assert.equal(await nodePanel.count(), 0);
  assert.deepEqual(warnings, [], "console warnings");
  assert.deepEqual(page.errors, []);
});

/**
 * The labels the canvas draws (not hidden, big enough for Cytoscape to draw), with their boxes
 * on screen, and the pairs of them that overlap.
 */
function drawnLabels(page) {
  return page.evaluate(() => {
    const cy = window.__flowlensCy;
    const labels = cy
      .nodes()
      .filter((n) => n.visible() && !!n.style("label") && Number(n.style("text-opacity")) > 0)
      .filter((n) => parseFloat(n.renderedStyle("font-size")) >= parseFloat(n.style("min-zoomed-font-size")))
      .map((n) => ({ id: n.id(), b: n.renderedBoundingBox({ includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false }) }))
      .filter((l) => l.b.w > 0);
    const overlaps = [];
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++) {
        const [a, b] = [labels[i].b, labels[j].b];
        if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) overlaps.push(`${labels[i].id} × ${labels[j].id}`);
      }
    return { ids: labels.map((l) => l.id), overlaps, nodes: cy.nodes().length, zoom: cy.zoom() };
  });
}

test("at 1280×800 the expanded graph's labels do not overlap; a hidden one shows on hover and on selection", async () => {
  await ensureStep(demo.url, "rogue");
  const page = await openPage(browser, demo.url, "#/graph?since=15m&expand=*", { viewport: { width: 1280, height: 800 } });
  await waitFor(() => page.evaluate(() => (window.__flowlensGraphRender?.nodes ?? 0) > 10), { timeoutMs: 30_000, what: "the expanded graph drawn" });
  let seen;
  await eventually(async () => {
    seen = await drawnLabels(page);
    assert.deepEqual(seen.overlaps, [], `overlapping labels at zoom ${seen.zoom.toFixed(2)}`);
    // Not by drawing none: the namespace titles and the names of nodes that have room.
    assert.ok(seen.ids.includes("ns:storefront") && seen.ids.includes("ns:kube-system"), `the namespace titles are drawn: ${seen.ids}`);
    assert.ok(seen.ids.filter((id) => !id.startsWith("ns:")).length >= 3, `${seen.ids.length} of ${seen.nodes} labels drawn`);
  });
  await screenshot(page, "graph-expanded-labels-1280");
  // A node whose label gave way shows it under the pointer, and keeps it once selected.
  // (one whose centre no other node covers, so the pointer lands on it)
  const hidden = await page.evaluate((drawn) => {
    const cy = window.__flowlensCy;
    const simple = cy.nodes().filter((x) => !x.isParent());
    const free = (n) => {
      const p = n.renderedPosition();
      return simple.every((o) => {
        if (o === n) return true;
        const b = o.renderedBoundingBox({ includeLabels: false, includeOverlays: false });
        return p.x < b.x1 || p.x > b.x2 || p.y < b.y1 || p.y > b.y2;
      });
    };
    const n = simple.filter((x) => !drawn.includes(x.id()) && free(x))[0];
    return n ? { id: n.id() } : null;
  }, seen.ids);
  if (hidden) {
    const box = await page.locator('[data-testid="graph-canvas"]').boundingBox();
    // Where the node is now (a refresh may have moved it).
    const at = () => page.evaluate((id) => window.__flowlensCy.getElementById(id).renderedPosition(), hidden.id);
    await eventually(async () => {
      const p = await at();
      await page.mouse.move(box.x + p.x, box.y + p.y);
      assert.ok((await drawnLabels(page)).ids.includes(hidden.id), `${hidden.id} labelled on hover`);
    });
    const p = await at();
    await page.mouse.click(box.x + p.x, box.y + p.y);
    await page.mouse.move(box.x + 5, box.y + box.height - 5);
    await eventually(async () => {
      const now = await drawnLabels(page);
      assert.ok(now.ids.includes(hidden.id), `${hidden.id} labelled once selected`);
      assert.deepEqual(now.overlaps, [], "overlapping labels after selecting");
    });
  }
  // Zooming in makes room: more labels, still none over another.
  const before = (await drawnLabels(page)).ids.length;
  await page.getByRole("button", { name: "Zoom in" }).click();
  await page.getByRole("button", { name: "Zoom in" }).click();
  await eventually(async () => {
    const now = await drawnLabels(page);
    assert.deepEqual(now.overlaps, [], `overlapping labels at zoom ${now.zoom.toFixed(2)}`);
    assert.ok(now.ids.length >= before, `${now.ids.length} labels after zooming in, ${before} before`);
  });
  assert.deepEqual(page.errors, []);
});

test("the time range and filters travel with the navigation, and the Policy Board takes a custom range", async () => {
  const page = await openPage(browser, demo.url, "#/flows?since=15m&filter=action%3Ddeny");
  await flowsLoaded(page, (q) => q.getAll("filter").includes("action=deny"));
  const hashOf = async () => new URLSearchParams((await page.evaluate(() => location.hash)).split("?")[1] ?? "");
  await page.click('nav a[data-view="graph"]');
  await page.locator('[data-testid="graph-view"]').waitFor();
  let q = await hashOf();
  assert.equal(q.get("since"), "15m");
  assert.deepEqual(q.getAll("filter"), ["action=deny"]);
  await page.click('nav a[data-view="visualizer"]');
  await page.locator('[data-testid="visualizer-view"]').waitFor();
  q = await hashOf();
  assert.equal(q.get("since"), "15m");
  assert.deepEqual(q.getAll("filter"), ["action=deny"]);
  // The board keeps the range (its figures are per policy, not filtered).
  await page.click('nav a[data-view="policies"]');
  await page.locator('[data-testid="policy-board"]').waitFor();
  q = await hashOf();
  assert.equal(q.get("since"), "15m");
  assert.equal(q.get("filter"), null);

  // A custom range on the board: sent as from/to, and the metrics say so.
  const max = (await getJson(demo.url, "api/health")).data_time.max;
  await page.getByRole("button", { name: /Custom/ }).click();
  const [from, to] = await page.evaluate(
    ([a, b]) =>
      [a, b].map((t) => {
        const d = new Date(t * 1000);
        const p = (x) => String(x).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
      }),
    [max - 1200, max - 300],
  );
  const inputs = page.locator('.time-popover input[type="datetime-local"]');
  await inputs.nth(0).fill(from);
  await inputs.nth(1).fill(to);
  const sent = page.waitForRequest((r) => /\/api\/policies\?/.test(r.url()) && /from=/.test(r.url()));
  await page.getByRole("button", { name: "Apply" }).click();
  const url = new URL((await sent).url());
  q = await hashOf();
  assert.equal(url.searchParams.get("from"), q.get("from"));
  assert.equal(url.searchParams.get("to"), q.get("to"));
  assert.equal(q.get("since"), null);
  await eventually(async () => assert.match(await page.locator(".pl-sub").first().innerText(), new RegExp(`Metrics count connections from .*${from.slice(11)}`)));
  // … and the range goes back with the navigation.
  await page.click('nav a[data-view="flows"]');
  await page.locator('[data-testid="flows-view"]').waitFor();
  const back = await hashOf();
  assert.equal(back.get("from"), q.get("from"));
  assert.equal(back.get("to"), q.get("to"));
  assert.deepEqual(page.errors, []);
});

test("numbers say their unit, and a link lands on the same number in the same unit", async () => {
  await ensureStep(demo.url, "rogue");
  const { from, to } = await settledWindow();
  const TRUSTED = "np:storefront/trusted";
  const board = await getJson(demo.url, `api/policies?from=${from}&to=${to}`);
  const trusted = board.tiers.flatMap((t) => t.policies).find((p) => p.id === TRUSTED);
  assert.ok(trusted?.metrics.denied > 0, "trusted denies the rogue's probes in the window");

  const page = await openPage(browser, demo.url, `#/policies?from=${from}&to=${to}`);
  const denied = page.locator(`[data-policy-id="${TRUSTED}"] a[data-metric="Denied"]`);
  await denied.waitFor();
  const figure = Number(await denied.getAttribute("data-value"));
  assert.equal(figure, trusted.metrics.denied);
  assert.match(await denied.getAttribute("title"), /connections/);
  await denied.click();
  // The Flows view lists flow logs and says how many connections they hold: the board's figure.
  await flowsLoaded(page, (q) => q.get("policy") === `default/${TRUSTED}` && q.get("from") === String(from));
  const connections = page.getByTestId("flow-connections");
  await connections.waitFor();
  assert.equal(Number(await connections.getAttribute("data-value")), figure);
  assert.match(await page.getByTestId("flow-count").innerText(), /flow logs?$/);
  await screenshot(page, "flows-from-board");

  // The graph's figure and the table under it, in the same unit.
  await page.goto(new URL(`#/graph?from=${from}&to=${to}`, demo.url).toString());
  const total = page.getByTestId("graph-total-connections");
  await waitFor(async () => (await total.getAttribute("data-value")) !== null, { what: "graph totals" });
  const table = page.locator('[data-testid="graph-flows"] [data-testid="flow-connections"]');
  await table.waitFor();
  await eventually(async () => assert.equal(await table.getAttribute("data-value"), await total.getAttribute("data-value")));
  // A denied edge's table says who reported each record.
  assert.ok((await page.locator('[data-testid="graph-flows"] th[data-col="reporter"]').count()) === 1, "a Reporter column");
  assert.deepEqual(page.errors, []);
});

test("the board's search is part of its link", async () => {
  const page = await openPage(browser, demo.url, "#/policies?since=15m");
  await page.getByTestId("policy-board").waitFor();
  await page.locator('[data-testid="policy-card"]').first().waitFor();
  await page.getByTestId("board-search").fill("trusted");
  await waitFor(async () => /[?&]q=trusted/.test(await page.evaluate(() => location.hash)), { what: "q in the route" });
  const names = async () => page.locator('[data-testid="policy-card"] .pl-card-name').allInnerTexts();
  await eventually(async () => {
    const n = await names();
    assert.ok(n.length > 0 && n.every((x) => x.includes("trusted")), n.join());
  });
  // A fresh page on that link shows the same board.
  await page.reload();
  await page.getByTestId("policy-board").waitFor();
  assert.equal(await page.getByTestId("board-search").inputValue(), "trusted");
  await eventually(async () => {
    const n = await names();
    assert.ok(n.length > 0 && n.every((x) => x.includes("trusted")), n.join());
  });
  // Only the policies that denied something, most denials first.
  await page.getByTestId("board-search").fill("");
  await page.getByTestId("board-show").getByRole("button", { name: "With denies" }).click();
  await page.getByTestId("board-sort").selectOption("denied");
  await waitFor(async () => /show=denies/.test(await page.evaluate(() => location.hash)) && /sort=denied/.test(await page.evaluate(() => location.hash)), {
    what: "show and sort in the route",
  });
  await eventually(async () => {
    const figures = await page.locator('[data-testid="policy-card"] [data-metric="Denied"]').evaluateAll((els) => els.map((e) => Number(e.dataset.value)));
    assert.ok(figures.length > 0 && figures.every((v) => v > 0), `denied figures ${figures}`);
  });
  // A click anywhere on a card opens its policy.
  const card = page.locator('[data-testid="policy-card"]').first();
  const id = await card.getAttribute("data-policy-id");
  await card.locator(".pl-selector").click();
  await page.getByTestId("policy-detail").waitFor();
  assert.equal(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("id"), id);
  assert.deepEqual(page.errors, []);
});

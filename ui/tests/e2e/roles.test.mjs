// Roles in the browser: a demo started with --roles, a user scoped to one namespace logs in
// with its own URL and sees only the flows to or from that namespace, the other end hidden;
// the Policy Board, the policy view and the editor offer only what the user may do; a
// policy's history shows who changed it and the diff.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eventually, launchBrowser, openPage, rememberLogin, screenshot, startDemo, waitFor } from "./harness.mjs";

const ADMIN = "e2e-admin-token-0123456789";
const DNS_TEAM = "e2e-dns-team-token-0123456789";
const STORE_DEV = "e2e-storefront-dev-token-0123456789";
const STORE_VIEWER = "e2e-storefront-viewer-token-0123456789";
const SHOTS = process.env.FLOWLENS_SHOTS_DIR;

let demo;
let browser;
const api = async (token, pathAndQuery) => {
  const res = await fetch(new URL(pathAndQuery, demo.url), { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${pathAndQuery}: ${res.status} ${await res.text()}`);
  return res.json();
};

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "flowlens-e2e-roles-"));
  const roles = path.join(dir, "roles.yaml");
  writeFileSync(
    roles,
    [
      "users:",
      `  - {name: root, token: ${ADMIN}, role: admin}`,
      `  - {name: dns-team, token: ${DNS_TEAM}, tiers: {default: read}, namespaces: {kube-system: read}}`,
      `  - {name: storefront-dev, token: ${STORE_DEV}, tiers: {default: write, security: read}, namespaces: {storefront: write}}`,
      `  - {name: storefront-viewer, token: ${STORE_VIEWER}, tiers: {default: read}, namespaces: {storefront: read}}`,
      "",
    ].join("\n"),
  );
  demo = await startDemo({ scenario: "storefront", args: ["--roles", roles] });
  browser = await launchBrowser();
  await waitFor(async () => (await api(DNS_TEAM, "api/flows?limit=1")).total > 0, {
    timeoutMs: 60_000,
    intervalMs: 1000,
    what: "flows to kube-system in the store",
  });
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

/** A screenshot in the test results, and a copy in FLOWLENS_SHOTS_DIR when set. */
async function shot(page, name) {
  const file = await screenshot(page, name);
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    copyFileSync(file, path.join(SHOTS, `${name}.png`));
  }
}

const rows = (page) => page.locator('[data-testid="flows-table"] tbody tr[data-row-key]');

test("a user scoped to kube-system sees only flows to or from it, the other end hidden", async () => {
  const all = await api(ADMIN, "api/flows?limit=1");
  const scoped = await api(DNS_TEAM, "api/flows?limit=1");
  assert.ok(scoped.total < all.total, `${scoped.total} of ${all.total}`);

  rememberLogin(`${demo.url}#token=${DNS_TEAM}`);
  const page = await openPage(browser, demo.url, "#/flows");
  await waitFor(async () => (await rows(page).count()) > 0, { what: "flows" });
  await eventually(async () => {
    const text = await page.locator('[data-testid="flows-table"] tbody').innerText();
    assert.match(text, /kube-dns/);
    assert.match(text, /\(hidden\)/);
    assert.doesNotMatch(text, /storefront|frontend|rogue/);
  });
  await screenshot(page, "roles-scoped-flows");
});

const DMZ = "np:storefront/dmz";

test("the board, the policy and the editor offer a user only what it may do; the history shows who changed what", async () => {
  // The developer changes the dmz policy (its order) through the API, as a script would.
  const before = await api(STORE_DEV, `api/policy?id=${encodeURIComponent(DMZ)}`);
  assert.match(before.yaml, /order: 100/);
  const yaml = before.yaml.replace("order: 100", "order: 150");
  const res = await fetch(new URL("api/policies", demo.url), {
    method: "PUT",
    headers: { Authorization: `Bearer ${STORE_DEV}`, "content-type": "application/json" },
    body: JSON.stringify({ yaml, staged: false, version: before.version }),
  });
  assert.equal(res.status, 200, await res.text());

  // The developer: new policies in the default tier only, and the dmz policy editable.
  rememberLogin(`${demo.url}#token=${STORE_DEV}`);
  const dev = await openPage(browser, demo.url, "#/policies");
  await dev.getByTestId("new-policy").waitFor();
  await dev.getByTestId("new-policy-in-default").waitFor();
  assert.equal(await dev.getByTestId("new-policy-in-security").count(), 0, "security is read-only for the developer");
  assert.equal(await dev.locator('[aria-label="New policy in platform"]').count(), 0);
  await eventually(async () => assert.ok((await dev.locator('[data-testid^="step-admin-only-"]').count()) > 0, "scenario steps are for administrators"));
  assert.equal(await dev.locator('[data-testid^="apply-step-"]').count(), 0);
  await shot(dev, "sec-board-developer");
  await dev.goto(new URL(`#/policies?id=${encodeURIComponent(DMZ)}`, demo.url).toString());
  await dev.getByTestId("edit-policy").waitFor();
  assert.equal(await dev.getByTestId("read-only-for-user").count(), 0);
  const entry = dev.getByTestId("history-entry").first();
  await entry.waitFor();
  await eventually(async () => {
    const text = await entry.innerText();
    assert.match(text, /storefront-dev/);
    assert.match(text, /saved/);
    const diff = await entry.getByTestId("history-diff").innerText();
    assert.match(diff, /− +order: 100/);
    assert.match(diff, /\+ +order: 150/);
  });
  await dev.getByTestId("policy-history").scrollIntoViewIfNeeded();
  await shot(dev, "sec-policy-history");
  // In the editor, moving the draft to a tier the developer may only read disables saving.
  await dev.goto(new URL(`#/policies?new=1&tier=security&namespace=storefront`, demo.url).toString());
  await dev.getByTestId("scope-denied").waitFor();
  assert.equal(await dev.getByTestId("save-staged").isDisabled(), true);
  assert.equal(await dev.getByTestId("save-enforced").isDisabled(), true);
  assert.match(await dev.getByTestId("scope-denied").innerText(), /tier security/);
  await shot(dev, "sec-editor-denied-tier");

  // The viewer: no new policy anywhere, the policy read-only, its history visible.
  rememberLogin(`${demo.url}#token=${STORE_VIEWER}`);
  const viewer = await openPage(browser, demo.url, "#/policies");
  await viewer.locator(".pl-card").first().waitFor();
  assert.equal(await viewer.getByTestId("new-policy").count(), 0);
  assert.equal(await viewer.locator('[aria-label^="New policy in"]').count(), 0);
  await viewer.goto(new URL(`#/policies?id=${encodeURIComponent(DMZ)}`, demo.url).toString());
  await viewer.getByTestId("read-only-for-user").waitFor();
  assert.equal(await viewer.getByTestId("edit-policy").count(), 0);
  assert.equal(await viewer.getByTestId("detail-delete").count(), 0);
  assert.equal(await viewer.getByTestId("preview-delete").count(), 0);
  await viewer.getByTestId("history-entry").first().waitFor();
  await shot(viewer, "sec-policy-viewer");
  // The editor reached by its URL: saving and deleting disabled, and why.
  await viewer.goto(new URL(`#/policies?id=${encodeURIComponent(DMZ)}&edit=1`, demo.url).toString());
  await viewer.getByTestId("scope-denied").waitFor();
  assert.equal(await viewer.getByTestId("save-enforced").isDisabled(), true);
  assert.equal(await viewer.getByTestId("delete-policy").isDisabled(), true);
  assert.equal(await viewer.getByTestId("run-preview").isDisabled(), true);
  await shot(viewer, "sec-editor-viewer");
  assert.deepEqual([...dev.errors, ...viewer.errors], []);
});

// Roles in the browser: a demo started with --roles, a user scoped to one namespace logs in
// with its own URL and sees only the flows to or from that namespace, the other end hidden.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eventually, launchBrowser, openPage, rememberLogin, screenshot, startDemo, waitFor } from "./harness.mjs";

const ADMIN = "e2e-admin-token-0123456789";
const DNS_TEAM = "e2e-dns-team-token-0123456789";

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
    `users:\n  - name: root\n    token: ${ADMIN}\n    role: admin\n  - name: dns-team\n    token: ${DNS_TEAM}\n    tiers: {default: read}\n    namespaces: {kube-system: read}\n`,
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

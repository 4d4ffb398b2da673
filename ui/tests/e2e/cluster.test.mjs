// `flowlens serve --kube` against the fake cluster (crates/kube's `fake_cluster` example, a
// fake Kubernetes API server): the navigation's cluster card, a policy save that is applied
// to the cluster, a save that conflicts with kubectl's fields, and the read-only editor of a
// cluster that forbids writes. The storefront demo of the other tests shows "Snapshot".
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  eventually,
  findBinary,
  getJson,
  launchBrowser,
  openPage,
  rememberLogin,
  screenshot,
  sharedDemo,
  uiDirArgs,
  waitFor,
} from "./harness.mjs";

/** The fake cluster: FLOWLENS_FAKE_CLUSTER, else the example next to the flowlens binary. */
function fakeClusterBinary() {
  if (process.env.FLOWLENS_FAKE_CLUSTER) return path.resolve(process.env.FLOWLENS_FAKE_CLUSTER);
  return path.join(path.dirname(findBinary()), "examples", "fake_cluster");
}

/** Prints of `proc` until `pattern` matches; resolves to the match. */
function waitForOutput(proc, stream, pattern, what, timeoutMs = 60_000) {
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    proc[stream].on("data", (chunk) => {
      output += chunk.toString();
      const m = pattern.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output}`));
    });
  });
}

/** A fake cluster and `flowlens serve --kube` following it. */
async function startCluster({ readOnly = false } = {}) {
  const fakeBin = fakeClusterBinary();
  if (!existsSync(fakeBin)) {
    throw new Error(`${fakeBin} not found: cargo build -p flowlens-kube --features test-support --example fake_cluster (scripts/ui-test.sh does)`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "flowlens-e2e-cluster-"));
  const kubeconfig = path.join(dir, "kubeconfig");
  const fake = spawn(fakeBin, [kubeconfig, ...(readOnly ? ["read-only"] : [])], { stdio: ["pipe", "pipe", "pipe"] });
  const [, apiServer] = await waitForOutput(fake, "stdout", /ready (\S+)/, "the fake cluster");
  const serve = spawn(
    findBinary(),
    ["serve", "--kube", "--kubeconfig", kubeconfig, "--data", path.join(dir, "data"), "--port", "0", ...uiDirArgs()],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } },
  );
  serve.stderr.on("data", (c) => process.env.FLOWLENS_E2E_VERBOSE && process.stderr.write(c));
  const [, login] = await waitForOutput(serve, "stdout", /(http:\/\/127\.0\.0\.1:\d+\/(?:#token=[A-Za-z0-9_-]+)?)\s/, "flowlens serve --kube");
  const { url } = rememberLogin(login);
  await waitFor(async () => (await getJson(url, "api/cluster")).ready, { what: "the cluster's first listing", timeoutMs: 60_000 });
  const stop = async () => {
    for (const proc of [serve, fake]) {
      if (proc.exitCode !== null) continue;
      const exited = new Promise((r) => proc.once("exit", r));
      if (proc === fake) proc.stdin.end();
      else proc.kill("SIGTERM");
      const t = setTimeout(() => proc.exitCode === null && proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, apiServer, stop };
}

let cluster;
let browser;
before(async () => {
  cluster = await startCluster();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await cluster?.stop();
});

/** The id of the fake cluster's Calico policy in the security tier. */
async function securityPolicyId(url) {
  const board = await getJson(url, "api/policies");
  const tier = board.tiers.find((t) => t.name === "security");
  assert.ok(tier?.policies.length, `no policy in the security tier: ${JSON.stringify(board)}`);
  return tier.policies[0].id;
}

test("the navigation shows the cluster the inventory follows", async () => {
  const page = await openPage(browser, cluster.url, "#/policies");
  const card = page.locator('[data-testid="cluster"][data-mode="cluster"]');
  await eventually(async () => {
    assert.equal(await card.getAttribute("data-ready", { timeout: 2_000 }), "true");
    assert.equal(await card.getByTestId("cluster-state").innerText(), "watching");
  });
  const text = await card.innerText();
  assert.match(text, /fake/, "the kubeconfig context");
  assert.match(text, /rev \d+/);
  assert.match(text, /writes policies/);
  // The board is the cluster's: its tier and policies.
  await page.getByText("security", { exact: true }).first().waitFor();
  await screenshot(page, "cluster-card");
  assert.deepEqual(page.errors, []);
});

test("the storefront demo says its inventory is not a cluster", async () => {
  const demo = await sharedDemo();
  try {
    const page = await openPage(browser, demo.url, "#/flows?since=15m");
    const card = page.locator('[data-testid="cluster"]');
    await eventually(async () => assert.equal(await card.getAttribute("data-mode", { timeout: 2_000 }), "snapshot"));
    assert.match(await card.innerText(), /Snapshot/);
    await page.close();
  } finally {
    await demo.stop();
  }
});

test("saving a policy applies it to the cluster, and a save over kubectl's fields conflicts", async () => {
  const id = await securityPolicyId(cluster.url);
  const page = await openPage(browser, cluster.url, `#/policies?id=${encodeURIComponent(id)}&edit=1`);
  await page.getByTestId("policy-editor").waitFor();
  await page.getByTestId("validation-ok").waitFor();
  await page.getByTestId("cluster-save-note").waitFor();
  // Staged: a new object of the staged kind, applied by flowlens.
  await page.getByTestId("save-staged").click();
  await eventually(async () => assert.doesNotMatch(page.url(), /edit=1/), { timeoutMs: 30_000 });
  await eventually(async () => {
    const board = await getJson(cluster.url, "api/policies");
    const policies = board.tiers.find((t) => t.name === "security").policies;
    assert.ok(policies.some((p) => p.staged), `the staged copy on the board: ${JSON.stringify(policies)}`);
  });

  // Enforced, with a changed order: kubectl owns spec.order, so the cluster refuses.
  await page.goto(new URL(`#/policies?id=${encodeURIComponent(id)}&edit=1`, cluster.url).toString());
  await page.getByTestId("validation-ok").waitFor();
  const order = page.getByLabel("Order", { exact: true });
  await order.fill("12.5");
  page.once("dialog", (d) => d.accept());
  await page.getByTestId("save-enforced").click();
  const conflict = page.getByTestId("save-conflict");
  await conflict.waitFor({ timeout: 30_000 });
  assert.match(await conflict.innerText(), /kubectl/);
  assert.match(await page.getByTestId("conflict-current").innerText(), /order: 10/);
  await screenshot(page, "cluster-save-conflict");
  // Overwriting takes the fields over; the board then shows the new order.
  page.once("dialog", (d) => d.accept());
  await page.getByTestId("save-force").click();
  await eventually(
    async () => {
      const policy = await getJson(cluster.url, `api/policy?id=${encodeURIComponent(id)}`);
      assert.equal(policy.order, 12.5);
    },
    { timeoutMs: 30_000 },
  );
  assert.deepEqual(page.errors, []);
});

test("a cluster that forbids writes makes the editor read-only with the YAML to download", async () => {
  const readOnly = await startCluster({ readOnly: true });
  try {
    const id = await securityPolicyId(readOnly.url);
    const page = await openPage(browser, readOnly.url, `#/policies?id=${encodeURIComponent(id)}&edit=1`);
    await page.getByTestId("policy-editor").waitFor();
    const banner = page.getByTestId("read-only");
    await banner.waitFor();
    assert.match(await banner.innerText(), /Read-only/);
    assert.equal(await page.getByTestId("save-staged").isDisabled(), true);
    assert.equal(await page.getByTestId("save-enforced").isDisabled(), true);
    assert.equal(await page.getByTestId("delete-policy").isDisabled(), true);
    const download = page.waitForEvent("download");
    await page.getByTestId("download-yaml").click();
    assert.match((await download).suggestedFilename(), /\.yaml$/);
    await eventually(async () => assert.match(await page.locator('[data-testid="cluster-write"]').innerText(), /read-only/));
    await screenshot(page, "cluster-read-only-editor");
    assert.deepEqual(page.errors, []);
  } finally {
    await readOnly.stop();
  }
});

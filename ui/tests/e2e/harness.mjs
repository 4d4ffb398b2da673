// Shared helpers for the browser tests: start a `flowlens demo` for a scenario, launch Debian's
// Chromium through playwright-core, take screenshots, wait for conditions.
//
//   import { startDemo, launchBrowser, openPage, screenshot } from "./harness.mjs";
//   const demo = await startDemo({ scenario: "fme" });   // demo.url, demo.stop()
//   const browser = await launchBrowser();
//   const page = await openPage(browser, demo.url, "#/policies");
//
// `sharedDemo()` reuses the storefront demo that run-e2e.mjs started (FLOWLENS_E2E_URL), or
// starts one when a test file is run on its own (`node --test tests/e2e/flows.test.mjs`).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

/**
 * The API token of each demo by origin. Node-side requests of the tests (fetch, getJson) carry
 * it as a bearer token; pages log in as a user does, by opening the printed login URL.
 */
const tokens = new Map();
const plainFetch = globalThis.fetch;
globalThis.fetch = (input, init = {}) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const token = tokens.get(url.origin);
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
  return plainFetch(input, { ...init, headers });
};

/** Splits the URL a demo printed (`http://127.0.0.1:PORT/#token=…`) and remembers its token. */
export function rememberLogin(loginUrl) {
  const m = /^(http:\/\/[^/]+\/)(?:#token=([A-Za-z0-9_-]+))?/.exec(loginUrl);
  if (!m) throw new Error(`not a flowlens URL: ${loginUrl}`);
  const [, url, token] = m;
  if (token) tokens.set(new URL(url).origin, token);
  return { url, token, loginUrl };
}

/** The login URL of the demo at `url` (the URL itself when it runs without a token). */
export function loginUrlOf(url) {
  const token = tokens.get(new URL(url).origin);
  return token ? new URL(`#token=${token}`, url).toString() : new URL(url).toString();
}

export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = path.join(UI_DIR, "test-results", "screenshots");

/** The flowlens binary: FLOWLENS_BIN, else $CARGO_TARGET_DIR/debug/flowlens, else ../target/debug/flowlens. */
export function findBinary() {
  if (process.env.FLOWLENS_BIN) return path.resolve(process.env.FLOWLENS_BIN);
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(UI_DIR, "..", process.env.CARGO_TARGET_DIR)
    : path.join(UI_DIR, "..", "target");
  return path.join(target, "debug", "flowlens");
}

/**
 * The UI files the demo serves: FLOWLENS_UI_DIR, else ui/dist when it was built, else the copy
 * embedded in the binary (FLOWLENS_UI_DIR=embedded forces that).
 */
export function uiDirArgs() {
  const dir = process.env.FLOWLENS_UI_DIR;
  if (dir === "embedded") return [];
  if (dir) return ["--ui-dir", path.resolve(dir)];
  const dist = path.join(UI_DIR, "dist");
  return existsSync(path.join(dist, "index.html")) ? ["--ui-dir", dist] : [];
}

/**
 * Starts `flowlens demo` on a free port with a fresh data directory and waits until
 * /api/health answers. Resolves to { url, stop }; stop() ends the demo and removes its data.
 */
export async function startDemo({ scenario = "storefront", speed = 20, args = [], timeoutMs = 60_000 } = {}) {
  const bin = findBinary();
  if (!existsSync(bin)) throw new Error(`flowlens binary not found at ${bin}: build it (cargo build -p flowlens) or set FLOWLENS_BIN`);
  const data = mkdtempSync(path.join(tmpdir(), `flowlens-e2e-${scenario}-`));
  const argv = ["demo", "--scenario", scenario, "--port", "0", "--data", data, "--speed", String(speed), ...uiDirArgs(), ...args];
  // The scenarios of this checkout: a binary from a shared build cache may have been compiled
  // in another one, and its built-in fallback path would point there.
  const env = {
    ...process.env,
    RUST_LOG: process.env.RUST_LOG ?? "warn",
    FLOWLENS_SCENARIOS: process.env.FLOWLENS_SCENARIOS ?? path.join(UI_DIR, "..", "scenarios"),
  };
  const proc = spawn(bin, argv, { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  const login = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not print its URL within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk) => {
      output += chunk.toString();
      // The login URL, with the token in its fragment, ends the line.
      const m = /(http:\/\/127\.0\.0\.1:\d+\/(?:#token=[A-Za-z0-9_-]+)?)\s/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(rememberLogin(m[1]));
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", (c) => (output += c.toString()));
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`demo exited with ${code} before it was ready:\n${output}`));
    });
  });
  const { url } = login;
  // Keep draining the pipes so the demo never blocks on a full buffer.
  proc.stdout.on("data", () => {});
  proc.stderr.on("data", (c) => {
    if (process.env.FLOWLENS_E2E_VERBOSE) process.stderr.write(c);
  });
  await waitFor(async () => (await fetch(new URL("api/health", url))).ok, { timeoutMs, what: "/api/health" });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.exitCode === null && proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(data, { recursive: true, force: true });
  };
  return { url, loginUrl: login.loginUrl, token: login.token, stop, proc, dataDir: data };
}

/** The storefront demo of this run (started by run-e2e.mjs), or a new one for a lone test file. */
export async function sharedDemo() {
  const printed = process.env.FLOWLENS_E2E_URL;
  if (printed) return { ...rememberLogin(printed), stop: async () => {} };
  return startDemo({ scenario: "storefront" });
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/**
 * A page at `url` + `hash`, 1600×1000 unless `viewport` says otherwise. Uncaught page errors
 * are collected in page.errors so a test can assert there were none.
 */
export async function openPage(browser, url, hash = "", { viewport = { width: 1600, height: 1000 } } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) page.errors.push(m.text());
  });
  // Log in as a user does: open the printed URL; the UI trades the fragment's token for a
  // cookie and clears the fragment.
  const login = loginUrlOf(url);
  if (login.includes("#token=")) {
    await page.goto(login);
    await page.waitForFunction(() => !window.location.hash.startsWith("#token="), null, { timeout: 20_000 });
    await waitFor(async () => (await page.context().cookies()).some((c) => c.name === "flowlens_session"), { what: "the session cookie" });
  }
  await page.goto(new URL(hash, url).toString());
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Polls `fn` until it returns a truthy value; throws with `what` on timeout. */
export async function waitFor(fn, { timeoutMs = 20_000, intervalMs = 250, what = "condition" } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Retries `check` (an async function that asserts) until it passes; on timeout throws the last
 * assertion error, so the failure says what was expected and what was seen. Use it for anything
 * the page shows after a render, a fetch or a stream: a test asserts only on a state it waited for.
 */
export async function eventually(check, { timeoutMs = 20_000, intervalMs = 200 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Waits until the Flows table shows the answer to the query the page asked for last: its results
 * card names the query it loaded (`data-loaded-query`) and is not busy. `matches` is tested
 * against that query string (URLSearchParams).
 */
export async function flowsLoaded(page, matches = () => true, { timeoutMs = 20_000 } = {}) {
  return waitFor(
    async () => {
      const state = await page
        .locator('[data-testid="flow-results"]')
        .first()
        .evaluate((el) => ({ busy: el.getAttribute("aria-busy"), query: el.dataset.loadedQuery }));
      if (state.busy !== "false" || state.query === undefined) return null;
      const q = new URLSearchParams(state.query);
      return matches(q) ? q : null;
    },
    { timeoutMs, what: "the Flows table to show the current query's answer" },
  );
}

export async function getJson(url, pathAndQuery) {
  const res = await fetch(new URL(pathAndQuery, url));
  if (!res.ok) throw new Error(`${pathAndQuery}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Applies a scenario step unless it already was (test files share one demo). */
export async function ensureStep(url, step) {
  const s = await getJson(url, "api/scenario");
  if (s.steps.find((x) => x.name === step)?.applied) return;
  const res = await fetch(new URL(`api/scenario/steps/${step}`, url), { method: "POST" });
  if (!res.ok && res.status !== 409) throw new Error(`applying ${step}: ${res.status} ${await res.text()}`);
}

export function cleanupDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** axe-core from the node modules, injected into the page (nothing comes from a CDN). */
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/**
 * Runs axe-core's WCAG 2 A/AA rules on the page as it is and returns the violations of
 * serious or critical impact, each as "rule: help (selector, …)".
 */
export async function seriousA11yViolations(page) {
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy rightly
  // refuses an injected inline <script>.
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.evaluate(readFileSync(AXE, "utf8"));
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      // Contrast failures say which colours, so the fix is obvious.
      nodes: v.nodes.map((n) => {
        const d = n.any?.[0]?.data;
        const colours = d?.fgColor ? ` ${d.fgColor} on ${d.bgColor} = ${d.contrastRatio}:1` : "";
        return `${n.target.join(" ")}${colours}`;
      }),
    }));
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.slice(0, 8).join("; ")}${v.nodes.length > 8 ? "; …" : ""})`);
}

// Runs the browser tests: starts one storefront demo, runs every tests/e2e/*.test.mjs with
// node:test (one file at a time: the machine has two cores and a browser each), stops the demo,
// and exits non-zero on any failure.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { startDemo, UI_DIR } from "./e2e/harness.mjs";

const only = process.argv.slice(2);
const dir = path.join(UI_DIR, "tests", "e2e");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".test.mjs"))
  .filter((f) => !only.length || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => path.join(dir, f));

const started = Date.now();
const demo = await startDemo({ scenario: "storefront", speed: 20 });
console.log(`e2e: storefront demo at ${demo.url}`);
let code = 1;
const stopAll = async () => {
  await demo.stop();
};
process.on("SIGINT", () => stopAll().then(() => process.exit(130)));
process.on("SIGTERM", () => stopAll().then(() => process.exit(143)));
try {
  code = await new Promise((resolve) => {
    const reporters = [
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      `--test-reporter=${path.join(UI_DIR, "tests", "slowest-reporter.mjs")}`,
      "--test-reporter-destination=stdout",
    ];
    // The timeout bounds each file as a whole too: flows.test.mjs takes about two minutes on
    // a loaded two-core machine, so give a file five.
    const child = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=300000", ...reporters, ...files], {
      stdio: "inherit",
      cwd: UI_DIR,
      env: { ...process.env, FLOWLENS_E2E_URL: demo.loginUrl },
    });
    child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
} finally {
  await stopAll();
}
console.log(`e2e: ${code === 0 ? "passed" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(code);

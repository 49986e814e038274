// Proxy re-encryption in the browser, side by side with umbral-pre 0.10
// (@nucypher/umbral-pre, GPL: a benchmark-only dev dependency of these
// tests, never part of the published package): grant creation against
// generateKFrags, and the reader's verify + combine + decrypt of a 1 KiB
// section against CapsuleFrag.verify + decryptReencrypted. Both must decrypt
// correctly; the medians are printed (scripts/bench.sh runs it with more
// iterations: SESPHR_PRE_ITERS).
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, root, startServer } from "./server.mjs";

test("SeSPHR's grant and read against umbral-pre's in the same Chromium page", { timeout: 300_000 }, async () => {
  const iters = Number(process.env.SESPHR_PRE_ITERS ?? "5");
  const here = join(root, "tests", "js");
  const www = mkdtempSync(join(tmpdir(), "sesphr-pre-"));
  const umbral = join(here, "node_modules", "@nucypher", "umbral-pre", "pkg-bundler");
  mkdirSync(join(www, "umbral"));
  for (const f of ["umbral_pre_wasm_bg.js", "umbral_pre_wasm_bg.wasm"]) copyFileSync(join(umbral, f), join(www, "umbral", f));
  copyFileSync(join(here, "pre-page.js"), join(www, "main.js"));
  writeFileSync(join(www, "index.html"), '<!doctype html><meta charset="utf-8"><title>pre</title><script type="module" src="/main.js"></script>');
  const server = await startServer({ wwwDir: www });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.goto(`${server.url}/?iters=${iters}`);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 240_000 });
    const r = await page.evaluate(() => window.result);
    assert.equal(r.error, undefined);
    assert.ok(r.sesphr.ok, "SeSPHR decrypted something else");
    assert.ok(r.umbral.ok, "umbral-pre decrypted something else");
    const ratio = (a, b) => (a / b).toFixed(2);
    console.log(
      `PRE ${JSON.stringify({ iters, ...r, grantRatio: ratio(r.sesphr.grantMs, r.umbral.grantMs), readRatio: ratio(r.sesphr.readMs, r.umbral.readMs) })}`,
    );
  } finally {
    await browser.close();
    await server.stop();
    rmSync(www, { recursive: true, force: true });
  }
});

// Bulk encryption and decryption in headless Chromium: SeSPHR's body
// pipeline against raw WebCrypto AES-256-GCM on the same bytes, from a File
// to a Blob and back (tests/js/bulk-page.js). Every round trip must give the
// input back, across both engines; throughputs are printed as `BULK {...}`
// lines, never asserted. Smoke sizes by default; scripts/bench.sh sets
// SESPHR_BULK_SIZES=1,16,256 and SESPHR_BULK_ITERS (SESPHR_BULK_CHUNK_LOG2
// overrides the chunk size the package writes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromiumProfile, root, startServer } from "./server.mjs";

test("bulk encryption round-trips in Chromium, side by side with raw WebCrypto", { timeout: 900_000 }, async () => {
  const sizes = process.env.SESPHR_BULK_SIZES ?? "1";
  const iters = process.env.SESPHR_BULK_ITERS ?? "1";
  const chunkLog2 = process.env.SESPHR_BULK_CHUNK_LOG2; // the package's own when unset
  const www = mkdtempSync(join(tmpdir(), "sesphr-bulk-"));
  copyFileSync(join(root, "tests", "js", "bulk-page.js"), join(www, "main.js"));
  writeFileSync(
    join(www, "index.html"),
    '<!doctype html><meta charset="utf-8"><title>bulk</title><input type="file" multiple><script type="module" src="/main.js"></script>',
  );
  // The inputs are real files on disk, as a user would pick them.
  const inputs = sizes.split(",").map((mib) => {
    const path = join(www, `input-${mib}MiB.bin`);
    const fd = openSync(path, "w");
    for (let left = Number(mib) << 20; left > 0; left -= 1 << 20) writeSync(fd, randomBytes(Math.min(left, 1 << 20)));
    closeSync(fd);
    return path;
  });
  const server = await startServer({ wwwDir: www });
  // A persistent profile, so that large Blobs may spill to disk as in a
  // user's browser (an off-the-record context keeps them all in memory).
  const profile = mkdtempSync(join(tmpdir(), "sesphr-bulk-profile-"));
  const context = await launchChromiumProfile(profile, ["--enable-precise-memory-info", "--js-flags=--expose-gc"]);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => console.error("page error:", e));
    // localhost, so crypto.subtle exists (a secure context).
    await page.goto(`${server.url.replace("127.0.0.1", "localhost")}/?iters=${iters}${chunkLog2 ? `&chunkLog2=${chunkLog2}` : ""}`);
    await page.waitForFunction(() => window.runBulk !== undefined);
    await page.setInputFiles("input[type=file]", inputs);
    const r = await page.evaluate(() => window.runBulk());
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.rows.length, sizes.split(",").length);
    for (const row of r.rows) {
      assert.ok(row.sesphrEnc > 0 && row.sesphrDec > 0, JSON.stringify(row));
      console.log(`BULK ${JSON.stringify(row)}`);
    }
  } finally {
    await context.close();
    await server.stop();
    rmSync(www, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
});

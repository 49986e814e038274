// The portal over a sharded deployment (one `serve` and two more relays,
// 2 of 3), in Debian's headless Chromium: "My identity" lists the storage
// servers and whether each answers; with one stopped, the list says so,
// reading still works, and a save says in plain words why nothing was
// saved; a server that lost its files gets its shares back from "Repair
// missing shares". Screenshots go to target/portal-screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launchChromium, openTab, portalShots, startSharded } from "./server.mjs";
import { mkdirSync, readdirSync, rmSync } from "node:fs";

const PASS = "correct horse battery staple";
let server;
let browser;

before(async () => {
  mkdirSync(portalShots, { recursive: true });
  server = await startSharded();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A new browser context with a fresh identity made in the portal. */
async function newIdentity() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(server.url);
  await page.getByLabel("New passphrase", { exact: true }).fill(PASS);
  await page.getByLabel("Repeat the new passphrase").fill(PASS);
  await page.getByRole("button", { name: "Create identity" }).click();
  return { context, page };
}

/** Creates a record and saves its history section as `text`. */
async function saveHistory(page, text) {
  await page.getByRole("button", { name: "My records" }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  await openTab(page, "Sections");
  await page.getByLabel("Section", { exact: true }).selectOption("history");
  await page.getByLabel("Free text").fill(text);
  await page.getByRole("button", { name: "Encrypt and save" }).click();
  await page.locator(".msg:not(.error)").filter({ hasText: "Saved history as version" }).first().waitFor();
}

test("a server that lost its files: Repair missing shares stores them again, and says so", async () => {
  const { context, page } = await newIdentity();
  await saveHistory(page, "repaired from the portal");

  // The first extra server loses every blob it had (this record's share among them).
  const dir = join(server.shards[0].data, "relay", "blobs");
  const lost = readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
  assert.ok(lost.length >= 2, "it held a share and its index");
  for (const id of lost) rmSync(join(dir, id));

  await page.getByRole("button", { name: "My identity" }).click();
  const repair = page.getByRole("button", { name: "Repair missing shares" });
  await repair.click();
  const line = page.locator("#relay-repair + .msg");
  await line.filter({ hasText: "stored again" }).waitFor();
  assert.match(await line.textContent(), /^1 share of your record had gone missing and is stored again\.$/);
  assert.ok(readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).length >= 2, "the share is back on that server");
  await page.screenshot({ path: join(portalShots, "storage-repaired.png"), fullPage: true });
  await repair.click();
  await line.filter({ hasText: "in place" }).waitFor();
  assert.equal(await line.textContent(), "Every share of your record is in place.");
  await page.getByRole("button", { name: "My records" }).click();
  await openTab(page, "Sections");
  await page.getByRole("button", { name: "Read history" }).click();
  await page.locator("#read-view").getByText("repaired from the portal").waitFor();
  await context.close();
});

test("after sign-in the portal repairs a server's lost shares by itself, and My identity says so", async () => {
  const { context, page } = await newIdentity();
  await saveHistory(page, "healed on sign-in");
  const dir = join(server.shards[1].data, "relay", "blobs");
  const files = () => readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const held = files();
  assert.ok(held.length >= 2, "it held a share and its index");
  for (const id of held) rmSync(join(dir, id));
  // Next visit: unlocking is all the person does.
  await page.reload();
  await page.getByLabel("Passphrase to unlock").fill(PASS);
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByRole("button", { name: "My identity" }).click();
  const auto = page.locator("#relay-auto");
  await auto.filter({ hasText: "stored again" }).waitFor();
  assert.match(await auto.textContent(), /^Checked at .+: 1 share of your record had gone missing and is stored again\.$/);
  assert.ok(files().length >= 2, "the share is back on that server");
  await page.screenshot({ path: join(portalShots, "storage-healed-on-sign-in.png"), fullPage: true });
  // Asking again finds everything in place.
  await page.getByRole("button", { name: "Repair missing shares" }).click();
  await page.locator("#relay-repair + .msg").filter({ hasText: "in place" }).waitFor();
  assert.match(await auto.textContent(), /Every share of your record is in place\.$/);
  await context.close();
});

test("My identity lists the storage servers and their health; with one down a save explains itself and reading goes on", async () => {
  const { context, page } = await newIdentity();
  await page.getByRole("button", { name: "My identity" }).click();
  const rows = page.locator("#relay-rows tr");
  await page.locator('#relay-rows tr[data-state="up"]').nth(2).waitFor();
  assert.equal(await rows.count(), 3);
  const urls = await page.locator("#relay-rows td.fp").allTextContents();
  assert.deepEqual(urls, [server.url, ...server.shards.map((s) => s.url)]);
  assert.match(await page.locator("#storage-summary").textContent(), /split into 3 encrypted shares .* any 2 of them rebuild it/);
  await page.screenshot({ path: join(portalShots, "storage-servers.png"), fullPage: true });

  // A record with a section, saved over the three.
  await saveHistory(page, "asthma since 2009");

  // One relay stops: the list says so.
  await server.shards[1].stop();
  await page.getByRole("button", { name: "My identity" }).click();
  await page.getByRole("button", { name: "Check again" }).click();
  await page.locator('#relay-rows tr[data-state="down"]').waitFor();
  assert.match(await page.locator('#relay-rows tr[data-state="down"]').textContent(), /does not answer/);
  await page.screenshot({ path: join(portalShots, "storage-server-down.png"), fullPage: true });

  // Reading still works from the two left (any 2 of 3) ...
  await page.getByRole("button", { name: "My records" }).click();
  await openTab(page, "Sections");
  await page.getByRole("button", { name: "Read history" }).click();
  await page.locator("#read-view").getByText("asthma since 2009").waitFor();
  // ... a save needs all three, and says why nothing was saved.
  await page.getByLabel("Section", { exact: true }).selectOption("notes");
  await page.getByLabel("Free text").fill("written while a server is down");
  await page.getByRole("button", { name: "Encrypt and save" }).click();
  const err = page.locator(".msg.error[data-code=unavailable]").first();
  await err.waitFor();
  assert.match(await err.textContent(), /Only 2 of the 3 storage servers .* nothing was saved/);
  await page.screenshot({ path: join(portalShots, "storage-save-refused.png"), fullPage: true });
  await context.close();
});

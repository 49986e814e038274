// The portal end to end in Debian's headless Chromium (Playwright), against
// the real relay + SRS: a patient, a physician and an insurer in separate
// browser contexts; a 20 MB attachment; FHIR import; revocation; backup and
// restore in a fresh context; a save the re-encryption server confirms only
// later, and a storage server that hides the newest version (its responses
// rewritten in flight). Screenshots go to target/portal-screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, openTab, root, startServer } from "./server.mjs";

const shots = join(root, "target", "portal-screenshots");
const PASS = "correct horse battery staple";
const timings = {};
let server;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  writeFileSync(join(shots, "timings.json"), JSON.stringify(timings, null, 2));
});

/** A person with their own browser context (own IndexedDB). */
async function person(name, { insecure = false } = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 900 } });
  if (insecure) {
    // What a plain-http page on a network address sees: no crypto.subtle.
    await context.addInitScript(() => {
      Object.defineProperty(Crypto.prototype, "subtle", { get: () => undefined });
    });
  }
  const page = await context.newPage();
  page.setDefaultTimeout(120_000);
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e));
  await page.goto(server.url);
  return { name, context, page };
}

async function shot(p, file) {
  await p.page.screenshot({ path: join(shots, file), fullPage: true });
}

async function createIdentity(p) {
  const { page } = p;
  await page.getByLabel("New passphrase", { exact: true }).fill(PASS);
  await page.getByLabel("Repeat the new passphrase").fill(PASS);
  await page.getByRole("button", { name: "Create identity" }).click();
  await page.getByRole("button", { name: "My identity" }).click();
  const id = await page.locator("#my-id").textContent();
  assert.match(id, /^[0-9a-f]{64}$/);
  p.id = id;
  return id;
}

/** Waits for a message, at the top of the page or next to the action that caused it. */
async function status(page, pattern) {
  await page.locator("#status, .msg:not(.error)").filter({ hasText: pattern }).first().waitFor();
}

/** The text of the latest message next to an action (or at the top). */
async function lastMessage(page, pattern) {
  const m = page.locator("#status, .msg:not(.error)").filter({ hasText: pattern }).first();
  await m.waitFor();
  return m.textContent();
}

/** The failure shown next to the action inside `scope` (a selector), with its code. */
async function failureNear(page, scope, code) {
  const m = page.locator(`${scope} .msg.error[data-code=${code}], ${scope} ~ .msg.error[data-code=${code}]`).first();
  await m.waitFor();
  return m.locator(".what").textContent();
}

async function noAlert(page) {
  assert.equal(await page.locator("#alert").isVisible(), false, await page.locator("#alert").textContent());
  const errors = page.locator(".msg.error");
  for (let i = 0; i < (await errors.count()); i++) {
    assert.equal(await errors.nth(i).isVisible(), false, await errors.nth(i).textContent());
  }
}

/** Another tab of `p`'s browser, unlocked, on "My records". */
async function secondTab(p) {
  const b = await p.context.newPage();
  b.setDefaultTimeout(60_000);
  await b.goto(server.url);
  await b.getByLabel("Passphrase to unlock").fill(PASS);
  await b.getByRole("button", { name: "Unlock" }).click();
  await b.getByRole("button", { name: "My records", exact: true }).click();
  return b;
}

async function writeSection(page, name, { fields = "", text = "", files } = {}) {
  await openTab(page, "Sections");
  await page.getByLabel("Section", { exact: true }).selectOption(name);
  await page.getByLabel('Fields (one "name: value" per line)').fill(fields);
  await page.getByLabel("Free text").fill(text);
  if (files) await page.getByLabel("Add attachments").setInputFiles(files);
  await page.getByRole("button", { name: "Encrypt and save" }).click();
  await status(page, `Saved ${name} as version`);
  await noAlert(page);
}

/** Shares with someone new (named `name` as they are added to the contacts) or a contact. */
async function share(page, id, role, name) {
  await openTab(page, "Sharing");
  const who = page.getByLabel("Share with");
  if (name) {
    await who.selectOption("");
    await page.getByLabel("Their party id", { exact: true }).fill(id);
  } else {
    await who.selectOption(id);
  }
  await page.getByRole("button", { name: "Continue" }).click();
  await page.locator("#share-form").waitFor();
  if (name) await page.getByLabel("Their name").fill(name);
  await page.getByLabel("Role").selectOption(role);
  await page.getByRole("button", { name: "Share", exact: true }).click();
  await status(page, "Shared");
  await noAlert(page);
}

async function openShared(p) {
  const { page } = p;
  await page.getByRole("button", { name: "Shared with me" }).click();
  await page.getByRole("button", { name: "Open record 1" }).click();
  await page.locator("#shared-list .msg").filter({ hasText: /Opened|Code for support/ }).first().waitFor();
  return page.locator("#reading");
}

test("patient shares sections, readers read exactly what was granted, revocation and restore", { timeout: 900_000 }, async () => {
  const patient = await person("patient");
  const physician = await person("physician");
  const insurer = await person("insurer", { insecure: true });

  await shot(patient, "01-welcome.png");
  await insurer.page.locator("#engine").filter({ hasText: /not a secure context.*slower/ }).waitFor();
  const t0 = Date.now();
  await createIdentity(patient);
  timings.createIdentityMs = Date.now() - t0;
  await createIdentity(physician);
  await createIdentity(insurer);
  await shot(patient, "02-identity.png");

  // A record with clinical sections, insurance and a 20 MB lab attachment.
  const { page } = patient;
  await page.getByRole("button", { name: "My records" }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  await status(page, "Record created");
  await writeSection(page, "demographics", { fields: "name: Maria Rossi\nborn: 1961-03-09" });
  await writeSection(page, "history", { fields: "condition: asthma\nsince: 2009", text: "Childhood asthma, well controlled." });
  await writeSection(page, "medications", { fields: "salbutamol: 100 µg as needed" });
  await writeSection(page, "insurance", { fields: "insurer: Acme Health\npolicy: 42-1337" });
  const big = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE((i * 2654435761) >>> 0, i);
  const bigHash = createHash("sha256").update(big).digest("hex");
  await writeSection(page, "labs", {
    fields: "HbA1c: 6.1 %",
    text: "Annual panel",
    files: [{ name: "panel-2026.bin", mimeType: "application/octet-stream", buffer: big }],
  });
  timings.upload20MBMs = Number(await page.locator("#save-progress").getAttribute("data-ms"));
  assert.ok(timings.upload20MBMs > 0);
  // The owner reads back their own attachment.
  await page.getByRole("button", { name: "Edit labs" }).click();
  await status(page, "Editing labs");
  const [own] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download panel-2026.bin" }).click(),
  ]);
  assert.equal(createHash("sha256").update(readFileSync(await own.path())).digest("hex"), bigHash);
  await shot(patient, "03-record.png");

  // The patient reads her own record as a reader would.
  await page.getByRole("button", { name: "Read the whole record" }).click();
  await status(page, "Showing 5 sections");
  const ownView = page.locator("#read-view");
  await ownView.getByText("Childhood asthma, well controlled.").waitFor();
  await ownView.getByText("Acme Health").waitFor();
  await ownView.getByRole("button", { name: "Download panel-2026.bin" }).waitFor();
  await shot(patient, "03b-read-own.png");
  await page.getByRole("button", { name: "Close" }).click();

  await share(page, physician.id, "physician", "Dr Bob Okafor");
  await share(page, insurer.id, "insurer", "Acme claims desk");
  // One row per person; the physician's six sections and the insurer's one.
  const grantRows = page.locator("#grant-table tbody tr");
  assert.equal(await grantRows.count(), 2);
  assert.equal(await page.locator("#grant-table [data-status=active]").count(), 7);
  const bobInTable = await grantRows.filter({ hasText: "Dr Bob Okafor" }).locator("td").first().textContent();
  assert.match(bobInTable, /^Dr Bob Okafor \([A-Z2-7]{4}-[A-Z2-7]{4}\)$/);
  // A contact is offered by name the next time.
  assert.deepEqual(
    (await page.getByLabel("Share with").locator("option").allTextContents()).map((t) => t.replace(/ \(.*/, "")),
    ["Acme claims desk", "Dr Bob Okafor", "Someone new: enter their party id…"],
  );
  await shot(patient, "04-sharing.png");

  // The physician reads the clinical sections and the attachment, never insurance.
  let reading = await openShared(physician);
  await noAlert(physician.page);
  await reading.getByText("Childhood asthma, well controlled.").waitFor();
  await reading.getByText("salbutamol").waitFor();
  await reading.getByText("HbA1c").waitFor();
  assert.equal(await reading.getByText("Acme Health").count(), 0);
  assert.equal(await reading.locator("[data-code=no_such_section]").getAttribute("data-count"), "2"); // allergies, imaging: never written
  // The physician sees whose record it is, from the demographics shared.
  assert.equal(await physician.page.locator("#reading-h").textContent(), "Maria Rossi's record", await reading.textContent());
  const [download] = await Promise.all([
    physician.page.waitForEvent("download"),
    reading.getByRole("button", { name: "Download panel-2026.bin" }).click(),
  ]);
  const got = readFileSync(await download.path());
  assert.equal(got.length, big.length);
  assert.equal(createHash("sha256").update(got).digest("hex"), bigHash);
  timings.download20MBMs = Number(await physician.page.locator("#download-progress").getAttribute("data-ms"));
  await shot(physician, "05-reader.png");

  // The insurer (no WebCrypto: the pure-wasm engine) reads insurance only.
  reading = await openShared(insurer);
  await noAlert(insurer.page);
  await reading.getByText("Acme Health").waitFor();
  assert.equal(await reading.getByText("asthma").count(), 0);
  assert.equal(await reading.locator("section.card").count(), 1);

  // The audit shows both readers' requests, naming each as the sharing table does.
  await openTab(page, "Audit");
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-table tbody tr").nth(3).waitFor();
  assert.ok((await page.locator("#audit-table .ok").count()) >= 4);
  const auditNames = new Set(await page.locator("#audit-table td[data-label=Who]").allTextContents());
  assert.ok(auditNames.has(bobInTable), `${[...auditNames]} has ${bobInTable}`);
  assert.ok([...auditNames].some((n) => n.startsWith("Acme claims desk (")));
  // "Verified" only once the checks passed, and the head is kept for the next look.
  await page.locator("#audit-status[data-code=verified]").waitFor();
  assert.match(await page.locator("#audit-status").textContent(), /^Verified: /);
  const keptHeads = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("sesphr-audit-heads-")));
  assert.equal(keptHeads.length, 1);

  // Revoke the physician: the next open is refused with a clear message.
  await openTab(page, "Sharing");
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Revoke all of Dr Bob Okafor" }).click();
  await status(page, "Revoked 6 shares of Dr Bob Okafor");
  assert.equal(await page.locator("#grant-table [data-status=revoked]").count(), 6);
  reading = await openShared(physician);
  assert.match(await failureNear(physician.page, "#shared-list", "revoked"), /revoked your access/);
  assert.equal(await reading.getByText("asthma").count(), 0);
  await shot(physician, "06-revoked.png");
  await openTab(page, "Audit");
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-table .refused", { hasText: "revoked" }).first().waitFor();
  await page.locator("#audit-status[data-code=verified]").waitFor();
  await shot(patient, "07-audit.png");
  // An SRS that drops a read it listed before (its own answer, rewritten in
  // flight): not verified, in plain words, and no rows shown.
  const listing = "**/srs/v1/records/*/audit";
  await page.route(listing, async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    body.entries.splice(0, 1);
    body.paths.splice(0, 1);
    await route.fulfill({ response: resp, json: body });
  });
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-status[data-code=audit_incomplete]").waitFor();
  assert.match(await page.locator("#audit-status").textContent(), /^Not verified\. .*leaves out reads of your record/);
  assert.equal(await page.locator("#audit-table tbody tr").count(), 0);
  await page.unroute(listing);
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-status[data-code=verified]").waitFor();

  // The insurer keeps access after the physician's revocation.
  reading = await openShared(insurer);
  await reading.getByText("Acme Health").waitFor();
  await noAlert(insurer.page);
  // The insurer's app forwards the receipt of that read to the patient: an
  // SRS hiding the newest read from the patient's listing (where the
  // record's chain cannot show it) is caught by the receipt.
  await insurer.page.evaluate(async () => (await import("/ui.js")).app.reader.flushReceipts());
  await page.route(listing, async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    body.entries.pop();
    body.paths.pop();
    await route.fulfill({ response: resp, json: body });
  });
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-status[data-code=audit_incomplete]").waitFor();
  assert.match(await page.locator("#audit-status").textContent(), /a reader's receipt/);
  await page.unroute(listing);
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-status[data-code=verified]").waitFor();
  assert.match(await page.locator("#audit-status").textContent(), /receipts? your readers' apps sent you (is|are) in it/);
  await shot(patient, "07b-audit-receipts.png");

  // FHIR import: a bad bundle is refused whole; a real one lands in its sections.
  const version = Number(await page.locator("#record-version").textContent());
  await openTab(page, "Sections");
  await page.getByLabel("Bundle (JSON)").setInputFiles({ name: "bad.json", mimeType: "application/json", buffer: Buffer.from('{"resourceType":"Patient"}') });
  await page.getByRole("button", { name: "Import" }).click();
  const badBundle = await failureNear(page, "#fhir-form", "bad_bundle");
  assert.doesNotMatch(badBundle, /bad_bundle/, "no internal code in the sentence");
  assert.equal(Number(await page.locator("#record-version").textContent()), version);
  const fixture = (name) => ({ name, mimeType: "application/json", buffer: readFileSync(join(root, "tests", "js", "fixtures", name)) });
  const plan = page.locator("#import-plan");
  await page.getByLabel("Bundle (JSON)").setInputFiles(fixture("patient-record.json"));
  await page.getByRole("button", { name: "Import" }).click();
  // The plan is shown before anything is written: sections, the nested bundle.
  await plan.waitFor();
  assert.match(await plan.textContent(), /labs: \d+ new resources/);
  assert.match(await plan.textContent(), /\d+ bundles? inside the file: read as well/);
  assert.equal(Number(await page.locator("#record-version").textContent()), version);
  await plan.screenshot({ path: join(shots, "08a-import-plan.png") });
  await page.getByRole("button", { name: "Encrypt and import" }).click();
  const imported = await lastMessage(page, "Imported: ");
  await noAlert(page);
  assert.match(imported, /labs \(\d+\)/);
  assert.match(imported, /allergies \(2\)/);
  assert.equal(Number(await page.locator("#record-version").textContent()), version + 1);
  // The same file again adds nothing.
  await page.getByLabel("Bundle (JSON)").setInputFiles(fixture("patient-record.json"));
  await page.getByRole("button", { name: "Import" }).click();
  await plan.getByText("Nothing new to import.").waitFor();
  assert.equal(await page.getByRole("button", { name: "Encrypt and import" }).isDisabled(), true);
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  // A file about other patients: held back, each named, nothing written unless asked.
  await page.getByLabel("Bundle (JSON)").setInputFiles(fixture("other-patients.json"));
  await page.getByRole("button", { name: "Import" }).click();
  await plan.locator("#import-others").waitFor();
  assert.ok((await plan.locator("input[name=import-other]").count()) >= 2);
  assert.equal(await plan.locator("input[name=import-other]:checked").count(), 0);
  assert.match(await plan.textContent(), /not the patient of this record: not imported/);
  await plan.screenshot({ path: join(shots, "08b-other-patients.png") });
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  assert.equal(Number(await page.locator("#record-version").textContent()), version + 1);
  // Clinical data as clinicians read it: the labs with value, unit and range.
  await page.getByRole("button", { name: "Read labs" }).click();
  const labs = page.locator("#read-view");
  await labs.getByText("mg/dL").first().waitFor();
  assert.match(await labs.textContent(), /Glucose/);
  assert.doesNotMatch(await labs.textContent(), /FHIR R4 bundle|resources: \d/);
  await page.locator("#read-panel").screenshot({ path: join(shots, "08c-labs.png") });
  // Export: the whole record as a FHIR Bundle, and an IPS document.
  const [ipsDownload] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Export a patient summary (IPS)" }).click(),
  ]);
  const ips = JSON.parse(readFileSync(await ipsDownload.path(), "utf8"));
  assert.equal(ips.resourceType, "Bundle");
  assert.equal(ips.type, "document");
  assert.equal(ips.entry[0].resource.resourceType, "Composition");
  assert.ok(ips.entry.some((e) => e.resource.resourceType === "AllergyIntolerance"));
  const [bundleDownload] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Export the record as FHIR" }).click(),
  ]);
  const exported = JSON.parse(readFileSync(await bundleDownload.path(), "utf8"));
  assert.equal(exported.type, "collection");
  assert.ok(exported.entry.some((e) => e.resource.resourceType === "Coverage"));
  await shot(patient, "08-fhir.png");

  // Back up, then restore in a fresh context: the record comes back whole.
  const [backup] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Back up identity" }).click(),
  ]);
  const backupFile = readFileSync(await backup.path());
  const parsed = JSON.parse(backupFile.toString());
  assert.deepEqual(Object.keys(parsed).sort(), ["fingerprint", "format", "id", "version", "wrappedSeed"]);
  assert.equal(parsed.id, patient.id);
  const fresh = await person("patient-restored");
  await fresh.page.getByLabel("Backup file").setInputFiles({ name: "me.sesphr-key", mimeType: "application/json", buffer: backupFile });
  await fresh.page.getByLabel("Passphrase of that backup").fill("not the passphrase");
  await fresh.page.getByRole("button", { name: "Restore" }).click();
  assert.match(await failureNear(fresh.page, "#restore-form", "decryption_failed"), /Wrong passphrase/);
  await fresh.page.getByLabel("Passphrase of that backup").fill(PASS);
  await fresh.page.getByRole("button", { name: "Restore" }).click();
  await fresh.page.locator("#record-version").filter({ hasText: String(version + 1) }).waitFor();
  const sections = await fresh.page.locator("#section-list li strong").allTextContents();
  assert.deepEqual(sections.sort(), ["allergies", "demographics", "history", "insurance", "labs", "medications", "notes"]);
  // The revoked grants show as revoked; the insurer's is still active.
  await openTab(fresh.page, "Sharing");
  await fresh.page.locator("#grant-table [data-status=active]").waitFor();
  assert.equal(await fresh.page.locator("#grant-table [data-status=revoked]").count(), 6);
  assert.equal(await fresh.page.locator("#grant-table [data-status=active]").count(), 1);
  await shot(fresh, "09-restored.png");

  // Phone width: nothing overflows horizontally.
  await fresh.page.setViewportSize({ width: 375, height: 800 });
  await shot(fresh, "10-phone.png");
  await fresh.page.locator("#grant-table").screenshot({ path: join(shots, "10b-phone-sharing.png") });
  await openTab(fresh.page, "Audit");
  await fresh.page.locator("#audit-table").screenshot({ path: join(shots, "10c-phone-audit.png") });
  // No tab of the record overflows.
  for (const tab of ["Sections", "Sharing", "Links", "Emergency access", "Requests", "Audit"]) {
    await openTab(fresh.page, tab);
    const overflow = await fresh.page.evaluate(() => {
      const wide = [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.parentElement.closest(".scroll"))
        .map((e) => `${e.tagName}#${e.id}.${e.className}:${Math.round(e.getBoundingClientRect().width)}`);
      return { by: document.documentElement.scrollWidth - window.innerWidth, wide: wide.slice(0, 5) };
    });
    assert.ok(overflow.by <= 0, `the ${tab} tab overflows by ${overflow.by}px at phone width: ${overflow.wide}`);
  }
  // The sharing table's status and revoke buttons are on screen, not scrolled off.
  await openTab(fresh.page, "Sharing");
  const offscreen = await fresh.page.evaluate(() =>
    [...document.querySelectorAll("#grant-table button, #grant-table [data-status]")]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .map((e) => e.textContent),
  );
  assert.deepEqual(offscreen, []);
  // Clinical tables read on a phone too.
  await openTab(fresh.page, "Sections");
  await fresh.page.getByRole("button", { name: "Read labs" }).click();
  await fresh.page.locator("#read-view").getByText("mg/dL").first().waitFor();
  const wideRead = await fresh.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(wideRead <= 0, `the labs view overflows by ${wideRead}px at phone width`);
  await fresh.page.locator("#read-panel").screenshot({ path: join(shots, "10d-phone-labs.png") });
  await fresh.page.getByRole("button", { name: "Close" }).click();
  await fresh.page.setViewportSize({ width: 1000, height: 900 });

  // A save the re-encryption server does not confirm (its request fails) is
  // kept and shown as waiting, then confirmed by the automatic retry.
  const heads = "**/srs/v1/heads";
  await fresh.page.route(heads, (route) => (route.request().method() === "POST" ? route.abort("connectionreset") : route.continue()));
  await fresh.page.getByLabel("Section", { exact: true }).selectOption("notes");
  await fresh.page.getByLabel("Free text").fill("Written while the re-encryption server was away.");
  await fresh.page.getByRole("button", { name: "Encrypt and save" }).click();
  await status(fresh.page, "waiting for the re-encryption server to confirm");
  await noAlert(fresh.page);
  const pending = fresh.page.locator("#record-pending");
  await pending.waitFor();
  assert.match(await pending.textContent(), /saved, waiting for the re-encryption server to confirm/);
  await shot(fresh, "11-pending.png");
  const saved = Number(await fresh.page.locator("#record-version").textContent());
  assert.equal(saved, version + 2);
  await fresh.page.unroute(heads);
  await pending.waitFor({ state: "hidden" });
  await status(fresh.page, `The re-encryption server confirmed version ${saved}`);

  // A storage server that hides the newest version: said in plain words,
  // and no older version is shown as current.
  await fresh.page.route("**/manifests/latest", async (route) => {
    const response = await route.fetch({ url: route.request().url().replace(/latest$/, String(saved - 1)) });
    await route.fulfill({ response });
  });
  await fresh.page.route(`**/manifests/${saved}`, async (route) => {
    const response = await route.fetch({ url: route.request().url().replace(/\d+$/, "999999999") });
    await route.fulfill({ response });
  });
  await fresh.page.getByRole("button", { name: "My records" }).click();
  await fresh.page.locator("#alert[data-code=stale]").waitFor();
  assert.match(await fresh.page.locator("#alert").textContent(), /storage server is behind/);
  assert.match(await fresh.page.locator("#alert").textContent(), new RegExp(`witnessed version ${saved}`));
  await shot(fresh, "12-stale.png");

  console.log("portal timings (ms):", JSON.stringify(timings));
});

test("the portal pins the re-encryption server's key it saw first and refuses another", { timeout: 120_000 }, async () => {
  const p = await person("pin");
  const { page } = p;
  page.setDefaultTimeout(15_000);
  try {
    await page.locator("#view-start").waitFor();
    const real = (await page.locator("#srs-fp").textContent()).trim();
    assert.match(real, /^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
    assert.equal(await page.evaluate(() => localStorage.getItem("sesphr-srs-fingerprint")), real);
    // Another server key than the pinned one (as if the server were replaced).
    await page.evaluate(() => localStorage.setItem("sesphr-srs-fingerprint", "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"));
    await page.reload();
    const alert = page.locator("#alert");
    await alert.waitFor();
    assert.equal(await alert.getAttribute("data-code"), "srs_mismatch");
    assert.match(await alert.textContent(), /another key than the one this browser saw before/);
    assert.equal(await page.locator("#create-form").isVisible(), false, "nothing can be done against that server");
    assert.equal(await page.locator("#served-fp").textContent(), real);
    await shot(p, "pin-mismatch.png");
    // Declining keeps the pin; accepting re-pins the key now served.
    page.once("dialog", (d) => d.dismiss());
    await page.getByRole("button", { name: "Trust the server's new key" }).click();
    assert.equal(await page.evaluate(() => localStorage.getItem("sesphr-srs-fingerprint")), "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA");
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Trust the server's new key" }).click();
    await page.locator("#srs-fp").filter({ hasText: real }).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("sesphr-srs-fingerprint")), real);
    await noAlert(page);
  } finally {
    await p.context.close();
  }
});

test("tabs in every order, an edit form bound to its section, and two tabs of one record", { timeout: 300_000 }, async () => {
  const p = await person("editor");
  const { page } = p;
  try {
    await createIdentity(p);
    await page.getByRole("button", { name: "My records" }).click();
    await page.getByRole("button", { name: "Create a record" }).click();
    await status(page, "Record created");
    await writeSection(page, "history", {
      fields: "condition: asthma",
      text: "since 2009",
      files: [{ name: "spirometry.txt", mimeType: "text/plain", buffer: Buffer.from("FEV1 92 %") }],
    });
    await writeSection(page, "labs", { text: "panel 2026" });

    // Waits until the edit form shows `text` (status lines come and go with
    // background reloads; the form is what the user sees).
    const shows = (pg, value) =>
      pg.waitForFunction((v) => document.getElementById("section-text").value === v, value);
    // Every tab after every other, and each twice in a row: nothing breaks.
    const tabs = ["My records", "Shared with me", "People", "My identity"];
    const order = tabs.flatMap((a) => tabs.flatMap((b) => [a, b, b]));
    for (const tab of order) {
      await page.getByRole("button", { name: tab, exact: true }).click();
      await page.locator("#status").filter({ hasText: /^$|Opened|Editing/ }).waitFor();
      await noAlert(page);
    }
    await page.getByRole("button", { name: "My records", exact: true }).click();
    await openTab(page, "Audit");
    await page.getByRole("button", { name: "Refresh" }).first().click();
    await noAlert(page);
    await openTab(page, "Sections");

    // The form follows the section chosen: history's fields, text and attachment.
    const fields = page.getByLabel('Fields (one "name: value" per line)');
    const text = page.getByLabel("Free text");
    await page.getByLabel("Section", { exact: true }).selectOption("history");
    await shows(page, "since 2009");
    assert.equal(await fields.inputValue(), "condition: asthma");
    assert.equal(await text.inputValue(), "since 2009");
    assert.equal(await page.locator("input[name=keep]:checked").count(), 1);
    // One changed line saves that line; the fields and the attachment stay.
    await text.fill("since 2009, controlled");
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, "Saved history as version");
    await noAlert(page);
    assert.equal(await fields.inputValue(), "condition: asthma", "the form shows the section as saved");
    assert.equal(await page.locator("input[name=keep]:checked").count(), 1, "the attachment is kept");
    // Every version of a section can be viewed, and restored as a new one.
    await page.getByRole("button", { name: "History of history" }).click();
    const rows = page.locator("#history-table tbody tr");
    assert.equal(await rows.count(), 2);
    const old = (await rows.nth(1).textContent()).match(/version (\d+)/)[1];
    await page.getByRole("button", { name: `View version ${old}` }).click();
    await page.locator("#history-view").getByText("since 2009", { exact: true }).waitFor();
    await page.locator("#history-view").getByText("spirometry.txt").waitFor();
    await shot(p, "history.png");
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: `Restore version ${old}` }).click();
    await status(page, `Restored history from version ${old} as version`);
    await noAlert(page);
    assert.equal(await rows.count(), 3);
    await page.getByLabel("Section", { exact: true }).selectOption("history");
    await shows(page, "since 2009");
    assert.equal(await page.locator("input[name=keep]").count(), 1, "the restored version has its attachment");
    // Another section shows its own content, never the previous one's, not
    // even while it decrypts (typing waits until it has arrived).
    await page.getByLabel("Section", { exact: true }).selectOption("labs");
    assert.notEqual(await fields.inputValue(), "condition: asthma");
    await text.fill("typed at once");
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, "Saved labs as version");
    await page.getByRole("button", { name: "History of labs" }).click();
    await page.getByRole("button", { name: /^View version \d+$/ }).first().click();
    await page.locator("#history-view").getByText("typed at once").waitFor();
    assert.doesNotMatch(await page.locator("#history-view").textContent(), /asthma/);
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: /^Restore version \d+$/ }).first().click();
    await status(page, "Restored labs from version");
    await page.getByLabel("Section", { exact: true }).selectOption("labs");
    await shows(page, "panel 2026");
    assert.equal(await fields.inputValue(), "");
    assert.equal(await page.locator("input[name=keep]").count(), 0);
    await page.getByLabel("Section", { exact: true }).selectOption("allergies");
    assert.equal(await text.inputValue(), "");

    // Two tabs: B types into labs while A saves labs; B keeps its text,
    // is told, and its second save lands.
    const b = await secondTab(p);
    await b.getByLabel("Section", { exact: true }).selectOption("labs");
    await shows(b, "panel 2026");
    await b.getByLabel("Free text").fill("panel 2026, from tab B");
    await page.getByLabel("Section", { exact: true }).selectOption("labs");
    await shows(page, "panel 2026");
    await text.fill("panel 2026, from tab A");
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, "Saved labs as version");
    const byA = Number((await lastMessage(page, "Saved labs as version")).match(/version (\d+)/)[1]);
    await b.getByRole("button", { name: "Encrypt and save" }).click();
    assert.match(await failureNear(b, "#section-form", "section_changed"), /labs was saved elsewhere .* Your text is still in the form/);
    assert.equal(await b.getByLabel("Free text").inputValue(), "panel 2026, from tab B", "nothing typed is lost");
    await shot({ page: b }, "tab-b-conflict.png");
    // The record was reloaded (the page shows A's version); the second save lands.
    assert.match(await b.locator("#section-list").textContent(), new RegExp(`labs last changed in version ${byA}`));
    await b.getByRole("button", { name: "Encrypt and save" }).click();
    await status(b, `Saved labs as version ${byA + 1}`);
    await noAlert(b);
    await page.getByRole("button", { name: "My records", exact: true }).click();
    await page.getByLabel("Section", { exact: true }).selectOption("history");
    await page.getByLabel("Section", { exact: true }).selectOption("labs");
    await shows(page, "panel 2026, from tab B");
    // Leaving with unsaved text asks first.
    await b.getByLabel("Free text").fill("typed, not saved");
    const asked = new Promise((resolve) =>
      b.once("dialog", (d) => {
        resolve(d.type());
        d.accept();
      }),
    );
    await b.close({ runBeforeUnload: true });
    assert.equal(await asked, "beforeunload");

    // Another record is opened only after asking, when the form holds unsaved text.
    await page.getByRole("button", { name: "Create a record" }).click();
    await status(page, "Record created");
    const second = await page.locator("#record-id").textContent();
    await text.fill("unsaved note");
    page.once("dialog", (d) => d.dismiss());
    await page.getByRole("button", { name: /^Record 1 / }).click();
    assert.equal(await page.locator("#record-id").textContent(), second);
    assert.equal(await text.inputValue(), "unsaved note");
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: /^Record 1 / }).click();
    await page.locator("#record-id").filter({ hasNotText: second }).waitFor();
  } finally {
    await p.context.close();
  }
});

test("a large attachment: an edit of the text reuses it, a save can be cancelled, old versions can be deleted", { timeout: 300_000 }, async () => {
  const p = await person("files");
  const { page } = p;
  const dir = join(server.data, "relay", "blobs");
  const storedBytes = () => readdirSync(dir).reduce((n, id) => n + statSync(join(dir, id)).size, 0);
  const file = (mb, salt) => {
    const b = Buffer.alloc(mb * 1024 * 1024);
    for (let i = 0; i < b.length; i += 4096) b.writeUInt32BE(((i + salt) * 2654435761) >>> 0, i);
    return b;
  };
  try {
    await createIdentity(p);
    await page.getByRole("button", { name: "My records" }).click();
    await page.getByRole("button", { name: "Create a record" }).click();
    await status(page, "Record created");
    await writeSection(page, "imaging", {
      text: "MRI knee, 2026",
      files: [{ name: "mri.bin", mimeType: "application/octet-stream", buffer: file(40, 1) }],
    });
    const first = Number(await page.locator("#record-version").textContent());

    // One line of text: the 40 MB file is kept where it is, not sent again.
    const before = storedBytes();
    await page.getByLabel("Free text").fill("MRI knee, 2026: no tear");
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, "Saved imaging as version");
    await noAlert(page);
    const grew = storedBytes() - before;
    assert.ok(grew < 64 * 1024, `an edit of the text stored ${grew} bytes`);
    assert.ok(Number(await page.locator("#save-progress").getAttribute("max")) < 1024 * 1024, "progress counts only the new document");
    assert.equal(await page.locator("input[name=keep]:checked").count(), 1);

    // Cancel in the middle of a 60 MB upload: nothing is published, nothing stays stored.
    const version = Number(await page.locator("#record-version").textContent());
    const stored = storedBytes();
    // Above 50 MB Playwright passes files by path.
    const ct = join(server.data, "..", `ct-${process.pid}.bin`);
    writeFileSync(ct, file(60, 2));
    await page.getByLabel("Add attachments").setInputFiles(ct);
    // The upload is held on the way (a slow connection), so Cancel lands mid-upload.
    let held = 0;
    const slow = async (route) => {
      if (route.request().method() !== "PUT") return route.continue();
      held++;
      await new Promise((r) => setTimeout(r, 3000));
      await route.continue().catch(() => {}); // cancelled meanwhile
    };
    await page.route("**/v1/blobs/**", slow);
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await page.waitForFunction(() => {
      const bar = document.getElementById("save-progress");
      return !document.getElementById("save-busy").hidden && bar.value > 0;
    });
    while (held === 0) await new Promise((r) => setTimeout(r, 50));
    await page.getByRole("button", { name: "Cancel", exact: true }).click();
    await status(page, "Cancelled. Nothing was saved.");
    assert.equal(await page.locator("#save-progress").isVisible(), false, "the progress bar goes away");
    assert.equal(Number(await page.locator("#record-version").textContent()), version);
    assert.equal(storedBytes(), stored, "the cancelled upload left nothing behind");
    await shot(p, "cancelled.png");
    await page.unroute("**/v1/blobs/**", slow);
    // The record writes again afterwards; the file chosen is still there.
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, "Saved imaging as version");
    await noAlert(page);

    // Old versions: their content can be deleted; what a newer version keeps stays.
    const now = Number(await page.locator("#record-version").textContent());
    await page.getByText("Old versions and storage").click();
    await page.getByLabel("Delete the content of versions older than version").fill(String(now));
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete old versions" }).click();
    await status(page, /Deleted \d+ stored objects? that only versions before/);
    await page.getByRole("button", { name: "History of imaging" }).click();
    await page.getByRole("button", { name: `View version ${first}` }).click();
    assert.match(await failureNear(page, "#history-panel", "pruned"), /deleted to free storage/);
    // The current version still opens with both files.
    await page.getByRole("button", { name: "Read imaging" }).click();
    await page.locator("#read-view").getByRole("button", { name: "Download mri.bin" }).waitFor();
    await page.locator("#read-view").getByRole("button", { name: /^Download ct-\d+\.bin$/ }).waitFor();
    rmSync(ct);
    assert.equal(await page.locator("#read-panel .msg.error").count(), 0);
    await shot(p, "pruned.png");
  } finally {
    await p.context.close();
  }
});

test("what outside testers tried: two tabs dropping different files, a ward list into an empty record, oneself as reader, typos", { timeout: 300_000 }, async () => {
  const p = await person("outsider");
  const { page } = p;
  try {
    // A passphrase typo is a typo, not an attack.
    await page.getByLabel("New passphrase", { exact: true }).fill(PASS);
    await page.getByLabel("Repeat the new passphrase").fill(`${PASS}!`);
    await page.getByRole("button", { name: "Create identity" }).click();
    assert.equal(await failureNear(page, "#create-form", "mismatch"), "The two passphrases differ.");
    await createIdentity(p);
    await page.getByRole("button", { name: "My records" }).click();
    await page.getByRole("button", { name: "Create a record" }).click();
    await status(page, "Record created");
    await writeSection(page, "imaging", {
      text: "two views",
      files: [
        { name: "x1.png", mimeType: "image/png", buffer: Buffer.from("first view") },
        { name: "x2.png", mimeType: "image/png", buffer: Buffer.from("second view") },
      ],
    });

    // Tab B has imaging open; tab A drops x1; B, unaware, drops x2: after
    // the warning B's list is the newer version's, B's untick kept, and the
    // second save drops x2 too (never the file B meant to keep).
    const b = await secondTab(p);
    await b.getByLabel("Section", { exact: true }).selectOption("imaging");
    await b.getByLabel("x2.png (11 bytes)").waitFor();
    await page.getByLabel("x1.png (10 bytes)").uncheck();
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, "Saved imaging as version");
    await b.getByLabel("x2.png (11 bytes)").uncheck();
    await b.getByLabel("Free text").fill("two views, from tab B");
    await b.getByRole("button", { name: "Encrypt and save" }).click();
    await failureNear(b, "#section-form", "section_changed");
    assert.deepEqual(await b.locator("#keep-list label").allTextContents(), [" x2.png (11 bytes)"]);
    assert.equal(await b.getByLabel("x2.png (11 bytes)").isChecked(), false);
    await b.getByRole("button", { name: "Encrypt and save" }).click();
    await status(b, "Saved imaging as version");
    await noAlert(b);
    assert.equal(await b.locator("#keep-list label").count(), 0);
    assert.equal(await b.getByLabel("Free text").inputValue(), "two views, from tab B");
    await b.close();

    // Oneself as reader: refused in plain words.
    await openTab(page, "Sharing");
    await page.getByLabel("Share with").selectOption("");
    await page.getByLabel("Their party id", { exact: true }).fill(p.id);
    await page.getByRole("button", { name: "Continue" }).click();
    assert.match(await failureNear(page, "#lookup-form", "invalid_argument"), /your own party id/);

    // A ward list into a record with no patient yet: the patient chooses
    // whose record it is; nothing is guessed, the others are held back.
    await page.getByRole("button", { name: "Create a record" }).click();
    await status(page, "Record created");
    await openTab(page, "Sections");
    await page.getByLabel("Bundle (JSON)").setInputFiles(join(root, "tests", "js", "fixtures", "other-patients.json"));
    await page.getByRole("button", { name: "Import" }).click();
    const whose = page.locator("#import-whose");
    await whose.waitFor();
    assert.equal(await page.getByRole("button", { name: "Encrypt and import" }).isDisabled(), true);
    await whose.getByLabel("Anna Neri").check();
    await page.locator("#import-plan").getByText(/about Giovanni Verdi, not the patient of this record: not imported/).waitFor();
    await page.getByRole("button", { name: "Encrypt and import" }).click();
    await status(page, "Imported: ");
    await page.getByRole("button", { name: "Read demographics" }).click();
    await page.locator("#read-view").getByText("Anna Neri").first().waitFor();
    assert.equal(await page.locator("#read-view").getByText("Giovanni Verdi").count(), 0);
    assert.equal(await page.locator("#fhir-form ~ .msg.error, #import-plan .msg.error, #read-panel .msg.error").count(), 0);
  } finally {
    await p.context.close();
  }
});

// An insurer invited through the portal, end to end in Debian's headless
// Chromium against the real relay + SRS, each party in its own browser
// context: the patient invites an insurer with the insurance preset only;
// the insurer, who has no identity yet, opens the link, creates one and
// accepts; the patient compares the safety number and confirms (the grant
// is issued); the insurer reads the insurance section and sees no other
// section, and asking for another section is refused; the patient revokes
// everything of the insurer, whose next open fails in plain words.
// Screenshots: target/portal-screenshots/insurer-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createPortalIdentity,
  noPortalAlert,
  openTab,
  portalPage,
  portalShots,
  portalStatus as status,
  portalSuite,
  writePortalSection,
} from "./server.mjs";

const shots = portalShots;
const PASS = "correct horse battery staple";
let server;
let browser;
portalSuite(undefined, (s) => ({ server, browser } = s));

const person = (name, url) => portalPage(browser, server, name, { url, dialogs: true, timeout: 90_000 });
const shot = (p, file) => p.page.screenshot({ path: join(shots, `insurer-${file}`), fullPage: true });
/** Text with its white space (line breaks of a safety number) made single spaces. */
const words = (t) => t.replace(/\s+/g, " ").trim();

test("an insurer with no identity is invited for insurance only, reads it and nothing else, and is revoked", { timeout: 600_000 }, async () => {
  const patient = await person("patient");
  const { page } = patient;
  await createPortalIdentity(page, PASS);
  await page.getByRole("button", { name: "My records", exact: true }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  await status(page, "Record created");
  await writePortalSection(page, "demographics", { fields: "name: Maria Rossi\nborn: 1961-03-09" });
  await writePortalSection(page, "history", { fields: "condition: asthma", text: "Childhood asthma, well controlled." });
  await writePortalSection(page, "medications", { fields: "salbutamol: 100 µg as needed" });
  await writePortalSection(page, "insurance", { fields: "insurer: Acme Health\npolicy: 42-1337" });

  // The invitation: the insurer preset is the insurance section only.
  await openTab(page, "Sharing");
  await page.locator("#invite-me").fill("Maria Rossi");
  await page.locator("#invite-role").selectOption("insurer");
  await page.getByRole("button", { name: "Create invitation link" }).click();
  await status(page, "Invitation created");
  const link = await page.locator("#invite-link").inputValue();
  assert.match(link, /#invite=[A-Za-z0-9_-]{200,}$/);
  await noPortalAlert(page);

  // The insurer opens it in a browser that never saw SeSPHR: the offer names insurance only.
  const insurer = await person("insurer", link);
  const ins = insurer.page;
  await ins.locator("#invite-banner").filter({ hasText: "Maria Rossi" }).waitFor();
  assert.match(
    await ins.locator("#invite-summary").textContent(),
    /Maria Rossi \(fingerprint [A-Z2-7-]{19}\) invites you to read part of their health record as their insurer: insurance\. /,
  );
  assert.equal(new URL(ins.url()).hash, "", "the secret left the address bar");
  await shot(insurer, "01-opens-link.png");
  await createPortalIdentity(ins, PASS);
  await ins.locator("#invite-my-name").fill("Acme claims desk");
  await ins.getByRole("button", { name: "Accept invitation" }).click();
  await ins.locator("#invite-accept-summary").filter({ hasText: "Waiting for Maria Rossi to confirm" }).waitFor();
  const insurerNumber = words(await ins.locator("#invite-accept .safety").textContent());
  assert.match(insurerNumber, /^(\d{5} ){11}\d{5}$/);
  await noPortalAlert(ins);
  await shot(insurer, "02-waits.png");

  // The patient sees the same safety number, ticks that it matches, confirms: one grant.
  await page.getByRole("button", { name: "Check for answers" }).click();
  const card = page.locator("#acceptance-list li.acceptance").filter({ hasText: "Acme claims desk accepted your invitation" });
  await card.waitFor();
  assert.equal(words(await card.locator(".safety").textContent()), insurerNumber);
  // The tab shows that something waits there (its name stays "Sharing").
  assert.equal(await page.locator("#tab-sharing .badge").textContent(), "1");
  assert.match(await page.locator("#tab-sharing").getAttribute("aria-description"), /1 answer to your invitations waiting/);
  await card.scrollIntoViewIfNeeded();
  await shot(patient, "03-patient-compares.png");
  await card.getByLabel("The numbers match: I compared them with this person").check();
  await card.getByRole("button", { name: "Confirm and share with Acme claims desk" }).click();
  await status(page, "Confirmed: shared 1 section with Acme claims desk");
  assert.equal(await page.locator("#tab-sharing .badge").count(), 0);
  await noPortalAlert(page);
  const row = page.locator("#grant-table tbody tr").filter({ hasText: "Acme claims desk" });
  await row.waitFor();
  assert.equal(await row.locator("[data-status=active]").count(), 1);
  assert.match(await row.textContent(), /insurance: active/);
  assert.match(await row.textContent(), /verified/);
  await shot(patient, "04-patient-shared.png");

  // The insurer reads insurance and sees no other section.
  await ins.getByRole("button", { name: "Shared with me" }).click();
  await ins.getByRole("button", { name: "Refresh" }).click();
  await ins.locator("#shared-list h3").filter({ hasText: /^Record from Maria Rossi \(/ }).waitFor();
  await ins.getByRole("button", { name: "Open record 1" }).click();
  const reading = ins.locator("#reading");
  await reading.getByText("Acme Health").waitFor();
  await noPortalAlert(ins);
  assert.equal(await reading.locator("section.card").count(), 1, await reading.textContent());
  for (const hidden of ["asthma", "salbutamol", "1961-03-09"]) assert.equal(await reading.getByText(hidden).count(), 0, hidden);
  await shot(insurer, "05-reads-insurance.png");

  // Asking for another section (history, by its id in the record's
  // manifest) is refused: the insurer holds no grant for it.
  const historyId = await page.evaluate(async () => (await import("/ui.js")).app.record.sections().find((s) => s.name === "history").sectionId);
  const refused = await ins.evaluate(async (sectionId) => {
    const { app } = await import("/ui.js");
    const [shared] = await app.reader.sharedWithMe();
    try {
      await app.reader.open({ record: shared, sectionId });
      return "opened";
    } catch (e) {
      return e.code;
    }
  }, historyId);
  assert.equal(refused, "not_granted");

  // The patient revokes everything of the insurer (one row per person).
  await page.getByRole("button", { name: "Revoke all of Acme claims desk" }).click();
  await status(page, "Revoked 1 share of Acme claims desk");
  assert.equal(await row.locator("[data-status=revoked]").count(), 1);
  await shot(patient, "06-patient-revoked.png");

  // The insurer's next open is refused by the re-encryption server, in plain words.
  await ins.getByRole("button", { name: "Refresh" }).click();
  await ins.getByRole("button", { name: "Open record 1" }).click();
  const refusal = ins.locator("#shared-list .msg.error[data-code=revoked], #reading [data-code=revoked]").first();
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /The owner has revoked your access to this section\./);
  assert.doesNotMatch(await refusal.locator(".what").textContent().catch(() => ""), /revoked_|\bcode\b/);
  assert.equal(await reading.getByText("Acme Health").count(), 0);
  await shot(insurer, "07-revoked.png");

  // The audit names the insurer's read and the refusal after the revocation.
  await openTab(page, "Audit");
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.locator("#audit-table .refused", { hasText: "revoked" }).first().waitFor();
  const who = await page.locator("#audit-table td[data-label=Who]").allTextContents();
  assert.ok(who.some((n) => n.startsWith("Acme claims desk (")), who.join(", "));
  await shot(patient, "08-patient-audit.png");

  // The record page's tabs: the keyboard (arrows, Home, End) moves and
  // selects, one tab stop; the address keeps the tab across a reload and
  // back and forward.
  const tabs = ["Sections", "Sharing", "Links", "Emergency access", "Requests", "Audit"];
  const selected = () => page.locator("#record-tabs [aria-selected=true]").textContent();
  await page.getByRole("tab", { name: "Audit" }).focus();
  await page.keyboard.press("ArrowRight");
  assert.equal(await selected(), "Sections", "ArrowRight wraps to the first tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Sections");
  await page.keyboard.press("End");
  assert.equal(await selected(), "Audit");
  await page.keyboard.press("ArrowLeft");
  assert.equal(await selected(), "Requests");
  assert.equal(await page.locator("#requests-box").isVisible(), true);
  assert.equal(await page.locator("#panel-audit").isVisible(), false);
  assert.equal(await page.locator("#record-tabs [tabindex='0']").count(), 1, "one tab stop");
  assert.equal(new URL(page.url()).hash, "#records/requests");
  await page.locator("#record-tabs").screenshot({ path: join(shots, "layout-focus-desktop.png") });
  await page.goBack();
  await page.waitForFunction(() => document.querySelector("#record-tabs [aria-selected=true]").textContent === "Audit");
  await page.goForward();
  await page.waitForFunction(() => document.querySelector("#record-tabs [aria-selected=true]").textContent === "Requests");
  await page.reload();
  await page.getByLabel("Passphrase to unlock").fill(PASS);
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.locator("#requests-box").waitFor();
  assert.equal(await selected(), "Requests", "a reload keeps the tab");

  // Each tab at a desktop and a phone width (screenshots looked at), with
  // nothing wider than the screen; the banners sit above the tabs.
  for (const [width, label] of [[1000, "desktop"], [390, "phone"]]) {
    await page.setViewportSize({ width, height: 900 });
    for (const tab of tabs) {
      await openTab(page, tab);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `the ${tab} tab overflows by ${wide}px at ${width}px`);
      await page.screenshot({ path: join(shots, `layout-${tab.split(" ")[0].toLowerCase()}-${label}.png`), fullPage: true });
    }
    // The focus ring of a tab reached by the keyboard.
    await page.getByRole("tab", { name: "Audit" }).focus();
    await page.keyboard.press("ArrowLeft");
    await page.locator("#record-tabs").screenshot({ path: join(shots, `layout-focus-${label}.png`) });
  }
  await page.setViewportSize({ width: 1000, height: 900 });
  for (const id of ["emergency-banner", "alert", "status"]) {
    const above = await page.evaluate(
      (i) => document.getElementById(i).compareDocumentPosition(document.getElementById("record-tabs")) & Node.DOCUMENT_POSITION_FOLLOWING,
      id,
    );
    assert.ok(above, `#${id} comes before the tabs`);
  }
  for (const p of [patient, insurer]) await p.context.close();
});

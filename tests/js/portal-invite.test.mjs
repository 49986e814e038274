// Invitations in the portal, in Debian's headless Chromium against the real
// relay + SRS: a patient invites a physician who has no identity yet (two
// separate browser contexts); the physician opens the link, creates an
// identity, accepts and waits; the patient compares the safety number,
// confirms; the physician reads the record under the patient's chosen name.
// A second person who opens the used link gets nothing. The patient's
// contacts come back on a restore in a fresh context. Screenshots go to
// target/portal-screenshots/invite-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createPortalIdentity,
  noPortalAlert as noAlert,
  openTab,
  portalPage,
  portalShots,
  portalStatus as status,
  portalSuite,
  root,
  writePortalSection,
} from "./server.mjs";

const shots = portalShots;
const PASS = "correct horse battery staple";
let server;
let browser;
portalSuite(undefined, (s) => ({ server, browser } = s));

const person = (name, url) => portalPage(browser, server, name, { url, clipboard: true, dialogs: true, timeout: 90_000 });

/** Text with its white space (line breaks of a safety number) made single spaces. */
const words = (t) => t.replace(/\s+/g, " ").trim();

const shot = (p, file) => p.page.screenshot({ path: join(shots, `invite-${file}`), fullPage: true });

const createIdentity = (page) => createPortalIdentity(page, PASS);

test("a physician with no identity accepts an invitation; the patient verifies and confirms; the physician reads", { timeout: 600_000 }, async () => {
  const patient = await person("patient");
  const { page } = patient;
  await createIdentity(page);
  await page.getByRole("button", { name: "My records" }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  await status(page, "Record created");
  await writePortalSection(page, "allergies", { fields: "substance: penicillin\nreaction: rash" });

  // The invite dialog (on the record's "Sharing" tab): the patient's name, a role, a lifetime.
  await openTab(page, "Sharing");
  await page.locator("#invite-me").fill("Alice Example");
  await page.locator("#invite-role").selectOption("custom");
  await page.locator("#invite-sections").getByLabel("allergies").check();
  await page.locator("#invite-sections").getByLabel("medications").check();
  await page.getByLabel("The link is valid for").selectOption("7");
  await page.getByRole("button", { name: "Create invitation link" }).click();
  await status(page, "Invitation created");
  const link = await page.locator("#invite-link").inputValue();
  assert.match(link, /#invite=[A-Za-z0-9_-]{200,}$/);
  await page.getByRole("button", { name: "Copy link" }).click();
  await status(page, "Link copied");
  await noAlert(page);
  await page.locator("#invite-panel").scrollIntoViewIfNeeded();
  await shot(patient, "01-patient-invites.png");

  // The physician opens the link in a fresh browser: the offer, verified.
  const physician = await person("physician", link);
  const doc = physician.page;
  await doc.locator("#invite-banner").filter({ hasText: "Alice Example" }).waitFor();
  assert.match(await doc.locator("#invite-summary").textContent(), /Alice Example \(fingerprint [A-Z2-7-]{19}\) invites you to read part of their health record: medications, allergies\./);
  // The secret left the address bar.
  assert.equal(new URL(doc.url()).hash, "");
  await shot(physician, "02-physician-opens-link.png");
  await createIdentity(doc);
  await doc.locator("#invite-accept").waitFor();
  await doc.locator("#invite-my-name").fill("Dr. Bob");
  await doc.getByRole("button", { name: "Accept invitation" }).click();
  await doc.locator("#invite-accept-summary").filter({ hasText: "Waiting for Alice Example to confirm" }).waitFor();
  await noAlert(doc);
  const docNumber = words(await doc.locator("#invite-accept .safety").textContent());
  assert.match(docNumber, /^(\d{5} ){11}\d{5}$/);
  await doc.getByRole("button", { name: "Shared with me" }).click();
  await doc.locator("#waiting-list").filter({ hasText: "Waiting for Alice Example to confirm" }).waitFor();
  await shot(physician, "03-physician-waits.png");

  // The patient sees the acceptance with the same safety number, and confirms.
  await page.getByRole("button", { name: "Check for answers" }).click();
  const card = page.locator("#acceptance-list li.acceptance");
  await card.filter({ hasText: "Dr. Bob accepted your invitation" }).waitFor();
  assert.equal(words(await card.locator(".safety").textContent()), docNumber);
  await card.scrollIntoViewIfNeeded();
  await shot(patient, "04-patient-sees-acceptance.png");
  await page.locator("#invite-panel").screenshot({ path: join(shots, "invite-04b-invite-panel.png") });
  // Verified only with the numbers said to match.
  await card.getByLabel("The numbers match: I compared them with this person").check();
  await card.getByRole("button", { name: "Confirm and share with Dr. Bob" }).click();
  await status(page, "Confirmed: shared 2 sections with Dr. Bob");
  await noAlert(page);
  const row = page.locator("#grant-table tbody tr").filter({ hasText: "Dr. Bob" });
  await row.waitFor();
  assert.equal(await row.locator("[data-status=active]").count(), 2);
  await page.locator("#invitation-list").filter({ hasText: "accepted" }).count();
  await page.locator("#grant-table").scrollIntoViewIfNeeded();
  await shot(patient, "05-patient-shares-by-person.png");
  await page.locator("#grant-table").screenshot({ path: join(shots, "invite-05b-grant-table.png") });

  // The physician reads: "Record from Alice Example (…)", the allergies.
  await doc.getByRole("button", { name: "Refresh" }).click();
  await doc.locator("#shared-list h3").filter({ hasText: /^Record from Alice Example \([A-Z2-7]{4}-[A-Z2-7]{4}\)$/ }).waitFor();
  assert.equal(await doc.locator("#waiting-list li").count(), 0);
  assert.equal(await doc.locator("#invite-accept").isVisible(), false);
  await doc.getByRole("button", { name: "Open record 1" }).click();
  await doc.locator("#reading").getByText("penicillin").waitFor();
  await noAlert(doc);
  await shot(physician, "06-physician-reads.png");

  // Mallory shares a record with the physician and calls herself "Alice
  // Example" on her name card: the physician's own name for Alice stays
  // Alice's; Mallory's card shows as what she calls herself, flagged.
  const S = await import(join(root, "pkg", "index.js"));
  await S.init();
  const c = new S.Client({ baseUrl: server.url });
  await c.connect();
  const mallory = S.Identity.generate();
  await c.register(mallory);
  const fake = await new S.Patient(c, mallory).createRecord();
  await fake.write([{ name: "allergies", fields: { substance: "none" } }]);
  const docParty = await c.lookup((await doc.locator("#my-id").textContent()).trim());
  await S.issueAccess(fake, { grantee: docParty, sections: ["allergies"], ownerName: "Alice Example" });
  await doc.getByRole("button", { name: "Refresh" }).click();
  await doc
    .locator("#shared-list h3")
    .filter({ hasText: `Record from ${mallory.fingerprint.slice(0, 19)}, who calls themself “Alice Example” — not your contact of that name` })
    .waitFor();
  assert.equal(await doc.locator("#shared-list h3").filter({ hasText: /^Record from Alice Example \(/ }).count(), 1);

  // A damaged link (one character of the signed invitation changed) says so, and offers nothing.
  const at = link.length - 10;
  const damaged = link.slice(0, at) + (link[at] === "A" ? "B" : "A") + link.slice(at + 1);
  const stranger = await person("stranger", damaged);
  await stranger.page.locator("#invite-summary").filter({ hasText: "This invitation link is damaged: ask for a new one." }).waitFor();
  await stranger.context.close();

  // Someone else opens the used link and accepts: the patient is told, nothing is shared.
  // Eve has the portal open already: the link only changes the fragment
  // (a same-document navigation); it is taken and leaves the address bar all the same.
  const eve = await person("eve");
  await eve.page.locator("#view-start").waitFor();
  await eve.page.goto(link);
  await eve.page.locator("#invite-banner").filter({ hasText: "Alice Example" }).waitFor();
  assert.equal(new URL(eve.page.url()).hash, "");
  await createIdentity(eve.page);
  await eve.page.locator("#invite-my-name").fill("Eve");
  await eve.page.getByRole("button", { name: "Accept invitation" }).click();
  await eve.page.locator("#invite-accept-summary").filter({ hasText: "Waiting for Alice Example" }).waitFor();
  await page.getByRole("button", { name: "Check for answers" }).click();
  await status(page, /Ignored an answer to your invitations: The invitation was already accepted by someone else/);
  assert.equal(await page.locator("#acceptance-list li.acceptance").count(), 0);
  assert.equal(await page.locator("#grant-table tbody tr").filter({ hasText: /^Eve \(/ }).count(), 0);

  // People: the physician is a verified contact (the number was compared on
  // confirming); the patient's name is kept.
  await page.getByRole("button", { name: "People" }).click();
  const bob = page.locator("#contact-list li").filter({ hasText: "Dr. Bob" });
  await bob.locator(".verified").waitFor();
  await bob.getByRole("button", { name: "Safety number with Dr. Bob" }).click();
  assert.equal(words(await bob.locator(".safety").textContent()), docNumber);
  assert.equal(await page.locator("#my-name").inputValue(), "Alice Example");
  await shot(patient, "07-patient-contacts.png");

  // The physician's own contacts: Alice, not yet verified; sharing to her warns.
  await doc.getByRole("button", { name: "People" }).click();
  await doc.locator("#contact-list li").filter({ hasText: "Alice Example" }).locator(".unverified").waitFor();

  // A restore in a fresh context brings the patient's contacts back from the relay.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Back up identity" }).click()]);
  const file = await download.path();
  const restored = await person("restored");
  await restored.page.getByLabel("Backup file").setInputFiles(file);
  await restored.page.getByLabel("Passphrase of that backup").fill(PASS);
  await restored.page.getByRole("button", { name: "Restore" }).click();
  await restored.page.locator("#tabs").waitFor();
  await restored.page.getByRole("button", { name: "People" }).click();
  await restored.page.locator("#contact-list li").filter({ hasText: "Dr. Bob" }).locator(".verified").waitFor();
  await shot(restored, "08-restored-contacts.png");
  for (const p of [patient, physician, eve, restored]) await p.context.close();
});

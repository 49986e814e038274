// Emergency access in the portal, end to end in Debian's headless Chromium
// against the real relay + SRS: the patient and two emergency contacts in
// SEPARATE browser contexts. The server runs its emergency waits on the
// TEST-ONLY sped-up clock (`--test-only-emergency-clock-speedup 3600`: one
// hour of wait passes in one second of real time). Contact A (a week's wait,
// about three minutes here) asks, is denied, asks again and is approved;
// contact B (an hour's wait: a second here) asks and reads after the wait.
// Screenshots go to target/portal-screenshots/emergency-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, newPortalPerson, openTab, root, startServer } from "./server.mjs";

const shots = join(root, "target", "portal-screenshots");
const PASS = "correct horse battery staple";
let server;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await startServer({ args: ["--test-only-emergency-clock-speedup", "3600"] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const person = (name) => newPortalPerson(browser, server, name, PASS);

const shot = (p, file) => p.page.screenshot({ path: join(shots, file), fullPage: true });

async function status(page, pattern) {
  await page.locator("#status, .msg:not(.error)").filter({ hasText: pattern }).first().waitFor();
}

async function noAlert(page) {
  assert.equal(await page.locator("#alert").isVisible(), false, await page.locator("#alert").textContent());
}

async function writeSection(page, name, text) {
  await page.getByLabel("Section", { exact: true }).selectOption(name);
  await page.getByLabel("Free text").fill(text);
  await page.getByRole("button", { name: "Encrypt and save" }).click();
  await status(page, `Saved ${name} as version`);
}

async function addEmergencyContact(page, id, name, hours) {
  await page.getByLabel("Emergency contact's party id").fill(id);
  await page.getByLabel("Emergency contact's name").fill(name);
  await page.getByLabel("Wait before access opens").selectOption(String(hours));
  await page.getByRole("button", { name: "Add emergency contact" }).click();
  await status(page, `${name} is an emergency contact`);
  await noAlert(page);
}

/** The contact's emergency line on its "Shared with me" card. */
async function contactLine(p, pattern) {
  const { page } = p;
  await page.getByRole("button", { name: "Shared with me" }).click();
  await page.getByRole("button", { name: "Refresh" }).first().click();
  const line = page.locator("#shared-list .emergency-box p").filter({ hasText: pattern }).first();
  await line.waitFor();
  return line;
}

async function openAndRead(p) {
  const { page } = p;
  await page.getByRole("button", { name: "Open record 1" }).click();
  await page.locator("#reading").waitFor();
}

test("emergency contacts: ask, the patient's banner, deny, ask again, approve, read; and the wait passing", { timeout: 600_000 }, async () => {
  const patient = await person("patient");
  const alice = await person("contact A");
  const bob = await person("contact B");
  const { page } = patient;
  await page.getByRole("button", { name: "My records", exact: true }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  await writeSection(page, "allergies", "penicillin (anaphylaxis)");
  await writeSection(page, "medications", "salbutamol inhaler");

  // The emergency preset is ticked by default.
  await openTab(page, "Emergency access");
  const ticked = await page.locator("input[name=emergency-section]:checked").evaluateAll((xs) => xs.map((x) => x.value).sort());
  assert.deepEqual(ticked, ["allergies", "demographics", "history", "medications"]);
  await addEmergencyContact(page, alice.id, "Alice (sister)", 168);
  await addEmergencyContact(page, bob.id, "Bob (neighbour)", 1);
  const rows = page.locator("#emergency-list li[data-state]");
  assert.equal(await rows.count(), 2);
  assert.equal(await page.locator("#emergency-banner").isVisible(), false);
  await shot(patient, "emergency-1-patient-contacts.png");

  // Contact A: an emergency contact, asks; told when access opens.
  await contactLine(alice, "You are an emergency contact");
  await shot(alice, "emergency-2-contact-before.png");
  await alice.page.getByRole("button", { name: "Ask for emergency access" }).click();
  await status(alice.page, "has been told");
  const waiting = await contactLine(alice, /Access opens in (7 days|16\d hours) unless/);
  assert.match(await waiting.textContent(), /unless .* denies it/);
  await shot(alice, "emergency-3-contact-waiting.png");
  // Opening now is refused in plain words.
  await openAndRead(alice);
  await alice.page.locator("#reading [data-code=emergency_waiting]").first().waitFor();

  // The patient sees the banner at once (the page polls), and denies.
  const banner = page.locator("#emergency-banner");
  await banner.filter({ hasText: "Alice (sister)" }).waitFor();
  assert.match(await banner.textContent(), /asked to open your record in an emergency\. It opens in .* unless you deny it/);
  await shot(patient, "emergency-4-patient-banner.png");
  await page.getByRole("button", { name: "Deny Alice (sister)" }).click();
  await status(page, "Denied: Alice (sister) cannot read them");
  await banner.waitFor({ state: "hidden" });
  await contactLine(alice, "denied your request");
  await shot(alice, "emergency-5-contact-denied.png");

  // Asks again; the patient approves from the banner; the contact reads.
  await alice.page.getByRole("button", { name: "Ask for emergency access" }).click();
  await contactLine(alice, "Access opens in");
  await banner.filter({ hasText: "Alice (sister)" }).waitFor();
  await page.getByRole("button", { name: "Approve Alice (sister) now" }).click();
  await status(page, "Alice (sister) can read the emergency sections now");
  await contactLine(alice, "approved your emergency access");
  await openAndRead(alice);
  await alice.page.locator("#reading").filter({ hasText: "penicillin (anaphylaxis)" }).waitFor();
  await shot(alice, "emergency-6-contact-reading.png");

  // Contact B: asks; an hour (a second here) later, with no denial, reads.
  await contactLine(bob, "You are an emergency contact");
  await bob.page.getByRole("button", { name: "Ask for emergency access" }).click();
  await contactLine(bob, /Access opens in|The wait has passed/);
  await new Promise((r) => setTimeout(r, 1500));
  await contactLine(bob, "The wait has passed");
  await openAndRead(bob);
  await bob.page.locator("#reading").filter({ hasText: "salbutamol inhaler" }).waitFor();
  await shot(bob, "emergency-7-contact-after-wait.png");

  // The patient's audit marks every emergency read as BTG.
  await openTab(page, "Audit");
  await page.getByRole("button", { name: "Refresh" }).last().click();
  await page.locator("#audit-table [data-purpose=BTG]").first().waitFor();
  const btg = await page.locator("#audit-table [data-purpose=BTG]").count();
  assert.ok(btg >= 4, `${btg} emergency entries`);
  await shot(patient, "emergency-8-patient-audit.png");
  await openTab(page, "Emergency access");
  await page.locator("#emergency-list li[data-state=open]").first().waitFor();
  await noAlert(page);
  for (const p of [patient, alice, bob]) await p.context.close();
});

// Emergency access in the portal, end to end in Debian's headless Chromium
// against the real relay + SRS: the patient and two emergency contacts in
// SEPARATE browser contexts. The server runs its emergency waits on the
// TEST-ONLY sped-up clock (`--test-only-emergency-clock-speedup 3600`: one
// hour of wait passes in one second of real time). Contact A (a week's wait,
// about three minutes here) asks, is denied, asks again and is approved;
// contact B (an hour's wait: a second here) asks and reads after the wait.
// Screenshots go to target/portal-screenshots/emergency-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  newPortalPerson,
  noPortalAlert as noAlert,
  openTab,
  portalShots,
  portalStatus as status,
  portalSuite,
  root,
  writePortalSection,
} from "./server.mjs";
import { asJson, jsonOf, startLyingRelay } from "./lying-relay.mjs";

const S = await import(join(root, "pkg", "index.js"));

const shots = portalShots;
const PASS = "correct horse battery staple";
let server;
let browser;
portalSuite({ args: ["--test-only-emergency-clock-speedup", "3600"] }, (s) => ({ server, browser } = s));

const person = (name) => newPortalPerson(browser, server, name, PASS);

const shot = (p, file) => p.page.screenshot({ path: join(shots, file), fullPage: true });

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
  await writePortalSection(page, "allergies", { text: "penicillin (anaphylaxis)" });
  await writePortalSection(page, "medications", { text: "salbutamol inhaler" });

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

test("a relay that hides an activation from the listing gets a plain warning beside the banner, not silence", { timeout: 300_000 }, async () => {
  // The patient's browser reaches the servers only through a lying relay.
  const relay = await startLyingRelay(server.url);
  try {
    const patient = await newPortalPerson(browser, relay, "patient", PASS);
    const { page } = patient;
    // The contact uses the package directly, on the real server.
    await S.init();
    const client = new S.Client({ baseUrl: server.url });
    await client.connect();
    const contact = S.Identity.generate();
    await client.register(contact);
    await page.getByRole("button", { name: "My records", exact: true }).click();
    await page.getByRole("button", { name: "Create a record" }).click();
    await writePortalSection(page, "allergies", { text: "latex" });
    await openTab(page, "Emergency access");
    await addEmergencyContact(page, contact.id, "Carol (friend)", 168);
    const [shared] = await new S.Reader(client, contact).sharedWithMe();
    await new S.Reader(client, contact).activateEmergency(shared);
    // Honest: the banner shows, with the time the contact signed.
    const banner = page.locator("#emergency-banner");
    await banner.filter({ hasText: "Carol (friend)" }).waitFor();
    assert.match(await banner.textContent(), /They asked at /);

    // The relay hides the activation: an empty listing, unsigned.
    const isListing = (a) => !a.before && a.method === "GET" && /^\/srs\/v1\/records\/[0-9a-f]{64}\/emergency(\?|$)/.test(a.path);
    relay.lie((a) => (isListing(a) ? { body: asJson({ view: undefined, grants: [] }) } : undefined));
    const warning = page.locator("#emergency-warning");
    await warning.filter({ hasText: "the server's answer could not be verified" }).waitFor();
    assert.match(await warning.textContent(), /Could not check emergency access requests/);
    await page.locator("#emergency-list [data-state=unverified]").waitFor();
    await shot(patient, "emergency-9-patient-listing-unverified.png");

    // The relay rewrites the signed view (the state byte): the same warning.
    relay.lie((a) => {
      if (!isListing(a)) return;
      const j = jsonOf(a);
      const at = 2 * (98 + 16) + 1;
      return { body: asJson({ ...j, view: j.view.slice(0, at) + (j.view[at] === "0" ? "1" : "0") + j.view.slice(at + 1) }) };
    });
    await page.waitForTimeout(4000);
    assert.equal(await warning.isVisible(), true);
    // The relay drops the listing: unreachable, in plain words.
    relay.lie((a) => (a.before && a.method === "GET" && /\/emergency(\?|$)/.test(a.path) ? "drop" : undefined));
    await warning.filter({ hasText: "the server was unreachable" }).waitFor();
    await shot(patient, "emergency-10-patient-listing-unreachable.png");

    // Honest again: the warning goes, the banner is back.
    relay.truth();
    await warning.waitFor({ state: "hidden" });
    await banner.filter({ hasText: "Carol (friend)" }).waitFor();
    await noAlert(page);
    await patient.context.close();
  } finally {
    await relay.stop();
  }
});

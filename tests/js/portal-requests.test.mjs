// Access requests in the portal, end to end in Debian's headless Chromium
// against the real relay + SRS, the patient and a physician in SEPARATE
// browser contexts: the physician asks for two sections with a reason; the
// patient sees the request with both ticked, unticks one and approves; the
// physician reads exactly that; a second request is declined and the
// physician is told in plain words. Screenshots: target/portal-screenshots/requests-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { newPortalPerson, openTab, portalShots, portalSuite } from "./server.mjs";

const shots = portalShots;
const PASS = "correct horse battery staple";
let server;
let browser;
portalSuite(undefined, (s) => ({ server, browser } = s));

const person = (name) => newPortalPerson(browser, server, name, PASS);

const shot = (p, file) => p.page.screenshot({ path: join(shots, file), fullPage: true });

async function status(page, pattern) {
  await page.locator("#status, .msg:not(.error)").filter({ hasText: pattern }).first().waitFor();
}

async function ask(p, ownerId, sections, reason) {
  const { page } = p;
  await page.getByRole("button", { name: "Shared with me" }).click();
  const box = page.locator("#ask-box");
  if (!(await box.evaluate((d) => d.open))) await box.locator("summary").click();
  await page.getByLabel("The patient's party id").fill(ownerId);
  for (const s of sections) await page.locator(`#ask-section-${s}`).check();
  await page.getByLabel("Reason (the patient reads it)").fill(reason);
  await page.getByRole("button", { name: "Send the request" }).click();
  await status(page, "You will see their answer here");
  for (const s of sections) await page.locator(`#ask-section-${s}`).uncheck();
}

test("a physician asks, the patient approves less than asked, then declines a second request", { timeout: 600_000 }, async () => {
  const patient = await person("patient");
  const doctor = await person("physician");
  const { page } = patient;
  await page.getByRole("button", { name: "My records", exact: true }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  for (const [name, text] of [["allergies", "penicillin (anaphylaxis)"], ["medications", "salbutamol inhaler"]]) {
    await page.getByLabel("Section", { exact: true }).selectOption(name);
    await page.getByLabel("Free text").fill(text);
    await page.getByRole("button", { name: "Encrypt and save" }).click();
    await status(page, `Saved ${name} as version`);
  }

  await ask(doctor, patient.id, ["allergies", "medications"], "New patient appointment on Monday");
  await doctor.page.locator("#my-request-list [data-status=waiting]").first().waitFor();
  await shot(doctor, "requests-1-physician-asked.png");

  await openTab(page, "Requests");
  await page.getByRole("button", { name: "Check for requests" }).click();
  const card = page.locator("#request-list li[data-request]").first();
  await card.waitFor();
  assert.match(await card.textContent(), /New patient appointment on Monday/);
  const boxes = card.locator("input[type=checkbox]");
  assert.equal(await boxes.count(), 2);
  assert.ok(await boxes.nth(0).isChecked());
  assert.ok(await boxes.nth(1).isChecked());
  await shot(patient, "requests-2-patient-request.png");
  await card.locator("input[value=medications]").uncheck();
  await card.getByRole("button", { name: /^Approve for/ }).click();
  await status(page, /Shared allergies with/);
  await page.locator("#request-history [data-decision=approved]").first().waitFor({ state: "attached" });
  assert.equal(await page.locator("#request-list li[data-request]").count(), 0);

  // The physician sees the share and reads exactly what was approved.
  await doctor.page.getByRole("button", { name: "Refresh" }).first().click();
  await doctor.page.locator("#my-request-list [data-status=shared]").first().waitFor();
  await doctor.page.getByRole("button", { name: "Open record 1" }).click();
  await doctor.page.locator("#reading").filter({ hasText: "penicillin (anaphylaxis)" }).waitFor();
  assert.doesNotMatch(await doctor.page.locator("#reading").textContent(), /salbutamol/);
  await shot(doctor, "requests-3-physician-reading.png");

  // A second request, declined: the physician is told.
  await ask(doctor, patient.id, ["medications"], "Prescription review");
  await page.getByRole("button", { name: "Check for requests" }).click();
  const second = page.locator("#request-list li[data-request]").filter({ hasText: "Prescription review" });
  await second.waitFor();
  await second.getByRole("button", { name: /^Decline/ }).click();
  await status(page, "has been told");
  await page.locator("#requests-box details summary").click();
  await page.locator("#request-history [data-decision=declined]").first().waitFor();
  await shot(patient, "requests-4-patient-history.png");
  await doctor.page.getByRole("button", { name: "Refresh" }).first().click();
  const declined = doctor.page.locator("#my-request-list [data-status=declined]").first();
  await declined.waitFor();
  assert.match(await declined.textContent(), /declined your request for medications/);
  await shot(doctor, "requests-5-physician-declined.png");
  for (const p of [patient, doctor]) await p.context.close();
});

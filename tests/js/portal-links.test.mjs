// SMART Health Links through the portal, in Debian's headless Chromium
// against the real relay + SRS: the patient creates a link with a passcode
// (QR code decoded by an independent decoder, jsQR, from the rendered
// pixels); code written only from the SHL specification retrieves and
// decrypts that portal-made link with an independent JWE library (jose); a
// viewer in another browser context, on another origin (CORS), meets a
// wrong passcode, then reads the FHIR content and the attachment's bytes;
// the owner sees the retrieval; a live link follows an edit; revocation
// reads as plain words; the emergency card prints a QR of a long-term link.
// One server and one browser for the file; screenshots in
// target/portal-screenshots/links-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compactDecrypt, decodeProtectedHeader } from "jose";
import jsQR from "jsqr";
import {
  createPortalIdentity,
  openTab,
  portalPage,
  portalShots,
  portalStatus as status,
  portalSuite,
  writePortalSection as writeSection,
} from "./server.mjs";

const shots = portalShots;
const PASS = "correct horse battery staple";
let server;
let browser;
portalSuite(undefined, (s) => ({ server, browser } = s));

const person = (name, url) => portalPage(browser, server, name, { url });

const shot = (page, file) => page.screenshot({ path: join(shots, `links-${file}`), fullPage: true });

/** Decodes the QR code `svg` shows, from its pixels as Chromium renders them, with jsQR. */
async function decodeQr(svg) {
  const png = await svg.screenshot();
  // Rasterized in a blank page (no CSP there), read back as RGBA.
  const scratch = await browser.newPage();
  try {
    const img = await scratch.evaluate(async (b64) => {
      const i = new Image();
      i.src = `data:image/png;base64,${b64}`;
      await i.decode();
      const c = document.createElement("canvas");
      c.width = i.width;
      c.height = i.height;
      const g = c.getContext("2d");
      g.drawImage(i, 0, 0);
      return { w: c.width, h: c.height, data: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
    }, png.toString("base64"));
    const code = jsQR(Uint8ClampedArray.from(img.data), img.w, img.h);
    assert.ok(code, "jsQR finds a QR code in the rendered SVG");
    return code.data;
  } finally {
    await scratch.close();
  }
}

/** The SHL payload of a link, decoded from the specification alone. */
function payloadOf(link) {
  const s = link.slice(link.indexOf("#") + 1);
  assert.ok(s.startsWith("shlink:/"), s);
  return JSON.parse(Buffer.from(s.slice("shlink:/".length), "base64url").toString("utf8"));
}

const manifest = (url, body) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Opens a link in the viewer page: name, passcode, Open. */
async function openInViewer(page, link, { recipient, passcode }) {
  // From a blank page: the same URL again would be a same-document jump.
  await page.goto("about:blank");
  await page.goto(link);
  await page.getByLabel("Your name").fill(recipient);
  if (passcode !== undefined) await page.getByLabel("Passcode").fill(passcode);
  await page.getByRole("button", { name: "Open" }).click();
}

test("a link made in the portal: QR, spec-only retrieval, viewer with passcode, retrievals, live refresh, revocation, emergency card", { timeout: 300_000 }, async () => {
  const patient = await person("patient");
  const { page } = patient;
  await createPortalIdentity(page, PASS);
  await page.getByRole("button", { name: "My records" }).click();
  await page.getByRole("button", { name: "Create a record" }).click();
  await status(page, "Record created");
  await writeSection(page, "demographics", { fields: "name: Maria Rossi\nemergency contact: Luca Rossi +39 055 123456" });
  await writeSection(page, "allergies", { fields: "peanuts: anaphylaxis" });
  await writeSection(page, "medications", { fields: "salbutamol: 100 µg as needed" });
  const scan = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) & 0xff));
  await writeSection(page, "history", {
    fields: "condition: asthma",
    files: [{ name: "discharge-2024.bin", mimeType: "application/octet-stream", buffer: scan }],
  });
  await writeSection(page, "insurance", { fields: "insurer: Acme Health" });

  // The links panel (the record's "Links" tab) says plainly that a link hands over a copy.
  await openTab(page, "Links");
  const panel = page.locator("#links");
  await panel.getByText("A link hands over a copy.").waitFor();
  await page.getByLabel("What to share").selectOption("emergency");
  const ticked = await panel.locator("input[name=link-section]:checked").evaluateAll((xs) => xs.map((x) => x.value));
  assert.deepEqual(ticked, ["demographics", "history", "medications", "allergies"]);
  await page.getByLabel("Name of the link").fill("For Dr Rivera");
  await page.getByLabel("Passcode (optional").fill("4711");
  await page.getByLabel("Keep up to date").check();
  await page.getByRole("button", { name: "Create link" }).click();
  await status(page, "Link created");
  const link = await page.locator("#link-url").inputValue();
  assert.ok(link.startsWith(`${server.url}/view.html#shlink:/`), link);
  const svg = page.locator("#link-result svg.qr");
  await svg.waitFor();
  assert.equal(await decodeQr(svg), link, "the QR code holds exactly the link");
  await shot(page, "01-created.png");
  await panel.screenshot({ path: join(shots, "links-01b-panel.png") });

  // Spec-only: the payload by hand, the manifest with fetch, the file with jose.
  const p = payloadOf(link);
  assert.equal(p.flag, "LP");
  assert.equal(p.label, "For Dr Rivera");
  assert.equal(p.v, 1);
  assert.ok(!p.url.includes(p.key), "the key never is in the manifest URL");
  const key = new Uint8Array(Buffer.from(p.key, "base64url"));
  assert.equal(key.length, 32);
  let r = await manifest(p.url, { recipient: "conformance check", passcode: "4711", embeddedLengthMax: 0 });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  const m = await r.json();
  assert.equal(m.status, "can-change");
  assert.equal(m.files.length, 1);
  assert.equal(m.files[0].contentType, "application/fhir+json");
  const fileResp = await fetch(m.files[0].location);
  assert.equal(fileResp.headers.get("access-control-allow-origin"), "*");
  const jwe = await fileResp.text();
  // The portal compresses the FHIR JSON (raw DEFLATE, `zip: "DEF"`); jose inflates it.
  assert.deepEqual(decodeProtectedHeader(jwe), { alg: "dir", enc: "A256GCM", cty: "application/fhir+json", zip: "DEF" });
  const bundle = JSON.parse(new TextDecoder().decode((await compactDecrypt(jwe, key)).plaintext));
  assert.equal(bundle.resourceType, "Bundle");
  const text = JSON.stringify(bundle);
  assert.ok(text.includes("peanuts") && text.includes("salbutamol") && text.includes("Luca Rossi"), text);
  assert.ok(!text.includes("Acme Health"), "insurance is not in the emergency preset");
  const docRef = bundle.entry.map((e) => e.resource).find((x) => x.content?.[0]?.attachment?.title === "discharge-2024.bin");
  assert.ok(docRef, "the attachment is a DocumentReference");
  assert.deepEqual(Buffer.from(docRef.content[0].attachment.data, "base64"), scan, "with its bytes");

  // The viewer: another browser context, on another origin (localhost vs 127.0.0.1).
  const viewerLink = link.replace("://127.0.0.1:", "://localhost:");
  assert.notEqual(viewerLink, link);
  const viewer = await person("viewer", "about:blank");
  const v = viewer.page;
  // Not a link: plain words, no page error; then the paste box opens a real one.
  await v.goto(`${server.url.replace("://127.0.0.1:", "://localhost:")}/view.html#shlink:/%E0%A4%A`);
  const bad = v.locator("#viewer-paste ~ .msg.error[data-code=malformed]");
  await bad.waitFor();
  assert.equal(await bad.textContent(), "This is not a SMART Health Link this viewer can open.");
  await v.getByLabel("Link", { exact: true }).fill(viewerLink);
  await v.getByRole("button", { name: "Open" }).click();
  await v.getByLabel("Your name").waitFor();
  await openInViewer(v, viewerLink, { recipient: "Dr Ana Rivera", passcode: "0000" });
  const wrong = v.locator("#viewer-form ~ .msg.error[data-code=wrong_passcode]");
  await wrong.waitFor();
  assert.equal(await wrong.textContent(), "Wrong passcode. 9 attempts left before the link locks.");
  await shot(v, "02-viewer-wrong-passcode.png");
  await v.getByLabel("Passcode").fill("4711");
  await v.getByRole("button", { name: "Open" }).click();
  const content = v.locator("#viewer-content");
  await content.getByText("anaphylaxis").waitFor();
  await content.getByText("salbutamol").waitFor();
  assert.equal(await content.locator("h3").first().textContent(), "Allergies", "allergies first");
  const [download] = await Promise.all([v.waitForEvent("download"), content.getByRole("button", { name: "Download discharge-2024.bin" }).click()]);
  assert.deepEqual(readFileSync(await download.path()), scan);
  await shot(v, "03-viewer-content.png");

  // The owner sees who retrieved it, and when.
  await page.getByRole("button", { name: "Reload the links" }).click();
  const row = page.locator("#link-table tbody tr").filter({ hasText: "For Dr Rivera" });
  await row.getByText("Dr Ana Rivera").waitFor();
  await row.getByText("conformance check").waitFor();
  // One line per recipient, with how often and when last.
  assert.match(await row.textContent(), /Dr Ana Rivera — once, last /);
  assert.match(await row.textContent(), /passcode, 9 wrong tries left; kept up to date; no expiry/);
  await page.locator("#link-table").screenshot({ path: join(shots, "links-04-retrievals.png") });
  await page.setViewportSize({ width: 375, height: 800 });
  await panel.screenshot({ path: join(shots, "links-04b-phone.png") });
  await page.setViewportSize({ width: 1000, height: 900 });

  // Live: an edit of a covered section refreshes the link under its own key.
  await writeSection(page, "allergies", { fields: "peanuts: anaphylaxis\npenicillin: hives" });
  // Said where the patient is (the Sections tab), not in the hidden links panel.
  await status(page, "Updated 1 live link(s)");
  await openTab(page, "Links");
  r = await manifest(p.url, { recipient: "conformance check", passcode: "4711" });
  const refreshed = JSON.stringify(JSON.parse(new TextDecoder().decode((await compactDecrypt((await r.json()).files[0].embedded, key)).plaintext)));
  assert.ok(refreshed.includes("penicillin"), "the link's file now holds the edit, under the same key");
  await openInViewer(v, viewerLink, { recipient: "Dr Ana Rivera", passcode: "4711" });
  await content.getByText("hives").waitFor();

  // Revoked: the next retrieval is refused, in plain words.
  await row.getByRole("button", { name: "Revoke" }).click();
  await status(page, "Revoked");
  assert.equal((await manifest(p.url, { recipient: "x", passcode: "4711" })).status, 404);
  await openInViewer(v, viewerLink, { recipient: "Dr Ana Rivera", passcode: "4711" });
  const gone = v.locator("#viewer-form ~ .msg.error[data-code=not_found]");
  await gone.waitFor();
  assert.match(await gone.textContent(), /^This link was revoked or has expired/);
  await shot(v, "05-viewer-revoked.png");

  // The emergency card: a printable page with the QR of a long-term link, no passcode.
  await page.getByRole("button", { name: "Emergency card…" }).click();
  const card = page.locator("#emergency-card");
  await card.getByText("Maria Rossi").waitFor();
  assert.equal(await page.locator("#main").isVisible(), false, "the card is a view of its own");
  const cardLink = await decodeQr(card.locator("svg.qr"));
  assert.ok(cardLink.startsWith(`${server.url}/view.html#shlink:/`), cardLink);
  assert.equal(payloadOf(cardLink).flag, "L");
  await page.emulateMedia({ media: "print" });
  assert.equal(await card.getByRole("button", { name: "Print" }).isVisible(), false, "print shows the card only");
  await shot(page, "06-emergency-card-print.png");
  await page.emulateMedia({ media: "screen" });
  await openInViewer(v, cardLink, { recipient: "Paramedic unit 12" });
  await content.getByText("anaphylaxis").waitFor();
  assert.equal(await content.getByText("Acme Health").count(), 0);
  // Opening the card again shows the same link (its key kept for the owner), not a new one.
  await card.getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: "Emergency card…" }).click();
  assert.equal(await decodeQr(page.locator("#emergency-card svg.qr")), cardLink);
  await shot(page, "07-emergency-card.png");
  await page.getByRole("button", { name: "Close" }).click();
  const rows = page.locator("#link-table tbody tr");
  assert.equal(await rows.count(), 1, "one emergency link; the revoked one is gone");
  await rows.first().getByText("Paramedic unit 12").waitFor();

  // Neither link key is anywhere in the relay's data directory (database,
  // WAL, blobs), in base64url or as raw bytes.
  const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
  const stored = files(server.data);
  assert.ok(stored.some((f) => f.endsWith(".sqlite3")), stored.join(", "));
  for (const k of [p.key, payloadOf(cardLink).key]) {
    const raw = Buffer.from(k, "base64url");
    for (const f of stored) {
      const bytes = readFileSync(f);
      assert.equal(bytes.indexOf(k), -1, `${f} holds a link key`);
      assert.equal(bytes.indexOf(raw), -1, `${f} holds a link key's bytes`);
    }
  }
});

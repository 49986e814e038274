// SMART Health Links conformance: written only from the HL7 links
// specification, with an independent JWE library (jose), against a link the
// npm package created at the real relay. Nothing here uses the package to
// read: the payload is decoded by hand, the manifest fetched with plain
// fetch, every file decrypted by jose with the key from the fragment.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from "jose";
import { createServer } from "node:http";
import { root, startServer } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));

let server;
before(async () => {
  server = await startServer();
  await S.init();
});
after(() => server?.stop());

/** Decodes a shlink (optionally behind a viewer URL and `#`) per the spec. */
function payloadOf(link) {
  const i = link.indexOf("#");
  const s = i >= 0 ? link.slice(i + 1) : link;
  assert.ok(s.startsWith("shlink:/"), s);
  return JSON.parse(Buffer.from(s.slice("shlink:/".length), "base64url").toString("utf8"));
}

const manifest = (url, body) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

async function patientWithRecord() {
  const c = new S.Client({ baseUrl: server.url });
  await c.connect();
  const id = S.Identity.generate();
  await c.register(id);
  const record = await new S.Patient(c, id).createRecord();
  await record.write([
    { name: "allergies", fields: { peanuts: "severe" } },
    { name: "medications", text: "salbutamol 100 µg as needed" },
  ]);
  return record;
}

test("a link the package made opens with jose, exactly as the specification says", async () => {
  const record = await patientWithRecord();
  const { url, id } = await record.createLink({ sections: ["allergies", "medications"], passcode: "4711", label: "For the ER" });

  // The payload: url, a 43-character key of 32 bytes, flag P, label, v 1.
  const p = payloadOf(url);
  assert.equal(typeof p.url, "string");
  assert.ok(p.url.endsWith(`/${id}`), p.url);
  assert.match(p.key, /^[A-Za-z0-9_-]{43}$/);
  const key = Buffer.from(p.key, "base64url");
  assert.equal(key.length, 32);
  assert.equal(p.flag, "P");
  assert.equal(p.label, "For the ER");
  assert.equal(p.v, 1);
  assert.ok(!p.url.includes(p.key), "the key is not in the manifest URL");

  // A wrong passcode: 401 with remainingAttempts.
  let r = await manifest(p.url, { recipient: "ER triage", passcode: "0000" });
  assert.equal(r.status, 401);
  const wrong = await r.json();
  assert.equal(wrong.remainingAttempts, 9);

  // The right one: files, each a compact JWE dir/A256GCM with its cty, opening under the key.
  r = await manifest(p.url, { recipient: "ER triage", passcode: "4711", embeddedLengthMax: 10 });
  assert.equal(r.status, 200);
  const m = await r.json();
  assert.ok(Array.isArray(m.files) && m.files.length === 1, JSON.stringify(m));
  const f = m.files[0];
  assert.equal(f.contentType, "application/fhir+json");
  assert.equal(typeof f.location, "string", "a file over embeddedLengthMax comes as a location");
  const jwe = await (await fetch(f.location)).text();
  const header = decodeProtectedHeader(jwe);
  assert.equal(header.alg, "dir");
  assert.equal(header.enc, "A256GCM");
  assert.equal(header.cty, "application/fhir+json");
  assert.equal(header.zip, undefined);
  const { plaintext } = await compactDecrypt(jwe, new Uint8Array(key));
  const bundle = JSON.parse(new TextDecoder().decode(plaintext));
  assert.equal(bundle.resourceType, "Bundle");
  const text = JSON.stringify(bundle);
  assert.ok(text.includes("peanuts") && text.includes("salbutamol"), text);

  // Embedded when it fits; a missing recipient is refused.
  r = await manifest(p.url, { recipient: "GP", passcode: "4711" });
  const embedded = (await r.json()).files[0].embedded;
  assert.equal(typeof embedded, "string");
  await compactDecrypt(embedded, new Uint8Array(key));
  assert.equal((await manifest(p.url, { passcode: "4711" })).status, 400);

  // The owner sees both retrievals; the package's own viewer opens it too.
  const [listed] = await record.links();
  assert.equal(listed.id, id);
  assert.deepEqual(listed.retrievals.map((x) => x.recipient), ["ER triage", "GP"]);
  const files = await S.openLink(`https://viewer.example/#${url}`, { recipient: "viewer", passcode: "4711" });
  assert.equal(files[0].content.resourceType, "Bundle");
  const e = await S.openLink(url, { recipient: "viewer", passcode: "1" }).catch((x) => x);
  assert.equal(e.code, "wrong_passcode");
  assert.equal(e.remainingAttempts, 8);

  // Revoked: 404 from now on.
  await record.revokeLink(id);
  assert.equal((await manifest(p.url, { recipient: "ER triage", passcode: "4711" })).status, 404);
  assert.equal((await fetch(f.location)).status, 404);
  assert.deepEqual(await record.links(), []);
});

test("the owner shows a link again and refreshes a live one under its key; a swapped or altered kept key is refused", async () => {
  const record = await patientWithRecord();
  const live = await record.createLink({ sections: ["allergies"], longTerm: true, label: "live" });
  const snap = await record.createLink({ sections: ["medications"], passcode: "1234" });
  const info = S.decodeLink(live.url);
  assert.equal(info.flag, "L");
  assert.equal(info.label, "live");
  assert.equal(info.key, undefined, "decodeLink never hands out the key");

  const listed = await record.links();
  const l = listed.find((x) => x.id === live.id);
  const s = listed.find((x) => x.id === snap.id);
  assert.equal(record.linkUrl(l), live.url, "the same shlink from the key kept for the owner");
  assert.equal(record.linkUrl(s), snap.url);
  assert.deepEqual(record.linkSections(l), { record: record.recordId, sections: ["allergies"] });

  // A relay that swaps two links' kept keys, or alters one, is caught.
  assert.equal((() => { try { record.linkUrl({ ...l, ownerKey: s.ownerKey }); } catch (e) { return e.code; } })(), "decryption_failed");
  const bytes = Buffer.from(l.ownerKey, "base64url");
  bytes[bytes.length - 1] ^= 1;
  assert.equal((() => { try { record.linkUrl({ ...l, ownerKey: bytes.toString("base64url") }); } catch (e) { return e.code; } })(), "decryption_failed");
  assert.equal((() => { try { record.linkUrl({ ...l, ownerKey: undefined }); } catch (e) { return e.code; } })(), "no_link_key");

  // A write, then refresh: only the live link that covers the section follows.
  await record.write([{ name: "allergies", fields: { peanuts: "severe", penicillin: "hives" } }]);
  assert.deepEqual(await record.refreshLinks(["medications"]), { refreshed: [], failed: [] });
  assert.deepEqual(await record.refreshLinks(["allergies"]), { refreshed: [live.id], failed: [] });
  const p = payloadOf(live.url);
  const m = await (await manifest(p.url, { recipient: "spec" })).json();
  assert.equal(m.status, "can-change");
  const { plaintext } = await compactDecrypt(m.files[0].embedded, new Uint8Array(Buffer.from(p.key, "base64url")));
  assert.ok(new TextDecoder().decode(plaintext).includes("penicillin"));

  // Attachments travel with their bytes.
  const bytesIn = new Uint8Array(2000).map((_, i) => (i * 7) & 0xff);
  await record.write([{ name: "labs", fields: { HbA1c: "6.1 %" }, files: [{ name: "scan.bin", type: "application/octet-stream", bytes: bytesIn }] }]);
  const withFile = await record.createLink({ sections: ["labs"] });
  const [file] = await S.openLink(withFile.url, { recipient: "spec" });
  const doc = file.content.entry.map((e) => e.resource).find((r) => r.content?.[0]?.attachment?.title === "scan.bin");
  assert.deepEqual(new Uint8Array(Buffer.from(doc.content[0].attachment.data, "base64")), bytesIn);
  assert.equal(doc.content[0].attachment.size, 2000);
});

test("the package's viewer opens a direct-file (U) link another server made with jose", async () => {
  // Another SHL server, from the specification: GET {url}?recipient=… answers the JWE itself.
  const key = crypto.getRandomValues(new Uint8Array(32));
  const bundle = { resourceType: "Bundle", type: "collection", entry: [{ resource: { resourceType: "AllergyIntolerance", code: { text: "latex" } } }] };
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(bundle)))
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", cty: "application/fhir+json" })
    .encrypt(key);
  const seen = [];
  const other = createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(200, { "content-type": "application/jose" }).end(jwe);
  });
  await new Promise((r) => other.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${other.address().port}/files/abc`;
    const payload = { url, key: Buffer.from(key).toString("base64url"), flag: "U", label: "from elsewhere" };
    const link = `shlink:/${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    assert.deepEqual(S.decodeLink(link), { url, flag: "U", label: "from elsewhere", exp: undefined });
    const [file] = await S.openLink(link, { recipient: "Dr. Who" });
    assert.equal(file.contentType, "application/fhir+json");
    assert.deepEqual(file.content, bundle);
    assert.deepEqual(seen, ["/files/abc?recipient=Dr.%20Who"]);
  } finally {
    other.close();
  }
});

test("a direct-file (U) link the package made: GET with recipient, as the specification says, opened with jose", async () => {
  const record = await patientWithRecord();
  await assert.rejects(record.createLink({ sections: ["allergies"], directFile: true, passcode: "1" }), { code: "invalid_argument" });
  const { url, id } = await record.createLink({ sections: ["allergies"], directFile: true, label: "U" });
  const p = payloadOf(url);
  assert.equal(p.flag, "U");
  const key = new Uint8Array(Buffer.from(p.key, "base64url"));
  assert.equal((await fetch(p.url)).status, 400, "recipient required");
  const r = await fetch(`${p.url}?recipient=${encodeURIComponent("Walk-in clinic")}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/jose");
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  const { plaintext, protectedHeader } = await compactDecrypt(await r.text(), key);
  assert.equal(protectedHeader.cty, "application/fhir+json");
  assert.ok(new TextDecoder().decode(plaintext).includes("peanuts"));
  const [file] = await S.openLink(url, { recipient: "viewer" });
  assert.equal(file.content.resourceType, "Bundle");
  const listed = (await record.links()).find((l) => l.id === id);
  assert.deepEqual(listed.retrievals.map((x) => x.recipient), ["Walk-in clinic", "viewer"]);
  assert.equal(record.linkUrl(listed), url, "shown again with its U flag");
  // A passcode link is not served as a direct file, and no attempt is spent.
  const withCode = await record.createLink({ sections: ["allergies"], passcode: "4711" });
  const q = payloadOf(withCode.url);
  const refused = await fetch(`${q.url}?recipient=x`);
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).code, "passcode_required");
  assert.equal((await record.links()).find((l) => l.id === withCode.id).attemptsLeft, 10);
  await record.revokeLink(id);
  assert.equal((await fetch(`${p.url}?recipient=x`)).status, 404);
});

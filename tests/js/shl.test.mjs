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
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { root, startServer } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));

/**
 * Opens a compact JWE as the specification alone says (RFC 7516 with
 * `dir`/`A256GCM`, AAD = the protected header's base64url; `zip: "DEF"`:
 * raw DEFLATE, RFC 1951), with WebCrypto and Node's zlib: no jose, no
 * package code.
 */
async function specOpen(jwe, key) {
  const [h, ek, iv, ct, tag] = jwe.split(".");
  assert.equal(ek, "");
  const header = JSON.parse(Buffer.from(h, "base64url").toString());
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  const sealed = Buffer.concat([Buffer.from(ct, "base64url"), Buffer.from(tag, "base64url")]);
  const raw = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: Buffer.from(iv, "base64url"), additionalData: new TextEncoder().encode(h) }, k, sealed));
  return { header, plaintext: header.zip === "DEF" ? new Uint8Array(inflateRawSync(raw)) : raw, raw };
}

/** A compact JWE of `bytes` made as the specification alone says (`zip: "DEF"`: `bytes` is already raw DEFLATE). */
async function specSeal(key, cty, bytes, zip) {
  const h = Buffer.from(JSON.stringify({ alg: "dir", enc: "A256GCM", cty, ...(zip ? { zip: "DEF" } : {}) })).toString("base64url");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const out = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(h) }, k, bytes));
  const b = (x) => Buffer.from(x).toString("base64url");
  return `${h}..${b(iv)}.${b(out.subarray(0, out.length - 16))}.${b(out.subarray(out.length - 16))}`;
}

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
  assert.equal(r.headers.get("cache-control"), "no-store");
  const m = await r.json();
  assert.ok(Array.isArray(m.files) && m.files.length === 1, JSON.stringify(m));
  const f = m.files[0];
  assert.equal(f.contentType, "application/fhir+json");
  assert.equal(typeof f.location, "string", "a file over embeddedLengthMax comes as a location");
  const located = await fetch(f.location);
  assert.equal(located.headers.get("cache-control"), "no-store");
  const jwe = await located.text();
  const header = decodeProtectedHeader(jwe);
  assert.equal(header.alg, "dir");
  assert.equal(header.enc, "A256GCM");
  assert.equal(header.cty, "application/fhir+json");
  // FHIR JSON compresses: the file is raw DEFLATE (`zip: "DEF"`), smaller
  // than the JSON, and jose (which inflates DEF itself) and the spec-only
  // WebCrypto + zlib opening agree.
  assert.equal(header.zip, "DEF");
  const { plaintext } = await compactDecrypt(jwe, new Uint8Array(key));
  const spec = await specOpen(jwe, new Uint8Array(key));
  assert.deepEqual(spec.plaintext, plaintext);
  assert.ok(spec.raw.length < plaintext.length, `${spec.raw.length} compressed of ${plaintext.length}`);
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
  assert.deepEqual(listed.retrievals.map((x) => [x.recipient, x.count]), [["ER triage", 1], ["GP", 1]]);
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

test("a relay that lies in its listing gets no refresh and no card: the terms sealed with the kept key decide", async () => {
  const record = await patientWithRecord();
  const live = await record.createLink({ sections: ["allergies"], longTerm: true, label: "live" });
  const snap = await record.createLink({ sections: ["allergies"], passcode: "4711", label: "snap" });
  const brief = await record.createLink({ sections: ["allergies"], longTerm: true, expiresAt: Date.now() + 1200 });
  const gone = await record.createLink({ sections: ["allergies"], longTerm: true });
  const everything = await record.createLink({ sections: ["allergies", "medications"], longTerm: true, label: "Everything" });
  const before = await record.links();
  await record.revokeLink(gone.id);
  await new Promise((r) => setTimeout(r, 1300));

  // The relay replays its listing from before the revocation, every link
  // long-term, without passcode, labelled as the emergency card.
  const puts = [];
  const honest = record.client.fetch;
  record.client.fetch = async (url, init = {}) => {
    const u = new URL(String(url));
    const method = (init.method ?? "GET").toUpperCase();
    if (method === "GET" && u.pathname === "/v1/shl") {
      const lied = before.map((l) => ({ ...l, longTerm: true, passcode: false, label: "Emergency card", expiresAt: undefined }));
      return new Response(JSON.stringify(lied), { status: 200, headers: { "content-type": "application/json" } });
    }
    if (method === "PUT" && u.pathname.startsWith("/v1/shl/")) puts.push(u.pathname.split("/").pop());
    return honest(url, init);
  };
  try {
    await record.write([{ name: "allergies", fields: { peanuts: "severe", latex: "rash" } }]);
    const out = await record.refreshLinks();
    assert.deepEqual(out.failed, []);
    assert.deepEqual(out.refreshed.sort(), [live.id, everything.id].sort());
    assert.deepEqual(puts.sort(), [live.id, everything.id].sort(), "no write to the revoked, expired or snapshot link");

    // Shown again from the sealed terms, not the listed ones.
    const listedSnap = before.find((l) => l.id === snap.id);
    assert.equal(record.linkUrl({ ...listedSnap, longTerm: true, passcode: false, label: "x" }), snap.url);
    const terms = record.linkTerms(listedSnap);
    assert.equal(terms.passcode, true);
    assert.equal(terms.longTerm, false);
    assert.equal(terms.label, "snap");
    assert.equal(record.linkTerms(before.find((l) => l.id === brief.id)).longTerm, true);

    // No link was made as the card: the relabelled "Everything" link is not reused.
    assert.equal(await record.cardLink(["allergies", "medications"]), undefined);
  } finally {
    record.client.fetch = honest;
  }
  const card = await record.createLink({ sections: ["allergies", "medications"], longTerm: true, label: "Emergency card", card: true });
  assert.equal(await record.cardLink(["allergies", "medications"]), card.url);
  assert.equal(await record.cardLink(["allergies"]), undefined, "only the exact sections");
  await record.revokeLink(card.id);
  assert.equal(await record.cardLink(["allergies", "medications"]), undefined);
});

test("an emergency card carries who the patient is and whom to call, not the address, identifiers or files", async () => {
  const record = await patientWithRecord();
  await record.write([
    { name: "demographics", fields: { name: "Maria Rossi", "date of birth": "1970-01-02", address: "Via Roma 1, Firenze", "insurance number": "IT-998877", "emergency contact": "Luca Rossi +39 055 123456" } },
    { name: "allergies", fields: { peanuts: "severe" }, files: [{ name: "allergy-test.pdf", type: "application/pdf", bytes: new Uint8Array(64).fill(7) }] },
  ]);
  const sections = ["demographics", "allergies"];
  const card = await record.createLink({ sections, longTerm: true, label: "Emergency card", card: true });
  const check = async () => {
    const [file] = await S.openLink(card.url, { recipient: "paramedic" });
    const text = JSON.stringify(file.content);
    for (const kept of ["Maria Rossi", "1970-01-02", "Luca Rossi", "peanuts"]) assert.ok(text.includes(kept), kept);
    for (const left of ["Via Roma", "IT-998877", "allergy-test.pdf"]) assert.ok(!text.includes(left), left);
  };
  await check();
  await record.write([{ name: "demographics", fields: { name: "Maria Rossi", "date of birth": "1970-01-02", address: "Via Roma 2", "emergency contact": "Luca Rossi +39 055 654321" } }]);
  assert.deepEqual((await record.refreshLinks(["demographics"])).refreshed, [card.id]);
  await check();
  // An ordinary link over the same sections carries everything.
  const [all] = await S.openLink((await record.createLink({ sections })).url, { recipient: "me" });
  assert.ok(JSON.stringify(all.content).includes("Via Roma 2"));
});

test("a link's size is budgeted so its JWE fits: too large is refused in plain words, at creation and at refresh", async () => {
  const record = await patientWithRecord();
  const live = await record.createLink({ sections: ["allergies"], longTerm: true });
  // 4.5 MiB of attachment: under the old 5 MiB budget, but 6 MiB of base64
  // in the JSON, so the JWE would pass 8 MiB.
  const big = new Uint8Array(4.5 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
  await record.write([{ name: "allergies", fields: { peanuts: "severe" }, files: [{ name: "scan.bin", type: "application/octet-stream", bytes: big }] }]);
  const e = await record.createLink({ sections: ["allergies"] }).catch((x) => x);
  assert.equal(e.code, "too_large");
  assert.match(e.message, /a link carries at most \d+\. Leave out a section with large files\./);
  const out = await record.refreshLinks(["allergies"]);
  assert.deepEqual(out.refreshed, []);
  assert.deepEqual(out.failed.map((f) => [f.id, f.error.code]), [[live.id, "too_large"]]);
});

test("the package's viewer keeps a hostile link server within bounds: sizes, file count, addresses, redirects, words", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const jwe = await new CompactEncrypt(new TextEncoder().encode("{}"))
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", cty: "application/fhir+json" })
    .encrypt(key);
  const seen = [];
  let answer;
  const other = createServer((req, res) => {
    seen.push(req.url);
    answer(req, res);
  });
  await new Promise((r) => other.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${other.address().port}`;
  const linkTo = (url, flag = "") =>
    `shlink:/${Buffer.from(JSON.stringify({ url, key: Buffer.from(key).toString("base64url"), flag })).toString("base64url")}`;
  const code = (p) => p.then(() => "opened", (e) => e.code);
  const manifestOf = (m) => (req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(m));
  try {
    // A manifest of 40 files; one past the size cap (streamed, no length).
    answer = manifestOf({ files: Array.from({ length: 40 }, () => ({ contentType: "application/fhir+json", embedded: jwe })) });
    assert.equal(await code(S.openLink(linkTo(`${base}/m`), { recipient: "r" })), "too_large");
    answer = (req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let n = 0;
      const more = () => {
        while (n < 12 && res.write(chunk)) n++;
        if (n < 12) res.once("drain", more);
        else res.end();
      };
      res.on("error", () => {});
      more();
    };
    assert.equal(await code(S.openLink(linkTo(`${base}/m`), { recipient: "r" })), "too_large");
    // A location on plain http elsewhere is not fetched; a redirect is not followed.
    seen.length = 0;
    answer = manifestOf({ files: [{ contentType: "application/fhir+json", location: "http://example.invalid/f" }] });
    assert.equal(await code(S.openLink(linkTo(`${base}/m`), { recipient: "r" })), "malformed");
    assert.equal(await code(S.openLink(linkTo("http://example.invalid/m"), { recipient: "r" })), "malformed");
    answer = (req, res) =>
      req.url.startsWith("/m")
        ? manifestOf({ files: [{ contentType: "application/fhir+json", location: `${base}/hop` }] })(req, res)
        : req.url === "/hop"
          ? res.writeHead(302, { location: `${base}/f` }).end()
          : res.writeHead(200, { "content-type": "application/jose" }).end(jwe);
    assert.equal(await code(S.openLink(linkTo(`${base}/m`), { recipient: "r" })), "network");
    assert.ok(!seen.includes("/f"), `the redirect was followed: ${seen}`);
    // A foreign refusal's own words and codes are not shown.
    answer = (req, res) =>
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ code: "call_this_number", message: "Call +1 555 0100 to unlock", remainingAttempts: 3 }));
    const e = await S.openLink(linkTo(`${base}/m`), { recipient: "r" }).catch((x) => x);
    assert.equal(e.code, "http_401");
    assert.ok(!e.message.includes("555"), e.message);
    answer = (req, res) =>
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ code: "wrong_passcode", message: "Call +1 555 0100", remainingAttempts: 3 }));
    const w = await S.openLink(linkTo(`${base}/m`), { recipient: "r", passcode: "x" }).catch((x) => x);
    assert.equal(w.code, "wrong_passcode");
    assert.equal(w.remainingAttempts, 3);
    assert.ok(!w.message.includes("555"), w.message);
    // Within bounds it opens.
    answer = manifestOf({ files: [{ contentType: "application/fhir+json", embedded: jwe }] });
    assert.deepEqual(await S.openLink(linkTo(`${base}/m`), { recipient: "r" }), [{ contentType: "application/fhir+json", content: {} }]);
    // A compressed file (zip DEF) of another server opens, inflated, by
    // manifest and as a direct (U) file; a bomb (65 MiB of zeros in 64 KiB)
    // is cut off, not inflated whole; bytes that do not inflate are refused.
    const fhir = new TextEncoder().encode(JSON.stringify({ resourceType: "Bundle", entry: Array(200).fill({ resource: { resourceType: "Observation" } }) }));
    const zipped = await specSeal(key, "application/fhir+json", deflateRawSync(fhir), true);
    assert.equal(decodeProtectedHeader(zipped).zip, "DEF");
    answer = manifestOf({ files: [{ contentType: "application/fhir+json", embedded: zipped }] });
    const [z] = await S.openLink(linkTo(`${base}/m`), { recipient: "r" });
    assert.equal(z.content.entry.length, 200);
    answer = (req, res) => res.writeHead(200, { "content-type": "application/jose" }).end(zipped);
    const [u] = await S.openLink(linkTo(`${base}/u`, "U"), { recipient: "r" });
    assert.equal(u.content.entry.length, 200);
    const bomb = await specSeal(key, "application/octet-stream", deflateRawSync(Buffer.alloc(65 * 1024 * 1024)), true);
    assert.ok(bomb.length < 1024 * 1024, `${bomb.length}`);
    answer = manifestOf({ files: [{ contentType: "application/octet-stream", embedded: bomb }] });
    assert.equal(await code(S.openLink(linkTo(`${base}/m`), { recipient: "r" })), "too_large");
    const junk = await specSeal(key, "application/fhir+json", new Uint8Array([0xff, 0xff, 0xff, 0xff]), true);
    answer = manifestOf({ files: [{ contentType: "application/fhir+json", embedded: junk }] });
    assert.equal(await code(S.openLink(linkTo(`${base}/m`), { recipient: "r" })), "malformed");
  } finally {
    other.closeAllConnections?.();
    other.close();
  }
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
  assert.equal(r.headers.get("cache-control"), "no-store");
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  const { plaintext, protectedHeader } = await compactDecrypt(await r.text(), key);
  assert.equal(protectedHeader.cty, "application/fhir+json");
  assert.ok(new TextDecoder().decode(plaintext).includes("peanuts"));
  const [file] = await S.openLink(url, { recipient: "viewer" });
  assert.equal(file.content.resourceType, "Bundle");
  const listed = (await record.links()).find((l) => l.id === id);
  assert.deepEqual(listed.retrievals.map((x) => [x.recipient, x.count]), [["Walk-in clinic", 1], ["viewer", 1]]);
  assert.ok(listed.retrievals.every((x) => x.first <= x.last && x.last <= Date.now()));
  assert.equal(listed.direct, true);
  assert.equal(record.linkUrl(listed), url, "shown again with its U flag");
  // Only a U link is served as a direct file (the specification): a
  // passcode link is refused without an attempt spent, a plain one too.
  const withCode = await record.createLink({ sections: ["allergies"], passcode: "4711" });
  const plain = await record.createLink({ sections: ["allergies"] });
  for (const other of [withCode, plain]) {
    const refused = await fetch(`${payloadOf(other.url).url}?recipient=x`);
    assert.equal(refused.status, 409);
    assert.equal((await refused.json()).code, "not_direct");
  }
  assert.equal((await record.links()).find((l) => l.id === withCode.id).attemptsLeft, 10);
  await record.revokeLink(id);
  assert.equal((await fetch(`${p.url}?recipient=x`)).status, 404);
});

// The reader's and the owner's rules through the package, against the real
// relay + SRS. A lying or failing network is the Client's `fetch` option
// wrapping the real responses (never a mock server): a relay that serves a
// stranger's inbox item, hides the newest manifest, or a response lost on
// the way back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readdirSync, statSync } from "node:fs";
import { root, startServer } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));
const core = await import(join(root, "pkg", "sesphr.js"));

let server;

before(async () => {
  server = await startServer();
  await S.init();
});

after(() => server?.stop());

/**
 * A connected Client; `lie(url, init, real)` sees every request and answers
 * it (`real()` sends it to the real server).
 */
async function client(lie) {
  const f = lie ? (url, init = {}) => lie(String(url), init, () => fetch(url, init)) : undefined;
  const c = new S.Client({ baseUrl: server.url, fetch: f });
  await c.connect();
  return c;
}

async function party(c) {
  const id = S.Identity.generate();
  await c.register(id);
  return id;
}

/** A patient with a new record and a doctor, both registered on `c`. */
async function patientAndDoctor(c) {
  const patient = await party(c);
  const doctor = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  return { patient, doctor, record };
}

const rejection = (promise) => promise.then(() => assert.fail("expected a rejection"), (e) => e);
const isPost = (init) => init.method === "POST";
/** The relay's real 404 for a manifest, in place of the one at `url`: how a relay hides a version. */
const notFound = (url, init) => fetch(url.replace(/\/manifests\/[^/]+$/, "/manifests/999999999"), init);

test("core errors are SesphrError, and verified objects are taken by reference, never consumed", async () => {
  const e = (() => {
    try {
      core.VerifiedManifest.fromBytes(new Uint8Array(10));
    } catch (err) {
      return err;
    }
  })();
  assert.ok(e instanceof S.SesphrError, "the core throws the package's class");
  assert.equal(e.code, "malformed");
  const c = await client();
  const owner = await party(c);
  const record = await new S.Patient(c, owner).createRecord();
  const bytes = await c.manifestBytes(record.recordId);
  const m = core.VerifiedManifest.fromBytesOf(bytes, owner.publicIdentity);
  // One manifest into two chains and a restore: each takes a reference.
  const chains = [new core.ManifestChain(m), new core.ManifestChain(m)];
  const restore = new core.RecordRestore(0);
  restore.addManifest(m);
  assert.equal(m.version, 1, "still usable after being passed on");
  assert.equal(m.recordId, record.recordId);
  const rebuilt = restore.build(owner.core, Date.now());
  assert.equal(rebuilt.nextVersion, 2);
  assert.equal(rebuilt.witnessedVersion, 0, "no head was given");
  const stranger = S.Identity.generate();
  assert.equal(rejectionSync(() => core.VerifiedManifest.fromBytesOf(bytes, stranger.publicIdentity)).code, "binding_mismatch");
  for (const o of [...chains, restore, rebuilt, m]) o.free();
});

function rejectionSync(f) {
  try {
    f();
  } catch (e) {
    return e;
  }
  assert.fail("expected a throw");
}

test("a stranger's grant naming the victim's record neither shows as theirs nor blocks the owner's share", async () => {
  const c = await client();
  const patient = await party(c);
  const doctor = await party(c);
  const stranger = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  await record.write([{ name: "history", fields: { condition: "asthma" } }]);
  await record.share({ grantee: doctor.id, sections: ["history"] });
  // The stranger signs grants to the doctor naming the victim's record,
  // section and current epoch, with a sequence far above the owner's, and
  // one naming a record that does not exist.
  const sid = record.sectionId("history");
  const epochId = record.sections()[0].epochId;
  const junk = (recordId) => {
    const key = new core.SectionKey(stranger.core, recordId, sid, epochId);
    const g = core.issueGrant(stranger.core, key, c.pinnedSrs(), { grantee: doctor.publicKey, role: "physician", sequence: 1e9 });
    key.free();
    return { statement: S.toHex(g.statement), b1Envelope: S.toHex(g.b1Envelope) };
  };
  const squat = junk(record.recordId);
  const ghost = junk(core.newRecord(stranger.core).recordId);
  const squatId = (() => {
    const g = core.VerifiedGrant.fromBytes(S.fromHex(squat.statement));
    const id = g.view().itemId;
    g.free();
    return id;
  })();
  // Posted to the doctor's inbox: a relay that checks the statement's owner
  // against the record refuses it; one that does not stores it.
  for (const item of [squat, ghost]) {
    await c.postJson(`${server.url}/v1/inbox`, item).catch((e) => assert.ok([403, 409].includes(e.status), e.message));
  }
  // And a lying relay serves both, first.
  const lying = await client(async (url, init, real) => {
    const resp = await real();
    if (!url.endsWith("/v1/inbox") || isPost(init)) return resp;
    const mine = [squat.statement, ghost.statement];
    const items = (await resp.json()).filter((i) => !mine.includes(i.statement));
    return Response.json([squat, ghost, ...items]);
  });
  const reader = new S.Reader(lying, doctor);
  const shared = await reader.sharedWithMe();
  assert.equal(shared.length, 1, "the record nobody has is dropped");
  assert.equal(shared[0].recordId, record.recordId);
  assert.equal(shared[0].owner.id, patient.id, "the record shows as its owner's");
  assert.equal(shared[0].owner.fingerprint, patient.fingerprint);
  assert.deepEqual(shared[0].foreign, [squatId]);
  assert.equal(shared[0].sections.length, 1);
  assert.ok(shared[0].sections[0].grants.every((g) => g.owner.id === patient.id));
  const open = await reader.open(shared[0].sections[0]);
  assert.equal(open.document.fields.condition, "asthma");
  open.close();
  // Clearing removes only what the relay confirms it deleted.
  const cleared = await shared[0].clearForeign();
  assert.ok(cleared.every((id) => id === squatId));
  assert.deepEqual(shared[0].foreign, cleared.length ? [] : [squatId]);
});

test("inbox items are named by their statement's hash, and clearing one by that id removes it", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  await record.write([{ name: "labs", text: "panel" }]);
  await record.share({ grantee: doctor.id, sections: ["labs"] });
  const [shared] = await new S.Reader(c, doctor).sharedWithMe();
  const id = shared.sections[0].grants[0].itemId;
  const [item] = await c.inbox(doctor);
  // A relay that names its items (the new one) names them by this hash.
  if (item.id !== undefined) assert.equal(item.id, id);
  const deleted = await c.clearInboxItem(doctor, id);
  // Whether or not the relay can delete items (the old one has no such
  // route), what it says matches what the inbox then holds.
  assert.equal((await new S.Reader(c, doctor).sharedWithMe()).length, deleted ? 0 : 1);
  assert.equal(await c.clearInboxItem(doctor, id), false, "a second delete finds nothing");
});

test("the owner's restore against a relay that hides the newest manifest is stale, in plain words", async () => {
  const c = await client();
  const patient = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  await record.write([{ name: "allergies", fields: { peanuts: "severe" } }]);
  const newest = record.version;
  const hiding = await client((url, init, real) => {
    if (url.endsWith(`/manifests/latest`)) return fetch(url.replace(/latest$/, String(newest - 1)), init);
    if (url.endsWith(`/manifests/${newest}`)) return notFound(url, init);
    return real();
  });
  const e = await rejection(new S.Patient(hiding, patient).openRecord(0));
  assert.equal(e.code, "stale");
  assert.ok(e instanceof S.SesphrError);
  assert.match(e.message, /storage server is behind/);
  assert.match(e.message, new RegExp(`witnessed version ${newest}`));
  assert.equal(e.found, newest - 1);
  assert.equal(e.known, newest);
  assert.equal((await rejection(new S.Patient(hiding, patient).records())).code, "stale");
  // A relay that hides the whole record is stale too, not "no records".
  const gone = await client((url, init, real) => (url.includes("/manifests/") ? notFound(url, init) : real()));
  assert.equal((await rejection(new S.Patient(gone, patient).records())).code, "stale");
  // The honest relay gives the record back whole.
  const back = await new S.Patient(c, patient).openRecord(0);
  assert.equal(back.version, newest);
  assert.equal(back.witnessedVersion, newest);
});

test("a reader refuses a relay behind the SRS's head, and reads the head's version when the relay is ahead", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  await record.write([{ name: "labs", text: "old panel" }]);
  await record.share({ grantee: doctor.id, sections: ["labs"] });
  await record.write([{ name: "labs", text: "new panel" }]);
  const newest = record.version;
  const hiding = await client((url, init, real) => {
    if (url.endsWith(`/manifests/latest`)) return fetch(url.replace(/latest$/, String(newest - 1)), init);
    return real();
  });
  const reader = new S.Reader(hiding, doctor);
  const [shared] = await reader.sharedWithMe();
  const e = await rejection(reader.open(shared.sections[0]));
  assert.equal(e.code, "stale");
  assert.match(e.message, /storage server is behind/);
  const honest = new S.Reader(c, doctor);
  const [mine] = await honest.sharedWithMe();
  const open = await honest.open(mine.sections[0]);
  assert.equal(open.document.text, "new panel");
  assert.equal(honest.highWater.get(record.recordId), newest);
  open.close();
});

test("a write whose SRS confirmation is lost still lands; the next write carries it; readers read the newest", async () => {
  let lose = 0;
  let drop = false;
  const c = await client(async (url, init, real) => {
    if (url.endsWith("/srs/v1/heads") && isPost(init)) {
      if (drop) throw new TypeError("fetch failed: the re-encryption server is down");
      if (lose > 0) {
        lose--;
        await real(); // the SRS witnesses it; the answer never comes back
        throw new TypeError("fetch failed: connection reset");
      }
    }
    return real();
  });
  const { patient, doctor, record } = await patientAndDoctor(c);
  await record.share({ grantee: doctor.id, sections: ["history"] });
  lose = 1;
  const first = await record.write([{ name: "history", text: "first" }]);
  assert.deepEqual(first, { version: 2, witnessed: false });
  assert.equal(record.pendingWitness, true);
  assert.deepEqual(record.unwitnessed, [2]);
  const second = await record.write([{ name: "history", text: "second" }]);
  assert.deepEqual(second, { version: 3, witnessed: true });
  assert.equal(record.pendingWitness, false);
  const reader = new S.Reader(await client(), doctor);
  const [shared] = await reader.sharedWithMe();
  let open = await reader.open(shared.sections[0]);
  assert.equal(open.document.text, "second");
  assert.equal(open.version, 3);
  open.close();
  // The SRS down: the edit is kept, readers read the version it witnessed,
  // and once it is back the record is reconciled.
  drop = true;
  const third = await record.write([{ name: "history", text: "third" }]);
  assert.deepEqual(third, { version: 4, witnessed: false });
  open = await reader.open(shared.sections[0]);
  assert.equal(open.document.text, "second", "the relay is ahead of the SRS: the witnessed version is read");
  assert.equal(open.version, 3);
  open.close();
  await assert.rejects(record.reconcile(), { code: "network" });
  drop = false;
  assert.equal(await record.reconcile(), true);
  assert.equal(record.witnessedVersion, 4);
  open = await reader.open(shared.sections[0]);
  assert.equal(open.document.text, "third");
  open.close();
  // A restore finds a version the SRS has not witnessed and carries on.
  drop = true;
  await record.write([{ name: "history", text: "fourth" }]);
  drop = false;
  const restored = await new S.Patient(c, patient).openRecord(0);
  assert.deepEqual(restored.unwitnessed, [5]);
  assert.equal(await restored.reconcile(), true);
});

test("a manifest POST or blob upload whose response is lost is sent again and lands once", async () => {
  let lose = false;
  const lost = [];
  const c = await client(async (url, init, real) => {
    const upload = url.includes("/v1/blobs/") && init.method === "PUT";
    // The first answer to each upload and manifest POST is lost.
    if (lose && (upload || (url.endsWith("/manifests") && isPost(init))) && !lost.some((l) => l.url === url)) {
      lost.push({ url, what: upload ? "blob" : "manifest" });
      await real();
      throw new TypeError("fetch failed: connection reset");
    }
    return real();
  });
  const patient = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  lose = true;
  assert.deepEqual(await record.write([{ name: "notes", text: "kept" }]), { version: 2, witnessed: true });
  assert.deepEqual(lost.map((l) => l.what), ["blob", "blob", "manifest"]);
  const again = await new S.Patient(c, patient).openRecord(0);
  assert.equal(again.version, 2);
  assert.equal((await again.open("notes")).document.text, "kept");
});

test("two tabs of one record: the stale one gets version_conflict, is refreshed, and succeeds on retry", async () => {
  const c = await client();
  const patient = await party(c);
  await new S.Patient(c, patient).createRecord();
  const tabA = await new S.Patient(c, patient).openRecord(0);
  const tabB = await new S.Patient(c, patient).openRecord(0);
  await tabA.write([{ name: "history", text: "from A" }]);
  const update = [{ name: "labs", text: "from B" }];
  const e = await rejection(tabB.write(update));
  assert.equal(e.code, "version_conflict");
  assert.match(e.message, /try again/);
  assert.equal(tabB.version, tabA.version, "the stale tab was refreshed");
  assert.deepEqual(await tabB.write(update), { version: tabA.version + 1, witnessed: true });
  const fresh = await new S.Patient(c, patient).openRecord(0);
  assert.deepEqual(fresh.sections().map((s) => s.name).sort(), ["history", "labs"]);
  assert.equal((await fresh.open("history")).document.text, "from A");
  assert.equal((await fresh.open("labs")).document.text, "from B");
});

test("an older version of a section is listed and read through the owner-signed chain", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  await record.write([{ name: "history", text: "asthma since 2009" }]);
  await record.write([{ name: "history", text: "asthma, resolved in 2024" }]);
  await record.write([{ name: "labs", text: "panel" }]);
  await record.share({ grantee: doctor.id, role: "physician" });
  const reader = new S.Reader(c, doctor);
  const [shared] = await reader.sharedWithMe();
  const section = shared.sections.find((s) => s.sectionId === record.sectionId("history"));
  assert.deepEqual(await shared.history(section), [
    { version: 2, readable: true },
    { version: 3, readable: true },
  ]);
  let open = await reader.open(section, { version: 2 });
  assert.equal(open.document.text, "asthma since 2009");
  assert.equal(open.version, 2);
  open.close();
  open = await reader.open(section);
  assert.equal(open.document.text, "asthma, resolved in 2024");
  assert.equal(open.version, 4);
  open.close();
  assert.equal((await rejection(reader.open(section, { version: 9 }))).code, "invalid_argument");
  // The owner's own history.
  assert.deepEqual(record.history("history").map((h) => h.version), [2, 3]);
  open = await record.open("history", { version: 2 });
  assert.equal(open.document.text, "asthma since 2009");
  open.close();
});

test("every grant of the epoch is tried: a revoked newest grant falls back to the older live one", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  await record.write([{ name: "medications", text: "salbutamol" }]);
  const [older] = await record.share({ grantee: doctor.id, sections: ["medications"] });
  const [newer] = await record.share({ grantee: doctor.id, sections: ["medications"] });
  await record.revoke(newer);
  const reader = new S.Reader(c, doctor);
  const [shared] = await reader.sharedWithMe();
  assert.deepEqual(shared.sections[0].grants.map((g) => g.grantId), [newer, older], "newest first");
  const open = await reader.open(shared.sections[0]);
  assert.equal(open.document.text, "salbutamol");
  open.close();
  const audit = (await record.audit()).entries.map((a) => `${a.grantId === newer ? "newer" : "older"}:${a.decision}`);
  assert.deepEqual(audit, ["newer:revoked", "older:allowed"]);
  // With both revoked, the refusal is the SRS's decision.
  await record.revoke(older);
  const e = await rejection(reader.open(shared.sections[0]));
  assert.equal(e.code, "revoked");
  assert.equal(e.status, 403);
});

test("a section document of the wrong shape is malformed on reading and refused on writing", async () => {
  const docs = await import(join(root, "pkg", "documents.js"));
  const body = (json, rest = 0) => {
    const text = new TextEncoder().encode(typeof json === "string" ? json : JSON.stringify(json));
    const out = new Uint8Array(4 + text.length + rest);
    new DataView(out.buffer).setUint32(0, text.length);
    out.set(text, 4);
    return out;
  };
  const read = (bytes) => docs.decodeDocument(bytes, bytes.length);
  const good = read(body({ name: "labs", attachments: [{ name: "a.pdf", type: "application/pdf", size: 3 }] }, 3)).doc;
  assert.deepEqual([good.fields, good.text, good.fhir, good.attachments[0].offset], [{}, "", [], body({ name: "labs", attachments: [{ name: "a.pdf", type: "application/pdf", size: 3 }] }).length]);
  const hostile = {
    "not an object": body([1, 2]),
    "not JSON": body("{"),
    "no name": body({ text: "x" }),
    "a field that is a number": body({ name: "x", fields: { weight: 70 } }),
    "a text that is an object": body({ name: "x", text: {} }),
    "a FHIR entry that is a string": body({ name: "x", fhir: ["Observation"] }),
    "attachments that are an object": body({ name: "x", attachments: {} }),
    "a negative size": body({ name: "x", attachments: [{ name: "a", type: "", size: -1 }] }),
    "a fractional size": body({ name: "x", attachments: [{ name: "a", type: "", size: 1.5 }] }),
    "a size given as text": body({ name: "x", attachments: [{ name: "a", type: "", size: "3" }] }, 3),
    "an attachment without a type": body({ name: "x", attachments: [{ name: "a", size: 3 }] }, 3),
    "sizes short of the body": body({ name: "x", attachments: [{ name: "a", type: "", size: 2 }] }, 3),
    "sizes beyond the body": body({ name: "x", attachments: [{ name: "a", type: "", size: 4 }] }, 3),
    "bytes after a document without attachments": body({ name: "x" }, 1),
  };
  for (const [what, bytes] of Object.entries(hostile)) {
    assert.throws(() => read(bytes), (e) => e instanceof S.SesphrError && e.code === "malformed", what);
  }
  // A length prefix past the body's end is malformed, not a request for more.
  const long = body({ name: "x" });
  assert.throws(() => docs.decodeDocument(long, long.length - 1), (e) => e.code === "malformed");
  // The writer refuses what a reader would refuse, before anything is sent.
  const c = await client();
  const record = await new S.Patient(c, await party(c)).createRecord();
  const e = await rejection(record.write([{ name: "labs", fhir: ["Observation"] }]));
  assert.equal(e.code, "invalid_argument");
  assert.equal(record.version, 1);
});

test("one record's writes, refreshes and shares run one at a time, and a freed record refuses later calls", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  const start = record.version;
  // Started together on one object (two clicks, a tab switch that reloads):
  // without one-at-a-time the second write would race the first for the
  // same version, and the refresh would swap the state under them.
  const [a, , b, ids] = await Promise.all([
    record.write([{ name: "history", text: "first" }]),
    record.refresh(),
    record.write([{ name: "labs", text: "second" }]),
    record.share({ grantee: doctor.id, sections: ["history", "labs"] }),
  ]);
  assert.deepEqual([a.version, b.version], [start + 1, start + 2]);
  assert.equal(ids.length, 2);
  assert.equal(record.version, start + 2);
  const [shared] = await new S.Reader(c, doctor).sharedWithMe();
  assert.equal(shared.sections.length, 2);
  // free() waits for what is running, then later calls are refused in words.
  const pending = record.write([{ name: "notes", text: "last" }]);
  await record.free();
  assert.equal((await pending).version, start + 3);
  assert.equal((await rejection(record.write([{ name: "notes", text: "too late" }]))).code, "invalid_state");
});

// ---------------------------------------------------------------- attachments as their own blobs

/** What the relay stores: blob id → size, read from its data directory. */
function stored() {
  const dir = join(server.data, "relay", "blobs");
  return new Map(readdirSync(dir).map((id) => [id, statSync(join(dir, id)).size]));
}
const storedBytes = (m) => [...m.values()].reduce((a, b) => a + b, 0);
/** Ids in `after` and not in `before`. */
const added = (before, after) => [...after.keys()].filter((id) => !before.has(id));

/** Bytes that look like a file (not all zeros), `n` long. */
function fileBytes(n, salt = 1) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) out[i] = (i / 4096 + salt) & 0xff;
  return out;
}

/** A client that records every blob PUT (`puts`: {id, length}). */
async function recordingClient(extra) {
  const puts = [];
  const c = await client(async (url, init, real) => {
    if (init.method === "PUT" && url.includes("/v1/blobs/")) puts.push({ id: url.split("/").pop(), length: Number(init.headers["content-length"] ?? init.body?.length ?? init.body?.size) });
    return extra ? extra(url, init, real) : real();
  });
  return { c, puts };
}

async function readAll(gen) {
  const pieces = [];
  for await (const p of gen) pieces.push(p.slice());
  return Buffer.concat(pieces);
}

test("editing the text of a section with a large attachment stores only the new document body; a reader opens the attachment at both versions", async () => {
  const { c, puts } = await recordingClient();
  const { doctor, record } = await patientAndDoctor(c);
  const scan = fileBytes(8 << 20);
  await record.write([{ name: "imaging", text: "MRI, knee", files: [{ name: "knee.dcm", type: "application/dicom", bytes: scan }] }]);
  const first = await record.open("imaging");
  const [a] = first.document.attachments;
  first.close();
  assert.equal(first.document.format, 2);
  assert.ok(stored().has(a.root) && stored().has(a.index), "the attachment is its own blob and index");
  assert.equal(stored().get(a.root), a.length);

  const before = stored();
  puts.length = 0;
  await record.write([{ name: "imaging", text: "MRI, left knee", keep: [0] }]);
  const after = stored();
  // Only the section body and its chunk index were uploaded and stored.
  assert.equal(puts.length, 2, JSON.stringify(puts));
  assert.equal(added(before, after).length, 2);
  const grown = storedBytes(after) - storedBytes(before);
  assert.ok(grown < 4096, `the edit stored ${grown} bytes`);
  const second = await record.open("imaging");
  assert.equal(second.document.text, "MRI, left knee");
  assert.deepEqual(second.document.attachments, first.document.attachments, "the same object, referenced again");
  assert.ok(Buffer.from(scan).equals(await readAll(second.attachment(0))));
  second.close();

  await record.share({ grantee: doctor.id, sections: ["imaging"] });
  const reader = new S.Reader(c, doctor);
  const [shared] = await reader.sharedWithMe();
  for (const version of [undefined, record.version - 1]) {
    const open = await reader.open(shared.sections[0], { version });
    assert.equal(open.document.attachments[0].root, a.root);
    assert.ok(Buffer.from(scan).equals(Buffer.from(await (await open.attachmentBlob(0)).arrayBuffer())), `version ${version}`);
    assert.ok(!("key" in open.document.attachments[0]), "no key in the document a caller sees");
    open.close();
  }
});

test("a relay that swaps an attachment's blob (another attachment's, or a section body) is caught before any plaintext", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  await record.write([
    { name: "labs", text: "two reports", files: [{ name: "a.pdf", type: "application/pdf", bytes: fileBytes(300_000, 2) }, { name: "b.pdf", type: "application/pdf", bytes: fileBytes(300_000, 3) }] },
  ]);
  await record.share({ grantee: doctor.id, sections: ["labs"] });
  const own = await record.open("labs");
  const [a, b] = own.document.attachments;
  const body = own.entry;
  own.close();
  const swaps = {
    "another attachment's blob": { [a.root]: b.root },
    "another attachment's blob and index": { [a.root]: b.root, [a.index]: b.index },
    "the section body in its place": { [a.root]: body.blobId, [a.index]: body.indexId },
  };
  const codes = {};
  for (const [what, map] of Object.entries(swaps)) {
    const lying = await client(async (url, init, real) => {
      const id = url.split("/").pop();
      if (url.includes("/v1/blobs/") && map[id]) return fetch(url.replace(id, map[id]), init);
      return real();
    });
    const [shared] = await new S.Reader(lying, doctor).sharedWithMe();
    const open = await new S.Reader(lying, doctor).open(shared.sections[0]);
    const released = [];
    const e = await rejection((async () => {
      for await (const p of open.attachment(0)) released.push(p);
    })());
    assert.ok(e instanceof S.SesphrError, what);
    assert.equal(released.length, 0, `${what}: no plaintext`);
    codes[what] = e.code;
    // The other attachment, untouched, still opens.
    assert.equal((await readAll(open.attachment(1))).length, 300_000);
    open.close();
  }
  assert.deepEqual(codes, {
    "another attachment's blob": "content_mismatch",
    "another attachment's blob and index": "content_mismatch",
    "the section body in its place": "wrong_kind",
  });
});

test("restoring an old version references its attachment objects without downloading or uploading them", async () => {
  const { c, puts } = await recordingClient();
  const fetchedBlobs = [];
  const patient = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  const file = fileBytes(2 << 20, 5);
  await record.write([{ name: "notes", text: "with the letter", fields: { GP: "Dr Who" }, files: [{ name: "letter.pdf", type: "application/pdf", bytes: file }] }]);
  const old = record.version;
  const [letter] = (await record.open("notes")).document.attachments;
  await record.write([{ name: "notes", text: "letter removed" }]);
  puts.length = 0;
  const watching = new S.Patient(
    await client(async (url, init, real) => {
      if (init.method === "GET" && url.includes("/v1/blobs/")) fetchedBlobs.push(url.split("/").pop());
      if (init.method === "PUT" && url.includes("/v1/blobs/")) puts.push({ id: url.split("/").pop() });
      return real();
    }),
    patient,
  );
  const again = await watching.openRecord(0);
  fetchedBlobs.length = 0;
  const { version } = await again.restore("notes", old);
  assert.equal(version, old + 2);
  assert.equal(puts.length, 2, "only the restored document's body and index");
  assert.ok(!fetchedBlobs.includes(letter.root), "the attachment was not downloaded");
  const open = await again.open("notes");
  assert.deepEqual([open.document.text, open.document.fields, open.document.attachments], ["with the letter", { GP: "Dr Who" }, [letter]]);
  assert.ok(Buffer.from(file).equals(await readAll(open.attachment(0))));
  open.close();
});

test("prune deletes exactly what only older versions reference, and a pruned version is `pruned`", async () => {
  const c = await client();
  const { doctor, record } = await patientAndDoctor(c);
  const A = fileBytes(100_000, 7);
  const B = fileBytes(120_000, 8);
  const at = async (name) => {
    const o = await record.open(name);
    o.close();
    return { body: [o.entry.blobId, o.entry.indexId], attachments: o.document.attachments.flatMap((x) => [x.root, x.index]) };
  };
  await record.write([{ name: "notes", text: "v2", files: [{ name: "a", type: "", bytes: A }] }]); // 2
  const v2 = await at("notes");
  await record.write([{ name: "notes", text: "v3", keep: [0] }]); // 3
  const v3 = await at("notes");
  await record.write([{ name: "notes", text: "v4", files: [{ name: "b", type: "", bytes: B }] }]); // 4: A dropped
  const v4 = await at("notes");
  await record.write([{ name: "labs", text: "v5" }]); // 5
  const labs = await at("labs");
  await record.share({ grantee: doctor.id, sections: ["notes"] });
  const before = stored();
  const { deleted } = await record.prune({ before: 4 });
  const after = stored();
  const gone = [...v2.body, ...v3.body, ...v2.attachments].sort();
  assert.deepEqual([...deleted].sort(), gone);
  assert.deepEqual([...before.keys()].filter((id) => !after.has(id)).sort(), gone, "exactly these left the store");
  for (const id of [...v4.body, ...v4.attachments, ...labs.body]) assert.ok(after.has(id), "what kept versions need stays");
  // Pruned versions are a typed error for the owner and for readers.
  for (const v of [2, 3]) assert.equal((await rejection(record.open("notes", { version: v }))).code, "pruned");
  assert.equal((await rejection(record.restore("notes", 3))).code, "pruned");
  const [shared] = await new S.Reader(c, doctor).sharedWithMe();
  assert.equal((await rejection(new S.Reader(c, doctor).open(shared.sections[0], { version: 3 }))).code, "pruned");
  const open = await new S.Reader(c, doctor).open(shared.sections[0]);
  assert.ok(Buffer.from(B).equals(await readAll(open.attachment(0))));
  open.close();
  // Pruning again deletes nothing more; a prune from the latest keeps what the latest reads.
  assert.deepEqual((await record.prune({ before: 4 })).deleted, []);
  assert.deepEqual((await record.prune({ before: record.version })).deleted.length, 0);
  assert.equal((await rejection(record.prune({ before: 0 }))).code, "invalid_argument");
});

test("a write cancelled mid-upload publishes nothing, leaves no blob behind, and the record writes again", async () => {
  const controller = new AbortController();
  let putsDone = 0;
  const c = await client(async (url, init, real) => {
    const r = await real();
    // The first blob lands, then the user cancels.
    if (init.method === "PUT" && url.includes("/v1/blobs/") && ++putsDone === 1) controller.abort();
    return r;
  });
  const record = await new S.Patient(c, await party(c)).createRecord();
  const before = stored();
  const e = await rejection(record.write([{ name: "imaging", text: "x", files: [{ name: "ct", type: "", bytes: fileBytes(1 << 20, 9) }] }], { signal: controller.signal }));
  assert.ok(e instanceof S.SesphrError);
  assert.equal(e.code, "aborted");
  assert.ok(putsDone >= 1, "something was uploaded before the cancel");
  assert.deepEqual([...stored().keys()].sort(), [...before.keys()].sort(), "no orphans");
  assert.equal(record.version, 1);
  assert.equal((await new S.Patient(c, record.identity).openRecord(0)).version, 1, "nothing published");
  // An already-cancelled signal stops before anything is sent.
  assert.equal((await rejection(record.write([{ name: "notes", text: "y" }], { signal: controller.signal }))).code, "aborted");
  assert.deepEqual((await record.write([{ name: "imaging", text: "again" }])).version, 2);
});

test("a write that loses the manifest race to another tab deletes the blobs it uploaded", async () => {
  const c = await client();
  const patient = await party(c);
  await new S.Patient(c, patient).createRecord();
  const tabA = await new S.Patient(c, patient).openRecord(0);
  const tabB = await new S.Patient(c, patient).openRecord(0);
  await tabA.write([{ name: "history", text: "from A" }]);
  const before = stored();
  const e = await rejection(tabB.write([{ name: "labs", text: "from B", files: [{ name: "r.pdf", type: "", bytes: fileBytes(200_000, 4) }] }]));
  assert.equal(e.code, "version_conflict");
  assert.deepEqual([...stored().keys()].sort(), [...before.keys()].sort(), "no orphans");
});

test("write progress covers encryption and the bytes handed to the network, to the end", async () => {
  const reports = [];
  let during;
  const c = await client(async (url, init, real) => {
    const big = init.method === "PUT" && url.includes("/v1/blobs/") && Number(init.headers["content-length"]) > 1 << 20;
    if (!big) return real();
    const start = reports.at(-1).done;
    const r = await real();
    during = { start, end: reports.at(-1).done, between: reports.filter((x) => x.done > start && x.done < reports.at(-1).done).length };
    return r;
  });
  const record = await new S.Patient(c, await party(c)).createRecord();
  const before = stored();
  await record.write([{ name: "imaging", files: [{ name: "x", type: "", bytes: fileBytes(4 << 20, 6) }] }], { onProgress: (done, total) => reports.push({ done, total }) });
  const grown = storedBytes(stored()) - storedBytes(before);
  const last = reports.at(-1);
  assert.equal(last.done, last.total);
  assert.ok(last.total > grown && last.total < 2 * grown, `${last.total} for ${grown} stored`);
  assert.ok(reports.every((r, i) => i === 0 || r.done >= reports[i - 1].done), "never backwards");
  assert.ok(during.between > 0, "progress moved while the attachment was on its way to the relay");
});

test("a body of the older inline format (1) still reads, and keeping its attachment moves it into its own blob once", async () => {
  const body = await import(join(root, "pkg", "body.js"));
  const c = await client();
  const patient = await party(c);
  const doctor = await party(c);
  // Version 1 written as a client before format 2 did: one body holding the document and the file.
  const inner = new core.OwnerRecord(patient.core, 0);
  const sid = inner.sectionId(patient.core, "notes");
  const { key } = inner.keyForWrite(patient.core, c.pinnedSrs(), sid, Date.now());
  const file = fileBytes(150_000, 11);
  const doc = new TextEncoder().encode(JSON.stringify({ name: "notes", fields: {}, text: "old", fhir: [], attachments: [{ name: "old.pdf", type: "application/pdf", size: file.length }] }));
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, doc.length);
  const sealed = await body.sealBody(key, 1, [prefix, doc, file]);
  await c.putBlob(patient, sealed.entry.blobId, sealed.entry.blobLength, sealed.blob);
  await c.putBlob(patient, sealed.entry.indexId, sealed.chunkIndex.length, sealed.chunkIndex);
  inner.setEntry(sealed.entry);
  const m = inner.signManifest(patient.core, Date.now());
  await c.postBytes(`${c.baseUrl}/v1/records/${inner.recordId}/manifests`, m.bytes);
  await c.send("POST", `${c.srsUrl}/srs/v1/heads`, { body: m.bytes, type: "application/octet-stream" });
  const record = await new S.Patient(c, patient).openRecord(0);
  const old = await record.open("notes");
  assert.deepEqual([old.document.format, old.document.attachments[0].offset], [1, 4 + doc.length]);
  assert.ok(Buffer.from(file).equals(await readAll(old.attachment(0))));
  old.close();
  await record.write([{ name: "notes", text: "new", keep: [0] }]);
  const moved = await record.open("notes");
  assert.equal(moved.document.format, 2);
  assert.ok(stored().has(moved.document.attachments[0].root));
  assert.ok(Buffer.from(file).equals(await readAll(moved.attachment(0))));
  moved.close();
  await record.share({ grantee: doctor.id, sections: ["notes"] });
  const [shared] = await new S.Reader(c, doctor).sharedWithMe();
  const first = await new S.Reader(c, doctor).open(shared.sections[0], { version: 1 });
  assert.ok(Buffer.from(file).equals(await readAll(first.attachment(0))), "a reader reads the old format too");
  first.close();
});

test("an attachment sealed on WebCrypto and on the wasm AES-GCM is the same bytes, and each engine opens it", async () => {
  const body = await import(join(root, "pkg", "body.js"));
  assert.ok(S.webCryptoAvailable(), "Node has crypto.subtle");
  const key = core.AttachmentKey.generate();
  const [rid, sid] = ["11".repeat(32), "22".repeat(32)];
  const data = fileBytes(700_000, 12);
  const bytesOf = async (b) => new Uint8Array(b instanceof Uint8Array ? b : await b.arrayBuffer());
  const wasm = await body.sealAttachment(key, rid, sid, [data], { webCrypto: false });
  const web = await body.sealAttachment(key, rid, sid, [data], { webCrypto: true });
  assert.deepEqual(wasm.entry, web.entry);
  const blob = await bytesOf(wasm.blob);
  assert.ok(Buffer.from(blob).equals(Buffer.from(await bytesOf(web.blob))));
  assert.equal(blob.length, body.attachmentLengths(data.length).blobLength);
  assert.equal(wasm.chunkIndex.length, body.attachmentLengths(data.length).indexLength);
  const listed = { root: wasm.entry.chunkRoot, length: wasm.entry.blobLength };
  for (const webCrypto of [false, true]) {
    const out = await readAll(body.openAttachmentStream(new Blob([blob]).stream(), listed, wasm.chunkIndex, key, rid, sid, { webCrypto }));
    assert.ok(Buffer.from(data).equals(out), `webCrypto: ${webCrypto}`);
  }
  // Bound to its record and section.
  const e = await rejection(readAll(body.openAttachmentStream(new Blob([blob]).stream(), listed, wasm.chunkIndex, key, rid, "33".repeat(32))));
  assert.equal(e.code, "binding_mismatch");
  key.free();
});

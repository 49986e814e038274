// The share/read/revoke flow through the package's public API, run both by
// Node (npm.test.mjs) and by a plain ESM page in Chromium. Returns what it
// observed; the tests assert on it.
export async function flow(S, baseUrl) {
  const out = {};
  let t = performance.now();
  await S.init();
  out.initMs = performance.now() - t;
  const client = new S.Client({ baseUrl });
  const srs = await client.connect();
  // A pinned SRS with another fingerprint is refused.
  out.pinCode = await new S.Client({ baseUrl, srsFingerprint: "AAAA-AAAA" }).connect().catch((e) => e.code);
  const patient = S.Identity.generate();
  const doctor = S.Identity.generate();
  await client.register(patient);
  await client.register(doctor);
  const record = await new S.Patient(client, patient).createRecord();
  const file = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
  await record.write([
    { name: "history", fields: { condition: "asthma" }, text: "since 2009" },
    { name: "insurance", fields: { policy: "42" } },
    { name: "labs", files: [{ name: "panel.bin", type: "application/octet-stream", bytes: file }] },
  ]);
  out.version = record.version;
  const party = await client.lookup(doctor.id);
  out.fingerprintMatches = party.fingerprint === doctor.fingerprint;
  await record.share({ grantee: party, role: "physician" });
  const reader = new S.Reader(client, doctor);
  const [shared] = await reader.sharedWithMe();
  out.sharedSections = shared.sections.length;
  const byName = (n) => shared.sections.find((s) => s.sectionId === record.sectionId(n));
  out.insuranceShared = byName("insurance") !== undefined;
  const history = await reader.open(byName("history"));
  out.condition = history.document.fields.condition;
  history.close();
  const labs = await reader.open(byName("labs"));
  let n = 0;
  let sum = 0;
  for await (const piece of labs.attachment(0)) {
    n += piece.length;
    for (const b of piece) sum = (sum + b) % 65521;
  }
  labs.close();
  out.attachmentBytes = n;
  out.attachmentSumOk = sum === file.reduce((a, b) => (a + b) % 65521, 0);
  out.unwrittenCode = await reader.open(byName("allergies")).then(() => "opened", (e) => e.code);
  await record.revokeParty(doctor.id);
  const refused = await reader.open(byName("history")).then(() => undefined, (e) => e);
  out.revokedCode = refused?.code;
  out.revokedStatus = refused?.status;
  out.revokedIsError = refused instanceof Error && refused instanceof S.SesphrError;
  out.audit = (await record.audit()).entries.map((a) => `${a.sectionName}:${a.decision}`);
  const wrapped = patient.wrap("a long passphrase", { memoryKib: 19456, iterations: 2, lanes: 1 });
  out.wrongPassCode = (() => {
    try {
      S.Identity.unwrap(wrapped, "not the passphrase");
      return "opened";
    } catch (e) {
      return e.code;
    }
  })();
  const again = S.Identity.unwrap(wrapped, "a long passphrase");
  const [restored] = await new S.Patient(client, again).records();
  out.restoredVersion = restored.version;
  out.restoredSections = restored.sections().map((s) => s.name).sort();
  out.srsFingerprint = srs.fingerprint;
  return out;
}

/** The assertions both runs share. */
export function check(assert, out) {
  assert.equal(out.pinCode, "srs_mismatch");
  assert.equal(out.version, 2);
  assert.ok(out.fingerprintMatches);
  assert.equal(out.sharedSections, 6); // physician: demographics, history, medications, allergies, labs, imaging
  assert.equal(out.insuranceShared, false);
  assert.equal(out.condition, "asthma");
  assert.equal(out.attachmentBytes, 200_000);
  assert.ok(out.attachmentSumOk);
  assert.equal(out.unwrittenCode, "no_such_section");
  assert.equal(out.revokedCode, "revoked");
  assert.equal(out.revokedStatus, 403);
  assert.ok(out.revokedIsError);
  assert.deepEqual(out.audit, ["history:allowed", "labs:allowed", "history:revoked"]);
  assert.equal(out.wrongPassCode, "decryption_failed");
  assert.equal(out.restoredVersion, 2);
  assert.deepEqual(out.restoredSections, ["history", "insurance", "labs"]);
}

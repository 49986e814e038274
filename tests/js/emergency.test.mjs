// Emergency access through the package, against the real relay + SRS. The
// server runs its emergency waits on the TEST-ONLY sped-up clock
// (`--test-only-emergency-clock-speedup 3600`: an hour's wait passes in a
// second of real time), so the wait path runs without waiting hours; the
// approve and deny paths use a wait of a week (about three minutes here).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { root, startServer } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));

const HOUR = 3_600_000;
let server;
let client;

before(async () => {
  server = await startServer({ args: ["--test-only-emergency-clock-speedup", "3600"] });
  await S.init();
  client = new S.Client({ baseUrl: server.url });
  await client.connect();
});

after(() => server?.stop());

async function party() {
  const id = S.Identity.generate();
  await client.register(id);
  return id;
}

const rejection = (promise) => promise.then(() => assert.fail("expected a rejection"), (e) => e);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function setUp(waitMs) {
  const patientId = await party();
  const contactId = await party();
  const patient = new S.Patient(client, patientId);
  const record = await patient.createRecord();
  await record.write([
    { name: "allergies", text: "penicillin" },
    { name: "medications", text: "salbutamol" },
    { name: "history", text: "asthma" },
  ]);
  const ids = await record.share({ grantee: { publicKey: contactId.publicKey }, role: "emergency", emergencyWaitMs: waitMs });
  const reader = new S.Reader(client, contactId);
  const [shared] = await reader.sharedWithMe();
  return { patientId, contactId, record, ids, reader, shared };
}

test("the emergency preset is the core's, and an emergency share carries its wait", async () => {
  assert.deepEqual(S.emergencySections(), ["allergies", "medications", "history", "demographics"]);
  assert.deepEqual(S.roleSections("emergency"), S.emergencySections());
  const { record, ids, shared } = await setUp(7 * 24 * HOUR);
  assert.equal(ids.length, 4);
  assert.ok(shared.sections.every((s) => s.emergencyWaitMs === 7 * 24 * HOUR && s.role === "emergency"));
  const rows = await record.emergencyActivations();
  assert.equal(rows.length, 4);
  assert.ok(rows.every((r) => r.state === "dormant" && !r.pending && r.waitMs === 7 * 24 * HOUR));
  await assert.rejects(record.share({ grantee: { publicKey: S.Identity.generate().publicKey }, role: "emergency", emergencyWaitMs: 10 }), (e) => e.code === "invalid_state");
});

test("dormant, activated (seen by the owner at once), denied, re-activated, approved, read, audited as BTG", async () => {
  const { record, reader, shared, contactId } = await setUp(7 * 24 * HOUR);
  const allergies = shared.sections.find((s) => s.sectionId === record.sectionId("allergies"));
  // Dormant: the SRS refuses, with its code.
  assert.equal((await rejection(reader.open(allergies))).code, "emergency_dormant");
  // Approve or deny with nothing to decide on: a typed error, nothing changed.
  assert.equal((await rejection(record.approveEmergency({ partyId: contactId.id }))).code, "not_activated");

  const activated = await reader.activateEmergency(shared);
  assert.equal(activated.length, 4);
  assert.ok(activated.every((s) => s.state === "waiting" && s.remainingMs > 6 * 24 * HOUR));
  // A second activation while waiting changes nothing (the package skips it; the SRS would refuse it).
  const again = await reader.activateEmergency(shared);
  assert.deepEqual(again.map((s) => s.activatedAt), activated.map((s) => s.activatedAt));
  const pending = await record.emergencyActivations();
  assert.ok(pending.every((r) => r.pending && r.grantee.id === contactId.id && r.activation));
  assert.equal((await rejection(reader.open(allergies))).code, "emergency_waiting");

  // Denied: closed until a new activation.
  const denied = await record.denyEmergency({ partyId: contactId.id });
  assert.ok(denied.every((s) => s.state === "denied"));
  assert.ok((await reader.emergencyStatus(shared)).every((s) => s.state === "denied"));
  assert.equal((await rejection(reader.open(allergies))).code, "emergency_dormant");
  assert.equal((await rejection(record.denyEmergency({ partyId: contactId.id }))).code, "not_activated");

  // A new activation, approved at once: read.
  const re = await reader.activateEmergency(shared);
  assert.ok(re.every((s) => s.state === "waiting"));
  const approved = await record.approveEmergency({ partyId: contactId.id });
  assert.ok(approved.every((s) => s.state === "open" && s.approved));
  const opened = await reader.open(allergies);
  assert.equal(opened.document.text, "penicillin");

  // The owner's verified audit shows the emergency reads as BTG.
  const audit = await record.audit();
  const mine = audit.entries.filter((e) => e.granteeId === contactId.id);
  assert.ok(mine.length >= 4);
  assert.ok(mine.every((e) => e.purpose === "BTG"));
  assert.deepEqual(mine.map((e) => e.decision), ["emergency_dormant", "emergency_waiting", "emergency_dormant", "allowed"]);

  // Revocation treats it like any grant.
  await record.revoke(record.liveGrants().filter((g) => g.grantee.id === contactId.id).map((g) => g.grantId));
  assert.equal((await rejection(reader.open(allergies))).code, "revoked");
  assert.equal((await rejection(reader.activateEmergency(shared))).code, "revoked");
  assert.deepEqual(await record.emergencyActivations(), []);
});

test("with no denial, access opens when the wait has passed (SRS clock)", async () => {
  const { record, reader, shared } = await setUp(HOUR);
  const allergies = shared.sections.find((s) => s.sectionId === record.sectionId("allergies"));
  const [first] = await reader.activateEmergency(shared);
  assert.equal(first.state, "waiting");
  // One hour of the test clock is one second of real time.
  await sleep(1500);
  const open = await reader.emergencyStatus(shared);
  assert.ok(open.every((s) => s.state === "open" && !s.approved));
  assert.equal((await reader.open(allergies)).document.text, "penicillin");
});

test("a party who is not the grantee cannot activate or read the state, and only the owner signs a decision", async () => {
  const { record, shared, contactId, patientId } = await setUp(7 * 24 * HOUR);
  const stranger = await party();
  const theirs = new S.Reader(client, stranger);
  // The contact's grants are not the stranger's to read the state of (the SRS refuses the token's signer)…
  assert.equal((await rejection(theirs.emergencyStatus(shared))).code, "not_grantee");
  assert.equal((await rejection(theirs.activateEmergency(shared))).code, "not_grantee");
  // …nor to activate: the core refuses to sign for a grant to someone else.
  const core0 = await import(join(root, "pkg", "sesphr.js"));
  const g0 = core0.emergencyGrant(shared.core, shared.sections[0].grants[0].grantId);
  assert.throws(() => core0.EmergencyActivation.sign(stranger.core, g0, null), (err) => err.code === "binding_mismatch");
  g0.free();
  // Another patient's listing of this record is refused: only its owner lists it.
  const core = await import(join(root, "pkg", "sesphr.js"));
  const token = core.signToken(stranger.core, "listEmergency", S.fromHex(record.recordId), Date.now());
  const e = await rejection(client.json("GET", `${client.srsUrl}/srs/v1/records/${record.recordId}/emergency`, { token }));
  assert.equal(e.code, "not_owner");
  // The contact activates; a decision signed by anyone but the owner is refused by the core.
  const reader = new S.Reader(client, contactId);
  await reader.activateEmergency(shared);
  const [row] = await record.emergencyActivations();
  const rows = await new S.Patient(client, patientId).grantRows(record.recordId);
  const grant = rows.find((r) => r.grant.view().grantId === row.grantId).grant;
  const activation = core.EmergencyActivation.verify(S.fromHex(row.activation), grant);
  assert.throws(() => core.EmergencyDecision.sign(contactId.core, grant, activation, "approve"), (err) => err.code === "binding_mismatch");
  assert.throws(() => core.EmergencyDecision.sign(patientId.core, grant, activation, "maybe"), (err) => err.code === "invalid_argument");
  assert.ok((await reader.emergencyStatus(shared)).every((s) => s.state === "waiting"), "nothing changed");
});

test("one revoked emergency grant does not stop the others from being activated", async () => {
  const { record, reader, shared } = await setUp(7 * 24 * HOUR);
  const gone = shared.sections.find((s) => s.sectionId === record.sectionId("history")).grants[0].grantId;
  await record.revoke([gone]);
  // The reader's list is from before the revocation: it still names the revoked grant.
  const states = await reader.activateEmergency(shared);
  assert.equal(states.length, 4);
  const revoked = states.find((s) => s.grantId === gone);
  assert.equal(revoked.state, "revoked");
  assert.equal(revoked.error, "revoked");
  const others = states.filter((s) => s.grantId !== gone);
  assert.equal(others.length, 3);
  assert.ok(others.every((s) => s.state === "waiting"), JSON.stringify(states));
  // The owner sees the three live activations.
  const rows = await record.emergencyActivations();
  assert.equal(rows.filter((r) => r.pending).length, 3);
});

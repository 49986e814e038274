// Access requests through the package, against the real relay + SRS: a
// physician asks a patient for sections (signed, sealed to the patient as
// mail), the patient approves less than asked (ordinary grants) or
// declines (a signed refusal mailed back); floods, expiry and over-approval
// are refused or dropped; the audit's mail reader leaves requests alone.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { packageServer, rejection, root } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));

let server;
let client;
let party;

before(async () => {
  ({ server, client, party } = await packageServer(S));
});

after(() => server?.stop());

test("a request is approved with less than was asked, another declined and the requester told", async () => {
  const patientId = await party();
  const doctorId = await party();
  const patient = new S.Patient(client, patientId);
  const record = await patient.createRecord();
  await record.write([
    { name: "allergies", text: "penicillin" },
    { name: "medications", text: "salbutamol" },
  ]);
  const doctor = new S.Reader(client, doctorId);
  const asked = await doctor.requestAccess({ owner: patientId.id, sections: ["allergies", "medications"], reason: "first visit on Monday" });
  // The audit's mail reader leaves the request for its own reader.
  await record.audit();
  const [req] = await patient.accessRequests();
  assert.equal(req.id, asked.id);
  assert.equal(req.requester.id, doctorId.id);
  assert.deepEqual(req.sections, ["allergies", "medications"]);
  assert.equal(req.reason, "first visit on Monday");
  // More than asked is refused, nothing granted.
  assert.equal((await rejection(patient.approveRequest(record, req, { sections: ["allergies", "labs"] }))).code, "invalid_argument");
  assert.equal(record.liveGrants().length, 0);
  // Less than asked: exactly that is granted, the request is gone.
  const ids = await patient.approveRequest(record, req, { sections: ["allergies"] });
  assert.equal(ids.length, 1);
  assert.deepEqual(await patient.accessRequests(), []);
  const [shared] = await doctor.sharedWithMe();
  assert.deepEqual(shared.sections.map((s) => s.sectionId), [record.sectionId("allergies")]);
  assert.equal((await doctor.open(shared.sections[0])).document.text, "penicillin");

  // Declined: the requester reads a verified refusal naming its request.
  const second = await doctor.requestAccess({ owner: patientId.id, sections: ["medications"], reason: "prescription review" });
  const [again] = await patient.accessRequests();
  assert.equal(again.id, second.id);
  await patient.declineRequest(again);
  assert.deepEqual(await patient.accessRequests(), []);
  const replies = await doctor.accessReplies();
  assert.equal(replies.length, 1);
  assert.equal(replies[0].requestId, second.id);
  assert.equal(replies[0].owner.id, patientId.id);
  assert.deepEqual(await doctor.accessReplies(), [], "read once");
  // The audit saw only the approval's grant and its read: the SRS never saw the refusal.
  const audit = await record.audit();
  assert.deepEqual(audit.entries.map((e) => `${e.sectionName}:${e.decision}`), ["allergies:allowed"]);
});

test("floods, expired requests, junk and requests for someone else are dropped; bad asks are refused", async () => {
  const patientId = await party();
  const doctorId = await party();
  const nurseId = await party();
  const patient = new S.Patient(client, patientId);
  await patient.createRecord();
  const doctor = new S.Reader(client, doctorId);
  for (let i = 0; i < 5; i++) await doctor.requestAccess({ owner: patientId.id, sections: ["labs"], reason: `ask ${i}` });
  await new S.Reader(client, nurseId).requestAccess({ owner: patientId.id, sections: ["allergies"], reason: "ward" });
  await doctor.requestAccess({ owner: patientId.id, sections: ["labs"], reason: "soon void", ttlMs: 1 });
  // Junk anyone may post: a request sealed to someone else, posted to the patient.
  const core = await import(join(root, "pkg", "sesphr.js"));
  const other = await party();
  const otherPub = core.PublicIdentity.fromBytes(other.publicKey);
  const elsewhere = core.sealAccessRequest(nurseId.core, otherPub, { sections: ["labs"], reason: "", ttlMs: 60_000 });
  otherPub.free();
  assert.equal(core.mailKind(other.core, elsewhere.sealed), 0x1e);
  await client.postMail(nurseId, patientId.id, elsewhere.sealed);
  await new Promise((r) => setTimeout(r, 20));
  const pending = await patient.accessRequests();
  assert.deepEqual(pending.map((p) => p.reason), ["ask 0", "ask 1", "ask 2", "ward"]);
  // What was dropped is deleted from the mailbox (3 + the junk went).
  const left = await client.mail(patientId);
  assert.equal(left.length, 4);
  // Bad asks never leave the requester.
  assert.equal((await rejection(doctor.requestAccess({ owner: patientId.id, sections: [] }))).code, "invalid_argument");
  assert.equal((await rejection(doctor.requestAccess({ owner: patientId.id, sections: ["labs"], ttlMs: 31 * 86_400_000 }))).code, "invalid_state");
  assert.equal((await rejection(doctor.requestAccess({ owner: doctorId.id, sections: ["labs"] }))).code, "invalid_argument");
  assert.equal((await rejection(doctor.requestAccess({ owner: patientId.id, sections: ["x".repeat(65)] }))).code, "too_large");
  assert.equal((await patient.accessRequests()).length, 4);
});

test("the requester cannot ask for emergency access, and the role label is the owner's: a preset only when exactly its sections are approved", async () => {
  const patientId = await party();
  const doctorId = await party();
  const patient = new S.Patient(client, patientId);
  const record = await patient.createRecord();
  await record.write([
    { name: "allergies", text: "penicillin" },
    { name: "medications", text: "salbutamol" },
    { name: "labs", text: "normal" },
  ]);
  const doctor = new S.Reader(client, doctorId);
  // Emergency access is never requested: the core refuses to sign it.
  assert.equal((await rejection(doctor.requestAccess({ owner: patientId.id, sections: ["allergies"], role: "emergency" }))).code, "invalid_state");
  // "nurse" asked with one section only: the approval is a custom grant, not a "nurse" one.
  await doctor.requestAccess({ owner: patientId.id, sections: ["allergies"], role: "nurse", reason: "ward" });
  const [one] = await patient.accessRequests();
  assert.equal(one.role, "nurse");
  const [id] = await patient.approveRequest(record, one);
  assert.equal(record.liveGrants().find((g) => g.grantId === id).role, "custom");
  // Exactly the nurse preset: labelled "nurse".
  await doctor.requestAccess({ owner: patientId.id, sections: S.roleSections("nurse"), role: "nurse", reason: "ward round" });
  const [preset] = await patient.accessRequests();
  const ids = await patient.approveRequest(record, preset);
  assert.ok(ids.every((i) => record.liveGrants().find((g) => g.grantId === i).role === "nurse"));
});

test("a request that expired while shown cannot be approved", async () => {
  const patientId = await party();
  const doctorId = await party();
  const patient = new S.Patient(client, patientId);
  const record = await patient.createRecord();
  await record.write([{ name: "labs", text: "normal" }]);
  await new S.Reader(client, doctorId).requestAccess({ owner: patientId.id, sections: ["labs"], reason: "soon", ttlMs: 1500 });
  const [req] = await patient.accessRequests();
  await new Promise((r) => setTimeout(r, 1700));
  assert.equal((await rejection(patient.approveRequest(record, req))).code, "expired");
  assert.equal(record.liveGrants().length, 0, "nothing granted");
});

test("a flood of requests from many requesters is cut to twenty by the audit's mail reader, so receipts keep their place", async () => {
  const patientId = await party();
  const patient = new S.Patient(client, patientId);
  const record = await patient.createRecord();
  await record.write([{ name: "labs", text: "normal" }]);
  for (let i = 0; i < 24; i++) {
    await new S.Reader(client, await party()).requestAccess({ owner: patientId.id, sections: ["labs"], reason: `flood ${i}` });
  }
  assert.equal((await client.mail(patientId)).length, 24);
  // The audit alone (no accessRequests call) deletes what the owner's rule would never show.
  await record.audit();
  assert.equal((await client.mail(patientId)).length, 20);
  const pending = await patient.accessRequests();
  assert.equal(pending.length, 20);
  assert.ok(pending.some((p) => p.reason === "flood 0"), "the earliest are kept");
});

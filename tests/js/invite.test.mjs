// Invitations, owner-private state, name cards and shares by person,
// through the package against the real relay + SRS: an invitation end to
// end (the invitee had no identity), a replayed, doubled, expired,
// cancelled or forged acceptance (nothing granted), hostile mail, two
// "tabs" editing the contacts at once, and a restore on a new browser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { root, startServer } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));
const core = await import(join(root, "pkg", "sesphr.js"));

let server;
let client;

before(async () => {
  server = await startServer();
  await S.init();
  client = new S.Client({ baseUrl: server.url });
  await client.connect();
});

after(() => server?.stop());

class MemoryStorage {
  #m = new Map();
  getItem(k) {
    return this.#m.has(k) ? this.#m.get(k) : null;
  }
  setItem(k, v) {
    this.#m.set(k, String(v));
  }
  removeItem(k) {
    this.#m.delete(k);
  }
}

async function party() {
  const id = S.Identity.generate();
  await client.register(id);
  return id;
}

/** Hex of base64url text. */
const b64ToHex = (t) => Array.from(atob(t.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((t.length + 3) % 4)), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

const rejection = (p) => p.then(() => assert.fail("expected a rejection"), (e) => e);

/** A patient with a record, its Invitations, and a written section. */
async function patient() {
  const identity = await party();
  const p = new S.Patient(client, identity);
  const record = await p.createRecord();
  await record.write([{ name: "allergies", fields: { substance: "penicillin" } }]);
  const state = new S.OwnerState(client, identity);
  const contacts = new S.Contacts(client, identity, new MemoryStorage(), { state });
  return { identity, p, record, state, contacts, invitations: new S.Invitations(p, state) };
}

test("an invitation end to end: link, acceptance, confirm, grants, the reader sees the patient's chosen name", async () => {
  const alice = await patient();
  const made = await alice.invitations.invite(alice.record, {
    role: "physician",
    sections: ["allergies", "medications"],
    ownerName: "Alice Example",
    portalUrl: `${server.url}/?x=1#old`,
  });
  assert.match(made.url, new RegExp(`^${server.url}/\\?x=1#invite=[A-Za-z0-9_-]+$`));
  // What the invitee sees, verified, before it has an identity.
  const seen = S.readInvitation(made.url);
  assert.deepEqual([seen.ownerName, seen.role, seen.sections, seen.owner.id, seen.expired], ["Alice Example", "physician", ["allergies", "medications"], alice.identity.id, false]);
  // A bad link: clear errors.
  assert.equal((await rejection(Promise.resolve().then(() => S.readInvitation(`${server.url}/#nothing`)))).code, "invalid_argument");
  const flipped = made.url.slice(0, -3) + (made.url.at(-3) === "A" ? "B" : "A") + made.url.slice(-2);
  assert.ok(["bad_signature", "malformed", "invalid_point"].includes((await rejection(Promise.resolve().then(() => S.readInvitation(flipped)))).code));

  // The physician makes an identity and accepts.
  const bob = await party();
  await S.acceptInvitation(client, bob, made.url, { name: "Dr. Bob" });
  // The owner's receipt reader (an audit) leaves the acceptance in the mail.
  await alice.record.audit();
  const { pending, refused } = await alice.invitations.acceptances();
  assert.equal(refused.length, 0);
  assert.equal(pending.length, 1);
  const [a] = pending;
  assert.deepEqual([a.invitee.id, a.invitee.fingerprint, a.name, a.role], [bob.id, bob.fingerprint, "Dr. Bob", "physician"]);
  // Both sides compute the same safety number.
  assert.equal(S.safetyNumber(alice.identity, a.invitee), S.safetyNumber(bob, alice.identity));
  assert.match(S.safetyNumber(alice.identity, bob), /^(\d{5} ){11}\d{5}$/);

  const ids = await alice.invitations.confirm(alice.record, a, { contactName: "Dr. Bob", contacts: alice.contacts });
  assert.equal(ids.length, 2);
  assert.equal(alice.contacts.get(bob.id).name, "Dr. Bob");
  assert.equal((await alice.invitations.list())[0].status, "used");
  // Grouped by person: one row, two sections.
  const rows = S.sharesByPerson(alice.record, alice.contacts);
  assert.equal(rows.length, 1);
  assert.deepEqual([rows[0].name, rows[0].role, rows[0].sections.map((s) => s.name).sort()], ["Dr. Bob", "physician", ["allergies", "medications"]]);
  // The reader sees the record under the name Alice gave herself.
  const reader = new S.Reader(client, bob);
  const [shared] = await reader.sharedWithMe();
  assert.equal(shared.ownerName, "Alice Example");
  const allergies = shared.sections.find((s) => s.role === "physician");
  assert.ok(allergies);
  // Mail is empty for Alice: the acceptance was consumed.
  assert.equal((await alice.invitations.acceptances()).pending.length, 0);
  // Revoke per section, then per person.
  await alice.record.revoke(rows[0].sections[0].grantIds);
  assert.equal(S.sharesByPerson(alice.record).at(0).sections.length, 1);
  await alice.record.revokeParty(bob.id);
  assert.equal(S.sharesByPerson(alice.record).length, 0);
});

test("replayed, doubled, expired, cancelled and forged acceptances grant nothing", async () => {
  const alice = await patient();
  const made = await alice.invitations.invite(alice.record, { role: "nurse", ownerName: "Alice" });
  const bob = await party();
  const mallory = await party();
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  await S.acceptInvitation(client, mallory, made.url, { name: "Mallory" });
  let { pending, refused } = await alice.invitations.acceptances();
  // Two acceptances of one invitation: the first stands, the second refused.
  assert.equal(pending.length, 1);
  assert.equal(pending[0].invitee.id, bob.id);
  assert.deepEqual(refused.map((r) => r.code), ["invitation_used"]);
  // A second tab confirms the same acceptance: exactly one grant set.
  const tab2 = new S.Invitations(alice.p, new S.OwnerState(client, alice.identity));
  const [ids, again] = await Promise.allSettled([
    alice.invitations.confirm(alice.record, pending[0]),
    tab2.confirm(alice.record, pending[0]),
  ]);
  const ok = [ids, again].filter((r) => r.status === "fulfilled");
  const failed = [ids, again].filter((r) => r.status === "rejected");
  // Exactly one confirms; the other is told another tab is at it.
  assert.equal(ok.length, 1);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].reason.code, "invitation_busy");
  const live = alice.record.liveGrants().filter((g) => g.grantee.id === bob.id).length;
  assert.equal(live, ok[0].value.length);
  assert.equal(live, S.roleSections("nurse").length);
  // Once granted, a further confirm of it is refused: used.
  assert.equal((await rejection(tab2.confirm(alice.record, pending[0]))).code, "invitation_used");

  // The same acceptance replayed (the relay re-posting the sealed bytes):
  // silently dropped, nothing granted.
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.deepEqual([pending.length, refused.length], [0, 0]);
  // Someone else, after it was used: refused.
  const carol = await party();
  await S.acceptInvitation(client, carol, made.url, { name: "Carol" });
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.deepEqual([pending.length, refused.map((r) => r.code)], [0, ["invitation_used"]]);
  assert.equal(alice.record.liveGrants().filter((g) => g.grantee.id === carol.id).length, 0);

  // Cancelled: an acceptance of it is ignored.
  const second = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice" });
  await alice.invitations.cancel(second.id);
  await S.acceptInvitation(client, carol, second.url, { name: "Carol" });
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.deepEqual([pending.length, refused.map((r) => r.code)], [0, ["invitation_unknown"]]);

  // Expired: the invitee is told before anything is sent; an acceptance
  // made before the expiry but confirmed after is refused by the owner.
  const soon = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice", expiresAt: Date.now() + 4000 });
  const dave = await party();
  await S.acceptInvitation(client, dave, soon.url, { name: "Dave" });
  ({ pending } = await alice.invitations.acceptances());
  assert.equal(pending.length, 1);
  await new Promise((r) => setTimeout(r, 4100));
  assert.equal((await rejection(alice.invitations.confirm(alice.record, pending[0]))).code, "invitation_expired");
  assert.equal((await rejection(S.acceptInvitation(client, await party(), soon.url))).code, "invitation_expired");
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.deepEqual([pending.length, refused.map((r) => r.code)], [0, ["invitation_expired"]]);
  assert.equal(alice.record.liveGrants().filter((g) => g.grantee.id === dave.id).length, 0);

  // A damaged acceptance (one byte of the sealed mail flipped on the
  // way): it does not open, so it is no acceptance at all; the audit's
  // reader deletes it, and nothing is granted.
  const open = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const erin = await party();
  const real = core.acceptInvitation(S.fromHex(b64ToHex(open.url.split("#invite=")[1])), erin.core, "Erin", Date.now());
  real[real.length - 5] ^= 1;
  await client.postMail(erin, alice.identity.id, real);
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.equal(pending.length, 0);
  await alice.record.audit();
  assert.equal((await client.mail(alice.identity)).length, 0);
  assert.equal(alice.record.liveGrants().filter((g) => g.grantee.id === erin.id).length, 0);
});

test("hostile mail: junk, a foreign name card and a forged acceptance are dropped without harm", async () => {
  const alice = await patient();
  const made = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const eve = await party();
  // An acceptance for another owner's invitation, delivered to Alice.
  const bobP = await patient();
  const bobInv = await bobP.invitations.invite(bobP.record, { role: "lab", ownerName: "Bob" });
  const bobLink = S.readInvitation(bobInv.url);
  assert.equal(bobLink.owner.id, bobP.identity.id);
  // Eve accepts Bob's invitation but posts the mail to Alice instead.
  const wrongOwner = core.acceptInvitation(S.fromHex(b64ToHex(bobInv.url.split("#invite=")[1])), eve.core, "Eve", Date.now());
  // Sealed to Bob: Alice cannot even open it (junk to her).
  await client.postMail(eve, alice.identity.id, wrongOwner);
  // A name card from Eve to Alice: a valid kind, left for a reader's view.
  await S.sendName({ client, identity: eve }, { id: alice.identity.id, publicKey: alice.identity.publicKey }, "Totally Alice's doctor");
  const { pending, refused } = await alice.invitations.acceptances();
  assert.deepEqual([pending.length, refused.length], [0, 0]);
  // The audit's receipt reader deletes what does not open; the name card stays for the name reader.
  await alice.record.audit();
  const left = await client.mail(alice.identity);
  assert.equal(left.length, 1);
  const names = await S.ownerNames({ client, identity: alice.identity });
  assert.equal(names.get(eve.id).name, "Totally Alice's doctor");
  // The real invitation still works afterwards.
  const bob = await party();
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  assert.equal((await alice.invitations.acceptances()).pending.length, 1);
});

test("contacts live encrypted at the relay: two tabs keep each other's edits, a restore brings them back", async () => {
  const me = await party();
  const [bob, carol, dan] = [await party(), await party(), await party()];
  // Two tabs: separate caches (two storages), one relay.
  const tab1 = new S.Contacts(client, me, new MemoryStorage());
  const tab2 = new S.Contacts(client, me, new MemoryStorage());
  await Promise.all([tab1.add(bob.id, "Bob"), tab2.add(carol.id, "Carol")]);
  await tab2.add(dan.id, "Dan");
  await tab1.setMyName("Me Myself");
  await tab1.verify(bob.id);
  // A restore: a new browser (empty storage), the same seed.
  const restored = S.Identity.fromSeed(me.exportSeed());
  const fresh = new S.Contacts(client, restored, new MemoryStorage());
  assert.deepEqual(fresh.list(), []);
  await fresh.sync();
  assert.deepEqual(fresh.list().map((c) => c.name), ["Bob", "Carol", "Dan"]);
  assert.equal(fresh.get(bob.id).verified, true);
  assert.equal(fresh.get(carol.id).verified, false);
  assert.equal(fresh.myName, "Me Myself");
  // A safety number, the same from both sides.
  assert.equal(await fresh.safetyNumber(bob.id), S.safetyNumber(bob, me));
  // Removal in one tab holds in the other after sync.
  await fresh.remove(dan.id);
  await tab1.sync();
  assert.equal(tab1.get(dan.id), undefined);
  // The relay holds ciphertext: neither a name nor a fingerprint in clear.
  const token = core.signToken(me.core, "getState", new TextEncoder().encode("contacts"), Date.now());
  const raw = await client.bytes("GET", `${server.url}/v1/state/contacts`, { token });
  const text = new TextDecoder("latin1").decode(raw);
  assert.ok(!text.includes("Bob") && !text.includes(bob.fingerprint));
  // A relay that serves an older version than one this page saw: stale.
  let lie = false;
  const lying = new S.Client({
    baseUrl: server.url,
    fetch: (url, init = {}) => (lie && String(url).endsWith("/v1/state/contacts") && (init.method ?? "GET") === "GET" ? Promise.resolve(new Response(raw)) : fetch(url, init)),
  });
  await lying.connect();
  const state = new S.OwnerState(lying, me);
  await state.update("contacts", (v) => ({ ...v, bump: 1 }));
  lie = true;
  assert.equal((await rejection(state.load("contacts"))).code, "stale");
  // A state object of another slot or owner does not open as this one.
  assert.equal((await rejection(Promise.resolve().then(() => core.openState(bob.core, "contacts", raw)))).code, "binding_mismatch");
});

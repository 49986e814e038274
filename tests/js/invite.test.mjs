// Invitations, owner-private state, name cards and shares by person,
// through the package against the real relay + SRS: an invitation end to
// end (the invitee had no identity), a replayed, doubled, expired,
// cancelled or forged acceptance (nothing granted), hostile mail, two
// "tabs" editing the contacts at once, and a restore on a new browser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ECDH, createCipheriv, createECDH, createHmac, randomBytes } from "node:crypto";
import { MemoryStorage, packageServer, rejection, root } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));
const core = await import(join(root, "pkg", "sesphr.js"));

let server;
let client;
let party;

before(async () => {
  ({ server, client, party } = await packageServer(S));
});

after(() => server?.stop());

/** Hex of base64url text. */
const b64ToHex = (t) => Array.from(atob(t.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((t.length + 3) % 4)), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");


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
  // Two people accept one open invitation: both are listed (the patient
  // picks whom to confirm; the compare-and-swap lets one win).
  assert.deepEqual(pending.map((p) => p.invitee.id), [bob.id, mallory.id]);
  assert.equal(refused.length, 0);
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

  // Mallory's, now the invitation is used: refused. Bob accepting again
  // (a second click): silently dropped, nothing granted.
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.deepEqual([pending.length, refused.map((r) => r.code)], [0, ["invitation_used"]]);
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
  // A name card from Eve to Alice: a valid kind, left for the name reader.
  await S.sendName({ client, identity: eve }, { id: alice.identity.id, publicKey: alice.identity.publicKey }, "Totally Alice's doctor");
  const { pending, refused } = await alice.invitations.acceptances();
  assert.deepEqual([pending.length, refused.length], [0, 0]);
  // The audit's receipt reader deletes what does not open; the name card stays for the name reader.
  await alice.record.audit();
  const left = await client.mail(alice.identity);
  assert.equal(left.length, 1);
  // Eve shares nothing with Alice: her card names nobody Alice reads from, and goes.
  const names = await S.ownerNames({ client, identity: alice.identity });
  assert.equal(names.get(eve.id), undefined);
  assert.equal((await client.mail(alice.identity)).length, 0);
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

// HPKE base mode (RFC 9180; DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM) with node:crypto, from docs/protocol.md alone: how a
// stranger seals any bytes at all as mail to a party.
const cat = (...a) => Buffer.concat(a.map((x) => Buffer.from(x)));
const i2osp = (n, w) => Buffer.from(Array.from({ length: w }, (_, i) => (n >> (8 * (w - 1 - i))) & 0xff));
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();
const KEM = cat("KEM", i2osp(0x10, 2));
const SUITE = cat("HPKE", i2osp(0x10, 2), i2osp(1, 2), i2osp(2, 2));
const extract = (suite, salt, label, ikm) => hmac(salt.length ? salt : Buffer.alloc(32), cat("HPKE-v1", suite, label, ikm));
function expand(suite, prk, label, info, len) {
  const full = cat(i2osp(len, 2), "HPKE-v1", suite, label, info);
  let t = Buffer.alloc(0);
  let out = Buffer.alloc(0);
  for (let i = 1; out.length < len; i++) out = cat(out, (t = hmac(prk, cat(t, full, [i]))));
  return out.subarray(0, len);
}
function sealMail(recipient, plaintext) {
  const pkR = ECDH.convertKey(Buffer.from(recipient.publicKey.slice(33, 66)), "prime256v1", undefined, undefined, "uncompressed");
  const e = createECDH("prime256v1");
  const enc = e.generateKeys();
  const dh = e.computeSecret(pkR);
  const shared = expand(KEM, extract(KEM, Buffer.alloc(0), "eae_prk", dh), "shared_secret", cat(enc, pkR), 32);
  const ctx = cat([0], extract(SUITE, Buffer.alloc(0), "psk_id_hash", ""), extract(SUITE, Buffer.alloc(0), "info_hash", "SeSPHR-v1/mail"));
  const secret = extract(SUITE, shared, "secret", "");
  const c = createCipheriv("aes-256-gcm", expand(SUITE, secret, "key", ctx, 32), expand(SUITE, secret, "base_nonce", ctx, 12));
  const ct = cat(c.update(Buffer.from(plaintext)), c.final(), c.getAuthTag());
  return new Uint8Array(cat("SPHR", [4, 1], enc, i2osp(ct.length, 4), ct));
}

test("a stranger's flood of junk behind known kind prefixes and forged name cards hides no acceptance, receipt or name", async () => {
  const alice = await patient();
  const made = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const doctor = await party(); // reads a shared section: its receipts go to Alice's mail
  await alice.record.share({ grantee: doctor.id, sections: ["allergies"] });
  await S.sendName(alice.p, doctor, "Alice Example");
  const carol = await party(); // a pure reader: nothing shared with her
  const strangers = await Promise.all(Array.from({ length: 5 }, party));
  // The sealed bytes open, and start as a receipt bundle, an acceptance or
  // a name card would; or they are whole name cards, signed by the stranger.
  const flood = async (to) => {
    const pub = core.PublicIdentity.fromBytes(to.publicKey);
    for (const s of strangers) {
      for (let n = 0; n < 56; n++) {
        const kind = [0x15, 0x17, 0x1a, 0][n % 4];
        const sealed = kind
          ? sealMail(to, cat("SPHR", [kind, 1], randomBytes(40 + n)))
          : core.sealNameCard(s.core, pub, "Alice Example", Date.now() + n);
        await client.postMail(s, to.id, sealed);
      }
    }
    pub.free();
  };
  await flood(alice.identity);
  await flood(doctor);
  await flood(carol);
  assert.equal((await client.mail(alice.identity)).length, 280);
  // What matters arrives after the flood: an acceptance, a read's receipts.
  const bob = await party();
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  const reader = new S.Reader(client, doctor);
  const [shared] = await reader.sharedWithMe();
  (await reader.open(shared.sections[0])).close();
  await reader.flushReceipts();

  const audit = await alice.record.audit();
  assert.equal(audit.receipts, 1, "the read's receipt reached the audit");
  const { pending, refused } = await alice.invitations.acceptances();
  assert.deepEqual([pending.map((p) => p.invitee.id), refused.length], [[bob.id], 0]);
  // Junk is gone; the strangers' name cards go once Alice's reader looks.
  assert.deepEqual(await new S.Reader(client, alice.identity).sharedWithMe(), []);
  assert.deepEqual((await client.mail(alice.identity)).map((m) => m.sender), [bob.id]);
  // The doctor sees the name Alice gave herself, not a stranger's card of the same words.
  const [again] = await reader.sharedWithMe();
  assert.equal(again.ownerName, "Alice Example");
  assert.equal((await client.mail(doctor)).length, 1, "only Alice's own card is kept");
  // A pure reader (nothing shared) clears her mail all the same.
  assert.deepEqual(await new S.Reader(client, carol).sharedWithMe(), []);
  assert.equal((await client.mail(carol)).length, 0);
});

test("a confirmation that fails after marking the invitation used stays pending and is finished without granting twice", async () => {
  const alice = await patient();
  const made = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const bob = await party();
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  let [a] = (await alice.invitations.acceptances()).pending;
  // The grants are made, then the contacts' write fails (the network, say).
  const failing = { get: () => undefined, add: async () => Promise.reject(Object.assign(new Error("offline"), { code: "network" })) };
  assert.equal((await rejection(alice.invitations.confirm(alice.record, a, { contacts: failing }))).code, "network");
  const granted = alice.record.liveGrants().filter((g) => g.grantee.id === bob.id).length;
  assert.equal(granted, S.roleSections("lab").length);
  // Not silently dropped: pending again, to finish.
  const again = await alice.invitations.acceptances();
  assert.deepEqual([again.pending.length, again.pending[0]?.resume, again.refused.length], [1, true, 0]);
  [a] = again.pending;
  // Another tab meanwhile: it may be at it, so it waits.
  const tab2 = new S.Invitations(alice.p, new S.OwnerState(client, alice.identity));
  assert.equal((await rejection(tab2.confirm(alice.record, a))).code, "invitation_busy");
  const ids = await alice.invitations.confirm(alice.record, a, { contacts: alice.contacts, contactName: "Bob" });
  assert.equal(ids.length, granted);
  assert.equal(alice.record.liveGrants().filter((g) => g.grantee.id === bob.id).length, granted, "no section granted twice");
  assert.equal(alice.contacts.get(bob.id).name, "Bob");
  assert.deepEqual(await alice.invitations.acceptances(), { pending: [], refused: [] });
  assert.equal((await alice.invitations.list())[0].granted, true);
});

test("an impostor's acceptance declined leaves the real invitee's; a declined one served again stays declined", async () => {
  const alice = await patient();
  const made = await alice.invitations.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const [mallory, bob] = [await party(), await party()];
  await S.acceptInvitation(client, mallory, made.url, { name: "Bob" });
  await S.acceptInvitation(client, mallory, made.url, { name: "Bob" }); // the same person twice: one is listed
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  let { pending, refused } = await alice.invitations.acceptances();
  assert.deepEqual([pending.map((p) => p.invitee.id), refused.length], [[mallory.id, bob.id], 0]);
  // The impostor's mail, as the relay held it, to serve again later.
  const theirs = (await client.mail(alice.identity)).find((m) => m.id === pending[0].mailId);
  await alice.invitations.decline(pending[0]);
  ({ pending } = await alice.invitations.acceptances());
  assert.deepEqual(pending.map((p) => p.invitee.id), [bob.id]);
  // The relay re-posts the declined bytes: dropped, not offered again.
  await client.postMail(mallory, alice.identity.id, S.fromHex(theirs.sealed));
  ({ pending, refused } = await alice.invitations.acceptances());
  assert.deepEqual([pending.map((p) => p.invitee.id), refused.length], [[bob.id], 0]);
  await alice.invitations.confirm(alice.record, pending[0]);
  assert.equal(alice.record.liveGrants().filter((g) => g.grantee.id === mallory.id).length, 0);
});

test("a relay's rollback of owner state is refused across a reload: an older version or no copy is stale", async () => {
  const me = await party();
  const bob = await party();
  const storage = new MemoryStorage();
  let serve; // what the lying relay answers for GET /v1/state/contacts, when set
  const lying = new S.Client({
    baseUrl: server.url,
    fetch: (url, init = {}) => (serve && String(url).endsWith("/v1/state/contacts") && (init.method ?? "GET") === "GET" ? Promise.resolve(serve()) : fetch(url, init)),
  });
  await lying.connect();
  const page1 = new S.Contacts(lying, me, storage);
  await page1.add(bob.id, "Bob");
  const token = core.signToken(me.core, "getState", new TextEncoder().encode("contacts"), Date.now());
  const old = await client.bytes("GET", `${server.url}/v1/state/contacts`, { token });
  await page1.verify(bob.id);
  // A reload: new objects, the same browser storage.
  serve = () => new Response(old);
  const page2 = new S.Contacts(lying, me, storage);
  assert.equal((await rejection(page2.sync())).code, "stale");
  assert.equal((await rejection(new S.OwnerState(lying, me, storage).load("contacts"))).code, "stale");
  serve = () => new Response(JSON.stringify({ code: "not_found", message: "no state" }), { status: 404, headers: { "content-type": "application/json" } });
  assert.equal((await rejection(new S.OwnerState(lying, me, storage).load("contacts"))).code, "stale");
  // The honest copy still loads; another browser (its own storage) has seen nothing.
  serve = undefined;
  assert.equal((await new S.OwnerState(lying, me, storage).load("contacts")).value.contacts[0].verified, true);
});

test("contact changes apply field by field: a stale tab's verify keeps the other's rename and removal", async () => {
  const me = await party();
  const [bob, dan] = [await party(), await party()];
  const tab1 = new S.Contacts(client, me, new MemoryStorage());
  const tab2 = new S.Contacts(client, me, new MemoryStorage());
  await tab1.add(bob.id, "Bob");
  await tab1.add(dan.id, "Dan");
  await tab2.sync();
  // Tab 1 renames Bob and removes Dan; tab 2, from its older cache, verifies both.
  await tab1.rename(bob.id, "Dr. Bob");
  await tab1.remove(dan.id);
  await Promise.all([tab2.verify(bob.id), tab2.verify(dan.id)]);
  await tab1.sync();
  assert.deepEqual(tab1.list().map((c) => [c.name, c.verified]), [["Dr. Bob", true]]);
  // A rename keeps the verified mark; re-adding a party with other keys drops it.
  await tab1.rename(bob.id, "Bob B.");
  assert.equal(tab1.get(bob.id).verified, true);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("the confirmation lease: renewed while a slow tab works (never stolen), taken over once it lapses, no section granted twice", async () => {
  const LEASE = 600;
  const alice = await patient();
  const tab1 = new S.Invitations(alice.p, alice.state, { leaseMs: LEASE });
  const tab2 = new S.Invitations(alice.p, new S.OwnerState(client, alice.identity), { leaseMs: LEASE });
  const lab = S.roleSections("lab").length;
  const grantsOf = (who) => alice.record.liveGrants().filter((g) => g.grantee.id === who.id).length;

  // A confirmation slower than several leases (its contacts write waits):
  // tab 2 is told "busy" all along, as tab 1 keeps renewing.
  const made = await tab1.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const bob = await party();
  await S.acceptInvitation(client, bob, made.url, { name: "Bob" });
  const [a] = (await tab1.acceptances()).pending;
  let release;
  const gate = new Promise((r) => (release = r));
  const slow = { get: () => undefined, add: () => gate };
  const first = tab1.confirm(alice.record, a, { contacts: slow, contactName: "Bob" });
  while ((await tab2.list())[0].status !== "used") await sleep(20);
  const started = Date.now();
  while (Date.now() - started < 4 * LEASE) {
    assert.equal((await rejection(tab2.confirm(alice.record, a))).code, "invitation_busy");
    await sleep(LEASE / 2);
  }
  release();
  assert.equal((await first).length, lab);
  assert.equal((await rejection(tab2.confirm(alice.record, a))).code, "invitation_used");
  assert.equal(grantsOf(bob), lab);

  // A confirmation that stopped half way (its tab failed, or was closed):
  // the lease is no longer renewed; another tab waits one whole lease on
  // its own clock, then takes over and finishes without granting twice.
  const made2 = await tab1.invite(alice.record, { role: "lab", ownerName: "Alice" });
  const carol = await party();
  await S.acceptInvitation(client, carol, made2.url, { name: "Carol" });
  const [c] = (await tab1.acceptances()).pending;
  const failing = { get: () => undefined, add: () => Promise.reject(Object.assign(new Error("offline"), { code: "network" })) };
  assert.equal((await rejection(tab1.confirm(alice.record, c, { contacts: failing }))).code, "network");
  assert.equal(grantsOf(carol), lab);
  assert.equal((await rejection(tab2.confirm(alice.record, c))).code, "invitation_busy");
  await sleep(LEASE / 2);
  assert.equal((await rejection(tab2.confirm(alice.record, c))).code, "invitation_busy", "not before a whole lease");
  await sleep(LEASE / 2 + 100);
  const ids = await tab2.confirm(alice.record, c, { contacts: alice.contacts, contactName: "Carol" });
  assert.equal(ids.length, lab);
  assert.equal(grantsOf(carol), lab, "no section granted twice");
  // Tab 1 no longer holds it: finished by tab 2, so used.
  assert.equal((await rejection(tab1.confirm(alice.record, c))).code, "invitation_used");
});

test("a relay serving an older name card after a newer one: refused, across a reload", async () => {
  const alice = await patient();
  const doctor = await party();
  const docParty = await client.lookup(doctor.id);
  await S.issueAccess(alice.record, { grantee: docParty, sections: ["allergies"], ownerName: "Alice Old" });
  const [old] = await client.mail(doctor);
  await sleep(5);
  await S.sendName(alice.p, docParty, "Alice New");
  // One highWater for both readers: what the portal keeps in localStorage.
  const highWater = new Map();
  const [shared] = await new S.Reader(client, doctor, { highWater }).sharedWithMe();
  assert.equal(shared.ownerName, "Alice New");
  assert.equal((await client.mail(doctor)).length, 1, "the older card is deleted");
  // The relay withholds the newer card and serves the older one again.
  for (const m of await client.mail(doctor)) await client.clearMail(doctor, m.id);
  await client.postMail(alice.identity, doctor.id, Buffer.from(old.sealed, "hex"));
  const [again] = await new S.Reader(client, doctor, { highWater }).sharedWithMe();
  assert.equal(again.ownerName, undefined, "no older name shown");
  assert.equal((await client.mail(doctor)).length, 0, "the replayed card is deleted");
});

// A lying relay in front of the real relay + SRS (tests/js/lying-relay.mjs,
// a real HTTP proxy): the package reaches the SRS only through it, as the
// browser reaches it through the relay's `/srs/*` proxy. Each lie about
// emergency access — an activation hidden from the owner's listing, a plain
// answer rewritten, a signed view altered, stripped or replayed from an
// earlier request, a denial dropped and answered with a fake "denied", a
// receipt replayed, a grant hidden from the grant listing — is refused with
// the one stable code `emergency_view_unverified`, and the truth (through the
// same proxy, lying no more) is what the SRS recorded.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { root, startServer } from "./server.mjs";
import { asJson, jsonOf, startLyingRelay } from "./lying-relay.mjs";

const S = await import(join(root, "pkg", "index.js"));
const core = await import(join(root, "pkg", "sesphr.js"));

const HOUR = 3_600_000;
const UNVERIFIED = "emergency_view_unverified";
let server;
let relay;
let client;

before(async () => {
  server = await startServer({ args: ["--test-only-emergency-clock-speedup", "3600"] });
  relay = await startLyingRelay(server.url);
  await S.init();
  client = new S.Client({ baseUrl: relay.url });
  await client.connect();
});

after(async () => {
  await relay?.stop();
  await server?.stop();
});

const rejection = (promise) => promise.then(() => assert.fail("expected a rejection"), (e) => e);
const isListing = (a) => a.method === "GET" && /^\/srs\/v1\/records\/[0-9a-f]{64}\/emergency(\?|$)/.test(a.path);
const isStatus = (a) => a.method === "GET" && /^\/srs\/v1\/records\/[0-9a-f]{64}\/emergency\/[0-9a-f]{32}/.test(a.path);
const isDecision = (a) => a.method === "POST" && a.path.startsWith("/srs/v1/emergency/decisions");
const flip = (hex, at) => hex.slice(0, at) + (hex[at] === "0" ? "1" : "0") + hex.slice(at + 1);

async function party() {
  const id = S.Identity.generate();
  await client.register(id);
  return id;
}

async function setUp() {
  const patientId = await party();
  const contactId = await party();
  const patient = new S.Patient(client, patientId);
  const record = await patient.createRecord();
  await record.write([{ name: "allergies", text: "penicillin" }]);
  await record.share({ grantee: { publicKey: contactId.publicKey }, sections: ["allergies"], role: "emergency", emergencyWaitMs: 7 * 24 * HOUR });
  const reader = new S.Reader(client, contactId);
  const [shared] = await reader.sharedWithMe();
  return { record, reader, shared, contactId };
}

/** Runs `call` with `fn` lying, and gives the error it must throw. */
async function lying(fn, call) {
  relay.lie(fn);
  try {
    return await rejection(call());
  } finally {
    relay.truth();
  }
}

test("the owner's listing: hidden, rewritten, altered, stripped, replayed or unsigned, it is refused; the plain rows never fool it", { timeout: 300_000 }, async () => {
  const { record, reader, shared } = await setUp();
  const before = await record.emergencyActivations();
  assert.equal(before[0].state, "dormant");
  const oldListing = relay.seen.get([...relay.seen.keys()].filter((p) => isListing({ method: "GET", path: p })).at(-1)).at(-1);
  await reader.activateEmergency(shared);

  // The plain rows rewritten to "dormant" (no banner): the package reads the signed view, not them.
  relay.lie((a) => {
    if (a.before || !isListing(a)) return;
    const j = jsonOf(a);
    j.grants = j.grants.map((g) => ({ ...g, state: "dormant", activation: g.activation }));
    return { body: asJson(j) };
  });
  const seen = await record.emergencyActivations();
  relay.truth();
  assert.equal(seen[0].state, "waiting");
  assert.ok(seen[0].pending && seen[0].askedAt > 0);
  assert.ok(seen[0].opensAt >= seen[0].askedAt + 7 * 24 * HOUR - core.emergencyClockSlackMs());

  const lies = {
    "an empty listing (the activation hidden)": (j) => ({ view: undefined, grants: [] }),
    "the old unsigned format": () => [],
    "the signed view stripped": (j) => ({ ...j, view: undefined }),
    "one byte of the signed view changed (the state)": (j) => ({ ...j, view: flip(j.view, 2 * (98 + 16) + 1) }),
    "one byte of the signature changed": (j) => ({ ...j, view: flip(j.view, j.view.length - 3) }),
    "the view of an earlier listing replayed (dormant)": () => jsonOf(oldListing),
    "the activation's bytes left out": (j) => ({ ...j, grants: j.grants.map((g) => ({ ...g, activation: null })) }),
  };
  for (const [what, rewrite] of Object.entries(lies)) {
    const e = await lying((a) => (!a.before && isListing(a) ? { body: asJson(rewrite(jsonOf(a))) } : undefined), () => record.emergencyActivations());
    assert.equal(e.code, UNVERIFIED, `${what}: ${e.code} ${e.message}`);
  }
  // Not JSON at all, or an empty 200.
  for (const body of [Buffer.from("<html>"), Buffer.alloc(0)]) {
    const e = await lying((a) => (!a.before && isListing(a) ? { body, headers: { "content-type": "text/html" } } : undefined), () => record.emergencyActivations());
    assert.equal(e.code, UNVERIFIED);
  }
  // The grant hidden from the grant listing: the signed view names a grant the owner cannot check.
  const e = await lying(
    (a) => (!a.before && a.method === "GET" && /\/grants(\?|$)/.test(a.path) ? { body: asJson([]) } : undefined),
    () => record.emergencyActivations(),
  );
  assert.equal(e.code, UNVERIFIED);
  // The waiting grant called revoked in the plain grant listing: not silently skipped.
  const revoked = await lying(
    (a) => (!a.before && a.method === "GET" && /\/grants(\?|$)/.test(a.path) ? { body: asJson(jsonOf(a).map((g) => ({ ...g, revoked: true }))) } : undefined),
    () => record.emergencyActivations(),
  );
  assert.equal(revoked.code, UNVERIFIED, `${revoked.code} ${revoked.message}`);
  // The truth, once the relay stops lying.
  assert.equal((await record.emergencyActivations())[0].state, "waiting");
});

test("a dropped denial answered with a fake 'denied', and a replayed receipt, are refused; the SRS still waits", { timeout: 300_000 }, async () => {
  const { record, reader, shared, contactId } = await setUp();
  await reader.activateEmergency(shared);
  // The relay never forwards the denial and answers as the SRS would have, plainly.
  const e = await lying(
    (a) => {
      if (!isDecision(a)) return;
      if (a.before) return "drop";
      if (a.dropped) return { status: 200, headers: { "content-type": "application/json" }, body: asJson({ state: "denied", approved: false }) };
    },
    () => record.denyEmergency({ partyId: contactId.id }),
  );
  assert.equal(e.code, UNVERIFIED);
  const rows = await record.emergencyActivations();
  assert.equal(rows[0].state, "waiting", "the SRS never got the denial, and the owner is not told otherwise");

  // A real denial and its receipt; then, after a new activation, that old
  // receipt replayed for the next decision: refused (it names another decision).
  const denied = await record.denyEmergency({ partyId: contactId.id });
  assert.equal(denied[0].state, "denied");
  assert.equal(denied[0].receipt.state, "denied");
  assert.equal(denied[0].receipt.decision, denied[0].lastDecision);
  const oldAnswer = relay.seen.get("/srs/v1/emergency/decisions").at(-1);
  await reader.activateEmergency(shared);
  const e2 = await lying(
    (a) => {
      if (!isDecision(a)) return;
      if (a.before) return "drop";
      if (a.dropped) return { status: 200, headers: oldAnswer.headers, body: oldAnswer.body };
    },
    () => record.denyEmergency({ partyId: contactId.id }),
  );
  assert.equal(e2.code, UNVERIFIED);
  // A forwarded decision whose receipt is stripped or altered: refused too
  // (the SRS took it, so the listing then shows the truth: denied).
  const e3 = await lying(
    (a) => (!a.before && isDecision(a) ? { body: asJson({ ...jsonOf(a), receipt: flip(jsonOf(a).receipt, 200) }) } : undefined),
    () => record.denyEmergency({ partyId: contactId.id }),
  );
  assert.equal(e3.code, UNVERIFIED);
  assert.equal((await record.emergencyActivations())[0].state, "denied");
});

test("the contact's status: a rewritten opening, an altered or replayed view are refused", { timeout: 300_000 }, async () => {
  const { reader, shared } = await setUp();
  const dormant = await reader.emergencyStatus(shared);
  assert.equal(dormant[0].state, "dormant");
  const oldStatus = relay.seen.get([...relay.seen.keys()].filter((p) => isStatus({ method: "GET", path: p })).at(-1)).at(-1);
  const waiting = await reader.activateEmergency(shared);
  assert.equal(waiting[0].state, "waiting");
  assert.ok(waiting[0].remainingMs > 6 * 24 * HOUR);
  // Plain opensAt rewritten to now: ignored (the signed view says otherwise).
  relay.lie((a) => (!a.before && isStatus(a) ? { body: asJson({ ...jsonOf(a), opensAt: 0, state: "open" }) } : undefined));
  const s = await reader.emergencyStatus(shared);
  relay.truth();
  assert.equal(s[0].state, "waiting");
  assert.equal(s[0].opensAt, waiting[0].opensAt);
  for (const rewrite of [
    (j) => ({ ...j, view: flip(j.view, 2 * (98 + 66) + 5) }), // opens_at
    () => jsonOf(oldStatus), // an earlier status, for another token
    (j) => ({ ...j, view: undefined }),
  ]) {
    const e = await lying((a) => (!a.before && isStatus(a) ? { body: asJson(rewrite(jsonOf(a))) } : undefined), () => reader.emergencyStatus(shared));
    assert.equal(e.code, UNVERIFIED, e.message);
  }
  // An activation's answer replaced by a status view (another request's): refused.
  const { reader: r2, shared: s2 } = await setUp();
  const e = await lying(
    (a) => (!a.before && a.method === "POST" && a.path.startsWith("/srs/v1/emergency/activations") ? { body: asJson({ ...jsonOf(a), view: jsonOf(oldStatus).view }) } : undefined),
    () => r2.activateEmergency(s2),
  );
  assert.equal(e.code, UNVERIFIED);
});

// The owner's audit checks through the package, against the real relay +
// SRS: one implementation of each case, run by Node (audit.test.mjs) and in
// headless Chromium (audit-browser.test.mjs). A lying SRS is the real SRS's
// answers rewritten, replayed or dropped in the patient's Client `fetch`, or
// a second real SRS holding the same key over its own log (an operator
// showing one patient a split view): never a mock server.
//
// This module runs in both places, so it imports nothing and uses only
// standard web APIs (fetch, Response) and what it is handed. A case is
// `{name, servers?, run(t)}`; adding one is adding an element to `cases`.
// `run` gets `t`:
//   S, core   the package (pkg/index.js, initialised) and its wasm glue (pkg/sesphr.js)
//   assert    node:assert/strict in Node, page-assert.js in the page: use only
//             equal, notEqual, deepEqual, notDeepEqual, ok, match, fail
//   fetch     the network, reaching every server below (in the page, servers
//             of other origins are reached through a frame of their own origin)
//   url       a server every case shares (its log holds the other cases' reads)
//   servers   the case's own fresh servers, named as in its `servers` field,
//             each `{url}`: `servers: {main: {}, split: {srsSeedOf: "main"}}`
//             starts `main`, then `split` with main's SRS key over its own log.

/** A connected Client on `url`; `lie(url, init, real)` answers each request (`real()` sends it on). */
async function client(t, url, lie) {
  const f = lie ? (u, init = {}) => lie(String(u), init, () => t.fetch(u, init)) : t.fetch;
  const c = new t.S.Client({ baseUrl: url, fetch: f });
  await c.connect();
  return c;
}

const rejection = (t, promise) => promise.then(() => t.assert.fail("expected a rejection"), (e) => e);
const isAudit = (url) => /\/srs\/v1\/records\/[0-9a-f]{64}\/audit$/.test(url);

/** A JSON response with `body`, as the SRS would send it. */
const json = (body) => new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });

/**
 * On `url`'s deployment: a patient (whose client answers through `lie`,
 * which sees `mode.lie`), a record with a history section shared with a
 * doctor (on an honest client), and `reads()` to make the doctor read it.
 */
async function deployment(t, url, lie, patient = t.S.Identity.generate()) {
  const { S } = t;
  const honest = await client(t, url);
  const pc = await client(t, url, lie);
  await honest.register(patient);
  const doctor = S.Identity.generate();
  await honest.register(doctor);
  const owner = new S.Patient(pc, patient, { auditHeads: new Map(), auditMarks: new Map() });
  const record = await owner.createRecord();
  await record.write([{ name: "history", fields: { condition: "asthma" } }]);
  await record.share({ grantee: doctor.id, sections: ["history"] });
  const reader = new S.Reader(honest, doctor);
  // Each read's receipt is forwarded to the patient in the background; the
  // cases wait for it (`forward: false` leaves the receipts queued).
  const reads = async (n = 1, { forward = true } = {}) => {
    for (let i = 0; i < n; i++) {
      const [shared] = await reader.sharedWithMe();
      (await reader.open(shared.sections[0])).close();
    }
    if (forward) await reader.flushReceipts();
  };
  return { patient, owner, record, reads, reader, doctor, honest, pc };
}

/** A lie that keeps the first listing it sees and serves it again while `mode.lie`. */
function replaysFirstListing(mode) {
  let old;
  return async (url, init, real) => {
    if (!isAudit(url)) return real();
    if (mode.lie) return json(old);
    const body = await (await real()).json();
    old ??= body;
    return json(body);
  };
}

export const cases = [
  {
    name: "an honest log verifies listing after listing, and the patient keeps its head and marks",
    async run(t) {
      const { S, assert } = t;
      const d = await deployment(t, t.url);
      await d.reads(2);
      const first = await d.record.audit();
      assert.equal(first.verified, true);
      assert.equal(first.entries.length, 2);
      assert.ok(first.entries.every((e) => e.decision === "allowed" && e.sectionName === "history"));
      assert.equal(first.head.length, 118);
      assert.ok(first.treeSize >= 2);
      assert.deepEqual(d.owner.auditHeads.get(d.patient.id), first.head);
      assert.equal(d.owner.auditMarks.get(d.record.recordId).length, 86);
      await d.reads(1);
      const second = await d.record.audit();
      assert.equal(second.entries.length, 3);
      assert.ok(second.treeSize > first.treeSize, "the log grew, with a consistency proof checked");
      assert.deepEqual(second.entries.slice(0, 2), first.entries);
      // Hex from a store (JSON) is taken back as well as bytes.
      d.owner.auditHeads.set(d.patient.id, S.toHex(second.head));
      d.owner.auditMarks.set(d.record.recordId, S.toHex(d.owner.auditMarks.get(d.record.recordId)));
      assert.equal((await d.record.audit()).treeSize >= second.treeSize, true);
    },
  },
  {
    name: "an old entry rewritten in the listing is not in the signed log: bad_proof",
    async run(t) {
      const { S, assert } = t;
      const mode = {};
      const d = await deployment(t, t.url, async (url, init, real) => {
        const resp = await real();
        if (!mode.lie || !isAudit(url)) return resp;
        const body = await resp.json();
        // The first read becomes a refusal (decision byte 3: revoked; the
        // decision is byte 166 of the entry, before its chain link).
        const e = body.entries[0][1];
        body.entries[0][1] = e.slice(0, 332) + "03" + e.slice(334);
        return json(body);
      });
      await d.reads(2);
      await d.record.audit();
      mode.lie = true;
      const e = await rejection(t, d.record.audit());
      assert.ok(e instanceof S.SesphrError);
      assert.equal(e.code, "bad_proof");
      assert.match(e.message, /not in its signed audit log/);
    },
  },
  {
    name: "a second SRS with the same key forks the patient's view: audit_fork, with both signed heads",
    // The same SRS key over another log: what an operator who shows one
    // patient a different history than everyone else runs. Both logs start
    // empty (servers of this case only), so their sizes are known.
    servers: { main: {}, split: { srsSeedOf: "main" } },
    async run(t) {
      const { S, core, assert } = t;
      const { main, split } = t.servers;
      const mode = {};
      const to = (url) => (mode.lie && url.startsWith(main.url + "/srs/v1/") ? url.replace(main.url, split.url) : url);
      const patient = S.Identity.generate();
      const d = await deployment(t, main.url, (url, init) => t.fetch(to(url), init), patient);
      // The same identity's record 0 is the same record id on the split SRS.
      const other = await deployment(t, split.url, undefined, patient);
      assert.equal(other.record.recordId, d.record.recordId);
      await d.reads(1);
      await other.reads(2);
      const seen = await d.record.audit();
      assert.equal(seen.treeSize, 1);
      mode.lie = true;
      const e = await rejection(t, d.record.audit());
      assert.equal(e.code, "audit_fork");
      assert.match(e.message, /does not extend the one it showed you before/);
      assert.deepEqual(e.keptHead, seen.head);
      assert.equal(e.servedHead.length, 118);
      assert.notDeepEqual(e.servedHead, seen.head);
      // The evidence stands on its own: both heads verify under the pinned
      // key, and the proof the server that signed the newer one gives for the
      // pair does not link them.
      const srs = d.owner.client.pinnedSrs();
      new core.AuditListingCheck(srs, d.record.recordId, e.keptHead, undefined).free();
      const check = new core.AuditListingCheck(srs, d.record.recordId, e.servedHead, e.keptHead);
      try {
        assert.deepEqual(check.consistencyNeeded(), [1, 2]);
        const proof = await (await t.fetch(`${split.url}/srs/v1/audit/consistency/1/2`)).json();
        const path = S.fromHex(proof.path.join(""));
        let code;
        try {
          check.acceptConsistency(path, S.fromHex(proof.treeHead));
        } catch (err) {
          code = err.code;
        }
        assert.equal(code, "audit_fork");
      } finally {
        check.free();
      }
      // The kept head did not move to the forked one, and the honest server
      // still verifies.
      assert.deepEqual(d.owner.auditHeads.get(patient.id), seen.head);
      mode.lie = false;
      assert.equal((await d.record.audit()).verified, true);
    },
  },
  {
    name: "a replayed older listing (a smaller signed head) is stale",
    async run(t) {
      const { assert } = t;
      const mode = {};
      const d = await deployment(t, t.url, replaysFirstListing(mode));
      await d.reads(1);
      await d.record.audit();
      await d.reads(1);
      const newer = await d.record.audit();
      mode.lie = true;
      const e = await rejection(t, d.record.audit());
      assert.equal(e.code, "stale");
      assert.equal(e.known, newer.treeSize);
      assert.ok(e.found < e.known);
      assert.match(e.message, /older audit log/);
    },
  },
  {
    name: "an entry dropped from the listing is audit_incomplete: by the record's chain even on a first look, by the mark at the tail",
    async run(t) {
      const { assert } = t;
      const mode = {};
      const drop = (at) => async (url, init, real) => {
        const resp = await real();
        if (!mode.lie || !isAudit(url)) return resp;
        const body = await resp.json();
        // The head and every other entry's proof stay as the SRS signed them.
        const i = at === "first" ? 0 : body.entries.length - 1;
        body.entries.splice(i, 1);
        body.paths.splice(i, 1);
        return json(body);
      };
      // The first read left out, on the patient's very first look: the next
      // entry about the record counts one more before it than was listed.
      const first = await deployment(t, t.url, drop("first"));
      await first.reads(2, { forward: false });
      mode.lie = true;
      const e = await rejection(t, first.record.audit());
      assert.equal(e.code, "audit_incomplete");
      assert.equal(e.listed, 0);
      assert.equal(e.known, 1);
      assert.match(e.message, /leaves out reads of your record/);
      mode.lie = false;

      // The last read, shown once and then dropped: the chain cannot show a
      // missing tail, the mark of the listing that showed it does.
      const last = await deployment(t, t.url, drop("last"));
      await last.reads(2, { forward: false });
      assert.equal((await last.record.audit()).entries.length, 2);
      mode.lie = true;
      const caught = await rejection(t, last.record.audit());
      assert.equal(caught.code, "audit_incomplete");
      assert.equal(caught.listed, 1);
      assert.equal(caught.known, 2);
    },
  },
  {
    name: "a read hidden from every listing the patient sees is caught by the reader's forwarded receipt",
    async run(t) {
      const { assert } = t;
      const d = await deployment(t, t.url, async (url, init, real) => {
        const resp = await real();
        if (!isAudit(url)) return resp;
        // Always the newest entry hidden: the chain stays whole below it.
        const body = await resp.json();
        body.entries.pop();
        body.paths.pop();
        return json(body);
      });
      // Without the receipt the lie goes through: the design's bound (a
      // reader that never forwards, or one colluding with the SRS).
      await d.reads(1, { forward: false });
      assert.equal((await d.record.audit()).entries.length, 0, "hidden, and nothing shows it yet");
      await d.reader.flushReceipts();
      const e = await rejection(t, d.record.audit());
      assert.equal(e.code, "audit_incomplete");
      assert.equal(e.listed, 0);
      assert.equal(e.known, 1);
      // The evidence stays in the mail until a listing holds it.
      assert.equal((await d.pc.mail(d.patient)).length, 1);
    },
  },
  {
    name: "forwarded receipts are checked and then cleared; junk mail changes nothing",
    async run(t) {
      const { S, assert } = t;
      const d = await deployment(t, t.url);
      await d.reads(3);
      // A stranger's mail: an envelope that opens to nothing.
      const stranger = S.Identity.generate();
      await d.honest.register(stranger);
      const junk = new Uint8Array([0x53, 0x50, 0x48, 0x52, 0x04, 0x01, ...new Uint8Array(65), 0, 0, 0, 17, ...new Uint8Array(17)]);
      await d.honest.postMail(stranger, d.patient.id, junk);
      const result = await d.record.audit();
      assert.equal(result.verified, true);
      assert.equal(result.entries.length, 3);
      assert.equal(result.receipts, 3, "every read's receipt was forwarded and found in the listing");
      assert.equal((await d.pc.mail(d.patient)).length, 0, "checked receipts and junk are cleared");
      assert.equal((await d.record.audit()).receipts, 0);
      // The relay refuses mail that is not an envelope, and mail to nobody.
      const bad = await rejection(t, d.honest.postMail(d.patient, d.patient.id, new Uint8Array([1, 2, 3])));
      assert.equal(bad.status, 400);
      const nobody = await rejection(t, d.honest.postMail(d.patient, S.Identity.generate().id, junk));
      assert.ok(nobody.status >= 400 && nobody.status < 500);
    },
  },
  {
    name: "a reader's receipts are forwarded even after the app freed the shared record",
    async run(t) {
      const { assert } = t;
      const d = await deployment(t, t.url);
      const [shared] = await d.reader.sharedWithMe();
      (await d.reader.open(shared.sections[0])).close();
      shared.free();
      await d.reader.flushReceipts();
      const result = await d.record.audit();
      assert.equal(result.receipts, 1);
      assert.equal(result.entries.length, 1);
    },
  },
  {
    name: "a restored patient starts from the audit head its manifests recorded: an older log is stale",
    async run(t) {
      const { S, assert } = t;
      const mode = {};
      const d = await deployment(t, t.url, replaysFirstListing(mode));
      await d.reads(1);
      await d.record.audit();
      await d.reads(1);
      const newer = await d.record.audit();
      // The next write records the head this browser verified last.
      await d.record.write([{ name: "history", fields: { condition: "asthma, mild" } }]);
      // Another browser: the same seed, nothing kept locally.
      const elsewhere = new S.Patient(d.pc, d.patient, { auditHeads: new Map(), auditMarks: new Map() });
      const restored = await elsewhere.openRecord(0);
      mode.lie = true;
      const e = await rejection(t, restored.audit());
      assert.equal(e.code, "stale");
      assert.equal(e.known, newer.treeSize);
      mode.lie = false;
      const honest = await restored.audit();
      assert.equal(honest.verified, true);
      assert.ok(honest.treeSize >= newer.treeSize);
    },
  },
  {
    name: "a listing without an audit path per entry is malformed, and an altered path is bad_proof",
    async run(t) {
      const { assert } = t;
      const mode = {};
      const d = await deployment(t, t.url, async (url, init, real) => {
        const resp = await real();
        if (!mode.lie || !isAudit(url)) return resp;
        const body = await resp.json();
        if (mode.lie === "no paths") delete body.paths;
        else body.paths[0][0] = "00".repeat(32);
        return json(body);
      });
      await d.reads(2);
      mode.lie = "no paths";
      assert.equal((await rejection(t, d.record.audit())).code, "malformed");
      mode.lie = "altered";
      assert.equal((await rejection(t, d.record.audit())).code, "bad_proof");
    },
  },
];

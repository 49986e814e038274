// The record owner: records rebuilt from the servers and checked against the
// SRS's signed head (the owner trusts no relay), sections written as new
// versions that survive a lost request, grants, revocations, the audit log.
// The rules (epochs, rotations, freshness, which versions the SRS has not
// witnessed) are the core's OwnerRecord; this module moves its objects
// between it and the servers.

import { core, fromHex, roleSections, sameBytes, standardSections, toHex, free } from "./wasm.js";
import { SesphrError, isTransient } from "./errors.js";
import { MAIL_KIND, sortedMail } from "./mail.js";
import { attachmentLengths, partLength, sealAttachment, sealBody, throwIfAborted } from "./body.js";
import { DOCUMENT_FORMAT, checkDocument, encodeDocument, openSection, readDocument } from "./documents.js";
import * as shl from "./shl.js";
import * as emergency from "./emergency.js";
import * as requests from "./requests.js";


const OCTETS = "application/octet-stream";
/** The addresses of a sharded blob's shards and their indexes (frees the plan). */
function shardIds(plan) {
  try {
    return plan.shards().flatMap((s) => [s.root, s.indexId]);
  } finally {
    plan.free();
  }
}

/** How often a request a server takes twice (a manifest, a blob, a grant, a revocation) is tried on a transient failure. */
const STORE_ATTEMPTS = 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `send` until it succeeds, a few times while the failure is transient
 * (for requests the server may safely receive twice).
 */
async function retried(send) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (e) {
      if (!isTransient(e) || attempt >= STORE_ATTEMPTS) throw e;
      await sleep(Math.min(e.retryAfter ? e.retryAfter * 1000 : 250 * 2 ** attempt, 5000));
    }
  }
}

/** How many of a patient's records' ids its audit recognises in mail (the relay's default record quota). */
const OWNED_RECORDS = 1000;

/** Bytes of a hex field of a server's JSON (`malformed` if it is not hex). */
function hexBytes(s) {
  if (typeof s !== "string") throw new SesphrError("malformed", "the re-encryption server sent a field that is not hex");
  return fromHex(s);
}

/** An audit path (hex hashes) as the concatenated bytes the core takes. */
function joined(path) {
  if (!Array.isArray(path)) throw new SesphrError("malformed", "the re-encryption server sent an audit path that is not a list");
  const out = new Uint8Array(32 * path.length);
  path.forEach((h, i) => {
    const b = hexBytes(h);
    if (b.length !== 32) throw new SesphrError("malformed", "an audit path hash is not 32 bytes");
    out.set(b, 32 * i);
  });
  return out;
}

/** Kept bytes as a Uint8Array (a store may hand back hex, after JSON). */
const bytesOf = (v) => (typeof v === "string" ? fromHex(v) : v);

/** The audit checks' failures, said plainly (the code and its evidence are kept). */
function auditInWords(e) {
  if (!(e instanceof SesphrError)) return e;
  const words = {
    audit_fork:
      "The re-encryption server showed you an audit log that does not extend the one it showed you before: " +
      "it may have rewritten or hidden who read your record. Both of its signed log heads are kept as evidence.",
    audit_incomplete:
      "The re-encryption server's audit log leaves out reads of your record: it shows " +
      `${e.listed} where its own chain of entries, a reader's receipt or an earlier listing shows at least ${e.known}.`,
    chain_broken:
      "The re-encryption server's audit log does not keep one chain of entries for your record: " +
      "it may have rewritten or hidden who read it.",
    bad_proof: "The re-encryption server listed an access that is not in its signed audit log: the listing was altered.",
    binding_mismatch: "The re-encryption server's audit listing holds an entry about another record.",
    stale:
      `The re-encryption server showed an older audit log (${e.found} entries) than the one it showed you before ` +
      `(${e.known} entries): it may be hiding recent reads.`,
  }[e.code];
  if (words) e.message = words;
  return e;
}

/** A patient: the owner of records. */
export class Patient {
  /**
   * `highWater`: record id → highest version this owner saw the SRS
   * witness. Persist it (the portal keeps it in localStorage): a relay and
   * SRS that later roll the record back are then refused as `stale`.
   *
   * `auditHeads`: party id → the last audit tree head (signed bytes) this
   * owner verified; `auditMarks`: record id → what the last verified audit
   * listing of that record showed (bytes). Persist both, beside the pinned
   * SRS key: every later listing must extend that head (`audit_fork`,
   * `stale`) and keep every entry it showed (`audit_incomplete`). Without
   * them, the first listing is taken on trust.
   */
  constructor(client, identity, { highWater, auditHeads, auditMarks } = {}) {
    this.client = client;
    this.identity = identity;
    this.highWater = highWater ?? new Map();
    this.auditHeads = auditHeads ?? new Map();
    this.auditMarks = auditMarks ?? new Map();
    this.#audits = Promise.resolve();
  }

  /** Audit checks, one at a time: each starts from the head the last one kept. */
  #audits;

  /**
   * @internal Fetches and checks a record's audit listing (`names`:
   * section id → name), one check at a time per patient.
   */
  auditListing(recordId, names, recorded) {
    const run = this.#audits.then(() => this.#auditListing(recordId, names, recorded));
    this.#audits = run.catch(() => {});
    return run;
  }

  /**
   * @internal The audit head a new manifest of `recordId` records: the
   * kept one and the one the record's chain recorded (`recorded`), checked
   * against each other, the larger; undefined if there is neither. If they
   * do not check out (a fork, or the SRS unreachable), the chain's head is
   * recorded again, so the next audit of the record still finds and
   * reports it; a write is never blocked by the audit's plumbing. Queued
   * with the audit checks.
   */
  headToRecord(recordId, recorded) {
    const run = this.#audits.then(async () => {
      const partyId = this.identity.id;
      let kept = this.auditHeads.get(partyId);
      kept = kept === undefined ? undefined : bytesOf(kept);
      if (!recorded) return kept;
      try {
        kept = await this.#extend(recordId, kept, recorded);
      } catch {
        return recorded;
      }
      this.auditHeads.set(partyId, kept);
      return kept;
    });
    this.#audits = run.catch(() => {});
    return run;
  }

  /**
   * Checks that `head` (signed bytes) extends `kept` or `kept` extends it
   * (a consistency proof between them when both are there and differ), and
   * returns the larger: the head to check the next listing against.
   */
  async #extend(recordId, kept, head) {
    if (kept && sameBytes(kept, head)) return kept;
    const size = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(6);
    const [smaller, larger] = kept && size(kept) > size(head) ? [head, kept] : [kept, head];
    const check = new core.AuditListingCheck(this.client.pinnedSrs(), recordId, larger, smaller);
    try {
      const range = check.consistencyNeeded();
      if (range) {
        const proof = await this.client.json("GET", `${this.client.srsUrl}/srs/v1/audit/consistency/${range[0]}/${range[1]}`);
        check.acceptConsistency(joined(proof?.path), hexBytes(proof?.treeHead));
      }
      return check.verifiedHead();
    } finally {
      check.free();
    }
  }

  /**
   * Readers' forwarded receipts about `recordId` in this patient's mail:
   * `[{id, mail}]` (`mail` a core ReceiptMail, its receipts claims the
   * check verifies where it needs to). Junk (mail that does not open or
   * holds no whole object of a kind this package reads) is deleted by
   * `sortedMail`, and so is a bundle about no record of this patient's.
   * Mail of another kind (an invitation's acceptance, …) waits for its own
   * reader, which deletes what it consumed; mail about the patient's other
   * records waits for their audits.
   */
  async #receiptMail(recordId) {
    const srs = this.client.pinnedSrs();
    const out = [];
    const junk = [];
    const requests = [];
    const kinds = [MAIL_KIND.receipts, MAIL_KIND.accessRequest];
    for (const { id, sealed, kind } of await sortedMail(this.client, this.identity, kinds)) {
      if (kind === MAIL_KIND.accessRequest) {
        requests.push({ id, sealed });
        continue;
      }
      let mail;
      try {
        mail = core.ReceiptMail.open(this.identity.core, srs, hexBytes(sealed));
      } catch {
        junk.push(id);
        continue;
      }
      if (mail.recordId === recordId) out.push({ id, mail });
      // About no record of this patient's: nobody's audit would ever take it.
      else if (!this.#owns(mail.recordId)) junk.push(id);
      if (mail.recordId !== recordId) mail.free();
    }
    // Access requests stay only if they verify and are among those the
    // owner's rule shows (fresh, three per requester, twenty in all): a
    // flood of requests must not push the receipts out of the mailbox.
    if (requests.length) junk.push(...core.openAccessRequests(this.identity.core, requests).junk);
    await Promise.all(junk.map((id) => this.client.clearMail(this.identity, id).catch(() => false)));
    return out;
  }

  /** Record ids of this patient's first records (mail about others is junk). */
  #owned;
  #owns(recordId) {
    this.#owned ??= new Set(Array.from({ length: OWNED_RECORDS }, (_, i) => this.#recordId(i)));
    return this.#owned.has(recordId);
  }

  async #auditListing(recordId, names, recorded) {
    const srs = this.client.pinnedSrs();
    const base = this.client.srsUrl;
    const partyId = this.identity.id;
    let check;
    // The mail first: every receipt in it was given out before the listing
    // is asked for, so an honest SRS's listing holds them all.
    const receipts = await this.#receiptMail(recordId);
    try {
      let kept = this.auditHeads.get(partyId);
      kept = kept === undefined ? undefined : bytesOf(kept);
      // The head the owner's manifests recorded (another browser's, or from
      // before a restore): checked like any other against the one kept here.
      if (recorded) {
        kept = await this.#extend(recordId, kept, recorded);
        this.auditHeads.set(partyId, kept);
      }
      const token = core.signToken(this.identity.core, "readAudit", fromHex(recordId), Date.now());
      const listing = await this.client.json("GET", `${base}/srs/v1/records/${recordId}/audit`, { token });
      if (!Array.isArray(listing?.entries) || !Array.isArray(listing.paths) || listing.paths.length !== listing.entries.length) {
        throw new SesphrError("malformed", "the re-encryption server's audit listing is not one entry and one audit path per row");
      }
      check = new core.AuditListingCheck(srs, recordId, hexBytes(listing.treeHead), kept);
      // Signed just now, or a replay (by the relay in front of the SRS, say).
      check.checkFresh(Date.now());
      const range = check.consistencyNeeded();
      if (range) {
        const proof = await this.client.json("GET", `${base}/srs/v1/audit/consistency/${range[0]}/${range[1]}`);
        check.acceptConsistency(joined(proof?.path), hexBytes(proof?.treeHead));
      }
      // Kept once it is known to extend the last one, before the entries are
      // checked: the head is a fact about the whole log, whatever this listing holds.
      this.auditHeads.set(partyId, check.verifiedHead());
      // Each answer filed with its grant's purpose: BTG for emergency grants only.
      const kinds = await this.#grantKinds(recordId);
      check.grantPurposes(kinds.emergency, kinds.ordinary);
      listing.entries.forEach(([index, entry], i) => check.addEntry(index, hexBytes(entry), joined(listing.paths[i])));
      for (const { mail } of receipts) check.addReceipts(mail);
      const mark = this.auditMarks.get(recordId);
      const out = check.finish(mark === undefined ? undefined : bytesOf(mark));
      this.auditMarks.set(recordId, out.mark);
      // Every forwarded receipt is in the listing the mark now holds: the
      // mark keeps them from here on, the mail can go.
      await Promise.all(receipts.map(({ id }) => this.client.clearMail(this.identity, id).catch(() => false)));
      return {
        entries: out.entries.map((e) => ({ ...e, sectionName: names.get(e.sectionId) ?? e.sectionId })),
        verified: true,
        treeSize: out.treeSize,
        head: out.head,
        receipts: out.receipts,
      };
    } catch (e) {
      throw auditInWords(e);
    } finally {
      check?.free();
      for (const { mail } of receipts) mail.free();
    }
  }

  /** The record's grant ids (from their owner-signed statements), emergency and ordinary. */
  async #grantKinds(recordId) {
    const rows = await this.grantRows(recordId);
    try {
      const views = rows.map((r) => r.grant.view());
      return {
        emergency: views.filter((g) => g.emergencyWaitMs != null).map((g) => g.grantId),
        ordinary: views.filter((g) => g.emergencyWaitMs == null).map((g) => g.grantId),
      };
    } finally {
      free(...rows.map((r) => r.grant));
    }
  }

  /** Every record this identity owns, rebuilt from the servers. */
  async records() {
    const out = [];
    for (let index = 0; ; index++) {
      const rec = await this.openRecord(index);
      if (!rec) return out;
      out.push(rec);
    }
  }

  #recordId(index) {
    const probe = new core.OwnerRecord(this.identity.core, index);
    const recordId = probe.recordId;
    probe.free();
    return recordId;
  }

  /** @internal Raises the high-water mark of a record. */
  saw(recordId, version) {
    if (version > (this.highWater.get(recordId) ?? 0)) this.highWater.set(recordId, version);
  }

  /**
   * The `index`-th record, rebuilt from the relay's manifests and the SRS's
   * grants and checked against the SRS's signed head; undefined if neither
   * server has it. A relay behind the head is `stale`.
   */
  async openRecord(index) {
    const inner = await this.restore(index);
    if (!inner) return undefined;
    const rec = new PatientRecord(this, inner);
    await rec.loadNames();
    return rec;
  }

  /** @internal The core's OwnerRecord of the `index`-th record, or undefined. */
  async restore(index) {
    const recordId = this.#recordId(index);
    const owner = this.identity.publicIdentity;
    // The head first: an honest relay is never behind a head fetched before it.
    const head = await this.client.head(recordId);
    const restore = new core.RecordRestore(index);
    const fetched = [];
    try {
      const latest = await this.client.manifest(recordId, "latest", owner);
      const highWater = this.highWater.get(recordId) ?? 0;
      if (!latest && !head && !highWater) return undefined;
      if (latest) {
        for (let v = 1; v < latest.version; v++) {
          const m = await this.client.manifest(recordId, v, owner);
          if (!m) throw new SesphrError("chain_broken", `the storage server has no version ${v} of this record`);
          fetched.push(m);
          restore.addManifest(m);
        }
        fetched.push(latest);
        restore.addManifest(latest);
      }
      if (head) {
        // The SRS takes grants only for a record it witnessed: without a
        // head there are none (and it would not list them).
        for (const { grant, revoked } of await this.grantRows(recordId)) {
          fetched.push(grant);
          restore.addGrant(grant, revoked);
        }
        restore.setHead(head);
      }
      restore.setHighWater(highWater);
      // Throws `stale` in plain words if the relay is behind the head.
      const inner = restore.build(this.identity.core, Date.now());
      this.saw(recordId, inner.witnessedVersion);
      return inner;
    } finally {
      free(restore, head, ...fetched);
    }
  }

  /** Creates the next record (an empty version 1, published at the relay and the SRS). */
  async createRecord() {
    // The first index neither server has (no need to rebuild the others).
    let index = 0;
    for (; ; index++) {
      const recordId = this.#recordId(index);
      if (await this.client.manifestBytes(recordId)) continue;
      const head = await this.client.head(recordId);
      if (head || this.highWater.has(recordId)) {
        head?.free();
        // The SRS witnessed a record the relay does not have: stale, in plain words.
        await this.restore(index);
        throw new SesphrError("stale", "The storage server does not have a record the re-encryption server witnessed.");
      }
      break;
    }
    const rec = new PatientRecord(this, new core.OwnerRecord(this.identity.core, index));
    await rec.publish();
    return rec;
  }

  /**
   * Pending access requests to this patient, oldest first: `[{id, mailId,
   * requester, recordId, role, sections, reason, createdAt, expiresAt}]`
   * (verified; expired ones, repeats and more than three per requester are
   * deleted).
   */
  accessRequests() {
    return requests.accessRequests(this.client, this.identity);
  }

  /** Approves an access request on `record` with grants of `sections` (default: all it asked; never more). */
  approveRequest(record, request, options) {
    return requests.approveRequest(this.client, this.identity, record, request, options);
  }

  /** Declines an access request: a signed refusal is mailed to the requester. */
  declineRequest(request) {
    return requests.declineRequest(this.client, this.identity, request);
  }

  /** @internal The SRS's grant list of a record: `[{grant: VerifiedGrant, revoked}]`. */
  async grantRows(recordId) {
    const token = core.signToken(this.identity.core, "listGrants", fromHex(recordId), Date.now());
    const rows = await this.client.json("GET", `${this.client.srsUrl}/srs/v1/records/${recordId}/grants`, { token });
    const out = [];
    try {
      for (const r of rows) out.push({ grant: core.VerifiedGrant.fromBytes(fromHex(r.statement)), revoked: r.revoked });
    } catch (e) {
      free(...out.map((r) => r.grant));
      throw e;
    }
    return out;
  }
}

/** One of the patient's records. */
export class PatientRecord {
  #inner;
  /** The last state-changing operation: the next one starts after it. */
  #queue = Promise.resolve();
  #closed = false;
  constructor(patient, inner) {
    this.patient = patient;
    this.client = patient.client;
    this.identity = patient.identity;
    this.#inner = inner;
    this.names = new Map(); // sectionId -> name
  }
  /**
   * Runs `fn` once every state-changing operation started before it has
   * ended: one write, share, revoke, refresh or reconcile at a time, so a
   * refresh never swaps the state under a write and two saves of one tab
   * never race each other.
   */
  #serial(fn) {
    const run = this.#queue.then(() => {
      if (this.#closed) throw new SesphrError("invalid_state", "this record was closed");
      return fn();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** The record id (hex). */
  get recordId() {
    return this.#inner.recordId;
  }
  /** The record's index among the patient's records. */
  get index() {
    return this.#inner.index;
  }
  /** The latest published version (0 before the first). */
  get version() {
    return this.#inner.nextVersion - 1;
  }
  /** The highest version the SRS has witnessed (readers read up to it). */
  get witnessedVersion() {
    return this.#inner.witnessedVersion;
  }
  /** Whether a published version still waits for the SRS to witness it (see `reconcile`). */
  get pendingWitness() {
    return this.witnessedVersion < this.version;
  }
  /** The published versions the SRS has not witnessed yet. */
  get unwitnessed() {
    const out = [];
    for (let v = this.witnessedVersion + 1; v <= this.version; v++) out.push(v);
    return out;
  }

  /** @internal Names the sections: standard names by id, others from their documents. */
  async loadNames() {
    const known = new Map(standardSections().map((n) => [this.sectionId(n), n]));
    this.names.clear();
    for (const s of this.#inner.sections()) {
      if (known.has(s.sectionId)) this.names.set(s.sectionId, known.get(s.sectionId));
      else if (s.entry) {
        const doc = await this.#ownDocument(s);
        this.names.set(s.sectionId, doc.name);
      }
    }
  }

  /** The opaque id of a section name. */
  sectionId(name) {
    return this.#inner.sectionId(this.identity.core, name);
  }

  /** Sections with a body: `[{name, sectionId, entry, pendingRotation}]`. */
  sections() {
    return this.#inner
      .sections()
      .filter((s) => s.entry)
      .map((s) => ({ ...s, name: this.names.get(s.sectionId) ?? s.sectionId }));
  }

  /** The versions at which a section's body changed, oldest first: `[{version, entry}]` (open one with `open(name, {version})`). */
  history(name) {
    return this.#inner.history(this.sectionId(name)).map((entry) => ({ version: entry.writtenAtVersion, entry }));
  }

  async #ownDocument(s) {
    const dk = this.#inner.dataKey(this.identity.core, s.sectionId);
    try {
      const { doc, keys } = await readDocument(this.client, s.entry, dk);
      keys.forEach((k) => k.free());
      return doc;
    } finally {
      dk.free();
    }
  }

  /**
   * Restores the shards of every sharded section of the latest version
   * after a relay of the set lost data or left: any k shards are decoded,
   * the missing ones coded again (checked against the roots signed in the
   * manifest) and stored on relays holding nothing of that section.
   * Resolves `[{name, missing, repaired: [{shard, relay}]}]`.
   */
  repairShards({ signal } = {}) {
    return this.#serial(async () => {
      const set = this.client.relaySet;
      if (!set) throw new SesphrError("invalid_state", "This record's connection lists no relay set.");
      const out = [];
      for (const s of this.#inner.sections().filter((x) => x.entry?.placement)) {
        const dk = this.#inner.dataKey(this.identity.core, s.sectionId);
        try {
          const done = await set.repair(this.identity, s.entry, dk, { signal });
          out.push({ name: this.names.get(s.sectionId) ?? s.sectionId, ...done });
        } finally {
          dk.free();
        }
      }
      return out;
    });
  }

  /** Opens one of the owner's own sections, at the latest version or at `version` (an older one). */
  async open(name, { version } = {}) {
    const sid = this.sectionId(name);
    if (version === undefined) {
      const s = this.#inner.sections().find((x) => x.sectionId === sid && x.entry);
      if (!s) throw new SesphrError("no_such_section", `no section named ${name}`);
      return openSection(this.client, s.entry, this.#inner.dataKey(this.identity.core, sid), this.version, this.recordId);
    }
    const entry = this.#inner.entryAt(sid, version);
    return openSection(this.client, entry, this.#inner.dataKeyAt(this.identity.core, sid, version), version, this.recordId);
  }

  /**
   * Creates a SMART Health Link to a **copy** of `sections` (names): each is
   * decrypted here, the lot turned into one FHIR R4 Bundle (`toBundle`),
   * encrypted as a JWE under a fresh link key and stored at the relay.
   * Options: `passcode`, `maxAttempts` (wrong passcodes tolerated, default
   * 10), `expiresAt` (ms), `label` (at most 80 characters), `longTerm`,
   * `directFile` (the `U` flag, no passcode).
   * Resolves to `{url, id}`: `url` is the `shlink:/…` string holding the
   * key (share it out of band; never send it to a server).
   */
  async createLink({ sections, ...options } = {}) {
    if (!Array.isArray(sections) || sections.length === 0) {
      throw new SesphrError("invalid_argument", "sections is a non-empty array of section names");
    }
    const opened = [];
    try {
      for (const name of sections) opened.push(await this.open(name));
      return await shl.createLink(this.client, this.identity, opened, { recordId: this.recordId, sections }, options);
    } finally {
      opened.forEach((s) => s.close());
    }
  }

  /** The owner's SMART Health Links with their retrievals (all records' links: links belong to the identity). */
  links() {
    return shl.links(this.client, this.identity);
  }

  /** Revokes a SMART Health Link: its next retrieval is `404`. A copy already taken stays taken. */
  revokeLink(id) {
    return shl.revokeLink(this.client, this.identity, id);
  }

  /** The `shlink:/…` of a listed link again, from its key sealed for the owner. */
  linkUrl(link) {
    return shl.linkUrl(this.client, this.identity, link);
  }

  /** Which record and sections a listed link covers: `{record, sections}`. */
  linkSections(link) {
    return shl.linkSections(this.identity, link);
  }

  /** The terms sealed with a listed link's kept key: `{record, sections, longTerm, passcode, exp, label, direct, card}`. */
  linkTerms(link) {
    return shl.linkTerms(this.identity, link);
  }

  /** The `shlink:/…` of this record's emergency card link over exactly `sections`, if one was made (`card: true`) and is live; else undefined. */
  cardLink(sections) {
    return shl.cardLink(this, sections);
  }

  /**
   * Re-exports this record's live (long-term) links that cover any of
   * `names` (all of them if omitted) under their own keys: call after a
   * write. Resolves to `{refreshed: [id], failed: [{id, error}]}`.
   */
  refreshLinks(names) {
    return this.#serial(() => shl.refreshLinks(this, names));
  }

  /** Sends a grant's `b2` to the SRS, then its `b1` to the grantee's inbox (each server takes the same statement twice). */
  async #deliver(issued) {
    const statement = toHex(issued.statement);
    await retried(() => this.client.postJson(`${this.client.srsUrl}/srs/v1/grants`, { statement, b2Envelope: toHex(issued.b2Envelope) }));
    const item = { statement, b1Envelope: toHex(issued.b1Envelope) };
    await retried(() => this.client.postJson(`${this.client.baseUrl}/v1/inbox`, item));
    // Every relay of a sharded deployment keeps the grantee's inbox too (best effort).
    const others = (this.client.relaySet?.relays ?? []).filter((r) => r.baseUrl !== this.client.baseUrl);
    await Promise.all(others.map((r) => r.postJson(`${r.baseUrl}/v1/inbox`, item).catch((e) => this.client.relaySet.faults.push({ relay: r.baseUrl, code: e.code, message: e.message, at: Date.now() }))));
  }

  /**
   * Rebuilds this record from the servers (after another tab or device
   * wrote), checked against the SRS's head like `Patient.openRecord`.
   */
  refresh() {
    return this.#serial(() => this.#refresh());
  }

  async #refresh() {
    const inner = await this.patient.restore(this.index);
    if (!inner) throw new SesphrError("stale", "Neither server has this record any more.");
    this.#inner.free();
    this.#inner = inner;
    await this.loadNames();
  }

  #conflict(version) {
    return new SesphrError(
      "version_conflict",
      `This record was changed elsewhere (another tab or device saved version ${version}) ` +
        "while you were editing. Nothing was saved; the record has been reloaded: try again.",
      { status: 409 },
    );
  }

  /** Another writer got there first: reload, and say so. */
  async #lostRace(version) {
    try {
      await this.#refresh();
    } catch {
      // The next write refreshes again; the conflict is what to report.
    }
    return this.#conflict(version);
  }

  /**
   * Stores a signed manifest at the relay. Network failures are retried
   * (the relay takes an identical manifest again); a 409 with our own
   * bytes stored means an earlier attempt landed, with other bytes that
   * another writer did.
   */
  async #store(manifest) {
    const bytes = manifest.bytes;
    const url = `${this.client.baseUrl}/v1/records/${this.recordId}/manifests`;
    try {
      await retried(() => this.client.postBytes(url, bytes));
    } catch (e) {
      if (e.code !== "version_conflict") throw e;
      const stored = await this.client.manifestBytes(this.recordId, manifest.version);
      if (!stored || !sameBytes(stored, bytes)) throw await this.#lostRace(manifest.version);
    }
    await this.client.mirrorManifests(this.recordId, manifest.version);
  }

  /**
   * Pushes every version the SRS has not witnessed to it, in order, and
   * records the signed heads. Returns whether every version is witnessed.
   * With `tolerant`, a transient failure (network, SRS down, 5xx) returns
   * false instead of throwing.
   */
  async #witness({ tolerant }) {
    const srs = this.client.pinnedSrs();
    const pending = this.#inner.unwitnessed();
    try {
      for (const m of pending) {
        if (m.version <= this.witnessedVersion) continue; // a head for a later version covered it
        let head;
        try {
          try {
            head = this.client.verifiedHead(
              await this.client.bytes("POST", `${this.client.srsUrl}/srs/v1/heads`, { body: m.bytes, type: OCTETS }),
              this.recordId,
            );
          } catch (e) {
            if (e.code !== "version_conflict") throw e;
            // Already witnessed (a lost response; an SRS that answers a repeat
            // with 409 rather than 200), or another device wrote: its head says.
            head = await this.client.head(this.recordId);
            if (!head) throw e;
          }
          if (head.version > this.version) throw await this.#lostRace(head.version);
          this.#inner.witnessed(head);
          this.patient.saw(this.recordId, this.witnessedVersion);
          if (this.witnessedVersion < m.version) {
            throw new SesphrError(
              "version_conflict",
              `The re-encryption server refused version ${m.version}: it has version ${head.version}.`,
              { status: 409 },
            );
          }
        } catch (e) {
          if (tolerant && isTransient(e)) return false;
          throw e;
        } finally {
          head?.free();
        }
      }
    } finally {
      free(...pending);
    }
    return !this.pendingWitness;
  }

  /**
   * Pushes the versions the SRS has not witnessed yet (a lost request, an
   * SRS outage) and records its heads. Resolves true once every version is
   * witnessed; throws the failure otherwise (`network`, …: try again later).
   */
  reconcile() {
    return this.#serial(() => this.#witness({ tolerant: false }));
  }

  /**
   * @internal Signs and publishes the next manifest: the relay stores it
   * (retried), then the SRS witnesses it. `{version, witnessed}`: the
   * version is saved once the relay has it; `witnessed: false` when the SRS
   * could not be reached (call `reconcile()` later).
   */
  publish() {
    return this.#serial(() => this.#publish());
  }

  /** `onLost(error)`: the relay surely did not store the manifest (another writer won); returns the error to throw. */
  async #publish({ onLost } = {}) {
    // The manifest records the latest audit tree head this owner verified,
    // so a restore anywhere starts its audit checks from it. The head this
    // record's chain recorded is checked against the kept one first (a
    // consistency proof, queued with the audits): a fork between them is
    // reported, not overwritten.
    const head = await this.patient.headToRecord(this.recordId, this.#inner.auditHead);
    if (head) this.#inner.setAuditHead(head);
    const m = this.#inner.signManifest(this.identity.core, Date.now());
    try {
      try {
        await this.#store(m);
      } catch (e) {
        if (e.code === "version_conflict" && onLost) throw await onLost(e);
        throw e;
      }
      this.#inner.published(m);
    } finally {
      m.free();
    }
    const witnessed = await this.#witness({ tolerant: true });
    return { version: this.version, witnessed };
  }

  /**
   * Writes sections as the next version. Each update is `{name, fields?,
   * text?, fhir?, files?: (Blob|{name,type,bytes})[], keep?: number[]}`:
   * `keep` lists attachments of the current version to carry over, which
   * the new document references as they are (no download, no encryption,
   * no upload; an attachment of an older inline body is moved into its own
   * blob once). Each new file is encrypted under a fresh key and stored as
   * its own blob. Resolves `{version, witnessed}` once the relay stored the
   * version; `witnessed` is false while the SRS has not confirmed it
   * (`pendingWitness`; `reconcile()` retries). Another tab or device that
   * wrote first gives `version_conflict` (the record is reloaded: write
   * again).
   *
   * `onProgress(done, total)` counts bytes encrypted plus bytes handed to
   * the network (each stored byte twice). `signal` (an AbortSignal) cancels
   * until the manifest is sent: nothing is published, what was uploaded is
   * deleted, and the write throws `aborted`. A write that fails before its
   * manifest is stored, or loses to another writer, deletes what it uploaded.
   */
  write(updates, options) {
    return this.#serial(() => this.#write(updates, options));
  }

  /**
   * Writes section `name` as it was at record version `version` (fields,
   * text, FHIR resources and attachments) as the next version. Stored
   * attachments are referenced as they are: only the old document is read
   * (O(document) memory, no attachment downloaded). A version removed by
   * `prune` is `pruned`. Options as `write`.
   */
  restore(name, version, options) {
    return this.#serial(async () => {
      const source = await this.open(name, { version });
      const d = source.document;
      const update = { name, fields: d.fields, text: d.text, fhir: d.fhir, source, keep: d.attachments.map((_, i) => i) };
      return this.#write([update], options);
    });
  }

  async #write(updates, { onProgress, signal } = {}) {
    throwIfAborted(signal);
    // Versions an earlier write left unwitnessed go to the SRS first.
    await this.#witness({ tolerant: true });
    const srs = this.client.pinnedSrs();
    const version = this.#inner.nextVersion;
    const progress = { done: 0, total: 0, report: () => onProgress?.(progress.done, progress.total) };
    const uploaded = [];
    /** Shards stored at the relay set: `{relay, id}`. */
    const sharded = [];
    const cleanup = [];
    const upload = async (id, length, body) => {
      uploaded.push(id);
      let counted = 0;
      const onSent = (n) => {
        if (n > counted) {
          progress.done += n - counted;
          counted = n;
          progress.report();
        }
      };
      await retried(() => this.client.putBlob(this.identity, id, length, body, { onSent, signal }));
      onSent(length);
    };
    const seal = async (f) => {
      const base = progress.done;
      const out = await f({
        signal,
        onProgress: (d) => {
          progress.done = base + d;
          progress.report();
        },
      });
      progress.done = base + out.entry.blobLength;
      return out;
    };
    let entries;
    try {
      const work = [];
      // 1. What each section's document lists: kept attachments as they
      //    are, new files (and inline attachments of an old body) to seal.
      for (const u of updates) {
        const attachments = [];
        const keys = [];
        const toSeal = [];
        const source = u.source ?? (u.keep?.length ? await this.open(u.name) : undefined);
        if (source) cleanup.push(() => source.close());
        for (const i of u.keep ?? []) {
          const a = source.document.attachments[i];
          if (!a) throw new SesphrError("invalid_argument", `no attachment ${i} in ${u.name}`);
          if (source.document.format === 2) {
            const key = source.attachmentKey(i).clone();
            cleanup.push(() => key.free());
            attachments.push({ name: a.name, type: a.type, size: a.size, root: a.root, index: a.index, length: a.length, ...(a.placement ? { placement: a.placement } : {}) });
            keys.push(key);
          } else {
            const stream = source.attachment(i, { signal });
            toSeal.push({ at: attachments.length, size: a.size, part: { length: a.size, [Symbol.asyncIterator]: () => stream } });
            attachments.push({ name: a.name, type: a.type, size: a.size });
            keys.push(undefined);
          }
        }
        for (const f of u.files ?? []) {
          const isBlob = typeof Blob !== "undefined" && f instanceof Blob;
          const blob = f instanceof Uint8Array || isBlob ? f : f.bytes;
          if (!(blob instanceof Uint8Array) && !isBlob) {
            throw new SesphrError("invalid_argument", "a file is a Blob, a Uint8Array or {name, type, bytes}");
          }
          const size = partLength(blob);
          toSeal.push({ at: attachments.length, size, part: blob });
          attachments.push({ name: f.name ?? "attachment", type: f.type ?? "", size });
          keys.push(undefined);
        }
        const doc = { format: DOCUMENT_FORMAT, name: u.name, fields: u.fields ?? {}, text: u.text ?? "", fhir: u.fhir ?? [], attachments };
        // Checked before anything is sent (the roots are filled in below).
        checkDocument({ ...doc, format: 1, attachments: attachments.map(({ name, type, size }) => ({ name, type, size })) }, (why) => new SesphrError("invalid_argument", `the section ${why}`));
        for (const t of toSeal) {
          const { blobLength, indexLength } = attachmentLengths(t.size);
          progress.total += 2 * blobLength + indexLength;
        }
        work.push({ name: u.name, doc, keys, toSeal });
      }
      progress.report();
      // Sharded: the sections of this write placed together by similarity.
      const plans = this.client.relaySet?.planTogether(
        this.recordId,
        work.map((w) => ({ sectionId: this.sectionId(w.name), text: JSON.stringify([w.doc.fields, w.doc.text, w.doc.fhir]) })),
      );
      // 2. Seal and upload each new attachment, then each section body.
      entries = [];
      for (const w of work) {
        const sid = this.sectionId(w.name);
        for (const t of w.toSeal) {
          const key = core.AttachmentKey.generate();
          cleanup.push(() => key.free());
          const { blobLength, indexLength } = attachmentLengths(t.size);
          const sealed = await seal((o) => sealAttachment(key, this.recordId, sid, [t.part], o));
          const { chunkRoot, indexId } = sealed.entry;
          const set = this.client.relaySet;
          if (set) {
            // Sharded like the body; the document (encrypted) carries the sealed placement.
            const placementKey = key.placementKey(this.recordId, sid);
            try {
              const put = (c, id, length, b) => retried(() => c.putBlob(this.identity, id, length, b, { signal }));
              const { entry, stored } = await set.store(this.identity, { ...sealed, placementKey }, { signal, upload: put, plan: plans.get(sid) });
              sharded.push(...stored);
              progress.done += blobLength + indexLength;
              progress.report();
              Object.assign(w.doc.attachments[t.at], { root: chunkRoot, index: indexId, length: blobLength, placement: toHex(entry.placement) });
            } catch (e) {
              sharded.push(...(e.stored ?? []));
              throw e;
            } finally {
              placementKey.free();
            }
          } else {
            await upload(sealed.entry.blobId, blobLength, sealed.blob);
            await upload(indexId, indexLength, sealed.chunkIndex);
            Object.assign(w.doc.attachments[t.at], { root: chunkRoot, index: indexId, length: blobLength });
          }
          w.keys[t.at] = key;
        }
        checkDocument(w.doc, (why) => new SesphrError("invalid_argument", `the section ${why}`));
        throwIfAborted(signal);
        const { key, reissued } = this.#inner.keyForWrite(this.identity.core, srs, sid, Date.now());
        const body = encodeDocument(w.doc, w.keys);
        try {
          for (const g of reissued) await this.#deliver(g);
          // The body's blob length is known once sealed: until then, estimated.
          progress.total += body.length;
          const set = this.client.relaySet;
          const sealed = await seal((o) => sealBody(key, version, [body], { ...o, shards: !!set }));
          const { blobId, blobLength, indexId } = sealed.entry;
          progress.total += 2 * blobLength + sealed.chunkIndex.length - body.length;
          if (set) {
            // Shards to the relay set; the entry carries their sealed placement.
            try {
              const put = (c, id, length, b) => retried(() => c.putBlob(this.identity, id, length, b, { signal }));
              const { entry, stored } = await set.store(this.identity, sealed, { signal, upload: put, plan: plans.get(sid) });
              sharded.push(...stored);
              progress.done += blobLength + sealed.chunkIndex.length;
              progress.report();
              entries.push({ sid, name: w.name, entry });
            } catch (e) {
              sharded.push(...(e.stored ?? []));
              throw e;
            } finally {
              sealed.placementKey.free();
            }
          } else {
            await upload(blobId, blobLength, sealed.blob);
            await upload(indexId, sealed.chunkIndex.length, sealed.chunkIndex);
            entries.push({ sid, name: w.name, entry: sealed.entry });
          }
        } finally {
          body.fill(0);
          key.free();
        }
      }
      throwIfAborted(signal);
    } catch (e) {
      cleanup.forEach((f) => f());
      throw await this.#discard(uploaded, signal?.aborted ? new SesphrError("aborted", "The write was cancelled; nothing was saved.", { cause: e }) : e, sharded);
    }
    cleanup.forEach((f) => f());
    // 3. Publish: from here the write is not cancelled.
    for (const { sid, name, entry } of entries) {
      this.#inner.setEntry(entry);
      this.names.set(sid, name);
    }
    return this.#publish({ onLost: (e) => this.#discard(uploaded, e, sharded) });
  }

  /**
   * Deletes the blobs a failed write uploaded (best effort: nothing
   * references them); returns `error`, with `orphans` listing any the relay
   * would not delete.
   */
  async #discard(ids, error, sharded = []) {
    const left = [];
    const targets = [...ids.map((id) => [this.client, id]), ...sharded.map(({ relay, id }) => [this.client.relaySet.relays[relay], id])];
    for (const [client, id] of targets) {
      try {
        await retried(() => client.deleteBlob(this.identity, id));
      } catch {
        left.push(id);
      }
    }
    if (error && left.length) error.orphans = left;
    return error;
  }

  /**
   * Deletes what only versions before `before` need: the section bodies and
   * attachment blobs (with their chunk indexes) that no version from
   * `before` on references. Manifests stay (the owner-signed chain is what
   * readers and restores check freshness against). Opening or restoring a
   * pruned body afterwards is `pruned`; a reader whose grant covers all
   * versions loses them too. Resolves `{deleted: [ids], kept: number}`.
   */
  prune({ before } = {}) {
    return this.#serial(() => this.#prune(before));
  }

  async #prune(before) {
    if (!Number.isSafeInteger(before) || before < 1 || before > this.version) {
      throw new SesphrError("invalid_argument", `prune needs a version from 1 to ${this.version}`);
    }
    const keep = new Set();
    const drop = [];
    for (const s of this.#inner.sections()) {
      const history = this.#inner.history(s.sectionId);
      for (let j = 0; j < history.length; j++) {
        const entry = history[j];
        const next = history[j + 1];
        // Entry j is what versions [written, next.written) read.
        const needed = !next || next.writtenAtVersion > before;
        let objects = [entry.blobId, entry.indexId];
        let attachments = [];
        const dk = this.#inner.dataKeyAt(this.identity.core, s.sectionId, entry.writtenAtVersion);
        try {
          // A sharded body is its shards (and their indexes), wherever they are.
          if (entry.placement) objects = shardIds(dk.openPlacement(entry));
          const { doc, keys } = await readDocument(this.client, entry, dk);
          try {
            if (doc.format === 2) {
              attachments = doc.attachments.flatMap((a, i) =>
                a.placement
                  ? shardIds(keys[i].openPlacement(this.recordId, s.sectionId, { chunkRoot: a.root, blobLength: a.length, indexId: a.index, placement: fromHex(a.placement) }))
                  : [a.root, a.index],
              );
            }
          } finally {
            keys.forEach((k) => k.free());
          }
        } catch (e) {
          if (e.code !== "pruned") throw e;
          // Its body is gone (an earlier prune); its attachments went first.
        } finally {
          dk.free();
        }
        if (needed) [...objects, ...attachments].forEach((id) => keep.add(id));
        else drop.push(...attachments, ...objects.toReversed());
      }
    }
    // Attachments first, each body last: a prune cut short is resumed by
    // the next one, which still finds the attachments through the body.
    const deleted = [];
    for (const id of drop) {
      if (keep.has(id) || deleted.includes(id)) continue;
      const set = this.client.relaySet;
      const gone = set ? await set.deleteEverywhere(this.identity, id) : await retried(() => this.client.deleteBlob(this.identity, id));
      if (gone) deleted.push(id);
    }
    return { deleted, kept: keep.size };
  }

  /**
   * Shares sections with a party: `{grantee: {publicKey} | partyId, sections
   * (names) or role, role?, history: "all" | "fromNow", expiresAt?,
   * emergencyWaitMs?}` (with `emergencyWaitMs`, an emergency grant: dormant
   * until the grantee activates it and the wait passes, or the owner
   * approves; role `emergency` is the emergency preset). Returns the new
   * grant ids.
   */
  share(options) {
    return this.#serial(() => this.#share(options));
  }

  async #share({ grantee, sections, role = "custom", history = "all", expiresAt, emergencyWaitMs }) {
    const party = typeof grantee === "string" ? await this.client.lookup(grantee) : grantee;
    const names = sections ?? roleSections(role);
    if (!names.length) throw new SesphrError("invalid_argument", "no sections to share");
    // The SRS takes grants only for a record whose versions it witnessed.
    await this.#witness({ tolerant: false });
    const fromVersion = history === "fromNow" ? this.#inner.nextVersion : 0;
    const srs = this.client.pinnedSrs();
    const ids = [];
    for (const name of names) {
      const out = this.#inner.grant(
        this.identity.core,
        srs,
        this.sectionId(name),
        { grantee: party.publicKey, role, fromVersion, expiresAt, emergencyWaitMs },
        Date.now(),
      );
      for (const g of out.reissued) await this.#deliver(g);
      await this.#deliver(out.grant);
      ids.push(out.grant.grantId);
      this.names.set(this.sectionId(name), name);
    }
    return ids;
  }

  /** Emergency grants of this record and their activations (see emergency.js `emergencyActivations`). */
  async emergencyActivations() {
    const rows = await emergency.emergencyActivations(this.patient, this.recordId);
    return rows.map((r) => ({ ...r, sectionName: this.names.get(r.sectionId) ?? r.sectionId }));
  }

  /** Approves the pending emergency activations chosen: `{partyId}` or `{grantIds}`; access opens now. */
  approveEmergency(which) {
    return emergency.decideEmergency(this.patient, this.recordId, "approve", which);
  }

  /** Denies the emergency activations chosen (`{partyId}` or `{grantIds}`): closed until a new activation. */
  denyEmergency(which) {
    return emergency.decideEmergency(this.patient, this.recordId, "deny", which);
  }

  /** Every grant the SRS holds for this record, newest last, with `revoked`. */
  async grants() {
    const rows = await this.patient.grantRows(this.recordId);
    return rows.map(({ grant, revoked }) => {
      const g = grant.view();
      const statement = grant.statement;
      grant.free();
      return { ...g, revoked, statement, sectionName: this.names.get(g.sectionId) ?? g.sectionId };
    });
  }

  /** The live grants this device knows (what `revoke` can act on). */
  liveGrants() {
    return this.#inner.grants().map((g) => ({ ...g, sectionName: this.names.get(g.sectionId) ?? g.sectionId }));
  }

  /** Revokes grants (by id) at the SRS; effective once its signed receipt verifies. */
  revoke(grantIds) {
    return this.#serial(() => this.#revoke(grantIds));
  }

  async #revoke(grantIds) {
    const srs = this.client.pinnedSrs();
    for (const id of [].concat(grantIds)) {
      const grant = this.#inner.liveGrant(id);
      if (!grant) throw new SesphrError("not_found", `no live grant ${id}`);
      let revocation;
      try {
        revocation = core.Revocation.sign(this.identity.core, grant);
        const body = revocation.bytes;
        // A repeated revocation gets the stored receipt.
        const receipt = await retried(() =>
          this.client.bytes("POST", `${this.client.srsUrl}/srs/v1/revocations`, { body, type: OCTETS }),
        );
        revocation.acceptReceipt(receipt, srs);
      } finally {
        free(grant, revocation);
      }
      this.#inner.revoked(id);
    }
  }

  /** Revokes every live grant of a party. */
  revokeParty(partyId) {
    return this.#serial(async () => {
      const ids = this.#inner.grants().filter((g) => g.grantee.id === partyId).map((g) => g.grantId);
      await this.#revoke(ids);
      return ids;
    });
  }

  /** Moves a section to a fresh epoch at its next write. */
  rotate(name) {
    this.#inner.rotate(this.sectionId(name));
  }

  /**
   * The audit log of this record, verified: `{entries: [{index, timestamp,
   * granteeId, sectionName, version, request, decision}], verified: true,
   * treeSize, head}`. The SRS's signed tree head must extend the last one
   * this patient verified (a consistency proof), every entry must be in
   * that tree (an audit path each), and every entry the last verified
   * listing showed must still be there; otherwise it throws `audit_fork`
   * (with both signed heads as `keptHead` and `servedHead`), `stale`, `bad_proof`,
   * `binding_mismatch` or `audit_incomplete`, and returns nothing.
   */
  audit() {
    return this.patient.auditListing(this.recordId, this.names, this.#inner.auditHead);
  }

  /** Frees the wasm state once the operations already started have ended; later ones are `invalid_state`. */
  free() {
    return this.#serial(() => {
      this.#closed = true;
      this.#inner.free();
    });
  }
}

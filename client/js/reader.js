// The reader: what was shared (the inbox, trusted only as far as each
// record's owner signed it), and reading a section at the version the SRS
// witnessed or at an older one. The rules are the core's reader flow
// (Inbox, SharedRecord, SectionRead); this module fetches what they need
// and sends what they return.

import { core, fromHex, free, sameBytes } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { openSection } from "./documents.js";
import { ownerNames } from "./invitations.js";
import { activateEmergency, emergencyStatus } from "./emergency.js";
import { accessReplies, requestAccess } from "./requests.js";

/** Receipts per forwarded bundle (the core's limit). */
const BUNDLE = 32;
/** How long after a read its receipts wait for more to share their mail. */
const FORWARD_AFTER_MS = 500;
/** Receipts kept per record while they cannot be forwarded. */
const MAX_PENDING_RECEIPTS = 1024;

/** A reader: someone records were shared with. */
export class Reader {
  /**
   * `highWater`: record id → highest version seen witnessed. Persist it: a
   * relay and SRS that later roll a record back are refused as `stale`.
   */
  constructor(client, identity, { highWater } = {}) {
    this.client = client;
    this.identity = identity;
    this.highWater = highWater ?? new Map();
  }

  /** Audit receipts not yet forwarded, by record id: `{record, receipts}`. */
  #pending = new Map();
  #flushing = Promise.resolve();
  #timer;

  /**
   * Forwards the audit receipts of every answer the SRS gave this reader's
   * reads so far, sealed to each record's owner, through the relay's mail:
   * the owner's audit check then catches an SRS that answered a read but
   * left it out of the owner's listing. Runs by itself half a second after
   * a read (in the background: a read never waits for it or fails by it;
   * reads meanwhile share the mail);
   * await it to know the receipts were handed over. Receipts that could not
   * be sent stay queued for the next flush, and it throws the first error.
   */
  flushReceipts() {
    const run = this.#flushing.then(() => this.#flush());
    this.#flushing = run.catch(() => {});
    return run;
  }

  /** @internal Queues a read's receipts and schedules their forwarding. */
  queueReceipts(record, receipts) {
    if (receipts.length === 0) return;
    // The owner's key as bytes, not the SharedRecord: the app may free
    // that before the forward runs.
    const p = this.#pending.get(record.recordId) ?? { recordId: record.recordId, owner: record.owner.publicKey, receipts: [], sealed: [] };
    // Bounded while an owner's mailbox refuses: the oldest go first.
    p.receipts = [...p.receipts, ...receipts].slice(-MAX_PENDING_RECEIPTS);
    this.#pending.set(record.recordId, p);
    // A short wait gathers the reads of one visit (every section of a
    // record) into one mail: each mail costs the owner an open and a delete.
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flushReceipts().catch(() => {});
    }, FORWARD_AFTER_MS);
    // In Node, a pending forward does not keep the process alive.
    this.#timer?.unref?.();
  }

  async #flush() {
    const srs = this.client.pinnedSrs();
    const batches = [...this.#pending.values()];
    this.#pending.clear();
    let failure;
    for (const p of batches) {
      // Sealed once: a retry posts the same bytes, which the relay stores once.
      if (p.receipts.length) {
        const owner = core.PublicIdentity.fromBytes(p.owner);
        try {
          for (let i = 0; i < p.receipts.length; i += BUNDLE) {
            p.sealed.push(core.sealReceipts(owner, srs, p.recordId, p.receipts.slice(i, i + BUNDLE)));
          }
          p.receipts = [];
          p.ownerId = owner.id;
        } finally {
          owner.free();
        }
      }
      while (p.sealed.length) {
        try {
          await this.client.postMail(this.identity, p.ownerId, p.sealed[0]);
          p.sealed.shift();
        } catch (e) {
          failure ??= e;
          break;
        }
      }
      if (p.sealed.length) {
        const later = this.#pending.get(p.recordId);
        if (later) p.receipts = later.receipts;
        this.#pending.set(p.recordId, { ...p, sealed: p.sealed.slice(-MAX_PENDING_RECEIPTS / BUNDLE) });
      }
    }
    if (failure) throw failure;
  }

  /**
   * What was shared with this reader: one `SharedRecord` per record whose
   * owner (the party its manifest proves the record id is bound to) signed
   * grants to this reader, in inbox order. Items by anyone else naming the
   * record are never used (`foreign`); items naming no record at the relay,
   * or only signed by others than its owner, are dropped.
   */
  async sharedWithMe() {
    const items = await this.client.inbox(this.identity);
    const inbox = new core.Inbox();
    const me = this.identity.publicIdentity;
    const order = [];
    try {
      for (const { statement, b1Envelope } of Array.isArray(items) ? items : []) {
        let item;
        try {
          item = core.InboxItem.fromBytes(fromHex(statement), fromHex(b1Envelope));
        } catch {
          continue; // does not verify: anyone may post anything; dropped
        }
        try {
          const record = item.recordId;
          if (inbox.add(me, item) && !order.includes(record)) order.push(record);
        } finally {
          item.free();
        }
      }
      const out = [];
      for (const recordId of order) {
        const latest = await this.client.manifest(recordId);
        if (!latest) continue; // names no record at the relay
        let shared;
        try {
          shared = inbox.record(latest);
        } catch (e) {
          latest.free();
          if (e.code !== "not_granted") throw e;
          continue; // none signed by the record's owner
        }
        out.push(new SharedRecord(this, shared, latest));
      }
      // The names owners gave themselves (sealed to this reader in mail):
      // read, and junk and strangers' cards deleted, even when nothing is
      // shared yet, so a reader's mailbox never fills with them.
      const names = await ownerNames(this, new Set(out.map((r) => r.owner.id))).catch(() => new Map());
      for (const r of out) r.ownerName = names.get(r.owner.id)?.name;
      return out;
    } finally {
      inbox.free();
    }
  }

  /** The state of each emergency grant of a shared record: `[{grantId, sectionId, state, remainingMs, ...}]`. */
  emergencyStatus(shared) {
    return emergencyStatus(this.client, this.identity, shared);
  }

  /** Activates the emergency grants of a shared record (starts the wait); returns their states. */
  activateEmergency(shared) {
    return activateEmergency(this.client, this.identity, shared);
  }

  /**
   * Asks a record's owner for sections: `{owner (party id), sections,
   * reason, recordId?, role?, ttlMs?}`; returns `{id, ownerId, sections,
   * expiresAt}`. The owner answers with grants (in `sharedWithMe`) or a
   * refusal (`accessReplies`).
   */
  requestAccess(options) {
    return requestAccess(this.client, this.identity, options);
  }

  /** Refusals of this party's access requests, verified, then deleted: `[{requestId, owner, timestamp}]`. */
  accessReplies() {
    return accessReplies(this.client, this.identity);
  }

  /** @internal Raises the high-water mark of a record. */
  saw(recordId, version) {
    if (version > (this.highWater.get(recordId) ?? 0)) this.highWater.set(recordId, version);
  }

  /** @internal The SRS's head and the relay's latest manifest, checked for freshness: `{head, latest, version}`. */
  async freshest(record, requested) {
    const recordId = record.recordId;
    // The head first: an honest relay is never behind a head fetched before it.
    const head = await this.client.head(recordId);
    if (!head) throw new SesphrError("not_found", "The re-encryption server has not witnessed this record yet.");
    let latest;
    try {
      latest = await record.manifest("latest");
      if (!latest) {
        throw Object.assign(
          new SesphrError(
            "stale",
            `The storage server has no copy of this record, but the re-encryption server witnessed version ${head.version} of it.`,
          ),
          { found: 0, known: head.version },
        );
      }
      const version = core.readableVersion(head, latest, this.highWater.get(recordId) ?? 0, requested);
      return { head, latest, version };
    } catch (e) {
      head.free();
      throw e;
    }
  }

  /**
   * Opens a shared section (from `sharedWithMe`) at the version the SRS
   * witnessed last, or at `version` (an older one, read through the
   * owner-signed chain from it to the latest). Every grant of the owner
   * that covers the body is tried, newest first; refusals throw with the
   * SRS's code (`revoked`, `expired`, `before_from_version`, …), a relay
   * behind the SRS with `stale`.
   */
  async open(section, { version } = {}) {
    const record = section?.record;
    if (!(record instanceof SharedRecord)) throw new SesphrError("invalid_argument", "open a section from sharedWithMe()");
    try {
      return await this.#open(record, section.sectionId, version);
    } catch (e) {
      // The record moved on between the manifests and the answer: once more.
      if (!e.retry) throw e;
      return this.#open(record, section.sectionId, version);
    }
  }

  async #open(record, sectionId, requested) {
    const srs = this.client.pinnedSrs();
    const me = this.identity.core;
    const { head, latest, version } = await this.freshest(record, requested);
    let chain;
    let read;
    try {
      chain = await record.chain(version, latest);
      read = record.core.read(me, sectionId, chain, version, this.highWater.get(record.recordId) ?? 0);
      const statuses = new Map();
      for (;;) {
        const request = read.nextRequest(me, srs, Date.now());
        if (!request) {
          const e = read.failure();
          if (statuses.has(e.code)) e.status = statuses.get(e.code);
          throw e;
        }
        const reply = await this.client.reencrypt(request);
        if (reply.refused) statuses.set(reply.refused, reply.status);
        let opened;
        try {
          opened = read.answer(srs, reply.answer ?? reply.refused);
        } catch (e) {
          // The answer's head is newer than the relay's latest we read.
          if (e.code === "stale" && e.known > latest.version) e.retry = true;
          throw e;
        }
        if (!opened) continue;
        this.saw(record.recordId, read.highWater);
        opened.head.free();
        return await openSection(this.client, opened.entry, opened.dataKey, opened.version, record.recordId);
      }
    } finally {
      // Never in the way of the read's own outcome.
      try {
        if (read) this.queueReceipts(record, read.receipts());
      } catch {}
      free(read, chain, head);
    }
  }
}

/** A record shared with a reader: its owner's grants, by section. */
export class SharedRecord {
  #inner;
  #owner;
  #reader;
  /** The manifests verified so far, by version: `{bytes, manifest}` (each verified once). */
  #verified = new Map();
  constructor(reader, inner, latest) {
    this.#reader = reader;
    this.#inner = inner;
    this.#verified.set(latest.version, { bytes: latest.bytes, manifest: latest });
    this.#owner = inner.owner;
    this.recordId = inner.recordId;
    this.owner = this.#owner.view();
    /** Ids of inbox items naming this record signed by others than its owner (never used). */
    this.foreign = inner.foreign();
    this.sections = inner.sections().map(({ sectionId, grants }) => {
      const newest = grants[0];
      return {
        recordId: this.recordId,
        owner: this.owner,
        sectionId,
        role: newest.role,
        fromVersion: newest.fromVersion,
        expiresAt: newest.expiresAt,
        emergencyWaitMs: newest.emergencyWaitMs ?? undefined,
        grants,
        record: this,
      };
    });
  }
  /** @internal */
  get core() {
    return this.#inner;
  }
  /** @internal The owner as the core's PublicIdentity. */
  get ownerIdentity() {
    return this.#owner;
  }

  /**
   * @internal The relay's manifest of `version` (or the latest), signed by
   * the owner; undefined if it has none. Bytes already verified are not
   * verified again. Owned by this record: do not free it.
   */
  async manifest(version) {
    const bytes = await this.#reader.client.manifestBytes(this.recordId, version);
    if (!bytes) return undefined;
    const known = this.#verified.get(version === "latest" ? undefined : version);
    for (const c of known ? [known] : this.#verified.values()) {
      if (sameBytes(c.bytes, bytes)) return c.manifest;
    }
    const m = core.VerifiedManifest.fromBytesOf(bytes, this.#owner);
    if (m.recordId !== this.recordId || (version !== "latest" && m.version !== version)) {
      m.free();
      throw new SesphrError("binding_mismatch", "the storage server answered with another record's or version's manifest");
    }
    // Other bytes at a version seen before (a fork) replace them; whoever
    // holds the old object keeps it (the finalizer frees it).
    this.#verified.set(m.version, { bytes, manifest: m });
    return m;
  }

  /** @internal The owner-signed chain from `from` to `latest` (a VerifiedManifest). */
  async chain(from, latest) {
    const at = async (version) => {
      const m = await this.manifest(version);
      if (!m) throw new SesphrError("chain_broken", `the storage server has no version ${version} of this record`);
      return m;
    };
    const chain = new core.ManifestChain(from === latest.version ? latest : await at(from));
    try {
      for (let v = from + 1; v < latest.version; v++) chain.push(await at(v));
      if (from < latest.version) chain.push(latest);
      return chain;
    } catch (e) {
      chain.free();
      throw e;
    }
  }

  /**
   * The bodies a section had, oldest first, up to the version the SRS
   * witnessed: `[{version, readable}]` (`readable`: one of this reader's
   * grants covers it). Read one with `reader.open(section, {version})`.
   */
  async history(section) {
    const sectionId = typeof section === "string" ? section : section.sectionId;
    const { head, latest, version } = await this.#reader.freshest(this);
    let chain;
    try {
      chain = await this.chain(1, latest);
      return this.#inner.history(sectionId, chain).filter((h) => h.version <= version);
    } finally {
      free(chain, head);
    }
  }

  /** Deletes the `foreign` items from the reader's inbox at the relay; returns the ids deleted. */
  async clearForeign() {
    const cleared = [];
    for (const id of this.foreign) {
      if (await this.#reader.client.clearInboxItem(this.#reader.identity, id)) cleared.push(id);
    }
    this.foreign = this.foreign.filter((id) => !cleared.includes(id));
    return cleared;
  }

  /** Frees the wasm state. */
  free() {
    for (const { manifest } of this.#verified.values()) manifest.free();
    this.#verified.clear();
    this.#owner.free();
    this.#inner.free();
  }
}

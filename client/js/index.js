// SeSPHR client: the high-level API over the wasm protocol core.
//
// Everything secret (seeds, section secrets, shares, data keys) stays inside
// wasm memory; this layer only moves ciphertext and signed objects between
// the wasm core and the servers with `fetch`. See README.md for a tour.

import initWasm, * as core from "./sesphr.js";
import { SesphrError, guard, rethrow } from "./errors.js";
import { concat, openStream, partLength, sealBody } from "./body.js";

export { SesphrError };

// ------------------------------------------------------------------ setup

let ready;

/**
 * Loads the wasm module once. In browsers and bundlers it fetches
 * `sesphr_bg.wasm` beside this file; in Node it reads it from disk. Pass
 * bytes, a `Response`, a URL or a `WebAssembly.Module` to load it yourself.
 */
export function init(source) {
  if (!ready) {
    ready = (async () => {
      let input = source;
      if (input === undefined && typeof process === "object" && process.versions?.node) {
        const { readFile } = await import("node:fs/promises");
        input = await readFile(new URL("./sesphr_bg.wasm", import.meta.url));
      }
      await initWasm(input === undefined ? undefined : { module_or_path: input });
    })().catch((e) => {
      ready = undefined;
      rethrow(e);
    });
  }
  return ready;
}

/** Whether bulk encryption runs on the browser's WebCrypto (else pure wasm, slower). */
export function webCryptoAvailable() {
  return core.webCryptoAvailable();
}

/** The standard section names, in display order. */
export function standardSections() {
  return core.standardSections();
}

/** The sections a role preset covers (`family`, `physician`, `insurer`, …). */
export function roleSections(role) {
  return guard(() => core.roleSections(role));
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (s) => {
  if (typeof s !== "string" || s.length % 2 || /[^0-9a-f]/i.test(s)) {
    throw new SesphrError("invalid_argument", "expected a hex string");
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
};
export { hex as toHex, unhex as fromHex };

// ------------------------------------------------------------------ identity

/** A party: seed and keys, kept inside wasm. Call `free()` when done. */
export class Identity {
  #inner;
  constructor(inner) {
    this.#inner = inner;
  }
  /** A new identity from a fresh random seed. */
  static generate() {
    return new Identity(guard(() => core.Identity.generate()));
  }
  /** An identity from its 32-byte seed. */
  static fromSeed(seed) {
    return new Identity(guard(() => core.Identity.fromSeed(seed)));
  }
  /** Opens a seed wrapped by `wrap()`; a wrong passphrase throws `decryption_failed`. */
  static unwrap(wrapped, passphrase) {
    return new Identity(guard(() => core.Identity.unwrap(wrapped, passphrase)));
  }
  /** The party id (64 hex characters). */
  get id() {
    return this.#inner.id;
  }
  /** The fingerprint to compare out of band. */
  get fingerprint() {
    return this.#inner.fingerprint;
  }
  /** The 66-byte public identity (signing key ‖ encryption key). */
  get publicKey() {
    return this.#inner.publicKey;
  }
  /** The seed wrapped under a passphrase (Argon2id, 64 MiB by default). */
  wrap(passphrase, cost) {
    return guard(() => this.#inner.wrap(passphrase, cost));
  }
  /** The raw seed: only for the owner's own backup. */
  exportSeed() {
    return this.#inner.exportSeed();
  }
  /** Wipes the keys from wasm memory. */
  free() {
    this.#inner.free();
  }
  /** @internal */
  get core() {
    return this.#inner;
  }
}

/** The Argon2id cost a wrapped seed asks for. */
export function wrappedSeedCost(wrapped) {
  return guard(() => core.wrappedSeedCost(wrapped));
}

// ------------------------------------------------------------------ HTTP

async function failure(resp) {
  let code = "http_" + resp.status;
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (typeof body.code === "string") code = body.code;
    if (typeof body.message === "string") message = body.message;
  } catch {
    // not JSON: keep the status
  }
  return new SesphrError(code, message, { status: resp.status });
}

/**
 * A connection to a SeSPHR deployment (relay + SRS). `srsFingerprint`, when
 * given, pins the SRS: `connect()` refuses any other.
 */
export class Client {
  constructor({ baseUrl, srsUrl, srsFingerprint, fetch: f } = {}) {
    const here = typeof location === "object" ? location.origin : undefined;
    this.baseUrl = (baseUrl ?? here ?? "").replace(/\/$/, "");
    this.srsUrl = (srsUrl ?? this.baseUrl).replace(/\/$/, "");
    this.pinned = srsFingerprint;
    this.fetch = f ?? globalThis.fetch.bind(globalThis);
    this.srs = undefined;
  }

  /** Fetches (and checks the pin of) the SRS identity. */
  async connect() {
    await init();
    const info = await this.json("GET", `${this.srsUrl}/srs/v1/info`);
    const publicKey = unhex(info.publicKey);
    const party = guard(() => core.describePublicKey(publicKey));
    if (this.pinned && party.fingerprint !== this.pinned) {
      throw new SesphrError(
        "srs_mismatch",
        `the SRS fingerprint ${party.fingerprint} is not the pinned ${this.pinned}`,
      );
    }
    this.srs = { ...party, encryptionKey: publicKey.slice(33) };
    return this.srs;
  }

  /** @internal One request; non-2xx becomes a SesphrError with the server's code. */
  async send(method, url, { body, type, token, headers = {}, signal } = {}) {
    const h = { ...headers };
    if (type) h["content-type"] = type;
    if (token) h["x-sesphr-token"] = hex(token);
    let resp;
    try {
      resp = await this.fetch(url, { method, body, headers: h, signal });
    } catch (e) {
      throw new SesphrError("network", `cannot reach ${new URL(url).host}: ${e.message}`, { cause: e });
    }
    if (!resp.ok) throw await failure(resp);
    return resp;
  }
  /** @internal */
  async json(method, url, options) {
    return (await this.send(method, url, options)).json();
  }
  /** @internal */
  async bytes(method, url, options) {
    return new Uint8Array(await (await this.send(method, url, options)).arrayBuffer());
  }
  /** @internal */
  postBytes(url, bytes) {
    return this.send("POST", url, { body: bytes, type: "application/octet-stream" });
  }
  /** @internal */
  postJson(url, value) {
    return this.send("POST", url, { body: JSON.stringify(value), type: "application/json" });
  }

  /** Publishes an identity in the SRS directory (idempotent). */
  async register(identity) {
    await this.postBytes(`${this.srsUrl}/srs/v1/directory`, identity.core.directoryEntry(Date.now()));
  }

  /** Looks a party up in the directory: `{id, fingerprint, publicKey}`. */
  async lookup(partyId) {
    const entry = await this.bytes("GET", `${this.srsUrl}/srs/v1/directory/${partyId}`);
    const party = guard(() => core.verifyDirectoryEntry(entry));
    if (party.id !== partyId) throw new SesphrError("binding_mismatch", "the directory answered for another party");
    return party;
  }

  /** Stores a blob (bytes or Blob) under its SHA-256 id. */
  async putBlob(identity, id, length, body) {
    const subject = new Uint8Array(40);
    subject.set(unhex(id));
    new DataView(subject.buffer).setBigUint64(32, BigInt(length));
    const token = guard(() => core.signToken(identity.core, "uploadBlob", subject, Date.now()));
    await this.send("PUT", `${this.baseUrl}/v1/blobs/${id}`, {
      body,
      token,
      type: "application/octet-stream",
    });
  }

  /** A blob or a byte range of it (`[offset, length]`) as a `Response`. */
  getBlob(id, range, signal) {
    const headers = range ? { range: `bytes=${range[0]}-${range[0] + range[1] - 1}` } : {};
    return this.send("GET", `${this.baseUrl}/v1/blobs/${id}`, { headers, signal });
  }

  /** @internal The manifest of `version` (or the latest), or undefined if none. */
  async manifest(recordId, version = "latest") {
    try {
      return await this.bytes("GET", `${this.baseUrl}/v1/records/${recordId}/manifests/${version}`);
    } catch (e) {
      if (e.code === "not_found") return undefined;
      throw e;
    }
  }
}

// ------------------------------------------------------------------ bodies

/** Fetches a body's chunk index and blob and opens it as it streams in. */
async function* openBody(client, entry, dataKey, { onProgress, signal } = {}) {
  const index = await client.bytes("GET", `${client.baseUrl}/v1/blobs/${entry.indexId}`, { signal });
  const resp = await client.getBlob(entry.blobId, undefined, signal);
  yield* openStream(resp.body, entry, index, dataKey, { onProgress });
}

/** The first `n` plaintext bytes of a body, fetching only the chunks they need. */
async function bodyPrefix(client, entry, dataKey, n) {
  const index = await client.bytes("GET", `${client.baseUrl}/v1/blobs/${entry.indexId}`);
  const headerLength = core.blobHeaderLength();
  const header = await (await client.getBlob(entry.blobId, [0, headerLength])).arrayBuffer();
  const dec = guard(() => new core.SectionDecryptor(new Uint8Array(header), dataKey, index, entry.chunkRoot));
  try {
    const pieces = [];
    let have = 0;
    for (let i = 0; i < dec.chunkCount && have < n; i++) {
      const sealed = new Uint8Array(await (await client.getBlob(entry.blobId, dec.chunkRange(i))).arrayBuffer());
      const plain = guard(() => dec.openChunk(i, sealed));
      pieces.push(plain);
      have += plain.length;
    }
    return { bytes: concat(pieces).subarray(0, n), bodyLength: dec.bodyLength };
  } finally {
    dec.free();
  }
}

// ------------------------------------------------------------------ documents

// A section body as the portal writes it: u32 length ‖ JSON ‖ attachments.
// The JSON is {name, fields, text, fhir, attachments: [{name, type, size}]};
// attachment i starts where attachment i−1 ends.

const DOC_PREFIX = 64 * 1024;

function encodeDocument(doc) {
  const json = new TextEncoder().encode(JSON.stringify(doc));
  const out = new Uint8Array(4 + json.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  return out;
}

function decodeDocument(bytes) {
  if (bytes.length < 4) throw new SesphrError("malformed", "section body too short");
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  if (bytes.length < 4 + n) return { need: 4 + n };
  try {
    const doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(4, 4 + n)));
    if (typeof doc !== "object" || doc === null || typeof doc.name !== "string") throw new Error("no name");
    doc.attachments = Array.isArray(doc.attachments) ? doc.attachments : [];
    let at = 4 + n;
    for (const a of doc.attachments) {
      a.offset = at;
      at += a.size;
    }
    return { doc };
  } catch (e) {
    throw new SesphrError("malformed", `the section document does not parse: ${e.message}`);
  }
}

/** @internal Reads the document of a section body. */
async function readDocument(client, entry, dataKey) {
  let { bytes } = await bodyPrefix(client, entry, dataKey, DOC_PREFIX);
  let out = decodeDocument(bytes);
  if (out.need) {
    bytes = (await bodyPrefix(client, entry, dataKey, out.need)).bytes;
    out = decodeDocument(bytes);
  }
  return out.doc;
}

/** @internal The plaintext bytes [start, start+length) of a body, streamed. */
async function* bodySlice(client, entry, dataKey, start, length, options) {
  let at = 0;
  const end = start + length;
  // Reads the whole body, so its integrity is checked to the final chunk.
  for await (const piece of openBody(client, entry, dataKey, options)) {
    const s = Math.max(start - at, 0);
    const e = Math.min(end - at, piece.length);
    if (s < e) yield piece.subarray(s, e);
    at += piece.length;
  }
}

/** An opened section: its document and streamed attachments. */
export class OpenSection {
  constructor(client, entry, dataKey, doc, version) {
    this.client = client;
    this.entry = entry;
    this.dataKey = dataKey;
    this.document = doc;
    this.version = version;
  }
  /** The section's name (as its owner wrote it). */
  get name() {
    return this.document.name;
  }
  /** Streams attachment `i`'s plaintext as Uint8Array pieces. */
  attachment(i, options) {
    const a = this.document.attachments[i];
    if (!a) throw new SesphrError("invalid_argument", "no such attachment");
    return bodySlice(this.client, this.entry, this.dataKey, a.offset, a.size, options);
  }
  /** Attachment `i` as a Blob (decrypted chunk by chunk). */
  async attachmentBlob(i, options) {
    const a = this.document.attachments[i];
    const parts = [];
    let batch = [];
    for await (const piece of this.attachment(i, options)) {
      batch.push(piece.slice());
      if (batch.length >= 64) {
        parts.push(new Blob(batch));
        batch = [];
      }
    }
    return new Blob([...parts, ...batch], { type: a.type || "application/octet-stream" });
  }
  /** Wipes the data key. */
  close() {
    this.dataKey.free();
  }
}

// ------------------------------------------------------------------ owner

/** A patient: the owner of records. */
export class Patient {
  constructor(client, identity) {
    this.client = client;
    this.identity = identity;
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

  /** The `index`-th record, rebuilt from the relay's manifests and the SRS's grants; undefined if none. */
  #recordId(index) {
    const probe = new core.OwnerRecord(this.identity.core, index);
    const recordId = probe.recordId;
    probe.free();
    return recordId;
  }

  async openRecord(index) {
    const recordId = this.#recordId(index);
    const latest = await this.client.manifest(recordId);
    if (!latest) return undefined;
    const view = guard(() => core.verifyManifest(latest, this.identity.publicKey));
    const manifests = [];
    for (let v = 1; v < view.version; v++) manifests.push(await this.client.manifest(recordId, v));
    manifests.push(latest);
    const grants = await this.#grantRows(recordId);
    const inner = guard(() =>
      core.OwnerRecord.restore(this.identity.core, index, manifests, grants, Date.now()),
    );
    const rec = new PatientRecord(this, inner);
    await rec.loadNames();
    return rec;
  }

  /** Creates the next record (an empty version 1, published at relay and SRS). */
  async createRecord() {
    // The first index without a manifest (no need to rebuild the others).
    let index = 0;
    while (await this.client.manifest(this.#recordId(index))) index++;
    const rec = new PatientRecord(this, new core.OwnerRecord(this.identity.core, index));
    await rec.publish();
    return rec;
  }

  async #grantRows(recordId) {
    const token = guard(() => core.signToken(this.identity.core, "listGrants", unhex(recordId), Date.now()));
    const rows = await this.client.json("GET", `${this.client.srsUrl}/srs/v1/records/${recordId}/grants`, { token });
    return rows.map((r) => ({ statement: unhex(r.statement), revoked: r.revoked }));
  }
  /** @internal */
  grantRows(recordId) {
    return this.#grantRows(recordId);
  }
}

/** One of the patient's records. */
export class PatientRecord {
  #inner;
  constructor(patient, inner) {
    this.patient = patient;
    this.client = patient.client;
    this.identity = patient.identity;
    this.#inner = inner;
    this.names = new Map(); // sectionId -> name
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

  /** @internal Names the sections: standard names by id, others from their documents. */
  async loadNames() {
    const known = new Map(standardSections().map((n) => [this.sectionId(n), n]));
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

  async #ownDocument(s) {
    const dk = guard(() => this.#inner.dataKey(this.identity.core, s.sectionId));
    try {
      return await readDocument(this.client, s.entry, dk);
    } finally {
      dk.free();
    }
  }

  /** Opens one of the owner's own sections. */
  async open(name) {
    const s = this.#inner.sections().find((x) => x.sectionId === this.sectionId(name) && x.entry);
    if (!s) throw new SesphrError("no_such_section", `no section named ${name}`);
    const dk = guard(() => this.#inner.dataKey(this.identity.core, s.sectionId));
    const doc = await readDocument(this.client, s.entry, dk);
    return new OpenSection(this.client, s.entry, dk, doc, this.version);
  }

  async #deliver(issued) {
    await this.client.postJson(`${this.client.srsUrl}/srs/v1/grants`, {
      statement: hex(issued.statement),
      b2Envelope: hex(issued.b2Envelope),
    });
    await this.client.postJson(`${this.client.baseUrl}/v1/inbox`, {
      statement: hex(issued.statement),
      b1Envelope: hex(issued.b1Envelope),
    });
  }

  /** @internal Signs and publishes the next manifest (relay, then the SRS head). */
  async publish() {
    const m = guard(() => this.#inner.signManifest(this.identity.core, Date.now()));
    await this.client.postBytes(`${this.client.baseUrl}/v1/records/${this.recordId}/manifests`, m);
    const head = await (await this.client.postBytes(`${this.client.srsUrl}/srs/v1/heads`, m)).arrayBuffer();
    guard(() => core.checkHead(new Uint8Array(head), this.client.srs.publicKey, m, 0));
    guard(() => this.#inner.published(m));
    return this.version;
  }

  /**
   * Writes sections as the next version. Each update is `{name, fields?,
   * text?, fhir?, files?: (Blob|{name,type,bytes})[], keep?: number[]}`:
   * `keep` carries attachments of the current version over (re-encrypted as
   * they stream through). Returns the new version.
   */
  async write(updates, { onProgress } = {}) {
    const srsKey = this.client.srs.encryptionKey;
    const version = this.#inner.nextVersion;
    const total = { done: 0, of: 0 };
    const prepared = [];
    for (const u of updates) {
      const parts = [];
      const attachments = [];
      if (u.keep?.length) {
        const old = await this.open(u.name);
        for (const i of u.keep) {
          const a = old.document.attachments[i];
          if (!a) throw new SesphrError("invalid_argument", `no attachment ${i} in ${u.name}`);
          attachments.push({ name: a.name, type: a.type, size: a.size });
          const stream = old.attachment(i);
          parts.push({ length: a.size, [Symbol.asyncIterator]: () => stream });
        }
        prepared.push(() => old.close());
      }
      for (const f of u.files ?? []) {
        const isBlob = typeof Blob !== "undefined" && f instanceof Blob;
        const blob = f instanceof Uint8Array || isBlob ? f : f.bytes;
        if (!(blob instanceof Uint8Array) && !isBlob) {
          throw new SesphrError("invalid_argument", "a file is a Blob, a Uint8Array or {name, type, bytes}");
        }
        attachments.push({ name: f.name ?? "attachment", type: f.type ?? "", size: partLength(blob) });
        parts.push(blob);
      }
      const doc = { name: u.name, fields: u.fields ?? {}, text: u.text ?? "", fhir: u.fhir ?? [], attachments };
      parts.unshift(encodeDocument(doc));
      total.of += parts.reduce((n, p) => n + partLength(p), 0);
      u.parts = parts;
    }
    try {
      for (const u of updates) {
        const sid = this.sectionId(u.name);
        const { key, reissued } = guard(() => this.#inner.keyForWrite(this.identity.core, srsKey, sid, Date.now()));
        try {
          for (const g of reissued) await this.#deliver(g);
          const base = total.done;
          const sealed = await sealBody(key, version, u.parts, { onProgress: (d) => onProgress?.(base + d, total.of) });
          total.done += sealed.entry.blobLength;
          await this.client.putBlob(this.identity, sealed.entry.blobId, sealed.entry.blobLength, sealed.blob);
          await this.client.putBlob(this.identity, sealed.entry.indexId, sealed.chunkIndex.length, sealed.chunkIndex);
          guard(() => this.#inner.setEntry(sealed.entry));
          this.names.set(sid, u.name);
        } finally {
          key.free();
        }
      }
    } finally {
      prepared.forEach((close) => close());
    }
    return this.publish();
  }

  /**
   * Shares sections with a party: `{grantee: {publicKey} | partyId, sections
   * (names) or role, role?, history: "all" | "fromNow", expiresAt?}`.
   * Returns the new grant ids.
   */
  async share({ grantee, sections, role = "custom", history = "all", expiresAt }) {
    const party = typeof grantee === "string" ? await this.client.lookup(grantee) : grantee;
    const names = sections ?? roleSections(role);
    if (!names.length) throw new SesphrError("invalid_argument", "no sections to share");
    const fromVersion = history === "fromNow" ? this.#inner.nextVersion : 0;
    const ids = [];
    for (const name of names) {
      const out = guard(() =>
        this.#inner.grant(this.identity.core, this.client.srs.encryptionKey, this.sectionId(name), {
          grantee: party.publicKey,
          role,
          fromVersion,
          expiresAt,
        }),
      );
      for (const g of out.reissued) await this.#deliver(g);
      await this.#deliver(out.grant);
      ids.push(out.grant.grantId);
      this.names.set(this.sectionId(name), name);
    }
    return ids;
  }

  /** Every grant the SRS holds for this record, newest last, with `revoked`. */
  async grants() {
    const rows = await this.patient.grantRows(this.recordId);
    return rows.map((r) => ({
      ...guard(() => core.verifyGrant(r.statement)),
      revoked: r.revoked,
      statement: r.statement,
      sectionName: undefined,
    })).map((g) => ({ ...g, sectionName: this.names.get(g.sectionId) ?? g.sectionId }));
  }

  /** The live grants this device knows (what `revoke` can act on). */
  liveGrants() {
    return this.#inner.grants().map((g) => ({ ...g, sectionName: this.names.get(g.sectionId) ?? g.sectionId }));
  }

  /** Revokes grants (by id) at the SRS; effective once its signed receipt verifies. */
  async revoke(grantIds) {
    const live = this.#inner.grants();
    for (const id of [].concat(grantIds)) {
      const g = live.find((x) => x.grantId === id);
      if (!g) throw new SesphrError("not_found", `no live grant ${id}`);
      const rev = guard(() => core.signRevocation(this.identity.core, g.statement));
      const receipt = await this.client.bytes("POST", `${this.client.srsUrl}/srs/v1/revocations`, {
        body: rev,
        type: "application/octet-stream",
      });
      guard(() => core.verifyRevocationReceipt(receipt, this.client.srs.publicKey, rev, g.statement));
      guard(() => this.#inner.revoked(id));
    }
  }

  /** Revokes every live grant of a party. */
  async revokeParty(partyId) {
    const ids = this.#inner.grants().filter((g) => g.grantee.id === partyId).map((g) => g.grantId);
    await this.revoke(ids);
    return ids;
  }

  /** Moves a section to a fresh epoch at its next write. */
  rotate(name) {
    guard(() => this.#inner.rotate(this.sectionId(name)));
  }

  /** The audit log of this record: `[{index, timestamp, granteeId, sectionName, version, decision}]`. */
  async audit() {
    const token = guard(() => core.signToken(this.identity.core, "readAudit", unhex(this.recordId), Date.now()));
    const out = await this.client.json("GET", `${this.client.srsUrl}/srs/v1/records/${this.recordId}/audit`, { token });
    return out.entries.map(([index, entry]) => {
      const e = guard(() => core.describeAuditEntry(unhex(entry)));
      return { index, ...e, sectionName: this.names.get(e.sectionId) ?? e.sectionId };
    });
  }

  /** Frees the wasm state. */
  free() {
    this.#inner.free();
  }
}

// ------------------------------------------------------------------ reader

/** A reader: someone records were shared with. */
export class Reader {
  constructor(client, identity, { highWater } = {}) {
    this.client = client;
    this.identity = identity;
    // recordId -> highest version seen; persist it to refuse rollbacks across sessions.
    this.highWater = highWater ?? new Map();
  }

  /**
   * What was shared with this reader, from the inbox: `[{recordId, owner,
   * sections: [{recordId, owner, sectionId, role, fromVersion, expiresAt,
   * grants}]}]` (a section's grants, oldest first: rotations re-issue them).
   */
  async sharedWithMe() {
    const token = guard(() => core.signToken(this.identity.core, "readInbox", new Uint8Array(0), Date.now()));
    const items = await this.client.json("GET", `${this.client.baseUrl}/v1/inbox`, { token });
    const records = new Map();
    for (const item of items) {
      const statement = unhex(item.statement);
      const g = guard(() => core.verifyGrant(statement));
      if (g.grantee.id !== this.identity.id) continue;
      const r = records.get(g.recordId) ?? { recordId: g.recordId, owner: g.owner, sections: [] };
      records.set(g.recordId, r);
      let s = r.sections.find((x) => x.sectionId === g.sectionId);
      if (!s) {
        s = { recordId: g.recordId, owner: g.owner, sectionId: g.sectionId, grants: [] };
        r.sections.push(s);
      }
      s.grants.push({ ...g, statement, b1Envelope: unhex(item.b1Envelope) });
      s.grants.sort((a, b) => a.sequence - b.sequence);
      const newest = s.grants[s.grants.length - 1];
      Object.assign(s, {
        role: newest.role,
        fromVersion: newest.fromVersion,
        expiresAt: newest.expiresAt,
      });
    }
    return [...records.values()];
  }

  /**
   * Opens a shared section (from `sharedWithMe`) at the record's latest
   * version: asks the SRS (through the relay) to re-encrypt, verifies its
   * proof, audit receipt and head, and reads the section's document.
   * Refusals throw with the SRS's code (`revoked`, `expired`,
   * `before_from_version`, …).
   */
  async open(section) {
    const latest = await this.client.manifest(section.recordId);
    if (!latest) throw new SesphrError("not_found", "the record has no manifest");
    const view = guard(() => core.verifyManifest(latest, section.owner.publicKey));
    const entry = view.entries.find((e) => e.sectionId === section.sectionId);
    if (!entry) throw new SesphrError("no_such_section", "nothing has been written in this section yet");
    // The grant of the epoch the latest body was written in (newest first).
    const grant = [...section.grants].reverse().find((g) => g.epochId === entry.epochId);
    if (!grant) {
      throw new SesphrError(
        "before_from_version",
        "nothing readable yet: this section was shared from now on and has not been written since",
      );
    }
    const share = guard(() => new core.GrantShare(this.identity.core, grant.statement, grant.b1Envelope, latest));
    try {
      const request = guard(() => share.request(this.identity.core, view.version));
      const sealed = guard(() => new core.SealedRequest(this.client.srs.encryptionKey, request));
      try {
        const reply = await this.client.bytes("POST", `${this.client.baseUrl}/v1/reencrypt`, {
          body: sealed.bytes,
          type: "application/octet-stream",
        });
        const answer = guard(() => sealed.openAnswer(reply));
        const high = this.highWater.get(section.recordId) ?? 0;
        const dk = guard(() => share.dataKey(answer, this.client.srs.publicKey, request, latest, high));
        this.highWater.set(section.recordId, Math.max(high, view.version));
        try {
          const doc = await readDocument(this.client, entry, dk);
          return new OpenSection(this.client, entry, dk, doc, view.version);
        } catch (e) {
          dk.free();
          throw e;
        }
      } finally {
        sealed.free();
      }
    } finally {
      share.free();
    }
  }
}

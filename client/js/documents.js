// Section documents as the portal and this package write them, and the
// reading of a body: its document from the first chunks only, attachments
// streamed chunk by chunk (protocol.md, "Section documents").
//
// Format 2 (written since attachments became their own blobs): a body is
// u32 length ‖ JSON ‖ one 32-byte file key per attachment, and the JSON
// {format: 2, name, fields, text, fhir, attachments: [{name, type, size,
// root, index, length}]} says where each attachment's blob is (its chunk
// root is its address) and which root it must have.
// Format 1 (older bodies, still read): u32 length ‖ JSON ‖ attachments,
// attachment i starting where attachment i−1 ends.

import { core, fromHex } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { concat, openAttachmentStream, openStream } from "./body.js";

const DOC_PREFIX = 64 * 1024;
/** The document format this package writes. */
export const DOCUMENT_FORMAT = 2;
const KEY_LENGTH = 32;

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v);
const isSize = (v) => Number.isSafeInteger(v) && v >= 0;

/**
 * @internal Checks a section document's keys and types (protocol.md,
 * "Section documents"), filling the optional ones it lacks; `bad(why)` makes
 * the error to throw. An unknown `format` is `unknown_version`.
 */
export function checkDocument(doc, bad) {
  if (!isObject(doc)) throw bad("is not a JSON object");
  doc.format ??= 1;
  if (doc.format !== 1 && doc.format !== 2) {
    throw new SesphrError("unknown_version", "the section document has a format this package does not know (a newer client wrote it)");
  }
  if (typeof doc.name !== "string") throw bad("has no name");
  doc.fields ??= {};
  if (!isObject(doc.fields) || !Object.values(doc.fields).every((v) => typeof v === "string")) {
    throw bad("has fields that are not strings");
  }
  doc.text ??= "";
  if (typeof doc.text !== "string") throw bad("has a text that is not a string");
  doc.fhir ??= [];
  if (!Array.isArray(doc.fhir) || !doc.fhir.every(isObject)) throw bad("has FHIR resources that are not objects");
  doc.attachments ??= [];
  if (!Array.isArray(doc.attachments)) throw bad("has attachments that are not a list");
  for (const a of doc.attachments) {
    if (!isObject(a) || typeof a.name !== "string" || typeof a.type !== "string" || !isSize(a.size)) {
      throw bad("has an attachment without a name, type and size");
    }
    if (doc.format === 2 && (!isId(a.root) || !isId(a.index) || !isSize(a.length))) {
      throw bad("has a stored attachment without its root, index and length");
    }
    if (a.placement !== undefined && (typeof a.placement !== "string" || !/^([0-9a-f]{2}){17,3413}$/.test(a.placement))) {
      throw bad("has an attachment whose placement is not a sealed placement in hex");
    }
  }
  return doc;
}

/**
 * @internal The document's bytes: `u32 length ‖ JSON`, then (format 2) the
 * attachments' file keys in order (32 bytes each). Wipe it once sealed.
 */
export function encodeDocument(doc, keys = []) {
  const json = new TextEncoder().encode(JSON.stringify(doc));
  const out = new Uint8Array(4 + json.length + KEY_LENGTH * keys.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  keys.forEach((k, i) => {
    const bytes = k.documentBytes();
    out.set(bytes, 4 + json.length + KEY_LENGTH * i);
    bytes.fill(0);
  });
  return out;
}

/**
 * @internal Decodes the document at the start of a body of `bodyLength`
 * bytes: `{doc, keys}` (keys: one core AttachmentKey per attachment of a
 * format-2 document, owned by the caller), or `{need}` if `bytes` is too
 * short.
 */
export function decodeDocument(bytes, bodyLength) {
  if (bytes.length < 4) throw new SesphrError("malformed", "section body too short");
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  if (4 + n > bodyLength) throw new SesphrError("malformed", "the section document is longer than the body");
  if (bytes.length < 4 + n) return { need: 4 + n };
  let doc;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(4, 4 + n)));
  } catch (e) {
    throw new SesphrError("malformed", `the section document does not parse: ${e.message}`);
  }
  checkDocument(doc, (why) => new SesphrError("malformed", `the section document ${why}`));
  let at = 4 + n;
  if (doc.format === 2) {
    const end = at + KEY_LENGTH * doc.attachments.length;
    if (end !== bodyLength) {
      throw new SesphrError("malformed", `the section document lists ${doc.attachments.length} attachment keys in a body that holds ${bodyLength - at} bytes after it`);
    }
    if (bytes.length < end) return { need: end };
    const keys = [];
    try {
      for (let i = 0; i < doc.attachments.length; i++) keys.push(core.AttachmentKey.fromBytes(bytes.subarray(at + KEY_LENGTH * i, at + KEY_LENGTH * (i + 1))));
    } catch (e) {
      keys.forEach((k) => k.free());
      throw e;
    }
    return { doc, keys };
  }
  for (const a of doc.attachments) {
    a.offset = at;
    at += a.size;
  }
  if (at !== bodyLength) {
    throw new SesphrError("malformed", `the section document lists ${at - 4 - n} bytes of attachments in a body that holds ${bodyLength - 4 - n}`);
  }
  return { doc, keys: [] };
}

/** A blob a verified manifest or document names that the relay no longer has. */
function missing(e, what) {
  if (e?.status !== 404) return e;
  return new SesphrError(
    "pruned",
    `The storage server no longer has ${what}: the owner pruned this version (or the server lost it).`,
    { status: 404 },
  );
}

/** @internal Fetches a blob (a Response) or its chunk index (bytes); a 404 is `pruned`. */
async function fetched(promise, what) {
  try {
    return await promise;
  } catch (e) {
    throw missing(e, what);
  }
}

/** Fetches a body's chunk index and blob and opens it as it streams in. */
async function* openBody(client, entry, dataKey, { onProgress, signal } = {}) {
  if (entry.placement) {
    const { index, stream } = await sharded(client, entry, dataKey, signal);
    yield* openStream(stream, entry, index, dataKey, { onProgress });
    return;
  }
  const index = await fetched(client.bytes("GET", `${client.baseUrl}/v1/blobs/${entry.indexId}`, { signal }), "this section body");
  const resp = await fetched(client.getBlob(entry.blobId, undefined, signal), "this section body");
  yield* openStream(resp.body, entry, index, dataKey, { onProgress });
}

/** The first `n` plaintext bytes of a body, fetching only the chunks they need. */
/** A sharded body (its entry carries a sealed placement): its chunk index and blob stream, from the relay set. */
function sharded(client, entry, dataKey, signal) {
  if (!client.relaySet) {
    throw new SesphrError("unavailable", "This section is spread over several storage servers: connect with their list (relays) to read it.");
  }
  return client.relaySet.open(entry, dataKey, { signal });
}

/** The first `n` plaintext bytes of a sharded body: stripes decoded until its chunks cover them. */
async function shardedPrefix(client, entry, dataKey, n) {
  const { index, stream } = await sharded(client, entry, dataKey);
  const reader = stream.getReader();
  const headerLength = core.blobHeaderLength();
  let buf = new Uint8Array(0);
  const take = async (len) => {
    while (buf.length < len) {
      const { value, done } = await reader.read();
      if (done) throw new SesphrError("truncated", "the section body ended early");
      buf = concat([buf, value]);
    }
    const out = buf.subarray(0, len);
    buf = buf.subarray(len);
    return out;
  };
  const dec = new core.SectionDecryptor(await take(headerLength), dataKey, index, entry.chunkRoot);
  try {
    return await prefixOf(dec, (i) => take(dec.chunkRange(i)[1]), n);
  } finally {
    reader.cancel().catch(() => {});
  }
}

async function bodyPrefix(client, entry, dataKey, n) {
  if (entry.placement) return shardedPrefix(client, entry, dataKey, n);
  const what = "this version of the section";
  const index = await fetched(client.bytes("GET", `${client.baseUrl}/v1/blobs/${entry.indexId}`), what);
  const headerLength = core.blobHeaderLength();
  const header = await (await fetched(client.getBlob(entry.blobId, [0, headerLength]), what)).arrayBuffer();
  const dec = new core.SectionDecryptor(new Uint8Array(header), dataKey, index, entry.chunkRoot);
  const sealed = async (i) => new Uint8Array(await (await fetched(client.getBlob(entry.blobId, dec.chunkRange(i)), what)).arrayBuffer());
  return prefixOf(dec, sealed, n);
}

/** Opens chunks (`sealed(i)` gives chunk i's bytes) until `n` plaintext bytes are out; frees `dec`. */
async function prefixOf(dec, sealed, n) {
  try {
    const pieces = [];
    let have = 0;
    for (let i = 0; i < dec.chunkCount && have < n; i++) {
      const plain = dec.openChunk(i, await sealed(i));
      pieces.push(plain);
      have += plain.length;
    }
    const bytes = concat(pieces);
    pieces.forEach((p) => p.fill(0));
    return { bytes, bodyLength: dec.bodyLength };
  } finally {
    dec.free();
  }
}

/** @internal Reads the document of a section body: `{doc, keys}` (free the keys). */
export async function readDocument(client, entry, dataKey) {
  let { bytes, bodyLength } = await bodyPrefix(client, entry, dataKey, DOC_PREFIX);
  try {
    let out = decodeDocument(bytes, bodyLength);
    if (out.need) {
      bytes.fill(0);
      bytes = (await bodyPrefix(client, entry, dataKey, out.need)).bytes;
      out = decodeDocument(bytes, bodyLength);
    }
    return out;
  } finally {
    // The keys are in wasm now; the plaintext copy goes.
    bytes.fill(0);
  }
}

/** The plaintext bytes [start, start+length) of a body, streamed. */
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

/** A stored attachment's plaintext, streamed and checked against the root its document lists. */
async function* storedAttachment(client, recordId, sectionId, a, key, { onProgress, signal } = {}) {
  const what = `the attachment ${a.name}`;
  if (a.placement) {
    if (!client.relaySet) throw new SesphrError("unavailable", `${what} is spread over several storage servers: connect with their list (relays) to read it.`);
    const plan = key.openPlacement(recordId, sectionId, { chunkRoot: a.root, blobLength: a.length, indexId: a.index, placement: fromHex(a.placement) });
    const { index, stream } = await client.relaySet.openPlan(plan, { signal });
    let size = 0;
    for await (const piece of openAttachmentStream(stream, a, index, key, recordId, sectionId, { onProgress })) {
      size += piece.length;
      yield piece;
    }
    if (size !== a.size) throw new SesphrError("malformed", `the attachment ${a.name} holds ${size} bytes, its document says ${a.size}`);
    return;
  }
  const index = await fetched(client.bytes("GET", `${client.baseUrl}/v1/blobs/${a.index}`, { signal }), what);
  const resp = await fetched(client.getBlob(a.root, undefined, signal), what);
  let size = 0;
  for await (const piece of openAttachmentStream(resp.body, a, index, key, recordId, sectionId, { onProgress })) {
    size += piece.length;
    yield piece;
  }
  if (size !== a.size) throw new SesphrError("malformed", `the attachment ${a.name} holds ${size} bytes, its document says ${a.size}`);
}

/** An opened section: its document and streamed attachments. */
export class OpenSection {
  #keys;
  constructor(client, entry, dataKey, doc, version, { recordId, keys = [] } = {}) {
    this.client = client;
    this.entry = entry;
    this.dataKey = dataKey;
    this.document = doc;
    this.version = version;
    this.recordId = recordId;
    this.#keys = keys;
  }
  /** The section's name (as its owner wrote it). */
  get name() {
    return this.document.name;
  }
  /** @internal The file key of stored attachment `i` (a core AttachmentKey owned by this section). */
  attachmentKey(i) {
    return this.#keys[i];
  }
  /** Streams attachment `i`'s plaintext as Uint8Array pieces. */
  attachment(i, options) {
    const a = this.document.attachments[i];
    if (!a) throw new SesphrError("invalid_argument", "no such attachment");
    if (this.document.format === 2) {
      return storedAttachment(this.client, this.recordId, this.entry.sectionId, a, this.#keys[i], options);
    }
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
  /** Wipes the data key and the attachments' keys. */
  close() {
    this.dataKey.free();
    for (const k of this.#keys) k.free();
    this.#keys = [];
  }
}

/** @internal Reads the document at `entry` and returns it opened; frees the key if that fails. */
export async function openSection(client, entry, dataKey, version, recordId) {
  try {
    const { doc, keys } = await readDocument(client, entry, dataKey);
    return new OpenSection(client, entry, dataKey, doc, version, { recordId, keys });
  } catch (e) {
    dataKey.free();
    throw e;
  }
}

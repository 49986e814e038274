// Section documents as the portal and this package write them, and the
// reading of a body: its document from the first chunks only, attachments
// streamed chunk by chunk.
//
// A section body is u32 length ‖ JSON ‖ attachments. The JSON is {name,
// fields, text, fhir, attachments: [{name, type, size}]}; attachment i
// starts where attachment i−1 ends.

import { core } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { concat, openStream } from "./body.js";

const DOC_PREFIX = 64 * 1024;

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * @internal Checks a section document's keys and types (protocol.md,
 * "Section documents"), filling the optional ones it lacks; `bad(why)` makes
 * the error to throw.
 */
export function checkDocument(doc, bad) {
  if (!isObject(doc)) throw bad("is not a JSON object");
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
    if (!isObject(a) || typeof a.name !== "string" || typeof a.type !== "string" || !Number.isSafeInteger(a.size) || a.size < 0) {
      throw bad("has an attachment without a name, type and size");
    }
  }
  return doc;
}

/** @internal The document's bytes: `u32 length ‖ JSON`. */
export function encodeDocument(doc) {
  const json = new TextEncoder().encode(JSON.stringify(doc));
  const out = new Uint8Array(4 + json.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  return out;
}

/** @internal Decodes the document at the start of a body of `bodyLength` bytes ({need} if `bytes` is too short). */
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
  for (const a of doc.attachments) {
    a.offset = at;
    at += a.size;
  }
  if (at !== bodyLength) {
    throw new SesphrError("malformed", `the section document lists ${at - 4 - n} bytes of attachments in a body that holds ${bodyLength - 4 - n}`);
  }
  return { doc };
}

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
  const dec = new core.SectionDecryptor(new Uint8Array(header), dataKey, index, entry.chunkRoot);
  try {
    const pieces = [];
    let have = 0;
    for (let i = 0; i < dec.chunkCount && have < n; i++) {
      const sealed = new Uint8Array(await (await client.getBlob(entry.blobId, dec.chunkRange(i))).arrayBuffer());
      const plain = dec.openChunk(i, sealed);
      pieces.push(plain);
      have += plain.length;
    }
    return { bytes: concat(pieces).subarray(0, n), bodyLength: dec.bodyLength };
  } finally {
    dec.free();
  }
}

/** @internal Reads the document of a section body. */
export async function readDocument(client, entry, dataKey) {
  let { bytes, bodyLength } = await bodyPrefix(client, entry, dataKey, DOC_PREFIX);
  let out = decodeDocument(bytes, bodyLength);
  if (out.need) {
    bytes = (await bodyPrefix(client, entry, dataKey, out.need)).bytes;
    out = decodeDocument(bytes, bodyLength);
  }
  return out.doc;
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

/** @internal Reads the document at `entry` and returns it opened; frees the key if that fails. */
export async function openSection(client, entry, dataKey, version) {
  try {
    return new OpenSection(client, entry, dataKey, await readDocument(client, entry, dataKey), version);
  } catch (e) {
    dataKey.free();
    throw e;
  }
}

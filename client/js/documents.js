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

/** @internal The document's bytes: `u32 length ‖ JSON`. */
export function encodeDocument(doc) {
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
  let { bytes } = await bodyPrefix(client, entry, dataKey, DOC_PREFIX);
  let out = decodeDocument(bytes);
  if (out.need) {
    bytes = (await bodyPrefix(client, entry, dataKey, out.need)).bytes;
    out = decodeDocument(bytes);
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

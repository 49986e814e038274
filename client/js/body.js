// Section bodies as chunked streams: encryption from parts (bytes, Blobs,
// async iterables) to a Blob, and decryption from a ReadableStream, with
// memory bounded by the chunks in flight whatever the size.
//
// The framing (length prefix, padding, nonces, AAD, chunk order, Merkle
// checks) runs in the wasm core. Where `crypto.subtle` exists, each chunk's
// AES-256-GCM and its SHA-256 (from which the core takes the Merkle leaf)
// run on WebCrypto, WINDOW chunks at a time; elsewhere the core's own
// AES-GCM and SHA-256 do.

import * as core from "./sesphr.js";
import { SesphrError } from "./errors.js";

/** How many chunks may be in flight on WebCrypto at once. */
const WINDOW = 8;

/**
 * The chunk size the package writes: 256 KiB. In Chromium the per-call cost
 * of WebCrypto dominates at 64 KiB (the core's default); 256 KiB chunks
 * encrypted about 1.3x faster and 1 MiB ones no faster (docs/benchmarks.md).
 */
export const CHUNK_LOG2 = 18;

/** Sealed pieces gathered before they are handed to a Blob (browser storage). */
const BLOB_BATCH = 64;

/**
 * Reads a list of parts (Uint8Array, Blob, or async iterables of
 * Uint8Array) as one sequential byte stream, `n` bytes at a time.
 */
export class PartReader {
  constructor(parts) {
    this.parts = parts;
    this.i = 0;
    this.iter = undefined;
    this.buf = new Uint8Array(0);
  }
  async #more() {
    while (this.i < this.parts.length) {
      const p = this.parts[this.i];
      if (!this.iter) {
        if (p instanceof Uint8Array) this.iter = [p][Symbol.iterator]();
        else if (typeof Blob !== "undefined" && p instanceof Blob) this.iter = blobPieces(p);
        else this.iter = p[Symbol.asyncIterator]();
      }
      const { value, done } = await this.iter.next();
      if (!done) return value;
      this.iter = undefined;
      this.i++;
    }
    return undefined;
  }
  /** Up to `n` of the next bytes, at least one: a view of what one piece holds, never a copy. */
  async readSome(n) {
    if (this.buf.length === 0) {
      const piece = await this.#more();
      if (!piece) throw new SesphrError("length_mismatch", "the body is shorter than announced");
      this.buf = piece;
    }
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
  /** The next `n` bytes (a view when they lie in one piece). */
  async read(n) {
    if (this.buf.length >= n) {
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = this.buf.length;
    out.set(this.buf);
    this.buf = new Uint8Array(0);
    while (filled < n) {
      const piece = await this.#more();
      if (!piece) throw new SesphrError("length_mismatch", "the body is shorter than announced");
      const take = Math.min(n - filled, piece.length);
      out.set(piece.subarray(0, take), filled);
      filled += take;
      this.buf = piece.subarray(take);
    }
    return out;
  }
}

/** A Blob's bytes in pieces, the next piece read while this one is used. */
async function* blobPieces(blob, step = 4 << 20) {
  const read = (at) => (at < blob.size ? blob.slice(at, at + step).arrayBuffer() : undefined);
  let next = read(0);
  for (let at = 0; next; at += step) {
    const piece = await next;
    next = read(at + step);
    next?.catch(() => {});
    yield new Uint8Array(piece);
  }
}

/** The byte length of a part. */
export function partLength(p) {
  if (p instanceof Uint8Array) return p.length;
  if (typeof Blob !== "undefined" && p instanceof Blob) return p.size;
  if (typeof p.length === "number") return p.length;
  throw new SesphrError("invalid_argument", "a streamed part needs a known length");
}

/** One contiguous Uint8Array from pieces. */
export function concat(pieces) {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Collects output pieces into a Blob (browsers) or one Uint8Array (Node). */
export class Sink {
  constructor() {
    this.blobs = typeof Blob !== "undefined";
    this.out = [];
    this.batch = [];
  }
  push(piece) {
    this.batch.push(piece);
    if (this.blobs && this.batch.length >= BLOB_BATCH) {
      this.out.push(new Blob(this.batch));
      this.batch = [];
    }
  }
  finish(type) {
    if (!this.blobs) return concat([...this.out, ...this.batch]);
    return new Blob([...this.out, ...this.batch], type ? { type } : undefined);
  }
}

function useWebCrypto(option) {
  return option !== false && core.webCryptoAvailable();
}

function gcm(job) {
  return { name: "AES-GCM", iv: job.nonce, additionalData: job.aad, tagLength: 128 };
}

/** SHA-256 of a sealed chunk (the core turns it into the Merkle leaf). */
async function digestOf(sealed) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", sealed));
}

/** `prefix ‖ body ‖ zeros(padding)` as the frame lays it out. */
function plaintextOf(frame, body) {
  if (!frame.prefix && !frame.padding) return body;
  const pre = frame.prefix?.length ?? 0;
  const out = new Uint8Array(pre + body.length + frame.padding);
  if (pre) out.set(frame.prefix);
  out.set(body, pre);
  return out;
}

async function sealChunk(key, job, plaintext) {
  const sealed = new Uint8Array(await crypto.subtle.encrypt(gcm(job), key, plaintext));
  return { job, sealed, digest: await digestOf(sealed) };
}

async function openChunk(key, dec, i, sealed) {
  const digest = await digestOf(sealed);
  // The chunk is checked against the signed root before the key touches it.
  const job = dec.checkDigest(i, sealed.length, digest);
  try {
    return { job, plain: new Uint8Array(await crypto.subtle.decrypt(gcm(job), key, sealed)) };
  } catch {
    throw new SesphrError("decryption_failed", "decryption failed");
  }
}

/** Promises that run ahead, settled in order; no rejection goes unobserved. */
class Window {
  constructor() {
    this.queue = [];
  }
  get size() {
    return this.queue.length;
  }
  push(promise) {
    promise.catch(() => {});
    this.queue.push(promise);
  }
  next() {
    return this.queue.shift();
  }
}

/** The AbortSignal's reason as the package's error, if it fired. */
export function throwIfAborted(signal) {
  if (signal?.aborted) throw new SesphrError("aborted", "The operation was cancelled.");
}

/**
 * Runs an encryptor (a core SectionEncryptor or AttachmentEncryptor) over
 * parts of its exact length: `{blob, entry, chunkIndex}`, the ciphertext as
 * a Blob (spilled to disk by the browser when large; one Uint8Array in
 * Node) with what the manifest or section document lists and the chunk
 * index to store beside it. `onProgress(sealed, blobLength)` after each
 * chunk; `signal` stops it between chunks (`aborted`). Plaintext the
 * package assembled itself (chunk 0's prefix, padding) is wiped once sealed.
 */
async function sealWith(enc, parts, { onProgress, webCrypto, signal, shards } = {}) {
  try {
    const reader = new PartReader(parts);
    const sink = new Sink();
    sink.push(enc.header());
    const total = enc.blobLength;
    const count = enc.chunkCount;
    let done = 0;
    if (useWebCrypto(webCrypto)) {
      const webKey = await enc.importWebCryptoKey();
      const window = new Window();
      for (let i = 0; i < count || window.size; ) {
        while (i < count && window.size < WINDOW) {
          throwIfAborted(signal);
          // Framed in Rust; a chunk of body bytes only goes to WebCrypto as is.
          const frame = enc.frame();
          i++;
          const body = await reader.read(frame.bodyEnd - frame.bodyStart);
          const plaintext = plaintextOf(frame, body);
          window.push(sealChunk(webKey, frame, plaintext).finally(() => plaintext !== body && plaintext.fill(0)));
        }
        const { job, sealed, digest } = await window.next();
        enc.commitDigest(job, sealed.length, digest);
        sink.push(sealed);
        done += sealed.length;
        onProgress?.(done, total);
      }
    } else {
      for (let i = 0; i < count; i++) {
        throwIfAborted(signal);
        const [s, e] = enc.bodyRange(i);
        const body = await reader.read(e - s);
        const sealed = enc.sealNext(body);
        sink.push(sealed);
        done += sealed.length;
        onProgress?.(done, total);
      }
    }
    // A sharded write seals its placement under this version's key.
    const placementKey = shards ? enc.placementKey() : undefined;
    const finished = enc.finish();
    return { blob: sink.finish(), ...finished, ...(placementKey ? { placementKey } : {}) };
  } catch (e) {
    // finish() consumed it on success; anything else still holds the key.
    enc.free?.();
    throw e;
  }
}

const totalLength = (parts) => parts.reduce((n, p) => n + partLength(p), 0);

/** Encrypts a section body (parts of known total length) for one section version (see `sealWith`). */
export function sealBody(key, version, parts, { chunkLog2 = CHUNK_LOG2, ...options } = {}) {
  return sealWith(new core.SectionEncryptor(key, version, totalLength(parts), chunkLog2), parts, options);
}

/**
 * Encrypts one attachment (parts of known total length) under its file key
 * (a core AttachmentKey), bound to the record and section (see `sealWith`);
 * `entry` is `{chunkRoot, blobId, indexId, blobLength}`.
 */
export function sealAttachment(fileKey, recordId, sectionId, parts, { chunkLog2 = CHUNK_LOG2, ...options } = {}) {
  return sealWith(new core.AttachmentEncryptor(fileKey, recordId, sectionId, totalLength(parts), chunkLog2), parts, options);
}

/** The blob length and chunk index length an attachment of `size` bytes will have (for progress totals). */
export function attachmentLengths(size, chunkLog2 = CHUNK_LOG2) {
  const chunk = 2 ** chunkLog2;
  const padded = padme(size + 8);
  const chunks = Math.ceil(padded / chunk);
  return { blobLength: core.attachmentHeaderLength() + padded + 16 * chunks, indexLength: 10 + 32 * (chunks + 1) };
}

/** Padmé (protocol.md, "Padded stream"), for lengths below 2^53. */
function padme(len) {
  if (len < 2) return len;
  let e = 0;
  while (2 ** (e + 1) <= len) e++;
  let s = 0;
  while (2 ** s <= e) s++;
  const mask = 2 ** (e - s);
  return Math.ceil(len / mask) * mask;
}

/**
 * The plaintext of one section body, opened chunk by chunk as the
 * ciphertext streams in from `stream` (a ReadableStream of the blob); every
 * chunk is checked against the signed chunk root before it is opened and
 * before any of its bytes is released. Yields Uint8Array pieces.
 */
export function openStream(stream, entry, chunkIndex, dataKey, options) {
  const open = (header) => new core.SectionDecryptor(header, dataKey, chunkIndex, entry.chunkRoot);
  return openWith(stream, core.blobHeaderLength(), entry.blobLength, open, () => dataKey.importWebCryptoKey(), options);
}

/**
 * An attachment's plaintext as `openStream` gives a body's: the header must
 * belong to `recordId`'s section `sectionId`, and the chunk index and every
 * chunk must match the chunk root the (verified) section document lists.
 */
export function openAttachmentStream(stream, attachment, chunkIndex, fileKey, recordId, sectionId, options) {
  const open = (header) => new core.AttachmentDecryptor(header, fileKey, chunkIndex, attachment.root, recordId, sectionId);
  return openWith(stream, core.attachmentHeaderLength(), attachment.length, open, (dec) => dec.importWebCryptoKey(), options);
}

async function* openWith(stream, headerLength, blobLength, open, importKey, { onProgress, webCrypto } = {}) {
  const source = stream.getReader();
  let buf = new Uint8Array(0);
  let received = 0;
  const fill = async (n) => {
    while (buf.length < n) {
      const { value, done } = await source.read();
      if (done) throw new SesphrError("truncated", "the blob ended early");
      received += value.length;
      buf = buf.length ? concat([buf, value]) : value;
    }
  };
  const take = async (len) => {
    await fill(len);
    const out = buf.subarray(0, len);
    buf = buf.subarray(len);
    return out;
  };
  let dec;
  try {
    await fill(headerLength);
    dec = open(buf.subarray(0, headerLength));
    buf = buf.subarray(headerLength);
    const count = dec.chunkCount;
    if (useWebCrypto(webCrypto)) {
      const webKey = await importKey(dec);
      const window = new Window();
      for (let i = 0; i < count || window.size; ) {
        while (i < count && window.size < WINDOW) {
          const sealed = await take(dec.chunkRange(i)[1]);
          window.push(openChunk(webKey, dec, i++, sealed));
        }
        const { job, plain } = await window.next();
        yield dec.release(job, plain.length) ? plain : dec.accept(job, plain);
        onProgress?.(received, blobLength);
      }
    } else {
      for (let i = 0; i < count; i++) {
        const sealed = await take(dec.chunkRange(i)[1]);
        yield dec.openChunk(i, sealed);
        onProgress?.(received, blobLength);
      }
    }
    const { done } = buf.length ? { done: false } : await source.read();
    if (!done) throw new SesphrError("trailing_data", "data after the final chunk");
  } finally {
    dec?.free();
    source.releaseLock();
  }
}

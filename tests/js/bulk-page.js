// Bulk encryption in the browser: the package's own body pipeline
// (body.js: framing and Merkle checks in wasm, AES-GCM and leaf hashes on
// WebCrypto) against the browser's raw WebCrypto AES-256-GCM on the same
// bytes, from a File to a Blob and back. Loaded by bulk.test.mjs, which
// calls `window.runBulk()` once the input files are in the page.
import { init } from "/pkg/index.js";
import * as core from "/pkg/sesphr.js";
import { CHUNK_LOG2, openStream, sealBody } from "/pkg/body.js";

const params = new URLSearchParams(location.search);
const iters = Number(params.get("iters") ?? "1");
const wasmEngineMaxMiB = Number(params.get("wasmMax") ?? "16");
// Chromium headless keeps Blobs in memory (no disk paging) and refuses more
// than about 512 MiB in all, so larger outputs are counted, not kept.
const BLOB_MAX = 64 << 20;
const chunkLog2 = Number(params.get("chunkLog2") ?? CHUNK_LOG2);
const CHUNK = 1 << chunkLog2;
const WINDOW = 8;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Peak JS heap (precise with --enable-precise-memory-info) and wasm memory while `fn` runs. */
async function measured(fn) {
  const heap = () => performance.memory?.usedJSHeapSize ?? 0;
  const wasmMem = (await core.default()).memory;
  globalThis.gc?.();
  const base = heap();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, heap())), 5);
  const t = performance.now();
  const out = await fn();
  const ms = performance.now() - t;
  clearInterval(timer);
  peak = Math.max(peak, heap());
  // What is still held once the garbage is collected (the output Blob's bytes
  // live in the browser's blob store, not in the JS heap).
  await settle();
  globalThis.gc?.();
  const retained = heap() - base;
  return {
    ms,
    out,
    heapPeakMiB: (peak - base) / 2 ** 20,
    heapRetainedMiB: retained / 2 ** 20,
    wasmMiB: wasmMem.buffer.byteLength / 2 ** 20,
  };
}

async function sha256(blob) {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())))
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Into a Blob, or (sizes over BLOB_MAX) counted and dropped. */
async function collect(pieces, keep) {
  const parts = [];
  let batch = [];
  let n = 0;
  for await (const p of pieces) {
    n += p.length;
    if (!keep) continue;
    batch.push(p);
    if (batch.length >= 64) {
      parts.push(new Blob(batch));
      batch = [];
    }
  }
  return keep ? new Blob([...parts, ...batch]) : n;
}

/** Compares streamed pieces with the file, untimed (outputs too large to keep). */
async function sameAs(pieces, file) {
  let at = 0;
  for await (const p of pieces) {
    const want = new Uint8Array(await file.slice(at, at + p.length).arrayBuffer());
    if (want.length !== p.length || want.some((b, k) => b !== p[k])) return false;
    at += p.length;
  }
  return at === file.size;
}

async function* filePieces(blob, step = 4 << 20) {
  for (let at = 0; at < blob.size; at += step) yield new Uint8Array(await blob.slice(at, at + step).arrayBuffer());
}

/** Raw WebCrypto, chunked like SeSPHR (64 KiB, WINDOW in flight), from a Blob into a Blob. */
async function rawChunked(key, blob, op, chunk, keep = true) {
  const out = [];
  let batch = [];
  const inflight = [];
  let n = 0;
  let carry = new Uint8Array(0);
  const drain = async () => {
    const piece = new Uint8Array(await inflight.shift());
    if (!keep) return;
    batch.push(piece);
    if (batch.length >= 64) {
      out.push(new Blob(batch));
      batch = [];
    }
  };
  const launch = (bytes) => {
    const iv = new Uint8Array(12);
    new DataView(iv.buffer).setUint32(8, n++);
    inflight.push(crypto.subtle[op]({ name: "AES-GCM", iv, tagLength: 128 }, key, bytes));
  };
  for await (const piece of filePieces(blob)) {
    let data = piece;
    if (carry.length) {
      data = new Uint8Array(carry.length + piece.length);
      data.set(carry);
      data.set(piece, carry.length);
    }
    while (data.length >= chunk) {
      launch(data.subarray(0, chunk));
      data = data.subarray(chunk);
      while (inflight.length >= WINDOW) await drain();
    }
    carry = data;
  }
  if (carry.length) launch(carry);
  while (inflight.length) await drain();
  return keep ? new Blob([...out, ...batch]) : undefined;
}

async function rawOneCall(key, blob, op, keep = true) {
  const iv = new Uint8Array(12);
  const out = await crypto.subtle[op]({ name: "AES-GCM", iv, tagLength: 128 }, key, await blob.arrayBuffer());
  return keep ? new Blob([out]) : undefined;
}

/** Lets Chromium release the Blobs just dropped (its blob store is bounded). */
async function settle() {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 200));
}

/** Checks an output: a kept Blob by its digest, a dropped one by a second, untimed pass. */
async function check(out, file, again, what) {
  const ok = out instanceof Blob ? (await sha256(out)) === (await sha256(file)) : await sameAs(again(), file);
  if (!ok) throw new Error(`${what} does not give the input back`);
}

async function run(files) {
  await init();
  const owner = core.Identity.generate();
  const record = core.newRecord(owner);
  const sectionKey = new core.SectionKey(owner, record.recordId, core.sectionId(owner, record.recordId, "imaging"), core.newEpochId());
  const rawKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const rows = [];
  for (const file of files) {
    const size = file.size;
    const mib = size / 2 ** 20;
    const keep = size <= BLOB_MAX;
    const runs = { sesphrEnc: [], sesphrDec: [], rawChunkedEnc: [], rawChunkedDec: [], rawOneEnc: [], rawOneDec: [], wasmEnc: [], wasmDec: [] };
    let memory = {};
    for (let k = 0; k < iters; k++) {
      // SeSPHR, WebCrypto engine: File -> sealed Blob -> plaintext Blob.
      const enc = await measured(() => sealBody(sectionKey, 1, [file], { chunkLog2 }));
      let sealed = enc.out;
      const dataKey = sectionKey.openAsOwner(sealed.entry.capsule, 1);
      const open = (options) => openStream(sealed.blob.stream(), sealed.entry, sealed.chunkIndex, dataKey, options);
      const dec = await measured(() => collect(open(), keep));
      await check(dec.out, file, open, "SeSPHR");
      dec.out = undefined;
      runs.sesphrEnc.push(enc.ms);
      runs.sesphrDec.push(dec.ms);
      memory = {
        encHeapPeakMiB: enc.heapPeakMiB,
        decHeapPeakMiB: dec.heapPeakMiB,
        heapRetainedMiB: Math.max(enc.heapRetainedMiB, dec.heapRetainedMiB),
        wasmMiB: Math.max(enc.wasmMiB, dec.wasmMiB),
      };
      // The pure-wasm engine opens what WebCrypto sealed, and the other way round.
      if (mib <= wasmEngineMaxMiB) {
        const wdec = await measured(() => collect(open({ webCrypto: false }), keep));
        await check(wdec.out, file, () => open({ webCrypto: false }), "the wasm engine");
        const wenc = await measured(() => sealBody(sectionKey, 1, [file], { webCrypto: false, chunkLog2 }));
        const wkey = sectionKey.openAsOwner(wenc.out.entry.capsule, 1);
        const back = () => openStream(wenc.out.blob.stream(), wenc.out.entry, wenc.out.chunkIndex, wkey);
        await check(await collect(back(), keep), file, back, "WebCrypto on the wasm engine's blob");
        wkey.free();
        runs.wasmEnc.push(wenc.ms);
        runs.wasmDec.push(wdec.ms);
      }
      dataKey.free();
      sealed = enc.out = undefined;
      await settle();
      // Raw WebCrypto on the same bytes: chunked and pipelined, and one call.
      const rce = await measured(() => rawChunked(rawKey, file, "encrypt", CHUNK));
      const rcd = await measured(() => rawChunked(rawKey, rce.out, "decrypt", CHUNK + 16, keep));
      if (keep) await check(rcd.out, file, undefined, "raw chunked WebCrypto");
      rce.out = rcd.out = undefined;
      await settle();
      const roe = await measured(() => rawOneCall(rawKey, file, "encrypt"));
      const rod = await measured(() => rawOneCall(rawKey, roe.out, "decrypt", keep));
      if (keep) await check(rod.out, file, undefined, "raw one-call WebCrypto");
      roe.out = rod.out = undefined;
      await settle();
      runs.rawChunkedEnc.push(rce.ms);
      runs.rawChunkedDec.push(rcd.ms);
      runs.rawOneEnc.push(roe.ms);
      runs.rawOneDec.push(rod.ms);
      memory.rawOneHeapPeakMiB = Math.max(roe.heapPeakMiB, rod.heapPeakMiB);
    }
    const mbps = (list) => (list.length ? +(size / (median(list) / 1000) / 1e6).toFixed(1) : null);
    const row = { mib, iters, chunkLog2, outputKept: keep };
    for (const [name, list] of Object.entries(runs)) row[name] = mbps(list);
    const best = (a, b) => Math.max(a ?? 0, b ?? 0);
    row.encRatio = +(row.sesphrEnc / best(row.rawChunkedEnc, row.rawOneEnc)).toFixed(2);
    row.decRatio = +(row.sesphrDec / best(row.rawChunkedDec, row.rawOneDec)).toFixed(2);
    for (const [k, v] of Object.entries(memory)) row[k] = +v.toFixed(1);
    rows.push(row);
  }
  return rows;
}

/** Called by the test once it has put the input files into the page's file input. */
window.runBulk = () =>
  run([...document.querySelector("input[type=file]").files]).then(
    (rows) => ({ rows }),
    (e) => ({ error: `${e.code ?? ""} ${e.message}\n${e.stack}` }),
  );

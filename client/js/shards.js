// Sharded placement over independent relays (protocol.md, "Sharded
// placement"): a section's payload (its chunk index, then its blob after
// the header) is erasure-coded k-of-n in the core, shard i goes to relay
// plan[i], no relay ever gets k or more shards of one section, and a write
// succeeds only when shards reach `happy` distinct relays. Reads fetch the k
// fastest shards' pieces in parallel windows, hedge to a spare relay when
// one lags, check every piece against the owner-signed shard root before
// decoding it, and name the relay that served a bad one.
//
// Every rule about the bytes (the code, the headers, the sealed placement,
// the checks) runs in the wasm core; this file only decides which relay to
// ask and when.

import { core } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { PartReader, Sink, throwIfAborted } from "./body.js";

/** Stripes fetched per request (a window): 16 × 256 KiB pieces = 4 MiB per relay. */
const WINDOW = 16;
/** How long a relay may lag behind the others before a spare is asked too. */
const HEDGE_MS = 250;

const origin = (client) => new URL(client.baseUrl).origin;

/** SHA-256 of each `size`-byte piece of `bytes` on WebCrypto, concatenated. */
async function digests(bytes, count, size) {
  const ds = await Promise.all(Array.from({ length: count }, (_, j) => crypto.subtle.digest("SHA-256", bytes.subarray(j * size, (j + 1) * size))));
  const out = new Uint8Array(32 * count);
  ds.forEach((d, j) => out.set(new Uint8Array(d), 32 * j));
  return out;
}

/** Codes one stripe; where WebCrypto is, its pieces are hashed there, not in wasm. */
async function codeStripe(enc, data, n, size) {
  if (!core.webCryptoAvailable()) return enc.encodeStripe(data);
  const pieces = enc.encodeStripeUnhashed(data);
  enc.commitDigests(await digests(pieces, n, size));
  return pieces;
}

/** Checks pieces `j0 …` of a shard (in `bytes`) against its verified index: `content_mismatch` for a bad one. */
async function checkPieces(index, j0, bytes, count, size) {
  if (!core.webCryptoAvailable()) {
    for (let j = 0; j < count; j++) index.check(j0 + j, bytes.subarray(j * size, (j + 1) * size));
    return;
  }
  const ds = await digests(bytes, count, size);
  for (let j = 0; j < count; j++) index.checkDigest(j0 + j, ds.subarray(32 * j, 32 * (j + 1)));
}

/** The payload's bytes in the order the encoder takes them. */
function payloadParts(sealed, headerLength) {
  const rest = sealed.blob instanceof Uint8Array ? sealed.blob.subarray(headerLength) : sealed.blob.slice(headerLength);
  return [sealed.chunkIndex, rest];
}

/**
 * A set of independent relays (each a `Client` of its own deployment, all
 * with the same SRS), over which section bodies are sharded.
 */
export class RelaySet {
  /**
   * `relays`: Clients, one per relay (distinct origins). `k` of `n` shards
   * decode a section; a write needs shards on `happy` distinct relays
   * (default `n`).
   */
  constructor(relays, { k = 2, n = 3, happy = n, hedgeMs = HEDGE_MS } = {}) {
    if (!Array.isArray(relays) || relays.length === 0) throw new SesphrError("invalid_argument", "a relay set needs relays");
    const seen = new Set();
    for (const r of relays) {
      const o = origin(r);
      if (seen.has(o)) throw new SesphrError("invalid_argument", `the relay ${o} is listed twice: it would hold two shards of a section`);
      seen.add(o);
    }
    if (!(k >= 2 && n > k && n <= 16)) throw new SesphrError("invalid_argument", "needs 2 <= k < n <= 16");
    if (relays.length < n) throw new SesphrError("invalid_argument", `${n} shards need ${n} relays; ${relays.length} given`);
    if (!(happy >= k && happy <= n)) throw new SesphrError("invalid_argument", "happy must be from k to n");
    Object.assign(this, { relays, k, n, happy, hedgeMs });
    /** Recent latency per relay (ms, smoothed): reads ask the fastest first. */
    this.latency = new Map();
    /** What each relay did wrong, newest last: `{relay, code, message, at}`. */
    this.faults = [];
  }

  /** The relays' base URLs. */
  get urls() {
    return this.relays.map((r) => r.baseUrl);
  }

  #fault(i, e) {
    const f = { relay: this.relays[i].baseUrl, code: e?.code ?? "network", message: e?.message ?? String(e), at: Date.now() };
    this.faults.push(f);
    if (this.faults.length > 64) this.faults.shift();
    return f;
  }

  #timed(i, ms) {
    const o = this.latency.get(i);
    this.latency.set(i, o === undefined ? ms : 0.7 * o + 0.3 * ms);
  }

  /**
   * Which relay gets each shard of `sectionId`: `n` distinct relays,
   * rotated by the section id so that sections spread over the pool.
   */
  plan(sectionId) {
    const start = parseInt(sectionId.slice(0, 8), 16) % this.relays.length;
    return Array.from({ length: this.n }, (_, i) => (start + i) % this.relays.length);
  }

  /**
   * Plans the sections of one write together (docs/placement.md): similar
   * sections get the same relays, dissimilar ones others, so that each
   * relay holds as little of the record's distinct content as the pool
   * allows. `sections`: `[{sectionId, text}]` (the plaintext stays here:
   * only a similarity signature of it is computed, in wasm, and never
   * sent). The plan's relay numbers are rotated by `recordId` so that the
   * pool's first relays are not everyone's. Returns sectionId → plan.
   */
  planTogether(recordId, sections) {
    const out = new Map();
    if (sections.length === 0) return out;
    const sigs = new Uint8Array(sections.length * 256);
    sections.forEach((s, i) => sigs.set(core.placementSignature(s.text), i * 256));
    const plans = core.placementPlan(sigs, this.relays.length, this.n, this.k, "similarity");
    const turn = parseInt(recordId.slice(0, 8), 16) % this.relays.length;
    sections.forEach((s, i) => {
      const plan = plans[i].map((r) => (r + turn) % this.relays.length);
      core.checkShardPlan(this.k, this.n, Uint32Array.from(plan));
      out.set(s.sectionId, plan);
    });
    return out;
  }

  /**
   * Each relay's health: `{url, ok, ms, code?}`, from one small request
   * (an absent object: a relay answers 404).
   */
  async health() {
    const probe = "0".repeat(64);
    return Promise.all(
      this.relays.map(async (r, i) => {
        const t = performance.now();
        try {
          await r.send("GET", `${r.baseUrl}/v1/blobs/${probe}`);
          return { url: r.baseUrl, ok: true, ms: performance.now() - t };
        } catch (e) {
          const ms = performance.now() - t;
          if (e.status === 404) {
            this.#timed(i, ms);
            return { url: r.baseUrl, ok: true, ms };
          }
          return { url: r.baseUrl, ok: false, ms, code: e.code };
        }
      }),
    );
  }

  /**
   * Codes a sealed section body (`sealBody(..., {shards: true})`'s result)
   * and stores its shards: `{entry, stored}` where `entry` carries the
   * sealed placement and `stored` lists `{relay, id}` sent (for a cleanup:
   * every put, answered or not, since one whose answer was lost or
   * cancelled may have landed). A relay that fails gets its shard moved to
   * one holding nothing of this section; fewer than `happy` relays is
   * `unavailable`. Any failure carries `stored` too, and comes only once
   * every put has settled, so a cleanup cannot run ahead of a put.
   * `plan`: the relay of each shard (default: `plan(sectionId)`).
   */
  async store(identity, sealed, { signal, onSent, upload, plan: given } = {}) {
    // A section blob's header (kind 0x01) or an attachment's (0x12): its kind byte says.
    const kind = sealed.blob instanceof Uint8Array ? sealed.blob[4] : new Uint8Array(await sealed.blob.slice(4, 5).arrayBuffer())[0];
    const headerLength = kind === 0x12 ? core.attachmentHeaderLength() : core.blobHeaderLength();
    const header = sealed.blob instanceof Uint8Array ? sealed.blob.subarray(0, headerLength) : new Uint8Array(await sealed.blob.slice(0, headerLength).arrayBuffer());
    const enc = new core.ShardEncoder(header, this.k, this.n);
    let out;
    let shardLength;
    const sinks = [];
    try {
      for (let i = 0; i < this.n; i++) {
        sinks.push(new Sink());
        sinks[i].push(enc.header(i));
      }
      const reader = new PartReader(payloadParts(sealed, headerLength));
      const size = enc.pieceSize;
      for (let j = 0; j < enc.stripes; j++) {
        throwIfAborted(signal);
        const pieces = await codeStripe(enc, await reader.read(enc.stripeInputLength(j)), this.n, size);
        for (let i = 0; i < this.n; i++) sinks[i].push(pieces.subarray(i * size, (i + 1) * size));
      }
      shardLength = enc.shardLength;
      // Sealed after the puts, with the record of what each relay was sent.
      out = enc.finishPlacement(sealed.entry, header);
    } catch (e) {
      enc.free?.();
      throw e;
    }
    try {
      return await this.#place(identity, sealed, out, sinks, shardLength, { signal, onSent, upload, plan: given });
    } finally {
      out.free();
    }
  }

  async #place(identity, sealed, out, sinks, shardLength, { signal, onSent, upload, plan: given }) {
    const shards = out.shards.map((s, i) => ({ ...s, body: sinks[i].finish() }));
    const plan = given ?? this.plan(sealed.entry.sectionId ?? sealed.entry.chunkRoot);
    core.checkShardPlan(this.k, this.n, Uint32Array.from(plan));
    const put = upload ?? ((client, id, length, body) => client.putBlob(identity, id, length, body, { signal, onSent }));
    const stored = [];
    // The core decides where a shard may go after a failure (a relay
    // whose answer was lost may hold it): no relay ever gets k of them.
    const holders = new core.ShardHolders(this.k, this.n, this.relays.length, true);
    let reached;
    let placement;
    try {
      const settled = await Promise.allSettled(
        shards.map(async (s, i) => {
          const tried = [];
          for (let r = plan[i]; r !== undefined; r = holders.target(i, tried)) {
            tried.push(r);
            holders.send(r, i);
            try {
              stored.push({ relay: r, id: s.root });
              await put(this.relays[r], s.root, shardLength, s.body);
              stored.push({ relay: r, id: s.indexId });
              await put(this.relays[r], s.indexId, s.index.length, s.index);
              holders.stored(r, i);
              return;
            } catch (e) {
              if (e.code === "aborted") throw e;
              this.#fault(r, e);
            }
          }
        }),
      );
      const failed = settled.find((x) => x.status === "rejected");
      if (failed) {
        const e = failed.reason instanceof Error ? failed.reason : new SesphrError("aborted", "The operation was cancelled.");
        e.stored = stored;
        throw e;
      }
      reached = holders.reached;
      if (reached >= this.happy) placement = out.seal(sealed.placementKey, this.urls, holders);
    } finally {
      holders.free();
    }
    if (reached < this.happy) {
      const e = new SesphrError(
        "unavailable",
        `Only ${reached} of the ${this.happy} storage servers this record needs took their share; nothing was saved. Try again when they are back (“My identity” lists which answer).`,
      );
      e.stored = stored;
      throw e;
    }
    return { entry: { ...sealed.entry, placement }, stored };
  }

  /**
   * Finds the shards of a plan: a live list of `{i, relay, root, index}`
   * (a verified ShardIndex), one per relay found holding shard `i`. It
   * returns once every shard has its first holder (or none answered), and
   * later holders join the list as they answer, so a read can turn to
   * another holder of the same shard when one serves a bad piece. A relay
   * that serves a forged index is named in `faults` and not used.
   * `close()` frees every index, late ones included.
   */
  async locate(plan, signal) {
    const refs = plan.shards();
    // Each relay is asked only for the shards the placement records for it.
    const asked = Array.from(plan.asks(this.urls));
    let answered404 = 0;
    let questions = 0;
    let closed = false;
    const out = [];
    const every = [];
    out.close = () => {
      closed = true;
      for (const l of out.splice(0)) l.index.free();
    };
    await Promise.all(
      refs.map(async (s, i) => {
        const asks = this.relays.flatMap((r, ri) => ((asked[ri] >> i) & 1 ? [[r, ri]] : [])).map(async ([r, ri]) => {
          questions++;
          const t = performance.now();
          const bytes = await r.maybeBytes(`${r.baseUrl}/v1/blobs/${s.indexId}`, { signal });
          if (!bytes) {
            answered404++;
            throw Object.assign(new Error("absent"), { absent: true });
          }
          this.#timed(ri, performance.now() - t);
          try {
            return { i, relay: ri, root: s.root, index: plan.verifyIndex(i, bytes) };
          } catch (e) {
            this.#fault(ri, e);
            throw e;
          }
        });
        every.push(...asks);
        // Registered before Promise.any: the first holder is listed before it resolves.
        for (const ask of asks) ask.then((l) => (closed ? l.index.free() : out.push(l)), () => {});
        await Promise.any(asks).catch(() => {});
      }),
    );
    // Every relay answered, and none has any shard: deleted (a prune), not down.
    out.gone = questions > 0 && answered404 === questions;
    /** Settles when every relay has answered for every shard (later holders listed). */
    out.settled = Promise.allSettled(every).then(() => {
      out.complete = true;
    });
    return out;
  }

  /**
   * What each relay holds of a plan's shards, for a repair: a
   * ShardHolders that knows, for every relay that answered every question,
   * which shards it holds any part of and which whole (shard present,
   * index verified), and counts every other relay as possibly holding
   * anything.
   */
  async survey(plan, signal) {
    const refs = plan.shards();
    const holders = new core.ShardHolders(plan.k, plan.n, this.relays.length, false);
    // A relay may only ever be given the shards its record lists: it is
    // asked about those (a relay the placement does not name, about all).
    const masks = Array.from(plan.asks(this.urls));
    plan.restrict(holders, this.urls);
    const asked = Promise.all(
      this.relays.map(async (r, ri) => {
        try {
          const seen = await Promise.all(
            refs.map(async (s, i) => {
              if (!((masks[ri] >> i) & 1)) return { present: false, whole: false };
              const [index, head] = await Promise.all([
                r.maybeBytes(`${r.baseUrl}/v1/blobs/${s.indexId}`, { signal }),
                r.maybeBytes(`${r.baseUrl}/v1/blobs/${s.root}`, { signal, headers: { range: "bytes=0-0" } }),
              ]);
              let whole = false;
              if (index && head) {
                try {
                  plan.verifyIndex(i, index).free();
                  whole = true;
                } catch (e) {
                  this.#fault(ri, e);
                }
              }
              return { present: Boolean(index || head), whole };
            }),
          );
          const bits = (f) => seen.reduce((m, x, i) => (f(x) ? m | (1 << i) : m), 0);
          holders.observe(ri, bits((x) => x.present), bits((x) => x.whole));
        } catch (e) {
          if (e.code === "aborted") throw e;
          this.#fault(ri, e);
        }
      }),
    );
    try {
      await asked;
    } catch (e) {
      holders.free();
      throw e;
    }
    return holders;
  }

  /** Deletes `id` on every relay of the set that has it (this identity uploaded it first); true if any did. */
  async deleteEverywhere(identity, id) {
    const done = await Promise.all(this.relays.map((r) => r.deleteBlob(identity, id).catch(() => false)));
    return done.some(Boolean);
  }

  /**
   * The payload of a sharded entry, decoded window by window as the k
   * fastest shards' pieces arrive (memory: a window per shard). Yields
   * Uint8Array pieces in order.
   */
  async *payload(plan, { signal: outer, free = false } = {}) {
    let dec;
    let located;
    let next;
    // Ends the window fetched ahead when the reader stops early.
    const ahead = new AbortController();
    const onAbort = () => ahead.abort();
    outer?.addEventListener("abort", onAbort, { once: true });
    const signal = ahead.signal;
    try {
      const { k, n, pieceSize: size, stripes, payloadLength } = plan;
      located = await this.locate(plan, signal);
      if (located.gone) {
        throw new SesphrError("pruned", "No storage server has this version any more: the owner deleted it to free storage.", { status: 404 });
      }
      const found = new Set(located.map((l) => l.i)).size;
      if (found < k) {
        throw new SesphrError(
          "unavailable",
          `Only ${found} of the ${k} shares this section needs could be found (${this.urls.join(", ")}): too many storage servers are down or lost it.`,
        );
      }
      dec = plan.decoder();
      const bad = new Set();
      // The next window is fetched while this one is decoded and consumed.
      const fetchWindow = (j0) => {
        const p = this.#window(located, bad, j0, Math.min(WINDOW, stripes - j0), size, k, signal);
        p.catch(() => {});
        return p;
      };
      next = fetchWindow(0);
      const stripe = k * size;
      for (let j0 = 0; j0 < stripes; j0 += WINDOW) {
        throwIfAborted(signal);
        const count = Math.min(WINDOW, stripes - j0);
        const got = await next;
        if (j0 + WINDOW < stripes) next = fetchWindow(j0 + WINDOW);
        const windows = Array.from({ length: n }, () => undefined);
        for (const [i, bytes] of got) windows[i] = bytes;
        if (windows.slice(0, k).every(Boolean)) {
          // The code is systematic: with every data shard here (checked
          // piece by piece already), the payload is their pieces in turn,
          // served as views with no copy and no call into wasm.
          dec.skip(count);
          for (let j = 0; j < count; j++) {
            let left = Math.min(payloadLength - (j0 + j) * stripe, stripe);
            for (let i = 0; i < k && left > 0; i++) {
              const take = Math.min(left, size);
              yield windows[i].subarray(j * size, j * size + take);
              left -= take;
            }
          }
        } else {
          yield dec.decodeWindow(count, windows);
        }
      }
    } finally {
      outer?.removeEventListener("abort", onAbort);
      ahead.abort();
      await next?.catch(() => {});
      dec?.free();
      located?.close();
      if (free) plan.free();
    }
  }

  /**
   * Pieces `[j0, j0+count)` of k distinct shards: asks the k fastest
   * holders (data shards first, since they need no decoding), and one more
   * each time a request fails, serves a piece that does not match its
   * shard's index, or lags `hedgeMs` past the others; another holder of
   * the same shard is asked when one fails. The first k verified shards
   * win and the rest are cancelled.
   */
  async #window(located, bad, j0, count, size, k, signal) {
    const done = new Map();
    const asked = new Set();
    const busy = new Map();
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let running = 0;
    let waiting = false;
    let hedge;
    // A parity shard costs a decode: it is taken over a data shard only when clearly faster.
    const cost = (l) => (this.latency.get(l.relay) ?? 1e9) + (l.i >= k ? 5 : 0) + (busy.get(l.i) ? 1e12 : 0);
    try {
      return await new Promise((resolve, reject) => {
        const launch = () => {
          if (done.size >= k || stop.signal.aborted) return;
          const l = located
            .filter((c) => !asked.has(c) && !bad.has(c.relay) && !done.has(c.i))
            .reduce((best, c) => (best === undefined || cost(c) < cost(best) ? c : best), undefined);
          if (!l) {
            if (running > 0 || waiting) return;
            // Other holders may still be answering the locate: wait for them before giving up.
            if (!located.complete) {
              waiting = true;
              located.settled.then(() => {
                waiting = false;
                launch();
              });
              return;
            }
            reject(new SesphrError("unavailable", "Too few storage servers answered with good shares of this section."));
            return;
          }
          asked.add(l);
          running++;
          busy.set(l.i, (busy.get(l.i) ?? 0) + 1);
          const [at] = l.index.pieceRange(j0);
          const t = performance.now();
          const r = this.relays[l.relay];
          r.send("GET", `${r.baseUrl}/v1/blobs/${l.root}`, { headers: { range: `bytes=${at}-${at + count * size - 1}` }, signal: stop.signal })
            .then((resp) => resp.arrayBuffer())
            .then(async (buf) => {
              const bytes = new Uint8Array(buf);
              if (bytes.length !== count * size) throw new SesphrError("truncated", `the relay sent ${bytes.length} of ${count * size} bytes`);
              await checkPieces(l.index, j0, bytes, count, size);
              return bytes;
            })
            .then(
              (bytes) => {
                running--;
                busy.set(l.i, busy.get(l.i) - 1);
                this.#timed(l.relay, performance.now() - t);
                if (done.size >= k || done.has(l.i)) return;
                done.set(l.i, bytes);
                if (done.size >= k) {
                  clearTimeout(hedge);
                  resolve(done);
                }
              },
              (e) => {
                running--;
                busy.set(l.i, busy.get(l.i) - 1);
                if (done.size >= k) return;
                if (signal?.aborted) return reject(new SesphrError("aborted", "The operation was cancelled."));
                bad.add(l.relay);
                this.#fault(l.relay, e);
                launch();
              },
            );
        };
        for (let i = 0; i < k; i++) launch();
        const arm = () => {
          hedge = setTimeout(() => {
            if (done.size < k && !stop.signal.aborted) {
              launch();
              arm();
            }
          }, this.hedgeMs);
        };
        arm();
      });
    } finally {
      clearTimeout(hedge);
      stop.abort();
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Opens a sharded entry for `openStream`: `{index, stream}`, the blob's
   * chunk index and a ReadableStream of the blob (header from the sealed
   * placement, then the decoded rest).
   */
  open(entry, dataKey, options) {
    return this.openPlan(dataKey.openPlacement(entry), options);
  }

  /** `open` from an opened ShardPlan (a section's or an attachment's); frees the plan. */
  async openPlan(plan, { signal } = {}) {
    const { indexLength, header, payloadLength } = plan;
    // The generator owns the plan from here and frees it when it ends.
    const it = this.payload(plan, { signal, free: true });
    const reader = new PartReader([{ length: payloadLength, [Symbol.asyncIterator]: () => it }]);
    let index;
    try {
      index = new Uint8Array(await reader.read(indexLength));
    } catch (e) {
      await it.return?.();
      throw e;
    }
    let left = payloadLength - indexLength;
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(header);
      },
      async pull(c) {
        if (left <= 0) return c.close();
        // Views of the decoded pieces as they come: no copy here.
        const piece = await reader.readSome(left);
        left -= piece.length;
        c.enqueue(piece);
      },
      cancel() {
        return it.return?.();
      },
    });
    return { index, stream };
  }

  /**
   * Restores the invariant of one sharded entry after a relay lost data or
   * left: decodes the section from any k shards, codes the missing shards
   * again (checked against the roots the owner signed) and stores each on a
   * relay the placement records for that shard (so a relay that denies
   * what it keeps can only be given its own shard again), one holding
   * nothing else of this section first. `{missing, repaired: [{shard,
   * relay}]}`.
   */
  async repair(identity, entry, dataKey, { signal } = {}) {
    const plan = dataKey.openPlacement(entry);
    let holders;
    try {
      const refs = plan.shards();
      holders = await this.survey(plan, signal);
      const missing = Array.from(holders.missing());
      if (missing.length === 0) return { missing, repaired: [] };
      const enc = new core.ShardEncoder(plan.header, plan.k, plan.n);
      const sinks = new Map(missing.map((i) => [i, new Sink()]));
      const size = plan.pieceSize;
      try {
        for (const [i, s] of sinks) s.push(enc.header(i));
        const reader = new PartReader([{ length: plan.payloadLength, [Symbol.asyncIterator]: () => this.payload(plan, { signal }) }]);
        for (let j = 0; j < enc.stripes; j++) {
          const pieces = await codeStripe(enc, await reader.read(enc.stripeInputLength(j)), plan.n, size);
          for (const [i, s] of sinks) s.push(pieces.subarray(i * size, (i + 1) * size));
        }
      } catch (e) {
        enc.free();
        throw e;
      }
      const roots = enc.finish();
      const repaired = [];
      for (const i of missing) {
        if (roots[i].root !== refs[i].root) throw new SesphrError("content_mismatch", "the shards coded again do not match the owner's");
        const body = sinks.get(i).finish();
        // The core picks each relay: one that answered the survey, whose
        // record lists this shard, and that would hold fewer than k.
        const tried = [];
        for (let r = holders.target(i, tried); r !== undefined; r = holders.target(i, tried)) {
          tried.push(r);
          holders.send(r, i);
          try {
            const c = this.relays[r];
            await c.putBlob(identity, refs[i].root, plan.shardLength, body, { signal });
            await c.putBlob(identity, refs[i].indexId, roots[i].index.length, roots[i].index, { signal });
            holders.stored(r, i);
            repaired.push({ shard: i, relay: c.baseUrl });
            break;
          } catch (e) {
            if (e.code === "aborted") throw e;
            this.#fault(r, e);
          }
        }
      }
      return { missing, repaired };
    } finally {
      holders?.free();
      plan.free();
    }
  }
}

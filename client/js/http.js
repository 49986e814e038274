// The connection to a deployment (relay + SRS): every request the package
// makes, with the servers' errors turned into SesphrError. The objects that
// come back are verified here, once, into the core's classes
// (VerifiedManifest, SignedHead) that the flows then take as they are.

import { core, fromHex, init, toHex } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { RelaySet } from "./shards.js";

const OCTETS = "application/octet-stream";
const TOKEN = "x-sesphr-token";
/** Most mails one `GET /v1/mail` answers (the relay's page). */
const MAIL_PAGE = 256;
const NODE = typeof process === "object" && !!process.versions?.node;

/** The bytes of a Uint8Array or Blob as a ReadableStream that reports how much was pulled. */
function counted(body, onSent) {
  const step = 1 << 20;
  let at = 0;
  const size = body instanceof Uint8Array ? body.length : body.size;
  return new ReadableStream({
    async pull(c) {
      if (at >= size) {
        c.close();
        return;
      }
      const end = Math.min(at + step, size);
      const piece = body instanceof Uint8Array ? body.subarray(at, end) : new Uint8Array(await body.slice(at, end).arrayBuffer());
      at = end;
      c.enqueue(piece);
      onSent(at);
    },
  });
}

/** A PUT through XMLHttpRequest, for its upload progress (browsers). */
function xhrPut(url, body, headers, onSent, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onSent(e.loaded);
    const abort = () => xhr.abort();
    signal?.addEventListener("abort", abort, { once: true });
    const done = (f) => (v) => {
      signal?.removeEventListener("abort", abort);
      f(v);
    };
    xhr.onload = done(() => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onSent(body.size ?? body.length);
        return resolve();
      }
      let code = "http_" + xhr.status;
      let message = `${xhr.status} ${xhr.statusText}`;
      try {
        const j = JSON.parse(xhr.responseText);
        if (typeof j.code === "string") code = j.code;
        if (typeof j.message === "string") message = j.message;
      } catch {
        // not JSON: keep the status
      }
      reject(new SesphrError(code, message, { status: xhr.status }));
    });
    xhr.onerror = done(() => reject(new SesphrError("network", `cannot reach ${new URL(url, location.href).host}`)));
    xhr.onabort = done(() => reject(new SesphrError("aborted", "The operation was cancelled.")));
    if (signal?.aborted) return xhr.onabort();
    xhr.send(body);
  });
}

/** The SRS's refusal codes (HTTP 403 of /v1/reencrypt): a decision, not a failure. */
const DECISIONS = new Set(["bad_signature", "replay", "revoked", "expired", "unknown_grant", "not_in_manifest", "before_from_version"]);

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
  const e = new SesphrError(code, message, { status: resp.status });
  const retryAfter = Number(resp.headers?.get?.("retry-after"));
  if (retryAfter > 0) e.retryAfter = retryAfter;
  return e;
}

/**
 * A connection to a SeSPHR deployment (relay + SRS). `srsFingerprint`, when
 * given, pins the SRS: `connect()` refuses any other.
 */
export class Client {
  /**
   * `relays` (optional): the base URLs of independent relays (all with this
   * deployment's SRS) over which section bodies are sharded, `shards`
   * `{k, n, happy}` (default 2 of 3, happy = n); manifests and grants then
   * go to every relay, and a read falls back to them when `baseUrl` fails.
   * Without `relays`, `connect()` asks the deployment (`GET /v1/config`,
   * as the portal does) and shards over the relays it names, so a client
   * never stores a section whole where the deployment spreads it;
   * `relays: []` keeps every body on `baseUrl`.
   */
  constructor({ baseUrl, srsUrl, srsFingerprint, fetch: f, relays, shards } = {}) {
    const here = typeof location === "object" ? location.origin : undefined;
    this.baseUrl = (baseUrl ?? here ?? "").replace(/\/$/, "");
    this.srsUrl = (srsUrl ?? this.baseUrl).replace(/\/$/, "");
    this.pinned = srsFingerprint;
    this.fetch = f ?? globalThis.fetch.bind(globalThis);
    /** Whether requests go through the page's own fetch (so XMLHttpRequest may stand in for it). */
    this.ownFetch = !f;
    this.srs = undefined;
    this.srsIdentity = undefined;
    /** The sharded relays (a RelaySet), when `relays` were given or the deployment names some. */
    this.relaySet = relays?.length ? this.#relaySet(relays, shards) : undefined;
    /** Whether `connect()` still has to ask the deployment for its relays. */
    this.askConfig = relays === undefined;
  }

  #relaySet(relays, shards) {
    return new RelaySet(
      relays.map((u) => new Client({ baseUrl: u, srsUrl: this.srsUrl, fetch: this.ownFetch ? undefined : this.fetch, relays: [] })),
      shards,
    );
  }

  /**
   * @internal The deployment's relays (`GET /v1/config`), once. A relay
   * without the route (404) has none; any other failure fails `connect()`,
   * since storing whole what should be spread is not a fallback.
   */
  async #configure() {
    if (!this.askConfig) return;
    let config;
    try {
      config = await this.json("GET", `${this.baseUrl}/v1/config`);
    } catch (e) {
      if (e.status !== 404) throw e;
      config = {};
    }
    const spread = config?.shards;
    if (spread) {
      if (!Array.isArray(spread.relays) || !spread.relays.every((u) => typeof u === "string")) {
        throw new SesphrError("malformed", "the deployment's /v1/config names its relays wrongly");
      }
      this.relaySet = this.#relaySet([this.baseUrl, ...spread.relays], { k: spread.k, n: spread.n, happy: spread.happy });
    }
    this.askConfig = false;
  }

  /**
   * @internal `f(client)` on this relay, then on the other relays of the
   * set while it fails for want of a server (network, 5xx): reads that any
   * relay can answer (manifests are verified, freshness comes from the SRS).
   */
  async anyRelay(f) {
    try {
      return await f(this);
    } catch (e) {
      const others = (this.relaySet?.relays ?? []).filter((r) => r.baseUrl !== this.baseUrl);
      if (!others.length || !(e.code === "network" || e.status >= 500)) throw e;
      let last = e;
      for (const r of others) {
        try {
          return await f(r);
        } catch (e2) {
          last = e2;
          if (!(e2.code === "network" || e2.status >= 500)) throw e2;
        }
      }
      throw last;
    }
  }

  /**
   * @internal Copies the manifests of `recordId` up to `version` to every
   * other relay of the set (each takes only the next version, so a relay
   * that missed some gets them in order); best effort: a relay that fails
   * is named in `relaySet.faults` and caught up by the next write.
   */
  async mirrorManifests(recordId, version) {
    const set = this.relaySet;
    if (!set) return;
    const home = (v) => this.manifestBytes(recordId, v);
    await Promise.all(
      set.relays
        .filter((r) => r.baseUrl !== this.baseUrl)
        .map(async (r) => {
          try {
            const latest = await r.maybeBytes(`${r.baseUrl}/v1/records/${recordId}/manifests/latest`);
            let from = 1;
            if (latest) {
              const m = core.VerifiedManifest.fromBytes(latest);
              from = m.version + 1;
              m.free();
            }
            for (let v = from; v <= version; v++) {
              const bytes = await home(v);
              if (!bytes) break;
              await r.postBytes(`${r.baseUrl}/v1/records/${recordId}/manifests`, bytes);
            }
          } catch (e) {
            set.faults.push({ relay: r.baseUrl, code: e.code ?? "network", message: e.message, at: Date.now() });
          }
        }),
    );
  }

  /**
   * Fetches (and checks the pin of) the SRS identity; the first time, also
   * the deployment's relays unless `relays` were given.
   */
  async connect() {
    await init();
    await this.#configure();
    const info = await this.json("GET", `${this.srsUrl}/srs/v1/info`);
    const publicKey = fromHex(info.publicKey);
    const srs = core.PublicIdentity.fromBytes(publicKey);
    const party = srs.view();
    if (this.pinned && party.fingerprint !== this.pinned) {
      srs.free();
      const e = new SesphrError(
        "srs_mismatch",
        `the SRS fingerprint ${party.fingerprint} is not the pinned ${this.pinned}`,
      );
      e.served = party.fingerprint;
      e.pinned = this.pinned;
      throw e;
    }
    this.srsIdentity?.free();
    this.srsIdentity = srs;
    this.srs = { ...party, encryptionKey: publicKey.slice(33) };
    return this.srs;
  }

  /** @internal The pinned SRS identity (a core PublicIdentity). */
  pinnedSrs() {
    if (!this.srsIdentity) throw new SesphrError("invalid_state", "call connect() first");
    return this.srsIdentity;
  }

  /** @internal One request; non-2xx becomes a SesphrError with the server's code and status. */
  async send(method, url, { body, type, token, headers = {}, signal, duplex } = {}) {
    const h = { ...headers };
    if (type) h["content-type"] = type;
    if (token) h[TOKEN] = toHex(token);
    let resp;
    try {
      resp = await this.fetch(url, { method, body, headers: h, signal, ...(duplex ? { duplex } : {}) });
    } catch (e) {
      if (signal?.aborted) throw new SesphrError("aborted", "The operation was cancelled.", { cause: e });
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
    return this.send("POST", url, { body: bytes, type: OCTETS });
  }
  /** @internal */
  postJson(url, value) {
    return this.send("POST", url, { body: JSON.stringify(value), type: "application/json" });
  }
  /** @internal `bytes`, or undefined on a 404. */
  async maybeBytes(url, options) {
    try {
      return await this.bytes("GET", url, options);
    } catch (e) {
      if (e.status === 404) return undefined;
      throw e;
    }
  }

  /** Publishes an identity in the SRS directory (idempotent). */
  async register(identity) {
    await this.postBytes(`${this.srsUrl}/srs/v1/directory`, identity.core.directoryEntry(Date.now()));
  }

  /** Looks a party up in the directory: `{id, fingerprint, publicKey, createdAt}`. */
  async lookup(partyId) {
    const entry = await this.bytes("GET", `${this.srsUrl}/srs/v1/directory/${partyId}`);
    const party = core.verifyDirectoryEntry(entry);
    if (party.id !== partyId) throw new SesphrError("binding_mismatch", "the directory answered for another party");
    return party;
  }

  /**
   * Stores a blob (bytes or Blob) under its content address; storing it
   * again is harmless. `onSent(bytes)` reports the bytes of this attempt
   * handed to the network so far (Node: as fetch pulls the body; browsers:
   * XMLHttpRequest's upload progress when this Client uses the page's own
   * fetch; otherwise once the upload is done). `signal` aborts it.
   */
  async putBlob(identity, id, length, body, { onSent, signal } = {}) {
    const subject = new Uint8Array(40);
    subject.set(fromHex(id));
    new DataView(subject.buffer).setBigUint64(32, BigInt(length));
    const token = core.signToken(identity.core, "uploadBlob", subject, Date.now());
    const url = `${this.baseUrl}/v1/blobs/${id}`;
    if (onSent && this.ownFetch && typeof XMLHttpRequest === "function") {
      return xhrPut(url, body, { [TOKEN]: toHex(token), "content-type": OCTETS }, onSent, signal);
    }
    if (onSent && NODE) {
      // Counted as fetch pulls the body: the bytes handed to the socket.
      const headers = { "content-length": String(length) };
      await this.send("PUT", url, { body: counted(body, onSent), token, type: OCTETS, headers, signal, duplex: "half" });
      return;
    }
    await this.send("PUT", url, { body, token, type: OCTETS, signal });
    onSent?.(length);
  }

  /**
   * Deletes a blob this identity uploaded first; true if deleted, false if
   * the relay did not have it.
   */
  async deleteBlob(identity, id) {
    const token = core.signToken(identity.core, "deleteBlob", fromHex(id), Date.now());
    try {
      await this.send("DELETE", `${this.baseUrl}/v1/blobs/${id}`, { token });
      return true;
    } catch (e) {
      if (e.status === 404) return false;
      throw e;
    }
  }

  /** A blob or a byte range of it (`[offset, length]`) as a `Response`. */
  getBlob(id, range, signal) {
    const headers = range ? { range: `bytes=${range[0]}-${range[0] + range[1] - 1}` } : {};
    return this.send("GET", `${this.baseUrl}/v1/blobs/${id}`, { headers, signal });
  }

  /** @internal The relay's bytes of a manifest (`version` or `latest`), or undefined if it has none. */
  manifestBytes(recordId, version = "latest") {
    return this.anyRelay((c) => c.maybeBytes(`${c.baseUrl}/v1/records/${recordId}/manifests/${version}`));
  }

  /**
   * @internal The relay's manifest of `version` (or the latest), verified
   * (and signed by `owner`, a core PublicIdentity, when given); undefined if
   * it has none.
   */
  async manifest(recordId, version = "latest", owner) {
    const bytes = await this.manifestBytes(recordId, version);
    if (!bytes) return undefined;
    const m = owner ? core.VerifiedManifest.fromBytesOf(bytes, owner) : core.VerifiedManifest.fromBytes(bytes);
    if (m.recordId !== recordId || (version !== "latest" && m.version !== version)) {
      m.free();
      throw new SesphrError("binding_mismatch", "the storage server answered with another record's or version's manifest");
    }
    return m;
  }

  /** @internal The SRS's signed head of a record, verified against the pinned key; undefined if it has none. */
  async head(recordId) {
    const bytes = await this.maybeBytes(`${this.srsUrl}/srs/v1/heads/${recordId}`);
    return bytes && this.verifiedHead(bytes, recordId);
  }

  /** @internal */
  verifiedHead(bytes, recordId) {
    const head = core.SignedHead.fromBytes(bytes, this.pinnedSrs());
    if (head.recordId !== recordId) {
      head.free();
      throw new SesphrError("binding_mismatch", "the re-encryption server answered with another record's head");
    }
    return head;
  }

  /** @internal The signer's inbox: `[{statement, b1Envelope, id?}]`. */
  inbox(identity) {
    return this.anyRelay((c) => c.json("GET", `${c.baseUrl}/v1/inbox`, { token: core.signToken(identity.core, "readInbox", new Uint8Array(0), Date.now()) }));
  }

  /** @internal Deletes an item of the signer's inbox; false if the relay has no such item (or no such route). */
  clearInboxItem(identity, id) {
    return this.#clear(identity, "clearInbox", "inbox", id);
  }

  /** Deletes item `id` of one of the signer's boxes (`inbox`, `mail`); false if absent. */
  async #clear(identity, purpose, box, id) {
    const token = core.signToken(identity.core, purpose, fromHex(id), Date.now());
    try {
      await this.send("DELETE", `${this.baseUrl}/v1/${box}/${id}`, { token });
      return true;
    } catch (e) {
      if (e.status === 404 || e.status === 405) return false;
      throw e;
    }
  }

  /**
   * @internal Posts mail (sealed bytes) to party `recipient` (hex id),
   * signed as `identity`; retries store it once (its id is its SHA-256).
   */
  async postMail(identity, recipient, sealed) {
    // In the core, not WebCrypto: the portal may run where `crypto.subtle` is absent.
    const id = core.mailId(sealed);
    const subject = new Uint8Array(64);
    subject.set(fromHex(recipient));
    subject.set(id, 32);
    const token = core.signToken(identity.core, "sendMail", subject, Date.now());
    await this.send("POST", `${this.baseUrl}/v1/mail`, {
      token,
      body: JSON.stringify({ recipient, sealed: toHex(sealed) }),
      type: "application/json",
    });
    return toHex(id);
  }

  /**
   * @internal The signer's mail, every page of it in arrival order:
   * `[{id, sender, sealed, seq}]` (hex). Pages follow the relay's `seq`
   * cursor, so mail kept unread never hides mail that came after it.
   */
  async mail(identity) {
    const out = [];
    let after = 0;
    // A relay's mailbox holds at most 4096 (its cap): 17 pages and a bit.
    for (let pages = 0; pages < 32; pages++) {
      const token = core.signToken(identity.core, "readMail", new Uint8Array(0), Date.now());
      const page = await this.json("GET", `${this.baseUrl}/v1/mail${after ? `?after=${after}` : ""}`, { token });
      if (!Array.isArray(page)) throw new SesphrError("malformed", "the relay's mail listing is not a list");
      out.push(...page);
      const last = page.at(-1)?.seq;
      // A short page is the last; a cursor that does not advance ends it too.
      if (page.length < MAIL_PAGE || !Number.isSafeInteger(last) || last <= after) break;
      after = last;
    }
    return out;
  }

  /** @internal Deletes mail of the signer's; false if the relay has no such item. */
  clearMail(identity, id) {
    return this.#clear(identity, "clearMail", "mail", id);
  }

  /**
   * @internal Sends a sealed re-encryption request (through the relay):
   * `{answer}` (the sealed answer), or `{refused, status}` when the SRS
   * decided against it.
   */
  async reencrypt(sealed) {
    try {
      return { answer: await this.anyRelay((c) => c.bytes("POST", `${c.baseUrl}/v1/reencrypt`, { body: sealed, type: OCTETS })) };
    } catch (e) {
      if (e.status === 403 && DECISIONS.has(e.code)) return { refused: e.code, status: e.status };
      throw e;
    }
  }
}

/**
 * SMART Health Links (HL7 links specification): the owner side (a copy of
 * chosen sections as FHIR, encrypted as JWE under a fresh link key, stored
 * at the relay) and the viewer side (`openLink`). The link key exists only
 * in the returned `shlink:/` string: keep it in a URL fragment or a QR code,
 * never in a request or a log.
 */
import { core } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { toBundle } from "./fhir.js";
import { OwnerState } from "./invitations.js";

const FHIR_JSON = "application/fhir+json";
const utf8 = new TextEncoder();

const b64url = (bytes) => {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};
const unb64url = (s) => {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new SesphrError("invalid_argument", "not base64url");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
};

function linkIdBytes(id) {
  const bytes = typeof id === "string" && id.length === 43 ? unb64url(id) : undefined;
  if (!bytes || bytes.length !== 32) throw new SesphrError("invalid_argument", "a link id is 43 base64url characters");
  return bytes;
}

/**
 * Most bytes of one link file as it goes into its JWE (raw DEFLATE when
 * that is smaller, else the FHIR JSON): the JWE (base64url, 4/3 of it, and
 * a header) must stay within the core's and the relay's 8 MiB.
 */
export const MAX_LINK_PLAINTEXT_BYTES = 6 * 1024 * 1024 - 4096;
/**
 * Most bytes a compressed (`zip: "DEF"`) link file may inflate to, in the
 * viewer and for a link this package makes: past it `too_large` (a
 * decompression bomb is cut off, not inflated whole).
 */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** Reads a byte stream whole, `too_large` past `max` bytes (cancelled there). */
async function readBounded(stream, max, tooLarge) {
  const reader = stream.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      for (const p of parts) p.fill(0);
      throw new SesphrError("too_large", tooLarge);
    }
    parts.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
    p.fill(0);
  }
  return all;
}

/** Raw DEFLATE of `bytes` (`CompressionStream("deflate-raw")`, RFC 1951). */
async function deflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return readBounded(stream, Infinity, "");
}

/**
 * Inflates raw DEFLATE, at most MAX_INFLATED_BYTES of output (`too_large`
 * past it; `malformed` for data that does not inflate).
 */
async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  try {
    return await readBounded(stream, MAX_INFLATED_BYTES, `A compressed file of the link inflates to more than ${MAX_INFLATED_BYTES} bytes.`);
  } catch (e) {
    if (e instanceof SesphrError) throw e;
    throw new SesphrError("malformed", "A compressed file of the link does not inflate.");
  }
}

/** Opens one JWE under `key` and inflates it if its header says `zip: "DEF"`: `{contentType, content}`. */
async function openFile(key, jwe) {
  const { contentType, plaintext, deflated } = key.decryptFile(jwe);
  if (!deflated) return decoded(contentType, plaintext);
  try {
    return decoded(contentType, await inflateRaw(plaintext));
  } finally {
    plaintext.fill(0);
  }
}
/** Most bytes of attachments one link carries (base64 in the JSON: 4/3 of them, within MAX_LINK_PLAINTEXT_BYTES). */
export const MAX_LINK_ATTACHMENT_BYTES = 4 * 1024 * 1024;

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * The FHIR files of opened sections: one R4 Bundle (`toBundle`) with every
 * attachment as a DocumentReference carrying its bytes. Throws `too_large`
 * past MAX_LINK_ATTACHMENT_BYTES of attachments.
 */
/** Demographics fields an emergency card keeps (who this is, who to call); address, identifiers, insurance stay out. */
const CARD_FIELD = /name|birth|born|contact|kin|blood/i;
/** Patient members an emergency card keeps. */
const CARD_PATIENT = ["resourceType", "id", "name", "birthDate", "gender", "contact"];

/** What an emergency card carries of a section document: no attachments; of demographics only name, birth date and contacts. */
function cardDocument(d) {
  if (d.name !== "demographics") return { ...d, attachments: [] };
  return {
    ...d,
    text: "",
    attachments: [],
    fields: Object.fromEntries(Object.entries(d.fields ?? {}).filter(([k]) => CARD_FIELD.test(k))),
    fhir: (d.fhir ?? []).flatMap((r) => {
      if (r?.resourceType === "Patient") return [Object.fromEntries(CARD_PATIENT.filter((k) => k in r).map((k) => [k, r[k]]))];
      return r?.resourceType === "RelatedPerson" ? [r] : [];
    }),
  };
}

async function linkFiles(opened, { card = false } = {}) {
  if (card) {
    const plaintext = utf8.encode(JSON.stringify(toBundle(opened.map((s) => cardDocument(s.document)))));
    return [{ contentType: FHIR_JSON, plaintext }];
  }
  let total = 0;
  for (const s of opened) for (const a of s.document.attachments ?? []) total += a.size;
  if (total > MAX_LINK_ATTACHMENT_BYTES) {
    throw new SesphrError(
      "too_large",
      `These sections hold ${total} bytes of attachments; a link carries at most ${MAX_LINK_ATTACHMENT_BYTES}. Leave out a section with large files.`,
    );
  }
  const documents = [];
  for (const s of opened) {
    const d = s.document;
    const attachments = [];
    for (let i = 0; i < (d.attachments ?? []).length; i++) {
      const bytes = new Uint8Array(await (await s.attachmentBlob(i)).arrayBuffer());
      attachments.push({ ...d.attachments[i], data: base64(bytes) });
      bytes.fill(0);
    }
    documents.push({ ...d, attachments });
  }
  // Its size is checked once compressed (`encrypt`).
  const plaintext = utf8.encode(JSON.stringify(toBundle(documents)));
  return [{ contentType: FHIR_JSON, plaintext }];
}

function putToken(identity, idBytes, body) {
  const subject = new Uint8Array(64);
  subject.set(idBytes);
  subject.set(core.shlBodyHash(body), 32);
  return core.signToken(identity.core, "putLink", subject, Date.now());
}

/**
 * The JWEs of `files`: each compressed (`zip: "DEF"`) when that is smaller
 * (FHIR JSON is), and `too_large` when what goes into the JWE is over
 * MAX_LINK_PLAINTEXT_BYTES or the file over MAX_INFLATED_BYTES (what a
 * viewer inflates).
 */
async function encrypt(key, files) {
  try {
    const out = [];
    for (const f of files) {
      if (f.plaintext.length > MAX_INFLATED_BYTES) {
        throw new SesphrError("too_large", `These sections come to ${f.plaintext.length} bytes as FHIR; a link carries at most ${MAX_INFLATED_BYTES}. Leave out a section with large files.`);
      }
      const deflated = await deflateRaw(f.plaintext);
      const zip = deflated.length < f.plaintext.length;
      const inner = zip ? deflated : f.plaintext;
      try {
        if (inner.length > MAX_LINK_PLAINTEXT_BYTES) {
          throw new SesphrError(
            "too_large",
            `These sections come to ${inner.length} bytes${zip ? " compressed" : ""}; a link carries at most ${MAX_LINK_PLAINTEXT_BYTES}. Leave out a section with large files.`,
          );
        }
        const jwe = zip ? key.encryptDeflatedFile(f.contentType, deflated) : key.encryptFile(f.contentType, f.plaintext);
        out.push({ contentType: f.contentType, jwe });
      } finally {
        deflated.fill(0);
      }
    }
    return out;
  } finally {
    for (const f of files) f.plaintext.fill(0);
  }
}

/** The `shlink:/…` string of a link at `manifestUrl`. */
function payload(manifestUrl, key, { longTerm, passcode, label, expiresAt, direct }) {
  const flag = (longTerm ? "L" : "") + (passcode ? "P" : "") + (direct ? "U" : "");
  const options = { flag, ...(label ? { label } : {}) };
  if (expiresAt) options.exp = Math.floor(expiresAt / 1000);
  return core.shlEncodePayload(manifestUrl, key, options);
}

/**
 * @internal Creates a link to the opened sections `opened` of record
 * `recordId` for `identity` at `client`'s relay: `{url, id}`. The link key
 * also goes to the relay sealed for the owner (`ShlOwnerKey`, with the
 * record id and section names), so the owner can show the link again and
 * refresh a long-term one; in clear it exists only in `url`.
 */
export async function createLink(client, identity, opened, { recordId, sections }, { passcode, expiresAt, label, maxAttempts, longTerm = false, directFile = false, card = false } = {}) {
  if (directFile && passcode !== undefined) {
    throw new SesphrError("invalid_argument", "a direct-file (U) link has no passcode");
  }
  if (expiresAt !== undefined && !(Number.isSafeInteger(expiresAt) && expiresAt > Date.now())) {
    throw new SesphrError("invalid_argument", "expiresAt is a time in ms in the future");
  }
  if (passcode !== undefined && (typeof passcode !== "string" || passcode === "")) {
    throw new SesphrError("invalid_argument", "a passcode is a non-empty string");
  }
  const plain = await linkFiles(opened, { card });
  const key = core.ShlLinkKey.generate();
  try {
    const files = await encrypt(key, plain);
    const idBytes = crypto.getRandomValues(new Uint8Array(32));
    const id = b64url(idBytes);
    // The note is sealed with the key: the terms the owner acts on later
    // (refresh, show again, reuse as the emergency card) come from here,
    // never from the relay's listing.
    const note = utf8.encode(
      JSON.stringify({
        record: recordId,
        sections,
        longTerm: longTerm === true,
        passcode: passcode !== undefined,
        ...(expiresAt !== undefined ? { exp: expiresAt } : {}),
        ...(label ? { label } : {}),
        ...(directFile ? { direct: true } : {}),
        ...(card ? { card: true } : {}),
      }),
    );
    const ownerKey = b64url(key.sealForOwner(identity.core, idBytes, note));
    const direct = directFile === true ? true : undefined;
    const body = utf8.encode(JSON.stringify({ files, passcode, maxAttempts, expiresAt, label, longTerm, direct, ownerKey }));
    const manifestUrl = `${client.baseUrl}/v1/shl/${id}`;
    await client.send("PUT", manifestUrl, { token: putToken(identity, idBytes, body), body, type: "application/json" });
    return { url: payload(manifestUrl, key, { longTerm, passcode: passcode !== undefined, label, expiresAt, direct: directFile }), id };
  } finally {
    key.free();
  }
}

/** @internal The signer's links with their retrievals. */
export function links(client, identity) {
  const token = core.signToken(identity.core, "listLinks", new Uint8Array(0), Date.now());
  return client.json("GET", `${client.baseUrl}/v1/shl`, { token });
}

/**
 * Opens a listed link's sealed owner key: `{key, note}` (free `key`), the
 * note being the sealed terms `{record, sections, longTerm, passcode, exp,
 * label, direct, card}` (a note without a term has it false/absent).
 */
function ownerKeyOf(identity, link) {
  if (!link.ownerKey) throw new SesphrError("no_link_key", "This link was made without keeping its key for you: it cannot be shown again or refreshed.");
  const opened = core.ShlLinkKey.openForOwner(identity.core, linkIdBytes(link.id), unb64url(link.ownerKey));
  try {
    let n;
    try {
      n = JSON.parse(new TextDecoder().decode(opened.note));
    } catch {
      throw new SesphrError("malformed", "the link's note is not JSON");
    }
    if (n === null || typeof n !== "object") throw new SesphrError("malformed", "the link's note is not an object");
    const note = {
      record: n.record,
      sections: Array.isArray(n.sections) ? n.sections : [],
      longTerm: n.longTerm === true,
      passcode: n.passcode === true,
      exp: Number.isSafeInteger(n.exp) ? n.exp : undefined,
      label: typeof n.label === "string" && n.label ? n.label : undefined,
      direct: n.direct === true,
      card: n.card === true,
    };
    return { key: opened.key(), note };
  } finally {
    opened.free();
  }
}

/**
 * @internal The `shlink:/…` string of one of the owner's listed links, from
 * its sealed owner key and the terms sealed with it (a relay's substitute
 * does not open: `decryption_failed`; the listing's label, flags and expiry
 * are not used).
 */
export function linkUrl(client, identity, link) {
  const { key, note } = ownerKeyOf(identity, link);
  try {
    return payload(`${client.baseUrl}/v1/shl/${link.id}`, key, { ...note, expiresAt: note.exp });
  } finally {
    key.free();
  }
}

/** @internal Which record and sections a listed link of the owner's covers. */
export function linkSections(identity, link) {
  const { key, note } = ownerKeyOf(identity, link);
  key.free();
  return { record: note.record, sections: note.sections };
}

/** @internal The terms sealed in a listed link's owner key (see `ownerKeyOf`). */
export function linkTerms(identity, link) {
  const { key, note } = ownerKeyOf(identity, link);
  key.free();
  return note;
}

/** The owner-state slot of revoked link ids (a relay that re-lists a revoked link gets no refresh). */
const REVOKED_SLOT = "shl-revoked";
/** Most tombstones kept (oldest dropped first; each link's expiry is sealed anyway). */
const MAX_TOMBSTONES = 4096;
const localSlot = (identity) => `sesphr.shl-revoked.${identity.id}`;
/** One OwnerState per identity, so a relay that serves an older tombstone list than one seen is `stale`. */
const states = new WeakMap();
function stateOf(client, identity) {
  let st = states.get(identity);
  if (!st || st.client !== client) states.set(identity, (st = new OwnerState(client, identity)));
  return st;
}

function localTombstones(identity) {
  try {
    const v = JSON.parse(globalThis.localStorage?.getItem(localSlot(identity)) ?? "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/** Ids of the owner's revoked links: this browser's list and the owner's encrypted state at the relay. */
async function revokedIds(client, identity) {
  const ids = new Set(localTombstones(identity));
  const { value } = await stateOf(client, identity).load(REVOKED_SLOT);
  if (Array.isArray(value)) for (const id of value) ids.add(id);
  return ids;
}

async function tombstone(client, identity, id) {
  const add = (list) => (list.includes(id) ? list : [...list, id].slice(-MAX_TOMBSTONES));
  try {
    globalThis.localStorage?.setItem(localSlot(identity), JSON.stringify(add(localTombstones(identity))));
  } catch {
    // No Web Storage here: the owner state below carries it.
  }
  await stateOf(client, identity).update(REVOKED_SLOT, (v) => {
    const list = Array.isArray(v) ? v : [];
    return list.includes(id) ? undefined : add(list);
  });
}

/**
 * @internal The `shlink:/…` of the record's emergency card link, if one
 * the owner made as the card (sealed `card` marker, long-term, no passcode,
 * not expired, not revoked) covers exactly `sections` of `record`; else
 * undefined. Nothing the relay lists (label, flags) decides.
 */
export async function cardLink(record, sections) {
  const { client, identity } = record;
  const revoked = await revokedIds(client, identity);
  for (const link of await links(client, identity)) {
    if (!link.ownerKey || revoked.has(link.id)) continue;
    let note;
    try {
      note = linkTerms(identity, link);
    } catch {
      continue;
    }
    if (!note.card || !note.longTerm || note.passcode || note.direct || note.record !== record.recordId) continue;
    if (note.exp !== undefined && note.exp <= Date.now()) continue;
    if (note.sections.length !== sections.length || note.sections.some((n, i) => n !== sections[i])) continue;
    return linkUrl(client, identity, link);
  }
  return undefined;
}

/**
 * @internal Refreshes the live (long-term) links of `record` (a
 * PatientRecord) that cover any of `names` (all its live links if
 * omitted): each is re-exported from the sections' latest versions and its
 * files replaced under the same link key (opened from the key sealed for
 * the owner). Resolves to `{refreshed: [id], failed: [{id, error}]}`; a
 * link whose sections are gone fails with `no_such_section`.
 */
export async function refreshLinks(record, names) {
  const { client, identity } = record;
  const refreshed = [];
  const failed = [];
  const revoked = await revokedIds(client, identity);
  for (const link of await links(client, identity)) {
    // The listing only says which links exist: whether one is live comes
    // from its sealed note and this client's clock, and a revoked one stays
    // dead whatever the relay lists.
    if (!link.ownerKey || revoked.has(link.id)) continue;
    let owned;
    try {
      owned = ownerKeyOf(identity, link);
    } catch (error) {
      failed.push({ id: link.id, error });
      continue;
    }
    const { key, note } = owned;
    const { record: rid, sections } = note;
    try {
      if (!note.longTerm || rid !== record.recordId) continue;
      if (note.exp !== undefined && note.exp <= Date.now()) continue;
      if (names && !sections.some((n) => names.includes(n))) continue;
      const opened = [];
      try {
        for (const n of sections) opened.push(await record.open(n));
        const files = await encrypt(key, await linkFiles(opened, { card: note.card }));
        const body = utf8.encode(JSON.stringify({ refresh: true, files }));
        await client.send("PUT", `${client.baseUrl}/v1/shl/${link.id}`, { token: putToken(identity, linkIdBytes(link.id), body), body, type: "application/json" });
        refreshed.push(link.id);
      } finally {
        opened.forEach((s) => s.close());
      }
    } catch (error) {
      failed.push({ id: link.id, error });
    } finally {
      key.free();
    }
  }
  return { refreshed, failed };
}

/**
 * @internal Revokes the signer's link `id`: its id is kept as revoked (in
 * this browser and the owner's encrypted state) first, so no later refresh
 * writes to it even if the relay keeps listing it.
 */
export async function revokeLink(client, identity, id) {
  linkIdBytes(id);
  await tombstone(client, identity, id);
  const token = core.signToken(identity.core, "revokeLink", linkIdBytes(id), Date.now());
  await client.send("DELETE", `${client.baseUrl}/v1/shl/${id}`, { token });
}

function decoded(contentType, plaintext) {
  if (!/[/+]json$/.test(contentType)) return { contentType, content: plaintext };
  try {
    return { contentType, content: JSON.parse(new TextDecoder().decode(plaintext)) };
  } catch {
    throw new SesphrError("malformed", `a file of type ${contentType} is not JSON`);
  }
}

/** Codes a link server may answer that the viewer shows in its own words; any other is `http_<status>`. */
const SERVER_CODES = {
  not_found: "This link was revoked or has expired, or it never existed.",
  wrong_passcode: "The passcode is wrong.",
  passcode_required: "This link needs a passcode.",
  recipient_required: "The link's server wants to know who is opening it.",
  bad_recipient: "The name given is too long.",
  bad_passcode: "The passcode is too long.",
  rate_limited: "Too many tries in a short time: wait a moment.",
  busy: "The link's server is busy: wait a moment.",
  not_direct: "The link says it is a single file, but its server does not serve it so.",
};
/** Largest manifest answer read (32 embedded files of a few hundred KiB, or locations). */
export const MAX_MANIFEST_BYTES = 10 * 1024 * 1024;
/** Largest file read from a location or a direct-file link (the core's 8 MiB JWE and slack). */
export const MAX_LINK_FILE_BYTES = 8 * 1024 * 1024 + 64 * 1024;
/** Most files a manifest may list. */
export const MAX_LINK_FILES = 32;
/** Largest error answer read. */
const MAX_ERROR_BYTES = 16 * 1024;

/** At most `max` bytes of `resp`'s body as text (`too_large` past it, without reading the rest). */
async function cappedText(resp, max) {
  const declared = Number(resp.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await resp.body?.cancel().catch(() => {});
    throw new SesphrError("too_large", `The link's server sent more than ${max} bytes.`);
  }
  if (!resp.body) return "";
  const reader = resp.body.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new SesphrError("too_large", `The link's server sent more than ${max} bytes.`);
    }
    parts.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(all);
}

/** Whether `url` may be fetched by the viewer: `https:`, or `http:` to this machine (tests, a local relay). */
function checkedUrl(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new SesphrError("malformed", "The link names an address that is not a URL.");
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname);
  if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) {
    throw new SesphrError("malformed", "The link names an address that is not https.");
  }
  return u.href;
}

/** A fetch of the viewer: checked address, no redirects. */
function get(f, url, init = {}) {
  return f(checkedUrl(url), { ...init, redirect: "error" }).catch((e) => {
    if (e instanceof SesphrError) throw e;
    throw new SesphrError("network", "The link's server could not be reached (or it redirected elsewhere).");
  });
}

/** The error of a link server's refusal: a known code in this package's words, else `http_<status>`. */
async function fail(resp) {
  let body = {};
  try {
    body = JSON.parse(await cappedText(resp, MAX_ERROR_BYTES));
  } catch {
    // not JSON, or too long
  }
  const known = typeof body?.code === "string" && Object.hasOwn(SERVER_CODES, body.code);
  const code = known ? body.code : `http_${resp.status}`;
  const e = new SesphrError(code, known ? SERVER_CODES[code] : `The link's server refused (HTTP ${resp.status}).`, { status: resp.status });
  if (Number.isInteger(body?.remainingAttempts)) e.remainingAttempts = body.remainingAttempts;
  return e;
}

/**
 * What a SMART Health Link (`shlink:/…` or a viewer URL with one in its
 * fragment) says about itself, without its key: `{url, flag, label, exp}`
 * (`exp` in seconds). Throws `malformed` or `unknown_version`.
 */
export function decodeLink(shlink) {
  const link = core.shlDecodePayload(shlink);
  try {
    return { url: link.url, flag: link.flag, label: link.label, exp: link.exp };
  } finally {
    link.free();
  }
}

/**
 * Opens a SMART Health Link (`shlink:/…`, or a viewer URL with one in its
 * fragment) as the viewer: posts the manifest request with `recipient` (and
 * `passcode`), fetches each file and decrypts it. Resolves to
 * `[{contentType, content}]` (`content` parsed JSON for JSON types, else a
 * Uint8Array). A wrong passcode throws `wrong_passcode` with
 * `remainingAttempts`; an expired or revoked link `not_found`.
 */
export async function openLink(shlink, { recipient, passcode, fetch: f = globalThis.fetch.bind(globalThis) } = {}) {
  if (typeof recipient !== "string" || recipient.trim() === "") {
    throw new SesphrError("invalid_argument", "recipient is required");
  }
  const link = core.shlDecodePayload(shlink);
  const key = link.key();
  try {
    if (link.flag.includes("U")) {
      // A direct file: GET the JWE itself, naming the recipient.
      const r = await get(f, `${link.url}${link.url.includes("?") ? "&" : "?"}recipient=${encodeURIComponent(recipient)}`);
      if (!r.ok) throw await fail(r);
      return [await openFile(key, await cappedText(r, MAX_LINK_FILE_BYTES))];
    }
    const body = { recipient, ...(passcode !== undefined ? { passcode } : {}) };
    const resp = await get(f, link.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!resp.ok) throw await fail(resp);
    let manifest;
    try {
      manifest = JSON.parse(await cappedText(resp, MAX_MANIFEST_BYTES));
    } catch (e) {
      if (e instanceof SesphrError) throw e;
      throw new SesphrError("malformed", "The link's server answered something that is not a manifest.");
    }
    const files = manifest?.files ?? [];
    if (!Array.isArray(files)) throw new SesphrError("malformed", "The link's server answered something that is not a manifest.");
    if (files.length > MAX_LINK_FILES) throw new SesphrError("too_large", `The link's server lists ${files.length} files; a viewer takes at most ${MAX_LINK_FILES}.`);
    const out = [];
    for (const file of files) {
      let jwe = file?.embedded;
      if (jwe === undefined) {
        if (typeof file?.location !== "string") throw new SesphrError("malformed", "A file of the manifest has neither content nor location.");
        const r = await get(f, file.location);
        if (!r.ok) throw await fail(r);
        jwe = await cappedText(r, MAX_LINK_FILE_BYTES);
      } else if (typeof jwe !== "string" || jwe.length > MAX_LINK_FILE_BYTES) {
        throw new SesphrError("malformed", "A file of the manifest is not a JWE of at most 8 MiB.");
      }
      out.push(await openFile(key, jwe));
    }
    return out;
  } finally {
    key.free();
    link.free();
  }
}

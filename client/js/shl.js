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

/** Most bytes of attachments one link carries (the relay takes an 8 MiB JWE; base64 and JSON need room). */
export const MAX_LINK_ATTACHMENT_BYTES = 5 * 1024 * 1024;

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
async function linkFiles(opened) {
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
  return [{ contentType: FHIR_JSON, plaintext: utf8.encode(JSON.stringify(toBundle(documents))) }];
}

function putToken(identity, idBytes, body) {
  const subject = new Uint8Array(64);
  subject.set(idBytes);
  subject.set(core.shlBodyHash(body), 32);
  return core.signToken(identity.core, "putLink", subject, Date.now());
}

function encrypt(key, files) {
  try {
    return files.map((f) => ({ contentType: f.contentType, jwe: key.encryptFile(f.contentType, f.plaintext) }));
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
export async function createLink(client, identity, opened, { recordId, sections }, { passcode, expiresAt, label, maxAttempts, longTerm = false, directFile = false } = {}) {
  if (directFile && passcode !== undefined) {
    throw new SesphrError("invalid_argument", "a direct-file (U) link has no passcode");
  }
  if (expiresAt !== undefined && !(Number.isSafeInteger(expiresAt) && expiresAt > Date.now())) {
    throw new SesphrError("invalid_argument", "expiresAt is a time in ms in the future");
  }
  if (passcode !== undefined && (typeof passcode !== "string" || passcode === "")) {
    throw new SesphrError("invalid_argument", "a passcode is a non-empty string");
  }
  const plain = await linkFiles(opened);
  const key = core.ShlLinkKey.generate();
  try {
    const files = encrypt(key, plain);
    const idBytes = crypto.getRandomValues(new Uint8Array(32));
    const id = b64url(idBytes);
    const note = utf8.encode(JSON.stringify({ record: recordId, sections, ...(directFile ? { direct: true } : {}) }));
    const ownerKey = b64url(key.sealForOwner(identity.core, idBytes, note));
    const body = utf8.encode(JSON.stringify({ files, passcode, maxAttempts, expiresAt, label, longTerm, ownerKey }));
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

/** Opens a listed link's sealed owner key: `{key, record, sections}` (free `key`). */
function ownerKeyOf(identity, link) {
  if (!link.ownerKey) throw new SesphrError("no_link_key", "This link was made without keeping its key for you: it cannot be shown again or refreshed.");
  const opened = core.ShlLinkKey.openForOwner(identity.core, linkIdBytes(link.id), unb64url(link.ownerKey));
  try {
    let note;
    try {
      note = JSON.parse(new TextDecoder().decode(opened.note));
    } catch {
      throw new SesphrError("malformed", "the link's note is not JSON");
    }
    return { key: opened.key(), record: note.record, sections: Array.isArray(note.sections) ? note.sections : [], direct: note.direct === true };
  } finally {
    opened.free();
  }
}

/**
 * @internal The `shlink:/…` string of one of the owner's listed links, from
 * its sealed owner key (a relay's substitute does not open:
 * `decryption_failed`).
 */
export function linkUrl(client, identity, link) {
  const { key, direct } = ownerKeyOf(identity, link);
  try {
    return payload(`${client.baseUrl}/v1/shl/${link.id}`, key, { ...link, passcode: link.passcode, direct });
  } finally {
    key.free();
  }
}

/** @internal Which record and sections a listed link of the owner's covers. */
export function linkSections(identity, link) {
  const { key, record, sections } = ownerKeyOf(identity, link);
  key.free();
  return { record, sections };
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
  for (const link of await links(client, identity)) {
    if (!link.longTerm || !link.ownerKey) continue;
    let owned;
    try {
      owned = ownerKeyOf(identity, link);
    } catch (error) {
      failed.push({ id: link.id, error });
      continue;
    }
    const { key, record: rid, sections } = owned;
    try {
      if (rid !== record.recordId) continue;
      if (names && !sections.some((n) => names.includes(n))) continue;
      const opened = [];
      try {
        for (const n of sections) opened.push(await record.open(n));
        const files = encrypt(key, await linkFiles(opened));
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

/** @internal Revokes the signer's link `id`. */
export async function revokeLink(client, identity, id) {
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

async function fail(resp) {
  let body = {};
  try {
    body = await resp.json();
  } catch {
    // not JSON
  }
  const e = new SesphrError(typeof body.code === "string" ? body.code : `http_${resp.status}`, body.message ?? `${resp.status}`, {
    status: resp.status,
  });
  if (Number.isInteger(body.remainingAttempts)) e.remainingAttempts = body.remainingAttempts;
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
      const r = await f(`${link.url}${link.url.includes("?") ? "&" : "?"}recipient=${encodeURIComponent(recipient)}`);
      if (!r.ok) throw await fail(r);
      const { contentType, plaintext } = key.decryptFile(await r.text());
      return [decoded(contentType, plaintext)];
    }
    const body = { recipient, ...(passcode !== undefined ? { passcode } : {}) };
    const resp = await f(link.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!resp.ok) throw await fail(resp);
    const manifest = await resp.json();
    const out = [];
    for (const file of manifest.files ?? []) {
      let jwe = file.embedded;
      if (jwe === undefined) {
        const r = await f(file.location);
        if (!r.ok) throw await fail(r);
        jwe = await r.text();
      }
      const { contentType, plaintext } = key.decryptFile(jwe);
      out.push(decoded(contentType, plaintext));
    }
    return out;
  } finally {
    key.free();
    link.free();
  }
}

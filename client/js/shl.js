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

/**
 * @internal Creates a link to `documents` (decrypted section documents) for
 * `identity` at `client`'s relay: `{url, id}`.
 */
export async function createLink(client, identity, documents, { passcode, expiresAt, label, maxAttempts, longTerm = false } = {}) {
  if (expiresAt !== undefined && !(Number.isSafeInteger(expiresAt) && expiresAt > Date.now())) {
    throw new SesphrError("invalid_argument", "expiresAt is a time in ms in the future");
  }
  const bundle = toBundle(documents);
  const key = core.ShlLinkKey.generate();
  try {
    const jwe = key.encryptFile(FHIR_JSON, utf8.encode(JSON.stringify(bundle)));
    const idBytes = crypto.getRandomValues(new Uint8Array(32));
    const id = b64url(idBytes);
    const body = utf8.encode(
      JSON.stringify({ files: [{ contentType: FHIR_JSON, jwe }], passcode, maxAttempts, expiresAt, label, longTerm }),
    );
    // SHA-256 in the core (mailId is SHA-256 of its bytes): WebCrypto may be absent.
    const subject = new Uint8Array(64);
    subject.set(idBytes);
    subject.set(core.mailId(body), 32);
    const token = core.signToken(identity.core, "putLink", subject, Date.now());
    const manifestUrl = `${client.baseUrl}/v1/shl/${id}`;
    await client.send("PUT", manifestUrl, { token, body, type: "application/json" });
    const flag = (longTerm ? "L" : "") + (passcode !== undefined ? "P" : "");
    const options = { flag, ...(label !== undefined ? { label } : {}) };
    if (expiresAt !== undefined) options.exp = Math.floor(expiresAt / 1000);
    return { url: core.shlEncodePayload(manifestUrl, key, options), id };
  } finally {
    key.free();
  }
}

/** @internal The signer's links with their retrievals. */
export function links(client, identity) {
  const token = core.signToken(identity.core, "listLinks", new Uint8Array(0), Date.now());
  return client.json("GET", `${client.baseUrl}/v1/shl`, { token });
}

/** @internal Revokes the signer's link `id`. */
export async function revokeLink(client, identity, id) {
  const token = core.signToken(identity.core, "revokeLink", linkIdBytes(id), Date.now());
  await client.send("DELETE", `${client.baseUrl}/v1/shl/${id}`, { token });
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
    if (link.flag.includes("U")) throw new SesphrError("unsupported", "direct-file (U) links are not supported yet");
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
      const json = /[/+]json$/.test(contentType);
      out.push({ contentType, content: json ? JSON.parse(new TextDecoder().decode(plaintext)) : plaintext });
    }
    return out;
  } finally {
    key.free();
    link.free();
  }
}

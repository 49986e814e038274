// Access requests. A party asks a record's owner for sections with a
// reason: the request is signed by the requester and sealed to the owner as
// mail (`/v1/mail`), so the relay learns only that a mail exists; it
// expires (at most 30 days). The owner's client shows at most three pending
// requests per requester (the rest is deleted until those are answered) and
// answers with ordinary grants (exactly what was asked, or less) or a
// signed refusal mailed back, which the requester's client reads. The SRS
// sees an approval only as the grants it registers (and later reads); a
// refusal never reaches it.

import { core, free, fromHex, roleSections } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { MAIL_KIND, sortedMail } from "./mail.js";

const DAY = 86_400_000;

/**
 * Requester side: asks `owner` (a party id or `{id, publicKey}`) for
 * `sections` (names) with a `reason`; `recordId` names a record (default:
 * the owner's choice), `role` a preset, `ttlMs` the lifetime (default 7
 * days, at most 30). Returns `{id, ownerId, sections, expiresAt}`: `id`
 * is what a refusal names.
 */
export async function requestAccess(client, identity, { owner, sections, reason = "", recordId, role, ttlMs = 7 * DAY }) {
  if (!Array.isArray(sections) || !sections.length) throw new SesphrError("invalid_argument", "Ask for at least one section.");
  const party = typeof owner === "string" ? await client.lookup(owner) : owner;
  if (party.id === identity.id) throw new SesphrError("invalid_argument", "That is your own party id.");
  const pub = core.PublicIdentity.fromBytes(party.publicKey);
  try {
    const { id, sealed } = core.sealAccessRequest(identity.core, pub, { recordId, role, sections, reason, ttlMs });
    await client.postMail(identity, party.id, sealed);
    return { id, ownerId: party.id, sections: [...sections], expiresAt: Date.now() + ttlMs };
  } finally {
    free(pub);
  }
}

/**
 * Owner side: the pending access requests, oldest first: `[{id, mailId,
 * requester, recordId, role, sections, reason, createdAt, expiresAt}]`.
 * Requests that do not verify, expired ones, repeats and more than three
 * per requester are deleted from the mailbox.
 */
export async function accessRequests(client, identity) {
  const mails = await sortedMail(client, identity, [MAIL_KIND.accessRequest]);
  const { pending, junk } = core.openAccessRequests(identity.core, mails.map(({ id, sealed }) => ({ id, sealed })));
  await Promise.all(junk.map((id) => client.clearMail(identity, id).catch(() => false)));
  const sealedOf = new Map(mails.map((m) => [m.id, m.sealed]));
  return pending
    .map(({ mailId, request }) => ({ ...request, mailId, sealed: sealedOf.get(mailId) }))
    .sort((a, b) => a.createdAt - b.createdAt);
}

/**
 * Owner side: approves a request from `accessRequests` on `record` (a
 * PatientRecord) with ordinary grants of `sections` (default: all it asked;
 * never more). Returns the new grant ids; the request's mail is deleted.
 */
export async function approveRequest(client, identity, record, request, { sections = request.sections } = {}) {
  const asked = new Set(request.sections);
  const extra = sections.filter((s) => !asked.has(s));
  if (extra.length) throw new SesphrError("invalid_argument", `Not asked for: ${extra.join(", ")}. Approve what was asked, or less.`);
  if (!sections.length) throw new SesphrError("invalid_argument", "Approve at least one section, or decline.");
  if (request.recordId && request.recordId !== record.recordId) throw new SesphrError("binding_mismatch", "The request is about another of your records.");
  // An answered or expired request must not come back to life (a stale
  // list, a second tab): the owner's clock decides.
  if (!(request.expiresAt > Date.now())) throw new SesphrError("expired", "This request has expired.");
  if (request.role === "emergency") throw new SesphrError("invalid_argument", "Emergency access is set up by you, not requested.");
  const ids = await record.share({ grantee: request.requester.id, sections, role: roleFor(request.role, sections) });
  await client.clearMail(identity, request.mailId).catch(() => false);
  return ids;
}

/**
 * The role label of an approval: the requester's preset only when the
 * approved sections are exactly that preset, else `custom` (the requester
 * chooses the words it asks with, not the label the owner's grant carries).
 */
function roleFor(role, sections) {
  if (!role || role === "custom" || role === "emergency") return "custom";
  let preset;
  try {
    preset = roleSections(role);
  } catch {
    return "custom";
  }
  const a = [...preset].sort();
  const b = [...sections].sort();
  return a.length === b.length && a.every((x, i) => x === b[i]) ? role : "custom";
}

/**
 * Owner side: declines a request: a signed refusal is mailed to the
 * requester, and the request's mail is deleted.
 */
export async function declineRequest(client, identity, request) {
  const { requesterId, sealed } = core.sealAccessRefusal(identity.core, fromHex(request.sealed));
  await client.postMail(identity, requesterId, sealed);
  await client.clearMail(identity, request.mailId).catch(() => false);
}

/**
 * Requester side: the refusals mailed to this party, verified (signed by
 * the owner they name, about this party's request): `[{requestId, owner,
 * timestamp}]`. They are deleted once read (keep them if you show a history).
 */
export async function accessReplies(client, identity) {
  const out = [];
  for (const m of await sortedMail(client, identity, [MAIL_KIND.accessRefusal])) {
    try {
      out.push(core.openAccessRefusal(identity.core, fromHex(m.sealed)));
    } catch {
      // a forged or damaged refusal: junk
    }
    await client.clearMail(identity, m.id).catch(() => false);
  }
  return out;
}

// Invitations, owner-private state at the relay, name cards and shares
// grouped by person.
//
//   OwnerState      a party's encrypted state slots at the relay (contacts,
//                   invitations), versioned by compare-and-swap
//   Invitations     the patient's side: invite, read acceptances from mail,
//                   confirm (then grant) or decline, cancel
//   acceptInvitation the invitee's side: verify a link, post the acceptance
//   issueAccess     grants sections to a verified party, sends it the
//                   patient's chosen name, keeps the person in the contacts:
//                   what confirming an invitation (or approving an access
//                   request) does
//   ownerNames      a reader's view of the names owners gave themselves
//   sharesByPerson  a record's live grants, one row per grantee
//
// The invitation secret travels in the link's fragment and in the owner's
// encrypted state only; no server sees it or the names.

import { core, fromHex, toHex, roleSections } from "./wasm.js";
import { SesphrError } from "./errors.js";
import { MAIL_KIND, sortedMail } from "./mail.js";

const OCTETS = "application/octet-stream";
/** Compare-and-swap attempts before a write gives up (another tab keeps winning). */
const CAS_ATTEMPTS = 6;
/** Longest life of an invitation. */
export const MAX_INVITATION_MS = 30 * 24 * 3600 * 1000;
/** Default life of an invitation. */
export const DEFAULT_INVITATION_MS = 7 * 24 * 3600 * 1000;
export { MAIL_KIND };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** base64url without padding. */
export function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Bytes of base64url text (`invalid_argument` otherwise). */
export function fromB64url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) throw new SesphrError("invalid_argument", "not base64url");
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * A party's owner-private state at the relay: each slot one JSON value,
 * encrypted under a key only the party's seed derives, in numbered
 * versions. `update` is a compare-and-swap loop, so two tabs or browsers
 * editing one slot never lose each other's changes; a relay that serves a
 * version older than one this party saw (or no copy after one), on this
 * page or an earlier one, is `stale`: the highest version seen of each slot
 * is kept in `storage` (a Web Storage: `localStorage` in a browser; without
 * one, for this object's life only).
 */
export class OwnerState {
  #seen;
  constructor(client, identity, storage = globalThis.localStorage) {
    this.client = client;
    this.identity = identity;
    this.#seen = new SeenVersions(storage, identity.id);
  }

  /** `{version, value}` of `slot` (`{version: 0, value: undefined}` when empty). */
  async load(slot) {
    const token = core.signToken(this.identity.core, "getState", enc.encode(slot), Date.now());
    let bytes;
    try {
      bytes = await this.client.bytes("GET", `${this.client.baseUrl}/v1/state/${slot}`, { token });
    } catch (e) {
      if (e.status !== 404) throw e;
      if (this.#seen.get(slot)) throw new SesphrError("stale", "The storage server no longer has your saved state: it may be hiding your changes.");
      return { version: 0, value: undefined };
    }
    const { version, plaintext } = core.openState(this.identity.core, slot, bytes);
    if (version < this.#seen.get(slot)) {
      plaintext.fill(0);
      throw new SesphrError("stale", `The storage server served an older copy of your saved state (version ${version}, you saw ${this.#seen.get(slot)}).`);
    }
    this.#seen.set(slot, version);
    try {
      return { version, value: JSON.parse(dec.decode(plaintext)) };
    } finally {
      plaintext.fill(0);
    }
  }

  /**
   * Applies `change(value)` (the current value, undefined when empty; it
   * returns the new value, or `undefined` to write nothing) and stores it
   * as the next version; on `version_conflict` (another tab or browser
   * wrote first) reloads and applies `change` again. Returns
   * `{version, value}`.
   */
  async update(slot, change) {
    for (let attempt = 1; ; attempt++) {
      const { version, value } = await this.load(slot);
      const next = await change(value === undefined ? undefined : structuredClone(value));
      if (next === undefined) return { version, value };
      const plain = enc.encode(JSON.stringify(next));
      const body = core.sealState(this.identity.core, slot, version + 1, plain);
      plain.fill(0);
      const token = core.signToken(this.identity.core, "putState", core.mailId(body), Date.now());
      try {
        await this.client.send("PUT", `${this.client.baseUrl}/v1/state/${slot}`, { body, type: OCTETS, token });
        this.#seen.set(slot, version + 1);
        return { version: version + 1, value: next };
      } catch (e) {
        if (e.code !== "version_conflict" || attempt >= CAS_ATTEMPTS) throw e;
      }
    }
  }
}

/**
 * The highest version seen of each state slot of one party, kept in a Web
 * Storage (key `sesphr-state-seen-<party id>`, JSON slot → version) so a
 * reload or a new tab still refuses a rollback. Only ever raised.
 */
class SeenVersions {
  #storage;
  #key;
  #mem = {};
  constructor(storage, partyId) {
    this.#storage = storage && typeof storage.getItem === "function" ? storage : undefined;
    this.#key = `sesphr-state-seen-${partyId}`;
  }
  #all() {
    if (!this.#storage) return this.#mem;
    try {
      const v = JSON.parse(this.#storage.getItem(this.#key) ?? "{}");
      return v && typeof v === "object" ? v : {};
    } catch {
      return {};
    }
  }
  get(slot) {
    const v = this.#all()[slot];
    return Number.isSafeInteger(v) && v > 0 ? v : 0;
  }
  set(slot, version) {
    const all = this.#all();
    if ((Number.isSafeInteger(all[slot]) ? all[slot] : 0) >= version) return;
    all[slot] = version;
    if (this.#storage) this.#storage.setItem(this.#key, JSON.stringify(all));
    else this.#mem = all;
  }
}

/** An invitation link's fragment part: `invite=<base64url of the signed invitation>`. */
const FRAGMENT = "invite=";

/** The invitation bytes in a link (a URL or its fragment), or undefined. */
export function invitationFromLink(link) {
  const s = String(link ?? "");
  const at = s.indexOf("#");
  const frag = at >= 0 ? s.slice(at + 1) : s;
  if (!frag.startsWith(FRAGMENT)) return undefined;
  return fromB64url(frag.slice(FRAGMENT.length));
}

/**
 * What an invitation link offers, its owner's signature verified:
 * `{id, owner: {id, fingerprint, publicKey}, ownerName, role, sections, expiresAt, expired}`.
 * Throws `invalid_argument` for a link that holds no invitation, and the
 * core's code (`bad_signature`, `malformed`) for a damaged one.
 */
export function readInvitation(link) {
  const bytes = invitationFromLink(link);
  if (!bytes) throw new SesphrError("invalid_argument", "This link holds no invitation.");
  const inv = core.openInvitation(bytes);
  return { ...inv, expired: Date.now() > inv.expiresAt };
}

/**
 * The invitee's side: verifies the invitation in `link`, then posts the
 * acceptance of `identity` (signed by it, MACed under the invitation's
 * secret, sealed to the owner) to the owner's mail. `name` is the name the
 * invitee gives itself (shown to the patient beside its fingerprint). An
 * expired invitation is `invitation_expired` and nothing is sent. The
 * identity must be registered (the relay takes mail only from registered
 * parties). Returns what `readInvitation` returns.
 */
export async function acceptInvitation(client, identity, link, { name = "" } = {}) {
  const inv = readInvitation(link);
  if (inv.expired) throw new SesphrError("invitation_expired", "This invitation has expired: ask for a new one.");
  if (inv.owner.id === identity.id) throw new SesphrError("invalid_argument", "This is your own invitation: send the link to the person you invite.");
  // The owner's keys are in the signed invitation; the directory must agree.
  const listed = await client.lookup(inv.owner.id);
  if (listed.fingerprint !== inv.owner.fingerprint) throw new SesphrError("binding_mismatch", "The directory lists other keys for the person who invited you.");
  let sealed;
  try {
    sealed = core.acceptInvitation(invitationFromLink(link), identity.core, String(name).trim(), Date.now());
  } catch (e) {
    if (e.code === "stale") throw new SesphrError("invitation_expired", "This invitation has expired: ask for a new one.");
    throw e;
  }
  await client.postMail(identity, inv.owner.id, sealed);
  return inv;
}

const SLOT = "invitations";
/**
 * The confirmation lease: a tab confirming an acceptance renews it (a
 * counter in the owner state, by compare-and-swap) every third of this
 * while it works; another tab takes it over only after seeing it unchanged
 * for this long on its own clock (no two browsers' clocks are compared).
 */
const LEASE_MS = 60 * 1000;
const CONTACTS = "contacts";

/** How long an ended invitation stays listed (its status shown) before it is forgotten. */
const KEEP_ENDED_MS = MAX_INVITATION_MS;
/** Most declined acceptances remembered per invitation (a replay of one is dropped silently). */
const MAX_DECLINED = 32;

/**
 * The invitation list as stored: the secret of an invitation that can take
 * no acceptance any more (cancelled, or past its expiry) is dropped; one
 * that ended more than KEEP_ENDED_MS ago is forgotten. A confirmation left
 * half done (used, not granted) is kept whole until it is finished.
 */
function prune(list, now) {
  return list
    .filter((i) => (i.status === "used" && !i.granted) || i.expiresAt > now - KEEP_ENDED_MS)
    .map((i) => {
      if (i.secret === undefined || (i.status === "used" && !i.granted)) return i;
      if (i.status === "cancelled" || i.expiresAt < now) {
        const { secret, ...rest } = i;
        return rest;
      }
      return i;
    });
}

/** What the core's single-use rule weighs of an invitation entry (never its secret). */
const standing = (inv) => ({ status: inv.status, expiresAt: inv.expiresAt, acceptedBy: inv.acceptedBy, granted: !!inv.granted });

/** Plain words for why an acceptance was not taken. */
const REFUSED = {
  invitation_unknown: "It answers no invitation of yours (or one you cancelled).",
  invitation_expired: "The invitation had expired when it was accepted.",
  invitation_used: "The invitation was already accepted by someone else.",
  invitation_invalid: "It does not verify: it was not made with your invitation link, or it was altered.",
};

/** The patient's invitations, kept encrypted at the relay (slot `invitations`). */
export class Invitations {
  /** This object's name in a confirmation it leaves half done: it may finish that one at once, others wait. */
  #tab = toHex(globalThis.crypto.getRandomValues(new Uint8Array(8)));
  /** Each invitation's lease as this object last saw another tab hold it: id → `{key, at}` (its own clock). */
  #observed = new Map();
  /**
   * `patient` is a Patient; `state` an OwnerState of its identity (one per
   * patient is best); `leaseMs` the confirmation lease (tests shorten it).
   */
  constructor(patient, state = new OwnerState(patient.client, patient.identity), { leaseMs = LEASE_MS } = {}) {
    this.patient = patient;
    this.state = state;
    this.leaseMs = leaseMs;
  }

  /**
   * Invites someone to `record`: `{sections? (names) | role, role?,
   * expiresAt? (default a week, at most 30 days), ownerName (the name you
   * give yourself, which they will see), portalUrl}`. Returns `{id, url,
   * expiresAt, role, sections}`: send `url` (its fragment holds the secret)
   * to the person only.
   */
  async invite(record, { sections, role = "custom", expiresAt, ownerName, portalUrl } = {}) {
    const names = sections?.length ? sections : roleSections(role);
    if (!names.length) throw new SesphrError("invalid_argument", "Choose at least one section to share.");
    const now = Date.now();
    const expires = expiresAt ?? now + DEFAULT_INVITATION_MS;
    if (!Number.isSafeInteger(expires) || expires <= now || expires > now + MAX_INVITATION_MS) {
      throw new SesphrError("invalid_argument", "An invitation expires within 30 days.");
    }
    const me = String(ownerName ?? "").trim();
    if (!me) throw new SesphrError("invalid_argument", "Give the name the person will see you as.");
    const made = core.createInvitation(this.patient.identity.core, { expiresAt: expires, role, sections: names, ownerName: me });
    try {
      await this.state.update(SLOT, (v) => {
        const list = v?.invitations ?? [];
        list.push({
          id: made.id,
          secret: toHex(made.secret),
          recordId: record.recordId,
          role,
          sections: names,
          ownerName: me,
          expiresAt: expires,
          createdAt: now,
          status: "open",
        });
        return { ...v, invitations: prune(list, now) };
      });
      const base = String(portalUrl ?? "").split("#")[0];
      return { id: made.id, url: `${base}#${FRAGMENT}${b64url(made.bytes)}`, expiresAt: expires, role, sections: names };
    } finally {
      made.secret.fill(0);
      made.bytes.fill(0);
    }
  }

  /** Every invitation, without secrets: `[{id, recordId, role, sections, ownerName, expiresAt, createdAt, status, acceptedBy?}]` (`status` open, used, cancelled or expired). */
  async list() {
    const { value } = await this.state.load(SLOT);
    const now = Date.now();
    return (value?.invitations ?? []).map(({ secret, ...i }) => ({ ...i, status: i.status === "open" && i.expiresAt < now ? "expired" : i.status }));
  }

  /** Cancels an open invitation: a later acceptance of it is ignored. */
  async cancel(id) {
    await this.state.update(SLOT, (v) => {
      const i = v?.invitations?.find((x) => x.id === id);
      if (!i) throw new SesphrError("not_found", "No such invitation.");
      if (i.status !== "open") return undefined;
      i.status = "cancelled";
      return { ...v, invitations: prune(v.invitations, Date.now()) };
    });
  }

  /**
   * Acceptances waiting in the patient's mail: `{pending: [{mailId,
   * invitationId, invitee: {id, fingerprint, publicKey}, name, acceptedAt,
   * recordId, role, sections, expiresAt, resume?}], refused: [{mailId, code,
   * message}]}`. Each acceptance is opened with its invitation's secret and
   * its MAC and the invitee's signature verified. Every verified acceptance
   * of an open invitation is pending, one per invitee (a repeat of the same
   * person is deleted silently): the patient picks whom to confirm, and
   * `confirm`'s compare-and-swap lets one win. An acceptance whose
   * confirmation was left half done (marked used for this invitee, not yet
   * granted: a failure or reload mid-way) is pending again with `resume`.
   * One that does not verify, answers no open invitation, came after the
   * expiry or answers an invitation another person already used is refused
   * and deleted (nothing is granted); a repeat of a confirmed or declined
   * one is deleted silently. Junk is deleted (`sortedMail`); other kinds of
   * mail are left for their own readers.
   */
  async acceptances() {
    const me = this.patient.identity;
    const { value } = await this.state.load(SLOT);
    const byId = new Map((value?.invitations ?? []).map((i) => [i.id, i]));
    const pending = [];
    const refused = [];
    const drop = [];
    const seen = new Set();
    const now = Date.now();
    for (const { id: mailId, sealed } of await sortedMail(this.patient.client, me, [MAIL_KIND.acceptance])) {
      const bytes = fromHex(sealed);
      const refuse = (code) => {
        refused.push({ mailId, code, message: REFUSED[code] });
        drop.push(mailId);
      };
      let invitationId;
      try {
        invitationId = core.acceptanceInvitationId(me.core, bytes);
      } catch {
        refuse("invitation_invalid");
        continue;
      }
      const inv = byId.get(invitationId);
      if (!inv || inv.status === "cancelled") {
        refuse("invitation_unknown");
        continue;
      }
      // The one confirmed (and granted), or one declined, served again (a replay): nothing to do.
      if ((inv.granted && inv.acceptedMail === mailId) || inv.declined?.includes(mailId)) {
        drop.push(mailId);
        continue;
      }
      const resumable = inv.status === "used" && !inv.granted;
      if (!inv.secret || (!resumable && now > inv.expiresAt)) {
        // Its secret is dropped once it can take no acceptance: none is read.
        refuse(inv.status === "used" ? "invitation_used" : "invitation_expired");
        continue;
      }
      let a;
      const secret = fromHex(inv.secret);
      try {
        a = core.openAcceptance(me.core, bytes, secret);
      } catch {
        refuse("invitation_invalid");
        continue;
      } finally {
        secret.fill(0);
      }
      const entry = {
        mailId,
        invitationId,
        invitee: a.invitee,
        name: a.name,
        acceptedAt: a.acceptedAt,
        recordId: inv.recordId,
        role: inv.role,
        sections: inv.sections,
        ownerName: inv.ownerName,
        expiresAt: inv.expiresAt,
      };
      const key = `${invitationId}/${a.invitee.id}`;
      // The single-use rule is the core's (invitationUse): take (open, in
      // time), resume (confirmed, never granted: the patient can finish
      // it), done (the same person again), or a refusal with its code.
      let use;
      try {
        use = core.invitationUse(standing(inv), a.invitee.id, a.acceptedAt, now);
      } catch (e) {
        if (!REFUSED[e.code]) throw e;
        refuse(e.code);
        seen.add(key);
        continue;
      }
      if (use === "done" || seen.has(key)) drop.push(mailId); // a second click, a replay: one is enough
      else pending.push(use === "resume" ? { ...entry, resume: true } : entry);
      seen.add(key);
    }
    await Promise.all(drop.map((id) => this.patient.client.clearMail(me, id).catch(() => false)));
    return { pending, refused };
  }

  /**
   * Confirms a pending acceptance (from `acceptances()`): marks its
   * invitation used by this invitee (compare-and-swap at the relay, so a
   * second tab, browser or replay cannot use it again), then grants exactly
   * the invitation's sections of `record` (`issueAccess`), names the person
   * `contactName` (default the name they gave) in the contacts, and deletes
   * the mail. Throws `invitation_used` when another acceptance won,
   * `invitation_expired` past the expiry; nothing is granted then. A
   * confirmation that failed after marking (the network, the SRS) stays
   * pending with `resume` and is finished by confirming it again: this
   * object at once; another tab or browser (`invitation_busy` meanwhile)
   * only once the confirming tab's lease, renewed while it works, has been
   * seen unchanged for `leaseMs`; sections already granted to the person
   * are not granted twice. Returns the grant ids.
   */
  async confirm(record, pending, { contactName, contacts } = {}) {
    if (record.recordId !== pending.recordId) throw new SesphrError("invalid_argument", "This acceptance is for another of your records.");
    let terms;
    await this.state.update(SLOT, (v) => {
      const inv = v?.invitations?.find((i) => i.id === pending.invitationId);
      // The core's single-use rule; its refusals throw with their codes.
      const use = core.invitationUse(inv && standing(inv), pending.invitee.id, pending.acceptedAt, Date.now());
      if (use === "done") throw new SesphrError("invitation_used", "You already confirmed this acceptance.");
      if (use === "resume") {
        // This object finishes its own at once (a retry after a failure).
        if (inv.lease?.by === this.#tab) {
          terms = inv;
          return undefined;
        }
        // Another tab or browser holds the lease: it may be at it right
        // now. Taken over only once seen unchanged (not renewed) for a
        // whole lease on this object's own clock.
        const key = `${inv.lease?.by}:${inv.lease?.n}`;
        const seen = this.#observed.get(inv.id);
        if (seen?.key !== key) this.#observed.set(inv.id, { key, at: Date.now() });
        if (seen?.key !== key || Date.now() - seen.at < this.leaseMs) {
          throw new SesphrError("invitation_busy", "This acceptance is being confirmed in another tab or browser: check again in a minute.");
        }
        // Lapsed (a reload mid-way, a closed tab): this one carries on.
        inv.lease = { by: this.#tab, n: (inv.lease?.n ?? 0) + 1 };
        terms = inv;
        return v;
      }
      // "take": open and in time.
      Object.assign(inv, { status: "used", acceptedBy: pending.invitee.id, acceptedAt: Date.now(), acceptedMail: pending.mailId, lease: { by: this.#tab, n: 0 }, granted: false });
      terms = inv;
      return v;
    });
    const renewing = this.#renew(pending.invitationId);
    try {
      return await this.#grant(record, pending, terms, { contactName, contacts });
    } finally {
      renewing.stop();
    }
  }

  /** Renews this object's lease on invitation `id` every third of a lease until `stop()`. */
  #renew(id) {
    let timer;
    let stopped = false;
    const tick = async () => {
      await this.state
        .update(SLOT, (v) => {
          const inv = v?.invitations?.find((i) => i.id === id);
          if (stopped || !inv || inv.granted || inv.lease?.by !== this.#tab) return undefined;
          inv.lease.n += 1;
          return v;
        })
        .catch(() => {}); // a missed renewal: the next one, or the lease lapses
      if (!stopped) timer = setTimeout(tick, this.leaseMs / 3);
    };
    timer = setTimeout(tick, this.leaseMs / 3);
    return {
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  async #grant(record, pending, terms, { contactName, contacts }) {
    // Idempotent: sections a resumed confirmation already granted this
    // person are not granted twice.
    const have = record.liveGrants().filter((g) => g.grantee.id === pending.invitee.id && terms.sections.includes(g.sectionName));
    const missing = terms.sections.filter((n) => !have.some((g) => g.sectionName === n));
    const ids = await issueAccess(record, {
      grantee: pending.invitee,
      sections: missing,
      already: have.map((g) => g.grantId),
      role: terms.role,
      ownerName: terms.ownerName,
      contactName: contactName ?? pending.name,
      contacts,
    });
    await this.state.update(SLOT, (v) => {
      const inv = v?.invitations?.find((i) => i.id === pending.invitationId);
      if (!inv || inv.granted) return undefined;
      inv.granted = true;
      inv.grantIds = [...ids];
      return v;
    });
    await this.patient.client.clearMail(this.patient.identity, pending.mailId).catch(() => false);
    return ids;
  }

  /**
   * Declines a pending acceptance: its mail is deleted, the invitation
   * stays open (for the right person's acceptance), and the mail's id is
   * remembered so a relay serving it again cannot bring it back.
   */
  async decline(pending) {
    await this.state.update(SLOT, (v) => {
      const inv = v?.invitations?.find((i) => i.id === pending.invitationId);
      if (!inv || inv.declined?.includes(pending.mailId)) return undefined;
      inv.declined = [...(inv.declined ?? []), pending.mailId].slice(-MAX_DECLINED);
      return v;
    });
    await this.patient.client.clearMail(this.patient.identity, pending.mailId).catch(() => false);
  }
}

/**
 * Grants `sections` (names; or `role`'s preset) of `record` to `grantee`
 * (`{id, fingerprint, publicKey}` as verified: a directory lookup, an
 * opened acceptance or request), sends it `ownerName` (the name the patient
 * gives themself) sealed in its mail, and names the person `contactName`
 * in `contacts` (a Contacts, when given). The path both a confirmed
 * invitation and an approved access request take. Returns the grant ids
 * (with `nameNotSent`, a code, if the name could not be mailed).
 */
export async function issueAccess(record, { grantee, sections, role = "custom", history = "all", expiresAt, ownerName, contactName, contacts, already }) {
  if (!grantee?.publicKey) throw new SesphrError("invalid_argument", "issueAccess needs a verified grantee (id, fingerprint, publicKey).");
  // `already`: grant ids of these sections a half-done confirmation made.
  const ids = already?.length && !sections.length ? [] : await record.share({ grantee, sections, role, history, expiresAt });
  if (already?.length) ids.unshift(...already);
  // The grants stand whatever happens to the name (a full mailbox, say):
  // the failure's code is kept on the result, and a later share sends it again.
  if (ownerName) {
    try {
      await sendName(record.patient, grantee, ownerName);
    } catch (e) {
      ids.nameNotSent = e.code ?? "error";
    }
  }
  if (contacts && contactName && !contacts.get(grantee.id)) {
    await contacts.add(grantee, contactName).catch((e) => {
      // A name already taken: keep the person under a distinct one.
      if (e.code !== "invalid_argument") throw e;
      return contacts.add(grantee, `${contactName} (${grantee.fingerprint.slice(0, 4)})`);
    });
  }
  return ids;
}

/** Sends `grantee` the name the patient gives themself, signed and sealed to it. */
export async function sendName(patient, grantee, name) {
  const pub = core.PublicIdentity.fromBytes(grantee.publicKey);
  try {
    const sealed = core.sealNameCard(patient.identity.core, pub, String(name).trim(), Date.now());
    await patient.client.postMail(patient.identity, grantee.id, sealed);
  } finally {
    pub.free();
  }
}

/**
 * The names record owners gave themselves, from the reader's mail: owner
 * id → `{name, issuedAt, fingerprint}`. Only cards from `owners` (the ids
 * of owners whose grants this reader holds) count, the newest of each
 * (issuedAt, then arrival); every other card is deleted, as is junk
 * (`sortedMail`): a stranger's cards never pile up. Other kinds of mail
 * are left for their own readers. The owner-signed `issuedAt` is the
 * card's version: the newest seen per owner is kept in the reader's
 * `highWater` (key `name-card:<owner id>`; persist it), and a card older
 * than that (a relay serving an old name after a newer one) is refused
 * and deleted, across reloads.
 */
export async function ownerNames(reader, owners = new Set()) {
  const me = reader.identity;
  const best = new Map();
  const drop = [];
  for (const { id, sealed } of await sortedMail(reader.client, me, [MAIL_KIND.nameCard])) {
    let card;
    try {
      card = core.openNameCard(me.core, fromHex(sealed));
    } catch {
      drop.push(id);
      continue;
    }
    if (!owners.has(card.owner.id)) {
      drop.push(id); // no grant of theirs here: nobody whose name this reader shows
      continue;
    }
    if (card.issuedAt < (Number(reader.highWater?.get(nameCardKey(card.owner.id))) || 0)) {
      drop.push(id); // older than a card of theirs seen before: a replay
      continue;
    }
    const prev = best.get(card.owner.id);
    if (!prev || card.issuedAt >= prev.issuedAt) {
      if (prev) drop.push(prev.mailId);
      best.set(card.owner.id, { name: card.name, issuedAt: card.issuedAt, mailId: id, fingerprint: card.owner.fingerprint });
    } else drop.push(id);
  }
  for (const [owner, { issuedAt }] of best) reader.highWater?.set(nameCardKey(owner), issuedAt);
  await Promise.all(drop.map((id) => reader.client.clearMail(me, id).catch(() => false)));
  return best;
}

/** Where a reader's `highWater` keeps the newest name card seen of `owner`. */
const nameCardKey = (owner) => `name-card:${owner}`;

/**
 * A record's live grants, one row per grantee: `[{grantee: {id,
 * fingerprint}, name?, role, sections: [{name, grantIds}], grantIds}]`,
 * named from `contacts` when given. Revoke a person with
 * `record.revokeParty(id)`, a section of theirs with `record.revoke(ids)`.
 */
export function sharesByPerson(record, contacts) {
  const rows = new Map();
  for (const g of record.liveGrants()) {
    const id = g.grantee.id;
    let row = rows.get(id);
    if (!row) {
      row = { grantee: { id, fingerprint: g.grantee.fingerprint }, name: contacts?.get(id)?.name, roles: new Set(), sections: new Map(), grantIds: [] };
      rows.set(id, row);
    }
    row.roles.add(g.role);
    const s = row.sections.get(g.sectionName) ?? { name: g.sectionName, grantIds: [] };
    s.grantIds.push(g.grantId);
    row.sections.set(g.sectionName, s);
    row.grantIds.push(g.grantId);
  }
  return [...rows.values()]
    .map((r) => ({ ...r, role: [...r.roles].join(", "), roles: undefined, sections: [...r.sections.values()] }))
    .map(({ roles, ...r }) => r)
    .sort((a, b) => (a.name ?? "\uffff").localeCompare(b.name ?? "\uffff"));
}

/** The safety number of two parties (`{publicKey}` each, or 66 bytes): 60 digits in twelve groups of five, the same on both sides. */
export function safetyNumber(a, b) {
  return core.safetyNumber(a.publicKey ?? a, b.publicKey ?? b);
}

export { CONTACTS as CONTACTS_SLOT };

// Emergency access (break-glass, after Bitwarden's emergency access). An
// emergency grant is an ordinary grant whose owner-signed statement carries
// a wait (`record.share({..., emergencyWaitMs})`): the SRS holds it dormant
// until its grantee activates it; the owner sees the activation at once and
// may approve (access opens now) or deny (closed until a new activation);
// otherwise access opens when the wait has passed, and every answer on it is
// audited as emergency access (HL7 PurposeOfUse `BTG`). The bytes and the
// state machine are the core's; this module moves them to and from the SRS.
//
// Every answer comes through the relay's `/srs/*` proxy, which is not
// trusted: nothing here is taken from plain JSON. The listing, a status and
// an activation's answer are used only through the SRS-signed view (kind
// 0x20, the pinned SRS key, bound to this party and this request's nonce,
// rejected whole on any inconsistency); a decision counts only on the
// SRS-signed receipt (kind 0x21) naming it. Anything else throws
// `emergency_view_unverified`.

import { core, fromHex, free } from "./wasm.js";
import { SesphrError } from "./errors.js";

const OCTETS = "application/octet-stream";

/** The emergency preset: allergies, medications, history, demographics. */
export function emergencySections() {
  return core.emergencySections();
}

/** The stable code of an emergency answer that did not verify. */
export const EMERGENCY_VIEW_UNVERIFIED = "emergency_view_unverified";

function unverified(what, cause) {
  if (cause?.code === EMERGENCY_VIEW_UNVERIFIED) return cause;
  return new SesphrError(
    EMERGENCY_VIEW_UNVERIFIED,
    `The re-encryption server's ${what} could not be verified (${cause?.message ?? "unsigned"}): it may have been changed on the way, so it is not used.`,
    { cause },
  );
}

/** A signed view (hex) verified for this record, requester and request nonce: a core EmergencyView (free it). */
function verifiedView(client, hexView, recordId, requesterId, nonce, what) {
  try {
    if (typeof hexView !== "string") throw new SesphrError("malformed", "the answer carries no signed view");
    return core.EmergencyView.verify(fromHex(hexView), client.pinnedSrs(), recordId, requesterId, nonce);
  } catch (e) {
    throw unverified(what, e);
  }
}

/** The JSON body of an SRS answer; a body that is not JSON is an unverified answer. */
async function answer(client, what, method, url, options) {
  const resp = await client.send(method, url, options);
  try {
    return await resp.json();
  } catch (e) {
    throw unverified(what, e);
  }
}

/** One signed view entry as the package shows it (times in ms on the SRS's clock). */
function stateOf(e, now) {
  const a = e.activation;
  return {
    grantId: e.grantId,
    state: e.state,
    waitMs: e.waitMs,
    activatedAt: a?.activatedAt,
    opensAt: e.state === "waiting" ? a.opensAt : undefined,
    /** When the grantee asked: the time they signed into the activation (their clock). */
    askedAt: a?.timestamp,
    approved: e.approved,
    now,
    /** How long until access opens (waiting only), ms. */
    remainingMs: e.state === "waiting" ? Math.max(0, a.opensAt - now) : 0,
    /** The grant's latest owner decision (hash, hex), which the next activation must follow. */
    lastDecision: e.lastDecision ?? undefined,
  };
}

/** The emergency grants of a shared record: `[{grantId, sectionId, waitMs}]`. */
function emergencyGrants(shared) {
  const out = [];
  for (const s of shared.sections) {
    for (const g of s.grants) {
      if (g.emergencyWaitMs != null) out.push({ grantId: g.grantId, sectionId: s.sectionId, waitMs: g.emergencyWaitMs });
    }
  }
  return out;
}

/** One grant's verified state from a view answering this grantee's request. */
function entryFrom(view, grant, grantId, what) {
  try {
    view.checkGrant(grant);
    const data = view.view();
    return stateOf(data.entries.find((e) => e.grantId === grantId), data.now);
  } catch (e) {
    throw unverified(what, e);
  }
}

/** Grantee side: the verified state of one emergency grant. */
async function statusOf(client, identity, shared, grantId) {
  const token = core.signToken(identity.core, "emergencyStatus", fromHex(shared.recordId + grantId), Date.now());
  const v = await answer(client, "emergency status", "GET", `${client.srsUrl}/srs/v1/records/${shared.recordId}/emergency/${grantId}`, { token });
  let grant;
  let view;
  try {
    grant = core.emergencyGrant(shared.core, grantId);
    view = verifiedView(client, v?.view, shared.recordId, identity.id, core.tokenNonce(token), "emergency status");
    return entryFrom(view, grant, grantId, "emergency status");
  } finally {
    free(view, grant);
  }
}

/**
 * Grantee side: the state of each emergency grant of `shared` (a
 * SharedRecord), each from the SRS's signed view answering this request.
 */
export async function emergencyStatus(client, identity, shared) {
  const out = [];
  for (const { grantId, sectionId, waitMs } of emergencyGrants(shared)) {
    try {
      out.push({ ...(await statusOf(client, identity, shared, grantId)), sectionId });
    } catch (e) {
      // One revoked, expired or unknown grant is that grant's own state:
      // it must not stop the others from being looked at or activated.
      const gone = GONE.get(e?.code);
      if (!(e instanceof SesphrError) || !gone || (e.status !== 403 && e.status !== 404)) throw e;
      out.push({ grantId, sectionId, state: gone, waitMs, approved: false, remainingMs: 0, now: undefined, error: e.code });
    }
  }
  return out;
}

/** SRS refusals that are one grant's own state, not a failure of the listing. */
const GONE = new Map([
  ["revoked", "revoked"],
  ["expired", "expired"],
  ["not_found", "unknown"],
]);

/**
 * Grantee side: activates every emergency grant of `shared` that is
 * dormant or denied (one signed activation each, naming the latest
 * decision the signed status shows), starting the wait; each answer is
 * verified (the SRS's view bound to the activation's nonce names it).
 * Returns every emergency grant's state. Throws `not_emergency` (as
 * `invalid_state`) when the record holds no emergency grant for this reader.
 */
export async function activateEmergency(client, identity, shared) {
  const grants = emergencyGrants(shared);
  if (!grants.length) throw new SesphrError("invalid_state", "Nothing shared in this record is emergency access.");
  const current = await emergencyStatus(client, identity, shared);
  const live = current.filter((c) => !GONE.has(c.error));
  if (!live.length) {
    const why = current.map((c) => c.error).find(Boolean) ?? "invalid_state";
    throw new SesphrError(why === "not_found" ? "unknown_grant" : why, "No emergency grant of this record can be activated (revoked, expired or unknown).");
  }
  for (const { grantId } of grants) {
    const s = current.find((c) => c.grantId === grantId);
    if (s && (s.state === "waiting" || s.state === "open" || GONE.has(s.error))) continue;
    let grant;
    let activation;
    let view;
    try {
      grant = core.emergencyGrant(shared.core, grantId);
      activation = core.EmergencyActivation.sign(identity.core, grant, s?.lastDecision ?? null);
      const v = await answer(client, "answer to the activation", "POST", `${client.srsUrl}/srs/v1/emergency/activations`, { body: activation.bytes, type: OCTETS });
      view = verifiedView(client, v?.view, shared.recordId, identity.id, activation.nonce, "answer to the activation");
      try {
        view.checkActivation(activation);
      } catch (e) {
        throw unverified("answer to the activation", e);
      }
      const taken = entryFrom(view, grant, grantId, "answer to the activation");
      if (taken.state !== "waiting" && taken.state !== "open") throw unverified("answer to the activation", new Error(`it says ${taken.state}`));
    } finally {
      free(view, activation, grant);
    }
  }
  return emergencyStatus(client, identity, shared);
}

/**
 * Owner side: every live emergency grant of a record with its state,
 * `[{grantId, grantee, sectionId, state, waitMs, activatedAt, askedAt,
 * opensAt, remainingMs, approved, now, pending, activation}]` (`pending`:
 * activated and waiting, the owner's to approve or deny), from the SRS's
 * signed view answering this listing's token. The view must list exactly
 * the record's live emergency grants, each with the wait its owner signed,
 * and each listed activation must be its grantee's signature for exactly
 * that grant, the one the view names. Throws `emergency_view_unverified`
 * otherwise (a relay that hid, dropped, replayed or rewrote the answer).
 */
export async function emergencyActivations(patient, recordId) {
  const client = patient.client;
  const grants = await patient.grantRows(recordId);
  let view;
  try {
    const token = core.signToken(patient.identity.core, "listEmergency", fromHex(recordId), Date.now());
    const body = await answer(client, "emergency listing", "GET", `${client.srsUrl}/srs/v1/records/${recordId}/emergency`, { token });
    view = verifiedView(client, body?.view, recordId, patient.identity.id, core.tokenNonce(token), "emergency listing");
    const out = [];
    try {
      const data = view.view();
      const listed = new Set(data.entries.map((e) => e.grantId));
      for (const row of grants) {
        const g = row.grant.view();
        if (!row.revoked && g.emergencyWaitMs != null && !listed.has(g.grantId)) throw new SesphrError("binding_mismatch", "the signed listing leaves out a live emergency grant");
      }
      for (const e of data.entries) {
        const row = grants.find((r) => r.grant.view().grantId === e.grantId);
        if (!row) throw new SesphrError("binding_mismatch", "the signed listing names a grant this record does not have");
        // The SRS never lists a revoked grant; the plain row saying so is the relay's word.
        if (row.revoked) throw new SesphrError("binding_mismatch", "the signed listing names a grant the plain listing calls revoked");
        const g = row.grant.view();
        view.checkGrant(row.grant);
        let hexActivation;
        if (e.activation) {
          hexActivation = (Array.isArray(body.grants) ? body.grants : []).find((x) => x?.grantId === e.grantId)?.activation;
          if (typeof hexActivation !== "string") throw new SesphrError("malformed", "the listing leaves out a signed activation");
          const activation = core.EmergencyActivation.verify(fromHex(hexActivation), row.grant);
          try {
            view.checkActivation(activation);
          } finally {
            free(activation);
          }
        }
        out.push({ ...stateOf(e, data.now), grantee: g.grantee, sectionId: g.sectionId, pending: e.state === "waiting", activation: hexActivation });
      }
    } catch (e) {
      throw unverified("emergency listing", e);
    }
    return out;
  } finally {
    free(view, ...grants.map((r) => r.grant));
  }
}

/**
 * Owner side: approves or denies the latest activation of each emergency
 * grant chosen (`{grantIds}` or `{partyId}`: all of that grantee's), after
 * verifying it. `verdict` is `approve` (access opens now) or `deny`
 * (access closes; the grantee must activate again and wait again). A
 * decision counts only on the SRS's signed receipt naming it (else
 * `emergency_view_unverified`). Returns the new states.
 */
export async function decideEmergency(patient, recordId, verdict, { grantIds, partyId } = {}) {
  if (verdict !== "approve" && verdict !== "deny") throw new SesphrError("invalid_argument", "verdict is approve or deny");
  const listed = await emergencyActivations(patient, recordId);
  const chosen = listed.filter((r) => (grantIds ? grantIds.includes(r.grantId) : r.grantee.id === partyId));
  const decidable = chosen.filter((r) => r.activation && (r.state === "waiting" || (verdict === "deny" && r.state === "open")));
  if (!decidable.length) throw new SesphrError("not_activated", "There is no emergency activation to decide on.");
  const client = patient.client;
  const grants = await patient.grantRows(recordId);
  const out = [];
  try {
    for (const r of decidable) {
      const grant = grants.find((g) => g.grant.view().grantId === r.grantId).grant;
      let activation;
      let decision;
      let view;
      try {
        activation = core.EmergencyActivation.verify(fromHex(r.activation), grant);
        decision = core.EmergencyDecision.sign(patient.identity.core, grant, activation, verdict);
        const v = await answer(client, "receipt of the decision", "POST", `${client.srsUrl}/srs/v1/emergency/decisions`, { body: decision.bytes, type: OCTETS });
        let receipt;
        try {
          if (typeof v?.receipt !== "string") throw new SesphrError("malformed", "the answer carries no signed receipt");
          receipt = decision.acceptReceipt(fromHex(v.receipt), client.pinnedSrs());
        } catch (e) {
          throw unverified("receipt of the decision", e);
        }
        view = verifiedView(client, v.view, recordId, patient.identity.id, decision.nonce, "receipt of the decision");
        const state = entryFrom(view, grant, r.grantId, "receipt of the decision");
        if (state.state !== receipt.state || state.lastDecision !== receipt.decision) throw unverified("receipt of the decision", new Error("the view and the receipt disagree"));
        out.push({ ...state, grantee: r.grantee, sectionId: r.sectionId, receipt });
      } finally {
        free(view, decision, activation);
      }
    }
    return out;
  } finally {
    free(...grants.map((r) => r.grant));
  }
}

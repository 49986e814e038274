// Emergency access (break-glass, after Bitwarden's emergency access). An
// emergency grant is an ordinary grant whose owner-signed statement carries
// a wait (`record.share({..., emergencyWaitMs})`): the SRS holds it dormant
// until its grantee activates it; the owner sees the activation at once and
// may approve (access opens now) or deny (closed until a new activation);
// otherwise access opens when the wait has passed, and every answer on it is
// audited as emergency access (HL7 PurposeOfUse `BTG`). The bytes and the
// state machine are the core's; this module moves them to and from the SRS.

import { core, fromHex, free } from "./wasm.js";
import { SesphrError } from "./errors.js";

const OCTETS = "application/octet-stream";

/** The emergency preset: allergies, medications, history, demographics. */
export function emergencySections() {
  return core.emergencySections();
}

/** The SRS's view of one emergency grant, with times on its clock. */
function stateOf(v) {
  return {
    grantId: v.grantId,
    state: v.state,
    waitMs: v.waitMs,
    activatedAt: v.activatedAt ?? undefined,
    opensAt: v.opensAt ?? undefined,
    approved: v.approved,
    now: v.now,
    /** How long until access opens (waiting only), ms. */
    remainingMs: v.state === "waiting" ? Math.max(0, v.opensAt - v.now) : 0,
  };
}

/** The emergency grants of a shared record: `[{grantId, sectionId, grant (VerifiedGrant)}]`. */
function emergencyGrants(shared) {
  const out = [];
  for (const s of shared.sections) {
    for (const g of s.grants) {
      if (g.emergencyWaitMs != null) out.push({ grantId: g.grantId, sectionId: s.sectionId, waitMs: g.emergencyWaitMs });
    }
  }
  return out;
}

/** Grantee side: the state of each emergency grant of `shared` (a SharedRecord). */
export async function emergencyStatus(client, identity, shared) {
  const out = [];
  for (const { grantId, sectionId, waitMs } of emergencyGrants(shared)) {
    const subject = fromHex(shared.recordId + grantId);
    const token = core.signToken(identity.core, "emergencyStatus", subject, Date.now());
    try {
      const v = await client.json("GET", `${client.srsUrl}/srs/v1/records/${shared.recordId}/emergency/${grantId}`, { token });
      out.push({ ...stateOf(v), sectionId });
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
 * dormant or denied (one signed activation each), starting the wait.
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
    try {
      grant = core.emergencyGrant(shared.core, grantId);
      activation = core.EmergencyActivation.sign(identity.core, grant);
      await client.json("POST", `${client.srsUrl}/srs/v1/emergency/activations`, { body: activation.bytes, type: OCTETS });
    } finally {
      free(activation, grant);
    }
  }
  return emergencyStatus(client, identity, shared);
}

/**
 * Owner side: every live emergency grant of a record with its state,
 * `[{grantId, grantee, sectionId, state, waitMs, activatedAt, opensAt,
 * remainingMs, approved, now, pending}]` (`pending`: activated and waiting,
 * the owner's to approve or deny). Each listed activation is checked
 * against the grant statement: signed by its grantee for exactly that
 * grant, so the SRS cannot show an activation nobody made.
 */
export async function emergencyActivations(patient, recordId) {
  const token = core.signToken(patient.identity.core, "listEmergency", fromHex(recordId), Date.now());
  const client = patient.client;
  const rows = await client.json("GET", `${client.srsUrl}/srs/v1/records/${recordId}/emergency`, { token });
  const grants = await patient.grantRows(recordId);
  try {
    const out = [];
    for (const v of rows) {
      const row = grants.find((g) => !g.revoked && g.grant.view().grantId === v.grantId);
      if (!row) continue; // not a live grant of this record's: nothing to act on
      const g = row.grant.view();
      if (v.activation) {
        // Throws bad_signature / binding_mismatch: the SRS listed a forgery.
        free(core.EmergencyActivation.verify(fromHex(v.activation), row.grant));
      }
      if (v.waitMs !== g.emergencyWaitMs) throw new SesphrError("binding_mismatch", "the SRS lists another wait than the grant carries");
      out.push({ ...stateOf(v), grantee: g.grantee, sectionId: g.sectionId, pending: v.state === "waiting", activation: v.activation });
    }
    return out;
  } finally {
    free(...grants.map((r) => r.grant));
  }
}

/**
 * Owner side: approves or denies the latest activation of each emergency
 * grant chosen (`{grantIds}` or `{partyId}`: all of that grantee's), after
 * verifying it. `verdict` is `approve` (access opens now) or `deny`
 * (access closes; the grantee must activate again and wait again).
 * Returns the new states.
 */
export async function decideEmergency(patient, recordId, verdict, { grantIds, partyId } = {}) {
  if (verdict !== "approve" && verdict !== "deny") throw new SesphrError("invalid_argument", "verdict is approve or deny");
  const listed = await emergencyActivations(patient, recordId);
  const chosen = listed.filter((r) => (grantIds ? grantIds.includes(r.grantId) : r.grantee.id === partyId));
  const decidable = chosen.filter((r) => r.activation && (r.state === "waiting" || (verdict === "deny" && r.state === "open" )));
  if (!decidable.length) throw new SesphrError("not_activated", "There is no emergency activation to decide on.");
  const client = patient.client;
  const grants = await patient.grantRows(recordId);
  const out = [];
  try {
    for (const r of decidable) {
      const grant = grants.find((g) => g.grant.view().grantId === r.grantId).grant;
      let activation;
      try {
        activation = core.EmergencyActivation.verify(fromHex(r.activation), grant);
        const body = core.signEmergencyDecision(patient.identity.core, grant, activation, verdict);
        const v = await client.json("POST", `${client.srsUrl}/srs/v1/emergency/decisions`, { body, type: OCTETS });
        out.push({ ...stateOf(v), grantee: r.grantee, sectionId: r.sectionId });
      } finally {
        free(activation);
      }
    }
    return out;
  } finally {
    free(...grants.map((r) => r.grant));
  }
}

// Mail: the one place that decides which of a party's mail is kept. Anyone
// registered can post anything to anyone, so a mail counts only when it
// opens for this party and holds, whole, an object of a kind this package
// reads (the core's `mailKind` decodes it through and checks that it is
// for this party); everything else is junk and deleted whoever reads the
// mail first. What is kept waits for its kind's own reader (the audit's
// receipt reader, the patient's acceptances, a reader's owner names),
// which verifies the rest and deletes what it consumed.

import { core, fromHex } from "./wasm.js";

/** Mail kinds (codec Kind bytes). A new kind: its byte here and its row in the core's `mail::kind_of`. */
export const MAIL_KIND = { receipts: 0x15, acceptance: 0x17, nameCard: 0x1a, accessRequest: 0x1e, accessRefusal: 0x1f };

/** The kind of mail (hex) for `identity` (a value of MAIL_KIND), or undefined for junk. */
export function mailKindOf(identity, sealed) {
  try {
    return core.mailKind(identity.core, fromHex(sealed)) ?? undefined;
  } catch {
    return undefined; // does not open for this party: junk
  }
}

/**
 * `identity`'s mail, junk deleted: `[{id, sender, sealed, kind}]` of the
 * kept mail, in arrival order (every page). `kinds` (MAIL_KIND values)
 * keeps only those in the answer; junk is deleted either way.
 */
export async function sortedMail(client, identity, kinds) {
  const kept = [];
  const junk = [];
  for (const item of await client.mail(identity)) {
    const kind = mailKindOf(identity, item.sealed);
    if (kind === undefined) junk.push(item.id);
    else if (!kinds || kinds.includes(kind)) kept.push({ ...item, kind });
  }
  await Promise.all(junk.map((id) => client.clearMail(identity, id).catch(() => false)));
  return kept;
}

// Invitations in the portal: the patient invites someone with no identity
// yet (a one-time link, its secret in the fragment only), sees their
// acceptance, compares the safety number and confirms (then the sections
// are shared); the invitee opens the link, creates or unlocks an identity,
// accepts and waits for the patient to confirm.
import * as S from "/pkg/index.js";
import { renderGrants } from "./records.js";
import { safetyBlock } from "./people.js";
import { $, action, app, el, say, sayNear, when } from "./ui.js";
import { markTab } from "./tabs.js";

/** Where an opened invitation waits while its invitee creates or unlocks an identity (this tab only). */
const HELD = "sesphr-invitation";
/** The invitations this identity accepted, waiting for their owners (per identity). */
const acceptedKey = () => `sesphr-accepted-${app.identity.id}`;

const DAY = 24 * 3600 * 1000;

/** Role and sections, in words ("physician: labs, allergies"; a custom choice: the sections alone). */
const what = (i) => (i.role === "custom" ? i.sections.join(", ") : `${i.role}: ${i.sections.join(", ")}`);

/** A name someone gave themself, isolated: right-to-left text in it cannot reorder the words around it. */
const bdi = (name) => el("bdi", {}, name);

/** What an invitation offers, in words (nodes). */
function offer(inv) {
  const sections = inv.sections.join(", ");
  const as = inv.role === "custom" ? "" : ` as their ${inv.role}`;
  if (inv.expired) return [`This invitation from `, bdi(inv.ownerName), ` has expired: ask them for a new one.`];
  return [bdi(inv.ownerName), ` (fingerprint ${inv.owner.fingerprint.slice(0, 19)}) invites you to read part of their health record${as}: ${sections}. The invitation expires ${when(inv.expiresAt)}.`];
}

/**
 * First thing at load, before any await (and on every change of the
 * fragment: a link opened in a tab already showing the portal): an
 * invitation in the address bar's fragment moves into this tab's session
 * storage and out of the address bar and its history entry, so the secret
 * never lingers there, whatever happens next. Whether there was one.
 */
export function stashInvitation() {
  if (!location.hash.startsWith("#invite=")) return false;
  sessionStorage.setItem(HELD, location.hash);
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

/**
 * Once the package is ready: the held invitation (`stashInvitation`) is
 * read, verified (its owner's signature) and shown on the start view.
 */
export function holdInvitation() {
  stashInvitation();
  const held = sessionStorage.getItem(HELD);
  if (!held) return;
  let inv;
  try {
    inv = S.readInvitation(held);
  } catch {
    sessionStorage.removeItem(HELD);
    $("invite-summary").textContent = "This invitation link is damaged: ask for a new one.";
    $("invite-banner").hidden = false;
    return;
  }
  $("invite-summary").replaceChildren(...offer(inv));
  $("invite-banner").hidden = false;
}

/** After unlocking: the held invitation's accept panel. */
export function offerAcceptance() {
  $("invite-banner").hidden = true;
  const held = sessionStorage.getItem(HELD);
  if (!held) return;
  let inv;
  try {
    inv = S.readInvitation(held);
  } catch {
    sessionStorage.removeItem(HELD);
    $("invite-accept-summary").textContent = "This invitation link is damaged: ask for a new one.";
    $("invite-accept-form").hidden = true;
    $("invite-accept").hidden = false;
    return;
  }
  $("invite-accept-summary").replaceChildren(...offer(inv));
  $("invite-accept-form").hidden = inv.expired;
  $("invite-accept").hidden = false;
  if (!inv.expired) $("invite-my-name").focus();
}

$("invite-accept-form").addEventListener(
  "submit",
  action(async () => {
    const held = sessionStorage.getItem(HELD);
    if (!held) return;
    const inv = await S.acceptInvitation(app.client, app.identity, held, { name: $("invite-my-name").value });
    sessionStorage.removeItem(HELD);
    const list = JSON.parse(localStorage.getItem(acceptedKey()) ?? "[]");
    const owner = { id: inv.owner.id, fingerprint: inv.owner.fingerprint, publicKey: S.toHex(inv.owner.publicKey) };
    list.push({ owner, ownerName: inv.ownerName, invitationId: inv.id, sections: inv.sections, role: inv.role, at: Date.now() });
    localStorage.setItem(acceptedKey(), JSON.stringify(list));
    // The person who invited is a contact, by the name they gave.
    if (!app.contacts.get(inv.owner.id)) await app.contacts.add(inv.owner, inv.ownerName).catch(() => {});
    $("invite-accept-form").hidden = true;
    $("invite-accept-summary").replaceChildren(
      `Accepted. Waiting for ${inv.ownerName} to confirm: their record appears under "Shared with me" once they do. ` +
        `${inv.ownerName} will see this safety number beside your acceptance; compare it with them:`,
      safetyBlock(S.safetyNumber(app.identity, inv.owner)),
      el("button", { type: "button", onclick: () => ($("invite-accept").hidden = true) }, "Close"),
    );
    renderWaiting();
  }),
);

$("invite-ignore").addEventListener("click", () => {
  sessionStorage.removeItem(HELD);
  $("invite-accept").hidden = true;
});

/**
 * "Shared with me": the invitations this identity accepted whose owner has
 * not shared anything yet ("waiting for <patient> to confirm"); one whose
 * owner now shares is done.
 */
export function renderWaiting() {
  if (!app.identity) return;
  const sharing = new Set((app.shared ?? []).map((r) => r.owner.id));
  const all = JSON.parse(localStorage.getItem(acceptedKey()) ?? "[]");
  // The invitation just accepted here is done once its owner shares: its panel goes.
  if (all.some((a) => sharing.has(a.owner.id)) && !sessionStorage.getItem(HELD)) $("invite-accept").hidden = true;
  const list = all.filter((a) => !sharing.has(a.owner.id));
  localStorage.setItem(acceptedKey(), JSON.stringify(list));
  $("waiting-list").replaceChildren(
    ...list.map((a) =>
      el(
        "li",
        { className: "waiting" },
        el("strong", {}, `Waiting for ${a.ownerName} to confirm`),
        el("br"),
        `You accepted their invitation (${what(a)}) on ${when(a.at)}. Fingerprint `,
        el("span", { className: "fp" }, a.owner.fingerprint),
        ". Safety number:",
        safetyBlock(S.safetyNumber(app.identity, S.fromHex(a.owner.publicKey))),
      ),
    ),
  );
}

// ------------------------------------------------------------------ the patient's side

/** The custom-section checkboxes of the invite form. */
function renderInviteSections() {
  const box = $("invite-sections");
  if (box.querySelector("input")) return;
  box.append(
    ...S.standardSections().map((name) =>
      el("label", {}, el("input", { type: "checkbox", name: "invite-section", value: name }), ` ${name}`),
    ),
  );
}

$("invite-role").addEventListener("change", () => {
  renderInviteSections();
  $("invite-sections").hidden = $("invite-role").value !== "custom";
});

$("invite-form").addEventListener(
  "submit",
  action(async () => {
    const role = $("invite-role").value;
    const sections =
      role === "custom" ? [...document.querySelectorAll("input[name=invite-section]:checked")].map((c) => c.value) : S.roleSections(role);
    if (!sections.length) throw new S.SesphrError("invalid_argument", "Choose at least one section to share.");
    const me = $("invite-me").value.trim();
    if (me !== app.contacts.myName) await app.contacts.setMyName(me);
    const made = await app.invitations.invite(app.record, {
      role,
      sections,
      ownerName: me,
      expiresAt: Date.now() + Number($("invite-days").value) * DAY,
      portalUrl: location.href,
    });
    $("invite-link").value = made.url;
    $("invite-made").hidden = false;
    renderQr(made.url);
    say(`Invitation created (${what(made)}), valid until ${when(made.expiresAt)}.`);
    await renderInvitationList();
  }),
);

/** A QR of the link, when a QR module is on the page (`window.sesphrQr(text) → SVG element`); the link text otherwise. */
function renderQr(url) {
  const box = $("invite-qr");
  box.replaceChildren();
  if (typeof globalThis.sesphrQr === "function") box.append(globalThis.sesphrQr(url));
}

$("invite-copy").addEventListener(
  "click",
  action(async (ev) => {
    const text = $("invite-link").value;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      $("invite-link").select();
      document.execCommand?.("copy");
    }
    sayNear(ev.currentTarget ?? $("invite-copy"), "Link copied.");
  }),
);

$("check-acceptances").addEventListener("click", action(() => renderAcceptances()));

/** The sent invitations, with their state. */
async function renderInvitationList() {
  const list = (await app.invitations.list()).filter((i) => i.recordId === app.record?.recordId).reverse();
  const words = { open: "open", used: "accepted", cancelled: "cancelled", expired: "expired" };
  $("invitation-list").replaceChildren(
    ...list.map((i) =>
      el(
        "li",
        {},
        `${what(i)}: made ${when(i.createdAt)}, expires ${when(i.expiresAt)}, `,
        el("strong", {}, words[i.status] ?? i.status),
        i.status === "used" && i.acceptedBy ? ` by ${app.contacts.label(i.acceptedBy).text}` : undefined,
        i.status === "open"
          ? el(
              "button",
              {
                type: "button",
                className: "small",
                onclick: action(async () => {
                  await app.invitations.cancel(i.id);
                  await renderInvitationList();
                  say("Invitation cancelled: an acceptance of it is ignored.");
                }),
              },
              "Cancel",
            )
          : undefined,
      ),
    ),
  );
  if (!list.length) $("invitation-list").append(el("li", {}, "None yet."));
}

/** Acceptances waiting in the mail, each with its safety number and confirm / decline. */
async function renderAcceptances() {
  const { pending, refused } = await app.invitations.acceptances();
  const mine = pending.filter((p) => p.recordId === app.record?.recordId);
  $("acceptance-list").replaceChildren(
    ...mine.map((p) => {
      const number = S.safetyNumber(app.identity, p.invitee);
      return el(
        "li",
        { className: "acceptance" },
        el("strong", {}, p.name ? bdi(p.name) : "Someone", " accepted your invitation"),
        ` (${what(p)}) on ${when(p.acceptedAt)}.`,
        el("br"),
        "Their fingerprint ",
        el("span", { className: "fp" }, p.invitee.fingerprint),
        el("br"),
        "Safety number — compare it with the one on their screen before you confirm:",
        safetyBlock(number),
        p.resume ? el("p", { className: "note" }, "You confirmed this before, but sharing did not finish: confirm again to finish it.") : undefined,
        el("label", {}, el("input", { type: "checkbox", id: `accept-match-${p.mailId}` }), " The numbers match: I compared them with this person"),
        el("br"),
        el("label", { htmlFor: `accept-name-${p.mailId}` }, "Name them in your contacts"),
        el("input", { id: `accept-name-${p.mailId}`, value: p.name || "", maxLength: 80 }),
        el(
          "button",
          {
            type: "button",
            onclick: action(async () => {
              const name = $(`accept-name-${p.mailId}`).value.trim() || p.name || "Invited person";
              say(`Sharing with ${name}…`);
              const matched = $(`accept-match-${p.mailId}`).checked;
              const ids = await app.invitations.confirm(app.record, p, { contactName: name, contacts: app.contacts });
              // Verified only when the patient says the numbers were compared.
              if (matched) await app.contacts.verify(p.invitee.id).catch(() => {});
              await renderGrants();
              await renderAcceptances();
              await renderInvitationList();
              say(
                `Confirmed: shared ${ids.length === 1 ? "1 section" : `${ids.length} sections`} with ${app.contacts.label(p.invitee).text}.` +
                  (matched ? "" : " Not marked verified: compare your safety number with them under People."),
              );
            }),
          },
          `Confirm and share with ${p.name || "them"}`,
        ),
        el(
          "button",
          {
            type: "button",
            className: "danger",
            onclick: action(async () => {
              await app.invitations.decline(p);
              await renderAcceptances();
              say("Declined: nothing was shared; the invitation stays open.");
            }),
          },
          "Decline",
        ),
      );
    }),
  );
  if (!mine.length) $("acceptance-list").append(el("li", {}, "No answers yet."));
  markTab("sharing", mine.length, `${mine.length} ${mine.length === 1 ? "answer" : "answers"} to your invitations waiting for you to confirm`);
  if (refused.length) {
    say(`Ignored ${refused.length === 1 ? "an answer" : `${refused.length} answers`} to your invitations: ${[...new Set(refused.map((r) => r.message))].join(" ")} Nothing was shared.`);
  }
}

/** The invite panel of the open record: the patient's name, answers, invitations. */
export async function renderInvitations() {
  if (!app.invitations || !app.record) return;
  $("invite-me").value ||= app.contacts.myName ?? "";
  await Promise.all([renderAcceptances(), renderInvitationList()]);
}

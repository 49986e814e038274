// What every view of the portal shares: its state, the DOM helpers, and how
// failures and progress are shown.
export const $ = (id) => document.getElementById(id);
export const el = (tag, { dataset, ...props } = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.dataset, dataset);
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
};
export const short = (id) => `${id.slice(0, 8)}…`;
export const when = (ms) => new Date(ms).toLocaleString();

/** The portal's state, shared by its views. */
export const app = {
  client: undefined,
  identity: undefined,
  patient: undefined,
  reader: undefined,
  records: [],
  record: undefined,
  shared: [],
  opened: [],
  party: undefined,
  editing: undefined,
  contacts: undefined,
};

// ------------------------------------------------------------------ messages

// Plain words for every stable code a patient or reader can meet. The code
// itself is kept for support, under "Details", never in the sentence.
const FRIENDLY = {
  revoked: "The owner has revoked your access to this section.",
  expired: "Your access to this section has expired.",
  unknown_grant: "The server does not know this share (it may have been withdrawn).",
  before_from_version:
    "This section was shared with you from now on; nothing has been written since.",
  not_granted: "None of your shares covers this version of the section (it was re-keyed without you).",
  no_such_section: "This section has nothing in it yet.",
  decryption_failed: "Wrong passphrase, or the file is damaged.",
  mismatch: "The two passphrases differ.",
  malformed_backup: "This file is not a SeSPHR backup.",
  srs_mismatch:
    "The re-encryption server answered with another key than the one this browser saw before. " +
    "Nothing was sent. If your provider did not announce a new key, stop here: someone may be posing as the server.",
  network: "The server cannot be reached. Check your connection and try again.",
  rate_limited: "Too many requests in a short time. Wait a moment and try again.",
  quota_exceeded: "Your storage allowance is full: this would store more than it allows.",
  too_large: "That is too large to store.",
  not_found: "Not found. Check the id and try again.",
  unknown_party: "Nobody with that party id is registered with this server. Check the id with them.",
  invalid_id: "That is not a valid party id: it has 64 characters, digits and the letters a to f.",
  invalid_field: "A field line is not written as \u201cname: value\u201d.",
  invalid_argument: "That cannot be saved as it is.",
  invalid_state: "That cannot be done now.",
  already_expired: "The expiry date is already past.",
  aborted: "Cancelled. Nothing was saved.",
  pruned: "That version was deleted to free storage: it can no longer be opened.",
  version_conflict:
    "This record was changed in another tab or on another device. It has been reloaded; what you typed is still in the form: save again.",
  bad_bundle: "This file cannot be imported.",
  internal: "The server failed. Try again in a moment.",
  emergency_dormant: "This is emergency access: ask for it first (the patient is told, and it opens after the wait).",
  emergency_waiting: "Emergency access was asked for; it opens when the wait has passed, unless the patient denies it.",
  already_activated: "Emergency access was already asked for.",
  not_activated: "There is no request for emergency access to answer.",
  already_decided: "That request for emergency access was already answered.",
  not_emergency: "This share is not emergency access.",
};
/** The library's own words, written for people (they say what happened and what to do). */
// `unavailable`: the package says whether a save or a read lacked storage servers.
const PLAIN = new Set(["unavailable", "stale", "audit_incomplete", "section_changed", "not_ready", "wrong_passphrase", "invalid_field", "invalid_argument", "bad_bundle", "foreign_patient"]);
// Invitations (invite.js): the package's sentences say what happened and what to do.
for (const c of ["invitation_expired", "invitation_used", "invitation_unknown", "invitation_invalid", "invitation_busy"]) PLAIN.add(c);
const TAMPER = new Set([
  "bad_signature",
  "bad_proof",
  "content_mismatch",
  "chain_broken",
  "binding_mismatch",
  "grant_inconsistent",
  "truncated",
  "trailing_data",
  "malformed",
  "length_mismatch",
  "unknown_version",
  "wrong_kind",
  "invalid_point",
  "invalid_scalar",
]);

/** A sentence for a failure, in plain words (no internal code). */
export function explain(e) {
  if (PLAIN.has(e.code) && e.message) return e.message;
  if (TAMPER.has(e.code)) {
    return "What the servers sent failed its check: it may have been tampered with, so nothing from it is shown or saved.";
  }
  if (FRIENDLY[e.code]) return FRIENDLY[e.code];
  if (e.status >= 500) return FRIENDLY.internal;
  if (e.status >= 400) return "The server refused this request.";
  return "Something went wrong in this page. Reload it and try again; what was saved before stays saved.";
}

/** The running action's message line: status and errors go next to what caused them. */
let current;

/** Whether the running action's message line can be seen (its view may have closed). */
const visible = (box) => box?.isConnected && (box.parentElement.checkVisibility?.() ?? true);

export function say(text) {
  // A failure the running action already reported stays in view.
  if (visible(current) && current.classList.contains("error")) return;
  const box = visible(current) ? current : $("status");
  box.replaceChildren(text);
}

/** A failure, in plain words with its support code under "Details", next to `box` (default: the top of the page). */
export function fail(e, box) {
  console.error(e);
  const target = box ?? current;
  if (!visible(target)) {
    const top = $("alert");
    top.replaceChildren(...failure(e));
    top.dataset.code = e.code ?? "error";
    top.hidden = false;
    say("");
    return;
  }
  target.replaceChildren(...failure(e));
  target.classList.add("error");
  target.dataset.code = e.code ?? "error";
  target.setAttribute("role", "alert");
  target.scrollIntoView?.({ block: "nearest" });
}

function failure(e) {
  return [
    el("span", { className: "what" }, explain(e)),
    " ",
    el("details", { className: "support" }, el("summary", {}, "Details"), `Code for support: ${e.code ?? "error"}`),
  ];
}

export function clearAlert() {
  $("alert").hidden = true;
  $("alert").replaceChildren();
}

/**
 * The message line of the control that started an action: right after its
 * form, list item, card or table, created on first use (undefined for the
 * tabs and the header: those report at the top).
 */
export function messageLine(trigger) {
  // The tabs and the page header report at the top, right under them.
  if (trigger.closest("nav, header")) return undefined;
  // A list or table re-rendered by the action marks itself `data-messages`:
  // its message line sits after it, not inside an item that is replaced.
  const anchor = trigger.closest("[data-messages]") ?? trigger.closest("form, li, .scroll, .card, article") ?? trigger;
  if (anchor.matches("li, .card, article")) {
    let box = [...anchor.children].find((c) => c.classList.contains("msg"));
    if (!box) anchor.append((box = el("p", { className: "msg", role: "status" })));
    return box;
  }
  // Progress shown beside the action (`.beside`) sits between the two.
  let box = anchor.nextElementSibling;
  while (box?.classList.contains("beside")) box = box.nextElementSibling;
  if (!box?.classList.contains("msg")) {
    box = el("p", { className: "msg", role: "status" });
    anchor.after(box);
  }
  return box;
}

/** The running action's message line (to report there after other actions ran meanwhile). */
export function currentLine() {
  return current;
}

/** Shows `text` on message line `box` if it is still on screen, else at the top. */
export function sayAt(box, text) {
  const target = visible(box) ? box : $("status");
  target.classList.remove("error");
  target.replaceChildren(text);
}

/** Shows `text` on the message line of `control` (a form or button still on screen). */
export function sayNear(control, text) {
  const box = messageLine(control);
  box.classList.remove("error");
  box.replaceChildren(text);
}

/** Runs a UI action: clears its message line, disables the trigger, reports failures next to it. */
export function action(fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    const trigger = ev?.submitter ?? ev?.currentTarget;
    clearAlert();
    const box = trigger?.closest ? messageLine(trigger) : undefined;
    if (box) {
      box.replaceChildren();
      box.classList.remove("error");
      box.setAttribute("role", "status");
      delete box.dataset.code;
    }
    current = box;
    // A message at the top from an earlier action is no longer news.
    if (box) $("status").replaceChildren();
    if (trigger) trigger.disabled = true;
    try {
      await fn(ev);
    } catch (e) {
      // A cancel the person asked for is news, not a failure.
      if (e.code === "aborted" && visible(box)) {
        box.replaceChildren(explain(e));
        box.dataset.code = e.code;
      } else fail(e, box);
    } finally {
      if (trigger) trigger.disabled = false;
      if (current === box) current = undefined;
    }
  };
}

export function progress(bar) {
  bar.hidden = false;
  bar.max = 1;
  bar.value = 0;
  return (done, of) => {
    bar.max = of || 1;
    bar.value = done;
  };
}

export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

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
};

// ------------------------------------------------------------------ messages

const FRIENDLY = {
  revoked: "The owner has revoked your access to this section.",
  expired: "Your access to this section has expired.",
  unknown_grant: "The server does not know this share (it may have been withdrawn).",
  before_from_version:
    "This section was shared with you from now on; nothing has been written since.",
  not_granted: "None of your shares covers this version of the section (it was re-keyed without you).",
  no_such_section: "A section shared with you has nothing in it yet (its name is only known once written).",
  decryption_failed: "Wrong passphrase, or the file is damaged.",
  srs_mismatch:
    "The re-encryption server answered with another key than the one this browser saw before. " +
    "Nothing was sent. If your provider did not announce a new key, stop here: someone may be posing as the server.",
  network: "The server cannot be reached. Check your connection and try again.",
  not_found: "Not found. Check the id and try again.",
  invalid_id: "That is not a valid party id (64 hexadecimal characters).",
  invalid_state: "That cannot be done now.",
};
/** The library's own words, which say what happened and what to do. */
const PLAIN = new Set(["stale", "version_conflict", "section_changed"]);
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
]);

export function explain(e) {
  if (PLAIN.has(e.code)) return e.message;
  if (TAMPER.has(e.code)) {
    return `The record failed verification (${e.code}): it may have been tampered with, so nothing from it is shown.`;
  }
  return FRIENDLY[e.code] ?? `${e.message}${e.code ? ` (${e.code})` : ""}`;
}

export function say(text) {
  $("status").textContent = text;
}

export function fail(e) {
  console.error(e);
  const box = $("alert");
  box.textContent = explain(e);
  box.dataset.code = e.code ?? "error";
  box.hidden = false;
  say("");
}

export function clearAlert() {
  $("alert").hidden = true;
  $("alert").textContent = "";
}

/** Runs a UI action: clears the alert, disables the trigger, reports failures. */
export function action(fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    const trigger = ev?.submitter ?? ev?.currentTarget;
    clearAlert();
    if (trigger) trigger.disabled = true;
    try {
      await fn(ev);
    } catch (e) {
      fail(e);
    } finally {
      if (trigger) trigger.disabled = false;
    }
  };
}

export function progress(bar) {
  bar.hidden = false;
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

// Emergency access (break-glass). The patient names emergency contacts,
// the sections they may open (the emergency preset by default) and a wait.
// A contact who needs the record activates the access; the patient sees it
// at once (the banner at the top of the page) and may approve it (access
// opens now) or deny it; otherwise it opens when the wait has passed. The
// re-encryption server keeps the clock and records every read as emergency
// access. Nothing here decides: the server and the package do.
import * as S from "/pkg/index.js";
import { person } from "./people.js";
import { $, action, app, currentLine, el, say, sayAt, sayNear } from "./ui.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A duration in plain words, rounded up. */
export function inWords(ms) {
  if (ms < MINUTE) return "less than a minute";
  if (ms < HOUR) {
    const m = Math.ceil(ms / MINUTE);
    return m === 1 ? "1 minute" : `${m} minutes`;
  }
  if (ms < 48 * HOUR) {
    const h = Math.ceil(ms / HOUR);
    return h === 1 ? "1 hour" : `${h} hours`;
  }
  const d = Math.round(ms / (24 * HOUR));
  return d === 1 ? "1 day" : `${d} days`;
}

/** A sentence with its first letter in capitals (names like "the patient" start some). */
const cap = (text) => text.charAt(0).toUpperCase() + text.slice(1);

const who = (party) => {
  const l = app.contacts.label(party);
  return l.name ?? l.text;
};

// ------------------------------------------------------------ patient side

/** The sections a patient may hand to emergency contacts, the preset ticked. */
function renderChoices() {
  const box = $("emergency-sections");
  if (box.dataset.ready) return;
  box.dataset.ready = "1";
  const preset = new Set(S.emergencySections());
  for (const name of S.standardSections()) {
    const id = `emergency-section-${name}`;
    box.append(
      el("label", { htmlFor: id }, el("input", { type: "checkbox", id, name: "emergency-section", value: name, checked: preset.has(name) }), ` ${name}`),
    );
  }
}

/** The activations of the open record, by contact (one row per person). */
function byPerson(rows) {
  const people = new Map();
  for (const r of rows) {
    if (!people.has(r.grantee.id)) people.set(r.grantee.id, { party: r.grantee, rows: [] });
    people.get(r.grantee.id).rows.push(r);
  }
  return [...people.values()];
}

/** One person's state: the most urgent of their grants' states. */
function stateOf(rows) {
  for (const s of ["waiting", "open", "denied", "dormant"]) {
    const r = rows.find((x) => x.state === s);
    if (r) return r;
  }
  return rows[0];
}

function describe(r, name) {
  switch (r.state) {
    case "waiting":
      return `${name} asked for emergency access. It opens in ${inWords(r.remainingMs)} unless you deny it.${askedWords(r)}`;
    case "open":
      return r.approved ? `${name} has emergency access: you approved it.` : `${name} has emergency access: the wait passed.`;
    case "denied":
      return `You denied ${name}'s last request for emergency access.`;
    default:
      return `${name} can ask for emergency access; it would open ${inWords(r.waitMs)} after they ask, unless you deny it.`;
  }
}

async function decide(record, party, verdict) {
  const name = who(party);
  say(verdict === "approve" ? `Approving ${name}'s emergency access…` : `Denying ${name}'s emergency access…`);
  // Throws emergency_view_unverified unless the server's signed receipt names this decision.
  if (verdict === "approve") await record.approveEmergency({ partyId: party.id });
  else await record.denyEmergency({ partyId: party.id });
  await renderEmergency();
  say(verdict === "approve" ? `${name} can read the emergency sections now.` : `Denied: ${name} cannot read them unless they ask again and the wait passes.`);
}

/** Each owned record's emergency rows (`{record, rows}` or `{record, error}`), every record checked. */
async function checkRecords() {
  const records = app.records?.length ? app.records : app.record ? [app.record] : [];
  return Promise.all(
    records.map((record) =>
      record.emergencyActivations().then(
        (rows) => ({ record, rows }),
        (error) => ({ record, error }),
      ),
    ),
  );
}

/** Plain words for a listing that failed: not verified, or not reached. */
function failedWords(error) {
  return error?.code === "emergency_view_unverified"
    ? "Could not check emergency access requests — the server's answer could not be verified. Someone may be asking for emergency access; check again, or ask them."
    : "Could not check emergency access requests — the server was unreachable. Someone may be asking for emergency access; check again soon.";
}

/** The warning beside the banner when any record's listing failed (never a silent "nothing pending"). */
function renderWarning(failed) {
  const banner = $("emergency-banner");
  let warning = $("emergency-warning");
  if (!warning) {
    warning = el("div", { id: "emergency-warning", className: "banner warning", role: "alert", hidden: true });
    banner.after(warning);
  }
  warning.hidden = !failed.length;
  const several = (app.records?.length ?? 0) > 1;
  warning.replaceChildren(
    ...failed.map(({ record, error }) =>
      el("p", { dataset: { record: record.recordId, code: error?.code ?? "error" } }, several ? `Record ${record.index + 1}: ` : "", failedWords(error)),
    ),
  );
}

/** The emergency contacts of the open record, the banner for pending requests of every record, and a warning for any record that could not be checked. */
export async function renderEmergency() {
  const record = app.record;
  if (!record) return;
  renderChoices();
  const checked = await checkRecords();
  renderBanner(checked.filter((c) => c.rows));
  renderWarning(checked.filter((c) => c.error));
  if (record !== app.record) return;
  const mine = checked.find((c) => c.record === record);
  const list = $("emergency-list");
  if (!mine?.rows) {
    list.replaceChildren(el("li", { className: "note warning", dataset: { state: "unverified" } }, failedWords(mine?.error)));
    return;
  }
  const people = byPerson(mine.rows);
  list.replaceChildren(
    ...people.map(({ party, rows: mine }) => {
      const r = stateOf(mine);
      const name = who(party);
      const sections = [...new Set(mine.map((m) => m.sectionName))].join(", ");
      return el(
        "li",
        { className: "card", dataset: { state: r.state, party: party.id } },
        el("p", {}, person(party), ` — ${sections}; wait ${inWords(r.waitMs)}.`),
        el("p", { className: `emergency-${r.state}` }, describe(r, name)),
        r.state === "waiting" ? el("button", { type: "button", onclick: action(() => decide(record, party, "approve")) }, `Approve now`) : undefined,
        r.state === "waiting" || r.state === "open"
          ? el("button", { type: "button", className: "danger", onclick: action(() => decide(record, party, "deny")) }, r.state === "open" ? "Close access" : "Deny")
          : undefined,
      );
    }),
  );
  if (!people.length) list.append(el("li", { className: "note" }, "No emergency contacts yet."));
}

/** When they asked, from the time they signed into their request (their clock). */
const askedWords = (r) => (r.askedAt ? ` They asked at ${new Date(r.askedAt).toLocaleString()} (their device's clock).` : "");

/** The banner: every contact waiting for the patient's answer, in any of their records, shown at the top of every view. */
function renderBanner(checked) {
  const banner = $("emergency-banner");
  const several = (app.records?.length ?? 0) > 1;
  const waiting = checked.flatMap(({ record, rows }) =>
    byPerson(rows)
      .filter(({ rows: mine }) => mine.some((r) => r.state === "waiting"))
      .map((p) => ({ ...p, record })),
  );
  banner.hidden = !waiting.length;
  banner.replaceChildren(
    ...waiting.map(({ party, rows, record }) => {
      const r = rows.find((x) => x.state === "waiting");
      const name = who(party);
      const which = several ? `your record ${record.index + 1}` : "your record";
      return el(
        "div",
        { className: "banner-row", dataset: { party: party.id, record: record.recordId } },
        el("p", {}, el("strong", {}, "Emergency access requested. "), `${name} (`, el("span", { className: "fp" }, party.fingerprint), `) asked to open ${which} in an emergency. It opens in ${inWords(r.remainingMs)} unless you deny it.${askedWords(r)}`),
        el("button", { type: "button", onclick: action(() => decide(record, party, "approve")) }, `Approve ${name} now`),
        el("button", { type: "button", className: "danger", onclick: action(() => decide(record, party, "deny")) }, `Deny ${name}`),
      );
    }),
  );
}

/** Checks every owned record for new activations every few seconds (the banner appears at once; a failed check shows its warning). */
let polling;
export function watchEmergency() {
  if (polling) return;
  polling = setInterval(() => {
    if (!app.record || document.hidden) return;
    renderEmergency().catch((e) => renderWarning([{ record: app.record, error: e }]));
  }, 3000);
}

$("emergency-form")?.addEventListener(
  "submit",
  action(async () => {
    const id = $("emergency-id").value.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new S.SesphrError("invalid_id", "Enter their party id.");
    if (id === app.identity.id) throw new S.SesphrError("invalid_argument", "That is your own party id. Enter your emergency contact's.");
    const sections = [...document.querySelectorAll("input[name=emergency-section]:checked")].map((c) => c.value);
    if (!sections.length) throw new S.SesphrError("invalid_argument", "Choose at least one section for emergencies.");
    const waitMs = Number($("emergency-wait").value) * HOUR;
    const party = await app.contacts.lookup(id);
    const name = $("emergency-name").value.trim();
    if (!app.contacts.get(party.id)) {
      if (!name) throw new S.SesphrError("invalid_argument", "Name your emergency contact, so you recognise them when they ask.");
      await app.contacts.add(party, name);
    }
    say(`Naming ${who(party)} as an emergency contact…`);
    await app.record.share({ grantee: party, role: "emergency", sections, emergencyWaitMs: waitMs });
    // The table of who can read what (records.js) shows them too.
    document.dispatchEvent(new Event("sesphr-shares-changed"));
    $("emergency-id").value = "";
    $("emergency-name").value = "";
    await renderEmergency();
    say(`${who(party)} is an emergency contact: if they ask, access opens after ${inWords(waitMs)} unless you deny it.`);
  }),
);

// ------------------------------------------------------------ contact side

function contactWords(s, owner) {
  switch (s.state) {
    case "waiting":
      return `Emergency access requested. Access opens in ${inWords(s.remainingMs)} unless ${owner} denies it.`;
    case "open":
      return s.approved ? `${owner} approved your emergency access: you can open the record.` : "The wait has passed: you can open the record.";
    case "denied":
      return `${owner} denied your request for emergency access. You may ask again; the wait starts over.`;
    case "revoked":
    case "expired":
    case "unknown":
      return `Your emergency access to ${owner}'s record was withdrawn or has expired.`;
    default:
      return `You are an emergency contact of ${owner}. In an emergency, ask for access: it opens ${inWords(s.waitMs)} later unless ${owner} denies it, and ${owner} sees every read.`;
  }
}

/** A shared record's emergency block on the contact's side: state and the button to ask. */
export function emergencyControls(record, ownerName) {
  if (!record.sections.some((s) => s.emergencyWaitMs != null)) return [];
  const box = el("div", { className: "emergency-box" });
  const line = el("p", { className: "note" }, "Checking emergency access…");
  const ask = el("button", { type: "button", hidden: true }, "Ask for emergency access");
  box.append(line, ask);
  const show = (states) => {
    const s = stateOf(states.map((x) => ({ ...x })));
    line.className = `emergency-${s.state}`;
    line.dataset.state = s.state;
    line.replaceChildren(cap(contactWords(s, ownerName())));
    ask.hidden = !(s.state === "dormant" || s.state === "denied");
  };
  ask.addEventListener(
    "click",
    action(async () => {
      const box = currentLine();
      say("Asking for emergency access…");
      const states = await app.reader.activateEmergency(record);
      // On this action's own line, whatever ran meanwhile (a refresh, say).
      sayAt(box, `Asked. ${cap(ownerName())} has been told.`);
      show(states);
    }),
  );
  app.reader.emergencyStatus(record).then(show, (e) => sayNear(line, e.message));
  return [box];
}

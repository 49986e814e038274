// "Shared with me": what others shared, read through the re-encryption
// server; only what each record's owner signed is shown.
import { documentView, patientName } from "./document.js";
import { nameParty, person } from "./people.js";
import { renderWaiting } from "./invite.js";
import { emergencyControls } from "./emergency.js";
import { renderMyRequests } from "./requests.js";
import { $, action, app, el, explain, fail, say } from "./ui.js";

/**
 * Whose record it is, as the inbox and the reading view say it. The name
 * this reader gave the owner in its contacts comes first: a name card is
 * only what the owner calls themself, so it is shown as that, with the
 * longer fingerprint, for an owner not in the contacts, and flagged when
 * it is the name of another contact. Names sit in <bdi>, so one written
 * right to left cannot reorder the words around it.
 */
function owner(r, name) {
  const who = app.contacts.label(r.owner);
  const fp = r.owner.fingerprint;
  if (who.name) return el("span", {}, "Record from ", el("bdi", {}, who.name), ` (${fp.slice(0, 9)})`);
  if (r.ownerName) {
    const clash = app.contacts.list().some((c) => c.name.toLowerCase() === r.ownerName.toLowerCase());
    return el(
      "span",
      {},
      `Record from ${fp.slice(0, 19)}, who calls themself “`,
      el("bdi", {}, r.ownerName),
      "”",
      clash ? el("strong", {}, " — not your contact of that name: check the fingerprint") : undefined,
    );
  }
  return name ? el("span", {}, el("bdi", {}, name), "'s record") : "A record";
}

/** Reads the inbox: the records shared with this identity, by owner. */
export async function loadShared() {
  say("Checking your inbox…");
  // The records listed before are dropped, not freed: a read still running
  // on one keeps it, and the garbage collector frees its wasm state.
  app.shared = await app.reader.sharedWithMe();
  renderInbox();
  renderWaiting();
  await renderMyRequests();
  say("");
}

/**
 * The inbox's cards, by record id, kept across refreshes: a record opened
 * while the inbox reloads keeps its card, and its messages stay in view.
 */
const cards = new Map();
/** The patient's name per record, once its demographics were read. */
const patientNames = new Map();

function renderInbox() {
  const list = $("shared-list");
  const shown = [];
  app.shared.forEach((r, n) => {
    app.contacts.remember(r.owner);
    let card = cards.get(r.recordId);
    if (!card) {
      card = { element: el("section", { className: "card" }), record: r };
      cards.set(r.recordId, card);
    }
    card.record = r;
    const known = app.contacts.get(r.owner.id);
    const roles = [...new Set(r.sections.map((s) => s.role))].join(", ");
    const message = [...card.element.children].find((c) => c.classList.contains("msg"));
    const nameOwner = el(
      "button",
      {
        type: "button",
        onclick: action(async () => {
          const c = await nameParty(card.record.owner);
          if (c) {
            renderInbox();
            say(`Saved ${c.name} in your contacts.`);
          }
        }),
      },
      `Name the owner of record ${n + 1}`,
    );
    card.element.replaceChildren(
      el("h3", {}, owner(r, patientNames.get(r.recordId))),
      el("p", {}, "Shared by ", person(r.owner), roles === "custom" ? ": " : ` as ${roles}: `, r.sections.length === 1 ? "1 section." : `${r.sections.length} sections.`),
      ...emergencyControls(r, () => app.contacts.label(r.owner).name ?? r.ownerName ?? patientNames.get(r.recordId) ?? "the patient"),
      el("button", { type: "button", onclick: action(() => readRecord(card.record)) }, `Open record ${n + 1}`),
    );
    if (!known) card.element.append(nameOwner);
    if (message) card.element.append(message);
    shown.push(card.element);
  });
  for (const [id, card] of cards) if (!shown.includes(card.element)) cards.delete(id);
  list.replaceChildren(...shown);
  if (!app.shared.length) list.append(el("p", {}, "Nothing has been shared with you yet."));
}

$("refresh-shared").addEventListener("click", action(loadShared));

async function readRecord(r) {
  app.opened.forEach((o) => o.close());
  app.opened = [];
  const article = $("reading");
  article.hidden = false;
  $("reading-h").replaceChildren(owner(r, patientNames.get(r.recordId)));
  const body = $("reading-body");
  body.replaceChildren(el("p", {}, "Shared by ", person(r.owner), "."));
  let failures = 0;
  let unwritten = 0;
  for (const s of r.sections) {
    say("Asking the re-encryption server and decrypting…");
    const block = el("section", { className: "card" });
    try {
      const open = await app.reader.open(s);
      app.opened.push(open);
      const d = open.document;
      body.append(block);
      block.append(el("h4", {}, d.name), el("p", { className: "note" }, `version ${open.version}`), ...documentView(d, { open, bar: $("download-progress") }));
      if (d.name === "demographics") {
        // The patient's own name, from what the owner signed.
        const name = patientName(d);
        if (name) {
          patientNames.set(r.recordId, name);
          $("reading-h").replaceChildren(owner(r, name));
          cards.get(r.recordId)?.element.querySelector("h3")?.replaceChildren(owner(r, name));
        }
      }
    } catch (e) {
      // Sections shared but never written are counted, not shown one by one.
      if (e.code === "no_such_section") {
        unwritten++;
        continue;
      }
      // Emergency access not open yet is a state, said next to the section, not an alarm.
      const expected = ["before_from_version", "emergency_dormant", "emergency_waiting"].includes(e.code);
      if (!expected) failures++;
      body.append(block);
      block.append(
        el("h4", {}, "A section"),
        el("p", { className: expected ? "note" : "refused", dataset: { code: e.code } }, explain(e)),
      );
      if (failures === 1 && !expected) fail(e);
    }
  }
  if (unwritten) {
    body.append(
      el(
        "p",
        { className: "note", dataset: { code: "no_such_section", count: String(unwritten) } },
        unwritten === 1
          ? "1 more section is shared with you but has nothing in it yet."
          : `${unwritten} more sections are shared with you but have nothing in them yet.`,
      ),
    );
  }
  if (!failures) {
    say(
      app.opened.length === 0
        ? "Opened: nothing in it can be shown yet (see below)."
        : app.opened.length === 1
          ? "Opened 1 section."
          : `Opened ${app.opened.length} sections.`,
    );
  }
  article.focus?.();
}

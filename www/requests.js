// Access requests. A reader asks a patient for sections with a reason
// (signed, sealed to the patient as mail: the relay sees only that a mail
// exists). The patient sees each pending request with the sections asked
// ticked, and approves them (ordinary shares, exactly what was asked or
// less) or declines (the reader is told). Both sides keep a history on this
// device; the re-encryption server sees an approval only as the shares it
// registers, and never sees a refusal.
import * as S from "/pkg/index.js";
import { person } from "./people.js";
import { $, action, app, el, say, when } from "./ui.js";
import { markTab } from "./tabs.js";

const DAY = 86_400_000;

/** A history kept on this device, per identity: `[{...}]`, newest first, at most 50. */
function history(kind) {
  const key = `sesphr-requests-${kind}-${app.identity.id}`;
  return {
    all: () => JSON.parse(localStorage.getItem(key) ?? "[]"),
    put(item) {
      const rest = this.all().filter((x) => x.id !== item.id);
      localStorage.setItem(key, JSON.stringify([item, ...rest].slice(0, 50)));
    },
    update(id, change) {
      const all = this.all();
      const i = all.findIndex((x) => x.id === id);
      if (i >= 0) all[i] = { ...all[i], ...change };
      localStorage.setItem(key, JSON.stringify(all));
    },
  };
}

const who = (party) => app.contacts.label(party).name ?? party.fingerprint;

// ------------------------------------------------------------ owner side

/** Ids of the requests on screen: the poll re-renders only when they change (ticks survive). */
let shown = "";
let polling;

/** The pending requests to the patient, with approve (sections pre-ticked) and decline. */
export async function renderRequests(fetched) {
  if (!app.patient || !app.record) return;
  polling ??= setInterval(() => {
    if (!app.record || document.hidden) return;
    app.patient
      .accessRequests()
      .then((p) => {
        const answered = new Set(history("answered").all().map((h) => h.id));
        const ids = p.filter((r) => !answered.has(r.id)).map((r) => r.id).join();
        if (ids !== shown) renderRequests(p);
      })
      .catch(() => {});
  }, 15_000);
  const list = $("request-list");
  const fetchedList = Array.isArray(fetched) ? fetched : await app.patient.accessRequests();
  // A request already answered here (its mail's deletion failed, or a stale
  // list in another tab) is never offered again.
  const answered = new Set(history("answered").all().map((h) => h.id));
  const pending = fetchedList.filter((r) => !answered.has(r.id));
  shown = pending.map((r) => r.id).join();
  markTab("requests", pending.length, `${pending.length} ${pending.length === 1 ? "request" : "requests"} for access waiting for your answer`);
  list.replaceChildren(
    ...pending.map((r) => {
      app.contacts.remember(r.requester);
      const boxes = r.sections.map((name) => {
        const id = `req-${r.id.slice(0, 12)}-${name}`;
        return el("label", { htmlFor: id }, el("input", { type: "checkbox", id, value: name, checked: true }), ` ${name}`);
      });
      const approve = action(async () => {
        const sections = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
        if (!sections.length) throw new S.SesphrError("invalid_argument", "Tick at least one section, or decline.");
        say(`Sharing ${sections.join(", ")} with ${who(r.requester)}…`);
        await app.patient.approveRequest(app.record, r, { sections });
        document.dispatchEvent(new Event("sesphr-shares-changed"));
        history("answered").put({ id: r.id, requester: r.requester, sections: r.sections, granted: sections, decision: "approved", at: Date.now(), reason: r.reason });
        await renderRequests();
        say(`Shared ${sections.join(", ")} with ${who(r.requester)}.`);
      });
      const decline = action(async () => {
        say(`Declining ${who(r.requester)}'s request…`);
        await app.patient.declineRequest(r);
        history("answered").put({ id: r.id, requester: r.requester, sections: r.sections, granted: [], decision: "declined", at: Date.now(), reason: r.reason });
        await renderRequests();
        say(`Declined. ${who(r.requester)} has been told.`);
      });
      return el(
        "li",
        { className: "card", dataset: { request: r.id } },
        el("p", {}, person(r.requester), ` asks for access (until ${when(r.expiresAt)}).`),
        el("p", {}, el("strong", {}, "Role asked: "), r.role ?? "custom", r.role && r.role !== "custom" ? " (granted under that label only if you share exactly its sections)" : ""),
        el("p", {}, el("strong", {}, "Reason: "), r.reason || "(none given)"),
        app.contacts.get(r.requester.id)
          ? undefined
          : el("p", { className: "note" }, "Not in your contacts: compare this fingerprint with the person before you approve."),
        el("fieldset", {}, el("legend", {}, "Sections to share (what they asked is ticked; untick to share less)"), ...boxes),
        el("button", { type: "button", onclick: approve, ariaLabel: `Approve for ${who(r.requester)}` }, "Approve"),
        el("button", { type: "button", className: "danger", onclick: decline, ariaLabel: `Decline ${who(r.requester)}` }, "Decline"),
      );
    }),
  );
  if (!pending.length) list.append(el("li", { className: "note" }, "No pending requests."));
  const past = history("answered").all();
  $("request-history").replaceChildren(
    ...past.map((h) =>
      el(
        "li",
        { dataset: { decision: h.decision } },
        `${when(h.at)}: ${h.decision === "approved" ? `shared ${h.granted.join(", ")} with` : "declined"} `,
        person(h.requester),
        h.decision === "approved" && h.granted.length < h.sections.length ? ` (asked: ${h.sections.join(", ")})` : "",
      ),
    ),
  );
}

// ------------------------------------------------------------ reader side

/** The reader's own requests and what became of them. */
export async function renderMyRequests() {
  if (!app.reader) return;
  renderChoices();
  const mine = history("sent");
  for (const r of await app.reader.accessReplies()) {
    const sent = mine.all().find((x) => x.id === r.requestId && x.ownerId === r.owner.id);
    if (sent) mine.update(sent.id, { status: "declined", answeredAt: r.timestamp });
  }
  const sharedBy = new Set((app.shared ?? []).map((s) => s.owner.id));
  $("my-request-list").replaceChildren(
    ...mine.all().map((r) => {
      const status = r.status === "declined" ? "declined" : sharedBy.has(r.ownerId) ? "shared" : Date.now() >= r.expiresAt ? "expired" : "waiting";
      const words = {
        declined: `The patient ${r.ownerName} declined your request for ${r.sections.join(", ")}.`,
        shared: `The patient ${r.ownerName} shares a record with you: open it above.`,
        expired: `Your request to ${r.ownerName} for ${r.sections.join(", ")} expired without an answer.`,
        waiting: `Asked ${r.ownerName} for ${r.sections.join(", ")} on ${when(r.at)}; no answer yet.`,
      }[status];
      return el("li", { dataset: { status } }, el("span", { className: `request-${status}` }, words));
    }),
  );
}

function renderChoices() {
  const box = $("ask-sections");
  if (box.dataset.ready) return;
  box.dataset.ready = "1";
  for (const name of S.standardSections()) {
    const id = `ask-section-${name}`;
    box.append(el("label", { htmlFor: id }, el("input", { type: "checkbox", id, name: "ask-section", value: name }), ` ${name}`));
  }
}

$("refresh-requests")?.addEventListener("click", action(() => renderRequests()));

$("ask-form")?.addEventListener(
  "submit",
  action(async () => {
    renderChoices();
    const id = $("ask-owner").value.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new S.SesphrError("invalid_id", "Enter the patient's party id.");
    const sections = [...document.querySelectorAll("input[name=ask-section]:checked")].map((c) => c.value);
    if (!sections.length) throw new S.SesphrError("invalid_argument", "Choose the sections you need.");
    const reason = $("ask-reason").value.trim();
    const owner = await app.contacts.lookup(id);
    const name = app.contacts.label(owner).name ?? owner.fingerprint;
    say(`Asking ${name}…`);
    const sent = await app.reader.requestAccess({ owner, sections, reason, ttlMs: Number($("ask-ttl").value) * DAY });
    history("sent").put({ ...sent, ownerName: name, at: Date.now(), status: "waiting" });
    $("ask-owner").value = "";
    $("ask-reason").value = "";
    await renderMyRequests();
    say(`Asked ${name}. You will see their answer here.`);
  }),
);

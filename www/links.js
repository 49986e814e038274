// "Share a copy as a link": SMART Health Links (HL7) of chosen sections,
// with an optional passcode, an expiry and "keep up to date"; the owner's
// links with every retrieval; revocation; and the emergency card (a
// printable page with the QR code of a long-term link to the emergency
// sections, like a phone's medical ID).
//
// A link is a copy outside the split-key scheme: the sections are decrypted
// here, turned into FHIR R4 and encrypted under a fresh link key that exists
// in clear only in the link itself (a URL fragment, a QR code). The relay
// keeps the key sealed for the owner only, so this page can show a link
// again and refresh a live one after a change.
import * as S from "/pkg/index.js";
import { patientName } from "./document.js";
import { qrSvg } from "./qr.js";
import { $, action, el, fail, messageLine, sayAt, sayNear, when } from "./ui.js";

/** The emergency preset: who the patient is (and their contacts), allergies, medications, conditions. */
export const EMERGENCY_SECTIONS = ["demographics", "allergies", "medications", "history", "emergency contacts"];
const PRESETS = {
  emergency: { label: "Emergency (allergies, medications, conditions, contacts)", sections: EMERGENCY_SECTIONS },
  summary: { label: "Summary for a doctor (adds lab results)", sections: [...EMERGENCY_SECTIONS, "labs"] },
  all: { label: "Everything in this record", sections: undefined },
  custom: { label: "Choose sections…", sections: [] },
};
const EMERGENCY_LABEL = "Emergency card";
const COPY_WARNING =
  "A link hands over a copy. Whoever has the link (and its passcode, if you set one) can read these sections " +
  "and keep what they read. Revoking the link stops new retrievals; it cannot take back a copy already taken.";

/** The portal's own viewer for a `shlink:/…` (the key stays in the fragment, never sent). */
export function viewerUrl(shlink) {
  return new URL(`view.html#${shlink}`, location.href).href;
}

let mounted;

/** Builds the links panel (once) into `#links-root` and shows `record`'s links. */
export async function renderLinks(record) {
  const root = $("links-root");
  if (!root) return;
  if (!mounted) mounted = mount(root);
  mounted.record = record;
  mounted.tick();
  // A failure to list stays in this panel: the rest of the record still shows.
  await renderList().catch((e) => fail(e, messageLine($("link-table"))));
}

function mount(root) {
  const presetSelect = el(
    "select",
    { id: "link-preset" },
    ...Object.entries(PRESETS).map(([value, p]) => el("option", { value }, p.label)),
  );
  const sections = el("fieldset", { id: "link-sections" }, el("legend", {}, "Sections in the link"));
  const form = el(
    "form",
    { id: "link-form" },
    el("h4", {}, "Create a link"),
    el("label", { htmlFor: "link-preset" }, "What to share"),
    presetSelect,
    sections,
    el("label", { htmlFor: "link-label" }, "Name of the link (shown to whoever opens it, optional)"),
    el("input", { id: "link-label", maxLength: 80, placeholder: "e.g. For Dr. Rivera" }),
    el("label", { htmlFor: "link-passcode" }, "Passcode (optional: give it separately, e.g. by phone)"),
    el("input", { id: "link-passcode", type: "text", autocomplete: "off", maxLength: 128 }),
    el("label", { htmlFor: "link-expiry" }, "Expires (optional)"),
    el("input", { id: "link-expiry", type: "date" }),
    el(
      "label",
      {},
      el("input", { id: "link-live", type: "checkbox" }),
      " Keep up to date: the link follows your later changes to these sections",
    ),
    el("p", { className: "note copy-warning" }, COPY_WARNING),
    el("button", { type: "submit" }, "Create link"),
  );
  const result = el("div", { id: "link-result", className: "card", hidden: true });
  const table = el(
    "table",
    { id: "link-table" },
    el("caption", {}, "Your links and who retrieved them"),
    el(
      "thead",
      {},
      el("tr", {}, ...["Link", "Sections", "Terms", "Retrieved by", ""].map((h) => el("th", { scope: "col" }, h))),
    ),
    el("tbody"),
  );
  const panel = el(
    "details",
    { id: "links", open: true },
    el("summary", { id: "links-h" }, "Links: a copy for someone without an account"),
    el(
      "p",
      {},
      "A SMART Health Link lets someone without an account here read a copy of chosen sections: show them the QR code or send the link. ",
      el("b", {}, "It is a copy: "),
      "they keep what they read.",
    ),
    form,
    result,
    el("button", { type: "button", id: "links-refresh" }, "Reload the links"),
    el("div", { className: "scroll", dataset: { messages: "" } }, table),
    el("button", { type: "button", id: "emergency-open" }, "Emergency card…"),
  );
  root.replaceChildren(panel);

  const state = {
    record: undefined,
    /** Ticks the section boxes of the chosen preset (custom: keeps the ticks). */
    tick() {
      const names = new Set(S.standardSections());
      for (const s of state.record.sections()) names.add(s.name);
      const filled = new Set(state.record.sections().map((s) => s.name));
      const preset = PRESETS[presetSelect.value];
      const before = new Set([...sections.querySelectorAll("input:checked")].map((c) => c.value));
      sections.replaceChildren(sections.firstChild);
      for (const n of names) {
        const want = preset.sections === undefined ? filled.has(n) : presetSelect.value === "custom" ? before.has(n) : preset.sections.includes(n);
        const box = el("input", { type: "checkbox", name: "link-section", value: n, checked: want && filled.has(n), disabled: !filled.has(n) });
        sections.append(el("label", {}, box, ` ${n}`, filled.has(n) ? "" : el("span", { className: "note" }, " (empty)")));
      }
    },
  };
  presetSelect.addEventListener("change", () => state.tick());
  form.addEventListener(
    "submit",
    action(async () => {
      const record = state.record;
      const names = [...sections.querySelectorAll("input:checked")].map((c) => c.value);
      if (!names.length) throw new S.SesphrError("invalid_argument", "Tick at least one section that has something in it.");
      const passcode = $("link-passcode").value || undefined;
      const expiry = $("link-expiry").value;
      // The end of the chosen day, local time.
      const expiresAt = expiry ? new Date(`${expiry}T23:59:59`).getTime() : undefined;
      if (expiresAt !== undefined && expiresAt <= Date.now()) throw new S.SesphrError("already_expired", "The expiry date is already past.");
      const label = $("link-label").value.trim() || undefined;
      const longTerm = $("link-live").checked;
      sayNear(form, `Decrypting ${names.join(", ")} and encrypting a copy for the link…`);
      const { url } = await record.createLink({ sections: names, passcode, expiresAt, label, longTerm }).catch((e) => {
        // Too much for one link: say what to do (the package's words, or the relay's cap).
        if (e.code !== "too_large") throw e;
        throw new S.SesphrError("invalid_argument", e.status ? "These sections are too large for one link: leave out a section with large attachments." : e.message);
      });
      showResult(result, url, { passcode, names });
      sayNear(form, "Link created. Only this page saw its key: it is in the link and the QR code, nowhere else.");
      $("link-passcode").value = "";
      await renderList();
    }),
  );
  panel.querySelector("#links-refresh").addEventListener(
    "click",
    action(() => renderList()),
  );
  panel.querySelector("#emergency-open").addEventListener(
    "click",
    action(() => showEmergencyCard(state.record)),
  );
  return state;
}

/** Shows a link: its QR code, the `shlink:/` URL to copy, and the viewer. */
function showResult(box, shlink, { passcode, names }) {
  const viewer = viewerUrl(shlink);
  const url = el("input", { id: "link-url", readOnly: true, value: viewer, ariaLabel: "The link" });
  url.addEventListener("focus", () => url.select());
  box.replaceChildren(
    el("h4", {}, "Your link"),
    el("div", { className: "qr-box" }, qrSvg(viewer, "QR code of the link")),
    el("label", { htmlFor: "link-url" }, "Link (opens in SeSPHR's viewer; the key is after the #, never sent to a server)"),
    url,
    el("p", { className: "fp", id: "link-shlink" }, shlink),
    el(
      "button",
      {
        type: "button",
        onclick: action(async (ev) => {
          await navigator.clipboard.writeText(viewer);
          sayNear(ev.currentTarget, "Copied.");
        }),
      },
      "Copy the link",
    ),
    el("a", { href: viewer, target: "_blank", rel: "noopener noreferrer", className: "button-link" }, "Open it in the viewer"),
    el(
      "p",
      { className: "note" },
      `It holds a copy of ${names.join(", ")}.`,
      passcode ? " Give the passcode separately: the link alone does not open it." : " Anyone with the link can open it.",
    ),
  );
  box.hidden = false;
}

/** Live links whose last refresh failed (this browser's view): shown as not up to date. */
const STALE_KEY = "sesphr.shl-stale";
const stale = new Set(
  (() => {
    try {
      const v = JSON.parse(localStorage.getItem(STALE_KEY) ?? "[]");
      return Array.isArray(v) ? v : [];
    } catch {
      return [];
    }
  })(),
);
function saveStale() {
  try {
    localStorage.setItem(STALE_KEY, JSON.stringify([...stale]));
  } catch {
    // Private mode: kept for this page only.
  }
}

/** Lists every link of the identity with its retrievals. */
async function renderList() {
  const state = mounted;
  const body = $("link-table").querySelector("tbody");
  const links = await state.record.links();
  body.replaceChildren();
  if (!links.length) body.append(el("tr", {}, el("td", { colSpan: 5, className: "note" }, "No links yet.")));
  for (const link of links) body.append(linkRow(state.record, link));
}

function linkRow(record, link) {
  let covers;
  // The terms sealed with the kept key (the relay's listing cannot change them).
  let sealed = link;
  try {
    const note = record.linkTerms(link);
    sealed = { passcode: note.passcode, longTerm: note.longTerm, expiresAt: note.exp };
    covers = note.record === record.recordId ? note.sections.join(", ") : `${note.sections.join(", ")} (another record)`;
  } catch (e) {
    covers = e.code === "no_link_key" ? "(not known: made elsewhere)" : "(its key for you failed its check)";
  }
  const terms = [
    sealed.passcode ? `passcode, ${link.attemptsLeft} wrong tries left` : "no passcode",
    sealed.longTerm ? (stale.has(link.id) ? "NOT up to date: its last update failed (too large, or the server refused)" : "kept up to date") : "snapshot",
    sealed.expiresAt ? `expires ${when(sealed.expiresAt)}` : "no expiry",
  ];
  // One line per recipient (the relay counts repeats), newest first; names
  // past the relay's 1000 per link are counted together.
  const times = (n) => (n === 1 ? "once" : `${n} times`);
  const byLast = [...link.retrievals].sort((a, b) => b.last - a.last);
  const others = link.otherRecipients;
  const got = byLast.length || others
    ? el(
        "ul",
        { className: "shares" },
        ...byLast.map((r) => el("li", {}, el("b", {}, el("bdi", {}, r.recipient)), ` — ${times(r.count)}, last ${when(r.last)}`)),
        ...(others ? [el("li", {}, el("b", {}, "Others"), ` — ${times(others.count)} by further names, last ${when(others.last)}`)] : []),
      )
    : el("span", { className: "note" }, "Nobody yet");
  const row = el(
    "tr",
    { dataset: { link: link.id } },
    el("td", { dataset: { label: "Link" } }, link.label ?? "Link", el("br"), el("span", { className: "note" }, `made ${when(link.created)}`)),
    el("td", { dataset: { label: "Sections" } }, covers),
    el("td", { dataset: { label: "Terms" } }, terms.join("; ")),
    el("td", { dataset: { label: "Retrieved by" } }, got),
    el(
      "td",
      { dataset: { label: "" } },
      el(
        "button",
        {
          type: "button",
          className: "small",
          onclick: action(() => showResult($("link-result"), record.linkUrl(link), { passcode: sealed.passcode, names: covers.split(", ") })),
        },
        "Show",
      ),
      el(
        "button",
        {
          type: "button",
          className: "small danger",
          onclick: action(async (ev) => {
            const line = ev.currentTarget;
            await record.revokeLink(link.id);
            await renderList();
            sayNear(line.isConnected ? line : $("link-table"), "Revoked: its next retrieval is refused. Copies already taken stay with whoever took them.");
          }),
        },
        "Revoke",
      ),
    ),
  );
  return row;
}

/**
 * After a save of `names` (all sections if undefined) in `record`: the live
 * links that cover them are re-exported under their own keys. The outcome is
 * reported in the links panel, or at the top when that panel is not in view;
 * the save itself stands.
 */
export async function refreshLiveLinks(record, names) {
  let outcome;
  try {
    outcome = await record.refreshLinks(names);
  } catch (e) {
    if (mounted) fail(e, messageLine($("link-table")));
    return;
  }
  for (const id of outcome.refreshed) stale.delete(id);
  for (const { id } of outcome.failed) stale.add(id);
  saveStale();
  if (!mounted || mounted.record !== record) return;
  if (outcome.refreshed.length || outcome.failed.length) await renderList().catch(() => {});
  const line = $("link-table").closest(".scroll");
  if (outcome.failed.length) fail(outcome.failed[0].error, messageLine(line));
  // Said where the patient is: the links panel if it is in view, else the top of the page.
  else if (outcome.refreshed.length) sayAt(messageLine(line), `Updated ${outcome.refreshed.length} live link(s) with your change.`);
}

// ------------------------------------------------------------------ emergency card

/**
 * The emergency card: a long-term link without passcode to the emergency
 * sections the record has (made once, then shown again from its kept key),
 * as a printable page.
 */
async function showEmergencyCard(record) {
  const filled = new Set(record.sections().map((s) => s.name));
  const names = EMERGENCY_SECTIONS.filter((n) => filled.has(n));
  if (!names.some((n) => n !== "demographics")) {
    throw new S.SesphrError("invalid_argument", "Write your allergies, medications or history first: the emergency card shows them.");
  }
  // Reused only when its sealed note says it is the card over exactly these
  // sections: the relay's label and flags decide nothing.
  let url = await record.cardLink(names);
  if (!url) url = (await record.createLink({ sections: names, label: EMERGENCY_LABEL, longTerm: true, card: true })).url;
  let name;
  if (filled.has("demographics")) {
    const open = await record.open("demographics");
    try {
      name = patientName(open.document);
    } finally {
      open.close();
    }
  }
  const viewer = viewerUrl(url);
  const card = el(
    "article",
    { id: "emergency-card", className: "emergency-card" },
    el("h2", {}, "Medical ID"),
    name ? el("p", { className: "emergency-name" }, name) : undefined,
    el("div", { className: "qr-box" }, qrSvg(viewer, "QR code of my emergency information")),
    el("p", {}, "In an emergency, scan this code with a phone camera to see my ", el("b", {}, names.filter((n) => n !== "demographics").join(", ")), names.includes("demographics") ? " and who to call." : "."),
    el("p", { className: "note" }, "No passcode. Kept up to date when I change my record. Every opening is logged for me. Issued ", new Date().toLocaleDateString(), "."),
    el("p", { className: "fp emergency-url" }, viewer),
    el(
      "div",
      { className: "no-print" },
      el("button", { type: "button", id: "emergency-print", onclick: () => window.print() }, "Print"),
      el("button", { type: "button", id: "emergency-close", onclick: () => closeEmergencyCard() }, "Close"),
      el("p", { className: "note" }, COPY_WARNING),
    ),
  );
  closeEmergencyCard();
  document.body.classList.add("printing-card");
  document.body.append(card);
  card.querySelector("#emergency-print").focus();
  await renderList();
}

function closeEmergencyCard() {
  $("emergency-card")?.remove();
  document.body.classList.remove("printing-card");
}

/** For the portal's tab switcher: the card is not part of another view. */
export { closeEmergencyCard };

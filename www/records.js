// "My records": the patient's records, their sections, sharing and audit.
// A write the re-encryption server has not confirmed yet is kept and shown
// as such, and confirmed automatically once the server answers.
import * as S from "/pkg/index.js";
import { importBundle } from "./fhir.js";
import { $, action, app, download, el, fail, progress, say, short, when } from "./ui.js";

// ------------------------------------------------------------------ my records

/** Loads (and checks against the re-encryption server) every record of the patient. */
export async function loadRecords() {
  say("Loading your records…");
  const records = await app.patient.records();
  app.records.forEach((r) => r.free());
  app.records = records;
  renderRecordList();
  say("");
  for (const r of records) if (r.pendingWitness) confirmLater(r);
  if (records.length) await openRecord(app.record ? records.find((r) => r.index === app.record.index) ?? records[0] : records[0]);
}

// ------------------------------------------------------------------ pending confirmation

/** Records whose versions wait for the re-encryption server, with their retry timer. */
const retrying = new Map();

/**
 * Shows that a saved version waits for the re-encryption server to confirm
 * it, and retries (2 s, doubling to 30 s) until it does.
 */
function confirmLater(record) {
  renderPending();
  if (!record.pendingWitness || retrying.has(record)) return;
  let delay = 2000;
  const attempt = async () => {
    try {
      await record.reconcile();
      retrying.delete(record);
      renderPending();
      if (record === app.record) say(`The re-encryption server confirmed version ${record.version}.`);
    } catch (e) {
      if (!S.isTransient(e)) {
        retrying.delete(record);
        renderPending();
        fail(e);
        return;
      }
      delay = Math.min(delay * 2, 30_000);
      retrying.set(record, setTimeout(attempt, delay));
    }
  };
  retrying.set(record, setTimeout(attempt, delay));
}

function renderPending() {
  const note = $("record-pending");
  const r = app.record;
  note.hidden = !r?.pendingWitness;
  note.textContent = r?.pendingWitness
    ? `Version ${r.version} is saved, waiting for the re-encryption server to confirm it (readers see version ${r.witnessedVersion} until then). Retrying automatically…`
    : "";
}

$("new-record").addEventListener(
  "click",
  action(async () => {
    say("Creating a record…");
    const r = await app.patient.createRecord();
    app.record = r;
    await loadRecords();
    say("Record created.");
  }),
);

function renderRecordList() {
  const list = $("record-list");
  list.replaceChildren();
  if (!app.records.length) list.append(el("p", {}, "You have no record yet."));
  for (const r of app.records) {
    const b = el("button", { type: "button", onclick: action(() => openRecord(r)) }, `Record ${r.index + 1} (version ${r.version})`);
    if (r === app.record) b.setAttribute("aria-current", "true");
    list.append(b);
  }
}

async function openRecord(r) {
  app.record = r;
  renderRecordList();
  $("record").hidden = false;
  $("record-id").textContent = short(r.recordId);
  $("record-version").textContent = String(r.version);
  renderPending();
  renderSectionChoices();
  renderSections();
  await Promise.all([renderGrants(), renderAudit()]);
}

function sectionNames() {
  const names = new Set(S.standardSections());
  for (const s of app.record.sections()) names.add(s.name);
  return [...names];
}

function renderSectionChoices() {
  const select = $("section-name");
  const current = select.value;
  select.replaceChildren(...sectionNames().map((n) => el("option", { value: n }, n)), el("option", { value: "" }, "New custom section…"));
  if (current !== undefined) select.value = current;
  if (!select.value) select.value = "demographics";
  const box = $("share-sections");
  box.replaceChildren(
    el("legend", {}, "Sections"),
    ...sectionNames().map((n) => el("label", {}, el("input", { type: "checkbox", name: "share-section", value: n }), ` ${n}`)),
  );
}

function renderSections() {
  const list = $("section-list");
  list.replaceChildren();
  const sections = app.record.sections();
  if (!sections.length) list.append(el("li", {}, "No sections yet: write one below or import a FHIR bundle."));
  for (const s of sections) {
    list.append(
      el(
        "li",
        {},
        el("strong", {}, s.name),
        ` — written at version ${s.entry.writtenAtVersion}, ${(s.entry.blobLength / 1024).toFixed(1)} KiB encrypted`,
        s.pendingRotation ? el("span", { className: "tag" }, ` key rotates at next save (${s.pendingRotation})`) : undefined,
        " ",
        el("button", { type: "button", onclick: action(() => editSection(s.name)) }, `Edit ${s.name}`),
        " ",
        el("button", { type: "button", onclick: action(() => rotateSection(s.name)) }, `Rotate key of ${s.name}`),
      ),
    );
  }
}

async function editSection(name) {
  say(`Decrypting ${name}…`);
  const open = await app.record.open(name);
  try {
    $("section-name").value = name;
    $("section-fields").value = Object.entries(open.document.fields ?? {})
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n");
    $("section-text").value = open.document.text ?? "";
    const keep = $("keep-list");
    keep.replaceChildren(
      ...open.document.attachments.map((a, i) =>
        el(
          "div",
          {},
          el("label", {}, el("input", { type: "checkbox", name: "keep", value: String(i), checked: true }), ` ${a.name} (${a.size} bytes)`),
          el("button", { type: "button", onclick: action(() => downloadOwn(name, i)) }, `Download ${a.name}`),
        ),
      ),
    );
    $("keep-box").hidden = !open.document.attachments.length;
    app.editing = { name, fhir: open.document.fhir ?? [] };
  } finally {
    open.close();
  }
  say(`Editing ${name}.`);
  $("section-fields").focus();
}

async function downloadOwn(name, i) {
  const open = await app.record.open(name);
  try {
    const a = open.document.attachments[i];
    say(`Downloading and decrypting ${a.name}…`);
    download(await open.attachmentBlob(i, { onProgress: progress($("save-progress")) }), a.name);
    say(`Decrypted ${a.name}.`);
  } finally {
    open.close();
  }
}

$("section-name").addEventListener("change", () => {
  const custom = $("section-name").value === "";
  $("section-custom").hidden = !custom;
  $("section-custom-label").hidden = !custom;
});

function parseFields(text) {
  const fields = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (line.trim() === "") continue;
    if (i < 1) throw new S.SesphrError("invalid_field", `"${line}" is not "name: value"`);
    fields[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return fields;
}

$("section-form").addEventListener(
  "submit",
  action(async () => {
    const name = $("section-name").value || $("section-custom").value.trim();
    if (!name) throw new S.SesphrError("invalid_argument", "Name the custom section.");
    const keep = app.editing?.name === name
      ? [...document.querySelectorAll("input[name=keep]:checked")].map((c) => Number(c.value))
      : [];
    const files = [...$("section-files").files];
    say(`Encrypting ${name}${files.length ? ` and ${files.length} attachment(s)` : ""}…`);
    const t0 = performance.now();
    const record = app.record;
    const saved = await record.write(
      [{ name, fields: parseFields($("section-fields").value), text: $("section-text").value, files, keep, fhir: app.editing?.name === name ? app.editing.fhir : [] }],
      { onProgress: progress($("save-progress")) },
    );
    const ms = Math.round(performance.now() - t0);
    $("section-files").value = "";
    app.editing = undefined;
    $("keep-box").hidden = true;
    confirmLater(record);
    await openRecord(record);
    say(
      saved.witnessed
        ? `Saved ${name} as version ${saved.version} (${ms} ms).`
        : `Saved ${name} as version ${saved.version}, waiting for the re-encryption server to confirm it.`,
    );
    $("save-progress").dataset.ms = String(ms);
  }),
);

async function rotateSection(name) {
  app.record.rotate(name);
  renderSections();
  say(`The key of ${name} rotates when you next save it; current readers get new shares automatically.`);
}

$("fhir-form").addEventListener(
  "submit",
  action(async () => {
    const file = $("fhir-file").files[0];
    const updates = importBundle(await file.text());
    say(`Importing ${updates.length} section(s) from the bundle…`);
    // Add to existing sections: keep their notes, fields and attachments.
    for (const u of updates) {
      if (!app.record.sections().some((s) => s.name === u.name)) continue;
      const old = await app.record.open(u.name);
      try {
        const d = old.document;
        u.fhir = [...(d.fhir ?? []), ...u.fhir];
        u.text = [d.text, u.text].filter(Boolean).join("\n");
        u.fields = { ...(d.fields ?? {}), ...u.fields, resources: String(u.fhir.length) };
        u.keep = d.attachments.map((_, i) => i);
      } finally {
        old.close();
      }
    }
    const record = app.record;
    const saved = await record.write(updates, { onProgress: progress($("save-progress")) });
    confirmLater(record);
    await openRecord(record);
    say(
      `Imported: ${updates.map((u) => `${u.name} (${u.fhir.length})`).join(", ")} as version ${saved.version}` +
        (saved.witnessed ? "." : ", waiting for the re-encryption server to confirm it."),
    );
  }),
);

// ------------------------------------------------------------------ sharing

$("lookup-form").addEventListener(
  "submit",
  action(async () => {
    const id = $("grantee-id").value.trim().toLowerCase();
    app.party = await app.client.lookup(id);
    $("grantee-fp").textContent = app.party.fingerprint;
    $("share-form").hidden = false;
    say("Found them. Compare the fingerprint before you share.");
  }),
);

$("share-role").addEventListener("change", () => {
  $("share-sections").hidden = $("share-role").value !== "custom";
});

$("share-form").addEventListener(
  "submit",
  action(async () => {
    const role = $("share-role").value;
    const sections = role === "custom"
      ? [...document.querySelectorAll("input[name=share-section]:checked")].map((c) => c.value)
      : undefined;
    const history = document.querySelector("input[name=history]:checked").value;
    const expiry = $("share-expiry").value;
    const expiresAt = expiry ? new Date(`${expiry}T23:59:59`).getTime() : undefined;
    say("Issuing the shares…");
    const ids = await app.record.share({ grantee: app.party, role, sections, history, expiresAt });
    $("share-form").hidden = true;
    $("grantee-id").value = "";
    renderSections();
    await renderGrants();
    say(`Shared ${ids.length} section(s) with ${app.party.fingerprint}.`);
  }),
);

async function renderGrants() {
  const body = $("grant-table").querySelector("tbody");
  const all = await app.record.grants();
  const live = new Set(app.record.liveGrants().map((g) => g.grantId));
  // One row per reader and section: the newest grant (rotations re-issue them).
  const newest = new Map();
  for (const g of all) newest.set(`${g.grantee.id}/${g.sectionId}`, g);
  body.replaceChildren();
  for (const g of newest.values()) {
    const status = g.revoked ? "revoked" : live.has(g.grantId) ? "active" : "expired";
    body.append(
      el(
        "tr",
        {},
        el("td", { className: "fp", title: g.grantee.id }, g.grantee.fingerprint),
        el("td", {}, g.sectionName),
        el("td", {}, g.role),
        el("td", {}, g.fromVersion ? `from version ${g.fromVersion}` : "all versions"),
        el("td", {}, g.expiresAt ? when(g.expiresAt) : "—"),
        el("td", {}, status),
        el(
          "td",
          {},
          status === "active"
            ? el("button", { type: "button", onclick: action(() => revoke(g)) }, `Revoke ${g.sectionName} for ${g.grantee.fingerprint.slice(0, 9)}`)
            : undefined,
          status === "active"
            ? el("button", { type: "button", className: "danger", onclick: action(() => revokeParty(g.grantee)) }, `Revoke all of ${g.grantee.fingerprint.slice(0, 9)}`)
            : undefined,
        ),
      ),
    );
  }
  if (!newest.size) body.append(el("tr", {}, el("td", { colSpan: 7 }, "Not shared with anyone.")));
}

async function revoke(g) {
  say("Revoking…");
  await app.record.revoke(g.grantId);
  renderSections();
  await renderGrants();
  say(`Revoked ${g.sectionName} for ${g.grantee.fingerprint}. The section's key rotates at its next save.`);
}

async function revokeParty(party) {
  say("Revoking…");
  const ids = await app.record.revokeParty(party.id);
  renderSections();
  await renderGrants();
  say(`Revoked ${ids.length} share(s) of ${party.fingerprint}. Their next request is refused.`);
}

async function renderAudit() {
  const body = $("audit-table").querySelector("tbody");
  const entries = await app.record.audit();
  body.replaceChildren(
    ...entries.reverse().map((e) =>
      el(
        "tr",
        {},
        el("td", {}, when(e.timestamp)),
        el("td", { className: "fp", title: e.granteeId }, short(e.granteeId)),
        el("td", {}, e.sectionName),
        el("td", {}, String(e.version)),
        el("td", { className: e.decision === "allowed" ? "ok" : "refused" }, e.decision),
      ),
    ),
  );
  if (!entries.length) body.append(el("tr", {}, el("td", { colSpan: 5 }, "Nobody has asked to read this record yet.")));
}

$("refresh-audit").addEventListener("click", action(renderAudit));

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
  // The page owns one object per record, by index, for its whole life: a
  // reload refreshes each in place (after any save, share or revoke already
  // running on it), so the open record, a pending confirmation or a save in
  // flight never holds a freed one.
  for (const r of app.records) await r.refresh();
  for (let index = app.records.length; ; index++) {
    const r = await app.patient.openRecord(index);
    if (!r) break;
    app.records.push(r);
  }
  renderRecordList();
  say("");
  for (const r of app.records) if (r.pendingWitness) confirmLater(r);
  if (app.records.length) await openRecord(app.record ?? app.records[0]);
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
    if (app.editing?.dirty && !confirm(`Discard your unsaved changes to ${app.editing.name}?`)) return;
    say("Creating a record…");
    const r = await app.patient.createRecord();
    app.records.push(r);
    renderRecordList();
    if (r.pendingWitness) confirmLater(r);
    await openRecord(r);
    say("Record created.");
  }),
);

function renderRecordList() {
  const list = $("record-list");
  list.replaceChildren();
  if (!app.records.length) list.append(el("p", {}, "You have no record yet."));
  for (const r of app.records) {
    const b = el("button", { type: "button", onclick: action(() => switchTo(r)) }, `Record ${r.index + 1} (version ${r.version})`);
    if (r === app.record) b.setAttribute("aria-current", "true");
    list.append(b);
  }
}

/** Opens another record, asking first if the form holds unsaved text. */
async function switchTo(r) {
  if (app.editing?.dirty && app.editing.record !== r && !confirm(`Discard your unsaved changes to ${app.editing.name}?`)) return;
  await openRecord(r);
}

// Leaving the page (reload, close, lock) with unsaved text asks first, the
// browser's own "leave this page?" prompt; text counts as unsaved until its
// save has landed.
window.addEventListener("beforeunload", (e) => {
  if (app.editing?.dirty) e.preventDefault();
});

async function openRecord(r) {
  if (app.record !== r) $("history-panel").hidden = true;
  app.record = r;
  renderRecordList();
  $("record").hidden = false;
  $("record-id").textContent = short(r.recordId);
  $("record-version").textContent = String(r.version);
  renderPending();
  renderSectionChoices();
  renderSections();
  // Typed text survives a reload of its own record (a tab switch, a stale
  // tab refreshed); otherwise the form shows the chosen section as saved.
  const kept = app.editing?.record === r && app.editing.dirty;
  if (!kept) await bindForm(app.editing?.record === r ? app.editing.name : $("section-name").value);
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
        el("button", { type: "button", onclick: action(() => showHistory(s.name)) }, `History of ${s.name}`),
        " ",
        el("button", { type: "button", onclick: action(() => rotateSection(s.name)) }, `Rotate key of ${s.name}`),
      ),
    );
  }
}

/**
 * Binds the edit form to section `name` of the open record: its current
 * fields, text and attachments if it has a body, an empty form otherwise.
 * What is saved from the form is that section, merged: the attachments kept
 * and the FHIR resources carry over.
 */
async function bindForm(name) {
  const record = app.record;
  const current = app.editing;
  // Already bound to that version of that section (loaded or loading):
  // nothing to do, and nothing typed is touched.
  if (current?.record === record && current.name === name && current.base === writtenAt(name)) return;
  // Bound at once: a reload or another choice made while this one decrypts
  // wins, and this one's result is dropped.
  const binding = { record, name, fhir: [], base: writtenAt(name), dirty: false };
  app.editing = binding;
  $("section-name").value = name;
  const custom = !sectionNames().includes(name);
  $("section-custom").hidden = !custom;
  $("section-custom-label").hidden = !custom;
  const fillText = (fields, text) => {
    $("section-fields").value = Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n");
    $("section-text").value = text;
  };
  const fillAttachments = (attachments) => {
    $("section-files").value = "";
    $("keep-list").replaceChildren(
      ...attachments.map((a, i) =>
        el(
          "div",
          {},
          el("label", {}, el("input", { type: "checkbox", name: "keep", value: String(i), checked: true }), ` ${a.name} (${a.size} bytes)`),
          el("button", { type: "button", onclick: action(() => downloadOwn(name, i)) }, `Download ${a.name}`),
        ),
      ),
    );
    $("keep-box").hidden = !attachments.length;
  };
  if (!name || !record.sections().some((s) => s.name === name)) {
    fillText({}, "");
    fillAttachments([]);
    return;
  }
  say(`Decrypting ${name}…`);
  const open = await record.open(name);
  try {
    if (app.editing !== binding) return;
    const d = open.document;
    binding.fhir = d.fhir;
    fillAttachments(d.attachments);
    // What the user typed while it decrypted is never overwritten.
    if (!binding.dirty) fillText(d.fields, d.text);
  } finally {
    open.close();
  }
  say(`Editing ${name}.`);
}

/** Whether section `name` was saved elsewhere since the form was bound to it. */
function sectionChanged(name) {
  return app.editing?.name === name && writtenAt(name) !== app.editing.base;
}

/** The error for that, once: the form now counts the other save as seen. */
function changedElsewhere(name) {
  const now = writtenAt(name);
  app.editing.base = now;
  return new S.SesphrError(
    "section_changed",
    `${name} was saved elsewhere (version ${now}) while you were editing it. Your text is still in the form: ` +
      "save again to replace that version with it, or choose the section again to see the other one.",
  );
}

/** The version at which section `name` of the open record was last written (0: never). */
function writtenAt(name) {
  return app.record.sections().find((s) => s.name === name)?.entry.writtenAtVersion ?? 0;
}

async function editSection(name) {
  await bindForm(name);
  if (app.editing?.name !== name) return;
  say(`Editing ${name}.`);
  $("section-fields").focus();
}

// ------------------------------------------------------------------ history

/** Lists the versions at which section `name` changed, each viewable and restorable. */
async function showHistory(name) {
  const record = app.record;
  const versions = record.history(name).reverse();
  $("history-h").textContent = `History of ${name}`;
  $("history-view").replaceChildren();
  $("history-table").tBodies[0].replaceChildren(
    ...versions.map(({ version }, n) =>
      el(
        "tr",
        {},
        el("td", {}, `version ${version}${n === 0 ? " (current)" : ""}`),
        el(
          "td",
          {},
          el("button", { type: "button", onclick: action(() => viewVersion(record, name, version)) }, `View version ${version}`),
          n === 0
            ? undefined
            : el("button", { type: "button", onclick: action(() => restoreVersion(record, name, version)) }, `Restore version ${version}`),
        ),
      ),
    ),
  );
  $("history-panel").hidden = false;
  say(`${name} has ${versions.length} version(s).`);
}

async function viewVersion(record, name, version) {
  say(`Decrypting ${name} at version ${version}…`);
  const open = await record.open(name, { version });
  try {
    const d = open.document;
    const dl = el("dl");
    for (const [k, v] of Object.entries(d.fields)) dl.append(el("dt", {}, k), el("dd", {}, v));
    $("history-view").replaceChildren(
      el("h5", {}, `${name} at version ${version}`),
      dl,
      d.text ? el("p", { className: "pre" }, d.text) : undefined,
      ...d.attachments.map((a) => el("p", {}, `Attachment: ${a.name} (${a.size} bytes)`)),
    );
  } finally {
    open.close();
  }
  say(`Showing ${name} as it was at version ${version}.`);
}

/** Writes section `name` as it was at `version` as the next version: fields, text, FHIR and attachments. */
async function restoreVersion(record, name, version) {
  if (!confirm(`Restore ${name} as it was at version ${version}? The current content stays in the history.`)) return;
  say(`Restoring ${name} from version ${version}…`);
  const open = await record.open(name, { version });
  let update;
  try {
    const d = open.document;
    const files = [];
    for (let i = 0; i < d.attachments.length; i++) {
      const a = d.attachments[i];
      files.push({ name: a.name, type: a.type, bytes: new Uint8Array(await (await open.attachmentBlob(i)).arrayBuffer()) });
    }
    update = { name, fields: d.fields, text: d.text, fhir: d.fhir, files };
  } finally {
    open.close();
  }
  const saved = await save(record, [update]);
  confirmLater(record);
  await openRecord(record);
  await showHistory(name);
  say(`Restored ${name} from version ${version} as version ${saved.version}.`);
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

$("section-name").addEventListener(
  "change",
  action(async () => {
    const name = $("section-name").value;
    if (app.editing?.dirty && !confirm(`Discard your changes to ${app.editing.name}?`)) {
      $("section-name").value = app.editing.name;
      return;
    }
    await bindForm(name);
    if (name === "") $("section-custom").focus();
  }),
);

for (const id of ["section-fields", "section-text", "section-files"]) {
  $(id).addEventListener("input", () => {
    if (app.editing) app.editing.dirty = true;
  });
}

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

/**
 * Writes `updates` to `record` with the progress bar (hidden again when the
 * write ends, whichever way). Another tab's newer version reloads the record,
 * which is shown again with the form kept as typed.
 */
async function save(record, updates) {
  const bar = $("save-progress");
  try {
    return await record.write(updates, { onProgress: progress(bar) });
  } catch (e) {
    if (e.code === "version_conflict" && app.record === record) await openRecord(record);
    throw e;
  } finally {
    bar.hidden = true;
  }
}

$("section-form").addEventListener(
  "submit",
  action(async () => {
    const name = $("section-name").value || $("section-custom").value.trim();
    if (!name) throw new S.SesphrError("invalid_argument", "Name the custom section.");
    const bound = app.editing?.record === app.record && (app.editing.name === name || app.editing.name === "");
    if (!bound) throw new S.SesphrError("invalid_state", "Choose the section to edit again: the form shows another one.");
    // Written elsewhere (another tab or device) since the form was filled:
    // say so once, keep what was typed; a second save replaces it.
    if (sectionChanged(name)) throw changedElsewhere(name);
    const keep = [...document.querySelectorAll("input[name=keep]:checked")].map((c) => Number(c.value));
    const files = [...$("section-files").files];
    say(`Encrypting ${name}${files.length ? ` and ${files.length} attachment(s)` : ""}…`);
    const t0 = performance.now();
    const record = app.record;
    let saved;
    try {
      saved = await save(record, [
        { name, fields: parseFields($("section-fields").value), text: $("section-text").value, files, keep, fhir: app.editing.fhir },
      ]);
    } catch (e) {
      // Another tab saved first: if it saved this section, say that instead.
      if (e.code === "version_conflict" && app.record === record && sectionChanged(name)) throw changedElsewhere(name);
      throw e;
    }
    const ms = Math.round(performance.now() - t0);
    confirmLater(record);
    app.editing.dirty = false;
    await openRecord(record);
    // The form shows the section as now saved (its attachments included).
    if (app.record === record) await bindForm(name);
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
    const saved = await save(record, updates);
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

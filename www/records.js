// "My records": the patient's records, their sections, sharing and audit.
// A write the re-encryption server has not confirmed yet is kept and shown
// as such, and confirmed automatically once the server answers.
import * as S from "/pkg/index.js";
import { documentView, downloadFhir, size } from "./document.js";
import { refreshLiveLinks, renderLinks } from "./links.js";
import { person, personLookedUp } from "./people.js";
import { renderInvitations } from "./invite.js";
import { renderEmergency, watchEmergency } from "./emergency.js";
import { renderRequests } from "./requests.js";
import { $, action, app, currentLine, download, el, explain, fail, progress, say, sayAt, sayNear, when } from "./ui.js";

// ------------------------------------------------------------------ my records

/** Loads (and checks against the re-encryption server) every record of the patient. */
/**
 * Loading the list and creating a record run one at a time: both add the
 * next record index, and two at once (a click on "My records" while a
 * create runs, or while a slow list still loads) listed a record twice.
 */
let recordsQueue = Promise.resolve();
function oneAtATime(f) {
  const run = recordsQueue.then(f);
  recordsQueue = run.catch(() => {});
  return run;
}

/** Adds a record object unless the page already has one for its id. */
function adopt(r) {
  const had = app.records.find((x) => x.recordId === r.recordId);
  if (had) {
    r.free?.();
    return had;
  }
  app.records.push(r);
  return r;
}

export function loadRecords() {
  return oneAtATime(loadRecordsNow);
}

/** Every record this identity owns, as the page's own objects (opened, not shown). */
export function knownRecords() {
  return oneAtATime(async () => {
    for (let index = app.records.length; ; index++) {
      const r = await app.patient.openRecord(index);
      if (!r) return app.records;
      adopt(r);
    }
  });
}

async function loadRecordsNow() {
  say("Loading your records…");
  // The page owns one object per record, by index, for its whole life: a
  // reload refreshes each in place (after any save, share or revoke already
  // running on it), so the open record, a pending confirmation or a save in
  // flight never holds a freed one.
  for (const r of app.records) await r.refresh();
  for (let index = app.records.length; ; index++) {
    const r = await app.patient.openRecord(index);
    if (!r) break;
    adopt(r);
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
    if (app.editing?.dirty && !app.editing.saving && !confirm(`Discard your unsaved changes to ${app.editing.name}?`)) return;
    say("Creating a record…");
    const r = await oneAtATime(async () => adopt(await app.patient.createRecord()));
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
  if (app.editing?.dirty && !app.editing.saving && app.editing.record !== r && !confirm(`Discard your unsaved changes to ${app.editing.name}?`)) return;
  await openRecord(r);
}

// Leaving the page (reload, close, lock) with unsaved text asks first, the
// browser's own "leave this page?" prompt; text counts as unsaved until its
// save has landed.
window.addEventListener("beforeunload", (e) => {
  if (app.editing?.dirty) e.preventDefault();
});

async function openRecord(r) {
  if (app.record !== r) {
    $("history-panel").hidden = true;
    closeRead();
  }
  app.record = r;
  renderRecordList();
  $("record").hidden = false;
  $("record-id").textContent = String(r.index + 1);
  $("record-id").title = `record id ${r.recordId}`;
  $("record-version").textContent = String(r.version);
  renderPending();
  renderSectionChoices();
  renderSections();
  $("prune-before").max = String(r.version);
  // Typed text survives a reload of its own record (a tab switch, a stale
  // tab refreshed); otherwise the form shows the chosen section as saved.
  const kept = app.editing?.record === r && app.editing.dirty;
  if (!kept) await bindForm(app.editing?.record === r ? app.editing.name : $("section-name").value);
  renderShareChoices();
  await Promise.all([renderGrants(), renderAudit(), renderLinks(r), renderInvitations(), renderEmergency(), renderRequests()]);
  watchEmergency();
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
        " ",
        el("span", { className: "note" }, `last changed in version ${s.entry.writtenAtVersion}`),
        s.pendingRotation ? el("span", { className: "tag" }, " · gets a new key at its next save") : undefined,
        el("br"),
        el("button", { type: "button", onclick: action(() => readSections([s.name])) }, `Read ${s.name}`),
        el("button", { type: "button", onclick: action(() => editSection(s.name)) }, `Edit ${s.name}`),
        el("button", { type: "button", onclick: action(() => showHistory(s.name)) }, `History of ${s.name}`),
      ),
    );
  }
  $("read-all").hidden = !sections.length;
}

// ------------------------------------------------------------------ reading

/** Shows sections `names` of the open record as a reader would see them. */
async function readSections(names) {
  const record = app.record;
  const view = $("read-view");
  view.replaceChildren();
  $("read-h").textContent = names.length === 1 ? names[0] : "Your record";
  $("read-panel").hidden = false;
  for (const name of names) {
    say(`Decrypting ${name}…`);
    const open = await record.open(name);
    if (app.record !== record) {
      open.close();
      return;
    }
    readOpen.push(open);
    view.append(
      el(
        "section",
        { className: "doc" },
        names.length > 1 ? el("h5", {}, name) : undefined,
        el("p", { className: "note" }, `last changed in version ${record.sections().find((s) => s.name === name)?.entry.writtenAtVersion ?? open.version}`),
        ...documentView(open.document, { open, bar: $("read-progress") }),
      ),
    );
  }
  say(names.length === 1 ? `Showing ${names[0]}.` : `Showing ${names.length} sections.`);
  $("read-panel").scrollIntoView?.({ block: "nearest" });
}

/** Sections open in the read panel (their attachments download on demand). */
let readOpen = [];

function closeRead() {
  for (const o of readOpen) o.close();
  readOpen = [];
  $("read-panel").hidden = true;
  $("read-view").replaceChildren();
}

$("read-all").addEventListener(
  "click",
  action(() => {
    closeRead();
    return readSections(app.record.sections().map((s) => s.name));
  }),
);
$("close-read").addEventListener("click", closeRead);

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
  const binding = { record, name, fhir: [], base: writtenAt(name), dirty: false, loaded: false };
  // Another section (or record): nothing of the one shown before may stay in
  // the form, and nothing can be typed until this one is decrypted. The same
  // section at a newer version keeps what was typed.
  const other = current?.record !== record || current?.name !== name;
  if (other) binding.dirty = false;
  else binding.dirty = current.dirty;
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
    showAttachments(name, attachments);
  };
  const lock = (locked) => {
    for (const id of ["section-fields", "section-text"]) $(id).readOnly = locked;
    $("section-files").disabled = locked;
  };
  if (other || !binding.dirty) {
    fillText({}, "");
    fillAttachments([]);
    fillFhirNote([]);
  }
  if (!name || !record.sections().some((s) => s.name === name)) {
    binding.loaded = true;
    lock(false);
    return;
  }
  say(`Decrypting ${name}…`);
  if (other) lock(true);
  let open;
  try {
    open = await record.open(name);
  } catch (e) {
    if (app.editing === binding) lock(false);
    throw e;
  }
  try {
    if (app.editing !== binding) return;
    const d = S.withoutImportBookkeeping(open.document);
    binding.fhir = d.fhir;
    fillFhirNote(d.fhir);
    fillAttachments(d.attachments);
    // What the user typed into this section before a reload is never overwritten.
    if (!binding.dirty) fillText(d.fields, d.text);
    binding.loaded = true;
    lock(false);
  } finally {
    open.close();
  }
  say(`Editing ${name}.`);
}

/** What identifies a stored attachment across versions: its blob, or its place in an inline body. */
const attachmentKey = (a) => a.root ?? `inline:${a.offset}:${a.size}:${a.name}`;

/**
 * Lists `attachments` (of the version the form is bound to) with a "keep"
 * box each: ticked, or as `ticked(key)` says for one the form listed before.
 */
function showAttachments(name, attachments, ticked = () => true) {
  $("keep-list").replaceChildren(
    ...attachments.map((a, i) =>
      el(
        "div",
        {},
        el("label", {}, el("input", { type: "checkbox", name: "keep", value: String(i), checked: ticked(attachmentKey(a)) !== false, dataset: { key: attachmentKey(a) } }), ` ${a.name} (${size(a.size)})`),
        el("button", { type: "button", onclick: action(() => downloadOwn(name, i)) }, `Download ${a.name}`),
      ),
    ),
  );
  $("keep-box").hidden = !attachments.length;
}

/** Says that the section's imported clinical entries are kept by a save from the form. */
function fillFhirNote(fhir) {
  const note = $("fhir-kept");
  note.hidden = !fhir.length;
  note.textContent = fhir.length
    ? `This section also holds ${fhir.length === 1 ? "1 clinical entry" : `${fhir.length} clinical entries`} from imported files; saving keeps them.`
    : "";
}

/** Whether section `name` was saved elsewhere since the form was bound to it. */
function sectionChanged(name) {
  return app.editing?.name === name && writtenAt(name) !== app.editing.base;
}

/**
 * The error for that, once: the form now counts the other save as seen and
 * takes its attachments and FHIR entries (the form edits neither): a box
 * the person unticked stays unticked, the other save's new files are kept.
 * What was typed stays.
 */
async function changedElsewhere(name) {
  const binding = app.editing;
  const now = writtenAt(name);
  const open = await binding.record.open(name);
  try {
    const d = open.document;
    if (app.editing === binding) {
      const before = new Map([...document.querySelectorAll("input[name=keep]")].map((c) => [c.dataset.key, c.checked]));
      showAttachments(name, d.attachments, (key) => before.get(key));
      binding.fhir = d.fhir;
      fillFhirNote(d.fhir);
      binding.base = now;
    }
  } finally {
    open.close();
  }
  return new S.SesphrError(
    "section_changed",
    `${name} was saved elsewhere (version ${now}) while you were editing it. Your text is still in the form, ` +
      "and the attachments listed are now that version's (those you unticked stay unticked): " +
      "save again to replace its fields and text with yours, or choose the section again to see the other one.",
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
  $("history-panel").dataset.section = name;
  say(versions.length === 1 ? `${name} has one version.` : `${name} has ${versions.length} versions.`);
}

async function viewVersion(record, name, version) {
  say(`Decrypting ${name} at version ${version}…`);
  const open = await record.open(name, { version });
  try {
    $("history-view").replaceChildren(el("h5", {}, `${name} at version ${version}`), ...documentView(open.document));
  } finally {
    open.close();
  }
  say(`Showing ${name} as it was at version ${version}.`);
}

/** Writes section `name` as it was at `version` as the next version: fields, text, FHIR and attachments. */
async function restoreVersion(record, name, version) {
  if (!confirm(`Restore ${name} as it was at version ${version}? The current content stays in the history.`)) return;
  say(`Restoring ${name} from version ${version}…`);
  // Its attachments are referenced where they are stored, not copied.
  const saved = await save(record, null, (options) => record.restore(name, version, options));
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
    const bar = $("keep-progress");
    try {
      download(await open.attachmentBlob(i, { onProgress: progress(bar) }), a.name);
    } finally {
      bar.hidden = true;
    }
    say(`Decrypted ${a.name}.`);
  } finally {
    open.close();
  }
}

$("section-name").addEventListener(
  "change",
  action(async () => {
    const name = $("section-name").value;
    if (app.editing?.dirty && !app.editing.saving && !confirm(`Discard your changes to ${app.editing.name}?`)) {
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
 * Writes `updates` to `record` (or runs `run(options)`, another write) with
 * the progress bar and its Cancel button (hidden again when the write ends,
 * whichever way). Another tab's newer version reloads the record,
 * which is shown again with the form kept as typed.
 */
async function save(record, updates, run = (options) => record.write(updates, options)) {
  const busy = $("save-busy");
  const bar = $("save-progress");
  const cancel = $("cancel-save");
  const controller = new AbortController();
  const stop = () => controller.abort();
  // Progress and Cancel sit next to what is being saved (the form, the import plan).
  currentLine()?.before(busy);
  cancel.addEventListener("click", stop);
  busy.hidden = false;
  cancel.disabled = false;
  try {
    const saved = await run({ onProgress: progress(bar), signal: controller.signal });
    // Live links covering what changed follow it (reported in the links panel).
    await refreshLiveLinks(record, updates?.map((u) => u.name));
    return saved;
  } catch (e) {
    if (e.code === "version_conflict" && app.record === record) await openRecord(record);
    throw e;
  } finally {
    cancel.removeEventListener("click", stop);
    busy.hidden = true;
  }
}

$("section-form").addEventListener(
  "submit",
  action(async () => {
    const name = $("section-name").value || $("section-custom").value.trim();
    if (!name) throw new S.SesphrError("invalid_argument", "Name the custom section.");
    const bound = app.editing?.record === app.record && (app.editing.name === name || app.editing.name === "");
    if (!bound) throw new S.SesphrError("not_ready", "Choose the section to edit again: the form shows another one.");
    // Saved before its content arrived, the form would drop what it holds.
    if (!app.editing.loaded) throw new S.SesphrError("not_ready", `${name} is still being decrypted: save again in a moment.`);
    // Written elsewhere (another tab or device) since the form was filled:
    // say so once, keep what was typed; a second save replaces it.
    if (sectionChanged(name)) throw await changedElsewhere(name);
    const keep = [...document.querySelectorAll("input[name=keep]:checked")].map((c) => Number(c.value));
    const files = [...$("section-files").files];
    say(`Encrypting ${name}${files.length ? ` and ${files.length} attachment(s)` : ""}…`);
    const t0 = performance.now();
    const record = app.record;
    const binding = app.editing;
    const line = currentLine();
    let saved;
    binding.saving = true;
    try {
      saved = await save(record, [
        { name, fields: parseFields($("section-fields").value), text: $("section-text").value, files, keep, fhir: app.editing.fhir },
      ]);
    } catch (e) {
      // Another tab saved first: if it saved this section, say that instead.
      if (e.code === "version_conflict" && app.editing === binding && sectionChanged(name)) throw await changedElsewhere(name);
      throw e;
    } finally {
      binding.saving = false;
    }
    const ms = Math.round(performance.now() - t0);
    confirmLater(record);
    // What the person did meanwhile wins: another section or record chosen
    // while this one saved stays in front, with whatever is typed there.
    if (app.editing === binding) {
      binding.dirty = false;
      await openRecord(record);
      // The form shows the section as now saved (its attachments included).
      await bindForm(name);
    } else if (app.record === record) {
      renderSections();
      renderRecordList();
    } else renderRecordList();
    sayAt(
      line,
      saved.witnessed
        ? `Saved ${name} as version ${saved.version} (${ms} ms).`
        : `Saved ${name} as version ${saved.version}, waiting for the re-encryption server to confirm it.`,
    );
    $("save-progress").dataset.ms = String(ms);
  }),
);

$("rotate-section").addEventListener(
  "click",
  action(async () => {
    const name = $("history-panel").dataset.section;
    app.record.rotate(name);
    renderSections();
    say(`${name} gets a new key when you next save it; current readers get new shares automatically.`);
  }),
);

// ------------------------------------------------------------------ old versions

$("prune-form").addEventListener(
  "submit",
  action(async () => {
    const record = app.record;
    const before = Number($("prune-before").value);
    if (!Number.isSafeInteger(before) || before < 1 || before > record.version) {
      throw new S.SesphrError("invalid_argument", `Choose a version from 1 to ${record.version}.`);
    }
    if (!confirm(`Delete the content of every version older than version ${before}? This cannot be undone.`)) return;
    say("Deleting old versions…");
    const { deleted } = await record.prune({ before });
    $("history-panel").hidden = true;
    say(
      deleted.length
        ? `Deleted ${deleted.length === 1 ? "1 stored object" : `${deleted.length} stored objects`} that only versions before ${before} used.`
        : `Nothing to delete: versions before ${before} hold nothing that is not still in use.`,
    );
  }),
);

// ------------------------------------------------------------------ FHIR import and export

/** The open record's section documents (fields, text, FHIR, attachments), decrypted. */
async function documents(record, names = record.sections().map((s) => s.name)) {
  const docs = [];
  for (const name of names) {
    const open = await record.open(name);
    try {
      docs.push(open.document);
    } finally {
      open.close();
    }
  }
  return docs;
}

/** The import waiting for the patient's confirmation: the file, the record as planned against, the plan. */
let pending;

function planAgainst(state) {
  const others = [...document.querySelectorAll("input[name=import-other]:checked")].map((c) => c.value);
  const sections = Object.fromEntries(state.docs.map((d) => [d.name, d.fhir]));
  const patient = state.chosen ?? state.docs.find((d) => d.name === "demographics")?.fhir.find((r) => r.resourceType === "Patient");
  return S.planImport(state.bundle, { sections, patient, importOthers: others });
}

function showPlan() {
  const { plan } = pending;
  $("import-summary").replaceChildren(...plan.summary.map((line) => el("li", {}, line)));
  $("import-others").hidden = !plan.otherPatients.length;
  const checked = new Set([...document.querySelectorAll("input[name=import-other]:checked")].map((c) => c.value));
  $("import-others-list").replaceChildren(
    ...plan.otherPatients.map((o) =>
      el(
        "label",
        {},
        el("input", { type: "checkbox", name: "import-other", value: o.key, checked: checked.has(o.key), onchange: replan }),
        ` ${o.name}: ${Object.entries(o.types)
          .map(([type, n]) => `${n} ${type}`)
          .join(", ")}`,
      ),
    ),
  );
  // A file about several people into a record without a patient: the
  // patient chooses whose record it is; nothing is guessed.
  if (plan.patient?.guessed && !pending.people) {
    pending.people = [plan.patient, ...plan.otherPatients].map((p) => ({
      name: p.name,
      resource: p.resource ?? p.resources?.find((r) => r.resourceType === "Patient"),
    }));
  }
  const people = (pending.people ?? []).filter((p) => p.resource);
  $("import-whose").hidden = !people.length;
  $("import-whose-list").replaceChildren(
    ...people.map((p, i) =>
      el(
        "label",
        {},
        el("input", {
          type: "radio",
          name: "import-whose",
          value: String(i),
          checked: pending.chosen === p.resource,
          onchange: () => {
            pending.chosen = p.resource;
            for (const c of document.querySelectorAll("input[name=import-other]")) c.checked = false;
            replan();
          },
        }),
        ` ${p.name}`,
      ),
    ),
  );
  $("import-confirm").disabled = plan.empty || (people.length > 0 && !pending.chosen);
  $("import-plan").hidden = false;
}

function replan() {
  pending.plan = planAgainst(pending);
  showPlan();
}

$("fhir-form").addEventListener(
  "submit",
  action(async () => {
    const file = $("fhir-file").files[0];
    const record = app.record;
    say(`Reading ${file.name}…`);
    const bundle = await file.text();
    const docs = await documents(record);
    $("import-others-list").replaceChildren();
    $("import-plan").querySelector(".msg")?.remove();
    pending = { record, version: record.version, bundle, docs, name: file.name };
    pending.plan = planAgainst(pending);
    showPlan();
    say(pending.plan.empty ? "Nothing in this file is new to the record." : "Check what the file adds, then import it.");
    $("import-plan").scrollIntoView?.({ block: "nearest" });
  }),
);

$("import-cancel").addEventListener("click", () => {
  pending = undefined;
  $("import-plan").hidden = true;
});

$("import-confirm").addEventListener(
  "click",
  action(async () => {
    const { record, plan, docs } = pending;
    // Planned against an older version (another tab saved since): plan again and ask again.
    if (record !== app.record || record.version !== pending.version) {
      pending.docs = await documents(record);
      pending.version = record.version;
      replan();
      throw new S.SesphrError("section_changed", "The record changed since this file was read. Check what it adds now, then import again.");
    }
    const updates = plan.sections.map((s) => {
      const d = docs.find((x) => x.name === s.name);
      if (!d) return { name: s.name, fhir: s.fhir };
      const clean = S.withoutImportBookkeeping(d);
      return { name: s.name, fhir: s.fhir, fields: clean.fields, text: clean.text, keep: d.attachments.map((_, i) => i) };
    });
    say(`Importing into ${updates.map((u) => u.name).join(", ")}…`);
    // While it saves, the one Cancel is the save's (it stops the upload).
    $("import-cancel").hidden = true;
    let saved;
    try {
      saved = await save(record, updates);
    } finally {
      $("import-cancel").hidden = false;
    }
    pending = undefined;
    $("import-plan").hidden = true;
    $("fhir-file").value = "";
    confirmLater(record);
    await openRecord(record);
    sayNear(
      $("fhir-form"),
      `Imported: ${plan.sections.map((s) => `${s.name} (${s.added.length + s.replaced.length})`).join(", ")} as version ${saved.version}` +
        (saved.witnessed ? "." : ", waiting for the re-encryption server to confirm it."),
    );
  }),
);

$("export-bundle").addEventListener(
  "click",
  action(async () => {
    say("Decrypting the record to export it…");
    const bundle = S.toBundle(await documents(app.record));
    downloadFhir(bundle, `record-${app.record.index + 1}-fhir.json`);
    say(`Exported ${bundle.entry.length} FHIR resources. The file is not encrypted: keep it safe.`);
  }),
);

$("export-ips").addEventListener(
  "click",
  action(async () => {
    say("Decrypting the record to write its summary…");
    const ips = S.toPatientSummary(await documents(app.record));
    downloadFhir(ips, `record-${app.record.index + 1}-patient-summary.json`);
    say("Exported the patient summary (IPS). The file is not encrypted: keep it safe.");
  }),
);

// ------------------------------------------------------------------ sharing

/** The "share with" choices: every contact, then someone new. */
function renderShareChoices() {
  const select = $("share-who");
  const current = select.value;
  select.replaceChildren(
    ...app.contacts.list().map((c) => el("option", { value: c.id }, `${c.name} (${c.fingerprint.slice(0, 9)})`)),
    el("option", { value: "" }, "Someone new: enter their party id…"),
  );
  if ([...select.options].some((o) => o.value === current)) select.value = current;
  $("new-person").hidden = select.value !== "";
  $("grantee-id").required = select.value === "";
}

$("share-who").addEventListener("change", () => {
  renderShareChoices();
  $("share-form").hidden = true;
  if ($("share-who").value === "") $("grantee-id").focus();
});

$("lookup-form").addEventListener(
  "submit",
  action(async () => {
    const chosen = $("share-who").value;
    const id = chosen || $("grantee-id").value.trim().toLowerCase();
    if (!id) throw new S.SesphrError("invalid_id", "Enter their party id.");
    if (id === app.identity.id) throw new S.SesphrError("invalid_argument", "That is your own party id: you can already read your record. Enter the other person's.");
    app.party = await app.contacts.lookup(id);
    const known = app.contacts.get(app.party.id);
    $("share-to").replaceChildren(
      known
        ? `Sharing with ${known.name}, fingerprint `
        : "Found someone new with the fingerprint ",
      el("strong", { className: "fp" }, app.party.fingerprint),
      known ? "." : ". Check it with them before you share, and name them.",
      known && !known.verified
        ? el("span", { className: "unverified warn" }, ` Warning: ${known.name} is not verified. Compare your safety number with them under "People" before you share.`)
        : "",
    );
    $("share-name-box").hidden = !!known;
    $("grantee-name").required = !known;
    $("grantee-name").value = "";
    $("share-form").hidden = false;
    (known ? $("share-role") : $("grantee-name")).focus();
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
    if (sections && !sections.length) throw new S.SesphrError("invalid_argument", "Choose at least one section to share.");
    const history = document.querySelector("input[name=history]:checked").value;
    const expiry = $("share-expiry").value;
    const expiresAt = expiry ? new Date(`${expiry}T23:59:59`).getTime() : undefined;
    if (expiresAt !== undefined && expiresAt <= Date.now()) throw new S.SesphrError("invalid_argument", "The expiry date is already past: choose a later one, or none.");
    // Someone new is named first: a share always goes to a person the
    // patient can recognise in every table afterwards.
    if (!app.contacts.get(app.party.id)) await app.contacts.add(app.party, $("grantee-name").value);
    const who = app.contacts.label(app.party).text;
    say(`Sharing with ${who}…`);
    // issueAccess: the grants, and the name the patient gives themself (sealed to the reader).
    const ids = await S.issueAccess(app.record, { grantee: app.party, role, sections, history, expiresAt, ownerName: app.contacts.myName });
    $("share-form").hidden = true;
    $("grantee-id").value = "";
    $("share-who").value = app.party.id;
    renderShareChoices();
    renderSections();
    await renderGrants();
    say(ids.length === 1 ? `Shared 1 section with ${who}.` : `Shared ${ids.length} sections with ${who}.`);
  }),
);

const STATUS = { active: "active", revoked: "revoked", expired: "expired" };

// Shares made elsewhere (emergency contacts, approved requests) show in the table at once.
document.addEventListener("sesphr-shares-changed", () => app.record && renderGrants().catch(() => {}));

/**
 * Who can read what: one row per person, with each section's status (the
 * newest grant per person and section: rotations re-issue them).
 */
export async function renderGrants() {
  const body = $("grant-table").querySelector("tbody");
  const all = await app.record.grants();
  const live = new Set(app.record.liveGrants().map((g) => g.grantId));
  const people = new Map();
  for (const g of all) {
    app.contacts.remember(g.grantee);
    if (!people.has(g.grantee.id)) people.set(g.grantee.id, { party: g.grantee, sections: new Map() });
    people.get(g.grantee.id).sections.set(g.sectionId, g);
  }
  body.replaceChildren();
  for (const { party, sections } of people.values()) {
    const grants = [...sections.values()];
    const status = (g) => (g.revoked ? STATUS.revoked : live.has(g.grantId) ? STATUS.active : STATUS.expired);
    const who = app.contacts.label(party);
    const distinct = (f) => [...new Set(grants.map(f))].join(", ");
    const anyActive = grants.some((g) => status(g) === STATUS.active);
    body.append(
      el(
        "tr",
        {},
        el("td", { dataset: { label: "Reader" } }, person(party)),
        el(
          "td",
          { dataset: { label: "Sections" } },
          el(
            "ul",
            { className: "shares" },
            ...grants.map((g) =>
              el(
                "li",
                { dataset: { status: status(g) } },
                `${g.sectionName}: `,
                el("span", { className: `status-${status(g)}` }, status(g)),
                g.emergencyWaitMs != null ? el("span", { className: "note" }, ` (emergency: opens ${Math.round(g.emergencyWaitMs / 3_600_000)} h after activation)`) : "",
                status(g) === STATUS.active
                  ? el("button", { type: "button", className: "small", ariaLabel: `Revoke ${g.sectionName} for ${who.name ?? who.text}`, onclick: action(() => revoke(g)) }, "Revoke")
                  : undefined,
              ),
            ),
          ),
        ),
        el(
          "td",
          { dataset: { label: "Role" } },
          distinct((g) => g.role),
          el("br"),
          el("span", { className: "note" }, `${grants.filter((g) => status(g) === STATUS.active).length} of ${grants.length} sections active`),
          who.name ? el("br") : "",
          who.name ? (who.verified ? el("span", { className: "verified" }, "verified") : el("span", { className: "unverified" }, "not verified")) : "",
        ),
        el("td", { dataset: { label: "History" } }, distinct((g) => (g.fromVersion ? `from version ${g.fromVersion}` : "all versions"))),
        el("td", { dataset: { label: "Expires" } }, distinct((g) => (g.expiresAt ? when(g.expiresAt) : "never"))),
        el(
          "td",
          { dataset: { label: "" } },
          anyActive
            ? el("button", { type: "button", className: "danger", onclick: action(() => revokeParty(party)) }, `Revoke all of ${who.name ?? who.text}`)
            : el("span", { className: "note" }, "no access"),
        ),
      ),
    );
  }
  if (!people.size) body.append(el("tr", {}, el("td", { colSpan: 6 }, "Not shared with anyone.")));
}

async function revoke(g) {
  const who = app.contacts.label(g.grantee).text;
  say(`Revoking ${g.sectionName} for ${who}…`);
  await app.record.revoke(g.grantId);
  renderSections();
  await renderGrants();
  say(`Revoked ${g.sectionName} for ${who}. The section gets a new key at its next save.`);
}

async function revokeParty(party) {
  const who = app.contacts.label(party).text;
  if (!confirm(`Revoke everything you shared with ${who}?`)) return;
  say(`Revoking every share of ${who}…`);
  const ids = await app.record.revokeParty(party.id);
  renderSections();
  await renderGrants();
  say(`Revoked ${ids.length === 1 ? "1 share" : `${ids.length} shares`} of ${who}. Their next request is refused.`);
}

/** Decisions in plain words (the SRS's codes). */
const DECISION = {
  allowed: "read",
  revoked: "refused: access revoked",
  expired: "refused: share expired",
  unknown_grant: "refused: no such share",
  bad_signature: "refused: request not signed by them",
  replay: "refused: a repeated request",
  not_in_manifest: "refused: that version is not in the record",
  before_from_version: "refused: older than what was shared",
  emergency_dormant: "refused: emergency access not asked for",
  emergency_waiting: "refused: emergency access still waiting",
};

/** The audit checks' failures, which the package words for people. */
const AUDIT_WORDS = new Set(["audit_incomplete", "bad_proof", "binding_mismatch", "chain_broken", "stale"]);

/** The fork evidence this browser keeps for the signed-in patient, if any. */
function forkEvidence() {
  try {
    return JSON.parse(localStorage.getItem(`sesphr-audit-fork-${app.identity.id}`) ?? "null");
  } catch {
    return null;
  }
}

async function renderAudit() {
  const record = app.record;
  const body = $("audit-table").querySelector("tbody");
  const status = $("audit-status");
  $("audit-evidence").hidden = !forkEvidence();
  let listing;
  try {
    // Verified or refused whole: the log extends the one this browser
    // checked before, every row is in it, none seen before is missing.
    listing = await record.audit();
  } catch (e) {
    if (app.record !== record) return;
    body.replaceChildren();
    if (e.code === "audit_fork") {
      // The evidence: two heads the server signed that cannot both be true.
      const evidence = {
        kind: "SeSPHR audit fork evidence",
        patient: app.identity.id,
        keptHead: S.toHex(e.keptHead),
        servedHead: S.toHex(e.servedHead),
        at: new Date().toISOString(),
        check: "sesphr-relay audit verify <export> --head <keptHead> --head <servedHead>",
      };
      localStorage.setItem(`sesphr-audit-fork-${app.identity.id}`, JSON.stringify(evidence));
      $("audit-evidence").hidden = false;
    }
    status.className = "refused";
    status.dataset.code = e.code ?? "";
    status.textContent =
      e.code === "audit_fork"
        ? "Not verified. The re-encryption server showed you an audit log that contradicts the one it showed you " +
          "before: it may have rewritten or hidden who read this record. Both versions it signed are kept as evidence " +
          "in this browser: save them and show them to the server's operator or an auditor."
        : `Not verified. ${AUDIT_WORDS.has(e.code) ? e.message : explain(e)}`;
    return;
  }
  const entries = [...listing.entries].reverse();
  // Everyone in the log named as in the sharing table (looked up once).
  const names = new Map();
  for (const id of new Set(entries.map((e) => e.granteeId))) names.set(id, await personLookedUp(id));
  if (app.record !== record) return;
  status.className = listing.verified ? "ok" : "refused";
  status.dataset.code = listing.verified ? "verified" : "";
  status.textContent = listing.verified
    ? `Verified: this is the re-encryption server's signed log (${listing.treeSize} entries in all), it only grew since you last looked, ` +
      "its chain of entries about this record has no gap, nothing it showed you before is missing" +
      (listing.receipts
        ? `, and the ${listing.receipts === 1 ? "receipt" : `${listing.receipts} receipts`} your readers' apps sent you ${listing.receipts === 1 ? "is" : "are"} in it.`
        : ".")
    : "Not verified.";
  body.replaceChildren(
    ...entries.map((e) =>
      el(
        "tr",
        {},
        el("td", { dataset: { label: "When" } }, when(e.timestamp)),
        el("td", { dataset: { label: "Who" } }, names.get(e.granteeId).cloneNode(true)),
        el("td", { dataset: { label: "Section" } }, e.sectionName),
        el("td", { dataset: { label: "Version" } }, String(e.version)),
        el(
          "td",
          { dataset: { label: "Decision", decision: e.decision }, className: e.decision === "allowed" ? "ok" : "refused" },
          DECISION[e.decision] ?? `refused: ${e.decision.replaceAll("_", " ")}`,
          e.purpose === "BTG" ? el("span", { className: "tag", dataset: { purpose: "BTG" } }, " · emergency access (BTG)") : undefined,
        ),
      ),
    ),
  );
  if (!entries.length) body.append(el("tr", {}, el("td", { colSpan: 5 }, "Nobody has asked to read this record yet.")));
}

$("refresh-audit").addEventListener("click", action(renderAudit));
$("audit-evidence").addEventListener(
  "click",
  action(async () => {
    const evidence = forkEvidence();
    if (!evidence) return;
    download(new Blob([JSON.stringify(evidence, null, 2)], { type: "application/json" }), "sesphr-audit-fork-evidence.json");
  }),
);

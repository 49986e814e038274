// The SeSPHR portal: plain DOM over the client library in /pkg/index.js.
// Every byte of health data is encrypted and decrypted in this page; the
// servers see ciphertext, signed objects and ids only.
import * as S from "/pkg/index.js";
import { importBundle } from "./fhir.js";

const $ = (id) => document.getElementById(id);
const el = (tag, { dataset, ...props } = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.dataset, dataset);
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
};
const short = (id) => `${id.slice(0, 8)}…`;
const when = (ms) => new Date(ms).toLocaleString();

const app = {
  client: undefined,
  identity: undefined,
  patient: undefined,
  reader: undefined,
  records: [],
  record: undefined,
  opened: [],
  party: undefined,
};

// ------------------------------------------------------------------ messages

const FRIENDLY = {
  revoked: "The owner has revoked your access to this section.",
  expired: "Your access to this section has expired.",
  unknown_grant: "The server does not know this share (it may have been withdrawn).",
  before_from_version:
    "This section was shared with you from now on; nothing has been written since.",
  no_such_section: "A section shared with you has nothing in it yet (its name is only known once written).",
  decryption_failed: "Wrong passphrase, or the file is damaged.",
  srs_mismatch: "The re-encryption server is not the one this portal trusts. Nothing was sent.",
  network: "The server cannot be reached. Check your connection and try again.",
  not_found: "Not found. Check the id and try again.",
  invalid_id: "That is not a valid party id (64 hexadecimal characters).",
  invalid_state: "That cannot be done now.",
};
const TAMPER = new Set([
  "bad_signature",
  "bad_proof",
  "content_mismatch",
  "chain_broken",
  "stale",
  "binding_mismatch",
  "grant_inconsistent",
  "truncated",
  "trailing_data",
  "malformed",
]);

function explain(e) {
  if (TAMPER.has(e.code)) {
    return `The record failed verification (${e.code}): it may have been tampered with, so nothing from it is shown.`;
  }
  return FRIENDLY[e.code] ?? `${e.message}${e.code ? ` (${e.code})` : ""}`;
}

function say(text) {
  $("status").textContent = text;
}

function fail(e) {
  console.error(e);
  const box = $("alert");
  box.textContent = explain(e);
  box.dataset.code = e.code ?? "error";
  box.hidden = false;
  say("");
}

function clearAlert() {
  $("alert").hidden = true;
  $("alert").textContent = "";
}

/** Runs a UI action: clears the alert, disables the trigger, reports failures. */
function action(fn) {
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

// ------------------------------------------------------------------ key storage (IndexedDB)

function db() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("sesphr", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function store(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction("keys", mode);
    const req = fn(tx.objectStore("keys"));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
  });
}

const loadKey = () => store("readonly", (s) => s.get("identity"));
const saveKey = (k) => store("readwrite", (s) => s.put(k, "identity"));
const forgetKey = () => store("readwrite", (s) => s.delete("identity"));

// ------------------------------------------------------------------ start

async function boot() {
  try {
    await S.init();
  } catch (e) {
    fail(e);
    return;
  }
  $("engine").textContent = S.webCryptoAvailable()
    ? "Bulk encryption runs on your browser's WebCrypto."
    : "This page is not a secure context (plain http on a network address), so the browser's " +
      "WebCrypto is unavailable: encryption runs in WebAssembly only and is several times slower. " +
      "Use https or localhost for large files.";
  app.client = new S.Client();
  try {
    const srs = await app.client.connect();
    $("srs-fp").textContent = srs.fingerprint;
  } catch (e) {
    fail(e);
  }
  const stored = await loadKey();
  if (stored) {
    $("stored-fp").textContent = stored.fingerprint;
    $("unlock-form").hidden = false;
  }
  $("view-start").hidden = false;
}

async function enter(identity) {
  app.identity = identity;
  await app.client.register(identity);
  app.patient = new S.Patient(app.client, identity);
  const hwKey = `sesphr-high-water-${identity.id}`;
  const hw = new Map(Object.entries(JSON.parse(localStorage.getItem(hwKey) ?? "{}")));
  app.reader = new S.Reader(app.client, identity, { highWater: hw });
  app.saveHighWater = () => localStorage.setItem(hwKey, JSON.stringify(Object.fromEntries(hw)));
  $("view-start").hidden = true;
  $("who").hidden = false;
  $("who-fp").textContent = identity.fingerprint;
  $("my-id").textContent = identity.id;
  $("my-fp").textContent = identity.fingerprint;
  $("tabs").hidden = false;
  await show("records");
}

async function show(view) {
  for (const v of ["records", "shared", "identity"]) $(`view-${v}`).hidden = v !== view;
  for (const b of $("tabs").querySelectorAll("button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  if (view === "records") await loadRecords();
  if (view === "shared") await loadShared();
  $("main").focus();
}

$("create-form").addEventListener(
  "submit",
  action(async () => {
    const pass = $("create-pass").value;
    if (pass !== $("create-pass2").value) throw new S.SesphrError("mismatch", "The passphrases differ.");
    say("Creating your keys (this takes a moment: the passphrase is stretched with Argon2id)…");
    const id = S.Identity.generate();
    const wrapped = id.wrap(pass);
    await saveKey({ wrapped, id: id.id, fingerprint: id.fingerprint });
    say("Identity created. Back it up: without the backup file and passphrase it cannot be recovered.");
    await enter(id);
  }),
);

$("unlock-form").addEventListener(
  "submit",
  action(async () => {
    say("Unlocking…");
    const stored = await loadKey();
    const id = S.Identity.unwrap(stored.wrapped, $("unlock-pass").value);
    say("");
    await enter(id);
  }),
);

$("forget").addEventListener(
  "click",
  action(async () => {
    if (!confirm("Remove the identity from this browser? Without a backup file it is lost.")) return;
    await forgetKey();
    location.reload();
  }),
);

$("restore-form").addEventListener(
  "submit",
  action(async () => {
    const file = $("restore-file").files[0];
    let backup;
    try {
      backup = JSON.parse(await file.text());
    } catch {
      throw new S.SesphrError("malformed_backup", "This is not a SeSPHR backup file.");
    }
    if (backup.format !== "sesphr-identity" || typeof backup.wrappedSeed !== "string") {
      throw new S.SesphrError("malformed_backup", "This is not a SeSPHR backup file.");
    }
    say("Opening the backup…");
    const wrapped = S.fromHex(backup.wrappedSeed);
    const id = S.Identity.unwrap(wrapped, $("restore-pass").value);
    await saveKey({ wrapped, id: id.id, fingerprint: id.fingerprint });
    say("Identity restored.");
    await enter(id);
  }),
);

$("backup").addEventListener(
  "click",
  action(async () => {
    const k = await loadKey();
    const text = JSON.stringify(
      { format: "sesphr-identity", version: 1, id: k.id, fingerprint: k.fingerprint, wrappedSeed: S.toHex(k.wrapped) },
      null,
      2,
    );
    download(new Blob([text], { type: "application/json" }), `sesphr-${k.id.slice(0, 8)}.sesphr-key`);
    say("Backup file saved. It is encrypted under your passphrase; keep both safe.");
  }),
);

$("lock").addEventListener("click", () => {
  app.identity?.free();
  location.reload();
});

for (const b of $("tabs").querySelectorAll("button")) {
  b.addEventListener("click", action(() => show(b.dataset.view)));
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ------------------------------------------------------------------ my records

async function loadRecords() {
  say("Loading your records…");
  app.records.forEach((r) => r.free());
  app.records = await app.patient.records();
  renderRecordList();
  say("");
  if (app.records.length) await openRecord(app.record ? app.records.find((r) => r.index === app.record.index) ?? app.records[0] : app.records[0]);
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

function progress(bar) {
  bar.hidden = false;
  bar.value = 0;
  return (done, of) => {
    bar.max = of || 1;
    bar.value = done;
  };
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
    await app.record.write(
      [{ name, fields: parseFields($("section-fields").value), text: $("section-text").value, files, keep, fhir: app.editing?.name === name ? app.editing.fhir : [] }],
      { onProgress: progress($("save-progress")) },
    );
    const ms = Math.round(performance.now() - t0);
    $("section-files").value = "";
    app.editing = undefined;
    $("keep-box").hidden = true;
    await openRecord(app.record);
    say(`Saved ${name} as version ${app.record.version} (${ms} ms).`);
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
    await app.record.write(updates, { onProgress: progress($("save-progress")) });
    await openRecord(app.record);
    say(`Imported: ${updates.map((u) => `${u.name} (${u.fhir.length})`).join(", ")} as version ${app.record.version}.`);
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

// ------------------------------------------------------------------ shared with me

async function loadShared() {
  say("Checking your inbox…");
  app.shared = await app.reader.sharedWithMe();
  const list = $("shared-list");
  list.replaceChildren();
  if (!app.shared.length) list.append(el("p", {}, "Nothing has been shared with you yet."));
  app.shared.forEach((r, n) => {
    list.append(
      el(
        "section",
        { className: "card" },
        el("h3", {}, `Record ${n + 1} from ${r.owner.fingerprint}`),
        el("p", {}, `${r.sections.length} section(s) shared with you as ${r.sections[0]?.role}.`),
        el("button", { type: "button", onclick: action(() => readRecord(r)) }, `Open record ${n + 1}`),
      ),
    );
  });
  say("");
}

$("refresh-shared").addEventListener("click", action(loadShared));

async function readRecord(r) {
  app.opened.forEach((o) => o.close());
  app.opened = [];
  const article = $("reading");
  article.hidden = false;
  $("reading-h").textContent = `Record from ${r.owner.fingerprint}`;
  const fields = $("reading-fields");
  fields.replaceChildren();
  $("reading-text").textContent = "";
  $("reading-fhir").replaceChildren();
  const files = $("reading-files");
  files.replaceChildren();
  let failures = 0;
  for (const s of r.sections) {
    say("Asking the re-encryption server and decrypting…");
    const block = el("section", { className: "card" });
    fields.append(block);
    try {
      const open = await app.reader.open(s);
      app.saveHighWater();
      app.opened.push(open);
      renderDocument(block, open);
    } catch (e) {
      if (!["no_such_section", "before_from_version"].includes(e.code)) failures++;
      block.append(el("p", { className: e.code === "no_such_section" ? "note" : "refused", dataset: { code: e.code } }, explain(e)));
      if (failures === 1 && !["no_such_section", "before_from_version"].includes(e.code)) fail(e);
    }
  }
  say(failures ? "" : `Opened ${app.opened.length} section(s).`);
  article.focus?.();
}

function renderDocument(block, open) {
  const d = open.document;
  block.append(el("h4", {}, d.name), el("p", { className: "note" }, `version ${open.version}`));
  const dl = el("dl");
  for (const [k, v] of Object.entries(d.fields ?? {})) dl.append(el("dt", {}, k), el("dd", {}, String(v)));
  block.append(dl);
  if (d.text) block.append(el("p", { className: "pre" }, d.text));
  if (d.fhir?.length) {
    block.append(
      el("p", {}, `${d.fhir.length} FHIR resource(s): `, d.fhir.map((r) => r.resourceType).join(", ")),
    );
  }
  d.attachments.forEach((a, i) => {
    block.append(
      el(
        "p",
        {},
        el(
          "button",
          {
            type: "button",
            onclick: action(async () => {
              say(`Downloading and decrypting ${a.name}…`);
              const t0 = performance.now();
              const blob = await open.attachmentBlob(i, { onProgress: progress($("download-progress")) });
              const ms = Math.round(performance.now() - t0);
              $("download-progress").dataset.ms = String(ms);
              download(blob, a.name);
              say(`Decrypted ${a.name} (${a.size} bytes, ${ms} ms).`);
            }),
          },
          `Download ${a.name}`,
        ),
        ` ${(a.size / 1048576).toFixed(1)} MB`,
      ),
    );
  });
}

boot();

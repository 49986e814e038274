// "Shared with me": what others shared, read through the re-encryption
// server; only what each record's owner signed is shown.
import { $, action, app, download, el, explain, fail, progress, say } from "./ui.js";

/** Reads the inbox: the records shared with this identity, by owner. */
export async function loadShared() {
  say("Checking your inbox…");
  // The records listed before are dropped, not freed: a read still running
  // on one keeps it, and the garbage collector frees its wasm state.
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


// A decrypted section as a person reads it, for the owner ("Read", history)
// and for a reader ("Shared with me"): its fields, free text, clinical data
// and attachments (each downloaded and decrypted on demand).
import * as S from "/pkg/index.js";
import { renderClinical } from "./clinical.js";
import { action, download, el, progress, say } from "./ui.js";

/** Bytes as people read them: 950 bytes, 12.4 KB, 20.0 MB. */
export function size(n) {
  if (n < 1000) return `${n} bytes`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} KB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/**
 * The body of section document `d` as DOM nodes. `open` is the open
 * section (for its attachments; omitted: attachments are only listed) and
 * `bar` the progress bar downloads report to.
 */
export function documentView(doc, { open, bar } = {}) {
  // Earlier imports' bookkeeping ("source", "resources", summary lines) is not clinical data.
  const d = S.withoutImportBookkeeping(doc);
  const out = [];
  const fields = Object.entries(d.fields ?? {});
  if (fields.length) {
    const dl = el("dl", { className: "fields" });
    for (const [k, v] of fields) dl.append(el("dt", {}, k), el("dd", {}, String(v)));
    out.push(dl);
  }
  if (d.text) out.push(el("p", { className: "pre" }, d.text));
  if (d.fhir?.length) out.push(renderClinical(d.fhir));
  if (d.attachments?.length) {
    out.push(
      el(
        "ul",
        { className: "files" },
        ...d.attachments.map((a, i) =>
          el(
            "li",
            {},
            open
              ? el(
                  "button",
                  {
                    type: "button",
                    onclick: action(async () => {
                      say(`Downloading and decrypting ${a.name}…`);
                      const t0 = performance.now();
                      let blob;
                      try {
                        blob = await open.attachmentBlob(i, { onProgress: bar ? progress(bar) : undefined });
                      } finally {
                        if (bar) bar.hidden = true;
                      }
                      const ms = Math.round(performance.now() - t0);
                      if (bar) bar.dataset.ms = String(ms);
                      download(blob, a.name);
                      say(`Decrypted ${a.name} (${size(a.size)}).`);
                    }),
                  },
                  `Download ${a.name}`,
                )
              : el("span", {}, `Attachment: ${a.name}`),
            ` ${size(a.size)}`,
          ),
        ),
      ),
    );
  }
  if (!out.length) out.push(el("p", { className: "note" }, "This section is empty."));
  return out;
}

/** Offers `value` (a FHIR resource) as a JSON file download. */
export function downloadFhir(value, name) {
  download(new Blob([JSON.stringify(value, null, 2)], { type: "application/fhir+json" }), name);
}

/** The patient's name in a demographics document: its Patient resource, else a "name" field. */
export function patientName(d) {
  const p = d?.fhir?.find((r) => r.resourceType === "Patient");
  const n = p?.name?.[0];
  const fromFhir = n?.text ?? [n?.prefix?.join(" "), n?.given?.join(" "), n?.family].filter(Boolean).join(" ");
  if (fromFhir) return fromFhir;
  const field = Object.entries(d?.fields ?? {}).find(([k]) => /^(full )?name$/i.test(k.trim()));
  return field?.[1] || undefined;
}

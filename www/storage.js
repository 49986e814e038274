// "My identity" → Storage servers: where this portal keeps record bodies.
// With several relays (the deployment's /v1/config), every section body
// and file is erasure-coded over them so that none holds a section; this
// lists them, whether each answers now and how fast, and what any of them
// did wrong lately (a failed upload, a corrupted share, a forged index).

import { $, action, app, el, when } from "./ui.js";

/** Renders the storage servers and checks each once. */
export async function loadStorage() {
  const set = app.client?.relaySet;
  const table = $("relay-rows");
  const faults = $("relay-faults");
  if (!set) {
    $("storage-summary").textContent =
      `Your records are stored whole, encrypted, on this server (${location.origin}). ` +
      "It never sees their contents or keys.";
    $("relay-table").hidden = true;
    $("relay-check").hidden = true;
    faults.replaceChildren();
    return;
  }
  $("storage-summary").textContent =
    `Each section is split into ${set.n} encrypted shares on ${set.n} different servers of these ${set.urls.length}; ` +
    `any ${set.k} of them rebuild it, so none holds a whole section and reading works with ` +
    `${set.n - set.k} of them down. A save needs ${set.happy} of them to answer.`;
  $("relay-table").hidden = false;
  $("relay-check").hidden = false;
  table.replaceChildren(...set.urls.map((u) => el("tr", {}, el("td", { className: "fp" }, u), el("td", {}, "checking…"), el("td", {}, ""))));
  const health = await set.health();
  table.replaceChildren(
    ...health.map((h) =>
      el(
        "tr",
        { dataset: { state: h.ok ? "up" : "down" } },
        el("td", { className: "fp" }, h.url),
        el("td", { className: h.ok ? "ok" : "error" }, h.ok ? "answers" : `does not answer (${h.code ?? "network"})`),
        el("td", {}, h.ok ? `${Math.round(h.ms)} ms` : ""),
      ),
    ),
  );
  const recent = set.faults.slice(-8).reverse();
  faults.replaceChildren(
    ...recent.map((f) => el("li", {}, `${when(f.at)}: ${f.relay}: ${f.code === "content_mismatch" ? "served a damaged share (not used)" : f.message}`)),
  );
  $("relay-faults-h").hidden = recent.length === 0;
}

$("relay-check").addEventListener("click", action(() => loadStorage()));

// "My identity" → Storage servers: where this portal keeps record bodies.
// With several relays (the deployment's /v1/config), every section body
// and file is erasure-coded over them so that none holds a section; this
// lists them, whether each answers now and how fast, and what any of them
// did wrong lately (a failed upload, a corrupted share, a forged index),
// and repairs the shares a server lost.

import { $, action, app, el, say, when } from "./ui.js";
import { knownRecords } from "./records.js";

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
    $("relay-repair").hidden = true;
    faults.replaceChildren();
    return;
  }
  $("storage-summary").textContent =
    `Each section is split into ${set.n} encrypted shares on ${set.n} different servers of these ${set.urls.length}; ` +
    `any ${set.k} of them rebuild it, so none holds a whole section and reading works with ` +
    `${set.n - set.k} of them down. A save needs ${set.happy} of them to answer.`;
  $("relay-table").hidden = false;
  $("relay-check").hidden = false;
  $("relay-repair").hidden = false;
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

const shares = (n) => (n === 1 ? "1 share" : `${n} shares`);

// Every sharded section of every record: shares no server holds are coded
// again from any k others and stored on servers holding nothing of that
// section (never one that would then hold k).
$("relay-repair").addEventListener(
  "click",
  action(async () => {
    say("Checking every share of your records…");
    const records = await knownRecords();
    let missing = 0;
    let repaired = 0;
    for (const r of records) {
      for (const s of await r.repairShards()) {
        missing += s.missing.length;
        repaired += s.repaired.length;
      }
    }
    await loadStorage();
    const of = records.length === 1 ? "your record" : `your ${records.length} records`;
    if (missing === 0) say(`Every share of ${of} is in place.`);
    else if (repaired === missing) say(`${shares(repaired)} of ${of} had gone missing and ${repaired === 1 ? "is" : "are"} stored again.`);
    else
      say(
        `${shares(missing - repaired)} of ${of} could not be stored again: that needs a server that answers and holds nothing else of the section. ` +
          `${repaired ? `${shares(repaired)} ${repaired === 1 ? "was" : "were"} stored again. ` : ""}Try again when more servers answer.`,
      );
  }),
);

// "My identity" → Storage servers: where this portal keeps record bodies.
// With several relays (the deployment's /v1/config), every section body
// and file is erasure-coded over them so that none holds a section; this
// lists them, whether each answers now and how fast, and what any of them
// did wrong lately (a failed upload, a corrupted share, a forged index),
// and repairs the shares a server lost: by itself once after each sign-in,
// and whenever the person asks.

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
  showCheck();
}

/** The last repair run (after sign-in or asked for): `{at, missing, repaired, records, error?}`. */
let lastCheck;
/** The repair running now, if any: the sign-in check and the button never overlap. */
let running;

/** What the last repair found, in plain words. */
function explainCheck({ missing, repaired, records }) {
  if (records === 0) return "You have no records yet: nothing to check.";
  const of = records === 1 ? "your record" : `your ${records} records`;
  if (missing === 0) return `Every share of ${of} is in place.`;
  if (repaired === missing) return `${shares(repaired)} of ${of} had gone missing and ${repaired === 1 ? "is" : "are"} stored again.`;
  return (
    `${shares(missing - repaired)} of ${of} could not be stored again: that needs a server that answers, holds nothing else of the section ` +
    `and was among the servers when the section was saved. ${repaired ? `${shares(repaired)} ${repaired === 1 ? "was" : "were"} stored again. ` : ""}` +
    "Try again when more servers answer, or save the section again."
  );
}

function showCheck() {
  const line = $("relay-auto");
  line.hidden = !lastCheck;
  if (!lastCheck) return;
  line.textContent = lastCheck.error
    ? `At ${when(lastCheck.at)} the shares of your records could not be checked (${lastCheck.error}); use “Repair missing shares” to try again.`
    : `Checked at ${when(lastCheck.at)}: ${explainCheck(lastCheck)}`;
}

/** Repairs every sharded section of every record, one run at a time. */
function repairAll() {
  const run = (running ?? Promise.resolve()).catch(() => {}).then(async () => {
    const records = await knownRecords();
    let missing = 0;
    let repaired = 0;
    for (const r of records) {
      for (const s of await r.repairShards()) {
        missing += s.missing.length;
        repaired += s.repaired.length;
      }
    }
    const result = { at: Date.now(), missing, repaired, records: records.length };
    // With no record yet there is nothing to tell.
    lastCheck = records.length ? result : lastCheck;
    return result;
  });
  running = run;
  return run;
}

/**
 * After sign-in, in the background: a server that lost its files gets its
 * shares back without anyone pressing a button. A failure is kept for
 * "My identity", never shown over what the person is doing.
 */
export function checkSharesSoon() {
  if (!app.client?.relaySet) return;
  repairAll().then(
    () => showCheck(),
    (e) => {
      lastCheck = { at: Date.now(), error: e.code ?? "network" };
      showCheck();
    },
  );
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
    const result = await repairAll();
    await loadStorage();
    say(explainCheck(result));
  }),
);

// The SeSPHR portal: plain DOM over the client library in /pkg/index.js.
// Every byte of health data is encrypted and decrypted in this page; the
// servers see ciphertext, signed objects and ids only.
//
//   ui.js        shared state, DOM helpers, messages
//   keys.js      the wrapped seed in IndexedDB
//   identity.js  create, unlock, restore, back up
//   records.js   my records: sections, sharing, audit
//   document.js  a decrypted section as people read it
//   people.js    contacts, and how every view names a party
//   shared.js    shared with me
//   invite.js    invitations: invite, accept, confirm
import * as S from "/pkg/index.js";
import { $, action, app, fail } from "./ui.js";
import { setupIdentity, showStored } from "./identity.js";
import { loadRecords } from "./records.js";
import { loadShared } from "./shared.js";
import { loadPeople } from "./people.js";
import { checkSharesSoon, loadStorage } from "./storage.js";
import { holdInvitation, offerAcceptance, stashInvitation } from "./invite.js";
import { fragment, route, selectTab, wireTabs } from "./tabs.js";

/**
 * The highest version of each record this identity saw the re-encryption
 * server witness, as owner and as reader, kept in localStorage: a relay and
 * SRS that later roll a record back are refused, across sessions.
 */
function highWater(identity) {
  return persisted(`sesphr-high-water-${identity.id}`, (v, stored) => v >= stored);
}

/**
 * A Map kept in localStorage under `key` (bytes are kept as hex; the
 * package takes either back), shared by every tab: `get` reads what any tab
 * stored last, and `set` writes only its own key, keeping the value already
 * stored when `newer(value, stored)` says the new one is not newer (two tabs
 * never wind back each other's high-water marks or audit heads).
 */
function persisted(key, newer = () => true) {
  const read = () => new Map(Object.entries(JSON.parse(localStorage.getItem(key) ?? "{}")));
  const map = read();
  const get = map.get.bind(map);
  const set = map.set.bind(map);
  map.get = (k) => {
    const stored = read().get(k);
    if (stored !== undefined) set(k, stored);
    return get(k);
  };
  map.set = (k, v) => {
    const value = v instanceof Uint8Array ? S.toHex(v) : v;
    const stored = read();
    const other = stored.get(k);
    const kept = other !== undefined && !newer(value, other) ? other : value;
    stored.set(k, kept);
    set(k, kept);
    localStorage.setItem(key, JSON.stringify(Object.fromEntries(stored)));
    return map;
  };
  return map;
}

/** The u64 at byte `at` of hex-encoded bytes (a head's or a mark's tree size). */
const u64At = (hex, at) => BigInt(`0x${hex.slice(2 * at, 2 * at + 16)}`);

/**
 * The last audit tree head this identity verified and what each record's
 * last verified listing showed, kept in localStorage per pinned SRS key (a
 * re-pinned server starts over): the next listing must extend them.
 */
function auditState(identity) {
  const srs = localStorage.getItem(SRS_PIN) ?? "unpinned";
  return {
    // A head's tree size is at byte 6, a mark's at byte 38: a tab keeps
    // the larger, so another tab's newer check is never wound back.
    auditHeads: persisted(`sesphr-audit-heads-${srs}-${identity.id}`, (v, stored) => u64At(v, 6) >= u64At(stored, 6)),
    auditMarks: persisted(`sesphr-audit-marks-${srs}-${identity.id}`, (v, stored) => u64At(v, 38) >= u64At(stored, 38)),
  };
}

const SRS_PIN = "sesphr-srs-fingerprint";

// Before anything else: the secret in an invitation link's fragment leaves
// the address bar now, even if what follows fails.
stashInvitation();
let booted = false;
// A link opened in a tab already showing the portal only changes the fragment.
addEventListener("hashchange", () => {
  if (!stashInvitation()) {
    // Back, forward or a typed address: the view and tab it names.
    if (app.identity) follow(route()).catch((e) => fail(e));
    return;
  }
  if (!booted) return;
  if (app.identity) offerAcceptance();
  else holdInvitation();
});

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
  // The SRS key this browser saw first is pinned: a server answering with
  // another key is refused before anything is sent to it.
  const pinned = localStorage.getItem(SRS_PIN) ?? undefined;
  // A deployment over several relays says so (GET /v1/config, which
  // connect() reads): section bodies are then erasure-coded over this relay
  // and the others.
  app.client = new S.Client({ srsFingerprint: pinned });
  try {
    const srs = await app.client.connect();
    if (!pinned) localStorage.setItem(SRS_PIN, srs.fingerprint);
    $("srs-fp").textContent = srs.fingerprint;
  } catch (e) {
    fail(e);
    if (e.code === "srs_mismatch") {
      $("pinned-fp").textContent = pinned;
      $("served-fp").textContent = e.served;
      $("repin-box").hidden = false;
      return;
    }
  }
  await showStored();
  booted = true;
  holdInvitation();
  $("view-start").hidden = false;
}

async function enter(identity) {
  app.identity = identity;
  await app.client.register(identity);
  const hw = highWater(identity);
  app.patient = new S.Patient(app.client, identity, { highWater: hw, ...auditState(identity) });
  app.reader = new S.Reader(app.client, identity, { highWater: hw });
  // Contacts and invitations live encrypted at the relay (one state per identity).
  app.state = new S.OwnerState(app.client, identity, localStorage);
  app.contacts = new S.Contacts(app.client, identity, localStorage, { state: app.state });
  app.invitations = new S.Invitations(app.patient, app.state);
  await app.contacts.sync().catch((e) => fail(e));
  $("view-start").hidden = true;
  $("who").hidden = false;
  $("who-fp").textContent = identity.fingerprint;
  $("my-id").textContent = identity.id;
  $("my-fp").textContent = identity.fingerprint;
  $("tabs").hidden = false;
  offerAcceptance();
  const at = route();
  recordTab = at.tab ?? recordTab;
  history.replaceState(null, "", fragment(at.view, recordTab));
  selectTab($("record-tabs"), recordTab);
  await show(at.view);
  checkSharesSoon();
}

/** The record tab shown (kept when another view is shown and back). */
let recordTab = "sections";
/** The view shown. */
let shown;

/** Shows what the address names (after back, forward or a typed address). */
async function follow({ view, tab }) {
  if (tab && tab !== recordTab) {
    recordTab = tab;
    selectTab($("record-tabs"), tab);
  }
  if (view !== shown) await show(view);
}

/** Keeps `view` (and the record's tab) in the address, one history entry per change. */
function remember(view) {
  const f = fragment(view, recordTab);
  if (location.hash !== f) history.pushState(null, "", f);
}

async function show(view) {
  shown = view;
  for (const v of ["records", "shared", "people", "identity"]) $(`view-${v}`).hidden = v !== view;
  for (const b of $("tabs").querySelectorAll("button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  if (view === "records") await loadRecords();
  if (view === "shared") await loadShared();
  if (view === "people") loadPeople();
  if (view === "identity") await loadStorage();
  $("main").focus();
}

setupIdentity(enter);

$("lock").addEventListener("click", () => {
  location.reload();
});

$("repin").addEventListener("click", () => {
  const ok = confirm(
    "Trust the server's new key? Do this only if your provider told you the key changed, " +
      "and the fingerprint they gave you is the one now shown.",
  );
  if (!ok) return;
  localStorage.removeItem(SRS_PIN);
  location.reload();
});

for (const b of $("tabs").querySelectorAll("button")) {
  b.addEventListener(
    "click",
    action(() => {
      remember(b.dataset.view);
      return show(b.dataset.view);
    }),
  );
}

selectTab($("record-tabs"), route().tab ?? recordTab);
wireTabs($("record-tabs"), (tab) => {
  recordTab = tab;
  selectTab($("record-tabs"), tab);
  remember("records");
});

boot();

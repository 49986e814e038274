// The portal's SMART Health Link viewer (view.html#shlink:/…): the link is
// read from the URL fragment, which the browser never sends; the manifest
// request names the recipient (and passcode), each file is decrypted here,
// and the FHIR content shown with the portal's clinical views.
import * as S from "/pkg/index.js";
import { renderClinical } from "./clinical.js";
import { size } from "./document.js";
import { $, action, download, el, fail, sayNear } from "./ui.js";

/** Plain words for what a viewer can meet. */
function words(e) {
  if (e.code === "not_found") return "This link was revoked or has expired (or it never existed). Ask the person who shared it for a new one.";
  if (e.code === "wrong_passcode") {
    return e.remainingAttempts > 0
      ? `Wrong passcode. ${e.remainingAttempts} attempt${e.remainingAttempts === 1 ? "" : "s"} left before the link locks.`
      : "Wrong passcode. No attempts are left: the link is now locked.";
  }
  if (e.code === "passcode_required") return "This link needs a passcode: ask the person who shared it, then enter it.";
  if (e.code === "recipient_required") return "Give your name first.";
  if (e.code === "decryption_failed") return "The shared files failed their check: they may have been tampered with, so nothing is shown.";
  if (e.code === "malformed" || e.code === "unknown_version") return "This is not a SMART Health Link this viewer can open.";
  if (e.code === "too_large") return "This link holds more than this viewer opens (too many files, or a file too large once unpacked).";
  if (e.code === "not_direct") return "This link says it is a single file, but its server does not serve it so: ask the person who shared it for a new one.";
  if (e.code === "busy") return "The server is busy checking other passcodes. Wait a moment and try again.";
  if (e.code === "rate_limited") return "Too many tries in a short time. Wait a moment and try again.";
  return undefined;
}

function refuse(e, near) {
  const text = words(e);
  if (!text) throw e;
  const box = near.nextElementSibling?.classList.contains("msg") ? near.nextElementSibling : el("p", { className: "msg" });
  near.after(box);
  box.className = "msg error";
  box.setAttribute("role", "alert");
  box.dataset.code = e.code;
  box.replaceChildren(text);
}

let shlink;
let link;

async function boot() {
  try {
    await S.init();
  } catch (e) {
    fail(e);
    return;
  }
  // A shlink is base64url: percent-escapes only come from a mangled copy.
  let hash = location.hash.slice(1);
  try {
    hash = decodeURIComponent(hash);
  } catch {
    // kept as it is: the payload check below refuses it in plain words
  }
  if (!hash) {
    $("viewer-empty").hidden = false;
    return;
  }
  show(hash);
}

function show(text) {
  try {
    link = S.decodeLink(text);
  } catch (e) {
    $("viewer-empty").hidden = false;
    refuse(e, $("viewer-paste"));
    return;
  }
  shlink = text;
  $("viewer-empty").hidden = true;
  $("viewer-gate").hidden = false;
  if (link.label) {
    $("viewer-label").textContent = link.label;
    $("viewer-label").hidden = false;
  }
  const terms = [];
  if (link.exp) terms.push(link.exp * 1000 < Date.now() ? "It has expired." : `It expires ${new Date(link.exp * 1000).toLocaleString()}.`);
  if (link.flag.includes("L")) terms.push("It follows the record: opening it again shows the latest version.");
  terms.push("What you open is a copy for you; the person who shared it sees your name and the time.");
  $("viewer-terms").textContent = terms.join(" ");
  $("viewer-passcode-box").hidden = !link.flag.includes("P");
  $("viewer-passcode").required = link.flag.includes("P");
  $("viewer-recipient").focus();
}

$("viewer-paste").addEventListener(
  "submit",
  action(async () => {
    const text = $("viewer-link").value.trim();
    // Only the shlink goes into this page's fragment (and none when there is none).
    const at = text.indexOf("shlink:/");
    history.replaceState(null, "", at >= 0 ? `#${text.slice(at)}` : location.pathname);
    show(text);
  }),
);

$("viewer-form").addEventListener(
  "submit",
  action(async () => {
    const form = $("viewer-form");
    const recipient = $("viewer-recipient").value.trim();
    const passcode = link.flag.includes("P") ? $("viewer-passcode").value : undefined;
    sayNear(form, "Retrieving and decrypting…");
    let files;
    try {
      files = await S.openLink(shlink, { recipient, passcode });
    } catch (e) {
      sayNear(form, "");
      refuse(e, form);
      return;
    }
    sayNear(form, "");
    $("viewer-passcode").value = "";
    render(files);
  }),
);

/** What matters first in an emergency comes first. */
const ORDER = ["allergies", "medications", "history", "emergency contacts", "demographics"];
const sectionOf = (a) => (a.title ?? "").replace(/\.txt$/, "");
function rank(d) {
  const a = d.content[0].attachment;
  if (!/^text\/plain/.test(a.contentType ?? "")) return ORDER.length + 1;
  const i = ORDER.indexOf(sectionOf(a));
  return i < 0 ? ORDER.length : i;
}
function titleOf(a) {
  const name = sectionOf(a) || "Note";
  return name === "demographics" ? "About the patient" : name[0].toUpperCase() + name.slice(1);
}

/** A base64 attachment's bytes. */
function bytesOf(b64) {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function render(files) {
  const body = $("viewer-body");
  body.replaceChildren();
  let count = 0;
  for (const f of files) {
    const bundle = f.content;
    if (bundle?.resourceType !== "Bundle") {
      body.append(el("p", {}, `A file of type ${f.contentType}, ${size(f.content.length ?? 0)}.`));
      continue;
    }
    const resources = (bundle.entry ?? []).map((e) => e.resource).filter(Boolean);
    count += resources.length;
    // Notes and attachments as the record holds them; the rest as clinical views.
    const docs = resources
      .filter((r) => r.resourceType === "DocumentReference" && r.content?.[0]?.attachment?.data !== undefined)
      .sort((a, b) => rank(a) - rank(b));
    const clinical = resources.filter((r) => !docs.includes(r));
    if (clinical.length) body.append(el("section", { className: "card" }, renderClinical(clinical)));
    for (const d of docs) {
      const a = d.content[0].attachment;
      const bytes = bytesOf(a.data);
      if (/^text\/plain/.test(a.contentType ?? "")) {
        body.append(
          el(
            "section",
            { className: "card viewer-note" },
            el("h3", {}, titleOf(a)),
            el("p", { className: "pre" }, new TextDecoder().decode(bytes)),
            el("p", { className: "note" }, "As written in the record by its owner."),
          ),
        );
      } else {
        body.append(
          el(
            "section",
            { className: "card viewer-file" },
            el("h4", {}, a.title ?? "Attachment"),
            el("button", { type: "button", onclick: () => download(new Blob([bytes], { type: a.contentType || "application/octet-stream" }), a.title ?? "attachment") }, `Download ${a.title ?? "the file"}`),
            ` ${size(bytes.length)}`,
          ),
        );
      }
    }
  }
  $("viewer-meta").textContent =
    `${link.label ? `${link.label}: ` : ""}${count} item${count === 1 ? "" : "s"}, retrieved ${new Date().toLocaleString()}. ` +
    "Keep this copy safe: it is health information.";
  $("viewer-gate").hidden = true;
  $("viewer-content").hidden = false;
  $("viewer-content-h").focus?.();
}

boot();

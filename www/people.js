// "People": the contacts this identity named, and how every view names a
// party (the sharing table, the audit log, the inbox), always the same way.
import { $, action, app, el, say } from "./ui.js";

/**
 * A party as every table shows it: "Name (ABCD-EFGH)" for a contact, the
 * fingerprint otherwise, with the full fingerprint on hover.
 */
export function person(p) {
  const l = app.contacts.label(p);
  return el(
    "span",
    { className: l.name ? "person" : "person unnamed", title: l.fingerprint ? `fingerprint ${l.fingerprint}` : `party id ${l.id}` },
    l.text,
  );
}

/** A safety number as people compare it: three lines of four groups of five digits. */
export function safetyBlock(number) {
  const groups = number.split(" ");
  const lines = [];
  for (let i = 0; i < groups.length; i += 4) lines.push(groups.slice(i, i + 4).join(" "));
  return el("pre", { className: "safety", ariaLabel: `safety number ${number}` }, lines.join("\n"));
}

/** `person`, after looking up a party whose fingerprint this page does not know yet. */
export async function personLookedUp(p) {
  await app.contacts.describe(p);
  return person(p);
}

/** Adds a party as a contact, asking for a name (the prompt shows its fingerprint). */
export async function nameParty(party) {
  const name = prompt(
    `Name this person in your contacts. Their fingerprint is ${party.fingerprint}: check it with them.`,
    app.contacts.get(party.id)?.name ?? "",
  );
  if (name === null) return undefined;
  return app.contacts.add(party, name);
}

export function loadPeople() {
  $("my-name").value ||= app.contacts.myName ?? "";
  const list = $("contact-list");
  const contacts = app.contacts.list();
  list.replaceChildren(
    ...contacts.map((c) =>
      el(
        "li",
        {},
        el("strong", {}, c.name),
        " ",
        c.verified ? el("span", { className: "verified" }, "verified") : el("span", { className: "unverified" }, "not verified"),
        el("br"),
        el("span", { className: "fp" }, c.fingerprint),
        el("br"),
        el(
          "button",
          {
            type: "button",
            onclick: action(async (ev) => {
              const li = ev.currentTarget.closest("li");
              const number = await app.contacts.safetyNumber(c.id);
              li.querySelector(".safety-box")?.remove();
              li.append(
                el(
                  "div",
                  { className: "safety-box" },
                  el("p", {}, `Your safety number with ${c.name} — they see the same number on their screen:`),
                  safetyBlock(number),
                  c.verified
                    ? el("p", { className: "note" }, `You marked ${c.name} verified on ${new Date(c.verifiedAt ?? c.addedAt).toLocaleDateString()}.`)
                    : el(
                        "button",
                        {
                          type: "button",
                          onclick: action(async () => {
                            await app.contacts.verify(c.id);
                            loadPeople();
                            say(`${c.name} is verified.`);
                          }),
                        },
                        `The numbers match: mark ${c.name} verified`,
                      ),
                ),
              );
            }),
          },
          `Safety number with ${c.name}`,
        ),
        el(
          "button",
          {
            type: "button",
            onclick: action(async () => {
              const name = prompt(`New name for ${c.name}`, c.name);
              if (name === null) return;
              await app.contacts.rename(c.id, name);
              loadPeople();
              say(`Renamed to ${name.trim()}.`);
            }),
          },
          `Rename ${c.name}`,
        ),
        el(
          "button",
          {
            type: "button",
            className: "danger",
            onclick: action(async () => {
              if (!confirm(`Remove ${c.name} from your contacts? What you shared with them stays shared: revoke it under "My records".`)) return;
              await app.contacts.remove(c.id);
              loadPeople();
            }),
          },
          `Remove ${c.name}`,
        ),
      ),
    ),
  );
  if (!contacts.length) list.append(el("li", {}, "No contacts yet. Add the people you share with: ask them for their party id."));
}

let found;

$("contact-form").addEventListener(
  "submit",
  action(async () => {
    const id = $("contact-id").value.trim().toLowerCase();
    found = await app.contacts.lookup(id);
    $("contact-fp").textContent = found.fingerprint;
    $("contact-name").value = app.contacts.get(found.id)?.name ?? "";
    $("contact-name-form").hidden = false;
    $("contact-name").focus();
    say("Found them. Compare the fingerprint with them, then name them.");
  }),
);

$("contact-name-form").addEventListener(
  "submit",
  action(async () => {
    const c = await app.contacts.add(found, $("contact-name").value);
    $("contact-name-form").hidden = true;
    $("contact-id").value = "";
    loadPeople();
    say(`Added ${c.name}.`);
  }),
);

$("my-name-form").addEventListener(
  "submit",
  action(async () => {
    const n = await app.contacts.setMyName($("my-name").value);
    say(`Saved: people you share with from now on see you as ${n}.`);
  }),
);

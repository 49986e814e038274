// The people a party shares with or reads from, by the names it gave them.
//
// A contact is a party looked up in the SRS directory (its entry verified by
// the core) and named by this party: the name never leaves this device. The
// fingerprint, not the name, is what was checked with the person; every view
// shows both, the same way (`Contacts.label`).

import { SesphrError } from "./errors.js";

const MAX_NAME = 80;

/** A name as stored: trimmed, one line, at most 80 characters, not empty. */
function cleanName(name) {
  const n = String(name ?? "").replace(/\s+/g, " ").trim();
  if (!n) throw new SesphrError("invalid_argument", "Give this person a name.");
  if (n.length > MAX_NAME) throw new SesphrError("invalid_argument", `A name has at most ${MAX_NAME} characters.`);
  return n;
}

/**
 * An address book kept in `storage` (a Web Storage: `localStorage` in a
 * browser), one per owning identity.
 */
export class Contacts {
  #client;
  #owner;
  #key;
  #storage;
  /** Parties looked up during this session, contacts or not, by id. */
  #seen = new Map();
  /** Lookups in flight, by id, so one party is asked for once. */
  #asking = new Map();
  #listeners = new Set();

  /** `owner` is the identity (or its party id) whose book this is. */
  constructor(client, owner, storage = globalThis.localStorage) {
    if (!storage) throw new SesphrError("invalid_argument", "Contacts need a storage (localStorage).");
    this.#client = client;
    this.#owner = typeof owner === "string" ? owner : owner.id;
    this.#key = `sesphr-contacts-${this.#owner}`;
    this.#storage = storage;
  }

  #read() {
    try {
      const list = JSON.parse(this.#storage.getItem(this.#key) ?? "[]");
      return Array.isArray(list) ? list.filter((c) => typeof c?.id === "string" && typeof c.name === "string" && typeof c.fingerprint === "string") : [];
    } catch {
      return [];
    }
  }

  #write(list) {
    list.sort((a, b) => a.name.localeCompare(b.name));
    this.#storage.setItem(this.#key, JSON.stringify(list));
    for (const f of this.#listeners) f();
  }

  /** Calls `f` whenever the book changes (here or in another tab of this browser). */
  onChange(f) {
    this.#listeners.add(f);
    globalThis.addEventListener?.("storage", (e) => {
      if (e.key === this.#key) f();
    });
  }

  /** Every contact, by name: `[{id, name, fingerprint, addedAt}]`. */
  list() {
    return this.#read();
  }

  /** The contact with party id `id`, or undefined. */
  get(id) {
    return this.#read().find((c) => c.id === id);
  }

  /**
   * Adds (or renames) the party `party` (a party id, or what
   * `Client.lookup` returned) as `name`; the party is looked up in the
   * directory first, so only a registered party with a verified entry is
   * added. Returns the contact.
   */
  async add(party, name) {
    const n = cleanName(name);
    const p = typeof party === "string" ? await this.lookup(party) : party;
    if (p.id === this.#owner) throw new SesphrError("invalid_argument", "That is your own party id: add the other person's.");
    const list = this.#read().filter((c) => c.id !== p.id);
    const taken = list.find((c) => c.name.toLowerCase() === n.toLowerCase());
    if (taken) {
      throw new SesphrError("invalid_argument", `You already have a contact named ${taken.name}: choose another name.`);
    }
    const contact = { id: p.id, name: n, fingerprint: p.fingerprint, addedAt: this.get(p.id)?.addedAt ?? Date.now() };
    this.#write([...list, contact]);
    return contact;
  }

  /** Renames contact `id`. */
  async rename(id, name) {
    const c = this.get(id);
    if (!c) throw new SesphrError("not_found", "That person is not in your contacts.");
    return this.add({ id, fingerprint: c.fingerprint }, name);
  }

  /** Removes contact `id` (shares with them stay: revoke those separately). */
  remove(id) {
    this.#write(this.#read().filter((c) => c.id !== id));
  }

  /** A party from the directory (verified), cached for the session. */
  async lookup(id) {
    if (this.#seen.has(id)) return this.#seen.get(id);
    if (!this.#asking.has(id)) {
      this.#asking.set(
        id,
        this.#client.lookup(id).then(
          (p) => {
            this.#seen.set(id, p);
            this.#asking.delete(id);
            return p;
          },
          (e) => {
            this.#asking.delete(id);
            throw e;
          },
        ),
      );
    }
    return this.#asking.get(id);
  }

  /** Remembers a party already verified elsewhere (a grant's grantee, a record's owner). */
  remember(party) {
    if (party?.id && party.fingerprint && !this.#seen.has(party.id)) this.#seen.set(party.id, { id: party.id, fingerprint: party.fingerprint });
  }

  /**
   * How every view names party `p` (an id or `{id, fingerprint}`):
   * `{name, fingerprint, text}`, `name` undefined when not a contact; `text`
   * is "Name (ABCD-EFGH)" or "ABCD-EFGH-IJKL-MNOP (not in your contacts)".
   * The fingerprint comes from the book, the party or an earlier lookup;
   * without one the id is shortened (call `describe` to look it up).
   */
  label(p) {
    const id = typeof p === "string" ? p : p.id;
    const c = this.get(id);
    const fingerprint = c?.fingerprint ?? (typeof p === "string" ? undefined : p.fingerprint) ?? this.#seen.get(id)?.fingerprint;
    const short = fingerprint ? fingerprint.slice(0, 9) : `${id.slice(0, 8)}…`;
    if (c) return { id, name: c.name, fingerprint, text: `${c.name} (${short})` };
    return { id, name: undefined, fingerprint, text: `${fingerprint ? fingerprint.slice(0, 19) : short} (not in your contacts)` };
  }

  /** `label`, after looking the party up if its fingerprint is not known yet (a party the directory lacks keeps the short id). */
  async describe(p) {
    const id = typeof p === "string" ? p : p.id;
    if (!this.label(p).fingerprint) {
      try {
        await this.lookup(id);
      } catch (e) {
        if (e.code !== "not_found" && e.status !== 404) throw e;
      }
    }
    return this.label(p);
  }
}

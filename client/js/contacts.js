// The people a party shares with or reads from, by the names it gave them.
//
// A contact is a party looked up in the SRS directory (its entry verified by
// the core) and named by this party. The fingerprint, not the name, is what
// was checked with the person; every view shows both, the same way
// (`Contacts.label`). A contact is `verified` once the person's safety
// number was compared (or their QR scanned).
//
// The book lives encrypted at the relay (owner-private state, slot
// `contacts`, only this party's seed opens it), so a restore on another
// browser brings it back; the Web Storage is a cache for the page's first
// paint. Each change is applied to the relay's current copy by
// compare-and-swap, so two tabs never lose each other's edits.

import { SesphrError } from "./errors.js";
import { OwnerState, safetyNumber } from "./invitations.js";

const SLOT = "contacts";

const MAX_NAME = 80;

/** Whether a stored contact has the fields every view needs. */
const valid = (c) => typeof c?.id === "string" && typeof c.name === "string" && typeof c.fingerprint === "string";

/**
 * One change applied to the relay's copy of the book, field by field: the
 * other tab's edits in that copy stay (a change made from a stale cache
 * never brings back an old name, a removed contact or an old verified
 * mark). `add` puts a party in (keeping the copy's verified mark only for
 * the same fingerprint); `rename` and `verify` change one field of a
 * contact still there (nothing when it was removed meanwhile); `remove`
 * takes it out. A name another contact took meanwhile gets the
 * fingerprint's first group after it. Returns undefined for no change.
 */
function apply(value, op) {
  const list = (Array.isArray(value.contacts) ? value.contacts : []).filter(valid);
  if (op.op === "me") return { ...value, contacts: list, me: { name: op.name } };
  const id = op.id ?? op.contact.id;
  const cur = list.find((c) => c.id === id);
  const rest = list.filter((c) => c.id !== id);
  if (op.op === "remove") return cur ? { ...value, contacts: rest } : undefined;
  let c;
  if (op.op === "add") {
    const same = cur?.fingerprint === op.contact.fingerprint;
    c = { ...op.contact, addedAt: cur?.addedAt ?? op.contact.addedAt, verified: same && !!cur.verified, verifiedAt: same ? cur.verifiedAt : undefined };
  } else if (!cur) {
    return undefined; // removed meanwhile: nothing to rename or verify
  } else if (op.op === "rename") {
    c = { ...cur, name: op.name };
  } else if (op.op === "verify") {
    c = { ...cur, verified: op.verified, verifiedAt: op.verified ? op.at : undefined };
  } else {
    throw new SesphrError("invalid_argument", `unknown contacts change ${op.op}`);
  }
  if (rest.some((x) => x.name.toLowerCase() === c.name.toLowerCase())) c.name = `${c.name} (${c.fingerprint.slice(0, 4)})`;
  return { ...value, contacts: [...rest, c] };
}

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

  /** The relay copy (when the owner is an Identity), and the changes queued for it. */
  #state;
  #writes = Promise.resolve();
  #me;

  /**
   * `owner` is the identity whose book this is (or only its party id: then
   * the book stays in `storage`). `state` shares an OwnerState of the
   * identity (one per identity keeps its stale check in one place).
   */
  constructor(client, owner, storage = globalThis.localStorage, { state } = {}) {
    if (!storage) throw new SesphrError("invalid_argument", "Contacts need a storage (localStorage).");
    this.#client = client;
    this.#owner = typeof owner === "string" ? owner : owner.id;
    this.#key = `sesphr-contacts-${this.#owner}`;
    this.#storage = storage;
    if (typeof owner !== "string" && owner?.core && client?.baseUrl) this.#me = owner;
    if (this.#me) this.#state = state ?? new OwnerState(client, owner, storage);
  }

  /**
   * Loads the book from the relay (a restore on a new browser gets it
   * back); a book that exists only in this browser's storage (from before
   * the relay kept it) is uploaded. Resolves the list.
   */
  async sync() {
    if (!this.#state) return this.list();
    const local = this.#read();
    const { value } = await this.#state.update(SLOT, (v) => (v === undefined && local.length ? { contacts: local } : undefined));
    this.#cache(value);
    return this.list();
  }

  /** Applies `op` to the relay's copy (compare-and-swap), then caches what the relay holds. */
  #push(op) {
    if (!this.#state) return Promise.resolve();
    const run = this.#writes.then(async () => {
      const { value } = await this.#state.update(SLOT, (v) => apply(v ?? { contacts: [] }, op));
      this.#cache(value);
    });
    this.#writes = run.catch(() => {});
    return run;
  }

  #cache(value) {
    if (!value) return;
    const list = Array.isArray(value.contacts) ? value.contacts.filter(valid) : [];
    if (value.me?.name) this.#storage.setItem(`${this.#key}-me`, value.me.name);
    this.#write(list);
  }

  /** The name this party gives itself (shown to the people it shares with), or undefined. */
  get myName() {
    return this.#storage.getItem(`${this.#key}-me`) ?? undefined;
  }

  /** Sets the name this party gives itself. */
  async setMyName(name) {
    const n = cleanName(name);
    this.#storage.setItem(`${this.#key}-me`, n);
    await this.#push({ op: "me", name: n });
    return n;
  }

  /**
   * Marks contact `id` verified: its safety number (`safetyNumber(id)`)
   * was compared with the person, or their QR scanned.
   */
  async verify(id, verified = true) {
    const c = this.get(id);
    if (!c) throw new SesphrError("not_found", "That person is not in your contacts.");
    const at = Date.now();
    const next = { ...c, verified, verifiedAt: verified ? at : undefined };
    this.#write([...this.#read().filter((x) => x.id !== id), next]);
    await this.#push({ op: "verify", id, verified, at });
    return this.get(id) ?? next;
  }

  /** The safety number of this party and contact (or party) `id`, to compare with them (needs the owner's identity). */
  async safetyNumber(id) {
    if (!this.#me) throw new SesphrError("invalid_argument", "A safety number needs your identity.");
    let p = await this.lookup(id);
    // A party remembered from elsewhere may lack its keys: ask the directory.
    if (!p.publicKey) p = await this.#client.lookup(id);
    return safetyNumber(this.#me, p);
  }

  #read() {
    try {
      const list = JSON.parse(this.#storage.getItem(this.#key) ?? "[]");
      return Array.isArray(list) ? list.filter(valid) : [];
    } catch {
      return [];
    }
  }

  #write(list) {
    list.sort((a, b) => a.name.localeCompare(b.name));
    this.#storage.setItem(this.#key, JSON.stringify(list));
    for (const f of this.#listeners) f();
  }

  /** Calls `f` whenever the book changes (here, in another tab of this browser, or after `sync`). */
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
    const was = this.get(p.id);
    const same = was?.fingerprint === p.fingerprint;
    const contact = { id: p.id, name: n, fingerprint: p.fingerprint, addedAt: was?.addedAt ?? Date.now(), verified: same && !!was?.verified, verifiedAt: same ? was?.verifiedAt : undefined };
    this.#write([...list, contact]);
    await this.#push({ op: "add", contact });
    return this.get(p.id) ?? contact;
  }

  /** Renames contact `id` (its verified mark stays). */
  async rename(id, name) {
    const n = cleanName(name);
    const c = this.get(id);
    if (!c) throw new SesphrError("not_found", "That person is not in your contacts.");
    const taken = this.#read().find((x) => x.id !== id && x.name.toLowerCase() === n.toLowerCase());
    if (taken) throw new SesphrError("invalid_argument", `You already have a contact named ${taken.name}: choose another name.`);
    this.#write([...this.#read().filter((x) => x.id !== id), { ...c, name: n }]);
    await this.#push({ op: "rename", id, name: n });
    return this.get(id) ?? { ...c, name: n };
  }

  /** Removes contact `id` (shares with them stay: revoke those separately). */
  remove(id) {
    this.#write(this.#read().filter((c) => c.id !== id));
    return this.#push({ op: "remove", id });
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
    if (c) return { id, name: c.name, fingerprint, verified: !!c.verified, text: `${c.name} (${short})` };
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

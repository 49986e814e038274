// Contacts through the package, against the real relay + SRS: only a party
// the directory vouches for is named, names follow rules a person can see,
// and every view's label is the same for one party.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { root, startServer } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));

let server;
let client;

before(async () => {
  server = await startServer();
  await S.init();
  client = new S.Client({ baseUrl: server.url });
  await client.connect();
});

after(() => server?.stop());

/** A Web Storage over a Map (Node has no localStorage), shared like a browser profile's. */
class MemoryStorage {
  #m = new Map();
  get length() {
    return this.#m.size;
  }
  key(i) {
    return [...this.#m.keys()][i] ?? null;
  }
  getItem(k) {
    return this.#m.has(k) ? this.#m.get(k) : null;
  }
  setItem(k, v) {
    this.#m.set(k, String(v));
  }
  removeItem(k) {
    this.#m.delete(k);
  }
  clear() {
    this.#m.clear();
  }
}

async function registered() {
  const id = S.Identity.generate();
  await client.register(id);
  return id;
}

const code = async (p) => {
  try {
    await p;
  } catch (e) {
    return e.code;
  }
  assert.fail("expected a failure");
};

test("a contact is a verified directory entry with a name; every label names it the same way", async () => {
  const me = await registered();
  const bob = await registered();
  const storage = new MemoryStorage();
  const book = new S.Contacts(client, me, storage);
  // Unknown to the directory: refused, nothing stored.
  assert.equal(await code(book.add("ab".repeat(32), "Nobody")), "not_found");
  assert.equal(book.list().length, 0);
  assert.equal(await code(book.add(me.id, "Me")), "invalid_argument");
  // Before naming: the fingerprint, said to be no contact.
  assert.match((await book.describe(bob.id)).text, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3} \(not in your contacts\)$/);
  const c = await book.add(bob.id, "  Dr   Bob  ");
  assert.equal(c.name, "Dr Bob");
  assert.equal(c.fingerprint, bob.fingerprint);
  const label = book.label(bob.id);
  assert.equal(label.text, `Dr Bob (${bob.fingerprint.slice(0, 9)})`);
  assert.deepEqual(book.label({ id: bob.id, fingerprint: bob.fingerprint }), label);
  // Names: not empty, not too long, not taken twice (case aside).
  const carol = await registered();
  assert.equal(await code(book.add(carol.id, "   ")), "invalid_argument");
  assert.equal(await code(book.add(carol.id, "x".repeat(81))), "invalid_argument");
  assert.equal(await code(book.add(carol.id, "dr bob")), "invalid_argument");
  await book.add(carol.id, "Carol");
  assert.deepEqual(book.list().map((x) => x.name), ["Carol", "Dr Bob"]);
  // Renaming keeps the party; another identity's book on the same storage is its own.
  await book.rename(bob.id, "Bob Okafor");
  assert.equal(book.get(bob.id).name, "Bob Okafor");
  assert.equal(book.get(bob.id).addedAt, c.addedAt);
  const other = new S.Contacts(client, bob, storage);
  assert.equal(other.list().length, 0);
  // A book read again from its storage (a reload) has the same people.
  assert.deepEqual(new S.Contacts(client, me, storage).list(), book.list());
  book.remove(carol.id);
  assert.equal(book.get(carol.id), undefined);
  // Damaged storage reads as an empty book, never a crash.
  storage.setItem(`sesphr-contacts-${me.id}`, "{not json");
  assert.deepEqual(book.list(), []);
  assert.equal(await code(book.rename(bob.id, "x")), "not_found");
});

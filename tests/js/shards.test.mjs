// Sharded placement over independent relays, against real servers: one
// `serve` (relay + SRS) and four `relay` processes forwarding to its SRS,
// each with its own data directory. A slow or corrupting relay is the
// Client's `fetch` wrapping the real responses of that origin (never a mock
// server); a relay that lost its data lost its files; a relay that is down
// was stopped.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { root, startServer, startSharded } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));

let home;
const relays = [];

before(async () => {
  home = await startServer();
  for (let i = 0; i < 4; i++) relays.push(await startServer({ command: "relay", args: ["--srs-url", home.url] }));
  await S.init();
});

after(async () => {
  await Promise.all([home, ...relays].filter(Boolean).map((s) => s.stop()));
});

const all = () => [home, ...relays];

/** A connected Client over the five relays (2 of 3), `fetch` optionally wrapped. */
async function client(wrap, { happy, n = 3 } = {}) {
  const f = wrap ? (url, init = {}) => wrap(String(url), init, () => fetch(url, init)) : undefined;
  const c = new S.Client({ baseUrl: home.url, fetch: f, relays: all().map((s) => s.url), shards: { k: 2, n, happy, hedgeMs: 150 } });
  await c.connect();
  return c;
}

async function party(c) {
  const id = S.Identity.generate();
  await c.register(id);
  return id;
}

/** Object files in each relay's store (hex ids). */
const stored = () => all().map((s) => new Set(readdirSync(join(s.data, "relay", "blobs")).filter((n) => /^[0-9a-f]{64}$/.test(n))));

/** The index `i` of the shard among `ids` (its index object is the other one) on relay `r`. */
function shardIndexOf(r, ids) {
  for (const id of ids) {
    const b = readFileSync(join(all()[r].data, "relay", "blobs", id));
    if (b.subarray(0, 6).equals(Buffer.from([0x53, 0x50, 0x48, 0x52, 0x23, 0x01]))) return b[8];
  }
  assert.fail(`relay ${r} holds no shard among ${ids}`);
}

const rejection = (promise) => promise.then(() => assert.fail("expected a rejection"), (e) => e);

/** Deterministic, incompressible bytes. */
function bytes(n, seed = 1) {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A patient's record with `history` written sharded and shared with a doctor. */
async function sharedHistory(c, text = "asthma since 2019") {
  const patient = await party(c);
  const doctor = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  await record.write([{ name: "history", text, files: [] }]);
  await record.share({ grantee: doctor.id, sections: ["history"] });
  return { patient, doctor, record };
}

/** The shard ids of a record's sharded section, opened as its owner. */
function placementOf(record, name) {
  const s = record.sections().find((x) => x.name === name);
  assert.ok(s.entry.placement, `${name} is sharded`);
  return s.entry;
}

async function readAs(c, doctor) {
  const reader = new S.Reader(c, doctor);
  const [shared] = await reader.sharedWithMe();
  const open = await reader.open(shared.sections[0]);
  const text = open.document.text;
  open.close();
  return text;
}

test("a sharded write leaves no relay with k shards, nor the whole blob anywhere, and reads back", async () => {
  const c = await client();
  const before = stored();
  const { doctor, record } = await sharedHistory(c, "the whole history");
  const entry = placementOf(record, "history");
  const after = stored();
  const added = after.map((set, i) => [...set].filter((id) => !before[i].has(id)));
  // Neither the blob nor its index is stored whole on any relay.
  for (const set of after) {
    assert.ok(!set.has(entry.blobId), "no relay holds the whole blob");
    assert.ok(!set.has(entry.indexId), "no relay holds the blob's index in clear");
  }
  // Three relays got one shard and its index each (the manifests and inboxes are not files here).
  const holders = added.filter((ids) => ids.length > 0);
  assert.equal(holders.length, 3, `three relays hold a shard: ${added.map((a) => a.length)}`);
  for (const ids of holders) assert.equal(ids.length, 2, "one shard and its index per relay (< k = 2 shards)");
  assert.equal(await readAs(c, doctor), "the whole history");
  // Every relay has the manifest (freshness still comes from the SRS head).
  for (const s of all()) {
    const r = await fetch(`${s.url}/v1/records/${record.recordId}/manifests/latest`);
    assert.equal(r.status, 200, `${s.url} keeps the manifest`);
  }
});

test("reads keep working with n - k relays down", async () => {
  const c = await client();
  const { doctor } = await sharedHistory(c, "read me with a relay down");
  // Stop the newest relay-only server that holds a shard (the home relay
  // answers the SRS routes, so it stays up).
  const now = stored();
  const at = relays.findLastIndex((_, i) => now[i + 1].size > 0);
  assert.ok(at >= 0, "a relay-only server holds a shard");
  await relays[at].stop();
  try {
    assert.equal(await readAs(await client(), doctor), "read me with a relay down");
  } finally {
    relays[at] = await startServer({ command: "relay", args: ["--srs-url", home.url] });
  }
});

test("a slow relay is hedged around: the spare answers and the read does not wait for it", async () => {
  const c = await client();
  const { doctor } = await sharedHistory(c, "hedged");
  let slowAsked = 0;
  let spareAsked = 0;
  let slow;
  const wrapped = await client(async (url, init, real) => {
    const range = init.headers?.range;
    if (range && url.includes("/v1/blobs/")) {
      const o = new URL(url).origin;
      slow ??= o;
      if (o === slow) {
        slowAsked++;
        // Ten seconds late, unless the read cancels it first.
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, 10_000);
          init.signal?.addEventListener("abort", () => {
            clearTimeout(t);
            reject(new DOMException("aborted", "AbortError"));
          });
        });
      } else spareAsked++;
    }
    return real();
  });
  const t = Date.now();
  assert.equal(await readAs(wrapped, doctor), "hedged");
  assert.ok(slowAsked >= 1, "the slow relay was asked first");
  assert.ok(spareAsked >= 2, "k pieces came from the others");
  assert.ok(Date.now() - t < 10_000, "the read did not wait for the slow relay");
});

test("a relay that serves corrupted shards is detected and named, and the read still succeeds", async () => {
  const c = await client();
  const { doctor } = await sharedHistory(c, "not corrupted");
  let liar;
  const wrapped = await client(async (url, init, real) => {
    const resp = await real();
    if (!(init.headers?.range && url.includes("/v1/blobs/") && resp.ok)) return resp;
    liar ??= new URL(url).origin;
    if (new URL(url).origin !== liar) return resp;
    const b = new Uint8Array(await resp.arrayBuffer());
    b[b.length >> 1] ^= 0x40;
    return new Response(b, { status: resp.status, headers: resp.headers });
  });
  assert.equal(await readAs(wrapped, doctor), "not corrupted");
  const named = wrapped.relaySet.faults.filter((f) => new URL(f.relay).origin === liar);
  assert.ok(named.length >= 1, "the corrupting relay is named");
  assert.equal(named[0].code, "content_mismatch");
});

test("a relay that lost its data: reads go on, and repair restores every shard on a relay holding none", async () => {
  const c = await client();
  const before = stored();
  const { doctor, record } = await sharedHistory(c, "repair me");
  const entry = placementOf(record, "history");
  const added = stored().map((set, i) => [...set].filter((id) => !before[i].has(id)));
  const lost = added.findIndex((ids, i) => i > 0 && ids.length > 0);
  assert.ok(lost > 0, "a relay-only server holds a shard");
  // That relay loses every file it has (this record's shard among them).
  const dir = join(all()[lost].data, "relay", "blobs");
  for (const id of stored()[lost]) rmSync(join(dir, id));
  assert.equal(await readAs(await client(), doctor), "repair me");
  const [done] = await record.repairShards();
  assert.equal(done.missing.length, 1, "one shard was missing");
  assert.equal(done.repaired.length, 1, "and is stored again");
  const after = stored();
  // The section's shards are on three distinct relays again, one (+ its index) each: below k.
  const now = after.map((set, i) => [...set].filter((id) => !before[i].has(id) || added[i].includes(id)));
  const holding = now.map((ids) => ids.filter((id) => added.flat().includes(id)).length);
  assert.equal(holding.filter((n) => n > 0).length, 3, `three relays hold the section's shards: ${holding}`);
  assert.ok(holding.every((n) => n <= 2), `none holds two shards: ${holding}`);
  // A second repair has nothing to do.
  const [again] = await record.repairShards();
  assert.deepEqual(again.missing, []);
  assert.ok(!after.some((set) => set.has(entry.blobId)));
});

test("a shard held twice: a read turns to its other holder past a corrupting one, and a repair gives neither holder a second shard", async () => {
  const origins = all().map((s) => new URL(s.url).origin);
  const faults = { down: new Set(), corrupt: new Set(), slowIndex: new Set(), refusePut: new Set() };
  const c = await client(async (url, init, real) => {
    const o = new URL(url).origin;
    const blob = url.includes("/v1/blobs/");
    if (faults.down.has(o)) throw new TypeError("fetch failed");
    if (faults.refusePut.has(o) && init.method === "PUT") {
      return new Response(JSON.stringify({ code: "unavailable", message: "refused" }), { status: 503, headers: { "content-type": "application/json" } });
    }
    const resp = await real();
    // Late only where it holds something: its "absent" answers are prompt.
    if (faults.slowIndex.has(o) && blob && !init.headers?.range && resp.ok) await new Promise((r) => setTimeout(r, 300));
    if (!(faults.corrupt.has(o) && blob && init.headers?.range && resp.ok)) return resp;
    const b = new Uint8Array(await resp.arrayBuffer());
    b[b.length >> 1] ^= 0x40;
    return new Response(b, { status: resp.status, headers: resp.headers });
  });
  const before = stored();
  const { doctor, record } = await sharedHistory(c, "held twice");
  // Each shard is two objects (the shard, its index); one pair per first holder.
  const pairs = stored().map((set, i) => [...set].filter((id) => !before[i].has(id)));
  const first = pairs.map((ids, i) => (ids.length ? i : -1)).filter((i) => i >= 0);
  assert.equal(first.length, 3);
  const shardsOn = () => stored().map((set) => pairs.filter((ids) => ids.length && ids.some((id) => set.has(id))).length);
  // X (not the home relay, which the SRS shares) is unreachable for a repair: its shard goes to a
  // relay that held nothing, and only to one the sealed placement lets hold it. The record lets
  // each of the two relays that got nothing hold one shard, the one fewest relays may hold, lowest
  // first (Holders::slots): shards 0 and 1. So X is a first holder of shard 0 or 1.
  const index = (r) => shardIndexOf(r, pairs[r]);
  const [x, z] = first.filter((r) => r > 0).sort((a, b) => index(a) - index(b));
  assert.ok(index(x) < 2, `X holds shard ${index(x)}`);
  const w = first.find((i) => i !== x && i !== z);
  faults.down.add(origins[x]);
  const [r1] = await record.repairShards();
  faults.down.clear();
  assert.equal(r1.missing.length, 1);
  assert.equal(r1.repaired.length, 1);
  const y = origins.indexOf(new URL(r1.repaired[0].relay).origin);
  assert.ok(!first.includes(y), "the repair used a relay that held nothing");
  assert.deepEqual(shardsOn().map((n) => n > 0), origins.map((_, i) => i === y || first.includes(i)));
  // Z down; X answers the locate first and serves bad pieces; Y, the other holder of X's shard, answers late.
  faults.down.add(origins[z]);
  faults.corrupt.add(origins[x]);
  faults.slowIndex.add(origins[y]);
  const seen = c.relaySet.faults.length;
  assert.equal(await readAs(c, doctor), "held twice");
  assert.ok(c.relaySet.faults.slice(seen).some((f) => new URL(f.relay).origin === origins[x] && f.code === "content_mismatch"), "X is named");
  for (const f of Object.values(faults)) f.clear();
  // W loses its data, and every relay holding nothing refuses: no relay holding a shard (X and Y
  // hold the same one) may take W's, so the repair places nothing rather than break the invariant.
  const dir = join(all()[w].data, "relay", "blobs");
  for (const id of pairs[w]) rmSync(join(dir, id));
  const empty = origins.map((_, i) => i).filter((i) => shardsOn()[i] === 0);
  for (const i of empty) faults.refusePut.add(origins[i]);
  const [r2] = await record.repairShards();
  assert.equal(r2.missing.length, 1);
  assert.deepEqual(r2.repaired, []);
  assert.ok(shardsOn().every((n) => n < 2), `no relay holds two shards: ${shardsOn()}`);
  faults.refusePut.clear();
  const [r3] = await record.repairShards();
  assert.equal(r3.repaired.length, 1);
  assert.ok(empty.includes(origins.indexOf(new URL(r3.repaired[0].relay).origin)));
  assert.ok(shardsOn().every((n) => n < 2), `no relay holds two shards: ${shardsOn()}`);
  assert.equal(await readAs(await client(), doctor), "held twice");
});

test("a relay that hides the shard it holds is given nothing else by a repair: the sealed placement says what it may hold", async () => {
  const origins = all().map((s) => new URL(s.url).origin);
  let hider = null;
  let refuse = false;
  const c = await client(
    async (url, init, real) => {
      const o = new URL(url).origin;
      const blob = url.includes("/v1/blobs/");
      const put = init.method === "PUT";
      // H keeps its shard but answers every question about blobs "absent".
      if (o === hider && blob && !put) return new Response(JSON.stringify({ code: "not_found", message: "no such blob" }), { status: 404, headers: { "content-type": "application/json" } });
      if (refuse && put && o !== hider) return new Response(JSON.stringify({ code: "unavailable", message: "refused" }), { status: 503, headers: { "content-type": "application/json" } });
      return real();
    },
    { n: 4 },
  );
  const before = stored();
  const { doctor, record } = await sharedHistory(c, "hidden");
  const pairs = stored().map((set, i) => [...set].filter((id) => !before[i].has(id)));
  const first = pairs.map((ids, i) => (ids.length ? i : -1)).filter((i) => i >= 0);
  assert.equal(first.length, 4);
  // W holds a lower shard than H: a repair places W's shard before H's, so a repair that
  // believed H's "absent" would hand H W's shard while H still holds its own (k = 2 of them).
  const byShard = first.sort((a, b) => shardIndexOf(a, pairs[a]) - shardIndexOf(b, pairs[b]));
  const w = byShard[0];
  const h = byShard[byShard.length - 1];
  const [sw, sh] = [shardIndexOf(w, pairs[w]), shardIndexOf(h, pairs[h])];
  hider = origins[h];
  for (const id of pairs[w]) rmSync(join(all()[w].data, "relay", "blobs", id));
  refuse = true;
  const [r] = await record.repairShards();
  assert.deepEqual([...r.missing].sort(), [sw, sh].sort(), "W's shard and the hidden one look missing");
  assert.ok(!r.repaired.some((x) => x.shard === sw), `W's shard went nowhere: ${JSON.stringify(r.repaired)}`);
  for (const x of r.repaired) assert.equal(new URL(x.relay).origin, hider, "only H took anything: its own shard again");
  const held = [...stored()[h]].filter((id) => !before[h].has(id));
  assert.deepEqual(held.sort(), [...pairs[h]].sort(), "H's store holds its own shard and index, nothing more");
  // Once H answers again and the relays take puts, W's shard is restored; the section reads.
  hider = null;
  refuse = false;
  const [again] = await record.repairShards();
  assert.deepEqual([...again.missing], [sw]);
  assert.equal(again.repaired.length, 1);
  assert.equal(await readAs(await client(), doctor), "hidden");
});

test("a sharded write cancelled mid-upload leaves no shard behind on any relay, even one whose put was still in flight", async () => {
  const controller = new AbortController();
  let puts = 0;
  const c = await client(async (url, init, real) => {
    const blobPut = init.method === "PUT" && url.includes("/v1/blobs/");
    // The first shard lands, then the user cancels while the others are on their way.
    if (blobPut && ++puts === 1) {
      const r = await real();
      controller.abort();
      return r;
    }
    return real();
  });
  const patient = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  const before = stored();
  const e = await rejection(record.write([{ name: "imaging", text: "x", files: [{ name: "ct", type: "", bytes: bytes(1 << 20, 5) }] }], { signal: controller.signal }));
  assert.equal(e.code, "aborted");
  assert.ok(puts >= 1);
  assert.equal(e.orphans, undefined, "every put was deleted again");
  stored().forEach((set, i) => assert.deepEqual([...set].sort(), [...before[i]].sort(), `no orphan on relay ${i}`));
  assert.equal((await record.write([{ name: "imaging", text: "again" }])).version, 2);
});

test("a write that cannot reach `happy` relays fails whole and stores nothing", async () => {
  const stopped = relays.splice(1, 3);
  await Promise.all(stopped.map((s) => s.stop()));
  try {
    // home + relays[0] up: two of five.
    const c = new S.Client({ baseUrl: home.url, relays: [home.url, relays[0].url, ...stopped.map((s) => s.url)], shards: { k: 2, n: 3 } });
    await c.connect();
    const patient = await party(c);
    const record = await new S.Patient(c, patient).createRecord();
    const version = record.version;
    const e = await rejection(record.write([{ name: "history", text: "nowhere to go" }]));
    assert.equal(e.code, "unavailable");
    assert.match(e.message, /nothing was saved/);
    assert.equal(record.version, version, "no version was published");
  } finally {
    for (let i = 0; i < 3; i++) relays.splice(1 + i, 0, await startServer({ command: "relay", args: ["--srs-url", home.url] }));
  }
});

test("a Client given no relays shards as the deployment says (GET /v1/config); `relays: []` and an unreadable config do not", async () => {
  const dep = await startSharded();
  try {
    const servers = [dep, ...dep.shards];
    const files = () => servers.map((s) => new Set(readdirSync(join(s.data, "relay", "blobs")).filter((n) => /^[0-9a-f]{64}$/.test(n))));
    const c = new S.Client({ baseUrl: dep.url });
    assert.equal(c.relaySet, undefined, "known only once connected");
    await c.connect();
    assert.deepEqual(c.relaySet?.urls, servers.map((s) => s.url));
    const before = files();
    const { doctor, record } = await sharedHistory(c, "spread by the deployment");
    const entry = placementOf(record, "history");
    const added = files().map((set, i) => [...set].filter((id) => !before[i].has(id)));
    assert.deepEqual(added.map((ids) => ids.length), [2, 2, 2], "one shard and its index on each relay");
    assert.ok(!added.flat().includes(entry.blobId), "the blob is stored whole nowhere");
    const reader = new S.Client({ baseUrl: dep.url });
    await reader.connect();
    assert.equal(await readAs(reader, doctor), "spread by the deployment");
    const whole = new S.Client({ baseUrl: dep.url, relays: [] });
    await whole.connect();
    assert.equal(whole.relaySet, undefined);
    // A config that cannot be read fails connect(): a body is never stored whole by mistake.
    const broken = new S.Client({
      baseUrl: dep.url,
      fetch: (url, init) =>
        String(url).endsWith("/v1/config")
          ? Promise.resolve(new Response(JSON.stringify({ code: "unavailable", message: "down" }), { status: 503, headers: { "content-type": "application/json" } }))
          : fetch(url, init),
    });
    const e = await rejection(broken.connect());
    assert.equal(e.code, "unavailable");
    assert.equal(broken.srs, undefined);
  } finally {
    await dep.stop();
  }
});

test("a relay set refuses a relay listed twice (it would hold two shards of a section)", () => {
  const e = (() => {
    try {
      new S.Client({ baseUrl: home.url, relays: [home.url, relays[0].url, `${home.url}/`] });
    } catch (err) {
      return err;
    }
  })();
  assert.equal(e?.code, "invalid_argument");
});

test("an attachment is sharded like its section: no relay holds a file whole, and it streams back", async () => {
  const c = await client();
  const patient = await party(c);
  const doctor = await party(c);
  const record = await new S.Patient(c, patient).createRecord();
  const big = bytes(3 << 20, 7);
  await record.write([{ name: "imaging", text: "scan", files: [{ name: "scan.bin", type: "application/octet-stream", bytes: big }] }]);
  await record.share({ grantee: doctor.id, sections: ["imaging"] });
  // Every stored object is well below the file: half of it (k = 2), plus
  // Padmé padding (under 12%) and the last stripe's fill.
  for (const s of all()) {
    const dir = join(s.data, "relay", "blobs");
    for (const id of readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n))) {
      assert.ok(statSync(join(dir, id)).size < big.length * 0.65, `${s.url} holds ${id} of ${statSync(join(dir, id)).size} bytes`);
    }
  }
  const reader = new S.Reader(c, doctor);
  const [shared] = await reader.sharedWithMe();
  const open = await reader.open(shared.sections[0]);
  assert.equal(open.document.text, "scan");
  assert.ok(open.document.attachments[0].placement, "the document lists the attachment's sealed placement");
  const pieces = [];
  for await (const p of open.attachment(0)) pieces.push(p);
  open.close();
  assert.deepEqual(Buffer.concat(pieces), Buffer.from(big));
});

// Sharded placement, measured (docs/benchmarks.md, "Sharded placement"):
// the wasm Reed–Solomon coder alone, then a section's file written and read
// back over 1 relay and over 3 relays (2 of 3), and over 3 with one relay
// throttled (every response from it held back `SLOW_MS`). Real servers on
// loopback; the throttle is a fetch wrapper on that relay's origin.
// Usage: node tests/js/bench-shards.mjs [MiB] (default 256; 4 for a smoke run)
import { join } from "node:path";
import { root, startServer } from "./server.mjs";

const MIB = Number(process.argv[2] ?? 256);
const SLOW_MS = 400;
const S = await import(join(root, "pkg", "index.js"));
const core = await import(join(root, "pkg", "sesphr.js"));
await S.init();

function bytes(n) {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}
const mbps = (n, ms) => Math.round((n / 1e6 / (ms / 1000)) * 10) / 10;

// 1. The coder alone, on the geometry of a MIB-sized attachment: every
//    stripe encoded, then (from the placement the encoder seals) every
//    stripe decoded from shard 1 and the parity (shard 0 missing).
{
  const [rec, sec] = ["11".repeat(32), "22".repeat(32)];
  const key = core.AttachmentKey.generate();
  const enc = new core.AttachmentEncryptor(key, rec, sec, MIB << 20, 18);
  const header = enc.header();
  const binding = { chunkRoot: "33".repeat(32), blobLength: enc.blobLength, indexId: "44".repeat(32) };
  enc.free();
  const se = new core.ShardEncoder(header, 2, 3);
  const size = se.pieceSize;
  const stripes = se.stripes;
  const source = bytes(2 * size);
  const kept = [];
  let t = performance.now();
  let coded = 0;
  for (let j = 0; j < stripes; j++) {
    const n = se.stripeInputLength(j);
    const pieces = se.encodeStripe(n === source.length ? source : source.subarray(0, n));
    coded += n;
    if (j === 0) kept.push(pieces.slice(size, 2 * size), pieces.slice(2 * size, 3 * size));
  }
  const encodeMs = performance.now() - t;
  const pk = key.placementKey(rec, sec);
  const unsealed = se.finishPlacement(binding, header);
  const holders = new core.ShardHolders(2, 3, 3, true);
  for (let i = 0; i < 3; i++) holders.send(i, i);
  const placement = unsealed.seal(pk, ["http://a", "http://b", "http://c"], holders);
  for (const o of [pk, unsealed, holders]) o.free();
  const plan = key.openPlacement(rec, sec, { ...binding, placement });
  const dec = plan.decoder();
  t = performance.now();
  let decoded = 0;
  for (let j = 0; j < stripes; j++) decoded += dec.decodeStripe([undefined, kept[0], kept[1]]).length;
  const decodeMs = performance.now() - t;
  for (const o of [dec, plan, key]) o.free();
  console.log(`BENCH {"what":"wasm RS 2-of-3","mib":${MIB},"encodeMs":${Math.round(encodeMs)},"encodeMBps":${mbps(coded, encodeMs)},"decodeMs":${Math.round(decodeMs)},"decodeMBps":${mbps(decoded, decodeMs)}}`);
}

async function run(label, relays, wrap) {
  const home = relays[0];
  const f = wrap ? (url, init = {}) => wrap(String(url), init, () => fetch(url, init)) : undefined;
  const opts = relays.length > 1 ? { relays: relays.map((s) => s.url), shards: { k: 2, n: 3, hedgeMs: 250 } } : {};
  const c = new S.Client({ baseUrl: home.url, fetch: f, ...opts });
  await c.connect();
  const id = S.Identity.generate();
  await c.register(id);
  const record = await new S.Patient(c, id).createRecord();
  const file = bytes(MIB << 20);
  let t = performance.now();
  await record.write([{ name: "imaging", text: "bench", files: [{ name: "f.bin", type: "application/octet-stream", bytes: file }] }]);
  const writeMs = performance.now() - t;
  const open = await record.open("imaging");
  t = performance.now();
  let n = 0;
  for await (const p of open.attachment(0)) n += p.length;
  const readMs = performance.now() - t;
  open.close();
  if (n !== file.length) throw new Error(`read ${n} of ${file.length}`);
  console.log(`BENCH {"what":"${label}","mib":${MIB},"writeMs":${Math.round(writeMs)},"writeMBps":${mbps(n, writeMs)},"readMs":${Math.round(readMs)},"readMBps":${mbps(n, readMs)}}`);
}

const home = await startServer();
const others = [await startServer({ command: "relay", args: ["--srs-url", home.url] }), await startServer({ command: "relay", args: ["--srs-url", home.url] })];
try {
  await run("1 relay (whole blob)", [home]);
  await run("3 relays, 2 of 3", [home, ...others]);
  const slow = new URL(others[0].url).origin;
  await run(`3 relays, 2 of 3, one throttled (+${SLOW_MS} ms per response)`, [home, ...others], async (url, init, real) => {
    if (new URL(url).origin === slow && url.includes("/v1/blobs/")) await new Promise((r) => setTimeout(r, SLOW_MS));
    return real();
  });
} finally {
  await Promise.all([home, ...others].map((s) => s.stop()));
}

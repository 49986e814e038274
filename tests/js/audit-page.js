// Runs in Chromium, loaded by audit-browser.test.mjs: the audit cases of
// audit-cases.js (`window.runCase`), and the cost of the owner's check of a
// long listing (`window.benchAudit`). Sets window.ready once the package is
// initialised.
import * as S from "/pkg/index.js";
import * as core from "/pkg/sesphr.js";
import { cases } from "/audit-cases.js";
import { assert } from "/page-assert.js";
import { bridgedFetch, closeBridges } from "/fetch-bridge.js";

const words = (e) => `${e?.name ?? "Error"}${e?.code ? ` (${e.code})` : ""}: ${e?.message ?? e}\n${e?.stack ?? ""}`;

/** Runs the case `name` with the servers the test started for it: `{}`, or `{error}`. */
window.runCase = async (name, { url, servers }) => {
  const c = cases.find((c) => c.name === name);
  if (!c) return { error: `no case named ${name} in the page` };
  try {
    await c.run({ S, core, assert, fetch: bridgedFetch, url, servers });
    return {};
  } catch (e) {
    return { error: words(e) };
  } finally {
    await closeBridges();
  }
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(runs, f) {
  const ms = [];
  let out;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    out = await f();
    ms.push(performance.now() - t);
  }
  return { ms: median(ms), out };
}

/**
 * The owner (`seed`, hex) of record 0 on this page's server audits it:
 * `record.audit()` end to end, the first time (a Patient with no kept head:
 * every entry's audit path checked, the head taken on trust) and again (the
 * kept head and marks: the same head, every entry listed before still
 * there); then its parts: fetching the listing, decoding it (JSON, hex),
 * and only the wasm check (AuditListingCheck). Medians of `runs`.
 */
async function benchAudit({ seed, runs }) {
  const client = new S.Client();
  await client.connect();
  const me = S.Identity.fromSeed(S.fromHex(seed));
  // One Patient per first look (no kept head, no marks), opened out of the timing.
  const records = [];
  for (let i = 0; i < runs; i++) records.push(await new S.Patient(client, me).openRecord(0));
  // Once, before the others: the first look that also takes the readers'
  // forwarded receipts from the mail (opens, checks and deletes each mail).
  const mailRecord = await new S.Patient(client, me).openRecord(0);
  const withMail = await timed(1, () => mailRecord.audit());
  let k = 0;
  const first = await timed(runs, () => records[k++].audit());
  const again = await timed(runs, () => records[0].audit());
  const entries = first.out.entries.length;
  if (again.out.entries.length !== entries) throw new Error(`a second look listed ${again.out.entries.length} of ${entries} entries`);

  // The listing as the package fetches it (the SRS builds every audit path
  // for it), then decoded and checked, each timed on its own.
  const recordId = records[0].recordId;
  const listed = await timed(runs, async () => {
    const token = core.signToken(me.core, "readAudit", S.fromHex(recordId), Date.now());
    const resp = await fetch(`/srs/v1/records/${recordId}/audit`, { headers: { "x-sesphr-token": S.toHex(token) } });
    if (!resp.ok) throw new Error(`the listing: ${resp.status}`);
    return resp.text();
  });
  const text = listed.out;
  const decode = await timed(runs, () => {
    const listing = JSON.parse(text);
    return {
      head: S.fromHex(listing.treeHead),
      rows: listing.entries.map(([index, entry], i) => [index, S.fromHex(entry), S.fromHex(listing.paths[i].join(""))]),
    };
  });
  const { head, rows } = decode.out;
  const srs = client.pinnedSrs();
  const check = await timed(runs, () => {
    const c = new core.AuditListingCheck(srs, recordId, head, undefined);
    try {
      if (c.consistencyNeeded()) throw new Error("no head was kept, so no consistency proof is needed");
      c.verifiedHead();
      for (const [index, entry, path] of rows) c.addEntry(index, entry, path);
      return c.finish(undefined);
    } finally {
      c.free();
    }
  });
  if (check.out.entries.length !== entries) throw new Error(`the check listed ${check.out.entries.length} of ${entries} entries`);
  return {
    entries,
    treeSize: first.out.treeSize,
    listingBytes: new TextEncoder().encode(text).length,
    runs,
    receipts: withMail.out.receipts,
    auditWithMailMs: +withMail.ms.toFixed(1),
    auditFirstMs: +first.ms.toFixed(1),
    auditAgainMs: +again.ms.toFixed(1),
    fetchMs: +listed.ms.toFixed(1),
    decodeMs: +decode.ms.toFixed(1),
    checkMs: +check.ms.toFixed(1),
  };
}

window.benchAudit = (options) => benchAudit(options).catch((e) => ({ error: words(e) }));

await S.init();
window.ready = true;

// The owner's audit checks (tests/js/audit-cases.js) in headless Chromium,
// one test per case under the same name as in audit.test.mjs, each run in a
// page of the real relay + SRS (tests/js/audit-page.js); a case's own
// servers are other origins, reached through fetch-bridge.js. Then the cost
// of the owner's check of a long listing, printed as an `AUDIT {...}` line,
// never asserted: SESPHR_AUDIT_ENTRIES reads (20 by default, a smoke run;
// scripts/bench.sh: 1000), medians of SESPHR_AUDIT_RUNS looks.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cases } from "./audit-cases.js";
import { launchChromium, root, startServer, startServers } from "./server.mjs";

const here = join(root, "tests", "js");
const html = (title, script) => `<!doctype html><meta charset="utf-8"><title>${title}</title><script type="module" src="${script}"></script>`;

// One www directory for every server: the page's, and the bridge window
// each other origin needs (the relay's CSP allows no inline script).
const www = mkdtempSync(join(tmpdir(), "sesphr-audit-"));
for (const f of ["audit-page.js", "audit-cases.js", "page-assert.js", "fetch-bridge.js"]) copyFileSync(join(here, f), join(www, f));
writeFileSync(join(www, "index.html"), html("audit", "/audit-page.js"));
writeFileSync(join(www, "bridge.html"), html("bridge", "/bridge.js"));
writeFileSync(join(www, "bridge.js"), 'import { serveBridge } from "/fetch-bridge.js";\nserveBridge();\n');

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  rmSync(www, { recursive: true, force: true });
});

/** A page of `server` with audit-page.js loaded and the package initialised. */
async function pageOf(server) {
  const page = await browser.newPage();
  const report = (p) => p.on("pageerror", (e) => console.error(`page error (${p.url()}):`, e));
  report(page);
  page.context().on("page", report);
  await page.goto(server.url);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
  return page;
}

describe("in Chromium", () => {
  let server;
  let page;

  before(async () => {
    server = await startServer({ wwwDir: www });
    page = await pageOf(server);
  });

  after(async () => {
    await page?.close();
    await server?.stop();
  });

  for (const c of cases) {
    test(c.name, { timeout: 120_000 }, async () => {
      const own = await startServers(c.servers, { wwwDir: www });
      try {
        const servers = Object.fromEntries(Object.entries(own.servers).map(([name, s]) => [name, { url: s.url }]));
        const r = await page.evaluate(([name, t]) => window.runCase(name, t), [c.name, { url: server.url, servers }]);
        if (r.error) assert.fail(`in Chromium: ${r.error}`);
      } finally {
        await own.stop();
      }
    });
  }
});

const entries = Number(process.env.SESPHR_AUDIT_ENTRIES ?? "20");
const runs = Number(process.env.SESPHR_AUDIT_RUNS ?? "3");

test(`the owner's check of a listing of ${entries} reads, in Chromium`, { timeout: 600_000 }, async () => {
  const S = await import(join(root, "pkg", "index.js"));
  await S.init();
  const server = await startServer({ wwwDir: www });
  try {
    // The reads from Node, through the package, one after another: only the
    // listing they leave in the SRS's log is measured.
    const client = new S.Client({ baseUrl: server.url });
    await client.connect();
    const patient = S.Identity.generate();
    const doctor = S.Identity.generate();
    await client.register(patient);
    await client.register(doctor);
    const record = await new S.Patient(client, patient).createRecord();
    await record.write([{ name: "history", fields: { condition: "asthma" } }]);
    await record.share({ grantee: doctor.id, sections: ["history"] });
    const reader = new S.Reader(client, doctor);
    const [shared] = await reader.sharedWithMe();
    const start = performance.now();
    for (let i = 0; i < entries; i++) (await reader.open(shared.sections[0])).close();
    const readsMs = Math.round(performance.now() - start);
    // Their receipts, forwarded to the patient (reads half a second apart share a mail).
    await reader.flushReceipts();
    const mails = (await client.mail(patient)).length;

    const page = await pageOf(server);
    try {
      const r = await page.evaluate((o) => window.benchAudit(o), { seed: S.toHex(patient.exportSeed()), runs });
      if (r.error) assert.fail(`in Chromium: ${r.error}`);
      assert.equal(r.entries, entries);
      assert.equal(r.receipts, entries, "every read's receipt was forwarded and checked");
      console.log(`AUDIT ${JSON.stringify({ ...r, readsMs, mails })}`);
    } finally {
      await page.close();
    }
  } finally {
    await server.stop();
  }
});

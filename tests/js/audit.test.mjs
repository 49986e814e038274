// The owner's audit checks (tests/js/audit-cases.js) in Node, one test per
// case; audit-browser.test.mjs runs the same cases in headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { cases } from "./audit-cases.js";
import { root, startServer, startServers } from "./server.mjs";

const S = await import(join(root, "pkg", "index.js"));
const core = await import(join(root, "pkg", "sesphr.js"));

let server;

before(async () => {
  server = await startServer();
  await S.init();
});

after(() => server?.stop());

for (const c of cases) {
  test(c.name, async () => {
    const own = await startServers(c.servers);
    try {
      const servers = Object.fromEntries(Object.entries(own.servers).map(([name, s]) => [name, { url: s.url }]));
      await c.run({ S, core, assert, fetch: globalThis.fetch, url: server.url, servers });
    } finally {
      await own.stop();
    }
  });
}

// Runs in Chromium, loaded by audit-browser.test.mjs: the audit cases of
// audit-cases.js (`window.runCase`). Sets window.ready once the package is
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

await S.init();
window.ready = true;

// Starts the real `sesphr-relay serve` on a free loopback port with a fresh
// data directory, for the JS test suites (node --test and Playwright).
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Debian's Chromium (never a downloaded browser), and the flags every suite launches it with. */
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

/** Headless Chromium with an off-the-record profile. */
export function launchChromium() {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}

/** Headless Chromium with a persistent profile in `dir` (a context, not a browser). */
export function launchChromiumProfile(dir, extraArgs = []) {
  return chromium.launchPersistentContext(dir, { executablePath: chromiumPath, args: [...chromiumArgs, ...extraArgs] });
}

/**
 * Starts the server; resolves to {url, data, stop()}. SESPHR_BIN overrides
 * the binary. `srsSeedOf`: the data directory of another server whose SRS
 * identity this one takes (the same SRS key over its own, separate log).
 * `args`: more command-line flags (e.g. the test-only emergency clock).
 */
export async function startServer({ pkgDir = join(root, "pkg"), wwwDir = join(root, "www"), srsSeedOf, args = [] } = {}) {
  const data = mkdtempSync(join(tmpdir(), "sesphr-js-"));
  if (srsSeedOf) {
    mkdirSync(join(data, "srs"));
    copyFileSync(join(srsSeedOf, "srs", "identity.seed"), join(data, "srs", "identity.seed"));
  }
  const bin = process.env.SESPHR_BIN ?? join(root, "target", "debug", "sesphr-relay");
  const child = spawn(
    bin,
    ["serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--pkg-dir", pkgDir, "--www-dir", wwwDir, "--log", "warn", ...args],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const url = await new Promise((resolve, reject) => {
    let out = "";
    child.once("exit", (code) => reject(new Error(`sesphr-relay exited with ${code}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
  return {
    url,
    data,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the servers `spec` names, in order (`{name: {srsSeedOf?}}`, where
 * `srsSeedOf` names an earlier one whose SRS key this one takes), each with
 * `options`; resolves to {name: server} and `stop()` for them all.
 */
export async function startServers(spec = {}, options = {}) {
  const servers = {};
  const stop = () => Promise.all(Object.values(servers).map((s) => s.stop()));
  try {
    for (const [name, { srsSeedOf }] of Object.entries(spec)) {
      if (srsSeedOf && !servers[srsSeedOf]) throw new Error(`server ${name}: no earlier server ${srsSeedOf} to take the SRS key of`);
      servers[name] = await startServer({ ...options, srsSeedOf: srsSeedOf && servers[srsSeedOf].data });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { servers, stop };
}

/**
 * A person in their own browser context on `server`'s portal, with a fresh
 * identity under `passphrase`: `{name, context, page, id}` (`id` the party id).
 */
export async function newPortalPerson(browser, server, name, passphrase) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e));
  await page.goto(server.url);
  await page.getByLabel("New passphrase", { exact: true }).fill(passphrase);
  await page.getByLabel("Repeat the new passphrase").fill(passphrase);
  await page.getByRole("button", { name: "Create identity" }).click();
  await page.getByRole("button", { name: "My identity" }).click();
  const id = await page.locator("#my-id").textContent();
  if (!/^[0-9a-f]{64}$/.test(id ?? "")) throw new Error(`[${name}] no party id shown: ${id}`);
  return { name, context, page, id };
}

// Starts the real `sesphr-relay serve` on a free loopback port with a fresh
// data directory, for the JS test suites (node --test and Playwright).
import { spawn } from "node:child_process";
import { after, before } from "node:test";
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

/** Where the portal suites put their screenshots. */
export const portalShots = join(root, "target", "portal-screenshots");

/**
 * A portal suite's shared parts: one real server (started with `serverOptions`)
 * and one Chromium for the whole file, handed to `use({ server, browser })` once
 * both run, and stopped after the file's tests.
 */
export function portalSuite(serverOptions, use) {
  let server;
  let browser;
  before(async () => {
    mkdirSync(portalShots, { recursive: true });
    server = await startServer(serverOptions);
    browser = await launchChromium();
    use({ server, browser });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
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
export async function startServer(options = {}) {
  const { command = "serve", srsSeedOf } = options;
  if (process.env.SESPHR_TEST_SHARDED && command === "serve" && !srsSeedOf) return startSharded(options);
  return startOne(options);
}

/** A free loopback port (for a server whose URL others must know before it starts). */
async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * SESPHR_TEST_SHARDED=1: the same `serve` (relay + SRS + portal), with two
 * more relays (`relay`, forwarding to its SRS) that its portal shards every
 * section body over (`--shard-relays`, 2 of 3), so the suites run their
 * flows over a sharded deployment unchanged. `shards`: the other two.
 */
export async function startSharded(options = {}) {
  const port = await freePort();
  const home = `http://127.0.0.1:${port}`;
  const others = [];
  try {
    for (let i = 0; i < 2; i++) others.push(await startOne({ command: "relay", args: ["--srs-url", home, "--cors-origins", home] }));
    const main = await startOne({
      ...options,
      listen: `127.0.0.1:${port}`,
      args: [...(options.args ?? []), "--shard-relays", others.map((o) => o.url).join(",")],
    });
    return {
      ...main,
      shards: others,
      async stop() {
        await main.stop();
        await Promise.all(others.map((o) => o.stop()));
      },
    };
  } catch (e) {
    await Promise.all(others.map((o) => o.stop()));
    throw e;
  }
}

async function startOne({ pkgDir = join(root, "pkg"), wwwDir = join(root, "www"), srsSeedOf, args = [], command = "serve", listen = "127.0.0.1:0" } = {}) {
  const data = mkdtempSync(join(tmpdir(), "sesphr-js-"));
  if (srsSeedOf) {
    mkdirSync(join(data, "srs"));
    copyFileSync(join(srsSeedOf, "srs", "identity.seed"), join(data, "srs", "identity.seed"));
  }
  const bin = process.env.SESPHR_BIN ?? join(root, "target", "debug", "sesphr-relay");
  const child = spawn(
    bin,
    [command, "--listen", listen, "--data-dir", data, "--pkg-dir", pkgDir, "--www-dir", wwwDir, "--log", "warn", ...args],
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
 * A person in their own browser context (own IndexedDB and localStorage) on
 * `url` (default: `server`'s portal): `{name, context, page}`. `clipboard`
 * grants the clipboard to the portal's origin, `dialogs` accepts every
 * confirm() the page asks.
 */
export async function portalPage(browser, server, name, { url = server.url, clipboard = false, dialogs = false, timeout = 60_000 } = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 900 } });
  if (clipboard) await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e));
  if (dialogs) page.on("dialog", (d) => d.accept());
  await page.goto(url);
  return { name, context, page };
}

/** Creates an identity under `passphrase` on the portal's start page; resolves to its party id. */
export async function createPortalIdentity(page, passphrase) {
  await page.getByLabel("New passphrase", { exact: true }).fill(passphrase);
  await page.getByLabel("Repeat the new passphrase").fill(passphrase);
  await page.getByRole("button", { name: "Create identity" }).click();
  await page.getByRole("button", { name: "My identity" }).click();
  const id = await page.locator("#my-id").textContent();
  if (!/^[0-9a-f]{64}$/.test(id ?? "")) throw new Error(`no party id shown: ${id}`);
  return id;
}

/**
 * A person in their own browser context on `server`'s portal, with a fresh
 * identity under `passphrase`: `{name, context, page, id}` (`id` the party id).
 */
export async function newPortalPerson(browser, server, name, passphrase, options) {
  const p = await portalPage(browser, server, name, options);
  return { ...p, id: await createPortalIdentity(p.page, passphrase) };
}

/** Waits for a message matching `pattern`, at the top of the page or next to the action that caused it. */
export async function portalStatus(page, pattern) {
  await page.locator("#status, .msg:not(.error)").filter({ hasText: pattern }).first().waitFor();
}

/** Fails if the page shows a failure (at the top or next to an action). */
export async function noPortalAlert(page) {
  if (await page.locator("#alert").isVisible()) throw new Error(`alert shown: ${await page.locator("#alert").textContent()}`);
  const errors = page.locator(".msg.error");
  for (let i = 0; i < (await errors.count()); i++) {
    if (await errors.nth(i).isVisible()) throw new Error(`failure shown: ${await errors.nth(i).textContent()}`);
  }
}

/** Writes section `name` of the open record through the "Sections" tab's form, and waits for the save. */
export async function writePortalSection(page, name, { fields = "", text = "", files } = {}) {
  await openTab(page, "Sections");
  await page.getByLabel("Section", { exact: true }).selectOption(name);
  await page.getByLabel('Fields (one "name: value" per line)').fill(fields);
  await page.getByLabel("Free text").fill(text);
  if (files) await page.getByLabel("Add attachments").setInputFiles(files);
  await page.getByRole("button", { name: "Encrypt and save" }).click();
  await portalStatus(page, `Saved ${name} as version`);
}

/**
 * Shows tab `name` of the record page ("Sections", "Sharing", "Links",
 * "Emergency access", "Requests", "Audit"): first "My records" when another
 * view is shown; resolves once the tab's panel is on screen.
 */
export async function openTab(page, name) {
  const tab = page.getByRole("tab", { name, exact: true });
  if (!(await tab.isVisible())) {
    await page.getByRole("button", { name: "My records", exact: true }).click();
    await tab.waitFor();
  }
  if ((await tab.getAttribute("aria-selected")) !== "true") await tab.click();
  await page.locator(`#${await tab.getAttribute("aria-controls")}`).waitFor();
}

// ------------------------------------------------------------------ the npm package's tests

/**
 * The npm package `S` (pkg/index.js, imported by the caller) against a fresh
 * server (`startServer(options)`): `{server, client, party}`, the client
 * connected, `party()` a fresh identity registered with the server.
 */
export async function packageServer(S, options) {
  const server = await startServer(options);
  try {
    await S.init();
    const client = new S.Client({ baseUrl: server.url });
    await client.connect();
    const party = async () => {
      const id = S.Identity.generate();
      await client.register(id);
      return id;
    };
    return { server, client, party };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/** The error `promise` rejects with; fails if it resolves. */
export const rejection = (promise) =>
  promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e) => e,
  );

/** A Web Storage in memory (what a browser's localStorage gives the package). */
export class MemoryStorage {
  #m = new Map();
  getItem(k) {
    return this.#m.has(k) ? this.#m.get(k) : null;
  }
  setItem(k, v) {
    this.#m.set(k, String(v));
  }
  removeItem(k) {
    this.#m.delete(k);
  }
}

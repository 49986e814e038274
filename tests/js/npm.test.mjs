// The npm package as a user gets it: `npm pack` of pkg/, installed from the
// tarball into a fresh project; strict TypeScript over the whole public API;
// the full share/read/revoke flow in Node and in a plain ESM page in
// Chromium, both against the real relay + SRS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { launchChromium, root, startServer } from "./server.mjs";
import { check } from "./flow.mjs";

const here = join(root, "tests", "js");
let project;
let installed;
const report = {};

before(() => {
  project = mkdtempSync(join(tmpdir(), "sesphr-npm-"));
  const packed = execFileSync("npm", ["pack", join(root, "pkg"), "--pack-destination", project, "--json"], {
    encoding: "utf8",
  });
  const [info] = JSON.parse(packed);
  report.tarball = info.filename;
  report.tarballBytes = info.size;
  report.unpackedBytes = info.unpackedSize;
  report.files = info.files.map((f) => f.path).sort();
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", join(project, info.filename)], {
    cwd: project,
  });
  installed = join(project, "node_modules", "sesphr-client");
  const wasm = readFileSync(join(installed, "sesphr_bg.wasm"));
  report.wasmBytes = wasm.length;
  report.wasmGzipBytes = gzipSync(wasm, { level: 9 }).length;
});

after(() => {
  console.log("npm package:", JSON.stringify(report));
  rmSync(project, { recursive: true, force: true });
});

test("the tarball holds exactly the package files, with its metadata", () => {
  assert.deepEqual(report.files, [
    "README.md",
    "body.js",
    "contacts.js",
    "documents.js",
    "emergency.js",
    "errors.js",
    "fhir.js",
    "http.js",
    "identity.js",
    "index.d.ts",
    "index.js",
    "invitations.js",
    "mail.js",
    "owner.js",
    "package.json",
    "reader.js",
    "requests.js",
    "sesphr.d.ts",
    "sesphr.js",
    "sesphr_bg.wasm",
    "sesphr_bg.wasm.d.ts",
    "shards.js",
    "shl.js",
    "wasm.js",
  ]);
  const meta = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  assert.equal(meta.name, "sesphr-client");
  assert.equal(meta.license, "Apache-2.0");
  assert.equal(meta.types, "./index.d.ts");
  assert.equal(meta.exports["."].default, "./index.js");
  assert.equal(meta.sideEffects, false);
  assert.ok(meta.repository.url);
});

test("strict TypeScript accepts an example using the whole public API, and rejects misuse", () => {
  copyFileSync(join(here, "example.ts"), join(project, "example.ts"));
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: "es2022",
      module: "nodenext",
      moduleResolution: "nodenext",
      lib: ["es2022", "dom", "dom.iterable"],
      types: [],
      skipLibCheck: false,
    },
    files: ["example.ts"],
  };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify(tsconfig));
  const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", project], { stdio: "inherit" });
  // The types are not `any`: a wrong call is a compile error.
  writeFileSync(
    join(project, "bad.ts"),
    'import { Identity } from "sesphr-client";\nconst n: number = Identity.generate().fingerprint;\nexport { n };\n',
  );
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ ...tsconfig, files: ["bad.ts"] }));
  assert.throws(
    () => execFileSync(process.execPath, [tsc, "-p", project], { stdio: "pipe", encoding: "utf8" }),
    (e) => /TS2322/.test(e.stdout),
  );
});

test("Node: share, read, revoke and restore through the installed package", async () => {
  const server = await startServer();
  try {
    const S = await import(join(installed, "index.js"));
    const { flow } = await import("./flow.mjs");
    const out = await flow(S, server.url);
    report.nodeInitMs = Math.round(out.initMs);
    check(assert, out);
  } finally {
    await server.stop();
  }
});

test("Chromium: the same tarball imported by a plain ESM page runs the same flow", { timeout: 300_000 }, async () => {
  const www = mkdtempSync(join(tmpdir(), "sesphr-page-"));
  copyFileSync(join(here, "flow.mjs"), join(www, "flow.js"));
  // The relay's CSP allows same-origin scripts only: no inline script.
  writeFileSync(
    join(www, "index.html"),
    '<!doctype html><meta charset="utf-8"><title>flow</title><script type="module" src="/main.js"></script>',
  );
  writeFileSync(
    join(www, "main.js"),
    `import * as S from "/pkg/index.js";
import { flow } from "/flow.js";
flow(S, location.origin).then((r) => { window.result = r; }, (e) => { window.result = { error: e.code + ": " + e.message }; });
`,
  );
  const server = await startServer({ pkgDir: installed, wwwDir: www });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    page.on("console", (m) => m.type() === "error" && console.error("page console:", m.text()));
    await page.goto(server.url);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 120_000 });
    const out = await page.evaluate(() => window.result);
    assert.equal(out.error, undefined);
    report.chromiumInitMs = Math.round(out.initMs);
    check(assert, out);
  } finally {
    await browser.close();
    await server.stop();
    rmSync(www, { recursive: true, force: true });
  }
});

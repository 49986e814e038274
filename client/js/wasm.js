// The wasm core, loaded once, and the small helpers every module shares.

import initWasm, * as core from "./sesphr.js";
import { SesphrError } from "./errors.js";

export { core };

let ready;

/**
 * Loads the wasm module once. In browsers and bundlers it fetches
 * `sesphr_bg.wasm` beside this file; in Node it reads it from disk. Pass
 * bytes, a `Response`, a URL or a `WebAssembly.Module` to load it yourself.
 * Registers SesphrError with the core, which then throws it directly.
 */
export function init(source) {
  if (!ready) {
    ready = (async () => {
      let input = source;
      if (input === undefined && typeof process === "object" && process.versions?.node) {
        const { readFile } = await import("node:fs/promises");
        input = await readFile(new URL("./sesphr_bg.wasm", import.meta.url));
      }
      await initWasm(input === undefined ? undefined : { module_or_path: input });
      core.setErrorClass(SesphrError);
    })().catch((e) => {
      ready = undefined;
      throw e instanceof SesphrError ? e : new SesphrError("internal", `cannot load the wasm module: ${e?.message ?? e}`, { cause: e });
    });
  }
  return ready;
}

/** Whether bulk encryption runs on the browser's WebCrypto (else pure wasm, slower). */
export function webCryptoAvailable() {
  return core.webCryptoAvailable();
}

/** The standard section names, in display order. */
export function standardSections() {
  return core.standardSections();
}

/** The sections a role preset covers (`family`, `physician`, `insurer`, …). */
export function roleSections(role) {
  return core.roleSections(role);
}

/** Lower-case hex of bytes. */
export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Bytes of a hex string (throws `invalid_argument`). */
export const fromHex = (s) => {
  if (typeof s !== "string" || s.length % 2 || /[^0-9a-f]/i.test(s)) {
    throw new SesphrError("invalid_argument", "expected a hex string");
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
};

/** Whether two byte arrays are equal (public data only: not constant time). */
export const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Frees wasm objects (undefined ones are skipped). */
export function free(...objects) {
  for (const o of objects) o?.free();
}

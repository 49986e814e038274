// Minimal page logic: server status, the pinned SRS fingerprint, and an
// in-browser identity from the wasm module (pkg/, built by scripts/build-wasm.sh).
const $ = (id) => document.getElementById(id);

async function status() {
  try {
    const h = await fetch("/healthz");
    $("health").textContent = h.ok ? "online" : `error ${h.status}`;
    const info = await (await fetch("/srs/v1/info")).json();
    $("srs-fingerprint").textContent = info.fingerprint;
  } catch (e) {
    $("health").textContent = "unreachable";
  }
}

async function wasm() {
  try {
    const mod = await import("/pkg/sesphr.js");
    await mod.default();
    $("engine").textContent = mod.webCryptoAvailable()
      ? "WebCrypto for bulk data, Rust (wasm) for everything else"
      : "Rust (wasm) only: this page is not a secure context, so bulk encryption is slower";
    const button = $("make-identity");
    button.disabled = false;
    button.addEventListener("click", () => {
      const id = mod.Identity.generate();
      $("identity").textContent = id.fingerprint;
      id.free();
    });
  } catch (e) {
    $("engine").textContent = "the wasm module is not built (run scripts/build-wasm.sh)";
  }
}

status();
wasm();

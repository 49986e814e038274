#!/usr/bin/env bash
# Installs everything SeSPHR's build and tests need, idempotently.
# Quick when everything is already present; safe to run on a brand-new machine.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# 1. The wasm32 target for the browser build.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "$want" ]; then
  log "Cargo.lock has no wasm-bindgen entry"; exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  log "installing wasm-bindgen-cli $want (had: ${have:-none})"
  # Not --locked: one of its locked dependencies is missing from the registry.
  cargo install wasm-bindgen-cli --version "$want" --force
fi

# 3. Debian's Chromium and its WebDriver, for wasm-bindgen-test and portal tests.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  log "installing chromium and chromium-driver from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q chromium chromium-driver
fi

log "ready: $(rustc --version), wasm-bindgen $(wasm-bindgen --version | awk '{print $2}'), $(/usr/bin/chromium --version 2>/dev/null)"

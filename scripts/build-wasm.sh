#!/usr/bin/env bash
# Builds the browser/Node package into pkg/: the release wasm, the
# wasm-bindgen glue (sesphr.js), the high-level API (client/js/) and the npm
# metadata (client/package.json, client/README.md). Prints the sizes.
# The relay serves pkg/ at /pkg/; `npm pack pkg/` makes the npm tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build -p sesphr-client --target wasm32-unknown-unknown --release --locked
wasm-bindgen --target web --out-dir pkg --out-name sesphr \
  target/wasm32-unknown-unknown/release/sesphr_client.wasm
cp client/js/*.js client/js/index.d.ts client/js/README.md client/package.json pkg/
raw=$(stat -c %s pkg/sesphr_bg.wasm)
gz=$(gzip -9 -c pkg/sesphr_bg.wasm | wc -c)
echo "pkg/sesphr_bg.wasm: ${raw} bytes, ${gz} bytes gzipped"

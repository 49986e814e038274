#!/usr/bin/env bash
# Builds the browser/Node package into pkg/: the release wasm (through
# wasm-opt), the wasm-bindgen glue (sesphr.js), the high-level API
# (client/js/) and the npm metadata (client/package.json, client/README.md).
# Prints the sizes.
# The relay serves pkg/ at /pkg/; `npm pack pkg/` makes the npm tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
# The package is what ships, whoever calls this: never through clippy-driver
# (scripts/test.sh lints through it), which turns MIR optimisations off and
# makes the module about 8 KB (gzipped) larger.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
cargo build -p sesphr-client --target wasm32-unknown-unknown --release --locked
wasm-bindgen --target web --out-dir pkg --out-name sesphr \
  target/wasm32-unknown-unknown/release/sesphr_client.wasm
# binaryen's wasm-opt (npm binaryen, pinned in tests/js/package-lock.json):
# -O2 takes about a sixth off the module (and its name section) without
# slowing the P-256 code down measurably (-Oz saves 2% more, a few % slower).
tests/js/node_modules/.bin/wasm-opt -O2 --enable-bulk-memory --enable-reference-types \
  --enable-multivalue --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  pkg/sesphr_bg.wasm -o pkg/sesphr_bg.wasm
cp client/js/*.js client/js/index.d.ts client/js/README.md client/package.json pkg/
raw=$(stat -c %s pkg/sesphr_bg.wasm)
gz=$(gzip -9 -c pkg/sesphr_bg.wasm | wc -c)
echo "pkg/sesphr_bg.wasm: ${raw} bytes, ${gz} bytes gzipped"

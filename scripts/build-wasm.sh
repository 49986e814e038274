#!/usr/bin/env bash
# Builds the browser module: release wasm + wasm-bindgen JS glue into pkg/.
# Prints the sizes (raw and gzipped).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build -p sesphr-client --target wasm32-unknown-unknown --release --locked
wasm-bindgen --target web --out-dir pkg --out-name sesphr \
  target/wasm32-unknown-unknown/release/sesphr_client.wasm
raw=$(stat -c %s pkg/sesphr_bg.wasm)
gz=$(gzip -9 -c pkg/sesphr_bg.wasm | wc -c)
echo "pkg/sesphr_bg.wasm: ${raw} bytes, ${gz} bytes gzipped"

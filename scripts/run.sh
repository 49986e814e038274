#!/usr/bin/env bash
# Runs the whole system on this machine: relay + SRS + portal in one process,
# with embedded storage under ./data (override with SESPHR_DATA_DIR).
# Installs what is missing and builds first. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-wasm.sh
cargo build -p sesphr-relay --release --locked
echo "starting relay + SRS + portal (default http://127.0.0.1:8080/; see --listen)"
exec target/release/sesphr-relay serve "$@"

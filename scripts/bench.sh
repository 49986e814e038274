#!/usr/bin/env bash
# Runs the benchmarks: Criterion natively, and the browser harness in headless
# Chromium (release wasm, full sizes). Prints results; docs/benchmarks.md
# records a run. Usage: scripts/bench.sh [--smoke]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null

if [ "${1:-}" = "--smoke" ]; then
  # CI: every benchmark runs once so the harnesses cannot rot; no timing.
  # `cargo test` runs a Criterion bench once per benchmark, on the test
  # profile the build step already made (no optimised rebuild for nothing).
  # `--workspace`, not `-p`: the build step's feature set, so no dependency
  # is compiled again (with `-p` that took 5 of CI's 35 minutes).
  cargo test --workspace --bench protocol --locked
  CHROMEDRIVER=/usr/bin/chromedriver cargo test -p sesphr-client --target wasm32-unknown-unknown \
    --test wasm_bench --locked -- --nocapture | grep -E '^BENCH|test result'
  # The scaling tables' harness, tiny: 1 MiB section, up to 10 grants held.
  SESPHR_BENCH_SMOKE=1 scripts/bench-servers.sh growth-only target/debug
  exit 0
fi

# Measured code is shipped code: clippy-driver (scripts/test.sh compiles
# through it) turns MIR optimisations off.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(/usr/bin/chromium --version)"
echo "== native (Criterion)"
cargo bench -p sesphr-client --bench protocol --locked 2>&1 | grep -E '^(protocol|bulk)/|time:|thrpt:'
echo "== wasm in headless Chromium (release)"
SESPHR_BENCH_FULL=1 CHROMEDRIVER=/usr/bin/chromedriver cargo test -p sesphr-client --release \
  --target wasm32-unknown-unknown --test wasm_bench --locked -- --nocapture | grep -E '^BENCH'
echo "== proxy re-encryption in Chromium, side by side with umbral-pre 0.10"
scripts/build-wasm.sh >/dev/null
SESPHR_PRE_ITERS=50 node --test tests/js/pre.test.mjs 2>&1 | grep -E 'PRE \{'
echo "== bulk encryption in Chromium, side by side with raw WebCrypto (File -> Blob and back)"
cargo build -p sesphr-relay --bin sesphr-relay --locked 2>&1 | tail -1
SESPHR_BULK_SIZES=1,16,256 SESPHR_BULK_ITERS=3 node --test tests/js/bulk.test.mjs 2>&1 | grep -E 'BULK \{'
echo "== a one-line edit of a section next to a 300 MiB attachment (time, bytes stored)"
node tests/js/edit-bench.mjs "$PWD/pkg" 300
echo "== wasm size"
scripts/build-wasm.sh | tail -1

echo "== servers (release build, loopback)"
cargo build --release -p sesphr-relay --bin sesphr-relay --example loadgen --locked 2>&1 | tail -1
scripts/bench-servers.sh

echo "== the owner's audit check in Chromium: a listing of 1,000 reads (end to end, fetch, decode, wasm check)"
SESPHR_BIN="$PWD/target/release/sesphr-relay" SESPHR_AUDIT_ENTRIES=1000 SESPHR_AUDIT_RUNS=7 \
  node --test --test-name-pattern="check of a listing" tests/js/audit-browser.test.mjs 2>&1 | grep -E 'AUDIT \{'

#!/usr/bin/env bash
# Runs every test SeSPHR has. Installs what is missing first (scripts/setup.sh).
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# A full disk shows up later as a linker's bus error; say it plainly first.
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
printf '[test] %s GiB free on the build disk\n' "$((avail_kb / 1048576))"
if [ "$avail_kb" -lt 6291456 ]; then
  echo "[test] warning: less than 6 GiB free; a fresh build needs about that much (target/)" >&2
fi

# Lints ride on the build: clippy-driver compiles the workspace's own crates
# (dependencies stay plain rustc), so one build both compiles and lints them,
# instead of a second `cargo clippy` pass that checks every dependency again
# (9 minutes of a fresh machine's 34; the build takes about 3 more). Every cargo
# command below inherits the same two variables, so none of them rebuilds
# what another built. Set only after setup.sh (whose `cargo install` also
# runs without them): other projects are never linted. clippy-driver turns
# MIR optimisations off, so the shipped package and the measured benchmarks
# are built without it (scripts/build-wasm.sh, scripts/bench.sh).
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

step() { printf '\n==> %s (at %ss)\n' "$*" "$SECONDS"; }

# One private PostgreSQL server for the whole run (each test makes its own
# database on it: tests/support/src/pg.rs), stopped however the run ends.
pg_dir="$PWD/target/test-postgres"
scripts/postgres.sh stop "$pg_dir" 2>/dev/null || true
rm -rf "$pg_dir"
SESPHR_PG_URL=$(scripts/postgres.sh start "$pg_dir")
export SESPHR_PG_URL
weed_pid=
stop_services() {
  if [ -n "$weed_pid" ]; then
    kill "$weed_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$weed_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$weed_pid" 2>/dev/null || true
  fi
  scripts/postgres.sh stop "$pg_dir"
}
trap stop_services EXIT

step "format"
cargo fmt --all -- --check

# The browser build (wasm32) is linted the same way, when the wasm tests and
# the wasm benchmark build it below.
step "build and lint (native, all targets)"
cargo build --workspace --all-targets --locked

step "native tests (unit, property, known answers, tamper kit, coalitions, standards)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests
fi
cargo test --workspace --doc --locked

step "the end-to-end and hostile suites again, on a scaled deployment (two instances behind one origin on one SeaweedFS bucket and one PostgreSQL database)"
weed_dir="$PWD/target/test-seaweedfs"
rm -rf "$weed_dir"
eval "$(scripts/seaweedfs.sh start "$weed_dir")"
weed_pid=$SEAWEED_PID
# Selected by a filter over the workspace build above (`-p` would build the
# relay again with other features). Left out: the two link tests that count
# per-address rate limits, which are per process by design
# (docs/operations.md, "Rate limits are per process").
SESPHR_TEST_SCALED=1 SESPHR_TEST_S3="$AWS_ENDPOINT_URL $SEAWEED_BUCKET" \
  cargo nextest run --workspace --locked --no-fail-fast -E '
    package(sesphr-relay)
    & (binary(e2e) | binary(hostile) | binary(shl) | binary(mail) | binary(state) | binary(audit))
    & not (test(a_trusted_proxy_names_the_client_and_no_one_else_does)
           | test(one_address_flooding_a_link_does_not_lock_out_another))'

step "known-answer vectors against an independent Python implementation of docs/protocol.md"
target/python/bin/python tests/python/check_vectors.py client/tests/vectors/kat.json --spec docs/protocol.md | grep -v "^ok "

step "wasm tests in headless Chromium"
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test -p sesphr-client --target wasm32-unknown-unknown --test wasm --locked

step "JS: the npm package and the portal in headless Chromium, against the real servers"
scripts/build-wasm.sh
SESPHR_BIN="$PWD/target/debug/sesphr-relay" node --test --test-reporter=spec tests/js/*.test.mjs

step "JS: the portal's main flows again over a sharded deployment (3 relays, 2 of 3)"
SESPHR_TEST_SHARDED=1 SESPHR_BIN="$PWD/target/debug/sesphr-relay" \
  node --test --test-reporter=spec tests/js/portal.test.mjs

step "benchmark smoke run (every benchmark once, no timing)"
scripts/bench.sh --smoke

echo
echo "all tests passed in ${SECONDS}s"

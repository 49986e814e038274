#!/usr/bin/env bash
# Server benchmarks on loopback, release build (scripts/bench.sh builds it):
#  - the relay against Debian's nginx serving and accepting (WebDAV PUT) the
#    same 1 GiB file, both driven by curl, with peak RSS;
#  - SRS re-encryption throughput at saturation, and latency at 50% and 100%
#    of the saturated rate (open loop).
#  - growth: grant and revoke cost against section size and grants held,
#    and first-open latency against sections in the manifest.
# Usage: scripts/bench-servers.sh [MIB]   (default 1024)
#        scripts/bench-servers.sh growth-only BUILD_DIR   (CI smoke: tiny sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Starts a server on a fresh data directory; sets $url and $server_pid.
start_server() {
  local bin=$1 data=$2 port
  port=$(free_port)
  # --unlimited: the load generator is a handful of parties at saturation.
  "$bin" serve --listen "127.0.0.1:$port" --data-dir "$data" --max-blob-bytes $((4 << 30)) --unlimited --log warn >/dev/null &
  server_pid=$!
  url="http://127.0.0.1:$port"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
}
if [ "${1:-}" = "growth-only" ]; then
  dir=${2:-target/release}
  data=$(mktemp -d)
  start_server "$dir/sesphr-relay" "$data"
  trap 'kill $server_pid 2>/dev/null; rm -rf "$data"' EXIT
  "$dir/examples/loadgen" growth "$url" 1 10
  exit 0
fi
mib=${1:-1024}
relay=target/release/sesphr-relay
loadgen=target/release/examples/loadgen
if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then
  echo "installing nginx and curl from Debian (benchmark only)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx curl >/dev/null
fi
tmp=$(mktemp -d)
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  [ -n "${relay_pid:-}" ] && kill "$relay_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

mkdir -p "$tmp/www" "$tmp/body" "$tmp/up"
"$loadgen" make-blob "$tmp/www/blob" "$mib"
nport=$(free_port)
cat > "$tmp/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/body; fastcgi_temp_path $tmp/body; uwsgi_temp_path $tmp/body; scgi_temp_path $tmp/body;
  server {
    listen 127.0.0.1:$nport;
    root $tmp/www;
    location /up/ { root $tmp; dav_methods PUT; client_max_body_size 0; }
  }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp"
sleep 0.5
ngx_put=$(curl -s -T "$tmp/www/blob" -o /dev/null -w '%{speed_upload}' "http://127.0.0.1:$nport/up/blob")
sync
ngx_get=$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$nport/blob")
ngx_rss=0
for p in $(pgrep -f "nginx: worker process" || true); do ngx_rss=$((ngx_rss + $(peak_kib "$p" || echo 0))); done
kill "$(cat "$tmp/nginx.pid")"; rm -f "$tmp/nginx.pid"

start_server "$relay" "$tmp/data"
relay_pid=$server_pid
rport=${url##*:}
read -r id token < <("$loadgen" put-args "$url" "$tmp/www/blob")
rel_put=$(curl -s -T "$tmp/www/blob" -H "x-sesphr-token: $token" -o /dev/null -w '%{speed_upload}' "http://127.0.0.1:$rport/v1/blobs/$id")
sync
rel_get=$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$rport/v1/blobs/$id")
rel_rss=$(peak_kib "$relay_pid")
python3 - "$mib" "$ngx_put" "$ngx_get" "$ngx_rss" "$rel_put" "$rel_get" "$rel_rss" <<'PY'
import sys
mib, np, ng, nr, rp, rg, rr = sys.argv[1], *map(float, sys.argv[2:])
print(f"relay vs nginx, {mib} MiB file, curl on loopback:")
print(f"| | nginx | relay | relay / nginx |\n| --- | --- | --- | --- |")
print(f"| upload (PUT) | {np/1e6:.0f} MB/s | {rp/1e6:.0f} MB/s | {rp/np:.2f} |")
print(f"| download (GET) | {ng/1e6:.0f} MB/s | {rg/1e6:.0f} MB/s | {rg/ng:.2f} |")
print(f"| peak RSS | {nr/1024:.1f} MiB (workers) | {rr/1024:.1f} MiB | |")
PY

echo "SRS re-encryption through the relay (durable audit, group commit):"
for c in 1 32 128; do
  printf 'concurrency %s: ' "$c"; "$loadgen" reencrypt "http://127.0.0.1:$rport" 4000 "$c"
done
sat=$("$loadgen" reencrypt "http://127.0.0.1:$rport" 4000 64 | python3 -c 'import json,sys; print(json.load(sys.stdin)["req_per_s"])')
for share in 0.5 1.0; do
  rate=$(python3 -c "print(int($sat * $share))")
  printf 'open loop at %s%% of %s req/s: ' "$(python3 -c "print(int($share*100))")" "$sat"
  "$loadgen" reencrypt-rate "http://127.0.0.1:$rport" "$rate" 5
done

echo "growth (fresh server):"
kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true
start_server "$relay" "$tmp/growth"
relay_pid=$server_pid
"$loadgen" growth "$url" "$mib" 10000

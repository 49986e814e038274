#!/usr/bin/env bash
# SRS re-encryptions/s on SQLite vs PostgreSQL, with 1 and 2 SRS processes
# on PostgreSQL, in one run on this machine (release build: scripts/bench.sh
# builds it, or `cargo build --release -p sesphr-relay --examples --bins`).
# Requests go straight to the SRS route (`/srs/v1/reencrypt`); with two
# processes the clients alternate between them (same database, same seed).
# Usage: scripts/bench-srs-db.sh [N] [CONCURRENCY] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4000}
conc=${2:-64}
dir=${3:-target/release}
relay=$dir/sesphr-relay
loadgen=$dir/examples/loadgen
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bash scripts/postgres.sh stop "$tmp/pg" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# Starts `$relay CMD` over data directory $2 with extra flags; sets $url.
start() {
  local cmd=$1 data=$2 port
  shift 2
  port=$(free_port)
  "$relay" "$cmd" --listen "127.0.0.1:$port" --data-dir "$data" --unlimited --log warn "$@" >/dev/null &
  pids+=($!)
  url="http://127.0.0.1:$port"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}
pg=$(bash scripts/postgres.sh start "$tmp/pg")
psql "$pg" -q -c "CREATE DATABASE srsbench1" -c "CREATE DATABASE srsbench2"
pg1=${pg%/*}/srsbench1
pg2=${pg%/*}/srsbench2
export SESPHR_LOADGEN_SRS_DIRECT=1

echo "SRS re-encryption, $n requests, $conc concurrent clients, straight to /srs/v1/reencrypt:"
start serve "$tmp/sqlite"
printf 'sqlite, 1 SRS:      '; "$loadgen" reencrypt "$url" "$n" "$conc"
stop_all

start serve "$tmp/pg1" --srs-db "$pg1"
printf 'postgres, 1 SRS:    '; "$loadgen" reencrypt "$url" "$n" "$conc"
stop_all

start serve "$tmp/pg2a" --srs-db "$pg2"
first=$url
mkdir -p "$tmp/pg2b/srs"
install -m 600 "$tmp/pg2a/srs/identity.seed" "$tmp/pg2b/srs/identity.seed"
start srs "$tmp/pg2b" --srs-db "$pg2"
printf 'postgres, 2 SRS:    '; SESPHR_LOADGEN_SRS_ALSO="$url" "$loadgen" reencrypt "$first" "$n" "$conc"
stop_all

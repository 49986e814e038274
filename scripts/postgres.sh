#!/usr/bin/env bash
# A private PostgreSQL server on loopback for tests and benchmarks: Debian's
# PostgreSQL 15 (installed if missing), a new cluster in a directory of our
# own, never the system's cluster.
#
#   scripts/postgres.sh install              installs the server if missing
#   scripts/postgres.sh start DIR [PORT]     initdb DIR (first time) and start;
#                                            prints the connection URL
#   scripts/postgres.sh stop DIR             stops it (fast shutdown)
#   scripts/postgres.sh url DIR              prints the URL of a running one
#
# As root, the server runs as the `postgres` user (PostgreSQL refuses root).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

install() {
  if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
    return 0
  fi
  echo "[postgres] installing Debian's postgresql-15" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql-15 >&2
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1 port=${2:-}
  install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    # The server's user must reach its directory: let it through the
    # parents (search permission only, e.g. a 0700 temporary directory).
    local up=$dir
    while up=$(dirname "$up") && [ "$up" != / ]; do
      [ -x "$up" ] && runuser -u postgres -- test -x "$up" 2>/dev/null || chmod o+x "$up"
    done
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$PG_BIN/initdb" -D "$dir" -U sesphr --auth=trust -E UTF8 --no-instructions >/dev/null
  fi
  if [ -z "$port" ]; then port=$(free_port); fi
  # Loopback only, socket in the cluster's own directory; enough connections
  # for several server processes with their pools.
  as_owner "$PG_BIN/pg_ctl" -D "$dir" -w -t 30 -l "$dir/server.log" \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200" \
    start >/dev/null
  echo "$port" >"$dir/port"
  url "$dir"
}

url() {
  local dir=$1
  echo "postgres://sesphr@127.0.0.1:$(cat "$dir/port")/postgres"
}

stop() {
  local dir=$1
  if [ -f "$dir/postmaster.pid" ]; then
    as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  url) url "$@" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR | url DIR" >&2; exit 2 ;;
esac

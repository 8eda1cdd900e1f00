#!/usr/bin/env bash
# harden — a throw-away PostgreSQL from Debian's packages, in a directory of its own, on a loopback port.
#   scripts/pg-scratch.sh start DIR PORT   → prints the postgres:// URL (database "harden", trust auth on loopback)
#   scripts/pg-scratch.sh stop DIR
# PG_SCRATCH_OPTIONS adds server settings (e.g. "-c fsync=off" for tests that never crash the server).
# Runs the server as the `postgres` user when started as root (PostgreSQL refuses to run as root).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "pg-scratch: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_SCRATCH_OPTIONS:-}" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'harden'" postgres | grep -q 1 \
        || as "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE harden" postgres
    echo "postgres://postgres@127.0.0.1:$port/harden?sslmode=disable"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] && as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
*) echo "pg-scratch: start DIR PORT | stop DIR" >&2; exit 2 ;;
esac

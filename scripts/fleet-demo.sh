#!/usr/bin/env bash
# harden — a local fleet to try: PostgreSQL from Debian's packages in a scratch directory, `harden serve` and two
# `harden worker`s, with tokens written to DIR/tokens. Ctrl-C stops everything and keeps DIR (rerun to resume).
#   scripts/fleet-demo.sh [DIR] [PORT]     (default .fleet-demo, 8080; the database on PORT+1)
# Its workers accept local image paths anywhere (--allow-local-images /): this machine's files are yours here.
# Then, in another shell (the script prints these with the real token):
#   export HARDEN_SERVER=http://127.0.0.1:8080 HARDEN_TOKEN=…
#   harden fleet submit docker://docker.io/library/debian:bookworm --wait
#   harden fleet affected CVE-2023-4911;  open http://127.0.0.1:8080/?token=…
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(mkdir -p "${1:-.fleet-demo}" && cd "${1:-.fleet-demo}" && pwd)
PORT=${2:-8080}
BIN=${HARDEN:-$(command -v harden || echo "$(swift build -c release --show-bin-path)/harden")}
[ -x "$BIN" ] || { echo "fleet-demo: build harden first (scripts/setup.sh)" >&2; exit 1; }
chmod 755 "$DIR"
URL=$(scripts/pg-scratch.sh start "$DIR/pg" $((PORT + 1)))
if [ ! -f "$DIR/tokens" ]; then
    umask 077
    { echo "admin $(openssl rand -hex 24) demo-admin"; echo "read $(openssl rand -hex 24) demo-viewer"; } > "$DIR/tokens"
fi
ADMIN=$(awk '$1 == "admin" { print $2; exit }' "$DIR/tokens")
DB="$DIR/vulnerabilities.sqlite"
if [ ! -f "$DB" ]; then
    echo "fleet-demo: downloading the vulnerability feeds (harden db update; once)" >&2
    "$BIN" db update --db "$DB" || echo "fleet-demo: feed update failed; the server waits for $DB" >&2
fi
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; scripts/pg-scratch.sh stop "$DIR/pg"; }
trap stop EXIT INT TERM
"$BIN" serve --database "$URL" --db "$DB" --listen "127.0.0.1:$PORT" --token-file "$DIR/tokens" --update-interval 6h \
    --log-level info > "$DIR/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
for w in 1 2; do
    "$BIN" worker --database "$URL" --server "http://127.0.0.1:$PORT" --token "$ADMIN" --cache "$DIR/worker-$w" \
        --allow-local-images / --log-level info > "$DIR/worker-$w.log" 2>&1 &
    pids+=($!)
done
cat <<MSG
fleet-demo: PostgreSQL $URL, server http://127.0.0.1:$PORT, 2 workers (logs in $DIR)
  export HARDEN_SERVER=http://127.0.0.1:$PORT HARDEN_TOKEN=$ADMIN
  $BIN fleet submit docker://docker.io/library/debian:bookworm --wait
  $BIN fleet images;  $BIN fleet affected CVE-2023-4911
  dashboard: http://127.0.0.1:$PORT/?token=$ADMIN
Ctrl-C stops it.
MSG
wait "${pids[0]}"

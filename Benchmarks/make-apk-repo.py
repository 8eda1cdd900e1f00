#!/usr/bin/env python3
"""harden benchmark fixture: a hermetic apk repository (signed APKINDEX, signed v2 packages with each file's
embedded SHA-1, as abuild writes them) and an Alpine-like OCI image with its packages installed.

Usage: make-apk-repo.py DIR PACKAGES UPGRADED FILES KIB
  DIR/www/main/x86_64/   the repository (every package at -r0, the first UPGRADED also at -r1)
  DIR/image/             an OCI layout, tag "t", one layer: the -r0 packages installed, apk's database, keys
  DIR/repositories       the image's /etc/apk/repositories (a host the benchmark replaces with --repo)
"""
import base64, gzip, hashlib, io, json, os, subprocess, sys, tarfile

out, npkg, nup, nfiles, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
KEYNAME = "bench.rsa.pub"
MTIME = 1_700_000_000


def gz(b):
    return gzip.compress(b, compresslevel=6, mtime=0)


def segment(members):
    """A tar segment: the members without the end-of-archive blocks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    b = buf.getvalue()
    while len(b) >= 512 and b[-512:] == b"\0" * 512:
        b = b[:-512]
    return b


def sign(data, key):
    return subprocess.run(["openssl", "dgst", "-sha1", "-sign", key], input=data, capture_output=True, check=True).stdout


def info(name, size, mode=0o644, kind=tarfile.REGTYPE, pax=None):
    i = tarfile.TarInfo(name)
    i.size, i.mode, i.type, i.mtime, i.uname, i.gname = size, mode, kind, MTIME, "root", "root"
    if pax:
        i.pax_headers = pax
    return i


def content(name, version, k):
    # Half random (incompressible), half text: ~2:1 under gzip like typical binaries.
    seed = hashlib.sha256(f"{name}-{version}-{k}".encode()).digest()
    rnd = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(kib * 16))
    return rnd[: kib * 512] + (f"{name} {version} file {k}\n".encode() * (kib * 32))[: kib * 512]


def package(name, version, key):
    files = {f"usr/lib/{name}/f{k}.so": content(name, version, k) for k in range(nfiles)}
    dirs = ["usr", "usr/lib", f"usr/lib/{name}"]
    data = [(info(d, 0, 0o755, tarfile.DIRTYPE), None) for d in dirs]
    for p, b in files.items():
        data.append((info(p, len(b), pax={"APK-TOOLS.checksum.SHA1": hashlib.sha1(b).hexdigest()}), b))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for i, b in data:
            t.addfile(i, io.BytesIO(b) if b is not None else None)
    data_gz = gz(buf.getvalue())
    size = sum(len(b) for b in files.values())
    pkginfo = (f"pkgname = {name}\npkgver = {version}\npkgdesc = bench\nurl = https://harden.dev\n"
               f"builddate = {MTIME}\nsize = {size}\narch = x86_64\norigin = {name}\nlicense = MIT\n"
               f"datahash = {hashlib.sha256(data_gz).hexdigest()}\n").encode()
    control_gz = gz(segment([(info(".PKGINFO", len(pkginfo)), pkginfo)]))
    sig = sign(control_gz, key)
    sig_gz = gz(segment([(info(f".SIGN.RSA.{KEYNAME}", len(sig)), sig)]))
    apk = sig_gz + control_gz + data_gz
    csum = "Q1" + base64.b64encode(hashlib.sha1(control_gz).digest()).decode()
    index = (f"C:{csum}\nP:{name}\nV:{version}\nA:x86_64\nS:{len(apk)}\nI:{size}\nT:bench\nU:https://harden.dev\n"
             f"L:MIT\no:{name}\nm:bench\nt:{MTIME}\n")
    installed = index + "".join(
        f"F:{d}\n" + "".join(f"R:{p.rsplit('/', 1)[1]}\nZ:Q1{base64.b64encode(hashlib.sha1(b).digest()).decode()}\n"
                             for p, b in files.items() if p.rsplit("/", 1)[0] == d) for d in dirs)
    return apk, index, installed, files, dirs


def blob(layout, b):
    d = hashlib.sha256(b).hexdigest()
    with open(f"{layout}/blobs/sha256/{d}", "wb") as f:
        f.write(b)
    return {"digest": f"sha256:{d}", "size": len(b)}


def main():
    os.makedirs(f"{out}/www/main/x86_64", exist_ok=True)
    key = f"{out}/bench.rsa"
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], capture_output=True, check=True)
    pub = subprocess.run(["openssl", "rsa", "-in", key, "-pubout"], capture_output=True, check=True).stdout
    index, installed, rootfs = [], [], []
    for n in range(npkg):
        name = f"pkg{n:04d}"
        versions = ["1.0-r0"] + (["1.0-r1"] if n < nup else [])
        for v in versions:
            apk, rec, inst, files, dirs = package(name, v, key)
            with open(f"{out}/www/main/x86_64/{name}-{v}.apk", "wb") as f:
                f.write(apk)
            index.append(rec)
            if v == "1.0-r0":
                installed.append(inst)
                rootfs += [(info(d, 0, 0o755, tarfile.DIRTYPE), None) for d in dirs] + [
                    (info(p, len(b)), b) for p, b in files.items()]
    stream = gz(segment([(info("DESCRIPTION", 5), b"bench"), (info("APKINDEX", len("\n".join(index).encode()) + 1),
                                                                 ("\n".join(index) + "\n").encode())]) + b"\0" * 1024)
    sig = sign(stream, key)
    with open(f"{out}/www/main/x86_64/APKINDEX.tar.gz", "wb") as f:
        f.write(gz(segment([(info(f".SIGN.RSA.{KEYNAME}", len(sig)), sig)])) + stream)
    db = "\n".join(installed).encode() + b"\n"
    world = ("\n".join(f"pkg{n:04d}" for n in range(npkg)) + "\n").encode()
    osr = b"ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n"
    repos = b"http://apk-mirror.invalid/main\n"  # the benchmark passes --repo http://127.0.0.1:PORT
    extra = [("etc/os-release", osr), ("etc/apk/world", world), (f"etc/apk/keys/{KEYNAME}", pub),
             ("etc/apk/repositories", repos), ("etc/apk/arch", b"x86_64\n"), ("lib/apk/db/installed", db),
             ("lib/apk/db/triggers", b"")]
    with open(f"{out}/repositories", "wb") as f:
        f.write(repos)
    seen = set()
    members = []
    for d in ["etc", "etc/apk", "etc/apk/keys", "lib", "lib/apk", "lib/apk/db"]:
        members.append((info(d, 0, 0o755, tarfile.DIRTYPE), None))
    for i, b in rootfs:
        if i.name not in seen:
            seen.add(i.name)
            members.append((i, b))
    members += [(info(p, len(b)), b) for p, b in extra]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for i, b in members:
            t.addfile(i, io.BytesIO(b) if b is not None else None)
    layer = buf.getvalue()
    layout = f"{out}/image"
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)
    layer_d = blob(layout, gz(layer))
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}}
    config_d = blob(layout, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_d},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_d}]}
    m = blob(layout, json.dumps(manifest).encode())
    with open(f"{layout}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
                                                      "annotations": {"org.opencontainers.image.ref.name": "t"}}]}, f)
    with open(f"{layout}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


main()

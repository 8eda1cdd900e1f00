#!/usr/bin/env python3
"""A hermetic Maven repository, a Java app using it three ways and an OSV feed for the Maven library-patch tests.

Usage: make-maven-fixture.py DIR [hostile]
  DIR/repo/...            the repository (Maven Central's layout), served at the test's URL
  DIR/app/                app.jar (Class-Path: lib/...), lib/*.jar, boot.jar (Spring Boot layout: BOOT-INF/lib nested
                          jars, stored, BOOT-INF/classpath.idx, a launcher that refuses deflated nested jars),
                          site.war (WEB-INF/lib, deflated), extra/hx-bundle-1.0.0.jar (hx-shade shaded into it)
  DIR/osv-maven-all.zip   the advisories
hostile: `checksum` publishes a wrong .sha1 for hx-text 1.0.1; `identity` serves hx-text 1.0.1 with the
pom.properties of 1.0.0; `overlap` serves hx-text 1.0.1 (checksums matching) with two entries over the same bytes.

Artifacts (group dev.harden.fixture; each jar carries pom.properties, pom.xml and its version as a resource):
  hx-text 1.0.0 1.0.1 1.1.0 2.0.0 2.1.0-RC1       HXSA-J1: < 1.0.1   (.sha1 only for 1.0.1, .sha256 for the others)
  hx-needy 1.0.0 1.1.0 (1.1.0 -> hx-missing)      HXSA-J2: < 1.1.0   (its fix needs an absent artifact: refused)
  hx-shade 1.0.0 2.0.0 (shaded into hx-bundle)    HXSA-J3: < 2.0.0   (shaded: refused)
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

GROUP = "dev.harden.fixture"
VERSIONS = {
    "hx-text": {"1.0.0": [], "1.0.1": [], "1.1.0": [], "2.0.0": [], "2.1.0-RC1": []},
    "hx-needy": {"1.0.0": [], "1.1.0": ["hx-missing"]},
    "hx-shade": {"1.0.0": [], "2.0.0": []},
    "hx-bundle": {"1.0.0": []},
}

TEXT = """package dev.harden.fixture;
public final class Text {
    public static String describe(String artifact) throws java.io.IOException {
        try (java.io.InputStream in = Text.class.getResourceAsStream("/dev/harden/fixture/" + artifact + ".version")) {
            return artifact + " " + new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        }
    }
}
"""
APP = """public final class App {
    public static void main(String[] args) throws Exception {
        System.out.println(dev.harden.fixture.Text.describe("hx-text"));
    }
}
"""
# A launcher in the manner of Spring Boot's: the app's classes and the nested jars of its own archive, in the order
# of BOOT-INF/classpath.idx; a nested jar that is not stored, or that the index names but the archive lacks, fails.
LAUNCHER = """import java.io.*;
import java.net.*;
import java.nio.file.*;
import java.util.*;
import java.util.zip.*;
public final class BootLauncher {
    public static void main(String[] args) throws Exception {
        File self = new File(BootLauncher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path tmp = Files.createTempDirectory("boot");
        List<URL> urls = new ArrayList<>();
        urls.add(new URL("jar:" + self.toURI() + "!/BOOT-INF/classes/"));
        try (ZipFile zip = new ZipFile(self)) {
            String idx = new String(zip.getInputStream(zip.getEntry("BOOT-INF/classpath.idx")).readAllBytes(), "UTF-8");
            for (String line : idx.split("\\n")) {
                if (line.isBlank()) continue;
                String name = line.substring(line.indexOf('"') + 1, line.lastIndexOf('"'));
                ZipEntry e = zip.getEntry(name);
                if (e == null) throw new IllegalStateException("classpath.idx names a missing " + name);
                if (e.getMethod() != ZipEntry.STORED) throw new IllegalStateException(name + " is not stored");
                Path out = tmp.resolve(name.substring(name.lastIndexOf('/') + 1));
                try (InputStream in = zip.getInputStream(e)) { Files.copy(in, out); }
                urls.add(out.toUri().toURL());
            }
        }
        ClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), BootLauncher.class.getClassLoader().getParent());
        loader.loadClass("App").getMethod("main", String[].class).invoke(null, (Object) args);
    }
}
"""


def compile_classes(work):
    src, out = f"{work}/src", f"{work}/classes"
    os.makedirs(f"{src}/dev/harden/fixture", exist_ok=True)
    for path, text in [("dev/harden/fixture/Text.java", TEXT), ("App.java", APP), ("BootLauncher.java", LAUNCHER)]:
        with open(f"{src}/{path}", "w") as f:
            f.write(text)
    subprocess.run(["javac", "--release", "17", "-d", out, f"{src}/dev/harden/fixture/Text.java", f"{src}/App.java",
                    f"{src}/BootLauncher.java"], check=True)
    return {name: open(f"{out}/{name}", "rb").read()
            for name in ["dev/harden/fixture/Text.class", "App.class", "BootLauncher.class"]}


def zipped(files, stored=()):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(1985, 10, 26, 1, 21, 0))
            info.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return out.getvalue()


def pom(artifact, version, deps):
    dx = "".join(f"<dependency><groupId>${{project.groupId}}</groupId><artifactId>{d}</artifactId>"
                 f"<version>1.0.0</version></dependency>" for d in deps)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">'
            f"<modelVersion>4.0.0</modelVersion><groupId>{GROUP}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version><dependencies>{dx}"
            f"<dependency><groupId>junit</groupId><artifactId>junit</artifactId><scope>test</scope></dependency>"
            f"</dependencies></project>\n").encode()


def props(artifact, version):
    return f"#Generated by Maven\ngroupId={GROUP}\nartifactId={artifact}\nversion={version}\n".encode()


def library(artifact, version, classes, identity=None):
    meta = f"META-INF/maven/{GROUP}/{artifact}"
    files = [("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n"),
             (f"{meta}/pom.properties", props(artifact, identity or version)),
             (f"{meta}/pom.xml", pom(artifact, version, VERSIONS[artifact][version])),
             (f"dev/harden/fixture/{artifact}.version", version.encode() + b"\n")]
    if artifact == "hx-text":
        files.append(("dev/harden/fixture/Text.class", classes["dev/harden/fixture/Text.class"]))
    if artifact == "hx-bundle":
        files.append((f"META-INF/maven/{GROUP}/hx-shade/pom.properties", props("hx-shade", "1.0.0")))
    return zipped(files)


def overlapping(data):
    """The jar with one more central-directory entry pointing at the first entry's local header (a zip bomb's trick)."""
    eocd = data.rindex(b"PK\x05\x06")
    count = int.from_bytes(data[eocd + 10:eocd + 12], "little")
    cd_size = int.from_bytes(data[eocd + 12:eocd + 16], "little")
    cd_at = int.from_bytes(data[eocd + 16:eocd + 20], "little")
    first = data[cd_at:cd_at + 46 + int.from_bytes(data[cd_at + 28:cd_at + 30], "little")]
    extra = first[:42] + (0).to_bytes(4, "little") + first[46:]
    out = data[:cd_at + cd_size] + extra + data[eocd:eocd + 8]
    out += (count + 1).to_bytes(2, "little") * 2 + (cd_size + len(extra)).to_bytes(4, "little")
    return out + cd_at.to_bytes(4, "little") + data[eocd + 20:]


def publish(repo, artifact, version, data, hostile):
    if hostile == "overlap" and (artifact, version) == ("hx-text", "1.0.1"):
        data = overlapping(data)
    d = f"{repo}/{GROUP.replace('.', '/')}/{artifact}/{version}"
    os.makedirs(d, exist_ok=True)
    base = f"{d}/{artifact}-{version}"
    for ext, body in [("jar", data), ("pom", pom(artifact, version, VERSIONS[artifact][version]))]:
        with open(f"{base}.{ext}", "wb") as f:
            f.write(body)
        if artifact == "hx-text" and version == "1.0.1":
            digest = hashlib.sha1(body).hexdigest()
            if hostile == "checksum" and ext == "jar":
                digest = "0" * 40
            with open(f"{base}.{ext}.sha1", "w") as f:
                f.write(f"{digest}  {artifact}-{version}.{ext}\n")
        else:
            with open(f"{base}.{ext}.sha256", "w") as f:
                f.write(hashlib.sha256(body).hexdigest())


def main(work, hostile):
    classes = compile_classes(tempfile.mkdtemp(dir=work))
    repo, app = f"{work}/repo", f"{work}/app"
    jars = {}
    for artifact, versions in VERSIONS.items():
        for version in versions:
            identity = "1.0.0" if hostile == "identity" and (artifact, version) == ("hx-text", "1.0.1") else None
            jars[artifact, version] = library(artifact, version, classes)
            publish(repo, artifact, version, library(artifact, version, classes, identity), hostile)
        with open(f"{repo}/{GROUP.replace('.', '/')}/{artifact}/maven-metadata.xml", "w") as f:
            vs = "".join(f"<version>{v}</version>" for v in versions)
            f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata><groupId>{GROUP}</groupId>'
                    f"<artifactId>{artifact}</artifactId><versioning><latest>{list(versions)[-1]}</latest>"
                    f"<versions>{vs}</versions><lastUpdated>20260101000000</lastUpdated></versioning></metadata>\n")
    for d in ["lib", "extra"]:
        os.makedirs(f"{app}/{d}", exist_ok=True)
    for artifact in ["hx-text", "hx-needy"]:
        with open(f"{app}/lib/{artifact}-1.0.0.jar", "wb") as f:
            f.write(jars[artifact, "1.0.0"])
    with open(f"{app}/extra/hx-bundle-1.0.0.jar", "wb") as f:
        f.write(jars["hx-bundle", "1.0.0"])
    manifest = (b"Manifest-Version: 1.0\r\nMain-Class: App\r\n"
                b"Class-Path: lib/hx-text-1.0.0.jar lib/hx-needy-1.0.0.jar\r\n\r\n")
    with open(f"{app}/app.jar", "wb") as f:
        f.write(zipped([("META-INF/MANIFEST.MF", manifest), ("App.class", classes["App.class"])]))
    nested = "BOOT-INF/lib/hx-text-1.0.0.jar"
    boot = [("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: BootLauncher\r\nStart-Class: App\r\n\r\n"),
            ("BootLauncher.class", classes["BootLauncher.class"]),
            ("BOOT-INF/classes/App.class", classes["App.class"]),
            ("BOOT-INF/classpath.idx", f'- "{nested}"\n'.encode()),
            (nested, jars["hx-text", "1.0.0"])]
    with open(f"{app}/boot.jar", "wb") as f:
        f.write(zipped(boot, stored={nested}))
    with open(f"{app}/site.war", "wb") as f:
        f.write(zipped([("WEB-INF/web.xml", b"<web-app/>\n"), ("WEB-INF/lib/hx-text-1.0.0.jar", jars["hx-text", "1.0.0"])]))

    advisories = [("HXSA-J1", "hx-text", "1.0.1"), ("HXSA-J2", "hx-needy", "1.1.0"), ("HXSA-J3", "hx-shade", "2.0.0")]
    with zipfile.ZipFile(f"{work}/osv-maven-all.zip", "w") as z:
        for vid, artifact, fixed in advisories:
            z.writestr(f"{vid}.json", json.dumps({
                "id": vid, "modified": "2026-01-01T00:00:00Z", "summary": f"{artifact} mishandles input",
                "affected": [{"package": {"ecosystem": "Maven", "name": f"{GROUP}:{artifact}"},
                              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
                "database_specific": {"severity": "HIGH"},
            }))


main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")

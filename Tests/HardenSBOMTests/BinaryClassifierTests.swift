// harden — runtimes found by their binaries' own version strings: each classifier on a file built here, anchors
// across read-buffer boundaries, packages merged across files, files a package database owns never reported twice.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenTestSupport
import Testing

/// An ELF-looking file with `strings` (NUL-separated, as a compiler lays out string literals) after `padding` bytes.
func elf(_ strings: [String], padding: Int = 4096) -> [UInt8] {
    var b: [UInt8] = [0x7f] + Array("ELF".utf8) + [UInt8](repeating: 0, count: padding)
    b += [0] + Array(strings.joined(separator: "\0").utf8) + [0]
    return b + [UInt8](repeating: 0, count: 2048)
}

private func file(_ path: String, _ body: [UInt8], mode: UInt32 = 0o755) -> FixtureEntry {
    var e = TarEntry(path: RawPath(path), type: .regular, mode: mode)
    e.mtime = 1
    return FixtureEntry(entry: e, body: body)
}

@Suite struct BinaryClassifierTests {
    static let cases: [(path: String, body: [UInt8], name: String, version: String)] = [
        ("usr/local/bin/python3.12", elf(["pymalloc_debug", "3.12.1", "strict"]), "python", "3.12.1"),
        ("usr/local/lib/libpython3.11.so.1.0", elf(["%s: '%s'", "3.11.4", "%.80s (%.80s) %.80s"]), "python", "3.11.4"),
        ("opt/node/bin/node", elf(["/json", "node.js/v20.10.0", "(delegate"]), "node", "20.10.0"),
        (
            "opt/java/bin/java", elf(["openjdk", "java", "0.0", "17.0.9+9-Debian-1deb12u1", "-J-ms8m"]), "openjdk",
            "17.0.9"
        ),
        ("usr/local/nginx/sbin/nginx", elf(["nginx version: nginx/1.25.3\n", "nginx/1.25.3"]), "nginx", "1.25.3"),
        (
            "usr/local/bin/redis-server", elf(["everything", "7.2.4", "c11-builtin", "jemalloc-5.3.0"]), "redis",
            "7.2.4"
        ),
        ("usr/local/pgsql/bin/postgres", elf(["postgres (PostgreSQL) 16.1"]), "postgresql", "16.1"),
        ("usr/local/apache2/bin/httpd", elf(["Apache/2.4.58", " Server at "]), "httpd", "2.4.58"),
        ("usr/local/bin/php", elf(["X-Powered-By: PHP/8.3.0", "ZEND_MM"]), "php", "8.3.0"),
        (
            "usr/local/lib/libruby.so.3.2.2", elf(["ruby 3.2.2 (2023-03-30 revision e51014f9c0) [x86_64-linux]"]),
            "ruby", "3.2.2"
        ),
        ("usr/local/lib/libcrypto.so.1.1", elf(["OpenSSL 1.1.1w  11 Sep 2023"]), "openssl", "1.1.1w"),
        ("bin/busybox", elf(["BusyBox v1.36.1 (2023-11-07 10:00:00 UTC)"]), "busybox", "1.36.1"),
        ("usr/local/bin/curl", elf(["application/json", "curl/8.5.0"]), "curl", "8.5.0"),
        ("usr/local/lib/libcurl.so.4.8.0", elf(["libcurl/8.5.0", "zlib/%s"]), "curl", "8.5.0"),
    ]

    @Test(arguments: cases.indices)
    func eachRuntimeByItsOwnVersionString(index: Int) throws {
        let c = Self.cases[index]
        let sbom = try catalog([[file(c.path, c.body)]])
        let p = try #require(sbom.packages.first { $0.type == .binary }, "\(c.path)")
        #expect(p.name == c.name && p.version == c.version)
        #expect(p.purl == "pkg:generic/\(c.name)@\(c.version)")
        #expect(p.files == ["/" + c.path] && p.locations == ["/" + c.path])
        #expect(
            p.cpes?.isEmpty == false
                && p.cpes?.allSatisfy { $0.hasPrefix("cpe:2.3:a:") && $0.contains(":\(c.version):") } == true)
    }

    @Test func nearMissesAreNotRuntimes() throws {
        let sbom = try catalog([
            [
                file("usr/bin/python3.11", elf(["3.11", "python3.11.4 is great"])),  // no NUL-delimited full version
                // Not ELF.
                file("usr/bin/node", Array("#!/bin/sh\nnode.js/v1.2.3\n".utf8) + [UInt8](repeating: 0, count: 2000)),
                file("usr/bin/nginx-debug", elf(["nginx/1.2.3"])),  // not a classified name
                file("usr/lib/libssl.so.3", elf(["OpenSSL 3.0"])),  // no full version
                file("usr/bin/ruby", elf(["ruby 3.2.2 is nice"])),  // not RUBY_DESCRIPTION
            ]
        ])
        #expect(sbom.packages.filter { $0.type == .binary }.isEmpty, "\(sbom.packages.map(\.id))")
    }

    /// The read buffer is 1 MiB: anchors that straddle it, and windows that end past it, are still found.
    @Test(arguments: [-40, -9, -5, -1, 0, 3, 100])
    func anchorsAcrossTheReadBuffer(offset: Int) throws {
        let at = (1 << 20) + offset
        var body: [UInt8] = [0x7f] + Array("ELF".utf8)
        body += [UInt8](repeating: 0x41, count: at - body.count - 1) + [0]
        body += Array("node.js/v21.6.2".utf8) + [0] + [UInt8](repeating: 0, count: 10)
        let sbom = try catalog([[file("usr/local/bin/node", body)]])
        #expect(sbom.packages.first { $0.type == .binary }?.version == "21.6.2")
    }

    @Test func oneRuntimeInSeveralFilesIsOnePackageAndAJDKReleaseFile() throws {
        let sbom = try catalog([
            [
                file("usr/local/bin/python3.12", elf(["3.12.1"])),
                file("usr/local/lib/libpython3.12.so.1.0", elf(["3.12.1"])),
                file(
                    "opt/java/openjdk/release",
                    Array("IMPLEMENTOR=\"Eclipse Adoptium\"\nJAVA_VERSION=\"21.0.1\"\n".utf8), mode: 0o644),
                file("opt/java/openjdk/lib/libjava.so", elf([])),
                file("srv/notes/release", Array("JAVA_VERSION=\"1.0\"\n".utf8), mode: 0o644),  // no JDK beside it
            ]
        ])
        let binaries = sbom.packages.filter { $0.type == .binary }
        #expect(binaries.map { "\($0.name)@\($0.version)" } == ["openjdk@21.0.1", "python@3.12.1"])
        #expect(binaries.last?.files == ["/usr/local/bin/python3.12", "/usr/local/lib/libpython3.12.so.1.0"])
    }

    @Test func filesAPackageDatabaseOwnsAreNotReportedAgain() throws {
        let status = """
            Package: nginx
            Status: install ok installed
            Architecture: amd64
            Version: 1.22.1-9

            """
        let sbom = try catalog([
            [
                osRelease, .file("var/lib/dpkg/status", status),
                .file("var/lib/dpkg/info/nginx.list", "/usr/sbin/nginx\n"),
                file("usr/sbin/nginx", elf(["nginx/1.22.1"])),
                file("usr/local/sbin/nginx", elf(["nginx/1.25.3"])),  // a second nginx built from source: reported
            ]
        ])
        let binaries = sbom.packages.filter { $0.type == .binary }
        #expect(binaries.map(\.id) == ["binary:nginx@1.25.3"] && binaries.first?.files == ["/usr/local/sbin/nginx"])
        #expect(sbom.packages.contains { $0.type == .deb && $0.name == "nginx" })
    }

    @Test func theGoToolchain() throws {
        let info = "path\tcmd/go\nbuild\t-compiler=gc\n"
        var e = TarEntry(path: "usr/local/go/bin/go", type: .regular, mode: 0o755)
        e.mtime = 1
        let sbom = try catalog([
            [FixtureEntry(entry: e, body: LanguageCatalogerTests.goBinary(modinfo: info, goVersion: "go1.21.5"))]
        ])
        let go = try #require(sbom.packages.first { $0.type == .binary })
        #expect(go.name == "go" && go.version == "1.21.5" && go.cpes == ["cpe:2.3:a:golang:go:1.21.5:*:*:*:*:*:*:*"])
        #expect(sbom.packages.contains { $0.name == "stdlib" && $0.purl == "pkg:golang/stdlib@1.21.5" })
    }

    @Test func evidenceNeverCrashesOnDamagedCaptures() {
        var rng = SeededGenerator(for: "evidenceNeverCrashes")
        for _ in 0..<500 {
            var b = Array("HDNEVID1".utf8)
            b += (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = BinaryEvidence.capture(b)
        }
        #expect(
            CPE.split("cpe:2.3:a:nodejs:node.js:18.0.0\\:rc:*:*") == [
                "cpe", "2.3", "a", "nodejs", "node.js", "18.0.0:rc", "*", "*",
            ])
        #expect(CPE.escape("17.0.8+7") == "17.0.8\\+7")
    }
}

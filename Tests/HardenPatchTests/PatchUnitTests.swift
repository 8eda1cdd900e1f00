// harden — the patch stage's pure parts: APT sources, deb822, relations, the index, the resolver, .deb reading.
import Foundation
import HardenArchive
import HardenCore
import HardenDpkg
import HardenOCI
import HardenPackages
import HardenPatch
import HardenSystem
import HardenTestSupport
import Testing

@Suite struct AptSourcesTests {
    @Test func deb822AndOneLineSourcesParse() throws {
        let deb822 = """
            # the main archive
            Types: deb deb-src
            URIs: http://deb.debian.org/debian
            Suites: bookworm bookworm-updates
            Components: main contrib
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

            Types: deb-src
            URIs: http://deb.debian.org/debian
            Suites: bookworm
            Components: main

            Types: deb
            URIs: http://example.org/off
            Suites: x
            Components: main
            Enabled: no
            """
        let s = try AptSources.parseDeb822(Array(deb822.utf8), file: "/etc/apt/sources.list.d/debian.sources")
        #expect(
            s.map(\.description) == [
                "http://deb.debian.org/debian bookworm main contrib",
                "http://deb.debian.org/debian bookworm-updates main contrib",
            ])
        #expect(s.allSatisfy { $0.signedBy == "/usr/share/keyrings/debian-archive-keyring.gpg" })
        let lines = """
            deb http://deb.debian.org/debian bookworm main
            deb-src http://deb.debian.org/debian bookworm main
            # deb http://commented.example/ x main
            deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] https://repo.example/apt/ stable main extra # trailing
            """
        let l = AptSources.parseOneLine(Array(lines.utf8), file: "/etc/apt/sources.list")
        #expect(
            l.map(\.description) == [
                "http://deb.debian.org/debian bookworm main", "https://repo.example/apt stable main extra",
            ])
        #expect(l[1].signedBy == "/etc/apt/keyrings/x.gpg")
    }

    @Test func securityAndUpdatesAreAddedWhenMissing() throws {
        let release = AptSource(
            uri: "http://deb.debian.org/debian", suite: "bookworm", components: ["main"],
            origin: "/etc/apt/sources.list")
        let (s, notes) = try AptSources.complete(
            [release], osRelease: ["ID": "debian", "VERSION_CODENAME": "bookworm"], mirror: nil)
        #expect(
            s.map(\.description) == [
                "http://deb.debian.org/debian bookworm main",
                "http://deb.debian.org/debian-security bookworm-security main",
                "http://deb.debian.org/debian bookworm-updates main",
            ])
        #expect(notes.count == 2)
        // Ubuntu's security pocket lives on security.ubuntu.com.
        let ubuntu = AptSource(
            uri: "http://archive.ubuntu.com/ubuntu", suite: "noble", components: ["main", "universe"], origin: "x")
        let (u, _) = try AptSources.complete(
            [ubuntu], osRelease: ["ID": "ubuntu", "VERSION_CODENAME": "noble"], mirror: nil)
        #expect(u.contains { $0.description == "http://security.ubuntu.com/ubuntu noble-security main universe" })
        // Distroless: no sources at all; the standard mirrors; --repo replaces every host and keeps paths.
        let (d, dn) = try AptSources.complete(
            [], osRelease: ["ID": "debian", "VERSION_CODENAME": "bookworm"], mirror: "http://mirror.local:8080/")
        #expect(
            d.map(\.description) == [
                "http://mirror.local:8080/debian bookworm main",
                "http://mirror.local:8080/debian-security bookworm-security main",
                "http://mirror.local:8080/debian bookworm-updates main",
            ])
        #expect(dn.contains { $0.contains("no APT sources") })
        #expect(throws: HardenError.self) { _ = try AptSources.complete([], osRelease: ["ID": "alpine"], mirror: nil) }
        #expect(throws: HardenError.self) { _ = try AptSources.complete([release], osRelease: [:], mirror: "ftp://x/") }
    }
}

@Suite struct Deb822Tests {
    @Test func stanzasRoundTripAndContinuationsStayWithTheirField() throws {
        let text =
            "Package: a\nStatus: install ok installed\nConffiles:\n /etc/a.conf 0123\n /etc/b.conf 4567\nDescription: x\n long\n .\n more\n\nPackage: b\nVersion: 1\n"
        let s = try Deb822.parse(Array(text.utf8), source: "status")
        #expect(s.count == 2)
        #expect(s[0]["conffiles"] == "\n /etc/a.conf 0123\n /etc/b.conf 4567")
        #expect(s.map { $0.rendered() }.joined(separator: "\n") == text)
        // Only wanted fields: a continuation of an unwanted field is not glued to the previous wanted one.
        let w = try Deb822.parse(Array(text.utf8), source: "status", wanted: ["package", "status"])
        #expect(w[0].fields.map(\.key) == ["Package", "Status"] && w[0]["Status"] == "install ok installed")
        #expect(throws: HardenError.self) { _ = try Deb822.parse(Array(" orphan\n".utf8), source: "x") }
        #expect(throws: HardenError.self) { _ = try Deb822.parse(Array("no colon here\n".utf8), source: "x") }
    }

    @Test func relationsParseAndCompareLikeDpkg() {
        let r = Relation.parseList(
            "libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1, perl:any, foo (<< 1.0), bar [amd64], baz (> 2)")
        #expect(r.count == 6)
        #expect(r[0][0] == Relation(name: "libc6", archQualifier: nil, op: .ge, version: "2.34"))
        #expect(r[1].map(\.name) == ["libssl3", "libssl1.1"])
        #expect(r[2][0].archQualifier == "any")
        #expect(r[4][0].name == "bar" && r[4][0].op == nil)
        #expect(r[5][0].op == .ge)  // ">" is the old spelling of ">="
        #expect(r[0][0].accepts("2.36-9+deb12u4") && !r[0][0].accepts("2.33"))
        #expect(r[3][0].accepts("1.0~rc1") && !r[3][0].accepts("1.0") && !r[3][0].accepts("1.0+b1"))
        #expect(
            BinaryPackage.source("openssl (3.0.15-1~deb12u1)", name: "libssl3", version: "3.0.15-1~deb12u1+b1") == (
                "openssl", "3.0.15-1~deb12u1"
            ))
        #expect(BinaryPackage.source(nil, name: "zlib1g", version: "1:1.2.13") == ("zlib1g", "1:1.2.13"))
    }
}

@Suite struct ResolverTests {
    static func stanza(
        _ name: String, _ version: String, source: String? = nil, depends: String? = nil, breaks: String? = nil,
        arch: String = "amd64"
    ) -> String {
        var s = "Package: \(name)\nVersion: \(version)\nArchitecture: \(arch)\n"
        if let source { s += "Source: \(source)\n" }
        if let depends { s += "Depends: \(depends)\n" }
        if let breaks { s += "Breaks: \(breaks)\n" }
        s +=
            "Filename: pool/\(name)_\(version).deb\nSize: 10\nSHA256: \(String(repeating: "a", count: 64))\nDescription: d\n"
        return s
    }

    static func installed(_ text: String) throws -> [InstalledPackage] {
        try Deb822.parse(Array(text.utf8), source: "status").map { try InstalledPackage(stanza: $0) }
    }

    @Test func dependenciesBreaksAndSiblingsAreFollowed() throws {
        let index = [
            Self.stanza("libssl3", "3.0.15-1", source: "openssl", depends: "libc6 (>= 2.36-9+deb12u1)"),
            Self.stanza("openssl", "3.0.15-1", depends: "libssl3 (= 3.0.15-1)"),
            Self.stanza("libc6", "2.36-9+deb12u9"),
            Self.stanza("libnew", "1.0"),
            Self.stanza("tool", "2.0", depends: "libnew"),
            Self.stanza("oldplugin", "1.1", breaks: ""),
            Self.stanza("core", "5.0", breaks: "oldplugin (<< 1.1)"),
            Self.stanza("libssl3", "3.0.11-1", source: "openssl", arch: "amd64"),
        ].joined(separator: "\n")
        let idx = try PackageIndex(
            Array(index.utf8), source: "Packages", architectures: ["amd64", "all"], repository: 0)
        #expect(idx.count == 8)
        let status = """
            Package: libssl3
            Status: install ok installed
            Version: 3.0.11-1
            Architecture: amd64
            Source: openssl

            Package: openssl
            Status: install ok installed
            Version: 3.0.11-1
            Architecture: amd64
            Depends: libssl3 (= 3.0.11-1)

            Package: libc6
            Status: install ok installed
            Version: 2.36-9
            Architecture: amd64

            Package: tool
            Status: install ok installed
            Version: 1.0
            Architecture: amd64

            Package: oldplugin
            Status: install ok installed
            Version: 1.0
            Architecture: amd64

            Package: core
            Status: install ok installed
            Version: 4.0
            Architecture: amd64

            """
        let resolver = Resolver(installed: try Self.installed(status), indexes: [idx], architecture: "amd64")
        // libssl3 alone: libc6 must rise; openssl's exact dependency makes it follow.
        let plan = try resolver.plan(["libssl3": "fixes CVE-1"])
        #expect(Set(plan.keys) == ["libssl3", "libc6", "openssl"])
        #expect(plan["libssl3"]?.package.version == "3.0.15-1")
        #expect(plan["openssl"]?.reasons.first?.contains("needs the new versions") == true)
        // A new dependency is installed; Breaks pulls the broken package up.
        let t = try resolver.plan(["tool": "x", "core": "y"])
        #expect(t["libnew"]?.installed == nil && t["libnew"]?.package.version == "1.0")
        #expect(t["oldplugin"]?.package.version == "1.1")
        #expect(Set(resolver.upgradable()) == ["libssl3", "openssl", "libc6", "tool", "oldplugin", "core"])
    }

    @Test func aMissingDependencyIsOneClearError() throws {
        let idx = try PackageIndex(
            Array(Self.stanza("app", "2.0", depends: "libgone (>= 3)").utf8), source: "Packages",
            architectures: ["amd64"], repository: 0)
        let resolver = Resolver(
            installed: try Self.installed(
                "Package: app\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n"),
            indexes: [idx],
            architecture: "amd64")
        #expect { _ = try resolver.plan(["app": "x"]) } throws: { e in
            "\(e)".contains("libgone (>= 3)") && "\(e)".contains("cannot satisfy")
        }
    }

    @Test func aDamagedIndexIsRefused() {
        #expect(throws: HardenError.self) {
            _ = try PackageIndex(
                Array("Version: 1\nPackage: x\n".utf8), source: "Packages", architectures: ["amd64"], repository: 0)
        }
    }
}

@Suite struct DebFileTests {
    @Test func aDebBuiltHereReadsBackWithEveryMember() throws {
        let pkg = DebFixture.Package(
            name: "hello", version: "1.1-1", files: ["usr/bin/hello": "hi", "etc/hello.conf": "x=1\n"],
            conffiles: ["/etc/hello.conf"],
            postinst: "#!/bin/sh\n")
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/h.deb", try pkg.deb())
            let d = try DebFile.decode(dir + "/h.deb", name: "h.deb")
            #expect(d.control.fields["Package"] == "hello" && d.control.fields["Version"] == "1.1-1")
            #expect(d.control.conffiles == ["/etc/hello.conf"])
            #expect(d.control.members["postinst"] != nil)
            #expect(d.control.md5sums["usr/bin/hello"] == pkg.md5("usr/bin/hello"))
            #expect(
                d.entries.contains {
                    String(decoding: $0.0.path.normalized.bytes, as: UTF8.self) == "usr/bin/hello"
                        && $0.1 == Array("hi".utf8)
                })
            // Truncated or foreign files are one clear error.
            let bytes = try pkg.deb()
            try HostFS.writeFileAtomically(dir + "/cut.deb", Array(bytes.prefix(bytes.count / 2)))
            #expect(throws: HardenError.self) { _ = try DebFile.decode(dir + "/cut.deb", name: "cut.deb") }
            try HostFS.writeFileAtomically(dir + "/not.deb", Array("hello".utf8))
            #expect(throws: HardenError.self) { _ = try DebFile.decode(dir + "/not.deb", name: "not.deb") }
        }
    }

    @Test func xzStreamsDecodeAndDamageIsReported() throws {
        try withTemporaryDirectory { dir in
            let text = Array(String(repeating: "Package: x\nVersion: 1\n\n", count: 2000).utf8)
            try HostFS.writeFileAtomically(dir + "/p", text)
            let (s, o) = try runProcess(["xz", "-k", dir + "/p"])
            try #require(s == 0, "\(o)")
            let xz = try HostFS.readFile(dir + "/p.xz")
            #expect(try XzReader(MemoryReader(xz), name: "p.xz").readAll(limit: 1 << 20, name: "p.xz") == text)
            #expect(throws: HardenError.self) {
                _ = try XzReader(MemoryReader(Array(xz.prefix(xz.count - 20))), name: "p.xz").readAll(
                    limit: 1 << 20, name: "p.xz")
            }
            var bad = xz
            bad[bad.count / 2] ^= 0xff
            #expect(throws: HardenError.self) {
                _ = try XzReader(MemoryReader(bad), name: "p.xz").readAll(limit: 1 << 20, name: "p.xz")
            }
        }
    }
}

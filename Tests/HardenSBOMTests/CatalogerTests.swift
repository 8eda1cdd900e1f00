// harden — cataloger tests on images built in code, including malformed records.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

/// Builds an image from fixture layers and catalogs it (no cache).
func catalog(_ layers: [[FixtureEntry]]) throws -> SBOM {
    try withTemporaryDirectory { dir in
        try Fixtures.ociLayout(
            at: dir, images: [(tag: "t", layers: try layers.map { try Fixtures.layer($0) }, config: nil)])
        let image = try ImageLoader.open(.ociLayout(path: dir, tag: "t"))
        return try SBOMBuilder(cache: nil).build(image, reference: "test")
    }
}

let osRelease = FixtureEntry.file(
    "etc/os-release",
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n")

@Suite struct DpkgCatalogerTests {
    static let status = """
        Package: libc6
        Status: install ok installed
        Architecture: amd64
        Source: glibc
        Version: 2.36-9+deb12u4
        Installed-Size: 12000
        Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
        Description: GNU C Library
         multi-line description
         .
         continues

        Package: broken
        Status: install ok installed
        this line has no colon
        Version: 1.0

        Package: libssl3
        Status: install ok installed
        Architecture: amd64
        Source: openssl (3.0.11-1~deb12u2)
        Version: 3.0.11-1~deb12u2+b1
        Conffiles:
         /etc/ssl/openssl.cnf 1234567890abcdef

        Package: removed-but-configured
        Status: deinstall ok config-files
        Architecture: amd64
        Version: 1.0

        """

    @Test func brokenStanzaIsSkippedWithAWarningNamingFileAndLine() throws {
        let sbom = try catalog([[osRelease, .file("var/lib/dpkg/status", Self.status)]])
        let names = sbom.packages.map(\.name)
        #expect(names == ["libc6", "libssl3"])
        #expect(sbom.warnings.contains { $0.contains("/var/lib/dpkg/status:15") }, "\(sbom.warnings)")
    }

    @Test func sourcePackagesAndPurls() throws {
        let sbom = try catalog([
            [osRelease, .file("var/lib/dpkg/status", Self.status), .dir("etc/ssl"), .file("etc/ssl/openssl.cnf", "x")]
        ])
        let libc = try #require(sbom.packages.first { $0.name == "libc6" })
        #expect(libc.sourceName == "glibc" && libc.sourceVersion == "2.36-9+deb12u4")
        #expect(libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc")
        #expect(libc.installedSize == Int64(12_288_000))
        let ssl = try #require(sbom.packages.first { $0.name == "libssl3" })
        #expect(ssl.sourceName == "openssl" && ssl.sourceVersion == "3.0.11-1~deb12u2")
        #expect(ssl.files == ["/etc/ssl/openssl.cnf"])
        #expect(sbom.os?.codename == "bookworm")
    }

    @Test func ownedFilesComeFromListsAndOnlyExistingOnesCount() throws {
        let sbom = try catalog([
            [
                osRelease, .file("var/lib/dpkg/status", Self.status),
                .file(
                    "var/lib/dpkg/info/libc6:amd64.list", "/.\n/usr\n/usr/lib\n/usr/lib/libc.so.6\n/usr/lib/gone.so\n"),
                .file("var/lib/dpkg/info/libc6:amd64.md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/lib/ld.so\n"),
                .file("usr/lib/libc.so.6", "ELF"), .file("usr/lib/ld.so", "ELF"),
                .file(
                    "usr/share/doc/libc6/copyright",
                    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: LGPL-2.1+ or GPL-2\n"
                ),
            ]
        ])
        let libc = try #require(sbom.packages.first { $0.name == "libc6" })
        #expect(libc.files == ["/usr/lib/ld.so", "/usr/lib/libc.so.6"])
        #expect(libc.licenses == ["GPL-2", "LGPL-2.1+"])
    }

    @Test func packageRemovedInAnUpperLayerIsNotReportedAndLayersAreTracked() throws {
        let two = """
            Package: a
            Status: install ok installed
            Version: 1

            Package: b
            Status: install ok installed
            Version: 1

            """
        let upper = """
            Package: a
            Status: install ok installed
            Version: 1

            Package: c
            Status: install ok installed
            Version: 2

            """
        let sbom = try catalog([[osRelease, .file("var/lib/dpkg/status", two)], [.file("var/lib/dpkg/status", upper)]])
        #expect(sbom.packages.map(\.name) == ["a", "c"])
        #expect(sbom.packages.first { $0.name == "a" }?.layer?.index == 0)
        #expect(sbom.packages.first { $0.name == "c" }?.layer?.index == 1)
        // A whited-out database reports nothing.
        let gone = try catalog([[osRelease, .file("var/lib/dpkg/status", two)], [.whiteout("var/lib/dpkg/status")]])
        #expect(gone.packages.isEmpty)
    }

    @Test func distrolessStatusD() throws {
        let sbom = try catalog([
            [
                osRelease,
                .file(
                    "var/lib/dpkg/status.d/base-files",
                    "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"),
                .file("var/lib/dpkg/status.d/base-files.md5sums", "abc  etc/issue\n"),
                .file("etc/issue", "Debian\n"),
            ]
        ])
        let p = try #require(sbom.packages.first)
        #expect(p.name == "base-files" && p.files == ["/etc/issue"])
    }
}

@Suite struct LanguageCatalogerTests {
    @Test func pythonDistInfoRecordAndEggInfo() throws {
        let sbom = try catalog([
            [
                osRelease,
                .file(
                    "usr/local/lib/python3.11/dist-packages/requests-2.19.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nLicense: Apache 2.0\n\nBody: not a header\n"
                ),
                // Wheels write RECORD with CRLF line ends ("\r\n" is one Character in Swift).
                .file(
                    "usr/local/lib/python3.11/dist-packages/requests-2.19.0.dist-info/RECORD",
                    "requests/__init__.py,sha256=x,10\r\n\"requests/we,ird.py\",,\r\n../../../bin/req,,\r\n"),
                .file("usr/local/lib/python3.11/dist-packages/requests/__init__.py", "x"),
                .file("usr/local/lib/python3.11/dist-packages/requests/we,ird.py", "x"),
                .file("usr/local/bin/req", "#!/usr/bin/python3"),
                .file(
                    "usr/lib/python3/dist-packages/PyYAML-5.1.egg-info/PKG-INFO",
                    "Metadata-Version: 1.1\nName: PyYAML\nVersion: 5.1\nClassifier: License :: OSI Approved :: MIT License\n"
                ),
                .file(
                    "opt/venv/lib/python3.11/site-packages/bad.dist-info/METADATA",
                    "Metadata-Version: 2.1\nSummary: no name\n"),
            ]
        ])
        let req = try #require(sbom.packages.first { $0.name == "requests" })
        #expect(req.purl == "pkg:pypi/requests@2.19.0")
        #expect(req.licenses == ["Apache 2.0"])
        #expect(
            req.files == [
                "/usr/local/bin/req", "/usr/local/lib/python3.11/dist-packages/requests/__init__.py",
                "/usr/local/lib/python3.11/dist-packages/requests/we,ird.py",
            ])
        let yaml = try #require(sbom.packages.first { $0.name == "PyYAML" })
        #expect(yaml.purl == "pkg:pypi/pyyaml@5.1" && yaml.licenses == ["MIT License"])
        #expect(sbom.warnings.contains { $0.contains("bad.dist-info/METADATA") })
    }

    @Test func pythonInstalledByDebIsMarkedOSOwned() throws {
        let meta = "usr/lib/python3/dist-packages/Flask-2.2.2.dist-info/METADATA"
        let sbom = try catalog([
            [
                osRelease,
                .file(
                    "var/lib/dpkg/status",
                    "Package: python3-flask\nStatus: install ok installed\nVersion: 2.2.2-3\nSource: flask\n"),
                .file("var/lib/dpkg/info/python3-flask.list", "/\(meta)\n"),
                .file(meta, "Name: Flask\nVersion: 2.2.2\n"),
            ]
        ])
        #expect(sbom.packages.first { $0.name == "Flask" }?.ownedBy == "deb:python3-flask")
    }

    @Test func npmScopedAndDebianNodePackages() throws {
        let sbom = try catalog([
            [
                .file(
                    "app/node_modules/@babel/core/package.json",
                    #"{"name":"@babel/core","version":"7.1.0","license":"MIT"}"#),
                .file(
                    "app/node_modules/lodash/package.json",
                    #"{"name":"lodash","version":"4.17.4","licenses":[{"type":"MIT"}]}"#),
                .file("app/node_modules/lodash/fp/package.json", #"{"name":"lodash-fp-internal","version":"0"}"#),
                .file("usr/share/nodejs/debug/package.json", #"{"name":"debug","version":"4.3.4"}"#),
                .file("app/node_modules/broken/package.json", "{not json"),
            ]
        ])
        #expect(sbom.packages.map(\.name).sorted() == ["@babel/core", "debug", "lodash"])
        #expect(sbom.packages.first { $0.name == "@babel/core" }?.purl == "pkg:npm/%40babel/core@7.1.0")
        #expect(sbom.warnings.contains { $0.contains("broken/package.json") })
    }

    @Test func rubyGemspec() throws {
        let spec = """
            # -*- encoding: utf-8 -*-
            Gem::Specification.new do |s|
              s.name = "rake".freeze
              s.version = "13.0.6"
              s.licenses = ["MIT".freeze]
            end
            """
        let sbom = try catalog([[.file("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", spec)]])
        let p = try #require(sbom.packages.first)
        #expect(p.name == "rake" && p.version == "13.0.6" && p.licenses == ["MIT"] && p.purl == "pkg:gem/rake@13.0.6")
    }

    /// A minimal ELF-looking file with Go 1.18+ inline build information.
    static func goBinary(
        modinfo: String =
            "path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:abc=\ndep\tgolang.org/x/net\tv0.0.1\th1:x=\n=>\tgolang.org/x/net\tv0.17.0\th1:y=\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:z=\nbuild\t-compiler=gc\n",
        goVersion: String = "go1.21.5"
    ) -> [UInt8] {
        func varint(_ n: Int) -> [UInt8] {
            var v = n
            var out: [UInt8] = []
            repeat {
                var b = UInt8(v & 0x7f)
                v >>= 7
                if v > 0 { b |= 0x80 }
                out.append(b)
            } while v > 0
            return out
        }
        let start: [UInt8] = [
            0x30, 0x77, 0xaf, 0x0c, 0x92, 0x74, 0x08, 0x02, 0x41, 0xe1, 0xc1, 0x07, 0xe6, 0xd6, 0x18, 0xe6,
        ]
        let info = Array(modinfo.utf8)
        var b: [UInt8] = [0x7f] + Array("ELF".utf8) + [UInt8](repeating: 0, count: 2000)
        b += [0xff] + Array(" Go buildinf:".utf8) + [8, 2] + [UInt8](repeating: 0, count: 16)
        let version = Array(goVersion.utf8)
        b += varint(version.count) + version
        b += varint(info.count + 32) + start + info + [UInt8](repeating: 0xf9, count: 16)
        b += [UInt8](repeating: 0, count: 5000)
        return b
    }

    @Test func goBuildInfo() throws {
        var e = TarEntry(path: "usr/local/bin/app", type: .regular, mode: 0o755)
        e.mtime = 1
        let sbom = try catalog([[FixtureEntry(entry: e, body: Self.goBinary())]])
        let got = Set(sbom.packages.map { "\($0.name)@\($0.version)" })
        #expect(
            got == [
                "stdlib@go1.21.5", "example.com/app@v1.2.3", "golang.org/x/net@v0.17.0", "github.com/pkg/errors@v0.9.1",
            ])
        #expect(
            sbom.packages.first { $0.name == "github.com/pkg/errors" }?.purl
                == "pkg:golang/github.com/pkg/errors@v0.9.1")
    }

    /// A zip of stored entries.
    static func zip(_ files: [(String, [UInt8])]) -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xffff) + le16(v >> 16 & 0xffff) }
        var out: [UInt8] = []
        var central: [UInt8] = []
        for (name, data) in files {
            let offset = out.count
            let n = Array(name.utf8)
            out +=
                le32(0x04034b50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(data.count)
                + le32(data.count)
                + le16(n.count) + le16(0) + n + data
            central +=
                le32(0x02014b50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
                + le32(data.count)
                + le32(data.count) + le16(n.count) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + n
        }
        let cdOffset = out.count
        out += central
        out +=
            le32(0x06054b50) + le16(0) + le16(0) + le16(files.count) + le16(files.count) + le32(central.count)
            + le32(cdOffset) + le16(0)
        return out
    }

    @Test func javaArchivesIncludingNestedJars() throws {
        let inner = Self.zip([
            (
                "META-INF/MANIFEST.MF",
                Array("Manifest-Version: 1.0\nImplementation-Title: inner-lib\nImplementation-Version: 0.9\n".utf8)
            )
        ])
        let outer = Self.zip([
            (
                "META-INF/maven/org.example/app/pom.properties",
                Array("groupId=org.example\nartifactId=app\nversion=1.4.2\n".utf8)
            ),
            ("BOOT-INF/lib/inner-lib-0.9.jar", inner),
        ])
        let sbom = try catalog([
            [
                FixtureEntry(entry: TarEntry(path: "opt/app.jar", type: .regular), body: outer),
                FixtureEntry(entry: TarEntry(path: "opt/junk.jar", type: .regular), body: Array("not a zip".utf8)),
            ]
        ])
        let got = Set(sbom.packages.map { "\($0.purl)" })
        #expect(got.contains("pkg:maven/org.example/app@1.4.2"))
        #expect(got.contains { $0.contains("inner-lib@0.9") })
        #expect(sbom.warnings.contains { $0.contains("/opt/junk.jar") })
    }

    @Test func apkInstalledDatabase() throws {
        let db = """
            C:Q1abc=
            P:musl
            V:1.2.4-r2
            A:x86_64
            o:musl
            L:MIT
            F:lib
            R:ld-musl-x86_64.so.1

            P:libcrypto3
            V:3.1.4-r1
            A:x86_64
            o:openssl
            L:Apache-2.0
            F:usr/lib
            R:libcrypto.so.3

            garbage line
            V:1

            """
        let sbom = try catalog([
            [
                .file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.0\n"), .file("lib/apk/db/installed", db),
                .file("lib/ld-musl-x86_64.so.1", "ELF"),
            ]
        ])
        #expect(sbom.packages.map(\.name) == ["libcrypto3", "musl"])
        let crypto = try #require(sbom.packages.first { $0.name == "libcrypto3" })
        #expect(crypto.sourceName == "openssl")
        #expect(crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=alpine-3.19.0&upstream=openssl")
        #expect(sbom.packages.first { $0.name == "musl" }?.files == ["/lib/ld-musl-x86_64.so.1"])
        #expect(sbom.warnings.contains { $0.contains("lib/apk/db/installed") })
    }
}

@Suite struct PURLTests {
    @Test func encoding() {
        #expect(
            PURL(
                type: "deb", namespace: "debian", name: "zlib1g", version: "1:1.2.13.dfsg-1",
                qualifiers: [("arch", "amd64")]
            ).description
                == "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64")
        #expect(
            PURL(type: "maven", namespace: "org.apache.commons", name: "commons-lang3", version: "3.12.0").description
                == "pkg:maven/org.apache.commons/commons-lang3@3.12.0")
        #expect(PURL.pep503("Foo__Bar.baz") == "foo-bar-baz")
    }
}

@Suite struct JavaArchiveBombTests {
    @Test func aNestedJarBombIsRefusedQuickly() throws {
        // The campaign's bomb: every level's entries all point at the next level's one deflated stream.
        var inner = try ZipFixture.build([.init("zeros.bin", [UInt8](repeating: 0, count: 200 << 20))])
        for _ in 0..<3 { inner = try ZipFixture.build([.init("n.jar", inner)], aliases: ["n1.jar", "n2.jar"]) }
        let start = Date()
        #expect(throws: HardenError.self) {
            _ = try JavaArchiveCataloger.packages(
                in: inner, name: "bomb.jar", location: "/bomb.jar", layer: nil, depth: 0)
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func distinctNestedJarsStopAtTheImageBudget() throws {
        // No overlap, but 20 distinct nested 8 MiB archives: 160 MiB to inflate, more than a 100 MiB budget (an
        // image's budget is 1 GiB; the mechanism is the same).
        let nested = try ZipFixture.jar(
            group: "org.example", artifact: "inner", version: "1.0",
            extra: [.init("pad.bin", [UInt8](repeating: 0, count: 8 << 20), deflate: false)])
        let outer = try ZipFixture.build((0..<20).map { .init("lib/inner\($0).jar", nested) })
        #expect(outer.count < 1 << 20)
        let budget = InflationBudget(limit: 100 << 20)
        let found = try JavaArchiveCataloger.packages(
            in: outer, name: "app.jar", location: "/app.jar", layer: nil, depth: 0, budget: budget)
        // What was read before the budget ran out is kept; nothing more was inflated.
        #expect(budget.exhaustedBy != nil && budget.remaining == 0)
        #expect(found.count >= 1 && found.count < 20, "\(found.count)")
    }

    @Test func realNestedJarsWithCRLFPropertiesAreFound() throws {
        let inner = try ZipFixture.jar(group: "org.example", artifact: "inner", version: "2.1")
        let outer = try ZipFixture.jar(
            group: "org.example", artifact: "app", version: "1.0",
            extra: [.init("BOOT-INF/lib/inner-2.1.jar", inner, deflate: false)])
        let packages = try JavaArchiveCataloger.packages(
            in: outer, name: "app.jar", location: "/app.jar", layer: nil, depth: 0)
        #expect(Set(packages.map { "\($0.name)@\($0.version)" }) == ["app@1.0", "inner@2.1"])
    }
}

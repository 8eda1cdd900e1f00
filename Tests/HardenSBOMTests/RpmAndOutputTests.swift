// harden — the SQLite rpmdb, output encoders and the layer cache.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenRpm
import HardenSBOM
import HardenSQLite
import HardenSystem
import HardenTestSupport
import Testing

@Suite struct RpmCatalogerTests {
    @Test func sqliteRpmdb() throws {
        try withTemporaryDirectory { dir in
            let header = Fixtures.rpmHeader([
                (1000, 6, Fixtures.rpmString("openssl-libs"), 1), (1001, 6, Fixtures.rpmString("3.0.7"), 1),
                (1002, 6, Fixtures.rpmString("25.el9"), 1),
                (1003, 4, [0, 0, 0, 1], 1), (1022, 6, Fixtures.rpmString("x86_64"), 1),
                (1014, 6, Fixtures.rpmString("ASL 2.0"), 1),
                (1044, 6, Fixtures.rpmString("openssl-3.0.7-25.el9.src.rpm"), 1),
                (1116, 4, [0, 0, 0, 0, 0, 0, 0, 0], 2),
                (1117, 8, Fixtures.rpmString("libssl.so.3") + Fixtures.rpmString("missing.so"), 2),
                (1118, 8, Fixtures.rpmString("/usr/lib64/"), 1),
            ])
            let bytes = try Fixtures.rpmdb(
                dir + "/rpmdb.sqlite", packages: [.init(header: header, name: "openssl-libs")])
            let sbom = try catalog([
                [
                    .file("etc/os-release", "ID=rhel\nVERSION_ID=\"9.3\"\n"),
                    FixtureEntry(entry: TarEntry(path: "var/lib/rpm/rpmdb.sqlite", type: .regular), body: bytes),
                    .file("usr/lib64/libssl.so.3", "ELF"),
                ]
            ])
            let p = try #require(sbom.packages.first)
            #expect(p.name == "openssl-libs" && p.version == "1:3.0.7-25.el9" && p.sourceName == "openssl")
            #expect(p.files == ["/usr/lib64/libssl.so.3"])
            #expect(
                p.purl
                    == "pkg:rpm/rhel/openssl-libs@3.0.7-25.el9?arch=x86_64&distro=rhel-9.3&epoch=1&upstream=openssl-3.0.7-25.el9.src.rpm"
            )
        }
    }

    /// Headers big enough to need overflow pages (a real rpm header is tens of KiB), and small ones stored on the
    /// hash page itself.
    static func olderDatabaseHeaders() -> [[UInt8]] {
        let files = (0..<400).map { "/usr/share/doc/bash/file-with-a-long-name-\($0).txt" }
        return [
            Fixtures.rpmPackage(name: "bash", version: "4.2.46", release: "34.el7", arch: "x86_64", files: files)
                .header,
            Fixtures.rpmPackage(name: "tzdata", version: "2023c", release: "1.el7", arch: "noarch", files: []).header,
            Fixtures.rpmPackage(
                name: "glibc", version: "2.17", release: "326.el7_9", arch: "x86_64", files: ["/usr/lib64/libc.so.6"]
            )
            .header,
        ]
    }

    @Test(.enabled(if: Prerequisites.programs("db5.3_load", "rpm")), arguments: [false, true])
    func berkeleyRpmdb(bigEndian: Bool) throws {
        try withTemporaryDirectory { dir in
            let headers = Self.olderDatabaseHeaders()
            try HostFS.makeDirectories(dir + "/rpm")
            let bytes = try Fixtures.berkeleyRpmdb(
                dir + "/rpm/Packages", headers: headers, pageSize: 4096, bigEndian: bigEndian)
            // The oracle: rpm's own read-only BerkeleyDB backend lists the same packages from this file.
            let rpm = try runProcess([
                "rpm", "-qa", "--dbpath", dir + "/rpm", "--define", "_db_backend bdb_ro", "--qf",
                "%{NAME}-%{VERSION}-%{RELEASE}\\n",
            ])
            let expected = ["bash-4.2.46-34.el7", "glibc-2.17-326.el7_9", "tzdata-2023c-1.el7"]
            let listed = rpm.output.split(separator: "\n").filter { !$0.hasPrefix("warning:") }.map(String.init)
                .sorted()
            #expect(listed == expected, "rpm: \(rpm.output)")  // (warnings: the index files a bare Packages lacks)
            let sbom = try catalog([
                [
                    .file("etc/os-release", "ID=centos\nVERSION_ID=\"7\"\n"),
                    FixtureEntry(entry: TarEntry(path: "var/lib/rpm/Packages", type: .regular), body: bytes),
                    .file("usr/lib64/libc.so.6", "ELF"),
                ]
            ])
            #expect(sbom.packages.map { "\($0.name)-\($0.version)" }.sorted() == expected)
            #expect(sbom.packages.first { $0.name == "glibc" }?.files == ["/usr/lib64/libc.so.6"])
            #expect(sbom.warnings.isEmpty, "\(sbom.warnings)")
        }
    }

    @Test func ndbRpmdb() throws {
        let headers = Self.olderDatabaseHeaders()
        let sbom = try catalog([
            [
                .file("etc/os-release", "ID=sles\nVERSION_ID=\"15.5\"\n"),
                FixtureEntry(
                    entry: TarEntry(path: "usr/lib/sysimage/rpm/Packages.db", type: .regular),
                    body: Fixtures.ndbRpmdb(headers: headers)),
            ]
        ])
        #expect(
            sbom.packages.map { "\($0.name)-\($0.version)" }.sorted() == [
                "bash-4.2.46-34.el7", "glibc-2.17-326.el7_9", "tzdata-2023c-1.el7",
            ])
        #expect(sbom.packages.allSatisfy { $0.purl.hasPrefix("pkg:rpm/sles/") })
    }

    @Test func damagedOlderDatabasesAreOneWarningNeverACrash() throws {
        var ndb = Fixtures.ndbRpmdb(headers: Self.olderDatabaseHeaders())
        ndb[32 + 16 + 8] = 0xff  // the first package's block offset points past the file
        #expect(throws: HardenError.self) { try RpmNDB.values(ndb) }
        var rng = SeededGenerator(for: "damagedOlderDatabases")
        for _ in 0..<300 {
            var b = Fixtures.ndbRpmdb(headers: Self.olderDatabaseHeaders())
            for _ in 0..<4 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? RpmNDB.values(b)
            _ = try? RpmBerkeleyDB.values(b)
            var page = [UInt8](repeating: 0, count: 8192)
            page[12] = 0x61
            page[13] = 0x15
            page[14] = 0x06
            page[20] = 0x00
            page[21] = 0x10
            page[25] = 8
            page[32] = 1
            for _ in 0..<64 { page[Int.random(in: 4096..<8192, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            page[4096 + 25] = 13
            _ = try? RpmBerkeleyDB.values(page)
        }
        let sbom = try catalog([
            [
                FixtureEntry(
                    entry: TarEntry(path: "var/lib/rpm/Packages", type: .regular), body: Array(repeating: 1, count: 64))
            ]
        ])
        #expect(sbom.warnings.contains { $0.contains("/var/lib/rpm/Packages") && $0.contains("BerkeleyDB") })
    }

    /// Filtering keeps the packages asked for (and gpg-pubkey), in every table, and leaves no trace of the others.
    @Test func sqliteRpmdbIsFilteredToThePackagesLeft() throws {
        try withTemporaryDirectory { dir in
            let packages = [
                Fixtures.rpmPackage(
                    name: "openssl-libs", version: "3.0.7", release: "25.el9", arch: "x86_64",
                    files: ["/usr/lib64/libssl.so.3"]),
                Fixtures.rpmPackage(
                    name: "vim-minimal", version: "8.2.2637", release: "20.el9", arch: "x86_64", files: ["/usr/bin/vi"]),
                Fixtures.rpmPackage(name: "gpg-pubkey", version: "fd431d51", release: "4ae0493b", arch: nil, files: []),
            ]
            let bytes = try Fixtures.rpmdb(dir + "/rpmdb.sqlite", packages: packages)
            let filtered = try RpmCataloger.filterSQLite(bytes, keeping: ["rpm:openssl-libs@3.0.7-25.el9:x86_64"])
            try HostFS.writeFileAtomically(dir + "/out.sqlite", filtered)
            let db = try SQLiteDatabase(path: dir + "/out.sqlite", readOnly: true)
            func column(_ sql: String) throws -> [String] {
                try db.query(sql).compactMap { row in
                    row.first.flatMap { $0.string ?? $0.int.map(String.init) }
                }
            }
            #expect(try column("SELECT key FROM Name ORDER BY key") == ["gpg-pubkey", "openssl-libs"])
            #expect(try column("SELECT key FROM Basenames ORDER BY key") == ["libssl.so.3"])
            #expect(try column("SELECT count(*) FROM Packages") == ["2"])
            #expect(
                !String(decoding: filtered, as: UTF8.self).contains("vim-minimal"),
                "a removed header survives in the file")
            // Keeping everything returns the database unchanged.
            #expect(
                try RpmCataloger.filterSQLite(
                    bytes, keeping: ["rpm:openssl-libs@3.0.7-25.el9:x86_64", "rpm:vim-minimal@8.2.2637-20.el9:x86_64"])
                    == bytes)
            #expect(throws: HardenError.self) { try RpmCataloger.filterSQLite(Array("not sqlite".utf8), keeping: []) }
        }
    }
}

@Suite struct MalformedRecordTests {
    @Test func unreadableRpmHeaderIsSkippedWithAWarning() throws {
        #expect(RpmCataloger.parseHeader([0, 0, 0, 9, 0, 0, 0, 1]) == nil)
        #expect(RpmCataloger.parseHeader([]) == nil)
        #expect(RpmCataloger.parseHeader(Fixtures.rpmHeader([(1000, 6, Fixtures.rpmString("x"), 1)])) != nil)
    }

    @Test func gemspecWithoutANameIsSkippedWithAWarning() throws {
        let sbom = try catalog([
            [
                .file(
                    "usr/lib/ruby/gems/3.1.0/specifications/odd.gemspec",
                    "Gem::Specification.new do |s|\n  s.version = \"1\"\nend\n"),
                .file("usr/lib/ruby/gems/3.1.0/specifications/ok-1.0.gemspec", "s.name = 'ok'\ns.version = '1.0'\n"),
            ]
        ])
        #expect(sbom.packages.map(\.name) == ["ok"])
        #expect(sbom.warnings.contains { $0.contains("odd.gemspec") })
    }

    @Test func goBinaryWithOldBuildInfoLayoutIsReported() throws {
        var bytes: [UInt8] = [0x7f] + Array("ELF".utf8) + [UInt8](repeating: 0, count: 100)
        bytes += [0xff] + Array(" Go buildinf:".utf8) + [8, 0] + [UInt8](repeating: 0, count: 2048)
        var e = TarEntry(path: "usr/bin/oldgo", type: .regular, mode: 0o755)
        e.mtime = 1
        let sbom = try catalog([[FixtureEntry(entry: e, body: bytes)]])
        #expect(sbom.packages.isEmpty)
        #expect(sbom.warnings.contains { $0.contains("/usr/bin/oldgo") && $0.contains("pre-1.18") })
    }
}

@Suite struct OutputTests {
    static func sample() throws -> SBOM {
        try catalog([
            [
                osRelease,
                .file(
                    "var/lib/dpkg/status",
                    "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n"
                ),
                .file("usr/share/doc/zlib1g/copyright", "License: Zlib\n"),
                .file(
                    "usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
                    "Name: x\nVersion: 1.0\nLicense: Some Odd License\n"),
            ]
        ])
    }

    @Test func cycloneDXHasOSComponentBomRefsAndPurls() throws {
        let text = try SBOMEncoder.render(try Self.sample(), format: .cyclonedxJSON)
        #expect(text.contains("\"specVersion\" : \"1.6\""))
        #expect(text.contains("\"type\" : \"operating-system\""))
        #expect(text.contains("\"bom-ref\" : \"deb:zlib1g@1:1.2.13.dfsg-1:amd64\""))
        #expect(text.contains("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"))
        #expect(text.contains("\"id\" : \"Zlib\""))
        #expect(
            try SBOMEncoder.render(try Self.sample(), format: .cyclonedxJSON) == text, "output must be deterministic")
    }

    @Test func spdxUsesLicenseRefsForUnknownLicences() throws {
        let text = try SBOMEncoder.render(try Self.sample(), format: .spdxJSON)
        #expect(text.contains("\"spdxVersion\" : \"SPDX-2.3\""))
        #expect(text.contains("LicenseRef-Some-Odd-License"))
        #expect(text.contains("\"licenseDeclared\" : \"Zlib\""))
        #expect(text.contains("\"referenceType\" : \"purl\""))
    }

    @Test func tableListsTypeNameVersionLayer() throws {
        let text = try SBOMEncoder.render(try Self.sample(), format: .table)
        #expect(text.contains("deb     zlib1g  1:1.2.13.dfsg-1  0"))
    }
}

@Suite struct LayerCacheTests {
    @Test func secondScanComesFromTheCacheAndMatches() throws {
        try withTemporaryDirectory { dir in
            let base = try Fixtures.layer([
                osRelease, .file("var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n"),
                .file(String(repeating: "long/", count: 30) + "x", "y"),
            ])
            let top = try Fixtures.layer([.file("app/app.py", "print(1)")])
            try Fixtures.ociLayout(
                at: dir + "/img",
                images: [(tag: "one", layers: [base], config: nil), (tag: "two", layers: [base, top], config: nil)])
            let builder = SBOMBuilder(cache: LayerCache(directory: dir + "/cache"))
            // Layers may finish in any order (they are scanned side by side): the flags are kept by layer index.
            var cachedFlags: [Int: Bool] = [:]
            let first = try builder.build(
                try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "one")), reference: "one"
            ) { i, c in
                cachedFlags[i] = c
            }
            #expect(cachedFlags == [0: false])
            cachedFlags = [:]
            let second = try builder.build(
                try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "two")), reference: "two"
            ) { i, c in
                cachedFlags[i] = c
            }
            #expect(cachedFlags == [0: true, 1: false])
            #expect(first.packages.map(\.id) == second.packages.map(\.id))
            // A corrupt cache entry is ignored, not fatal.
            for f in try HostFS.listDirectory(dir + "/cache") {
                try HostFS.writeFileAtomically(dir + "/cache/" + f, [1, 2, 3])
            }
            let third = try builder.build(
                try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "two")), reference: "two")
            #expect(third.packages.map(\.id) == second.packages.map(\.id))
        }
    }

    /// The cache entry is allocated once at its final size: the computed size is the encoded one, exactly.
    @Test func encodedSizeIsExact() throws {
        let layer = try Fixtures.layer([
            osRelease, .file("var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n"),
            .symlink("lib", "usr/lib"), .dir("usr/lib"), .file("usr/lib/libx.so", String(repeating: "z", count: 3000)),
        ])
        try withTemporaryDirectory { dir in
            try Fixtures.ociLayout(at: dir, images: [(tag: "t", layers: [layer], config: nil)])
            let scan = try LayerScan.scan(try ImageLoader.open(.ociLayout(path: dir, tag: "t")), layer: 0)
            #expect(scan.entries.count >= 4 && !scan.captures.isEmpty)
            #expect(LayerCache.encodedSize(scan) == LayerCache.encoded(scan).count)
        }
    }
}

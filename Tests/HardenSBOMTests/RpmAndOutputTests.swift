// harden — the SQLite rpmdb, output encoders and the layer cache.
import CSQLite
import HardenArchive
import HardenCore
import HardenOCI
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

/// An rpm header blob: index entries and a data store, big-endian.
func rpmHeader(_ tags: [(Int, Int, [UInt8], Int)]) -> [UInt8] {
    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    var index: [UInt8] = []
    var store: [UInt8] = []
    for (tag, type, data, count) in tags {
        if type == 4 { while store.count % 4 != 0 { store.append(0) } }
        index += be32(tag) + be32(type) + be32(store.count) + be32(count)
        store += data
    }
    return be32(tags.count) + be32(store.count) + index + store
}

func rpmString(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

@Suite struct RpmCatalogerTests {
    @Test func sqliteRpmdb() throws {
        try withTemporaryDirectory { dir in
            let header = rpmHeader([
                (1000, 6, rpmString("openssl-libs"), 1), (1001, 6, rpmString("3.0.7"), 1), (1002, 6, rpmString("25.el9"), 1),
                (1003, 4, [0, 0, 0, 1], 1), (1022, 6, rpmString("x86_64"), 1), (1014, 6, rpmString("ASL 2.0"), 1),
                (1044, 6, rpmString("openssl-3.0.7-25.el9.src.rpm"), 1),
                (1116, 4, [0, 0, 0, 0, 0, 0, 0, 0], 2), (1117, 8, rpmString("libssl.so.3") + rpmString("missing.so"), 2),
                (1118, 8, rpmString("/usr/lib64/"), 1),
            ])
            let path = dir + "/rpmdb.sqlite"
            var db: OpaquePointer?
            #expect(sqlite3_open(path, &db) == SQLITE_OK)
            sqlite3_exec(db, "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)", nil, nil, nil)
            var stmt: OpaquePointer?
            sqlite3_prepare_v2(db, "INSERT INTO Packages (blob) VALUES (?)", -1, &stmt, nil)
            header.withUnsafeBytes { _ = sqlite3_bind_blob(stmt, 1, $0.baseAddress, Int32($0.count), nil) }
            #expect(sqlite3_step(stmt) == SQLITE_DONE)
            sqlite3_finalize(stmt)
            sqlite3_close(db)
            let bytes = try HostFS.readFile(path)
            let sbom = try catalog([[.file("etc/os-release", "ID=rhel\nVERSION_ID=\"9.3\"\n"),
                                     FixtureEntry(entry: TarEntry(path: "var/lib/rpm/rpmdb.sqlite", type: .regular), body: bytes),
                                     .file("usr/lib64/libssl.so.3", "ELF")]])
            let p = try #require(sbom.packages.first)
            #expect(p.name == "openssl-libs" && p.version == "1:3.0.7-25.el9" && p.sourceName == "openssl")
            #expect(p.files == ["/usr/lib64/libssl.so.3"])
            #expect(p.purl == "pkg:rpm/rhel/openssl-libs@3.0.7-25.el9?arch=x86_64&distro=rhel-9.3&epoch=1&upstream=openssl-3.0.7-25.el9.src.rpm")
        }
    }
}

@Suite struct MalformedRecordTests {
    @Test func unreadableRpmHeaderIsSkippedWithAWarning() throws {
        #expect(RpmCataloger.parseHeader([0, 0, 0, 9, 0, 0, 0, 1]) == nil)
        #expect(RpmCataloger.parseHeader([]) == nil)
        #expect(RpmCataloger.parseHeader(rpmHeader([(1000, 6, rpmString("x"), 1)])) != nil)
    }

    @Test func gemspecWithoutANameIsSkippedWithAWarning() throws {
        let sbom = try catalog([[.file("usr/lib/ruby/gems/3.1.0/specifications/odd.gemspec", "Gem::Specification.new do |s|\n  s.version = \"1\"\nend\n"),
                                 .file("usr/lib/ruby/gems/3.1.0/specifications/ok-1.0.gemspec", "s.name = 'ok'\ns.version = '1.0'\n")]])
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
        try catalog([[osRelease,
                      .file("var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n"),
                      .file("usr/share/doc/zlib1g/copyright", "License: Zlib\n"),
                      .file("usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA", "Name: x\nVersion: 1.0\nLicense: Some Odd License\n")]])
    }

    @Test func cycloneDXHasOSComponentBomRefsAndPurls() throws {
        let text = try SBOMEncoder.render(try Self.sample(), format: .cyclonedxJSON)
        #expect(text.contains("\"specVersion\" : \"1.6\""))
        #expect(text.contains("\"type\" : \"operating-system\""))
        #expect(text.contains("\"bom-ref\" : \"deb:zlib1g@1:1.2.13.dfsg-1:amd64\""))
        #expect(text.contains("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"))
        #expect(text.contains("\"id\" : \"Zlib\""))
        #expect(try SBOMEncoder.render(try Self.sample(), format: .cyclonedxJSON) == text, "output must be deterministic")
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
            let base = try Fixtures.layer([osRelease, .file("var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n"),
                                           .file(String(repeating: "long/", count: 30) + "x", "y")])
            let top = try Fixtures.layer([.file("app/app.py", "print(1)")])
            try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "one", layers: [base], config: nil), (tag: "two", layers: [base, top], config: nil)])
            let builder = SBOMBuilder(cache: LayerCache(directory: dir + "/cache"))
            var cachedFlags: [Bool] = []
            let first = try builder.build(try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "one")), reference: "one") { _, c in cachedFlags.append(c) }
            #expect(cachedFlags == [false])
            cachedFlags = []
            let second = try builder.build(try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "two")), reference: "two") { _, c in cachedFlags.append(c) }
            #expect(cachedFlags == [true, false])
            #expect(first.packages.map(\.id) == second.packages.map(\.id))
            // A corrupt cache entry is ignored, not fatal.
            for f in try HostFS.listDirectory(dir + "/cache") { try HostFS.writeFileAtomically(dir + "/cache/" + f, [1, 2, 3]) }
            let third = try builder.build(try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "two")), reference: "two")
            #expect(third.packages.map(\.id) == second.packages.map(\.id))
        }
    }
}

// harden — tar reader and writer tests.
import HardenArchive
import HardenCore
import HardenSystem
import HardenTestSupport
import Testing

private func readAll(_ bytes: [UInt8]) throws -> [(TarEntry, [UInt8])] {
    let tar = TarReader(MemoryReader(bytes), name: "test.tar")
    var out: [(TarEntry, [UInt8])] = []
    while let e = try tar.next() { out.append((e, try tar.readWholeBody(limit: 1 << 24))) }
    return out
}

@Suite struct TarRoundTripTests {
    static let longName = String(repeating: "d/", count: 60) + "file-with-a-long-name.txt"  // > 100 bytes
    // More than 255 bytes.
    static let veryLongName = String(repeating: "directory-", count: 30) + "/" + String(repeating: "x", count: 120)

    @Test func everyEntryTypeSurvivesARoundTrip() throws {
        var xattrEntry = TarEntry(
            path: "usr/bin/ping", type: .regular, mode: 0o4755, uid: 0, gid: 0, size: 4, mtime: 1_600_000_000)
        xattrEntry.xattrs = ["security.capability": [1, 0, 0, 2, 0, 32, 0, 0], "user.note": Array("hi".utf8)]
        let entries: [FixtureEntry] = [
            .dir("etc"),
            .file("etc/hostname", "box\n"),
            FixtureEntry(entry: xattrEntry, body: [1, 2, 3, 4]),
            .symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
            .hardlink("etc/hostname2", "etc/hostname"),
            .device("dev/null", char: true, major: 1, minor: 3),
            .device("dev/sda", char: false, major: 8, minor: 0),
            FixtureEntry(entry: TarEntry(path: "run/fifo", type: .fifo, mode: 0o600), body: []),
            .file(Self.longName, "long"),
            .file(Self.veryLongName, "very long"),
            .symlink("link-with-long-target", String(repeating: "t", count: 300)),
            .file(raw: Array("bad-\u{1}name-".utf8) + [0xff, 0xfe], Array("not utf8".utf8)),
            FixtureEntry(
                entry: TarEntry(
                    path: "big-ids", type: .regular, mode: 0o600, uid: 70_000_000, gid: 3_000_000_000,
                    uname: String(repeating: "u", count: 40), gname: "g", mtime: 1), body: Array("x".utf8)),
        ]
        let bytes = try Fixtures.tar(entries)
        let read = try readAll(bytes)
        #expect(read.count == entries.count)
        for (want, (got, body)) in zip(entries, read) {
            #expect(got.path == want.entry.path)
            #expect(got.type == want.entry.type)
            #expect(got.mode == want.entry.mode)
            #expect(got.uid == want.entry.uid)
            #expect(got.gid == want.entry.gid)
            #expect(got.uname == want.entry.uname)
            #expect(got.linkTarget == want.entry.linkTarget)
            #expect(got.xattrs == want.entry.xattrs)
            #expect(got.devMajor == want.entry.devMajor && got.devMinor == want.entry.devMinor)
            #expect(body == want.body)
        }
    }

    @Test func writerIsDeterministic() throws {
        let entries: [FixtureEntry] = [.dir("a"), .file("a/b", "1"), .file(Self.veryLongName, "2")]
        #expect(try Fixtures.tar(entries) == Fixtures.tar(entries))
    }

    @Test(arguments: ["gnu", "posix", "ustar", "v7"])
    func readsWhatGNUTarWrites(format: String) throws {
        try #require(haveProgram("tar"), "GNU tar is needed to produce reference archives")
        try withTemporaryDirectory { dir in
            try HostFS.makeDirectories(dir + "/src/sub")
            let shortName = "sub/f.txt"
            try HostFS.writeFileAtomically(dir + "/src/" + shortName, Array("hello".utf8))
            var names = [shortName]
            if format != "v7" {
                let long = "sub/" + String(repeating: "m", count: 70) + "/" + String(repeating: "n", count: 80)
                try HostFS.makeDirectories(dir + "/src/sub/" + String(repeating: "m", count: 70))
                try HostFS.writeFileAtomically(dir + "/src/" + long, Array("long".utf8))
                names.append(long)
            }
            let (status, out) = try runProcess([
                "tar", "--format=\(format)", "-C", dir + "/src", "-cf", dir + "/a.tar", ".",
            ])
            #expect(status == 0, "\(out)")
            let read = try readAll(try HostFS.readFile(dir + "/a.tar"))
            let paths = Set(read.map { $0.0.path.normalized.description })
            for n in names { #expect(paths.contains(n)) }
            #expect(read.first { $0.0.path.normalized.description == shortName }?.1 == Array("hello".utf8))
        }
    }

    @Test(arguments: ["gnu", "posix"])
    func readsSparseFilesFromGNUTar(format: String) throws {
        try #require(haveProgram("tar") && haveProgram("truncate"), "GNU tar and truncate are needed")
        try withTemporaryDirectory { dir in
            let file = dir + "/sparse"
            // 4 MiB file with data at 0 and at 3 MiB; the rest is a hole.
            _ = try runProcess([
                "sh", "-c",
                "printf head > \(file); truncate -s 4M \(file); printf tail | dd of=\(file) bs=1 seek=3145728 conv=notrunc 2>/dev/null",
            ])
            let (status, out) = try runProcess([
                "tar", "--format=\(format)", "-S", "-C", dir, "-cf", dir + "/s.tar", "sparse",
            ])
            #expect(status == 0, "\(out)")
            let read = try readAll(try HostFS.readFile(dir + "/s.tar"))
            let (entry, body) = try #require(read.first)
            #expect(entry.path.normalized == "sparse")
            #expect(entry.size == 4 << 20)
            #expect(entry.sparseMap != nil)
            #expect(body == (try HostFS.readFile(file, limit: 8 << 20)))
        }
    }

    @Test func gnuTarReadsWhatWeWrite() throws {
        try #require(haveProgram("tar"), "GNU tar is needed")
        try withTemporaryDirectory { dir in
            let bytes = try Fixtures.tar([
                .dir("a"), .file("a/x", "x"), .file(TarRoundTripTests.veryLongName, "v"), .symlink("a/l", "x"),
            ])
            try HostFS.writeFileAtomically(dir + "/ours.tar", bytes)
            let (status, out) = try runProcess(["tar", "-tf", dir + "/ours.tar"])
            #expect(status == 0, "\(out)")
            #expect(out.contains(TarRoundTripTests.veryLongName))
            #expect(out.contains("a/l"))
        }
    }
}

@Suite struct TarHostileInputTests {
    @Test func badChecksumIsAOneLineError() throws {
        var bytes = try Fixtures.tar([.file("a", "b")])
        bytes[0] = UInt8(ascii: "z")
        #expect(throws: HardenError.self) { try readAll(bytes) }
        do { _ = try readAll(bytes) } catch let e as HardenError {
            #expect(e.message.contains("test.tar"))
            #expect(!e.message.contains("\n"))
        }
    }

    @Test func truncatedBodyIsReported() throws {
        let bytes = try Fixtures.tar([.file("a", String(repeating: "x", count: 5000))])
        let cut = Array(bytes[0..<2000])
        #expect(throws: HardenError.self) { try readAll(cut) }
    }

    @Test func hugePAXHeaderIsRefused() throws {
        var header = TarEntry(path: "PaxHeaders/x", type: .other(UInt8(ascii: "x")))
        header.size = 100 << 20
        let sink = MemoryWriter()
        let w = TarWriter(sink)
        // Write a header that declares a 100 MiB PAX body but provide none.
        var e = TarEntry(path: "x", type: .regular, size: 0)
        e.type = .other(UInt8(ascii: "x"))
        try w.beginEntry(e)
        try w.endEntry()
        var bytes = sink.bytes
        // Patch the size field to 100 MiB (octal) and fix the checksum.
        let size = Array(String(100 << 20, radix: 8).utf8)
        let field = [UInt8](repeating: UInt8(ascii: "0"), count: 11 - size.count) + size + [0]
        for (i, b) in field.enumerated() { bytes[124 + i] = b }
        for i in 148..<156 { bytes[i] = 0x20 }
        let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let padded = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits
        for (i, d) in padded.enumerated() { bytes[148 + i] = d }
        bytes[154] = 0
        bytes += [UInt8](repeating: 0, count: 1024)
        #expect { try readAll(bytes) } throws: { ($0 as? HardenError)?.code == .limitExceeded }
        _ = header
    }

    @Test func randomGarbageNeverCrashes() throws {
        var rng = SeededGenerator(for: "randomGarbageNeverCrashes")
        let valid = try Fixtures.tar([
            .dir("a"), .file("a/b", "content"), .symlink("c", "a/b"),
            .file(String(repeating: "p/", count: 80) + "f", "z"),
        ])
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? readAll(bytes)
        }
    }
}

@Suite struct CompressionTests {
    @Test(arguments: [Compression.gzip, .zstd, .none])
    func roundTrip(_ compression: Compression) throws {
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) }
        let packed = try Fixtures.compress(data, compression)
        #expect(Compression.detect(Array(packed.prefix(4))) == compression || compression == .none)
        let back = try compression.decompressing(MemoryReader(packed), name: "t").readAll(limit: 1 << 24, name: "t")
        #expect(back == data)
    }

    @Test func concatenatedGzipMembersAreOneStream() throws {
        let a = try Fixtures.compress(Array("hello ".utf8), .gzip)
        let b = try Fixtures.compress(Array("world".utf8), .gzip)
        let back = try GzipReader(MemoryReader(a + b), name: "t").readAll(limit: 100, name: "t")
        #expect(back == Array("hello world".utf8))
    }

    @Test(arguments: [Compression.gzip, .zstd])
    func truncatedStreamIsAnError(_ compression: Compression) throws {
        let packed = try Fixtures.compress((0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7919) }, compression)
        let cut = Array(packed[0..<(packed.count / 2)])
        #expect { try compression.decompressing(MemoryReader(cut), name: "layer.gz").drain() } throws: {
            ($0 as? HardenError)?.message.contains("truncated") ?? false || ($0 as? HardenError)?.code == .corrupt
        }
    }

    @Test(arguments: [Compression.gzip, .zstd])
    func bombIsRefusedWithBoundedWork(_ compression: Compression) throws {
        // 64 MiB of zeros compress to ~64 KiB; with a small ratio grace the reader refuses it early.
        let sink = MemoryWriter()
        let w = try compression.compressing(sink)
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<64 { try w.write(zeros) }
        try w.finish()
        let limits = DecompressionLimits(maxBytes: 1 << 40, maxRatio: 100, ratioGrace: 4 << 20)
        #expect {
            try compression.decompressing(MemoryReader(sink.bytes), name: "bomb", limits: limits).drain()
        } throws: {
            ($0 as? HardenError)?.code == .limitExceeded
        }
    }

    @Test func hashingReaderChecksDigestAndSize() throws {
        let data = Array("content".utf8)
        let good = StreamHasher.digestString(of: data)
        let hex = String(good.dropFirst("sha256:".count))
        let ok = HashingReader(MemoryReader(data), expected: ExpectedContent(hex: hex, size: 7, name: "blob"))
        #expect(try ok.readAll(limit: 100, name: "blob") == data)
        let wrongSize = HashingReader(MemoryReader(data), expected: ExpectedContent(hex: hex, size: 6, name: "blob"))
        #expect(throws: HardenError.self) { try wrongSize.drain() }
        let wrongDigest = HashingReader(
            MemoryReader(data + [1]), expected: ExpectedContent(hex: hex, size: nil, name: "blob"))
        #expect(throws: HardenError.self) { try wrongDigest.drain() }
    }
}

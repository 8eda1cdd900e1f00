// harden — ISA-L's inflate against zlib's: identical output for every stream (levels 0–9, sizes from empty to
// megabytes, several members, NUL padding, stored and fixed-Huffman blocks from Python's zlib and gzip's own
// headers), and the same verdict — an error for both, never a silent difference — on truncated and corrupted streams.
import HardenArchive
import HardenCore
import HardenSystem
import HardenTestSupport
import Testing

struct InflateBackendTests {
    static func inflate(
        _ bytes: [UInt8], _ backend: InflateBackend, readSize: Int = 65536
    ) -> Result<[UInt8], any Error> {
        Result {
            let r = GzipReader(MemoryReader(bytes), name: "t", bufferSize: 4096, backend: backend)
            var out: [UInt8] = []
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readSize, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try r.read(into: buffer)
                if n == 0 { return out }
                out += buffer.prefix(n)
            }
        }
    }

    /// gzip made by the system's gzip (its header, its block choices) at a level.
    static func systemGzip(_ data: [UInt8], level: Int) throws -> [UInt8] {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/d", data)
            let (s, o) = try runProcess(["gzip", "-\(level)", "-n", dir + "/d"])
            try #require(s == 0, "\(o)")
            return try HostFS.readFile(dir + "/d.gz", limit: 1 << 30)
        }
    }

    static func payload(_ n: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        // Half text-like (compressible), half random.
        return (0..<n).map { i in
            i % 2048 < 1024 ? UInt8(ascii: "a") + UInt8(g.next() % 8) : UInt8(truncatingIfNeeded: g.next())
        }
    }

    @Test func isalIsTheBackendHere() {
        #expect(
            InflateBackend.preferred == .isal, "scripts/setup.sh installs libisal-dev: \(InflateBackend.description)")
    }

    @Test(arguments: [0, 1, 6, 9])
    func identicalOutputOnWellFormedStreams(level: Int) throws {
        for (i, size) in [0, 1, 100, 65_535, 65_536, 1_000_003].enumerated() {
            let data = Self.payload(size, seed: UInt64(level * 100 + i))
            let gz = level == 0 ? try Fixtures.compress(data, .gzip) : try Self.systemGzip(data, level: level)
            let multi = gz + (try Fixtures.compress(Array("tail".utf8), .gzip)) + [0, 0, 0, 0]
            for stream in [gz, multi] {
                for readSize in [1, 4097, 65536] where size < 100_000 || readSize > 1 {
                    let a = Self.inflate(stream, .isal, readSize: readSize)
                    let b = Self.inflate(stream, .zlib, readSize: readSize)
                    #expect(try a.get() == b.get(), "level \(level) size \(size) read \(readSize)")
                }
            }
        }
    }

    /// Truncations and byte flips anywhere in the stream: both backends fail, or both give the same bytes.
    @Test func theSameVerdictOnBrokenStreams() throws {
        var g = SeededGenerator(for: "theSameVerdictOnBrokenStreams")
        let data = Self.payload(200_000, seed: 3)
        let gz = try Self.systemGzip(data, level: 6)
        var disagreements: [String] = []
        for cut in [1, 9, 10, 11, 20, gz.count / 2, gz.count - 8, gz.count - 4, gz.count - 1] {
            let broken = Array(gz.prefix(cut))
            let (a, b) = (Self.inflate(broken, .isal), Self.inflate(broken, .zlib))
            if case .success = a { disagreements.append("truncated at \(cut): ISA-L accepted it") }
            if case .success = b { disagreements.append("truncated at \(cut): zlib accepted it") }
        }
        // Every bit of the header and the trailer, then random bits anywhere.
        let edges = Array(0..<20) + Array((gz.count - 8)..<gz.count)
        for trial in 0..<(edges.count * 8 + 300) {
            var broken = gz
            let at = trial < edges.count * 8 ? edges[trial / 8] : Int(g.next() % UInt64(gz.count))
            broken[at] ^= UInt8(1 << (trial < edges.count * 8 ? UInt64(trial % 8) : g.next() % 8))
            switch (Self.inflate(broken, .isal), Self.inflate(broken, .zlib)) {
            case (.failure, .failure): break
            case (.success(let x), .success(let y)) where x == y: break
            case (.success, .failure(let e)):
                disagreements.append("byte \(at): ISA-L accepted what zlib rejects (\(e))")
            case (.failure(let e), .success):
                disagreements.append("byte \(at): ISA-L rejected what zlib accepts (\(e))")
            default: disagreements.append("byte \(at): different output")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    /// The raw deflate inside a gzip member made without a name or comment (header 10 bytes, trailer 8).
    static func rawDeflate(of gz: [UInt8]) -> [UInt8] { Array(gz[10..<(gz.count - 8)]) }

    /// RFC 1950's wrapper around raw deflate: CMF/FLG, then the data, then the Adler-32 of the plain bytes.
    static func zlibWrapped(_ raw: [UInt8], plain: [UInt8]) -> [UInt8] {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in plain {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        let adler = (b << 16) | a
        return [0x78, 0x9c] + raw + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: adler >> $0) }
    }

    static func oneShot(_ stream: [UInt8], _ kind: String, _ backend: InflateBackend) -> Result<[UInt8], any Error> {
        Result {
            switch kind {
            case "raw": return try Inflate.bytes(stream, format: .raw, limit: 1 << 24, what: "t", backend: backend)
            case "zlib": return try Inflate.bytes(stream, format: .zlib, limit: 1 << 24, what: "t", backend: backend)
            default:
                let (out, end) = try Inflate.gzipMember(stream, at: 0, limit: 1 << 24, what: "t", backend: backend)
                return out + Array("|end \(end)".utf8)
            }
        }
    }

    /// Zip entries, Rust's audit data and .apk members go through `Inflate`: the same bytes (and, for a gzip
    /// member, the same end offset) from both backends, and the same verdict on truncated and flipped streams.
    @Test(arguments: ["raw", "zlib", "gzip"])
    func oneShotInflateIsTheSameWithBothBackends(kind: String) throws {
        var g = SeededGenerator(seed: UInt64(kind.utf8.count))
        var disagreements: [String] = []
        for (i, size) in [0, 1, 5000, 300_000].enumerated() {
            let data = Self.payload(size, seed: UInt64(40 + i))
            let gz = try Self.systemGzip(data, level: 6)
            let raw = Self.rawDeflate(of: gz)
            var stream = kind == "raw" ? raw : kind == "zlib" ? Self.zlibWrapped(raw, plain: data) : gz
            if kind == "gzip" { stream += try Fixtures.compress(Array("next member".utf8), .gzip) }
            let a = Self.oneShot(stream, kind, .isal)
            let b = Self.oneShot(stream, kind, .zlib)
            #expect(try a.get() == b.get(), "\(kind) size \(size)")
            if kind != "gzip" { #expect(try a.get() == data) }
            guard size > 0 else { continue }
            for trial in 0..<120 {
                var broken = stream
                if trial < 8 {
                    broken = Array(stream.prefix(max(1, stream.count * trial / 8)))
                } else {
                    let at = Int(g.next() % UInt64(stream.count))
                    broken[at] ^= UInt8(1 << (g.next() % 8))
                }
                switch (Self.oneShot(broken, kind, .isal), Self.oneShot(broken, kind, .zlib)) {
                case (.failure, .failure): break
                case (.success(let x), .success(let y)) where x == y: break
                case (.success, .failure(let e)):
                    disagreements.append("\(kind) trial \(trial): only zlib rejects: \(e)")
                case (.failure(let e), .success):
                    disagreements.append("\(kind) trial \(trial): only ISA-L rejects: \(e)")
                default: disagreements.append("\(kind) trial \(trial): different output")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }
}

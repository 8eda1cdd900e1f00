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
}

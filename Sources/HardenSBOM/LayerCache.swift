// harden — per-layer scan results on disk, keyed by DiffID, so layers shared between images are read once.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// A directory of cached `LayerScan`s: `<dir>/<algorithm>-<hex>.scan`, written atomically.
public struct LayerCache: Sendable {
    public let directory: String
    /// Bump when the capture policy or the encoding changes, so old entries are ignored.
    static let formatVersion: UInt32 = 7  // 7: CPython's tail-merged version anchors

    public init(directory: String) { self.directory = directory }

    /// `$HARDEN_CACHE_DIR`, else `$XDG_CACHE_HOME/harden/layers`, else `~/.cache/harden/layers`.
    public static func defaultDirectory() -> String {
        if let d = getenv("HARDEN_CACHE_DIR") { return String(cString: d) + "/layers" }
        if let x = getenv("XDG_CACHE_HOME"), x.pointee != 0 { return String(cString: x) + "/harden/layers" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        return home + "/.cache/harden/layers"
    }

    private func path(_ diffID: Digest) -> String { "\(directory)/\(diffID.algorithm.rawValue)-\(diffID.encoded).scan" }

    /// The cached scan, or nil when absent or unreadable (a broken cache entry is ignored, not fatal).
    public func load(_ diffID: Digest) -> LayerScan? {
        guard let bytes = try? HostFS.readFile(path(diffID), limit: 1 << 30) else { return nil }
        var r = ScanDecoder(bytes)
        return try? r.decodeScan(diffID: diffID)
    }

    public func store(_ scan: LayerScan) throws {
        try HostFS.makeDirectories(directory)
        try HostFS.writeFileAtomically(path(scan.diffID), Self.encoded(scan))
    }

    /// A scan as the cache stores it, allocated once at its final size: growing by doubling would briefly hold two
    /// copies (and the scans run beside the squash, so that copy would add to the peak).
    public static func encoded(_ scan: LayerScan) -> [UInt8] {
        var w = ScanEncoder()
        w.bytes.reserveCapacity(encodedSize(scan))
        w.encode(scan)
        return w.bytes
    }

    /// The size of `encoded(scan)`, computed without encoding.
    public static func encodedSize(_ scan: LayerScan) -> Int { ScanEncoder.encodedSize(scan) }
}

struct ScanEncoder {
    var bytes: [UInt8] = Array("HDNSCAN".utf8)

    init() { u32(LayerCache.formatVersion) }

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func blob(_ b: [UInt8]) {
        u32(UInt32(b.count))
        bytes.append(contentsOf: b)
    }

    /// The number of bytes `encode` appends after the header (an upper bound would do; this is exact).
    static func encodedSize(_ scan: LayerScan) -> Int {
        let header = 7 + 4
        var n = header + 4 + scan.diffID.description.utf8.count + 8 + 4
        for e in scan.entries {
            n += 4 + e.path.bytes.count + 1 + 4 + 8 * 4 + 4 + e.linkTarget.count + 4 + 4
            n += 4 + e.uname.utf8.count + 4 + e.gname.utf8.count + 4
            for (k, v) in e.xattrs { n += 4 + k.utf8.count + 4 + v.count }
        }
        n += 4
        for (_, c) in scan.captures { n += 4 + 4 + c.count }
        return n
    }

    mutating func encode(_ scan: LayerScan) {
        blob(Array(scan.diffID.description.utf8))
        i64(scan.uncompressedSize)
        u32(UInt32(scan.entries.count))
        for e in scan.entries {
            blob(e.path.bytes)
            bytes.append(e.type.flag)
            u32(e.mode)
            i64(Int64(e.uid))
            i64(Int64(e.gid))
            i64(e.size)
            i64(e.mtime)
            blob(e.linkTarget)
            u32(e.devMajor)
            u32(e.devMinor)
            blob(Array(e.uname.utf8))
            blob(Array(e.gname.utf8))
            u32(UInt32(e.xattrs.count))
            for k in e.xattrs.keys.sorted() {
                blob(Array(k.utf8))
                blob(e.xattrs[k] ?? [])
            }
        }
        u32(UInt32(scan.captures.count))
        for k in scan.captures.keys.sorted() {
            u32(UInt32(k))
            blob(scan.captures[k] ?? [])
        }
    }
}

struct ScanDecoder {
    private let bytes: [UInt8]
    private var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private struct Truncated: Error {}

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - at else { throw Truncated() }
        defer { at += n }
        return bytes[at..<(at + n)]
    }
    mutating func u32() throws -> UInt32 {
        guard at + 4 <= bytes.count else { throw Truncated() }
        defer { at += 4 }
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    }
    mutating func i64() throws -> Int64 {
        guard at + 8 <= bytes.count else { throw Truncated() }
        defer { at += 8 }
        return bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: Int64.self)) }
    }
    mutating func blob() throws -> [UInt8] { Array(try take(Int(try u32()))) }

    mutating func decodeScan(diffID: Digest) throws -> LayerScan {
        guard Array(try take(7)) == Array("HDNSCAN".utf8), try u32() == LayerCache.formatVersion else {
            throw Truncated()
        }
        guard String(decoding: try blob(), as: UTF8.self) == diffID.description else { throw Truncated() }
        let size = try i64()
        let count = Int(try u32())
        var entries: [TarEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let path = try blob()
            let flag = try take(1).first ?? 0
            var e = TarEntry(path: RawPath(path), type: TarEntryType(flag: flag))
            e.mode = try u32()
            e.uid = Int(try i64())
            e.gid = Int(try i64())
            e.size = try i64()
            e.mtime = try i64()
            e.linkTarget = try blob()
            e.devMajor = try u32()
            e.devMinor = try u32()
            e.uname = String(decoding: try blob(), as: UTF8.self)
            e.gname = String(decoding: try blob(), as: UTF8.self)
            let nx = Int(try u32())
            for _ in 0..<nx {
                let k = String(decoding: try blob(), as: UTF8.self)
                e.xattrs[k] = try blob()
            }
            entries.append(e)
        }
        var captures: [Int: [UInt8]] = [:]
        let nc = Int(try u32())
        for _ in 0..<nc {
            let k = Int(try u32())
            captures[k] = try blob()
        }
        return LayerScan(diffID: diffID, entries: entries, captures: captures, uncompressedSize: size)
    }
}

// harden — reading ZIP archives in memory (Java archives, OSV all.zip exports), ZIP64 included.
//
// Hostile archives: entries whose data ranges overlap (the "zip bomb" trick of pointing many central-directory
// entries at the same compressed data, multiplied by nesting) are refused; entries larger than `maxEntrySize` are
// refused; every inflation is charged to an `InflationBudget`, so nested archives cannot multiply the work.
import HardenCore

/// How many bytes may still be inflated, shared by every archive read for one purpose (one image's catalogue).
public final class InflationBudget {
    public let limit: Int
    public private(set) var remaining: Int
    /// What the budget ran out on, once it has.
    public private(set) var exhaustedBy: String?
    public init(limit: Int) {
        self.limit = limit
        remaining = limit
    }

    /// Takes `bytes` from the budget, or throws `limitExceeded` naming `what`.
    public func charge(_ bytes: Int, for what: String) throws {
        guard bytes <= remaining else {
            remaining = 0
            if exhaustedBy == nil { exhaustedBy = what }
            throw HardenError(
                .limitExceeded,
                "\(what): more than \(limit >> 20) MiB would be inflated from zip archives (a zip bomb?)")
        }
        remaining -= bytes
    }
}

/// A minimal ZIP reader over bytes in memory: the central directory, stored and deflated entries.
public struct ZipArchive {
    public struct Entry: Sendable {
        public var name: String
        public var method: UInt16
        public var compressedSize: Int
        public var uncompressedSize: Int
        public var localHeaderOffset: Int
        /// Where its central-directory record starts, and the CRC-32 it declares.
        public var centralOffset: Int = 0
        public var crc32: UInt32 = 0
    }

    /// The largest entry inflated into memory.
    public static let maxEntrySize = 256 << 20

    let bytes: [UInt8]
    public private(set) var entries: [Entry] = []
    /// Where the end-of-central-directory record starts; whether the archive uses ZIP64 records.
    public private(set) var endOfCentralDirectory = 0
    public private(set) var isZip64 = false

    public init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        // End of central directory: search backwards (a comment may follow it).
        guard bytes.count >= 22 else { throw HardenError(.corrupt, "not a zip archive (too short)") }
        var eocd = -1
        var i = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while i >= lowest {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4b && bytes[i + 2] == 0x05 && bytes[i + 3] == 0x06 {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else { throw HardenError(.corrupt, "not a zip archive (no end of central directory)") }
        endOfCentralDirectory = eocd
        var count = u16(eocd + 10)
        var at = u32(eocd + 16)
        func u64(_ i: Int) -> Int { u32(i) | u32(i + 4) << 32 }
        // ZIP64: a locator just before the end record points at a 64-bit end record.
        if count == 0xffff || at == 0xffff_ffff, eocd >= 20, u32(eocd - 20) == 0x07064b50 {
            let z64 = u64(eocd - 20 + 8)
            guard z64 >= 0, z64 + 56 <= bytes.count, u32(z64) == 0x06064b50 else {
                throw HardenError(.corrupt, "corrupt zip64 end record")
            }
            isZip64 = true
            count = u64(z64 + 32)
            at = u64(z64 + 48)
        }
        guard count >= 0, count < 10_000_000, at >= 0 else {
            throw HardenError(.corrupt, "corrupt zip central directory")
        }
        for _ in 0..<count {
            guard at + 46 <= bytes.count, u32(at) == 0x02014b50 else {
                throw HardenError(.corrupt, "corrupt zip central directory")
            }
            let nameLen = u16(at + 28), extraLen = u16(at + 30), commentLen = u16(at + 32)
            guard at + 46 + nameLen <= bytes.count else { throw HardenError(.corrupt, "corrupt zip central directory") }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLen)], as: UTF8.self)
            var compressed = u32(at + 20), uncompressed = u32(at + 24), offset = u32(at + 42)
            // ZIP64 extra field (id 1) carries the values stored as 0xffffffff, in this order.
            var e = at + 46 + nameLen
            let extraEnd = min(e + extraLen, bytes.count)
            while e + 4 <= extraEnd {
                let id = u16(e), size = u16(e + 2)
                if id == 1 {
                    var p = e + 4
                    if uncompressed == 0xffff_ffff, p + 8 <= extraEnd {
                        uncompressed = u64(p)
                        p += 8
                    }
                    if compressed == 0xffff_ffff, p + 8 <= extraEnd {
                        compressed = u64(p)
                        p += 8
                    }
                    if offset == 0xffff_ffff, p + 8 <= extraEnd { offset = u64(p) }
                }
                e += 4 + size
            }
            entries.append(
                Entry(
                    name: name, method: UInt16(u16(at + 10)), compressedSize: compressed,
                    uncompressedSize: uncompressed,
                    localHeaderOffset: offset, centralOffset: at, crc32: UInt32(u32(at + 16))))
            at += 46 + nameLen + extraLen + commentLen
        }
        try Self.checkNoOverlap(entries, bytes)
    }

    /// Refuses entries whose local header and data overlap another's: real archives never share bytes between
    /// entries, bombs do (many entries over one highly compressed stream).
    static func checkNoOverlap(_ entries: [Entry], _ bytes: [UInt8]) throws {
        var spans: [(start: Int, end: Int, name: String)] = []
        spans.reserveCapacity(entries.count)
        for e in entries {
            let h = e.localHeaderOffset
            guard h >= 0, e.compressedSize >= 0, h <= bytes.count - 30 else { continue }  // reported when read
            let nameLen = Int(bytes[h + 26]) | Int(bytes[h + 27]) << 8
            let extraLen = Int(bytes[h + 28]) | Int(bytes[h + 29]) << 8
            let (end, overflow) = (h + 30 + nameLen + extraLen).addingReportingOverflow(e.compressedSize)
            spans.append((h, overflow ? Int.max : end, e.name))
        }
        spans.sort { $0.start < $1.start }
        for i in spans.indices.dropFirst() where spans[i].start < spans[i - 1].end {
            throw HardenError(
                .limitExceeded, "zip entries \(spans[i - 1].name) and \(spans[i].name) overlap (a zip bomb?)")
        }
    }

    /// The entry's bytes; with a `budget`, its declared size is charged first (inflation never exceeds it).
    public func read(_ e: Entry, budget: InflationBudget? = nil) throws -> [UInt8] {
        let h = e.localHeaderOffset
        guard h + 30 <= bytes.count, bytes[h] == 0x50, bytes[h + 1] == 0x4b, bytes[h + 2] == 0x03, bytes[h + 3] == 0x04
        else {
            throw HardenError(.corrupt, "corrupt zip entry \(e.name)")
        }
        let nameLen = Int(bytes[h + 26]) | Int(bytes[h + 27]) << 8
        let extraLen = Int(bytes[h + 28]) | Int(bytes[h + 29]) << 8
        let start = h + 30 + nameLen + extraLen
        guard e.compressedSize >= 0, start + e.compressedSize <= bytes.count, e.uncompressedSize >= 0 else {
            throw HardenError(.corrupt, "zip entry \(e.name) runs past the archive")
        }
        guard e.uncompressedSize <= Self.maxEntrySize else {
            throw HardenError(
                .limitExceeded,
                "zip entry \(e.name) is \(e.uncompressedSize) bytes, more than the \(Self.maxEntrySize >> 20) MiB read into memory"
            )
        }
        if e.method == 8 { try budget?.charge(e.uncompressedSize, for: "zip entry \(e.name)") }
        let data = Array(bytes[start..<(start + e.compressedSize)])
        switch e.method {
        case 0: return data
        case 8:
            return try Inflate.bytes(
                data, format: .raw, limit: e.uncompressedSize, what: "zip entry \(e.name)", sizeHint: e.uncompressedSize
            )
        default: throw HardenError(.corrupt, "zip entry \(e.name) uses compression method \(e.method)")
        }
    }
}

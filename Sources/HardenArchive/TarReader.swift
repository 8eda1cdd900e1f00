// harden — a streaming tar reader: ustar, GNU (long names, old sparse) and PAX (incl. sparse 0.1/1.0).
import HardenCore

/// A reader whose stream can skip ahead without reading (a file).
public protocol SkippingByteReader: ByteReader {
    func skip(_ count: Int64) throws
}

extension FileReader: SkippingByteReader {}

/// Limits that keep a hostile header from making the reader allocate or loop without bound.
public struct TarLimits: Sendable {
    public var maxExtendedHeader: Int = 1 << 20
    public var maxLongName: Int = 64 * 1024
    public var maxSparseRegions: Int = 1 << 20
    public init() {}
}

/// Reads a tar archive entry by entry; bodies are streamed, never buffered whole.
///
/// ```swift
/// let tar = TarReader(reader, name: "layer.tar")
/// while let entry = try tar.next() {
///     let n = try tar.readBody(into: buffer)   // optional; unread bodies are skipped
/// }
/// ```
public final class TarReader {
    private let input: BufferedInput
    private let name: String
    private let limits: TarLimits
    private var globals: [String: [UInt8]] = [:]
    /// Bytes of stored data (plus padding) of the current entry still unread.
    private var remainingStored: Int64 = 0
    private var padding: Int64 = 0
    private var sparse: SparseState?
    /// Bytes of a non-sparse entry's content handed out by `readBodyData`.
    private var storedPosition: Int64 = 0
    public private(set) var isAtEnd = false
    /// Offset in the archive stream of the current entry's stored data.
    public private(set) var dataOffset: Int64 = 0
    /// Offset in the archive stream just past the end-of-archive marker, once reached.
    public var position: Int64 { input.consumed }

    public init(_ reader: any ByteReader, name: String, limits: TarLimits = TarLimits()) {
        self.input = BufferedInput(reader, name: name)
        self.name = name
        self.limits = limits
    }

    // MARK: entries

    /// The next entry, or `nil` at the end of the archive. Skips whatever is left of the previous body.
    public func next() throws -> TarEntry? {
        if isAtEnd { return nil }
        try skipRestOfBody()
        var pax: [String: [UInt8]] = [:]
        var longName: [UInt8]?
        var longLink: [UInt8]?
        while true {
            guard let header = try input.readBlock(orEndOf: true) else {
                // EOF without the end-of-archive marker: accepted when at a block boundary (many writers do it).
                isAtEnd = true
                return nil
            }
            if header.allSatisfy({ $0 == 0 }) {
                isAtEnd = true
                return nil
            }
            try verifyChecksum(header)
            let flag = header[156]
            let size = try parseNumber(header, 124, 12, field: "size")
            guard size >= 0 else { throw corrupt("negative entry size") }
            switch flag {
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                guard size <= limits.maxExtendedHeader else {
                    throw HardenError(
                        .limitExceeded,
                        "\(name): PAX header of \(size) bytes is larger than \(limits.maxExtendedHeader)")
                }
                let body = try input.readExact(Int(size))
                try input.skip(paddingFor(size))
                let records = try parsePAX(body)
                if flag == UInt8(ascii: "g") {
                    globals.merge(records) { $1 }
                } else {
                    pax.merge(records) { $1 }
                }
                continue
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard size <= limits.maxLongName else {
                    throw HardenError(
                        .limitExceeded, "\(name): GNU long name of \(size) bytes is longer than \(limits.maxLongName)")
                }
                var body = try input.readExact(Int(size))
                try input.skip(paddingFor(size))
                if let nul = body.firstIndex(of: 0) { body.removeSubrange(nul...) }
                if flag == UInt8(ascii: "L") { longName = body } else { longLink = body }
                continue
            default:
                break
            }
            return try makeEntry(
                header: header, storedSize: size, pax: globals.merging(pax) { $1 }, longName: longName,
                longLink: longLink)
        }
    }

    private func makeEntry(
        header: [UInt8], storedSize: Int64, pax: [String: [UInt8]], longName: [UInt8]?, longLink: [UInt8]?
    ) throws -> TarEntry {
        let flag = header[156]
        let magic = Array(header[257..<263])
        let isPOSIX = magic == Array("ustar\0".utf8)
        let isGNU = magic == Array("ustar ".utf8)
        var path = cString(header, 0, 100)
        if isPOSIX {
            let prefix = cString(header, 345, 155)
            if !prefix.isEmpty { path = prefix + [UInt8(ascii: "/")] + path }
        }
        if let longName { path = longName }
        if let p = pax["path"] { path = p }
        var link = cString(header, 157, 100)
        if let longLink { link = longLink }
        if let l = pax["linkpath"] { link = l }

        var entry = TarEntry(path: RawPath(path), type: TarEntryType(flag: flag))
        entry.mode = UInt32(truncatingIfNeeded: try parseNumber(header, 100, 8, field: "mode") & 0o7777)
        entry.uid = Int(try parseNumber(header, 108, 8, field: "uid"))
        entry.gid = Int(try parseNumber(header, 116, 8, field: "gid"))
        entry.mtime = try parseNumber(header, 136, 12, field: "mtime")
        entry.linkTarget = link
        if isPOSIX || isGNU {
            entry.uname = String(decoding: cString(header, 265, 32), as: UTF8.self)
            entry.gname = String(decoding: cString(header, 297, 32), as: UTF8.self)
            entry.devMajor = UInt32(truncatingIfNeeded: try parseNumber(header, 329, 8, field: "devmajor"))
            entry.devMinor = UInt32(truncatingIfNeeded: try parseNumber(header, 337, 8, field: "devminor"))
        }
        var stored = storedSize
        if let v = pax["size"] { stored = try paxInt(v, "size") }
        if let v = pax["uid"] { entry.uid = Int(try paxInt(v, "uid")) }
        if let v = pax["gid"] { entry.gid = Int(try paxInt(v, "gid")) }
        if let v = pax["uname"] { entry.uname = String(decoding: v, as: UTF8.self) }
        if let v = pax["gname"] { entry.gname = String(decoding: v, as: UTF8.self) }
        if let v = pax["mtime"] {
            let whole = v.split(separator: UInt8(ascii: "."), maxSplits: 1).first ?? []
            entry.mtime = try paxInt(Array(whole), "mtime")
        }
        for (key, value) in pax where key.hasPrefix("SCHILY.xattr.") {
            entry.xattrs[String(key.dropFirst("SCHILY.xattr.".count))] = value
        }
        for (key, value) in pax where key.hasPrefix("APK-TOOLS.") { entry.apkRecords[key] = value }
        guard stored >= 0 else { throw corrupt("negative entry size") }
        // Types without data in the archive (links, devices, dirs) still may declare a size; honour it for skipping.
        entry.size = stored
        sparse = nil
        storedPosition = 0

        // Sparse files: old GNU 'S', PAX 0.1 (map in a record) and PAX 1.0 (map in the data).
        if flag == UInt8(ascii: "S") && isGNU {
            entry.type = .regular
            var regions = try gnuSparseRegions(header, from: 386, count: 4)
            var extended = header[482] != 0
            let realSize = try parseNumber(header, 483, 12, field: "realsize")
            while extended {
                guard let block = try input.readBlock(orEndOf: false) else {
                    throw corrupt("archive ends inside a sparse header")
                }
                regions += try gnuSparseRegions(block, from: 0, count: 21)
                guard regions.count <= limits.maxSparseRegions else {
                    throw HardenError(
                        .limitExceeded, "\(name): sparse map has more than \(limits.maxSparseRegions) regions")
                }
                extended = block[504] != 0
            }
            try startSparse(&entry, regions: regions, realSize: realSize, stored: stored)
        } else if let major = pax["GNU.sparse.major"], let minor = pax["GNU.sparse.minor"],
            major == Array("1".utf8), minor == Array("0".utf8)
        {
            if let n = pax["GNU.sparse.name"] { entry.path = RawPath(n) }
            let realSize = try paxInt(pax["GNU.sparse.realsize"] ?? [], "GNU.sparse.realsize")
            remainingStored = stored
            padding = paddingFor(stored)
            dataOffset = input.consumed
            let (regions, _) = try readSparseMap1()
            try startSparse(
                &entry, regions: regions, realSize: realSize, stored: remainingStored, alreadyPositioned: true)
        } else if let map = pax["GNU.sparse.map"] {
            if let n = pax["GNU.sparse.name"] { entry.path = RawPath(n) }
            let realSize = try paxInt(pax["GNU.sparse.size"] ?? pax["GNU.sparse.realsize"] ?? [], "GNU.sparse.size")
            let numbers = try map.split(separator: UInt8(ascii: ",")).map { try paxInt(Array($0), "GNU.sparse.map") }
            guard numbers.count % 2 == 0 else { throw corrupt("odd GNU.sparse.map") }
            let regions = stride(from: 0, to: numbers.count, by: 2).map {
                TarEntry.SparseRegion(offset: numbers[$0], length: numbers[$0 + 1])
            }
            try startSparse(&entry, regions: regions, realSize: realSize, stored: stored)
        } else {
            remainingStored = stored
            padding = paddingFor(stored)
            dataOffset = input.consumed
        }
        if entry.type == .hardlink || entry.type == .symlink || entry.type == .directory
            || entry.type == .characterDevice || entry.type == .blockDevice || entry.type == .fifo
        {
            entry.size = 0
        }
        return entry
    }

    private func startSparse(
        _ entry: inout TarEntry, regions: [TarEntry.SparseRegion], realSize: Int64, stored: Int64,
        alreadyPositioned: Bool = false
    ) throws {
        var expectedStored: Int64 = 0
        var lastEnd: Int64 = 0
        for r in regions {
            guard r.offset >= 0, r.length >= 0, r.offset >= lastEnd,
                r.offset.addingReportingOverflow(r.length).overflow == false,
                r.offset + r.length <= realSize
            else {
                throw corrupt("sparse map of \(entry.path) has overlapping or out-of-range regions")
            }
            lastEnd = r.offset + r.length
            expectedStored += r.length
        }
        guard expectedStored == stored else {
            throw corrupt(
                "sparse map of \(entry.path) describes \(expectedStored) bytes but the entry stores \(stored)")
        }
        if !alreadyPositioned {
            remainingStored = stored
            padding = paddingFor(stored)
            dataOffset = input.consumed
        }
        entry.size = realSize
        entry.sparseMap = regions
        sparse = SparseState(regions: regions, realSize: realSize)
    }

    private func readSparseMap1() throws -> ([TarEntry.SparseRegion], Int64) {
        // Decimal numbers, one per line: count, then offset/length pairs; padded to a block.
        var consumed: Int64 = 0
        var line: [UInt8] = []
        func nextNumber() throws -> Int64 {
            line.removeAll()
            while true {
                guard remainingStored > 0 else { throw corrupt("sparse map runs past the entry's data") }
                let b = try input.readExact(1)[0]
                remainingStored -= 1
                consumed += 1
                if b == UInt8(ascii: "\n") { break }
                line.append(b)
                if line.count > 20 { throw corrupt("sparse map number is too long") }
            }
            return try paxInt(line, "sparse map")
        }
        let count = try nextNumber()
        guard count >= 0 && count <= Int64(limits.maxSparseRegions) else {
            throw HardenError(.limitExceeded, "\(name): sparse map declares \(count) regions")
        }
        var regions: [TarEntry.SparseRegion] = []
        for _ in 0..<count {
            let off = try nextNumber()
            let len = try nextNumber()
            regions.append(.init(offset: off, length: len))
        }
        let pad = paddingFor(consumed)
        guard remainingStored >= pad else { throw corrupt("sparse map runs past the entry's data") }
        try input.skip(pad)
        remainingStored -= pad
        return (regions, consumed + pad)
    }

    private func gnuSparseRegions(_ block: [UInt8], from: Int, count: Int) throws -> [TarEntry.SparseRegion] {
        var out: [TarEntry.SparseRegion] = []
        for i in 0..<count {
            let base = from + i * 24
            if block[base] == 0 { break }
            let off = try parseNumber(block, base, 12, field: "sparse offset")
            let len = try parseNumber(block, base + 12, 12, field: "sparse length")
            out.append(.init(offset: off, length: len))
        }
        return out
    }

    // MARK: bodies

    /// Reads the current entry's content (holes of sparse files come back as zeros); 0 at its end.
    public func readBody(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if var s = sparse {
            defer { sparse = s }
            while s.regionIndex < s.regions.count {
                let region = s.regions[s.regionIndex]
                if s.position < region.offset {
                    let n = Int(min(Int64(buffer.count), region.offset - s.position))
                    buffer.baseAddress.unsafelyUnwrapped.initializeMemory(as: UInt8.self, repeating: 0, count: n)
                    s.position += Int64(n)
                    return n
                }
                let left = region.offset + region.length - s.position
                if left <= 0 {
                    s.regionIndex += 1
                    continue
                }
                let n = try readStored(
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), left))]))
                s.position += Int64(n)
                return n
            }
            if s.position >= s.realSize { return 0 }
            let n = Int(min(Int64(buffer.count), s.realSize - s.position))
            buffer.baseAddress.unsafelyUnwrapped.initializeMemory(as: UInt8.self, repeating: 0, count: n)
            s.position += Int64(n)
            return n
        }
        return try readStored(into: buffer)
    }

    /// Reads the current entry's next stored bytes and where they go in the file, skipping the holes of sparse
    /// files (which `readBody` returns as zeros); nil at the entry's end. Writers use it to keep holes as holes.
    public func readBodyData(into buffer: UnsafeMutableRawBufferPointer) throws -> (offset: Int64, count: Int)? {
        guard buffer.count > 0 else { return nil }
        guard var s = sparse else {
            let at = storedPosition
            let n = try readStored(into: buffer)
            storedPosition += Int64(n)
            return n == 0 ? nil : (at, n)
        }
        defer { sparse = s }
        while s.regionIndex < s.regions.count {
            let region = s.regions[s.regionIndex]
            if s.position < region.offset { s.position = region.offset }
            let left = region.offset + region.length - s.position
            if left <= 0 {
                s.regionIndex += 1
                continue
            }
            let at = s.position
            let n = try readStored(
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), left))]))
            s.position += Int64(n)
            return (at, n)
        }
        s.position = s.realSize
        return nil
    }

    private func readStored(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if remainingStored == 0 { return 0 }
        let want = Int(min(Int64(buffer.count), remainingStored))
        let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        if n == 0 { throw corrupt("archive ends inside an entry's data (truncated)") }
        remainingStored -= Int64(n)
        return n
    }

    /// Reads the whole body of the current entry, refusing one larger than `limit`.
    public func readWholeBody(limit: Int) throws -> [UInt8] {
        try TarBodyReader(self).readAll(limit: limit, name: name)
    }

    /// A `ByteReader` over the current entry's body.
    public func bodyReader() -> any ByteReader { TarBodyReader(self) }

    private func skipRestOfBody() throws {
        if remainingStored > 0 || padding > 0 {
            try input.skip(remainingStored + padding)
            remainingStored = 0
            padding = 0
        }
        sparse = nil
    }

    /// Reads what follows the end-of-archive marker, up to `limit` bytes; fails if there is more.
    /// Layers are hashed whole, so trailing data must be read, but a bomb must not be.
    public func drainTrailer(limit: Int64, onExcess message: String) throws {
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try input.read(into: buffer)
            if n == 0 { return }
            total += Int64(n)
            if total > limit { throw HardenError(.limitExceeded, "\(name): \(message)") }
        }
    }

    // MARK: field parsing

    private func corrupt(_ what: String) -> HardenError { HardenError(.corrupt, "\(name): \(what)") }

    private func paddingFor(_ size: Int64) -> Int64 { (512 - size % 512) % 512 }

    private func cString(_ block: [UInt8], _ offset: Int, _ length: Int) -> [UInt8] {
        let slice = block[offset..<(offset + length)]
        if let nul = slice.firstIndex(of: 0) { return Array(block[offset..<nul]) }
        return Array(slice)
    }

    private func verifyChecksum(_ header: [UInt8]) throws {
        let stored = try parseNumber(header, 148, 8, field: "checksum")
        // The checksum field counts as eight spaces; the sums run over raw bytes (this is once per entry).
        var unsigned = 8 * 0x20
        var signed = 8 * 0x20
        header.withUnsafeBufferPointer { h in
            for i in 0..<min(148, h.count) {
                unsigned &+= Int(h[i])
                signed &+= Int(Int8(bitPattern: h[i]))
            }
            for i in 156..<min(512, h.count) {
                unsigned &+= Int(h[i])
                signed &+= Int(Int8(bitPattern: h[i]))
            }
        }
        let (unsigned64, signed64) = (Int64(unsigned), Int64(signed))
        guard stored == unsigned64 || stored == signed64 else {
            throw corrupt("header checksum mismatch at offset \(input.consumed - 512) (not a tar archive, or corrupt)")
        }
    }

    /// Octal (NUL/space padded) or GNU base-256 numbers.
    private func parseNumber(_ block: [UInt8], _ offset: Int, _ length: Int, field: String) throws -> Int64 {
        let bytes = block[offset..<(offset + length)]
        guard let first = bytes.first else { return 0 }
        if first & 0x80 != 0 {
            // Base-256, two's complement; reject values that do not fit in Int64.
            let negative = first & 0x40 != 0
            var value: Int64 = negative ? -1 : 0
            for (i, b) in bytes.enumerated() {
                let byte = i == 0 ? (negative ? (b | 0x80) : (b & 0x7f)) : b
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 256)
                if overflow { throw corrupt("\(field) field overflows") }
                value = shifted | Int64(byte)
                if i == 0 && negative { value = Int64(Int8(bitPattern: byte)) }
            }
            return value
        }
        var value: Int64 = 0
        var started = false
        var ended = false
        for b in bytes {
            if b == 0 || b == UInt8(ascii: " ") {
                if started { ended = true }
                continue
            }
            guard !ended, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "7") else {
                throw corrupt("\(field) field is not an octal number")
            }
            started = true
            let (v, o) = value.multipliedReportingOverflow(by: 8)
            if o { throw corrupt("\(field) field overflows") }
            value = v + Int64(b - UInt8(ascii: "0"))
        }
        return value
    }

    private func paxInt(_ bytes: [UInt8], _ key: String) throws -> Int64 {
        guard !bytes.isEmpty, bytes.count <= 19, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            // Negative mtimes exist in the wild; accept a leading '-'.
            if key == "mtime", bytes.first == UInt8(ascii: "-") { return -(try paxInt(Array(bytes.dropFirst()), key)) }
            throw corrupt("PAX \(key) is not a decimal number")
        }
        var v: Int64 = 0
        for b in bytes { v = v * 10 + Int64(b - 0x30) }
        return v
    }

    private func parsePAX(_ body: [UInt8]) throws -> [String: [UInt8]] {
        var records: [String: [UInt8]] = [:]
        var i = 0
        while i < body.count {
            if body[i] == 0 { break }
            var j = i
            var length = 0
            while j < body.count && body[j] != UInt8(ascii: " ") {
                guard body[j] >= 0x30 && body[j] <= 0x39, length < 1 << 24 else {
                    throw corrupt("malformed PAX record length")
                }
                length = length * 10 + Int(body[j] - 0x30)
                j += 1
            }
            guard j < body.count, length > j - i + 1, i + length <= body.count,
                body[i + length - 1] == UInt8(ascii: "\n")
            else {
                throw corrupt("malformed PAX record")
            }
            let record = body[(j + 1)..<(i + length - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { throw corrupt("PAX record without '='") }
            let key = String(decoding: record[record.startIndex..<eq], as: UTF8.self)
            records[key] = Array(record[(eq + 1)...])
            i += length
        }
        return records
    }
}

private struct SparseState {
    var regions: [TarEntry.SparseRegion]
    var realSize: Int64
    var regionIndex = 0
    var position: Int64 = 0
}

/// The current entry's body as a stream.
final class TarBodyReader: ByteReader {
    private let tar: TarReader
    init(_ tar: TarReader) { self.tar = tar }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try tar.readBody(into: buffer) }
}

/// A read buffer with exact reads, skips and a running offset.
final class BufferedInput {
    private let inner: any ByteReader
    private let name: String
    private let storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private(set) var consumed: Int64 = 0

    init(_ inner: any ByteReader, name: String, capacity: Int = 256 * 1024) {
        self.inner = inner
        self.name = name
        self.storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    private func fill() throws -> Bool {
        if start == end {
            start = 0
            end = 0
        }
        if end == storage.count {
            // Move the unread tail to the front.
            let n = end - start
            if n > 0 {
                storage.baseAddress.unsafelyUnwrapped.copyMemory(
                    from: storage.baseAddress.unsafelyUnwrapped + start, byteCount: n)
            }
            start = 0
            end = n
        }
        let n = try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[end...]))
        end += n
        return n > 0
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if start == end {
            // Large reads bypass the buffer.
            if buffer.count >= storage.count / 2 {
                let n = try inner.read(into: buffer)
                consumed += Int64(n)
                return n
            }
            if try !fill() { return 0 }
        }
        let n = min(buffer.count, end - start)
        buffer.baseAddress.unsafelyUnwrapped.copyMemory(
            from: storage.baseAddress.unsafelyUnwrapped + start, byteCount: n)
        start += n
        consumed += Int64(n)
        return n
    }

    func readExact(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = try out.withUnsafeMutableBytes {
                try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]))
            }
            if n == 0 { throw HardenError(.corrupt, "\(name): archive is truncated") }
            filled += n
        }
        return out
    }

    /// Reads a 512-byte block; `nil` at a clean end of stream when `orEndOf` allows it.
    func readBlock(orEndOf allowed: Bool) throws -> [UInt8]? {
        if start == end, try !fill() {
            if allowed { return nil }
            throw HardenError(.corrupt, "\(name): archive is truncated")
        }
        return try readExact(512)
    }

    func skip(_ count: Int64) throws {
        var left = count
        let buffered = Int64(end - start)
        if buffered >= left {
            start += Int(left)
            consumed += left
            return
        }
        start = 0
        end = 0
        left -= buffered
        consumed += buffered
        if let skipper = inner as? any SkippingByteReader {
            try skipper.skip(left)
            consumed += left
            return
        }
        while left > 0 {
            let n = try inner.read(
                into: UnsafeMutableRawBufferPointer(rebasing: storage[0..<Int(min(Int64(storage.count), left))]))
            if n == 0 { throw HardenError(.corrupt, "\(name): archive ends inside an entry's data (truncated)") }
            left -= Int64(n)
            consumed += Int64(n)
        }
    }
}

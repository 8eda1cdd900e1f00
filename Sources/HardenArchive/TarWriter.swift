// harden — a deterministic tar writer: ustar headers, PAX records only when a field does not fit.
import HardenCore

/// Writes tar archives. The bytes written depend only on the entries given (no clock, no host user names),
/// so writing the same tree twice gives the same digest.
///
/// ```swift
/// let tar = TarWriter(sink)
/// try tar.append(TarEntry(path: "etc/hostname", type: .regular, size: 5), body: Array("host\n".utf8))
/// try tar.finish()
/// ```
public final class TarWriter {
    private let sink: any ByteWriter
    private var remaining: Int64 = 0
    private var inEntry = false
    private static let zeroBlock = [UInt8](repeating: 0, count: 512)

    public init(_ sink: any ByteWriter) { self.sink = sink }

    /// Writes an entry with its whole body.
    public func append(_ entry: TarEntry, body: [UInt8] = []) throws {
        var e = entry
        if e.type == .regular { e.size = Int64(body.count) }
        try beginEntry(e)
        if !body.isEmpty { try writeBody(body) }
        try endEntry()
    }

    /// Writes an entry whose body is streamed from `reader` (exactly `entry.size` bytes).
    public func append(_ entry: TarEntry, from reader: any ByteReader) throws {
        try beginEntry(entry)
        if entry.type == .regular && entry.size > 0 {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while remaining > 0 {
                let n = try reader.read(
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))]))
                if n == 0 { throw HardenError(.corrupt, "\(entry.path): content ended \(remaining) bytes early") }
                try writeBody(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
        try endEntry()
    }

    /// Writes an entry's header; for regular files, `entry.size` bytes of body must follow.
    public func beginEntry(_ entry: TarEntry) throws {
        guard !inEntry else { throw HardenError(.internalError, "tar writer: previous entry not finished") }
        var pax: [(String, [UInt8])] = []
        var header = [UInt8](repeating: 0, count: 512)

        let path = entry.path.bytes
        let isUTF8 =
            String(validating: path, as: UTF8.self) != nil && String(validating: entry.linkTarget, as: UTF8.self) != nil
        if path.count <= 100 {
            put(&header, 0, path)
        } else if let split = Self.ustarSplit(path) {
            put(&header, 345, Array(path[..<split]))
            put(&header, 0, Array(path[(split + 1)...]))
        } else {
            pax.append(("path", path))
            put(&header, 0, Array(path.suffix(100)))
        }
        if entry.linkTarget.count <= 100 {
            put(&header, 157, entry.linkTarget)
        } else {
            pax.append(("linkpath", entry.linkTarget))
            put(&header, 157, Array(entry.linkTarget.prefix(100)))
        }
        let size: Int64 = entry.type == .regular ? entry.size : 0
        putOctal(&header, 100, 8, Int64(entry.mode & 0o7777))
        if !putOctal(&header, 108, 8, Int64(entry.uid)) { pax.append(("uid", Array(String(entry.uid).utf8))) }
        if !putOctal(&header, 116, 8, Int64(entry.gid)) { pax.append(("gid", Array(String(entry.gid).utf8))) }
        if !putOctal(&header, 124, 12, size) { pax.append(("size", Array(String(size).utf8))) }
        if !putOctal(&header, 136, 12, max(entry.mtime, 0)) || entry.mtime < 0 {
            pax.append(("mtime", Array(String(entry.mtime).utf8)))
        }
        header[156] = entry.type.flag
        put(&header, 257, Array("ustar\0".utf8))
        put(&header, 263, Array("00".utf8))
        let uname = Array(entry.uname.utf8)
        let gname = Array(entry.gname.utf8)
        if uname.count <= 32 { put(&header, 265, uname) } else { pax.append(("uname", uname)) }
        if gname.count <= 32 { put(&header, 297, gname) } else { pax.append(("gname", gname)) }
        if entry.type == .characterDevice || entry.type == .blockDevice {
            putOctal(&header, 329, 8, Int64(entry.devMajor))
            putOctal(&header, 337, 8, Int64(entry.devMinor))
        }
        for key in entry.xattrs.keys.sorted() {
            pax.append(("SCHILY.xattr." + key, entry.xattrs[key] ?? []))
        }
        for key in entry.apkRecords.keys.sorted() { pax.append((key, entry.apkRecords[key] ?? [])) }
        if !pax.isEmpty {
            if !isUTF8 { pax.insert(("hdrcharset", Array("BINARY".utf8)), at: 0) }
            try writePAX(pax, for: entry)
        }
        Self.writeChecksum(&header)
        try sink.write(header)
        remaining = size
        lastSize = size
        inEntry = true
    }

    public func writeBody(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try writeBody($0) } }

    public func writeBody(_ buffer: UnsafeRawBufferPointer) throws {
        guard Int64(buffer.count) <= remaining else {
            throw HardenError(.internalError, "tar writer: body longer than the declared size")
        }
        try sink.write(buffer)
        remaining -= Int64(buffer.count)
    }

    /// Pads the body to a block boundary. Fails if fewer bytes than declared were written.
    public func endEntry() throws {
        guard inEntry else { return }
        guard remaining == 0 else {
            throw HardenError(.internalError, "tar writer: body shorter than the declared size by \(remaining)")
        }
        inEntry = false
        // Padding is derived from what was declared; the header recorded the size.
        try writePadding()
    }

    private func writePadding() throws {
        let pad = Int((512 - lastSize % 512) % 512)
        if pad > 0 { try sink.write(Array(Self.zeroBlock[0..<pad])) }
    }

    private var lastSize: Int64 = 0

    /// Writes the end-of-archive marker (two zero blocks) and finishes the sink.
    public func finish() throws {
        guard !inEntry else { throw HardenError(.internalError, "tar writer: entry not finished") }
        try sink.write(Self.zeroBlock)
        try sink.write(Self.zeroBlock)
        try sink.finish()
    }

    // MARK: helpers

    private func writePAX(_ records: [(String, [UInt8])], for entry: TarEntry) throws {
        var body: [UInt8] = []
        for (key, value) in records {
            // "<len> key=value\n" where len counts itself.
            let rest = 1 + key.utf8.count + 1 + value.count + 1
            var len = rest + String(rest).count
            if String(len).count != String(rest).count { len = rest + String(len).count }
            body += Array(String(len).utf8) + [0x20] + Array(key.utf8) + [UInt8(ascii: "=")] + value + [0x0a]
        }
        var name = Array("PaxHeaders/".utf8) + Array(entry.path.lastComponent.prefix(80))
        if name.count > 100 { name = Array(name.prefix(100)) }
        var h = TarEntry(path: RawPath(name), type: .other(UInt8(ascii: "x")), mode: 0o644)
        h.size = Int64(body.count)
        try beginRaw(h, body: body)
    }

    private func beginRaw(_ entry: TarEntry, body: [UInt8]) throws {
        var header = [UInt8](repeating: 0, count: 512)
        put(&header, 0, entry.path.bytes)
        putOctal(&header, 100, 8, Int64(entry.mode))
        putOctal(&header, 108, 8, 0)
        putOctal(&header, 116, 8, 0)
        putOctal(&header, 124, 12, Int64(body.count))
        putOctal(&header, 136, 12, 0)
        header[156] = entry.type.flag
        put(&header, 257, Array("ustar\0".utf8))
        put(&header, 263, Array("00".utf8))
        Self.writeChecksum(&header)
        try sink.write(header)
        try sink.write(body)
        let pad = (512 - body.count % 512) % 512
        if pad > 0 { try sink.write(Array(Self.zeroBlock[0..<pad])) }
    }

    /// The header checksum: computed with the field as spaces, written as six octal digits, NUL, space.
    static func writeChecksum(_ header: inout [UInt8]) {
        for i in 148..<156 { header[i] = 0x20 }
        let sum = header.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let padded = [UInt8](repeating: UInt8(ascii: "0"), count: max(0, 6 - digits.count)) + digits
        for (i, d) in padded.suffix(6).enumerated() { header[148 + i] = d }
        header[154] = 0
        header[155] = 0x20
    }

    /// Where to split a path of 101…255 bytes into ustar prefix (≤155) and name (≤100), if anywhere.
    static func ustarSplit(_ path: [UInt8]) -> Int? {
        guard path.count <= 256 else { return nil }
        var i = min(path.count - 1, 155)
        while i > 0 {
            if path[i] == UInt8(ascii: "/") && path.count - i - 1 <= 100 && path.count - i - 1 > 0 { return i }
            i -= 1
        }
        return nil
    }

    private func put(_ header: inout [UInt8], _ offset: Int, _ bytes: [UInt8]) {
        for (i, b) in bytes.enumerated() { header[offset + i] = b }
    }

    /// Writes `value` as zero-padded octal ending in NUL; false if it does not fit.
    @discardableResult
    private func putOctal(_ header: inout [UInt8], _ offset: Int, _ length: Int, _ value: Int64) -> Bool {
        guard value >= 0 else { return false }
        let digits = Array(String(value, radix: 8).utf8)
        guard digits.count <= length - 1 else { return false }
        let padded = [UInt8](repeating: UInt8(ascii: "0"), count: length - 1 - digits.count) + digits
        put(&header, offset, padded)
        header[offset + length - 1] = 0
        return true
    }
}

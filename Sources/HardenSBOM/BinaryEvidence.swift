import CHardenSystem
// harden — what a binary says about itself, gathered while its layer streams past: short windows of bytes around
// known version anchors (`node.js/v`, `OpenSSL `, `(PostgreSQL) `), and Go build information. Stored as one capture
// so the layer cache keeps it.
import HardenArchive
import HardenCore
import HardenPackages

#if canImport(Glibc)
import Glibc
#endif

public struct BinaryEvidence: Sendable, Equatable {
    /// The bytes around one occurrence of an anchor: `before` bytes precede it in `bytes`.
    public struct Window: Sendable, Equatable {
        public var anchor: [UInt8]
        public var bytes: [UInt8]
        public var before: Int
    }

    public var goBuildInfo: [UInt8]?
    public var windows: [Window]
    /// A Rust binary's `cargo auditable` section (`.dep-v0`, zlib-compressed JSON).
    public var rustAudit: [UInt8]? = nil

    static let magic = Array("HDNEVID1".utf8)
    /// Bytes kept before and after each anchor, and the most windows kept per anchor in one file.
    public static let before = 48, after = 160, maxPerAnchor = 32

    /// The capture of a file: its Go build information as is (the Go cataloger's format), or the evidence format.
    public static func capture(_ bytes: [UInt8]) -> BinaryEvidence? {
        if bytes.starts(with: GoBuildInfoScanner.magic) { return BinaryEvidence(goBuildInfo: bytes, windows: []) }
        guard bytes.starts(with: magic) else { return nil }
        var at = magic.count
        func u32() -> Int? {
            guard at + 4 <= bytes.count else { return nil }
            defer { at += 4 }
            return Int(
                UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3])
                    << 24)
        }
        func blob() -> [UInt8]? {
            guard let n = u32(), at + n <= bytes.count else { return nil }
            defer { at += n }
            return Array(bytes[at..<(at + n)])
        }
        var out = BinaryEvidence(goBuildInfo: nil, windows: [])
        while at < bytes.count {
            let kind = bytes[at]
            at += 1
            switch kind {
            case 0:
                guard let b = blob() else { return out }
                out.goBuildInfo = b
            case 1:
                guard let a = blob(), let before = u32(), let b = blob(), before <= b.count else { return out }
                out.windows.append(Window(anchor: a, bytes: b, before: before))
            case 2:
                guard let b = blob() else { return out }
                out.rustAudit = b
            default: return out
            }
        }
        return out
    }

    func encoded() -> [UInt8] {
        var out = Self.magic
        func u32(_ v: Int) {
            out += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24 & 0xff)]
        }
        if let g = goBuildInfo {
            out.append(0)
            u32(g.count)
            out += g
        }
        if let r = rustAudit {
            out.append(2)
            u32(r.count)
            out += r
        }
        for w in windows {
            out.append(1)
            u32(w.anchor.count)
            out += w.anchor
            u32(w.before)
            u32(w.bytes.count)
            out += w.bytes
        }
        return out
    }

    /// Reads a file's body once, keeping a window around every occurrence of `anchors` (up to `maxPerAnchor` each)
    /// and the Go build information when present. Nil for a file that is not ELF or holds nothing.
    static func scan(_ tar: TarReader, buffer: UnsafeMutableRawBufferPointer, anchors: [[UInt8]]) throws -> [UInt8]? {
        let longest = anchors.map(\.count).max() ?? 0
        let keep = before + max(longest, GoBuildInfoScanner.magic.count) + after
        var tail: [UInt8] = []
        var searchFrom = 0
        var first = true
        var counts = [Int](repeating: 0, count: anchors.count)
        var evidence = BinaryEvidence(goBuildInfo: nil, windows: [])
        var go: [UInt8]?
        var done = false
        while !done {
            let n = try tar.readBody(into: buffer)
            let atEnd = n == 0
            if first {
                first = false
                guard n >= 4, buffer[0] == 0x7f, buffer[1] == UInt8(ascii: "E"), buffer[2] == UInt8(ascii: "L"),
                    buffer[3] == UInt8(ascii: "F")
                else { return nil }
            }
            if var g = go {
                // Still collecting the Go build information's strings.
                g += UnsafeRawBufferPointer(rebasing: buffer[0..<n]).prefix(65536 - g.count)
                go = g
                if g.count >= 65536 || atEnd { evidence.goBuildInfo = g }
            }
            var buf = tail
            buf.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            // Positions below `limit` have their whole window in `buf`; the rest are searched next time.
            let limit = atEnd ? buf.count : max(searchFrom, buf.count - after)
            buf.withUnsafeBytes { raw in
                guard let base = raw.baseAddress, limit > searchFrom else { return }
                for (k, anchor) in anchors.enumerated() where counts[k] < maxPerAnchor {
                    var from = searchFrom
                    while from < limit, counts[k] < maxPerAnchor {
                        let span = min(raw.count, limit + anchor.count - 1) - from
                        guard span >= anchor.count,
                            let hit = anchor.withUnsafeBytes({ a in
                                harden_memmem(base + from, span, a.baseAddress, a.count)
                            })
                        else { break }
                        let pos = base.distance(to: UnsafeRawPointer(hit))
                        let start = max(0, pos - before)
                        let end = min(raw.count, pos + anchor.count + after)
                        evidence.windows.append(
                            Window(anchor: anchor, bytes: Array(raw[start..<end]), before: pos - start))
                        counts[k] += 1
                        from = pos + 1
                    }
                }
                if go == nil {
                    let m = GoBuildInfoScanner.magic
                    let span = min(raw.count, limit + m.count - 1) - searchFrom
                    if span >= m.count,
                        let hit = m.withUnsafeBytes({ a in
                            harden_memmem(base + searchFrom, span, a.baseAddress, a.count)
                        })
                    {
                        let pos = base.distance(to: UnsafeRawPointer(hit))
                        let g = Array(raw[pos...].prefix(65536))
                        go = g
                        if g.count >= 65536 || atEnd { evidence.goBuildInfo = g }
                    }
                }
            }
            if atEnd { break }
            let dropped = max(0, buf.count - keep)
            tail = Array(buf[dropped...])
            searchFrom = max(0, limit - dropped)
            done = false
        }
        if evidence.goBuildInfo == nil, let g = go { evidence.goBuildInfo = g }
        guard evidence.goBuildInfo != nil || !evidence.windows.isEmpty else { return nil }
        return evidence.encoded()
    }
}

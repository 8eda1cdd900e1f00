// harden — glibc's /etc/ld.so.cache: read (library name → paths) and written (what ldconfig would write for the
// same entries), so a patch that adds a library with a new soname can update the cache without running ldconfig.
import HardenCore

/// `/etc/ld.so.cache` (glibc's "glibc-ld.so.cache1.1" format): library name → paths, with the architecture
/// flags of each entry.
public struct LdSoCache: Sendable, Equatable {
    public var entries: [String: [(path: String, flags: Int32)]]
    /// Every entry in file order, with its hwcap bits (what the writer needs to reproduce the file).
    public var ordered: [Entry] = []

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var path: String
        public var flags: Int32
        public var hwcap: UInt64
        public init(name: String, path: String, flags: Int32, hwcap: UInt64 = 0) {
            self.name = name
            self.path = path
            self.flags = flags
            self.hwcap = hwcap
        }
    }

    public static func == (a: LdSoCache, b: LdSoCache) -> Bool {
        a.entries.keys.sorted() == b.entries.keys.sorted()
            && a.entries.allSatisfy { k, v in
                let w = b.entries[k] ?? []
                return v.count == w.count && zip(v, w).allSatisfy { $0.path == $1.path && $0.flags == $1.flags }
            }
    }

    public init(entries: [String: [(path: String, flags: Int32)]] = [:]) { self.entries = entries }

    /// Parses the new-format cache; the old "ld.so-1.7.0" prefix, when present, is skipped.
    public static func parse(_ bytes: [UInt8]) throws -> LdSoCache {
        let magic = Array("glibc-ld.so.cache1.1".utf8)
        var base = 0
        if bytes.starts(with: Array("ld.so-1.7.0".utf8)) {
            guard bytes.count >= 16 else { throw HardenError(.corrupt, "ld.so.cache: truncated old header") }
            let n = Int(FieldReader(bigEndian: false, is64: true).u32(bytes, 12))
            base = (16 + n * 12 + 7) & ~7
        }
        guard base + 48 <= bytes.count, Array(bytes[base..<(base + magic.count)]) == magic else {
            throw HardenError(.corrupt, "ld.so.cache: not a glibc-ld.so.cache1.1 file")
        }
        let r = FieldReader(bigEndian: false, is64: true)
        let count = Int(r.u32(bytes, base + 20))
        guard count <= 1_000_000, base + 48 + count * 24 <= bytes.count else {
            throw HardenError(.corrupt, "ld.so.cache: entry table out of bounds")
        }
        var out = LdSoCache()
        for i in 0..<count {
            let e = base + 48 + i * 24
            let flags = Int32(bitPattern: r.u32(bytes, e))
            let key = Int(r.u32(bytes, e + 4)), value = Int(r.u32(bytes, e + 8))
            // String offsets count from the start of the new-format header.
            let k = ELF.cString(bytes, at: base + key), v = ELF.cString(bytes, at: base + value)
            guard !k.isEmpty, v.hasPrefix("/") else { continue }
            out.entries[k, default: []].append((v, flags))
            let hwcap = UInt64(r.u32(bytes, e + 16)) | UInt64(r.u32(bytes, e + 20)) << 32
            out.ordered.append(Entry(name: k, path: v, flags: flags, hwcap: hwcap))
        }
        return out
    }

    /// The path for `name` whose flags fit an ELF of `machine` (x86-64 libraries carry 0x0300, AArch64 0x0a00).
    public func lookup(_ name: String, machine: UInt16, is64Bit: Bool) -> String? {
        let wanted: Int32? =
            switch (machine, is64Bit) {
            case (62, true): 0x0300
            case (183, true): 0x0a00
            case (3, false): 0x0000
            default: nil
            }
        let candidates = entries[name] ?? []
        if let wanted, let hit = candidates.first(where: { ($0.flags & 0xff00) == wanted && ($0.flags & 0xff) == 3 }) {
            return hit.path
        }
        return candidates.first?.path
    }
}

extension LdSoCache {
    /// glibc's `_dl_cache_libcmp`: digit runs compare as numbers, a digit sorts after anything else.
    public static func libcmp(_ a: String, _ b: String) -> Int {
        let p = Array(a.utf8), q = Array(b.utf8)
        var i = 0, j = 0
        func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        while i < p.count {
            if digit(p[i]) {
                guard j < q.count, digit(q[j]) else { return 1 }
                var v1 = 0, v2 = 0
                while i < p.count, digit(p[i]) {
                    v1 = v1 &* 10 &+ Int(p[i] - 0x30)
                    i += 1
                }
                while j < q.count, digit(q[j]) {
                    v2 = v2 &* 10 &+ Int(q[j] - 0x30)
                    j += 1
                }
                if v1 != v2 { return v1 - v2 }
            } else if j < q.count, digit(q[j]) {
                return -1
            } else {
                let c2 = j < q.count ? Int(q[j]) : 0
                if Int(p[i]) != c2 { return Int(p[i]) - c2 }
                i += 1
                j += 1
            }
        }
        return 0 - (j < q.count ? Int(q[j]) : 0)
    }

    /// Orders entries the way ldconfig writes them (ld.so binary-searches the table in this order).
    public static func sorted(_ entries: [Entry]) -> [Entry] {
        entries.sorted { e1, e2 in
            let res = libcmp(e2.name, e1.name)
            if res != 0 { return res < 0 }
            if e1.flags != e2.flags { return e1.flags > e2.flags }
            return e1.hwcap > e2.hwcap
        }
    }

    /// A new-format cache (little-endian, no extension section) of `entries`, sorted as ldconfig sorts them.
    public static func write(_ entries: [Entry]) -> [UInt8] {
        let list = sorted(entries)
        var strings: [UInt8] = []
        var offsets: [String: UInt32] = [:]
        let stringsStart = 48 + list.count * 24
        func offset(_ s: String) -> UInt32 {
            if let o = offsets[s] { return o }
            let o = UInt32(stringsStart + strings.count)
            strings += Array(s.utf8) + [0]
            offsets[s] = o
            return o
        }
        var out = Array("glibc-ld.so.cache1.1".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        var table: [UInt8] = []
        func tu32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { table += $0 } }
        for e in list {
            tu32(UInt32(bitPattern: e.flags))
            tu32(offset(e.name))
            tu32(offset(e.path))
            tu32(0)
            tu32(UInt32(truncatingIfNeeded: e.hwcap))
            tu32(UInt32(truncatingIfNeeded: e.hwcap >> 32))
        }
        u32(UInt32(list.count))
        u32(UInt32(strings.count))
        out += [2, 0, 0, 0]  // flags: little-endian; padding
        u32(0)  // no extension section
        u32(0)
        u32(0)
        u32(0)
        return out + table + strings
    }
}

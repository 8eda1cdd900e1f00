// harden — Debian version ordering (deb-version(7), dpkg's lib/dpkg/version.c semantics).

/// `[epoch:]upstream[-revision]`; `~` sorts before everything, even the end of the string.
public struct DpkgVersion: VersionComparator {
    public init() {}

    public struct Parsed: Sendable, Equatable {
        public var epoch: Int
        public var upstream: [UInt8]
        public var revision: [UInt8]
    }

    public static func parse(_ s: String) -> Parsed? {
        var text = Array(s.utf8)
        // Surrounding white space is ignored, inner white space is invalid.
        while let f = text.first, f == 0x20 || f == 0x09 { text.removeFirst() }
        while let l = text.last, l == 0x20 || l == 0x09 { text.removeLast() }
        guard !text.isEmpty, !text.contains(0x20) else { return nil }
        var epoch = 0
        var rest = text[...]
        if let colon = text.firstIndex(of: UInt8(ascii: ":")) {
            let e = text[..<colon]
            guard !e.isEmpty, e.count <= 9, e.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            epoch = e.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            rest = text[(colon + 1)...]
        }
        var upstream = Array(rest)
        var revision: [UInt8] = []
        if let dash = upstream.lastIndex(of: UInt8(ascii: "-")) {
            revision = Array(upstream[(dash + 1)...])
            upstream = Array(upstream[..<dash])
            guard !revision.isEmpty else { return nil }
        }
        guard let first = upstream.first, first >= 0x30 && first <= 0x39 else { return nil }
        func allowed(_ b: UInt8, revision: Bool) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "+") || b == UInt8(ascii: "~")
                || (!revision && (b == UInt8(ascii: "-") || b == UInt8(ascii: ":")))
        }
        guard upstream.allSatisfy({ allowed($0, revision: false) }),
            revision.allSatisfy({ allowed($0, revision: true) })
        else {
            return nil
        }
        return Parsed(epoch: epoch, upstream: upstream, revision: revision)
    }

    public func isValid(_ version: String) -> Bool { Self.parse(version) != nil }

    public func compare(_ a: String, _ b: String) -> Int {
        guard let x = Self.parse(a), let y = Self.parse(b) else {
            // Malformed versions order as plain strings so results stay total and deterministic.
            return a < b ? -1 : (a == b ? 0 : 1)
        }
        return Self.compare(x, y)
    }

    public static func compare(_ x: Parsed, _ y: Parsed) -> Int {
        if x.epoch != y.epoch { return x.epoch < y.epoch ? -1 : 1 }
        let u = verrevcmp(x.upstream, y.upstream)
        if u != 0 { return u }
        return verrevcmp(x.revision, y.revision)
    }

    /// The weight of a character in the non-digit part: `~` lowest, then end/digits, letters, then others.
    private static func order(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if c >= 0x30 && c <= 0x39 { return 0 }
        if (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) { return Int(c) }
        if c == UInt8(ascii: "~") { return -1 }
        return Int(c) + 256
    }

    static func verrevcmp(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0, j = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        while i < a.count || j < b.count {
            var firstDiff = 0
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let ac = order(i < a.count ? a[i] : nil)
                let bc = order(j < b.count ? b[j] : nil)
                if ac != bc { return ac < bc ? -1 : 1 }
                i += 1
                j += 1
            }
            while i < a.count && a[i] == 0x30 { i += 1 }
            while j < b.count && b[j] == 0x30 { j += 1 }
            while i < a.count && isDigit(a[i]) && j < b.count && isDigit(b[j]) {
                if firstDiff == 0 { firstDiff = Int(a[i]) - Int(b[j]) }
                i += 1
                j += 1
            }
            if i < a.count && isDigit(a[i]) { return 1 }
            if j < b.count && isDigit(b[j]) { return -1 }
            if firstDiff != 0 { return firstDiff < 0 ? -1 : 1 }
        }
        return 0
    }
}

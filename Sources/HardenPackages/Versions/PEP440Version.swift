// harden — Python version ordering (PEP 440, as python `packaging.version` implements it).

public struct PEP440Version: VersionComparator {
    public init() {}

    public struct Parsed: Sendable, Equatable {
        public var epoch: Int
        public var release: [Int]
        /// (phase 0=a 1=b 2=rc, number)
        public var pre: (Int, Int)?
        public var post: Int?
        public var dev: Int?
        public var local: [LocalPart]

        public static func == (a: Parsed, b: Parsed) -> Bool {
            a.epoch == b.epoch && a.release == b.release && a.pre?.0 == b.pre?.0 && a.pre?.1 == b.pre?.1
                && a.post == b.post
                && a.dev == b.dev
                && a.local == b.local
        }
    }

    public enum LocalPart: Sendable, Equatable { case number(Int), text(String) }

    /// Parses the canonical and the permissive spellings PEP 440 allows (`1.0-alpha.1`, `v1.0`, `1.0.post-2`, …).
    public static func parse(_ input: String) -> Parsed? {
        var s = Array(input.lowercased().utf8)
        while let f = s.first, f == 0x20 || f == 0x09 || f == 0x0a { s.removeFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 || l == 0x0a { s.removeLast() }
        var i = 0
        func peek(_ k: Int = 0) -> UInt8? { i + k < s.count ? s[i + k] : nil }
        func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        func number() -> Int? {
            guard isDigit(peek()) else { return nil }
            var v = 0
            while isDigit(peek()) {
                guard v < Int.max / 10 - 10 else { return nil }
                v = v * 10 + Int(s[i] - 0x30)
                i += 1
            }
            return v
        }
        func match(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard i + w.count <= s.count, Array(s[i..<(i + w.count)]) == w else { return false }
            i += w.count
            return true
        }
        func separator() {
            if let c = peek(), c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") { i += 1 }
        }
        if peek() == UInt8(ascii: "v") { i += 1 }
        var epoch = 0
        guard let first = number() else { return nil }
        var release = [first]
        if peek() == UInt8(ascii: "!") {
            epoch = first
            i += 1
            guard let r = number() else { return nil }
            release = [r]
        }
        while peek() == UInt8(ascii: "."), isDigit(peek(1)) {
            i += 1
            guard let n = number() else { return nil }
            release.append(n)
        }
        var result = Parsed(epoch: epoch, release: release, pre: nil, post: nil, dev: nil, local: [])
        // Pre-release.
        let save = i
        separator()
        let preWords: [(String, Int)] = [
            ("alpha", 0), ("beta", 1), ("preview", 2), ("pre", 2), ("rc", 2), ("a", 0), ("b", 1), ("c", 2),
        ]
        if let (_, phase) = preWords.first(where: { match($0.0) }) {
            separator()
            result.pre = (phase, number() ?? 0)
        } else {
            i = save
        }
        // Post-release: "-N", or [sep]post|rev|r[sep]N.
        let savePost = i
        if peek() == UInt8(ascii: "-"), isDigit(peek(1)) {
            i += 1
            result.post = number()
        } else {
            separator()
            if match("post") || match("rev") || match("r") {
                separator()
                result.post = number() ?? 0
            } else {
                i = savePost
            }
        }
        // Dev release.
        let saveDev = i
        separator()
        if match("dev") {
            separator()
            result.dev = number() ?? 0
        } else {
            i = saveDev
        }
        // Local version.
        if peek() == UInt8(ascii: "+") {
            i += 1
            var parts: [LocalPart] = []
            var current: [UInt8] = []
            func flush() -> Bool {
                guard !current.isEmpty else { return false }
                if current.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    parts.append(.number(current.reduce(0) { $0 &* 10 &+ Int($1 - 0x30) }))
                } else {
                    parts.append(.text(String(decoding: current, as: UTF8.self)))
                }
                current = []
                return true
            }
            while let c = peek() {
                if c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") {
                    guard flush() else { return nil }
                } else if (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) {
                    current.append(c)
                } else {
                    return nil
                }
                i += 1
            }
            guard flush() else { return nil }
            result.local = parts
        }
        return i == s.count ? result : nil
    }

    public func isValid(_ version: String) -> Bool { Self.parse(version) != nil }

    public func compare(_ a: String, _ b: String) -> Int {
        guard let x = Self.parse(a), let y = Self.parse(b) else { return a < b ? -1 : (a == b ? 0 : 1) }
        return Self.compare(x, y)
    }

    public static func compare(_ x: Parsed, _ y: Parsed) -> Int {
        func cmp<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a == b ? 0 : 1) }
        if x.epoch != y.epoch { return cmp(x.epoch, y.epoch) }
        // Trailing zeros do not count: 1.0 == 1.0.0.
        var r1 = x.release, r2 = y.release
        while r1.count > 1, r1.last == 0 { r1.removeLast() }
        while r2.count > 1, r2.last == 0 { r2.removeLast() }
        for k in 0..<max(r1.count, r2.count) {
            let a = k < r1.count ? r1[k] : 0, b = k < r2.count ? r2[k] : 0
            if a != b { return cmp(a, b) }
        }
        // Pre-release key: dev-only releases sort before any pre-release; no pre-release sorts last.
        func preKey(_ p: Parsed) -> (Int, Int, Int) {
            if p.pre == nil && p.post == nil && p.dev != nil { return (-1, 0, 0) }
            guard let pre = p.pre else { return (1, 0, 0) }
            return (0, pre.0, pre.1)
        }
        let p1 = preKey(x), p2 = preKey(y)
        if p1 != p2 { return p1 < p2 ? -1 : 1 }
        let post1 = x.post.map { $0 + 1 } ?? 0, post2 = y.post.map { $0 + 1 } ?? 0
        if post1 != post2 { return cmp(post1, post2) }
        let dev1 = x.dev ?? Int.max, dev2 = y.dev ?? Int.max
        if dev1 != dev2 { return cmp(dev1, dev2) }
        // Local: absent sorts first; numbers sort after strings; longer wins when one is a prefix.
        if x.local.isEmpty != y.local.isEmpty { return x.local.isEmpty ? -1 : 1 }
        for k in 0..<min(x.local.count, y.local.count) {
            switch (x.local[k], y.local[k]) {
            case (.number(let a), .number(let b)): if a != b { return cmp(a, b) }
            case (.text(let a), .text(let b)): if a != b { return cmp(a, b) }
            case (.number, .text): return 1
            case (.text, .number): return -1
            }
        }
        return cmp(x.local.count, y.local.count)
    }
}

// harden — SemVer 2.0 precedence (npm, crates.io, Go modules with the `v` prefix, NuGet, …).

public struct SemanticVersion: VersionComparator {
    public init() {}

    struct Parsed {
        var core: [Int]
        var pre: [String]
    }

    static func parse(_ s: String) -> Parsed? {
        var t = Substring(s.trimmingSpaces)
        if t.hasPrefix("v") || t.hasPrefix("=") { t = t.dropFirst() }
        if let plus = t.firstIndex(of: "+") { t = t[..<plus] }  // build metadata does not count
        // Go's "+incompatible" was removed above as build metadata.
        var pre: [String] = []
        if let dash = t.firstIndex(of: "-") {
            pre = t[t.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            t = t[..<dash]
        }
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= 4 else { return nil }
        var core: [Int] = []
        for p in parts {
            guard let n = Int(p), n >= 0 else { return nil }
            core.append(n)
        }
        while core.count < 3 { core.append(0) }
        return Parsed(core: core, pre: pre)
    }

    public func isValid(_ version: String) -> Bool { Self.parse(version) != nil }

    public func compare(_ a: String, _ b: String) -> Int {
        guard let x = Self.parse(a), let y = Self.parse(b) else { return a < b ? -1 : (a == b ? 0 : 1) }
        for k in 0..<max(x.core.count, y.core.count) {
            let p = k < x.core.count ? x.core[k] : 0, q = k < y.core.count ? y.core[k] : 0
            if p != q { return p < q ? -1 : 1 }
        }
        if x.pre.isEmpty != y.pre.isEmpty { return x.pre.isEmpty ? 1 : -1 }
        for k in 0..<min(x.pre.count, y.pre.count) {
            let p = x.pre[k], q = y.pre[k]
            switch (Int(p), Int(q)) {
            case (let m?, let n?): if m != n { return m < n ? -1 : 1 }
            case (_?, nil): return -1
            case (nil, _?): return 1
            default: if p != q { return p < q ? -1 : 1 }
            }
        }
        return x.pre.count == y.pre.count ? 0 : (x.pre.count < y.pre.count ? -1 : 1)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

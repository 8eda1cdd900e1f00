// harden — upstream release versions as NVD's CPE ranges name them (`1.22.1`, `3.0.11`, `1.1.1w`, `15.4`,
// `3.12.0rc1`, `17.0.8+7`): numeric runs compare as numbers, letter runs as text, a letter run right after a number
// is a later letter release (`1.1.1w` > `1.1.1`), except pre-release words (`alpha`, `beta`, `rc`, `pre`, `dev`) which
// come before the release. Build metadata after `+` does not count.

public struct UpstreamVersion: VersionComparator {
    public init() {}

    enum Token: Equatable {
        case number(Int)
        case word(String)
    }

    static let preRelease: Set<String> = ["alpha", "beta", "rc", "pre", "preview", "dev"]

    static func tokens(_ s: String) -> [Token] {
        var v = Substring(s.trimmingSpaces)
        if let plus = v.firstIndex(of: "+") { v = v[..<plus] }
        if v.hasPrefix("v") || v.hasPrefix("V"), v.dropFirst().first?.isNumber == true { v = v.dropFirst() }
        var out: [Token] = []
        var digits = ""
        var letters = ""
        func flush() {
            if !digits.isEmpty {
                out.append(.number(Int(digits.prefix(18)) ?? Int.max))
                digits = ""
            }
            if !letters.isEmpty {
                out.append(.word(letters.lowercased()))
                letters = ""
            }
        }
        for c in v {
            if c.isASCII && c.isNumber {
                if !letters.isEmpty { flush() }
                digits.append(c)
            } else if c.isLetter {
                if !digits.isEmpty { flush() }
                letters.append(c)
            } else {
                flush()
            }
        }
        flush()
        // `3.12.0a1`, `b2`, `c1`: a single letter followed by a number is a pre-release; a letter at the end
        // (`1.1.1w`, `1.0.2a`) is a later letter release.
        for i in out.indices.dropLast() {
            if case .word(let w) = out[i], case .number = out[i + 1],
                let long = ["a": "alpha", "b": "beta", "c": "rc"][w]
            {
                out[i] = .word(long)
            }
        }
        return out
    }

    public func isValid(_ version: String) -> Bool {
        if case .number? = Self.tokens(version).first { return true }
        return false
    }

    public func compare(_ a: String, _ b: String) -> Int {
        let x = Self.tokens(a), y = Self.tokens(b)
        var i = 0
        while i < max(x.count, y.count) {
            let p = i < x.count ? x[i] : nil, q = i < y.count ? y[i] : nil
            switch (p, q) {
            case (.number(let m)?, .number(let n)?): if m != n { return m < n ? -1 : 1 }
            case (.word(let m)?, .word(let n)?):
                let mp = Self.preRelease.contains(m), np = Self.preRelease.contains(n)
                if mp != np { return mp ? -1 : 1 }
                if m != n { return m < n ? -1 : 1 }
            case (.number?, .word(let w)?): return Self.preRelease.contains(w) ? 1 : -1
            case (.word(let w)?, .number?): return Self.preRelease.contains(w) ? -1 : 1
            case (nil, .word(let w)?): return Self.preRelease.contains(w) ? 1 : -1
            case (.word(let w)?, nil): return Self.preRelease.contains(w) ? -1 : 1
            case (nil, .number(let n)?): if n != 0 { return -1 }
            case (.number(let m)?, nil): if m != 0 { return 1 }
            case (nil, nil): return 0
            }
            i += 1
        }
        return 0
    }
}

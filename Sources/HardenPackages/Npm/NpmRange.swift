// harden — npm's version ranges (node-semver, strict mode): `||` alternatives of comparator sets, with hyphen ranges,
// X-ranges, tilde and caret desugared to primitive comparators; pre-releases match only a comparator of the same
// [major, minor, patch] that names one. A pure parser; the tests check it against npm's own semver module.

public struct NpmRange: Sendable, Equatable, CustomStringConvertible {
    public struct Comparator: Sendable, Equatable {
        public enum Op: String, Sendable { case lt = "<", le = "<=", gt = ">", ge = ">=", eq = "=" }
        public var op: Op
        public var version: NpmVersion
    }
    /// Alternatives; each a set of comparators that must all hold (an empty set: any release).
    public var sets: [[Comparator]]
    public let text: String

    public var description: String { text }

    public static func parse(_ text: String) -> NpmRange? {
        var sets: [[Comparator]] = []
        for alt in text.split(separator: "||", omittingEmptySubsequences: false).map(String.init) {
            guard let set = parseSet(alt) else { return nil }
            sets.append(set)
        }
        return NpmRange(sets: sets, text: text)
    }

    public func contains(_ version: String) -> Bool {
        guard let v = NpmVersion.parse(version) else { return false }
        return sets.contains { set in
            guard set.allSatisfy({ $0.holds(v) }) else { return false }
            guard !v.pre.isEmpty else { return true }
            // A pre-release only within its own [major, minor, patch] named by a comparator with a pre-release.
            return set.contains { !$0.version.pre.isEmpty && $0.version.core == v.core }
        }
    }

    static func parseSet(_ text: String) -> [Comparator]? {
        var tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        // `>= 1.2.3`: an operator alone joins the next token.
        var joined: [String] = []
        var i = 0
        while i < tokens.count {
            if ["<", "<=", ">", ">=", "=", "~", "^", "~>"].contains(tokens[i]), i + 1 < tokens.count {
                joined.append(tokens[i] + tokens[i + 1])
                i += 2
            } else {
                joined.append(tokens[i])
                i += 1
            }
        }
        tokens = joined
        if tokens.count == 3 && tokens[1] == "-" {
            guard let a = Partial.parse(tokens[0]), let b = Partial.parse(tokens[2]) else { return nil }
            return a.lowerBound(inclusive: true) + b.upperBound(inclusive: true)
        }
        var out: [Comparator] = []
        for t in tokens {
            guard let c = comparators(t) else { return nil }
            out += c
        }
        return out
    }

    /// One token: `^1.2`, `~1`, `>=1.2.3-rc.1`, `1.x`, `*`.
    static func comparators(_ token: String) -> [Comparator]? {
        var t = Substring(token)
        var op = ""
        while let c = t.first, "<>=~^".contains(c) {
            op.append(c)
            t = t.dropFirst()
        }
        guard let p = Partial.parse(String(t)) else { return nil }
        switch op {
        case "": return p.xRange()
        case "=": return p.xRange()
        case "~", "~>": return p.tilde()
        case "^": return p.caret()
        case ">": return p.greater()
        case ">=": return p.lowerBound(inclusive: true)
        case "<": return p.less()
        case "<=": return p.upperBound(inclusive: true)
        default: return nil
        }
    }
}

/// A semver 2.0 version as npm orders it.
public struct NpmVersion: Sendable, Equatable, Comparable {
    public var core: [Int]
    public var pre: [String]

    public static func parse(_ text: String) -> NpmVersion? {
        var t = Substring(text.trimmingSpaces)
        if t.hasPrefix("v") || t.hasPrefix("=") { t = t.dropFirst() }
        if let plus = t.firstIndex(of: "+") { t = t[..<plus] }
        var pre: [String] = []
        if let dash = t.firstIndex(of: "-") {
            pre = t[t.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard pre.allSatisfy({ !$0.isEmpty }) else { return nil }
            t = t[..<dash]
        }
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        let core = parts.compactMap { Int($0) }
        guard core.count == 3, core.allSatisfy({ $0 >= 0 }) else { return nil }
        return NpmVersion(core: core, pre: pre)
    }

    public static func < (a: NpmVersion, b: NpmVersion) -> Bool {
        SemanticVersion().compare(a.text, b.text) < 0
    }

    public var text: String {
        core.map(String.init).joined(separator: ".") + (pre.isEmpty ? "" : "-" + pre.joined(separator: "."))
    }
}

extension NpmRange.Comparator {
    func holds(_ v: NpmVersion) -> Bool {
        switch op {
        case .lt: return v < version
        case .le: return v <= version
        case .gt: return v > version
        case .ge: return v >= version
        case .eq: return v == version
        }
    }
}

/// A version with wildcards: `1`, `1.2`, `1.x`, `1.2.*`, `*`, `1.2.3-beta.1`.
struct Partial {
    var major: Int?
    var minor: Int?
    var patch: Int?
    var pre: [String]

    static func parse(_ text: String) -> Partial? {
        var t = Substring(text)
        if t.hasPrefix("v") { t = t.dropFirst() }
        if let plus = t.firstIndex(of: "+") { t = t[..<plus] }
        var pre: [String] = []
        if let dash = t.firstIndex(of: "-") {
            pre = t[t.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard pre.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }) else {
                return nil
            }
            t = t[..<dash]
        }
        if t.isEmpty { return Partial(major: nil, minor: nil, patch: nil, pre: []) }
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 3 else { return nil }
        var nums: [Int?] = []
        for p in parts {
            if p == "x" || p == "X" || p == "*" {
                nums.append(nil)
            } else if let n = Int(p), n >= 0, p.allSatisfy(\.isNumber) {
                // A number after a wildcard (`1.x.3`) is a wildcard too.
                nums.append(nums.contains { $0 == nil } ? nil : n)
            } else {
                return nil
            }
        }
        while nums.count < 3 { nums.append(nil) }
        return Partial(major: nums[0], minor: nums[1], patch: nums[2], pre: nums[2] == nil ? [] : pre)
    }

    typealias C = NpmRange.Comparator
    static func v(_ a: Int, _ b: Int, _ c: Int, _ pre: [String] = []) -> NpmVersion {
        NpmVersion(core: [a, b, c], pre: pre)
    }
    /// The first pre-release of a version: the exclusive bound `<X.Y.Z-0`.
    static func floor(_ a: Int, _ b: Int, _ c: Int) -> NpmVersion { v(a, b, c, ["0"]) }

    var lowest: NpmVersion { Self.v(major ?? 0, minor ?? 0, patch ?? 0, pre) }

    func lowerBound(inclusive: Bool) -> [C] {
        guard major != nil else { return [] }
        return [C(op: .ge, version: lowest)]
    }

    func upperBound(inclusive: Bool) -> [C] {
        guard let major else { return [] }
        guard let minor else { return [C(op: .lt, version: Self.floor(major + 1, 0, 0))] }
        guard let patch else { return [C(op: .lt, version: Self.floor(major, minor + 1, 0))] }
        return [C(op: .le, version: Self.v(major, minor, patch, pre))]
    }

    func xRange() -> [C] {
        guard major != nil else { return [] }
        guard minor != nil, patch != nil else { return lowerBound(inclusive: true) + upperBound(inclusive: true) }
        return [C(op: .eq, version: lowest)]
    }

    func tilde() -> [C] {
        guard let major else { return [] }
        guard let minor else { return [C(op: .ge, version: lowest), C(op: .lt, version: Self.floor(major + 1, 0, 0))] }
        return [C(op: .ge, version: lowest), C(op: .lt, version: Self.floor(major, minor + 1, 0))]
    }

    func caret() -> [C] {
        guard let major else { return [] }
        let upper: NpmVersion
        if major > 0 {
            upper = Self.floor(major + 1, 0, 0)
        } else if let minor {
            if minor > 0 {
                upper = Self.floor(0, minor + 1, 0)
            } else if let patch {
                upper = Self.floor(0, 0, patch + 1)
            } else {
                upper = Self.floor(0, 1, 0)
            }
        } else {
            upper = Self.floor(1, 0, 0)
        }
        return [C(op: .ge, version: lowest), C(op: .lt, version: upper)]
    }

    func greater() -> [C] {
        guard let major else { return [C(op: .lt, version: Self.floor(0, 0, 0))] }  // `>*`: nothing
        guard let minor else { return [C(op: .ge, version: Self.v(major + 1, 0, 0))] }
        guard let patch else { return [C(op: .ge, version: Self.v(major, minor + 1, 0))] }
        return [C(op: .gt, version: Self.v(major, minor, patch, pre))]
    }

    func less() -> [C] {
        guard let major else { return [C(op: .lt, version: Self.floor(0, 0, 0))] }
        return [C(op: .lt, version: minor == nil || patch == nil ? Self.floor(major, minor ?? 0, 0) : lowest)]
    }
}

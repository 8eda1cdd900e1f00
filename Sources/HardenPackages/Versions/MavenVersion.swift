// harden — Maven version order (the algorithm of Maven's ComparableVersion): `1.0` = `1` = `1-ga`, `1.0-alpha-1` =
// `1.0a1`, `alpha` < `beta` < `milestone` < `rc` = `cr` < `snapshot` < release < `sp` < any other qualifier (those in
// lexical order), a list of items after `-` sorting below any number. Checked against Maven itself on random pairs.

public struct MavenVersion: VersionComparator {
    public init() {}

    /// One parsed item: a number (leading zeros stripped, compared by length then digits), a qualifier, or the
    /// sub-list a `-` or a letter/digit transition opens.
    indirect enum Item: Equatable {
        case number(String)
        case qualifier(String)
        case list([Item])

        var isNull: Bool {
            switch self {
            case .number(let n): return n.isEmpty
            case .qualifier(let q): return q.isEmpty
            case .list(let l): return l.isEmpty
            }
        }
    }

    static let qualifiers = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]

    public func isValid(_ version: String) -> Bool { !version.isEmpty && !version.contains(" ") }

    public func compare(_ a: String, _ b: String) -> Int {
        Self.compare(.list(Self.parse(a)), .list(Self.parse(b)))
    }

    /// The items of a version, normalized (trailing null items of each list removed).
    static func parse(_ version: String) -> [Item] {
        // Lists nest: each `-` (and each letter/digit switch) opens a list inside the current one.
        var stack: [[Item]] = [[]]
        var token = ""
        var isDigit = false
        func item(_ t: String, digit: Bool, followedByDigit: Bool = false) -> Item {
            if digit {
                let stripped = t.drop { $0 == "0" }
                return .number(String(stripped))
            }
            return .qualifier(Self.alias(t, followedByDigit: followedByDigit))
        }
        func open() { stack.append([]) }
        for c in version.lowercased() {
            if c == "." {
                stack[stack.count - 1].append(token.isEmpty ? .number("") : item(token, digit: isDigit))
                token = ""
            } else if c == "-" {
                stack[stack.count - 1].append(token.isEmpty ? .number("") : item(token, digit: isDigit))
                token = ""
                open()
            } else if c.isASCII && c.isNumber {
                if !isDigit && !token.isEmpty {
                    // `.X1` reads as `-X1` too.
                    if !stack[stack.count - 1].isEmpty { open() }
                    stack[stack.count - 1].append(item(token, digit: false, followedByDigit: true))
                    token = ""
                    open()
                }
                isDigit = true
                token.append(c)
            } else {
                if isDigit && !token.isEmpty {
                    stack[stack.count - 1].append(item(token, digit: true))
                    token = ""
                    open()
                }
                isDigit = false
                token.append(c)
            }
        }
        if !token.isEmpty {
            // A trailing `.X` qualifier reads as `-X` (`1.0.0.x` sorts like `1.0.0-x`).
            if !isDigit && !stack[stack.count - 1].isEmpty { open() }
            stack[stack.count - 1].append(item(token, digit: isDigit))
        }
        // Close the lists innermost first, each normalized, each added to its parent.
        while stack.count > 1 {
            let inner = normalize(stack.removeLast())
            stack[stack.count - 1].append(.list(inner))
        }
        return normalize(stack[0])
    }

    /// Drops trailing null items (0, "", empty lists), walking back over nested lists but stopping at the first
    /// non-null number or qualifier.
    static func normalize(_ items: [Item]) -> [Item] {
        var out = items
        var i = out.count - 1
        while i >= 0 {
            if out[i].isNull {
                out.remove(at: i)
            } else if case .list = out[i] {
            } else {
                break
            }
            i -= 1
        }
        return out
    }

    static func alias(_ q: String, followedByDigit: Bool) -> String {
        var q = q
        if followedByDigit && q.count == 1 {
            switch q {
            case "a": q = "alpha"
            case "b": q = "beta"
            case "m": q = "milestone"
            default: break
            }
        }
        switch q {
        case "ga", "final", "release": return ""
        case "cr": return "rc"
        default: return q
        }
    }

    /// A qualifier's sort key: its rank among the known ones, others after them in lexical order.
    static func rank(_ q: String) -> String {
        if let i = qualifiers.firstIndex(of: q) { return String(i) }
        return "\(qualifiers.count)-" + q
    }

    static func compareNumbers(_ a: String, _ b: String) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }

    static func compareStrings(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf16), y = Array(b.utf16)
        return x.lexicographicallyPrecedes(y) ? -1 : (x == y ? 0 : 1)
    }

    /// Compares an item with a missing one (the other version ran out of items).
    static func compareToNothing(_ a: Item) -> Int {
        switch a {
        case .number(let n): return n.isEmpty ? 0 : 1
        case .qualifier(let q): return compareStrings(rank(q), rank(""))
        case .list(let l):
            for i in l {
                let r = compareToNothing(i)
                if r != 0 { return r }
            }
            return 0
        }
    }

    static func compare(_ a: Item?, _ b: Item?) -> Int {
        guard let a else { return b.map { -compareToNothing($0) } ?? 0 }
        guard let b else { return compareToNothing(a) }
        switch (a, b) {
        case (.number(let x), .number(let y)): return compareNumbers(x, y)
        case (.number, _): return 1
        case (.qualifier(let x), .qualifier(let y)): return compareStrings(rank(x), rank(y))
        case (.qualifier, _): return -1
        case (.list, .number): return -1
        case (.list, .qualifier): return 1
        case (.list(let x), .list(let y)):
            for i in 0..<max(x.count, y.count) {
                let r = compare(i < x.count ? x[i] : nil, i < y.count ? y[i] : nil)
                if r != 0 { return r }
            }
            return 0
        }
    }
}

extension MavenVersion {
    /// A pre-release: any alpha, beta, milestone, release-candidate or snapshot qualifier.
    public static func isPreRelease(_ version: String) -> Bool {
        func pre(_ items: [Item]) -> Bool {
            items.contains {
                switch $0 {
                case .number: return false
                case .qualifier(let q): return ["alpha", "beta", "milestone", "rc", "snapshot"].contains(q)
                case .list(let l): return pre(l)
                }
            }
        }
        return pre(parse(version))
    }

    /// The release line's flavour: its letters (`31.1-jre` → `jre`, `1.1-android` → `android`), the release aliases
    /// (`.Final`, `.RELEASE`, `-ga`) counting as none. An upgrade keeps its flavour.
    public static func flavour(_ version: String) -> String {
        let letters = String(version.lowercased().filter { $0.isLetter })
        return ["final", "ga", "release"].contains(letters) ? "" : letters
    }

    /// The leading numeric components (`4.1.94.Final` → 4, 1, 94).
    public static func numbers(_ version: String) -> [Int] {
        let lead = version.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        return lead.split(separator: ".").map { Int($0) ?? 0 }
    }
}

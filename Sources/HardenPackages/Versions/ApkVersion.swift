// harden — Alpine package version ordering (apk-tools v3 `version.c` token rules).

public struct ApkVersion: VersionComparator {
    public init() {}

    enum TokenType: Int, Comparable {
        case initialDigit = 0, digit, letter, suffix, suffixNumber, commitHash, revision, end, invalid
        static func < (a: TokenType, b: TokenType) -> Bool { a.rawValue < b.rawValue }
    }

    struct Token {
        var type: TokenType
        var text: [UInt8]
        var number: Int = 0
        var suffixRank: Int = 0
    }

    static let preSuffixes = ["alpha", "beta", "pre", "rc"]
    static let postSuffixes = ["cvs", "svn", "git", "hg", "p"]

    /// Splits a version into tokens; returns nil when it does not follow the grammar.
    static func tokens(_ s: String) -> [Token]? {
        let b = Array(s.utf8)
        var i = 0
        var out: [Token] = []
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func digits() -> [UInt8] {
            let start = i
            while i < b.count && isDigit(b[i]) { i += 1 }
            return Array(b[start..<i])
        }
        func num(_ d: [UInt8]) -> Int { d.prefix(18).reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        guard !b.isEmpty, isDigit(b[0]) else { return nil }
        let first = digits()
        out.append(Token(type: .initialDigit, text: first, number: num(first)))
        var last = TokenType.initialDigit
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: ".") && (last == .initialDigit || last == .digit) {
                i += 1
                let d = digits()
                guard !d.isEmpty else { return nil }
                out.append(Token(type: .digit, text: d, number: num(d)))
                last = .digit
            } else if c >= 0x61 && c <= 0x7a && (last == .initialDigit || last == .digit) {
                i += 1
                out.append(Token(type: .letter, text: [c], number: Int(c)))
                last = .letter
                if i < b.count && b[i] >= 0x61 && b[i] <= 0x7a { return nil }
            } else if c == UInt8(ascii: "_") && last != .commitHash && last != .revision {
                i += 1
                let start = i
                while i < b.count && b[i] >= 0x61 && b[i] <= 0x7a { i += 1 }
                let word = String(decoding: b[start..<i], as: UTF8.self)
                if let r = preSuffixes.firstIndex(of: word) {
                    out.append(Token(type: .suffix, text: Array(word.utf8), suffixRank: r))
                } else if let r = postSuffixes.firstIndex(of: word) {
                    out.append(Token(type: .suffix, text: Array(word.utf8), suffixRank: 5 + r))
                } else {
                    return nil
                }
                last = .suffix
                let d = digits()
                if !d.isEmpty {
                    out.append(Token(type: .suffixNumber, text: d, number: num(d)))
                    last = .suffixNumber
                }
            } else if c == UInt8(ascii: "~") && last != .revision && last != .commitHash {
                i += 1
                let start = i
                while i < b.count && (isDigit(b[i]) || (b[i] >= 0x61 && b[i] <= 0x66)) { i += 1 }
                guard i > start else { return nil }
                out.append(Token(type: .commitHash, text: Array(b[start..<i])))
                last = .commitHash
            } else if c == UInt8(ascii: "-") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "r") && last != .revision {
                i += 2
                let d = digits()
                guard !d.isEmpty else { return nil }
                out.append(Token(type: .revision, text: d, number: num(d)))
                last = .revision
            } else {
                return nil
            }
        }
        return out
    }

    public func isValid(_ version: String) -> Bool { Self.tokens(version) != nil }

    public func compare(_ a: String, _ b: String) -> Int {
        guard let x = Self.tokens(a), let y = Self.tokens(b) else { return a < b ? -1 : (a == b ? 0 : 1) }
        var k = 0
        while k < x.count && k < y.count && x[k].type == y[k].type {
            let p = x[k], q = y[k]
            var r = 0
            switch p.type {
            case .digit where p.text.first == 0x30 || q.text.first == 0x30:
                // Gentoo rule: a group with a leading zero compares as a string.
                r = p.text.lexicographicallyPrecedes(q.text) ? -1 : (p.text == q.text ? 0 : 1)
            case .initialDigit, .digit, .suffixNumber, .revision:
                r = p.number < q.number ? -1 : (p.number == q.number ? 0 : 1)
                if r == 0 && p.text.count > 18 {
                    r = p.text.lexicographicallyPrecedes(q.text) ? -1 : (p.text == q.text ? 0 : 1)
                }
            case .letter, .commitHash:
                r = p.text.lexicographicallyPrecedes(q.text) ? -1 : (p.text == q.text ? 0 : 1)
            case .suffix:
                r = p.suffixRank < q.suffixRank ? -1 : (p.suffixRank == q.suffixRank ? 0 : 1)
            default: break
            }
            if r != 0 { return r }
            k += 1
        }
        let tx = k < x.count ? x[k] : Token(type: .end, text: [])
        let ty = k < y.count ? y[k] : Token(type: .end, text: [])
        if tx.type == .end && ty.type == .end { return 0 }
        // A pre-release suffix makes its side older; otherwise the side whose next token comes later is older.
        if tx.type == .suffix && tx.suffixRank < 4 { return -1 }
        if ty.type == .suffix && ty.suffixRank < 4 { return 1 }
        return tx.type > ty.type ? -1 : 1
    }
}

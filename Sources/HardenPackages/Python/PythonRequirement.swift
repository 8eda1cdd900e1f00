// harden — Python dependency specifications (PEP 508): a name, extras, version specifiers (PEP 440) and an
// environment marker, as `Requires-Dist` lines carry them. Pure parsers over strings; evaluation against an
// interpreter's marker environment.
import HardenCore

/// `name[extra,…] (specifiers) ; marker`, or a direct reference (`name @ URL`, whose URL is kept but not followed).
public struct PythonRequirement: Sendable, Equatable {
    public var name: String
    public var extras: [String]
    public var specifier: PythonSpecifier
    public var marker: PythonMarker?
    public var url: String?

    /// The PEP 503 normalized name (`Foo_Bar.baz` → `foo-bar-baz`).
    public var key: String { PythonRequirement.normalize(name) }

    public static func normalize(_ name: String) -> String {
        var out = ""
        var dash = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                dash = true
            } else {
                if dash && !out.isEmpty { out.append("-") }
                dash = false
                out.append(c)
            }
        }
        return out
    }

    /// Parses one requirement line; throws `corrupt` naming the text.
    public static func parse(_ text: String) throws -> PythonRequirement {
        func bad(_ why: String) -> HardenError { HardenError(.corrupt, "requirement \"\(text)\": \(why)") }
        var head = Substring(text)
        var marker: PythonMarker?
        if let semi = text.firstIndex(of: ";") {
            head = text[..<semi]
            let m = text[text.index(after: semi)...].trimming(" ")
            if !m.isEmpty { marker = try PythonMarker.parse(String(m)) }
        }
        let chars = Array(head)
        var i = 0
        while i < chars.count, chars[i] == " " { i += 1 }
        var name = ""
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || "-_.".contains(chars[i]) {
            name.append(chars[i])
            i += 1
        }
        guard !name.isEmpty else { throw bad("no project name") }
        while i < chars.count, chars[i] == " " { i += 1 }
        var extras: [String] = []
        if i < chars.count, chars[i] == "[" {
            guard let close = chars[i...].firstIndex(of: "]") else { throw bad("unclosed [") }
            extras = String(chars[(i + 1)..<close]).split(separator: ",").map { $0.trimming(" ") }.filter {
                !$0.isEmpty
            }
            i = close + 1
        }
        var rest = String(chars[i...]).trimming(" ")
        var url: String?
        if rest.hasPrefix("@") {
            url = String(rest.dropFirst()).trimming(" ")
            rest = ""
        }
        if rest.hasPrefix("(") && rest.hasSuffix(")") { rest = String(rest.dropFirst().dropLast()) }
        let spec = try PythonSpecifier.parse(rest)
        return PythonRequirement(name: name, extras: extras, specifier: spec, marker: marker, url: url)
    }

    /// Whether the requirement applies in `environment` (no marker: always); `extra` markers are false unless the
    /// environment names that extra.
    public func applies(in environment: [String: String]) -> Bool { marker?.evaluate(environment) ?? true }
}

/// A comma-separated list of version clauses (`>=1.21.1,<1.24`); empty = any version.
public struct PythonSpecifier: Sendable, Equatable, CustomStringConvertible {
    public enum Operator: String, Sendable, CaseIterable {
        // Longest first: the parser takes the first that matches.
        case arbitrary = "===", compatible = "~=", equal = "==", notEqual = "!=", lessEqual = "<=",
            greaterEqual = ">=", less = "<", greater = ">"
    }
    public struct Clause: Sendable, Equatable {
        public var op: Operator
        public var version: String
    }
    public var clauses: [Clause]

    public var description: String { clauses.map { $0.op.rawValue + $0.version }.joined(separator: ",") }

    public static func parse(_ text: String) throws -> PythonSpecifier {
        var clauses: [Clause] = []
        for part in text.split(separator: ",") {
            let p = part.trimming(" ")
            guard !p.isEmpty else { continue }
            guard let op = Operator.allCases.first(where: { p.hasPrefix($0.rawValue) }) else {
                throw HardenError(.corrupt, "version specifier \"\(p)\": no operator")
            }
            let v = String(p.dropFirst(op.rawValue.count)).trimming(" ")
            let plain = v.hasSuffix(".*") ? String(v.dropLast(2)) : v
            guard op == .arbitrary || PEP440Version.parse(plain) != nil,
                !v.hasSuffix(".*") || op == .equal || op == .notEqual
            else { throw HardenError(.corrupt, "version specifier \"\(p)\": not a PEP 440 version") }
            clauses.append(Clause(op: op, version: v))
        }
        return PythonSpecifier(clauses: clauses)
    }

    /// Whether `version` satisfies every clause. Pre-releases match only when `prereleases` is set or a clause
    /// names a pre-release (PEP 440's default).
    public func contains(_ version: String, prereleases: Bool = false) -> Bool {
        guard let v = PEP440Version.parse(version) else {
            return clauses.contains { $0.op == .arbitrary && $0.version == version }
        }
        let allowPre = prereleases || clauses.contains { PEP440Version.parse($0.version)?.isPrerelease == true }
        if v.isPrerelease && !allowPre { return false }
        return clauses.allSatisfy { Self.matches(v, raw: version, $0) }
    }

    static func matches(_ v: PEP440Version.Parsed, raw: String, _ c: Clause) -> Bool {
        if c.op == .arbitrary { return raw.lowercased() == c.version.lowercased() }
        if c.version.hasSuffix(".*") {
            guard let prefix = PEP440Version.parse(String(c.version.dropLast(2))) else { return false }
            let n = prefix.release.count
            let padded = v.release + Array(repeating: 0, count: max(0, n - v.release.count))
            let same = v.epoch == prefix.epoch && Array(padded.prefix(n)) == prefix.release
            return c.op == .equal ? same : !same
        }
        guard let s = PEP440Version.parse(c.version) else { return false }
        var public_ = v
        if s.local.isEmpty { public_.local = [] }  // A clause without a local label ignores the candidate's.
        let r = PEP440Version.compare(public_, s)
        switch c.op {
        case .equal: return r == 0
        case .notEqual: return r != 0
        case .lessEqual: return r <= 0
        case .greaterEqual: return r >= 0
        case .less:
            // `<V` excludes V's own pre-releases unless V is one.
            return r < 0 && (s.isPrerelease || !(v.isPrerelease && v.release.trimmedZeros == s.release.trimmedZeros))
        case .greater:
            // `>V` excludes V's post-releases unless V is one, and local versions of V.
            guard r > 0 else { return false }
            if s.post == nil, v.post != nil, v.release.trimmedZeros == s.release.trimmedZeros, v.pre == nil {
                return false
            }
            return true
        case .compatible:
            // ~=X.Y.Z means >=X.Y.Z, ==X.Y.*
            guard r >= 0, s.release.count >= 2 else { return false }
            let prefix = Array(s.release.dropLast())
            let padded = v.release + Array(repeating: 0, count: max(0, prefix.count - v.release.count))
            return v.epoch == s.epoch && Array(padded.prefix(prefix.count)) == prefix
        case .arbitrary: return false
        }
    }
}

extension PEP440Version.Parsed {
    /// A pre-release or a development release.
    public var isPrerelease: Bool { pre != nil || dev != nil }
}

extension [Int] {
    fileprivate var trimmedZeros: [Int] {
        var a = self
        while a.count > 1, a.last == 0 { a.removeLast() }
        return a
    }
}

/// An environment marker (`python_version < "3.8" and extra == "socks"`).
public indirect enum PythonMarker: Sendable, Equatable {
    case and(PythonMarker, PythonMarker)
    case or(PythonMarker, PythonMarker)
    case compare(Operand, String, Operand)

    public enum Operand: Sendable, Equatable {
        case variable(String)
        case literal(String)
    }

    static let variables: Set<String> = [
        "python_version", "python_full_version", "os_name", "sys_platform", "platform_release", "platform_system",
        "platform_version", "platform_machine", "platform_python_implementation", "implementation_name",
        "implementation_version", "extra", "os.name", "sys.platform", "platform.version", "platform.machine",
        "platform.python_implementation", "python_implementation", "dependency_groups", "extras",
    ]

    public static func parse(_ text: String) throws -> PythonMarker {
        var p = MarkerParser(tokens: try MarkerParser.tokenize(text), text: text)
        let m = try p.orExpression()
        guard p.at == p.tokens.count else { throw p.error("unexpected \(p.tokens[p.at])") }
        return m
    }

    public func evaluate(_ env: [String: String]) -> Bool {
        switch self {
        case .and(let a, let b): return a.evaluate(env) && b.evaluate(env)
        case .or(let a, let b): return a.evaluate(env) || b.evaluate(env)
        case .compare(let l, let op, let r):
            func value(_ o: Operand) -> String? {
                switch o {
                case .literal(let s): return s
                case .variable(let v): return env[v.replacingDots()] ?? (v == "extra" ? "" : nil)
                }
            }
            guard let a = value(l), let b = value(r) else { return false }
            let isExtra: Bool = {
                if case .variable("extra") = l { return true }
                if case .variable("extra") = r { return true }
                return false
            }()
            return Self.compare(
                isExtra ? PythonRequirement.normalize(a) : a, op, isExtra ? PythonRequirement.normalize(b) : b)
        }
    }

    static func compare(_ a: String, _ op: String, _ b: String) -> Bool {
        switch op {
        case "in": return b.contains(a)
        case "not in": return !b.contains(a)
        default: break
        }
        // Version comparison when both sides are versions (PEP 508), string comparison otherwise.
        if let o = PythonSpecifier.Operator(rawValue: op), PEP440Version.parse(a) != nil,
            let spec = try? PythonSpecifier.parse(op + b)
        {
            return spec.contains(a, prereleases: true) || (o == .arbitrary && a == b)
        }
        switch op {
        case "==", "===": return a == b
        case "!=": return a != b
        case "<": return a < b
        case "<=": return a <= b
        case ">": return a > b
        case ">=": return a >= b
        default: return false
        }
    }
}

extension String {
    fileprivate func replacingDots() -> String {
        switch self {
        case "os.name": "os_name"
        case "sys.platform": "sys_platform"
        case "platform.version": "platform_version"
        case "platform.machine": "platform_machine"
        case "platform.python_implementation", "python_implementation": "platform_python_implementation"
        default: self
        }
    }
}

struct MarkerParser {
    enum Token: Equatable, CustomStringConvertible {
        case open, close, word(String), string(String), op(String)
        var description: String {
            switch self {
            case .open: "("
            case .close: ")"
            case .word(let w): w
            case .string(let s): "\"\(s)\""
            case .op(let o): o
            }
        }
    }
    var tokens: [Token]
    let text: String
    var at = 0

    func error(_ why: String) -> HardenError { HardenError(.corrupt, "marker \"\(text)\": \(why)") }

    static func tokenize(_ text: String) throws -> [Token] {
        let c = Array(text)
        var out: [Token] = []
        var i = 0
        while i < c.count {
            let ch = c[i]
            if ch == " " || ch == "\t" {
                i += 1
            } else if ch == "(" || ch == ")" {
                out.append(ch == "(" ? .open : .close)
                i += 1
            } else if ch == "\"" || ch == "'" {
                guard let end = c[(i + 1)...].firstIndex(of: ch) else {
                    throw HardenError(.corrupt, "marker \"\(text)\": unclosed string")
                }
                out.append(.string(String(c[(i + 1)..<end])))
                i = end + 1
            } else if "<>=!~".contains(ch) {
                var op = String(ch)
                i += 1
                while i < c.count, "=".contains(c[i]) || (op == "~" && c[i] == "=") {
                    op.append(c[i])
                    i += 1
                }
                out.append(.op(op))
            } else if ch.isLetter || ch == "_" {
                var w = ""
                while i < c.count, c[i].isLetter || c[i].isNumber || c[i] == "_" || c[i] == "." {
                    w.append(c[i])
                    i += 1
                }
                out.append(.word(w))
            } else {
                throw HardenError(.corrupt, "marker \"\(text)\": unexpected \"\(ch)\"")
            }
        }
        return out
    }

    mutating func orExpression() throws -> PythonMarker {
        var left = try andExpression()
        while at < tokens.count, tokens[at] == .word("or") {
            at += 1
            left = .or(left, try andExpression())
        }
        return left
    }

    mutating func andExpression() throws -> PythonMarker {
        var left = try atom()
        while at < tokens.count, tokens[at] == .word("and") {
            at += 1
            left = .and(left, try atom())
        }
        return left
    }

    mutating func atom() throws -> PythonMarker {
        guard at < tokens.count else { throw error("ends early") }
        if tokens[at] == .open {
            at += 1
            let inner = try orExpression()
            guard at < tokens.count, tokens[at] == .close else { throw error("unclosed (") }
            at += 1
            return inner
        }
        let left = try operand()
        guard at < tokens.count else { throw error("comparison without operator") }
        var op: String
        switch tokens[at] {
        case .op(let o): op = o
        case .word("in"): op = "in"
        case .word("not") where at + 1 < tokens.count && tokens[at + 1] == .word("in"):
            op = "not in"
            at += 1
        default: throw error("expected an operator, got \(tokens[at])")
        }
        at += 1
        guard PythonSpecifier.Operator(rawValue: op) != nil || op == "in" || op == "not in" else {
            throw error("unknown operator \(op)")
        }
        return .compare(left, op, try operand())
    }

    mutating func operand() throws -> PythonMarker.Operand {
        guard at < tokens.count else { throw error("ends early") }
        defer { at += 1 }
        switch tokens[at] {
        case .string(let s): return .literal(s)
        case .word(let w) where PythonMarker.variables.contains(w): return .variable(w)
        default: throw error("unknown marker variable \(tokens[at])")
        }
    }
}

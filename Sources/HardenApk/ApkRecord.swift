// harden — one record of apk's "K:value" files (APKINDEX, /lib/apk/db/installed): the lines in order, so a record
// can be written back byte for byte. Pure functions over bytes.
import HardenCore
import HardenPackages

/// A record: the `K:value` lines of one package, in their order.
public struct ApkRecord: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        public var key: Character
        public var value: String
        public init(_ key: Character, _ value: String) {
            self.key = key
            self.value = value
        }
    }
    public var lines: [Line]

    public init(lines: [Line]) { self.lines = lines }

    /// The first value of `key`.
    public subscript(key: Character) -> String? { lines.first { $0.key == key }?.value }

    public var name: String { self["P"] ?? "" }
    public var version: String { self["V"] ?? "" }
    /// `C:` — "Q1" and the base64 SHA-1 of the package's control stream.
    public var checksum: String? { self["C"] }
    /// The origin (source) package, the package itself when it names none.
    public var origin: String { self["o"] ?? name }
    public var dependencies: [ApkDependency] { words("D").compactMap(ApkDependency.init) }
    public var provides: [ApkDependency] { words("p").compactMap(ApkDependency.init) }
    public var installIf: [ApkDependency] { words("i").compactMap(ApkDependency.init) }
    public var replaces: [String] { words("r") }
    /// `k:` — the provider priority (higher wins among providers of one name).
    public var providerPriority: Int { self["k"].flatMap { Int($0) } ?? 0 }

    func words(_ key: Character) -> [String] {
        (self[key] ?? "").split(separator: " ").map(String.init)
    }

    /// The record as apk writes it (no trailing blank line).
    public var text: String { lines.map { "\($0.key):\($0.value)" }.joined(separator: "\n") }

    /// The records of an APKINDEX or installed database. `source` names the file in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws -> [ApkRecord] {
        var out: [ApkRecord] = []
        for range in Deb822.stanzaRanges(bytes) {
            var lines: [Line] = []
            for raw in exactLines(String(decoding: bytes[range], as: UTF8.self), omittingEmpty: true) {
                guard raw.count >= 2, raw.dropFirst().first == ":", let key = raw.first else {
                    throw HardenError(.corrupt, "\(source): not a \"K:value\" line: \(raw.prefix(60))")
                }
                lines.append(Line(key, String(raw.dropFirst(2))))
            }
            if !lines.isEmpty { out.append(ApkRecord(lines: lines)) }
        }
        return out
    }
}

/// A dependency, provide or world constraint: `name`, `name>=1.2`, `so:libz.so.1`, `!conflict`, `name@tag`.
public struct ApkDependency: Sendable, Hashable, CustomStringConvertible {
    public enum Operator: String, Sendable, CaseIterable {
        // Longest first: the parser tries them in this order.
        case lessOrEqual = "<=", greaterOrEqual = ">=", fuzzyEqual = "~", equal = "=", less = "<", greater = ">"
    }
    public var name: String
    public var op: Operator?
    public var version: String?
    /// `@tag`: only from the repositories of that tag.
    public var tag: String?
    /// `!name`: must not be installed.
    public var conflict = false

    public init?(_ token: String) {
        var t = Substring(token)
        if t.hasPrefix("!") {
            conflict = true
            t = t.dropFirst()
        }
        if let at = t.firstIndex(of: "@") {
            let rest = t[t.index(after: at)...]
            let end = rest.firstIndex { "<>=~".contains($0) } ?? rest.endIndex
            tag = String(rest[..<end])
            t = t[..<at] + rest[end...]
        }
        guard let cut = t.firstIndex(where: { "<>=~".contains($0) }) else {
            guard !t.isEmpty else { return nil }
            name = String(t)
            return
        }
        name = String(t[..<cut])
        let rest = t[cut...]
        guard let op = Operator.allCases.first(where: { rest.hasPrefix($0.rawValue) }), !name.isEmpty else {
            return nil
        }
        self.op = op
        version = String(rest.dropFirst(op.rawValue.count).drop { $0 == "=" || $0 == "~" })
    }

    /// Whether `candidate` (a package or provide version) meets the constraint.
    public func accepts(_ candidate: String?) -> Bool {
        guard let op, let version else { return true }
        guard let candidate else { return false }
        let c = ApkVersion().compare(candidate, version)
        switch op {
        case .equal: return c == 0
        case .less: return c < 0
        case .greater: return c > 0
        case .lessOrEqual: return c <= 0
        case .greaterOrEqual: return c >= 0
        case .fuzzyEqual:
            return candidate == version || candidate.hasPrefix(version + ".")
                || candidate.hasPrefix(version + "-") || candidate.hasPrefix(version + "_")
        }
    }

    public var description: String {
        (conflict ? "!" : "") + name + (tag.map { "@" + $0 } ?? "") + (op.map { $0.rawValue + (version ?? "") } ?? "")
    }
}

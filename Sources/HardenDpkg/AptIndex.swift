// harden — APT's data formats over the one deb822 reader (HardenPackages): dependency relations, the fields of a
// binary package, and a Packages index read lazily by package name.
import HardenCore
import HardenPackages

/// One alternative of a dependency: `name[:arch] [(op version)]`.
public struct Relation: Sendable, Equatable, CustomStringConvertible {
    public enum Op: String, Sendable { case lt = "<<", le = "<=", eq = "=", ge = ">=", gt = ">>" }
    public var name: String
    public var archQualifier: String?
    public var op: Op?
    public var version: String?

    public init(name: String, archQualifier: String? = nil, op: Op? = nil, version: String? = nil) {
        self.name = name
        self.archQualifier = archQualifier
        self.op = op
        self.version = version
    }

    public var description: String {
        name + (archQualifier.map { ":" + $0 } ?? "") + (op.map { " (\($0.rawValue) \(version ?? ""))" } ?? "")
    }

    /// Whether `candidate` satisfies the version constraint.
    public func accepts(_ candidate: String) -> Bool {
        guard let op, let version else { return true }
        let c = DpkgVersion().compare(candidate, version)
        switch op {
        case .lt: return c < 0
        case .le: return c <= 0
        case .eq: return c == 0
        case .ge: return c >= 0
        case .gt: return c > 0
        }
    }

    /// `Depends:`-style text: clauses separated by commas, alternatives by `|`. Architecture restrictions
    /// (`[amd64]`) and build profiles (`<!nocheck>`) are dropped (they do not occur in binary packages).
    public static func parseList(_ text: String?) -> [[Relation]] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: ",").compactMap { clause in
            let alts = clause.split(separator: "|").compactMap { parse(String($0)) }
            return alts.isEmpty ? nil : alts
        }
    }

    public static func parse(_ text: String) -> Relation? {
        var s = Substring(text.replacingAll("\n", with: " "))
        if let b = s.firstIndex(of: "[") { s = s[..<b] }
        if let b = s.firstIndex(of: "<"), !s[..<b].contains("(") { s = s[..<b] }
        s = s.drop { $0 == " " || $0 == "\t" }
        let nameEnd = s.firstIndex { $0 == " " || $0 == "(" || $0 == "\t" } ?? s.endIndex
        var name = String(s[..<nameEnd])
        guard !name.isEmpty else { return nil }
        var arch: String?
        if let colon = name.firstIndex(of: ":") {
            arch = String(name[name.index(after: colon)...])
            name = String(name[..<colon])
        }
        var r = Relation(name: name, archQualifier: arch, op: nil, version: nil)
        if let open = s.firstIndex(of: "("), let close = s.firstIndex(of: ")"), open < close {
            var inner = s[s.index(after: open)..<close].drop { $0 == " " }
            for op in ["<<", "<=", ">=", ">>", "=", "<", ">"] where inner.hasPrefix(op) {
                // "<" and ">" are deprecated spellings of "<=" and ">=".
                r.op = Op(rawValue: op == "<" ? "<=" : op == ">" ? ">=" : op)
                inner = inner.dropFirst(op.count)
                break
            }
            r.version = String(inner.trimming(" \t"))
            if r.op == nil { return nil }
        }
        return r
    }
}

/// One binary package of a repository's `Packages` index.
public struct BinaryPackage: Sendable, Equatable {
    public var name: String
    public var version: String
    public var architecture: String
    public var source: String
    public var sourceVersion: String
    public var multiArch: String?
    public var depends: [[Relation]]
    public var preDepends: [[Relation]]
    public var provides: [Relation]
    public var breaks: [[Relation]]
    public var conflicts: [[Relation]]
    public var filename: String
    public var size: Int64
    public var sha256: String
    /// Which repository (`AptRepository.index`) lists it.
    public var repository: Int

    public static func == (a: BinaryPackage, b: BinaryPackage) -> Bool {
        a.name == b.name && a.version == b.version && a.architecture == b.architecture && a.sha256 == b.sha256
    }

    /// `Source: name (version)` → name and version (both default to the binary's).
    public static func source(_ field: String?, name: String, version: String) -> (String, String) {
        guard let field, !field.isEmpty else { return (name, version) }
        let parts = field.split(separator: " ", maxSplits: 1)
        let src = String(parts[0])
        if parts.count == 2 {
            let v = parts[1].trimming(" ()")
            return (src, v.isEmpty ? version : v)
        }
        return (src, version)
    }

    static let indexFields: Set<String> = [
        "package", "version", "architecture", "source", "multi-arch", "depends", "pre-depends", "provides", "breaks",
        "conflicts",
        "filename", "size", "sha256",
    ]

    /// The packages of a `Packages` index for `architectures` (the image's and `all`).
    public static func parseIndex(
        _ bytes: [UInt8], source: String, architectures: Set<String>, repository: Int
    ) throws
        -> [BinaryPackage]
    {
        var out: [BinaryPackage] = []
        for s in try Deb822.parse(bytes, source: source, wanted: indexFields) {
            guard let name = s["Package"], let version = s["Version"], let arch = s["Architecture"],
                architectures.contains(arch),
                let filename = s["Filename"], let size = Int64(s["Size"] ?? ""), let sha = s["SHA256"], sha.count == 64
            else { continue }
            let (src, srcVersion) = Self.source(s["Source"], name: name, version: version)
            out.append(
                BinaryPackage(
                    name: name, version: version, architecture: arch, source: src, sourceVersion: srcVersion,
                    multiArch: s["Multi-Arch"], depends: Relation.parseList(s["Depends"]),
                    preDepends: Relation.parseList(s["Pre-Depends"]),
                    provides: Relation.parseList(s["Provides"]).map { $0[0] }, breaks: Relation.parseList(s["Breaks"]),
                    conflicts: Relation.parseList(s["Conflicts"]), filename: filename, size: size,
                    sha256: sha.lowercased(),
                    repository: repository))
        }
        return out
    }
}

/// A repository's `Packages` index, kept as bytes with each stanza's range by package name: a stanza is parsed
/// only when the resolver asks for that name (an index has ~60,000 stanzas; a patch reads a few hundred).
public final class PackageIndex: @unchecked Sendable {
    // @unchecked: `parsed` and `provides` are caches filled by the one resolver that uses the index, on one task.
    let bytes: [UInt8]
    let source: String
    let architectures: Set<String>
    let repository: Int
    /// Stanza ranges by package name.
    let ranges: [String: [Range<Int>]]
    private var parsed: [String: [BinaryPackage]] = [:]
    private var provides: [String: [BinaryPackage]]?

    public var count: Int { ranges.values.reduce(0) { $0 + $1.count } }
    /// The package names the index lists.
    public var names: [String] { ranges.keys.sorted() }

    public init(_ bytes: [UInt8], source: String, architectures: Set<String>, repository: Int) throws {
        self.bytes = bytes
        self.source = source
        self.architectures = architectures
        self.repository = repository
        var ranges: [String: [Range<Int>]] = [:]
        let package = Array("Package:".utf8)
        for range in Deb822.stanzaRanges(bytes) {
            // Package is the first field of every stanza of a Packages index.
            guard range.count > package.count, bytes[range].starts(with: package) else {
                throw HardenError(
                    .corrupt, "\(source): a stanza at byte \(range.lowerBound) does not start with Package:")
            }
            var v = range.lowerBound + package.count
            while v < range.upperBound && bytes[v] == 0x20 { v += 1 }
            var e = v
            while e < range.upperBound && bytes[e] != 0x0a && bytes[e] != 0x0d && bytes[e] != 0x20 { e += 1 }
            ranges[String(decoding: bytes[v..<e], as: UTF8.self), default: []].append(range)
        }
        self.ranges = ranges
    }

    /// Every version of `name` the index lists for the wanted architectures.
    public func packages(named name: String) throws -> [BinaryPackage] {
        if let p = parsed[name] { return p }
        var out: [BinaryPackage] = []
        for r in ranges[name] ?? [] {
            out += try BinaryPackage.parseIndex(
                Array(bytes[r]), source: source, architectures: architectures, repository: repository)
        }
        parsed[name] = out
        return out
    }

    /// Packages that provide `virtual` (the whole index is read for Provides once, on first use).
    public func providers(of virtual: String) throws -> [BinaryPackage] {
        if provides == nil {
            var map: [String: [BinaryPackage]] = [:]
            let needle = Array("\nProvides:".utf8)
            for (name, list) in ranges {
                for r in list where contains(bytes[r], needle) {
                    for p in try packages(named: name) {
                        for v in p.provides { map[v.name, default: []].append(p) }
                    }
                }
            }
            provides = map
        }
        return provides?[virtual] ?? []
    }

    private func contains(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        var i = hay.startIndex
        while i <= hay.endIndex - needle.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}

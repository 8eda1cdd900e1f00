// harden — version ranges as the `vers` specification writes them (`vers:rpm/>=1.0|<1.1-2`), the form CSAF's
// `product_version_range` and CycloneDX's `affects[].versions[].range` use, evaluated with the ecosystem's comparator.
import HardenCore

/// A parsed `vers:` range: a scheme (`deb`, `rpm`, `pypi`, …) and its constraints in ascending version order.
public struct VersRange: Sendable, Hashable {
    public enum Comparator: String, Sendable, Hashable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
    }
    public struct Constraint: Sendable, Hashable {
        public var comparator: Comparator
        public var version: String

        public init(comparator: Comparator, version: String) {
            self.comparator = comparator
            self.version = version
        }
    }
    public var scheme: String
    /// Empty: every version (`vers:deb/*`).
    public var constraints: [Constraint]

    public init(scheme: String, constraints: [Constraint]) {
        self.scheme = scheme
        self.constraints = constraints
    }

    /// Parses `vers:SCHEME/C1|C2…`; nil when the text is not a vers range.
    public static func parse(_ text: String) -> VersRange? {
        let t = text.trimmingSpaces
        guard t.lowercased().hasPrefix("vers:"), let slash = t.firstIndex(of: "/") else { return nil }
        let scheme = String(t[t.index(t.startIndex, offsetBy: 5)..<slash]).lowercased()
        let body = t[t.index(after: slash)...].filter { $0 != " " }
        guard !scheme.isEmpty, !body.isEmpty else { return nil }
        if body == "*" { return VersRange(scheme: scheme, constraints: []) }
        var constraints: [Constraint] = []
        for part in body.split(separator: "|", omittingEmptySubsequences: false) {
            let ops = Comparator.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
            let op = ops.first { part.hasPrefix($0.rawValue) }
            let version = String(part.dropFirst(op?.rawValue.count ?? 0))
            guard !version.isEmpty, !version.contains(where: { "<>=!*".contains($0) }) else { return nil }
            constraints.append(
                Constraint(comparator: op ?? .equal, version: PercentEncoding.decode(version) ?? version))
        }
        return VersRange(scheme: scheme, constraints: constraints)
    }

    /// Whether `version` lies in the range (the vers specification's containment algorithm over sorted constraints).
    public func contains(_ version: String, comparator c: any VersionComparator) -> Bool {
        if constraints.isEmpty { return true }
        for k in constraints where c.compare(version, k.version) == 0 {
            if k.comparator == .equal { return true }
            if k.comparator == .notEqual { return false }
        }
        let bounds = constraints.filter { $0.comparator != .equal && $0.comparator != .notEqual }
            .sorted { c.compare($0.version, $1.version) < 0 }
        guard !bounds.isEmpty else { return false }
        func satisfies(_ k: Constraint) -> Bool {
            let r = c.compare(version, k.version)
            switch k.comparator {
            case .less: return r < 0
            case .lessOrEqual: return r <= 0
            case .greater: return r > 0
            case .greaterOrEqual: return r >= 0
            case .equal, .notEqual: return false
            }
        }
        let isUpper = { (k: Constraint) in k.comparator == .less || k.comparator == .lessOrEqual }
        if let first = bounds.first, isUpper(first), satisfies(first) { return true }
        if let last = bounds.last, !isUpper(last), satisfies(last) { return true }
        for (lower, upper) in zip(bounds, bounds.dropFirst()) where !isUpper(lower) && isUpper(upper) {
            if satisfies(lower) && satisfies(upper) { return true }
        }
        return false
    }

    /// The comparator of a vers scheme (a purl type), nil for schemes harden cannot order.
    public static func comparator(scheme: String) -> (any VersionComparator)? {
        switch scheme.lowercased() {
        case "deb", "debian", "ubuntu": return DpkgVersion()
        case "rpm": return RpmVersion()
        case "apk", "alpine": return ApkVersion()
        case "pypi": return PEP440Version()
        case "npm", "semver", "cargo", "golang", "nuget", "gem", "composer": return SemanticVersion()
        case "maven": return MavenVersion()
        case "generic": return UpstreamVersion()
        default: return nil
        }
    }
}

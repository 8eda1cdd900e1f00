// harden — version ordering per ecosystem, each its own type.

/// Orders version strings of one ecosystem. `compare` returns a negative number, zero or a positive number.
public protocol VersionComparator: Sendable {
    /// Whether `version` is well-formed for this ecosystem.
    func isValid(_ version: String) -> Bool
    func compare(_ a: String, _ b: String) -> Int
}

extension VersionComparator {
    public func lessThan(_ a: String, _ b: String) -> Bool { compare(a, b) < 0 }
}

/// The comparator for an OSV ecosystem name (`Debian:12` → dpkg, `PyPI` → PEP 440, …).
public enum Comparators {
    public static func forEcosystem(_ ecosystem: String) -> any VersionComparator {
        let base = ecosystem.split(separator: ":").first.map(String.init) ?? ecosystem
        switch base {
        case "Debian", "Ubuntu": return DpkgVersion()
        case "Alpine", "Wolfi", "Chainguard": return ApkVersion()
        case "PyPI": return PEP440Version()
        case "Red Hat", "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE", "Mageia": return RpmVersion()
        case "NVD-CPE": return UpstreamVersion()
        case "Maven": return MavenVersion()
        default: return SemanticVersion()
        }
    }
}

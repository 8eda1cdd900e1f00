// harden — the vulnerability model every feed is imported into.

/// Severity, ordered.
public enum Severity: String, Codable, Sendable, CaseIterable, Comparable {
    case unknown, negligible, low, medium, high, critical

    static let order: [Severity] = [.unknown, .negligible, .low, .medium, .high, .critical]
    /// The severities from the worst down (critical … unknown): the one list tables and reports use.
    public static let descending: [Severity] = order.reversed()
    public static func < (a: Severity, b: Severity) -> Bool {
        order.firstIndex(of: a) ?? 0 < order.firstIndex(of: b) ?? 0
    }

    /// The midpoint of the severity's CVSS band (the impact of a finding known only by its severity).
    public var bandMidpoint: Double {
        switch self {
        case .critical: 9.5
        case .high: 8.0
        case .medium: 5.5
        case .low: 2.0
        case .negligible: 0.5
        case .unknown: 0
        }
    }

    /// CVSS base score bands (v3/v4): 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10 critical.
    public init(cvssScore s: Double) {
        switch s {
        case 9.0...: self = .critical
        case 7.0..<9.0: self = .high
        case 4.0..<7.0: self = .medium
        case 0.1..<4.0: self = .low
        default: self = .negligible
        }
    }

    /// Debian tracker urgencies (`low*`, `medium**` carry marks that do not change the level).
    public init(debianUrgency u: String) {
        let base = u.trimmingCharacters(in: "*")
        switch base {
        case "unimportant": self = .negligible
        case "low": self = .low
        case "medium": self = .medium
        case "high": self = .high
        default: self = .unknown
        }
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// One source's rating of a vulnerability.
public struct SeverityRating: Codable, Sendable, Hashable {
    public var source: String
    /// `CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `urgency`, …
    public var type: String
    public var vector: String?
    public var score: Double?
    public var severity: Severity

    public init(source: String, type: String, vector: String?, score: Double?, severity: Severity) {
        self.source = source
        self.type = type
        self.vector = vector
        self.score = score
        self.severity = severity
    }
}

/// How a vendor says a package stands.
public enum FixState: String, Codable, Sendable {
    /// Affected below `fixedVersion` (or within OSV ranges).
    case fixed
    /// Affected and no fix released yet.
    case notFixed = "not-fixed"
    /// Affected and the vendor will not fix it.
    case wontFix = "wont-fix"
}

/// One OSV range event.
public struct RangeEvent: Codable, Sendable, Hashable {
    public var introduced: String?
    public var fixed: String?
    public var lastAffected: String?
    public var limit: String?
    enum CodingKeys: String, CodingKey { case introduced, fixed, limit, lastAffected = "last_affected" }

    public init(introduced: String? = nil, fixed: String? = nil, lastAffected: String? = nil, limit: String? = nil) {
        self.introduced = introduced
        self.fixed = fixed
        self.lastAffected = lastAffected
        self.limit = limit
    }
}

public struct AffectedRange: Codable, Sendable, Hashable {
    public var type: String
    public var events: [RangeEvent]

    public init(type: String, events: [RangeEvent]) {
        self.type = type
        self.events = events
    }
}

/// A package a vulnerability affects, in one ecosystem (and distro release).
public struct AffectedPackage: Codable, Sendable, Hashable {
    /// `debian`, `alpine`, `ubuntu` for distros; OSV names (`PyPI`, `npm`, `Go`, `Maven`, …) otherwise.
    public var ecosystem: String
    /// Distro release (`bookworm`, `12`, `3.19`); nil for language ecosystems.
    public var release: String?
    /// Normalised package name (source package for distros, PEP 503 for PyPI).
    public var package: String
    public var ranges: [AffectedRange]
    public var versions: [String]
    public var fixState: FixState
    public var urgency: String?

    public init(
        ecosystem: String, release: String?, package: String, ranges: [AffectedRange], versions: [String],
        fixState: FixState,
        urgency: String?
    ) {
        self.ecosystem = ecosystem
        self.release = release
        self.package = package
        self.ranges = ranges
        self.versions = versions
        self.fixState = fixState
        self.urgency = urgency
    }
}

/// A vulnerability record as imported.
public struct Advisory: Sendable {
    public var id: String
    public var aliases: [String]
    public var summary: String?
    public var published: String?
    public var modified: String?
    public var severities: [SeverityRating]
    public var affected: [AffectedPackage]
    public var references: [String]
}

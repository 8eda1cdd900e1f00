// harden — matching an SBOM against the vulnerability database.
import HardenCore
import HardenPackages
import HardenSBOM

/// One vulnerability in one package.
public struct Finding: Codable, Sendable, Hashable {
    public struct PackageRef: Codable, Sendable, Hashable {
        public var ref: String
        public var type: String
        public var name: String
        public var version: String
        public var purl: String
        public var layer: Int?
        public var locations: [String]
        /// The source package (OS packages), which distributions' VEX statements name.
        public var sourceName: String?
        public var sourceVersion: String?
        public var cpes: [String]?

        public init(
            ref: String, type: String, name: String, version: String, purl: String, layer: Int?, locations: [String],
            sourceName: String? = nil, sourceVersion: String? = nil, cpes: [String]? = nil
        ) {
            self.ref = ref
            self.type = type
            self.name = name
            self.version = version
            self.purl = purl
            self.layer = layer
            self.locations = locations
            self.sourceName = sourceName
            self.sourceVersion = sourceVersion
            self.cpes = cpes
        }
    }
    /// The CVE id when one is known, else the advisory id.
    public var id: String
    /// Every id this finding merges (advisories and their aliases).
    public var ids: [String]
    public var package: PackageRef
    /// What was compared: `debian bookworm source glibc 2.36-9+deb12u4`.
    public var matchedOn: String
    public var fixState: FixState
    public var fixedVersions: [String]
    public var severity: Severity
    /// Who gave `severity`: the vendor (`debian`, `alpine`, `osv`, …) or, when it has none, `nvd` or the CNA (`cna:…`).
    public var severitySource: String?
    /// Every CVSS rating known, with its source.
    public var cvss: [CVSSScore]?
    public var ratings: [SeverityRating]
    /// Listed in CISA's Known Exploited Vulnerabilities catalog.
    public var kev: KEVEntry?
    /// FIRST's exploit prediction score.
    public var epss: EPSSScore?
    public var cwes: [String]?
    /// The package's source package (deb, apk) or its own name: findings are grouped by (id, source package).
    public var sourcePackage: String?
    /// `ID/SOURCE`: the group this finding belongs to (one row of a table, one per affected binary package in JSON).
    public var group: String?
    public var summary: String?
    public var sources: [String]
    /// Set when a VEX statement or an ignore rule suppresses the finding (kept in JSON, not counted).
    public var suppressed: Suppression?
    /// Whether a runtime profile saw the package used (nil without a profile).
    public var packageUsed: Bool?
    /// The risk score (`riskScore`), set by the matcher.
    public var risk: Double?

    public init(
        id: String, ids: [String], package: PackageRef, matchedOn: String, fixState: FixState, fixedVersions: [String],
        severity: Severity, ratings: [SeverityRating], sourcePackage: String? = nil, group: String? = nil,
        summary: String?,
        sources: [String], suppressed: Suppression?
    ) {
        self.id = id
        self.ids = ids
        self.package = package
        self.matchedOn = matchedOn
        self.fixState = fixState
        self.fixedVersions = fixedVersions
        self.severity = severity
        self.ratings = ratings
        self.sourcePackage = sourcePackage
        self.group = group
        self.summary = summary
        self.sources = sources
        self.suppressed = suppressed
    }
}

public struct Matcher {
    public let database: VulnerabilityDatabase

    public init(database: VulnerabilityDatabase) { self.database = database }

    /// What to look up for a package: ecosystem, name, version, acceptable releases.
    struct Query {
        var ecosystem: String
        var name: String
        var version: String
        var releases: [String]?
        var description: String
    }

    /// The OSV ecosystem of an RPM-based OS (os-release ID, then ID_LIKE), nil when OSV has none for it.
    static func rpmEcosystem(_ os: OSInfo?) -> String? {
        for id in [os?.id].compactMap({ $0 }) + (os?.idLike ?? []) {
            switch id {
            case "rocky": return "Rocky Linux"
            case "almalinux": return "AlmaLinux"
            case "rhel", "centos": return "Red Hat"
            case "opensuse-leap", "opensuse-tumbleweed", "opensuse": return "openSUSE"
            case "sles", "suse": return "SUSE"
            case "mageia": return "Mageia"
            default: continue
            }
        }
        return nil
    }

    static func query(for p: SoftwarePackage, os: OSInfo?) -> Query? {
        switch p.type {
        case .deb:
            let name = p.sourceName ?? p.name
            let version = p.sourceVersion ?? p.version
            let osID = os?.id ?? OSInfo.assumedDpkgID
            let releases = [os?.codename, os?.versionID].compactMap { $0 }
            return Query(
                ecosystem: osID == "ubuntu" ? "ubuntu" : "debian", name: name, version: version, releases: releases,
                description: "\(osID) \(releases.first ?? "?") source \(name) \(version)")
        case .apk:
            let name = p.sourceName ?? p.name
            let v = os?.versionID ?? ""
            let branch = v.split(separator: ".").prefix(2).joined(separator: ".")
            return Query(
                ecosystem: "alpine", name: name, version: p.version, releases: [branch],
                description: "alpine \(branch) origin \(name) \(p.version)")
        case .python:
            // A Python package installed by the OS package manager is matched through the OS package only.
            guard p.ownedBy == nil else { return nil }
            return Query(
                ecosystem: "PyPI", name: PURL.pep503(p.name), version: p.version, releases: nil,
                description: "PyPI \(PURL.pep503(p.name)) \(p.version)")
        case .npm:
            guard p.ownedBy == nil else { return nil }
            return Query(
                ecosystem: "npm", name: p.name.lowercased(), version: p.version, releases: nil,
                description: "npm \(p.name) \(p.version)")
        case .gem:
            guard p.ownedBy == nil else { return nil }
            return Query(
                ecosystem: "RubyGems", name: p.name, version: p.version, releases: nil,
                description: "RubyGems \(p.name) \(p.version)")
        case .goModule:
            let version = p.name == "stdlib" && p.version.hasPrefix("go") ? String(p.version.dropFirst(2)) : p.version
            return Query(
                ecosystem: "Go", name: p.name, version: version, releases: nil, description: "Go \(p.name) \(version)")
        case .javaArchive:
            guard let group = p.sourceName else { return nil }
            return Query(
                ecosystem: "Maven", name: "\(group):\(p.name)", version: p.version, releases: nil,
                description: "Maven \(group):\(p.name) \(p.version)")
        case .rpm:
            // OSV's RPM distributions: the binary package's name and EVR, within the image's major release.
            guard let osv = rpmEcosystem(os) else { return nil }
            let major = os?.versionID.map { String($0.prefix { $0 != "." }) }
            return Query(
                ecosystem: osv.lowercased(), name: p.name, version: p.version,
                releases: osv == "Red Hat" ? nil : major.map { [$0] },
                description: "\(osv) \(major ?? "?") \(p.name) \(p.version)")
        case .rustCrate:
            guard p.ownedBy == nil else { return nil }
            return Query(
                ecosystem: "crates.io", name: p.name, version: p.version, releases: nil,
                description: "crates.io \(p.name) \(p.version)")
        case .dotnet:
            return Query(
                ecosystem: "NuGet", name: p.name.lowercased(), version: p.version, releases: nil,
                description: "NuGet \(p.name) \(p.version)")
        case .composer:
            return Query(
                ecosystem: "Packagist", name: p.name.lowercased(), version: p.version, releases: nil,
                description: "Packagist \(p.name) \(p.version)")
        case .binary:
            return nil  // matched through its CPEs: `queries(for:os:)`
        }
    }

    /// Every lookup for a package: one for most; one per `vendor:product` of its CPEs for a runtime found by its
    /// binaries (NVD's CPE configurations, imported as ecosystem `NVD-CPE`). Only the classifiers' own table of
    /// CPEs is ever matched: no CPE is guessed from a package name.
    static func queries(for p: SoftwarePackage, os: OSInfo?) -> [Query] {
        guard p.type == .binary else { return query(for: p, os: os).map { [$0] } ?? [] }
        var out: [Query] = []
        for cpe in p.cpes ?? [] {
            let f = CPE.split(cpe)
            guard f.count >= 5, f[0] == "cpe", f[1] == "2.3" else { continue }
            out.append(
                Query(
                    ecosystem: "NVD-CPE", name: "\(f[3]):\(f[4])", version: p.version, releases: nil,
                    description: "NVD cpe:2.3:a:\(f[3]):\(f[4]) \(p.version) (\(p.name) found by its binaries)"))
        }
        return out
    }

    /// The (ecosystem, name) keys the matcher looks up for a package, as the vulnerability database stores them:
    /// the fleet's package index, so that a changed advisory finds the stored packages it names.
    public static func lookupKeys(for p: SoftwarePackage, os: OSInfo?) -> [(ecosystem: String, name: String)] {
        queries(for: p, os: os).map { ($0.ecosystem, $0.name) }
    }

    /// Whether `version` is affected by `pkg` (OSV evaluation: `versions`, then each range's events in order).
    public static func isAffected(_ version: String, _ pkg: AffectedPackage, comparator: any VersionComparator) -> Bool
    {
        if pkg.versions.contains(version) { return true }
        for range in pkg.ranges {
            if rangeAffects(version, range, comparator: comparator) { return true }
        }
        return false
    }

    static func rangeAffects(_ v: String, _ range: AffectedRange, comparator c: any VersionComparator) -> Bool {
        // Limits bound the whole range.
        for e in range.events { if let l = e.limit, l != "*", c.compare(v, l) >= 0 { return false } }
        // Sort events by version ("0" first), then walk them.
        func key(_ e: RangeEvent) -> String { e.introduced ?? e.fixed ?? e.lastAffected ?? e.limit ?? "" }
        let events = range.events.filter { $0.limit == nil }.sorted { a, b in
            let ka = key(a), kb = key(b)
            if ka == "0" { return kb != "0" }
            if kb == "0" { return false }
            let r = c.compare(ka, kb)
            if r != 0 { return r < 0 }
            // At the same version, a fix or last_affected closes before a new introduction opens.
            return a.introduced == nil && b.introduced != nil
        }
        var affected = false
        for e in events {
            if let i = e.introduced {
                if i == "0" || c.compare(v, i) >= 0 { affected = true }
            } else if let f = e.fixed {
                if c.compare(v, f) >= 0 { affected = false }
            } else if let la = e.lastAffected {
                if c.compare(v, la) > 0 { affected = false }
            }
        }
        return affected
    }

    /// Matches every package; one finding per (vulnerability, package), aliases merged.
    public func match(_ sbom: SBOM) throws -> [Finding] {
        var byKey: [String: Finding] = [:]
        var aliasCache: [String: [String]] = [:]
        for p in sbom.packages {
            for q in Self.queries(for: p, os: sbom.os) {
                let comparator =
                    p.type == .rpm
                    ? RpmVersion()
                    : Comparators.forEcosystem(
                        q.ecosystem == "debian" || q.ecosystem == "ubuntu"
                            ? "Debian" : (q.ecosystem == "alpine" ? "Alpine" : q.ecosystem))
                for row in try database.affected(ecosystem: q.ecosystem, package: q.name) {
                    if let releases = q.releases, let r = row.package.release, !releases.contains(r) { continue }
                    guard Self.isAffected(q.version, row.package, comparator: comparator) else { continue }
                    let aliases = try aliasCache[row.vulnID] ?? database.aliases(of: row.vulnID)
                    aliasCache[row.vulnID] = aliases
                    let ids = Set([row.vulnID] + aliases)
                    let canonical = ids.filter { $0.hasPrefix("CVE-") }.min() ?? ids.min() ?? row.vulnID
                    let key = "\(canonical)|\(p.id)"
                    let fixed = row.package.ranges.flatMap { $0.events.compactMap(\.fixed) }
                    var f =
                        byKey[key]
                        ?? Finding(
                            id: canonical, ids: [],
                            package: .init(
                                ref: p.id, type: p.type.rawValue, name: p.name, version: p.version, purl: p.purl,
                                layer: p.layer?.index, locations: p.locations,
                                sourceName: p.type.isOS ? p.sourceName : nil,
                                sourceVersion: p.type.isOS ? p.sourceVersion : nil, cpes: p.cpes),
                            matchedOn: q.description, fixState: row.package.fixState, fixedVersions: [],
                            severity: .unknown, ratings: [],
                            sourcePackage: p.sourceName ?? p.name, group: "\(canonical)/\(p.sourceName ?? p.name)",
                            summary: nil,
                            sources: [],
                            suppressed: nil)
                    f.ids = Array(Set(f.ids).union(ids)).sorted()
                    f.fixedVersions = Array(Set(f.fixedVersions).union(fixed)).sorted()
                    f.sources = Array(Set(f.sources + [row.source])).sorted()
                    // A fix anywhere wins over "not fixed"; "won't fix" only when nothing better is known.
                    if row.package.fixState == .fixed || f.fixState == .wontFix { f.fixState = row.package.fixState }
                    byKey[key] = f
                }
            }
        }
        // What the database says about an id, looked up once per id (a CVE usually affects several binary packages).
        var enriched: [String: (ratings: [SeverityRating], kev: KEVEntry?, epss: EPSSScore?, cwes: [String])] = [:]
        func enrichment(
            _ id: String
        ) throws -> (ratings: [SeverityRating], kev: KEVEntry?, epss: EPSSScore?, cwes: [String]) {
            if let e = enriched[id] { return e }
            let cve = id.hasPrefix("CVE-")
            let e = (
                ratings: try database.severities(of: id), kev: cve ? try database.kev(of: id) : nil,
                epss: cve ? try database.epss(of: id) : nil, cwes: cve ? try database.cwes(of: id) : []
            )
            enriched[id] = e
            return e
        }
        var out: [Finding] = []
        for key in byKey.keys.sorted() {
            guard var f = byKey[key] else { continue }
            var ratings: [SeverityRating] = []
            for id in f.ids { ratings += try enrichment(id).ratings }
            f.ratings = Array(Set(ratings)).sorted {
                ($0.source, $0.type, $0.vector ?? "") < ($1.source, $1.type, $1.vector ?? "")
            }
            (f.severity, f.severitySource) = Self.primarySeverity(f.ratings)
            let cvss = f.ratings.compactMap(CVSSScore.init)
            f.cvss = cvss.isEmpty ? nil : cvss
            for id in f.ids where f.summary == nil { f.summary = try database.summary(of: id) }
            for id in f.ids where id.hasPrefix("CVE-") {
                let e = try enrichment(id)
                if f.kev == nil { f.kev = e.kev }
                if f.epss == nil { f.epss = e.epss }
                if !e.cwes.isEmpty { f.cwes = Array(Set((f.cwes ?? []) + e.cwes)).sorted() }
            }
            f.risk = (f.riskScore * 100).rounded() / 100
            out.append(f)
        }
        return out.sorted(by: Finding.byRisk)
    }

    /// Raters that enrich CVEs rather than speak for a distribution or ecosystem.
    static func isCVEEnrichment(_ source: String) -> Bool {
        source == "nvd" || source.hasPrefix("cna:") || source.hasPrefix("adp:")
    }

    /// One severity and who gave it. The vendor's rating when it has one (the distribution's urgency, the ecosystem
    /// advisory's CVSS or label — the highest if it gives several); else the CVSS base score of NVD, then the CNA, then
    /// an ADP (v3.x before v4.0 before v2.0 for each); else unknown.
    public static func primarySeverity(_ ratings: [SeverityRating]) -> (Severity, String?) {
        let vendor = ratings.filter { !isCVEEnrichment($0.source) && $0.severity != .unknown }
        if let best = vendor.max(by: { ($0.severity, $1.source) < ($1.severity, $0.source) }) {
            return (best.severity, best.source)
        }
        for rater in ["nvd", "cna:", "adp:"] {
            for type in ["CVSS_V3", "CVSS_V4", "CVSS_V2"] {
                let rs = ratings.filter {
                    ($0.source == rater || ($0.source.hasPrefix(rater) && rater.hasSuffix(":"))) && $0.type == type
                }
                if let best = rs.max(by: { ($0.score ?? 0, $1.source) < ($1.score ?? 0, $0.source) }), best.score != nil
                {
                    return (best.severity, best.source)
                }
            }
        }
        return (.unknown, nil)
    }
}

/// A CVSS rating as reports show it.
public struct CVSSScore: Codable, Sendable, Hashable {
    public var source: String
    public var version: String
    public var vector: String
    public var baseScore: Double
    public var severity: Severity

    init?(_ r: SeverityRating) {
        guard r.type.hasPrefix("CVSS_"), let vector = r.vector, let score = r.score else { return nil }
        source = r.source
        if vector.hasPrefix("CVSS:"), let slash = vector.firstIndex(of: "/") {
            version = String(vector[vector.index(vector.startIndex, offsetBy: 5)..<slash])
        } else {
            version = r.type == "CVSS_V2" ? "2.0" : r.type == "CVSS_V4" ? "4.0" : "3"
        }
        self.vector = vector
        baseScore = score
        severity = r.severity
    }
}

extension Finding {
    /// Risk order: known exploited first, then severity, then EPSS score; then id and package for a stable order.
    /// One number for "fix this first" (0–110): a known-exploited (KEV) finding scores 100 + its impact, so every
    /// one ranks above every other finding; any other scores impact × (1 + 9 × EPSS), from its impact alone (EPSS 0
    /// or unknown) up to ten times it (EPSS 1). Impact is the highest CVSS base score known for it (0–10), else the
    /// midpoint of its severity's CVSS band (critical 9.5, high 8.0, medium 5.5, low 2.0, negligible 0.5, unknown 0).
    public var riskScore: Double {
        let impact = ratings.compactMap(\.score).max() ?? severity.bandMidpoint
        if kev != nil { return 100 + impact }
        return impact * (1 + 9 * min(max(epss?.score ?? 0, 0), 1))
    }

    /// Highest risk score first; equal scores by id, then package and version (a total order).
    public static func byRiskScore(_ a: Finding, _ b: Finding) -> Bool {
        let ra = a.risk ?? a.riskScore, rb = b.risk ?? b.riskScore
        if ra != rb { return ra > rb }
        return (a.id, a.package.name, a.package.version) < (b.id, b.package.name, b.package.version)
    }

    /// By package name and version, then id.
    public static func byPackage(_ a: Finding, _ b: Finding) -> Bool {
        (a.package.name, a.package.version, a.id) < (b.package.name, b.package.version, b.id)
    }

    /// Known-exploited first, then severity, then EPSS (the default order of tables and reports).
    public static func byRisk(_ a: Finding, _ b: Finding) -> Bool {
        let ka = (a.kev != nil ? 1 : 0, a.severity, a.epss?.score ?? -1)
        let kb = (b.kev != nil ? 1 : 0, b.severity, b.epss?.score ?? -1)
        if ka.0 != kb.0 { return ka.0 > kb.0 }
        if ka.1 != kb.1 { return ka.1 > kb.1 }
        if ka.2 != kb.2 { return ka.2 > kb.2 }
        return (a.id, a.package.name) < (b.id, b.package.name)
    }
}

extension Sequence<Finding> {
    /// Findings not suppressed by VEX or ignore rules, counted by severity (`["high": 2, …]`).
    public var activeCountsBySeverity: [String: Int] {
        var counts: [String: Int] = [:]
        for f in self where f.suppressed == nil { counts[f.severity.rawValue, default: 0] += 1 }
        return counts
    }
}

/// How findings are listed (`scan --sort-by`).
public enum FindingOrder: String, Sendable, CaseIterable {
    /// Known-exploited first, then severity, then EPSS (the default).
    case severity
    /// By `Finding.riskScore`.
    case risk
    /// By package name and version.
    case package

    public var comparator: @Sendable (Finding, Finding) -> Bool {
        switch self {
        case .severity: Finding.byRisk
        case .risk: Finding.byRiskScore
        case .package: Finding.byPackage
        }
    }
}

// harden — the scan report and its renderings: table, SARIF 2.1.0, CycloneDX with vulnerabilities.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM
import HardenVulnDB

/// What `harden scan --format json` prints.
public struct ScanReport: Codable, Sendable {
    public var schemaVersion = 1
    public var tool = "harden \(hardenToolVersion)"
    public var source: SBOM.Source
    public var os: OSInfo?
    public var database: [VulnerabilityDatabase.SourceStatus]
    /// Every finding; suppressed ones carry `suppressed` and are not counted.
    public var findings: [Finding]
    /// Package findings by severity (suppressed ones not counted).
    public var summary: [String: Int]
    /// Distinct vulnerabilities and package findings.
    public var counts: Counts?
    public var warnings: [String] = []
    public var gate: Gate?
    /// End of life of the OS and of the runtimes found (those harden has data for).
    public var eol: [EOLStatus]?
    public struct Counts: Codable, Sendable {
        /// Distinct vulnerability ids, and by their highest severity.
        public var vulnerabilities: Int
        public var vulnerabilitiesBySeverity: [String: Int]
        /// One per (vulnerability, affected package).
        public var packageFindings: Int
        /// One per (vulnerability, source package): the table's rows.
        public var groups: Int
        public var knownExploited: Int

        public init(_ findings: [Finding]) {
            let active = findings.filter { $0.suppressed == nil }
            var worst: [String: Severity] = [:]
            for f in active { worst[f.id] = max(worst[f.id] ?? .unknown, f.severity) }
            vulnerabilities = worst.count
            vulnerabilitiesBySeverity = worst.values.reduce(into: [:]) { $0[$1.rawValue, default: 0] += 1 }
            packageFindings = active.count
            groups = Set(active.map { $0.group ?? "\($0.id)/\($0.package.name)" }).count
            knownExploited = Set(active.filter { $0.kev != nil }.map(\.id)).count
        }
    }
    public struct Gate: Codable, Sendable {
        public var failOn: Severity?
        public var failed: Bool
        /// Findings that fail the gate.
        public var reached: Int
        public var unknown: UnknownSeverityPolicy
        /// Unknown-severity findings the threshold let through (`unknown: warn`).
        public var unknownNotGated: Int
        public var knownExploited: Bool
        public var maxEPSS: Double?
        public init(
            failOn: Severity?, failed: Bool, reached: Int, unknown: UnknownSeverityPolicy = .warn,
            unknownNotGated: Int = 0,
            knownExploited: Bool = false, maxEPSS: Double? = nil
        ) {
            self.failOn = failOn
            self.failed = failed
            self.reached = reached
            self.unknown = unknown
            self.unknownNotGated = unknownNotGated
            self.knownExploited = knownExploited
            self.maxEPSS = maxEPSS
        }

        /// What the gate asks, for messages: `critical or higher, known exploited, EPSS > 0.5`.
        public var description: String {
            var parts: [String] = []
            if let failOn { parts.append(failOn == .unknown ? "any severity" : "\(failOn.rawValue) or higher") }
            if knownExploited { parts.append("known exploited") }
            if let maxEPSS { parts.append("EPSS > \(maxEPSS)") }
            return parts.joined(separator: ", ")
        }
    }

    public init(
        source: SBOM.Source, os: OSInfo?, database: [VulnerabilityDatabase.SourceStatus], findings: [Finding],
        summary: [String: Int],
        warnings: [String] = [], gate: Gate? = nil
    ) {
        self.source = source
        self.os = os
        self.database = database
        self.findings = findings
        self.summary = summary
        self.warnings = warnings
        self.gate = gate
    }
}

public enum ScanRendering {
    /// One table row per (vulnerability, source package): the affected binary packages listed together, in risk order.
    public struct FindingGroup: Sendable {
        public var id: String
        public var source: String
        public var findings: [Finding]
        public var first: Finding { findings[0] }
        public var packages: [String] { Array(Set(findings.map(\.package.name))).sorted() }
        public var versions: [String] { Array(Set(findings.map(\.package.version))).sorted() }
        public var used: Bool? {
            findings.contains { $0.packageUsed != nil } ? findings.contains { $0.packageUsed == true } : nil
        }
    }

    public static func groups(
        _ findings: [Finding], by sortOrder: FindingOrder = .severity
    ) -> [FindingGroup] {
        var order: [String] = []
        var byGroup: [String: [Finding]] = [:]
        for f in findings.sorted(by: sortOrder.comparator) {
            let key = f.group ?? "\(f.id)/\(f.package.name)"
            if byGroup[key] == nil { order.append(key) }
            byGroup[key, default: []].append(f)
        }
        return order.map { k in
            let fs = byGroup[k]!
            return FindingGroup(id: fs[0].id, source: fs[0].sourcePackage ?? fs[0].package.name, findings: fs)
        }
    }

    public static func table(_ r: ScanReport, by sortOrder: FindingOrder = .severity) -> String {
        let active = r.findings.filter { $0.suppressed == nil }
        let withUse = active.contains { $0.packageUsed != nil }
        let withKEV = active.contains { $0.kev != nil }
        let withEPSS = active.contains { $0.epss != nil }
        var header = ["SEVERITY", "VULNERABILITY", "PACKAGES", "VERSION", "FIXED IN", "STATE"]
        if withKEV { header.append("KEV") }
        if withEPSS { header.append("EPSS") }
        // The risk score matters once exploitation data is known (else it orders as severity does).
        let withRisk = withKEV || withEPSS || sortOrder == .risk
        if withRisk { header.append("RISK") }
        if withUse { header.append("USED") }
        var rows = [header]
        let groups = Self.groups(active, by: sortOrder)
        for g in groups {
            let f = g.first
            var row = [
                f.severity.rawValue, f.id, g.packages.joined(separator: ", "), g.versions.joined(separator: ", "),
                Array(Set(g.findings.flatMap(\.fixedVersions))).sorted().joined(separator: ", "), f.fixState.rawValue,
            ]
            if withKEV { row.append(f.kev != nil ? "yes" : "") }
            if withEPSS { row.append(f.epss.map { String(format: "%.3f", $0.score) } ?? "") }
            if withRisk { row.append(String(format: "%.1f", g.findings.map { $0.risk ?? $0.riskScore }.max() ?? 0)) }
            if withUse { row.append(g.used == true ? "yes" : "no") }
            rows.append(row)
        }
        var out = TextTable(rows: rows).render()
        let c = ScanReport.Counts(active)
        let bySeverity = Severity.descending.compactMap { s in
            c.vulnerabilitiesBySeverity[s.rawValue].map { "\($0) \(s.rawValue)" }
        }
        out +=
            "\n\n\(c.vulnerabilities) vulnerabilities"
            + (bySeverity.isEmpty ? "" : " (\(bySeverity.joined(separator: ", ")))")
            + " in \(c.packageFindings) package findings (\(c.groups) rows)"
        if c.knownExploited > 0 { out += "\n\(c.knownExploited) known exploited (CISA KEV)" }
        let suppressed = r.findings.filter { $0.suppressed != nil }
        if !suppressed.isEmpty {
            out += "; \(suppressed.count) suppressed by VEX or ignore rules:"
            for f in suppressed.sorted(by: { ($0.id, $0.package.name) < ($1.id, $1.package.name) }) {
                guard let s = f.suppressed else { continue }
                out +=
                    "\n  \(f.id) \(f.package.name) \(f.package.version): \(s.status)"
                    + (s.justification.map { " (\($0))" } ?? "") + " — \(s.source)"
            }
        }
        if withUse {
            let unused = active.filter { $0.packageUsed == false }.count
            out += "\n\(unused) of \(active.count) in packages the runtime profile never used (minify removes them)"
        }
        if let gate = r.gate, gate.unknownNotGated > 0 {
            out +=
                "\nwarning: \(gate.unknownNotGated) findings of unknown severity are not gated (--unknown warn; fail or ignore to change)"
        }
        for e in r.eol ?? [] where e.state != .supported {
            out += "\n\(e.state == .ended ? "EOL" : "warning"): \(e.line)"
        }
        for w in r.warnings { out += "\nwarning: \(w)" }
        return out
    }

    static func sarifLevel(_ s: Severity) -> String {
        switch s {
        case .critical, .high: "error"
        case .medium: "warning"
        default: "note"
        }
    }

    public static func sarif(_ r: ScanReport) throws -> String {
        var rules: [SARIFLog.Rule] = []
        var seen = Set<String>()
        let active = r.findings.filter { $0.suppressed == nil }
        for f in active where seen.insert(f.id).inserted {
            rules.append(
                SARIFLog.Rule(
                    id: f.id, name: f.id.replacingOccurrences(of: "-", with: ""),
                    shortDescription: .init("\(f.id) in \(f.package.name)"), fullDescription: .init(f.summary ?? f.id),
                    helpUri: f.id.hasPrefix("CVE-") ? "https://nvd.nist.gov/vuln/detail/\(f.id)" : nil,
                    properties: .init(
                        securitySeverity: String(format: "%.1f", severityScore(f)), tags: ["security", "vulnerability"])
                ))
        }
        let results: [SARIFLog.Result] = active.map { f in
            let fix =
                f.fixedVersions.isEmpty ? "no fix available" : "fixed in \(f.fixedVersions.joined(separator: ", "))"
            return SARIFLog.Result(
                ruleId: f.id, level: sarifLevel(f.severity),
                message: .init(
                    "\(f.package.name) \(f.package.version) is affected by \(f.id) (\(f.severity.rawValue)); \(fix)."),
                locations: [
                    SARIFLog.Location(
                        physicalLocation: .init(
                            artifactLocation: .init(uri: String((f.package.locations.first ?? "/").dropFirst()))),
                        logicalLocations: [.init(name: f.package.purl, kind: "package")])
                ],
                properties: sarifProperties(f))
        }
        return try SARIFLog(
            rules: rules, results: results,
            properties: .init(image: r.source.reference, manifestDigest: r.source.manifestDigest)
        ).rendered()
    }

    static func sarifProperties(_ f: Finding) -> SARIFLog.FindingProperties {
        SARIFLog.FindingProperties(
            purl: f.package.purl, fixState: f.fixState.rawValue, aliases: f.ids, severity: f.severity.rawValue,
            group: f.group, severitySource: f.severitySource,
            knownExploited: f.kev.map {
                .init(
                    dateAdded: $0.dateAdded, dueDate: $0.dueDate ?? "", ransomware: $0.knownRansomwareCampaignUse ?? "")
            },
            epss: f.epss.map { .init(score: $0.score, percentile: $0.percentile) }, cwes: f.cwes)
    }

    public static func severityScore(_ f: Finding) -> Double {
        if let s = f.ratings.compactMap(\.score).max() { return s }
        switch f.severity {
        case .critical: return 9.5
        case .high: return 8.0
        case .medium: return 5.5
        case .low: return 2.0
        default: return 0.0
        }
    }

    /// The image's CycloneDX SBOM with `vulnerabilities[]` whose `affects[].ref` point at component bom-refs.
    public static func cyclonedx(_ r: ScanReport, sbom: SBOM) throws -> String {
        try SBOMEncoder.cycloneDX(sbom, vulnerabilities: r.findings.map(cdxVulnerability))
    }

    static func cdxVulnerability(_ f: Finding) -> CycloneDXVulnerability {
        var v = CycloneDXVulnerability(
            bomRef: "\(f.id)|\(f.package.ref)", id: f.id, affects: [.init(ref: f.package.ref)])
        if let s = f.suppressed {
            // Suppressed findings are kept with their analysis, as CycloneDX VEX does.
            v.analysis = .init(
                state: s.status == "fixed" ? "resolved" : "not_affected", detail: s.justification ?? s.source)
            return v
        }
        v.ratings =
            f.ratings.isEmpty
            ? [.init(severity: cdxSeverity(f.severity), source: .init(name: "harden"))]
            : f.ratings.map { rating in
                var o = CycloneDXVulnerability.Rating(
                    severity: cdxSeverity(rating.severity), source: .init(name: rating.source), score: rating.score)
                if let vec = rating.vector, rating.type.hasPrefix("CVSS_V3") {
                    o.vector = vec
                    o.method = vec.hasPrefix("CVSS:3.1") ? "CVSSv31" : "CVSSv3"
                }
                if let vec = rating.vector, rating.type == "CVSS_V4" {
                    o.vector = vec
                    o.method = "CVSSv4"
                }
                return o
            }
        // harden's risk score (known exploited 100 + impact, else impact × (1 + 9 × EPSS)) as one more rating.
        v.ratings?.append(
            .init(
                severity: cdxSeverity(f.severity), source: .init(name: "harden-risk"),
                score: f.risk ?? f.riskScore, method: "other"))
        v.description = f.summary
        v.cwes = f.cwes.map { $0.compactMap { Int($0.dropFirst(4)) } }
        var props: [CycloneDXVulnerability.Property] = []
        if let g = f.group { props.append(.init(name: "harden:group", value: g)) }
        if let s = f.severitySource { props.append(.init(name: "harden:severitySource", value: s)) }
        if let k = f.kev { props.append(.init(name: "harden:kev:dateAdded", value: k.dateAdded)) }
        if let e = f.epss { props.append(.init(name: "harden:epss", value: String(e.score))) }
        props.append(.init(name: "harden:risk", value: String(f.risk ?? f.riskScore)))
        v.properties = props.isEmpty ? nil : props
        if !f.fixedVersions.isEmpty {
            v.recommendation = "Upgrade \(f.package.name) to \(f.fixedVersions.joined(separator: " or "))"
        }
        let others = f.ids.filter { $0 != f.id }
        if !others.isEmpty {
            v.references = others.map { .init(id: $0, source: .init(name: $0.hasPrefix("GHSA") ? "GitHub" : "OSV")) }
        }
        return v
    }

    static func cdxSeverity(_ s: Severity) -> String {
        switch s {
        case .negligible: "info"
        case .unknown: "unknown"
        default: s.rawValue
        }
    }
}

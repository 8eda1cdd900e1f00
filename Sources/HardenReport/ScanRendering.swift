// harden — the scan report and its renderings: table, SARIF 2.1.0, CycloneDX with vulnerabilities.
import Foundation
import HardenCore
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
    public var summary: [String: Int]
    public var warnings: [String] = []
    public var gate: Gate?
    public struct Gate: Codable, Sendable {
        public var failOn: Severity
        public var failed: Bool
        public var reached: Int
        public init(failOn: Severity, failed: Bool, reached: Int) {
            self.failOn = failOn
            self.failed = failed
            self.reached = reached
        }
    }

    public init(
        source: SBOM.Source, os: OSInfo?, database: [VulnerabilityDatabase.SourceStatus], findings: [Finding], summary: [String: Int],
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
    public static func table(_ r: ScanReport) -> String {
        let withUse = r.findings.contains { $0.packageUsed != nil }
        var rows = [["SEVERITY", "VULNERABILITY", "PACKAGE", "VERSION", "FIXED IN", "STATE"] + (withUse ? ["USED"] : [])]
        for f in r.findings where f.suppressed == nil {
            rows.append(
                [
                    f.severity.rawValue, f.id, f.package.name, f.package.version, f.fixedVersions.joined(separator: ", "),
                    f.fixState.rawValue,
                ]
                    + (withUse ? [f.packageUsed == true ? "yes" : "no"] : []))
        }
        var out = TextTable(rows: rows).render()
        let counts = Severity.allCases.reversed().compactMap { s in r.summary[s.rawValue].map { "\($0) \(s.rawValue)" } }
        let active = r.findings.filter { $0.suppressed == nil }.count
        out += "\n\n\(active) findings" + (counts.isEmpty ? "" : ": " + counts.joined(separator: ", "))
        let suppressed = r.findings.count - active
        if suppressed > 0 { out += "; \(suppressed) suppressed by VEX or ignore rules" }
        if withUse {
            let unused = r.findings.filter { $0.suppressed == nil && $0.packageUsed == false }.count
            out += "\n\(unused) of \(active) in packages the runtime profile never used (minify removes them)"
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
        var rules: [[String: Any]] = []
        var seen = Set<String>()
        let active = r.findings.filter { $0.suppressed == nil }
        for f in active where seen.insert(f.id).inserted {
            var rule: [String: Any] = [
                "id": f.id, "name": f.id.replacingOccurrences(of: "-", with: ""),
                "shortDescription": ["text": "\(f.id) in \(f.package.name)"],
                "fullDescription": ["text": f.summary ?? f.id],
                "properties": ["security-severity": String(format: "%.1f", severityScore(f)), "tags": ["security", "vulnerability"]],
            ]
            if f.id.hasPrefix("CVE-") { rule["helpUri"] = "https://nvd.nist.gov/vuln/detail/\(f.id)" }
            rules.append(rule)
        }
        let results: [[String: Any]] = active.map { f in
            let fix = f.fixedVersions.isEmpty ? "no fix available" : "fixed in \(f.fixedVersions.joined(separator: ", "))"
            return [
                "ruleId": f.id, "level": sarifLevel(f.severity),
                "message": ["text": "\(f.package.name) \(f.package.version) is affected by \(f.id) (\(f.severity.rawValue)); \(fix)."],
                "locations": [
                    [
                        "physicalLocation": ["artifactLocation": ["uri": String((f.package.locations.first ?? "/").dropFirst())]],
                        "logicalLocations": [["name": f.package.purl, "kind": "package"]],
                    ]
                ],
                "properties": ["purl": f.package.purl, "fixState": f.fixState.rawValue, "aliases": f.ids],
            ]
        }
        let doc: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [
                [
                    "tool": [
                        "driver": ["name": "harden", "version": hardenToolVersion, "informationUri": "https://harden.dev", "rules": rules]
                    ],
                    "results": results,
                    "properties": ["image": r.source.reference, "manifestDigest": r.source.manifestDigest],
                ]
            ],
        ]
        return String(
            decoding: try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]),
            as: UTF8.self)
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
        let base = try SBOMEncoder.render(sbom, format: .cyclonedxJSON)
        guard var doc = try JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any] else { return base }
        var vulns: [[String: Any]] = []
        for f in r.findings {
            if let s = f.suppressed {
                // Suppressed findings are kept with their analysis, as CycloneDX VEX does.
                vulns.append([
                    "bom-ref": "\(f.id)|\(f.package.ref)", "id": f.id, "affects": [["ref": f.package.ref]],
                    "analysis": ["state": s.status == "fixed" ? "resolved" : "not_affected", "detail": s.justification ?? s.source],
                ])
                continue
            }
            var v: [String: Any] = [
                "bom-ref": "\(f.id)|\(f.package.ref)", "id": f.id,
                "affects": [["ref": f.package.ref]],
                "ratings": f.ratings.isEmpty
                    ? [["severity": cdxSeverity(f.severity), "source": ["name": "harden"]]]
                    : f.ratings.map { rating in
                        var o: [String: Any] = ["severity": cdxSeverity(rating.severity), "source": ["name": rating.source]]
                        if let s = rating.score { o["score"] = s }
                        if let vec = rating.vector, rating.type.hasPrefix("CVSS_V3") {
                            o["vector"] = vec; o["method"] = vec.hasPrefix("CVSS:3.1") ? "CVSSv31" : "CVSSv3"
                        }
                        if let vec = rating.vector, rating.type == "CVSS_V4" { o["vector"] = vec; o["method"] = "CVSSv4" }
                        return o
                    },
            ]
            if let s = f.summary { v["description"] = s }
            if !f.fixedVersions.isEmpty {
                v["recommendation"] = "Upgrade \(f.package.name) to \(f.fixedVersions.joined(separator: " or "))"
            }
            let others = f.ids.filter { $0 != f.id }
            if !others.isEmpty { v["references"] = others.map { ["id": $0, "source": ["name": $0.hasPrefix("GHSA") ? "GitHub" : "OSV"]] } }
            vulns.append(v)
        }
        doc["vulnerabilities"] = vulns
        return String(
            decoding: try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]),
            as: UTF8.self)
    }

    static func cdxSeverity(_ s: Severity) -> String {
        switch s {
        case .negligible: "info"
        case .unknown: "unknown"
        default: s.rawValue
        }
    }
}

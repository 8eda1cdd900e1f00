// harden — `harden scan IMAGE`.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenRuntime
import HardenSBOM
import HardenVulnDB
import Logging

public enum ScanFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, json, sarif
    case cyclonedxJSON = "cyclonedx-json"
}

extension Severity: ExpressibleByArgument {}

/// What `harden scan --format json` prints.
public struct ScanReport: Codable, Sendable {
    public var schemaVersion = 1
    public var tool = "harden \(HardenVersion.current)"
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
    }
}

extension Application {
    public struct ScanRun: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "scan",
            abstract: "List the known vulnerabilities of an image's packages.",
            discussion: """
                OS packages are matched by source package and release against vendor data (Debian tracker, Alpine secdb, OSV \
                distro ecosystems); language packages through OSV. A language package owned by an OS package is matched only \
                through the OS package. Exit code 2 when --fail-on is reached.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var database: DatabaseOptions

        @Argument(help: "The image.")
        public var image: String

        @Option(name: .long, help: "Output format: table, json, sarif or cyclonedx-json.")
        public var format: ScanFormat = .table

        @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
        public var output: String?

        @Option(name: .long, help: "Exit with code 2 when a finding of this severity or higher exists: negligible, low, medium, high, critical.")
        public var failOn: Severity?

        @Flag(name: .long, help: "Report only vulnerabilities that have a fix.")
        public var onlyFixed = false

        @Option(name: .long, help: "OpenVEX document; not_affected and fixed statements suppress findings (repeatable).")
        public var vex: [String] = []

        @Option(name: .long, help: "YAML ignore rules (by vulnerability, package name/version/type, path; optional until: date).")
        public var ignore: [String] = []

        @Option(name: .long, help: ArgumentHelp("A runtime profile of this image (harden profile): shows whether each vulnerable package is used.", valueName: "PROFILE.json"))
        public var profile: String?

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(image)
            let db = try VulnerabilityDatabase(readingAt: database.path)
            let img = try await imageOptions.open(reference, logger: logger, progress: global.showProgress)
            let sbom = try SBOMBuilder(logger: logger).build(img, reference: reference.description)
            var findings = try Matcher(database: db).match(sbom)
            if let profile {
                let p = try ProfileFile.read(profile)
                let id = Digest.sha256(of: img.configBytes).description
                guard p.image.configDigest == id else {
                    throw HardenError(.invalidArgument, "\(profile): a profile of image \(p.image.configDigest), not of \(reference) (\(id))")
                }
                let used = Dictionary(p.packages.map { ($0.id, $0.used) }, uniquingKeysWith: { $0 || $1 })
                for i in findings.indices { findings[i].packageUsed = used[findings[i].package.ref] ?? false }
            }
            if onlyFixed { findings = findings.filter { $0.fixState == .fixed } }
            let vexDocs = try vex.map { try VEXDocument.load($0) }
            let ignoreRules = try ignore.map { try IgnoreRules.load($0) }
            let warnings = Suppressor.apply(&findings, vex: vexDocs, ignores: ignoreRules, imageDigest: sbom.source.manifestDigest)
            for w in warnings { logger.warning("\(w)") }
            var summary: [String: Int] = [:]
            for f in findings where f.suppressed == nil { summary[f.severity.rawValue, default: 0] += 1 }
            var report = ScanReport(source: sbom.source, os: sbom.os, database: try db.sources(), findings: findings, summary: summary,
                                    warnings: warnings)
            if let failOn {
                let reached = findings.filter { $0.suppressed == nil && $0.severity >= failOn && $0.severity != .unknown }.count
                report.gate = .init(failOn: failOn, failed: reached > 0, reached: reached)
            }
            let text: String
            switch format {
            case .table: text = ScanRendering.table(report)
            case .json: text = String(decoding: try JSONCoding.encode(report, pretty: true), as: UTF8.self)
            case .sarif: text = try ScanRendering.sarif(report)
            case .cyclonedxJSON: text = try ScanRendering.cyclonedx(report, sbom: sbom)
            }
            try Output.emit(text, to: output)
            if let gate = report.gate, gate.failed {
                writeStandardError("harden: \(gate.reached) finding(s) at or above \(gate.failOn.rawValue) in \(reference)\n")
                throw ExitCode(2)
            }
        }
    }
}

enum ScanRendering {
    static func table(_ r: ScanReport) -> String {
        let withUse = r.findings.contains { $0.packageUsed != nil }
        var rows = [["SEVERITY", "VULNERABILITY", "PACKAGE", "VERSION", "FIXED IN", "STATE"] + (withUse ? ["USED"] : [])]
        for f in r.findings where f.suppressed == nil {
            rows.append([f.severity.rawValue, f.id, f.package.name, f.package.version, f.fixedVersions.joined(separator: ", "), f.fixState.rawValue]
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

    static func sarif(_ r: ScanReport) throws -> String {
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
                "locations": [["physicalLocation": ["artifactLocation": ["uri": String((f.package.locations.first ?? "/").dropFirst())]],
                               "logicalLocations": [["name": f.package.purl, "kind": "package"]]]],
                "properties": ["purl": f.package.purl, "fixState": f.fixState.rawValue, "aliases": f.ids],
            ]
        }
        let doc: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [["tool": ["driver": ["name": "harden", "version": HardenVersion.current, "informationUri": "https://harden.dev", "rules": rules]],
                      "results": results,
                      "properties": ["image": r.source.reference, "manifestDigest": r.source.manifestDigest]]],
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static func severityScore(_ f: Finding) -> Double {
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
    static func cyclonedx(_ r: ScanReport, sbom: SBOM) throws -> String {
        let base = try SBOMEncoder.render(sbom, format: .cyclonedxJSON)
        guard var doc = try JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any] else { return base }
        var vulns: [[String: Any]] = []
        for f in r.findings {
            if let s = f.suppressed {
                // Suppressed findings are kept with their analysis, as CycloneDX VEX does.
                vulns.append(["bom-ref": "\(f.id)|\(f.package.ref)", "id": f.id, "affects": [["ref": f.package.ref]],
                              "analysis": ["state": s.status == "fixed" ? "resolved" : "not_affected", "detail": s.justification ?? s.source]])
                continue
            }
            var v: [String: Any] = [
                "bom-ref": "\(f.id)|\(f.package.ref)", "id": f.id,
                "affects": [["ref": f.package.ref]],
                "ratings": f.ratings.isEmpty ? [["severity": cdxSeverity(f.severity), "source": ["name": "harden"]]] : f.ratings.map { rating in
                    var o: [String: Any] = ["severity": cdxSeverity(rating.severity), "source": ["name": rating.source]]
                    if let s = rating.score { o["score"] = s }
                    if let vec = rating.vector, rating.type.hasPrefix("CVSS_V3") { o["vector"] = vec; o["method"] = vec.hasPrefix("CVSS:3.1") ? "CVSSv31" : "CVSSv3" }
                    return o
                },
            ]
            if let s = f.summary { v["description"] = s }
            if !f.fixedVersions.isEmpty { v["recommendation"] = "Upgrade \(f.package.name) to \(f.fixedVersions.joined(separator: " or "))" }
            let others = f.ids.filter { $0 != f.id }
            if !others.isEmpty { v["references"] = others.map { ["id": $0, "source": ["name": $0.hasPrefix("GHSA") ? "GitHub" : "OSV"]] } }
            vulns.append(v)
        }
        doc["vulnerabilities"] = vulns
        return String(decoding: try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static func cdxSeverity(_ s: Severity) -> String {
        switch s {
        case .negligible: "info"
        case .unknown: "unknown"
        default: s.rawValue
        }
    }
}

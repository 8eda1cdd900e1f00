// harden — what `harden check` prints: the check results and the policy verdict as a table, JSON or SARIF.
import Foundation
import HardenCore
import HardenPackages
import HardenPolicy
import HardenSBOM

/// What `harden check --format json` prints.
public struct CheckReport: Codable, Sendable {
    public var schemaVersion = 1
    public var tool = "harden \(hardenToolVersion)"
    public var image: String
    public var manifestDigest: String
    public var configDigest: String
    public var checks: [CheckResult]
    /// Counts of failed checks by level.
    public var failed: [String: Int]
    public var policy: PolicyVerdict?
    public var policyFile: String?

    public init(
        image: String, manifestDigest: String, configDigest: String, checks: [CheckResult], policy: PolicyVerdict?,
        policyFile: String?
    ) {
        self.image = image
        self.manifestDigest = manifestDigest
        self.configDigest = configDigest
        self.checks = checks
        var failed: [String: Int] = [:]
        for c in checks where c.status == .fail { failed[c.level.rawValue, default: 0] += 1 }
        self.failed = failed
        self.policy = policy
        self.policyFile = policyFile
    }
}

public enum CheckRendering {
    public static func table(_ r: CheckReport) -> String {
        var rows = [["LEVEL", "ID", "STATUS", "TITLE"]]
        let order: [CheckStatus] = [.fail, .ignored, .skip, .pass]
        let sorted = r.checks.sorted { a, b in
            let (ia, ib) = (order.firstIndex(of: a.status)!, order.firstIndex(of: b.status)!)
            return ia != ib ? ia < ib : (a.level != b.level ? a.level > b.level : a.id < b.id)
        }
        for c in sorted { rows.append([c.level.rawValue.uppercased(), c.id, c.status.rawValue, c.title]) }
        var out = TextTable(rows: rows).render()
        for c in sorted where c.status == .fail {
            out += "\n\n\(c.id) \(c.title) [\(c.level.rawValue.uppercased())]"
            for f in c.findings.prefix(20) { out += "\n  * \(f)" }
            if c.findings.count > 20 { out += "\n  * … \(c.findings.count - 20) more (--format json lists every one)" }
            out += "\n  fix: \(c.remediation)"
        }
        let failed = r.checks.filter(\.failed)
        out += "\n\n\(r.checks.count) checks: \(failed.count) failed"
        let levels = CheckLevel.allCases.reversed().compactMap { l in r.failed[l.rawValue].map { "\($0) \(l.rawValue)" }
        }
        if !levels.isEmpty { out += " (" + levels.joined(separator: ", ") + ")" }
        let skipped = r.checks.filter { $0.status == .skip }
        if !skipped.isEmpty {
            out +=
                "; \(skipped.count) skipped (\(skipped.map { "\($0.id): \($0.note ?? "")" }.joined(separator: "; ")))"
        }
        if let p = r.policy {
            out +=
                "\npolicy \(r.policyFile ?? ""): "
                + (p.passed ? "passed" : "FAILED, \(p.violations.count) violation(s)")
            for v in p.violations { out += "\n  ✗ [\(v.rule)] \(v.message)" }
            for u in p.undecided { out += "\n  ? \(u)" }
            for w in p.warnings { out += "\n  warning: \(w)" }
        }
        return out
    }

    static func sarifLevel(_ l: CheckLevel) -> String {
        switch l {
        case .fatal: "error"
        case .warn: "warning"
        case .info: "note"
        }
    }

    /// SARIF 2.1.0: one rule per check, one result per finding of a failed check; policy violations as results of rule `policy`.
    public static func sarif(_ r: CheckReport) throws -> String {
        var rules: [SARIFLog.Rule] = r.checks.map { c in
            SARIFLog.Rule(
                id: c.id, name: c.title.replacingAll(" ", with: ""), shortDescription: .init(c.title),
                fullDescription: .init(c.title + (c.cis.map { " (CIS Docker Benchmark \($0))" } ?? "")),
                help: .init(c.remediation),
                helpUri: c.id.hasPrefix("CIS-DI") || c.id.hasPrefix("DKL")
                    ? "https://github.com/goodwithtech/dockle/blob/master/CHECKPOINT.md" : nil,
                defaultConfiguration: .init(level: sarifLevel(c.level)),
                properties: .init(tags: ["security", "configuration"] + (c.cis.map { ["CIS-\($0)"] } ?? [])))
        }
        var results: [SARIFLog.Result] = []
        for c in r.checks where c.status == .fail || c.status == .ignored {
            for f in c.findings.isEmpty ? [c.title] : c.findings {
                var location = SARIFLog.Location.logical(r.image, kind: "image")
                if f.hasPrefix("/") {
                    let end = f.firstIndex(of: " ") ?? f.endIndex
                    location = .file(String(f[f.index(after: f.startIndex)..<end]))
                }
                results.append(
                    SARIFLog.Result(
                        ruleId: c.id, level: sarifLevel(c.level), message: .init("\(f). \(c.remediation)"),
                        locations: [location],
                        suppressions: c.status == .ignored
                            ? [.init(kind: "external", justification: c.note ?? "ignored")] : nil))
            }
        }
        if let p = r.policy, !p.passed {
            rules.append(
                SARIFLog.Rule(
                    id: "policy", name: "Policy",
                    shortDescription: .init("The image violates the policy \(r.policyFile ?? "")"),
                    defaultConfiguration: .init(level: "error")))
            for v in p.violations {
                results.append(
                    SARIFLog.Result(
                        ruleId: "policy", level: "error", message: .init("[\(v.rule)] \(v.message)"),
                        locations: [.logical(r.image, kind: "image")]))
            }
        }
        return try SARIFLog(
            rules: rules, results: results, properties: .init(image: r.image, manifestDigest: r.manifestDigest)
        ).rendered()
    }
}

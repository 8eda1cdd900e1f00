// harden — suppressing findings: VEX statements (VEX/) and harden's YAML ignore rules.
import Foundation
import HardenCore
import HardenPackages
import HardenSystem
import Yams

/// Why a finding is not counted.
public struct Suppression: Codable, Sendable, Hashable {
    /// `vex` or `ignore`.
    public var kind: String
    /// VEX status (`not_affected`, `fixed`) or `ignored`.
    public var status: String
    /// VEX justification / impact statement, or the rule's reason.
    public var justification: String?
    /// The file the statement or rule came from.
    public var source: String
}

extension Finding {
    /// Every id and the package coordinates a statement or rule can name.
    public func matchesVulnerability(_ id: String) -> Bool { self.id == id || ids.contains(id) }
}

/// harden's ignore file (YAML):
/// ```yaml
/// ignore:
///   - vulnerability: CVE-2023-43804
///     package: {name: urllib3, version: "1.23", type: python}
///     path: /usr/local/lib/python3.11
///     until: 2027-01-31
///     reason: only used against trusted hosts
/// ```
public struct IgnoreRules: Sendable {
    public struct Rule: Sendable {
        public var vulnerability: String?
        public var packageName: String?
        public var packageVersion: String?
        public var packageType: String?
        public var path: String?
        public var until: String?
        public var reason: String?
        public var line: Int
    }
    public var rules: [Rule]
    public var source: String

    public static func load(_ path: String) throws -> IgnoreRules {
        let text = String(decoding: try HostFS.readFile(path, limit: 16 << 20), as: UTF8.self)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw HardenError(.corrupt, "\(path): invalid YAML: \(String(describing: e).textLines().first ?? "")")
        }
        guard let root = node?.mapping, let list = root["ignore"]?.sequence else {
            throw HardenError(.corrupt, "\(path): expected a top-level \"ignore:\" list")
        }
        let known: Set<String> = ["vulnerability", "package", "path", "until", "reason"]
        var rules: [Rule] = []
        for item in list {
            let line = (item.mark?.line ?? 0)
            guard let m = item.mapping else {
                throw HardenError(.corrupt, "\(path):\(line): each rule must be a mapping")
            }
            for key in m.keys {
                if let k = key.string, !known.contains(k) {
                    throw HardenError(.corrupt, "\(path):\(line): unknown key \"\(k)\"")
                }
            }
            var r = Rule(line: line)
            r.vulnerability = m["vulnerability"]?.string
            if let p = m["package"]?.mapping {
                r.packageName = p["name"]?.string
                r.packageVersion = p["version"]?.string
                r.packageType = p["type"]?.string
            }
            r.path = m["path"]?.string
            r.reason = m["reason"]?.string
            if let until = m["until"]?.string {
                guard until.count == 10, until.dropFirst(4).first == "-" else {
                    throw HardenError(.corrupt, "\(path):\(line): until must be a date like 2027-01-31")
                }
                r.until = until
            }
            if r.vulnerability == nil && r.packageName == nil && r.path == nil {
                throw HardenError(.corrupt, "\(path):\(line): a rule needs a vulnerability, a package or a path")
            }
            rules.append(r)
        }
        return IgnoreRules(rules: rules, source: path)
    }

    /// Rules whose `until` date has passed (today is `yyyy-mm-dd`).
    public func expired(today: String) -> [Rule] { rules.filter { ($0.until ?? "9999-12-31") < today } }

    func suppression(for f: Finding, today: String) -> Suppression? {
        for r in rules where (r.until ?? "9999-12-31") >= today {
            if let v = r.vulnerability, !f.matchesVulnerability(v) { continue }
            if let n = r.packageName, n.lowercased() != f.package.name.lowercased() { continue }
            if let v = r.packageVersion, v != f.package.version { continue }
            if let t = r.packageType, t != f.package.type { continue }
            if let p = r.path, !f.package.locations.contains(where: { $0.hasPrefix(p) }) { continue }
            return Suppression(
                kind: "ignore", status: "ignored", justification: r.reason, source: "\(source):\(r.line)")
        }
        return nil
    }
}

public enum Suppressor {
    /// Marks findings suppressed by VEX statements or ignore rules (a finding already suppressed keeps its reason);
    /// returns warnings (expired rules).
    public static func apply(
        _ findings: inout [Finding], vex: [VEXDocument], ignores: [IgnoreRules], imageDigest: String,
        today: String = Suppressor.today()
    ) -> [String] {
        for i in findings.indices where findings[i].suppressed == nil {
            var s: Suppression?
            for v in vex where s == nil { s = v.suppression(for: findings[i], imageDigest: imageDigest) }
            for r in ignores where s == nil { s = r.suppression(for: findings[i], today: today) }
            findings[i].suppressed = s
        }
        return ignores.flatMap { rules in
            rules.expired(today: today).map {
                "\(rules.source):\($0.line): ignore rule expired on \($0.until ?? "?") and no longer applies"
            }
        }
    }

    public static func today() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }
}

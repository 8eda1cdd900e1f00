// harden — the policy file (YAML) and the gate that holds an image against it.
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Yams

/// An organisation's rules for images. Every section and key is optional; see docs/formats.md, "Policy file".
public struct Policy: Codable, Sendable, Equatable {
    public struct Vulnerabilities: Codable, Sendable, Equatable {
        /// Fail when a finding of this severity or higher remains.
        public var failOn: Severity?
        /// Count only findings that have a fix.
        public var onlyFixed = false
        /// At most this many findings of each severity.
        public var max: [Severity: Int] = [:]
        /// Vulnerability ids (or aliases) that never count.
        public var ignore: [String] = []
        /// VEX files or directories (OpenVEX, CSAF, CycloneDX; relative to the policy file) whose not_affected and
        /// fixed statements suppress the findings they name.
        public var vex: [String] = []
        /// Fail when the vulnerability database, or a feed's own data, is older than this many days.
        public var maxDatabaseAgeDays: Double?
        /// What `fail_on` does with findings nobody rated.
        public var unknown: UnknownSeverityPolicy = .warn
        /// Fail on findings in CISA's KEV catalog.
        public var knownExploited = false
        /// Fail on findings whose EPSS score is above this.
        public var maxEPSS: Double?

        /// The gate these rules describe.
        public var gate: VulnerabilityGate {
            VulnerabilityGate(failOn: failOn, unknown: unknown, knownExploited: knownExploited, maxEPSS: maxEPSS)
        }
    }
    public struct Packages: Codable, Sendable, Equatable {
        /// Package names that must not be in the image (case-insensitive; `*` at the end matches a prefix).
        public var banned: [String] = []
    }
    public struct ImageRules: Codable, Sendable, Equatable {
        public var requireNonRoot = false
        public var requireHealthcheck = false
        /// `ID:VERSION_ID` of os-release (`debian:12`, `alpine:3.19`; `debian:*` for any), or the
        /// `org.opencontainers.image.base.name` label. Empty: any base.
        public var allowedBases: [String] = []
        /// Largest root file system, in bytes.
        public var maxSize: Int64?
    }
    public struct Checks: Codable, Sendable, Equatable {
        /// Fail when a check at this level or higher fails (default `fatal`).
        public var failOn: CheckLevel = .fatal
        /// Check ids that never fail the gate.
        public var ignore: [String] = []
        /// Findings accepted for any check: a path (`/etc/ssl/private/ssl-cert-snakeoil.key`), a directory
        /// (`/usr/lib/python3/dist-packages/tests/`, ending in `/`) or an `ENV NAME`.
        public var accept: [String] = []
    }

    /// What the input image must carry before harden works on it (`inputs:`).
    public struct Inputs: Codable, Sendable, Equatable {
        /// A public key (a PEM file's path, relative to the policy file, or the PEM text itself) that must have signed
        /// the input image.
        public var requireSignatureKey: String?
        /// Attestation types (cosign's words or URIs) the input must carry, signed by that key.
        public var requireAttestations: [String] = []

        public var isEmpty: Bool { requireSignatureKey == nil && requireAttestations.isEmpty }
    }

    public var inputs = Inputs()
    public var vulnerabilities = Vulnerabilities()
    public var packages = Packages()
    public var image = ImageRules()
    public var checks = Checks()
    /// What an OS or runtime past its end of life does (`eol: fail|warn`); nil: nothing.
    public var eol: EOLRule?
    /// Whether the file had a `vulnerabilities:` section (those rules need a database).
    public var needsVulnerabilities = false

    public init() {}
}

extension Policy {
    /// Reads a policy file; an error names the file, the line and the key at fault.
    public static func load(_ path: String) throws -> Policy {
        try parse(String(decoding: try HostFS.readFile(path, limit: 4 << 20), as: UTF8.self), source: path)
    }

    /// The documents of `vulnerabilities.vex`, relative paths read from the policy file's directory.
    public func vexDocuments(policyFile: String?) throws -> [VEXDocument] {
        try vulnerabilities.vex.flatMap { spec in
            var path = spec
            if !path.hasPrefix("/"), let policyFile { path = HostFS.split(policyFile).0 + "/" + path }
            return try VEXDocument.load(path)
        }
    }

    /// The most alias references (`*name`) a policy may use. A YAML parser shares aliased nodes, but walking or
    /// hashing them expands them: n aliases can stand for ~3^(n/3) nodes ("billion laughs"). 32 keep that below 10^5.
    public static let maxAliases = 32

    /// Alias references in YAML text (see `YAMLAliases.count`).
    public static func countAliases(_ text: String) -> Int { YAMLAliases.count(text) }

    /// Parses policy YAML. Pure: no I/O.
    public static func parse(_ text: String, source: String) throws -> Policy {
        let aliases = countAliases(text)
        guard aliases <= maxAliases else {
            throw HardenError(
                .limitExceeded, "\(source): \(aliases) YAML aliases, more than the \(maxAliases) a policy may use")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw HardenError(.corrupt, "\(source): invalid YAML: \(yamlErrorText(e))")
        } catch {
            throw HardenError(.corrupt, "\(source): invalid YAML: \(error)")
        }
        var policy = Policy()
        guard let root else { return policy }
        let reader = PolicyReader(source: source)
        let top = try reader.mapping(
            root, "policy", keys: ["version", "inputs", "vulnerabilities", "packages", "image", "checks", "eol"])
        if let n = top["eol"] {
            guard let s = n.string, let rule = EOLRule(rawValue: s.lowercased()) else {
                throw reader.error(n, "eol", "must be fail or warn")
            }
            policy.eol = rule
            policy.needsVulnerabilities = true
        }
        if let v = top["version"] {
            guard v.int == 1 else { throw reader.error(v, "version", "must be 1") }
        }
        if let section = top["vulnerabilities"] {
            policy.needsVulnerabilities = true
            let m = try reader.mapping(
                section, "vulnerabilities",
                keys: [
                    "fail_on", "only_fixed", "max", "ignore", "max_db_age_days", "unknown", "known_exploited",
                    "max_epss", "vex",
                ])
            if let n = m["unknown"] {
                guard let s = n.string, let u = UnknownSeverityPolicy(rawValue: s.lowercased()) else {
                    throw reader.error(n, "vulnerabilities.unknown", "must be one of fail, warn, ignore")
                }
                policy.vulnerabilities.unknown = u
            }
            if let n = m["known_exploited"] {
                if let b = n.bool {
                    policy.vulnerabilities.knownExploited = b
                } else if let s = n.string?.lowercased(), ["fail", "ignore"].contains(s) {
                    policy.vulnerabilities.knownExploited = s == "fail"
                } else {
                    throw reader.error(n, "vulnerabilities.known_exploited", "must be fail or ignore")
                }
            }
            if let n = m["max_epss"] {
                guard let d = n.float, (0...1).contains(d) else {
                    throw reader.error(n, "vulnerabilities.max_epss", "must be a probability between 0 and 1")
                }
                policy.vulnerabilities.maxEPSS = d
            }
            if let n = m["fail_on"] {
                policy.vulnerabilities.failOn = try reader.severity(n, "vulnerabilities.fail_on")
            }
            if let n = m["only_fixed"] {
                policy.vulnerabilities.onlyFixed = try reader.bool(n, "vulnerabilities.only_fixed")
            }
            if let n = m["max"] {
                let levels = try reader.mapping(n, "vulnerabilities.max", keys: Severity.allCases.map(\.rawValue))
                for (key, value) in levels {
                    let s = try reader.severity(Node(key), "vulnerabilities.max", at: value)
                    policy.vulnerabilities.max[s] = try reader.count(value, "vulnerabilities.max.\(key)")
                }
            }
            if let n = m["ignore"] { policy.vulnerabilities.ignore = try reader.strings(n, "vulnerabilities.ignore") }
            if let n = m["vex"] { policy.vulnerabilities.vex = try reader.strings(n, "vulnerabilities.vex") }
            if let n = m["max_db_age_days"] {
                guard let d = n.float, d >= 0 else {
                    throw reader.error(n, "vulnerabilities.max_db_age_days", "must be a number of days")
                }
                policy.vulnerabilities.maxDatabaseAgeDays = d
            }
        }
        if let section = top["inputs"] { policy.inputs = try parseInputs(section, reader: reader) }
        if let section = top["packages"] {
            let m = try reader.mapping(section, "packages", keys: ["banned"])
            if let n = m["banned"] { policy.packages.banned = try reader.strings(n, "packages.banned") }
        }
        if let section = top["image"] {
            let m = try reader.mapping(
                section, "image", keys: ["require_non_root", "require_healthcheck", "allowed_bases", "max_size"])
            if let n = m["require_non_root"] {
                policy.image.requireNonRoot = try reader.bool(n, "image.require_non_root")
            }
            if let n = m["require_healthcheck"] {
                policy.image.requireHealthcheck = try reader.bool(n, "image.require_healthcheck")
            }
            if let n = m["allowed_bases"] { policy.image.allowedBases = try reader.strings(n, "image.allowed_bases") }
            if let n = m["max_size"] {
                guard let bytes = n.string.flatMap(parseSize) else {
                    throw reader.error(n, "image.max_size", "must be a size such as 50MiB, 200MB or 1048576")
                }
                policy.image.maxSize = bytes
            }
        }
        if let section = top["checks"] {
            let m = try reader.mapping(section, "checks", keys: ["fail_on", "ignore", "accept"])
            if let n = m["accept"] { policy.checks.accept = try reader.strings(n, "checks.accept") }
            if let n = m["fail_on"] {
                guard let s = n.string, let level = CheckLevel(rawValue: s.lowercased()) else {
                    throw reader.error(n, "checks.fail_on", "must be one of info, warn, fatal")
                }
                policy.checks.failOn = level
            }
            if let n = m["ignore"] {
                policy.checks.ignore = try reader.strings(n, "checks.ignore")
                let known = Set(ImageChecks.ids)
                for id in policy.checks.ignore where !known.contains(id) {
                    throw reader.error(n, "checks.ignore", "unknown check id \"\(id)\" (harden check lists them)")
                }
            }
        }
        return policy
    }

    /// `inputs: {require_signature: {key: FILE-or-PEM}, require_attestations: [types]}`.
    static func parseInputs(_ section: Node, reader: PolicyReader) throws -> Inputs {
        var inputs = Inputs()
        let m = try reader.mapping(section, "inputs", keys: ["require_signature", "require_attestations"])
        if let n = m["require_signature"] {
            let sig = try reader.mapping(n, "inputs.require_signature", keys: ["key"])
            guard let key = sig["key"]?.string, !key.isEmpty else {
                throw reader.error(n, "inputs.require_signature", "needs key: a public key file or its PEM text")
            }
            inputs.requireSignatureKey = key
        }
        if let n = m["require_attestations"] {
            inputs.requireAttestations = try reader.strings(n, "inputs.require_attestations")
            guard inputs.requireSignatureKey != nil else {
                throw reader.error(
                    n, "inputs.require_attestations", "needs inputs.require_signature.key to verify them")
            }
        }
        return inputs
    }

    /// `50MiB`, `1.5 GiB`, `200MB`, `4096` (bytes).
    static func parseSize(_ text: String) -> Int64? {
        let t = text.trimming(" ")
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1),
        ]
        for (unit, factor) in units where t.hasSuffix(unit) {
            guard let n = Double(t.dropLast(unit.count).trimming(" ")), n >= 0 else { return nil }
            return Int64(n * factor)
        }
        return Int64(t).flatMap { $0 >= 0 ? $0 : nil }
    }

    static func yamlErrorText(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        default:
            return String(String(describing: e).textLines().first ?? "")
        }
    }
}

/// Reads typed values off YAML nodes, with errors that carry `file:line: key: problem`.
struct PolicyReader {
    var source: String

    func error(_ node: Node, _ key: String, _ problem: String) -> HardenError {
        HardenError(.corrupt, "\(source):\(node.mark?.line ?? 0): \(key): \(problem)")
    }

    func mapping(_ node: Node, _ key: String, keys: [String]) throws -> [(String, Node)] {
        guard let m = node.mapping else { throw error(node, key, "must be a mapping") }
        var out: [(String, Node)] = []
        for (k, v) in m {
            guard let name = k.string, keys.contains(name) else {
                throw error(
                    k, key, "unknown key \"\(k.string ?? "?")\" (expected one of \(keys.joined(separator: ", ")))")
            }
            out.append((name, v))
        }
        return out
    }

    func severity(_ node: Node, _ key: String, at: Node? = nil) throws -> Severity {
        guard let s = node.string, let v = Severity(rawValue: s.lowercased()) else {
            throw error(
                at ?? node, key,
                "\"\(node.string ?? "?")\" is not one of unknown, negligible, low, medium, high, critical")
        }
        return v
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        guard let b = node.bool else { throw error(node, key, "must be true or false") }
        return b
    }

    func count(_ node: Node, _ key: String) throws -> Int {
        guard let n = node.int, n >= 0 else { throw error(node, key, "must be a whole number ≥ 0") }
        return n
    }

    func strings(_ node: Node, _ key: String) throws -> [String] {
        if let s = node.string, node.scalar != nil { return [s] }
        guard let seq = node.sequence else { throw error(node, key, "must be a list") }
        return try seq.map { item in
            guard item.scalar != nil, let s = item.string, !s.isEmpty else {
                throw error(item, key, "every item must be a string")
            }
            return s
        }
    }
}

extension [(String, Node)] {
    subscript(_ key: String) -> Node? { first { $0.0 == key }?.1 }
}

// MARK: - the gate

/// Everything the gate looks at.
public struct PolicyInput {
    public var reference: String
    public var config: ContainerConfig?
    public var os: OSInfo?
    public var packages: [SoftwarePackage]
    /// Nil when no vulnerability database was available.
    public var findings: [Finding]?
    public var databaseAgeDays: Double?
    /// Each feed's own data age (from its data date), by source name.
    public var feedAgeDays: [String: Double] = [:]
    public var checks: [CheckResult]
    public var contentBytes: Int64
    /// End of life of the OS and runtimes; nil when unknown (no database).
    public var eol: [EOLStatus]?

    public init(
        reference: String, config: ContainerConfig?, os: OSInfo?, packages: [SoftwarePackage], findings: [Finding]?,
        databaseAgeDays: Double?, checks: [CheckResult], contentBytes: Int64
    ) {
        self.reference = reference
        self.config = config
        self.os = os
        self.packages = packages
        self.findings = findings
        self.databaseAgeDays = databaseAgeDays
        self.checks = checks
        self.contentBytes = contentBytes
    }
}

public struct PolicyViolation: Codable, Sendable, Equatable {
    /// The policy key that was violated (`packages.banned`, `checks`, …).
    public var rule: String
    public var message: String
}

public struct PolicyVerdict: Codable, Sendable, Equatable {
    public var passed: Bool
    public var violations: [PolicyViolation]
    /// Rules that could not be decided (for example, no database for the vulnerability rules).
    public var undecided: [String]
    /// What passed but should be known (unknown-severity findings a threshold did not gate).
    public var warnings: [String] = []
}

extension Policy {
    /// Marks the checks this policy ignores, and drops the findings it accepts (a check left with none passes).
    public func applyIgnores(_ checks: inout [CheckResult]) {
        for i in checks.indices where checks[i].status == .fail {
            if self.checks.ignore.contains(checks[i].id) {
                checks[i].status = .ignored
                checks[i].note = "ignored by the policy"
                continue
            }
            let accepted = checks[i].findings.filter { f in self.checks.accept.contains { Self.accepts($0, f) } }
            guard !accepted.isEmpty else { continue }
            checks[i].findings.removeAll { f in self.checks.accept.contains { Self.accepts($0, f) } }
            checks[i].note = "\(accepted.count) finding(s) accepted by the policy"
            if checks[i].findings.isEmpty { checks[i].status = .ignored }
        }
    }

    /// Whether an `accept` entry covers a finding: findings start with the path or `ENV NAME` they are about.
    static func accepts(_ entry: String, _ finding: String) -> Bool {
        guard finding.hasPrefix(entry) else { return false }
        if entry.hasSuffix("/") { return true }
        let rest = finding.dropFirst(entry.count)
        return rest.isEmpty || rest.hasPrefix(" ")
    }

    /// Holds an image against the policy.
    public func evaluate(_ input: PolicyInput) -> PolicyVerdict {
        var v: [PolicyViolation] = []
        var undecided: [String] = []
        var warnings: [String] = []
        // Vulnerabilities.
        if needsVulnerabilities {
            if let findings = input.findings {
                let counted = findings.filter { f in
                    f.suppressed == nil && (!vulnerabilities.onlyFixed || f.fixState == .fixed)
                        && !vulnerabilities.ignore.contains { f.matchesVulnerability($0) }
                }
                let outcome = vulnerabilities.gate.evaluate(counted)
                for failure in outcome.failures {
                    let f = failure.finding
                    let rule =
                        failure.reasons.allSatisfy { $0.hasPrefix("known exploited") }
                        ? "vulnerabilities.known_exploited"
                        : failure.reasons.allSatisfy { $0.hasPrefix("EPSS") }
                            ? "vulnerabilities.max_epss" : "vulnerabilities.fail_on"
                    v.append(
                        .init(
                            rule: rule,
                            message:
                                "\(f.id) (\(failure.reasons.joined(separator: ", "))) in \(f.package.name) \(f.package.version)"
                                + (f.fixedVersions.isEmpty
                                    ? ", no fix yet" : ", fixed in \(f.fixedVersions.joined(separator: ", "))")))
                }
                if outcome.unknownNotGated > 0 {
                    warnings.append(
                        "\(outcome.unknownNotGated) findings of unknown severity are not gated (vulnerabilities.unknown: warn)"
                    )
                }
                for (s, limit) in vulnerabilities.max.sorted(by: { $0.key > $1.key }) {
                    let n = counted.filter { $0.severity == s }.count
                    if n > limit {
                        v.append(
                            .init(
                                rule: "vulnerabilities.max.\(s.rawValue)",
                                message: "\(n) \(s.rawValue) vulnerabilities, at most \(limit) allowed"))
                    }
                }
                if let maxAge = vulnerabilities.maxDatabaseAgeDays, let age = input.databaseAgeDays, age > maxAge {
                    v.append(
                        .init(
                            rule: "vulnerabilities.max_db_age_days",
                            message:
                                "the vulnerability database is \(Int(age.rounded())) days old, at most \(Int(maxAge)) allowed"
                        ))
                }
                if let maxAge = vulnerabilities.maxDatabaseAgeDays {
                    for (feed, age) in input.feedAgeDays.sorted(by: { $0.key < $1.key }) where age > maxAge {
                        v.append(
                            .init(
                                rule: "vulnerabilities.max_db_age_days",
                                message:
                                    "the data of feed \(feed) is \(Int(age.rounded())) days old, at most \(Int(maxAge)) allowed"
                            ))
                    }
                }
            } else {
                undecided.append("vulnerabilities: no vulnerability database")
            }
        }
        evaluateEOL(input, violations: &v, warnings: &warnings)
        // Packages.
        for pattern in packages.banned {
            let p = pattern.lowercased()
            for pkg in input.packages {
                let name = pkg.name.lowercased()
                let hit = p.hasSuffix("*") ? name.hasPrefix(String(p.dropLast())) : name == p
                if hit {
                    v.append(
                        .init(
                            rule: "packages.banned",
                            message: "package \(pkg.name) \(pkg.version) (\(pkg.type.rawValue)) is banned"
                                + (pkg.locations.first.map { " (\($0))" } ?? "")))
                }
            }
        }
        // Image.
        if image.requireNonRoot && ImageChecks.isRootUser(input.config?.user) {
            v.append(
                .init(
                    rule: "image.require_non_root",
                    message:
                        "the image runs as root (USER is \(input.config?.user.flatMap { $0.isEmpty ? nil : $0 } ?? "not set"))"
                ))
        }
        if image.requireHealthcheck && (input.config?.healthcheck?.test ?? ["NONE"]).first ?? "NONE" == "NONE" {
            v.append(.init(rule: "image.require_healthcheck", message: "the image has no HEALTHCHECK"))
        }
        if !image.allowedBases.isEmpty {
            let base = input.os.map { "\($0.id):\($0.versionID ?? "")" }
            let label = input.config?.labels?["org.opencontainers.image.base.name"]
            let ok = image.allowedBases.contains { allowed in
                [base, label].compactMap { $0 }.contains { candidate in
                    allowed.hasSuffix("*") ? candidate.hasPrefix(String(allowed.dropLast())) : candidate == allowed
                }
            }
            if !ok {
                v.append(
                    .init(
                        rule: "image.allowed_bases",
                        message:
                            "base \(base ?? label ?? "unknown (no os-release, no base label)") is not one of \(image.allowedBases.joined(separator: ", "))"
                    ))
            }
        }
        if let max = image.maxSize, input.contentBytes > max {
            v.append(
                .init(
                    rule: "image.max_size",
                    message: "the root file system holds \(input.contentBytes) bytes, at most \(max) allowed"))
        }
        // Checks.
        for c in input.checks where c.status == .fail && c.level >= checks.failOn {
            v.append(
                .init(
                    rule: "checks",
                    message: "\(c.id) \(c.title) (\(c.level.rawValue))" + (c.findings.first.map { ": \($0)" } ?? "")))
        }
        return PolicyVerdict(
            passed: v.isEmpty && undecided.isEmpty, violations: v, undecided: undecided, warnings: warnings)
    }
}

/// What the policy does with an OS or runtime past its end of life.
public enum EOLRule: String, Codable, Sendable {
    case fail
    case warn
}

extension Policy {
    /// `eol: fail|warn`: an ended OS or runtime violates the policy (or is a warning); one ending within 90 days, or an
    /// OS without end-of-life data, is a warning.
    func evaluateEOL(_ input: PolicyInput, violations v: inout [PolicyViolation], warnings: inout [String]) {
        guard let rule = eol else { return }
        let statuses = input.eol ?? []
        for s in statuses where s.state == .ended {
            if rule == .fail { v.append(.init(rule: "eol", message: s.line)) } else { warnings.append(s.line) }
        }
        for s in statuses where s.state == .ending { warnings.append(s.line) }
        if let os = input.os, !statuses.contains(where: { $0.subject == "os" }) {
            warnings.append(
                "eol: no end-of-life data for \(os.id) \(os.versionID ?? "") (harden db import eol:DIR)")
        }
    }
}

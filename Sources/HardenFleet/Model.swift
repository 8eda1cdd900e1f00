// harden — what the fleet stores and exchanges: jobs, scan results, image summaries, affected images.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM
import HardenVulnDB

/// What a job asks for, beyond its action and image. Stored as JSON with the job.
public struct JobOptions: Codable, Sendable, Hashable {
    /// `os/arch[/variant]` for a multi-platform image.
    public var platform: String?
    /// Labels recorded on the image (team, service, environment).
    public var labels: [String: String]?
    /// `run` jobs: `harden run`'s probe, settings and minify options, one argument per element (an allowlist:
    /// options that read or write the worker's own files are refused).
    public var arguments: [String]?
    /// `run` jobs: the policy file's contents.
    public var policy: String?
    /// `run` jobs: where to push the hardened image (a registry reference; the worker's credentials).
    public var pushTo: String?
    /// `run` jobs: a Compose file's text (the services the image needs; `--service` in `arguments` names the target).
    /// Bind mounts and env files are refused, and `${VAR}` never reads the worker's environment.
    public var compose: String?
    /// A job that does nothing (the queue benchmark): the worker claims and completes it.
    public var noop: Bool?
    /// Set in answers to `read` tokens: the options were left out.
    public var redacted: Bool?

    public init(
        platform: String? = nil, labels: [String: String]? = nil, arguments: [String]? = nil, policy: String? = nil,
        pushTo: String? = nil, noop: Bool? = nil
    ) {
        self.platform = platform
        self.labels = labels
        self.arguments = arguments
        self.policy = policy
        self.pushTo = pushTo
        self.noop = noop
    }
}

public enum JobAction: String, Codable, Sendable, CaseIterable {
    case scan, run
}

public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed
}

/// A job as the API shows it.
public struct FleetJob: Codable, Sendable, Hashable {
    public var id: Int64
    public var action: JobAction
    public var image: String
    public var options: JobOptions
    public var priority: Int
    public var state: JobState
    public var attempts: Int
    public var maxAttempts: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var error: String?
    public var imageDigest: String?
    public var summary: JobSummary?
    public var worker: String?
}

extension FleetJob {
    /// The job as a `read` token sees it: the image, state and result, but not the options (a run job's arguments,
    /// policy and Compose file may name internal hosts and settings of the team that sent it).
    public var redacted: FleetJob {
        var j = self
        j.options = JobOptions(platform: options.platform, labels: options.labels)
        j.options.redacted = true
        return j
    }
}

/// A stored API token as `GET /v1/tokens` lists it.
public struct TokenInfo: Codable, Sendable, Hashable {
    public var name: String
    public var scope: String
    public var hashPrefix: String
    public var createdAt: Date
}

/// A finished job's numbers.
public struct JobSummary: Codable, Sendable, Hashable {
    public var packages: Int
    public var findings: Int
    public var bySeverity: [String: Int]
    public var newFindings: Int
    public var resolvedFindings: Int
    public var policyFailures: [String]?

    public init(
        packages: Int, findings: Int, bySeverity: [String: Int], newFindings: Int, resolvedFindings: Int,
        policyFailures: [String]? = nil
    ) {
        self.packages = packages
        self.findings = findings
        self.bySeverity = bySeverity
        self.newFindings = newFindings
        self.resolvedFindings = resolvedFindings
        self.policyFailures = policyFailures
    }
}

/// What a worker hands back for one image.
public struct ImageResult: Sendable {
    public var digest: String
    public var configDigest: String
    public var references: [String]
    public var labels: [String: String]
    public var platform: String
    public var os: OSInfo?
    public var packages: [SoftwarePackage]
    public var findings: [Finding]
    /// A `run` job's report (JSON) and the policy checks it failed.
    public var report: Data?
    public var policyFailures: [String]
    /// End of life of the OS and runtimes found (what harden has data for).
    public var eol: [EOLStatus] = []

    public init(
        digest: String, configDigest: String, references: [String], labels: [String: String], platform: String,
        os: OSInfo?,
        packages: [SoftwarePackage], findings: [Finding], report: Data? = nil, policyFailures: [String] = []
    ) {
        self.digest = digest
        self.configDigest = configDigest
        self.references = references
        self.labels = labels
        self.platform = platform
        self.os = os
        self.packages = packages
        self.findings = findings
        self.report = report
        self.policyFailures = policyFailures
    }
}

/// One stored image, as `GET /v1/images` lists it.
public struct ImageSummary: Codable, Sendable, Hashable {
    public var digest: String
    public var references: [String]
    public var labels: [String: String]
    public var platform: String
    public var os: String?
    public var packages: Int
    public var bySeverity: [String: Int]
    public var knownExploited: Int
    public var scannedAt: Date?
    public var reportAt: Date?
    public var policyFailures: [String]
    /// The earliest end-of-life date of the OS and runtimes found (`GET /v1/images?eol=true`: those past it).
    public var eolDate: String?
}

/// A stored finding.
public struct StoredFinding: Codable, Sendable, Hashable {
    public var id: String
    public var ids: [String]
    public var packageRef: String
    public var package: String
    public var version: String
    public var type: String
    public var severity: Severity
    public var knownExploited: Bool
    public var epss: Double?
    public var fixState: FixState
    public var fixedVersions: [String]
    public var firstSeen: Date
    public var resolvedAt: Date?
}

/// `GET /v1/images/{digest}`.
public struct ImageDetail: Codable, Sendable {
    public var image: ImageSummary
    public var configDigest: String
    public var packagesByType: [String: Int]
    public var findings: [StoredFinding]
    public var resolved: [StoredFinding]
    public var report: JSONValue?
}

/// One row of "which images have CVE-X".
public struct AffectedImage: Codable, Sendable, Hashable {
    public var digest: String
    public var references: [String]
    public var package: String
    public var version: String
    public var type: String
    public var severity: Severity
    public var fixState: FixState
    public var fixedVersions: [String]
    public var firstSeen: Date
}

extension Severity {
    /// A severity as the fleet database stores it (its raw value); anything else is a damaged row.
    init(stored text: String) throws {
        guard let s = Severity(rawValue: text) else { throw HardenError(.corrupt, "fleet database: severity \(text)") }
        self = s
    }
}

extension FixState {
    /// A fix state as the fleet database stores it (its raw value); anything else is a damaged row.
    init(stored text: String) throws {
        guard let s = FixState(rawValue: text) else { throw HardenError(.corrupt, "fleet database: fix state \(text)") }
        self = s
    }
}

/// The answer to `GET /v1/vulnerabilities/{id}/images`.
public struct AffectedImages: Codable, Sendable {
    public var vulnerability: String
    /// Affected images in all (the page holds at most `limit` of them).
    public var totalImages: Int
    /// One row per affected package of each image on this page, by image digest.
    public var images: [AffectedImage]
    /// The `after` value of the next page; nil on the last.
    public var next: String?
}

/// Which new findings a webhook announces: at or above a severity, or known-exploited.
public struct WebhookRule: Codable, Sendable, Hashable, CustomStringConvertible {
    public var minimumSeverity: Severity?
    public var knownExploited: Bool

    public init(minimumSeverity: Severity?, knownExploited: Bool) {
        self.minimumSeverity = minimumSeverity
        self.knownExploited = knownExploited
    }

    /// `critical,kev`, `high`, `kev`, `any`.
    public init(parsing text: String) throws {
        var minimum: Severity?
        var kev = false
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            if part == "kev" {
                kev = true
            } else if part == "any" {
                minimum = .unknown
            } else if let s = Severity(rawValue: part) {
                minimum = s
            } else {
                throw HardenError(.invalidArgument, "--webhook-on: \(part) is not a severity, kev or any")
            }
        }
        guard minimum != nil || kev else { throw HardenError(.invalidArgument, "--webhook-on: empty rule") }
        self.init(minimumSeverity: minimum, knownExploited: kev)
    }

    public func matches(severity: Severity, kev: Bool) -> Bool {
        if knownExploited && kev { return true }
        guard let minimumSeverity else { return false }
        return minimumSeverity == .unknown || severity >= minimumSeverity
    }

    public var description: String {
        ([minimumSeverity.map { $0 == .unknown ? "any" : $0.rawValue }].compactMap { $0 }
            + (knownExploited ? ["kev"] : []))
            .joined(separator: ",")
    }
}

/// Arbitrary JSON, to hand a stored report back as it was written.
public enum JSONValue: Codable, Sendable, Hashable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

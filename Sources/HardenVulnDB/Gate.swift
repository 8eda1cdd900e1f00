// harden — the vulnerability gate every command shares (`scan --fail-on`, the policy's `vulnerabilities` rules,
// `run`): a severity threshold that says what it does with unknown severities, known-exploited and EPSS limits.
import Foundation
import HardenPackages

/// What a gate does with findings whose severity nobody rated.
public enum UnknownSeverityPolicy: String, Codable, Sendable, CaseIterable {
    /// They fail a gate like any finding at or above the threshold.
    case fail
    /// They do not fail it; the report says how many were not gated.
    case warn
    /// They do not fail it, silently.
    case ignore
}

public struct VulnerabilityGate: Codable, Sendable, Equatable {
    /// Findings at or above this severity fail (`unknown`: every finding fails).
    public var failOn: Severity?
    public var unknown: UnknownSeverityPolicy = .warn
    /// Findings listed in CISA's KEV catalog fail.
    public var knownExploited = false
    /// Findings whose EPSS score is above this fail.
    public var maxEPSS: Double?

    public init(
        failOn: Severity? = nil, unknown: UnknownSeverityPolicy = .warn, knownExploited: Bool = false,
        maxEPSS: Double? = nil
    ) {
        self.failOn = failOn
        self.unknown = unknown
        self.knownExploited = knownExploited
        self.maxEPSS = maxEPSS
    }

    public var isActive: Bool { failOn != nil || knownExploited || maxEPSS != nil }

    public struct Failure: Sendable {
        public var finding: Finding
        /// `critical`, `known exploited (KEV 2024-05-01)`, `EPSS 0.91 > 0.5`, `unknown severity`.
        public var reasons: [String]
    }

    public struct Outcome: Sendable {
        public var failures: [Failure]
        /// Unknown-severity findings a severity threshold let through (policy `warn`).
        public var unknownNotGated: Int
    }

    /// The findings that fail the gate (suppressed findings never count).
    public func evaluate(_ findings: [Finding]) -> Outcome {
        var failures: [Failure] = []
        var unknownNotGated = 0
        for f in findings where f.suppressed == nil {
            var reasons: [String] = []
            if let failOn {
                if failOn == .unknown {
                    reasons.append(f.severity.rawValue + " severity")
                } else if f.severity == .unknown {
                    switch unknown {
                    case .fail: reasons.append("unknown severity")
                    case .warn: unknownNotGated += 1
                    case .ignore: break
                    }
                } else if f.severity >= failOn {
                    reasons.append(f.severity.rawValue + (f.severitySource.map { " (\($0))" } ?? ""))
                }
            }
            if knownExploited, let k = f.kev { reasons.append("known exploited (KEV \(k.dateAdded))") }
            if let maxEPSS, let e = f.epss, e.score > maxEPSS {
                reasons.append("EPSS \(String(format: "%.3f", e.score)) > \(maxEPSS)")
            }
            if !reasons.isEmpty { failures.append(Failure(finding: f, reasons: reasons)) }
        }
        return Outcome(failures: failures, unknownNotGated: unknownNotGated)
    }
}

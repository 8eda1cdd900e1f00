// harden — what a service of an application needs from the executor: when a dependency counts as ready, its
// healthcheck, the rule for volume names. Compose files are read into these (HardenCompose); the executor
// (HardenRuntime) acts on them without linking the Compose reader.
import HardenCore

/// When a service that another depends on counts as ready (Compose's `depends_on` conditions).
public enum ServiceCondition: String, Sendable, Equatable {
    case started = "service_started", healthy = "service_healthy", completed = "service_completed_successfully"
}

/// A service's healthcheck (Compose's `healthcheck`).
public struct ServiceHealthcheck: Sendable, Equatable {
    /// The command: `["CMD", …]` exec form or `["CMD-SHELL", "…"]`.
    public var test: [String]
    public var interval: Double = 30
    public var timeout: Double = 30
    public var retries: Int = 3
    public var startPeriod: Double = 0
    public init(
        test: [String], interval: Double = 30, timeout: Double = 30, retries: Int = 3, startPeriod: Double = 0
    ) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
    }
}

public enum VolumeName {
    /// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 255 bytes (so never `.`, `..` or a path).
    public static func isValid(_ name: String) -> Bool {
        let b = Array(name.utf8)
        func alnum(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        }
        guard let first = b.first, alnum(first), b.count <= 255 else { return false }
        return b.allSatisfy {
            alnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }
}

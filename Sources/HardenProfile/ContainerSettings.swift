// harden — how a container is started besides what its image says: environment, mounts, tmpfs, user, working
// directory, entrypoint and arguments, extra hosts, an init process, the stop signal. The same settings serve the
// profiling run and the verification replay; what is recorded of them never holds a value of the environment.
import HardenCore
import HardenOCI
import HardenPackages

public struct ContainerSettings: Sendable, Equatable {
    /// A host file or directory (or a per-run scratch directory) mounted into the container.
    public struct Mount: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable, Codable {
            /// A host path given by the user.
            case bind
            /// A named or anonymous volume: a scratch directory made for the run (filled from the image on first use).
            case volume
        }
        public var kind: Kind
        /// Host path (bind) or volume name (nil: anonymous volume).
        public var source: String?
        public var destination: String
        public var readOnly: Bool
        public init(kind: Kind = .bind, source: String?, destination: String, readOnly: Bool = false) {
            self.kind = kind
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }

        /// `SRC:DST[:ro|rw]` (`--mount`): SRC must be an absolute or relative host path, DST absolute.
        public init(parsing spec: String) throws {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") else {
                throw HardenError(.invalidArgument, "--mount \(spec): expected SRC:DST[:ro] with an absolute DST")
            }
            if parts.count == 3 && parts[2] != "ro" && parts[2] != "rw" {
                throw HardenError(.invalidArgument, "--mount \(spec): the mode must be ro or rw, not \(parts[2])")
            }
            self.init(
                kind: .bind, source: parts[0], destination: parts[1], readOnly: parts.count == 3 && parts[2] == "ro")
        }
    }

    /// Variables set on top of the image's (later ones win); their values are treated as secrets.
    public var environment: [(name: String, value: String)] = []
    public var mounts: [Mount] = []
    /// Directories mounted as an empty tmpfs.
    public var tmpfs: [String] = []
    /// `uid[:gid]` or `name[:group]` instead of the image's user.
    public var user: String?
    public var workingDir: String?
    /// Replaces the image's entrypoint (and, as with Docker, drops its cmd); an empty list clears the entrypoint.
    public var entrypoint: [String]?
    /// Replaces the image's cmd.
    public var command: [String]?
    /// Extra `/etc/hosts` entries: name → address.
    public var extraHosts: [(name: String, address: String)] = []
    /// Run a minimal init (tini) as PID 1 that forwards signals and reaps zombies, as `docker run --init`.
    public var initProcess = false
    /// The image's root file system mounted read-only (`docker run --read-only`).
    public var readOnlyRootfs = false
    public var stopSignal: String?
    /// Seconds between the stop signal and SIGKILL (default 10, as Docker).
    public var stopGracePeriod: Double?
    /// Container ports the service is declared to use (Compose `ports`/`expose`), besides the image's.
    public var ports: [Int] = []

    public init() {}

    public static func == (a: ContainerSettings, b: ContainerSettings) -> Bool {
        a.environment.map { "\($0.name)=\($0.value)" } == b.environment.map { "\($0.name)=\($0.value)" }
            && a.mounts == b.mounts
            && a.tmpfs == b.tmpfs && a.user == b.user && a.workingDir == b.workingDir && a.entrypoint == b.entrypoint
            && a.command == b.command
            && a.extraHosts.map { $0.name + " " + $0.address } == b.extraHosts.map { $0.name + " " + $0.address }
            && a.initProcess == b.initProcess && a.readOnlyRootfs == b.readOnlyRootfs && a.stopSignal == b.stopSignal
            && a.stopGracePeriod == b.stopGracePeriod
            && a.ports == b.ports
    }

    /// Whether anything differs from running the image as its config says.
    public var isEmpty: Bool { self == ContainerSettings() }

    /// `NAME=VALUE` (`--env`); `NAME` alone takes the value from harden's own environment, as `docker run -e NAME`.
    public static func parseVariable(
        _ spec: String, environment: [String: String]
    ) throws -> (name: String, value: String)? {
        if let eq = spec.firstIndex(of: "=") {
            let name = String(spec[..<eq])
            guard !name.isEmpty else { throw HardenError(.invalidArgument, "--env \(spec): the variable has no name") }
            return (name, String(spec[spec.index(after: eq)...]))
        }
        guard !spec.isEmpty else { throw HardenError(.invalidArgument, "--env: empty") }
        return environment[spec].map { (spec, $0) }
    }

    /// The process: Docker's rules for `--entrypoint` and arguments. An entrypoint given here drops the image's cmd;
    /// arguments replace the cmd.
    public func command(of config: ContainerConfig?, image: String) throws -> [String] {
        let entry = entrypoint ?? config?.entrypoint ?? []
        let cmd = command ?? (entrypoint != nil ? [] : config?.cmd ?? [])
        let args = entry + cmd
        guard !args.isEmpty else {
            throw HardenError(
                .invalidArgument, "\(image): the image has no entrypoint and no cmd, so there is nothing to run")
        }
        return args
    }

    /// The environment: the image's, then these variables (replacing the image's of the same name).
    public func environment(over base: [String]) -> [String] {
        var out = base
        for (name, value) in environment {
            out.removeAll { $0 == name || $0.hasPrefix(name + "=") }
            out.append("\(name)=\(value)")
        }
        return out
    }

    /// Values that must not appear in anything harden writes (every variable set here; short values are too common
    /// to be told apart from ordinary text, and are only left out of the records).
    public var secretValues: [String] {
        Array(Set(environment.map(\.value).filter { $0.count >= Self.minimumRedactedLength })).sorted {
            $0.count > $1.count
        }
    }
    public static let minimumRedactedLength = 4

    /// What is recorded in a profile or report: variable names without values, mounts, and the rest.
    public var record: Record {
        Record(
            environment: environment.map(\.name), mounts: mounts.map(Record.MountRecord.init), tmpfs: tmpfs, user: user,
            workingDir: workingDir, entrypoint: entrypoint.map(Redactor(secrets: secretValues).apply),
            command: command.map(Redactor(secrets: secretValues).apply),
            extraHosts: extraHosts.map { "\($0.name):\($0.address)" }, initProcess: initProcess ? true : nil,
            stopSignal: stopSignal,
            readOnly: readOnlyRootfs ? true : nil)
    }

    /// The recorded form of the settings (docs/formats.md): environment values are never kept.
    public struct Record: Codable, Sendable, Equatable {
        public struct MountRecord: Codable, Sendable, Equatable {
            public var kind: Mount.Kind
            public var source: String?
            public var destination: String
            public var readOnly: Bool
            init(_ m: Mount) {
                kind = m.kind
                source = m.source
                destination = m.destination
                readOnly = m.readOnly
            }
        }
        /// Names of the variables set (values redacted).
        public var environment: [String]
        public var mounts: [MountRecord]
        public var tmpfs: [String]
        public var user: String?
        public var workingDir: String?
        public var entrypoint: [String]?
        public var command: [String]?
        public var extraHosts: [String]
        public var initProcess: Bool?
        public var stopSignal: String?
        public var readOnly: Bool?
    }
}

/// Replaces secret values in free text (logs, probe output, arguments) with `[redacted]`.
public struct Redactor: Sendable {
    public let secrets: [String]
    public static let mark = "[redacted]"
    public init(secrets: [String]) { self.secrets = secrets.filter { !$0.isEmpty }.sorted { $0.count > $1.count } }

    public func apply(_ text: String) -> String {
        guard !secrets.isEmpty else { return text }
        var t = text
        for s in secrets where t.contains(s) { t = t.replacing(s, with: Self.mark) }
        return t
    }

    public func apply(_ list: [String]) -> [String] { list.map(apply) }
}

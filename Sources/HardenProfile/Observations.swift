// harden — what a run is asked to watch and what its sensors report: the data the executor (HardenRuntime)
// produces and the profile, policy, minify and report stages read.

/// A sensor the executor can attach to a container.
public enum Sensor: String, Sendable, CaseIterable { case fanotify, ptrace }

/// What a container may connect to. Connections *to* it (probes, probe scripts) work in every mode.
public enum NetworkMode: String, Sendable, CaseIterable {
    /// Only its own loopback: no host service, no private or public network (a stateful filter in the container's
    /// namespace answers probes and drops every connection the container opens).
    case isolated
    /// Also the host, through its gateway address (services the host runs for the app).
    case host
    /// No filter: the host and whatever the host routes onward.
    case open
}

/// Everything one run observed, before it is resolved against the image.
public struct RunObservation: Sendable {
    public var run: RuntimeProfile.Run
    public var fanotify: FileAccessLog?
    public var traces: [TraceReport]
    public var ports: [RuntimeProfile.Port]
    /// The container's output (its last 16 KiB).
    public var log: String
    /// Where host paths, volumes and tmpfs were mounted: what the app finds there is not image content.
    public var mountPoints: [String] = []

    public init(
        run: RuntimeProfile.Run, fanotify: FileAccessLog?, traces: [TraceReport], ports: [RuntimeProfile.Port],
        log: String
    ) {
        self.run = run
        self.fanotify = fanotify
        self.traces = traces
        self.ports = ports
        self.log = log
    }
}

extension RunObservation {
    /// Secret values replaced in everything free-form a run records: the command, probe output and errors, the log,
    /// the arguments of the processes the sensor saw.
    public mutating func redact(_ r: Redactor) {
        guard !r.secrets.isEmpty else { return }
        run.command = r.apply(run.command)
        for i in run.probes.indices {
            run.probes[i].output = run.probes[i].output.map(r.apply)
            run.probes[i].error = run.probes[i].error.map(r.apply)
        }
        log = r.apply(log)
        for t in traces.indices {
            for e in traces[t].executions.indices {
                traces[t].executions[e].argv = r.apply(traces[t].executions[e].argv)
            }
        }
    }
}

/// What the ptrace sensor saw.
public struct TraceReport: Codable, Sendable, Equatable {
    public struct PathActivity: Codable, Sendable, Equatable {
        public var path: String
        /// Successful operations by kind (open, write, stat, access, readlink, exec, chdir, xattr) and count.
        public var operations: [String: Int]
        /// Failed attempts by errno name (ENOENT, EACCES, …) and count.
        public var failures: [String: Int]
        public var firstProcess: String?
        public init(path: String, operations: [String: Int], failures: [String: Int], firstProcess: String?) {
            self.path = path
            self.operations = operations
            self.failures = failures
            self.firstProcess = firstProcess
        }
    }
    public struct Execution: Codable, Sendable, Equatable {
        public var path: String
        public var argv: [String]
        public var uid: UInt32?
        public var gid: UInt32?
        public init(path: String, argv: [String], uid: UInt32?, gid: UInt32?) {
            self.path = path
            self.argv = argv
            self.uid = uid
            self.gid = gid
        }
    }
    public var paths: [PathActivity] = []
    public var executions: [Execution] = []
    public var syscalls: [String: Int] = [:]
    public var uids: [UInt32] = []
    public var gids: [UInt32] = []
    public var processes = 0
    /// The traced root process's exit status (the container init, or the spawned command).
    public var exitCode: Int32?
    /// Set when the tracer was stopped before its tracees ended.
    public var interrupted = false

    public init() {}
}

/// One decoded `struct fanotify_event_metadata`.
public struct FanotifyEvent: Sendable, Equatable {
    public var mask: UInt64
    public var fd: Int32
    public var pid: Int32

    public init(mask: UInt64, fd: Int32, pid: Int32) {
        self.mask = mask
        self.fd = fd
        self.pid = pid
    }

    public static let access: UInt64 = 0x01
    public static let modify: UInt64 = 0x02
    public static let closeWrite: UInt64 = 0x08
    public static let open: UInt64 = 0x20
    public static let openExec: UInt64 = 0x1000
    public static let queueOverflow: UInt64 = 0x4000

    /// Decodes the events in a buffer returned by read(2) on a fanotify descriptor. Pure, so it can be fuzzed:
    /// a short or inconsistent record ends the parse (and is reported as `truncated`).
    public static func parse(_ buffer: UnsafeRawBufferPointer) -> (events: [FanotifyEvent], truncated: Bool) {
        var out: [FanotifyEvent] = []
        var at = 0
        while at + 24 <= buffer.count {
            let length = Int(buffer.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            let version = buffer[at + 4]
            let metadataLength = Int(buffer.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self))
            guard version == 3, metadataLength >= 24, length >= metadataLength, at + length <= buffer.count else {
                return (out, true)
            }
            out.append(
                FanotifyEvent(
                    mask: buffer.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self),
                    fd: buffer.loadUnaligned(fromByteOffset: at + 16, as: Int32.self),
                    pid: buffer.loadUnaligned(fromByteOffset: at + 20, as: Int32.self)))
            at += length
        }
        return (out, at != buffer.count)
    }
}

/// What the fanotify sensor saw, per path.
public struct FileAccessLog: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var operations: [String: Int] = [:]
        public var firstProcess: String?
        public init(operations: [String: Int] = [:], firstProcess: String? = nil) {
            self.operations = operations
            self.firstProcess = firstProcess
        }
    }
    public var entries: [String: Entry] = [:]
    public var events = 0
    public var overflowed = false

    public init(entries: [String: Entry] = [:], events: Int = 0, overflowed: Bool = false) {
        self.entries = entries
        self.events = events
        self.overflowed = overflowed
    }
}

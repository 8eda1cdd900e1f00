// harden — the ptrace sensor's own process (`harden internal-trace`): it drops every capability but what tracing
// needs, traces, and writes its report.
import CHardenSystem
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

public enum TracerProcess {
    /// What to trace: a running process (the container's init, before it is started) or a command to spawn.
    public enum Target: Sendable {
        case attach(pid: Int32)
        case spawn(command: [String], mountNamespace: UInt64?)
    }

    /// Capability numbers (linux/capability.h).
    static let kill: UInt64 = 1 << 5
    static let dacReadSearch: UInt64 = 1 << 2
    static let sysPtrace: UInt64 = 1 << 19

    /// Traces `target` until its processes end or SIGTERM arrives, then writes the report to `out`.
    /// Attaching prints "ready" on standard output once the tracee is seized (the caller then starts it).
    public static func run(_ target: Target, stripPrefix: String?, out: String) throws {
        harden_install_stop_flag()
        let tracer: Tracer
        switch target {
        case .attach(let pid):
            try limitToTracing()
            tracer = Tracer(targetMountNamespace: Tracer.mountNamespace(of: pid), stripPrefix: stripPrefix)
            try tracer.attach(pid)
            _ = write(1, "ready\n", 6)
        case .spawn(let command, let mountNamespace):
            tracer = Tracer(targetMountNamespace: mountNamespace, stripPrefix: stripPrefix)
            try tracer.spawn(command, environment: ChildProcess.currentEnvironment())
            try limitToTracing()
        }
        let report = tracer.run()
        try HostFS.writeFileAtomically(out, try JSONCoding.encode(report))
    }

    /// Keeps CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH (reading /proc of other users) and CAP_KILL in every set and
    /// the bounding set; drops the rest.
    static func limitToTracing() throws {
        guard harden_limit_capabilities(sysPtrace | dacReadSearch | kill) == 0 else {
            throw HardenError(.io, "cannot drop capabilities: \(errnoText())")
        }
    }
}

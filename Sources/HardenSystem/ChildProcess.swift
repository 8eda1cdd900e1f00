// harden — starting and waiting for child processes (posix_spawn; no shell).
import CHardenSystem
import HardenCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus: Int32) {
        if harden_wifsignaled(waitStatus) != 0 {
            self = .signaled(harden_wtermsig(waitStatus))
        } else {
            self = .exited(harden_wexitstatus(waitStatus))
        }
    }

    public var succeeded: Bool { self == .exited(0) }
    /// The shell convention: the exit code, or 128 + the signal.
    public var code: Int32 {
        switch self {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        }
    }
    public var description: String {
        switch self {
        case .exited(let c): "exit status \(c)"
        case .signaled(let s): "killed by signal \(s)"
        }
    }
}

/// A process started with `posix_spawn`. Standard streams go to files or are inherited; never pipes that
/// could fill up while nobody reads them.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let argv: [String]
    /// The exit status once reaped. Several tasks (a waiter, a signal handler's cleanup) may look at once.
    private let finished = Mutex<ExitStatus?>(nil)

    private init(pid: pid_t, argv: [String]) {
        self.pid = pid
        self.argv = argv
    }

    /// The absolute path of `program`, searched in `PATH` when it has no slash.
    public static func which(_ program: String, path: String? = nil) -> String? {
        if program.contains("/") { return program }
        let search =
            path
            ?? (getenv("PATH").map { String(cString: $0) }
                ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        for dir in search.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Starts `argv`. `stdin`, `stdout`, `stderr`: a path to open (stdout/stderr are created), or nil for
    /// /dev/null; `inherit` keeps this process's stream instead.
    public enum Stream: Sendable { case null, inherit, file(String), append(String) }

    public static func spawn(
        _ argv: [String], environment: [String: String]? = nil, stdin: Stream = .null, stdout: Stream = .null,
        stderr: Stream = .null
    ) throws -> ChildProcess {
        guard let program = argv.first, let path = which(program) else {
            throw HardenError(.notFound, "\(argv.first ?? "(empty command)"): program not found in PATH")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        func add(_ s: Stream, fd: Int32, write: Bool) {
            switch s {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", write ? O_WRONLY : O_RDONLY, 0)
            case .file(let p):
                posix_spawn_file_actions_addopen(
                    &actions, fd, p, write ? (O_WRONLY | O_CREAT | O_TRUNC) : O_RDONLY, 0o600)
            case .append(let p): posix_spawn_file_actions_addopen(&actions, fd, p, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            }
        }
        add(stdin, fd: 0, write: false)
        add(stdout, fd: 1, write: true)
        add(stderr, fd: 2, write: true)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A clean signal state in the child: default dispositions, nothing blocked.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let env: [String] = (environment ?? currentEnvironment()).map { "\($0.key)=\($0.value)" }.sorted()
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in posix_spawn(&pid, path, &actions, &attributes, cargv, cenv) }
        }
        guard rc == 0 else { throw HardenError(.io, "\(program): cannot start: \(errnoText(rc))") }
        return ChildProcess(pid: pid, argv: argv)
    }

    /// This process's environment as a dictionary.
    public static func currentEnvironment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    /// Records the status of a reap; the first one recorded wins.
    private func record(_ status: ExitStatus) -> ExitStatus {
        finished.withLock { current in
            if let current { return current }
            current = status
            return status
        }
    }

    /// The status after `waitpid` answered ECHILD: another task reaped the process and is about to record its
    /// status; wait briefly for it rather than invent one.
    private func reapedElsewhere() -> ExitStatus {
        for _ in 0..<1000 {
            if let s = finished.withLock({ $0 }) { return s }
            usleep(100)
        }
        return record(.exited(-1))
    }

    /// The exit status if the process has ended (reaps it), nil while it runs.
    public func poll() -> ExitStatus? {
        if let s = finished.withLock({ $0 }) { return s }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return record(ExitStatus(waitStatus: status)) }
        if r < 0 && errno == ECHILD { return reapedElsewhere() }
        return nil
    }

    /// Waits for the end, polling so the calling task stays cancellable; after `timeout` seconds returns nil.
    public func wait(timeout: Double? = nil) async -> ExitStatus? {
        let deadline = timeout.map { MonotonicClock.now + $0 }
        var delay = 0.002
        while true {
            if let s = poll() { return s }
            if let deadline, MonotonicClock.now >= deadline { return nil }
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            delay = min(delay * 2, 0.01)
        }
    }

    /// Blocks until the process ends.
    public func waitBlocking() -> ExitStatus {
        if let s = finished.withLock({ $0 }) { return s }
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { return record(ExitStatus(waitStatus: status)) }
            if r < 0 && errno == ECHILD { return reapedElsewhere() }
            if r < 0 && errno != EINTR { return record(.exited(-1)) }
        }
    }

    /// Sends `sig` unless the process is known to have ended (its pid may belong to another process by then).
    public func signal(_ sig: Int32) { if finished.withLock({ $0 }) == nil { _ = kill(pid, sig) } }

    /// Runs `argv` to completion and returns its status and output (stdout then stderr, each capped at 1 MiB);
    /// `input`, when given, is its standard input.
    public static func run(
        _ argv: [String], environment: [String: String]? = nil, input: [UInt8]? = nil, timeout: Double? = nil
    ) async throws -> (status: ExitStatus, output: String) {
        let dir = try HostFS.makeTemporaryDirectory(prefix: "harden-cmd")
        defer { try? HostFS.removeTree(dir) }
        if let input { try HostFS.writeFileAtomically(dir + "/in", input, mode: 0o600) }
        let child = try spawn(
            argv, environment: environment, stdin: input == nil ? .null : .file(dir + "/in"),
            stdout: .file(dir + "/out"), stderr: .file(dir + "/err"))
        guard let status = await child.wait(timeout: timeout) else {
            child.signal(SIGKILL)
            _ = child.waitBlocking()
            throw HardenError(.io, "\(argv.joined(separator: " ")): did not finish within \(Int(timeout ?? 0)) s")
        }
        let out = (try? HostFS.readFile(dir + "/out", limit: 1 << 20)) ?? []
        let err = (try? HostFS.readFile(dir + "/err", limit: 1 << 20)) ?? []
        return (status, String(decoding: out + err, as: UTF8.self))
    }

    /// Runs `argv` to completion synchronously with no output (for cleanup paths that cannot await).
    @discardableResult
    public static func runQuietly(_ argv: [String]) -> ExitStatus {
        guard let child = try? spawn(argv) else { return .exited(127) }
        return child.waitBlocking()
    }

    /// Like `run`, but a non-zero exit is an error that quotes the command's last output line.
    @discardableResult
    public static func check(
        _ argv: [String], environment: [String: String]? = nil, input: [UInt8]? = nil, timeout: Double? = 60
    ) async throws -> String {
        let (status, output) = try await run(argv, environment: environment, input: input, timeout: timeout)
        guard status.succeeded else {
            let last = output.textLines().last.map(String.init) ?? ""
            throw HardenError(
                .io, "\(argv.prefix(3).joined(separator: " ")): \(status)\(last.isEmpty ? "" : ": " + last)")
        }
        return output
    }
}

/// Calls `body` with a NULL-terminated `char *[]` built from `strings`.
public func withCStrings<R>(
    _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> R
) rethrows -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return try pointers.withUnsafeBufferPointer { try body($0.baseAddress.unsafelyUnwrapped) }
}

/// Seconds on the monotonic clock.
public enum MonotonicClock {
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

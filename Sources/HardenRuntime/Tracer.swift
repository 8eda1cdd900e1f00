// harden — the ptrace sensor: follows a process tree (fork, vfork, clone, exec), records every path-taking
// syscall with its result (failed probes included), every execve with its argv, and a count of every syscall.
//
// It runs in its own process (`harden internal-trace`), because the tracer must be the only thread calling
// ptrace and must own waitpid(-1) for its tracees without stealing other children's exit statuses.
import CHardenSystem
import HardenCore
import HardenProfile
import HardenSystem

#if canImport(Glibc)
import Glibc
#endif

/// The tracer loop. Not thread-safe: one tracer per process, driven from one thread.
public final class Tracer {
    // ptrace requests and options (linux/ptrace.h).
    private static let PTRACE_SYSCALL: Int32 = 24
    private static let PTRACE_SETOPTIONS: Int32 = 0x4200
    private static let PTRACE_GETEVENTMSG: Int32 = 0x4201
    private static let PTRACE_SEIZE: Int32 = 0x4206
    private static let PTRACE_INTERRUPT: Int32 = 0x4207
    // SYSGOOD FORK VFORK CLONE EXEC EXITKILL
    private static let options: UInt = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x100000
    private static let WALL: Int32 = 0x4000_0000
    private static let AT_FDCWD: Int64 = -100
    private static let AUDIT_ARCH_X86_64: UInt32 = 0xC000_003E
    private static let AUDIT_ARCH_AARCH64: UInt32 = 0xC000_00B7

    private struct Pending {
        var name: String
        var kind: String
        var paths: [String]
        var argv: [String]?
    }
    private struct TaskState {
        var recording: Bool
        var comm: String?
        var pending: Pending?
        var seen = false
    }

    private let targetMountNamespace: UInt64?
    private let stripPrefix: String?
    private var tasks: [pid_t: TaskState] = [:]
    private var inherit: [pid_t: (recording: Bool, comm: String?)] = [:]
    private var rootPid: pid_t = 0
    private var activity: [String: TraceReport.PathActivity] = [:]
    private var report = TraceReport()
    private var uids = Set<UInt32>()
    private var gids = Set<UInt32>()
    private var stringBuffer = [CChar](repeating: 0, count: 4097)

    /// - Parameters:
    ///   - targetMountNamespace: the inode of the container's mount namespace; recording starts in a process
    ///     once it execs inside that namespace (and its children inherit it). nil records from the start.
    ///   - stripPrefix: a host path prefix removed from paths (the rootfs as the host sees it).
    public init(targetMountNamespace: UInt64?, stripPrefix: String?) {
        self.targetMountNamespace = targetMountNamespace
        self.stripPrefix = stripPrefix.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// The inode of `/proc/PID/ns/mnt`.
    /// The task that created `tid`, from /proc: the process of a thread (Tgid), else the parent process (PPid).
    static func creator(of tid: pid_t) -> pid_t? {
        guard let b = try? HostFS.readFile("/proc/\(tid)/status", limit: 1 << 16) else { return nil }
        var tgid: pid_t?
        var ppid: pid_t?
        for line in String(decoding: b, as: UTF8.self).textLines() {
            if line.hasPrefix("Tgid:") { tgid = pid_t(line.dropFirst(5).trimming(" \t")) }
            if line.hasPrefix("PPid:") { ppid = pid_t(line.dropFirst(5).trimming(" \t")) }
        }
        if let tgid, tgid != tid { return tgid }
        return ppid
    }

    public static func mountNamespace(of pid: pid_t) -> UInt64? {
        var st = stat()
        guard stat("/proc/\(pid)/ns/mnt", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// Attaches to every thread of a running process (PTRACE_SEIZE + PTRACE_INTERRUPT).
    public func attach(_ pid: pid_t) throws {
        rootPid = pid
        let tids = (try? HostFS.listDirectory("/proc/\(pid)/task").compactMap { pid_t($0) }) ?? [pid]
        for tid in tids.isEmpty ? [pid] : tids {
            guard harden_ptrace(Self.PTRACE_SEIZE, tid, 0, UInt(Self.options)) == 0 else {
                throw HardenError(.io, "cannot trace process \(tid): \(errnoText())")
            }
            _ = harden_ptrace(Self.PTRACE_INTERRUPT, tid, 0, 0)
            tasks[tid] = TaskState(recording: targetMountNamespace == nil, comm: Self.comm(tid))
        }
    }

    /// Starts `argv` stopped under trace. Returns its pid.
    @discardableResult
    public func spawn(_ argv: [String], environment: [String: String]) throws -> pid_t {
        guard let program = argv.first, let path = ChildProcess.which(program) else {
            throw HardenError(.notFound, "\(argv.first ?? "(empty)"): program not found in PATH")
        }
        let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
        let pid = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in
                harden_spawn_traced(
                    path, UnsafeMutablePointer(mutating: cargv), UnsafeMutablePointer(mutating: cenv), -1, -1, -1)
            }
        }
        guard pid > 0 else { throw HardenError(.io, "\(program): cannot start: \(errnoText())") }
        var status: Int32 = 0
        guard waitpid(pid, &status, Self.WALL) == pid, harden_wifstopped(status) != 0 else {
            throw HardenError(.io, "\(program): did not stop for the tracer")
        }
        _ = harden_ptrace(Self.PTRACE_SETOPTIONS, pid, 0, UInt(Self.options))
        tasks[pid] = TaskState(recording: targetMountNamespace == nil, comm: Self.comm(pid), seen: true)
        rootPid = pid
        _ = harden_ptrace(Self.PTRACE_SYSCALL, pid, 0, 0)
        return pid
    }

    /// Runs until every tracee has ended (or a stop was requested) and returns what was seen.
    public func run() -> TraceReport {
        var status: Int32 = 0
        while !tasks.isEmpty {
            if harden_stop_requested() != 0 {
                report.interrupted = true
                break
            }
            let tid = waitpid(-1, &status, Self.WALL)
            if tid < 0 {
                if errno == EINTR { continue }
                break  // ECHILD: nothing left
            }
            handle(tid, status)
        }
        return finish()
    }

    private func handle(_ tid: pid_t, _ status: Int32) {
        if harden_wifstopped(status) == 0 {
            // Exited or killed.
            if tid == rootPid { report.exitCode = ExitStatus(waitStatus: status).code }
            tasks[tid] = nil
            return
        }
        let sig = harden_wstopsig(status)
        let event = (status >> 16) & 0xff
        if tasks[tid] == nil {
            // A new child, auto-attached; its fork event may come before or after this first stop. Before it, the parent
            // is found in /proc (a thread's process, a process's parent): its syscalls until the event count too (a
            // forked child's setpgid before exec was lost that way, and the seccomp profile then refused it).
            let inherited = inherit.removeValue(forKey: tid)
            let parent = inherited == nil ? Self.creator(of: tid).flatMap { tasks[$0] } : nil
            tasks[tid] = TaskState(
                recording: inherited?.recording ?? parent?.recording ?? false, comm: inherited?.comm ?? parent?.comm,
                seen: true)
            report.processes += 1
            resume(tid, 0)
            return
        }
        if sig == (SIGTRAP | 0x80) {
            syscallStop(tid)
            resume(tid, 0)
            return
        }
        switch event {
        case 1, 2, 3:  // fork, vfork, clone
            var child: UInt = 0
            _ = withUnsafeMutablePointer(to: &child) {
                harden_ptrace(Self.PTRACE_GETEVENTMSG, tid, 0, UInt(bitPattern: $0))
            }
            let c = pid_t(truncatingIfNeeded: child)
            let parent = tasks[tid]
            if tasks[c] != nil {
                tasks[c]?.recording = parent?.recording ?? false
                if tasks[c]?.comm == nil { tasks[c]?.comm = parent?.comm }
            } else {
                inherit[c] = (parent?.recording ?? false, parent?.comm)
            }
            resume(tid, 0)
        case 4:  // exec
            var former: UInt = 0
            _ = withUnsafeMutablePointer(to: &former) {
                harden_ptrace(Self.PTRACE_GETEVENTMSG, tid, 0, UInt(bitPattern: $0))
            }
            let formerTid = pid_t(truncatingIfNeeded: former)
            if formerTid != tid, let old = tasks.removeValue(forKey: formerTid) {
                tasks[tid]?.pending = old.pending
                tasks[tid]?.recording = old.recording || (tasks[tid]?.recording ?? false)
            }
            execEvent(tid)
            resume(tid, 0)
        case 128:  // PTRACE_EVENT_STOP: the seize interrupt, or a group stop
            tasks[tid]?.seen = true
            resume(tid, 0)
        default:
            // Signal-delivery stop: deliver it, except the SIGSTOP every new child starts with.
            if !(tasks[tid]?.seen ?? true) && sig == SIGSTOP {
                tasks[tid]?.seen = true
                resume(tid, 0)
            } else {
                tasks[tid]?.seen = true
                resume(tid, sig)
            }
        }
    }

    private func resume(_ tid: pid_t, _ sig: Int32) {
        _ = harden_ptrace(Self.PTRACE_SYSCALL, tid, 0, UInt(sig))
    }

    private func syscallStop(_ tid: pid_t) {
        var info = harden_syscall_info()
        guard harden_get_syscall_info(tid, &info) == 0 else { return }
        switch info.op {
        case 1:  // entry
            let name = Self.name(Int(info.nr), arch: info.arch)
            let recording = tasks[tid]?.recording ?? false
            if recording { report.syscalls[name, default: 0] += 1 }
            // execve's argv must be read before the new program replaces the memory, recording or not.
            if recording || name == "execve" || name == "execveat" {
                tasks[tid]?.pending = pending(tid, name: name, args: info.args)
            } else {
                tasks[tid]?.pending = nil
            }
        case 2:  // exit
            guard let p = tasks[tid]?.pending else { return }
            tasks[tid]?.pending = nil
            if p.kind == "ids" {
                // setuid/setgid family: the ids a process switched to (nginx workers become www-data).
                if info.is_error == 0, tasks[tid]?.recording == true {
                    let (uid, gid) = Self.ids(tid)
                    if let uid { uids.insert(uid) }
                    if let gid { gids.insert(gid) }
                }
                return
            }
            guard tasks[tid]?.recording == true, !p.paths.isEmpty else { return }
            if p.kind == "exec" && info.is_error == 0 { return }  // recorded at the exec event
            let failure = info.is_error != 0 ? Errno.name(Int32(truncatingIfNeeded: -info.rval)) : nil
            for path in p.paths { record(path, kind: p.kind, failure: failure, tid: tid) }
        default:
            break
        }
    }

    private func execEvent(_ tid: pid_t) {
        let p = tasks[tid]?.pending
        tasks[tid]?.pending = nil
        tasks[tid]?.comm = Self.comm(tid)
        if let target = targetMountNamespace, tasks[tid]?.recording != true {
            if Self.mountNamespace(of: tid) == target {
                tasks[tid]?.recording = true
                report.syscalls[p?.name ?? "execve", default: 0] += 1  // its entry was not counted yet
            }
        }
        guard tasks[tid]?.recording == true else { return }
        let (uid, gid) = Self.ids(tid)
        if let uid { uids.insert(uid) }
        if let gid { gids.insert(gid) }
        let path = p?.paths.first ?? Self.readLink("/proc/\(tid)/exe").map(clean) ?? "?"
        report.executions.append(TraceReport.Execution(path: path, argv: p?.argv ?? [], uid: uid, gid: gid))
        record(path, kind: "exec", failure: nil, tid: tid)
        // The program actually loaded (after #! and symlinks) is a use too.
        if let exe = Self.readLink("/proc/\(tid)/exe").map(clean), exe != path {
            record(exe, kind: "exec", failure: nil, tid: tid)
        }
    }

    private func record(_ path: String, kind: String, failure: String?, tid: pid_t) {
        var a =
            activity[path]
            ?? TraceReport.PathActivity(path: path, operations: [:], failures: [:], firstProcess: tasks[tid]?.comm)
        if let failure { a.failures[failure, default: 0] += 1 } else { a.operations[kind, default: 0] += 1 }
        activity[path] = a
    }

    // MARK: - Decoding syscalls

    /// Which arguments of a syscall are paths (index of a dirfd, or nil for cwd-relative), and its kind.
    private static let pathSyscalls: [String: (kind: String, paths: [(dirfd: Int?, arg: Int)])] = [
        "open": ("open", [(nil, 0)]), "openat": ("open", [(0, 1)]), "openat2": ("open", [(0, 1)]),
        "creat": ("write", [(nil, 0)]),
        "stat": ("stat", [(nil, 0)]), "lstat": ("stat", [(nil, 0)]), "newfstatat": ("stat", [(0, 1)]),
        "statx": ("stat", [(0, 1)]),
        "fstatat64": ("stat", [(0, 1)]), "statfs": ("stat", [(nil, 0)]),
        "access": ("access", [(nil, 0)]), "faccessat": ("access", [(0, 1)]), "faccessat2": ("access", [(0, 1)]),
        "readlink": ("readlink", [(nil, 0)]), "readlinkat": ("readlink", [(0, 1)]),
        "execve": ("exec", [(nil, 0)]), "execveat": ("exec", [(0, 1)]), "chdir": ("chdir", [(nil, 0)]),
        "chroot": ("chdir", [(nil, 0)]),
        "mkdir": ("write", [(nil, 0)]), "mkdirat": ("write", [(0, 1)]), "rmdir": ("write", [(nil, 0)]),
        "unlink": ("write", [(nil, 0)]), "unlinkat": ("write", [(0, 1)]),
        "rename": ("write", [(nil, 0), (nil, 1)]), "renameat": ("write", [(0, 1), (2, 3)]),
        "renameat2": ("write", [(0, 1), (2, 3)]),
        "link": ("write", [(nil, 0), (nil, 1)]), "linkat": ("write", [(0, 1), (2, 3)]),
        "symlink": ("write", [(nil, 1)]), "symlinkat": ("write", [(1, 2)]),
        "chmod": ("write", [(nil, 0)]), "fchmodat": ("write", [(0, 1)]), "chown": ("write", [(nil, 0)]),
        "lchown": ("write", [(nil, 0)]),
        "fchownat": ("write", [(0, 1)]), "truncate": ("write", [(nil, 0)]), "utimensat": ("write", [(0, 1)]),
        "utimes": ("write", [(nil, 0)]),
        "mknod": ("write", [(nil, 0)]), "mknodat": ("write", [(0, 1)]),
        "getxattr": ("xattr", [(nil, 0)]), "lgetxattr": ("xattr", [(nil, 0)]), "listxattr": ("xattr", [(nil, 0)]),
        "llistxattr": ("xattr", [(nil, 0)]), "setxattr": ("write", [(nil, 0)]), "lsetxattr": ("write", [(nil, 0)]),
    ]

    private static let idSyscalls: Set<String> = [
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
    ]

    private func pending(_ tid: pid_t, name: String, args: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) -> Pending?
    {
        if Self.idSyscalls.contains(name) { return Pending(name: name, kind: "ids", paths: [], argv: nil) }
        guard let spec = Self.pathSyscalls[name] else { return nil }
        let a = [args.0, args.1, args.2, args.3, args.4, args.5]
        var kind = spec.kind
        if name == "open" || name == "openat" {
            let flags = Int32(truncatingIfNeeded: a[name == "open" ? 1 : 2])
            if flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) != 0 { kind = "write" }
        }
        var paths: [String] = []
        for (dirfd, arg) in spec.paths {
            guard let raw = readString(tid, a[arg]) else { continue }
            if raw.isEmpty { continue }  // AT_EMPTY_PATH: the call is about the descriptor itself
            let base: String?
            if raw.hasPrefix("/") {
                base = nil
            } else if let dirfd, Int64(Int32(truncatingIfNeeded: a[dirfd])) != Self.AT_FDCWD {
                base = Self.readLink("/proc/\(tid)/fd/\(Int32(truncatingIfNeeded: a[dirfd]))")
            } else {
                base = Self.readLink("/proc/\(tid)/cwd")
            }
            guard let joined = base.map({ $0 + "/" + raw }) ?? (raw.hasPrefix("/") ? raw : nil) else { continue }
            paths.append(clean(joined))
        }
        var argv: [String]?
        if kind == "exec" { argv = readArgv(tid, name == "execve" ? a[1] : a[2]) }
        return Pending(name: name, kind: kind, paths: paths, argv: argv)
    }

    private func readString(_ tid: pid_t, _ address: UInt64) -> String? {
        guard address != 0 else { return nil }
        let n = stringBuffer.withUnsafeMutableBufferPointer {
            harden_read_string(tid, address, $0.baseAddress, $0.count)
        }
        guard n >= 0 else { return nil }
        return stringBuffer.withUnsafeBufferPointer {
            String(decoding: UnsafeRawBufferPointer($0).prefix(n), as: UTF8.self)
        }
    }

    private func readArgv(_ tid: pid_t, _ address: UInt64) -> [String] {
        var out: [String] = []
        var at = address
        while out.count < 256, at != 0 {
            var pointer: UInt64 = 0
            let n = withUnsafeMutableBytes(of: &pointer) { harden_read_memory(tid, at, $0.baseAddress, 8) }
            guard n == 8, pointer != 0, let s = readString(tid, pointer) else { break }
            out.append(s)
            at += 8
        }
        return out
    }

    /// A container path: host prefix removed, `.`/`..`/`//` collapsed lexically, " (deleted)" dropped.
    func clean(_ path: String) -> String {
        var p = path
        if p.hasSuffix(" (deleted)") { p = String(p.dropLast(10)) }
        if let prefix = stripPrefix, p == prefix || p.hasPrefix(prefix + "/") { p = String(p.dropFirst(prefix.count)) }
        return Self.normalize(p)
    }

    /// Lexical normalisation of an absolute path.
    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        guard n > 0 else { return nil }
        return buf.withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0).prefix(n), as: UTF8.self) }
    }

    static func comm(_ tid: pid_t) -> String? {
        guard let b = try? HostFS.readFile("/proc/\(tid)/comm", limit: 64) else { return nil }
        return String(decoding: b, as: UTF8.self).trimming("\n")
    }

    /// Effective uid and gid from /proc/PID/status.
    static func ids(_ tid: pid_t) -> (UInt32?, UInt32?) {
        guard let b = try? HostFS.readFile("/proc/\(tid)/status", limit: 1 << 16) else { return (nil, nil) }
        var uid: UInt32?, gid: UInt32?
        for line in String(decoding: b, as: UTF8.self).textLines() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if f.first == "Uid:", f.count > 2 { uid = UInt32(f[2]) }
            if f.first == "Gid:", f.count > 2 { gid = UInt32(f[2]) }
        }
        return (uid, gid)
    }

    static func name(_ nr: Int, arch: UInt32) -> String {
        let table = arch == AUDIT_ARCH_AARCH64 ? SyscallTable.aarch64 : SyscallTable.x86_64
        if nr >= 0, nr < table.count, let n = table[nr] { return n }
        return "syscall_\(nr)"
    }

    private func finish() -> TraceReport {
        var r = report
        r.paths = activity.values.sorted { $0.path < $1.path }
        r.uids = uids.sorted()
        r.gids = gids.sorted()
        return r
    }
}

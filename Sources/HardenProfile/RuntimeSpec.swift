// harden — the OCI runtime specification's config.json (the subset harden writes), and building it from an
// image configuration the way Docker would run the image.
import HardenCore
import HardenOCI
import HardenPackages

/// `config.json` of an OCI bundle (runtime-spec v1.x). Field names mirror the specification.
public struct RuntimeSpec: Codable, Sendable {
    public var ociVersion = "1.0.2"
    public var process: Process
    public var root: Root
    public var hostname: String?
    public var mounts: [Mount]
    public var linux: Linux

    public struct Process: Codable, Sendable {
        public var terminal: Bool? = false
        public var user: User
        public var args: [String]
        public var env: [String]
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
    }
    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var additionalGids: [UInt32]?
        public var umask: UInt32?
        public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32]? = nil, umask: UInt32? = nil) {
            self.uid = uid
            self.gid = gid
            self.additionalGids = additionalGids
            self.umask = umask
        }
    }
    public struct Capabilities: Codable, Sendable {
        public var bounding: [String]
        public var effective: [String]
        public var permitted: [String]
        public var inheritable: [String]?
        public var ambient: [String]?
    }
    public struct Rlimit: Codable, Sendable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
    }
    public struct Root: Codable, Sendable {
        public var path: String
        public var readonly: Bool?
    }
    public struct Mount: Codable, Sendable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
    }
    public struct Linux: Codable, Sendable {
        public var namespaces: [Namespace]
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var seccomp: Seccomp?
        public var resources: Resources?
    }
    /// linux.resources: the cgroup limits harden sets.
    public struct Resources: Codable, Sendable {
        public var pids: Pids?
        public var memory: Memory?
    }
    public struct Pids: Codable, Sendable { public var limit: Int64 }
    public struct Memory: Codable, Sendable { public var limit: Int64? }
    public struct Namespace: Codable, Sendable {
        public var type: String
        public var path: String?
    }
    /// linux.seccomp (also the Docker/Podman seccomp profile format, which adds nothing harden needs).
    public struct Seccomp: Codable, Sendable, Equatable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]?
        public var syscalls: [SyscallRule]?
        public init(
            defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil,
            syscalls: [SyscallRule]? = nil
        ) {
            self.defaultAction = defaultAction
            self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures
            self.syscalls = syscalls
        }
    }
    public struct SyscallRule: Codable, Sendable, Equatable {
        public var names: [String]
        public var action: String
        public var errnoRet: UInt32?
        public var args: [SyscallArg]?
        public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [SyscallArg]? = nil) {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
        }
    }
    /// A condition on one argument: `op` compares argument `index` with `value` (`SCMP_CMP_MASKED_EQ`: the
    /// argument masked with `value` equals `valueTwo`).
    public struct SyscallArg: Codable, Sendable, Equatable {
        public var index: UInt
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
        public init(index: UInt, value: UInt64, valueTwo: UInt64? = nil, op: String) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }
    }
}

extension RuntimeSpec {
    /// Docker's default capability set (moby `oci/caps/defaults.go`); without CAP_CHOWN, nginx fails to start.
    public static let dockerDefaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// A bind mount of a host path (read-only when asked).
    public static func bind(source: String, destination: String, readOnly: Bool) -> Mount {
        Mount(
            destination: destination, type: "bind", source: source,
            options: ["rbind", "rprivate"] + (readOnly ? ["ro"] : []))
    }

    /// Paths Docker masks or makes read-only inside /proc and /sys.
    static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The process an image runs: entrypoint + cmd, or an error when there is neither.
    public static func command(of config: ContainerConfig?, image: String) throws -> [String] {
        let args = (config?.entrypoint ?? []) + (config?.cmd ?? [])
        guard !args.isEmpty else {
            throw HardenError(
                .invalidArgument, "\(image): the image has no entrypoint and no cmd, so there is nothing to run")
        }
        return args
    }

    /// The environment: the image's, with PATH and HOSTNAME as Docker sets them.
    static func environment(of config: ContainerConfig?, hostname: String) -> [String] {
        var env = config?.env ?? []
        if !env.contains(where: { $0.hasPrefix("PATH=") }) {
            env.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0)
        }
        if !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) { env.append("HOSTNAME=\(hostname)") }
        return env
    }

    /// Builds the bundle configuration for running an image's process the way `docker run` does: Docker's
    /// capabilities, its own pid/mount/ipc/uts/network namespaces, /proc, /dev, /sys, and the bind-mounted
    /// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.
    /// - Parameters:
    ///   - args: the process (entrypoint + cmd, or an exec probe's command).
    ///   - user: the resolved numeric user.
    ///   - networkNamespace: an existing network namespace to join (the one with loopback and the probe link).
    ///   - etcFiles: host files bind-mounted over `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`.
    ///   - seccomp: the filter (profiling runs: `Seccomp.dockerDefault`; verification: the image's own profile).
    ///   - limits: the pids and memory limits of the container's cgroup.
    ///   - settings: the run's environment, working directory and tmpfs mounts on top of the image's.
    ///   - extraMounts: bind mounts (host paths already resolved), after the standard ones.
    public static func make(
        config: ContainerConfig?, args: [String], user: User, hostname: String, rootfs: String,
        networkNamespace: String?, etcFiles: [String: String], seccomp: Seccomp? = nil, limits: SandboxLimits? = nil,
        settings: ContainerSettings = ContainerSettings(), extraMounts: [Mount] = []
    ) -> RuntimeSpec {
        let caps = dockerDefaultCapabilities
        let cwd = settings.workingDir ?? (config?.workingDir).flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        let process = Process(
            terminal: false, user: user, args: args,
            env: settings.environment(over: environment(of: config, hostname: hostname)),
            cwd: cwd,
            capabilities: Capabilities(
                bounding: caps, effective: user.uid == 0 ? caps : [], permitted: user.uid == 0 ? caps : [],
                inheritable: [], ambient: []),
            // No privilege gain through setuid files or file capabilities; it also makes runc load the seccomp
            // filter right before exec (as Kubernetes' allowPrivilegeEscalation: false does).
            // rlimits: inherited from harden (raising one above the host's limit fails).
            rlimits: nil, noNewPrivileges: true)
        var mounts = [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(
                destination: "/dev", type: "tmpfs", source: "tmpfs",
                options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount(
                destination: "/dev/pts", type: "devpts", source: "devpts",
                options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount(
                destination: "/dev/shm", type: "tmpfs", source: "shm",
                options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(
                destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        ]
        for (destination, source) in etcFiles.sorted(by: { $0.key < $1.key }) {
            mounts.append(
                Mount(destination: destination, type: "bind", source: source, options: ["rbind", "rprivate"]))
        }
        // The user's mounts, parents before children whatever the order given (as Docker sorts them): a tmpfs at
        // /run must not hide a bind at /var/run/x (a symlink into it) mounted before it.
        var user = extraMounts
        for t in settings.tmpfs {
            user.append(
                Mount(
                    destination: t, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "mode=1777"])
            )
        }
        func depth(_ m: Mount) -> Int { m.destination.split(separator: "/").count }
        mounts += user.enumerated().sorted { (depth($0.element), $0.offset) < (depth($1.element), $1.offset) }.map(
            \.element)
        var namespaces = [
            Namespace(type: "pid"), Namespace(type: "mount"), Namespace(type: "ipc"), Namespace(type: "uts"),
        ]
        namespaces.append(Namespace(type: "network", path: networkNamespace))
        return RuntimeSpec(
            process: process, root: Root(path: rootfs, readonly: settings.readOnlyRootfs), hostname: hostname,
            mounts: mounts,
            linux: Linux(
                namespaces: namespaces, maskedPaths: maskedPaths, readonlyPaths: readonlyPaths, seccomp: seccomp,
                resources: limits.map { Resources(pids: Pids(limit: $0.pids), memory: Memory(limit: $0.memoryBytes)) }))
    }
}

/// The cgroup limits of a container harden runs.
public struct SandboxLimits: Sendable, Equatable {
    /// Processes and threads at most (a fork bomb stops here).
    public var pids: Int64 = 4096
    /// Memory at most, in bytes (the kernel's OOM killer acts inside the container's cgroup).
    public var memoryBytes: Int64 = 4 << 30
    public init(pids: Int64 = 4096, memoryBytes: Int64 = 4 << 30) {
        self.pids = pids
        self.memoryBytes = memoryBytes
    }
}

extension RuntimeSpec.Seccomp {
    /// The filter profiling runs use: default deny (EPERM), allowing what Docker's default profile allows to a
    /// container with Docker's default capabilities on x86-64 (no CAP_SYS_ADMIN: no mount, unshare, setns, new
    /// namespaces through clone; clone3 answers ENOSYS so libc falls back to clone; no AF_VSOCK sockets; only the
    /// harmless personality values). The syscall names are facts of Docker's published default profile.
    public static let dockerDefault: RuntimeSpec.Seccomp = {
        typealias Rule = RuntimeSpec.SyscallRule
        typealias Arg = RuntimeSpec.SyscallArg
        var rules = [Rule(names: dockerDefaultAllowed, action: "SCMP_ACT_ALLOW")]
        // CAP_SYS_CHROOT is one of Docker's default capabilities; ptrace & co. are allowed on kernels ≥ 4.8.
        rules.append(
            Rule(
                names: ["chroot", "arch_prctl", "modify_ldt", "ptrace", "process_vm_readv", "process_vm_writev"],
                action: "SCMP_ACT_ALLOW"))
        rules.append(
            Rule(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [Arg(index: 0, value: 40, op: "SCMP_CMP_NE")]))
        for p: UInt64 in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            rules.append(
                Rule(
                    names: ["personality"], action: "SCMP_ACT_ALLOW", args: [Arg(index: 0, value: p, op: "SCMP_CMP_EQ")]
                ))
        }
        // clone without any CLONE_NEW* flag (CLONE_NEWNS|CGROUP|UTS|IPC|USER|PID|NET = 0x7E020000).
        rules.append(
            Rule(
                names: ["clone"], action: "SCMP_ACT_ALLOW",
                args: [Arg(index: 0, value: 0x7E02_0000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]
            ))
        rules.append(Rule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        return RuntimeSpec.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
            // The host's: an emulated image's syscalls are made by the host's qemu-user.
            architectures: SeccompArchitecture.names(Platform.host.architecture), syscalls: rules)
    }()

    static let dockerDefaultAllowed: [String] = """
        accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64
        clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close
        close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
        epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat
        faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl
        fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
        fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid
        getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid
        getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage
        getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
        inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
        io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc
        kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
        listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create
        memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify
        mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget
        msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2
        pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
        pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
        readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
        renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
        rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
        sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
        sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
        sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
        sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
        setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
        setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl
        shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat
        stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
        timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
        timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
        umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}

/// Resolving the image's `User` (`name`, `uid`, `name:group`, `uid:gid`) against the image's own
/// `/etc/passwd` and `/etc/group`, as Docker does.
public enum UserResolver {
    public struct PasswdEntry: Sendable, Equatable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32
        public var home: String
    }
    public struct GroupEntry: Sendable, Equatable {
        public var name: String
        public var gid: UInt32
        public var members: [String]
    }

    public static func parsePasswd(_ bytes: [UInt8]) -> [PasswdEntry] {
        lines(bytes).compactMap { f in
            guard f.count >= 4, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: f[0], uid: uid, gid: gid, home: f.count > 5 ? f[5] : "/")
        }
    }

    public static func parseGroup(_ bytes: [UInt8]) -> [GroupEntry] {
        lines(bytes).compactMap { f in
            guard f.count >= 3, let gid = UInt32(f[2]) else { return nil }
            return GroupEntry(
                name: f[0], gid: gid, members: f.count > 3 ? f[3].split(separator: ",").map(String.init) : [])
        }
    }

    private static func lines(_ bytes: [UInt8]) -> [[String]] {
        String(decoding: bytes, as: UTF8.self).textLines().compactMap { line in
            let t = line.trimming(" \t\r")
            guard !t.isEmpty, !t.hasPrefix("#") else { return nil }
            return t.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// Resolves `spec` (empty means root). A name that the image does not define is an error naming it.
    public static func resolve(
        _ spec: String?, passwd: [PasswdEntry], groups: [GroupEntry], image: String
    ) throws -> RuntimeSpec.User {
        let s = (spec ?? "").trimming(" ")
        if s.isEmpty {
            return RuntimeSpec.User(uid: 0, gid: 0, additionalGids: supplementary(for: "root", gid: 0, groups: groups))
        }
        let parts = s.split(separator: ":", maxSplits: 1).map(String.init)
        let userPart = parts[0]
        var uid: UInt32
        var gid: UInt32
        var name: String?
        if let n = UInt32(userPart) {
            uid = n
            let entry = passwd.first { $0.uid == n }
            gid = entry?.gid ?? 0
            name = entry?.name
        } else {
            guard let entry = passwd.first(where: { $0.name == userPart }) else {
                throw HardenError(
                    .invalidArgument, "\(image): user \"\(userPart)\" of the image config is not in its /etc/passwd")
            }
            uid = entry.uid
            gid = entry.gid
            name = entry.name
        }
        if parts.count == 2 {
            let g = parts[1]
            if let n = UInt32(g) {
                gid = n
            } else {
                guard let entry = groups.first(where: { $0.name == g }) else {
                    throw HardenError(
                        .invalidArgument, "\(image): group \"\(g)\" of the image config is not in its /etc/group")
                }
                gid = entry.gid
            }
            return RuntimeSpec.User(uid: uid, gid: gid, additionalGids: nil)
        }
        return RuntimeSpec.User(
            uid: uid, gid: gid, additionalGids: name.map { supplementary(for: $0, gid: gid, groups: groups) } ?? nil)
    }

    static func supplementary(for name: String, gid: UInt32, groups: [GroupEntry]) -> [UInt32]? {
        let extra = groups.filter { $0.members.contains(name) && $0.gid != gid }.map(\.gid)
        return extra.isEmpty ? nil : Array(Set(extra)).sorted()
    }
}

// harden — the hardened configuration: non-root when the app allows it, only the ports it listened on, no
// secrets in the environment (when asked), labels and history recording what harden did; and the seccomp
// and Kubernetes security settings that fit what the profile saw.
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile

public struct HardenedConfig: Sendable {
    public var config: ContainerConfig
    /// Every change, for the report.
    public var changes: [String] = []
    /// Files to add or replace (a new user in /etc/passwd and /etc/group).
    public var files: [String: [UInt8]] = [:]
    public var runsAsRoot: Bool
    public var uid: UInt32
    public var gid: UInt32
}

public enum ConfigHardening {
    public static let userName = "harden"
    public static let userID: UInt32 = 65532

    /// Why the app needs root, from what the profile saw (nil when it does not).
    public static func rootReason(_ profile: RuntimeProfile) -> String? {
        if let p = profile.ports.first(where: { $0.port < 1024 }) {
            return "it listens on privileged port \(p.protocolName)/\(p.port)"
        }
        let seen = Set(profile.syscalls.map(\.name))
        for s in [
            "setuid", "setgid", "setresuid", "setresgid", "setgroups", "chown", "fchown", "lchown", "fchownat",
            "chroot", "mount", "setns",
            "unshare",
        ] where seen.contains(s) {
            return "it calls \(s)"
        }
        if profile.uids.contains(where: { $0 != 0 }) { return "it switches between users" }
        return nil
    }

    public static func harden(
        _ original: ContainerConfig?, profile: RuntimeProfile, passwd: [UInt8]?, group: [UInt8]?,
        secretVariables: [String], stripSecretEnv: Bool, allowNonRoot: Bool, sbomPath: String, source: String
    ) -> HardenedConfig {
        var config = original ?? ContainerConfig()
        var changes: [String] = []
        var files: [String: [UInt8]] = [:]
        // User.
        let current = (config.user ?? "").trimming(" ")
        let isRoot =
            current.isEmpty || current == "root" || current == "0" || current.hasPrefix("0:")
            || current.hasPrefix("root:")
        var runsAsRoot = isRoot
        var uid: UInt32 = 0, gid: UInt32 = 0
        if isRoot {
            if let reason = rootReason(profile) {
                changes.append("user: kept root because \(reason)")
            } else if !allowNonRoot {
                changes.append("user: kept root because the app failed its probes as a non-root user")
            } else {
                let users = UserResolver.parsePasswd(passwd ?? [])
                if let existing = users.first(where: { $0.uid == userID }) {
                    uid = existing.uid
                    gid = existing.gid
                } else {
                    uid = userID
                    gid = userID
                    var p = passwd ?? []
                    if let last = p.last, last != 10 { p.append(10) }
                    p += Array(
                        "\(userName):x:\(userID):\(userID):harden non-root user:/nonexistent:/usr/sbin/nologin\n".utf8)
                    files["/etc/passwd"] = p
                    var g = group ?? []
                    if let last = g.last, last != 10 { g.append(10) }
                    g += Array("\(userName):x:\(userID):\n".utf8)
                    files["/etc/group"] = g
                    changes.append("user: added \(userName) (\(userID):\(userID)) to /etc/passwd and /etc/group")
                }
                config.user = "\(uid):\(gid)"
                runsAsRoot = false
                changes.append("user: runs as \(uid):\(gid) instead of root (the profile shows no need for root)")
            }
        } else {
            let users = UserResolver.parsePasswd(passwd ?? [])
            let name = current.split(separator: ":").first.map(String.init) ?? current
            if let n = UInt32(name) {
                uid = n
            } else if let u = users.first(where: { $0.name == name }) {
                uid = u.uid
                gid = u.gid
            }
        }
        // Ports.
        let listened = Set(profile.ports.map { "\($0.port)/\($0.protocolName)" })
        if let exposed = config.exposedPorts {
            var kept: [String: EmptyObject] = [:]
            for (port, v) in exposed {
                let key = port.contains("/") ? port : port + "/tcp"
                if listened.contains(key) {
                    kept[port] = v
                } else {
                    changes.append("ports: removed EXPOSE \(port) (never listened on)")
                }
            }
            config.exposedPorts = kept.isEmpty ? nil : kept
        }
        // Secrets (the names the check stage's rules flag, given by the caller).
        for s in secretVariables {
            if stripSecretEnv {
                config.env = config.env?.filter { !$0.hasPrefix(s + "=") }
                changes.append("env: removed \(s) (looks like a secret)")
            } else {
                changes.append("env: \(s) looks like a secret (use --strip-secret-env to remove it)")
            }
        }
        // Labels.
        var labels = config.labels ?? [:]
        labels["io.harden.minified"] = "true"
        labels["io.harden.source"] = source
        labels["io.harden.sbom"] = sbomPath
        config.labels = labels
        return HardenedConfig(
            config: config, changes: changes, files: files, runsAsRoot: runsAsRoot, uid: uid, gid: gid)
    }

    /// Syscalls the runtime itself makes between installing the filter and exec-ing the app, and that every
    /// process needs to start and end.
    static let runtimeSyscalls = [
        "execve", "execveat", "exit", "exit_group", "futex", "close", "close_range", "fstat", "newfstatat", "fcntl",
        "getpid", "gettid",
        "write", "read", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "sigaltstack", "sched_yield", "nanosleep",
        "clock_nanosleep",
        "epoll_pwait", "epoll_wait", "epoll_ctl", "getppid", "tgkill", "mmap", "munmap", "mprotect", "brk", "capget",
        "capset", "prctl",
        "setgroups", "setresuid", "setresgid", "setuid", "setgid", "openat", "madvise", "arch_prctl", "set_tid_address",
        "set_robust_list", "rseq", "prlimit64", "getrandom", "clone", "clone3", "wait4", "waitid", "kill",
        "restart_syscall",
        // runc's init after the filter is installed: checks /proc/self/fd is procfs and closes inherited descriptors.
        "fstatfs", "statfs", "getdents64", "readlinkat", "dup3", "umask", "getuid", "geteuid", "getgid", "getegid",
        "chdir", "fchdir",
        "getcwd",
    ]

    /// What qemu-user itself calls on the host besides the guest's translated calls (its threads, signal
    /// emulation, memory for translated code, /proc/self reads).
    static let emulatorSyscalls: Set<String> = [
        "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
        "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "futex", "clone", "clone3", "set_robust_list", "rseq",
        "gettid", "getpid", "tgkill", "exit", "exit_group", "membarrier", "prctl", "getrandom", "readlink",
        "readlinkat", "openat", "open", "close", "read", "pread64", "fstat", "newfstatat", "lseek", "getcwd",
        "ioctl", "uname", "prlimit64", "getrlimit", "sched_getaffinity", "sched_yield", "arch_prctl",
        "set_tid_address", "timer_create", "timer_settime", "timer_delete", "clock_gettime", "clock_nanosleep",
        "nanosleep", "fcntl", "dup", "dup2", "dup3", "pipe2", "eventfd2", "ppoll", "poll", "write", "writev",
    ]

    /// An OCI/Docker seccomp profile: deny by default (EPERM), allow what the profile saw plus what the runtime needs,
    /// for the image's architecture (its syscall table and `SCMP_ARCH_*`). `executing`: the architecture whose
    /// syscalls the kernel filters when that differs — the host's, when the image runs under qemu-user emulation
    /// (the emulator makes host syscalls): the filter verification runs under.
    public static func seccomp(_ profile: RuntimeProfile, executing: String? = nil) -> RuntimeSpec.Seccomp {
        var recorded = Set(profile.syscalls.map(\.name)).union(runtimeSyscalls).filter { !$0.hasPrefix("syscall_") }
        let platform = (try? Platform(parsing: profile.image.platform)) ?? .defaultPlatform
        if executing != nil {
            // Verification under emulation: the guest's own calls as the emulator passes them on (a profile mapped
            // from amd64 says `mkdir`, the arm64 program calls `mkdirat`), and the emulator's own calls.
            recorded.formUnion(SeccompArchitecture.syscalls(recorded, for: platform.architecture))
            recorded.formUnion(emulatorSyscalls)
        }
        let arch = executing ?? platform.architecture
        return RuntimeSpec.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, architectures: SeccompArchitecture.names(arch),
            syscalls: [
                RuntimeSpec.SyscallRule(
                    names: SeccompArchitecture.syscalls(recorded, for: arch).sorted(), action: "SCMP_ACT_ALLOW")
            ])
    }

    /// Paths where writes do not stop a read-only root file system.
    static func isScratch(_ path: String) -> Bool {
        ["/tmp", "/var/tmp", "/run", "/dev", "/proc", "/sys", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]
            .contains {
                path == $0 || path.hasPrefix($0 + "/")
            }
    }

    /// A Kubernetes `securityContext` for the container.
    public static func kubernetesSecurityContext(
        _ profile: RuntimeProfile, hardened: HardenedConfig, seccompName: String
    ) -> String {
        let writes = profile.files.filter { $0.operations.contains("write") && !isScratch($0.path) }.map(\.path)
        var add: [String] = []
        let seen = Set(profile.syscalls.map(\.name))
        if profile.ports.contains(where: { $0.port < 1024 }) { add.append("NET_BIND_SERVICE") }
        if !seen.isDisjoint(with: ["setuid", "setresuid", "setreuid"]) { add.append("SETUID") }
        if !seen.isDisjoint(with: ["setgid", "setresgid", "setregid", "setgroups"]) { add.append("SETGID") }
        if !seen.isDisjoint(with: ["chown", "fchown", "lchown", "fchownat"]) { add.append("CHOWN") }
        if hardened.runsAsRoot && !writes.isEmpty { add.append("DAC_OVERRIDE") }
        var y = "# Generated by harden from the runtime profile of \(profile.image.reference)\n"
        y += "securityContext:\n"
        y += "  runAsNonRoot: \(!hardened.runsAsRoot)\n"
        y += "  runAsUser: \(hardened.uid)\n"
        y += "  runAsGroup: \(hardened.gid)\n"
        y += "  allowPrivilegeEscalation: false\n"
        y += "  readOnlyRootFilesystem: \(writes.isEmpty)\n"
        if !writes.isEmpty {
            y +=
                "  # writes seen outside scratch directories: \(writes.prefix(5).joined(separator: ", "))\(writes.count > 5 ? ", …" : "")\n"
        }
        y += "  capabilities:\n    drop: [ALL]\n"
        if !add.isEmpty { y += "    add: [\(add.joined(separator: ", "))]\n" }
        y += "  seccompProfile:\n    type: Localhost\n    localhostProfile: \(seccompName)\n"
        return y
    }
}

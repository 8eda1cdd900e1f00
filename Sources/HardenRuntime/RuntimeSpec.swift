// harden — the OCI runtime specification's config.json (the subset harden writes), and building it from an
// image configuration the way Docker would run the image.
import HardenCore
import HardenOCI

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
            self.uid = uid; self.gid = gid; self.additionalGids = additionalGids; self.umask = umask
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
    }
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
        public init(defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil, syscalls: [SyscallRule]? = nil) {
            self.defaultAction = defaultAction
            self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures
            self.syscalls = syscalls
        }
    }
    public struct SyscallRule: Codable, Sendable, Equatable {
        public var names: [String]
        public var action: String
        public init(names: [String], action: String) { self.names = names; self.action = action }
    }
}

extension RuntimeSpec {
    /// Docker's default capability set (moby `oci/caps/defaults.go`); without CAP_CHOWN, nginx fails to start.
    public static let dockerDefaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

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
            throw HardenError(.invalidArgument, "\(image): the image has no entrypoint and no cmd, so there is nothing to run")
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
    public static func make(
        config: ContainerConfig?, args: [String], user: User, hostname: String, rootfs: String,
        networkNamespace: String?, etcFiles: [String: String], seccomp: Seccomp? = nil
    ) -> RuntimeSpec {
        let caps = dockerDefaultCapabilities
        let process = Process(
            terminal: false, user: user, args: args, env: environment(of: config, hostname: hostname),
            cwd: (config?.workingDir).flatMap { $0.isEmpty ? nil : $0 } ?? "/",
            capabilities: Capabilities(bounding: caps, effective: user.uid == 0 ? caps : [], permitted: user.uid == 0 ? caps : [], inheritable: [], ambient: []),
            // With a seccomp profile the run is a hardened one: no privilege gain, which also makes runc load the
            // filter right before exec (as Kubernetes' allowPrivilegeEscalation: false does).
            // rlimits: inherited from harden (raising one above the host's limit fails).
            rlimits: nil, noNewPrivileges: seccomp != nil)
        var mounts = [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        ]
        for (destination, source) in etcFiles.sorted(by: { $0.key < $1.key }) {
            mounts.append(Mount(destination: destination, type: "bind", source: source, options: ["rbind", "rprivate"]))
        }
        var namespaces = [Namespace(type: "pid"), Namespace(type: "mount"), Namespace(type: "ipc"), Namespace(type: "uts")]
        namespaces.append(Namespace(type: "network", path: networkNamespace))
        return RuntimeSpec(
            process: process, root: Root(path: rootfs, readonly: false), hostname: hostname, mounts: mounts,
            linux: Linux(namespaces: namespaces, maskedPaths: maskedPaths, readonlyPaths: readonlyPaths, seccomp: seccomp))
    }
}

/// Resolving the image's `User` (`name`, `uid`, `name:group`, `uid:gid`) against the image's own
/// `/etc/passwd` and `/etc/group`, as Docker does.
public enum UserResolver {
    public struct PasswdEntry: Sendable, Equatable { public var name: String; public var uid: UInt32; public var gid: UInt32; public var home: String }
    public struct GroupEntry: Sendable, Equatable { public var name: String; public var gid: UInt32; public var members: [String] }

    public static func parsePasswd(_ bytes: [UInt8]) -> [PasswdEntry] {
        lines(bytes).compactMap { f in
            guard f.count >= 4, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: f[0], uid: uid, gid: gid, home: f.count > 5 ? f[5] : "/")
        }
    }

    public static func parseGroup(_ bytes: [UInt8]) -> [GroupEntry] {
        lines(bytes).compactMap { f in
            guard f.count >= 3, let gid = UInt32(f[2]) else { return nil }
            return GroupEntry(name: f[0], gid: gid, members: f.count > 3 ? f[3].split(separator: ",").map(String.init) : [])
        }
    }

    private static func lines(_ bytes: [UInt8]) -> [[String]] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let t = line.trimming(" \t\r")
            guard !t.isEmpty, !t.hasPrefix("#") else { return nil }
            return t.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// Resolves `spec` (empty means root). A name that the image does not define is an error naming it.
    public static func resolve(_ spec: String?, passwd: [PasswdEntry], groups: [GroupEntry], image: String) throws -> RuntimeSpec.User {
        let s = (spec ?? "").trimming(" ")
        if s.isEmpty { return RuntimeSpec.User(uid: 0, gid: 0, additionalGids: supplementary(for: "root", gid: 0, groups: groups)) }
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
                throw HardenError(.invalidArgument, "\(image): user \"\(userPart)\" of the image config is not in its /etc/passwd")
            }
            uid = entry.uid; gid = entry.gid; name = entry.name
        }
        if parts.count == 2 {
            let g = parts[1]
            if let n = UInt32(g) { gid = n } else {
                guard let entry = groups.first(where: { $0.name == g }) else {
                    throw HardenError(.invalidArgument, "\(image): group \"\(g)\" of the image config is not in its /etc/group")
                }
                gid = entry.gid
            }
            return RuntimeSpec.User(uid: uid, gid: gid, additionalGids: nil)
        }
        return RuntimeSpec.User(uid: uid, gid: gid, additionalGids: name.map { supplementary(for: $0, gid: gid, groups: groups) } ?? nil)
    }

    static func supplementary(for name: String, gid: UInt32, groups: [GroupEntry]) -> [UInt32]? {
        let extra = groups.filter { $0.members.contains(name) && $0.gid != gid }.map(\.gid)
        return extra.isEmpty ? nil : Array(Set(extra)).sorted()
    }
}

// harden — seccomp per architecture: the `SCMP_ARCH_*` list a filter names for an OCI architecture, and the syscall
// names a profile recorded mapped onto that architecture's table. Under qemu-user emulation the sensor sees the
// host's syscalls (the emulator's), so an arm64 profile recorded on amd64 names `open` or `epoll_wait`, which
// arm64 does not have: they become the calls arm64 programs make instead (`openat`, `epoll_pwait`).

public enum SeccompArchitecture {
    /// The `SCMP_ARCH_*` values for an OCI architecture: the native one first, then the compatibility modes its
    /// kernel also runs (as Docker's default profile lists them).
    public static func names(_ architecture: String) -> [String] {
        switch architecture {
        case "amd64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        case "386": ["SCMP_ARCH_X86"]
        case "arm64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        case "arm": ["SCMP_ARCH_ARM"]
        case "ppc64le": ["SCMP_ARCH_PPC64LE"]
        case "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]
        case "riscv64": ["SCMP_ARCH_RISCV64"]
        case "mips64le": ["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_MIPSEL"]
        case "loong64": ["SCMP_ARCH_LOONGARCH64"]
        default: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        }
    }

    /// The syscall table of an architecture, when harden has one (x86_64, aarch64).
    static func table(_ architecture: String) -> Set<String>? {
        switch architecture {
        case "amd64": x86_64Names
        case "arm64": aarch64Names
        default: nil
        }
    }

    static let x86_64Names = Set(SyscallTable.x86_64.compactMap { $0 })
    static let aarch64Names = Set(SyscallTable.aarch64.compactMap { $0 })

    /// Legacy calls of x86_64 that the generic syscall table (arm64, riscv64, loong64) replaced, with what
    /// programs there call instead.
    static let genericReplacement: [String: [String]] = [
        "open": ["openat"], "creat": ["openat"], "stat": ["newfstatat"], "lstat": ["newfstatat"],
        "access": ["faccessat", "faccessat2"], "readlink": ["readlinkat"], "unlink": ["unlinkat"],
        "rmdir": ["unlinkat"], "mkdir": ["mkdirat"], "mknod": ["mknodat"], "rename": ["renameat", "renameat2"],
        "link": ["linkat"], "symlink": ["symlinkat"], "chmod": ["fchmodat"], "chown": ["fchownat"],
        "lchown": ["fchownat"], "utimes": ["utimensat"], "futimesat": ["utimensat"], "getdents": ["getdents64"],
        "poll": ["ppoll"], "select": ["pselect6"], "epoll_wait": ["epoll_pwait"], "epoll_create": ["epoll_create1"],
        "dup2": ["dup3"], "pipe": ["pipe2"], "fork": ["clone"], "vfork": ["clone"], "eventfd": ["eventfd2"],
        "signalfd": ["signalfd4"], "inotify_init": ["inotify_init1"], "alarm": ["setitimer"], "pause": ["ppoll"],
        "time": ["clock_gettime"], "getpgrp": ["getpgid"], "ustat": ["statfs"], "sysfs": [], "uselib": [],
        "arch_prctl": [], "modify_ldt": [], "iopl": [], "ioperm": [],
    ]

    /// The names to allow on `architecture`: recorded names it has, legacy ones replaced by their successors, the
    /// rest dropped (unknown table: unchanged).
    public static func syscalls(_ recorded: Set<String>, for architecture: String) -> Set<String> {
        guard let table = table(architecture) else { return recorded }
        var out = Set<String>()
        for name in recorded {
            if table.contains(name) {
                out.insert(name)
            } else if architecture != "amd64", let successors = genericReplacement[name] {
                out.formUnion(successors.filter(table.contains))
            }
        }
        return out
    }
}

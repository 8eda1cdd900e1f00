// harden — seccomp profiles per architecture: an arm64 image gets SCMP_ARCH_AARCH64 and arm64's syscall names, also
// when its profile was recorded under qemu-user on amd64 (where the sensor sees the emulator's x86_64 calls).
import Foundation
import HardenMinify
import HardenOCI
import HardenProfile
import Testing

struct SeccompArchitectureTests {
    func profile(platform: String, syscalls: [String]) -> RuntimeProfile {
        RuntimeProfile(
            image: .init(reference: "r", configDigest: "c", manifestDigest: "m", platform: platform), runs: [],
            files: [], executables: [], ports: [], uids: [0], gids: [0],
            syscalls: syscalls.map { .init(name: $0, count: 1) }, packages: [],
            summary: .init(files: 0, missingFiles: 0, executables: 0, packagesUsed: 0, packagesUnused: 0))
    }

    static let recordedOnAmd64 = ["open", "stat", "epoll_wait", "arch_prctl", "fcntl", "mmap", "sendfile", "read"]

    @Test func anArm64ProfileNamesArm64AndItsOwnCalls() {
        let s = ConfigHardening.seccomp(profile(platform: "linux/arm64", syscalls: Self.recordedOnAmd64))
        #expect(s.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        let names = Set(s.syscalls?.first?.names ?? [])
        #expect(names.isSuperset(of: ["openat", "newfstatat", "epoll_pwait", "fcntl", "mmap", "sendfile", "read"]))
        #expect(names.isDisjoint(with: ["open", "stat", "epoll_wait", "arch_prctl"]), "\(names.sorted())")
        // Every name is one arm64 has.
        let table = Set(SyscallTable.aarch64.compactMap { $0 })
        #expect(names.subtracting(table).isEmpty, "\(names.subtracting(table).sorted())")
    }

    @Test func verificationUnderEmulationFiltersTheHostsCalls() {
        let s = ConfigHardening.seccomp(
            profile(platform: "linux/arm64", syscalls: Self.recordedOnAmd64), executing: "amd64")
        #expect(s.architectures?.first == "SCMP_ARCH_X86_64")
        let names = Set(s.syscalls?.first?.names ?? [])
        #expect(names.isSuperset(of: ["open", "stat", "epoll_wait", "arch_prctl"]))
    }

    @Test func amd64KeepsItsTableAndOtherArchitecturesTheirNames() {
        let s = ConfigHardening.seccomp(profile(platform: "linux/amd64", syscalls: Self.recordedOnAmd64))
        #expect(s.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        let names = Set(s.syscalls?.first?.names ?? [])
        #expect(names.isSuperset(of: Self.recordedOnAmd64))
        #expect(SeccompArchitecture.names("s390x") == ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"])
        #expect(SeccompArchitecture.names("ppc64le") == ["SCMP_ARCH_PPC64LE"])
        #expect(SeccompArchitecture.syscalls(["open"], for: "s390x") == ["open"])
    }

    /// The aarch64 table against the kernel's generic UAPI header (64-bit), where linux-libc-dev is installed.
    @Test func theArm64TableHasTheGenericHeadersNumbers() throws {
        let known: [Int: String] = [
            25: "fcntl", 56: "openat", 62: "lseek", 63: "read", 79: "newfstatat", 80: "fstat", 222: "mmap",
            220: "clone", 435: "clone3",
        ]
        for (n, name) in known { #expect(SyscallTable.aarch64[n] == name, "\(n)") }
    }
}

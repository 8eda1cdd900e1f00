// harden — the runtime's pure parts: probe specs, command lines, /proc/net tables, fanotify records, users,
// the bundle configuration, profile merging and path resolution against an image tree.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRuntime
import HardenSBOM
import HardenSystem
import HardenTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct ProbeSpecTests {
    @Test func httpProbeSpecs() throws {
        let a = try HTTPProbe(parsing: "80")
        #expect(!a.https && a.port == 80 && a.method == "GET" && a.path == "/")
        let b = try HTTPProbe(parsing: "https:8443:post:/api/v1?x=a:b")
        #expect(b.https && b.port == 8443 && b.method == "POST" && b.path == "/api/v1?x=a:b")
        let c = try HTTPProbe(parsing: "http:8080:/health")
        #expect(c.port == 8080 && c.method == "GET" && c.path == "/health")
        for bad in ["", "0", "70000", "http:", "80:G3T:/", "abc"] {
            #expect(throws: HardenError.self, "\(bad)") { try HTTPProbe(parsing: bad) }
        }
    }

    @Test func commandLinesSplitLikeAShellWithoutExpansions() throws {
        #expect(try splitCommandLine("cat /etc/os-release") == ["cat", "/etc/os-release"])
        #expect(try splitCommandLine(#"sh -c 'echo $HOME; ls'  "a b"\ c"#) == ["sh", "-c", "echo $HOME; ls", "a b c"])
        #expect(try splitCommandLine(#"printf "%s\"x""#) == ["printf", #"%s"x"#])
        #expect(throws: HardenError.self) { try splitCommandLine("echo 'unterminated") }
        #expect(throws: HardenError.self) { try splitCommandLine("   ") }
    }

    @Test func listeningSocketsFromProcNet() {
        let tcp = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
               2: 020DD50A:0050 010DD50A:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
            """
        let ports = ListeningSockets.parse(Array(tcp.utf8), protocolName: "tcp")
        #expect(
            ports == [
                RuntimeProfile.Port(protocolName: "tcp", port: 80, address: "0.0.0.0"),
                RuntimeProfile.Port(protocolName: "tcp", port: 8080, address: "127.0.0.1"),
            ])
        let tcp6 = """
              sl  local_address                         remote_address                        st
               0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000
               1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000
            """
        #expect(
            ListeningSockets.parse(Array(tcp6.utf8), protocolName: "tcp6").map(\.address) == ["::", "0:0:0:0:0:0:0:1"])
        let udp = "  sl  local_address rem_address   st\n   5: 00000000:0035 00000000:0000 07 00000000:00000000\n"
        #expect(
            ListeningSockets.parse(Array(udp.utf8), protocolName: "udp") == [
                RuntimeProfile.Port(protocolName: "udp", port: 53, address: "0.0.0.0")
            ])
        // Garbage never crashes.
        var rng = SeededGenerator(for: "listeningSocketsFromProcNet")
        for _ in 0..<2000 {
            let junk = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = ListeningSockets.parse(Array("h\n".utf8) + junk, protocolName: "tcp")
        }
    }
}

struct FanotifyTests {
    static func record(mask: UInt64, fd: Int32, pid: Int32, length: UInt32 = 24, version: UInt8 = 3) -> [UInt8] {
        var b: [UInt8] = []
        withUnsafeBytes(of: length.littleEndian) { b += $0 }
        b += [version, 0]
        withUnsafeBytes(of: UInt16(24).littleEndian) { b += $0 }
        withUnsafeBytes(of: mask.littleEndian) { b += $0 }
        withUnsafeBytes(of: fd.littleEndian) { b += $0 }
        withUnsafeBytes(of: pid.littleEndian) { b += $0 }
        return b
    }

    @Test func eventRecordsDecode() {
        let bytes =
            Self.record(mask: FanotifyEvent.open | FanotifyEvent.access, fd: 7, pid: 42)
            + Self.record(mask: FanotifyEvent.queueOverflow, fd: -1, pid: 0)
        let (events, truncated) = bytes.withUnsafeBytes { FanotifyEvent.parse($0) }
        #expect(!truncated)
        #expect(
            events == [
                FanotifyEvent(mask: 0x21, fd: 7, pid: 42),
                FanotifyEvent(mask: FanotifyEvent.queueOverflow, fd: -1, pid: 0),
            ])
        // A short, oversized or wrong-version record stops the parse and says so.
        for bad in [
            Array(bytes.prefix(30)), Self.record(mask: 1, fd: 1, pid: 1, length: 4000),
            Self.record(mask: 1, fd: 1, pid: 1, version: 2),
        ] {
            let (e, t) = bad.withUnsafeBytes { FanotifyEvent.parse($0) }
            #expect(t && e.count <= 1)
        }
        var rng = SeededGenerator(for: "eventRecordsDecode")
        for _ in 0..<5000 {
            let junk = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = junk.withUnsafeBytes { FanotifyEvent.parse($0) }
        }
    }

    /// A real fanotify queue that overflows must fail the sensor, never lose events silently.
    @Test(.enabled(if: Prerequisites.root, "fanotify needs root")) func queueOverflowIsAnError() throws {
        try #require(getuid() == 0, "fanotify needs root (CAP_SYS_ADMIN)")
        try withTemporaryDirectory { dir in
            let mnt = dir + "/fs"
            try HostFS.makeDirectories(mnt)
            try #require(mount("tmpfs", mnt, "tmpfs", 0, "size=64m") == 0, "mount tmpfs: \(errnoText())")
            defer { try? Mounts.unmount(mnt) }
            let sensor = try FanotifySensor(filesystemOf: mnt, unlimitedQueue: false)
            // Not started: nothing reads while 20,000 distinct files are opened (the default queue holds 16,384).
            for i in 0..<20_000 {
                let fd = open("\(mnt)/f\(i)", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
                if fd >= 0 { close(fd) }
            }
            #expect(throws: HardenError.self) { _ = try sensor.stop() }
            // The same load with the unlimited queue is complete.
            let unlimited = try FanotifySensor(filesystemOf: mnt, unlimitedQueue: true)
            for i in 0..<20_000 {
                let fd = open("\(mnt)/f\(i)", O_RDONLY | O_CLOEXEC)
                if fd >= 0 { close(fd) }
            }
            let log = try unlimited.stop()
            #expect(log.entries.count == 20_000 && !log.overflowed)
        }
    }
}

struct BundleTests {
    @Test func usersResolveAgainstTheImagesOwnFiles() throws {
        let passwd = UserResolver.parsePasswd(
            Array("root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n# c\nbad\n".utf8))
        let groups = UserResolver.parseGroup(Array("root:x:0:\nwww-data:x:33:\nadm:x:4:www-data\n".utf8))
        #expect(
            try UserResolver.resolve(nil, passwd: passwd, groups: groups, image: "i")
                == RuntimeSpec.User(uid: 0, gid: 0))
        #expect(
            try UserResolver.resolve("www-data", passwd: passwd, groups: groups, image: "i")
                == RuntimeSpec.User(uid: 33, gid: 33, additionalGids: [4]))
        #expect(
            try UserResolver.resolve("1000:adm", passwd: passwd, groups: groups, image: "i")
                == RuntimeSpec.User(uid: 1000, gid: 4))
        #expect(throws: HardenError.self) {
            try UserResolver.resolve("nobody", passwd: passwd, groups: groups, image: "i")
        }
        #expect(throws: HardenError.self) {
            try UserResolver.resolve("0:wheel", passwd: passwd, groups: groups, image: "i")
        }
    }

    @Test func bundleLooksLikeDockerRun() throws {
        var config = ContainerConfig()
        config.entrypoint = ["/docker-entrypoint.sh"]
        config.cmd = ["nginx"]
        config.env = ["A=1"]
        config.workingDir = "/srv"
        #expect(try RuntimeSpec.command(of: config, image: "x") == ["/docker-entrypoint.sh", "nginx"])
        #expect(throws: HardenError.self) { try RuntimeSpec.command(of: ContainerConfig(), image: "x") }
        let spec = RuntimeSpec.make(
            config: config, args: ["nginx"], user: .init(uid: 0, gid: 0), hostname: "h", rootfs: "/r",
            networkNamespace: "/var/run/netns/n", etcFiles: ["/etc/hosts": "/x/hosts"])
        #expect(spec.process.terminal == false && spec.process.cwd == "/srv")
        #expect(
            spec.process.env.contains("A=1") && spec.process.env.contains { $0.hasPrefix("PATH=") }
                && spec.process.env.contains("HOSTNAME=h"))
        #expect(Set(spec.process.capabilities?.effective ?? []) == Set(RuntimeSpec.dockerDefaultCapabilities))
        #expect(
            spec.process.capabilities?.effective.contains("CAP_CHOWN") == true
                && spec.process.capabilities?.bounding.contains("CAP_SYS_ADMIN") == false)
        #expect(Set(spec.linux.namespaces.map(\.type)) == ["pid", "mount", "ipc", "uts", "network"])
        #expect(spec.linux.namespaces.first { $0.type == "network" }?.path == "/var/run/netns/n")
        #expect(spec.mounts.contains { $0.destination == "/etc/hosts" && $0.source == "/x/hosts" })
        // A non-root user gets no effective capabilities, as with Docker.
        let user = RuntimeSpec.make(
            config: config, args: ["x"], user: .init(uid: 33, gid: 33), hostname: "h", rootfs: "/r",
            networkNamespace: nil, etcFiles: [:])
        #expect(user.process.capabilities?.effective == [] && user.process.capabilities?.permitted == [])
    }
}

struct ProfileModelTests {
    func tree() throws -> FileTree {
        let t = FileTree()
        t.begin(layer: 0)
        func add(_ p: String, _ type: TarEntryType, link: String = "") throws {
            var e = TarEntry(path: RawPath(p), type: type)
            e.linkTarget = Array(link.utf8)
            e.mode = type == .directory ? 0o755 : 0o644
            try t.add(e, body: nil)
        }
        try add("usr", .directory)
        try add("usr/lib", .directory)
        try add("usr/lib/x86_64-linux-gnu", .directory)
        try add("usr/lib/x86_64-linux-gnu/libz.so.1.2.13", .regular)
        try add("usr/lib/x86_64-linux-gnu/libz.so.1", .symlink, link: "libz.so.1.2.13")
        try add("lib", .symlink, link: "usr/lib")
        try add("etc", .directory)
        try add("etc/localtime", .symlink, link: "/usr/share/zoneinfo/UTC")
        try add("loop", .symlink, link: "loop")
        return t
    }

    @Test func pathsResolveThroughSymlinkedParentsAndLinks() throws {
        let a = ProfileAssembler(tree: try tree())
        #expect(a.resolve("/lib/x86_64-linux-gnu/libz.so.1") == (.file, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"))
        #expect(a.resolve("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13") == (.file, nil))
        #expect(a.resolve("/etc/localtime").type == .missing)
        #expect(a.resolve("/nope").type == .missing)
        #expect(a.resolve("/loop").type == .other)
        #expect(a.isSymlink("/lib/x86_64-linux-gnu/libz.so.1") && !a.isSymlink("/lib/x86_64-linux-gnu/libz.so.1.2.13"))
        var trace = TraceReport()
        trace.paths = [
            .init(path: "/lib/x86_64-linux-gnu/libz.so.1", operations: ["open": 1], failures: [:], firstProcess: "app"),
            .init(path: "/etc/ld.so.preload", operations: [:], failures: ["ENOENT": 2], firstProcess: "app"),
            .init(path: "/proc/self/maps", operations: ["open": 1], failures: [:], firstProcess: "app"),
            // qemu-user's own look-ups under emulation: not the application's.
            .init(path: "/etc/qemu-binfmt/aarch64", operations: [:], failures: ["ENOENT": 1], firstProcess: "app"),
            .init(
                path: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", operations: ["exec": 1], failures: [:],
                firstProcess: "app"),
        ]
        let files = a.files(fanotify: nil, traces: [trace])
        #expect(
            files.map(\.path) == [
                "/etc/ld.so.preload", "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
            ])
        #expect(files[0].type == .missing && files[0].failures == ["ENOENT": 2])
        #expect(files[1].type == .symlink && files[1].target == "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13")
    }

    func profile(config: String, files: [String], syscalls: [String: Int]) -> RuntimeProfile {
        RuntimeProfile(
            image: .init(reference: "r", configDigest: config, manifestDigest: "m", platform: "linux/amd64"),
            runs: [
                .init(
                    startedAt: "t", durationSeconds: 1, sensors: ["ptrace"], command: ["x"], user: "root", probes: [],
                    exitCode: nil,
                    fanotifyEvents: nil, tracedProcesses: 1)
            ],
            files: files.map {
                .init(
                    path: $0, operations: ["open"], count: 1, firstProcess: "x", type: .file, target: nil, failures: nil
                )
            },
            executables: [], ports: [], uids: [0], gids: [0],
            syscalls: syscalls.map { .init(name: $0.key, count: $0.value) }.sorted { $0.name < $1.name },
            packages: [], summary: .init(files: 0, missingFiles: 0, executables: 0, packagesUsed: 0, packagesUnused: 0))
    }

    @Test func mergeUnitesRunsOfOneImageOnly() throws {
        let a = profile(config: "sha256:a", files: ["/bin/x", "/etc/a"], syscalls: ["read": 2, "write": 1])
        let b = profile(config: "sha256:a", files: ["/etc/a", "/etc/b"], syscalls: ["read": 3, "openat": 1])
        let json =
            #"{"id":"deb:b@1","type":"deb","name":"b","version":"1","licenses":[],"purl":"pkg:deb/debian/b@1","locations":[],"files":["/etc/b"],"foundBy":"dpkg"}"#
        let pkg: SoftwarePackage = try JSONCoding.decode(Array(json.utf8), source: "test", what: "package")
        let m = try RuntimeProfile.merge([a, b], packages: [pkg])
        #expect(m.runs.count == 2)
        #expect(m.files.map(\.path) == ["/bin/x", "/etc/a", "/etc/b"])
        #expect(m.files.first { $0.path == "/etc/a" }?.count == 2)
        #expect(m.syscalls.map { "\($0.name)=\($0.count)" } == ["openat=1", "read=5", "write=1"])
        #expect(m.packages.first?.used == true && m.summary.packagesUsed == 1)
        #expect(throws: HardenError.self) {
            try RuntimeProfile.merge([a, profile(config: "sha256:b", files: [], syscalls: [:])], packages: nil)
        }
    }
}

/// A container's init gets the stop signal only when it has a handler: read from /proc/PID/status.
struct StopSignalTests {
    @Test func namesAndMasks() {
        #expect(
            StopSignal.number("TERM") == 15 && StopSignal.number("SIGQUIT") == 3 && StopSignal.number("sigint") == 2
                && StopSignal.number("9") == 9)
        #expect(StopSignal.number("RTMIN+3") == nil && StopSignal.number("0") == nil && StopSignal.number("") == nil)
        let status = "Name:\tnginx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001000\nSigCgt:\t0000000018010a07\n"
        #expect(StopSignal.isCaught("TERM", status: status) == false)  // bit 14 is clear in 0x18010a07
        #expect(StopSignal.isCaught("QUIT", status: status) == true)  // bit 2
        #expect(StopSignal.isCaught("HUP", status: status) == true)
        #expect(StopSignal.isCaught("TERM", status: "Name:\tx\n") == nil)
        #expect(StopSignal.isCaught("RTMIN", status: status) == nil)
    }

    @Test func liveProcesses() async throws {
        try await withTemporaryDirectory { dir in
            let plain = try ChildProcess.spawn(["sleep", "200"])
            let handler = try ChildProcess.spawn(
                [
                    "python3", "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, lambda *a: None); print('ready', flush=True); time.sleep(200)",
                ],
                stdout: .file(dir + "/ready"))
            defer {
                plain.signal(SIGKILL)
                handler.signal(SIGKILL)
            }
            let deadline = MonotonicClock.now + 120  // a loaded machine can be slow to start python
            while (try? HostFS.readFile(dir + "/ready"))?.isEmpty ?? true, MonotonicClock.now < deadline {
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            try #require(
                !((try? HostFS.readFile(dir + "/ready"))?.isEmpty ?? true), "python never installed its handler")
            #expect(!StopSignal.isCaught("TERM", pid: plain.pid))
            #expect(StopSignal.isCaught("TERM", pid: handler.pid))
            #expect(!StopSignal.isCaught("USR2", pid: handler.pid))
            #expect(StopSignal.isCaught("TERM", pid: 0x7fff_fff0), "a process that cannot be read: wait as usual")
        }
    }
}

/// One check for "this profile is of another image", used by scan, check, profile --merge and minify.
@Suite struct ProfileImageCheckTests {
    @Test func aProfileOfAnotherImageIsRefusedInOneLine() throws {
        let a = "sha256:" + String(repeating: "a", count: 64), b = "sha256:" + String(repeating: "b", count: 64)
        let id = RuntimeProfile.ImageIdentity(
            reference: "nginx", configDigest: a, manifestDigest: "", platform: "linux/amd64")
        try id.require(a, reference: "nginx")
        try id.require(b, reference: "min", alsoAccepted: a)
        let named = #expect(throws: HardenError.self) { try id.require(b, reference: "other", file: "p.json") }
        #expect(named?.message.hasPrefix("p.json: a profile of image \(a) (nginx), not of other (\(b))") == true)
        let unnamed = #expect(throws: HardenError.self) { try id.require("", reference: "sbom.json") }
        #expect(
            unnamed?.message.hasPrefix("the profile is of image \(a)") == true
                && unnamed?.message.contains("no image ID") == true)
    }
}

/// `--profile-platform`: a profile of one platform mapped onto another platform's image.
struct ProfileMappingTests {
    @Test func pathsMapThroughTheTripletAndTheLoader() {
        #expect(
            ProfileMapping.candidates("/usr/lib/x86_64-linux-gnu/libz.so.1", from: "amd64", to: "arm64")
                == ["/usr/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1"])
        #expect(
            ProfileMapping.candidates("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", from: "amd64", to: "arm64")
                .first == "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
        #expect(
            ProfileMapping.candidates("/lib64/ld-linux-x86-64.so.2", from: "amd64", to: "arm64")
                == ["/lib/ld-linux-aarch64.so.1", "/lib64/ld-linux-x86-64.so.2"])
        #expect(
            ProfileMapping.candidates("/etc/nginx/nginx.conf", from: "amd64", to: "arm64") == ["/etc/nginx/nginx.conf"])
        #expect(ProfileMapping.candidates("/a", from: "arm64", to: "arm64") == ["/a"])
    }

    func package(_ name: String, _ version: String, files: [String]) throws -> SoftwarePackage {
        let json =
            #"{"id":"deb:\#(name)@\#(version)","type":"deb","name":"\#(name)","version":"\#(version)","licenses":[],"purl":"pkg:deb/debian/\#(name)@\#(version)","locations":[],"files":\#(String(decoding: try JSONCoding.encode(files), as: UTF8.self)),"foundBy":"dpkg"}"#
        return try JSONCoding.decode(Array(json.utf8), source: "test", what: "package")
    }

    @Test func aProfileMapsOntoTheOtherPlatformsFilesWhenItsUsedPackagesAreTheSameVersions() throws {
        try withTemporaryDirectory { dir in
            let layer = try Fixtures.layer([
                .dir("usr"), .dir("usr/lib"), .dir("usr/lib/aarch64-linux-gnu"), .dir("etc"),
                .file("usr/lib/aarch64-linux-gnu/libz.so.1.2.13", "elf"), .file("etc/app.conf", "x"),
            ])
            try Fixtures.ociLayout(
                at: dir, images: [(tag: nil, layers: [layer], config: nil)],
                platform: Platform(os: "linux", architecture: "arm64"))
            let target = try ImageLoader.open(
                .ociLayout(path: dir, tag: nil),
                options: .init(platform: Platform(os: "linux", architecture: "arm64"), platformExplicit: true))
            try mapping(target, tree: try FileTree.build(from: target))
        }
    }

    func mapping(_ target: Image, tree t: FileTree) throws {
        let source = ProfileModelTests().profile(
            config: "sha256:src",
            files: ["/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", "/etc/app.conf", "/usr/lib/x86_64-linux-gnu/gone.so"],
            syscalls: ["read": 1])
        var used = source
        used.packages = RuntimeProfile.packageUse(
            [try package("zlib1g", "1.2.13", files: ["/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"])],
            paths: Set(source.files.map(\.path)))
        let arm = [try package("zlib1g", "1.2.13", files: ["/usr/lib/aarch64-linux-gnu/libz.so.1.2.13"])]
        let m = ProfileMapping.map(used, onto: target, reference: "r", tree: t, packages: arm)
        let p = try #require(m.profile)
        #expect(p.files.map(\.path) == ["/etc/app.conf", "/usr/lib/aarch64-linux-gnu/libz.so.1.2.13"])
        #expect(m.dropped == 1)
        #expect(p.image.platform == "linux/arm64" && p.mappedFrom?.configDigest == "sha256:src")
        #expect(p.packages.first?.used == true)

        // Another version of a used package: not mapped, and the reason names it.
        let other = [try package("zlib1g", "1.3", files: ["/usr/lib/aarch64-linux-gnu/libz.so.1.2.13"])]
        let n = ProfileMapping.map(used, onto: target, reference: "r", tree: t, packages: other)
        #expect(n.profile == nil && n.differences == ["zlib1g 1.2.13 → 1.3"])
    }
}

// harden — one container run under runc: pristine rootfs (cached), overlay, network namespace, bundle,
// sensors, probes, and cleanup of everything on every exit path.
import CHardenSystem
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What to run and how to exercise it.
public struct RunOptions: Sendable {
    public var httpProbes: [HTTPProbe] = []
    public var execProbes: [String] = []
    public var probeScripts: [String] = []
    /// Keep the container running at least this many seconds from its start (default: until the probes end; 5 s without probes).
    public var duration: Double?
    public var sensors: Set<Sensor> = [.fanotify, .ptrace]
    /// How long to wait for a port to open / a command or script to finish.
    public var probeTimeout: Double = 60
    /// A seccomp profile for the container (verification runs); profiling runs use `Seccomp.dockerDefault`.
    public var seccomp: RuntimeSpec.Seccomp?
    /// The container's pids and memory limits.
    public var limits = SandboxLimits()
    /// What the container may connect to.
    public var network = NetworkMode.isolated
    /// The user to run as instead of the image's (uid[:gid]).
    public var user: String?
    /// The program that runs the ptrace sensor (`harden internal-trace`); default /proc/self/exe.
    public var tracerExecutable: String = "/proc/self/exe"
    public var runDirectory: String = RunOptions.defaultRunDirectory()
    public var cacheDirectory: String = RunOptions.defaultCacheDirectory()

    public init() {}

    /// `$HARDEN_RUN_DIR`, else /run/harden.
    public static func defaultRunDirectory() -> String {
        if let d = getenv("HARDEN_RUN_DIR"), d.pointee != 0 { return String(cString: d) }
        return "/run/harden"
    }
    /// Unpacked images: `$HARDEN_CACHE_DIR/rootfs`, else `$XDG_CACHE_HOME/harden/rootfs`, else ~/.cache/harden/rootfs.
    public static func defaultCacheDirectory() -> String {
        if let d = getenv("HARDEN_CACHE_DIR"), d.pointee != 0 { return String(cString: d) + "/rootfs" }
        if let x = getenv("XDG_CACHE_HOME"), x.pointee != 0 { return String(cString: x) + "/harden/rootfs" }
        return (getenv("HOME").map { String(cString: $0) } ?? "/tmp") + "/.cache/harden/rootfs"
    }
}

/// Runs an image under runc with the chosen sensors while the probes exercise it.
public final class ContainerRunner: Sendable {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    // MARK: Rootfs cache

    /// The image unpacked once per layer chain (the DiffIDs; images that differ only in their config share it)
    /// under the cache directory, reused by later runs (the overlay keeps it pristine). Extraction goes to a
    /// temporary sibling and is renamed into place.
    public func pristineRootfs(_ image: Image, options: RunOptions) throws -> String {
        let chain = Digest.sha256(of: Array(image.layers.map(\.diffID.description).joined(separator: "\n").utf8))
        let dir = "\(options.cacheDirectory)/\(chain.encoded)"
        if HostFS.isDirectory(dir + "/rootfs"), HostFS.exists(dir + "/complete") { return dir + "/rootfs" }
        try HostFS.makeDirectories(dir, mode: 0o700)
        // Concurrent runs of the same image: one unpacks, the others wait for it (an exclusive lock), and a
        // finished unpack is never removed (another run may be using it as its overlay's lower layer).
        let lock = try FileDescriptor.create(dir + "/.lock", mode: 0o600)
        while flock(lock.raw, LOCK_EX) != 0 {
            guard errno == EINTR else { throw HardenError(.io, "\(dir): cannot lock the unpack cache: \(errnoText())") }
        }
        defer { _ = flock(lock.raw, LOCK_UN) }
        if HostFS.isDirectory(dir + "/rootfs"), HostFS.exists(dir + "/complete") { return dir + "/rootfs" }
        if HostFS.exists(dir + "/rootfs") { try HostFS.removeTree(dir + "/rootfs") }  // a partial unpack (no "complete")
        logger.info("Unpacking the image for running", metadata: ["path": "\(dir)/rootfs"])
        _ = try RootfsExtractor.extract(image, tree: try FileTree.build(from: image), to: dir + "/rootfs")
        try HostFS.writeFileAtomically(dir + "/complete", [])
        return dir + "/rootfs"
    }

    // MARK: Stale runs

    /// Removes what runs killed with SIGKILL left behind (their owner process is gone).
    public func sweepStale(options: RunOptions) {
        guard let names = try? HostFS.listDirectory(options.runDirectory) else { return }
        for name in names where name.hasPrefix("harden-") {
            let dir = "\(options.runDirectory)/\(name)"
            if let b = try? HostFS.readFile(dir + "/owner.pid", limit: 64), let pid = Int32(String(decoding: b, as: UTF8.self)),
                kill(pid, 0) == 0
            {
                continue
            }
            logger.notice("Removing a stale run", metadata: ["run": "\(name)"])
            let id = String(name.dropFirst(7))
            ChildProcess.runQuietly(["runc", "--root", "\(options.runDirectory)/runc", "delete", "--force", name])
            ContainerNetwork.remove(
                name: ContainerNetwork.namespaceName(id: id, runDirectory: options.runDirectory), hostInterface: "hd\(id.prefix(10))h")
            try? Mounts.unmount(dir + "/rootfs")
            try? HostFS.removeTree(dir)
        }
    }

    // MARK: The run

    /// Runs the image's process (or `command`) with the probes. Cleans up before returning or throwing.
    /// - Parameter users: the image's /etc/passwd and /etc/group, to resolve its USER.
    public func run(
        _ image: Image, users: (passwd: [UInt8]?, group: [UInt8]?), reference: String, options: RunOptions,
        command: [String]? = nil
    ) async throws -> RunObservation {
        guard getuid() == 0 else {
            throw HardenError(.unsupported, "running a container needs root (runc, overlayfs and network namespaces); run harden as root")
        }
        guard ChildProcess.which("runc") != nil else {
            throw HardenError(.notFound, "runc: not found in PATH (scripts/setup.sh installs it)")
        }
        let args = try command ?? RuntimeSpec.command(of: image.config.config, image: reference)
        let passwd = UserResolver.parsePasswd(users.passwd ?? [])
        let groups = UserResolver.parseGroup(users.group ?? [])
        let userSpec = options.user ?? image.config.config?.user
        let user = try UserResolver.resolve(userSpec, passwd: passwd, groups: groups, image: reference)

        try HostFS.makeDirectories(options.runDirectory, mode: 0o711)
        sweepStale(options: options)
        let lower = try pristineRootfs(image, options: options)

        let cleanup = CleanupStack()
        let signals = SignalCleanup(cleanup)
        defer { signals.remove() }
        do {
            let result = try await runInside(
                image: image, reference: reference, args: args, user: user, userSpec: userSpec,
                lower: lower, options: options, cleanup: cleanup)
            cleanup.runAll()
            return result
        } catch {
            cleanup.runAll()
            throw error
        }
    }

    private func runInside(
        image: Image, reference: String, args: [String], user: RuntimeSpec.User, userSpec: String?,
        lower: String, options: RunOptions, cleanup: CleanupStack
    ) async throws -> RunObservation {
        let started = MonotonicClock.now
        let startedAt = Self.timestamp()
        let id = Self.randomID()
        let name = "harden-\(id)"
        let dir = "\(options.runDirectory)/\(name)"
        let runcRoot = "\(options.runDirectory)/runc"
        try HostFS.makeDirectories(dir, mode: 0o700)
        cleanup.push("remove \(dir)") { try? HostFS.removeTree(dir) }
        try HostFS.writeFileAtomically(dir + "/owner.pid", Array("\(getpid())".utf8))
        for sub in ["upper", "work", "rootfs", "bundle"] { try HostFS.makeDirectories("\(dir)/\(sub)", mode: 0o755) }

        // Overlay: the pristine unpack below, this run's writes above.
        try Mounts.mountOverlay(lower: lower, upper: dir + "/upper", work: dir + "/work", target: dir + "/rootfs")
        cleanup.push("unmount \(dir)/rootfs") { try? Mounts.unmount(dir + "/rootfs") }

        let network = try await ContainerNetwork.create(id: id, runDirectory: options.runDirectory, mode: options.network)
        cleanup.push("remove network \(network.name)") { network.remove() }

        let hostname = String(id.prefix(12))
        try HostFS.writeFileAtomically(
            dir + "/hosts",
            Array(
                """
                127.0.0.1\tlocalhost
                ::1\tlocalhost ip6-localhost ip6-loopback
                \(network.containerAddress)\t\(hostname)

                """.utf8))
        let resolv = (try? HostFS.readFile("/etc/resolv.conf", limit: 1 << 16)) ?? Array("nameserver 127.0.0.1\n".utf8)
        try HostFS.writeFileAtomically(dir + "/resolv.conf", resolv)
        try HostFS.writeFileAtomically(dir + "/hostname", Array("\(hostname)\n".utf8))
        let spec = RuntimeSpec.make(
            config: image.config.config, args: args, user: user, hostname: hostname, rootfs: dir + "/rootfs",
            networkNamespace: network.namespacePath,
            etcFiles: ["/etc/hosts": dir + "/hosts", "/etc/resolv.conf": dir + "/resolv.conf", "/etc/hostname": dir + "/hostname"],
            seccomp: options.seccomp ?? .dockerDefault, limits: options.limits)
        try HostFS.writeFileAtomically(dir + "/bundle/config.json", try JSONCoding.encode(spec))

        // Sensors that must see the start: fanotify before the container exists.
        let fanotify = options.sensors.contains(.fanotify) ? try FanotifySensor(filesystemOf: dir + "/rootfs") : nil
        fanotify?.start()
        let fanotifyToken = cleanup.push("stop fanotify") { _ = try? fanotify?.stop() }

        // runc create: the init process waits on its exec fifo until `runc start`.
        _ = harden_set_child_subreaper()
        let runc = ["runc", "--root", runcRoot]
        let log = dir + "/container.log"
        let create = try ChildProcess.spawn(
            runc + ["create", "--bundle", dir + "/bundle", "--pid-file", dir + "/init.pid", name],
            stdout: .append(log), stderr: .append(log))
        cleanup.push("delete container \(name)") {
            ChildProcess.runQuietly(runc + ["kill", name, "KILL"])
            ChildProcess.runQuietly(runc + ["delete", "--force", name])
        }
        guard let created = await create.wait(timeout: 60), created.succeeded else {
            create.signal(SIGKILL)
            throw HardenError(.io, "runc create failed for \(reference): \(Self.tail(log, lines: 3))")
        }
        guard let pidBytes = try? HostFS.readFile(dir + "/init.pid", limit: 64),
            let initPid = Int32(String(decoding: pidBytes, as: UTF8.self).trimming(" \n"))
        else {
            throw HardenError(.io, "runc did not write the container's pid")
        }
        let exitState = ExitWatcher(pid: initPid)

        var tracer: ChildProcess?
        if options.sensors.contains(.ptrace) {
            let out = dir + "/trace-init.json"
            let t = try ChildProcess.spawn(
                [options.tracerExecutable, "internal-trace", "--attach", "\(initPid)", "--strip-prefix", dir + "/rootfs", "--out", out],
                stdout: .file(dir + "/tracer.ready"), stderr: .append(dir + "/tracer.log"))
            tracer = t
            cleanup.push("stop tracer") {
                t.signal(SIGKILL); _ = t.waitBlocking()
            }
            try await waitReady(t, file: dir + "/tracer.ready", log: dir + "/tracer.log")
        }

        let start = try await ChildProcess.run(runc + ["start", name], timeout: 60)
        guard start.status.succeeded else {
            throw HardenError(.io, "runc start failed for \(reference): \(start.output.split(separator: "\n").last ?? "")")
        }
        let running = MonotonicClock.now
        logger.info("Container started", metadata: ["container": "\(name)", "pid": "\(initPid)", "address": "\(network.containerAddress)"])

        // Probes.
        var probes: [RuntimeProfile.ProbeResult] = []
        var ports = Set<RuntimeProfile.Port>()
        var execTraces: [TraceReport] = []
        let alive: @Sendable () -> Bool = { exitState.status() == nil }
        if !options.httpProbes.isEmpty {
            let prober = HTTPProber()
            for p in options.httpProbes {
                let r = await prober.probe(p, host: network.containerAddress, waitSeconds: options.probeTimeout, alive: alive)
                logger.info(
                    "HTTP probe", metadata: ["probe": "\(p.spec)", "ok": "\(r.ok)", "status": "\(r.status.map(String.init) ?? "-")"])
                probes.append(r)
                ports.formUnion(ListeningSockets.of(pid: initPid))
            }
            await prober.shutdown()
        }
        for (i, commandLine) in options.execProbes.enumerated() {
            let (result, trace) = try await execProbe(
                commandLine, index: i, spec: spec, runc: runc, name: name, dir: dir, initPid: initPid, options: options, alive: alive)
            probes.append(result)
            if let trace { execTraces.append(trace) }
            ports.formUnion(ListeningSockets.of(pid: initPid))
        }
        for script in options.probeScripts {
            let targetPorts = Set(options.httpProbes.map(\.port) + ports.map(\.port) + Self.exposedPorts(image)).sorted()
            probes.append(await scriptProbe(script, address: network.containerAddress, ports: targetPorts, name: name, options: options))
            ports.formUnion(ListeningSockets.of(pid: initPid))
        }
        let anyProbe = !(options.httpProbes.isEmpty && options.execProbes.isEmpty && options.probeScripts.isEmpty)
        let wanted = options.duration ?? (anyProbe ? 0 : 5)
        while MonotonicClock.now - running < wanted, alive() {  // --duration counts from the container's start
            ports.formUnion(ListeningSockets.of(pid: initPid))
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        ports.formUnion(ListeningSockets.of(pid: initPid))
        let ended = exitState.status()
        if anyProbe, let ended, probes.contains(where: { !$0.ok }) {
            throw HardenError(
                .io,
                "\(reference): the container exited (\(ended)) before the probes completed; its last output: \(Self.tail(log, lines: 3))")
        }

        // Stop: TERM (the image's stop signal), then KILL; the tracer ends when its tracees do.
        let stopSignal = image.config.config?.stopSignal ?? "TERM"
        if ended == nil {
            if StopSignal.isCaught(stopSignal, pid: initPid) {
                ChildProcess.runQuietly(runc + ["kill", name, stopSignal])
                let deadline = MonotonicClock.now + 5
                while exitState.status() == nil, MonotonicClock.now < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
            } else {
                logger.debug(
                    "the container's init has no handler for its stop signal; the kernel would drop it: stopping with KILL",
                    metadata: ["signal": "\(stopSignal)"])
            }
            if exitState.status() == nil { ChildProcess.runQuietly(runc + ["kill", "--all", name, "KILL"]) }
            let hard = MonotonicClock.now + 5
            while exitState.status() == nil, MonotonicClock.now < hard { try? await Task.sleep(nanoseconds: 20_000_000) }
        }
        var traces: [TraceReport] = []
        if let tracer {
            if await tracer.wait(timeout: 10) == nil { tracer.signal(SIGTERM); _ = await tracer.wait(timeout: 5) }
            if let b = try? HostFS.readFile(dir + "/trace-init.json", limit: 1 << 30) {
                traces.append(try JSONCoding.decode(b, source: dir, what: "ptrace sensor report") as TraceReport)
            } else {
                throw HardenError(.io, "the ptrace sensor ended without a report: \(Self.tail(dir + "/tracer.log", lines: 2))")
            }
        }
        traces += execTraces
        cleanup.run(fanotifyToken)
        let accessLog = try fanotify?.stop()
        let logText = Self.tail(log, bytes: 16 << 10)
        let run = RuntimeProfile.Run(
            startedAt: startedAt, durationSeconds: ((MonotonicClock.now - started) * 100).rounded() / 100,
            sensors: Sensor.allCases.filter { options.sensors.contains($0) }.map(\.rawValue), command: args,
            user: userSpec.flatMap { $0.isEmpty ? nil : $0 } ?? "root", probes: probes,
            exitCode: ended.map { $0.code }, fanotifyEvents: accessLog?.events,
            tracedProcesses: traces.isEmpty ? nil : traces.reduce(0) { $0 + $1.processes + 1 },
            network: options.network.rawValue)
        if !anyProbe, let ended, !ended.succeeded {
            throw HardenError(
                .io,
                "\(reference): the container exited with \(ended) after \(Int(MonotonicClock.now - running)) s; its last output: \(Self.tail(log, lines: 3))"
            )
        }
        return RunObservation(run: run, fanotify: accessLog, traces: traces, ports: ports.sorted(), log: logText)
    }

    // MARK: Probes run inside or beside the container

    private func execProbe(
        _ commandLine: String, index: Int, spec: RuntimeSpec, runc: [String], name: String, dir: String,
        initPid: Int32, options: RunOptions, alive: @Sendable () -> Bool
    ) async throws -> (RuntimeProfile.ProbeResult, TraceReport?) {
        let argv = try splitCommandLine(commandLine)
        guard alive() else {
            return (RuntimeProfile.ProbeResult(kind: .exec, spec: commandLine, ok: false, error: "the container is not running"), nil)
        }
        var process = spec.process
        process.args = argv
        let processFile = "\(dir)/exec-\(index).json"
        try HostFS.writeFileAtomically(processFile, try JSONCoding.encode(process))
        let execArgv = runc + ["exec", "--process", processFile, name]
        let outFile = "\(dir)/exec-\(index).out"
        let start = MonotonicClock.now
        var status: ExitStatus?
        var trace: TraceReport?
        if options.sensors.contains(.ptrace) {
            let traceFile = "\(dir)/trace-exec-\(index).json"
            let mnt = Tracer.mountNamespace(of: initPid).map(String.init) ?? "0"
            let t = try ChildProcess.spawn(
                [
                    options.tracerExecutable, "internal-trace", "--spawn", "--mount-namespace", mnt, "--strip-prefix", dir + "/rootfs",
                    "--out", traceFile, "--",
                ] + execArgv,
                stdout: .file(outFile), stderr: .append(outFile))
            guard await t.wait(timeout: options.probeTimeout) != nil else {
                t.signal(SIGTERM); _ = await t.wait(timeout: 5); t.signal(SIGKILL); _ = t.waitBlocking()
                return (
                    RuntimeProfile.ProbeResult(
                        kind: .exec, spec: commandLine, ok: false, error: "did not finish within \(Int(options.probeTimeout)) s"), nil
                )
            }
            if let b = try? HostFS.readFile(traceFile, limit: 1 << 30) {
                trace = try JSONCoding.decode(b, source: dir, what: "ptrace sensor report") as TraceReport
                status = trace?.exitCode.map { .exited($0) }
            }
        } else {
            let c = try ChildProcess.spawn(execArgv, stdout: .file(outFile), stderr: .append(outFile))
            status = await c.wait(timeout: options.probeTimeout)
            if status == nil { c.signal(SIGKILL); _ = c.waitBlocking() }
        }
        let output = Self.tail(outFile, bytes: 4096)
        let code = status?.code
        logger.info("Exec probe", metadata: ["probe": "\(commandLine)", "exit": "\(code.map(String.init) ?? "-")"])
        return (
            RuntimeProfile.ProbeResult(
                kind: .exec, spec: commandLine, ok: code == 0, status: code.map(Int.init),
                latencyMs: ((MonotonicClock.now - start) * 10000).rounded() / 10,
                bytes: nil, attempts: 1, error: code == 0 ? nil : (code.map { "exit status \($0)" } ?? "did not finish"), output: output),
            trace
        )
    }

    private func scriptProbe(
        _ script: String, address: String, ports: [Int], name: String, options: RunOptions
    ) async -> RuntimeProfile.ProbeResult {
        var env = ChildProcess.currentEnvironment()
        env["HARDEN_TARGET_HOST"] = address
        env["HARDEN_TARGET_PORTS"] = ports.map(String.init).joined(separator: ",")
        env["HARDEN_CONTAINER_ID"] = name
        let argv = access(script, X_OK) == 0 ? [HostFS.absolute(script)] : ["/bin/sh", script]
        let start = MonotonicClock.now
        do {
            let (status, output) = try await ChildProcess.run(argv, environment: env, timeout: options.probeTimeout)
            logger.info("Probe script", metadata: ["script": "\(script)", "status": "\(status)"])
            return RuntimeProfile.ProbeResult(
                kind: .script, spec: script, ok: status.succeeded, status: Int(status.code),
                latencyMs: ((MonotonicClock.now - start) * 10000).rounded() / 10, attempts: 1,
                error: status.succeeded ? nil : "\(status)", output: String(output.suffix(4096)))
        } catch {
            return RuntimeProfile.ProbeResult(kind: .script, spec: script, ok: false, attempts: 1, error: "\(error)")
        }
    }

    private func waitReady(_ tracer: ChildProcess, file: String, log: String) async throws {
        let deadline = MonotonicClock.now + 30
        while MonotonicClock.now < deadline {
            if let b = try? HostFS.readFile(file, limit: 64), b.starts(with: Array("ready".utf8)) { return }
            if let s = tracer.poll() {
                throw HardenError(.io, "the ptrace sensor could not attach (\(s)): \(Self.tail(log, lines: 2))")
            }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        throw HardenError(.io, "the ptrace sensor did not attach within 30 s")
    }

    // MARK: Helpers

    static func exposedPorts(_ image: Image) -> [Int] {
        (image.config.config?.exposedPorts ?? [:]).keys.compactMap { Int($0.split(separator: "/").first ?? "") }
    }

    static func randomID() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<6).map { _ in String(format2: UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    static func timestamp() -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 32)
        strftime(&buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tmv)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func tail(_ path: String, bytes: Int) -> String {
        guard let b = try? HostFS.readFile(path, limit: 64 << 20) else { return "" }
        return String(decoding: b.suffix(bytes), as: UTF8.self)
    }

    static func tail(_ path: String, lines: Int) -> String {
        let t = tail(path, bytes: 4096).split(separator: "\n").suffix(lines).joined(separator: " | ")
        return t.isEmpty ? "(no output)" : t
    }
}

extension String {
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}

/// Collects the exit status of the container's init (our child once `runc create` exits, thanks to the
/// subreaper flag); falls back to /proc when it is not our child.
final class ExitWatcher: Sendable {
    let pid: Int32
    private let finished = Mutex<ExitStatus?>(nil)
    init(pid: Int32) { self.pid = pid }

    func status() -> ExitStatus? {
        finished.withLock { f in
            if let f { return f }
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { f = ExitStatus(waitStatus: st); return f }
            if r < 0 && errno == ECHILD {
                // Not our child: alive while /proc/PID exists and is not a zombie.
                guard let b = try? HostFS.readFile("/proc/\(pid)/stat", limit: 4096) else { f = .exited(-1); return f }
                let s = String(decoding: b, as: UTF8.self)
                if let close = s.lastIndex(of: ")"), s[s.index(close, offsetBy: 2)...].hasPrefix("Z") { f = .exited(-1); return f }
            }
            return nil
        }
    }
}

/// The stop signal and the container's init. The kernel delivers a signal sent from outside a PID namespace to
/// that namespace's init only when init has a handler for it (SIGKILL aside): a Python or shell PID 1 without one
/// would ignore TERM, and waiting for it to stop would only add the timeout to every run.
public enum StopSignal {
    static let numbers: [String: Int] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11,
        "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
        "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
    ]

    /// `TERM`, `SIGTERM`, `sigterm` or `15` → 15; nil for anything else (real-time signals included).
    public static func number(_ name: String) -> Int? {
        if let n = Int(name) { return (1...64).contains(n) ? n : nil }
        var upper = name.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        return numbers[upper]
    }

    /// Whether the `SigCgt:` mask of a `/proc/PID/status` text has a handler for `signal`; nil when it cannot tell.
    public static func isCaught(_ signal: String, status: String) -> Bool? {
        guard let n = number(signal) else { return nil }
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
            let mask = UInt64(line.dropFirst(7).trimming(" \t"), radix: 16)
        else { return nil }
        return mask & (1 << UInt64(n - 1)) != 0
    }

    /// Whether process `pid` has a handler for `signal` now; true when it cannot tell (then the caller waits as usual).
    public static func isCaught(_ signal: String, pid: Int32) -> Bool {
        guard let bytes = try? HostFS.readFile("/proc/\(pid)/status", limit: 1 << 16) else { return true }
        return isCaught(signal, status: String(decoding: bytes, as: UTF8.self)) ?? true
    }
}

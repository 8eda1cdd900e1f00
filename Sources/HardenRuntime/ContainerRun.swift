// harden — one container run under runc: pristine rootfs (cached), overlay, network namespace, bundle,
// sensors, probes, and cleanup of everything on every exit path.
import CHardenSystem
import Dispatch
import HardenCore
import HardenOCI
import HardenProfile
import HardenSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
        // A partial unpack (no "complete").
        if HostFS.exists(dir + "/rootfs") { try HostFS.removeTree(dir + "/rootfs") }
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
            if let b = try? HostFS.readFile(dir + "/owner.pid", limit: 64),
                let pid = Int32(String(decoding: b, as: UTF8.self)),
                kill(pid, 0) == 0
            {
                continue
            }
            logger.notice("Removing a stale run", metadata: ["run": "\(name)"])
            let id = String(name.dropFirst(7))
            // The target (NAME) and its services (NAME-sN).
            let runc = ["runc", "--root", "\(options.runDirectory)/runc"]
            let services = (try? HostFS.listDirectory(dir + "/services")) ?? []
            for container in [name] + services.map({ "\(name)-s\($0)" }) {
                ChildProcess.runQuietly(runc + ["kill", container, "KILL"])
                ChildProcess.runQuietly(runc + ["delete", "--force", container])
            }
            ContainerNetwork.remove(
                name: ContainerNetwork.namespaceName(id: id, runDirectory: options.runDirectory),
                hostInterface: ContainerNetwork.interfaceName(id: id, runDirectory: options.runDirectory))
            for m in Mounts.mounts(under: dir + "/").sorted(by: { $0.count > $1.count }) { try? Mounts.unmount(m) }
            guard Mounts.mounts(under: dir + "/").isEmpty else {
                logger.warning("A stale run's file systems are still mounted; leaving it", metadata: ["run": "\(dir)"])
                continue
            }
            try? HostFS.removeTree(dir)
        }
    }

    // MARK: The run

    /// Runs the image's process (or `command`) with the probes, after the services it needs. Cleans up before
    /// returning or throwing.
    /// - Parameter users: the image's /etc/passwd and /etc/group, to resolve its USER.
    public func run(
        _ image: Image, users: (passwd: [UInt8]?, group: [UInt8]?), reference: String, options: RunOptions,
        command: [String]? = nil
    ) async throws -> RunObservation {
        guard getuid() == 0 else {
            throw HardenError(
                .unsupported,
                "running a container needs root (runc, overlayfs and network namespaces); run harden as root")
        }
        guard ChildProcess.which("runc") != nil else {
            throw HardenError(.notFound, "runc: not found in PATH (scripts/setup.sh installs it)")
        }
        let redactor = Redactor(secrets: options.secretValues)
        do {
            let args = try command ?? options.settings.command(of: image.config.config, image: reference)
            let userSpec = options.settings.user ?? image.config.config?.user
            let user = try UserResolver.resolve(
                userSpec, passwd: UserResolver.parsePasswd(users.passwd ?? []),
                groups: UserResolver.parseGroup(users.group ?? []),
                image: reference)

            for (name, platform) in [(reference, image.config.platform)]
                + options.services.map({
                    ($0.reference, $0.image.config.platform)
                })
            {
                if case .emulated(let handler, _) = try Emulation.check(platform) {
                    logger.info("running under emulation", metadata: ["image": "\(name)", "handler": "\(handler)"])
                }
            }
            try HostFS.makeDirectories(options.runDirectory, mode: 0o711)
            sweepStale(options: options)
            let lower = try pristineRootfs(image, options: options)
            let order = try PodPlan.startOrder(options.services, targetDependsOn: options.dependsOn)
            var requests: [String: LaunchRequest] = [:]
            for s in options.services where order.contains(s.name) {
                let serviceLower = try pristineRootfs(s.image, options: options)
                let passwd = s.users.passwd ?? Self.imageFile(serviceLower, "etc/passwd")
                let group = s.users.group ?? Self.imageFile(serviceLower, "etc/group")
                let su = try UserResolver.resolve(
                    s.settings.user ?? s.image.config.config?.user, passwd: UserResolver.parsePasswd(passwd ?? []),
                    groups: UserResolver.parseGroup(group ?? []), image: s.reference)
                requests[s.name] = LaunchRequest(
                    image: s.image, reference: s.reference,
                    args: try s.settings.command(of: s.image.config.config, image: s.reference),
                    user: su, lower: serviceLower, settings: s.settings, hostname: s.name, seccomp: .dockerDefault,
                    limits: options.limits)
            }
            try PodPlan.checkPorts(
                target: (options.serviceName ?? "the target", image, options.settings),
                services: order.compactMap { n in
                    options.services.first { $0.name == n }.map { ($0.name, $0.image, $0.settings) }
                })

            let cleanup = CleanupStack()
            let signals = SignalCleanup(cleanup)
            defer { signals.remove() }
            do {
                let target = LaunchRequest(
                    image: image, reference: reference, args: args, user: user, lower: lower,
                    settings: options.settings,
                    hostname: "", seccomp: options.seccomp ?? .dockerDefault, limits: options.limits)
                var result = try await runInside(
                    target, userSpec: userSpec, order: order, requests: requests, options: options, cleanup: cleanup)
                let cleaning = MonotonicClock.now
                cleanup.runAll()
                logger.debug(
                    "run timeline",
                    metadata: ["step": "cleaned up", "ms": "\(Int((MonotonicClock.now - cleaning) * 1000))"])
                result.redact(redactor)
                return result
            } catch {
                cleanup.runAll()
                throw error
            }
        } catch let e as HardenError {
            throw HardenError(e.code, redactor.apply(e.message), cause: e.cause)
        }
    }

    /// A small file of an unpacked image (its /etc/passwd), when it resolves inside the image's root.
    static func imageFile(_ rootfs: String, _ relative: String) -> [UInt8]? {
        guard let real = HostFS.realPath(rootfs + "/" + relative), let base = HostFS.realPath(rootfs),
            real.hasPrefix(base + "/")
        else {
            return nil
        }
        return try? HostFS.readFile(real, limit: 4 << 20)
    }

    private func runInside(
        _ target: LaunchRequest, userSpec: String?, order: [String], requests: [String: LaunchRequest],
        options: RunOptions,
        cleanup: CleanupStack
    ) async throws -> RunObservation {
        let started = MonotonicClock.now
        let startedAt = Self.timestamp()
        // The run's timeline at debug level (where the time of a run goes).
        let mark: (String) -> Void = { [logger] what in
            logger.debug(
                "run timeline", metadata: ["t": "\(Int((MonotonicClock.now - started) * 1000)) ms", "step": "\(what)"])
        }
        let id = Self.randomID()
        let name = "harden-\(id)"
        let dir = "\(options.runDirectory)/\(name)"
        try HostFS.makeDirectories(dir, mode: 0o700)
        cleanup.push("remove \(dir)") { try? HostFS.removeTree(dir) }
        try HostFS.writeFileAtomically(dir + "/owner.pid", Array("\(getpid())".utf8))

        // The network namespace is made while the containers' file systems are prepared; runc create waits for it, and
        // so does its removal (a signal may arrive while it is being made).
        let networkName = ContainerNetwork.namespaceName(id: id, runDirectory: options.runDirectory)
        let hostInterface = ContainerNetwork.interfaceName(id: id, runDirectory: options.runDirectory)
        let addresses = try await ContainerNetwork.freeAddresses()
        let networkMade = DispatchSemaphore(value: 0)
        cleanup.push("remove network \(networkName)") {
            _ = networkMade.wait(timeout: .now() + 60)
            networkMade.signal()
            ContainerNetwork.remove(name: networkName, hostInterface: hostInterface)
        }
        let runDirectory = options.runDirectory, mode = options.network
        let networkTask = Task {
            defer { networkMade.signal() }
            return try await ContainerNetwork.create(
                id: id, runDirectory: runDirectory, mode: mode, addresses: addresses)
        }
        let netnsPath = ContainerNetwork.path(of: networkName)
        let podAddress = addresses.container
        let networkReady: () async throws -> Void = { _ = try await networkTask.value }
        let volumes = VolumeSet(root: dir + "/volumes", tree: RunTree(root: dir))
        mark("network requested")
        let serviceNames = order + (options.serviceName.map { [$0] } ?? [])

        // The services, dependencies first, each once what it depends on is ready.
        let stack = ServiceStack(runner: self)
        for (i, sname) in order.enumerated() {
            guard let s = options.services.first(where: { $0.name == sname }), let request = requests[sname] else {
                continue
            }
            for (dep, condition) in s.dependsOn.sorted(by: { $0.key < $1.key }) {
                try await stack.wait(for: dep, condition, options: options)
            }
            let c = try await launch(
                request, name: "\(name)-s\(i)", dir: "\(dir)/services/\(i)", networkNamespace: netnsPath,
                hosts: PodPlan.hostsFile(
                    hostname: sname, address: podAddress, serviceNames: serviceNames, extra: s.settings.extraHosts),
                volumes: volumes, options: options, cleanup: cleanup, beforeCreate: networkReady)
            stack.running[sname] = .init(service: s, container: c)
            stack.order.append(sname)
            mark("service \(sname) started")
            logger.info(
                "Service started", metadata: ["service": "\(sname)", "image": "\(s.reference)", "pid": "\(c.initPid)"])
        }

        // The target, with the sensors that must see its start: fanotify before the container exists, ptrace before it runs.
        var fanotify: FanotifySensor?
        var fanotifyToken: Int?
        var tracer: ChildProcess?
        let hostname = options.serviceName ?? String(id.prefix(12))
        var request = target
        request.hostname = hostname
        let c = try await launch(
            request, name: name, dir: dir + "/target", networkNamespace: netnsPath,
            hosts: PodPlan.hostsFile(
                hostname: hostname, address: podAddress, serviceNames: serviceNames, extra: options.settings.extraHosts),
            volumes: volumes, options: options, cleanup: cleanup,
            beforeCreate: {
                try await networkReady()
                if options.sensors.contains(.fanotify) {
                    let f = try FanotifySensor(filesystemOf: dir + "/target/rootfs")
                    f.start()
                    fanotify = f
                    fanotifyToken = cleanup.push("stop fanotify") { _ = try? f.stop() }
                }
            },
            afterCreate: { initPid in
                guard options.sensors.contains(.ptrace) else { return }
                let out = dir + "/trace-init.json"
                let t = try ChildProcess.spawn(
                    [
                        options.tracerExecutable, "internal-trace", "--attach", "\(initPid)", "--strip-prefix",
                        dir + "/target/rootfs",
                        "--out", out,
                    ],
                    stdout: .file(dir + "/tracer.ready"), stderr: .append(dir + "/tracer.log"))
                tracer = t
                cleanup.push("stop tracer") {
                    t.signal(SIGKILL)
                    _ = t.waitBlocking()
                }
                try await waitReady(t, file: dir + "/tracer.ready", log: dir + "/tracer.log")
            }, start: false)
        // Created (and watched) while its dependencies become ready; it starts once they are.
        for (dep, condition) in options.dependsOn.sorted(by: { $0.key < $1.key }) {
            try await stack.wait(for: dep, condition, options: options)
        }
        mark("services started and ready")
        try await start(c)
        let initPid = c.initPid
        let exitState = c.exit
        let log = c.log
        let running = MonotonicClock.now
        logger.info(
            "Container started", metadata: ["container": "\(name)", "pid": "\(initPid)", "address": "\(podAddress)"])
        mark("target started")
        if let check = options.healthcheck {
            try await ServiceStack.waitHealthy(
                name: options.serviceName ?? target.reference, check: check, container: c, runner: self)
        }

        // Probes. In a pod, only the target's own sockets count as its ports.
        let pidNamespace = options.services.isEmpty ? nil : ListeningSockets.pidNamespace(of: initPid)
        let listening: @Sendable () -> [RuntimeProfile.Port] = {
            ListeningSockets.of(pid: initPid, ownedInPIDNamespace: pidNamespace)
        }
        var probes: [RuntimeProfile.ProbeResult] = []
        var ports = Set<RuntimeProfile.Port>()
        var execTraces: [TraceReport] = []
        let alive: @Sendable () -> Bool = { exitState.status() == nil }
        if !options.httpProbes.isEmpty {
            let prober = HTTPProber()
            for p in options.httpProbes {
                let r = await prober.probe(p, host: podAddress, waitSeconds: options.probeTimeout, alive: alive)
                logger.info(
                    "HTTP probe",
                    metadata: ["probe": "\(p.spec)", "ok": "\(r.ok)", "status": "\(r.status.map(String.init) ?? "-")"])
                probes.append(r)
                ports.formUnion(listening())
            }
            await prober.shutdown()
            mark("HTTP probes done")
        }
        for (i, commandLine) in options.execProbes.enumerated() {
            let (result, trace) = try await execProbe(
                commandLine, index: i, spec: c.spec, runc: c.runc, name: name, dir: dir, initPid: initPid,
                options: options, alive: alive)
            probes.append(result)
            if let trace { execTraces.append(trace) }
            ports.formUnion(listening())
        }
        var serviceHosts: [String: String] = [:]
        for n in serviceNames { serviceHosts[n] = podAddress }
        for script in options.probeScripts {
            let targetPorts = Set(
                options.httpProbes.map(\.port) + ports.map(\.port) + Self.exposedPorts(target.image)
                    + options.settings.ports
            )
            .sorted()
            probes.append(
                await scriptProbe(
                    script, address: podAddress, ports: targetPorts, services: serviceHosts, name: name,
                    options: options))
            ports.formUnion(listening())
        }
        let anyProbe = !(options.httpProbes.isEmpty && options.execProbes.isEmpty && options.probeScripts.isEmpty)
        let wanted = options.duration ?? (anyProbe ? 0 : 5)
        while MonotonicClock.now - running < wanted, alive() {  // --duration counts from the container's start
            ports.formUnion(listening())
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        ports.formUnion(listening())
        let ended = exitState.status()
        let completedOK = Set(
            options.services.flatMap { $0.dependsOn.filter { $0.value == .completed }.map(\.key) }
                + options.dependsOn.filter { $0.value == .completed }.map(\.key))
        let casualties = stack.casualties(exempt: completedOK)
        if anyProbe, probes.contains(where: { !$0.ok }) {
            if let ended {
                throw HardenError(
                    .io,
                    "\(target.reference): the container exited (\(ended)) before the probes completed; its last output: \(Self.tail(log, lines: 3))"
                        + casualties.map { "; " + $0 }.joined())
            }
            if !casualties.isEmpty {
                throw HardenError(.io, "\(target.reference): probes failed; " + casualties.joined(separator: "; "))
            }
        }
        for w in casualties { logger.warning("\(w)") }

        // Stop the target (its stop signal, then KILL; the tracer ends when its tracees do), then the services (newest
        // first) while the sensors' reports are read.
        await stop(c)
        mark("target stopped")
        let toStop = stack.order.reversed().compactMap { name in
            stack.running[name].map { (name, $0.service, $0.container, $0.healthy) }
        }
        let serviceStops = Task { [self] in
            var records: [RuntimeProfile.ServiceRecord] = []
            for (sname, service, container, healthy) in toStop {
                let exitedEarly = container.exit.status()
                await stop(container)
                records.insert(
                    RuntimeProfile.ServiceRecord(
                        name: sname, reference: service.reference,
                        manifestDigest: service.image.manifestDigest.description,
                        configDigest: service.image.configDigest.description, settings: service.settings.record,
                        healthy: service.healthcheck == nil ? nil : healthy, exitCode: exitedEarly.map { $0.code }),
                    at: 0)
            }
            return records
        }
        var traces: [TraceReport] = []
        if let tracer {
            if await tracer.wait(timeout: 10) == nil {
                tracer.signal(SIGTERM)
                _ = await tracer.wait(timeout: 5)
            }
            if let b = try? HostFS.readFile(dir + "/trace-init.json", limit: 1 << 30) {
                traces.append(try JSONCoding.decode(b, source: dir, what: "ptrace sensor report") as TraceReport)
            } else {
                _ = await serviceStops.value
                throw HardenError(
                    .io, "the ptrace sensor ended without a report: \(Self.tail(dir + "/tracer.log", lines: 2))")
            }
        }
        traces += execTraces
        if let fanotifyToken { cleanup.run(fanotifyToken) }
        let accessLog = try fanotify?.stop()
        let serviceRecords = await serviceStops.value
        mark("services stopped, sensor reports read")
        let logText = Self.tail(log, bytes: 16 << 10)
        if !logText.isEmpty {
            logger.debug("container output (its end): \(Redactor(secrets: options.secretValues).apply(logText))")
        }
        var run = RuntimeProfile.Run(
            startedAt: startedAt, durationSeconds: ((MonotonicClock.now - started) * 100).rounded() / 100,
            sensors: Sensor.allCases.filter { options.sensors.contains($0) }.map(\.rawValue), command: target.args,
            user: userSpec.flatMap { $0.isEmpty ? nil : $0 } ?? "root", probes: probes,
            exitCode: ended.map { $0.code }, fanotifyEvents: accessLog?.events,
            tracedProcesses: traces.isEmpty ? nil : traces.reduce(0) { $0 + $1.processes + 1 },
            network: options.network.rawValue)
        if !options.settings.isEmpty { run.settings = options.settings.record }
        run.service = options.serviceName
        if !serviceRecords.isEmpty { run.services = serviceRecords }
        if !anyProbe, let ended, !ended.succeeded {
            throw HardenError(
                .io,
                "\(target.reference): the container exited with \(ended) after \(Int(MonotonicClock.now - running)) s; its last output: \(Self.tail(log, lines: 3))"
            )
        }
        var observation = RunObservation(
            run: run, fanotify: accessLog, traces: traces, ports: ports.sorted(), log: logText)
        observation.mountPoints = options.settings.mounts.map(\.destination) + options.settings.tmpfs
        return observation
    }

    // MARK: Probes run inside or beside the container

    private func execProbe(
        _ commandLine: String, index: Int, spec: RuntimeSpec, runc: [String], name: String, dir: String,
        initPid: Int32, options: RunOptions, alive: @Sendable () -> Bool
    ) async throws -> (RuntimeProfile.ProbeResult, TraceReport?) {
        let argv = try splitCommandLine(commandLine)
        guard alive() else {
            return (
                RuntimeProfile.ProbeResult(
                    kind: .exec, spec: commandLine, ok: false, error: "the container is not running"), nil
            )
        }
        var process = spec.process
        process.args = argv
        let processFile = "\(dir)/exec-\(index).json"
        try RunTree(root: dir).write(processFile, try JSONCoding.encode(process))
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
                    options.tracerExecutable, "internal-trace", "--spawn", "--mount-namespace", mnt, "--strip-prefix",
                    dir + "/target/rootfs",
                    "--out", traceFile, "--",
                ] + execArgv,
                stdout: .file(outFile), stderr: .append(outFile))
            guard await t.wait(timeout: options.probeTimeout) != nil else {
                t.signal(SIGTERM)
                _ = await t.wait(timeout: 5)
                t.signal(SIGKILL)
                _ = t.waitBlocking()
                return (
                    RuntimeProfile.ProbeResult(
                        kind: .exec, spec: commandLine, ok: false,
                        error: "did not finish within \(Int(options.probeTimeout)) s"), nil
                )
            }
            if let b = try? HostFS.readFile(traceFile, limit: 1 << 30) {
                trace = try JSONCoding.decode(b, source: dir, what: "ptrace sensor report") as TraceReport
                status = trace?.exitCode.map { .exited($0) }
            }
        } else {
            let c = try ChildProcess.spawn(execArgv, stdout: .file(outFile), stderr: .append(outFile))
            status = await c.wait(timeout: options.probeTimeout)
            if status == nil {
                c.signal(SIGKILL)
                _ = c.waitBlocking()
            }
        }
        let output = Self.tail(outFile, bytes: 4096)
        let code = status?.code
        logger.info("Exec probe", metadata: ["probe": "\(commandLine)", "exit": "\(code.map(String.init) ?? "-")"])
        return (
            RuntimeProfile.ProbeResult(
                kind: .exec, spec: commandLine, ok: code == 0, status: code.map(Int.init),
                latencyMs: ((MonotonicClock.now - start) * 10000).rounded() / 10,
                bytes: nil, attempts: 1,
                error: code == 0 ? nil : (code.map { "exit status \($0)" } ?? "did not finish"), output: output),
            trace
        )
    }

    private func scriptProbe(
        _ script: String, address: String, ports: [Int], services: [String: String], name: String, options: RunOptions
    ) async -> RuntimeProfile.ProbeResult {
        var env = ChildProcess.currentEnvironment()
        env["HARDEN_TARGET_HOST"] = address
        for (service, host) in services { env[Self.serviceVariable(service)] = host }
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

    /// `HARDEN_SERVICE_<NAME>_HOST`: the name upper-cased, anything but letters and digits as `_`.
    public static func serviceVariable(_ service: String) -> String {
        "HARDEN_SERVICE_" + String(service.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
            + "_HOST"
    }

    static func exposedPorts(_ image: Image) -> [Int] {
        (image.config.config?.exposedPorts ?? [:]).keys.compactMap { Int($0.split(separator: "/").first ?? "") }
    }

    static func randomID() -> String {
        var g = SystemRandomNumberGenerator()
        return Hex.encode((0..<6).map { _ in UInt8.random(in: 0...255, using: &g) })
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
        let t = tail(path, bytes: 4096).textLines().suffix(lines).joined(separator: " | ")
        return t.isEmpty ? "(no output)" : t
    }
}

// harden — starting one container under runc (overlay, /etc files, mounts, volumes, init, bundle, create/start),
// shared by the profiled target and the services it needs; and the services of a Compose application: started
// in dependency order in one pod network namespace, waited for (started, healthy, completed), stopped with it.
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

/// A service the target needs (a database, a cache): run unprofiled beside it, in the same pod.
public struct ServiceLaunch: Sendable {
    public var name: String
    public var image: Image
    public var reference: String
    /// The image's /etc/passwd and /etc/group, to resolve its user.
    public var users: (passwd: [UInt8]?, group: [UInt8]?)
    public var settings: ContainerSettings
    /// Services this one waits for before it starts, and for what.
    public var dependsOn: [String: ServiceCondition]
    public var healthcheck: ServiceHealthcheck?

    public init(
        name: String, image: Image, reference: String, users: (passwd: [UInt8]?, group: [UInt8]?),
        settings: ContainerSettings,
        dependsOn: [String: ServiceCondition] = [:], healthcheck: ServiceHealthcheck? = nil
    ) {
        self.name = name
        self.image = image
        self.reference = reference
        self.users = users
        self.settings = settings
        self.dependsOn = dependsOn
        self.healthcheck = healthcheck
    }
}

/// One container to start.
struct LaunchRequest {
    var image: Image
    var reference: String
    var args: [String]
    var user: RuntimeSpec.User
    var lower: String
    var settings: ContainerSettings
    var hostname: String
    var seccomp: RuntimeSpec.Seccomp
    var limits: SandboxLimits
}

/// A started container.
struct Launched: Sendable {
    let name: String
    let dir: String
    let initPid: Int32
    let exit: ExitWatcher
    let spec: RuntimeSpec
    let log: String
    let runc: [String]
    let stopSignal: String
    let stopGrace: Double
    let reference: String
    /// The run's directory tree, for the files written beside the container (exec processes and their output).
    let tree: RunTree
}

/// The scratch directories behind a run's named and anonymous volumes (shared by the services that name them).
final class VolumeSet: Sendable {
    let root: String
    let tree: RunTree
    private let made = Mutex<[String: String]>([:])
    private let anonymous = Atomic<Int>(0)
    init(root: String, tree: RunTree) {
        self.root = root
        self.tree = tree
    }

    /// The directory for a volume mounted at `destination`. A new one shows what the image has there (as Docker fills
    /// a new volume): an overlay with that directory of the unpacked image below and the run's writes above — nothing
    /// is copied, however large — when it resolves inside the image's root; else an empty directory. A name that is
    /// not a plain volume name (`..`, a path) is refused; every directory is made anchored under the run's.
    func directory(name: String?, destination: String, lower: String, cleanup: CleanupStack) throws -> String {
        if let name, !VolumeName.isValid(name) {
            throw HardenError(
                .invalidArgument, "volume \"\(name.prefix(80))\": not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
        }
        let key = name ?? "_anonymous-\(anonymous.add(1, ordering: .relaxed).newValue)"
        if let d = made.withLock({ $0[key] }) { return d }
        let dir = "\(root)/\(key)"
        var path = dir
        let source = lower + destination
        if HostFS.isDirectory(source), let real = HostFS.realPath(source), let base = HostFS.realPath(lower),
            real.hasPrefix(base + "/")
        {
            for sub in ["upper", "work", "data"] { try tree.makeDirectories("\(dir)/\(sub)", mode: 0o755) }
            // The volume's root has the image directory's owner and mode (postgres refuses a data directory it does not own).
            var st = stat()
            if stat(real, &st) == 0 {
                let upper = try tree.openDirectory(dir + "/upper")
                _ = fchown(upper.raw, st.st_uid, st.st_gid)
                _ = fchmod(upper.raw, st.st_mode & 0o7777)
            }
            try tree.mountOverlay(lower: real, upper: dir + "/upper", work: dir + "/work", target: dir + "/data")
            cleanup.push("unmount volume \(key)") { try? Mounts.unmount(dir + "/data") }
            path = dir + "/data"
        } else {
            try tree.makeDirectories(dir, mode: 0o755)
        }
        made.withLock { $0[key] = path }
        return path
    }
}

extension ContainerRunner {
    /// Starts one container: its overlay on the pristine rootfs, /etc/hosts (`hosts`), resolv.conf, hostname, the
    /// settings' mounts, volumes and tmpfs, an init when asked, then `runc create` and `runc start`. `beforeCreate`
    /// and `afterCreate(initPid)` attach sensors. Every undo action goes on `cleanup`.
    func launch(
        _ r: LaunchRequest, name: String, dir: String, networkNamespace: String, hosts: String, volumes: VolumeSet,
        options: RunOptions, cleanup: CleanupStack, beforeCreate: () async throws -> Void = {},
        afterCreate: (Int32) async throws -> Void = { _ in }, start: Bool = true
    ) async throws -> Launched {
        // Everything under the run's directory is made and written anchored (RunTree): a container that reached the
        // tree could plant symlinks, never redirect a write or a mount.
        let tree = volumes.tree
        try tree.makeDirectories(dir, mode: 0o700)
        for sub in ["upper", "work", "rootfs", "bundle"] { try tree.makeDirectories("\(dir)/\(sub)", mode: 0o755) }
        try tree.mountOverlay(lower: r.lower, upper: dir + "/upper", work: dir + "/work", target: dir + "/rootfs")
        cleanup.push("unmount \(dir)/rootfs") { try? Mounts.unmount(dir + "/rootfs") }

        try tree.write(dir + "/hosts", Array(hosts.utf8))
        let resolv = (try? HostFS.readFile("/etc/resolv.conf", limit: 1 << 16)) ?? Array("nameserver 127.0.0.1\n".utf8)
        try tree.write(dir + "/resolv.conf", resolv)
        try tree.write(dir + "/hostname", Array("\(r.hostname)\n".utf8))

        var extra: [RuntimeSpec.Mount] = []
        for m in r.settings.mounts {
            switch m.kind {
            case .bind:
                let source = HostFS.absolute(m.source ?? "")
                guard HostFS.exists(source) else {
                    throw HardenError(
                        .notFound, "mount \(m.source ?? ""):\(m.destination): \(source) does not exist on this host")
                }
                extra.append(RuntimeSpec.bind(source: source, destination: m.destination, readOnly: m.readOnly))
            case .volume:
                let d = try volumes.directory(
                    name: m.source, destination: m.destination, lower: r.lower, cleanup: cleanup)
                extra.append(RuntimeSpec.bind(source: d, destination: m.destination, readOnly: m.readOnly))
            }
        }
        var args = r.args
        if r.settings.initProcess {
            guard let tini = ["/usr/bin/tini-static", "/usr/bin/tini"].first(where: HostFS.isRegularFile) else {
                throw HardenError(
                    .notFound, "init: true needs tini (the Debian package tini; scripts/setup.sh installs it)")
            }
            // On the container's own /dev tmpfs: nothing is added to its root filesystem (or to its profile).
            extra.append(RuntimeSpec.bind(source: tini, destination: "/dev/init", readOnly: true))
            args = ["/dev/init", "--"] + args
        }
        let spec = RuntimeSpec.make(
            config: r.image.config.config, args: args, user: r.user, hostname: r.hostname, rootfs: dir + "/rootfs",
            networkNamespace: networkNamespace,
            etcFiles: [
                "/etc/hosts": dir + "/hosts", "/etc/resolv.conf": dir + "/resolv.conf",
                "/etc/hostname": dir + "/hostname",
            ],
            seccomp: r.seccomp, limits: r.limits, settings: r.settings, extraMounts: extra)
        try tree.write(dir + "/bundle/config.json", try JSONCoding.encode(spec))

        try await beforeCreate()
        // runc create: the init process waits on its exec fifo until `runc start`.
        _ = harden_set_child_subreaper()
        let runc = ["runc", "--root", "\(options.runDirectory)/runc"]
        let log = dir + "/container.log"
        try tree.createEmpty(log)
        let create = try ChildProcess.spawn(
            runc + ["create", "--bundle", dir + "/bundle", "--pid-file", dir + "/init.pid", name],
            stdout: .append(log), stderr: .append(log))
        cleanup.push("delete container \(name)") { ChildProcess.runQuietly(runc + ["delete", "--force", name]) }
        guard let created = await create.wait(timeout: 60), created.succeeded else {
            create.signal(SIGKILL)
            throw HardenError(.io, "runc create failed for \(r.reference): \(Self.tail(log, lines: 3))")
        }
        guard let pidBytes = try? HostFS.readFile(dir + "/init.pid", limit: 64),
            let initPid = Int32(String(decoding: pidBytes, as: UTF8.self).trimming(" \n"))
        else {
            throw HardenError(.io, "runc did not write the container's pid")
        }
        let exit = ExitWatcher(pid: initPid)
        try await afterCreate(initPid)
        let launched = Launched(
            name: name, dir: dir, initPid: initPid, exit: exit, spec: spec, log: log, runc: runc,
            stopSignal: r.settings.stopSignal ?? r.image.config.config?.stopSignal ?? "TERM",
            stopGrace: r.settings.stopGracePeriod ?? 5,
            reference: r.reference, tree: tree)
        if start { try await self.start(launched) }
        return launched
    }

    /// `runc start` of a created container: its process runs from here.
    func start(_ c: Launched) async throws {
        let start = try await ChildProcess.run(c.runc + ["start", c.name], timeout: 60)
        guard start.status.succeeded else {
            throw HardenError(.io, "runc start failed for \(c.reference): \(start.output.textLines().last ?? "")")
        }
    }

    /// Stops a container: its stop signal when its init handles it, SIGKILL after the grace period (or at once when
    /// the kernel would drop the signal).
    func stop(_ c: Launched) async {
        guard c.exit.status() == nil else { return }
        if StopSignal.isCaught(c.stopSignal, pid: c.initPid) {
            ChildProcess.runQuietly(c.runc + ["kill", c.name, c.stopSignal])
            let deadline = MonotonicClock.now + c.stopGrace
            while c.exit.status() == nil, MonotonicClock.now < deadline {
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        } else {
            logger.debug(
                "the container's init has no handler for its stop signal; the kernel would drop it: stopping with KILL",
                metadata: ["container": "\(c.name)", "signal": "\(c.stopSignal)"])
        }
        if c.exit.status() == nil { ChildProcess.runQuietly(c.runc + ["kill", "--all", c.name, "KILL"]) }
        let hard = MonotonicClock.now + 5
        while c.exit.status() == nil, MonotonicClock.now < hard { try? await Task.sleep(nanoseconds: 20_000_000) }
    }

    /// Runs a command in a running container (`runc exec`) without sensors; its exit status, or nil on timeout.
    func exec(_ argv: [String], in c: Launched, file: String, timeout: Double) async -> (ExitStatus?, String) {
        var process = c.spec.process
        process.args = argv
        guard let bytes = try? JSONCoding.encode(process), (try? c.tree.write(file + ".json", bytes)) != nil,
            (try? c.tree.createEmpty(file + ".out")) != nil
        else {
            return (nil, "cannot write \(file).json")
        }
        guard
            let child = try? ChildProcess.spawn(
                c.runc + ["exec", "--process", file + ".json", c.name], stdout: .file(file + ".out"),
                stderr: .append(file + ".out"))
        else {
            return (nil, "cannot start runc exec")
        }
        let status = await child.wait(timeout: timeout)
        if status == nil {
            child.signal(SIGKILL)
            _ = child.waitBlocking()
        }
        return (status, Self.tail(file + ".out", bytes: 2048))
    }
}

/// How an application's containers share one network namespace (a pod): which services start and in what order,
/// their ports, their /etc/hosts.
public enum PodPlan {
    /// The services `target` needs, transitively, dependencies first; a cycle or an unknown name is an error.
    public static func startOrder(
        _ services: [ServiceLaunch], targetDependsOn: [String: ServiceCondition]
    ) throws -> [String] {
        let byName = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var order: [String] = []
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        func visit(_ name: String, from: String) throws {
            guard let s = byName[name] else {
                throw HardenError(.invalidArgument, "service \(from) depends on \(name), which is not defined")
            }
            if state[name] == 2 { return }
            if state[name] == 1 {
                throw HardenError(.invalidArgument, "services depend on each other in a cycle through \(name)")
            }
            state[name] = 1
            for d in s.dependsOn.keys.sorted() { try visit(d, from: name) }
            state[name] = 2
            order.append(name)
        }
        for d in targetDependsOn.keys.sorted() { try visit(d, from: "the target") }
        return order
    }

    /// In one network namespace, two containers cannot listen on the same port: refused before anything starts.
    public static func checkPorts(
        target: (String, Image, ContainerSettings), services: [(String, Image, ContainerSettings)]
    ) throws {
        var owner: [Int: String] = [:]
        for (name, image, settings) in [target] + services {
            for port in Set(ContainerRunner.exposedPorts(image) + settings.ports).sorted() {
                if let other = owner[port], other != name {
                    throw HardenError(
                        .invalidArgument,
                        "services \(other) and \(name) both use port \(port): harden runs an application's services in one network namespace (like a Kubernetes pod), where a port can be used once"
                    )
                }
                owner[port] = name
            }
        }
    }

    /// /etc/hosts of a container: localhost, its own name, every service of the run on the shared loopback, extra hosts.
    public static func hostsFile(
        hostname: String, address: String, serviceNames: [String], extra: [(name: String, address: String)]
    ) -> String {
        var t = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\(address)\t\(hostname)\n"
        let names = serviceNames.filter { $0 != hostname }
        if !names.isEmpty { t += "127.0.0.1\t\(names.joined(separator: " "))\n" }
        for e in extra { t += "\(e.address)\t\(e.name)\n" }
        return t
    }
}

/// The services of one run, started before the target in dependency order.
final class ServiceStack {
    struct Running {
        let service: ServiceLaunch
        let container: Launched
        var healthy = false
    }
    let runner: ContainerRunner
    var running: [String: Running] = [:]
    var order: [String] = []

    init(runner: ContainerRunner) { self.runner = runner }

    /// Waits until `name` meets `condition`; throws with its last output when it cannot.
    func wait(for name: String, _ condition: ServiceCondition, options: RunOptions) async throws {
        guard var r = running[name] else { return }
        let c = r.container
        switch condition {
        case .started:
            if let s = c.exit.status(), !s.succeeded {
                throw HardenError(
                    .io,
                    "service \(name) exited (\(s)) right after it started; its last output: \(ContainerRunner.tail(c.log, lines: 5))"
                )
            }
        case .completed:
            let deadline = MonotonicClock.now + max(options.probeTimeout, 300)
            while c.exit.status() == nil, MonotonicClock.now < deadline {
                try? await Task.sleep(nanoseconds: 50_000_000)
            }
            guard let s = c.exit.status() else {
                throw HardenError(
                    .io,
                    "service \(name) did not complete within \(Int(max(options.probeTimeout, 300))) s; its last output: \(ContainerRunner.tail(c.log, lines: 5))"
                )
            }
            guard s.succeeded else {
                throw HardenError(
                    .io,
                    "service \(name) did not complete successfully (\(s)); its last output: \(ContainerRunner.tail(c.log, lines: 5))"
                )
            }
        case .healthy:
            if r.healthy { return }
            guard let check = r.service.healthcheck else {
                throw HardenError(
                    .invalidArgument, "a service depends on \(name) being healthy, but \(name) has no healthcheck")
            }
            try await Self.waitHealthy(name: name, check: check, container: c, runner: runner)
            r.healthy = true
            running[name] = r
        }
    }

    /// Runs the healthcheck until it passes. It fails when Docker would call the container unhealthy: after the start
    /// period, `retries` failed checks an `interval` apart; until then harden checks more often (every 0.1 s for 3 s,
    /// then every 0.5 s at most), so a service that becomes ready early is used early.
    static func waitHealthy(
        name: String, check: ServiceHealthcheck, container c: Launched, runner: ContainerRunner
    ) async throws {
        let argv =
            check.test.first == "CMD-SHELL"
            ? ["/bin/sh", "-c", check.test.dropFirst().joined(separator: " ")] : Array(check.test.dropFirst())
        let started = MonotonicClock.now
        let deadline = started + check.startPeriod + check.interval * Double(max(check.retries, 1)) + check.timeout
        var attempt = 0
        var last = ""
        while true {
            attempt += 1
            if let s = c.exit.status() {
                throw HardenError(
                    .io,
                    "service \(name) exited (\(s)) before it became healthy; its last output: \(ContainerRunner.tail(c.log, lines: 5))"
                )
            }
            let (status, output) = await runner.exec(
                argv, in: c, file: "\(c.dir)/health-\(attempt % 2)", timeout: max(check.timeout, 1))
            if status?.succeeded == true {
                runner.logger.info(
                    "Service healthy",
                    metadata: ["service": "\(name)", "seconds": "\(Int(MonotonicClock.now - started))"])
                return
            }
            last = status.map { "\($0): \(output.trimming(" \n"))" } ?? "timed out after \(Int(check.timeout)) s"
            if MonotonicClock.now >= deadline {
                throw HardenError(
                    .io,
                    "service \(name) did not become healthy within \(Int(deadline - started)) s (healthcheck: \(last)); its last output: \(ContainerRunner.tail(c.log, lines: 5))"
                )
            }
            // Every 0.1 s for the first 3 s (services usually become ready then), then every 0.5 s at most.
            let pause = MonotonicClock.now - started < 3 ? 0.1 : 0.5
            try? await Task.sleep(nanoseconds: UInt64(min(check.interval, pause) * 1e9))
        }
    }

    /// Services that ended while they should have been running (a `completed` dependency aside).
    func casualties(exempt: Set<String>) -> [String] {
        order.compactMap { name in
            guard !exempt.contains(name), let r = running[name], let s = r.container.exit.status() else { return nil }
            return
                "service \(name) exited during the run (\(s)); its last output: \(ContainerRunner.tail(r.container.log, lines: 3))"
        }
    }
}

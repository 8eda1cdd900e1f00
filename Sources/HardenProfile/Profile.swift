// harden — the runtime profile: what a container used while coverage scripts exercised it.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM

/// `harden profile -o PROFILE.json`. A stable, documented schema (docs/formats.md, "Runtime profile").
public struct RuntimeProfile: Codable, Sendable, Equatable {
    public struct ImageIdentity: Codable, Sendable, Equatable {
        public var reference: String
        /// The image ID (digest of the config): the same whichever transport the image came from.
        public var configDigest: String
        public var manifestDigest: String
        public var platform: String
        public init(reference: String, configDigest: String, manifestDigest: String, platform: String) {
            self.reference = reference
            self.configDigest = configDigest
            self.manifestDigest = manifestDigest
            self.platform = platform
        }

        /// Refuses a profile recorded for another image: `configDigest` is the image's ID (also accepted:
        /// `alsoAccepted`, the ID of the image it was hardened from). `file` names the profile in the message.
        public func require(
            _ configDigest: String, reference: String, file: String? = nil, alsoAccepted: String? = nil
        ) throws {
            guard self.configDigest != configDigest && self.configDigest != alsoAccepted else { return }
            let other = configDigest.isEmpty ? "no image ID in the SBOM" : configDigest
            throw HardenError(
                .invalidArgument,
                "\(file.map { "\($0): a profile" } ?? "the profile is") of image \(self.configDigest) (\(self.reference)), not of \(reference) (\(other)); profile this image first"
            )
        }
    }
    /// What kind of probe exercised the container.
    public enum ProbeKind: String, Codable, Sendable, CaseIterable { case http, https, exec, script }
    /// What a path the app touched is in the image.
    public enum FileKind: String, Codable, Sendable, CaseIterable { case file, directory, symlink, other, missing }

    public struct ProbeResult: Codable, Sendable, Equatable {
        public var kind: ProbeKind
        public var spec: String
        public var ok: Bool
        public var status: Int?  // HTTP status, or the command's exit code
        public var latencyMs: Double?
        public var bytes: Int?
        public var attempts: Int
        public var error: String?
        public var output: String?  // exec/script: the end of the output
        public init(
            kind: ProbeKind, spec: String, ok: Bool, status: Int? = nil, latencyMs: Double? = nil, bytes: Int? = nil,
            attempts: Int = 1, error: String? = nil, output: String? = nil
        ) {
            self.kind = kind
            self.spec = spec
            self.ok = ok
            self.status = status
            self.latencyMs = latencyMs
            self.bytes = bytes
            self.attempts = attempts
            self.error = error
            self.output = output
        }
    }
    public struct Run: Codable, Sendable, Equatable {
        public var startedAt: String
        public var durationSeconds: Double
        public var sensors: [String]
        public var command: [String]
        public var user: String
        public var probes: [ProbeResult]
        /// The container's exit code when it ended by itself; nil when harden stopped it.
        public var exitCode: Int32?
        public var fanotifyEvents: Int?
        public var tracedProcesses: Int?
        /// What the container could connect to (`isolated`, `host`, `open`); verification runs the same way.
        public var network: String?
        /// The settings the container ran with besides its image config (environment names only).
        public var settings: ContainerSettings.Record?
        /// Its Compose service name.
        public var service: String?
        /// The services that ran beside it.
        public var services: [ServiceRecord]?
        /// Set when the run was recorded by an instrumented image (`harden instrument`) where it really runs.
        public var instrumentation: Instrumentation?
        public init(
            startedAt: String, durationSeconds: Double, sensors: [String], command: [String], user: String,
            probes: [ProbeResult],
            exitCode: Int32?, fanotifyEvents: Int?, tracedProcesses: Int?, network: String? = nil
        ) {
            self.startedAt = startedAt
            self.durationSeconds = durationSeconds
            self.sensors = sensors
            self.command = command
            self.user = user
            self.probes = probes
            self.exitCode = exitCode
            self.fanotifyEvents = fanotifyEvents
            self.tracedProcesses = tracedProcesses
            self.network = network
        }
    }
    /// Where an instrumented run came from (`harden profile --import`).
    public struct Instrumentation: Codable, Sendable, Equatable {
        /// The sensor's run id (host name, start time, random suffix).
        public var run: String
        public var host: String
        /// `seccomp` (traced) or `untraced` (nothing recorded).
        public var mode: String
        /// The fragment read (each flush repeats the whole run) and whether the app had ended when it was written.
        public var sequence: Int
        public var final: Bool
        public var unreadableArguments: Int
        public var warnings: [String]
        /// Setuid/setgid executables the app ran.
        public var setidExecutables: [String]
        public init(
            run: String, host: String, mode: String, sequence: Int, final: Bool, unreadableArguments: Int,
            warnings: [String],
            setidExecutables: [String]
        ) {
            self.run = run
            self.host = host
            self.mode = mode
            self.sequence = sequence
            self.final = final
            self.unreadableArguments = unreadableArguments
            self.warnings = warnings
            self.setidExecutables = setidExecutables
        }
    }
    /// A service that ran beside the profiled container (unprofiled).
    public struct ServiceRecord: Codable, Sendable, Equatable {
        public var name: String
        public var reference: String
        public var manifestDigest: String
        public var configDigest: String
        public var settings: ContainerSettings.Record
        /// Whether its healthcheck passed (nil: it has none).
        public var healthy: Bool?
        /// Its exit code when it ended before harden stopped it.
        public var exitCode: Int32?
        public init(
            name: String, reference: String, manifestDigest: String, configDigest: String,
            settings: ContainerSettings.Record,
            healthy: Bool?, exitCode: Int32?
        ) {
            self.name = name
            self.reference = reference
            self.manifestDigest = manifestDigest
            self.configDigest = configDigest
            self.settings = settings
            self.healthy = healthy
            self.exitCode = exitCode
        }
    }
    public struct FileRecord: Codable, Sendable, Equatable {
        public var path: String
        public var operations: [String]
        public var count: Int
        public var firstProcess: String?
        /// What the path is in the image.
        public var type: FileKind
        /// For a symlink (or a path under a symlinked directory): where it leads in the image.
        public var target: String?
        /// Failed attempts (errno name → count), from the ptrace sensor.
        public var failures: [String: Int]?
        public init(
            path: String, operations: [String], count: Int, firstProcess: String?, type: FileKind, target: String?,
            failures: [String: Int]?
        ) {
            self.path = path
            self.operations = operations
            self.count = count
            self.firstProcess = firstProcess
            self.type = type
            self.target = target
            self.failures = failures
        }
    }
    public struct Execution: Codable, Sendable, Equatable {
        public var path: String
        public var argv: [String]
        public var count: Int
        public var uid: UInt32?
    }
    public struct Port: Codable, Sendable, Equatable, Hashable, Comparable {
        public var protocolName: String
        public var port: Int
        public var address: String
        public init(protocolName: String, port: Int, address: String) {
            self.protocolName = protocolName
            self.port = port
            self.address = address
        }
        enum CodingKeys: String, CodingKey { case protocolName = "protocol", port, address }
        public static func < (a: Port, b: Port) -> Bool {
            (a.port, a.protocolName, a.address) < (b.port, b.protocolName, b.address)
        }
    }
    public struct Syscall: Codable, Sendable, Equatable {
        public var name: String
        public var count: Int
        public init(name: String, count: Int) {
            self.name = name
            self.count = count
        }
    }
    public struct PackageUse: Codable, Sendable, Equatable {
        public var id: String
        public var type: String
        public var name: String
        public var version: String
        public var used: Bool
        public var files: Int
        public var usedFiles: Int
    }
    public struct Summary: Codable, Sendable, Equatable {
        public var files: Int
        public var missingFiles: Int
        public var executables: Int
        public var packagesUsed: Int
        public var packagesUnused: Int
        public init(files: Int, missingFiles: Int, executables: Int, packagesUsed: Int, packagesUnused: Int) {
            self.files = files
            self.missingFiles = missingFiles
            self.executables = executables
            self.packagesUsed = packagesUsed
            self.packagesUnused = packagesUnused
        }
    }

    public var schemaVersion = 1
    public var tool = "harden"
    public var image: ImageIdentity
    public var runs: [Run]
    public var files: [FileRecord]
    public var executables: [Execution]
    public var ports: [Port]
    public var uids: [UInt32]
    public var gids: [UInt32]
    public var syscalls: [Syscall]
    public var packages: [PackageUse]
    public var summary: Summary
    /// Paths the app used under its mounts, volumes and tmpfs: not image content, never copied into an image.
    public var mountedFiles: [FileRecord]?
    /// Set when this profile was not recorded on this image but mapped from the profile of another platform of
    /// the same index (`--profile-platform`): that platform and its image ID.
    public var mappedFrom: ImageIdentity?

    public init(
        image: ImageIdentity, runs: [Run], files: [FileRecord], executables: [Execution], ports: [Port], uids: [UInt32],
        gids: [UInt32], syscalls: [Syscall], packages: [PackageUse], summary: Summary
    ) {
        self.image = image
        self.runs = runs
        self.files = files
        self.executables = executables
        self.ports = ports
        self.uids = uids
        self.gids = gids
        self.syscalls = syscalls
        self.packages = packages
        self.summary = summary
    }

    /// True when every probe of every run succeeded.
    public var probesPassed: Bool { runs.allSatisfy { $0.probes.allSatisfy(\.ok) } }
}

extension RuntimeProfile {
    /// Paths that exist in the image and were used (not only probed and missing).
    public var usedPaths: Set<String> { Set(files.filter { $0.type != .missing }.map(\.path)) }

    /// Unites several coverage runs of the same image into one profile. Profiles of different images are refused.
    public static func merge(_ profiles: [RuntimeProfile], packages: [SoftwarePackage]?) throws -> RuntimeProfile {
        guard var out = profiles.first else { throw HardenError(.invalidArgument, "nothing to merge") }
        for p in profiles.dropFirst() {
            guard p.image.configDigest == out.image.configDigest else {
                throw HardenError(
                    .invalidArgument,
                    "profiles of different images cannot be merged: \(out.image.configDigest) and \(p.image.configDigest) (\(p.image.reference))"
                )
            }
            out.runs += p.runs
            var files = Dictionary(uniqueKeysWithValues: out.files.map { ($0.path, $0) })
            for f in p.files {
                if var e = files[f.path] {
                    e.operations = Array(Set(e.operations + f.operations)).sorted()
                    e.count += f.count
                    if e.type == .missing && f.type != .missing {
                        e.type = f.type
                        e.target = f.target
                    }
                    if let fl = f.failures { e.failures = (e.failures ?? [:]).merging(fl, uniquingKeysWith: +) }
                    files[f.path] = e
                } else {
                    files[f.path] = f
                }
            }
            out.files = files.values.sorted { $0.path < $1.path }
            var execs = Dictionary(
                uniqueKeysWithValues: out.executables.map {
                    ("\($0.path)\u{0}\($0.argv.joined(separator: "\u{0}"))", $0)
                })
            for e in p.executables {
                let k = "\(e.path)\u{0}\(e.argv.joined(separator: "\u{0}"))"
                if var x = execs[k] {
                    x.count += e.count
                    execs[k] = x
                } else {
                    execs[k] = e
                }
            }
            out.executables = execs.values.sorted {
                ($0.path, $0.argv.joined(separator: " ")) < ($1.path, $1.argv.joined(separator: " "))
            }
            if let m = p.mountedFiles {
                var byPath = Dictionary((out.mountedFiles ?? []).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
                for f in m where byPath[f.path] == nil { byPath[f.path] = f }
                out.mountedFiles = byPath.values.sorted { $0.path < $1.path }
            }
            out.ports = Array(Set(out.ports + p.ports)).sorted()
            out.uids = Array(Set(out.uids + p.uids)).sorted()
            out.gids = Array(Set(out.gids + p.gids)).sorted()
            var sys = Dictionary(uniqueKeysWithValues: out.syscalls.map { ($0.name, $0.count) })
            for s in p.syscalls { sys[s.name, default: 0] += s.count }
            out.syscalls = sys.map { Syscall(name: $0.key, count: $0.value) }.sorted { $0.name < $1.name }
            if packages == nil {
                // Without an SBOM, a package is used when any profile says so.
                var used = Dictionary(uniqueKeysWithValues: out.packages.map { ($0.id, $0) })
                for u in p.packages {
                    if var e = used[u.id] {
                        e.used = e.used || u.used
                        e.usedFiles = max(e.usedFiles, u.usedFiles)
                        used[u.id] = e
                    } else {
                        used[u.id] = u
                    }
                }
                out.packages = used.values.sorted { $0.id < $1.id }
            }
        }
        if let packages { out.packages = packageUse(packages, paths: out.canonicalUsedPaths) }
        out.summary = summarize(out)
        return out
    }

    /// Used paths with symlinks resolved (what package file lists name).
    var canonicalUsedPaths: Set<String> {
        var s = Set<String>()
        for f in files where f.type != .missing {
            s.insert(f.path)
            if let t = f.target { s.insert(t) }
        }
        return s
    }

    /// Joins the used paths with the SBOM: a package is used when one of its files was.
    /// A language package installed by an OS package (Debian's python3-flask dist-info) is used when its owner is.
    public static func packageUse(_ packages: [SoftwarePackage], paths: Set<String>) -> [PackageUse] {
        var uses = packages.map { p in
            let used = p.files.reduce(0) { $0 + (paths.contains($1) ? 1 : 0) }
            return PackageUse(
                id: p.id, type: p.type.rawValue, name: p.name, version: p.version, used: used > 0, files: p.files.count,
                usedFiles: used)
        }
        // `ownedBy` names the owner as TYPE:NAME.
        let usedOwners = Set(uses.filter(\.used).map { "\($0.type):\($0.name)" })
        for (i, p) in packages.enumerated() where !uses[i].used {
            if let owner = p.ownedBy, usedOwners.contains(owner) { uses[i].used = true }
        }
        return uses.sorted { $0.id < $1.id }
    }

    static func summarize(_ p: RuntimeProfile) -> Summary {
        Summary(
            files: p.files.filter { $0.type != .missing }.count,
            missingFiles: p.files.filter { $0.type == .missing }.count,
            executables: Set(p.executables.map(\.path)).count, packagesUsed: p.packages.filter(\.used).count,
            packagesUnused: p.packages.filter { !$0.used }.count)
    }
}

/// Turns the sensors' raw observations into profile records, resolving each path in the image's tree.
public struct ProfileAssembler {
    public let tree: FileTree

    public init(tree: FileTree) { self.tree = tree }

    /// Where `path` leads in the image: (type of the final object, the resolved path when it differs).
    public func resolve(_ path: String) -> (type: RuntimeProfile.FileKind, target: String?) {
        var rel = RawPath(String(path.drop(while: { $0 == "/" }))).normalized
        if rel.isRoot { return (.directory, nil) }
        var hops = 0
        while hops < 40 {
            let parentResolved = tree.resolveParents(rel)
            guard let node = tree.nodes[parentResolved] else { return (.missing, nil) }
            if node.type == .symlink {
                hops += 1
                let target = RawPath(node.linkTarget)
                let base = target.bytes.first == UInt8(ascii: "/") ? RawPath.root : (parentResolved.parent ?? .root)
                rel = RawPath(base.bytes + [UInt8(ascii: "/")] + target.bytes).normalized
                continue
            }
            let type: RuntimeProfile.FileKind =
                node.type == .directory
                ? .directory : (node.type == .regular || node.type == .hardlink ? .file : .other)
            let final = parentResolved.absoluteDescription
            return (type, final == path ? nil : final)
        }
        return (.other, nil)  // a symlink loop
    }

    /// Whether the path itself (not what it leads to) is a symlink in the image.
    public func isSymlink(_ path: String) -> Bool {
        let rel = tree.resolveParents(RawPath(String(path.drop(while: { $0 == "/" }))).normalized)
        return tree.nodes[rel]?.type == .symlink
    }

    /// Combines fanotify and ptrace observations into sorted file records. Paths under /proc, /sys and /dev
    /// (kernel filesystems, not image content) are left out.
    public func files(fanotify: FileAccessLog?, traces: [TraceReport]) -> [RuntimeProfile.FileRecord] {
        var merged: [String: (ops: [String: Int], failures: [String: Int], first: String?)] = [:]
        for (path, e) in fanotify?.entries ?? [:] {
            var m = merged[path] ?? ([:], [:], e.firstProcess)
            m.ops.merge(e.operations, uniquingKeysWith: +)
            merged[path] = m
        }
        for t in traces {
            for a in t.paths {
                var m = merged[a.path] ?? ([:], [:], a.firstProcess)
                m.ops.merge(a.operations, uniquingKeysWith: +)
                m.failures.merge(a.failures, uniquingKeysWith: +)
                merged[a.path] = m
            }
        }
        var out: [String: RuntimeProfile.FileRecord] = [:]
        for (path, m) in merged where !Self.isKernelPath(path) && !Self.isEmulatorPath(path) {
            let (type, target) = resolve(path)
            // A path only seen failing, that the image does not have: the app looked for it (and, minified, must not
            // find something different). A directory listed by the kernel as "/" is skipped.
            let count = m.ops.values.reduce(0, +) + m.failures.values.reduce(0, +)
            out[path] = RuntimeProfile.FileRecord(
                path: path, operations: m.ops.keys.sorted(), count: count, firstProcess: m.first,
                type: isSymlink(path) ? .symlink : type, target: target, failures: m.failures.isEmpty ? nil : m.failures
            )
            // The target of a link is used too.
            if let target, out[target] == nil, merged[target] == nil {
                out[target] = RuntimeProfile.FileRecord(
                    path: target, operations: m.ops.keys.sorted(), count: 0, firstProcess: m.first, type: type,
                    target: nil, failures: nil)
            }
        }
        return out.values.sorted { $0.path < $1.path }
    }

    /// Splits off what the app found in its mounts: the host's (or a scratch volume's) files, not the image's.
    public static func separateMounted(
        _ files: [RuntimeProfile.FileRecord], mountPoints: [String]
    ) -> (
        image: [RuntimeProfile.FileRecord], mounted: [RuntimeProfile.FileRecord]
    ) {
        guard !mountPoints.isEmpty else { return (files, []) }
        let points = mountPoints.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        func under(_ path: String) -> Bool {
            points.contains { path == $0 || path.hasPrefix($0 == "/" ? $0 : $0 + "/") }
        }
        return (files.filter { !under($0.path) }, files.filter { under($0.path) })
    }

    /// Paths of a qemu-user emulator (its host files, or its own look-ups inside the guest root under
    /// `/etc/qemu-binfmt`): never part of what an emulated application used.
    static func isEmulatorPath(_ path: String) -> Bool {
        path == "/etc/qemu-binfmt" || path.hasPrefix("/etc/qemu-binfmt/") || path.hasPrefix("/usr/libexec/qemu-binfmt/")
            || (path.hasPrefix("/usr/bin/qemu-") && path.hasSuffix("-static"))
    }

    static func isKernelPath(_ path: String) -> Bool {
        for p in ["/proc", "/sys", "/dev"] where path == p || path.hasPrefix(p + "/") { return true }
        return false
    }
}

extension RuntimeProfile {
    /// Builds a profile from one run's observations.
    public static func build(
        image: Image, reference: String, tree: FileTree, observation o: RunObservation,
        packages: [SoftwarePackage]
    ) -> RuntimeProfile {
        let assembler = ProfileAssembler(tree: tree)
        let (files, mounted) = ProfileAssembler.separateMounted(
            assembler.files(fanotify: o.fanotify, traces: o.traces), mountPoints: o.mountPoints)
        var execs: [String: Execution] = [:]
        var uids = Set<UInt32>(), gids = Set<UInt32>()
        var syscalls: [String: Int] = [:]
        for t in o.traces {
            for e in t.executions {
                let k = "\(e.path)\u{0}\(e.argv.joined(separator: "\u{0}"))"
                if var x = execs[k] {
                    x.count += 1
                    execs[k] = x
                } else {
                    execs[k] = Execution(path: e.path, argv: e.argv, count: 1, uid: e.uid)
                }
            }
            uids.formUnion(t.uids)
            gids.formUnion(t.gids)
            syscalls.merge(t.syscalls, uniquingKeysWith: +)
        }
        if o.traces.isEmpty {
            // fanotify alone: executables are the files it saw executed; the argv is unknown.
            for f in files where f.operations.contains("exec") {
                execs[f.path] = Execution(path: f.path, argv: [], count: 1, uid: nil)
            }
        }
        var p = RuntimeProfile(
            image: ImageIdentity(
                reference: reference, configDigest: image.configDigest.description,
                manifestDigest: image.manifestDigest.description, platform: image.config.platform.description),
            runs: [o.run], files: files,
            executables: execs.values.sorted {
                ($0.path, $0.argv.joined(separator: " ")) < ($1.path, $1.argv.joined(separator: " "))
            },
            ports: o.ports, uids: uids.sorted(), gids: gids.sorted(),
            syscalls: syscalls.map { Syscall(name: $0.key, count: $0.value) }.sorted { $0.name < $1.name },
            packages: [],
            summary: Summary(files: 0, missingFiles: 0, executables: 0, packagesUsed: 0, packagesUnused: 0))
        p.packages = packageUse(packages, paths: p.canonicalUsedPaths)
        p.summary = summarize(p)
        if !mounted.isEmpty { p.mountedFiles = mounted }
        return p
    }
}

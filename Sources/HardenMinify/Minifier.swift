// harden — minify: plan, build, attach an SBOM of the result, and verify by replaying the profile's probes.
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenRuntime
import HardenSBOM
import HardenSystem
import Logging

public struct MinifyOptions: Sendable {
    public var includes: [String] = []
    public var keepPackages: [String] = []
    public var preset: Preset = .aggressive
    public var stripSecretEnv = false
    public var verify = true
    /// Replace Python sources the app only stat-ed by their bytecode (sourceless modules).
    public var pythonBytecode = false
    /// Run settings for verification (run/cache directories, timeouts).
    public var run = RunOptions()
    public init() {}
}

/// `harden minify --report FILE`: a stable, documented schema (docs/usage.md, "Minify").
public struct MinifyReport: Codable, Sendable {
    public struct Side: Codable, Sendable {
        public var reference: String
        public var configDigest: String
        /// Bytes of regular files in the (squashed) root file system.
        public var contentBytes: Int64
        public var files: Int
        public var packages: Int
    }
    public struct PathReason: Codable, Sendable {
        public var path: String
        public var reason: String
    }
    public struct ProbeComparison: Codable, Sendable {
        public var probe: String
        public var before: String
        public var after: String
        public var same: Bool
        public init(probe: String, before: String, after: String, same: Bool) {
            self.probe = probe
            self.before = before
            self.after = after
            self.same = same
        }
    }
    public struct Verification: Codable, Sendable {
        public var ran: Bool
        public var passed: Bool
        public var probes: [ProbeComparison]
        /// Files the app looked for in the minified image that the original had.
        public var missingFiles: [String]
        public var error: String?
        public init(
            ran: Bool, passed: Bool, probes: [ProbeComparison] = [], missingFiles: [String] = [], error: String? = nil
        ) {
            self.ran = ran
            self.passed = passed
            self.probes = probes
            self.missingFiles = missingFiles
            self.error = error
        }
    }
    public var schemaVersion = 1
    public var preset: String
    public var before: Side
    public var after: Side
    public var reductionPercent: Double
    public var vulnerabilities: [String: [String: Int]]?
    public var changes: [String]
    public var strippedSetuid: [String]
    public var packagesRemoved: [String]
    public var unresolvedLibraries: [String]
    public var verification: Verification
    public var seccompSyscalls: Int
    public var removed: [PathReason]
    public var kept: [PathReason]
}

public struct MinifyResult {
    public var image: Image
    public var report: MinifyReport
    public var seccomp: RuntimeSpec.Seccomp
    public var kubernetes: String
    public var sbomAfter: SBOM
}

public final class Minifier {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    public static let sbomPath = "/usr/share/harden/sbom.cdx.json"

    /// - Parameters:
    ///   - vulnerabilityRank: package id → highest severity rank (1…5) of its known vulnerabilities (presets).
    ///   - countVulnerabilities: counts findings by severity for an SBOM (nil when there is no database).
    public func minify(
        _ image: Image, reference: String, sbom: SBOM, context: CatalogContext, profile: RuntimeProfile,
        options: MinifyOptions, vulnerabilityRank: [String: Int],
        countVulnerabilities: ((SBOM) throws -> [String: Int])?
    ) async throws -> MinifyResult {
        let configDigest = image.configDigest.description
        try profile.image.require(configDigest, reference: reference)
        let runner = ContainerRunner(logger: logger)
        let rootfs = try runner.pristineRootfs(image, options: options.run)
        let fs = DirectoryFileSystem(root: rootfs)
        let passwd = context.content(RawPath("etc/passwd")), group = context.content(RawPath("etc/group"))

        var allowNonRoot = true
        var attempt = 0
        while true {
            attempt += 1
            var input = PlanInput(
                config: image.config.config, tree: context.tree, fileSystem: fs, packages: sbom.packages,
                profile: profile)
            input.includes = options.includes
            input.keepPackages = options.keepPackages
            input.preset = options.preset
            input.vulnerabilityRank = vulnerabilityRank
            input.pythonBytecode = options.pythonBytecode
            var plan = Planner.plan(input)
            let hardened = ConfigHardening.harden(
                image.config.config, profile: profile, passwd: passwd, group: group,
                stripSecretEnv: options.stripSecretEnv, allowNonRoot: allowNonRoot,
                sbomPath: Self.sbomPath, source: configDigest)
            for (path, bytes) in hardened.files {
                plan.overrides[fs.resolve(path)?.path ?? path] = bytes
            }
            // Build once, uncompressed, to catalogue what is really left; then the image, with that SBOM inside.
            let storeDir = try HostFS.makeTemporaryDirectory(prefix: "harden-minify")
            let store = DirectoryBlobStore(root: storeDir, owned: true)
            let draft = try build(
                image, tree: context.tree, plan: plan, hardened: hardened, rootfs: rootfs, store: store,
                compression: .none)
            let (sbomAfter, _) = try SBOMBuilder(cache: nil, logger: logger).catalog(draft.image, reference: "minified")
            plan.overrides[Self.sbomPath] = Array(try SBOMEncoder.render(sbomAfter, format: .cyclonedxJSON).utf8)
            let final = try build(
                image, tree: context.tree, plan: plan, hardened: hardened, rootfs: rootfs, store: store)
            let seccomp = ConfigHardening.seccomp(profile)

            var verification = MinifyReport.Verification(
                ran: false, passed: true, probes: [], missingFiles: [], error: nil)
            if options.verify {
                let users = (hardened.files["/etc/passwd"] ?? passwd, hardened.files["/etc/group"] ?? group)
                verification = await verify(
                    final.image, users: users, original: profile, seccomp: seccomp, originalFS: fs,
                    keep: plan.keep.merging(plan.bytecode.mapValues { "replaced by \($0)" }) { a, _ in a },
                    options: options.run)
                if !verification.passed && !hardened.runsAsRoot && allowNonRoot && attempt == 1 {
                    logger.notice("Verification failed as a non-root user; trying again as root")
                    allowNonRoot = false
                    continue
                }
            }
            let vulnerabilities: [String: [String: Int]]? = try countVulnerabilities.map { count in
                ["before": try count(sbom), "after": try count(sbomAfter)]
            }
            let before = MinifyReport.Side(
                reference: reference, configDigest: configDigest, contentBytes: context.tree.contentSize,
                files: context.tree.regularFileCount, packages: sbom.packages.count)
            let after = MinifyReport.Side(
                reference: "minified", configDigest: final.image.configDigest.description,
                contentBytes: final.layer.bytes, files: final.layer.files, packages: sbomAfter.packages.count)
            let report = MinifyReport(
                preset: options.preset.rawValue, before: before, after: after,
                reductionPercent: before.contentBytes > 0
                    ? (1000 * (1 - Double(after.contentBytes) / Double(before.contentBytes))).rounded() / 10 : 0,
                vulnerabilities: vulnerabilities,
                changes: hardened.changes + final.layer.strippedModes.map { "setuid/setgid removed: \($0)" }
                    + (plan.bytecode.isEmpty
                        ? []
                        : [
                            "python: \(plan.bytecode.count) modules kept as bytecode only; their sources, which the app never read, removed (--python-bytecode)"
                        ]),
                strippedSetuid: final.layer.strippedModes, packagesRemoved: plan.packagesRemoved.sorted(),
                unresolvedLibraries: Array(Set(plan.unresolved)).sorted(), verification: verification,
                seccompSyscalls: seccomp.syscalls?.first?.names.count ?? 0,
                removed: plan.removed.map { MinifyReport.PathReason(path: $0.key, reason: $0.value) }.sorted {
                    $0.path < $1.path
                },
                kept: plan.keep.map { MinifyReport.PathReason(path: $0.key, reason: $0.value) }.sorted {
                    $0.path < $1.path
                })
            let k8s = ConfigHardening.kubernetesSecurityContext(
                profile, hardened: hardened, seccompName: "harden/seccomp.json")
            return MinifyResult(
                image: final.image, report: report, seccomp: seccomp, kubernetes: k8s, sbomAfter: sbomAfter)
        }
    }

    private func build(
        _ image: Image, tree: FileTree, plan: Plan, hardened: HardenedConfig, rootfs: String, store: DirectoryBlobStore,
        compression: Compression = .gzip
    ) throws -> (image: Image, layer: BuiltLayer) {
        let layer = try LayerBuilder.write(
            keep: plan.keep, tree: tree, rootfs: rootfs, overrides: plan.overrides, store: store,
            compression: compression)
        var history = (image.config.history ?? []).map { h -> History in
            var e = h
            e.emptyLayer = true
            return e
        }
        history.append(
            History(
                created: image.config.created, createdBy: "harden minify",
                comment:
                    "minified from \(image.configDigest): \(plan.keep.count) paths kept, \(plan.removed.count) removed")
        )
        let config = ImageConfiguration(
            architecture: image.config.architecture, os: image.config.os, config: hardened.config,
            diffIDs: [layer.diffID], history: history, created: image.config.created)
        return (try Image.assemble(source: "minified", config: config, layers: [layer.descriptor], store: store), layer)
    }

    /// Replays the profile's probes against the minified image, under its seccomp profile, with the ptrace
    /// sensor watching for files the app looks for and does not find. Probes in `options` that the profile does not
    /// hold (an imported profile holds none) run too, and must pass.
    func verify(
        _ image: Image, users: (passwd: [UInt8]?, group: [UInt8]?), original: RuntimeProfile,
        seccomp: RuntimeSpec.Seccomp,
        originalFS: any ImageFileSystem,
        keep: [String: String], options: RunOptions
    ) async -> MinifyReport.Verification {
        guard let run = original.runs.last else {
            return .init(ran: false, passed: true, probes: [], missingFiles: [], error: nil)
        }
        var o = options
        o.sensors = [.ptrace]
        o.seccomp = seccomp
        // The network the app had while it was profiled (a service on the host, say); isolated for older profiles.
        if let mode = run.network.flatMap(NetworkMode.init(rawValue:)) { o.network = mode }
        o.httpProbes = run.probes.filter { $0.kind == .http || $0.kind == .https }.compactMap {
            try? HTTPProbe(parsing: $0.kind == .https && !$0.spec.hasPrefix("https:") ? "https:" + $0.spec : $0.spec)
        }
        o.execProbes = run.probes.filter { $0.kind == .exec }.map(\.spec)
        o.probeScripts = run.probes.filter { $0.kind == .script }.map(\.spec)
        let extraHTTP = options.httpProbes.filter { p in !o.httpProbes.contains { $0.spec == p.spec } }
        let extraExec = options.execProbes.filter { !o.execProbes.contains($0) }
        let extraScripts = options.probeScripts.filter { !o.probeScripts.contains($0) }
        o.httpProbes += extraHTTP
        o.execProbes += extraExec
        o.probeScripts += extraScripts
        if o.httpProbes.isEmpty && o.execProbes.isEmpty && o.probeScripts.isEmpty { o.duration = 2 }
        do {
            let observation = try await ContainerRunner(logger: logger).run(
                image, users: users, reference: "minified image", options: o)
            var comparisons: [MinifyReport.ProbeComparison] = []
            let order = run.probes
            let afterByKey = Dictionary(
                observation.run.probes.map { ("\($0.kind) \($0.spec)", $0) }, uniquingKeysWith: { a, _ in a })
            for b in order {
                let key = "\(b.kind == .https && !b.spec.hasPrefix("https:") ? "https" : b.kind.rawValue) \(b.spec)"
                let a = afterByKey[key] ?? afterByKey["\(b.kind) \(b.spec)"]
                let bs = describe(b), asText = a.map(describe) ?? "not run"
                comparisons.append(.init(probe: "\(b.kind) \(b.spec)", before: bs, after: asText, same: bs == asText))
            }
            let extras =
                extraHTTP.map { ($0.https ? "https" : "http", $0.spec) } + extraExec.map { ("exec", $0) }
                + extraScripts.map { ("script", $0) }
            for (kind, spec) in extras {
                let a = afterByKey["\(kind) \(spec)"]
                comparisons.append(
                    .init(
                        probe: "\(kind) \(spec)", before: "(given) must pass", after: a.map(describe) ?? "not run",
                        same: a?.ok == true))
            }
            var missing = Set<String>()
            for t in observation.traces {
                for p in t.paths where p.failures["ENOENT"] != nil && p.operations.isEmpty {
                    if keep[p.path] == nil, originalFS.resolve(p.path) != nil { missing.insert(p.path) }
                }
            }
            let passed = comparisons.allSatisfy(\.same)
            return .init(ran: true, passed: passed, probes: comparisons, missingFiles: missing.sorted(), error: nil)
        } catch {
            return .init(ran: true, passed: false, probes: [], missingFiles: [], error: "\(error)")
        }
    }

    func describe(_ p: RuntimeProfile.ProbeResult) -> String {
        p.ok ? "ok \(p.status.map(String.init) ?? "")" : "failed \(p.status.map(String.init) ?? p.error ?? "")"
    }
}

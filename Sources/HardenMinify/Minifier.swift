// harden — minify: plan, build, attach an SBOM of the result, and have the result verified (the verifier — the
// pipeline's VerifyStage, which runs the executor — is given; this module does not link the executor).
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenProfile
import HardenSBOM
import HardenSystem
import Logging

public struct MinifyOptions: Sendable {
    public var includes: [String] = []
    public var keepPackages: [String] = []
    public var preset: Preset = .aggressive
    public var stripSecretEnv = false
    /// Names of the image's environment variables that look like secrets (the check stage's rules; the minify stage
    /// fills it): reported, or removed with `stripSecretEnv`.
    public var secretVariables: [String] = []
    public var verify = true
    /// Replace Python sources the app only stat-ed by their bytecode (sourceless modules).
    public var pythonBytecode = false
    public init() {}
}

/// Replays a profile against a minified image and compares (the pipeline's `VerifyStage`).
public protocol MinifyVerifier {
    /// - Parameters:
    ///   - users: the minified image's passwd and group (the container's user is resolved against them).
    ///   - originalFS: the input image's files, to tell a file the app missed from one that never existed.
    ///   - keep: what the plan kept, with reasons.
    func verify(
        _ image: Image, users: (passwd: [UInt8]?, group: [UInt8]?), original: RuntimeProfile,
        seccomp: RuntimeSpec.Seccomp, originalFS: any ImageFileSystem, keep: [String: String]
    ) async -> MinifyReport.Verification
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
    /// Findings by severity in the input and in the result (nil without a vulnerability database).
    public var vulnerabilities: VulnerabilityCounts?
    public var changes: [String]
    public var strippedSetuid: [String]
    public var packagesRemoved: [String]
    public var unresolvedLibraries: [String]
    public var verification: Verification
    public var seccompSyscalls: Int
    public var removed: [PathReason]
    public var kept: [PathReason]
}

/// Findings by severity (`critical`: 2, …) before and after.
public struct VulnerabilityCounts: Codable, Sendable, Equatable {
    public var before: [String: Int]
    public var after: [String: Int]

    public init(before: [String: Int], after: [String: Int]) {
        self.before = before
        self.after = after
    }
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
    let verifier: (any MinifyVerifier)?

    /// Without a verifier the result is not verified (the report says verification did not run).
    public init(logger: Logger, verifier: (any MinifyVerifier)?) {
        self.logger = logger
        self.verifier = verifier
    }

    public static let sbomPath = "/usr/share/harden/sbom.cdx.json"

    /// - Parameters:
    ///   - rootfs: the image unpacked (read-only here): the planner reads files from it, the builder copies them.
    ///   - vulnerabilityRank: package id → highest severity rank (1…5) of its known vulnerabilities (presets).
    ///   - countVulnerabilities: counts findings by severity for an SBOM (nil when there is no database).
    public func minify(
        _ image: Image, reference: String, rootfs: String, sbom: SBOM, context: CatalogContext,
        profile: RuntimeProfile, options: MinifyOptions, vulnerabilityRank: [String: Int],
        countVulnerabilities: ((SBOM) throws -> [String: Int])?
    ) async throws -> MinifyResult {
        let configDigest = image.configDigest.description
        try profile.image.require(configDigest, reference: reference)
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
                secretVariables: options.secretVariables, stripSecretEnv: options.stripSecretEnv,
                allowNonRoot: allowNonRoot,
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
            // Under emulation the kernel filters the host's qemu-user: verification runs under the host's table.
            let platform = (try? Platform(parsing: profile.image.platform)) ?? .defaultPlatform
            let verifySeccomp =
                platform.architecture == Platform.host.architecture
                ? seccomp : ConfigHardening.seccomp(profile, executing: Platform.host.architecture)

            var verification = MinifyReport.Verification(
                ran: false, passed: true, probes: [], missingFiles: [], error: nil)
            if options.verify, let verifier {
                let users = (hardened.files["/etc/passwd"] ?? passwd, hardened.files["/etc/group"] ?? group)
                verification = await verifier.verify(
                    final.image, users: users, original: profile, seccomp: verifySeccomp, originalFS: fs,
                    keep: plan.keep.merging(plan.bytecode.mapValues { "replaced by \($0)" }) { a, _ in a })
                if !verification.passed && !hardened.runsAsRoot && allowNonRoot && attempt == 1 {
                    logger.notice("Verification failed as a non-root user; trying again as root")
                    allowNonRoot = false
                    continue
                }
            }
            let vulnerabilities = try countVulnerabilities.map { count in
                VulnerabilityCounts(before: try count(sbom), after: try count(sbomAfter))
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
}

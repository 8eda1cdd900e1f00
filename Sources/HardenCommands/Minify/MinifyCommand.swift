// harden — `harden minify IMAGE --profile PROFILE.json -o DEST`.
import ArgumentParser
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenPolicy
import HardenProfile
import HardenRegistry
import HardenReport
import HardenRuntime
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

extension Preset: ExpressibleByArgument {}

/// What to keep beyond the profile, and how hard to cut: shared by `minify` and `run`.
public struct KeepOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("Keep this path (a directory: everything under it) (repeatable).", valueName: "PATH"))
    public var include: [String] = []

    @Option(name: .long, help: ArgumentHelp("Keep every file of this package (repeatable).", valueName: "NAME"))
    public var keepPackage: [String] = []

    @Option(
        name: .long,
        help:
            "aggressive (drop every unused file), standard (drop unused vulnerable packages and unowned files), light (drop unused packages with high/critical vulnerabilities)."
    )
    public var preset: Preset = .aggressive

    @Flag(name: .long, help: "Remove environment variables that look like secrets.")
    public var stripSecretEnv = false

    @Flag(
        name: .long,
        help:
            "Replace Python modules whose source the app never read (it loaded their cached .pyc) by sourceless bytecode: smaller, but tracebacks show no source lines."
    )
    public var pythonBytecode = false

    public init() {}

    /// Fails when a preset needs the vulnerability database and there is none.
    public func apply(to options: inout MinifyOptions, data: VulnerabilityData) throws {
        if data.database == nil && preset != .aggressive {
            throw HardenError(
                .notFound,
                "\(data.path): the \(preset.rawValue) preset needs a vulnerability database (harden db import or db update)"
            )
        }
        options.includes = include
        options.keepPackages = keepPackage
        options.preset = preset
        options.stripSecretEnv = stripSecretEnv
        options.pythonBytecode = pythonBytecode
    }
}

extension Application {
    public struct Minify: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "minify",
            abstract:
                "Rebuild an image with only what its runtime profile used (plus closure and essentials), hardened, and verify it.",
            discussion: """
                Keeps the files the profile saw, their ELF closure (interpreter, DT_NEEDED through RPATH/RUNPATH/ld.so.cache), \
                symlinks on the way, script interpreters, whole language packages once one file is used, and essentials \
                (passwd, group, nsswitch, CA bundle, os-release, NSS/DNS modules). The package database is rewritten to \
                the packages that still have files and an SBOM of the result is added. The result is one new layer. \
                Verification replays the profile's probes on the new image under its seccomp profile; a divergence exits 2 \
                and writes no image. Probes given here run too and must pass (a profile imported from an instrumented \
                image holds none).
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var settings: RunSettingsOptions
        @OptionGroup(title: "Verification probes (besides the profile's; these must pass)") public var probes:
            ProbeOptions

        @Argument(help: "The image (with --compose: default, the service's image).")
        public var image: String?

        @Option(
            name: .long,
            help: ArgumentHelp("The runtime profile of this image (harden profile).", valueName: "PROFILE.json"))
        public var profile: String

        @Option(
            name: .shortAndLong,
            help: ArgumentHelp("Where to write the hardened image (any transport).", valueName: "DEST"))
        public var output: String

        @Option(name: .long, help: "Write the report (JSON) to this file.")
        public var report: String?

        @Option(name: .long, help: "Write the seccomp profile (OCI/Docker JSON) to this file.")
        public var seccomp: String?

        @Option(name: .long, help: "Write a Kubernetes securityContext (YAML) to this file.")
        public var k8s: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Write an OpenVEX document of what minify did to each vulnerability (needs a vulnerability database).",
                valueName: "FILE"))
        public var vexOut: String?

        @OptionGroup public var keep: KeepOptions

        @Flag(name: .long, help: "Do not replay the probes on the result.")
        public var noVerify = false

        @OptionGroup public var signing: SignOutputOptions

        @Flag(
            name: .long,
            help:
                "Multi-platform images: fail when the profile cannot be applied to a platform (default: keep it unchanged with a warning)."
        )
        public var strictPlatforms = false

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(try settings.targetImage(given: image))
            let dest = try ImageReference.parse(output)
            try PublishStage.check(dest, signing: signing.signKey != nil)
            let publish = try signing.publishOptions(command: "minify", policy: nil)
            let key = try signing.keyLoader()
            key?.start()
            let started = Date()
            // Vulnerability data, when there is a database: presets decide with it, the report counts with it.
            let data = try VulnerabilityData(path: database.path)
            if let vexOut, data.database == nil {  // refused before any work, not after it
                throw HardenError(
                    .notFound, "\(database.path): --vex-out \(vexOut) needs a vulnerability database (harden db update)"
                )
            }
            let (runtimeProfile, profileBytes) = try ProfileFile.readWithBytes(profile)
            let (options, run) = try await verification(
                runtimeProfile, reference: reference, data: data, logger: logger)
            let anyPlatform = try imageOptions.transport(logger: logger, anyPlatform: true)
            let onePlatform = imageOptions.platform.map { $0 != "all" && !$0.contains(",") } ?? false
            if let index = try await anyPlatform.platformIndex(of: reference), !(key != nil && onePlatform) {
                try await minifyIndex(
                    index, reference: reference, destination: dest, transport: anyPlatform,
                    profile: (runtimeProfile, profileBytes), options: options, run: run, data: data,
                    signing: key.map { PlatformSigning(key: $0, publish: publish, started: started) }, logger: logger)
                return
            }
            let img = try await imageOptions.open(reference, logger: logger, progress: global.showProgress)
            let (sbom, context) = try SBOMBuilder(logger: logger).catalog(img, reference: reference.description)
            let progress = ProgressLine(enabled: global.showProgress)
            progress.update("minify: planning and building")
            let before = try data.findings(sbom)
            var result = try await MinifyStage.run(
                img, reference: reference.description, sbom: sbom, context: context, profile: runtimeProfile,
                findings: before, data: data, options: options, run: run, logger: logger)
            progress.finish()
            var remediation: (before: [Finding], after: [Finding], vex: [UInt8]?)?
            if let before, let after = try data.findings(result.sbomAfter) {
                let evidence = try MinifyStage.evidence(
                    &result, name: dest.description, before: before, after: after,
                    tree: try ImageInspection.inspect(result.image).tree)
                if let vexOut, let doc = evidence.document { try HostFS.writeFileAtomically(vexOut, doc) }
                remediation = (before, evidence.after, evidence.document)
            }
            if let report { try HostFS.writeFileAtomically(report, try JSONCoding.encode(result.report, pretty: true)) }
            if let seccomp {
                try HostFS.writeFileAtomically(seccomp, try JSONCoding.encode(result.seccomp, pretty: true))
            }
            if let k8s { try HostFS.writeFileAtomically(k8s, Array(result.kubernetes.utf8)) }
            if !global.quiet { print(Self.summary(result.report)) }
            let v = result.report.verification
            guard v.passed else {
                for line in MinifyStage.verificationFailures(v) { writeStandardError("harden: \(line)\n") }
                throw ExitCode(2)
            }
            // Signed: the result's SBOM and scan, the remediation's OpenVEX, provenance (the input and the profile's
            // digest) and the hardening report go beside it.
            try await imageOptions.writeResult(
                result.image, to: dest, key: key, publish: publish, quiet: global.quiet, logger: logger
            ) {
                try Pipeline(logger: logger, vulnerabilities: data).minifyResult(
                    result, given: img, reference: reference.description, destination: dest.description,
                    started: started, evidence: remediation, profile: profileBytes)
            }
        }

        /// What minify and its verification run with: the keep rules, the probes given here besides the profile's,
        /// the settings the container starts with.
        func verification(
            _ runtimeProfile: RuntimeProfile, reference: ImageReference, data: VulnerabilityData, logger: Logger
        ) async throws -> (MinifyOptions, RunOptions) {
            var options = MinifyOptions()
            try keep.apply(to: &options, data: data)
            options.verify = !noVerify
            // Probes given here run in the verification besides the profile's (an imported profile has none).
            let given = try probes.runOptions(sensors: [])
            var run = RunOptions()
            run.httpProbes = given.httpProbes
            run.execProbes = given.execProbes
            run.probeScripts = given.probeScripts
            run.probeTimeout = given.probeTimeout
            run.limits = given.limits
            run.network = given.network  // the profile's own network mode, when it recorded one, wins
            if let d = given.duration { run.duration = d }
            if options.verify, runtimeProfile.runs.allSatisfy({ $0.probes.isEmpty }),
                given.httpProbes.isEmpty && given.execProbes.isEmpty
                    && given.probeScripts.isEmpty
            {
                let text =
                    "\(profile) holds no probe (an imported or start-up-only profile) and none is given: verification only starts the result"
                if probes.requireProbes { throw HardenError(.invalidArgument, text + " (--require-probes)") }
                writeStandardError("harden: warning: \(text); give --http-probe, --exec-probe or --probe-script\n")
            }
            // Verification starts the container (and its services) with the settings it was profiled with.
            for w in try await settings.apply(
                to: &run, imageOptions: imageOptions, target: reference, logger: logger)
            {
                writeStandardError("harden: warning: \(w)\n")
            }
            if let recorded = runtimeProfile.runs.last?.settings, run.settings.isEmpty, options.verify {
                writeStandardError(
                    "harden: warning: \(profile) was recorded with settings (variables \(recorded.environment.joined(separator: ", ")); \(recorded.mounts.count) mounts); verification runs without them unless they are given again\n"
                )
            }
            return (options, run)
        }

        static func summary(_ r: MinifyReport) -> String {
            var t = TextTable(rows: [["", "BEFORE", "AFTER"]])
            t.rows.append(["size", formatBytes(r.before.contentBytes), formatBytes(r.after.contentBytes)])
            t.rows.append(["files", "\(r.before.files)", "\(r.after.files)"])
            t.rows.append(["packages", "\(r.before.packages)", "\(r.after.packages)"])
            if let v = r.vulnerabilities {
                for s in Severity.descending.map(\.rawValue) where (v.before[s] ?? 0) + (v.after[s] ?? 0) > 0 {
                    t.rows.append(["vulnerabilities \(s)", "\(v.before[s] ?? 0)", "\(v.after[s] ?? 0)"])
                }
            }
            var out =
                t.render()
                + "\nreduction: \(r.reductionPercent)% of the root file system; \(r.removed.count) files removed, \(r.kept.count) paths kept"
            for c in r.changes.prefix(20) { out += "\n  - \(c)" }
            if r.verification.ran {
                out +=
                    "\nverification: \(r.verification.passed ? "passed" : "FAILED") (\(r.verification.probes.map { "\($0.probe): \($0.after)" }.joined(separator: ", ")))"
            }
            return out
        }
    }
}

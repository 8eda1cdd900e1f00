// harden — `harden run IMAGE [probes] -o DEST`: the whole pipeline in one command, with a report directory.
import ArgumentParser
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenPatch
import HardenPipeline
import HardenPolicy
import HardenProfile
import HardenRegistry
import HardenReport
import HardenRuntime
import HardenSign
import HardenSystem
import HardenVulnDB
import Logging
import Synchronization

extension Application {
    public struct Run: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "run",
            abstract:
                "The whole pipeline: SBOM and scan, profile under probes, minify, verify, scan the result, check it against a policy.",
            discussion: """
                Writes the hardened image to DEST only when verification passes and the policy (if any) holds; the report \
                directory is written either way: report.json (every stage, digests, database age, timestamps), report.html, \
                sbom-before/after.cdx.json, scan-before/after.sarif, profile.json, seccomp.json, k8s-security-context.yaml. \
                Exit 2 when a probe fails on the input, verification diverges or the policy is violated; 1 on errors.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var probes: ProbeOptions
        @OptionGroup public var settings: RunSettingsOptions

        @Argument(help: "The image (with --compose: default, the service's image).")
        public var image: String?

        @Option(
            name: .shortAndLong,
            help: ArgumentHelp("Where to write the hardened image (any transport).", valueName: "DEST"))
        public var output: String

        @Option(name: .long, help: ArgumentHelp("A policy file (YAML; see docs/formats.md).", valueName: "FILE"))
        public var policy: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "The report directory: new, empty, or an earlier harden report (replaced as a whole); any other directory is refused.",
                valueName: "DIR"))
        public var reportDir: String = "harden-report"

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Also write the OpenVEX document of the remediation here (it is always vex.openvex.json in the report directory).",
                valueName: "FILE"))
        public var vexOut: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Supplier VEX (OpenVEX, CSAF 2.0, CycloneDX; a file or a directory) applied to the scans before and after (repeatable).",
                valueName: "FILE|DIR"))
        public var vex: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Order of the report's vulnerabilities: severity (known-exploited, severity, EPSS), risk or package.",
                valueName: "order"))
        public var sortBy: FindingOrder = .severity

        @OptionGroup public var keep: KeepOptions

        @Flag(
            name: .long,
            help:
                "Patch first: upgrade packages with published fixes (harden patch), then profile and minify the result."
        )
        public var patch = false

        @Flag(name: .long, help: "With --patch: upgrade every package that has a newer version.")
        public var patchAll = false

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Patch the application's own libraries of these ecosystems too (comma-separated: python, npm, maven); implies --patch.",
                valueName: "LIST"))
        public var patchLibraries: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "With --patch-libraries: how far a library may move (patch, minor, major).", valueName: "LEVEL"))
        public var libraryPatchLevel: String?

        @Option(
            name: .long,
            help: ArgumentHelp("With --patch-libraries: the Python package index (PEP 691).", valueName: "URL"))
        public var pythonIndex: String = PythonIndex.pypi

        @Option(name: .long, help: ArgumentHelp("With --patch-libraries: the npm registry.", valueName: "URL"))
        public var npmRegistry: String = NpmRegistry.npmjs

        @Option(
            name: [.customLong("maven-repository"), .customLong("maven-repo")],
            help: ArgumentHelp("With --patch-libraries: the Maven repository.", valueName: "URL"))
        public var mavenRepository: String = MavenRepository.central

        @Option(
            name: .long,
            help: ArgumentHelp(
                "With --patch-libraries: credentials for private indexes (HOST[:PORT] USER:PASS lines).",
                valueName: "FILE"))
        public var libraryCredsFile: String?

        @Option(
            name: .long, help: ArgumentHelp("With --patch: a trusted OpenPGP key file (repeatable).", valueName: "FILE")
        )
        public var keyring: [String] = []

        @OptionGroup public var signing: SignOutputOptions

        @Flag(
            name: .long,
            help:
                "Multi-platform images: fail when a platform cannot be processed (default: keep it unchanged with a warning)."
        )
        public var strictPlatforms = false

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Multi-platform images: profile only this platform (e.g. the host's, linux/amd64) and map its profile onto the others whose used packages are the same versions; each is still verified by replay (foreign ones under emulation).",
                valueName: "PLATFORM"))
        public var profilePlatform: String?

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(try settings.targetImage(given: image))
            let dest = try ImageReference.parse(output)
            try Self.checkReportDirectory(reportDir)
            var publish = try signing.publishOptions(command: "run", policy: policy)
            try PublishStage.check(dest, signing: signing.signKey != nil)
            let key = try signing.keyLoader()
            let data = try VulnerabilityData(path: database.path)
            var options = try await pipelineOptions(reference: reference, destination: dest, data: data, logger: logger)
            if let inputs = options.policy?.inputs, !inputs.isEmpty {
                publish.invocation.inputVerification = try await InputGate.checkOrExit(
                    inputs, policyFile: policy, reference: reference,
                    transport: try imageOptions.transport(logger: logger))
            }

            let quiet = global.quiet
            let ticker = StageTicker(
                enabled: global.showProgress, stages: StageName.shown(patching: options.patch != nil))
            let pipeline = Pipeline(logger: logger, vulnerabilities: data) { event in
                switch event {
                case .started(let stage, let detail):
                    if stage == .profile { key?.start() }
                    if ticker.enabled {
                        ticker.stage(stage, detail)
                    } else if !quiet {
                        writeStandardError("harden: \(stage.rawValue): \(detail)\n")
                    }
                case .progress(let stage, let detail):
                    ticker.stage(stage, detail)
                case .finished(let stage, let seconds, let status, let detail):
                    if !ticker.enabled && !quiet {
                        writeStandardError(
                            "harden: \(stage.rawValue): \(status) in \(String(format: "%.1f", seconds)) s\(detail.map { " — \($0)" } ?? "")\n"
                        )
                    }
                }
            }
            let anyPlatform = try imageOptions.transport(logger: logger, anyPlatform: true)
            let onePlatform = imageOptions.platform.map { $0 != "all" && !$0.contains(",") } ?? false
            if let index = try await anyPlatform.platformIndex(of: reference), !(key != nil && onePlatform) {
                let tick = ticker.start()
                defer { ticker.stop(tick) }
                publish.signingKey = try await key?.value()
                try await runIndex(
                    index, reference: reference, destination: dest, transport: anyPlatform, pipeline: pipeline,
                    options: options, publish: publish)
                return
            }
            if profilePlatform != nil {
                throw HardenError(
                    .invalidArgument, "\(reference): --profile-platform is for multi-platform images; this is one image"
                )
            }
            let img =
                imageOptions.platform == "all"
                ? try await anyPlatform.open(reference)
                : try await imageOptions.open(reference, logger: logger, progress: global.showProgress)
            options.tag = imageOptions.tag(of: reference, image: img)
            let tick = ticker.start()
            var result: PipelineResult
            do {
                result = try await pipeline.run(img, reference: reference.description, options: options)
                ticker.stop(tick)
            } catch {
                ticker.stop(tick)
                throw error
            }

            // The image, only when every gate holds.
            if let image = result.image, !result.gateFailed {
                publish.signingKey = try await key?.value()
                let written = try await PublishStage.publish(
                    image, result: &result, to: dest, transport: try imageOptions.transport(logger: logger),
                    options: publish)
                if !quiet {
                    writeStandardError(
                        "wrote \(written.reference)" + (written.manifestDigest.map { " (\($0))" } ?? "") + "\n")
                }
            }
            try Self.writeReportDirectory(reportDir, try Pipeline.reportFiles(result))
            if let vexOut {
                if let doc = result.files["vex.openvex.json"] {
                    try HostFS.writeFileAtomically(vexOut, doc)
                } else if !quiet {
                    writeStandardError(
                        "no vulnerability to make a VEX statement about (or no database): \(vexOut) not written\n")
                }
            }
            if !quiet { print(Self.summary(result.record, reportDir: reportDir)) }
            if result.gateFailed {
                for f in result.record.failures { writeStandardError("harden: \(f)\n") }
                if result.image != nil { writeStandardError("harden: \(dest) was not written\n") }
                throw ExitCode(2)
            }
        }

        /// The pipeline's options from this command's flags: policy, probes, the app's settings (and Compose
        /// services), keep/preset, patch. `harden run` and the fleet's run jobs both use it.
        public func pipelineOptions(
            reference: ImageReference, destination: ImageReference, data: VulnerabilityData, logger: Logger
        ) async throws -> PipelineOptions {
            var options = PipelineOptions()
            options.policy = try policy.map { try Policy.load($0) }
            options.policyFile = policy
            options.findingOrder = sortBy
            options.vex =
                try vex.flatMap { try VEXDocument.load($0) }
                + (options.policy?.vexDocuments(policyFile: policy) ?? [])
            if options.policy?.needsVulnerabilities == true && data.database == nil {
                throw HardenError(
                    .notFound,
                    "\(database.path): the policy's vulnerability rules need a vulnerability database (harden db import or db update)"
                )
            }
            options.run = try probes.runOptions(sensors: [.fanotify, .ptrace])
            if let w = try probes.coverageWarning() {
                if !global.quiet { writeStandardError("harden: warning: \(w)\n") }
                options.warnings.append(w)
            }
            options.warnings += try await settings.apply(
                to: &options.run, imageOptions: imageOptions, target: reference, logger: logger
            )
            .map {
                "compose: \($0)"
            }
            options.allowProbeFailure = probes.allowProbeFailure
            try keep.apply(to: &options.minify, data: data)
            options.destination = destination.description
            if patch || patchAll || patchLibraries != nil {
                var p = PatchOptions()
                p.all = patchAll
                p.keyrings = keyring
                if let patchLibraries {
                    var flags = LibraryPatchFlags()
                    flags.libraries = patchLibraries
                    flags.libraryPatchLevel = libraryPatchLevel
                    flags.pythonIndex = pythonIndex
                    flags.npmRegistry = npmRegistry
                    flags.mavenRepository = mavenRepository
                    flags.libraryCredsFile = libraryCredsFile
                    flags.onlyLibraries = !patch && !patchAll
                    try flags.apply(to: &p, all: patchAll)
                }
                options.patch = p
            }
            return options
        }

        /// The file that marks a directory as a harden report, so a later run may replace it.
        static let reportMarker = ".harden-report"

        /// Refuses a report directory harden may not replace: anything but a missing path, an empty directory or an
        /// earlier report (holding `reportMarker`). Checked before the run, so a mistake costs no time.
        public static func checkReportDirectory(_ dir: String) throws {
            guard HostFS.exists(dir) else { return }
            guard HostFS.isDirectory(dir) else {
                throw HardenError(.invalidArgument, "\(dir): --report-dir exists and is not a directory")
            }
            let names = try HostFS.listDirectory(dir)
            if names.isEmpty || names.contains(reportMarker) { return }
            throw HardenError(
                .invalidArgument,
                "\(dir): --report-dir exists, is not empty and is not a harden report (no \(reportMarker)); harden replaces only its own reports — name a new or empty directory"
            )
        }

        /// Writes the files into a new directory beside `dir`, then swaps it in: readers never see half a report.
        /// Only a directory harden wrote (or an empty one) is replaced; anything else is refused, never deleted.
        public static func writeReportDirectory(_ dir: String, _ files: [(name: String, bytes: [UInt8])]) throws {
            try checkReportDirectory(dir)
            HostFS.sweepStaleSiblings(of: dir)
            let tmp = HostFS.temporarySibling(of: dir)
            try HostFS.makeDirectories(tmp)
            do {
                try HostFS.writeFileAtomically(
                    tmp + "/" + reportMarker,
                    Array("harden report directory: replaced as a whole by the next `harden run --report-dir`\n".utf8))
                for f in files {
                    // A multi-platform run: each platform's report in its own subdirectory.
                    if let slash = f.name.lastIndex(of: "/") {
                        try HostFS.makeDirectories(tmp + "/" + f.name[..<slash])
                    }
                    try HostFS.writeFileAtomically(tmp + "/" + f.name, f.bytes)
                }
                if HostFS.exists(dir) {
                    let old = HostFS.temporarySibling(of: dir)
                    try HostFS.rename(dir, old)
                    try HostFS.rename(tmp, dir)
                    try HostFS.removeTree(old)
                } else {
                    try HostFS.rename(tmp, dir)
                }
            } catch {
                try? HostFS.removeTree(tmp)
                throw error
            }
        }

        static func summary(_ r: RunRecord, reportDir: String) -> String {
            var t = TextTable(rows: [["", "BEFORE", "AFTER"]])
            let out = r.output
            t.rows.append(["size", formatBytes(r.input.contentBytes), out.map { formatBytes($0.contentBytes) } ?? "-"])
            t.rows.append(["files", "\(r.input.files)", out.map { "\($0.files)" } ?? "-"])
            t.rows.append(["packages", "\(r.input.packages)", out.map { "\($0.packages)" } ?? "-"])
            if let v = r.vulnerabilities {
                t.rows.append(["vulnerabilities", "\(v.before.values.reduce(0, +))", "\(v.after.values.reduce(0, +))"])
                for s in Severity.descending.map(\.rawValue) where (v.before[s] ?? 0) + (v.after[s] ?? 0) > 0 {
                    t.rows.append(["  \(s)", "\(v.before[s] ?? 0)", "\(v.after[s] ?? 0)"])
                }
            }
            let failedBefore = r.checksFailedBefore.values.reduce(0, +)
            t.rows.append(["failed checks", "\(failedBefore)", "\(r.checks.filter(\.failed).count)"])
            var s = t.render()
            if let m = r.minify {
                s +=
                    "\nverification: "
                    + (m.verification.ran ? (m.verification.passed ? "passed" : "FAILED") : "not run")
            }
            if let p = r.policy { s += "\npolicy: " + (p.passed ? "passed" : "violated (\(p.violations.count))") }
            for w in r.warnings { s += "\nwarning: \(w)" }
            s += "\nverdict: \(r.verdict.rawValue.uppercased()) — report in \(reportDir)/report.html"
            return s
        }
    }
}

/// The progress line of `harden run` on a terminal: the stage, what it is doing and the time since the run
/// started, redrawn twice a second so long stages (the container run, verification) show they are alive.
final class StageTicker: Sendable {
    let enabled: Bool
    let stages: [StageName]
    private let state: Mutex<(stage: StageName?, detail: String, index: Int)>
    private let started = Date()

    init(enabled: Bool, stages: [StageName]) {
        self.enabled = enabled
        self.stages = stages
        state = Mutex((stage: nil, detail: "", index: 0))
    }

    func stage(_ name: StageName, _ detail: String) {
        let index = (stages.firstIndex(of: name) ?? 0) + 1
        state.withLock { $0 = (name, detail, index) }
    }

    /// The line drawn for the current stage ("[2/7] scan-before: … — 3.1 s"), nil before the first stage.
    func line(now: Date = Date()) -> String? {
        let s = state.withLock { $0 }
        guard let stage = s.stage else { return nil }
        let elapsed = String(format: "%.1f s", now.timeIntervalSince(started))
        return "[\(s.index)/\(stages.count)] \(stage.rawValue): \(s.detail) — \(elapsed)"
    }

    func draw() {
        guard enabled, let line = line() else { return }
        writeStandardError("\r\u{1b}[2K" + String(line.prefix(120)))
    }

    func start() -> Task<Void, Never>? {
        guard enabled else { return nil }
        return Task { [self] in
            while !Task.isCancelled {
                draw()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    func stop(_ task: Task<Void, Never>?) {
        task?.cancel()
        if enabled { writeStandardError("\r\u{1b}[2K") }
    }
}

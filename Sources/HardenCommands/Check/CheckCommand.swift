// harden — `harden check IMAGE`: CIS Docker Benchmark §4 / Dockle checks and the policy gate.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenPolicy
import HardenProfile
import HardenRegistry
import HardenReport
import HardenRuntime
import HardenSBOM
import HardenVulnDB
import Logging

public enum CheckFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, json, sarif
}

extension CheckLevel: ExpressibleByArgument {}

extension Application {
    public struct Check: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check an image against CIS Docker Benchmark §4, Dockle's checkpoints and a policy file.",
            discussion: """
                Checks: \(ImageChecks.catalogue.map { "\($0.id) \($0.title)" }.joined(separator: "; ")).
                A runtime profile (--profile) decides the checks that need one (unused packages, ports never listened on, \
                shells and package managers never run). With a vulnerability database the scan feeds CIS-DI-0004 and the \
                policy's vulnerability rules. Exit 2 when the policy is violated or --fail-on is reached; 1 on errors, \
                including an invalid policy file (its line and key are named).
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var database: DatabaseOptions

        @Argument(help: "The image.")
        public var image: String

        @Option(name: .long, help: ArgumentHelp("A policy file (YAML; see docs/formats.md).", valueName: "FILE"))
        public var policy: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "A runtime profile of this image, or of the image it was minified from.", valueName: "PROFILE.json"))
        public var profile: String?

        @Option(name: .long, help: "Output format: table, json or sarif.")
        public var format: CheckFormat = .table

        @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
        public var output: String?

        @Option(name: .long, help: "Exit with code 2 when a check of this level or higher fails: info, warn, fatal.")
        public var failOn: CheckLevel?

        @Option(name: .long, help: ArgumentHelp("Accept this check's failure (repeatable).", valueName: "ID"))
        public var ignore: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Order of the policy's vulnerability violations: severity (known-exploited, severity, EPSS), risk or package.",
                valueName: "order"))
        public var sortBy: FindingOrder = .severity

        public init() {}

        public func validate() throws {
            let known = Set(ImageChecks.ids)
            for id in ignore where !known.contains(id) { throw ValidationError("--ignore \(id): no such check") }
        }

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(image)
            let pol = try policy.map { try Policy.load($0) }
            let runtimeProfile = try profile.map { try ProfileFile.read($0) }
            let data = try VulnerabilityData(path: database.path)
            if pol?.needsVulnerabilities == true && data.database == nil {
                throw HardenError(
                    .notFound,
                    "\(database.path): the policy's vulnerability rules need a vulnerability database (harden db import or db update)"
                )
            }
            let images = try await imageOptions.openEach(
                reference, logger: logger, progress: global.showProgress, quiet: global.quiet)
            if runtimeProfile != nil, images.count > 1 {
                throw HardenError(
                    .invalidArgument, "--profile describes one image: give --platform P with it, not --platform all")
            }
            var results: [(platform: String?, report: CheckReport, failures: [String])] = []
            for (platform, img) in images {
                let (report, failures) = try check(
                    img, reference: reference, policy: pol, profile: runtimeProfile, data: data, logger: logger)
                results.append((platform, report, failures))
            }
            switch format {
            case .table:
                try Output.emit(
                    PlatformOutput.sections(results.map { ($0.platform, CheckRendering.table($0.report)) }), to: output)
            case .json:
                let parts = try results.map {
                    ($0.platform, String(decoding: try JSONCoding.encode($0.report, pretty: true), as: UTF8.self))
                }
                try Output.emit(
                    try PlatformOutput.wrapJSON(image: reference.description, key: "report", parts), to: output)
            case .sarif:
                let parts = try results.map { ($0.platform, try CheckRendering.sarif($0.report)) }
                try Output.emit(try PlatformOutput.mergeSARIF(parts), to: output)
            }
            // The gate fails when any platform fails it; each failure names its platform.
            var failed = false
            for r in results {
                for f in r.failures { writeStandardError("harden: \(r.platform.map { "\($0): " } ?? "")\(f)\n") }
                failed = failed || !r.failures.isEmpty
            }
            if failed { throw ExitCode(2) }
        }

        /// The checks of one image: its report and what fails the gate (policy violations, checks at --fail-on).
        func check(
            _ img: Image, reference: ImageReference, policy pol: Policy?, profile runtimeProfile: RuntimeProfile?,
            data: VulnerabilityData, logger: Logger
        ) throws -> (CheckReport, [String]) {
            let configDigest = img.configDigest.description
            if let runtimeProfile, let profile {
                let source = img.config.config?.labels?["io.harden.source"]
                try runtimeProfile.image.require(
                    configDigest, reference: reference.description, file: profile, alsoAccepted: source)
            }
            let progress = ProgressLine(enabled: global.showProgress)
            progress.update("check: reading \(img.layers.count) layers")
            let inspection = try ImageInspection.inspect(img)
            // Packages and vulnerabilities, when a policy or the database can use them.
            var sbom: SBOM?
            if pol != nil || data.database != nil || runtimeProfile != nil {
                progress.update("check: cataloguing packages")
                sbom = try SBOMBuilder(logger: logger).build(img, reference: reference.description)
            }
            var findings = try sbom.flatMap { try data.findings($0) }
            if let pol, !pol.vulnerabilities.vex.isEmpty, var matched = findings {
                _ = Suppressor.apply(
                    &matched, vex: try pol.vexDocuments(policyFile: policy), ignores: [],
                    imageDigest: img.manifestDigest.description)
                findings = matched
            }
            findings?.sort(by: sortBy.comparator)
            progress.finish()
            let databaseRecord = try? data.record()
            var input = CheckStage.Input(
                image: img, reference: reference.description, tag: imageOptions.tag(of: reference, image: img),
                inspection: inspection, profile: runtimeProfile, sbom: sbom, findings: findings, policy: pol,
                ignore: ignore, databaseAgeDays: databaseRecord?.ageDays)
            input.feedAgeDays = databaseRecord?.feedAgeDays ?? [:]
            input.eol = try sbom.flatMap { try data.eol($0) }
            let stage = CheckStage.run(input)
            let (checks, verdict) = (stage.checks, stage.verdict)
            let report = CheckReport(
                image: reference.description, manifestDigest: img.manifestDigest.description,
                configDigest: configDigest,
                checks: checks, policy: verdict, policyFile: policy)
            var failures: [String] = []
            if let verdict, !verdict.passed {
                failures += verdict.violations.map { "policy violation: [\($0.rule)] \($0.message)" }
            }
            if let failOn {
                let reached = checks.filter { $0.status == .fail && $0.level >= failOn }
                if !reached.isEmpty {
                    failures.append(
                        "\(reached.count) check(s) at or above \(failOn.rawValue) failed: \(reached.map(\.id).joined(separator: ", "))"
                    )
                }
            }
            return (report, failures)
        }
    }
}

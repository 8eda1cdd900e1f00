// harden — `harden scan IMAGE`.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenProfile
import HardenReport
import HardenSBOM
import HardenSystem
import HardenVulnDB
import Logging

public enum ScanFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, json, sarif
    case cyclonedxJSON = "cyclonedx-json"
}

extension Severity: ExpressibleByArgument {}
extension FindingOrder: ExpressibleByArgument {}
extension UnknownSeverityPolicy: ExpressibleByArgument {}

extension Application {
    public struct ScanRun: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "scan",
            abstract: "List the known vulnerabilities of an image's packages (or of an SBOM's: sbom:FILE).",
            discussion: """
                OS packages are matched by source package and release against vendor data (Debian tracker, Alpine secdb, OSV \
                distro ecosystems); language packages through OSV. A language package owned by an OS package is matched only \
                through the OS package. Exit code 2 when --fail-on is reached.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var database: DatabaseOptions

        @Argument(
            help:
                "The image, or sbom:FILE to scan an SBOM without its image (CycloneDX 1.4–1.6 JSON, SPDX 2.3 JSON, harden JSON)."
        )
        public var image: String

        @Option(name: .long, help: "Output format: table, json, sarif or cyclonedx-json.")
        public var format: ScanFormat = .table

        @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
        public var output: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Order of findings: severity (known-exploited, severity, EPSS), risk (the risk score) or package.",
                valueName: "order"))
        public var sortBy: FindingOrder = .severity

        @Option(
            name: .long,
            help:
                "Exit with code 2 when a finding of this severity or higher exists: negligible, low, medium, high, critical; unknown: any finding."
        )
        public var failOn: Severity?

        @Option(
            name: .long,
            help:
                "What --fail-on does with findings of unknown severity: fail (they fail it), warn (say how many were not gated), ignore."
        )
        public var unknown: UnknownSeverityPolicy = .warn

        @Flag(
            name: .long, help: "Exit with code 2 when a finding is in CISA's Known Exploited Vulnerabilities catalog.")
        public var failOnKev = false

        @Option(name: .long, help: "Exit with code 2 when a finding's EPSS score is above this (0…1).")
        public var maxEpss: Double?

        @Flag(
            name: .long,
            help:
                "Exit with code 2 when the image's OS or a runtime in it is past its end of life (distro-info-data, harden db import eol:DIR)."
        )
        public var failOnEol = false

        @Flag(name: .long, help: "Report only vulnerabilities that have a fix.")
        public var onlyFixed = false

        @Option(
            name: .long,
            help: ArgumentHelp(
                "VEX: not_affected and fixed statements suppress the findings they name (repeatable).",
                discussion:
                    "OpenVEX, CSAF 2.0 (csaf_vex) or CycloneDX VEX, detected from content; a directory is read as one source (every *.json in it, as CSAF providers publish them); `image`: the VEX attached to the image as attestations (with --vex-key or --vex-unsigned).",
                valueName: "FILE|DIR"))
        public var vex: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Verify VEX attached to the image (attestations) with this public key, and apply it (implies --vex image).",
                valueName: "KEY.pub"))
        public var vexKey: String?

        @Flag(
            name: .long, help: "Apply VEX attached to the image without verifying its signature (implies --vex image).")
        public var vexUnsigned = false

        @Option(
            name: .long,
            help: "YAML ignore rules (by vulnerability, package name/version/type, path; optional until: date).")
        public var ignore: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp(
                "A runtime profile of this image (harden profile): shows whether each vulnerable package is used.",
                valueName: "PROFILE.json"))
        public var profile: String?

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let data = try VulnerabilityData(path: database.path, required: true)
            let vexDocuments = try vex.filter { $0 != "image" }.flatMap { try VEXDocument.load($0) }
            let attached = vex.contains("image") || vexKey != nil || vexUnsigned
            if attached && vexKey == nil && !vexUnsigned {
                throw HardenError(
                    .invalidArgument,
                    "--vex image: give --vex-key KEY.pub to verify it (or --vex-unsigned to take it as is)")
            }
            if attached && image.hasPrefix("sbom:") {
                throw HardenError(.invalidArgument, "--vex image: an SBOM has no attestations; scan the image")
            }
            let attachedKey = try vexKey.map { try KeyFiles.verificationKey($0) }
            var perTarget: [[VEXDocument]] = []
            var targets: [(platform: String?, sbom: SBOM, configID: String)] = []
            let reference: String
            if image.hasPrefix("sbom:") {
                // An SBOM without the image: CycloneDX, SPDX or harden JSON.
                let path = String(image.dropFirst(5))
                let sbom = try SBOMDocument.parse(try HostFS.readFile(path, limit: 1 << 30), path: path)
                for w in sbom.warnings { logger.info("\(w)") }
                reference = path
                targets.append((nil, sbom, sbom.source.configDigest))
            } else {
                let ref = try ImageReference.parse(image)
                reference = ref.description
                let transport = attached ? try imageOptions.transport(logger: logger, anyPlatform: true) : nil
                for (platform, img) in try await imageOptions.openEach(
                    ref, logger: logger, progress: global.showProgress, quiet: global.quiet)
                {
                    let sbom = try SBOMBuilder(logger: logger).build(img, reference: ref.description)
                    targets.append((platform, sbom, img.configDigest.description))
                    if let transport {
                        perTarget.append(
                            try await AttachedVEX.documents(
                                ref, digest: img.manifestDigest, platform: platform, transport: transport,
                                key: attachedKey, logger: logger))
                    }
                }
            }
            if profile != nil, targets.count > 1 {
                throw HardenError(
                    .invalidArgument, "--profile describes one image: give --platform P with it, not --platform all")
            }
            var reports: [(platform: String?, report: ScanReport, sbom: SBOM)] = []
            for (i, t) in targets.enumerated() {
                let report = try scan(
                    t.sbom, configID: t.configID, reference, data: data,
                    vex: vexDocuments + (perTarget.indices.contains(i) ? perTarget[i] : []), logger: logger)
                reports.append((t.platform, report, t.sbom))
            }
            try emit(reports, reference: reference)
            let failing = reports.filter { $0.report.gate?.failed == true }
            for f in failing {
                guard let gate = f.report.gate else { continue }
                writeStandardError(
                    "harden: \(gate.reached) finding(s) fail the gate (\(gate.description)) in \(reference)\(f.platform.map { " (\($0))" } ?? "")\n"
                )
            }
            var ended = false
            for r in reports where failOnEol && !(r.report.eol ?? []).contains(where: { $0.subject == "os" }) {
                if let os = r.report.os {
                    logger.warning(
                        "no end-of-life data for \(os.id) \(os.versionID ?? "?"), so --fail-on-eol cannot judge it (harden db import eol:DIR)"
                    )
                }
            }
            for r in reports where failOnEol {
                for e in r.report.eol ?? [] where e.state == .ended {
                    writeStandardError(
                        "harden: \(e.line) in \(reference)\(r.platform.map { " (\($0))" } ?? "") (--fail-on-eol)\n")
                    ended = true
                }
            }
            if !failing.isEmpty || ended { throw ExitCode(2) }
        }

        /// The scan of one image's SBOM with this command's options.
        func scan(
            _ sbom: SBOM, configID: String, _ reference: String, data: VulnerabilityData, vex: [VEXDocument],
            logger: Logger
        ) throws -> ScanReport {
            var input = ScanStage.Input(sbom: sbom, data: data)
            if let profile {
                let p = try ProfileFile.read(profile)
                try p.image.require(configID, reference: reference, file: profile)
                input.profile = p
            }
            input.onlyFixed = onlyFixed
            input.vex = vex
            input.ignores = try ignore.map { try IgnoreRules.load($0) }
            input.gate = VulnerabilityGate(
                failOn: failOn, unknown: unknown, knownExploited: failOnKev, maxEPSS: maxEpss)
            let (report, _) = try ScanStage.run(input)
            for w in report.warnings { logger.warning("\(w)") }
            return report
        }

        /// Prints or writes the reports: one platform as before; several as sections, one JSON document, one SARIF
        /// log with a run per platform, or one CycloneDX file per platform.
        func emit(_ reports: [(platform: String?, report: ScanReport, sbom: SBOM)], reference: String) throws {
            let reports = reports.map { r in
                var sorted = r.report
                sorted.findings.sort(by: sortBy.comparator)
                return (platform: r.platform, report: sorted, sbom: r.sbom)
            }
            switch format {
            case .table:
                try Output.emit(
                    PlatformOutput.sections(reports.map { ($0.platform, ScanRendering.table($0.report, by: sortBy)) }),
                    to: output)
            case .json:
                let parts = try reports.map {
                    ($0.platform, String(decoding: try JSONCoding.encode($0.report, pretty: true), as: UTF8.self))
                }
                try Output.emit(try PlatformOutput.wrapJSON(image: reference, key: "report", parts), to: output)
            case .sarif:
                let parts = try reports.map { ($0.platform, try ScanRendering.sarif($0.report)) }
                try Output.emit(try PlatformOutput.mergeSARIF(parts), to: output)
            case .cyclonedxJSON:
                let parts = try reports.map { ($0.platform, try ScanRendering.cyclonedx($0.report, sbom: $0.sbom)) }
                try PlatformOutput.emitEach(parts, to: output, format: "cyclonedx-json")
            }
        }
    }
}

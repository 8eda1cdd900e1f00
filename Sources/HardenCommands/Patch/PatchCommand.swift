// harden — `harden patch IMAGE -o DEST`.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenPatch
import HardenPipeline
import HardenPolicy
import HardenRegistry
import HardenReport
import HardenSystem
import HardenVulnDB
import Logging

extension Application {
    public struct Patch: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "patch",
            abstract:
                "Upgrade an image's vulnerable Debian/Ubuntu packages to their published fixes, in one new layer.",
            discussion: """
                Reads the image's APT sources (adding the release's -security and -updates suites when missing), verifies \
                each InRelease signature with gpgv against the image's keyrings (or --keyring), checks every index and \
                .deb against the signed hashes, and writes the new versions' files, whiteouts for dropped files and a \
                rewritten dpkg database as one layer on top of the original ones. Nothing runs in the image: maintainer \
                scripts are not run (the report names them). Conffiles the image changed are kept; the new version is \
                written beside them as FILE.dpkg-dist. By default only packages with a fixed vulnerability (and their \
                source siblings and new dependencies) are upgraded; --all upgrades everything that has a newer version.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var database: DatabaseOptions

        @Argument(help: "The image.")
        public var image: String

        @Option(
            name: .shortAndLong,
            help: ArgumentHelp("Where to write the patched image (any transport).", valueName: "DEST"))
        public var output: String

        @Flag(name: .long, help: "Upgrade every package that has a newer version, not only the vulnerable ones.")
        public var all = false

        @Flag(
            name: .long,
            help:
                "With --libraries: replay the probes (--http-probe, --exec-probe, --probe-script) on the patched image under runc and revert, by bisection, the library upgrades that change their outcome (needs root)."
        )
        public var verify = false

        @OptionGroup public var probes: ProbeOptions
        @OptionGroup public var settings: RunSettingsOptions

        @Option(name: .long, help: "Write the report (JSON) to this file.")
        public var report: String?

        @Option(
            name: .long, help: "Write an OpenVEX document (a fixed statement per vulnerability fixed) to this file.")
        public var vex: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Fetch every repository from this mirror (its scheme and host replace the sources').", valueName: "URL")
        )
        public var repo: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "A trusted OpenPGP key file, besides the image's keyrings (repeatable).", valueName: "FILE"))
        public var keyring: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp(
                "A policy whose inputs: rule the image must pass first (signature, attestations); its other rules are for run and check.",
                valueName: "FILE"))
        public var policy: String?

        @OptionGroup public var libraryOptions: LibraryPatchFlags

        @OptionGroup public var signing: SignOutputOptions

        @Flag(
            name: .long,
            help:
                "Multi-platform images: fail when a platform cannot be patched (default: keep it unchanged with a warning)."
        )
        public var strictPlatforms = false

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(image)
            let dest = try ImageReference.parse(output)
            try PublishStage.check(dest, signing: signing.signKey != nil)
            var publish = try signing.publishOptions(command: "patch", policy: policy)
            let key = try signing.keyLoader()
            key?.start()
            if let policy, case let inputs = try Policy.load(policy).inputs, !inputs.isEmpty {
                publish.invocation.inputVerification = try await InputGate.checkOrExit(
                    inputs, policyFile: policy, reference: reference,
                    transport: try imageOptions.transport(logger: logger))
            }
            let started = Date()
            if verify {
                guard libraryOptions.libraries != nil else {
                    throw HardenError(.invalidArgument, "--verify checks library upgrades: it needs --libraries")
                }
                guard !(probes.httpProbes.isEmpty && probes.execProbes.isEmpty && probes.probeScripts.isEmpty) else {
                    throw HardenError(
                        .invalidArgument, "--verify needs probes: --http-probe, --exec-probe or --probe-script")
                }
            }
            var options = PatchOptions()
            options.all = all
            options.mirror = repo
            options.keyrings = keyring
            try libraryOptions.apply(to: &options, all: all)
            let data = try VulnerabilityData(path: database.path)
            // A multi-platform image: every platform (or those --platform names) patched, written back as one index.
            let anyPlatform = try imageOptions.transport(logger: logger, anyPlatform: true)
            // With a key and one platform named, the output is that platform's signed image (as before indexes).
            let onePlatform = platformSelection.map { $0 != "all" && !$0.contains(",") } ?? false
            if let index = try await anyPlatform.platformIndex(of: reference), !(key != nil && onePlatform) {
                guard !verify else {
                    throw HardenError(
                        .invalidArgument, "--verify runs one platform's image: name it with --platform")
                }
                try await patchIndex(
                    index, reference: reference, destination: dest, transport: anyPlatform, data: data,
                    options: options, signing: key.map { PlatformSigning(key: $0, publish: publish, started: started) },
                    logger: logger)
                return
            }
            let img =
                platformSelection == "all"
                ? try await anyPlatform.open(reference)
                : try await imageOptions.open(reference, logger: logger, progress: global.showProgress)
            let progress = ProgressLine(enabled: global.showProgress)
            var output = try await PatchStage.run(
                img, reference: reference.description, data: data, options: options, logger: logger
            ) { progress.update($0) }
            if verify {
                output.result = try await verified(
                    output, reference: reference, data: data, options: options, logger: logger
                ) { progress.update($0) }
            }
            progress.finish()
            let result = output.result
            for n in result.report.notes { logger.notice("\(n)") }
            if let report { try HostFS.writeFileAtomically(report, try JSONCoding.encode(result.report, pretty: true)) }
            if let vex {
                if let doc = result.vex {
                    try HostFS.writeFileAtomically(vex, doc)
                } else if !global.quiet {
                    writeStandardError("no vulnerability was fixed: no VEX statement to make, \(vex) not written\n")
                }
            }
            if !global.quiet { print(Self.table(result.report)) }
            // Signed: the patched image's SBOM and scan, the patch's OpenVEX, provenance (every package fetched, with
            // its URL and SHA-256) and the hardening report go beside it.
            try await imageOptions.writeResult(
                result.image, to: dest, key: key, publish: publish, quiet: global.quiet, logger: logger
            ) {
                try Pipeline(logger: logger, vulnerabilities: data).patchResult(
                    output, given: img, reference: reference.description, destination: dest.description,
                    started: started)
            }
        }

        /// `--verify`: the probes replayed on the image without and with the library layer; the upgrades that change
        /// an outcome reverted (bisection), every row marked verified or reverted.
        func verified(
            _ output: PatchStage.Output, reference: ImageReference, data: VulnerabilityData, options: PatchOptions,
            logger: Logger, progress: @escaping (String) -> Void
        ) async throws -> PatchResult {
            var run = try probes.runOptions(sensors: [])
            for w in try await settings.apply(to: &run, imageOptions: imageOptions, target: reference, logger: logger) {
                logger.warning("compose: \(w)")
            }
            guard LibraryVerification.applies(output, run: run) else { return output.result }
            let (verifiedResult, replays) = try await LibraryVerification(
                run: run, data: data, patch: options, logger: logger
            ).verify(output, progress: progress)
            var result = verifiedResult
            result.report.libraries?.notes.append("verify: \(replays) replays of the probes")
            return result
        }

        static func table(_ r: PatchReport) -> String {
            // --only-libraries: no OS repository was read.
            if let libraries = r.libraries, r.repositories.isEmpty, r.packages.isEmpty {
                return (r.notes.map { $0 + "\n" }.joined()) + LibraryPatchFlags.table(libraries)
            }
            var t = TextTable(rows: [["PACKAGE", "OLD", "NEW", "FIXED VULNERABILITIES"]])
            for p in r.packages {
                let fixes =
                    p.fixes.isEmpty
                    ? (p.from == nil ? "(new dependency)" : "")
                    : p.fixes.prefix(6).joined(separator: " ") + (p.fixes.count > 6 ? " +\(p.fixes.count - 6)" : "")
                t.rows.append([p.name, p.from ?? "-", p.to, fixes])
            }
            var out = r.packages.isEmpty ? "nothing to upgrade" : t.render()
            let fixed = Set(r.packages.flatMap(\.fixes)).count
            out += "\n\(r.packages.count) packages upgraded, \(fixed) vulnerabilities fixed"
            if let libraries = r.libraries { out += "\n" + LibraryPatchFlags.table(libraries) }
            if !r.noFixAvailable.isEmpty {
                out += "; \(Set(r.noFixAvailable.map(\.vulnerability)).count) with no fix available in the repositories"
            }
            if !r.conffilesKept.isEmpty {
                out +=
                    "\nconffiles changed by the image, kept (new version beside them as .dpkg-dist): "
                    + r.conffilesKept.joined(separator: ", ")
            }
            let scripts = r.packages.filter { !$0.scriptsNotRun.isEmpty }
            if !scripts.isEmpty {
                out +=
                    "\nmaintainer scripts not run: "
                    + scripts.map { "\($0.name) (\($0.scriptsNotRun.joined(separator: ", ")))" }.joined(separator: ", ")
            }
            return out
        }
    }
}

// harden — `harden sbom IMAGE`.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import Logging

extension SBOMFormat: ExpressibleByArgument {}

extension Application {
    public struct SBOMGenerate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "sbom",
            abstract:
                "Catalogue every installed package of an image (deb, apk, rpm, python, npm, gem, go, java, rust, .NET, composer, and runtimes found by their binaries) with the files each owns.",
            discussion: """
                Layer scans are cached by DiffID under $HARDEN_CACHE_DIR, $XDG_CACHE_HOME/harden or ~/.cache/harden, so images \
                that share layers are rescanned almost for free. Formats: table, json (harden's schema), cyclonedx-json (1.6), \
                spdx-json (2.3).
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions

        @Argument(help: "The image.")
        public var image: String

        @Option(name: .long, help: "Output format: table, json, cyclonedx-json or spdx-json.")
        public var format: SBOMFormat = .table

        @Option(name: .shortAndLong, help: "Write the SBOM to this file instead of standard output.")
        public var output: String?

        @Flag(name: .long, help: "Do not read or write the per-layer cache.")
        public var noCache = false

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(image)
            var parts: [(platform: String?, text: String)] = []
            for (platform, img) in try await imageOptions.openEach(
                reference, logger: logger, progress: global.showProgress, quiet: global.quiet)
            {
                var builder = SBOMBuilder(logger: logger)
                if noCache { builder.cache = nil }
                let progress = ProgressLine(enabled: global.showProgress)
                let sbom = try builder.build(img, reference: reference.description) { i, cached in
                    progress.update(
                        "sbom\(platform.map { " \($0)" } ?? ""): layer \(i + 1)/\(img.layers.count) \(cached ? "from cache" : "scanned")"
                    )
                }
                progress.finish()
                for w in sbom.warnings { logger.warning("\(w)") }
                parts.append((platform, try SBOMEncoder.render(sbom, format: format)))
            }
            // Several platforms: table sections, one JSON document, or one CycloneDX/SPDX file per platform.
            switch format {
            case .table: try Output.emit(PlatformOutput.sections(parts), to: output)
            case .json:
                try Output.emit(
                    try PlatformOutput.wrapJSON(image: reference.description, key: "sbom", parts), to: output)
            case .cyclonedxJSON, .spdxJSON: try PlatformOutput.emitEach(parts, to: output, format: format.rawValue)
            }
        }
    }
}

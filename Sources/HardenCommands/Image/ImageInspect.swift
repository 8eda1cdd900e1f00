// harden — `harden inspect IMAGE`.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenReport
import HardenSBOM
import Logging

/// What `harden inspect --format json` prints (a stable, documented schema).
public struct InspectReport: Codable, Sendable {
    public struct Layer: Codable, Sendable {
        public var index: Int
        public var digest: String
        public var diffID: String
        public var mediaType: String
        public var compressedSize: Int64
        public var uncompressedSize: Int64
        public var entries: Int
        public var files: Int
        public var whiteouts: Int
        public var createdBy: String?
    }
    public struct Config: Codable, Sendable {
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var env: [String]?
        public var user: String?
        public var workingDir: String?
        public var exposedPorts: [String]?
        public var labels: [String: String]?
    }
    public struct OS: Codable, Sendable {
        public var id: String?
        public var versionID: String?
        public var codename: String?
        public var prettyName: String?
    }
    public var reference: String
    public var tag: String?
    public var manifestDigest: String
    public var manifestMediaType: String?
    public var configDigest: String
    public var platform: String
    public var created: String?
    public var os: OS?
    public var config: Config
    public var layers: [Layer]
    public var compressedSize: Int64
    public var uncompressedSize: Int64
    /// Bytes of regular-file content in the squashed file system (hardlinks counted once).
    public var contentSize: Int64
    /// Paths in the squashed file system (all types, root excluded).
    public var entryCount: Int
    public var fileCount: Int
    public var warnings: [String]
}

extension Application {
    public struct ImageInspect: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Show an image's layers, configuration, operating system, sizes and file count.")

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions

        @Argument(help: "The image (oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, dir:ROOTFS or a path).")
        public var image: String

        @Option(name: .long, help: "Output format: table or json.")
        public var format: OutputFormat = .table

        @Option(name: .shortAndLong, help: "Write the result to this file instead of standard output.")
        public var output: String?

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let reference = try ImageReference.parse(image)
            var parts: [(platform: String?, text: String)] = []
            for (platform, img) in try await imageOptions.openEach(
                reference, logger: logger, progress: global.showProgress, quiet: global.quiet)
            {
                logger.info("Inspecting image", metadata: ["image": "\(reference)", "layers": "\(img.layers.count)"])
                let progress = ProgressLine(enabled: global.showProgress)
                let report = try Self.inspect(img, reference: reference.description) { i, n, bytes in
                    progress.update("inspect: layer \(i + 1)/\(n) done, \(formatBytes(bytes)) read")
                }
                progress.finish()
                switch format {
                case .json:
                    parts.append(
                        (platform, String(decoding: try JSONCoding.encode(report, pretty: true), as: UTF8.self)))
                case .table: parts.append((platform, Self.table(report)))
                }
            }
            // --platform all on an index: a section per platform, or one JSON document.
            switch format {
            case .json:
                try Output.emit(
                    try PlatformOutput.wrapJSON(image: reference.description, key: "image", parts), to: output)
            case .table: try Output.emit(PlatformOutput.sections(parts), to: output)
            }
        }

        /// Streams every layer once and builds the report.
        public static func inspect(
            _ img: Image, reference: String,
            onLayer: ((Int, Int, Int64) -> Void)? = nil
        ) throws -> InspectReport {
            var layers: [InspectReport.Layer] = []
            let tree = FileTree()
            for i in img.layers.indices {
                let stats = try tree.apply(image: img, layer: i)
                let l = img.layers[i]
                layers.append(
                    .init(
                        index: i, digest: l.descriptor.digest.description, diffID: l.diffID.description,
                        mediaType: l.descriptor.mediaType, compressedSize: l.descriptor.size,
                        uncompressedSize: stats.uncompressedBytes, entries: stats.entries, files: stats.files,
                        whiteouts: stats.whiteouts, createdBy: l.history?.createdBy))
                onLayer?(i, img.layers.count, layers.reduce(0) { $0 + $1.compressedSize })
            }
            let c = img.config.config
            return InspectReport(
                reference: reference, tag: img.tag, manifestDigest: img.manifestDigest.description,
                manifestMediaType: img.manifest.mediaType, configDigest: img.manifest.config.digest.description,
                platform: img.config.platform.description, created: img.config.created, os: osRelease(tree),
                config: .init(
                    entrypoint: c?.entrypoint, cmd: c?.cmd, env: c?.env, user: c?.user, workingDir: c?.workingDir,
                    exposedPorts: c?.exposedPorts.map { $0.keys.sorted() }, labels: c?.labels),
                layers: layers, compressedSize: img.compressedSize,
                uncompressedSize: layers.reduce(0) { $0 + $1.uncompressedSize }, contentSize: tree.contentSize,
                entryCount: tree.entryCount, fileCount: tree.regularFileCount, warnings: tree.warnings)
        }

        /// The OS the image names (`FileTree.osReleaseFiles`, as the SBOM reads them).
        static func osRelease(_ tree: FileTree) -> InspectReport.OS? {
            OSInfo.detect { tree.capturedContent($0) }.map {
                .init(id: $0.id, versionID: $0.versionID, codename: $0.codename, prettyName: $0.prettyName)
            }
        }

        static func table(_ r: InspectReport) -> String {
            var out = ""
            out += "Image:      \(r.reference)\n"
            if let tag = r.tag { out += "Tag:        \(tag)\n" }
            out += "Manifest:   \(r.manifestDigest)\n"
            out += "Config:     \(r.configDigest)\n"
            out += "Platform:   \(r.platform)\n"
            if let os = r.os {
                out +=
                    "OS:         \(os.prettyName ?? [os.id, os.versionID].compactMap { $0 }.joined(separator: " "))\n"
            }
            if let e = r.config.entrypoint { out += "Entrypoint: \(e.joined(separator: " "))\n" }
            if let c = r.config.cmd { out += "Cmd:        \(c.joined(separator: " "))\n" }
            out += "User:       \(r.config.user.flatMap { $0.isEmpty ? nil : $0 } ?? "(root)")\n"
            if let w = r.config.workingDir, !w.isEmpty { out += "WorkingDir: \(w)\n" }
            if let p = r.config.exposedPorts, !p.isEmpty { out += "Ports:      \(p.joined(separator: ", "))\n" }
            for e in r.config.env ?? [] { out += "Env:        \(e)\n" }
            for (k, v) in (r.config.labels ?? [:]).sorted(by: { $0.key < $1.key }) { out += "Label:      \(k)=\(v)\n" }
            out +=
                "Size:       \(formatBytes(r.compressedSize)) compressed, \(formatBytes(r.uncompressedSize)) uncompressed\n"
            out += "Files:      \(r.fileCount) files, \(r.entryCount) paths\n\n"
            var rows = [["#", "DIGEST", "COMPRESSED", "UNCOMPRESSED", "FILES", "CREATED BY"]]
            for l in r.layers {
                let by = (l.createdBy ?? "").replacingOccurrences(of: "\n", with: " ")
                rows.append([
                    "\(l.index)", String(l.digest.prefix(19)), formatBytes(l.compressedSize),
                    formatBytes(l.uncompressedSize),
                    "\(l.files)", String(by.prefix(60)),
                ])
            }
            out += TextTable(rows: rows).render()
            for w in r.warnings { out += "\nwarning: \(w)" }
            return out
        }
    }
}

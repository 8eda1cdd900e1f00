// harden — `harden convert IMAGE DEST`.
import ArgumentParser
import HardenCore
import HardenOCI
import Logging

extension Application {
    public struct ImageConvert: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "convert",
            abstract: "Copy an image from any transport to any other (oci:, oci-archive:, docker-archive:, dir:).",
            discussion: "Blobs are verified while they are copied; outputs are written atomically.")

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions

        @Argument(help: "The source image.")
        public var image: String

        @Argument(help: "The destination: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG] or dir:ROOTFS.")
        public var destination: String

        @Option(name: .long, help: "Layer compression in the destination: keep, none, gzip or zstd (docker-archive is always none).")
        public var compression: ImageWriter.LayerCompression = .keep

        @Flag(name: .long, help: "With dir:, create device nodes (as root) instead of skipping them.")
        public var devices = false

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let source = try ImageReference.parse(image)
            let dest = try ImageReference.parse(destination, detect: false)
            let img = try ImageLoader.open(source, options: try imageOptions.loaderOptions())
            var options = ImageWriter.Options(compression: compression)
            options.extract.createDevices = devices
            let written = try ImageWriter.write(img, to: dest, options: options)
            logger.info("Converted image", metadata: ["from": "\(source)", "to": "\(dest)"])
            if !global.quiet {
                writeStandardError("wrote \(written.reference)" + (written.manifestDigest.map { " (\(dest.isDockerArchive ? "image id" : "manifest") \($0))" } ?? "") + "\n")
            }
        }
    }
}

extension ImageWriter.LayerCompression: ExpressibleByArgument {}

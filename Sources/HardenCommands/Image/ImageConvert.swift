// harden — `harden convert IMAGE DEST`.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenPackages
import HardenRegistry
import HardenRegistryAuth
import HardenSign
import HardenSystem
import Logging

extension Application {
    public struct ImageConvert: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "convert",
            abstract:
                "Copy an image from any transport to any other (oci:, oci-archive:, docker-archive:, dir:, docker://, or a bare image name).",
            discussion: "Blobs are verified while they are copied; outputs are written atomically.")

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions

        @Argument(help: "The source image.")
        public var image: String

        @Argument(
            help:
                "The destination: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG] or dir:ROOTFS.")
        public var destination: String

        @Option(
            name: .long,
            help: "Layer compression in the destination: keep, none, gzip or zstd (docker-archive is always none).")
        public var compression: ImageWriter.LayerCompression = .keep

        @Flag(name: .long, help: "With dir:, create device nodes (as root) instead of skipping them.")
        public var devices = false

        @Flag(name: .customLong("no-setuid"), help: "With dir:, strip setuid/setgid bits from the files written.")
        public var noSetuid = false

        @Flag(
            name: .customLong("no-attachments"),
            help:
                "Leave the image's signatures and attestations behind (by default they are copied along when source and destination can hold them and the manifest keeps its digest)."
        )
        public var noAttachments = false

        @Option(
            name: .customLong("max-write"),
            help: ArgumentHelp(
                "With dir:, the most file content written in all (holes of sparse files excluded): bytes or a size such as 500M, 64G.",
                valueName: "SIZE"))
        public var maxWrite: String = "64G"

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let source = try ImageReference.parse(image)
            let dest = try ImageReference.parse(destination, detect: false)
            if try await convertIndex(source: source, dest: dest, logger: logger) { return }
            var options = ImageWriter.Options(compression: compression)
            let img: Image
            if case .registry = source, case .ociLayout(let path, _) = dest, compression == .keep {
                // Pull straight into the destination layout: each blob is written once, verified by digest as it arrives.
                img = try await imageOptions.open(
                    source, logger: logger, progress: global.showProgress, blobDirectory: path + "/blobs/sha256")
                options.verifyDiffIDs = false
            } else {
                img = try await imageOptions.open(source, logger: logger, progress: global.showProgress)
            }
            options.extract.createDevices = devices
            options.extract.stripSetuid = noSetuid
            options.extract.maxBytesWritten = try parseSize(maxWrite, option: "--max-write")
            let written = try await imageOptions.write(
                img, to: dest, options: options, mountFrom: source.mountSource(for: dest), logger: logger)
            logger.info("Converted image", metadata: ["from": "\(source)", "to": "\(dest)"])
            if !noAttachments {
                try await copyAttachments(
                    img.manifestDigest, source: source, dest: dest, written: written, logger: logger)
            }
            if case .rootfs(let path) = dest, let e = written.extracted, !e.setuidFiles.isEmpty, !noSetuid,
                HostFS.isWorldTraversable(path)
            {
                writeStandardError(
                    "harden: warning: \(path): \(e.setuidFiles.count) setuid/setgid files (\(e.setuidFiles.prefix(3).joined(separator: ", "))\(e.setuidFiles.count > 3 ? ", …" : "")) in a directory every user can traverse; strip them with --no-setuid or make \(path) private (chmod 700)\n"
                )
            }
            if !global.quiet {
                writeStandardError(
                    "wrote \(written.reference)"
                        + (written.manifestDigest.map { " (\(dest.isDockerArchive ? "image id" : "manifest") \($0))" }
                            ?? "") + "\n")
            }
        }
    }
}

extension Application.ImageConvert {
    /// A multi-platform source copied whole: every platform (default for OCI layout and registry destinations, and
    /// `--platform all`), written back as one index with the same platforms in the same order. False when the
    /// source is one image or one platform was asked for.
    func convertIndex(source: ImageReference, dest: ImageReference, logger: Logger) async throws -> Bool {
        let holdsIndexes: Bool
        switch dest {
        case .ociLayout, .registry: holdsIndexes = true
        default: holdsIndexes = false
        }
        guard imageOptions.platform == "all" || (imageOptions.platform == nil && holdsIndexes) else { return false }
        let transport = try imageOptions.transport(logger: logger, anyPlatform: true)
        guard let index = try await transport.platformIndex(of: source) else { return false }
        if compression != .keep {
            throw HardenError(
                .unsupported, "--compression \(compression) on a multi-platform image: give --platform P, or keep")
        }
        var images: [(entry: Descriptor, image: Image)] = []
        for entry in index.platforms { images.append((entry, try await transport.open(source, entry: entry))) }
        let written = try await transport.writeIndex(
            images, index: index, to: dest, mountFrom: source.mountSource(for: dest))
        if !index.attestations.isEmpty && !global.quiet {
            writeStandardError(
                "harden: \(index.attestations.count) attestation manifest(s) of the index not copied (BuildKit's; harden sign/attest make its own)\n"
            )
        }
        if !noAttachments, let digest = index.digest {
            try await copyAttachments(digest, source: source, dest: dest, written: written, logger: logger)
        }
        if !global.quiet {
            writeStandardError(
                "wrote \(written.reference)"
                    + (written.manifestDigest.map { " (index \($0), \(images.count) platforms)" } ?? "")
                    + "\n")
        }
        return true
    }

    /// Copies the image's signatures and attestations when both ends can hold them and the manifest kept its
    /// digest (a signature is of a digest: one that changed would no longer hold).
    func copyAttachments(
        _ digest: Digest, source: ImageReference, dest: ImageReference, written: ImageWriter.Written, logger: Logger
    ) async throws {
        let transport = try imageOptions.transport(logger: logger)
        guard let from = try? transport.attachments(for: source), let to = try? transport.attachments(for: dest)
        else { return }
        do {
            try await copyAttachments(digest, from: from, to: to, written: written, logger: logger)
        } catch {
            // The image is written; what sits beside it in the source is not worth failing the copy for.
            if !global.quiet {
                writeStandardError(
                    "harden: warning: signatures/attestations not copied: \((error as? HardenError)?.message ?? "\(error)")\n"
                )
            }
        }
        await Signing.shutdown(from, to)
    }

    func copyAttachments(
        _ digest: Digest, from: any AttachmentStore, to: any AttachmentStore, written: ImageWriter.Written,
        logger: Logger
    ) async throws {
        let held = try await AttachmentCopier.count(digest: digest, in: from)
        guard held > 0 else { return }
        guard written.manifestDigest == digest else {
            if !global.quiet {
                writeStandardError(
                    "harden: warning: the manifest changed (\(digest) → \(written.manifestDigest?.description ?? "none")): its \(held) signature/attestation manifests were not copied (they sign the old digest)\n"
                )
            }
            return
        }
        let n = try await AttachmentCopier.copy(digest: digest, from: from, to: to)
        logger.info("copied signatures and attestations", metadata: ["manifests": "\(n)"])
    }
}

extension ImageWriter.LayerCompression: ExpressibleByArgument {}

// harden — the one door for images: open and write any transport (OCI layout, archives, directories, a registry)
// by its typed reference. Commands, the pipeline and the fleet's worker go through it; nothing else dispatches on
// the transport.
import HardenCore
import HardenOCI
import HardenRegistryAuth
import Logging

public struct ImageTransport: Sendable {
    /// Credentials, TLS and timeouts for registry references.
    public var registry: RegistryOptions
    /// Platform selection and loader limits for every transport.
    public var loader: ImageLoader.Options
    public var logger: Logger

    public init(registry: RegistryOptions, loader: ImageLoader.Options = .init(), logger: Logger = .harden) {
        self.registry = registry
        self.loader = loader
        self.logger = logger
    }

    /// Opens `reference`; a registry image is pulled (every blob verified) into `blobDirectory` or a temporary store.
    public func open(
        _ reference: ImageReference, blobDirectory: String? = nil,
        progress: (@Sendable (_ done: Int, _ total: Int, _ bytes: Int64) -> Void)? = nil
    ) async throws -> Image {
        if case .registry(let r) = reference {
            return try await RegistryTransfer.pull(
                r, options: registry, loader: loader, blobDirectory: blobDirectory, logger: logger, progress: progress)
        }
        return try ImageLoader.open(reference, options: loader)
    }

    /// Writes `image` to `dest`: pushed to a registry (mounting blobs from `mountFrom` on the same registry), or
    /// written locally with `options`.
    public func write(
        _ image: Image, to dest: ImageReference, options: ImageWriter.Options, mountFrom: String? = nil
    ) async throws -> ImageWriter.Written {
        if case .registry(let r) = dest {
            let digest = try await RegistryTransfer.push(
                image, to: r, options: registry, mountFrom: mountFrom, logger: logger)
            return ImageWriter.Written(manifestDigest: digest, reference: dest.description)
        }
        return try ImageWriter.write(image, to: dest, options: options)
    }

    // MARK: Multi-platform images

    /// The platforms of `reference` when it names a multi-platform index (a registry index, or an index in an OCI
    /// layout or archive); nil when it names one image.
    public func platformIndex(of reference: ImageReference) async throws -> PlatformIndex? {
        if case .registry(let r) = reference {
            return try await RegistryTransfer.platformIndex(r, options: registry, logger: logger)
        }
        return try ImageLoader.platformIndex(reference)
    }

    /// Opens the image of one entry of `reference`'s index.
    public func open(
        _ reference: ImageReference, entry: Descriptor, blobDirectory: String? = nil
    ) async throws -> Image {
        guard let platform = entry.platform else {
            throw HardenError(.invalidArgument, "\(reference): index entry \(entry.digest) names no platform")
        }
        var one = self
        one.loader.platform = platform
        one.loader.platformExplicit = true
        let image = try await one.open(reference, blobDirectory: blobDirectory)
        guard image.manifestDigest == entry.digest || !(MediaType.isManifest(entry.mediaType)) else {
            throw HardenError(
                .corrupt,
                "\(reference): the index lists \(entry.digest) for \(platform), opened \(image.manifestDigest)")
        }
        return image
    }

    /// Writes every platform of a multi-platform image to `dest` as one index: an OCI layout (the index under the
    /// tag), or a registry (each platform's manifest by digest, then the index). Other transports hold one image.
    public func writeIndex(
        _ images: [(entry: Descriptor, image: Image)], index: PlatformIndex, to dest: ImageReference,
        mountFrom: String? = nil
    ) async throws -> ImageWriter.Written {
        let digest: Digest
        switch dest {
        case .registry(let r):
            digest = try await RegistryTransfer.pushIndex(
                images, index: index, to: r, options: registry, mountFrom: mountFrom, logger: logger)
        case .ociLayout(let path, let tag):
            do {
                digest = try ImageWriter.writeLayoutIndex(
                    images, index: index, directory: path, tag: tag ?? images.first?.image.tag.map(ImageWriter.tagOnly))
            } catch let e as HardenError {
                throw e.prefixed(path)
            }
        default:
            throw HardenError(
                .unsupported,
                "\(dest): holds one image, not \(images.count) platforms; write to oci:DIR or a registry, or choose one with --platform"
            )
        }
        return ImageWriter.Written(manifestDigest: digest, reference: dest.description)
    }
}

extension ImageReference {
    /// The repository to mount unchanged blobs from when an image read from `self` is written to `destination` on
    /// the same registry (no download and upload of what the registry already has); nil otherwise.
    public func mountSource(for destination: ImageReference) -> String? {
        guard case .registry(let src) = self, case .registry(let dst) = destination,
            let s = try? RegistryReference.parse(src), let d = try? RegistryReference.parse(dst), s.host == d.host
        else { return nil }
        return s.repository
    }
}

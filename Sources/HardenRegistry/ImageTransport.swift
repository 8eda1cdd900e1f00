// harden — the one door for images: open and write any transport (OCI layout, archives, directories, a registry)
// by its typed reference. Commands, the pipeline and the fleet's worker go through it; nothing else dispatches on
// the transport.
import HardenCore
import HardenOCI
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
}

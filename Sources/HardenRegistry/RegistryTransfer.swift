// harden — pulling an image from a registry into a local blob store, and pushing an image to a registry.
import HardenArchive
import HardenCore
import HardenOCI
import HardenRegistryAuth
import HardenSystem
import Logging

public struct RegistryOptions: Sendable {
    /// Which credentials go to which registry host.
    public var credentials: RegistryCredentials
    public var tlsVerify: Bool
    /// Blob transfers running at once.
    public var parallelism: Int
    /// The longest wait for the next bytes of a registry's answer; a whole request is bounded too (see RegistryClient).
    public var idleTimeout: Duration

    public init(
        credentials: RegistryCredentials = RegistryCredentials(), tlsVerify: Bool = true, parallelism: Int = 3,
        idleTimeout: Duration = .seconds(60)
    ) {
        self.credentials = credentials
        self.tlsVerify = tlsVerify
        self.parallelism = parallelism
        self.idleTimeout = idleTimeout
    }
}

extension RegistryOptions {
    /// A client for `ref`'s registry with the credentials bound to its host (never another host's).
    func client(for ref: RegistryReference, logger: Logger) -> RegistryClient {
        RegistryClient(
            reference: ref, credentials: credentials.credentials(for: ref.host), tlsVerify: tlsVerify,
            idleTimeout: idleTimeout,
            logger: logger)
    }
}

public enum RegistryTransfer {
    /// Pulls `reference` (choosing `platform` from an index) into a temporary blob store and opens it as an image.
    /// With `blobDirectory` (e.g. an OCI layout's `blobs/sha256`), blobs are downloaded straight there and kept.
    public static func pull(
        _ text: String, options: RegistryOptions, loader: ImageLoader.Options = .init(),
        blobDirectory: String? = nil, logger: Logger = .harden,
        progress: (@Sendable (_ done: Int, _ total: Int, _ bytes: Int64) -> Void)? = nil
    ) async throws -> Image {
        let ref = try RegistryReference.parse(text)
        let client = options.client(for: ref, logger: logger)
        do {
            let image = try await pull(
                ref, client: client, options: options, loader: loader, blobDirectory: blobDirectory, progress: progress)
            await client.shutdown()
            return image
        } catch {
            await client.shutdown()
            throw error
        }
    }

    static func pull(
        _ ref: RegistryReference, client: RegistryClient, options: RegistryOptions, loader: ImageLoader.Options,
        blobDirectory: String?, progress: (@Sendable (Int, Int, Int64) -> Void)?
    ) async throws -> Image {
        let store: DirectoryBlobStore
        if let blobDirectory {
            try HostFS.makeDirectories(blobDirectory)
            store = DirectoryBlobStore(root: blobDirectory, owned: false)
        } else {
            store = DirectoryBlobStore(root: try HostFS.makeTemporaryDirectory(prefix: "harden-pull"), owned: true)
        }
        var (bytes, mediaType) = try await client.manifest(ref.reference)
        var depth = 0
        while MediaType.isIndex(mediaType) {
            depth += 1
            guard depth < 8 else { throw HardenError(.limitExceeded, "docker://\(ref): indexes nested too deep") }
            let index = try Index.parse(bytes, source: "docker://\(ref)")
            let candidates = index.manifests.filter {
                MediaType.isManifest($0.mediaType) || MediaType.isIndex($0.mediaType)
            }
            guard
                let chosen = candidates.first(where: { $0.platform?.matches(loader.platform) ?? false })
                    ?? (candidates.count == 1 ? candidates.first : nil)
            else {
                let available = candidates.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw HardenError(
                    .notFound, "docker://\(ref): no image for platform \(loader.platform); available: \(available)")
            }
            (bytes, mediaType) = try await client.manifest(chosen.digest.description)
        }
        guard MediaType.isManifest(mediaType) || mediaType.isEmpty else {
            throw HardenError(.unsupported, "docker://\(ref): unsupported manifest media type \"\(mediaType)\"")
        }
        let manifestDigest = try store.put(bytes)
        let manifest = try Manifest.parse(bytes, source: "docker://\(ref)")
        // Config and layers, a bounded number at a time, each verified as it streams to disk.
        let blobs = [manifest.config] + manifest.layers
        let missing = blobs.filter { !store.contains($0.digest) }
        var done = 0
        var received: Int64 = 0
        try await withThrowingTaskGroup(of: Int64.self) { group in
            var running = 0
            for d in missing {
                if running >= max(1, options.parallelism), let size = try await group.next() {
                    running -= 1
                    done += 1
                    received += size
                    progress?(done, missing.count, received)
                }
                let path = store.path(of: d.digest)
                let partial = path + ".partial"
                group.addTask {
                    // Downloaded beside its final name and renamed once verified.
                    try await client.downloadBlob(d, to: partial)
                    try HostFS.rename(partial, path)
                    return d.size
                }
                running += 1
            }
            while let size = try await group.next() {
                done += 1
                received += size
                progress?(done, missing.count, received)
            }
        }
        let descriptor = Descriptor(
            mediaType: mediaType.isEmpty ? MediaType.ociManifest : mediaType, digest: manifestDigest,
            size: Int64(bytes.count))
        return try ImageLoader.openManifest(
            descriptor, store: store, name: "docker://\(ref)", tag: ref.tag, options: loader)
    }

    /// Pushes `image`: blobs the registry lacks (mounted from `mountFrom` when possible), then the manifest by tag
    /// (or digest). Returns the manifest digest.
    @discardableResult
    public static func push(
        _ image: Image, to text: String, options: RegistryOptions, mountFrom: String? = nil,
        logger: Logger = .harden
    ) async throws -> Digest {
        let ref = try RegistryReference.parse(text)
        let client = options.client(for: ref, logger: logger)
        do {
            let blobs = [(image.manifest.config, true)] + image.layers.map { ($0.descriptor, false) }
            for (descriptor, isConfig) in blobs {
                let uploaded = try await client.uploadBlob(descriptor, mountFrom: mountFrom) {
                    isConfig
                        ? MemoryReader(image.configBytes) as any ByteReader
                        : HashingReader(
                            try image.store.openRaw(descriptor.digest),
                            expected: descriptor.digest.expectation(
                                size: descriptor.size, name: "\(image.source): blob \(descriptor.digest)"))
                }
                logger.debug("Blob", metadata: ["digest": "\(descriptor.digest)", "uploaded": "\(uploaded)"])
            }
            let mediaType = image.manifest.mediaType ?? MediaType.ociManifest
            let digest = image.manifestDigest
            try await client.putManifest(
                ref.tag ?? ref.digest?.description ?? "latest", bytes: image.manifestBytes, mediaType: mediaType)
            await client.shutdown()
            return digest
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

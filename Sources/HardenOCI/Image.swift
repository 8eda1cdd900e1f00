// harden — an image read from any source: manifest, config and verified access to its blobs.
import HardenArchive
import HardenCore
import HardenSystem

/// Where blobs live: read by digest, never trusted until hashed.
public protocol BlobStore: AnyObject, Sendable {
    /// Names the store in messages (the image file or directory).
    var name: String { get }
    /// The blob's raw bytes, unverified; callers wrap it in a `HashingReader`.
    func openRaw(_ digest: Digest) throws -> any ByteReader
    /// Whether the store holds the blob.
    func contains(_ digest: Digest) -> Bool
}

extension BlobStore {
    /// Reads a small blob whole and checks its size and digest.
    public func readVerified(_ descriptor: Descriptor, limit: Int = 16 << 20, what: String) throws -> [UInt8] {
        guard descriptor.size <= Int64(limit) else {
            throw HardenError(
                .limitExceeded,
                "\(name): \(what) \(descriptor.digest) declares \(descriptor.size) bytes, more than \(limit)")
        }
        let reader = HashingReader(
            try openRaw(descriptor.digest),
            expected: descriptor.digest.expectation(
                size: descriptor.size, name: "\(name): \(what) \(descriptor.digest)"))
        return try reader.readAll(limit: limit, name: "\(name): \(what)")
    }
}

/// One layer of an image: the blob as stored and the digest of its uncompressed tar.
public struct ImageLayer: Sendable, Hashable {
    public var descriptor: Descriptor
    public var diffID: Digest
    public var compression: Compression
    public var history: History?
}

/// An image read from a source. The original manifest and config bytes are kept, so copying an image
/// without changes keeps its digests.
public final class Image: Sendable {
    public let source: String
    public let manifest: Manifest
    public let manifestBytes: [UInt8]
    public let config: ImageConfiguration
    public let configBytes: [UInt8]
    public let layers: [ImageLayer]
    public let store: any BlobStore
    /// The tag the image was selected by, or the one its source names it with.
    public let tag: String?

    public var manifestDigest: Digest { Digest.sha256(of: manifestBytes) }
    /// The digest of the config bytes: the image ID.
    public let configDigest: Digest

    init(
        source: String, manifest: Manifest, manifestBytes: [UInt8], configBytes: [UInt8], store: any BlobStore,
        tag: String?, layerCompressions: [Compression]? = nil
    ) throws {
        self.source = source
        self.manifest = manifest
        self.manifestBytes = manifestBytes
        self.configBytes = configBytes
        self.configDigest = Digest.sha256(of: configBytes)
        self.store = store
        self.tag = tag
        let config = try ImageConfiguration.parse(configBytes, source: "\(source): config \(manifest.config.digest)")
        self.config = config
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            throw HardenError(
                .corrupt,
                "\(source): manifest lists \(manifest.layers.count) layers but the config has \(config.rootfs.diffIDs.count) diff_ids"
            )
        }
        let history = config.layerHistory
        var layers: [ImageLayer] = []
        for (i, d) in manifest.layers.enumerated() {
            let compression: Compression
            if let given = layerCompressions?[i] {
                compression = given
            } else if let c = MediaType.layerCompression(d.mediaType) {
                compression = c
            } else {
                throw HardenError(.unsupported, "\(source): layer \(i) has unsupported media type \"\(d.mediaType)\"")
            }
            layers.append(
                ImageLayer(
                    descriptor: d, diffID: config.rootfs.diffIDs[i], compression: compression, history: history[i]))
        }
        self.layers = layers
    }

    /// The uncompressed tar stream of layer `index`, verified as it is read: the blob's size and digest
    /// against the manifest, the tar's digest against the config's DiffID. Mismatches throw at the end.
    /// With `prefetch` (the default when harden may use more than one thread), reading the blob and checking its
    /// digest, and decompressing, run on threads of their own, ahead of the caller.
    public func openLayer(
        _ index: Int, limits: DecompressionLimits = .default, prefetch: Bool = Parallelism.jobs > 1
    ) throws -> any ByteReader {
        let layer = layers[index]
        let label = "\(source): layer \(index) (\(layer.descriptor.digest.short))"
        let raw = HashingReader(
            try store.openRaw(layer.descriptor.digest),
            expected: layer.descriptor.digest.expectation(
                size: layer.descriptor.size, name: "\(source): layer blob \(layer.descriptor.digest)"))
        if layer.compression == .none && layer.descriptor.digest == layer.diffID { return raw }
        // With prefetch, four stages, each on a thread of its own: reading and hashing the blob, decompressing it,
        // hashing the tar stream, and (the caller's) parsing it. The scheduler spreads them over the cores; which is
        // the heaviest depends on the layer (inflate for big files, parsing for many small ones).
        let stages = prefetch && layer.compression != .none
        var compressed: any ByteReader = raw
        if stages, let ahead = try? PrefetchReader(raw, chunkSize: 128 << 10, depth: 3) { compressed = ahead }
        var plain = layer.compression.decompressing(compressed, name: label, limits: limits)
        if stages, let ahead = try? PrefetchReader(plain, chunkSize: 256 << 10, depth: 3) { plain = ahead }
        let checked = HashingReader(
            plain,
            expected: layer.diffID.expectation(
                size: nil, name: "\(label): uncompressed content (DiffID \(layer.diffID))"))
        if stages, let ahead = try? PrefetchReader(checked, chunkSize: 256 << 10, depth: 3) { return ahead }
        return checked
    }

    /// Streams every entry of layer `index` to `body`, then reads the rest of the layer so its digests are checked.
    public func forEachEntry(
        inLayer index: Int, limits: DecompressionLimits = .default,
        _ body: (TarEntry, TarReader) throws -> Void
    ) throws {
        let stream = try openLayer(index, limits: limits)
        let tar = TarReader(stream, name: "\(source): layer \(index)")
        while let entry = try tar.next() {
            try body(entry, tar)
        }
        try Self.checkTrailer(tar)
    }

    /// The one rule for what may follow a layer's end-of-archive marker, applied by every reader and writer.
    public static func checkTrailer(_ tar: TarReader) throws {
        try tar.drainTrailer(
            limit: 64 << 20,
            onExcess: "more than 64 MiB of data after the end of the tar archive (a decompression bomb?)")
    }

    /// Reads a layer's uncompressed stream as a tar archive to its end (headers only), so a layer copied as it is
    /// passes the same checks as one read entry by entry.
    public static func checkTarStructure(_ stream: any ByteReader, name: String) throws {
        let tar = TarReader(stream, name: name)
        while try tar.next() != nil {}
        try checkTrailer(tar)
    }

    /// Total compressed size of the layers.
    public var compressedSize: Int64 { layers.reduce(0) { $0 + $1.descriptor.size } }
}

/// Blobs in an OCI image layout directory: `blobs/<alg>/<hex>`.
public final class LayoutBlobStore: BlobStore {
    public let root: String
    public var name: String { root }

    public init(root: String) { self.root = root }

    public func path(of digest: Digest) -> String { root + "/" + digest.blobPath }

    public func openRaw(_ digest: Digest) throws -> any ByteReader {
        let p = path(of: digest)
        guard HostFS.isRegularFile(p) else { throw HardenError(.notFound, "\(root): blob \(digest) is missing") }
        return try FileReader(path: p)
    }

    public func contains(_ digest: Digest) -> Bool { HostFS.isRegularFile(path(of: digest)) }
}

/// Blobs inside an image archive, by member path.
final class ArchiveBlobStore: BlobStore {
    let archive: TarArchiveIndex
    /// Members that are not under `blobs/<alg>/<hex>` (docker-archive legacy layout).
    let extraPaths: [Digest: String]
    var name: String { archive.name }

    init(archive: TarArchiveIndex, extraPaths: [Digest: String] = [:]) {
        self.archive = archive
        self.extraPaths = extraPaths
    }

    private func memberPath(_ digest: Digest) -> String { extraPaths[digest] ?? digest.blobPath }

    func openRaw(_ digest: Digest) throws -> any ByteReader {
        guard let m = archive.member(memberPath(digest)) else {
            throw HardenError(.notFound, "\(name): blob \(digest) is missing from the archive")
        }
        return try archive.open(m)
    }

    func contains(_ digest: Digest) -> Bool { archive.member(memberPath(digest)) != nil }
}

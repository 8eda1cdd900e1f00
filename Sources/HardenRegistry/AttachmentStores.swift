// harden — where signatures and attestations live beside an image: the image's registry repository, or the OCI
// layout that holds it (the same manifests: tagged the same way, referrers listed in its index.json).
import AsyncHTTPClient
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenRegistryAuth
import HardenSign
import HardenSystem
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The image's repository in a registry: manifests by tag or digest, blobs by digest, referrers through the
/// referrers API or, where the registry has none (Distribution 2.8), the fallback index tagged `sha256-<hex>`.
public final class RegistryAttachmentStore: AttachmentStore {
    public let repository: String
    let reference: RegistryReference
    let client: RegistryClient

    public init(_ ref: RegistryReference, options: RegistryOptions, logger: Logger = .harden) {
        self.repository = "\(ref.host)/\(ref.repository)"
        self.reference = ref
        self.client = options.client(for: ref, logger: logger)
    }

    public func shutdown() async { await client.shutdown() }

    public func subject() async throws -> Descriptor {
        let (bytes, mediaType) = try await client.manifest(reference.reference)
        return Descriptor(
            mediaType: mediaType.isEmpty ? MediaType.ociManifest : mediaType, digest: .sha256(of: bytes),
            size: Int64(bytes.count))
    }

    public func manifest(tag: String) async throws -> [UInt8]? {
        do {
            return try await client.manifest(tag).bytes
        } catch let e as HardenError where e.code == .notFound {
            return nil
        }
    }

    public func manifest(digest: Digest) async throws -> [UInt8] { try await client.manifest(digest.description).bytes }

    public func blob(_ descriptor: Descriptor, limit: Int) async throws -> [UInt8] {
        try AttachmentBlob.checkSize(descriptor, limit: limit, in: repository)
        let response = try await client.send(
            .GET, "/blobs/\(descriptor.digest)", expect: [200], bytes: descriptor.size, followRedirects: true)
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: Int(descriptor.size)) } catch {
            throw HardenError(.corrupt, "\(repository): blob \(descriptor.digest) is larger than its descriptor says")
        }
        let bytes = Array(buffer: body)
        return try AttachmentBlob.checkDigest(bytes, descriptor, in: repository)
    }

    public func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws {
        try await upload(blobs)
        try await client.putManifest(tag, bytes: manifest, mediaType: MediaType.ociManifest)
    }

    /// Uploads each distinct blob, a few at a time.
    func upload(_ blobs: [(Descriptor, [UInt8])]) async throws {
        var seen = Set<Digest>()
        let distinct = blobs.filter { seen.insert($0.0.digest).inserted }
        try await concurrently(distinct) { d, bytes in try await self.client.putSmallBlob(d, bytes: bytes) }
    }

    /// Runs `body` for each item, at most four at once.
    func concurrently<T: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, item) in items.enumerated() {
                if i >= 4 { try await group.next() }
                group.addTask { try await body(item) }
            }
            try await group.waitForAll()
        }
    }

    /// The referrers API's answer, or nil when the registry has no referrers API.
    func referrersAPI(_ digest: Digest) async throws -> [Descriptor]? {
        do {
            let response = try await client.send(
                .GET, "/referrers/\(digest)", headers: [("Accept", MediaType.ociIndex)], expect: [200])
            let body = try await response.body.collect(upTo: 4 << 20)
            return try Index.parse(Array(buffer: body), source: "\(repository): referrers of \(digest)").manifests
        } catch let e as HardenError where e.code == .notFound || e.code == .unsupported {
            return nil
        }
    }

    static func fallbackTag(_ digest: Digest) -> String { "\(digest.algorithm.rawValue)-\(digest.encoded)" }

    public func referrers(of digest: Digest) async throws -> [Descriptor] {
        if let listed = try await referrersAPI(digest) { return listed }
        guard let bytes = try await manifest(tag: Self.fallbackTag(digest)) else { return [] }
        return try Index.parse(bytes, source: "\(repository):\(Self.fallbackTag(digest))").manifests
    }

    public func putReferrers(_ referrers: [Referrer], subject: Digest) async throws {
        try await upload(referrers.flatMap(\.blobs))
        try await concurrently(referrers) { r in
            try await self.client.putManifest(
                r.descriptor.digest.description, bytes: r.manifest, mediaType: MediaType.ociManifest)
        }
        // A registry with the referrers API lists them now; otherwise the fallback index is kept up to date by hand.
        if try await referrersAPI(subject) != nil { return }
        let tag = Self.fallbackTag(subject)
        var index = Index(manifests: [])
        if let bytes = try await self.manifest(tag: tag) {
            index = try Index.parse(bytes, source: "\(repository):\(tag)")
        }
        let added = Set(referrers.map(\.descriptor.digest))
        index.manifests.removeAll { added.contains($0.digest) }
        index.manifests += referrers.map(\.descriptor)
        try await client.putManifest(tag, bytes: try JSONCoding.encode(index), mediaType: MediaType.ociIndex)
    }
}

/// An OCI layout directory: blobs in `blobs/sha256`, the tagged manifests and the referrers in `index.json`.
public struct LayoutAttachmentStore: AttachmentStore {
    public let directory: String
    public let repository: String
    /// The tag naming the image (nil: the layout's only image).
    public let tag: String?
    /// The subject when it is not a tagged image of the layout: one platform's manifest inside a tagged index.
    public let pinned: Descriptor?

    public init(directory: String, tag: String? = nil, repository: String? = nil, pinned: Descriptor? = nil) {
        self.directory = directory
        self.tag = tag
        self.repository = repository ?? "oci:\(directory)"
        self.pinned = pinned
    }

    func index() throws -> Index {
        try Index.parse(try HostFS.readFile(directory + "/index.json"), source: "\(directory)/index.json")
    }

    /// Serializes read-modify-write of index.json: signatures, attestations and bundles are written concurrently.
    static let indexLock = Mutex(())

    func updateIndex(_ change: (inout Index) -> Void) throws {
        try Self.indexLock.withLock { _ in
            var index = try index()
            change(&index)
            try HostFS.writeFileAtomically(directory + "/index.json", try JSONCoding.encode(index))
        }
    }

    public func subject() async throws -> Descriptor {
        if let pinned { return Descriptor(mediaType: pinned.mediaType, digest: pinned.digest, size: pinned.size) }
        let images = try index().manifests.filter { !$0.isAttachment }
        if let tag {
            guard let d = images.first(where: { $0.refName == tag }) else {
                throw HardenError(.notFound, "\(repository): no image tagged \"\(tag)\"")
            }
            return Descriptor(mediaType: d.mediaType, digest: d.digest, size: d.size)
        }
        guard images.count == 1, let d = images.first else {
            throw HardenError(
                .invalidArgument, "\(repository): holds \(images.count) images; name one as oci:DIR:TAG")
        }
        return Descriptor(mediaType: d.mediaType, digest: d.digest, size: d.size)
    }

    public func manifest(tag: String) async throws -> [UInt8]? {
        guard let d = try index().manifests.first(where: { $0.refName == tag }) else { return nil }
        return try blob(d, limit: 16 << 20)
    }

    public func manifest(digest: Digest) async throws -> [UInt8] {
        try blob(Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: 16 << 20), limit: 16 << 20)
    }

    public func blob(_ descriptor: Descriptor, limit: Int) throws -> [UInt8] {
        try AttachmentBlob.checkSize(descriptor, limit: limit, in: repository)
        let bytes = try HostFS.readFile(directory + "/" + descriptor.digest.blobPath, limit: limit)
        return try AttachmentBlob.checkDigest(bytes, descriptor, in: repository)
    }

    func write(_ blobs: [(Descriptor, [UInt8])], manifest: [UInt8]) throws -> Digest {
        let blobDir = directory + "/blobs/sha256"
        try HostFS.makeDirectories(blobDir)
        let digest = Digest.sha256(of: manifest)
        for (d, bytes) in blobs { try HostFS.writeFileAtomically(blobDir + "/" + d.digest.encoded, bytes) }
        try HostFS.writeFileAtomically(blobDir + "/" + digest.encoded, manifest)
        return digest
    }

    public func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws {
        let digest = try write(blobs, manifest: manifest)
        try updateIndex { index in
            index.manifests.removeAll { $0.refName == tag }
            index.manifests.append(
                Descriptor(
                    mediaType: MediaType.ociManifest, digest: digest, size: Int64(manifest.count),
                    annotations: [Descriptor.refNameAnnotation: tag]))
        }
    }

    /// The layout's untagged artifact manifests whose subject is `digest`.
    public func referrers(of digest: Digest) async throws -> [Descriptor] {
        var out: [Descriptor] = []
        for d in try index().manifests where d.artifactType != nil && d.refName == nil {
            guard let m = try? Manifest.parse(try await manifest(digest: d.digest), source: d.digest.description),
                m.subject?.digest == digest
            else { continue }
            out.append(d)
        }
        return out
    }

    public func putReferrers(_ referrers: [Referrer], subject: Digest) async throws {
        for r in referrers { _ = try write(r.blobs, manifest: r.manifest) }
        let added = Set(referrers.map(\.descriptor.digest))
        try updateIndex { index in
            index.manifests.removeAll { added.contains($0.digest) }
            index.manifests += referrers.map(\.descriptor)
        }
    }
}

extension ImageTransport {
    /// The store of signatures and attestations beside `reference` (a registry image or an OCI layout).
    /// `subject`: one manifest of an index (a platform's image), by digest, instead of the tagged image.
    public func attachments(for reference: ImageReference, subject: Descriptor? = nil) throws -> any AttachmentStore {
        switch reference {
        case .registry(let text):
            var ref = try RegistryReference.parse(text)
            if let subject {
                ref.tag = nil
                ref.digest = subject.digest
            }
            return RegistryAttachmentStore(ref, options: registry, logger: logger)
        case .ociLayout(let path, let tag):
            return LayoutAttachmentStore(directory: path, tag: subject == nil ? tag : nil, pinned: subject)
        default:
            throw HardenError(
                .unsupported,
                "\(reference): signatures and attestations live beside images in a registry or an OCI layout (oci:DIR), not in an archive or a directory"
            )
        }
    }
}

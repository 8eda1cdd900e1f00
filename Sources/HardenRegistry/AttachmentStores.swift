import AsyncHTTPClient
// harden — where signatures and attestations live beside an image: the image's registry repository, or the OCI
// layout that holds it (the same manifests, tagged the same way in its index.json).
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

/// The image's repository in a registry: manifests by tag, blobs by digest.
public final class RegistryAttachmentStore: AttachmentStore {
    public let repository: String
    let reference: RegistryReference
    let client: RegistryClient

    public init(_ ref: RegistryReference, options: RegistryOptions, logger: Logger = .harden) {
        self.repository = "\(ref.host)/\(ref.repository)"
        self.reference = ref
        self.client = options.client(for: ref, logger: logger)
    }

    public func subjectDigest() async throws -> Digest {
        if let d = reference.digest { return d }
        return Digest.sha256(of: try await client.manifest(reference.reference).bytes)
    }

    public func shutdown() async { await client.shutdown() }

    public func manifest(tag: String) async throws -> [UInt8]? {
        do {
            return try await client.manifest(tag).bytes
        } catch let e as HardenError where e.code == .notFound {
            return nil
        }
    }

    public func blob(_ descriptor: Descriptor, limit: Int) async throws -> [UInt8] {
        try client.checkSize(descriptor, limit: limit)
        let response = try await client.send(
            .GET, "/blobs/\(descriptor.digest)", expect: [200], bytes: descriptor.size, followRedirects: true)
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: Int(descriptor.size)) } catch {
            throw HardenError(.corrupt, "\(repository): blob \(descriptor.digest) is larger than its descriptor says")
        }
        let bytes = Array(buffer: body)
        guard Digest.sha256(of: bytes) == descriptor.digest else {
            throw HardenError(.corrupt, "\(repository): blob \(descriptor.digest) does not match its digest")
        }
        return bytes
    }

    public func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws {
        for (d, bytes) in blobs {
            _ = try await client.uploadBlob(d, mountFrom: nil) { MemoryReader(bytes) }
        }
        try await client.putManifest(tag, bytes: manifest, mediaType: MediaType.ociManifest)
    }
}

/// An OCI layout directory: blobs in `blobs/sha256`, the tagged manifests in `index.json`.
public struct LayoutAttachmentStore: AttachmentStore {
    public let directory: String
    public let repository: String
    /// The tag naming the image (nil: the layout's only image).
    public let tag: String?

    public init(directory: String, tag: String? = nil, repository: String? = nil) {
        self.directory = directory
        self.tag = tag
        self.repository = repository ?? "oci:\(directory)"
    }

    public func subjectDigest() async throws -> Digest {
        let images = try index().manifests.filter { !AttachmentKind.isAttachmentTag($0.refName) }
        if let tag {
            guard let d = images.first(where: { $0.refName == tag }) else {
                throw HardenError(.notFound, "\(repository): no image tagged \"\(tag)\"")
            }
            return d.digest
        }
        guard images.count == 1, let only = images.first else {
            throw HardenError(
                .invalidArgument, "\(repository): holds \(images.count) images; name one as oci:DIR:TAG")
        }
        return only.digest
    }

    func index() throws -> Index {
        try Index.parse(try HostFS.readFile(directory + "/index.json"), source: "\(directory)/index.json")
    }

    public func manifest(tag: String) async throws -> [UInt8]? {
        guard let d = try index().manifests.first(where: { $0.refName == tag }) else { return nil }
        return try blob(d, limit: 16 << 20)
    }

    public func blob(_ descriptor: Descriptor, limit: Int) throws -> [UInt8] {
        guard descriptor.size >= 0, descriptor.size <= Int64(limit) else {
            throw HardenError(
                .limitExceeded, "\(repository): blob \(descriptor.digest) of \(descriptor.size) bytes is over \(limit)")
        }
        let bytes = try HostFS.readFile(directory + "/" + descriptor.digest.blobPath, limit: limit)
        guard Digest.sha256(of: bytes) == descriptor.digest else {
            throw HardenError(.corrupt, "\(repository): blob \(descriptor.digest) does not match its digest")
        }
        return bytes
    }

    public func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws {
        let blobDir = directory + "/blobs/sha256"
        try HostFS.makeDirectories(blobDir)
        let digest = Digest.sha256(of: manifest)
        for (d, bytes) in blobs + [(Descriptor(mediaType: "", digest: digest, size: 0), manifest)] {
            try HostFS.writeFileAtomically(blobDir + "/" + d.digest.encoded, bytes)
        }
        var index = try index()
        index.manifests.removeAll { $0.refName == tag }
        index.manifests.append(
            Descriptor(
                mediaType: MediaType.ociManifest, digest: digest, size: Int64(manifest.count),
                annotations: [Descriptor.refNameAnnotation: tag]))
        try HostFS.writeFileAtomically(directory + "/index.json", try JSONCoding.encode(index))
    }
}

extension RegistryClient {
    func checkSize(_ d: Descriptor, limit: Int) throws {
        guard d.size >= 0, d.size <= Int64(limit) else {
            throw HardenError(
                .limitExceeded, "\(name): blob \(d.digest) of \(d.size) bytes is over the \(limit)-byte limit")
        }
    }
}

extension ImageTransport {
    /// The store of signatures and attestations beside `reference` (a registry image or an OCI layout).
    public func attachments(for reference: ImageReference) throws -> any AttachmentStore {
        switch reference {
        case .registry(let text):
            return RegistryAttachmentStore(try RegistryReference.parse(text), options: registry, logger: logger)
        case .ociLayout(let path, let tag):
            return LayoutAttachmentStore(directory: path, tag: tag)
        default:
            throw HardenError(
                .unsupported,
                "\(reference): signatures and attestations live beside images in a registry or an OCI layout (oci:DIR), not in an archive or a directory"
            )
        }
    }
}

// harden — a multi-platform image: the index naming one manifest per platform, in order, with the entries that are
// not platforms (BuildKit's attestation manifests, `unknown/unknown`) set apart.
import HardenArchive
import HardenCore
import HardenSystem

extension Descriptor {
    /// The annotation BuildKit puts on an index entry that is not an image but the attestations of one.
    public static let referenceTypeAnnotation = "vnd.docker.reference.type"

    /// True for BuildKit's attestation manifest in an index (platform `unknown/unknown`, reference type
    /// `attestation-manifest`): never a platform to process.
    public var isAttestationManifest: Bool {
        annotations?[Self.referenceTypeAnnotation] == "attestation-manifest"
            || (platform?.os == "unknown" && platform?.architecture == "unknown")
    }
}

/// The platforms of an image index.
public struct PlatformIndex: Sendable {
    /// The index as read (its media type and annotations are kept when it is written back).
    public var index: Index
    /// The entries that are images for a platform, in the index's order.
    public var platforms: [Descriptor]
    /// The entries that are attestations of other entries (dropped when the images change).
    public var attestations: [Descriptor]
    /// What else the index lists (entries without a platform, nested indexes): kept out of processing.
    public var others: [Descriptor]

    public init(_ index: Index) {
        self.index = index
        platforms = []
        attestations = []
        others = []
        for d in index.manifests {
            if d.isAttestationManifest {
                attestations.append(d)
            } else if d.platform != nil, MediaType.isManifest(d.mediaType) {
                platforms.append(d)
            } else {
                others.append(d)
            }
        }
    }

    /// The digest of the index's bytes, when it was read from them.
    public var digest: Digest?

    public static func parse(_ bytes: [UInt8], source: String) throws -> PlatformIndex {
        var p = PlatformIndex(try Index.parse(bytes, source: source))
        p.digest = Digest.sha256(of: bytes)
        return p
    }

    /// The platforms `wanted` names (`all`, or a comma-separated list of os/arch[/variant]) among this index's.
    /// A platform named but absent is an error naming the available ones.
    public func selected(_ wanted: String?) throws -> [Descriptor] {
        guard let wanted, wanted != "all" else { return platforms }
        var chosen: [Descriptor] = []
        for text in wanted.split(separator: ",") {
            let p = try Platform(parsing: String(text).trimming(" "))
            let matching = platforms.filter { $0.platform?.matches(p) ?? false }
            guard !matching.isEmpty else {
                throw HardenError(
                    .notFound, "no image for platform \(p); available: \(platformList)")
            }
            chosen += matching.filter { m in !chosen.contains { $0.digest == m.digest } }
        }
        return platforms.filter { d in chosen.contains { $0.digest == d.digest } }
    }

    /// The platforms, comma-separated, for messages.
    public var platformList: String { platforms.compactMap { $0.platform?.description }.joined(separator: ", ") }

    /// The index written back: `replaced` maps an entry's digest to the manifest written for it (processed or
    /// copied unchanged; its platform and annotations stay the entry's). Entries not in `replaced` are dropped, and
    /// so is an attestation manifest whose image changed (it describes a digest the index no longer has); the
    /// order is the index's.
    public func rewritten(_ replaced: [Digest: Descriptor]) -> Index {
        var out = index
        out.mediaType = index.mediaType ?? MediaType.ociIndex
        out.manifests = index.manifests.compactMap { d in
            guard let new = replaced[d.digest] else { return nil }
            if d.isAttestationManifest {
                guard let subject = d.annotations?["vnd.docker.reference.digest"].flatMap({ try? Digest(parsing: $0) }),
                    replaced[subject]?.digest == subject, new.digest == d.digest
                else { return nil }
            }
            var entry = d
            entry.digest = new.digest
            entry.size = new.size
            entry.mediaType = new.mediaType
            return entry
        }
        return out
    }
}

extension ImageLoader {
    /// The platforms of the image `reference` names when it is a multi-platform index in an OCI layout or archive
    /// (the tag's entry is an index listing at least one platform); nil when it names a single image or is another
    /// transport (registry indexes: `RegistryTransfer.platformIndex`).
    public static func platformIndex(_ reference: ImageReference) throws -> PlatformIndex? {
        do {
            switch reference {
            case .ociLayout(let path, let tag):
                guard HostFS.isDirectory(path) else { throw HardenError(.notFound, "\(path): no such directory") }
                return try platformIndex(
                    indexBytes: try HostFS.readFile(path + "/index.json", limit: 16 << 20),
                    store: LayoutBlobStore(root: path), tag: tag)
            case .ociArchive(let path, let tag):
                let archive = try TarArchiveIndex(path: path)
                return try platformIndex(
                    indexBytes: try archive.read("index.json"), store: ArchiveBlobStore(archive: archive), tag: tag)
            default:
                return nil
            }
        } catch let e as HardenError {
            throw e.prefixed(reference.path ?? reference.description)
        }
    }

    static func platformIndex(indexBytes: [UInt8], store: any BlobStore, tag: String?) throws -> PlatformIndex? {
        let index = try Index.parse(indexBytes, source: "index.json")
        var candidates = index.manifests.filter { !$0.isAttachment }
        if let tag {
            candidates = candidates.filter {
                $0.refName == tag || ($0.refName.map { $0.hasSuffix(":" + tag) } ?? false)
            }
        }
        guard candidates.count == 1, let only = candidates.first, MediaType.isIndex(only.mediaType) else { return nil }
        let nested = try PlatformIndex.parse(
            try store.readVerified(only, what: "index"), source: "index \(only.digest)")
        return nested.platforms.isEmpty ? nil : nested
    }
}

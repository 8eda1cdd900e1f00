// harden — attaching signatures and attestations to an image, and finding and verifying them, over any store that
// can read and write tagged manifests beside the image (a registry repository, an OCI layout).
import Foundation
import HardenCore
import HardenOCI

/// The checks every attachment store makes of a blob it reads: its declared size within the limit before reading,
/// its digest after.
public enum AttachmentBlob {
    public static func checkSize(_ descriptor: Descriptor, limit: Int, in repository: String) throws {
        guard descriptor.size >= 0, descriptor.size <= Int64(limit) else {
            throw HardenError(
                .limitExceeded, "\(repository): blob \(descriptor.digest) of \(descriptor.size) bytes is over \(limit)")
        }
    }

    public static func checkDigest(_ bytes: [UInt8], _ descriptor: Descriptor, in repository: String) throws -> [UInt8]
    {
        guard Digest.sha256(of: bytes) == descriptor.digest else {
            throw HardenError(.corrupt, "\(repository): blob \(descriptor.digest) does not match its digest")
        }
        return bytes
    }
}

/// Where the manifests beside an image live. Implementations: the registry repository, the OCI layout.
public protocol AttachmentStore: Sendable {
    /// The repository name written into signatures (`registry/repo`, or the layout's name).
    var repository: String { get }
    /// The descriptor of the image manifest (or index) the store's reference names: what gets signed.
    func subject() async throws -> Descriptor
    /// The manifest tagged `tag`, or nil when there is none.
    func manifest(tag: String) async throws -> [UInt8]?
    /// A manifest by digest (verified).
    func manifest(digest: Digest) async throws -> [UInt8]
    /// A blob, at most `limit` bytes, its digest verified.
    func blob(_ descriptor: Descriptor, limit: Int) async throws -> [UInt8]
    /// Stores `blobs` (descriptor and bytes) and then `manifest` under `tag`.
    func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws
    /// The manifests whose `subject` is `digest` (OCI 1.1 referrers; through the fallback tag where the registry has
    /// no referrers API).
    func referrers(of digest: Digest) async throws -> [Descriptor]
    /// Stores each referrer's blobs, then its manifest, and lists them as referrers of `subject`.
    func putReferrers(_ referrers: [Referrer], subject: Digest) async throws
}

/// A manifest that refers to an image (its `subject`), with the blobs it needs and its descriptor for indexes.
public struct Referrer: Sendable {
    public var manifest: [UInt8]
    public var blobs: [(Descriptor, [UInt8])]
    public var descriptor: Descriptor

    public init(manifest: [UInt8], blobs: [(Descriptor, [UInt8])], descriptor: Descriptor) {
        self.manifest = manifest
        self.blobs = blobs
        self.descriptor = descriptor
    }
}

extension AttachmentStore {
    public func subjectDigest() async throws -> Digest { try await subject().digest }
}

/// Where signatures and attestations are written: cosign 2's tag scheme, cosign 3's referrer bundles, or both (the
/// default: each verifier finds what it looks for).
public enum AttachmentScheme: String, Sendable, CaseIterable, Codable {
    case both, tags, referrers

    var writesTags: Bool { self != .referrers }
    var writesReferrers: Bool { self != .tags }
}

public enum Attacher {
    /// Signs the store's image: a simple-signing signature (tag scheme) and/or a signature bundle (referrer).
    public static func sign(
        store: any AttachmentStore, key: SigningKey, scheme: AttachmentScheme = .both, created: String
    ) async throws -> Digest {
        try await publish(store: store, key: key, sign: true, attestations: [], scheme: scheme, created: created)
    }

    /// Attests `predicate` of `type` about the store's image, in the places `scheme` names.
    public static func attest(
        store: any AttachmentStore, key: SigningKey, type: PredicateType, predicate: [UInt8],
        scheme: AttachmentScheme = .both, replace: Bool = false, created: String
    ) async throws -> Digest {
        try await publish(
            store: store, key: key, sign: false, attestations: [(type, predicate)], scheme: scheme, replace: replace,
            created: created)
    }

    /// Signs (when `sign`) and attests the store's image in one pass: one manifest update per kind in the tag
    /// scheme, one referrers index update for every bundle. Attestations replace earlier ones of the same types
    /// when `replace`.
    public static func publish(
        store: any AttachmentStore, key: SigningKey, sign: Bool, attestations: [(PredicateType, [UInt8])],
        scheme: AttachmentScheme = .both, replace: Bool = true, created: String
    ) async throws -> Digest {
        for (type, predicate) in attestations { try Attachment.checkPredicate(predicate, type: type) }
        let subject = try await store.subject()
        let digest = subject.digest
        let repo = store.repository
        // Signatures, attestations and bundles touch different manifests: they are written at the same time.
        try await withThrowingTaskGroup(of: Void.self) { group in
            if scheme.writesTags && sign {
                let sig = try Attachment.signature(repository: repo, digest: digest, key: key)
                group.addTask { try await attach([sig], kind: .signature, digest: digest, store: store) }
            }
            if scheme.writesTags && !attestations.isEmpty {
                let atts = try attestations.map {
                    try Attachment.attestation(repository: repo, digest: digest, type: $0.0, predicate: $0.1, key: key)
                }
                let replacing: Set<String> = replace ? Set(attestations.map(\.0.uri)) : []
                group.addTask {
                    try await attach(atts, kind: .attestation, digest: digest, store: store, replacingTypes: replacing)
                }
            }
            if scheme.writesReferrers {
                var statements = attestations.map {
                    InTotoStatement(image: repo, digest: digest, predicateType: $0.0, predicate: $0.1)
                }
                if sign {
                    statements.insert(BundleReferrer.signatureStatement(repository: repo, digest: digest), at: 0)
                }
                let referrers = try statements.map {
                    try BundleReferrer.make(statement: $0, subject: subject, key: key, created: created)
                }
                group.addTask { try await store.putReferrers(referrers, subject: digest) }
            }
            try await group.waitForAll()
        }
        return digest
    }

    /// Adds `attachments` of `kind` to the manifest tagged for `digest`, keeping what is there (an identical layer is
    /// not added twice; with `replacingTypes`, attestations of those predicate types are replaced).
    public static func attach(
        _ attachments: [Attachment], kind: AttachmentKind, digest: Digest, store: any AttachmentStore,
        replacingTypes: Set<String> = []
    ) async throws {
        let tag = kind.tag(for: digest)
        var layers: [Descriptor] = []
        if let existing = try await store.manifest(tag: tag) {
            let m = try Manifest.parse(existing, source: "\(store.repository):\(tag)")
            layers = m.layers.filter {
                guard let t = $0.annotations?[CosignFormat.predicateTypeAnnotation] else { return true }
                return !replacingTypes.contains(t)
            }
        }
        var blobs: [(Descriptor, [UInt8])] = []
        for a in attachments where !layers.contains(where: { $0.digest == a.descriptor.digest }) {
            layers.append(a.descriptor)
            blobs.append((a.descriptor, a.blob))
        }
        let (manifest, config) = try CosignFormat.manifest(layers: layers)
        let configDescriptor = Descriptor(
            mediaType: MediaType.ociConfig, digest: .sha256(of: config), size: Int64(config.count))
        try await store.put(blobs: blobs + [(configDescriptor, config)], manifest: manifest, tag: tag)
    }
}

/// What `harden verify` found beside an image: each signature or attestation and whether it holds.
public struct AttachmentFinding: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case verified, invalid }
    /// Where it was found: cosign 2's tag scheme, or a sigstore bundle referring to the image (cosign 3).
    public enum Location: String, Sendable, Codable { case tag, referrer }
    public var kind: AttachmentKind
    public var location: Location = .tag
    /// The predicate type URI of an attestation.
    public var predicateType: String?
    public var status: Status
    /// Why an invalid one fails (one line).
    public var reason: String?
    /// The key that verified it.
    public var keyID: String?
    /// The digest of the attestation's predicate (as embedded).
    public var predicateDigest: String?
    /// The layer holding it.
    public var layerDigest: String
}

public enum AttachmentVerifier {
    /// The largest signature payload (a simple-signing document is a few hundred bytes).
    static let maxSignaturePayload = 1 << 20
    /// The most referrers of one image harden reads.
    static let maxReferrers = 1000

    /// Every signature and attestation stored for `digest`, each checked against `key`.
    public static func verify(
        digest: Digest, store: any AttachmentStore, key: VerificationKey
    ) async throws -> [AttachmentFinding] {
        var findings: [AttachmentFinding] = []
        for kind in AttachmentKind.allCases {
            let tag = kind.tag(for: digest)
            guard let bytes = try await store.manifest(tag: tag) else { continue }
            let manifest = try Manifest.parse(bytes, source: "\(store.repository):\(tag)")
            for layer in manifest.layers {
                findings.append(await check(layer, kind: kind, digest: digest, store: store, key: key))
            }
        }
        // Every referrer's manifest is read: cosign 3 lists its attestations in the fallback index with the
        // artifact type of their (empty) config, not the bundle's.
        for referrer in try await store.referrers(of: digest).prefix(maxReferrers) {
            if let f = await checkBundle(referrer, digest: digest, store: store, key: key) { findings.append(f) }
        }
        return findings
    }

    /// A referrer holding a sigstore bundle: a signature (cosign's signing predicate) or an attestation. Nil for a
    /// referrer that turns out to be another kind of artifact.
    static func checkBundle(
        _ referrer: Descriptor, digest: Digest, store: any AttachmentStore, key: VerificationKey
    ) async -> AttachmentFinding? {
        var f = AttachmentFinding(
            kind: .attestation, location: .referrer,
            predicateType: referrer.annotations?[SigstoreBundle.predicateTypeAnnotation], status: .invalid,
            layerDigest: referrer.digest.description)
        if f.predicateType == SigstoreBundle.signaturePredicateType { f.kind = .signature }
        let source = "referrer \(referrer.digest.short)"
        do {
            let m = try Manifest.parse(try await store.manifest(digest: referrer.digest), source: source)
            guard let layer = m.layers.first,
                m.artifactType == SigstoreBundle.mediaType || layer.mediaType == SigstoreBundle.mediaType
            else { return nil }
            f.layerDigest = layer.digest.description
            let envelope = try await bundleEnvelope(m, layer: layer, digest: digest, store: store, source: source)
            let statement = try verifiedStatement(envelope, digest: digest, key: key, source: source)
            f.predicateType = statement.predicateType
            if statement.predicateType == SigstoreBundle.signaturePredicateType {
                f.kind = .signature
            } else {
                f.kind = .attestation
                f.predicateDigest = Digest.sha256(of: statement.predicate).description
            }
            f.status = .verified
            f.keyID = key.keyID
        } catch {
            f.reason = (error as? HardenError)?.message ?? "\(error)"
        }
        return f
    }

    /// The DSSE envelope of a referrer's sigstore bundle (`layer`, of manifest `m`), once its subject is `digest`.
    static func bundleEnvelope(
        _ m: Manifest, layer: Descriptor, digest: Digest, store: any AttachmentStore, source: String
    ) async throws -> DSSEEnvelope {
        guard m.subject?.digest == digest else {
            throw HardenError(.corrupt, "\(source): its subject is not this image")
        }
        let bundle = try SigstoreBundle.parse(try await store.blob(layer, limit: DSSEEnvelope.maxSize), source: source)
        guard let envelope = bundle.dsseEnvelope else {
            throw HardenError(.unsupported, "\(source): the bundle holds no DSSE envelope")
        }
        return envelope
    }

    /// The Statement of `envelope` once its signature verifies with `key` and its subject is `digest`.
    static func verifiedStatement(
        _ envelope: DSSEEnvelope, digest: Digest, key: VerificationKey, source: String
    ) throws -> InTotoStatement {
        guard envelope.payloadType == DSSEEnvelope.inTotoPayloadType else {
            throw HardenError(.corrupt, "\(source): payload type \(envelope.payloadType) is not in-toto")
        }
        guard let payload = envelope.verifiedPayload(key: key) else {
            throw HardenError(.corrupt, "\(source): no signature verifies with key \(key.keyID)")
        }
        let statement = try InTotoStatement.parse(payload, source: source)
        guard statement.covers(digest) else {
            let names = statement.subject.map { $0.digest["sha256"].map { "sha256:\($0)" } ?? $0.name }
            throw HardenError(
                .corrupt, "\(source): the statement is about \(names.joined(separator: ", ")), not this image")
        }
        return statement
    }

    static func check(
        _ layer: Descriptor, kind: AttachmentKind, digest: Digest, store: any AttachmentStore, key: VerificationKey
    ) async -> AttachmentFinding {
        var f = AttachmentFinding(
            kind: kind, predicateType: layer.annotations?[CosignFormat.predicateTypeAnnotation], status: .invalid,
            layerDigest: layer.digest.description)
        do {
            switch kind {
            case .signature: try await checkSignature(layer, digest: digest, store: store, key: key)
            case .attestation:
                let statement = try await checkAttestation(layer, digest: digest, store: store, key: key)
                f.predicateType = statement.predicateType
                f.predicateDigest = Digest.sha256(of: statement.predicate).description
            }
            f.status = .verified
            f.keyID = key.keyID
        } catch {
            f.reason = (error as? HardenError)?.message ?? "\(error)"
        }
        return f
    }

    private static func checkSignature(
        _ layer: Descriptor, digest: Digest, store: any AttachmentStore, key: VerificationKey
    ) async throws {
        guard layer.mediaType == CosignFormat.simpleSigningMediaType else {
            throw HardenError(.corrupt, "layer \(layer.digest.short) has media type \(layer.mediaType)")
        }
        guard let b64 = layer.annotations?[CosignFormat.signatureAnnotation], let sig = Data(base64Encoded: b64)
        else {
            throw HardenError(.corrupt, "layer \(layer.digest.short) has no signature annotation")
        }
        let payload = try await store.blob(layer, limit: maxSignaturePayload)
        guard key.isValid(signature: [UInt8](sig), for: payload) else {
            throw HardenError(.corrupt, "the signature does not verify with key \(key.keyID)")
        }
        guard let signed = CosignFormat.signedDigest(of: payload) else {
            throw HardenError(.corrupt, "the signed payload is not a cosign simple-signing document")
        }
        guard signed == digest else {
            throw HardenError(.corrupt, "the signature is of \(signed), not of this image (\(digest))")
        }
    }

    private static func checkAttestation(
        _ layer: Descriptor, digest: Digest, store: any AttachmentStore, key: VerificationKey
    ) async throws -> InTotoStatement {
        guard layer.mediaType == CosignFormat.dsseMediaType else {
            throw HardenError(.corrupt, "layer \(layer.digest.short) has media type \(layer.mediaType)")
        }
        let source = "attestation \(layer.digest.short)"
        let envelope = try DSSEEnvelope.parse(
            try await store.blob(layer, limit: DSSEEnvelope.maxSize), source: source)
        let statement = try verifiedStatement(envelope, digest: digest, key: key, source: source)
        if let annotated = layer.annotations?[CosignFormat.predicateTypeAnnotation],
            annotated != statement.predicateType
        {
            throw HardenError(
                .corrupt, "\(source): annotated \(annotated) but the statement is \(statement.predicateType)")
        }
        return statement
    }
}

/// Copies the signatures and attestations of one image from one store to another (both schemes), byte for byte:
/// manifests keep their digests, so the signatures still hold for the same image digest.
public enum AttachmentCopier {
    /// The largest blob of an attachment copied (a bundle or envelope holding an SBOM).
    static let maxBlob = DSSEEnvelope.maxSize

    /// How many manifests `store` holds for `digest` (tag-scheme manifests and referrers).
    public static func count(digest: Digest, in store: any AttachmentStore) async throws -> Int {
        var n = try await store.referrers(of: digest).count
        for kind in AttachmentKind.allCases where try await store.manifest(tag: kind.tag(for: digest)) != nil { n += 1 }
        return n
    }

    /// Copies what `source` holds for `digest` into `destination`; returns how many manifests were copied.
    @discardableResult
    public static func copy(
        digest: Digest, from source: any AttachmentStore, to destination: any AttachmentStore
    ) async throws -> Int {
        var copied = 0
        for kind in AttachmentKind.allCases {
            let tag = kind.tag(for: digest)
            guard let bytes = try await source.manifest(tag: tag) else { continue }
            let blobs = try await blobs(of: bytes, source: source, name: "\(source.repository):\(tag)")
            try await destination.put(blobs: blobs, manifest: bytes, tag: tag)
            copied += 1
        }
        var referrers: [Referrer] = []
        for d in try await source.referrers(of: digest).prefix(AttachmentVerifier.maxReferrers) {
            let bytes = try await source.manifest(digest: d.digest)
            let blobs = try await blobs(of: bytes, source: source, name: "\(source.repository)@\(d.digest)")
            referrers.append(Referrer(manifest: bytes, blobs: blobs, descriptor: d))
        }
        if !referrers.isEmpty { try await destination.putReferrers(referrers, subject: digest) }
        return copied + referrers.count
    }

    static func blobs(
        of manifestBytes: [UInt8], source: any AttachmentStore, name: String
    ) async throws -> [(Descriptor, [UInt8])] {
        let m = try Manifest.parse(manifestBytes, source: name)
        var out: [(Descriptor, [UInt8])] = []
        for d in [m.config] + m.layers { out.append((d, try await source.blob(d, limit: maxBlob))) }
        return out
    }
}

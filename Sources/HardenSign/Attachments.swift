// harden — attaching signatures and attestations to an image, and finding and verifying them, over any store that
// can read and write tagged manifests beside the image (a registry repository, an OCI layout).
import Foundation
import HardenCore
import HardenOCI

/// Where the manifests beside an image live. Implementations: the registry repository, the OCI layout.
public protocol AttachmentStore: Sendable {
    /// The repository name written into signatures (`registry/repo`, or the layout's name).
    var repository: String { get }
    /// The digest of the image manifest (or index) the store's reference names: what gets signed.
    func subjectDigest() async throws -> Digest
    /// The manifest tagged `tag`, or nil when there is none.
    func manifest(tag: String) async throws -> [UInt8]?
    /// A blob, at most `limit` bytes, its digest verified.
    func blob(_ descriptor: Descriptor, limit: Int) async throws -> [UInt8]
    /// Stores `blobs` (descriptor and bytes) and then `manifest` under `tag`.
    func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws
}

public enum Attacher {
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
    public var kind: AttachmentKind
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
        return findings
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
        if let annotated = layer.annotations?[CosignFormat.predicateTypeAnnotation],
            annotated != statement.predicateType
        {
            throw HardenError(
                .corrupt, "\(source): annotated \(annotated) but the statement is \(statement.predicateType)")
        }
        return statement
    }
}

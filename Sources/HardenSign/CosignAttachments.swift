// harden — signatures and attestations the way cosign stores them beside an image (the tag scheme): one OCI manifest
// per kind, tagged `sha256-<hex>.sig` / `.att` in the image's repository, one layer per signature or attestation.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI

public enum AttachmentKind: String, Sendable, CaseIterable, Codable {
    case signature, attestation

    /// The tag of the manifest holding this kind for `digest` (cosign's `sha256-<hex>.sig` / `.att`).
    public func tag(for digest: Digest) -> String {
        "\(digest.algorithm.rawValue)-\(digest.encoded).\(self == .signature ? "sig" : "att")"
    }

    public var layerMediaType: String {
        self == .signature ? CosignFormat.simpleSigningMediaType : CosignFormat.dsseMediaType
    }
}

public enum CosignFormat {
    public static let simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    public static let dsseMediaType = "application/vnd.dsse.envelope.v1+json"
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    public static let predicateTypeAnnotation = "predicateType"
    public static let simpleSigningType = "cosign container image signature"

    /// The simple-signing payload cosign signs: the image's repository and manifest digest.
    public static func simpleSigningPayload(repository: String, digest: Digest) -> [UInt8] {
        let ref = jsonString(repository)
        return Array(
            "{\"critical\":{\"identity\":{\"docker-reference\":\(ref)},\"image\":{\"docker-manifest-digest\":\"\(digest)\"},\"type\":\"\(simpleSigningType)\"},\"optional\":null}"
                .utf8)
    }

    /// The manifest digest a simple-signing payload names, after checking its type; nil when it is not one.
    public static func signedDigest(of payload: [UInt8]) -> Digest? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            let critical = o["critical"] as? [String: Any], critical["type"] as? String == simpleSigningType,
            let image = critical["image"] as? [String: Any], let d = image["docker-manifest-digest"] as? String
        else { return nil }
        return try? Digest(parsing: d)
    }

    /// A manifest of `layers` with the config cosign writes (an empty image whose diff_ids are the layers).
    public static func manifest(layers: [Descriptor]) throws -> (manifest: [UInt8], config: [UInt8]) {
        let diffIDs = layers.map { "\"\($0.digest)\"" }.joined(separator: ",")
        let config = Array(
            "{\"architecture\":\"\",\"config\":{},\"created\":\"0001-01-01T00:00:00Z\",\"history\":[{\"created\":\"0001-01-01T00:00:00Z\"}],\"os\":\"\",\"rootfs\":{\"diff_ids\":[\(diffIDs)],\"type\":\"layers\"}}"
                .utf8)
        let configDescriptor = Descriptor(
            mediaType: MediaType.ociConfig, digest: .sha256(of: config), size: Int64(config.count))
        let m = Manifest(config: configDescriptor, layers: layers)
        return (try JSONCoding.encode(m), config)
    }

    static func jsonString(_ s: String) -> String {
        String(decoding: (try? JSONCoding.encode([s])) ?? Array("[\"\"]".utf8), as: UTF8.self).dropFirst().dropLast()
            .description
    }
}

/// One signature or attestation: its layer descriptor (annotations included) and its blob.
public struct Attachment: Sendable {
    public var descriptor: Descriptor
    public var blob: [UInt8]

    /// A simple-signing signature of `digest` in `repository`.
    public static func signature(repository: String, digest: Digest, key: SigningKey) throws -> Attachment {
        let payload = CosignFormat.simpleSigningPayload(repository: repository, digest: digest)
        let sig = try key.sign(payload)
        return Attachment(
            descriptor: Descriptor(
                mediaType: CosignFormat.simpleSigningMediaType, digest: .sha256(of: payload),
                size: Int64(payload.count),
                annotations: [CosignFormat.signatureAnnotation: Data(sig).base64EncodedString()]),
            blob: payload)
    }

    /// Throws unless `predicate` is JSON (a Statement embeds it as it is).
    public static func checkPredicate(_ predicate: [UInt8], type: PredicateType) throws {
        guard (try? JSONSerialization.jsonObject(with: Data(predicate), options: .fragmentsAllowed)) != nil else {
            throw HardenError(.corrupt, "the \(type) predicate is not JSON")
        }
    }

    /// An attestation: `predicate` (JSON) about `digest`, in a signed DSSE envelope.
    public static func attestation(
        repository: String, digest: Digest, type: PredicateType, predicate: [UInt8], key: SigningKey
    ) throws -> Attachment {
        try checkPredicate(predicate, type: type)
        let statement = InTotoStatement(image: repository, digest: digest, predicateType: type, predicate: predicate)
        let envelope = try DSSEEnvelope.sign(
            payload: try statement.encoded(), type: DSSEEnvelope.inTotoPayloadType, key: key)
        let blob = try JSONCoding.encode(envelope)
        return Attachment(
            descriptor: Descriptor(
                mediaType: CosignFormat.dsseMediaType, digest: .sha256(of: blob), size: Int64(blob.count),
                annotations: [CosignFormat.signatureAnnotation: "", CosignFormat.predicateTypeAnnotation: type.uri]),
            blob: blob)
    }
}

// harden — reading the predicates of an image's attestations (cosign's `.att` tag and sigstore bundles referring to the
// image): what a supplier attached, such as VEX. With a key only attestations whose signature verifies and whose
// subject is the image are taken; without one (the operator's explicit choice) the subject is still checked.
import Foundation
import HardenCore
import HardenOCI

public enum AttachedPredicates {
    public struct Found: Sendable {
        public var predicateType: String
        public var predicate: [UInt8]
        /// `attestation sha256:abcd…` (tag scheme) or `referrer sha256:…`.
        public var source: String
        /// The key that verified it; nil when read unverified.
        public var keyID: String?
    }

    /// The attestations of `digest` whose predicate type `wanted` accepts, and one line for each one refused (its
    /// signature does not verify, it is about another image, it is malformed).
    public static func collect(
        digest: Digest, store: any AttachmentStore, key: VerificationKey?, wanted: (String) -> Bool
    ) async throws -> (found: [Found], refused: [String]) {
        var found: [Found] = []
        var refused: [String] = []
        func take(_ envelope: () async throws -> DSSEEnvelope, source: String) async {
            do {
                let statement = try statement(try await envelope(), digest: digest, key: key, source: source)
                guard wanted(statement.predicateType) else { return }
                found.append(
                    Found(
                        predicateType: statement.predicateType, predicate: statement.predicate, source: source,
                        keyID: key?.keyID))
            } catch {
                refused.append((error as? HardenError)?.message ?? "\(source): \(error)")
            }
        }
        let tag = AttachmentKind.attestation.tag(for: digest)
        if let bytes = try await store.manifest(tag: tag) {
            let manifest = try Manifest.parse(bytes, source: "\(store.repository):\(tag)")
            for layer in manifest.layers where layer.mediaType == CosignFormat.dsseMediaType {
                if let annotated = layer.annotations?[CosignFormat.predicateTypeAnnotation], !wanted(annotated) {
                    continue
                }
                let source = "attestation \(layer.digest.short)"
                await take(
                    {
                        try DSSEEnvelope.parse(try await store.blob(layer, limit: DSSEEnvelope.maxSize), source: source)
                    },
                    source: source)
            }
        }
        for referrer in try await store.referrers(of: digest).prefix(AttachmentVerifier.maxReferrers) {
            if let annotated = referrer.annotations?[SigstoreBundle.predicateTypeAnnotation], !wanted(annotated) {
                continue
            }
            let source = "referrer \(referrer.digest.short)"
            guard let m = try? Manifest.parse(try await store.manifest(digest: referrer.digest), source: source),
                let layer = m.layers.first,
                m.artifactType == SigstoreBundle.mediaType || layer.mediaType == SigstoreBundle.mediaType
            else { continue }
            await take(
                {
                    try await AttachmentVerifier.bundleEnvelope(
                        m, layer: layer, digest: digest, store: store, source: source)
                }, source: source)
        }
        return (found, refused)
    }

    /// The in-toto statement of an envelope: verified with `key`, or decoded as it is without one; either way about
    /// `digest`.
    static func statement(
        _ envelope: DSSEEnvelope, digest: Digest, key: VerificationKey?, source: String
    ) throws -> InTotoStatement {
        if let key {
            return try AttachmentVerifier.verifiedStatement(envelope, digest: digest, key: key, source: source)
        }
        guard envelope.payloadType == DSSEEnvelope.inTotoPayloadType, let body = Data(base64Encoded: envelope.payload)
        else {
            throw HardenError(.corrupt, "\(source): not an in-toto DSSE envelope")
        }
        let statement = try InTotoStatement.parse([UInt8](body), source: source)
        guard statement.covers(digest) else {
            throw HardenError(.corrupt, "\(source): the statement is not about this image")
        }
        return statement
    }
}

// harden — the last stage: the hardened image goes to its destination and, with a signing key, is signed and its
// evidence (SBOM, OpenVEX, vulnerability scan, SLSA provenance, hardening report) attached beside it as attestations
// cosign and admission controllers verify.
import Foundation
import HardenCore
import HardenOCI
import HardenRegistry
import HardenRegistryAuth
import HardenReport
import HardenSign
import Logging

public struct PublishOptions: Sendable {
    /// Signs the output and attaches the evidence when set.
    public var signingKey: SigningKey?
    public var scheme: AttachmentScheme = .both
    public var invocation: Evidence.Invocation

    public init(signingKey: SigningKey? = nil, scheme: AttachmentScheme = .both, invocation: Evidence.Invocation) {
        self.signingKey = signingKey
        self.scheme = scheme
        self.invocation = invocation
    }
}

public enum PublishStage {
    /// Refuses, before any work, a signing request for a destination that cannot hold attachments.
    public static func check(_ destination: ImageReference, signing: Bool) throws {
        guard signing else { return }
        switch destination {
        case .registry, .ociLayout: return
        default:
            throw HardenError(
                .invalidArgument,
                "\(destination): signatures and attestations go beside an image in a registry or an OCI layout; write to docker:// or oci:DIR to sign"
            )
        }
    }

    /// Writes `image` to `destination`; with a key, signs it and attaches the evidence of `result`. Records the
    /// output digest and the attestations in `result.record`.
    public static func publish(
        _ image: Image, result: inout PipelineResult, to destination: ImageReference, transport: ImageTransport,
        options: PublishOptions
    ) async throws -> ImageWriter.Written {
        let clock = ContinuousClock()
        let start = clock.now
        let written = try await transport.write(
            image, to: destination, options: ImageWriter.Options(compression: .keep))
        if let d = written.manifestDigest { result.record.output?.manifestDigest = d.description }
        guard let key = options.signingKey, let digest = written.manifestDigest else { return written }
        let pushed = clock.now
        let store = try transport.attachments(for: pinned(destination, digest: digest))
        let created = ISO8601DateFormatter().string(from: Date())
        do {
            let predicates = try Evidence.predicates(result, outputDigest: digest, invocation: options.invocation)
            _ = try await Attacher.publish(
                store: store, key: key, sign: true, attestations: predicates, scheme: options.scheme, created: created)
            let attested = predicates.map { type, predicate in
                RunRecord.Attestation(
                    type: type.description, predicateType: type.uri, predicateSHA256: predicate.sha256Hex)
            }
            transport.logger.info(
                "published",
                metadata: [
                    "write": "\(pushed - start)", "sign+attest": "\(clock.now - pushed)",
                    "attestations": "\(predicates.count)",
                ])
            result.record.signature = .init(
                keyID: key.publicKey.keyID, scheme: options.scheme.rawValue, attestations: attested)
            await (store as? RegistryAttachmentStore)?.shutdown()
        } catch {
            await (store as? RegistryAttachmentStore)?.shutdown()
            throw error
        }
        return written
    }

    /// The destination named by digest (a registry tag could move between the push and the signing).
    static func pinned(_ destination: ImageReference, digest: Digest) throws -> ImageReference {
        guard case .registry(let text) = destination else { return destination }
        var ref = try RegistryReference.parse(text)
        ref.tag = nil
        ref.digest = digest
        return .registry(ref.description)
    }
}

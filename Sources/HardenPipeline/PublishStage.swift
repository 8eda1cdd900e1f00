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
        transport.logger.info("written", metadata: ["seconds": "\(clock.now - start)"])
        try await attach(
            &result, subject: nil, destination: pinned(destination, digest: digest), outputDigest: digest,
            transport: transport, key: key, options: options)
        return written
    }

    /// Signs the image at `destination` (or `subject`, one platform's manifest of the index there) and attaches
    /// the evidence of `result`; records the signature in `result.record`.
    public static func attach(
        _ result: inout PipelineResult, subject: Descriptor?, destination: ImageReference, outputDigest: Digest,
        transport: ImageTransport, key: SigningKey, options: PublishOptions
    ) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let store = try transport.attachments(for: destination, subject: subject)
        let created = ISO8601DateFormatter().string(from: Date())
        do {
            let predicates = try Evidence.predicates(
                result, outputDigest: outputDigest, invocation: options.invocation)
            _ = try await Attacher.publish(
                store: store, key: key, sign: true, attestations: predicates, scheme: options.scheme, created: created)
            let attested = predicates.map { type, predicate in
                RunRecord.Attestation(
                    type: type.description, predicateType: type.uri, predicateSHA256: predicate.sha256Hex)
            }
            transport.logger.info(
                "published",
                metadata: ["sign+attest": "\(clock.now - start)", "attestations": "\(predicates.count)"])
            result.record.signature = .init(
                keyID: key.publicKey.keyID, scheme: options.scheme.rawValue, attestations: attested)
            await (store as? RegistryAttachmentStore)?.shutdown()
        } catch {
            await (store as? RegistryAttachmentStore)?.shutdown()
            throw error
        }
    }

    /// Signs an index itself (no attestations: each platform carries its own), so `cosign verify` of its tag holds.
    public static func signIndex(
        at destination: ImageReference, digest: Digest, transport: ImageTransport, key: SigningKey,
        options: PublishOptions
    ) async throws {
        let store = try transport.attachments(for: pinned(destination, digest: digest))
        do {
            _ = try await Attacher.publish(
                store: store, key: key, sign: true, attestations: [], scheme: options.scheme,
                created: ISO8601DateFormatter().string(from: Date()))
        } catch {
            await (store as? RegistryAttachmentStore)?.shutdown()
            throw error
        }
        await (store as? RegistryAttachmentStore)?.shutdown()
    }

    /// The destination named by digest (a registry tag could move between the push and the signing).
    public static func pinned(_ destination: ImageReference, digest: Digest) throws -> ImageReference {
        guard case .registry(let text) = destination else { return destination }
        var ref = try RegistryReference.parse(text)
        ref.tag = nil
        ref.digest = digest
        return .registry(ref.description)
    }
}

// harden — `scan --vex image`: VEX a supplier attached to the image as attestations (OpenVEX, CycloneDX VEX, CSAF
// predicates; cosign's tag scheme or sigstore-bundle referrers), of the platform's manifest and of the index it belongs
// to, verified with `--vex-key` (or taken unverified with `--vex-unsigned`, the operator's explicit choice).
import HardenCore
import HardenOCI
import HardenRegistry
import HardenSign
import HardenSystem
import HardenVulnDB
import Logging

enum AttachedVEX {
    /// Predicate types that carry VEX.
    static func isVEX(_ predicateType: String) -> Bool {
        predicateType.hasPrefix("https://openvex.dev/ns") || predicateType.hasPrefix("https://cyclonedx.org/vex")
            || predicateType.lowercased().contains("csaf")
    }

    /// The attached VEX of one image (`platform`: a platform of an index, its manifest being `digest`).
    static func documents(
        _ reference: ImageReference, digest: Digest, platform: String?, transport: ImageTransport,
        key: VerificationKey?, logger: Logger
    ) async throws -> [VEXDocument] {
        var stores: [(store: any AttachmentStore, digest: Digest?)] = [
            (try transport.attachments(for: reference), nil)
        ]
        if platform != nil {
            let subject = Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: 0)
            stores.insert((try transport.attachments(for: reference, subject: subject), digest), at: 0)
        }
        var docs: [VEXDocument] = []
        var seen = Set<Digest>()
        for (store, pinned) in stores {
            try await Signing.withStore(store) { store in
                var subject = pinned
                if subject == nil { subject = try await store.subjectDigest() }
                guard let subject else { return }
                guard seen.insert(subject).inserted else { return }
                let (found, refused) = try await AttachedPredicates.collect(
                    digest: subject, store: store, key: key, wanted: isVEX)
                for line in refused { logger.warning("attached VEX of \(subject.short) not used: \(line)") }
                for f in found {
                    let name = "\(reference) \(f.source)" + (f.keyID.map { " (verified by \($0))" } ?? " (unverified)")
                    docs.append(try VEXDocument.parse(f.predicate, name))
                }
            }
        }
        return docs
    }
}

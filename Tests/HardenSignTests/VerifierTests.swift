// harden — attaching and verifying over an in-memory store: what verifies, and each way of tampering that must not.
import Foundation
import HardenCore
import HardenOCI
import HardenSign
import Synchronization
import Testing

/// Tagged manifests and blobs in memory: the store a registry or an OCI layout is, without either.
final class MemoryStore: AttachmentStore {
    let repository = "registry.test/app"
    let image: Digest
    let state = Mutex<(tags: [String: [UInt8]], blobs: [Digest: [UInt8]], referrers: [Digest: [Descriptor]])>(
        ([:], [:], [:]))

    init(image: Digest) { self.image = image }

    func subject() async throws -> Descriptor { Descriptor(mediaType: MediaType.ociManifest, digest: image, size: 500) }

    func manifest(tag: String) async throws -> [UInt8]? { state.withLock { $0.tags[tag] } }

    func manifest(digest: Digest) async throws -> [UInt8] {
        try await blob(Descriptor(mediaType: "", digest: digest, size: 0), limit: 1 << 20)
    }

    func referrers(of digest: Digest) async throws -> [Descriptor] {
        state.withLock { $0.referrers[digest] ?? [] }
    }

    func putReferrers(_ referrers: [Referrer], subject: Digest) async throws {
        state.withLock { s in
            for r in referrers {
                for (d, b) in r.blobs { s.blobs[d.digest] = b }
                s.blobs[r.descriptor.digest] = r.manifest
                s.referrers[subject, default: []].append(r.descriptor)
            }
        }
    }

    func blob(_ descriptor: Descriptor, limit: Int) async throws -> [UInt8] {
        try AttachmentBlob.checkSize(descriptor, limit: limit, in: repository)
        guard let b = state.withLock({ $0.blobs[descriptor.digest] }) else { throw HardenError(.notFound, "no blob") }
        return try AttachmentBlob.checkDigest(b, descriptor, in: repository)
    }

    func put(blobs: [(Descriptor, [UInt8])], manifest: [UInt8], tag: String) async throws {
        state.withLock { s in
            for (d, b) in blobs { s.blobs[d.digest] = b }
            s.tags[tag] = manifest
        }
    }

    /// Rewrites the one layer of `kind`'s manifest with `change` (blob and annotations), re-digesting the blob.
    func tamper(_ kind: AttachmentKind, _ change: (inout Descriptor, inout [UInt8]) -> Void) throws {
        try state.withLock { s in
            let tag = kind.tag(for: image)
            var m = try Manifest.parse(s.tags[tag]!, source: tag)
            var d = m.layers[0]
            var blob = s.blobs[d.digest]!
            change(&d, &blob)
            d.digest = .sha256(of: blob)
            d.size = Int64(blob.count)
            s.blobs[d.digest] = blob
            m.layers[0] = d
            s.tags[tag] = try JSONCoding.encode(m)
        }
    }
}

@Suite struct VerifierTests {
    let key = SigningKey.generateP256()
    let image = Digest.sha256(of: Array("the image manifest".utf8))
    let predicate = Array(#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#.utf8)

    func signedStore() async throws -> MemoryStore {
        let store = MemoryStore(image: image)
        try await Attacher.attach(
            [try Attachment.signature(repository: store.repository, digest: image, key: key)], kind: .signature,
            digest: image, store: store)
        try await Attacher.attach(
            [
                try Attachment.attestation(
                    repository: store.repository, digest: image, type: .cyclonedx, predicate: predicate, key: key)
            ], kind: .attestation, digest: image, store: store)
        return store
    }

    func findings(_ store: MemoryStore, key: VerificationKey? = nil) async throws -> [AttachmentFinding] {
        try await AttachmentVerifier.verify(digest: image, store: store, key: key ?? self.key.publicKey)
    }

    @Test func whatHardenAttachesVerifies() async throws {
        let f = try await findings(try await signedStore())
        #expect(f.count == 2 && f.allSatisfy { $0.status == .verified })
        #expect(f.last?.predicateType == "https://cyclonedx.org/bom")
        #expect(
            f.last?.predicateDigest
                == Digest.sha256(of: Array(#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#.utf8)).description)
        // Another key verifies nothing.
        let other = try await findings(try await signedStore(), key: SigningKey.generateP256().publicKey)
        #expect(other.allSatisfy { $0.status == .invalid && $0.reason?.contains("key") == true })
    }

    @Test func aChangedPayloadByteFails() async throws {
        let store = try await signedStore()
        try store.tamper(.signature) { _, blob in blob[blob.count / 2] ^= 1 }
        let f = try await findings(store).first { $0.kind == .signature }
        #expect(f?.status == .invalid && f?.reason?.contains("does not verify") == true)
    }

    @Test func aSignatureOfAnotherDigestFails() async throws {
        let store = try await signedStore()
        let other = Digest.sha256(of: [1, 2, 3])
        let forged = try Attachment.signature(repository: store.repository, digest: other, key: key)
        try store.tamper(.signature) { d, blob in
            d.annotations = forged.descriptor.annotations
            blob = forged.blob
        }
        let f = try await findings(store).first { $0.kind == .signature }
        #expect(f?.status == .invalid && f?.reason == "the signature is of \(other), not of this image (\(image))")
    }

    @Test func aStatementAboutAnotherImageFails() async throws {
        let store = try await signedStore()
        let other = Digest.sha256(of: [9])
        let forged = try Attachment.attestation(
            repository: store.repository, digest: other, type: .cyclonedx, predicate: predicate, key: key)
        try store.tamper(.attestation) { _, blob in blob = forged.blob }
        let f = try await findings(store).first { $0.kind == .attestation }
        #expect(f?.status == .invalid && f?.reason?.contains("not this image") == true)
    }

    @Test func aRelabelledPredicateTypeFails() async throws {
        let store = try await signedStore()
        try store.tamper(.attestation) { d, _ in
            d.annotations?[CosignFormat.predicateTypeAnnotation] = PredicateType.openvex.uri
        }
        let f = try await findings(store).first { $0.kind == .attestation }
        #expect(f?.status == .invalid && f?.reason?.contains("annotated https://openvex.dev/ns") == true)
    }

    @Test func aTruncatedEnvelopeOrAChangedStatementFails() async throws {
        let store = try await signedStore()
        try store.tamper(.attestation) { _, blob in blob = Array(blob.prefix(blob.count / 2)) }
        #expect(
            try await findings(store).first { $0.kind == .attestation }?.reason?.contains("not a DSSE envelope") == true
        )
        let store2 = try await signedStore()
        try store2.tamper(.attestation) { _, blob in
            var env = try! JSONDecoder().decode(DSSEEnvelope.self, from: Data(blob))
            var payload = [UInt8](Data(base64Encoded: env.payload)!)
            payload[payload.count - 3] ^= 1
            env.payload = Data(payload).base64EncodedString()
            blob = try! JSONCoding.encode(env)
        }
        #expect(
            try await findings(store2).first { $0.kind == .attestation }?.reason?.contains("no signature verifies")
                == true)
    }

    @Test func aHugeEnvelopeIsRefusedByItsDeclaredSize() async throws {
        let store = try await signedStore()
        try store.tamper(.attestation) { _, blob in
            blob =
                Array("{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"".utf8)
                + [UInt8](repeating: UInt8(ascii: "A"), count: 100 << 20) + Array("\",\"signatures\":[]}".utf8)
        }
        let f = try await findings(store).first { $0.kind == .attestation }
        #expect(f?.status == .invalid && f?.reason?.contains("over") == true)
    }

    @Test func attachingTwiceKeepsBothAndReplaceDropsTheOldType() async throws {
        let store = try await signedStore()
        let second = try Attachment.attestation(
            repository: store.repository, digest: image, type: .cyclonedx, predicate: Array("{}".utf8), key: key)
        try await Attacher.attach([second], kind: .attestation, digest: image, store: store)
        #expect(try await findings(store).filter { $0.kind == .attestation }.count == 2)
        try await Attacher.attach(
            [second], kind: .attestation, digest: image, store: store, replacingTypes: [PredicateType.cyclonedx.uri])
        #expect(try await findings(store).filter { $0.kind == .attestation }.count == 1)
    }

    @Test func bundlesReferringToTheImageVerifyAndOneAboutAnotherDoesNot() async throws {
        let store = MemoryStore(image: image)
        let when = "2026-12-06T00:00:00Z"
        _ = try await Attacher.sign(store: store, key: key, scheme: .referrers, created: when)
        _ = try await Attacher.attest(
            store: store, key: key, type: .slsaProvenance1, predicate: predicate, scheme: .referrers, created: when)
        var f = try await findings(store)
        #expect(f.count == 2 && f.allSatisfy { $0.status == .verified && $0.location == .referrer }, "\(f)")
        #expect(f.map(\.kind) == [.signature, .attestation])
        #expect(f.last?.predicateType == "https://slsa.dev/provenance/v1")
        // A bundle about another image, listed as a referrer of this one (a forged subject in the index).
        let other = Digest.sha256(of: [7])
        let forged = try BundleReferrer.make(
            statement: BundleReferrer.signatureStatement(repository: store.repository, digest: other),
            subject: Descriptor(mediaType: MediaType.ociManifest, digest: other, size: 1), key: key, created: when)
        try await store.putReferrers([forged], subject: image)
        f = try await findings(store)
        #expect(f.count == 3 && f.last?.status == .invalid && f.last?.reason?.contains("subject") == true)
        // Both schemes at once: cosign 2 and cosign 3 each find theirs.
        let both = MemoryStore(image: image)
        _ = try await Attacher.sign(store: both, key: key, created: when)
        #expect(Set(try await findings(both).map(\.location)) == [.tag, .referrer])
    }
}

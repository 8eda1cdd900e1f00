// harden — sigstore bundles (v0.3) attached as OCI 1.1 referrers, the way cosign 3 stores signatures and
// attestations: one manifest per bundle whose `subject` is the image, found through the registry's referrers API or
// the referrers tag-schema fallback index (`sha256-<hex>`). A signature is a DSSE envelope whose Statement has
// cosign's signing predicate type and an empty predicate. Bundles carry no transparency-log entry here (key-based,
// offline); the format leaves room for Rekor entries and certificates (keyless).
import Crypto
import Foundation
import HardenArchive
import HardenCore
import HardenOCI

public struct SigstoreBundle: Codable, Sendable {
    public static let mediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
    /// The predicate type of a cosign 3 signature (a Statement about the image with an empty predicate).
    public static let signaturePredicateType = "https://sigstore.dev/cosign/sign/v1"
    public static let contentAnnotation = "dev.sigstore.bundle.content"
    public static let predicateTypeAnnotation = "dev.sigstore.bundle.predicateType"

    public struct Material: Codable, Sendable {
        public struct PublicKey: Codable, Sendable {
            /// base64 of the SHA-256 of the key's SubjectPublicKeyInfo (as cosign writes it).
            public var hint: String?
        }
        public var publicKey: PublicKey?
    }
    public var mediaType: String
    public var verificationMaterial: Material
    public var dsseEnvelope: DSSEEnvelope?

    /// A bundle around `envelope`, signed by `key`.
    public init(envelope: DSSEEnvelope, key: VerificationKey) {
        self.mediaType = Self.mediaType
        self.verificationMaterial = Material(
            publicKey: .init(hint: Data(SHA256.hash(data: key.spki)).base64EncodedString()))
        self.dsseEnvelope = envelope
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> SigstoreBundle {
        guard bytes.count <= DSSEEnvelope.maxSize else {
            throw HardenError(.limitExceeded, "\(source): bundle of \(bytes.count) bytes is over the 64 MiB limit")
        }
        let b: SigstoreBundle
        do { b = try JSONDecoder().decode(SigstoreBundle.self, from: Data(bytes)) } catch {
            throw HardenError(.corrupt, "\(source): not a sigstore bundle (mediaType, verificationMaterial)")
        }
        guard b.mediaType.hasPrefix("application/vnd.dev.sigstore.bundle") else {
            throw HardenError(.unsupported, "\(source): bundle media type \(b.mediaType)")
        }
        return b
    }
}

/// Building and reading referrer manifests that hold one bundle each.
public enum BundleReferrer {
    /// The OCI empty descriptor's content (`{}`), the config of artifact manifests.
    static let emptyConfig: [UInt8] = Array("{}".utf8)

    /// A bundle for `statement` about the image `subject`, in its referrer manifest; the blobs to store with it.
    public static func make(
        statement: InTotoStatement, subject: Descriptor, key: SigningKey, created: String
    ) throws -> Referrer {
        let envelope = try DSSEEnvelope.sign(
            payload: try statement.encoded(), type: DSSEEnvelope.inTotoPayloadType, key: key, keyID: nil)
        let bundle = try JSONCoding.encode(SigstoreBundle(envelope: envelope, key: key.publicKey))
        let bundleDescriptor = Descriptor(
            mediaType: SigstoreBundle.mediaType, digest: .sha256(of: bundle), size: Int64(bundle.count))
        let config = Descriptor(
            mediaType: MediaType.ociEmptyJSON, digest: .sha256(of: emptyConfig), size: Int64(emptyConfig.count))
        let annotations = [
            SigstoreBundle.contentAnnotation: "dsse-envelope",
            SigstoreBundle.predicateTypeAnnotation: statement.predicateType,
            "org.opencontainers.image.created": created,
        ]
        var m = Manifest(config: config, layers: [bundleDescriptor], annotations: annotations)
        m.artifactType = SigstoreBundle.mediaType
        m.subject = Descriptor(mediaType: subject.mediaType, digest: subject.digest, size: subject.size)
        let bytes = try JSONCoding.encode(m)
        var descriptor = Descriptor(
            mediaType: MediaType.ociManifest, digest: .sha256(of: bytes), size: Int64(bytes.count),
            annotations: annotations)
        descriptor.artifactType = SigstoreBundle.mediaType
        return Referrer(
            manifest: bytes, blobs: [(bundleDescriptor, bundle), (config, emptyConfig)], descriptor: descriptor)
    }

    /// The Statement about the image a signature bundle holds (cosign 3's signing predicate).
    public static func signatureStatement(repository: String, digest: HardenOCI.Digest) -> InTotoStatement {
        InTotoStatement(
            image: repository, digest: digest, predicateType: .uri(SigstoreBundle.signaturePredicateType),
            predicate: Array("{}".utf8))
    }
}

// harden — DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1): a payload, its type, and signatures
// over the pre-authentication encoding (PAE) of both.
import Foundation
import HardenCore

public struct DSSEEnvelope: Codable, Sendable, Equatable {
    public struct Signature: Codable, Sendable, Equatable {
        /// cosign's tag scheme writes "", sigstore bundles leave it out.
        public var keyid: String?
        public var sig: String

        public init(keyid: String?, sig: String) {
            self.keyid = keyid
            self.sig = sig
        }
    }
    public var payloadType: String
    /// The payload, standard base64.
    public var payload: String
    public var signatures: [Signature]

    public static let inTotoPayloadType = "application/vnd.in-toto+json"
    /// The largest envelope harden reads (an SBOM of a large image is a few MiB; 64 MiB leaves room).
    public static let maxSize = 64 << 20

    /// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.
    public static func pae(type: String, body: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        return Array("DSSEv1 \(t.count) ".utf8) + t + Array(" \(body.count) ".utf8) + body
    }

    /// Signs `payload` with `key`. cosign leaves `keyid` empty in the tag scheme and out in bundles; so does harden.
    public static func sign(
        payload: [UInt8], type: String, key: SigningKey, keyID: String? = ""
    ) throws -> DSSEEnvelope {
        let sig = try key.sign(pae(type: type, body: payload))
        return DSSEEnvelope(
            payloadType: type, payload: Data(payload).base64EncodedString(),
            signatures: [Signature(keyid: keyID, sig: Data(sig).base64EncodedString())])
    }

    /// The decoded payload, when any signature verifies with `key`; nil otherwise.
    public func verifiedPayload(key: VerificationKey) -> [UInt8]? {
        guard let body = Data(base64Encoded: payload) else { return nil }
        let message = Self.pae(type: payloadType, body: [UInt8](body))
        for s in signatures {
            if let sig = Data(base64Encoded: s.sig), key.isValid(signature: [UInt8](sig), for: message) {
                return [UInt8](body)
            }
        }
        return nil
    }

    /// Decodes an envelope; a one-line error naming `source` for anything else (not JSON, fields missing, too large).
    public static func parse(_ bytes: [UInt8], source: String) throws -> DSSEEnvelope {
        guard bytes.count <= maxSize else {
            throw HardenError(
                .limitExceeded, "\(source): DSSE envelope of \(bytes.count) bytes is over the 64 MiB limit")
        }
        do {
            return try JSONDecoder().decode(DSSEEnvelope.self, from: Data(bytes))
        } catch {
            throw HardenError(.corrupt, "\(source): not a DSSE envelope (payloadType, payload and signatures)")
        }
    }
}

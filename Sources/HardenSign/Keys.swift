// harden — signing and verification keys: ECDSA P-256 (cosign's default), Ed25519 and RSA (PKCS #1 v1.5, SHA-256),
// from PKCS #8 / SEC 1 / PKCS #1 PEM or cosign's encrypted key file. Keys never reach logs, reports or temp files.
import Crypto
import Foundation
import HardenCore
import _CryptoExtras

/// The algorithm of a key pair; the signature scheme follows from it (the schemes sigstore uses for each).
public enum KeyAlgorithm: String, Sendable, Codable {
    case ecdsaP256 = "ecdsa-p256-sha256"
    case ed25519
    case rsaPKCS1 = "rsa-pkcs1v15-sha256"
}

/// A public key: verifies signatures; `keyID` names it in reports.
public struct VerificationKey: Sendable {
    // swift-crypto's key types are immutable values not marked Sendable.
    enum Backing: @unchecked Sendable {
        case p256(P256.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
    }
    let backing: Backing

    public var algorithm: KeyAlgorithm {
        switch backing {
        case .p256: .ecdsaP256
        case .ed25519: .ed25519
        case .rsa: .rsaPKCS1
        }
    }

    /// The DER SubjectPublicKeyInfo.
    public var spki: [UInt8] {
        switch backing {
        case .p256(let k): [UInt8](k.derRepresentation)
        case .ed25519(let k): Ed25519DER.spkiPrefix + [UInt8](k.rawRepresentation)
        case .rsa(let k): [UInt8](k.derRepresentation)
        }
    }

    /// `sha256:` and the hexadecimal SHA-256 of the SubjectPublicKeyInfo.
    public var keyID: String { "sha256:" + Hex.encode(SHA256.hash(data: spki)) }

    public var pem: String { PEMBlock(label: "PUBLIC KEY", der: spki).text }

    public func isValid(signature: [UInt8], for data: [UInt8]) -> Bool {
        switch backing {
        case .p256(let k):
            guard let s = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return k.isValidSignature(s, for: data)
        case .ed25519(let k):
            return k.isValidSignature(signature, for: data)
        case .rsa(let k):
            return k.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: data, padding: .insecurePKCS1v1_5)
        }
    }

    /// A `PUBLIC KEY` PEM (SubjectPublicKeyInfo of an EC P-256, Ed25519 or RSA key).
    public static func load(pem text: String, source: String) throws -> VerificationKey {
        let block = try PEMBlock.parse(text, source: source)
        switch block.label {
        case "PUBLIC KEY":
            if let k = try? P256.Signing.PublicKey(derRepresentation: block.der) { return .init(backing: .p256(k)) }
            if block.der.count == 44, Array(block.der.prefix(12)) == Ed25519DER.spkiPrefix,
                let k = try? Curve25519.Signing.PublicKey(rawRepresentation: block.der.suffix(32))
            {
                return .init(backing: .ed25519(k))
            }
            if let pkcs1 = DER.rsaKeyBytes(block.der), let k = rsaPublicKey(pkcs1) { return .init(backing: .rsa(k)) }
            throw HardenError(
                .unsupported, "\(source): a public key of an unsupported algorithm (EC P-256, Ed25519 and RSA are)")
        case "RSA PUBLIC KEY":
            guard let k = rsaPublicKey(block.der) else {
                throw HardenError(.corrupt, "\(source): not a valid RSA public key (2048 bits or more)")
            }
            return .init(backing: .rsa(k))
        default:
            throw HardenError(.invalidArgument, "\(source): a \"\(block.label)\" PEM block is not a public key")
        }
    }
}

/// An RSA public key from PKCS #1 RSAPublicKey DER, built from its numbers (see DER.swift for why).
func rsaPublicKey(_ pkcs1: [UInt8]) -> _RSA.Signing.PublicKey? {
    guard let ints = DER.integers(pkcs1), ints.count == 2 else { return nil }
    return try? _RSA.Signing.PublicKey(n: ints[0], e: ints[1])
}

/// An RSA private key from PKCS #1 RSAPrivateKey DER (version, n, e, d, p, q, dp, dq, qinv), built from its numbers.
func rsaPrivateKey(_ pkcs1: [UInt8]) -> _RSA.Signing.PrivateKey? {
    guard let ints = DER.integers(pkcs1), ints.count == 9, ints[0].isEmpty else { return nil }
    return try? _RSA.Signing.PrivateKey(n: ints[1], e: ints[2], d: ints[3], p: ints[4], q: ints[5])
}

/// A private key. Its bytes live only in memory: no description prints them.
public struct SigningKey: Sendable, CustomStringConvertible {
    // swift-crypto's key types are immutable values not marked Sendable.
    enum Backing: @unchecked Sendable {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }
    let backing: Backing

    public var publicKey: VerificationKey {
        switch backing {
        case .p256(let k): VerificationKey(backing: .p256(k.publicKey))
        case .ed25519(let k): VerificationKey(backing: .ed25519(k.publicKey))
        case .rsa(let k): VerificationKey(backing: .rsa(k.publicKey))
        }
    }

    public var description: String { "private key \(publicKey.keyID) (\(publicKey.algorithm.rawValue))" }

    /// Signs `data` with the key's scheme (ECDSA signatures DER-encoded, as cosign writes them).
    public func sign(_ data: [UInt8]) throws -> [UInt8] {
        switch backing {
        case .p256(let k): return [UInt8](try k.signature(for: data).derRepresentation)
        case .ed25519(let k): return [UInt8](try k.signature(for: data))
        case .rsa(let k): return [UInt8](try k.signature(for: data, padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    /// A fresh ECDSA P-256 key (tests and `harden` key generation).
    public static func generateP256() -> SigningKey { SigningKey(backing: .p256(P256.Signing.PrivateKey())) }

    /// A fresh 2048-bit RSA key.
    public static func generateRSA() throws -> SigningKey {
        SigningKey(backing: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
    }

    /// A fresh Ed25519 key.
    public static func generateEd25519() -> SigningKey {
        SigningKey(backing: .ed25519(Curve25519.Signing.PrivateKey()))
    }

    /// The key as unencrypted PKCS #8 PEM.
    public var pkcs8PEM: String {
        switch backing {
        case .p256(let k): k.pemRepresentation
        case .ed25519(let k):
            PEMBlock(label: "PRIVATE KEY", der: Ed25519DER.pkcs8Prefix + [UInt8](k.rawRepresentation)).text
        case .rsa(let k): k.pkcs8PEMRepresentation
        }
    }

    /// A private key PEM: PKCS #8 (`PRIVATE KEY`), SEC 1 (`EC PRIVATE KEY`), PKCS #1 (`RSA PRIVATE KEY`) or cosign's
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE KEY`, whose password `password()` gives.
    public static func load(
        pem text: String, source: String, password: () throws -> [UInt8]
    ) throws -> SigningKey {
        let block = try PEMBlock.parse(text, source: source)
        switch block.label {
        case "PRIVATE KEY":
            return try pkcs8(block.der, source: source)
        case "EC PRIVATE KEY":
            guard let k = try? P256.Signing.PrivateKey(derRepresentation: block.der) else {
                throw HardenError(.unsupported, "\(source): only EC keys on the P-256 curve are supported")
            }
            return SigningKey(backing: .p256(k))
        case "RSA PRIVATE KEY":
            guard let k = rsaPrivateKey(block.der) else {
                throw HardenError(.corrupt, "\(source): not a valid RSA private key (2048 bits or more)")
            }
            return SigningKey(backing: .rsa(k))
        case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
            let der = try CosignKeyFile.decrypt(block.der, password: try password(), source: source)
            return try pkcs8(der, source: source)
        case "ENCRYPTED PRIVATE KEY":
            throw HardenError(
                .unsupported,
                "\(source): a password-protected PKCS #8 key is not supported; give it unencrypted, or import it with `cosign import-key-pair`"
            )
        default:
            throw HardenError(.invalidArgument, "\(source): a \"\(block.label)\" PEM block is not a private key")
        }
    }

    static func pkcs8(_ der: [UInt8], source: String) throws -> SigningKey {
        if let k = try? P256.Signing.PrivateKey(derRepresentation: der) { return SigningKey(backing: .p256(k)) }
        if der.count == 48, Array(der.prefix(16)) == Ed25519DER.pkcs8Prefix,
            let k = try? Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
        {
            return SigningKey(backing: .ed25519(k))
        }
        if let pkcs1 = DER.rsaKeyBytes(der), let k = rsaPrivateKey(pkcs1) { return SigningKey(backing: .rsa(k)) }
        throw HardenError(
            .unsupported, "\(source): a private key of an unsupported algorithm (EC P-256, Ed25519 and RSA are)")
    }
}

/// The fixed DER framing of Ed25519 keys (RFC 8410): everything but the 32 key bytes.
enum Ed25519DER {
    static let spkiPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    static let pkcs8Prefix: [UInt8] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
}

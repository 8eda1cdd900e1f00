// harden — cosign's encrypted private key file (`cosign generate-key-pair`): a PEM block whose body is JSON naming
// the key derivation (scrypt with N, r, p and a salt) and the cipher (NaCl secretbox with a nonce) that protect the
// PKCS #8 DER of the key.
import Crypto
import Foundation
import HardenCore
import _CryptoExtras

public enum CosignKeyFile {
    struct Envelope: Codable {
        struct KDF: Codable {
            struct Params: Codable {
                var N: Int
                var r: Int
                var p: Int
            }
            var name: String
            var params: Params
            var salt: String
        }
        struct Cipher: Codable {
            var name: String
            var nonce: String
        }
        var kdf: KDF
        var cipher: Cipher
        var ciphertext: String
    }

    /// Bounds on the scrypt cost a key file may ask for (cosign writes N = 2^15 or 2^16, r = 8, p = 1, 64 MiB): a
    /// hostile file cannot make harden allocate more than 256 MiB or spin for long.
    static let maxN = 1 << 20
    static let maxR = 32
    static let maxP = 4
    static let maxMemory = 256 << 20

    /// The PKCS #8 DER inside `body` (the PEM block's bytes: the JSON envelope).
    public static func decrypt(_ body: [UInt8], password: [UInt8], source: String) throws -> [UInt8] {
        let env: Envelope
        do { env = try JSONDecoder().decode(Envelope.self, from: Data(body)) } catch {
            throw HardenError(.corrupt, "\(source): not a cosign encrypted key (its JSON envelope does not parse)")
        }
        guard env.kdf.name == "scrypt", env.cipher.name == "nacl/secretbox" else {
            throw HardenError(
                .unsupported,
                "\(source): key encrypted with \(env.kdf.name)/\(env.cipher.name) (scrypt/nacl/secretbox is)")
        }
        let p = env.kdf.params
        guard p.N > 1, p.N <= maxN, p.N & (p.N - 1) == 0, (1...maxR).contains(p.r), (1...maxP).contains(p.p),
            128 * p.N * p.r <= maxMemory
        else {
            throw HardenError(
                .limitExceeded, "\(source): scrypt parameters N=\(p.N) r=\(p.r) p=\(p.p) are out of bounds")
        }
        guard let salt = Data(base64Encoded: env.kdf.salt), let nonce = Data(base64Encoded: env.cipher.nonce),
            let box = Data(base64Encoded: env.ciphertext), nonce.count == SecretBox.nonceSize
        else {
            throw HardenError(.corrupt, "\(source): the key's salt, nonce or ciphertext is not valid base64")
        }
        let key = try derive(password, salt: [UInt8](salt), params: p)
        guard let der = SecretBox.open([UInt8](box), nonce: [UInt8](nonce), key: key) else {
            throw HardenError(.invalidArgument, "\(source): wrong password (the key does not decrypt)")
        }
        return der
    }

    /// Encrypts PKCS #8 `der` the way `cosign generate-key-pair` does; the PEM text of an
    /// `ENCRYPTED SIGSTORE PRIVATE KEY`.
    public static func encrypt(_ der: [UInt8], password: [UInt8], n: Int = 1 << 15) throws -> String {
        let salt = [UInt8](SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
        let nonce = [UInt8](SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.prefix(SecretBox.nonceSize))
        let params = Envelope.KDF.Params(N: n, r: 8, p: 1)
        let key = try derive(password, salt: salt, params: params)
        let env = Envelope(
            kdf: .init(name: "scrypt", params: params, salt: Data(salt).base64EncodedString()),
            cipher: .init(name: "nacl/secretbox", nonce: Data(nonce).base64EncodedString()),
            ciphertext: Data(SecretBox.seal(der, nonce: nonce, key: key)).base64EncodedString())
        let json = try JSONEncoder().encode(env)
        return PEMBlock(label: "ENCRYPTED SIGSTORE PRIVATE KEY", der: [UInt8](json)).text
    }

    private static func derive(_ password: [UInt8], salt: [UInt8], params p: Envelope.KDF.Params) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: password, salt: salt, outputByteCount: SecretBox.keySize, rounds: p.N, blockSize: p.r,
            parallelism: p.p)
        return key.withUnsafeBytes { [UInt8]($0) }
    }
}

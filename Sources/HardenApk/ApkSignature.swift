// harden — apk's v2 signatures: `.SIGN.RSA.<key>` (SHA-1), `.SIGN.RSA256.<key>` and `.SIGN.RSA512.<key>` tar entries
// holding a PKCS#1 v1.5 RSA signature over the gzip stream that follows them, checked against /etc/apk/keys.
import Crypto
import Foundation
import HardenArchive
import HardenCore
import _CryptoExtras

public enum ApkSignature {
    /// The `.SIGN.*` entries of a signature stream (the first gzip stream of an .apk or APKINDEX.tar.gz).
    public static func entries(_ stream: [UInt8], what: String) throws -> [(name: String, bytes: [UInt8])] {
        let tar = TarReader(MemoryReader(stream), name: what)
        var out: [(String, [UInt8])] = []
        while let e = try tar.next() {
            let name = String(decoding: e.path.bytes, as: UTF8.self)
            guard name.hasPrefix(".SIGN.") else { break }
            out.append((name, try tar.readWholeBody(limit: 64 << 10)))
        }
        return out
    }

    /// Checks that one of `signatures` is a valid signature of `signed` by a key of `keys` (file name in
    /// /etc/apk/keys → PEM public key). Returns the key's name; throws naming `what` when none verifies.
    @discardableResult
    public static func verify(
        _ signatures: [(name: String, bytes: [UInt8])], over signed: ArraySlice<UInt8>, keys: [String: [UInt8]],
        what: String
    ) throws -> String {
        guard !signatures.isEmpty else { throw HardenError(.corrupt, "\(what): not signed") }
        var problems: [String] = []
        for (name, signature) in signatures {
            let parts = name.dropFirst(".SIGN.".count)
            guard let dot = parts.firstIndex(of: ".") else { continue }
            let (algorithm, keyName) = (String(parts[..<dot]), String(parts[parts.index(after: dot)...]))
            guard let pem = keys[keyName] else {
                problems.append("signed by \(keyName), which /etc/apk/keys does not trust")
                continue
            }
            guard let key = try? _RSA.Signing.PublicKey(pemRepresentation: String(decoding: pem, as: UTF8.self))
            else {
                problems.append("/etc/apk/keys/\(keyName) is not an RSA public key harden can read")
                continue
            }
            let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
            let valid: Bool
            switch algorithm {
            case "RSA":
                valid = key.isValidSignature(sig, for: Insecure.SHA1.hash(data: signed), padding: .insecurePKCS1v1_5)
            case "RSA256":
                valid = key.isValidSignature(sig, for: SHA256.hash(data: signed), padding: .insecurePKCS1v1_5)
            case "RSA512":
                valid = key.isValidSignature(sig, for: SHA512.hash(data: signed), padding: .insecurePKCS1v1_5)
            default:
                problems.append("\(algorithm) signatures are not supported")
                continue
            }
            if valid { return keyName }
            problems.append("the \(algorithm) signature by \(keyName) does not verify")
        }
        throw HardenError(
            .corrupt, "\(what): \(problems.isEmpty ? "no usable signature" : problems.joined(separator: "; "))")
    }

    /// apk's `Q1…` checksum: "Q1" and the base64 of a SHA-1.
    public static func q1(_ bytes: some Sequence<UInt8>) -> String {
        "Q1" + Data(Insecure.SHA1.hash(data: Array(bytes))).base64EncodedString()
    }
}

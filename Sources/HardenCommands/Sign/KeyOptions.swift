// harden — the signing key options shared by `sign`, `attest` and `run --sign-key`.
import ArgumentParser
import Foundation
import HardenCore
import HardenSign
import HardenSystem

enum KeyFiles {
    /// Loads a private key: PKCS #8/SEC 1/PKCS #1 PEM, or cosign's encrypted key whose password comes from
    /// `passwordFile` or, as cosign takes it, the `COSIGN_PASSWORD` variable the operator sets for that purpose.
    static func signingKey(_ path: String, passwordFile: String?) throws -> SigningKey {
        let text = String(decoding: try readKeyFile(path), as: UTF8.self)
        return try SigningKey.load(pem: text, source: path) {
            if let passwordFile {
                var bytes = try HostFS.readFile(passwordFile, limit: 4096)
                if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                return bytes
            }
            if let env = ProcessInfo.processInfo.environment["COSIGN_PASSWORD"] { return Array(env.utf8) }
            throw HardenError(
                .invalidArgument, "\(path): the key is encrypted: set COSIGN_PASSWORD or give --key-password-file")
        }
    }

    static func verificationKey(_ path: String) throws -> VerificationKey {
        try VerificationKey.load(pem: String(decoding: try readKeyFile(path), as: UTF8.self), source: path)
    }

    private static func readKeyFile(_ path: String) throws -> [UInt8] {
        do { return try HostFS.readFile(path, limit: 1 << 20) } catch let e as HardenError {
            throw e.prefixed(path)
        }
    }
}

public struct SigningKeyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The private key (PEM, or cosign.key).", valueName: "FILE"))
    public var key: String

    @Option(
        name: .customLong("key-password-file"),
        help: ArgumentHelp(
            "The password of an encrypted cosign.key (default: the COSIGN_PASSWORD variable).", valueName: "FILE"))
    public var keyPasswordFile: String?

    public init() {}

    func load() throws -> SigningKey { try KeyFiles.signingKey(key, passwordFile: keyPasswordFile) }
}

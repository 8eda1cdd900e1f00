// harden — the signing key options shared by `sign`, `attest` and `run --sign-key`.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenPipeline
import HardenSign
import HardenSystem
import Logging
import Synchronization

enum KeyFiles {
    /// Loads a private key: PKCS #8/SEC 1/PKCS #1 PEM, or cosign's encrypted key whose password comes from
    /// `passwordFile` or, as cosign takes it, the `COSIGN_PASSWORD` variable the operator sets for that purpose.
    static func signingKey(_ path: String, passwordFile: String?) throws -> SigningKey {
        try prepare(path, passwordFile: passwordFile)()
    }

    /// Reads the key and, for an encrypted one, its password; the returned function decrypts and parses it.
    static func prepare(_ path: String, passwordFile: String?) throws -> @Sendable () throws -> SigningKey {
        let text = String(decoding: try readKeyFile(path), as: UTF8.self)
        let block = try PEMBlock.parse(text, source: path)
        var password: [UInt8] = []
        if block.label.hasPrefix("ENCRYPTED") && block.label != "ENCRYPTED PRIVATE KEY" {
            if let passwordFile {
                password = try HostFS.readFile(passwordFile, limit: 4096)
                if password.last == UInt8(ascii: "\n") { password.removeLast() }
                if password.last == UInt8(ascii: "\r") { password.removeLast() }
            } else if let env = ProcessInfo.processInfo.environment["COSIGN_PASSWORD"] {
                password = Array(env.utf8)
            } else {
                throw HardenError(
                    .invalidArgument,
                    "\(path): the key is encrypted: set COSIGN_PASSWORD or give --key-password-file")
            }
        }
        let secret = password
        return { try SigningKey.load(pem: text, source: path) { secret } }
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

/// `--sign-key` on the commands that write a hardened image: sign it and attach its evidence.
public struct SignOutputOptions: ParsableArguments {
    @Option(
        name: .customLong("sign-key"),
        help: ArgumentHelp(
            "Sign the written image with this key (PEM or cosign.key) and attach its SBOM, OpenVEX, vulnerability scan, SLSA provenance and hardening report as attestations (registry or oci: destinations).",
            valueName: "FILE"))
    public var signKey: String?

    @Option(
        name: .customLong("sign-key-password-file"),
        help: ArgumentHelp(
            "The password of an encrypted --sign-key (default: the COSIGN_PASSWORD variable).", valueName: "FILE"))
    public var signKeyPasswordFile: String?

    @Option(
        name: .customLong("sign-scheme"),
        help: "Where signature and attestations go: both (default), tags (cosign 2) or referrers (cosign 3 bundles).")
    public var signScheme: AttachmentScheme = .both

    public init() {}

    /// The publish options (without the key: see `keyLoader`) and what the provenance records of the
    /// invocation — the arguments with credentials and variable values left out.
    func publishOptions(command: String, policy: String?) throws -> PublishOptions {
        var policyDigest: (file: String, sha256: String)?
        if let policy, signKey != nil {
            policyDigest = (policy, Digest.sha256(of: try HostFS.readFile(policy, limit: 16 << 20)).encoded)
        }
        return PublishOptions(
            signingKey: nil, scheme: signScheme,
            invocation: Evidence.Invocation(
                command: command, arguments: Self.redacted(Array(CommandLine.arguments.dropFirst(2))),
                policy: policyDigest))
    }

    /// Reads the key file and its password now (a missing file or password fails at once); the returned loader
    /// decrypts when started — `harden run` starts it when the profile stage begins, where the machine mostly waits
    /// for the application, so cosign's scrypt (a quarter of a second of CPU) hides in the run. A wrong password is
    /// reported before anything is written.
    func keyLoader() throws -> KeyLoader? {
        guard let signKey else { return nil }
        return KeyLoader(try KeyFiles.prepare(signKey, passwordFile: signKeyPasswordFile))
    }

    /// `arguments` without secrets: the values of `--creds` and of `--env NAME=VALUE` are replaced.
    public static func redacted(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var redactNext: String?
        for a in arguments {
            if let option = redactNext {
                out.append(
                    option == "--env" ? a.split(separator: "=", maxSplits: 1).first.map { "\($0)=…" } ?? "…" : "…")
                redactNext = nil
            } else if a == "--creds" || a == "--env" || a == "-e" {
                out.append(a)
                redactNext = a == "-e" ? "--env" : a
            } else if a.hasPrefix("--creds=") {
                out.append("--creds=…")
            } else if a.hasPrefix("--env=") {
                out.append(
                    "--env=" + (a.dropFirst(6).split(separator: "=", maxSplits: 1).first.map { "\($0)=…" } ?? "…"))
            } else {
                out.append(a)
            }
        }
        return out
    }
}

/// Decrypts a signing key once, in the background from `start()`; `value()` waits for it (starting it if needed).
final class KeyLoader: Sendable {
    private let load: @Sendable () throws -> SigningKey
    private let task = Mutex<Task<SigningKey, any Error>?>(nil)

    init(_ load: @escaping @Sendable () throws -> SigningKey) { self.load = load }

    func start() {
        task.withLock { t in
            if t == nil {
                let load = self.load
                t = Task.detached { try load() }
            }
        }
    }

    func value() async throws -> SigningKey {
        start()
        return try await task.withLock { $0! }.value
    }
}

extension ImageOptions {
    /// Writes a command's result to `destination` and says where it went; with a key, signs it and attaches the
    /// evidence `evidence` makes (called only then: it may catalogue and scan the result).
    func writeResult(
        _ image: Image, to destination: ImageReference, key: KeyLoader?, publish: PublishOptions, quiet: Bool,
        logger: Logger, evidence: () throws -> PipelineResult
    ) async throws {
        let written: ImageWriter.Written
        if let key {
            var result = try evidence()
            var options = publish
            options.signingKey = try await key.value()
            written = try await PublishStage.publish(
                image, result: &result, to: destination, transport: try transport(logger: logger), options: options)
        } else {
            written = try await write(
                image, to: destination, options: ImageWriter.Options(compression: .keep), logger: logger)
        }
        if !quiet {
            writeStandardError("wrote \(written.reference)" + (written.manifestDigest.map { " (\($0))" } ?? "") + "\n")
        }
    }
}

// harden — `harden verify IMAGE --key PUB [--type T]...`: finds the image's signatures and attestations (harden's or
// cosign's) and checks each: signature, payload type, subject digest, predicate type.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenRegistry
import HardenSign

extension Application {
    public struct Verify: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify an image's signatures and attestations (harden's or cosign's) with a public key.",
            discussion: """
                Requires a valid signature of the image's digest (unless --attestations-only) and, for each --type, a \
                valid attestation of that predicate type whose subject is the image. Exit 2 when one is missing or \
                invalid, 1 when the image or the key cannot be read.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions

        @Argument(help: "The image: docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG].")
        public var image: String

        @Option(name: .long, help: ArgumentHelp("The public key (PEM).", valueName: "FILE"))
        public var key: String

        @Option(name: .long, help: "An attestation type that must be present and valid (repeatable).")
        public var type: [String] = []

        @Flag(name: .customLong("attestations-only"), help: "Do not require a signature, only the --type attestations.")
        public var attestationsOnly = false

        @Option(name: .long, help: "Output: table or json.")
        public var format: OutputFormat = .table

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let publicKey = try KeyFiles.verificationKey(key)
            let required = try type.map { try PredicateType(parsing: $0) }
            let reference = try ImageReference.parse(image)
            // --platform P on a multi-platform image: that platform's manifest is the subject (its own signature and
            // attestations), not the index.
            let transport = try imageOptions.transport(logger: logger, anyPlatform: true)
            var subject: Descriptor?
            if let platform = imageOptions.platform, let index = try await transport.platformIndex(of: reference) {
                let chosen = try index.selected(platform)
                guard chosen.count == 1 else {
                    throw HardenError(
                        .invalidArgument, "--platform \(platform): verify takes one platform of \(index.platformList)")
                }
                subject = chosen[0]
            }
            let store = try transport.attachments(for: reference, subject: subject)
            let (digest, findings) = try await Signing.withStore(store) { store in
                let digest = try await store.subjectDigest()
                return (digest, try await AttachmentVerifier.verify(digest: digest, store: store, key: publicKey))
            }
            var missing: [String] = []
            if !attestationsOnly, !findings.contains(where: { $0.kind == .signature && $0.status == .verified }) {
                missing.append("signature")
            }
            for t in required
            where !findings.contains(where: {
                $0.kind == .attestation && $0.status == .verified && $0.predicateType == t.uri
            }) {
                missing.append("\(t) attestation")
            }
            try print(report(digest: digest, findings: findings, missing: missing, reference: reference))
            if !missing.isEmpty {
                writeStandardError("harden: \(reference): no valid \(missing.joined(separator: ", ")) for \(digest)\n")
                throw ExitCode(2)
            }
        }

        struct Report: Encodable {
            var image: String
            var digest: String
            var key: String
            var verified: Bool
            var missing: [String]
            var attachments: [AttachmentFinding]
        }

        func report(
            digest: Digest, findings: [AttachmentFinding], missing: [String], reference: ImageReference
        ) throws -> String {
            if format == .json {
                let r = Report(
                    image: reference.description, digest: digest.description,
                    key: (try? KeyFiles.verificationKey(key).keyID) ?? "", verified: missing.isEmpty,
                    missing: missing, attachments: findings)
                return String(decoding: try JSONCoding.encode(r, pretty: true), as: UTF8.self)
            }
            var lines = ["\(reference) \(digest)"]
            if findings.isEmpty { lines.append("  no signatures or attestations found") }
            for f in findings {
                let what = f.kind == .signature ? "signature" : PredicateType(uri: f.predicateType ?? "").description
                let detail =
                    f.status == .verified
                    ? "verified (key \(f.keyID ?? ""))" + (f.predicateDigest.map { ", predicate \($0)" } ?? "")
                    : "INVALID: \(f.reason ?? "")"
                lines.append("  \(what): \(detail)")
            }
            return lines.joined(separator: "\n")
        }
    }
}

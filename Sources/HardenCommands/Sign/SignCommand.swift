// harden — `harden sign IMAGE --key KEY`: a cosign simple-signing signature of the image's manifest digest.
import ArgumentParser
import Foundation
import HardenCore
import HardenOCI
import HardenRegistry
import HardenSign
import Logging

extension Application {
    public struct Sign: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "sign",
            abstract: "Sign an image (in a registry or an OCI layout) the way cosign does, with a key.",
            discussion: """
                Writes a simple-signing signature of the manifest digest beside the image (tag sha256-<hex>.sig), \
                which `cosign verify --key` and `harden verify` accept. Keyless signing (Fulcio/Rekor) needs the \
                internet and is not offered.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var keyOptions: SigningKeyOptions

        @Argument(help: "The image: docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG].")
        public var image: String

        @Option(
            name: .long,
            help:
                "Where the signature goes: both (default), tags (cosign 2's sha256-<hex>.sig) or referrers (a sigstore bundle referring to the image, as cosign 3 writes)."
        )
        public var scheme: AttachmentScheme = .both

        @Flag(
            name: .long,
            help:
                "A multi-platform image: sign the index and every platform's manifest (as cosign sign --recursive); --platform P signs only those platforms."
        )
        public var recursive = false

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let key = try keyOptions.load()
            let reference = try ImageReference.parse(image)
            try await Signing.forEachSubject(
                of: reference, options: imageOptions, recursive: recursive, verb: "sign", logger: logger
            ) { store, name in
                let digest = try await Attacher.sign(store: store, key: key, scheme: scheme, created: Signing.now())
                print("signed \(name) \(digest) with key \(key.publicKey.keyID)")
            }
        }
    }
}

extension AttachmentScheme: ExpressibleByArgument {}

enum Signing {
    /// Closes the connections of the registry stores among `stores`.
    static func shutdown(_ stores: any AttachmentStore...) async {
        for s in stores { await (s as? RegistryAttachmentStore)?.shutdown() }
    }

    /// The time written into referrer manifests (`org.opencontainers.image.created`), RFC 3339 in UTC.
    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }

    /// Runs `body` once per subject of a sign or attest command, with that subject's attachment store and its name
    /// for messages: the image itself; with `recursive` also every platform of a multi-platform image (as
    /// `cosign sign --recursive`); with `--platform P[,P…]` on a multi-platform image only those platforms' manifests.
    static func forEachSubject(
        of reference: ImageReference, options: ImageOptions, recursive: Bool, verb: String, logger: Logger,
        _ body: (any AttachmentStore, String) async throws -> Void
    ) async throws {
        let transport = try options.transport(logger: logger, anyPlatform: true)
        let index = try await transport.platformIndex(of: reference)
        if recursive, index == nil {
            throw HardenError(
                .invalidArgument,
                "\(reference): --recursive \(verb)s the platforms of a multi-platform image; this is one image")
        }
        var subjects: [Descriptor?] = [nil]
        if let index, let wanted = options.platform {
            subjects = try index.selected(wanted)
        } else if let index, recursive {
            subjects += index.platforms
        }
        for subject in subjects {
            let store = try transport.attachments(for: reference, subject: subject)
            let name = subject.map { "\(reference) \($0.platform?.description ?? "?")" } ?? "\(reference)"
            try await withStore(store) { try await body($0, name) }
        }
    }

    /// Runs `body` with `store` and closes a registry store's connections afterwards, also on error.
    static func withStore<T: Sendable>(
        _ store: any AttachmentStore, _ body: (any AttachmentStore) async throws -> T
    ) async throws -> T {
        do {
            let value = try await body(store)
            await (store as? RegistryAttachmentStore)?.shutdown()
            return value
        } catch {
            await (store as? RegistryAttachmentStore)?.shutdown()
            throw error
        }
    }
}

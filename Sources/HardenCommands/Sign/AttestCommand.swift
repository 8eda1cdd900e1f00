// harden — `harden attest IMAGE --key KEY --type T --predicate FILE`: an in-toto Statement about the image in a
// signed DSSE envelope, attached the way cosign attaches attestations.
import ArgumentParser
import HardenCore
import HardenOCI
import HardenRegistry
import HardenSign
import HardenSystem

extension Application {
    public struct Attest: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "attest",
            abstract: "Attach a signed attestation (in-toto Statement in a DSSE envelope) to an image.",
            discussion: """
                Types: cyclonedx, spdxjson, openvex, slsaprovenance1, vuln, custom, harden (harden's hardening \
                report) or a predicate type URI. The predicate is a JSON file, embedded as it is. Stored beside the \
                image (tag sha256-<hex>.att), where `cosign verify-attestation --key --type` and `harden verify` \
                find it.
                """)

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var imageOptions: ImageOptions
        @OptionGroup public var keyOptions: SigningKeyOptions

        @Argument(help: "The image: docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG].")
        public var image: String

        @Option(name: .long, help: "The predicate type (a word or a URI).")
        public var type: String

        @Option(name: .long, help: ArgumentHelp("The predicate: a JSON file.", valueName: "FILE"))
        public var predicate: String

        @Flag(
            name: .long,
            help:
                "A multi-platform image: attest the index and every platform's manifest (the same predicate); --platform P attests only those platforms."
        )
        public var recursive = false

        @Flag(name: .long, help: "Replace the image's attestations of this type instead of adding one more.")
        public var replace = false

        @Option(name: .long, help: "Where the attestation goes: both (default), tags or referrers (see `harden sign`).")
        public var scheme: AttachmentScheme = .both

        public init() {}

        public func run() async throws {
            let logger = global.makeLogger()
            let predicateType = try PredicateType(parsing: type)
            let key = try keyOptions.load()
            let body: [UInt8]
            do { body = try HostFS.readFile(predicate, limit: DSSEEnvelope.maxSize / 2) } catch let e as HardenError {
                throw e.prefixed(predicate)
            }
            let reference = try ImageReference.parse(image)
            try await Signing.forEachSubject(
                of: reference, options: imageOptions, recursive: recursive, verb: "attest", logger: logger
            ) { store, name in
                let digest: Digest
                do {
                    digest = try await Attacher.attest(
                        store: store, key: key, type: predicateType, predicate: body, scheme: scheme, replace: replace,
                        created: Signing.now())
                } catch let e as HardenError where e.message.hasPrefix("the \(predicateType) predicate") {
                    throw e.prefixed(predicate)
                }
                print("attested \(predicateType) for \(name) \(digest) with key \(key.publicKey.keyID)")
            }
        }
    }
}

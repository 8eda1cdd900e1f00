// harden — in-toto Statements (in-toto attestation framework v1) and the predicate types cosign names by short word.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI

/// The kinds of attestation harden writes and checks. cosign's `--type` words map to these URIs.
public enum PredicateType: Sendable, Hashable, CustomStringConvertible {
    case cyclonedx, spdxjson, openvex, slsaProvenance1, vuln, custom
    /// harden's own hardening report (docs/attestations.md).
    case hardenReport
    /// Any other predicate type URI.
    case uri(String)

    public static let hardenReportURI = "https://harden.dev/attestation/hardening-report/v1"

    public var uri: String {
        switch self {
        case .cyclonedx: "https://cyclonedx.org/bom"
        case .spdxjson: "https://spdx.dev/Document"
        case .openvex: "https://openvex.dev/ns"
        case .slsaProvenance1: "https://slsa.dev/provenance/v1"
        case .vuln: "https://cosign.sigstore.dev/attestation/vuln/v1"
        case .custom: "https://cosign.sigstore.dev/attestation/v1"
        case .hardenReport: Self.hardenReportURI
        case .uri(let u): u
        }
    }

    /// The short word (cosign's `--type`), or the URI.
    public var description: String {
        switch self {
        case .cyclonedx: "cyclonedx"
        case .spdxjson: "spdxjson"
        case .openvex: "openvex"
        case .slsaProvenance1: "slsaprovenance1"
        case .vuln: "vuln"
        case .custom: "custom"
        case .hardenReport: "harden"
        case .uri(let u): u
        }
    }

    static let words: [PredicateType] = [
        .cyclonedx, .spdxjson, .openvex, .slsaProvenance1, .vuln, .custom, .hardenReport,
    ]

    /// A word (`cyclonedx`, `slsaprovenance1`, `harden`, …) or an absolute URI.
    public init(parsing text: String) throws {
        if let known = Self.words.first(where: { $0.description == text.lowercased() }) {
            self = known
        } else if text == "slsaprovenance" || text == "slsaprovenance02" {
            self = .uri("https://slsa.dev/provenance/v0.2")
        } else if let known = Self.words.first(where: { $0.uri == text }) {
            self = known
        } else if text.hasPrefix("https://") || text.hasPrefix("http://") {
            self = .uri(text)
        } else {
            throw HardenError(
                .invalidArgument,
                "unknown attestation type \"\(text)\" (cyclonedx, spdxjson, openvex, slsaprovenance1, vuln, custom, harden or a URI)"
            )
        }
    }

    public init(uri: String) { self = Self.words.first { $0.uri == uri } ?? .uri(uri) }
}

/// An in-toto Statement: what is attested (`predicate`) about which artifacts (`subject`).
public struct InTotoStatement: Sendable {
    public static let typeV1 = "https://in-toto.io/Statement/v1"
    public static let typeV01 = "https://in-toto.io/Statement/v0.1"

    public struct Subject: Codable, Sendable, Equatable {
        public var name: String
        public var digest: [String: String]
    }
    public var type: String
    public var predicateType: String
    public var subject: [Subject]
    /// The predicate's JSON, exactly as given.
    public var predicate: [UInt8]

    /// A Statement about one image manifest.
    public init(image name: String, digest: Digest, predicateType: PredicateType, predicate: [UInt8]) {
        self.type = Self.typeV1
        self.predicateType = predicateType.uri
        self.subject = [Subject(name: name, digest: [digest.algorithm.rawValue: digest.encoded])]
        self.predicate = predicate
    }

    /// The Statement's JSON: keys in a fixed order, the predicate embedded byte for byte.
    public func encoded() throws -> [UInt8] {
        let subjects = try JSONCoding.encode(subject)
        let head = try JSONCoding.encode(["_type": type, "predicateType": predicateType])
        // {"_type":…,"predicateType":…} + ,"subject":[…],"predicate":<bytes>}
        return Array(head.dropLast()) + Array(",\"subject\":".utf8) + subjects + Array(",\"predicate\":".utf8)
            + predicate + [UInt8(ascii: "}")]
    }

    /// Reads a Statement (v0.1 or v1); the predicate comes back re-encoded with sorted keys.
    public static func parse(_ bytes: [UInt8], source: String) throws -> InTotoStatement {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let type = object["_type"] as? String, let predicateType = object["predicateType"] as? String,
            let subjects = object["subject"] as? [[String: Any]]
        else {
            throw HardenError(.corrupt, "\(source): not an in-toto Statement (_type, predicateType and subject)")
        }
        guard type == typeV1 || type == typeV01 else {
            throw HardenError(.unsupported, "\(source): in-toto Statement type \"\(type)\" is not v0.1 or v1")
        }
        let subject = subjects.map {
            Subject(name: $0["name"] as? String ?? "", digest: $0["digest"] as? [String: String] ?? [:])
        }
        var predicate: [UInt8] = Array("null".utf8)
        if let p = object["predicate"], !(p is NSNull) {
            predicate = [UInt8](
                (try? JSONSerialization.data(withJSONObject: p, options: [.sortedKeys, .fragmentsAllowed])) ?? Data())
        }
        return InTotoStatement(type: type, predicateType: predicateType, subject: subject, predicate: predicate)
    }

    init(type: String, predicateType: String, subject: [Subject], predicate: [UInt8]) {
        self.type = type
        self.predicateType = predicateType
        self.subject = subject
        self.predicate = predicate
    }

    /// True when a subject names `digest`.
    public func covers(_ digest: Digest) -> Bool {
        subject.contains { $0.digest[digest.algorithm.rawValue] == digest.encoded }
    }
}

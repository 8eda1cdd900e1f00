// harden — writing OpenVEX 0.2.0 documents: the evidence every remediation (patch, minify, run) leaves behind.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM

/// An OpenVEX statement's status (the closed set of OpenVEX 0.2.0).
public enum VEXStatus: String, Codable, Sendable, CaseIterable {
    case notAffected = "not_affected"
    case affected
    case fixed
    case underInvestigation = "under_investigation"
}

public struct OpenVEXStatement: Sendable, Hashable {
    public var vulnerability: String
    public var aliases: [String] = []
    /// The product (the image, `pkg:oci/NAME@sha256%3A…`) and the components the statement is about (purls).
    public var product: String
    public var subcomponents: [String]
    public var status: VEXStatus
    public var justification: String?
    public var impactStatement: String?
    public var actionStatement: String?
    public var statusNotes: String?

    public init(
        vulnerability: String, aliases: [String] = [], product: String, subcomponents: [String], status: VEXStatus,
        justification: String? = nil, impactStatement: String? = nil, actionStatement: String? = nil,
        statusNotes: String? = nil
    ) {
        self.vulnerability = vulnerability
        self.aliases = aliases
        self.product = product
        self.subcomponents = subcomponents
        self.status = status
        self.justification = justification
        self.impactStatement = impactStatement
        self.actionStatement = actionStatement
        self.statusNotes = statusNotes
    }
}

public enum OpenVEX {
    /// The purl of an OCI image by digest (the `:` of the digest percent-encoded, as the purl spec writes it).
    public static func imageProduct(name: String, digest: String) -> String {
        let safe = imageName(name).lowercased().filter { $0.isLetter || $0.isNumber || "-._".contains($0) }
        return "pkg:oci/\(safe.isEmpty ? "image" : safe)@\(digest.replacingOccurrences(of: ":", with: "%3A"))"
    }

    /// The image's name in a reference: the repository's last component (`docker://host/ns/nginx:1.25` → `nginx`), or
    /// the tag of a local layout or archive (`oci:DIR:nginx` → `nginx`), else the file or directory name.
    static func imageName(_ reference: String) -> String {
        var r = Substring(reference)
        if r.hasPrefix("docker://") {
            r = r.dropFirst(9)
            if let at = r.firstIndex(of: "@") { r = r[..<at] }
            var last = r.split(separator: "/").last ?? r
            if let colon = last.firstIndex(of: ":") { last = last[..<colon] }
            return String(last)
        }
        for t in ["oci:", "oci-archive:", "docker-archive:", "dir:"] where r.hasPrefix(t) {
            r = r.dropFirst(t.count)
            break
        }
        if let colon = r.lastIndex(of: ":"), !r[colon...].contains("/") {
            let tag = r[r.index(after: colon)...]
            if !tag.isEmpty { return String(tag.split(separator: "/").last ?? tag) }
            r = r[..<colon]
        }
        return String(r.split(separator: "/").last ?? r)
    }

    /// The document; nil when there is no statement (OpenVEX requires at least one).
    public static func document(
        id: String, author: String, timestamp: Date, statements: [OpenVEXStatement]
    ) throws -> [UInt8]? {
        guard !statements.isEmpty else { return nil }
        let items = statements.map { s in
            OpenVEXDocument.Statement(
                vulnerability: .init(
                    name: s.vulnerability, aliases: Array(Set(s.aliases).subtracting([s.vulnerability])).sorted()),
                status: s.status,
                products: [
                    .init(id: s.product, subcomponents: Array(Set(s.subcomponents)).sorted().map { .init(id: $0) })
                ],
                justification: s.justification, impactStatement: s.impactStatement,
                actionStatement: s.actionStatement, statusNotes: s.statusNotes)
        }
        let doc = OpenVEXDocument(
            id: id, author: author, timestamp: ISO8601DateFormatter().string(from: timestamp), statements: items)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(doc))
    }
}

/// An OpenVEX 0.2.0 document as harden writes it.
struct OpenVEXDocument: Encodable {
    struct Vulnerability: Encodable {
        var name: String
        /// Omitted when empty.
        var aliases: [String]

        enum CodingKeys: String, CodingKey { case name, aliases }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            if !aliases.isEmpty { try c.encode(aliases, forKey: .aliases) }
        }
    }
    struct Component: Encodable {
        var id: String
        enum CodingKeys: String, CodingKey { case id = "@id" }
    }
    struct Product: Encodable {
        var id: String
        var subcomponents: [Component]
        enum CodingKeys: String, CodingKey {
            case id = "@id"
            case subcomponents
        }
    }
    struct Statement: Encodable {
        var vulnerability: Vulnerability
        var status: VEXStatus
        var products: [Product]
        var justification: String?
        var impactStatement: String?
        var actionStatement: String?
        var statusNotes: String?
        enum CodingKeys: String, CodingKey {
            case vulnerability, status, products, justification
            case impactStatement = "impact_statement"
            case actionStatement = "action_statement"
            case statusNotes = "status_notes"
        }
    }
    var context = "https://openvex.dev/ns/v0.2.0"
    var id: String
    var author: String
    var timestamp: String
    var version = 1
    var tooling = "harden \(hardenToolVersion)"
    var statements: [Statement]
    enum CodingKeys: String, CodingKey {
        case context = "@context"
        case id = "@id"
        case author, timestamp, version, tooling, statements
    }
}

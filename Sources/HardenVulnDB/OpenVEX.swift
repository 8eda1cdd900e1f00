// harden — writing OpenVEX 0.2.0 documents: the evidence every remediation (patch, minify, run) leaves behind.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM

public struct OpenVEXStatement: Sendable, Hashable {
    public var vulnerability: String
    public var aliases: [String] = []
    /// The product (the image, `pkg:oci/NAME@sha256%3A…`) and the components the statement is about (purls).
    public var product: String
    public var subcomponents: [String]
    /// `not_affected`, `affected`, `fixed`, `under_investigation`.
    public var status: String
    public var justification: String?
    public var impactStatement: String?
    public var actionStatement: String?
    public var statusNotes: String?

    public init(
        vulnerability: String, aliases: [String] = [], product: String, subcomponents: [String], status: String,
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
        let formatter = ISO8601DateFormatter()
        let items: [[String: Any]] = statements.map { s in
            var vuln: [String: Any] = ["name": s.vulnerability]
            let aliases = Array(Set(s.aliases).subtracting([s.vulnerability])).sorted()
            if !aliases.isEmpty { vuln["aliases"] = aliases }
            var o: [String: Any] = [
                "vulnerability": vuln, "status": s.status,
                "products": [
                    ["@id": s.product, "subcomponents": Array(Set(s.subcomponents)).sorted().map { ["@id": $0] }]
                ],
            ]
            if let j = s.justification { o["justification"] = j }
            if let i = s.impactStatement { o["impact_statement"] = i }
            if let a = s.actionStatement { o["action_statement"] = a }
            if let n = s.statusNotes { o["status_notes"] = n }
            return o
        }
        let doc: [String: Any] = [
            "@context": "https://openvex.dev/ns/v0.2.0", "@id": id, "author": author,
            "timestamp": formatter.string(from: timestamp),
            "version": 1, "tooling": "harden \(hardenToolVersion)", "statements": items,
        ]
        return Array(
            try JSONSerialization.data(
                withJSONObject: doc, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
    }
}

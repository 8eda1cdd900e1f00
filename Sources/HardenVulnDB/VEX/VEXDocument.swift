// harden — VEX statements read from the formats suppliers publish (OpenVEX, CSAF 2.0 VEX, CycloneDX VEX), detected
// from content, and the rule deciding which findings a statement is about: the products it names, by purl (a version,
// a `vers:` range or every version), CPE, bom-ref or the image's digest.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM
import HardenSystem

/// A product a VEX statement names.
public struct VEXProduct: Sendable, Hashable {
    /// A purl, a CPE (2.2 URI or 2.3), a bom-ref, or an id naming the image (its manifest digest).
    public var id: String
    /// The versions covered when the purl or CPE carries none: a `vers:` range (CSAF `product_version_range`,
    /// CycloneDX `affects[].versions[].range`); nil = the version in the id, or every version.
    public var range: VersRange?
    /// The components of the product the statement is scoped to (empty: the whole product).
    public var subcomponents: [VEXProduct]

    public init(_ id: String, range: VersRange? = nil, subcomponents: [VEXProduct] = []) {
        self.id = id
        self.range = range
        self.subcomponents = subcomponents
    }
}

/// One input document's statements, whatever format it came in.
public struct VEXDocument: Sendable {
    /// The formats read, detected from content.
    public enum Format: String, Sendable {
        case openVEX = "OpenVEX"
        case csaf = "CSAF"
        case cycloneDX = "CycloneDX"
    }
    public struct Statement: Sendable {
        public var vulnerability: [String]
        public var products: [VEXProduct]
        public var status: VEXStatus
        public var justification: String?

        public init(vulnerability: [String], products: [VEXProduct], status: VEXStatus, justification: String?) {
            self.vulnerability = vulnerability
            self.products = products
            self.status = status
            self.justification = justification
        }
    }
    public var statements: [Statement]
    public var source: String
    public var format: Format

    public init(statements: [Statement], source: String, format: Format = .openVEX) {
        self.statements = statements
        self.source = source
        self.format = format
    }

    /// Reads a VEX file (format detected from content) or a directory of them (as CSAF providers publish: one file per
    /// vulnerability, in year subdirectories; files that are not VEX, such as provider metadata, are skipped).
    public static func load(_ path: String) throws -> [VEXDocument] {
        guard HostFS.isDirectory(path) else { return [try parse(try HostFS.readFile(path, limit: 256 << 20), path)] }
        var docs: [VEXDocument] = []
        var pending = [path]
        var seen = 0
        while let dir = pending.popLast() {
            for name in try HostFS.listDirectory(dir).sorted() where !name.hasPrefix(".") {
                let full = dir + "/" + name
                if HostFS.isDirectory(full) {
                    pending.append(full)
                    continue
                }
                guard name.hasSuffix(".json"), HostFS.isRegularFile(full) else { continue }
                seen += 1
                guard seen <= 1_000_000 else { throw HardenError(.unsupported, "\(path): more than 1,000,000 files") }
                let bytes = try HostFS.readFile(full, limit: 256 << 20)
                if let doc = try parse(bytes, full, skipUnknown: true) { docs.append(doc) }
            }
        }
        guard !docs.isEmpty else {
            throw HardenError(.notFound, "\(path): no OpenVEX, CSAF or CycloneDX VEX document in this directory")
        }
        return docs
    }

    /// One document from its bytes; `path` names it in errors.
    public static func parse(_ bytes: [UInt8], _ path: String) throws -> VEXDocument {
        guard let doc = try parse(bytes, path, skipUnknown: false) else {
            throw HardenError(.unsupported, "\(path): not a VEX document")
        }
        return doc
    }

    static func parse(_ bytes: [UInt8], _ path: String, skipUnknown: Bool) throws -> VEXDocument? {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw HardenError(
                .corrupt, "\(path): not valid JSON (an OpenVEX, CSAF or CycloneDX VEX document was expected)")
        }
        if let context = doc["@context"] as? String, context.contains("openvex") {
            return try OpenVEXInput.statements(doc, path)
        }
        if let d = doc["document"] as? [String: Any], d["csaf_version"] != nil {
            return try CSAFInput.statements(doc, path)
        }
        if doc["bomFormat"] as? String == "CycloneDX" {
            return try CycloneDXVEXInput.statements(doc, path)
        }
        if skipUnknown { return nil }
        throw HardenError(
            .unsupported,
            "\(path): not a VEX document (OpenVEX @context, CSAF document.csaf_version or CycloneDX bomFormat expected)"
        )
    }

    /// A statement applies to a finding when a product names its package, or names the image with no subcomponents, or
    /// names the image (or the package) and one of its subcomponents names the package.
    func applies(_ s: Statement, to f: Finding, imageDigest: String) -> Bool {
        if s.products.isEmpty { return true }
        return s.products.contains { p in
            if p.subcomponents.isEmpty {
                return Self.isImage(p.id, digest: imageDigest) || Self.names(p, f.package)
            }
            guard Self.isImage(p.id, digest: imageDigest) || Self.names(p, f.package) else { return false }
            return p.subcomponents.contains { Self.names($0, f.package) }
        }
    }

    func suppression(for f: Finding, imageDigest: String) -> Suppression? {
        for s in statements where s.status == .notAffected || s.status == .fixed {
            guard s.vulnerability.contains(where: f.matchesVulnerability) else { continue }
            guard applies(s, to: f, imageDigest: imageDigest) else { continue }
            return Suppression(
                kind: "vex", status: s.status.rawValue, justification: s.justification,
                source: format == .openVEX ? source : "\(source) (\(format.rawValue))")
        }
        return nil
    }

    /// Whether a product id names the image (its manifest digest, plain or percent-encoded as purls write it).
    static func isImage(_ product: String, digest: String) -> Bool {
        !digest.isEmpty
            && (product.contains(digest) || product.contains(digest.replacingOccurrences(of: ":", with: "%3A")))
    }
}

// harden — reading OpenVEX documents (https://github.com/openvex/spec): statements with a vulnerability (name, @id,
// aliases), products (purls, image ids, with subcomponents) and a status.
import HardenCore

enum OpenVEXInput {
    static func statements(_ doc: [String: Any], _ path: String) throws -> VEXDocument {
        var statements: [VEXDocument.Statement] = []
        for (i, s) in ((doc["statements"] as? [[String: Any]]) ?? []).enumerated() {
            var vulns: [String] = []
            if let v = s["vulnerability"] as? [String: Any] {
                if let name = v["name"] as? String { vulns.append(name) }
                if let id = v["@id"] as? String { vulns.append(id) }
                vulns += (v["aliases"] as? [String]) ?? []
            } else if let v = s["vulnerability"] as? String {
                vulns.append(v)
            }
            guard !vulns.isEmpty, let text = s["status"] as? String else {
                throw HardenError(.corrupt, "\(path): statement \(i) has no vulnerability or status")
            }
            guard let status = VEXStatus(rawValue: text) else {
                throw HardenError(.corrupt, "\(path): statement \(i) has an unknown status \"\(text)\"")
            }
            var products: [VEXProduct] = []
            for p in (s["products"] as? [Any]) ?? [] {
                if let str = p as? String { products.append(VEXProduct(str)) }
                if let obj = p as? [String: Any] {
                    let subs = ((obj["subcomponents"] as? [[String: Any]]) ?? []).flatMap(ids).map { VEXProduct($0) }
                    for id in ids(obj) { products.append(VEXProduct(id, subcomponents: subs)) }
                }
            }
            let justification =
                (s["justification"] as? String) ?? (s["impact_statement"] as? String) ?? (s["status_notes"] as? String)
            statements.append(
                .init(vulnerability: vulns, products: products, status: status, justification: justification))
        }
        return VEXDocument(statements: statements, source: path, format: .openVEX)
    }

    /// A product's or subcomponent's identifiers: its `@id` and `identifiers.purl`/`cpe23`/`cpe22`.
    static func ids(_ obj: [String: Any]) -> [String] {
        var out: [String] = []
        if let id = obj["@id"] as? String { out.append(id) }
        if let ids = obj["identifiers"] as? [String: Any] {
            for key in ["purl", "cpe23", "cpe22"] { if let v = ids[key] as? String { out.append(v) } }
        }
        return out
    }
}

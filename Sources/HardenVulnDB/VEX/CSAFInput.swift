// harden — reading CSAF 2.0 documents (the `csaf_vex` profile vendors publish, one per vulnerability): the product tree
// (branches down to product versions and `product_version_range`s, full product names, relationships combining a
// component with a platform, product groups), each product's identification helper (purl, CPE), and per vulnerability
// the product status lists, with `flags` (VEX justifications) and `threats` of category impact as the reason.
import HardenCore
import HardenPackages

enum CSAFInput {
    /// CSAF product status lists and the VEX status each means.
    static let statusLists: [(key: String, status: VEXStatus)] = [
        ("known_not_affected", .notAffected), ("fixed", .fixed), ("first_fixed", .fixed),
        ("known_affected", .affected), ("first_affected", .affected), ("last_affected", .affected),
        ("under_investigation", .underInvestigation),
    ]

    static func statements(_ doc: [String: Any], _ path: String) throws -> VEXDocument {
        let document = doc["document"] as? [String: Any] ?? [:]
        guard let version = document["csaf_version"] as? String, version == "2.0" else {
            throw HardenError(.unsupported, "\(path): CSAF version \(document["csaf_version"] ?? "?") (2.0 is read)")
        }
        let tree = CSAFProductTree(doc["product_tree"] as? [String: Any] ?? [:])
        var statements: [VEXDocument.Statement] = []
        for (i, v) in ((doc["vulnerabilities"] as? [[String: Any]]) ?? []).enumerated() {
            var ids: [String] = []
            if let cve = v["cve"] as? String { ids.append(cve) }
            ids += ((v["ids"] as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }
            guard !ids.isEmpty else { throw HardenError(.corrupt, "\(path): vulnerability \(i) has no cve or ids") }
            let reasons = Self.reasons(v, tree: tree)
            let lists = v["product_status"] as? [String: Any] ?? [:]
            for (key, status) in statusLists {
                for productID in (lists[key] as? [String]) ?? [] {
                    let products = tree.products(productID)
                    guard !products.isEmpty else { continue }  // a product harden cannot identify names nothing
                    statements.append(
                        .init(vulnerability: ids, products: products, status: status, justification: reasons[productID])
                    )
                }
            }
        }
        return VEXDocument(statements: statements, source: path, format: .csaf)
    }

    /// Per product id: the flag label (a VEX justification such as `vulnerable_code_not_in_execute_path`), else the
    /// impact threat's details.
    static func reasons(_ v: [String: Any], tree: CSAFProductTree) -> [String: String] {
        var out: [String: String] = [:]
        for t in (v["threats"] as? [[String: Any]]) ?? [] where t["category"] as? String == "impact" {
            guard let details = t["details"] as? String else { continue }
            for id in tree.expand(t) { out[id] = details }
        }
        for f in (v["flags"] as? [[String: Any]]) ?? [] {
            guard let label = f["label"] as? String else { continue }
            for id in tree.expand(f) { out[id] = label }
        }
        return out
    }
}

/// A CSAF product tree flattened: every product id with the identifiers harden can match.
struct CSAFProductTree {
    var byID: [String: [VEXProduct]] = [:]
    var groups: [String: [String]] = [:]

    init(_ tree: [String: Any]) {
        for b in (tree["branches"] as? [[String: Any]]) ?? [] { walk(b, range: nil) }
        for p in (tree["full_product_names"] as? [[String: Any]]) ?? [] { add(p, range: nil) }
        for g in (tree["product_groups"] as? [[String: Any]]) ?? [] {
            if let id = g["group_id"] as? String { groups[id] = (g["product_ids"] as? [String]) ?? [] }
        }
        // A relationship's full product is its component (the platform it belongs to scopes nothing harden can see).
        for r in (tree["relationships"] as? [[String: Any]]) ?? [] {
            guard let full = (r["full_product_name"] as? [String: Any])?["product_id"] as? String,
                let component = r["product_reference"] as? String
            else { continue }
            byID[full, default: []] += byID[component] ?? []
        }
    }

    /// Branches nest vendor → product name → version (or version range); a range applies to the products under it.
    mutating func walk(_ branch: [String: Any], range: VersRange?) {
        var range = range
        if branch["category"] as? String == "product_version_range", let name = branch["name"] as? String {
            range = VersRange.parse(name) ?? range
        }
        if let p = branch["product"] as? [String: Any] { add(p, range: range) }
        for b in (branch["branches"] as? [[String: Any]]) ?? [] { walk(b, range: range) }
    }

    mutating func add(_ product: [String: Any], range: VersRange?) {
        guard let id = product["product_id"] as? String else { return }
        let helper = product["product_identification_helper"] as? [String: Any] ?? [:]
        var found: [VEXProduct] = []
        if let purl = helper["purl"] as? String { found.append(VEXProduct(purl, range: range)) }
        if let cpe = helper["cpe"] as? String { found.append(VEXProduct(cpe, range: range)) }
        byID[id, default: []] += found
    }

    /// The identifiers of a product id (a group id expands to its members).
    func products(_ id: String) -> [VEXProduct] {
        if let members = groups[id] { return members.flatMap { byID[$0] ?? [] } }
        return byID[id] ?? []
    }

    /// The product ids a flag or threat names, its groups expanded.
    func expand(_ item: [String: Any]) -> [String] {
        ((item["product_ids"] as? [String]) ?? [])
            + ((item["group_ids"] as? [String]) ?? []).flatMap { groups[$0] ?? [] }
    }
}

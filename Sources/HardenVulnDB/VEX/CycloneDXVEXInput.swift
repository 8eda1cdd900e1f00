// harden — reading CycloneDX VEX (1.4–1.6): `vulnerabilities[]` with `analysis.state`/`justification`/`detail` and
// `affects[].ref` — a bom-ref of a component in the same document, a purl, or a BOM-Link (`urn:cdx:…#ref`) into
// another BOM such as harden's own SBOM, whose bom-refs are package ids — with `versions[]` (a version or a `vers:`
// range, status affected/unaffected) narrowing the statement.
import HardenCore
import HardenPackages

enum CycloneDXVEXInput {
    /// `analysis.state` and the VEX status it means.
    static func status(_ state: String) -> VEXStatus? {
        switch state {
        case "not_affected", "false_positive": return .notAffected
        case "resolved", "resolved_with_pedigree": return .fixed
        case "exploitable": return .affected
        case "in_triage": return .underInvestigation
        default: return nil
        }
    }

    static func statements(_ doc: [String: Any], _ path: String) throws -> VEXDocument {
        var refs: [String: [String]] = [:]
        var pending = (doc["components"] as? [[String: Any]]) ?? []
        if let meta = (doc["metadata"] as? [String: Any])?["component"] as? [String: Any] { pending.append(meta) }
        while let c = pending.popLast() {
            if let ref = c["bom-ref"] as? String {
                refs[ref] = [c["purl"] as? String, c["cpe"] as? String].compactMap { $0 } + [ref]
            }
            pending += (c["components"] as? [[String: Any]]) ?? []
        }
        var statements: [VEXDocument.Statement] = []
        for (i, v) in ((doc["vulnerabilities"] as? [[String: Any]]) ?? []).enumerated() {
            guard let analysis = v["analysis"] as? [String: Any], let state = analysis["state"] as? String else {
                continue  // a vulnerability without analysis is a finding, not a statement
            }
            guard let status = status(state) else {
                throw HardenError(.corrupt, "\(path): vulnerability \(i) has an unknown analysis state \"\(state)\"")
            }
            var ids = [v["id"] as? String].compactMap { $0 }
            ids += ((v["references"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
            guard !ids.isEmpty else { throw HardenError(.corrupt, "\(path): vulnerability \(i) has no id") }
            let reason = (analysis["justification"] as? String) ?? (analysis["detail"] as? String)
            for a in (v["affects"] as? [[String: Any]]) ?? [] {
                guard let ref = a["ref"] as? String else { continue }
                let products = Self.products(ref, refs: refs, versions: a["versions"] as? [[String: Any]], status)
                guard !products.isEmpty else { continue }
                statements.append(.init(vulnerability: ids, products: products, status: status, justification: reason))
            }
        }
        return VEXDocument(statements: statements, source: path, format: .cycloneDX)
    }

    /// The products an `affects` entry names. With `versions`, only those the statement's status holds for: a
    /// not-affected or fixed analysis covers the versions listed as `unaffected` (or listed without a status).
    static func products(
        _ ref: String, refs: [String: [String]], versions: [[String: Any]]?, _ status: VEXStatus
    ) -> [VEXProduct] {
        var target = ref
        if ref.hasPrefix("urn:cdx:"), let hash = ref.firstIndex(of: "#") {
            let fragment = ref[ref.index(after: hash)...]
            target = PercentEncoding.decode(fragment) ?? String(fragment)
        }
        let ids = refs[target] ?? [target]
        guard let versions, !versions.isEmpty else { return ids.map { VEXProduct($0) } }
        let wanted = status == .notAffected || status == .fixed ? "unaffected" : "affected"
        var out: [VEXProduct] = []
        for v in versions where (v["status"] as? String ?? wanted) == wanted {
            for id in ids {
                if let range = (v["range"] as? String).flatMap(VersRange.parse) {
                    out.append(VEXProduct(id, range: range))
                } else if let version = v["version"] as? String {
                    out.append(
                        VEXProduct(
                            id,
                            range: VersRange(
                                scheme: Self.scheme(id), constraints: [.init(comparator: .equal, version: version)])))
                }
            }
        }
        return out
    }

    /// The vers scheme of an id (its purl type; `generic` for CPEs and bom-refs).
    static func scheme(_ id: String) -> String {
        guard id.lowercased().hasPrefix("pkg:"), let slash = id.firstIndex(of: "/") else { return "generic" }
        return String(id[id.index(id.startIndex, offsetBy: 4)..<slash]).lowercased()
    }
}

// harden — whether a VEX product names an installed package: purls compared by type, namespace, name (or the source
// package's name, as distributions' VEX is written about source packages), the qualifiers both carry, and the version
// (equal, or in the product's `vers:` range); CPEs by part, vendor, product and version; anything else as a bom-ref.
import HardenCore
import HardenPackages
import HardenSBOM

extension VEXDocument {
    static func names(_ product: VEXProduct, _ package: Finding.PackageRef) -> Bool {
        let id = product.id
        if id.lowercased().hasPrefix("pkg:") {
            guard let want = PURL.parse(id) else { return false }
            return purlNames(want, range: product.range, package)
        }
        if id.lowercased().hasPrefix("cpe:") { return cpeNames(id, range: product.range, package) }
        guard id == package.ref || id == package.purl else { return false }
        guard let range = product.range else { return true }
        return range.contains(
            package.version, comparator: VersRange.comparator(scheme: range.scheme) ?? UpstreamVersion())
    }

    static func purlNames(_ want: PURL, range: VersRange?, _ package: Finding.PackageRef) -> Bool {
        guard let have = PURL.parse(package.purl) else { return false }
        guard want.type.lowercased() == have.type.lowercased() else { return false }
        if let ns = want.namespace, ns.lowercased() != (have.namespace ?? "").lowercased() { return false }
        let normal = { (s: String) in want.type == "pypi" ? PURL.pep503(s) : s.lowercased() }
        let version: String
        var source = false
        // `arch=src` (rpm) names a source package: the binary packages built from it.
        let wantsSource = want.qualifier("arch") == "src"
        if !wantsSource && normal(want.name) == normal(have.name) {
            version = have.version ?? package.version
        } else if normal(want.name) == normal(package.sourceName ?? (wantsSource ? have.name : "")) {
            version = package.sourceVersion ?? have.version ?? package.version
            source = true
        } else {
            return false
        }
        for (key, value) in want.qualifiers {
            if source && key == "arch" { continue }
            if let mine = have.qualifier(key), mine != value { return false }
        }
        let comparator = VersRange.comparator(scheme: want.type) ?? UpstreamVersion()
        if let v = want.version, !v.isEmpty, v != version, comparator.compare(v, version) != 0 { return false }
        if let range {
            return range.contains(version, comparator: VersRange.comparator(scheme: range.scheme) ?? comparator)
        }
        return true
    }

    /// CPE 2.3 (`cpe:2.3:a:vendor:product:version:…`) or 2.2 URI (`cpe:/a:vendor:product:version`) components.
    static func cpeParts(_ cpe: String) -> [String]? {
        let lower = cpe.lowercased()
        if lower.hasPrefix("cpe:2.3:") {
            return Array(lower.dropFirst(8).split(separator: ":", omittingEmptySubsequences: false).map(String.init))
        }
        if lower.hasPrefix("cpe:/") {
            return Array(lower.dropFirst(5).split(separator: ":", omittingEmptySubsequences: false).map(String.init))
        }
        return nil
    }

    static func cpeNames(_ cpe: String, range: VersRange?, _ package: Finding.PackageRef) -> Bool {
        guard let want = cpeParts(cpe), want.count >= 3 else { return false }
        let unset: Set<String> = ["", "*", "-"]
        return (package.cpes ?? []).contains { c in
            guard let have = cpeParts(c), have.count >= 3, Array(have.prefix(3)) == Array(want.prefix(3)) else {
                return false
            }
            let version = have.count > 3 && !unset.contains(have[3]) ? have[3] : package.version.lowercased()
            if want.count > 3, !unset.contains(want[3]), want[3] != version { return false }
            if let range, let c = VersRange.comparator(scheme: range.scheme) {
                return range.contains(version, comparator: c)
            }
            return true
        }
    }
}

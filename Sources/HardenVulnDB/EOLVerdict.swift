// harden — the end-of-life verdict for an image: its OS (os-release ID and VERSION_ID mapped to endoflife.date's product
// and cycle names) and the runtimes the binary cataloger found (python, node, openjdk, …), each looked up in the cycles
// harden has, with the days left counted from today.
import Foundation
import HardenCore
import HardenPackages

extension EOLData {
    /// os-release IDs and their endoflife.date product; nil: rolling releases without an end of life.
    static func osProduct(_ id: String) -> String? {
        switch id {
        case "rocky": return "rocky-linux"
        case "ol": return "oracle-linux"
        case "amzn": return "amazon-linux"
        case "sles", "sled", "sles_sap": return "sles"
        case "opensuse-leap": return "opensuse"
        case "azurelinux": return "azure-linux"
        case "mariner": return "cbl-mariner"
        case "wolfi", "chainguard", "arch", "opensuse-tumbleweed", "gentoo": return nil
        default: return id
        }
    }

    /// Binary-cataloger names and the endoflife.date products they are.
    static let runtimeProducts: [String: [String]] = [
        "python": ["python"], "node": ["nodejs"], "openjdk": ["eclipse-temurin", "openjdk"], "php": ["php"],
        "ruby": ["ruby"], "go": ["go"], "postgresql": ["postgresql"], "redis": ["redis"], "nginx": ["nginx"],
        "httpd": ["apache-http-server"], "openssl": ["openssl"],
    ]

    /// The cycle names a version may be listed under: `3.11.7` → `3.11`, `3`; Java's `1.8.0_392` also `8`.
    static func cycleCandidates(_ version: String) -> [String] {
        let parts = version.split(whereSeparator: { !$0.isNumber }).prefix(2).map(String.init)
        guard let major = parts.first else { return [] }
        var out = [version]
        if parts.count > 1 { out.append(major + "." + parts[1]) }
        out.append(major)
        if major == "1", parts.count > 1 { out.append(parts[1]) }
        return out
    }

    /// The verdicts for an image; `cycles(product)` gives what harden knows of a product, `today` is `yyyy-mm-dd`.
    public static func evaluate(
        os: OSInfo?, packages: [SoftwarePackage], today: String,
        cycles: (String) throws -> (cycles: [EOLCycle], source: String)?
    ) rethrows -> [EOLStatus] {
        var out: [EOLStatus] = []
        if let os, let product = osProduct(os.id), let version = os.versionID {
            let name = "\(os.id) \(version)" + (os.codename.map { " (\($0))" } ?? "")
            if let s = try status(
                subject: "os", name: name, products: [product], candidates: cycleCandidates(version), today: today,
                cycles: cycles)
            {
                out.append(s)
            }
        }
        var seen = Set<String>()
        for p in packages where p.type == .binary {
            guard let products = runtimeProducts[p.name], seen.insert("\(p.name) \(p.version)").inserted else {
                continue
            }
            if let s = try status(
                subject: "runtime", name: "\(p.name) \(p.version)", products: products,
                candidates: cycleCandidates(p.version), today: today, cycles: cycles)
            {
                out.append(s)
            }
        }
        return out
    }

    static func status(
        subject: String, name: String, products: [String], candidates: [String], today: String,
        cycles: (String) throws -> (cycles: [EOLCycle], source: String)?
    ) rethrows -> EOLStatus? {
        for product in products {
            guard let known = try cycles(product) else { continue }
            for candidate in candidates {
                guard let c = known.cycles.first(where: { $0.cycle == candidate }) else { continue }
                var s = EOLStatus(
                    subject: subject, name: name, product: product, cycle: c.cycle, eol: c.eol, daysLeft: nil,
                    state: .supported, extendedSupport: c.extendedSupport, source: known.source)
                if let eol = c.eol, let left = days(from: today, to: eol) {
                    s.daysLeft = left
                    s.state = left < 0 ? .ended : (left <= warningDays ? .ending : .supported)
                } else if c.ended == true {
                    s.state = .ended
                }
                return s
            }
        }
        return nil
    }

    /// Whole days from one `yyyy-mm-dd` to another.
    static func days(from a: String, to b: String) -> Int? {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        guard let x = f.date(from: a), let y = f.date(from: b) else { return nil }
        return Int((y.timeIntervalSince(x) / 86_400).rounded())
    }
}

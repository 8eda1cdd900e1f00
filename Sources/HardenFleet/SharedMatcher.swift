// harden — matching a fleet: images share most of their packages (base layers, pinned dependencies), so each
// distinct (OS release, package identity) is matched once and its findings reused for every image holding it.
import Foundation
import HardenPackages
import HardenSBOM
import HardenVulnDB

public final class SharedMatcher {
    let matcher: Matcher
    var cache: [String: [Finding]] = [:]
    public private(set) var lookups = 0
    public private(set) var reused = 0

    public init(database: VulnerabilityDatabase) { matcher = Matcher(database: database) }

    /// What matching depends on: the OS release and the package's identity fields (not where it was found).
    static func signature(_ p: SoftwarePackage, os: OSInfo?) -> String {
        [
            os?.id ?? "", os?.versionID ?? "", os?.codename ?? "", p.type.rawValue, p.name, p.version,
            p.sourceName ?? "",
            p.sourceVersion ?? "", p.ownedBy ?? "", p.purl, (p.cpes ?? []).joined(separator: " "),
        ].joined(separator: "\u{1}")
    }

    /// The findings of `packages` on `os`, as `Matcher.match` gives them for an SBOM of those packages.
    public func match(os: OSInfo?, packages: [SoftwarePackage]) throws -> [Finding] {
        var out: [Finding] = []
        var missing: [(String, SoftwarePackage)] = []
        var seen = Set<String>()
        for p in packages {
            let sig = Self.signature(p, os: os)
            if cache[sig] == nil && seen.insert(sig).inserted { missing.append((sig, p)) }
        }
        if !missing.isEmpty {
            // One SBOM of the distinct unmatched packages, each under its signature as id.
            var unique = missing.map { sig, p in
                var q = p
                q.id = sig
                return q
            }
            unique.sort { $0.id < $1.id }
            let sbom = SBOM(
                source: .init(reference: "", manifestDigest: "", configDigest: "", platform: ""), os: os,
                packages: unique)
            var found: [String: [Finding]] = [:]
            for f in try matcher.match(sbom) { found[f.package.ref, default: []].append(f) }
            for (sig, _) in missing { cache[sig] = found[sig] ?? [] }
            lookups += missing.count
        }
        for p in packages {
            let sig = Self.signature(p, os: os)
            for var f in cache[sig] ?? [] {
                f.package.ref = p.id
                f.package.layer = p.layer?.index
                f.package.locations = p.locations
                out.append(f)
            }
        }
        reused += packages.count
        return out.sorted(by: Finding.byRisk)
    }
}

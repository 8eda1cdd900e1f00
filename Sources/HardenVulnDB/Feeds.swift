// harden — feed parsers: OSV (one file, a directory, an all.zip), Debian security tracker JSON, Alpine secdb.
import Foundation
import HardenArchive
import HardenCore
import HardenPackages
import HardenSBOM
import HardenSystem

/// A parsed feed, ready to import under `source` (re-importing a source replaces its records).
public struct ParsedFeed: Sendable {
    public var source: String
    public var format: String
    public var location: String
    public var advisories: [Advisory]
    /// Enrichment: CVE ratings (NVD, CVE JSON 5), known-exploited entries (KEV), exploit probabilities (EPSS).
    public var cves: [CVERecord] = []
    public var kev: [KEVEntry] = []
    public var epss: [(String, EPSSScore)] = []
    /// The data's own date (NVD timestamp, KEV dateReleased, EPSS score_date), when the feed says it.
    public var dataDate: String?
    /// End-of-life data: release cycles (distro-info-data CSVs, endoflife.date files).
    public var eol: [EOLCycle] = []

    public init(
        source: String, format: String, location: String, advisories: [Advisory], cves: [CVERecord] = [],
        kev: [KEVEntry] = [],
        epss: [(String, EPSSScore)] = [], dataDate: String? = nil
    ) {
        self.source = source
        self.format = format
        self.location = location
        self.advisories = advisories
        self.cves = cves
        self.kev = kev
        self.epss = epss
        self.dataDate = dataDate
    }

    /// Records of any kind.
    public var recordCount: Int { advisories.count + cves.count + kev.count + epss.count + eol.count }
}

public enum FeedParser {
    /// Reads a feed file or directory, detecting its format from its content.
    public static func load(_ path: String) throws -> [ParsedFeed] {
        if path.hasPrefix("eol:") {
            let dir = String(path.dropFirst(4))
            var feed = ParsedFeed(
                source: "eol:" + HostFS.absolute(dir), format: "endoflife", location: dir, advisories: [])
            feed.eol = try EOLData.loadDirectory(dir)
            return [feed]
        }
        do {
            if HostFS.isDirectory(path) {
                var advisories: [Advisory] = []
                var cves: [CVERecord] = []
                var ecosystems = Set<String>()
                try walkJSON(path) { name, bytes in
                    if CVE5Record.looksLikeCVE5(Array(bytes.prefix(512))) {
                        if let r = try CVE5Record.parse(bytes, name: name) { cves.append(r) }
                        return
                    }
                    guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                        throw HardenError(.corrupt, "\(name): not valid JSON")
                    }
                    if let a = try OSV.parse(obj, name: name) {
                        advisories.append(a)
                        a.affected.forEach { ecosystems.insert($0.ecosystem) }
                    }
                }
                if advisories.isEmpty && !cves.isEmpty {
                    return [
                        ParsedFeed(
                            source: "cve5:" + HostFS.absolute(path), format: "cve-json-5", location: path,
                            advisories: [], cves: cves)
                    ]
                }
                return [
                    ParsedFeed(
                        source: "osv:" + HostFS.absolute(path), format: "osv-directory", location: path,
                        advisories: advisories, cves: cves)
                ]
            }
            var bytes = try HostFS.readFile(path, limit: 2 << 30)
            if bytes.starts(with: [0x1f, 0x8b]) {
                bytes = try GzipReader(MemoryReader(bytes), name: path).readAll(limit: 8 << 30, name: path)
            }
            if bytes.starts(with: [0x50, 0x4b, 0x03, 0x04]) {
                let zip = try ZipArchive(bytes)
                var advisories: [Advisory] = []
                var cves: [CVERecord] = []
                for entry in zip.entries where entry.name.hasSuffix(".json") {
                    let data = try zip.read(entry)
                    if CVE5Record.looksLikeCVE5(Array(data.prefix(512))) {
                        if let r = try CVE5Record.parse(data, name: entry.name) { cves.append(r) }
                        continue
                    }
                    guard let obj = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
                        throw HardenError(.corrupt, "\(entry.name): not valid JSON")
                    }
                    if let a = try OSV.parse(obj, name: entry.name) { advisories.append(a) }
                }
                if advisories.isEmpty && !cves.isEmpty {
                    return [
                        ParsedFeed(
                            source: "cve5:" + HostFS.split(path).1, format: "cve-json-5-zip", location: path,
                            advisories: [], cves: cves)
                    ]
                }
                let eco = Set(advisories.flatMap { $0.affected.map(\.ecosystem) }).sorted().joined(separator: ",")
                return [
                    ParsedFeed(
                        source: "osv-zip:\(eco.isEmpty ? HostFS.split(path).1 : eco)", format: "osv-zip",
                        location: path,
                        advisories: advisories)
                ]
            }
            if EPSSFeed.looksLikeEPSS(bytes) { return [try EPSSFeed.parse(bytes, location: path)] }
            if let cycles = try EOLData.parseDistroInfo(bytes, name: "") {
                var feed = ParsedFeed(
                    source: "distro-info:\(cycles.first?.product ?? "none")", format: "distro-info-data",
                    location: path, advisories: [])
                feed.eol = cycles
                return [feed]
            }
            let head = Array(bytes.prefix(4096))
            if NVDFeed.looksLikeNVD(head) { return [try NVDFeed.parse(bytes, location: path)] }
            if CVE5Record.looksLikeCVE5(head) {
                let r = try CVE5Record.parse(bytes, name: path)
                return [
                    ParsedFeed(
                        source: "cve5:" + HostFS.absolute(path), format: "cve-json-5", location: path, advisories: [],
                        cves: r.map { [$0] } ?? [])
                ]
            }
            if KEVCatalog.looksLikeKEV(head) { return [try KEVCatalog.parse(bytes, location: path)] }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
                throw HardenError(.corrupt, "not valid JSON, nor a zip archive")
            }
            if let dict = obj as? [String: Any] {
                if dict["packages"] != nil, let release = dict["distroversion"] as? String {
                    return [try AlpineSecDB.parse(dict, release: release, location: path)]
                }
                if dict["id"] != nil && (dict["affected"] != nil || dict["modified"] != nil) {
                    let adv = try OSV.parse(dict, name: path)
                    return [
                        ParsedFeed(
                            source: "osv:" + HostFS.absolute(path), format: "osv", location: path,
                            advisories: adv.map { [$0] } ?? [])
                    ]
                }
                if DebianTracker.looksLikeTracker(dict) {
                    return [DebianTracker.parse(dict, location: path)]
                }
            }
            throw HardenError(
                .unsupported,
                "unknown feed format (expected OSV JSON/zip/directory, Debian tracker JSON, Alpine secdb JSON, NVD CVE 2.0 JSON, CVE JSON 5, CISA KEV JSON, EPSS CSV, a distro-info-data CSV, or eol:DIR of endoflife.date files)"
            )
        } catch let e as HardenError {
            throw e.prefixed(path)
        }
    }

    static func walkJSON(_ dir: String, _ body: (String, [UInt8]) throws -> Void) throws {
        for name in try HostFS.listDirectory(dir) {
            let p = dir + "/" + name
            if HostFS.isDirectory(p) {
                try walkJSON(p, body)
            } else if name.hasSuffix(".json") {
                try body(p, try HostFS.readFile(p, limit: 64 << 20))
            }
        }
    }
}

// MARK: - OSV

public enum OSV {
    /// Splits an OSV ecosystem into harden's (ecosystem, release): `Debian:12` → (debian, 12), `Alpine:v3.19` → (alpine, 3.19).
    public static func ecosystem(_ text: String) -> (String, String?) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let base = parts[0]
        switch base {
        case "Debian", "Ubuntu", "Alpine", "Wolfi", "Chainguard", "Rocky Linux", "AlmaLinux", "Red Hat", "SUSE",
            "openSUSE", "Mageia":
            var release = parts.count > 1 ? parts[1] : nil
            if base == "Alpine", let r = release, r.hasPrefix("v") { release = String(r.dropFirst()) }
            if base == "Ubuntu", release == "Pro", parts.count > 2 { release = parts[2] }
            return (base.lowercased(), release)
        default:
            return (base, nil)
        }
    }

    /// Normalises a package name per ecosystem (PEP 503 for PyPI; case-insensitive ecosystems lower-cased).
    public static func normalizeName(_ name: String, ecosystem: String) -> String {
        switch ecosystem {
        case "PyPI": return PURL.pep503(name)
        case "npm", "NuGet", "Packagist": return name.lowercased()
        default: return name
        }
    }

    public static func parse(_ o: [String: Any], name: String) throws -> Advisory? {
        guard let id = o["id"] as? String, !id.isEmpty else {
            throw HardenError(.corrupt, "\(name): OSV record without an id")
        }
        if o["withdrawn"] is String { return nil }
        var severities: [SeverityRating] = []
        func addSeverities(_ list: Any?) {
            for s in (list as? [[String: Any]]) ?? [] {
                guard let type = s["type"] as? String, let score = s["score"] as? String else { continue }
                if type.hasPrefix("CVSS_V3"), let base = CVSS.v3BaseScore(score) {
                    severities.append(
                        SeverityRating(
                            source: "osv", type: type, vector: score, score: base, severity: Severity(cvssScore: base)))
                } else if type == "CVSS_V4", let base = CVSS.v4Score(score) {
                    severities.append(
                        SeverityRating(
                            source: "osv", type: type, vector: score, score: base, severity: Severity(cvssScore: base)))
                } else {
                    severities.append(
                        SeverityRating(source: "osv", type: type, vector: score, score: nil, severity: .unknown))
                }
            }
        }
        addSeverities(o["severity"])
        if let db = o["database_specific"] as? [String: Any], let sev = db["severity"] as? String {
            let map: [String: Severity] = [
                "LOW": .low, "MODERATE": .medium, "MEDIUM": .medium, "HIGH": .high, "CRITICAL": .critical,
            ]
            if let s = map[sev.uppercased()] {
                severities.append(
                    SeverityRating(source: "osv-database", type: "rating", vector: nil, score: nil, severity: s))
            }
        }
        var affected: [AffectedPackage] = []
        for a in (o["affected"] as? [[String: Any]]) ?? [] {
            guard let pkg = a["package"] as? [String: Any], let eco = pkg["ecosystem"] as? String,
                let pname = pkg["name"] as? String
            else {
                continue
            }
            addSeverities(a["severity"])
            let (ecosystem, release) = ecosystem(eco)
            var ranges: [AffectedRange] = []
            for r in (a["ranges"] as? [[String: Any]]) ?? [] {
                guard let type = r["type"] as? String, type != "GIT" else { continue }
                let events = ((r["events"] as? [[String: Any]]) ?? []).map { e in
                    RangeEvent(
                        introduced: e["introduced"] as? String, fixed: e["fixed"] as? String,
                        lastAffected: e["last_affected"] as? String, limit: e["limit"] as? String)
                }
                ranges.append(AffectedRange(type: type, events: events))
            }
            let versions = (a["versions"] as? [String]) ?? []
            if ranges.isEmpty && versions.isEmpty { continue }
            let hasFix = ranges.contains { $0.events.contains { $0.fixed != nil } }
            affected.append(
                AffectedPackage(
                    ecosystem: ecosystem, release: release, package: normalizeName(pname, ecosystem: ecosystem),
                    ranges: ranges, versions: versions, fixState: hasFix ? .fixed : .notFixed, urgency: nil))
        }
        let refs = ((o["references"] as? [[String: Any]]) ?? []).compactMap { $0["url"] as? String }
        return Advisory(
            id: id, aliases: (o["aliases"] as? [String]) ?? [],
            summary: (o["summary"] as? String) ?? (o["details"] as? String).map { String($0.prefix(300)) },
            published: o["published"] as? String, modified: o["modified"] as? String, severities: severities,
            affected: affected, references: refs)
    }
}

// MARK: - Debian security tracker

public enum DebianTracker {
    static func looksLikeTracker(_ d: [String: Any]) -> Bool {
        for (_, v) in d.prefix(5) {
            guard let issues = v as? [String: Any] else { return false }
            for (_, issue) in issues.prefix(3) {
                if let i = issue as? [String: Any], i["releases"] != nil { return true }
            }
        }
        return false
    }

    /// `{source: {CVE: {description, releases: {codename: {status, fixed_version, urgency, nodsa, nodsa_reason}}}}}`.
    public static func parse(_ d: [String: Any], location: String) -> ParsedFeed {
        var byID: [String: Advisory] = [:]
        for (source, value) in d {
            guard let issues = value as? [String: Any] else { continue }
            for (id, v) in issues {
                guard id.hasPrefix("CVE-") || id.hasPrefix("DSA-") || id.hasPrefix("DLA-"),
                    let issue = v as? [String: Any]
                else {
                    continue
                }
                var adv =
                    byID[id]
                    ?? Advisory(
                        id: id, aliases: [], summary: issue["description"] as? String, published: nil, modified: nil,
                        severities: [], affected: [], references: ["https://security-tracker.debian.org/tracker/\(id)"])
                for (codename, rv) in (issue["releases"] as? [String: Any]) ?? [:] {
                    guard let r = rv as? [String: Any], let status = r["status"] as? String else { continue }
                    let urgency = r["urgency"] as? String
                    var state: FixState
                    var ranges: [AffectedRange]
                    switch status {
                    case "resolved":
                        // "0": never affected.
                        guard let fixed = r["fixed_version"] as? String, fixed != "0" else { continue }
                        state = .fixed
                        ranges = [
                            AffectedRange(
                                type: "ECOSYSTEM", events: [RangeEvent(introduced: "0"), RangeEvent(fixed: fixed)])
                        ]
                    case "open":
                        state = (r["nodsa_reason"] as? String) == "ignored" ? .wontFix : .notFixed
                        ranges = [AffectedRange(type: "ECOSYSTEM", events: [RangeEvent(introduced: "0")])]
                    default:
                        continue  // undetermined: not enough to report
                    }
                    adv.affected.append(
                        AffectedPackage(
                            ecosystem: "debian", release: codename, package: source, ranges: ranges, versions: [],
                            fixState: state, urgency: urgency))
                    if let urgency {
                        let sev = Severity(debianUrgency: urgency)
                        if sev != .unknown,
                            !adv.severities.contains(where: { $0.severity == sev && $0.source == "debian" })
                        {
                            adv.severities.append(
                                SeverityRating(
                                    source: "debian", type: "urgency", vector: urgency, score: nil, severity: sev))
                        }
                    }
                }
                byID[id] = adv
            }
        }
        let advisories = byID.keys.sorted().compactMap { byID[$0] }.filter { !$0.affected.isEmpty }
        return ParsedFeed(
            source: "debian-tracker", format: "debian-tracker-json", location: location, advisories: advisories)
    }
}

// MARK: - Alpine secdb

public enum AlpineSecDB {
    public static func parse(_ d: [String: Any], release: String, location: String) throws -> ParsedFeed {
        let rel = release.hasPrefix("v") ? String(release.dropFirst()) : release
        let repo = (d["reponame"] as? String) ?? "main"
        var byID: [String: Advisory] = [:]
        for entry in (d["packages"] as? [[String: Any]]) ?? [] {
            guard let pkg = entry["pkg"] as? [String: Any], let name = pkg["name"] as? String else { continue }
            for (fixed, ids) in (pkg["secfixes"] as? [String: Any]) ?? [:] {
                guard fixed != "0" else { continue }  // "0": not affected in this branch
                for text in (ids as? [String]) ?? [] {
                    // Entries may carry extra words: "CVE-2024-1 GHSA-…", "CVE-2017-2616 (+ regression fix)".
                    let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                        .filter {
                            $0.hasPrefix("CVE-") || $0.hasPrefix("GHSA-") || $0.hasPrefix("XSA-")
                                || $0.hasPrefix("ALPINE-")
                        }
                    guard let id = tokens.first else { continue }
                    var adv =
                        byID[id]
                        ?? Advisory(
                            id: id, aliases: Array(tokens.dropFirst()), summary: nil, published: nil, modified: nil,
                            severities: [], affected: [], references: [])
                    adv.affected.append(
                        AffectedPackage(
                            ecosystem: "alpine", release: rel, package: name,
                            ranges: [
                                AffectedRange(
                                    type: "ECOSYSTEM", events: [RangeEvent(introduced: "0"), RangeEvent(fixed: fixed)])
                            ],
                            versions: [], fixState: .fixed, urgency: nil))
                    byID[id] = adv
                }
            }
        }
        return ParsedFeed(
            source: "alpine-secdb:v\(rel)-\(repo)", format: "alpine-secdb", location: location,
            advisories: byID.keys.sorted().compactMap { byID[$0] })
    }
}

// harden — enrichment feeds: NVD CVE API 2.0 JSON (feed files and API pages), CVE JSON 5 records (cvelistV5),
// CISA's Known Exploited Vulnerabilities catalog, FIRST EPSS daily scores. They carry no affected packages: they
// rate CVEs (CVSS from NVD and the CNA, CWE ids, dates) and say which are exploited and how likely exploitation is.
import Foundation
import HardenCore
import HardenPackages
import HardenSBOM

/// What enrichment feeds add about CVEs.
public struct CVERecord: Sendable, Hashable {
    public var id: String
    public var published: String?
    public var modified: String?
    public var cwes: [String]
    public var ratings: [SeverityRating]
}

public struct KEVEntry: Codable, Sendable, Hashable {
    public var cve: String
    public var dateAdded: String
    public var dueDate: String?
    /// `Known` or `Unknown`.
    public var knownRansomwareCampaignUse: String?
    public var name: String?

    public init(cve: String, dateAdded: String, dueDate: String?, knownRansomwareCampaignUse: String?, name: String?) {
        self.cve = cve
        self.dateAdded = dateAdded
        self.dueDate = dueDate
        self.knownRansomwareCampaignUse = knownRansomwareCampaignUse
        self.name = name
    }
}

public struct EPSSScore: Codable, Sendable, Hashable {
    public var score: Double
    public var percentile: Double
    /// The scores' date (the file's `score_date`).
    public var date: String?

    public init(score: Double, percentile: Double, date: String?) {
        self.score = score
        self.percentile = percentile
        self.date = date
    }
}

/// Severity of a CVSS v2 base score (v2 has no critical band).
extension Severity {
    public init(cvss2Score s: Double) {
        switch s {
        case 7.0...: self = .high
        case 4.0..<7.0: self = .medium
        default: self = .low
        }
    }
}

enum CVSSRatingBuilder {
    /// A rating from a feed's (version, vector, base score): the band from the score (v2: its own bands).
    static func rating(rater: String, version: String?, vector: String, score: Double) -> SeverityRating? {
        guard score >= 0, score <= 10 else { return nil }
        let v = version ?? (vector.hasPrefix("CVSS:4") ? "4.0" : vector.hasPrefix("CVSS:3") ? "3.1" : "2.0")
        let type: String
        let sev: Severity
        if v.hasPrefix("4") {
            type = "CVSS_V4"
            sev = Severity(cvssScore: score)
        } else if v.hasPrefix("3") {
            type = "CVSS_V3"
            sev = Severity(cvssScore: score)
        } else {
            type = "CVSS_V2"
            sev = Severity(cvss2Score: score)
        }
        return SeverityRating(source: rater, type: type, vector: vector, score: score, severity: sev)
    }
}

// MARK: - NVD CVE API 2.0

public enum NVDFeed {
    struct File: Decodable {
        var format: String?
        var version: String?
        var timestamp: String?
        var vulnerabilities: [Item]
        struct Item: Decodable { var cve: CVE }
    }
    struct CVE: Decodable {
        var id: String
        var published: String?
        var lastModified: String?
        var vulnStatus: String?
        var metrics: Metrics?
        var weaknesses: [Weakness]?
        var configurations: [Configuration]?
    }
    struct Configuration: Decodable {
        var nodes: [Node]?
        struct Node: Decodable {
            var cpeMatch: [Match]?
        }
        struct Match: Decodable {
            var vulnerable: Bool?
            var criteria: String
            var versionStartIncluding: String?
            var versionStartExcluding: String?
            var versionEndIncluding: String?
            var versionEndExcluding: String?
        }
    }

    /// The `vendor:product` pairs whose CPE configurations are imported: the binary classifiers' table, and only it.
    static let matchedProducts: Set<String> = Set(
        (BinaryCataloger.classifiers + [BinaryCataloger.goToolchainClassifier]).flatMap { c in
            c.cpes.map { "\($0.vendor):\($0.product)" }
        }
    )

    /// NVD's vulnerable CPE matches for the products in `matchedProducts`, as affected packages of ecosystem
    /// `NVD-CPE` named `vendor:product`: an exact version, or a range (start including/excluding — an excluded start
    /// is taken as included —, end excluding = fixed, end including = last affected).
    static func affected(_ configurations: [Configuration]) -> [AffectedPackage] {
        var byProduct: [String: (ranges: [AffectedRange], versions: [String], fixed: Bool)] = [:]
        for m in configurations.flatMap({ ($0.nodes ?? []).flatMap { $0.cpeMatch ?? [] } }) where m.vulnerable == true {
            let f = CPE.split(m.criteria)
            guard f.count >= 7, f[0] == "cpe", f[2] == "a" else { continue }
            let product = "\(f[3]):\(f[4])"
            guard matchedProducts.contains(product) else { continue }
            var entry = byProduct[product] ?? ([], [], false)
            let version = f[5], update = f[6]
            if version != "*" && version != "-" && !version.isEmpty {
                entry.versions.append(update == "*" || update == "-" ? version : version + update)
            } else {
                var events = [RangeEvent(introduced: m.versionStartIncluding ?? m.versionStartExcluding ?? "0")]
                if let fixed = m.versionEndExcluding {
                    events.append(RangeEvent(fixed: fixed))
                    entry.fixed = true
                } else if let last = m.versionEndIncluding {
                    events.append(RangeEvent(lastAffected: last))
                }
                entry.ranges.append(AffectedRange(type: "ECOSYSTEM", events: events))
            }
            byProduct[product] = entry
        }
        return byProduct.keys.sorted().compactMap { product in
            guard let e = byProduct[product] else { return nil }
            return AffectedPackage(
                ecosystem: "NVD-CPE", release: nil, package: product, ranges: e.ranges,
                versions: Array(Set(e.versions)).sorted(),
                fixState: e.fixed ? .fixed : .notFixed, urgency: nil)
        }
    }
    struct Metrics: Decodable {
        var cvssMetricV40: [Metric]?
        var cvssMetricV31: [Metric]?
        var cvssMetricV30: [Metric]?
        var cvssMetricV2: [Metric]?
    }
    struct Metric: Decodable {
        var source: String?
        var type: String?
        var cvssData: CVSSData
    }
    struct CVSSData: Decodable {
        var version: String?
        var vectorString: String
        var baseScore: Double
    }
    struct Weakness: Decodable {
        var description: [Text]
        struct Text: Decodable { var value: String }
    }

    static func looksLikeNVD(_ prefix: [UInt8]) -> Bool {
        let s = String(decoding: prefix, as: UTF8.self)
        return s.contains("\"NVD_CVE\"")
            || (s.contains("\"vulnerabilities\"") && s.contains("\"cve\"") && s.contains("\"resultsPerPage\""))
    }

    /// NVD's own (Primary) scores are rated `nvd`; a CNA's (Secondary) `cna:SOURCE`.
    static func rater(_ m: Metric) -> String {
        let source = m.source ?? "unknown"
        if m.type == "Primary" || source == "nvd@nist.gov" { return "nvd" }
        return "cna:" + source
    }

    public static func parse(_ bytes: [UInt8], location: String) throws -> ParsedFeed {
        let file: File = try decodeFeed(bytes, what: "NVD CVE API 2.0 document")
        if let f = file.format, f != "NVD_CVE" { throw HardenError(.unsupported, "NVD format \(f) is not NVD_CVE") }
        var records: [CVERecord] = []
        var advisories: [Advisory] = []
        records.reserveCapacity(file.vulnerabilities.count)
        for item in file.vulnerabilities {
            let c = item.cve
            guard c.id.hasPrefix("CVE-") else { continue }
            if c.vulnStatus == "Rejected" { continue }
            var ratings: [SeverityRating] = []
            let m = c.metrics
            for metric in (m?.cvssMetricV31 ?? []) + (m?.cvssMetricV30 ?? []) + (m?.cvssMetricV40 ?? [])
                + (m?.cvssMetricV2 ?? [])
            {
                if let r = CVSSRatingBuilder.rating(
                    rater: rater(metric), version: metric.cvssData.version, vector: metric.cvssData.vectorString,
                    score: metric.cvssData.baseScore)
                {
                    ratings.append(r)
                }
            }
            let cwes = Set((c.weaknesses ?? []).flatMap { $0.description.map(\.value) }.filter { $0.hasPrefix("CWE-") })
                .sorted()
            records.append(
                CVERecord(id: c.id, published: c.published, modified: c.lastModified, cwes: cwes, ratings: ratings))
            let affected = affected(c.configurations ?? [])
            if !affected.isEmpty {
                advisories.append(
                    Advisory(
                        id: c.id, aliases: [], summary: nil, published: c.published, modified: c.lastModified,
                        severities: [],
                        affected: affected, references: []))
            }
        }
        let name = feedBaseName(location)
        return ParsedFeed(
            source: "nvd:" + name, format: "nvd-cve-2.0", location: location, advisories: advisories, cves: records,
            dataDate: file.timestamp)
    }
}

// MARK: - CVE JSON 5

public enum CVE5Record {
    struct Record: Decodable {
        var dataType: String?
        var cveMetadata: Metadata
        var containers: Containers?
        struct Metadata: Decodable {
            var cveId: String
            var state: String?
            var datePublished: String?
            var dateUpdated: String?
        }
        struct Containers: Decodable {
            var cna: Container?
            var adp: [Container]?
        }
        struct Container: Decodable {
            var providerMetadata: Provider?
            var metrics: [Metric]?
            var problemTypes: [ProblemType]?
        }
        struct Provider: Decodable {
            var shortName: String?
            var orgId: String?
        }
        struct Metric: Decodable {
            var cvssV4_0: Score?
            var cvssV3_1: Score?
            var cvssV3_0: Score?
            var cvssV2_0: Score?
        }
        struct Score: Decodable {
            var version: String?
            var vectorString: String
            var baseScore: Double
        }
        struct ProblemType: Decodable {
            var descriptions: [Description]?
            struct Description: Decodable { var cweId: String? }
        }
    }

    static func looksLikeCVE5(_ prefix: [UInt8]) -> Bool {
        let s = String(decoding: prefix, as: UTF8.self)
        return s.contains("\"CVE_RECORD\"") || s.contains("\"cveMetadata\"")
    }

    /// One record; nil for a rejected one.
    public static func parse(_ bytes: [UInt8], name: String) throws -> CVERecord? {
        let r: Record
        do {
            r = try decodeFeed(bytes, what: "CVE JSON 5 record")
        } catch let e as HardenError {
            throw e.prefixed(name)
        }
        let meta = r.cveMetadata
        guard meta.cveId.hasPrefix("CVE-"), meta.state != "REJECTED" else { return nil }
        var ratings: [SeverityRating] = []
        var cwes = Set<String>()
        func add(_ c: Record.Container?, prefix: String) {
            guard let c else { return }
            let rater = prefix + (c.providerMetadata?.shortName ?? c.providerMetadata?.orgId ?? "unknown")
            for m in c.metrics ?? [] {
                for s in [m.cvssV3_1, m.cvssV3_0, m.cvssV4_0, m.cvssV2_0].compactMap({ $0 }) {
                    if let rating = CVSSRatingBuilder.rating(
                        rater: rater, version: s.version, vector: s.vectorString, score: s.baseScore)
                    {
                        ratings.append(rating)
                    }
                }
            }
            for p in c.problemTypes ?? [] {
                for d in p.descriptions ?? [] { if let w = d.cweId, w.hasPrefix("CWE-") { cwes.insert(w) } }
            }
        }
        add(r.containers?.cna, prefix: "cna:")
        for adp in r.containers?.adp ?? [] { add(adp, prefix: "adp:") }
        return CVERecord(
            id: meta.cveId, published: meta.datePublished, modified: meta.dateUpdated, cwes: cwes.sorted(),
            ratings: ratings)
    }
}

// MARK: - CISA KEV

public enum KEVCatalog {
    struct Catalog: Decodable {
        var catalogVersion: String?
        var dateReleased: String?
        var vulnerabilities: [Entry]
        struct Entry: Decodable {
            var cveID: String
            var vulnerabilityName: String?
            var dateAdded: String
            var dueDate: String?
            var knownRansomwareCampaignUse: String?
        }
    }

    static func looksLikeKEV(_ prefix: [UInt8]) -> Bool {
        let s = String(decoding: prefix, as: UTF8.self)
        return s.contains("\"catalogVersion\"") || s.contains("\"cveID\"")
    }

    public static func parse(_ bytes: [UInt8], location: String) throws -> ParsedFeed {
        let c: Catalog = try decodeFeed(bytes, what: "CISA KEV catalog")
        var seen: [String: KEVEntry] = [:]
        for e in c.vulnerabilities where e.cveID.hasPrefix("CVE-") {
            let entry = KEVEntry(
                cve: e.cveID, dateAdded: e.dateAdded, dueDate: e.dueDate,
                knownRansomwareCampaignUse: e.knownRansomwareCampaignUse,
                name: e.vulnerabilityName)
            // A duplicate keeps the earliest date it was added.
            if let old = seen[e.cveID], old.dateAdded <= entry.dateAdded { continue }
            seen[e.cveID] = entry
        }
        return ParsedFeed(
            source: "cisa-kev", format: "cisa-kev-json", location: location, advisories: [],
            kev: seen.keys.sorted().map { seen[$0]! }, dataDate: c.dateReleased)
    }
}

// MARK: - FIRST EPSS

public enum EPSSFeed {
    static func looksLikeEPSS(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: Array("#model_version".utf8)) || bytes.starts(with: Array("cve,epss".utf8))
    }

    /// `#model_version:v2025.03.14,score_date:2025-11-29T00:00:00+0000`, then `cve,epss,percentile` and one row per CVE.
    public static func parse(_ bytes: [UInt8], location: String) throws -> ParsedFeed {
        var date: String?
        var model: String?
        var out: [(String, EPSSScore)] = []
        out.reserveCapacity(bytes.count / 32)
        var lineNumber = 0
        var sawHeader = false
        var start = 0
        let n = bytes.count
        while start < n {
            var end = start
            while end < n && bytes[end] != 0x0a { end += 1 }
            var line = bytes[start..<end]
            if line.last == 0x0d { line = line.dropLast() }
            start = end + 1
            lineNumber += 1
            if line.isEmpty { continue }
            if line.first == UInt8(ascii: "#") {
                for part in String(decoding: line.dropFirst(), as: UTF8.self).split(separator: ",") {
                    let kv = part.split(separator: ":", maxSplits: 1).map(String.init)
                    guard kv.count == 2 else { continue }
                    if kv[0] == "score_date" { date = kv[1] } else if kv[0] == "model_version" { model = kv[1] }
                }
                continue
            }
            if !sawHeader {
                guard line.starts(with: Array("cve,epss".utf8)) else {
                    throw HardenError(.corrupt, "line \(lineNumber): expected the header cve,epss,percentile")
                }
                sawHeader = true
                continue
            }
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
            guard fields.count >= 3, let score = Double(String(decoding: fields[1], as: UTF8.self)),
                let pct = Double(String(decoding: fields[2], as: UTF8.self)), (0...1).contains(score),
                (0...1).contains(pct),
                fields[0].starts(with: Array("CVE-".utf8))
            else {
                throw HardenError(.corrupt, "line \(lineNumber): expected CVE-ID,score,percentile with scores in 0…1")
            }
            out.append(
                (String(decoding: fields[0], as: UTF8.self), EPSSScore(score: score, percentile: pct, date: nil)))
        }
        guard sawHeader else { throw HardenError(.corrupt, "no cve,epss,percentile header: not an EPSS file") }
        let day = date.map { String($0.prefix(10)) }
        return ParsedFeed(
            source: "first-epss", format: "epss-csv" + (model.map { " " + $0 } ?? ""), location: location,
            advisories: [],
            epss: out.map { ($0.0, EPSSScore(score: $0.1.score, percentile: $0.1.percentile, date: day)) },
            dataDate: date)
    }
}

func feedBaseName(_ path: String) -> String {
    var name = String(path.split(separator: "/").last ?? Substring(path))
    for ext in [".gz", ".json", ".zip"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
    return name
}

/// Decodes a feed document; a failure names what was expected and where the document went wrong.
func decodeFeed<T: Decodable>(_ bytes: [UInt8], what: String) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch let DecodingError.keyNotFound(key, ctx) {
        throw HardenError(.corrupt, "not a valid \(what): missing \"\(key.stringValue)\"\(codingPath(ctx))")
    } catch let DecodingError.typeMismatch(_, ctx) {
        throw HardenError(.corrupt, "not a valid \(what): wrong type\(codingPath(ctx))")
    } catch let DecodingError.valueNotFound(_, ctx) {
        throw HardenError(.corrupt, "not a valid \(what): null value\(codingPath(ctx))")
    } catch {
        throw HardenError(.corrupt, "not a valid \(what): not valid JSON (truncated?)")
    }
}

private func codingPath(_ ctx: DecodingError.Context) -> String {
    let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    return p.isEmpty ? "" : " at \(p)"
}

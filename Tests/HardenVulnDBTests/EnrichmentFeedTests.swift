// harden — the enrichment feeds in their real formats (NVD CVE API 2.0, CVE JSON 5, CISA KEV, FIRST EPSS), built
// here: import, precedence between NVD and the CNA, a v4-only CVE, duplicates across files, malformed and truncated
// files (one-line error, old database intact), and the severity bands at the specification's edges.
import Foundation
import HardenArchive
import HardenCore
import HardenPackages
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

enum EnrichmentFixtures {
    static func metric(_ source: String, _ type: String, version: String, vector: String, score: Double) -> String {
        let key = version == "4.0" ? "cvssMetricV40" : version == "2.0" ? "cvssMetricV2" : "cvssMetricV31"
        return
            #""\#(key)": [{"source": "\#(source)", "type": "\#(type)", "cvssData": {"version": "\#(version)", "vectorString": "\#(vector)", "baseScore": \#(score), "baseSeverity": "X"}, "exploitabilityScore": 3.9}]"#
    }

    static func cve(
        _ id: String, modified: String = "2024-03-01T10:00:00.000", status: String = "Analyzed", metrics: [String],
        cwe: String? = "CWE-787"
    )
        -> String
    {
        let weaknesses =
            cwe.map {
                #", "weaknesses": [{"source": "nvd@nist.gov", "type": "Primary", "description": [{"lang": "en", "value": "\#($0)"}]}]"#
            } ?? ""
        return #"""
            {"cve": {"id": "\#(id)", "sourceIdentifier": "cna@example.org", "published": "2024-01-02T03:04:05.000", "lastModified": "\#(modified)",
              "vulnStatus": "\#(status)", "descriptions": [{"lang": "en", "value": "A fixture."}],
              "metrics": {\#(metrics.joined(separator: ", "))}\#(weaknesses), "references": [{"url": "https://example.org"}]}}
            """#
    }

    static func nvd(_ items: [String], timestamp: String = "2026-11-28T01:00:00.000") -> String {
        #"{"resultsPerPage": \#(items.count), "startIndex": 0, "totalResults": \#(items.count), "format": "NVD_CVE", "version": "2.0", "timestamp": "\#(timestamp)", "vulnerabilities": [\#(items.joined(separator: ", "))]}"#
    }

    static let critical31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    static let high31 = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"
    static let v40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"

    /// CVE-2024-0001: NVD says critical, the CNA high. CVE-2024-0002: only a CNA v4.0 vector. CVE-2024-0003: rejected.
    static var yearly: String {
        nvd([
            cve(
                "CVE-2024-0001",
                metrics: [
                    metric("nvd@nist.gov", "Primary", version: "3.1", vector: critical31, score: 9.8)
                        .replacingOccurrences(
                            of: "]",
                            with: ", "
                                + #"{"source": "cna@example.org", "type": "Secondary", "cvssData": {"version": "3.1", "vectorString": "\#(high31)", "baseScore": 8.8}}]"#
                        )
                ]),
            cve(
                "CVE-2024-0002",
                metrics: [metric("cna@example.org", "Secondary", version: "4.0", vector: v40, score: 9.3)], cwe: nil),
            cve("CVE-2024-0003", status: "Rejected", metrics: []),
        ])
    }

    static let kev = #"""
        {"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.11.27", "dateReleased": "2026-11-27T17:00:00.000Z", "count": 2,
         "vulnerabilities": [
          {"cveID": "CVE-2024-0001", "vendorProject": "Example", "product": "Thing", "vulnerabilityName": "Example Thing RCE", "dateAdded": "2024-05-01",
           "shortDescription": "x", "requiredAction": "patch", "dueDate": "2024-05-22", "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-787"]},
          {"cveID": "CVE-2023-9999", "vendorProject": "Example", "product": "Other", "vulnerabilityName": "Other", "dateAdded": "2023-01-01",
           "shortDescription": "x", "requiredAction": "patch", "dueDate": "2023-01-22", "knownRansomwareCampaignUse": "Unknown", "notes": ""}]}
        """#

    static let epss =
        "#model_version:v2025.03.14,score_date:2026-11-28T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.94210,0.99910\nCVE-2024-0002,0.00043,0.11000\n"

    static let cve5 = #"""
        {"dataType": "CVE_RECORD", "dataVersion": "5.1",
         "cveMetadata": {"cveId": "CVE-2024-0005", "assignerOrgId": "00000000-0000-0000-0000-000000000000", "state": "PUBLISHED", "datePublished": "2024-02-01T00:00:00.000Z", "dateUpdated": "2024-02-03T00:00:00.000Z"},
         "containers": {
           "cna": {"providerMetadata": {"orgId": "00000000-0000-0000-0000-000000000000", "shortName": "example"},
                   "descriptions": [{"lang": "en", "value": "x"}],
                   "metrics": [{"format": "CVSS", "cvssV3_1": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", "baseScore": 5.3, "baseSeverity": "MEDIUM"}}],
                   "problemTypes": [{"descriptions": [{"lang": "en", "description": "CWE-79", "cweId": "CWE-79", "type": "CWE"}]}]},
           "adp": [{"providerMetadata": {"orgId": "1", "shortName": "CISA-ADP"},
                    "metrics": [{"cvssV3_1": {"version": "3.1", "vectorString": "\#(high31)", "baseScore": 8.8, "baseSeverity": "HIGH"}}]}]}}
        """#
}

@Suite struct EnrichmentFeedTests {
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let sink = MemoryWriter()
        let w = try GzipWriter(sink)
        try w.write(bytes)
        try w.finish()
        return sink.bytes
    }

    @Test func nvdCVERecordsKEVAndEPSSImportWithTheirSourcesAndDates() throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(
                dir + "/nvdcve-2.0-2024.json.gz", try Self.gzip(Array(EnrichmentFixtures.yearly.utf8)))
            try HostFS.writeFileAtomically(dir + "/kev.json", Array(EnrichmentFixtures.kev.utf8))
            try HostFS.writeFileAtomically(
                dir + "/epss_scores-2026-11-28.csv.gz", try Self.gzip(Array(EnrichmentFixtures.epss.utf8)))
            try HostFS.makeDirectories(dir + "/cvelistV5/cves/2024/0xxx")
            try HostFS.writeFileAtomically(
                dir + "/cvelistV5/cves/2024/0xxx/CVE-2024-0005.json", Array(EnrichmentFixtures.cve5.utf8))
            var feeds: [ParsedFeed] = []
            for f in ["nvdcve-2.0-2024.json.gz", "kev.json", "epss_scores-2026-11-28.csv.gz", "cvelistV5"] {
                feeds += try FeedParser.load(dir + "/" + f)
            }
            #expect(feeds.map(\.format) == ["nvd-cve-2.0", "cisa-kev-json", "epss-csv v2025.03.14", "cve-json-5"])
            #expect(feeds[0].cves.map(\.id) == ["CVE-2024-0001", "CVE-2024-0002"], "the rejected CVE is dropped")
            _ = try VulnerabilityDatabase.importFeeds(feeds, into: dir + "/v.sqlite")
            let db = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")

            // Both NVD's and the CNA's scores are stored; NVD's wins.
            let r1 = try db.severities(of: "CVE-2024-0001")
            #expect(Set(r1.map(\.source)) == ["nvd", "cna:cna@example.org"])
            #expect(Matcher.primarySeverity(r1) == (.critical, "nvd"))
            // A v4-only CVE takes its severity from the v4 score.
            let r2 = try db.severities(of: "CVE-2024-0002")
            #expect(r2.map(\.type) == ["CVSS_V4"])
            #expect(Matcher.primarySeverity(r2) == (.critical, "cna:cna@example.org"))
            // CVE JSON 5: the CNA's score before the ADP's.
            let r5 = try db.severities(of: "CVE-2024-0005")
            #expect(Matcher.primarySeverity(r5) == (.medium, "cna:example"))
            #expect(try db.cwes(of: "CVE-2024-0005") == ["CWE-79"])
            #expect(try db.cwes(of: "CVE-2024-0001") == ["CWE-787"])

            let kev = try #require(try db.kev(of: "CVE-2024-0001"))
            #expect(
                kev.dateAdded == "2024-05-01" && kev.dueDate == "2024-05-22"
                    && kev.knownRansomwareCampaignUse == "Known")
            #expect(try db.kev(of: "CVE-2024-0002") == nil)
            let epss = try #require(try db.epss(of: "CVE-2024-0001"))
            #expect(epss.score == 0.9421 && epss.percentile == 0.9991 && epss.date == "2026-11-28")

            let sources = Dictionary(uniqueKeysWithValues: try db.sources().map { ($0.name, $0) })
            #expect(sources["cisa-kev"]?.dataDate == "2026-11-27T17:00:00.000Z")
            #expect(sources["first-epss"]?.dataDate == "2026-11-28T00:00:00+0000")
            #expect(sources["nvd:nvdcve-2.0-2024"]?.dataDate == "2026-11-28T01:00:00.000")
            // now: 2026-11-30
            let age = try #require(sources["first-epss"]?.dataAgeDays(now: Date(timeIntervalSince1970: 1_795_996_800)))
            #expect(abs(age - 2) < 0.01)
        }
    }

    @Test func aLaterRecordOfTheSameCVEWinsAcrossFeedFiles() throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/nvdcve-2.0-2024.json", Array(EnrichmentFixtures.yearly.utf8))
            // The modified feed re-scores CVE-2024-0001 (NVD now says high).
            let modified = EnrichmentFixtures.nvd([
                EnrichmentFixtures.cve(
                    "CVE-2024-0001", modified: "2024-06-01T00:00:00.000",
                    metrics: [
                        EnrichmentFixtures.metric(
                            "nvd@nist.gov", "Primary", version: "3.1", vector: EnrichmentFixtures.high31, score: 8.8)
                    ])
            ])
            try HostFS.writeFileAtomically(dir + "/nvdcve-2.0-modified.json", Array(modified.utf8))
            let feeds =
                try FeedParser.load(dir + "/nvdcve-2.0-2024.json") + FeedParser.load(dir + "/nvdcve-2.0-modified.json")
            _ = try VulnerabilityDatabase.importFeeds(feeds, into: dir + "/v.sqlite")
            let db = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")
            let nvd = try db.severities(of: "CVE-2024-0001").filter { $0.source == "nvd" }
            #expect(nvd.count == 1 && nvd.first?.score == 8.8)
            // The same CVE twice in one file: the later modification is kept.
            let twice = EnrichmentFixtures.nvd([
                EnrichmentFixtures.cve(
                    "CVE-2024-0009", modified: "2024-01-01T00:00:00.000",
                    metrics: [
                        EnrichmentFixtures.metric(
                            "nvd@nist.gov", "Primary", version: "3.1", vector: EnrichmentFixtures.high31, score: 8.8)
                    ]),
                EnrichmentFixtures.cve(
                    "CVE-2024-0009", modified: "2024-02-01T00:00:00.000",
                    metrics: [
                        EnrichmentFixtures.metric(
                            "nvd@nist.gov", "Primary", version: "2.0", vector: "AV:N/AC:L/Au:N/C:P/I:P/A:P", score: 7.5)
                    ]),
            ])
            try HostFS.writeFileAtomically(dir + "/twice.json", Array(twice.utf8))
            _ = try VulnerabilityDatabase.importFeeds(try FeedParser.load(dir + "/twice.json"), into: dir + "/v.sqlite")
            let r = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite").severities(of: "CVE-2024-0009")
            #expect(r.map(\.type) == ["CVSS_V2"] && r.first?.severity == .high, "v2 7.5 is high on v2's bands")
        }
    }

    @Test(arguments: [
        ("truncated.json", String(EnrichmentFixtures.yearly.prefix(300)), "not a valid NVD CVE API 2.0 document"),
        (
            "wrongtype.json",
            EnrichmentFixtures.yearly.replacingOccurrences(of: "\"baseScore\": 9.8", with: "\"baseScore\": \"high\""),
            "wrong type"
        ),
        ("kev.json", String(EnrichmentFixtures.kev.prefix(200)), "not a valid CISA KEV catalog"),
        ("epss.csv", "#model_version:v1,score_date:2026-11-28\ncve,epss,percentile\nCVE-2024-1,1.7,0.5\n", "line 3"),
        (
            "cve5.json", EnrichmentFixtures.cve5.replacingOccurrences(of: "\"cveId\"", with: "\"cveID\""),
            "missing \"cveId\""
        ),
    ])
    func aMalformedFeedIsAOneLineErrorAndTheDatabaseIsKept(name: String, content: String, message: String) throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/good.json", Array(EnrichmentFixtures.kev.utf8))
            _ = try VulnerabilityDatabase.importFeeds(try FeedParser.load(dir + "/good.json"), into: dir + "/v.sqlite")
            let before = try HostFS.readFile(dir + "/v.sqlite")
            try HostFS.writeFileAtomically(dir + "/" + name, Array(content.utf8))
            let error = #expect(throws: HardenError.self) {
                _ = try VulnerabilityDatabase.importFeeds(
                    try FeedParser.load(dir + "/" + name), into: dir + "/v.sqlite")
            }
            let text = error?.message ?? ""
            #expect(text.hasPrefix(dir + "/" + name) && text.contains(message) && !text.contains("\n"), "\(text)")
            #expect(try HostFS.readFile(dir + "/v.sqlite") == before)
        }
    }

    /// CVSS v3.1 §5 qualitative ratings: 0.0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical (v4.0 the
    /// same); v2 (NVD): 0–3.9 low, 4.0–6.9 medium, 7.0–10.0 high.
    @Test(arguments: [
        (0.0, Severity.negligible), (0.1, .low), (3.9, .low), (4.0, .medium), (6.9, .medium), (7.0, .high),
        (8.9, .high), (9.0, .critical),
        (10.0, .critical),
    ])
    func cvssBandsAtTheirEdges(score: Double, expected: Severity) {
        #expect(Severity(cvssScore: score) == expected)
    }

    @Test(arguments: [(3.9, Severity.low), (4.0, .medium), (6.9, .medium), (7.0, .high), (10.0, .high)])
    func cvss2BandsAtTheirEdges(score: Double, expected: Severity) {
        #expect(Severity(cvss2Score: score) == expected)
    }

    @Test func theVendorsRatingComesBeforeNVDs() {
        let nvd = SeverityRating(
            source: "nvd", type: "CVSS_V3", vector: EnrichmentFixtures.critical31, score: 9.8, severity: .critical)
        let debianLow = SeverityRating(source: "debian", type: "urgency", vector: "low", score: nil, severity: .low)
        let debianUnknown = SeverityRating(
            source: "debian", type: "urgency", vector: "not yet assigned", score: nil, severity: .unknown)
        #expect(Matcher.primarySeverity([nvd, debianLow]) == (.low, "debian"))
        #expect(
            Matcher.primarySeverity([nvd, debianUnknown]) == (.critical, "nvd"),
            "an unassigned urgency falls back to NVD")
        #expect(Matcher.primarySeverity([debianUnknown]) == (.unknown, nil))
        let cna = SeverityRating(
            source: "cna:x", type: "CVSS_V3", vector: EnrichmentFixtures.high31, score: 8.8, severity: .high)
        #expect(Matcher.primarySeverity([cna, nvd]) == (.critical, "nvd"))
        #expect(Matcher.primarySeverity([cna]) == (.high, "cna:x"))
    }

    @Test func theGateCountsUnknownSeveritiesAsItIsTold() {
        func finding(_ id: String, _ s: Severity, kev: Bool = false, epss: Double? = nil) -> Finding {
            var f = Finding(
                id: id, ids: [id],
                package: .init(
                    ref: "p", type: "deb", name: "p", version: "1", purl: "pkg:deb/debian/p@1", layer: nil,
                    locations: []),
                matchedOn: "", fixState: .fixed, fixedVersions: ["2"], severity: s, ratings: [], summary: nil,
                sources: [], suppressed: nil)
            if kev {
                f.kev = KEVEntry(
                    cve: id, dateAdded: "2024-01-01", dueDate: nil, knownRansomwareCampaignUse: nil, name: nil)
            }
            f.epss = epss.map { EPSSScore(score: $0, percentile: 0.5, date: nil) }
            return f
        }
        let findings = [
            finding("CVE-1", .unknown), finding("CVE-2", .high), finding("CVE-3", .low, kev: true, epss: 0.7),
        ]
        #expect(VulnerabilityGate(failOn: .critical).evaluate(findings).failures.isEmpty)
        #expect(VulnerabilityGate(failOn: .critical).evaluate(findings).unknownNotGated == 1)
        #expect(
            VulnerabilityGate(failOn: .critical, unknown: .fail).evaluate(findings).failures.map(\.finding.id) == [
                "CVE-1"
            ])
        #expect(VulnerabilityGate(failOn: .critical, unknown: .ignore).evaluate(findings).unknownNotGated == 0)
        #expect(
            VulnerabilityGate(failOn: .unknown).evaluate(findings).failures.count == 3,
            "--fail-on unknown fails on any finding")
        #expect(VulnerabilityGate(failOn: .high).evaluate(findings).failures.map(\.finding.id) == ["CVE-2"])
        #expect(VulnerabilityGate(knownExploited: true).evaluate(findings).failures.map(\.finding.id) == ["CVE-3"])
        #expect(VulnerabilityGate(maxEPSS: 0.5).evaluate(findings).failures.map(\.finding.id) == ["CVE-3"])
        #expect(VulnerabilityGate(maxEPSS: 0.8).evaluate(findings).failures.isEmpty)
    }
}

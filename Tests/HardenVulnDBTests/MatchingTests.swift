// harden — feeds, version comparators and matching on fixtures built in code.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

@Suite struct ComparatorVectorTests {
    @Test(arguments: [
        ("0.1.0_alpha", "0.1.3_alpha", -1), ("1.1", "1.1_alpha1", 1), ("1.2", "1.3_alpha", -1),
        ("2.3.0b-r1", "2.3.0b-r2", -1),
        ("3.1_p16", "3.1_p17", -1), ("1.0.4-r3", "1.0.4-r4", -1), ("1.0", "1.0.1", -1), ("1.0", "1.0-r1", -1),
        ("1.0", "1.0_p1", -1),
        ("1.0_rc1", "1.0", -1), ("1.0-r1", "1.0.1", -1), ("1.0a", "1.0.1", -1), ("1.07", "1.19", -1),
        ("1.01", "1.1", -1),
        ("1.2.3", "1.2.3", 0),
    ])
    func apk(a: String, b: String, expected: Int) {
        #expect(ApkVersion().compare(a, b) == expected)
        #expect(ApkVersion().compare(b, a) == -expected)
    }

    @Test(arguments: [
        ("1.0", "1_0", 0), ("1.0a", "1.0", 1), ("1.0.1", "1.0", 1), ("1.0.1", "1.0.a", 1), ("1.0~rc1", "1.0", -1),
        ("1.0^git1", "1.0", 1),
        ("1.0^git1", "1.0.1", -1), ("1:1.0-1", "2.0-1", 1), ("2.0-1.el9", "2.0-2.el9", -1), ("010", "10", 0),
    ])
    func rpm(a: String, b: String, expected: Int) {
        #expect(RpmVersion().compare(a, b) == expected)
    }

    @Test(arguments: [
        ("1.0.0-alpha", "1.0.0-alpha.1", -1), ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
        ("1.0.0-beta.11", "1.0.0-rc.1", -1),
        ("1.0.0-rc.1", "1.0.0", -1), ("v1.2.3", "1.2.3", 0), ("1.2.3+build", "1.2.3", 0),
        ("2.0.0+incompatible", "1.9.9", 1),
    ])
    func semver(a: String, b: String, expected: Int) {
        #expect(SemanticVersion().compare(a, b) == expected)
    }

    @Test func osvRangeEvaluation() {
        let c = PEP440Version()
        func pkg(_ events: [RangeEvent], versions: [String] = []) -> AffectedPackage {
            AffectedPackage(
                ecosystem: "PyPI", release: nil, package: "x",
                ranges: [AffectedRange(type: "ECOSYSTEM", events: events)],
                versions: versions, fixState: .fixed, urgency: nil)
        }
        let intro0fixed2 = pkg([
            RangeEvent(introduced: "0", fixed: nil, lastAffected: nil, limit: nil),
            RangeEvent(introduced: nil, fixed: "2.0", lastAffected: nil, limit: nil),
        ])
        #expect(Matcher.isAffected("1.9", intro0fixed2, comparator: c))
        #expect(!Matcher.isAffected("2.0", intro0fixed2, comparator: c))
        // Two windows in one range: [1.0, 1.5) and [2.0, 2.3].
        let windows = pkg([
            RangeEvent(introduced: "2.0", fixed: nil, lastAffected: nil, limit: nil),
            RangeEvent(introduced: nil, fixed: nil, lastAffected: "2.3", limit: nil),
            RangeEvent(introduced: "1.0", fixed: nil, lastAffected: nil, limit: nil),
            RangeEvent(introduced: nil, fixed: "1.5", lastAffected: nil, limit: nil),
        ])
        #expect(!Matcher.isAffected("0.9", windows, comparator: c))
        #expect(Matcher.isAffected("1.2", windows, comparator: c))
        #expect(!Matcher.isAffected("1.7", windows, comparator: c))
        #expect(Matcher.isAffected("2.3", windows, comparator: c))
        #expect(!Matcher.isAffected("2.3.1", windows, comparator: c))
        let limited = pkg([
            RangeEvent(introduced: "0", fixed: nil, lastAffected: nil, limit: nil),
            RangeEvent(introduced: nil, fixed: nil, lastAffected: nil, limit: "3.0"),
        ])
        #expect(Matcher.isAffected("2.9", limited, comparator: c) && !Matcher.isAffected("3.0", limited, comparator: c))
        #expect(Matcher.isAffected("5.0", pkg([], versions: ["5.0"]), comparator: c))
    }

    @Test func cvssV3BaseScores() {
        #expect(CVSS.v3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8)
        #expect(CVSS.v3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H") == 7.5)
        #expect(CVSS.v3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N") == 6.1)
        #expect(CVSS.v3BaseScore("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N") == 1.8)
        #expect(CVSS.v3BaseScore("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H") == 9.9)
        #expect(CVSS.v3BaseScore("garbage") == nil)
    }
}

@Suite struct FeedImportTests {
    /// Small excerpts of the real feeds, kept in Tests/Fixtures/feeds: 12 PyPA advisories (rebuilt into the OSV
    /// zip the feed ships as) and the Alpine 3.11 main secdb's entries for four packages.
    @Test func pyPAAndAlpineFeedExcerptsImport() throws {
        try withTemporaryDirectory { dir in
            let fixtures = packageRoot + "/Tests/Fixtures/feeds"
            let sample =
                try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(fixtures + "/osv-PyPI-sample.json")))
                as! [String: Any]
            let entries = try sample.keys.sorted().map {
                ZipFixture.Entry(
                    $0, Array(try JSONSerialization.data(withJSONObject: sample[$0]!, options: [.sortedKeys])))
            }
            try HostFS.writeFileAtomically(dir + "/osv-PyPI-all.zip", try ZipFixture.build(entries))
            let feeds = [dir + "/osv-PyPI-all.zip", fixtures + "/alpine-secdb-v3.11-main.json"]
            let parsed = try feeds.flatMap { try FeedParser.load($0) }
            let summaries = try VulnerabilityDatabase.importFeeds(parsed, into: dir + "/v.sqlite")
            #expect(summaries.first { $0.format == "osv-zip" }?.advisories == 12)
            let db = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")
            #expect(try db.sources().count == 2)
            #expect(try db.affected(ecosystem: "PyPI", package: "jinja2").count >= 5)
            // Alpine "0" keys (not affected) are not imported; fixed versions are.
            let busybox = try db.affected(ecosystem: "alpine", package: "busybox")
            #expect(!busybox.isEmpty)
            #expect(busybox.allSatisfy { $0.package.release == "3.11" })
            // Re-importing a source replaces it instead of duplicating rows.
            let before = try db.count("affected")
            _ = try VulnerabilityDatabase.importFeeds(try FeedParser.load(feeds[1]), into: dir + "/v.sqlite")
            #expect(try VulnerabilityDatabase(readingAt: dir + "/v.sqlite").count("affected") == before)
        }
    }

    @Test func unknownFeedIsAOneLineErrorNamingTheFile() throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/feed.json", Array(#"{"hello": 1}"#.utf8))
            #expect { _ = try FeedParser.load(dir + "/feed.json") } throws: {
                guard let e = $0 as? HardenError else { return false }
                return e.message.hasPrefix(dir + "/feed.json") && !e.message.contains("\n")
            }
            try HostFS.writeFileAtomically(dir + "/broken.json", Array("{not json".utf8))
            #expect(throws: HardenError.self) { _ = try FeedParser.load(dir + "/broken.json") }
        }
    }
}

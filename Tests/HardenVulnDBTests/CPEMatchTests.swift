// harden — NVD CPE configurations for the runtimes found by their binaries: only the classifiers' vendor:product
// table is imported and matched (no CPE guessing), exact versions and ranges, and the upstream version order.
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

@Suite struct CPEMatchTests {
    static func match(_ criteria: String, _ extra: String = "", vulnerable: Bool = true) -> String {
        #"{"vulnerable": \#(vulnerable), "criteria": "\#(criteria)", "matchCriteriaId": "X"\#(extra)}"#
    }

    static func cve(_ id: String, _ matches: [String], score: Double = 9.8) -> String {
        let metric = EnrichmentFixtures.metric(
            "nvd@nist.gov", "Primary", version: "3.1", vector: EnrichmentFixtures.critical31, score: score)
        return #"""
            {"cve": {"id": "\#(id)", "published": "2024-01-02T03:04:05.000", "lastModified": "2024-03-01T10:00:00.000", "vulnStatus": "Analyzed",
              "metrics": {\#(metric)}, "configurations": [{"nodes": [{"operator": "OR", "negate": false, "cpeMatch": [\#(matches.joined(separator: ", "))]}]}]}}
            """#
    }

    static var feed: String {
        EnrichmentFixtures.nvd([
            // nginx: a range with an excluded end.
            cve(
                "CVE-2024-1001",
                [
                    match(
                        "cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*",
                        #", "versionStartIncluding": "1.25.0", "versionEndExcluding": "1.25.4""#)
                ]),
            // nginx: an included end below our version.
            cve(
                "CVE-2024-1002", [match("cpe:2.3:a:nginx:nginx:*:*:*:*:*:*:*:*", #", "versionEndIncluding": "1.20.2""#)]
            ),
            // openssl: an exact letter release, and a non-vulnerable platform beside it.
            cve(
                "CVE-2024-1003",
                [
                    match("cpe:2.3:a:openssl:openssl:1.1.1w:*:*:*:*:*:*:*"),
                    match("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", vulnerable: false),
                ]),
            // A product outside the table: never imported, whatever its name.
            cve(
                "CVE-2024-1004",
                [match("cpe:2.3:a:acme:nginx_helper:*:*:*:*:*:*:*:*", #", "versionEndExcluding": "9.9""#)]),
            // node: a range that ends before our version.
            cve(
                "CVE-2024-1005",
                [
                    match(
                        "cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*",
                        #", "versionStartIncluding": "20.0.0", "versionEndExcluding": "20.10.0""#)
                ]),
        ])
    }

    @Test func runtimesFoundByTheirBinariesMatchNVDConfigurations() throws {
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/nvdcve-2.0-2024.json", Array(Self.feed.utf8))
            let feeds = try FeedParser.load(dir + "/nvdcve-2.0-2024.json")
            #expect(
                feeds.first?.advisories.map(\.id) == [
                    "CVE-2024-1001", "CVE-2024-1002", "CVE-2024-1003", "CVE-2024-1005",
                ])
            _ = try VulnerabilityDatabase.importFeeds(feeds, into: dir + "/v.sqlite")
            let db = try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")

            func elf(_ s: String) -> [UInt8] {
                [0x7f] + Array("ELF".utf8) + [UInt8](repeating: 0, count: 2048) + [0] + Array(s.utf8) + [0]
                    + [UInt8](repeating: 0, count: 512)
            }
            func exe(_ path: String, _ s: String) -> FixtureEntry {
                var e = TarEntry(path: RawPath(path), type: .regular, mode: 0o755)
                e.mtime = 1
                return FixtureEntry(entry: e, body: elf(s))
            }
            try Fixtures.ociLayout(
                at: dir + "/img",
                images: [
                    (
                        tag: "t",
                        layers: [
                            try Fixtures.layer([
                                exe("usr/local/sbin/nginx", "nginx/1.25.3"),
                                exe("usr/local/lib/libcrypto.so.1.1", "OpenSSL 1.1.1w  11 Sep 2023"),
                                exe("usr/local/bin/node", "node.js/v20.10.0"),
                            ])
                        ], config: nil
                    )
                ])
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "t")), reference: "t")
            let findings = try Matcher(database: db).match(sbom)
            #expect(
                findings.map { "\($0.id) \($0.package.name)@\($0.package.version)" } == [
                    "CVE-2024-1001 nginx@1.25.3", "CVE-2024-1003 openssl@1.1.1w",
                ])
            let nginx = try #require(findings.first)
            #expect(nginx.fixedVersions == ["1.25.4"] && nginx.fixState == .fixed && nginx.severity == .critical)
            #expect(nginx.matchedOn.contains("f5:nginx"))
        }
    }

    @Test func upstreamVersionOrder() {
        let c = UpstreamVersion()
        let ascending = [
            "1.0.2", "1.0.2a", "1.0.2k", "1.1.0", "1.1.1", "1.1.1w", "3.0.2", "3.0.11", "3.12.0rc1", "3.12.0", "15.4",
            "17.0.8+7",
        ]
        for (a, b) in zip(ascending, ascending.dropFirst()) {
            #expect(c.compare(a, b) < 0, "\(a) < \(b)")
            #expect(c.compare(b, a) > 0, "\(b) > \(a)")
        }
        #expect(
            c.compare("1.25", "1.25.0") == 0 && c.compare("v2.0.1", "2.0.1") == 0
                && c.compare("17.0.8+7", "17.0.8") == 0)
        #expect(c.compare("3.0.0-beta1", "3.0.0") < 0 && c.compare("3.0.0", "3.0.0.1") < 0)
        #expect(
            c.compare("3.12.0a1", "3.12.0b1") < 0 && c.compare("3.12.0b1", "3.12.0") < 0
                && c.compare("1.0.2", "1.0.2a") < 0)
    }
}

// harden — the fleet's pure parts: URLs, token files, webhook rules, durations, the advisory fingerprints, shared
// matching against the plain matcher.
import Foundation
import HardenCore
import HardenFleet
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import NIOHTTP1
import PostgresNIO
import Testing

struct FleetUnitTests {
    @Test func postgresURLs() throws {
        let c = try PostgresURL.configuration("postgres://harden:s%40cret@db.example:6543/fleet?sslmode=require")
        #expect(
            c.host == "db.example" && c.port == 6543 && c.username == "harden" && c.password == "s@cret"
                && c.database == "fleet")
        let d = try PostgresURL.configuration("postgresql://u@localhost/harden?sslmode=disable")
        #expect(d.port == 5432 && d.password == nil && d.database == "harden")
        let s = try PostgresURL.configuration("postgres://u@/harden?host=/run/postgresql&port=5433")
        #expect(s.unixSocketPath == "/run/postgresql/.s.PGSQL.5433")
        for bad in ["mysql://x/y", "not a url", "postgres://u@h/db?sslmode=maybe"] {
            #expect(throws: HardenError.self) { try PostgresURL.configuration(bad) }
        }
        #expect(PostgresURL.redacted("postgres://u:pw@h/db") == "postgres://u:***@h/db")
    }

    @Test func tokenFiles() throws {
        let t = try TokenScope.parseTokenFile(
            "# tokens\nadmin 0123456789abcdef ops team\r\n\nread  fedcba9876543210\n", path: "tokens")
        #expect(t.map(\.scope) == [.admin, .read])
        #expect(t[0].name == "ops team" && t[1].token == "fedcba9876543210")
        #expect(TokenScope.read < .submit && .submit < .admin)
        for bad in ["root 0123456789abcdef", "admin short", "admin"] {
            #expect(throws: HardenError.self) { try TokenScope.parseTokenFile(bad, path: "tokens") }
        }
        #expect(FleetStore.hash(token: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func webhookRules() throws {
        let r = try WebhookRule(parsing: "critical,kev")
        #expect(r.matches(severity: .critical, kev: false))
        #expect(r.matches(severity: .low, kev: true))
        #expect(!r.matches(severity: .high, kev: false))
        #expect(r.description == "critical,kev")
        let high = try WebhookRule(parsing: "high")
        #expect(high.matches(severity: .critical, kev: false) && high.matches(severity: .high, kev: false))
        #expect(!high.matches(severity: .medium, kev: true))
        #expect(try WebhookRule(parsing: "any").matches(severity: .unknown, kev: false))
        for bad in ["", "severe", "high,sometimes"] {
            #expect(throws: HardenError.self) { try WebhookRule(parsing: bad) }
        }
    }

    @Test func durations() throws {
        #expect(try Duration.parse("30s", option: "--x") == .seconds(30))
        #expect(try Duration.parse("5m", option: "--x") == .seconds(300))
        #expect(try Duration.parse("6h", option: "--x") == .seconds(21600))
        #expect(try Duration.parse("1.5", option: "--x") == .milliseconds(1500))
        for bad in ["", "-1s", "soon", "5w"] {
            #expect(throws: HardenError.self) { try Duration.parse(bad, option: "--x") }
        }
    }

    /// Fingerprints change for exactly the keys whose advisories changed; the shared matcher gives the plain
    /// matcher's findings on a real image's packages.
    @Test func fingerprintsAndSharedMatching() throws {
        try withTemporaryDirectory { dir in
            func db(_ name: String, _ json: String) throws -> VulnerabilityDatabase {
                try HostFS.writeFileAtomically(dir + "/\(name).json", Array(json.utf8))
                _ = try VulnerabilityDatabase.importFeeds(
                    try FeedParser.load(dir + "/\(name).json"), into: dir + "/\(name).sqlite")
                return try VulnerabilityDatabase(readingAt: dir + "/\(name).sqlite")
            }
            let one = try db(
                "one",
                #"{"glibc": {"CVE-2099-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2.36-9+deb12u99", "urgency": "high"}}}}, "bash": {"CVE-2099-2": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}, "zlib": {"CVE-2099-3": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}}"#
            )
            let two = try db(
                "two",
                #"{"glibc": {"CVE-2099-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2.36-9+deb12u99", "urgency": "high"}}}}, "bash": {"CVE-2099-2": {"releases": {"bookworm": {"status": "open", "urgency": "medium"}}}}, "openssl": {"CVE-2099-4": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}}"#
            )
            let a = try AdvisoryFingerprints.compute(one)
            let b = try AdvisoryFingerprints.compute(two)
            let changed = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.map {
                $0.replacingOccurrences(of: "\u{1}", with: "/")
            }
            #expect(Set(changed) == ["debian/bash", "debian/zlib", "debian/openssl"])
            #expect(try AdvisoryFingerprints.compute(one) == a, "deterministic")
            // Shared matching = plain matching, packages repeated across "images".
            let os = OSInfo(id: "debian", versionID: "12", codename: "bookworm")
            func deb(_ id: String, _ name: String, _ source: String, _ version: String) throws -> SoftwarePackage {
                let json = """
                    {"id": "\(id)", "type": "deb", "name": "\(name)", "version": "\(version)", "sourceName": "\(source)",
                     "licenses": [], "purl": "pkg:deb/debian/\(name)@\(version)", "locations": [], "files": [], "foundBy": "test"}
                    """
                return try JSONDecoder().decode(SoftwarePackage.self, from: Data(json.utf8))
            }
            let images = [
                [try deb("a1", "libc6", "glibc", "2.36-9+deb12u4"), try deb("a2", "bash", "bash", "5.2.15-2+b2")],
                [
                    try deb("b1", "libc6", "glibc", "2.36-9+deb12u4"),
                    try deb("b2", "libc-bin", "glibc", "2.36-9+deb12u4"),
                ],
                [try deb("c1", "libc6", "glibc", "2.36-9+deb12u99"), try deb("c2", "bash", "bash", "5.2.15-2+b2")],
            ]
            let shared = SharedMatcher(database: two)
            for packages in images {
                let sbom = SBOM(
                    source: .init(reference: "", manifestDigest: "", configDigest: "", platform: ""), os: os,
                    packages: packages)
                let plain = try Matcher(database: two).match(sbom).map { "\($0.id) \($0.package.ref) \($0.severity)" }
                let reused = try shared.match(os: os, packages: packages).map {
                    "\($0.id) \($0.package.ref) \($0.severity)"
                }
                #expect(Set(plain) == Set(reused) && plain.count == reused.count)
            }
            #expect(shared.lookups == 4, "libc6 u4, bash, libc-bin u4, libc6 u99: each matched once")
        }
    }

    /// The answer cache holds at most its byte budget, whatever the number of distinct keys (2,000 long ids once
    /// grew it to ~320 MB), evicting the oldest answers first.
    @Test func theAnswerCacheIsBoundedByBytes() async {
        let cache = AnswerCache(maxBytes: 100_000)
        let body = String(repeating: "x", count: 1_000)
        for i in 0..<2_000 {
            await cache.put(String(repeating: "k", count: 200) + "\(i)", generation: 1, .text(.ok, body))
            #expect(await cache.heldBytes <= 100_000)
        }
        #expect(
            await cache.get(String(repeating: "k", count: 200) + "1999", generation: 1) != nil,
            "the newest answer is kept")
        #expect(
            await cache.get(String(repeating: "k", count: 200) + "0", generation: 1) == nil, "the oldest went first")
        // An answer larger than a quarter of the budget is not cached at all.
        await cache.put("big", generation: 1, .text(.ok, String(repeating: "y", count: 30_000)))
        #expect(await cache.get("big", generation: 1) == nil)
    }
}

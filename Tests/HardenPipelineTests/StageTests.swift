// harden — the pipeline's stages wired to real parts on fixtures built in code: an Alpine image, the Alpine
// secdb excerpt, the scan stage (matching, profile use, VEX, gate) and the rendering of its results.
import Foundation
import HardenCore
import HardenMinify
import HardenOCI
import HardenPackages
import HardenPipeline
import HardenProfile
import HardenReport
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

enum AlpineFixture {
    /// busybox 1.30.1-r1 (CVE-2019-5747 fixed in -r2) and zlib, in an Alpine 3.11 image.
    static let installed = """
        C:Q1aaa=
        P:busybox
        V:1.30.1-r1
        A:x86_64
        o:busybox
        F:bin
        R:busybox
        Z:Q1bbb=

        C:Q1ccc=
        P:zlib
        V:1.2.11-r3
        A:x86_64
        o:zlib
        F:lib
        R:libz.so.1
        Z:Q1ddd=

        """

    static func image(at dir: String) throws -> Image {
        let layer = try Fixtures.layer([
            .file("etc/os-release", "ID=alpine\nVERSION_ID=3.11.6\nPRETTY_NAME=\"Alpine Linux v3.11\"\n"),
            .file("lib/apk/db/installed", installed),
            .file("bin/busybox", "busybox"),
            .file("lib/libz.so.1", "zlib"),
        ])
        try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "t", layers: [layer], config: nil)])
        return try ImageLoader.open(.ociLayout(path: dir + "/img", tag: "t"))
    }

    static func database(at dir: String) throws -> VulnerabilityData {
        let feed = packageRoot + "/Tests/Fixtures/feeds/alpine-secdb-v3.11-main.json"
        _ = try VulnerabilityDatabase.importFeeds(try FeedParser.load(feed), into: dir + "/v.sqlite")
        return try VulnerabilityData(path: dir + "/v.sqlite")
    }

    /// A profile that saw busybox used and zlib not.
    static func profile(_ sbom: SBOM) -> RuntimeProfile {
        RuntimeProfile(
            image: .init(reference: "fixture", configDigest: "", manifestDigest: "", platform: "linux/amd64"), runs: [],
            files: [],
            executables: [], ports: [], uids: [], gids: [], syscalls: [],
            packages: RuntimeProfile.packageUse(sbom.packages, paths: ["/bin/busybox", "bin/busybox"]),
            summary: .init(files: 1, missingFiles: 0, executables: 0, packagesUsed: 1, packagesUnused: 1))
    }
}

@Suite struct ScanStageTests {
    @Test func findingsComeFromTheDatabaseAndCarryTheProfilesUse() throws {
        try withTemporaryDirectory { dir in
            let image = try AlpineFixture.image(at: dir)
            let sbom = try SBOMBuilder(cache: nil).build(image, reference: "fixture")
            #expect(Set(sbom.packages.map(\.name)) == ["busybox", "zlib"])
            var input = ScanStage.Input(sbom: sbom, data: try AlpineFixture.database(at: dir))
            input.profile = AlpineFixture.profile(sbom)
            let (report, matched) = try ScanStage.run(input)
            #expect(matched)
            let busybox = report.findings.filter { $0.package.name == "busybox" }
            #expect(busybox.map(\.id) == ["CVE-2019-5747"])
            #expect(busybox.first?.fixedVersions == ["1.30.1-r2"])
            #expect(busybox.allSatisfy { $0.packageUsed == true })
            #expect(report.findings.filter { $0.package.name == "zlib" }.allSatisfy { $0.packageUsed == false })
            #expect(report.gate == nil)
        }
    }

    @Test func aMissingDatabaseIsAWarningNotFindings() throws {
        try withTemporaryDirectory { dir in
            let sbom = try SBOMBuilder(cache: nil).build(try AlpineFixture.image(at: dir), reference: "fixture")
            let (report, matched) = try ScanStage.run(
                .init(sbom: sbom, data: try VulnerabilityData(path: dir + "/none.sqlite")))
            #expect(!matched)
            #expect(report.findings.isEmpty)
            #expect(report.warnings.count == 1 && report.warnings[0].contains("none.sqlite"))
            #expect(throws: HardenError.self) { _ = try VulnerabilityData(path: dir + "/none.sqlite", required: true) }
        }
    }

    @Test func aVEXStatementSuppressesAndTheGateCountsTheRest() throws {
        try withTemporaryDirectory { dir in
            let sbom = try SBOMBuilder(cache: nil).build(try AlpineFixture.image(at: dir), reference: "fixture")
            var input = ScanStage.Input(sbom: sbom, data: try AlpineFixture.database(at: dir))
            input.gate.failOn = .negligible
            let unsuppressed = try ScanStage.run(input).report
            let counted = unsuppressed.findings.filter { $0.severity != .unknown }.count
            #expect(unsuppressed.gate?.reached == counted)
            let vex = """
                {"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example/vex/1","author":"test","timestamp":"2026-01-01T00:00:00Z",
                 "version":1,"statements":[{"vulnerability":{"name":"CVE-2019-5747"},"products":[{"@id":"pkg:apk/alpine/busybox@1.30.1-r1?arch=x86_64&distro=alpine-3.11.6"}],
                 "status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}
                """
            try HostFS.writeFileAtomically(dir + "/vex.json", Array(vex.utf8))
            input.vex = try VEXDocument.load(dir + "/vex.json")
            let report = try ScanStage.run(input).report
            let cve = try #require(report.findings.first { $0.id == "CVE-2019-5747" })
            #expect(cve.suppressed != nil, "\(report.warnings)")
            #expect(report.summary.values.reduce(0, +) == report.findings.filter { $0.suppressed == nil }.count)
        }
    }

    @Test func verificationFailuresAreOneLineEach() {
        #expect(MinifyStage.verificationFailures(.init(ran: true, passed: true)).isEmpty)
        let v = MinifyReport.Verification(
            ran: true, passed: false, probes: [.init(probe: "http 80", before: "200", after: "502", same: false)],
            missingFiles: ["/etc/app.conf"], error: "the container exited with 1")
        let lines = MinifyStage.verificationFailures(v)
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.hasPrefix("verification: ") && !$0.contains("\n") })
        #expect(lines[0].contains("502") && lines[1].contains("--include /etc/app.conf"))
    }
}

@Suite struct ReportRenderingTests {
    func scanned(_ dir: String) throws -> (SBOM, ScanReport) {
        let sbom = try SBOMBuilder(cache: nil).build(try AlpineFixture.image(at: dir), reference: "fixture")
        var input = ScanStage.Input(sbom: sbom, data: try AlpineFixture.database(at: dir))
        input.gate.failOn = .high
        return (sbom, try ScanStage.run(input).report)
    }

    @Test func theTableListsEachFindingWithItsFix() throws {
        try withTemporaryDirectory { dir in
            let (_, report) = try scanned(dir)
            let table = ScanRendering.table(report)
            let row = try #require(table.split(separator: "\n").first { $0.contains("CVE-2019-5747") })
            #expect(row.contains("busybox") && row.contains("1.30.1-r1") && row.contains("1.30.1-r2"))
        }
    }

    @Test func sarifIsValidJSONWithOneResultPerFinding() throws {
        try withTemporaryDirectory { dir in
            let (_, report) = try scanned(dir)
            let sarif = try ScanRendering.sarif(report)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(sarif.utf8)) as? [String: Any])
            #expect(json["version"] as? String == "2.1.0")
            let runs = try #require(json["runs"] as? [[String: Any]])
            let results = try #require(runs.first?["results"] as? [[String: Any]])
            #expect(results.count == report.findings.count)
            #expect(results.contains { $0["ruleId"] as? String == "CVE-2019-5747" })
        }
    }

    @Test func theHTMLReportEscapesWhatTheImageControls() throws {
        try withTemporaryDirectory { dir in
            let (_, report) = try scanned(dir)
            let side = RunRecord.ImageSide(
                reference: "evil<script>alert(1)</script>", manifestDigest: "sha256:1", configDigest: "sha256:2",
                contentBytes: 10,
                files: 2, packages: 2, layers: 1, user: "\"><img src=x>")
            var record = RunRecord(startedAt: "2026-11-30T00:00:00Z", input: side)
            record.output = side
            record.vulnerabilities = RunRecord.Vulnerabilities(before: report.findings, after: [])
            // Grapheme clusters that hold '<' or '>' (an Arabic number sign before, a combining accent after): one
            // Character each, so an escaper comparing Characters let them through whole (issue 30).
            record.failures = [
                "policy: [max_critical] <b>too many</b>", "x\u{0600}<img src=x onerror=alert(1)>\u{0301}",
                ">\u{0301}<script>alert(2)</script>",
            ]
            record.verdict = .failed
            let html = HTMLReport.render(record)
            #expect(!html.contains("<script>alert(1)</script>"))
            #expect(!html.contains("<img src=x>"))
            #expect(!html.contains("<b>too many</b>"))
            #expect(
                !html.contains("<img") && !html.contains("<script>alert(2)"),
                "a grapheme cluster carried markup through")
            #expect(html.contains("&lt;script&gt;"))
            #expect(html.contains("CVE-2019-5747"))
        }
    }
}

/// `run --sort-by`: the report's vulnerabilities in the chosen order (risk: the score, a known-exploited low first;
/// package: by name), the order named in the record, and the HTML report's risk column.
@Suite struct RunReportOrderTests {
    static func finding(_ id: String, _ package: String, _ severity: Severity, kev: Bool = false) -> Finding {
        var f = Finding(
            id: id, ids: [id],
            package: .init(ref: package, type: "deb", name: package, version: "1", purl: "", layer: nil, locations: []),
            matchedOn: "", fixState: .fixed, fixedVersions: [], severity: severity, ratings: [], summary: nil,
            sources: [], suppressed: nil)
        if kev {
            f.kev = KEVEntry(cve: id, dateAdded: "2026-01-01", dueDate: nil, knownRansomwareCampaignUse: nil, name: nil)
        }
        return f
    }

    @Test func theReportFollowsTheChosenOrder() {
        let before = [
            Self.finding("CVE-1", "zlib", .critical), Self.finding("CVE-2", "bash", .low, kev: true),
            Self.finding("CVE-3", "apt", .medium),
        ]
        let bySeverity = RunRecord.Vulnerabilities(before: before, after: [])
        #expect(bySeverity.removed.map(\.id) == ["CVE-2", "CVE-1", "CVE-3"] && bySeverity.order == nil)
        let byPackage = RunRecord.Vulnerabilities(before: before, after: [], order: .package)
        #expect(byPackage.removed.map(\.package) == ["apt", "bash", "zlib"] && byPackage.order == "package")
        let byRisk = RunRecord.Vulnerabilities(before: before, after: Array(before.prefix(1)), order: .risk)
        #expect(byRisk.removed.map(\.id) == ["CVE-2", "CVE-3"] && byRisk.remaining.map(\.id) == ["CVE-1"])
        #expect(byRisk.removed.first?.risk == 102.0, "KEV: 100 + the low band midpoint")
        var record = RunRecord(
            startedAt: "2026-12-07T00:00:00Z",
            input: .init(
                reference: "img", manifestDigest: "sha256:1", configDigest: "sha256:2", contentBytes: 1, files: 1,
                packages: 1, layers: 1, user: nil))
        record.vulnerabilities = byRisk
        let html = HTMLReport.render(record)
        #expect(html.contains("<th>Risk</th>") && html.contains("<td>102.0</td>"), "\(html.count)")
    }
}

/// Stage names are a closed set: their raw values are report.json's contract, and the terminal's [N/M] counts the
/// patch stage when a run patches (it used to show as [1/6] of six).
@Suite struct StageNameTests {
    @Test func namesAndTheStagesARunShows() {
        #expect(
            StageName.allCases.map(\.rawValue) == [
                "patch", "sbom-before", "scan-before", "profile", "minify", "scan-after", "check", "policy",
            ])
        #expect(StageName.shown(patching: false) == [.sbomBefore, .scanBefore, .profile, .minify, .scanAfter, .check])
        let patching = StageName.shown(patching: true)
        #expect(patching.count == 7 && patching.first == .patch && !patching.contains(.policy))
    }
}

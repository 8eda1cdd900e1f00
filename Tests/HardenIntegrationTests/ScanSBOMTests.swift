// harden — `harden scan sbom:FILE`: an image's SBOM in harden JSON, CycloneDX and SPDX (written by harden, and by
// syft) gives the findings the image gives, without the image.
import Foundation
import HardenCore
import HardenOCI
import HardenPackages
import HardenSBOM
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct ScanSBOMTests {
    /// A database with the Debian tracker fixture (glibc, libcap2, bash … of the base image) and PyPA's advisories.
    static func database(_ dir: String) throws -> VulnerabilityDatabase {
        try HostFS.writeFileAtomically(dir + "/tracker.json", Array(VulnScanTests.trackerFixture.utf8))
        _ = try VulnerabilityDatabase.importFeeds(
            try FeedParser.load(dir + "/tracker.json") + FeedParser.load(SharedFeeds.directory + "/osv-PyPI-all.zip"),
            into: dir + "/v.sqlite")
        return try VulnerabilityDatabase(readingAt: dir + "/v.sqlite")
    }

    static func keys(_ findings: [Finding], where keep: (Finding) -> Bool = { _ in true }) -> Set<String> {
        Set(
            findings.filter(keep).map {
                "\($0.id) \($0.package.type) \($0.package.type == "python" ? PURL.pep503($0.package.name) : $0.package.name) \($0.package.version)"
            })
    }

    @Test func hardensOwnSBOMsInEveryFormatGiveTheImagesFindings() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try withTemporaryDirectory { dir in
            let db = try Self.database(dir)
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "pyapp")), reference: "pyapp")
            let expected = Self.keys(try Matcher(database: db).match(sbom))
            #expect(expected.count >= 15, "\(expected.count) findings")
            for format in [SBOMFormat.json, .cyclonedxJSON, .spdxJSON] {
                let text = try SBOMEncoder.render(sbom, format: format)
                let read = try SBOMDocument.parse(Array(text.utf8), path: "sbom.\(format.rawValue)")
                let got = Self.keys(try Matcher(database: db).match(read))
                #expect(
                    got == expected,
                    "\(format.rawValue): missing \(expected.subtracting(got).sorted()), extra \(got.subtracting(expected).sorted())"
                )
            }
        }
    }

    @Test(arguments: ["cyclonedx-json", "spdx-json"])
    func syftsSBOMGivesTheImagesFindings(format: String) throws {
        try TestImages.require()
        try SharedFeeds.require()
        try TestImages.requireTools("syft")
        try withTemporaryDirectory { dir in
            let db = try Self.database(dir)
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "pyapp")), reference: "pyapp")
            let image = try Matcher(database: db).match(sbom)
            let (status, out) = try runProcess(
                [
                    "syft", "-q", "oci-archive:\(TestImages.directory)/pyapp.oci.tar", "-o",
                    "\(format)=\(dir)/syft.json",
                ],
                environment: ["SYFT_CHECK_FOR_APP_UPDATE": "false"])
            try #require(status == 0, "syft: \(out)")
            let read = try SBOMDocument.parse(
                try HostFS.readFile(dir + "/syft.json", limit: 1 << 28), path: "syft.json")
            #expect(read.os?.codename == "bookworm")
            let fromSyft = try Matcher(database: db).match(read)
            // Debian packages: matched through the source package and release syft's purls carry — the same findings.
            let deb = Self.keys(image) { $0.package.type == "deb" }
            #expect(!deb.isEmpty)
            #expect(Self.keys(fromSyft) { $0.package.type == "deb" } == deb)
            // pip-installed packages: the same findings (syft does not say which Python packages Debian owns, so
            // Debian's own pip/setuptools may add findings harden's image scan does not make).
            let pip = Self.keys(image) { $0.package.type == "python" }
            #expect(!pip.isEmpty && pip.isSubset(of: Self.keys(fromSyft) { $0.package.type == "python" }))
        }
    }

    @Test func theCommandScansAnSBOMFileAndRefusesOneItCannotMatch() throws {
        try TestImages.require()
        try SharedFeeds.require()
        try withTemporaryDirectory { dir in
            _ = try Self.database(dir)
            let sbom = try SBOMBuilder(cache: nil).build(
                try ImageLoader.open(.ociLayout(path: TestImages.layout, tag: "base")), reference: "base")
            try HostFS.writeFileAtomically(
                dir + "/bom.json", Array(try SBOMEncoder.render(sbom, format: .cyclonedxJSON).utf8))
            let env = ["HARDEN_DB": dir + "/v.sqlite"]
            let ok = try runProcess(
                [
                    hardenBinary, "scan", "sbom:\(dir)/bom.json", "--db", dir + "/v.sqlite", "--format", "json", "-o",
                    dir + "/scan.json",
                ],
                environment: env)
            #expect(ok.status == 0, "\(ok.output)")
            let report = String(decoding: try HostFS.readFile(dir + "/scan.json"), as: UTF8.self)
            #expect(report.contains("CVE-2099-0001"))
            let gate = try runProcess(
                [hardenBinary, "scan", "sbom:\(dir)/bom.json", "--db", dir + "/v.sqlite", "--fail-on", "high"],
                environment: env)
            #expect(gate.status == 2, "\(gate.output)")
            try HostFS.writeFileAtomically(
                dir + "/nopurl.json",
                Array(#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "x"}]}"#.utf8))
            let bad = try runProcess(
                [hardenBinary, "scan", "sbom:\(dir)/nopurl.json", "--db", dir + "/v.sqlite"], environment: env)
            #expect(
                bad.status == 1 && bad.output.contains("\(dir)/nopurl.json: no package has a purl"), "\(bad.output)")
        }
    }
}

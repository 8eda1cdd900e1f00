// harden — end of life end to end: a Debian 10 (buster) image flagged from this machine's distro-info-data (and from the
// CSV imported into the database), the real Debian 12 test image still supported, an Alpine release from an imported
// endoflife.date directory, `--fail-on-eol` exit 2, the JSON field, and the policy's `eol: fail`.
import Foundation
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

@Suite(.enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct EOLScanTests {
    static func osImage(_ dir: String, _ osRelease: String) throws -> String {
        try Fixtures.ociLayout(
            at: dir,
            images: [(tag: "t", layers: [try Fixtures.layer([.file("etc/os-release", osRelease)])], config: nil)])
        return "oci:\(dir):t"
    }

    @Test func anImagePastItsEndOfLifeIsFlaggedAndGated() throws {
        try TestImages.require()
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let db = dir + "/v.sqlite"
            try HostFS.writeFileAtomically(
                dir + "/tracker.json",
                Array(
                    #"{"zlib": {"CVE-2099-1": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}}"#.utf8)
            )
            var (s, o) = try runProcess([hardenBinary, "db", "import", dir + "/tracker.json", "--db", db])
            try #require(s == 0, "\(o)")
            let buster = try Self.osImage(
                dir + "/buster",
                "PRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\nID=debian\nVERSION_ID=\"10\"\nVERSION_CODENAME=buster\n")
            (s, o) = try runProcess([hardenBinary, "scan", buster, "--db", db, "--fail-on-eol"])
            #expect(s == 2, "\(o)")
            #expect(
                o.contains("debian 10 (buster) reached its end of life on 2024-06-30 (distro-info-data)"), "\(o)")
            (s, o) = try runProcess([hardenBinary, "scan", buster, "--db", db, "--format", "json"])
            #expect(s == 0, "without --fail-on-eol the end of life is reported, not gated: \(o)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(o.utf8)) as? [String: Any])
            let eol = (report["eol"] as? [[String: Any]])?.first
            #expect(eol?["state"] as? String == "ended" && eol?["eol"] as? String == "2024-06-30", "\(report)")
            #expect(eol?["product"] as? String == "debian" && eol?["cycle"] as? String == "10")
            // The real Debian 12 test image is in LTS until 2028: not flagged.
            (s, o) = try runProcess([
                hardenBinary, "scan", "oci:\(TestImages.layout):base", "--db", db, "--fail-on-eol",
            ])
            #expect(s == 0 && !o.contains("end of life"), "\(o)")
            // The policy's eol: fail, in `check`.
            try HostFS.writeFileAtomically(dir + "/policy.yaml", Array("eol: fail\n".utf8))
            (s, o) = try runProcess([hardenBinary, "check", buster, "--db", db, "--policy", dir + "/policy.yaml"])
            #expect(s == 2 && o.contains("[eol]") && o.contains("debian 10 (buster)"), "\(o)")
            // The CSV imported into the database is the source from then on.
            (s, o) = try runProcess([hardenBinary, "db", "import", "/usr/share/distro-info/debian.csv", "--db", db])
            try #require(s == 0, "\(o)")
            (s, o) = try runProcess([hardenBinary, "scan", buster, "--db", db, "--fail-on-eol"])
            #expect(s == 2 && o.contains("on 2024-06-30 (distro-info:debian)"), "\(o)")
        }
    }

    @Test func endOfLifeFilesImportedFromADirectory() throws {
        try #require(HostFS.exists(hardenBinary), "build harden first (swift build)")
        try withTemporaryDirectory { dir in
            let db = dir + "/v.sqlite"
            try HostFS.makeDirectories(dir + "/eol")
            let alpine = #"""
                [{"cycle": "3.20", "releaseDate": "2024-05-22", "eol": "2026-04-01"},
                 {"cycle": "3.23", "releaseDate": "2025-12-03", "eol": "2027-11-01"}]
                """#
            try HostFS.writeFileAtomically(dir + "/eol/alpine.json", Array(alpine.utf8))
            var (s, o) = try runProcess([hardenBinary, "db", "import", "eol:\(dir)/eol", "--db", db])
            try #require(s == 0, "\(o)")
            let old = try Self.osImage(dir + "/a320", "ID=alpine\nVERSION_ID=3.20.3\n")
            (s, o) = try runProcess([hardenBinary, "scan", old, "--db", db, "--fail-on-eol"])
            #expect(s == 2 && o.contains("alpine 3.20.3 reached its end of life on 2026-04-01 (eol:"), "\(o)")
            let current = try Self.osImage(dir + "/a323", "ID=alpine\nVERSION_ID=3.23.0\n")
            (s, o) = try runProcess([hardenBinary, "scan", current, "--db", db, "--fail-on-eol"])
            #expect(s == 0, "\(o)")
            let unknown = try Self.osImage(dir + "/a399", "ID=alpine\nVERSION_ID=3.99.0\n")
            (s, o) = try runProcess([hardenBinary, "scan", unknown, "--db", db, "--fail-on-eol"])
            #expect(s == 0 && o.contains("no end-of-life data for alpine 3.99.0"), "\(o)")
            // A broken product file is one line naming it.
            try HostFS.writeFileAtomically(dir + "/eol/python.json", Array(#"{"cycle": "3.8"}"#.utf8))
            (s, o) = try runProcess([hardenBinary, "db", "import", "eol:\(dir)/eol", "--db", db])
            #expect(s == 1 && o.contains("python.json") && o.split(separator: "\n").count == 1, "\(o)")
        }
    }
}

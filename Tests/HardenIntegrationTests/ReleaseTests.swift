// harden — what a release says about itself: --version (version, the commit stamped by scripts/stamp-version.sh, the
// database schema), help and completion scripts on standard output.
import Foundation
import HardenPackages
import HardenSystem
import HardenTestSupport
import HardenVulnDB
import Testing

@Suite(.enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct ReleaseTests {
    @Test func versionNamesTheCommitAndTheDatabaseSchema() throws {
        try withTemporaryDirectory { dir in
            let bin = dir + "/harden"
            var (s, o) = try runProcess(["cp", hardenBinary, bin])
            try #require(s == 0, "\(o)")
            (s, o) = try runProcess([
                packageRoot + "/scripts/stamp-version.sh", bin, "0123456789abcdef0123456789abcdef01234567",
            ])
            try #require(s == 0, "\(o)")
            (s, o) = try runProcess([bin, "--version"])
            #expect(s == 0)
            #expect(o.contains("harden 0.1.0"), "\(o)")
            #expect(o.contains("commit: 0123456789abcdef0123456789abcdef01234567"), "\(o)")
            #expect(o.contains("vulnerability database schema: \(VulnerabilityDatabase.schemaVersion)"), "\(o)")
            // Stamping twice replaces the commit; a binary without the marker is refused.
            (s, o) = try runProcess([packageRoot + "/scripts/stamp-version.sh", bin, "feedface"])
            (s, o) = try runProcess([bin, "--version"])
            #expect(o.contains("commit: feedface\n"), "\(o)")
            try HostFS.writeFileAtomically(dir + "/other", Array("not harden".utf8))
            (s, o) = try runProcess([packageRoot + "/scripts/stamp-version.sh", dir + "/other", "x"])
            #expect(s != 0 && o.contains("marker is missing"), "\(o)")
        }
    }

    @Test func helpAndCompletionsGoToStandardOutput() throws {
        var (s, o) = try runProcess(["sh", "-c", "\"$0\" --help 2>/dev/null | head -1", hardenBinary])
        #expect(s == 0 && o.hasPrefix("OVERVIEW:"), "\(o)")
        (s, o) = try runProcess([
            "bash", "-c", ". <(\"$0\" --generate-completion-script bash 2>/dev/null) && complete -p harden",
            hardenBinary,
        ])
        #expect(s == 0 && o.contains("harden"), "\(o)")
    }
}

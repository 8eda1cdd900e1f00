// harden — `harden run` (the whole pipeline) on the real test images, its report directory checked by independent
// validators and report.html rendered in headless Chromium; `harden check` and the policy gate from the command line.
import Foundation
import HardenArchive
import HardenCore
import HardenOCI
import HardenSystem
import HardenTestSupport
import Testing

enum PipelineFixtures {
    /// A vulnerability database with the real PyPA feed, made once per test run.
    static let database: String = {
        // When the directory cannot be made, requireDatabase() says the import failed.
        guard let dir = try? HostFS.makeTemporaryDirectory(prefix: "harden-run-db") else {
            return "/nonexistent/v.sqlite"
        }
        _ = try? runProcess([
            hardenBinary, "db", "import", "--db", dir + "/v.sqlite", SharedFeeds.directory + "/osv-PyPI-all.zip",
        ])
        return dir + "/v.sqlite"
    }()

    static func requireDatabase() throws {
        try SharedFeeds.require()
        try #require(HostFS.exists(database), "importing the PyPA feed failed")
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try HostFS.readFile(path, limit: 256 << 20))) as? [String: Any]
            ?? [:]
    }
}

@Suite(
    .serialized,
    .enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct RunTests {
    static let probes = ["nginx": ["--http-probe", "80:GET:/"], "flask": ["--http-probe", "5000:GET:/"], "pyapp": []]

    @Test(arguments: ["nginx", "flask", "pyapp"])
    func theWholePipelineProducesAVerifiedImageAndAReportPeopleCanRead(tag: String) throws {
        try RuntimeTests.require()
        try PipelineFixtures.requireDatabase()
        try TestImages.requireTools("chromium", "skopeo")
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(
                dir + "/policy.yaml",
                Array(
                    """
                    vulnerabilities:
                      fail_on: critical
                    packages:
                      banned: [telnet, netcat-openbsd]
                    checks:
                      fail_on: fatal
                      ignore: [CIS-DI-0006\(tag == "pyapp" ? ", CIS-DI-0004" : "")]
                    """.utf8))
            // (pyapp's app imports the old requests/urllib3 it was built with: this policy accepts them.)
            let report = dir + "/report"
            let (s, o) = try RuntimeTests.harden(
                ["run", "oci:\(TestImages.layout):\(tag)"] + Self.probes[tag]! + [
                    "-o", "oci:\(dir)/out:hardened", "--policy", dir + "/policy.yaml", "--db",
                    PipelineFixtures.database, "--report-dir",
                    report,
                ], runDir: dir + "/run")
            try #require(s == 0, "\(o)")
            #expect(o.contains("verdict: PASSED"), "\(o)")
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)

            // Every report file, and report.json lists each with its digest.
            let files = [
                "report.json", "report.html", "sbom-before.cdx.json", "sbom-after.cdx.json", "scan-before.sarif",
                "scan-after.sarif",
                "seccomp.json", "k8s-security-context.yaml", "profile.json",
            ]
            for f in files { #expect(HostFS.isRegularFile(report + "/" + f), "\(f) missing") }
            let record = try PipelineFixtures.json(report + "/report.json")
            let artifacts = record["artifacts"] as? [[String: Any]] ?? []
            // The remediation's OpenVEX when the input had vulnerabilities (pyapp's pip packages do).
            let vex = HostFS.isRegularFile(report + "/vex.openvex.json")
            if tag == "pyapp" {
                #expect(vex, "pyapp has known vulnerabilities: its run must leave VEX")
                let (vs, vo) = try runProcess([
                    "python3", packageRoot + "/scripts/validate.py", "openvex", report + "/vex.openvex.json",
                ])
                #expect(vs == 0, "\(vo)")
            }
            #expect(
                Set(artifacts.compactMap { $0["file"] as? String })
                    == Set(files).subtracting(["report.json", "report.html"]).union(vex ? ["vex.openvex.json"] : []))
            for a in artifacts {
                let name = a["file"] as? String ?? ""
                #expect(
                    Digest.sha256(of: try HostFS.readFile(report + "/" + name, limit: 256 << 20)).encoded == a["sha256"]
                        as? String,
                    "\(name) digest")
            }
            #expect(record["verdict"] as? String == "passed")
            let minify = record["minify"] as? [String: Any] ?? [:]
            let verification = minify["verification"] as? [String: Any] ?? [:]
            #expect(verification["ran"] as? Bool == true && verification["passed"] as? Bool == true)
            let stages = (record["stages"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(stages == ["sbom-before", "scan-before", "profile", "minify", "scan-after", "check", "policy"])
            let input = record["input"] as? [String: Any] ?? [:], output = record["output"] as? [String: Any] ?? [:]
            #expect((output["contentBytes"] as? Int ?? .max) < (input["contentBytes"] as? Int ?? 0))
            #expect((record["database"] as? [String: Any])?["ageDays"] is Double)
            if tag == "pyapp" {
                let v = record["vulnerabilities"] as? [String: Any] ?? [:]
                #expect(
                    ((v["before"] as? [String: Int]) ?? [:]).values.reduce(0, +) > 0,
                    "pyapp's old pip packages carry advisories")
            }

            // The image was written and an independent reader accepts it; its digest is the one recorded.
            let (ss, so) = try runProcess(["skopeo", "inspect", "oci:\(dir)/out:hardened"])
            #expect(ss == 0, "\(so)")
            #expect(so.contains(output["manifestDigest"] as? String ?? "?"))

            // Independent validators.
            for f in ["scan-before.sarif", "scan-after.sarif"] {
                let (vs, vo) = try runProcess([
                    "python3", packageRoot + "/scripts/validate.py", "sarif", report + "/" + f,
                ])
                #expect(vs == 0, "\(f): \(vo)")
            }
            for f in ["sbom-before.cdx.json", "sbom-after.cdx.json"] {
                let (vs, vo) = try runProcess([
                    "python3", packageRoot + "/scripts/validate.py", "cyclonedx", report + "/" + f,
                ])
                #expect(vs == 0, "\(f): \(vo)")
            }

            // report.html as a person sees it: rendered by Chromium, its numbers equal report.json's, a real picture drawn.
            let chromium = [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            ]
            let (cs, co) = try runProcess(
                chromium + ["--window-size=1280,2000", "--screenshot=\(dir)/shot.png", "file://\(report)/report.html"])
            try #require(cs == 0 && HostFS.isRegularFile(dir + "/shot.png"), "chromium screenshot: \(co)")
            // The DOM after rendering, without Chromium's own chatter on stderr.
            let (ds, dso) = try runProcess([
                "sh", "-c",
                chromium.joined(separator: " ")
                    + " --dump-dom 'file://\(report)/report.html' 2>/dev/null >'\(dir)/dom.html'",
            ])
            try #require(
                ds == 0
                    && String(decoding: try HostFS.readFile(dir + "/dom.html"), as: UTF8.self).contains("data-metric"),
                "chromium --dump-dom: \(dso)")
            let (hs, ho) = try runProcess([
                "python3", packageRoot + "/Tests/Tools/report-html-check.py", report, dir + "/dom.html",
                dir + "/shot.png",
            ])
            #expect(hs == 0, "report.html: \(ho)")
        }
    }

    @Test func withoutAProbeTheRunSaysOnlyStartUpWasObserved() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            // --require-probes: refused before anything runs.
            let (r, ro) = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):nginx", "--require-probes", "-o", "oci:\(dir)/x:x", "--report-dir",
                    dir + "/r0",
                ],
                runDir: dir + "/run")
            #expect(
                r == 1 && ro.contains("no probe: only start-up was observed") && ro.contains("(--require-probes)"),
                "\(ro)")
            #expect(!HostFS.exists(dir + "/r0") && !HostFS.exists(dir + "/x"))
            let (p, po) = try RuntimeTests.harden(
                ["profile", "oci:\(TestImages.layout):base", "--require-probes", "-o", dir + "/p.json"],
                runDir: dir + "/run")
            #expect(p == 1 && po.contains("--require-probes") && !HostFS.exists(dir + "/p.json"), "\(po)")
            // Without it: a warning on the terminal, in report.json and, prominently, in report.html.
            let (s, o) = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):nginx", "--duration", "2", "-o", "oci:\(dir)/out:x",
                    "--report-dir", dir + "/report",
                ],
                runDir: dir + "/run")
            #expect(s == 0, "\(o)")
            #expect(o.contains("warning: no probe: only start-up was observed (2 s)"), "\(o)")
            let record = try PipelineFixtures.json(dir + "/report/report.json")
            let profile = record["profile"] as? [String: Any] ?? [:]
            #expect((profile["coverage"] as? String ?? "").hasPrefix("start-up only"), "\(profile)")
            #expect((profile["packagesTouched"] as? Double ?? 0) > 0)
            #expect(
                (record["warnings"] as? [String] ?? []).contains {
                    $0.hasPrefix("no probe: only start-up was observed")
                })
            let html = String(decoding: try HostFS.readFile(dir + "/report/report.html"), as: UTF8.self)
            #expect(
                html.contains("data-testid=\"coverage\">coverage: start-up only"),
                "coverage line missing from report.html")
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        }
    }

    @Test func aPolicyViolationExitsTwoNamesThePackageAndWritesNoImage() throws {
        try RuntimeTests.require()
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(
                dir + "/policy.yaml", Array("packages:\n  banned: [nginx*]\nimage:\n  require_non_root: true\n".utf8))
            let (s, o) = try RuntimeTests.harden(
                [
                    "run", "oci:\(TestImages.layout):nginx", "--http-probe", "80:GET:/", "-o", "oci:\(dir)/out:x",
                    "--policy", dir + "/policy.yaml", "--report-dir", dir + "/report",
                ], runDir: dir + "/run")
            #expect(s == 2, "\(o)")
            #expect(o.contains("policy: [packages.banned] package nginx"), "\(o)")
            #expect(o.contains("[image.require_non_root]"), "\(o)")
            #expect(!HostFS.exists(dir + "/out"), "an image that violates the policy must not be written")
            let record = try PipelineFixtures.json(dir + "/report/report.json")
            #expect(record["verdict"] as? String == "failed")
            let violations = (record["policy"] as? [String: Any])?["violations"] as? [[String: Any]] ?? []
            #expect(violations.contains { ($0["message"] as? String ?? "").contains("nginx") })
            #expect(HostFS.isRegularFile(dir + "/report/report.html"))
            #expect(try RuntimeTests.leftovers(runDir: dir + "/run").isEmpty)
        }
    }
}

@Suite(.enabled(if: Prerequisites.integration, "needs root, the test images and the tools of scripts/setup.sh"))
struct CheckCommandTests {
    @Test func aBannedPackageFailsTheCheckWithExitTwoAndAnInvalidPolicyNamesItsLine() throws {
        try TestImages.require()
        try withTemporaryDirectory { dir in
            try HostFS.writeFileAtomically(dir + "/ban.yaml", Array("packages:\n  banned: [bash]\n".utf8))
            var (s, o) = try runProcess([
                hardenBinary, "check", "oci:\(TestImages.layout):base", "--policy", dir + "/ban.yaml", "--db",
                dir + "/none.sqlite",
            ])
            #expect(s == 2, "\(o)")
            #expect(o.contains("[packages.banned] package bash "), "\(o)")
            try HostFS.writeFileAtomically(
                dir + "/bad.yaml", Array("packages:\n  banned: [bash]\nimage:\n  require_nonroot: true\n".utf8))
            (s, o) = try runProcess([
                hardenBinary, "check", "oci:\(TestImages.layout):base", "--policy", dir + "/bad.yaml",
            ])
            #expect(s == 1 && o.contains("\(dir)/bad.yaml:4: image: unknown key \"require_nonroot\""), "\(o)")
            // Without a policy the checks report and exit 0; --fail-on turns them into a gate; SARIF validates.
            (s, o) = try runProcess([
                hardenBinary, "check", "oci:\(TestImages.layout):base", "--format", "sarif", "-o", dir + "/c.sarif",
                "--db",
                dir + "/none.sqlite",
            ])
            #expect(s == 0, "\(o)")
            let (vs, vo) = try runProcess(["python3", packageRoot + "/scripts/validate.py", "sarif", dir + "/c.sarif"])
            #expect(vs == 0, "\(vo)")
            (s, o) = try runProcess([
                hardenBinary, "check", "oci:\(TestImages.layout):base", "--fail-on", "warn", "--db",
                dir + "/none.sqlite",
            ])
            #expect(s == 2 && o.contains("CIS-DI-0001"), "\(o)")
        }
    }

    /// CIS-DI-0004 needs the scan: a fixture image with a pip-installed release that has fixed high-severity advisories fails it,
    /// one whose package has no advisory passes.
    @Test(arguments: [("requests", "2.19.0", true), ("harden-fixture-package", "1.0", false)])
    func scanAndRebuildCheckUsesTheVulnerabilityDatabase(name: String, version: String, fails: Bool) throws {
        try PipelineFixtures.requireDatabase()
        try withTemporaryDirectory { dir in
            let info =
                "usr/local/lib/python3.11/dist-packages/\(name.replacingAll("-", with: "_"))-\(version).dist-info"
            let layer = try Fixtures.layer([
                .dir("etc"), .file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
                .dir("usr"), .dir("usr/local"), .dir("usr/local/lib"), .dir("usr/local/lib/python3.11"),
                .dir("usr/local/lib/python3.11/dist-packages"),
                .dir(info), .file(info + "/METADATA", "Metadata-Version: 2.1\nName: \(name)\nVersion: \(version)\n"),
                .file(info + "/RECORD", "\(info)/METADATA,,\n"),
            ])
            try Fixtures.ociLayout(at: dir + "/img", images: [(tag: "1", layers: [layer], config: nil)])
            let (s, o) = try runProcess([
                hardenBinary, "check", "oci:\(dir)/img:1", "--db", PipelineFixtures.database, "--format", "json", "-o",
                dir + "/c.json",
            ])
            #expect(s == 0, "\(o)")
            let checks = try PipelineFixtures.json(dir + "/c.json")["checks"] as? [[String: Any]] ?? []
            let c = try #require(checks.first { $0["id"] as? String == "CIS-DI-0004" })
            #expect(c["status"] as? String == (fails ? "fail" : "pass"), "\(c)")
            if fails { #expect((c["findings"] as? [String] ?? []).contains { $0.contains("requests 2.19.0") }) }
        }
    }
}
